"""The Triton VM v7.0.0 STARK prover as a sequence of stages over arrays (reference: `Prover::prove`).

Every stage is a plain function; heavy lifting (NTTs, row hashing, Merkle trees) goes through a
backend (numpy or OpenCL). With a fixed 32-byte seed the proof is byte-identical to the reference's.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from stages import field, fri, merkle, ntt, xfield
from stages.air.challenges import derive_challenges
from stages.air.columns import NUM_MAIN_BASE_COLUMNS
from stages.domains import NUM_QUOTIENT_SEGMENTS, ProverDomains, StarkParams, derive, powers
from stages.proof import ProofItem
from stages.proof_stream import ProofStream
from stages.rng import aux_randomness, main_trace_randomizers
from stages.verifier import NUM_AUX_COLUMNS, NUM_MAIN_COLUMNS, NUM_SAMPLED_CHALLENGES, claim_encoding

RANDOMIZER_COLUMN = 90
QUOTIENT_CHUNK_ROWS = 1 << 13  # rows of the quotient domain evaluated per constraint pass

Progress = Callable[[str, float], None]


class PaddedHeightTooBig(ValueError):
    """The job's padded height exceeds the requested maximum; refused before any proving."""

    def __init__(self, log2_padded_height: int, max_log2: int) -> None:
        super().__init__(f"padded height 2^{log2_padded_height} exceeds the maximum 2^{max_log2}")
        self.log2_padded_height = log2_padded_height
        self.max_log2 = max_log2


def randomized_interpolants(trace: np.ndarray, randomizers: np.ndarray, d: ProverDomains,
                            backend) -> np.ndarray:
    """Coefficients of I_c(X) + (X^h - 1) r_c(X) for every column c: interpolant plus zerofier * randomizer.

    trace: (h, cols[, 3]) on the trace domain; randomizers: (cols, k[, 3]) coefficients, low first.
    """
    h = d.trace.length
    coeffs = np.zeros((d.randomized_trace.length,) + trace.shape[1:], dtype=np.uint64)
    coeffs[:h] = backend.intt(trace)
    r = np.moveaxis(randomizers, 1, 0)  # (k, cols[, 3])
    k = r.shape[0]
    coeffs[:k] = field.sub(coeffs[:k], r)
    coeffs[h:h + k] = field.add(coeffs[h:h + k], r)
    return coeffs


def evaluate_on_coset(coeffs: np.ndarray, offset: int, n: int, backend) -> np.ndarray:
    """Values of polynomials (coefficients along axis 0, at most n of them) at offset * w_n^i, i < n."""
    scaled = np.zeros((n,) + coeffs.shape[1:], dtype=np.uint64)
    shape = (len(coeffs),) + (1,) * (coeffs.ndim - 1)
    scaled[:len(coeffs)] = field.mul(coeffs, powers(offset, len(coeffs)).reshape(shape))
    return backend.ntt(scaled)


def num_cosets(d: ProverDomains) -> int:
    """How many cosets of the randomized-trace length make up the FRI domain (the expansion factor)."""
    return d.fri.length // d.randomized_trace.length


def coset_offset(d: ProverDomains, c: int) -> int:
    """Offset of coset c: FRI-domain rows c, c + E, c + 2E, ... are the points offset * w_L^k."""
    return d.fri.value(c)


@dataclass
class Committed:
    """A table committed to: its randomized interpolants' coefficients and its Merkle tree.

    The low-degree extension to the FRI domain is either kept (`lde`) or recomputed one coset at a
    time when needed, so a large table never has to be held in full; both give the same proof.
    """

    coefficients: np.ndarray  # (randomized trace length L, cols[, 3])
    tree: np.ndarray  # Merkle nodes (2n, 5)
    lde: np.ndarray | None  # (FRI domain length, cols[, 3]) if kept
    d: ProverDomains
    backend: object

    def coset(self, c: int) -> np.ndarray:
        """Values on FRI-domain rows c::E, shape (L, cols[, 3])."""
        if self.lde is not None:
            return self.lde[c::num_cosets(self.d)]
        return evaluate_on_coset(self.coefficients, coset_offset(self.d, c), self.d.randomized_trace.length,
                                 self.backend)

    def rows(self, indices: list[int]) -> np.ndarray:
        """The FRI-domain rows at these indices, in the given order (repetitions kept)."""
        if self.lde is not None:
            return self.lde[indices]
        e = num_cosets(self.d)
        idx = np.asarray(indices, dtype=np.int64)
        out = np.zeros((len(idx),) + self.coefficients.shape[1:], dtype=np.uint64)
        for c in sorted(set((idx % e).tolist())):
            sel = idx % e == c
            out[sel] = self.coset(c)[idx[sel] // e]
        return out


def commit(trace: np.ndarray, randomizers: np.ndarray, d: ProverDomains, backend,
           keep_lde: bool = True) -> Committed:
    """Randomize, low-degree extend to the FRI domain, hash every row and build the Merkle tree."""
    coeffs = randomized_interpolants(trace, randomizers, d, backend)
    if keep_lde:
        lde = evaluate_on_coset(coeffs, d.fri.offset, d.fri.length, backend)
        digests = backend.hash_rows(lde)
    else:
        lde = None
        e = num_cosets(d)
        digests = np.zeros((d.fri.length, 5), dtype=np.uint64)
        for c in range(e):
            values = evaluate_on_coset(coeffs, coset_offset(d, c), d.randomized_trace.length, backend)
            digests[c::e] = backend.hash_rows(values)
    return Committed(coeffs, backend.merkle_tree(digests), lde, d, backend)


def zerofier_inverses(d: ProverDomains) -> dict[str, np.ndarray]:
    """1 / zerofier of each constraint category at every FRI-domain point (base field, (n,))."""
    x = d.fri.values()
    x_pow_h = field.pow(x, d.trace.length)
    consistency = field.batch_inv(field.sub(x_pow_h, np.uint64(1)))
    except_last = field.sub(x, np.uint64(field.inv_int(d.trace.generator)))
    return {
        "initial": field.batch_inv(field.sub(x, np.uint64(1))),
        "consistency": consistency,
        "transition": field.mul(except_last, consistency),
        "terminal": field.batch_inv(except_last),
    }


def quotient_codeword(main: Committed, aux: Committed, challenges: np.ndarray, weights: np.ndarray,
                      d: ProverDomains) -> np.ndarray:
    """Sum over all constraints of weight * constraint / zerofier on the quotient (= FRI) domain, (n, 3).

    Works coset by coset: within coset c (rows c::E) the next trace row of row k is row k + L/h.
    """
    from stages.air.constraints import CATEGORIES, lowered_air
    from stages.air.evaluate import evaluate_nodes

    air = lowered_air()
    e = num_cosets(d)
    shift = d.randomized_trace.length // d.trace.length
    zinv = zerofier_inverses(d)
    offsets, start = {}, 0
    for category in CATEGORIES:
        offsets[category] = (start, start + len(air.constraints[category]))
        start += len(air.constraints[category])
    out = np.zeros((d.fri.length, 3), dtype=np.uint64)
    for c in range(e):
        main_c, aux_c = main.coset(c), aux.coset(c)
        n = len(main_c)
        acc = np.zeros((n, 3), dtype=np.uint64)
        for lo in range(0, n, QUOTIENT_CHUNK_ROWS):
            hi = min(n, lo + QUOTIENT_CHUNK_ROWS)
            nxt = (np.arange(lo, hi) + shift) % n
            rows_m, rows_a = main_c[lo:hi], aux_c[lo:hi]
            for category in CATEGORIES:
                a, b = offsets[category]
                if category == "transition":
                    values = evaluate_nodes(air.constraints[category], rows_m, rows_a, challenges,
                                            main_c[nxt], aux_c[nxt])
                else:
                    values = evaluate_nodes(air.constraints[category], rows_m, rows_a, challenges)
                combined = xfield.reduce_sum(xfield.mul(values, weights[a:b][np.newaxis]), axis=1)
                acc[lo:hi] = xfield.add(acc[lo:hi], xfield.mul_base(combined, zinv[category][c::e][lo:hi]))
        out[c::e] = acc
    return out


def quotient_segments(quotient: np.ndarray, d: ProverDomains) -> np.ndarray:
    """Coefficients of the segments q_k with Q(X) = sum_k X^k q_k(X^4): (L, 4, 3)."""
    coeffs = ntt.interpolate_coset(quotient, d.quotient.offset)
    return np.stack([coeffs[k::NUM_QUOTIENT_SEGMENTS] for k in range(NUM_QUOTIENT_SEGMENTS)], axis=1)


def deep_codeword(main: Committed, aux: Committed, seg_coeffs: np.ndarray, ood: dict[str, np.ndarray],
                  weights: np.ndarray, points: dict[str, np.ndarray], d: ProverDomains,
                  backend) -> np.ndarray:
    """The DEEP combination codeword on the FRI domain, the input to FRI.

    The weighted sums of columns are formed on coefficients (linear), then extended once.
    """
    nm = NUM_MAIN_COLUMNS
    nrow = NUM_MAIN_COLUMNS + NUM_AUX_COLUMNS
    row_w, seg_w, deep_w = weights[:nrow], weights[nrow:nrow + NUM_QUOTIENT_SEGMENTS], weights[-3:]
    f_coeffs = xfield.add(_base_weighted(main.coefficients, row_w[:nm]),
                          xfield.dot(aux.coefficients, row_w[nm:]))
    g_coeffs = xfield.dot(seg_coeffs, seg_w)
    f = evaluate_on_coset(f_coeffs, d.fri.offset, d.fri.length, backend)
    g = evaluate_on_coset(g_coeffs, d.fri.offset, d.fri.length, backend)
    f_curr = xfield.add(xfield.dot(ood["main_curr"], row_w[:nm]),
                        xfield.dot(ood["aux_curr"], row_w[nm:]))
    f_next = xfield.add(xfield.dot(ood["main_next"], row_w[:nm]),
                        xfield.dot(ood["aux_next"], row_w[nm:]))
    g_alpha4 = xfield.dot(ood["segments"], seg_w)
    x = xfield.lift(d.fri.values())

    def term(values: np.ndarray, value_at_z: np.ndarray, z: np.ndarray, w: np.ndarray) -> np.ndarray:
        quotient = xfield.mul(xfield.sub(values, value_at_z), xfield.batch_inv(xfield.sub(x, z)))
        return xfield.mul(quotient, w)

    out = term(f, f_curr, points["alpha"], deep_w[0])
    out = xfield.add(out, term(f, f_next, points["alpha_next"], deep_w[1]))
    return xfield.add(out, term(g, g_alpha4, points["alpha4"], deep_w[2]))


def _base_weighted(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """sum_c weights[c] * values[.., c] for base values (.., cols) and extension weights (cols, 3)."""
    return np.stack([field.reduce_sum(field.mul(values, weights[:, k]), axis=-1) for k in range(3)], axis=-1)


def lde_bytes(d: ProverDomains) -> int:
    """Bytes the cached main and aux FRI-domain extensions take."""
    return d.fri.length * (NUM_MAIN_COLUMNS * 8 + NUM_AUX_COLUMNS * 24)


def keep_lde(d: ProverDomains) -> bool:
    """Cache the extensions if TVM_LDE_TRACE says so (as upstream), else if they fit half the free memory."""
    setting = os.environ.get("TVM_LDE_TRACE", "").strip().lower()
    if setting in ("cache", "no_cache"):
        return setting == "cache"
    import psutil

    return lde_bytes(d) < psutil.virtual_memory().available // 2


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


def extend_tables(main_trace: np.ndarray, challenges: np.ndarray) -> np.ndarray:
    """stages.air.extend.extend (aux columns 0..48, (h, 49, 3)) with the tables extended in threads: numpy
    releases the GIL in its array loops, and the nine tables are independent."""
    from stages.air.extend import NUM_AUX_BASE_COLUMNS, NUM_MAIN_BASE_COLUMNS, TABLE_EXTENSIONS

    if main_trace.ndim != 2 or main_trace.shape[1] < NUM_MAIN_BASE_COLUMNS or main_trace.dtype != np.uint64:
        raise ValueError(f"main table must be (rows, >= {NUM_MAIN_BASE_COLUMNS}) uint64, "
                         f"got {main_trace.shape} {main_trace.dtype}")
    base = main_trace[:, :NUM_MAIN_BASE_COLUMNS]
    out = np.zeros((len(base), NUM_AUX_BASE_COLUMNS, 3), dtype=np.uint64)
    workers = max(1, min(len(TABLE_EXTENSIONS), os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for columns in pool.map(lambda fn: fn(base, challenges), TABLE_EXTENSIONS.values()):
            for col, values in columns.items():
                out[:, int(col)] = values
    return out


def main_table(aet, degree_lowered: bool = True, allocate: Callable | None = None) -> np.ndarray:
    """The padded master main table (h, 379) of an execution with its degree-lowering columns, or without
    them, (h, 149), if degree_lowered is False: prove_table(..., degree_lowered=False) then fills them, on
    the device for OpenCL backends (much faster than numpy for large tables). allocate(shape) gives the
    array the (h, 149) table is written into (the daemon's shared memory)."""
    from stages.air.evaluate import fill_degree_lowering_main
    from stages.air.fill import fill_main_table

    if not degree_lowered:
        out = None if allocate is None else allocate((int(aet.padded_height), NUM_MAIN_BASE_COLUMNS))
        return fill_main_table(aet, base_only=True, out=out)
    return fill_degree_lowering_main(fill_main_table(aet))


def backend_for(device_key: str | None):
    """numpy for the CPU pool ("cpu" or None), OpenCL on the named device otherwise."""
    from stages.backend import get_backend

    if device_key in (None, "cpu", "numpy"):
        return get_backend("numpy")
    return get_backend("opencl", device_key)


def prove(claim, aet, seed: bytes | None = None, device_key: str | None = None,
          on_stage: Callable[[str], None] | None = None, progress: Progress | None = None,
          params: StarkParams | None = None, cache_lde: bool | None = None) -> np.ndarray:
    """Prove an execution: claim (program_digest, version, input, output) and its AET -> proof elements."""
    clock = _StageClock(on_stage, progress)
    clock.begin("main table")
    backend = backend_for(device_key)
    device = getattr(backend, "name", None) == "opencl"  # the device fills the degree-lowering columns
    table = main_table(aet, degree_lowered=not device)
    clock.begin(None)
    return prove_table(claim, table, seed=seed, backend=backend, params=params, on_stage=on_stage,
                       progress=progress, cache_lde=cache_lde, degree_lowered=not device)


class DeviceTooSmall(ValueError):
    """An OpenCL device cannot hold a proof's tables (stages/prover_device.py's model); refused at once,
    since the host-array path with numpy constraints would take hours at the sizes where this happens."""


def device_split(backend, d: ProverDomains) -> int:
    """Coset split for an OpenCL backend's device (stages/prover_device.py): 1 (cosets of the randomized
    trace length) if the proof fits so, else 2 (half-length cosets, about 20% less memory); DeviceTooSmall
    if neither fits."""
    from stages.prover_device import device_bytes

    dev = backend.runtime.device
    have_largest, have_total = int(dev.max_mem_alloc_size), int(dev.global_mem_size)
    for split in (1, 2):
        largest, total = device_bytes(d, split)
        if largest <= have_largest and total <= have_total:
            return split
    gib = 2**30
    raise DeviceTooSmall(
        f"padded height 2^{d.trace.length.bit_length() - 1} needs about {total / gib:.1f} GiB of device "
        f"memory (largest buffer {largest / gib:.1f} GiB); {dev.name.strip()} has {have_total / gib:.1f} "
        f"GiB (largest buffer {have_largest / gib:.1f} GiB)")


def prove_table(claim, main_trace: np.ndarray, seed: bytes | None = None, backend=None,
                params: StarkParams | None = None, on_stage: Callable[[str], None] | None = None,
                progress: Progress | None = None, cache_lde: bool | None = None,
                degree_lowered: bool = True) -> np.ndarray:
    """Prove a claim given the padded master main table (h, 379) of its execution; returns proof elements.

    main_trace must have all 379 columns filled, or, with degree_lowered=False, hold the 149 base columns
    (any further columns are ignored): the degree-lowering columns are then filled here (on the device for
    OpenCL). cache_lde: keep
    the FRI-domain extensions in memory (None: decide from free memory and TVM_LDE_TRACE); the OpenCL
    backend keeps coefficients on its device and always evaluates cosets just in time.
    """
    from stages.air import constraint_counts

    backend = backend or backend_for(None)
    params = params or StarkParams()
    seed = os.urandom(32) if seed is None else seed
    if len(seed) != 32:
        raise ValueError(f"randomness seed must be 32 bytes, got {len(seed)}")
    h = main_trace.shape[0]
    d = derive(h, params)
    width = NUM_MAIN_COLUMNS if degree_lowered else NUM_MAIN_BASE_COLUMNS
    if main_trace.ndim != 2 or main_trace.shape[0] != d.trace.length or main_trace.shape[1] < width:
        raise ValueError(f"main table must be ({d.trace.length}, {width}), got {main_trace.shape}")
    if not degree_lowered:
        main_trace = main_trace[:, :NUM_MAIN_BASE_COLUMNS]
    k = d.num_trace_randomizers
    clock = _StageClock(on_stage, progress)
    if getattr(backend, "name", None) == "opencl":
        from stages.prover_device import DeviceOps

        ops = DeviceOps(backend, d, device_split(backend, d))
    else:  # numpy: host arrays
        ops = HostOps(backend, d, keep_lde(d) if cache_lde is None else cache_lde)

    # The aux randomness depends on the seed only: draw it on another thread while the main table commits.
    background = ThreadPoolExecutor(max_workers=1)
    aux_random = background.submit(aux_randomness, seed, NUM_MAIN_COLUMNS, NUM_AUX_COLUMNS, h, k)
    background.shutdown(wait=False)

    stream = ProofStream()
    stream.absorb(claim_encoding(claim))
    stream.enqueue(ProofItem("Log2PaddedHeight", h.bit_length() - 1))

    clock.begin("main: LDE + Merkle")
    main = ops.commit(main_trace, main_trace_randomizers(seed, NUM_MAIN_COLUMNS, k),
                      None if degree_lowered else "main")
    stream.enqueue(ProofItem("MerkleRoot", ops.root(main)))

    clock.begin("aux: extend")
    challenges = derive_challenges(stream.sample_scalars(NUM_SAMPLED_CHALLENGES), claim.input, claim.output,
                                   claim.program_digest)
    extension = ops.extend(main_trace, challenges)
    randomizer_column, aux_randomizers = aux_random.result()
    clock.begin("aux: LDE + Merkle")
    aux = ops.commit_aux(extension, randomizer_column, aux_randomizers, challenges)
    del extension
    stream.enqueue(ProofItem("MerkleRoot", ops.root(aux)))

    clock.begin("quotient: constraints")
    weights = stream.sample_scalars(sum(constraint_counts().values()))
    segments = ops.quotient(main, aux, challenges, weights, clock)
    stream.enqueue(ProofItem("MerkleRoot", ops.root(segments)))

    clock.begin("out-of-domain rows")
    alpha = stream.sample_scalars(1)[0]
    points = {"alpha": alpha, "alpha_next": xfield.mul_base(alpha, np.uint64(d.trace.generator)),
              "alpha4": xfield.pow(alpha, NUM_QUOTIENT_SEGMENTS)}
    ood = ops.out_of_domain(main, aux, segments, points)
    stream.enqueue(ProofItem("OutOfDomainMainRow", ood["main_curr"]))
    stream.enqueue(ProofItem("OutOfDomainAuxRow", ood["aux_curr"]))
    stream.enqueue(ProofItem("OutOfDomainMainRow", ood["main_next"]))
    stream.enqueue(ProofItem("OutOfDomainAuxRow", ood["aux_next"]))
    stream.enqueue(ProofItem("OutOfDomainQuotientSegments", ood["segments"]))

    clock.begin("DEEP codeword")
    lin_weights = stream.sample_scalars(NUM_MAIN_COLUMNS + NUM_AUX_COLUMNS + NUM_QUOTIENT_SEGMENTS + 3)
    codeword = ops.deep(main, aux, segments, ood, lin_weights, points)
    clock.begin("FRI")
    indices = fri.prove(codeword, d.fri, d.num_fri_rounds, d.num_collinearity_checks, stream,
                        ops.fri_rounds())

    clock.begin("open rows + encode")
    stream.enqueue(ProofItem("MasterMainTableRows", ops.rows(main, indices)))
    stream.enqueue(ProofItem("AuthenticationStructure", ops.auth(main, indices)))
    stream.enqueue(ProofItem("MasterAuxTableRows", ops.rows(aux, indices)))
    stream.enqueue(ProofItem("AuthenticationStructure", ops.auth(aux, indices)))
    stream.enqueue(ProofItem("QuotientSegmentsElements", ops.rows(segments, indices)))
    stream.enqueue(ProofItem("AuthenticationStructure", ops.auth(segments, indices)))
    ops.close()
    proof = stream.to_proof()
    clock.begin(None)
    return proof


@dataclass
class Segments:
    """The quotient's segment polynomials q_k: coefficients (L, 4, 3), values on the FRI domain, tree."""

    coefficients: np.ndarray
    lde: np.ndarray
    tree: np.ndarray


class HostOps:
    """The proving steps on host arrays, heavy transforms through a backend (the numpy reference path)."""

    def __init__(self, backend, d: ProverDomains, keep: bool) -> None:
        self.backend, self.d, self.keep = backend, d, keep
        self.main_trace: np.ndarray | None = None

    def commit(self, trace: np.ndarray, randomizers: np.ndarray, lower: str | None = None,
               challenges: np.ndarray | None = None) -> Committed:
        """commit(), after filling the trace's degree-lowering columns if `lower` ("main" / "aux") says so."""
        from stages.air.evaluate import fill_degree_lowering_aux, fill_degree_lowering_main

        if lower == "main":
            full = np.zeros((len(trace), NUM_MAIN_COLUMNS), dtype=np.uint64)
            full[:, :trace.shape[1]] = trace
            trace = fill_degree_lowering_main(full)
        elif lower == "aux":
            fill_degree_lowering_aux(self.main_trace, trace, challenges)
        if trace.ndim == 2:
            self.main_trace = trace
        return commit(trace, randomizers, self.d, self.backend, self.keep)

    def extend(self, main_trace: np.ndarray, challenges: np.ndarray) -> np.ndarray:
        """The aux table's extension columns (h, 49, 3)."""
        return extend_tables(main_trace, challenges)

    def commit_aux(self, extension: np.ndarray, randomizer_column: np.ndarray, randomizers: np.ndarray,
                   challenges: np.ndarray) -> Committed:
        """The aux table from its extension columns (h, 49, 3) and randomizer column, with degree lowering."""
        aux_trace = np.zeros((len(extension), NUM_AUX_COLUMNS, 3), dtype=np.uint64)
        aux_trace[:, :extension.shape[1]] = extension
        aux_trace[:, RANDOMIZER_COLUMN] = randomizer_column
        return self.commit(aux_trace, randomizers, "aux", challenges)

    def root(self, table: Committed | Segments) -> np.ndarray:
        return table.tree[1].copy()

    def quotient(self, main: Committed, aux: Committed, challenges: np.ndarray, weights: np.ndarray,
                 clock: _StageClock) -> Segments:
        quotient = quotient_codeword(main, aux, challenges, weights, self.d)
        clock.begin("quotient: segments + Merkle")
        seg_coeffs = quotient_segments(quotient, self.d)
        lde = evaluate_on_coset(seg_coeffs, self.d.fri.offset, self.d.fri.length, self.backend)
        return Segments(seg_coeffs, lde, self.backend.merkle_tree(self.backend.hash_rows(lde)))

    def out_of_domain(self, main: Committed, aux: Committed, segments: Segments,
                      points: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {
            "main_curr": ntt.evaluate_at(main.coefficients, points["alpha"]),
            "aux_curr": ntt.evaluate_at(aux.coefficients, points["alpha"]),
            "main_next": ntt.evaluate_at(main.coefficients, points["alpha_next"]),
            "aux_next": ntt.evaluate_at(aux.coefficients, points["alpha_next"]),
            "segments": ntt.evaluate_at(segments.coefficients, points["alpha4"]),
        }

    def deep(self, main: Committed, aux: Committed, segments: Segments, ood: dict[str, np.ndarray],
             weights: np.ndarray, points: dict[str, np.ndarray]) -> np.ndarray:
        return deep_codeword(main, aux, segments.coefficients, ood, weights, points, self.d, self.backend)

    def fri_rounds(self) -> fri.HostRounds:
        return fri.HostRounds()

    def rows(self, table: Committed | Segments, indices: list[int]) -> np.ndarray:
        if isinstance(table, Segments):
            return table.lde[indices]
        return table.rows(indices)

    def auth(self, table: Committed | Segments, indices: list[int]) -> np.ndarray:
        return merkle.auth_structure(table.tree, indices)

    def close(self) -> None:
        pass


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
