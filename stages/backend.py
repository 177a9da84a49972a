"""The proving seam: the Backend protocol names every operation the prover driver (stages/prover.py) needs
from a place where a proof's tables live, with the shapes it takes and gives.

Implementations: stages/host_backend.py HostBackend (host arrays; numpy transforms are the reference,
OpenCL transforms the OpenCL host path) and stages/device_backend.py DeviceBackend (every large array
resident on one OpenCL device). The driver calls them the same way; nothing compares backend names.

Handles (a committed table, the quotient segments, a codeword) are the implementation's own types and
are only passed back to it. Small values cross the seam as host arrays: Merkle roots (5,), out-of-domain
rows (cols[, 3]), opened rows (len(indices), cols[, 3]), authentication paths (nodes, 5). The domains `d`
and the proof-system profile come with commit_main; later steps of the same proof use them.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from tvmpd.stages import xfield
from tvmpd.stages.domains import NUM_QUOTIENT_SEGMENTS, ProverDomains
from tvmpd.stages.profile import ProofProfile
from tvmpd.stages.verifier import NUM_AUX_COLUMNS, NUM_MAIN_COLUMNS


class DeviceTooSmall(ValueError):
    """A device cannot hold a proof's tables; refused before any work (the host-array path with numpy
    constraints would take hours at the sizes where this happens)."""


class Clock(Protocol):
    """Stage timing: begin(name) ends the running stage and starts the next (None: none)."""

    def begin(self, name: str | None) -> None: ...


class Backend(Protocol):
    """The operations of one proof, in the order the driver calls them."""

    def commit_main(self, trace: np.ndarray, randomizers: np.ndarray, d: ProverDomains,
                    profile: ProofProfile) -> Any:
        """Commit the padded main table: trace (h, 379), or (h, 149) base columns whose 230
        degree-lowering columns the backend fills; randomizers (379, k) coefficients. The proof's AIR and
        generated kernels come from `profile` (stages/profile.py). Returns a table handle that also keeps
        the main trace until commit_aux."""
        ...

    def extend(self, main: Any, challenges: np.ndarray) -> Any:
        """The aux table's 49 extension columns from the main table under challenges (63, 3)."""
        ...

    def commit_aux(self, main: Any, extension: Any, randomizer_column: np.ndarray, randomizers: np.ndarray,
                   challenges: np.ndarray) -> Any:
        """Commit the aux table (h, 91, 3): extension columns, randomizer column (h, 3) at column 90, its
        41 degree-lowering columns filled from the main table; randomizers (91, k, 3)."""
        ...

    def root(self, table: Any) -> np.ndarray:
        """Merkle root (5,) of a committed table or of the quotient segments."""
        ...

    def quotient(self, main: Any, aux: Any, challenges: np.ndarray, weights: np.ndarray,
                 clock: Clock) -> Any:
        """All constraints weighted by weights (604, 3) over the zerofiers on the quotient domain, split
        into 4 segments and committed; clock.begin("quotient: segments + Merkle") between the two."""
        ...

    def out_of_domain(self, main: Any, aux: Any, segments: Any,
                      points: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Rows at alpha and alpha_next (main_curr/main_next (379, 3), aux_curr/aux_next (91, 3)) and
        the segments at alpha4 (4, 3); points: "alpha", "alpha_next", "alpha4", each (3,)."""
        ...

    def deep(self, main: Any, aux: Any, segments: Any, ood: dict[str, np.ndarray], weights: np.ndarray,
             points: dict[str, np.ndarray]) -> Any:
        """The DEEP codeword on the FRI domain (handle of an (N, 3) codeword) under weights
        (379 + 91 + 4 + 3, 3)."""
        ...

    def fri_rounds(self) -> Any:
        """The engine stages.fri.prove runs its rounds on (trees, folds, openings of this backend's
        codewords; fri.HostRounds is the host one)."""
        ...

    def rows(self, table: Any, indices: list[int]) -> np.ndarray:
        """FRI-domain rows at these indices (repetitions kept): (len, 379), (len, 91, 3) or (len, 4, 3)."""
        ...

    def auth(self, table: Any, indices: list[int]) -> np.ndarray:
        """Authentication structure (nodes, 5) of these leaves of the table's Merkle tree."""
        ...

    def finish(self) -> None:
        """The proof is done: wait for outstanding work."""
        ...


def deep_constants(ood: dict[str, np.ndarray], weights: np.ndarray,
                   points: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """f(alpha), f(alpha_next), g(alpha^4): the weighted out-of-domain values the DEEP terms subtract."""
    nm, nrow = NUM_MAIN_COLUMNS, NUM_MAIN_COLUMNS + NUM_AUX_COLUMNS
    row_w, seg_w = weights[:nrow], weights[nrow:nrow + NUM_QUOTIENT_SEGMENTS]
    f_curr = xfield.add(xfield.dot(ood["main_curr"], row_w[:nm]),
                        xfield.dot(ood["aux_curr"], row_w[nm:]))
    f_next = xfield.add(xfield.dot(ood["main_next"], row_w[:nm]),
                        xfield.dot(ood["aux_next"], row_w[nm:]))
    return f_curr, f_next, xfield.dot(ood["segments"], seg_w)
