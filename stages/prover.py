"""The Triton VM v7.0.0 STARK prover (reference: `Prover::prove`): one driver that walks the proof's
stages over a Backend (stages/backend.py) and writes the proof stream. Where the tables live and how
the heavy steps run is the backend's business: host arrays (stages/host_backend.py) or one OpenCL
device (stages/device_backend.py). With a fixed 32-byte seed the proof is byte-identical to the
reference's.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from tvmpd.stages import fri, xfield
from tvmpd.stages.air.columns import NUM_MAIN_BASE_COLUMNS
from tvmpd.stages.backend import Backend, DeviceTooSmall
from tvmpd.stages.domains import StarkParams, derive
from tvmpd.stages.host_backend import HostBackend
from tvmpd.stages.profile import profile_for
from tvmpd.stages.proof import ProofItem
from tvmpd.stages.proof_stream import ProofStream
from tvmpd.stages.rng import aux_randomness, main_trace_randomizers

__all__ = ["DeviceTooSmall", "PaddedHeightTooBig", "backend_for", "main_table", "prove", "prove_table"]

Progress = Callable[[str, float], None]


class PaddedHeightTooBig(ValueError):
    """The job's padded height exceeds the requested maximum; refused before any proving."""

    def __init__(self, log2_padded_height: int, max_log2: int) -> None:
        super().__init__(f"padded height 2^{log2_padded_height} exceeds the maximum 2^{max_log2}")
        self.log2_padded_height = log2_padded_height
        self.max_log2 = max_log2


MAIN_TABLE_STAGE = "main table"  # prove()'s first stage: the table's fill, on the host


class _StageClock:
    """Announces each stage as it starts (on_stage) and reports its duration when it ends (progress)."""

    def __init__(self, on_stage: Callable[[str], None] | None, progress: Progress | None) -> None:
        self.on_stage, self.progress = on_stage, progress
        self.current: str | None = None
        self.started = 0.0
        self.timings: dict[str, float] = {}

    def begin(self, name: str | None) -> None:
        now = time.perf_counter()
        if self.current is not None:
            self.timings[self.current] = now - self.started
            if self.progress is not None:
                self.progress(self.current, now - self.started)
        self.current, self.started = name, now
        if name is not None and self.on_stage is not None:
            self.on_stage(name)


def main_table(aet, degree_lowered: bool = True, allocate: Callable | None = None,
               compiled: bool = True) -> np.ndarray:
    """The padded master main table (h, 379) of an execution with its degree-lowering columns, or without
    them, (h, 149), if degree_lowered is False: prove_table(..., degree_lowered=False) then fills them, on
    the device for OpenCL backends (much faster than numpy for large tables). allocate(shape) gives the
    array the (h, 149) table is written into (the daemon's shared memory). compiled: filled by numba's
    compiled loops (False: in numpy, for a process whose numba cache is cold; the same table)."""
    from tvmpd.stages.air.evaluate import fill_degree_lowering_main

    if compiled:
        from tvmpd.stages.air.fill import fill_main_table
    else:
        from tvmpd.stages.air.fill_numpy import fill_main_table

    if not degree_lowered:
        out = None if allocate is None else allocate((int(aet.padded_height), NUM_MAIN_BASE_COLUMNS))
        return fill_main_table(aet, base_only=True, out=out)
    return fill_degree_lowering_main(fill_main_table(aet))


def backend_for(device_key: str | None, cache_lde: bool | None = None, memory_mode: str = "auto",
                keep_cosets: str = "auto", keep_memory: int | None = None, cold: bool = False,
                kernels_ready: Callable[..., None] | None = None) -> Backend:
    """The backend for a device key: host arrays with numpy for the CPU pool ("cpu", "numpy" or None;
    cache_lde as HostBackend's keep_lde), else the device-resident backend on that OpenCL device in
    memory_mode ("auto", "full", "half" or "lean": stages/device_backend.py device_layout) keeping the
    coset values of keep_cosets ("auto", "none", "main", "aux" or "both": Layout.keep; auto keeps within
    keep_memory bytes, None: the device's memory); cold and kernels_ready as DeviceBackend's (a device whose
    kernels a warm-up is still compiling)."""
    if device_key in (None, "cpu", "numpy"):
        return HostBackend(keep_lde=cache_lde)
    from tvmpd.stages.device_backend import DeviceBackend

    return DeviceBackend(device_key, memory_mode, keep_cosets, keep_memory, cold, kernels_ready)


def prove(claim, aet, seed: bytes | None = None, device_key: str | None = None,
          on_stage: Callable[[str], None] | None = None, progress: Progress | None = None,
          params: StarkParams | None = None, cache_lde: bool | None = None,
          backend: Backend | None = None, compiled: bool = True) -> np.ndarray:
    """Prove an execution: claim (program_digest, version, input, output) and its AET -> proof elements.
    The backend (default: backend_for(device_key, cache_lde)) fills the main table's degree-lowering
    columns (on the device for an OpenCL one); compiled: main_table's."""
    clock = _StageClock(on_stage, progress)
    clock.begin(MAIN_TABLE_STAGE)
    backend = backend if backend is not None else backend_for(device_key, cache_lde)
    table = main_table(aet, degree_lowered=False, compiled=compiled)
    clock.begin(None)
    return prove_table(claim, table, seed=seed, backend=backend, params=params, on_stage=on_stage,
                       progress=progress, degree_lowered=False)


def prove_table(claim, main_trace: np.ndarray, seed: bytes | None = None, backend: Backend | None = None,
                params: StarkParams | None = None, on_stage: Callable[[str], None] | None = None,
                progress: Progress | None = None, cache_lde: bool | None = None,
                degree_lowered: bool = True) -> np.ndarray:
    """Prove a claim given the padded master main table (h, 379) of its execution; returns proof elements.
    The proof system (AIR, parameters, items, transcript) is the profile of the claim's version.

    main_trace must have all 379 columns filled, or, with degree_lowered=False, hold the 149 base columns
    (any further columns are ignored): the backend then fills the degree-lowering columns. backend: None
    for host arrays with numpy, whose cache_lde says whether to keep the FRI-domain extensions in memory
    (None: decide from free memory and TVM_LDE_TRACE).
    """
    profile = profile_for(claim.version)
    backend = backend if backend is not None else backend_for(None, cache_lde)
    params = params or profile.params
    num_main, num_aux = profile.num_main_columns, profile.num_aux_columns
    num_base, num_segments = profile.num_main_base_columns, profile.num_quotient_segments
    seed = os.urandom(32) if seed is None else seed
    if len(seed) != 32:
        raise ValueError(f"randomness seed must be 32 bytes, got {len(seed)}")
    h = main_trace.shape[0]
    d = derive(h, params)
    width = num_main if degree_lowered else num_base
    if main_trace.ndim != 2 or main_trace.shape[0] != d.trace.length or main_trace.shape[1] < width:
        raise ValueError(f"main table must be ({d.trace.length}, {width}), got {main_trace.shape}")
    if not degree_lowered:
        main_trace = main_trace[:, :num_base]
    k = d.num_trace_randomizers
    clock = _StageClock(on_stage, progress)

    # The aux randomness depends on the seed only: draw it on another thread while the main table commits.
    background = ThreadPoolExecutor(max_workers=1)
    aux_random = background.submit(aux_randomness, seed, num_main, num_aux, h, k)
    background.shutdown(wait=False)

    stream = ProofStream()
    stream.absorb(profile.claim_encoding(claim))
    stream.enqueue(ProofItem("Log2PaddedHeight", h.bit_length() - 1))

    clock.begin("main: LDE + Merkle")
    main = backend.commit_main(main_trace, main_trace_randomizers(seed, num_main, k), d, profile)
    stream.enqueue(ProofItem("MerkleRoot", backend.root(main)))

    clock.begin("aux: extend")
    challenges = profile.derive_challenges(stream.sample_scalars(profile.num_sampled_challenges), claim.input,
                                           claim.output, claim.program_digest)
    extension = backend.extend(main, challenges)
    randomizer_column, aux_randomizers = aux_random.result()
    clock.begin("aux: LDE + Merkle")
    aux = backend.commit_aux(main, extension, randomizer_column, aux_randomizers, challenges)
    del extension
    stream.enqueue(ProofItem("MerkleRoot", backend.root(aux)))

    clock.begin("quotient: constraints")
    weights = stream.sample_scalars(profile.num_constraints())
    segments = backend.quotient(main, aux, challenges, weights, clock)
    stream.enqueue(ProofItem("MerkleRoot", backend.root(segments)))

    clock.begin("out-of-domain rows")
    alpha = stream.sample_scalars(1)[0]
    points = {"alpha": alpha, "alpha_next": xfield.mul_base(alpha, np.uint64(d.trace.generator)),
              "alpha4": xfield.pow(alpha, num_segments)}
    ood = backend.out_of_domain(main, aux, segments, points)
    stream.enqueue(ProofItem("OutOfDomainMainRow", ood["main_curr"]))
    stream.enqueue(ProofItem("OutOfDomainAuxRow", ood["aux_curr"]))
    stream.enqueue(ProofItem("OutOfDomainMainRow", ood["main_next"]))
    stream.enqueue(ProofItem("OutOfDomainAuxRow", ood["aux_next"]))
    stream.enqueue(ProofItem("OutOfDomainQuotientSegments", ood["segments"]))

    clock.begin("DEEP codeword")
    lin_weights = stream.sample_scalars(num_main + num_aux + num_segments + 3)
    codeword = backend.deep(main, aux, segments, ood, lin_weights, points)
    clock.begin("FRI")
    indices = fri.prove(codeword, d.fri, d.num_fri_rounds, d.num_collinearity_checks, stream,
                        backend.fri_rounds())

    clock.begin("open rows + encode")
    stream.enqueue(ProofItem("MasterMainTableRows", backend.rows(main, indices)))
    stream.enqueue(ProofItem("AuthenticationStructure", backend.auth(main, indices)))
    stream.enqueue(ProofItem("MasterAuxTableRows", backend.rows(aux, indices)))
    stream.enqueue(ProofItem("AuthenticationStructure", backend.auth(aux, indices)))
    stream.enqueue(ProofItem("QuotientSegmentsElements", backend.rows(segments, indices)))
    stream.enqueue(ProofItem("AuthenticationStructure", backend.auth(segments, indices)))
    backend.finish()
    proof = stream.to_proof()
    clock.begin(None)
    return proof
