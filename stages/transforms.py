"""Array transforms of the host-array prover (stages/host_backend.py): the numpy reference or OpenCL
kernels, same operations, same results:
  ntt(coeffs), intt(values), lde(values, offset_in, offset_out, n_out), coset_evaluate(coeffs, offset, n),
  hash_rows(rows) -> (n, 5), merkle_tree(leaves (n, 5)) -> nodes (2n, 5),
  evaluate_and_hash(coeffs, offset, n, keep_values=True) -> (values or None, digests (n, 5)).
Arrays in and out use the (rows, cols) or (rows, cols, 3) layout of stages/ntt.py; the OpenCL backend
moves data to its device column-major (see opencl/ntt.cl) and back for every call.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from tvmpd.stages import ntt as _ntt
from tvmpd.stages import tip5 as _tip5


def _flat_rows(rows: np.ndarray) -> np.ndarray:
    """(n, w) rows as they are, (n, c, 3) extension rows flattened per row (c0, c1, c2 of each element)."""
    if not isinstance(rows, np.ndarray):
        raise ValueError("rows must be a numpy uint64 array")
    if rows.ndim == 3 and rows.shape[2] == 3:
        return rows.reshape(rows.shape[0], -1)
    if rows.ndim != 2:
        raise ValueError(f"rows must have shape (n, w) or (n, c, 3), got {rows.shape}")
    return rows


class Transforms(Protocol):
    """The transforms HostBackend needs; host arrays in and out, (rows, cols) or (rows, cols, 3)."""

    def ntt(self, coeffs: np.ndarray) -> np.ndarray: ...
    def intt(self, values: np.ndarray) -> np.ndarray: ...
    def lde(self, values: np.ndarray, offset_in: int, offset_out: int, n_out: int) -> np.ndarray: ...
    def coset_evaluate(self, coeffs: np.ndarray, offset: int, n: int) -> np.ndarray: ...
    def hash_rows(self, rows: np.ndarray) -> np.ndarray: ...
    def evaluate_and_hash(self, coeffs: np.ndarray, offset: int, n: int,
                          keep_values: bool = True) -> tuple[np.ndarray | None, np.ndarray]: ...
    def merkle_tree(self, leaves: np.ndarray) -> np.ndarray: ...


class NumpyTransforms:
    """Reference transforms: delegates to stages/ntt.py, stages/tip5.py and stages/merkle.py."""

    def ntt(self, coeffs: np.ndarray) -> np.ndarray:
        """Values on <w_n> in natural order of each column."""
        return _ntt.ntt(coeffs)

    def intt(self, values: np.ndarray) -> np.ndarray:
        """Coefficients of each column from its values on <w_n>."""
        return _ntt.intt(values)

    def lde(self, values: np.ndarray, offset_in: int, offset_out: int, n_out: int) -> np.ndarray:
        """Interpolate each column on offset_in * <w_n>, evaluate on offset_out * <w_n_out>."""
        return _ntt.lde(values, offset_in, offset_out, n_out)

    def coset_evaluate(self, coeffs: np.ndarray, offset: int, n: int) -> np.ndarray:
        """Values at offset * w_n^i (i < n) of each column's polynomial (coefficients lowest first)."""
        return _ntt.coset_evaluate(coeffs, offset, n)

    def hash_rows(self, rows: np.ndarray) -> np.ndarray:
        """hash_varlen of every row -> (n, 5)."""
        return _tip5.hash_rows(_flat_rows(rows))

    def evaluate_and_hash(self, coeffs: np.ndarray, offset: int, n: int,
                          keep_values: bool = True) -> tuple[np.ndarray | None, np.ndarray]:
        """(coset_evaluate(coeffs, offset, n) or None, hash_rows of those values)."""
        values = _ntt.coset_evaluate(coeffs, offset, n)
        return (values if keep_values else None), _tip5.hash_rows(_flat_rows(values))

    def merkle_tree(self, leaves: np.ndarray) -> np.ndarray:
        """All (2n, 5) nodes of the Merkle tree over (n, 5) leaf digests (root = node 1)."""
        from tvmpd.stages import merkle

        return merkle.build_tree(leaves)


class OpenCLTransforms:
    """OpenCL kernels on one device (pocl CPU or a GPU), picked by an opencl.devices key."""

    def __init__(self, device_key: str | None = None):
        from tvmpd.opencl.runtime import get_runtime

        self.runtime = get_runtime(device_key)
        self.device_key = self.runtime.key

    def ntt(self, coeffs: np.ndarray) -> np.ndarray:
        """Values on <w_n> in natural order of each column."""
        from tvmpd.opencl import ntt

        return ntt.ntt(coeffs, self.device_key)

    def intt(self, values: np.ndarray) -> np.ndarray:
        """Coefficients of each column from its values on <w_n>."""
        from tvmpd.opencl import ntt

        return ntt.intt(values, self.device_key)

    def lde(self, values: np.ndarray, offset_in: int, offset_out: int, n_out: int) -> np.ndarray:
        """Interpolate each column on offset_in * <w_n>, evaluate on offset_out * <w_n_out> (n_out >= n)."""
        from tvmpd.opencl import ntt

        return ntt.lde(values, offset_in, offset_out, n_out, self.device_key)

    def coset_evaluate(self, coeffs: np.ndarray, offset: int, n: int) -> np.ndarray:
        """Values at offset * w_n^i (i < n) of each column's polynomial (<= n coefficients, lowest first)."""
        from tvmpd.opencl import ntt

        return ntt.coset_evaluate(coeffs, offset, n, self.device_key)

    def hash_rows(self, rows: np.ndarray) -> np.ndarray:
        """hash_varlen of every row -> (n, 5)."""
        from tvmpd.opencl import tip5

        return tip5.hash_rows(_flat_rows(rows), self.device_key)

    def evaluate_and_hash(self, coeffs: np.ndarray, offset: int, n: int,
                          keep_values: bool = True) -> tuple[np.ndarray | None, np.ndarray]:
        """(coset_evaluate(coeffs, offset, n) or None, hash_rows of those values), fused on the device:
        column batches are evaluated and absorbed without a second upload of the values."""
        from tvmpd.opencl import commit

        return commit.evaluate_and_hash(coeffs, offset, n, keep_values, self.device_key)

    def merkle_tree(self, leaves: np.ndarray) -> np.ndarray:
        """All (2n, 5) nodes of the Merkle tree over (n, 5) leaf digests (root = node 1, node 0 zero)."""
        from tvmpd.opencl import merkle

        return merkle.build_tree(leaves, self.device_key)
