"""The Triton VM v7.0.0 STARK prover as a sequence of stages over arrays (reference: `Prover::prove`).

Every stage is a plain function; heavy lifting (NTTs, row hashing, Merkle trees) goes through a
backend (numpy or OpenCL). With a fixed 32-byte seed the proof is byte-identical to the reference's.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from stages import field, fri, merkle, ntt, xfield
from stages.air.challenges import derive_challenges
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


@dataclass
class Committed:
    """A table committed to: its randomized interpolants' coefficients, its FRI-domain LDE, its tree."""

    coefficients: np.ndarray  # (randomized trace length, cols[, 3])
    lde: np.ndarray  # (FRI domain length, cols[, 3])
    tree: np.ndarray  # Merkle nodes (2n, 5)


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


def evaluate_on_fri_domain(coeffs: np.ndarray, d: ProverDomains, backend) -> np.ndarray:
    """Values of polynomials (coefficients along axis 0) on the FRI domain, natural order."""
    n = d.fri.length
    scaled = np.zeros((n,) + coeffs.shape[1:], dtype=np.uint64)
    offsets = powers(d.fri.offset, len(coeffs))
    shape = (len(coeffs),) + (1,) * (coeffs.ndim - 1)
    scaled[:len(coeffs)] = field.mul(coeffs, offsets.reshape(shape))
    return backend.ntt(scaled)


def commit(trace: np.ndarray, randomizers: np.ndarray, d: ProverDomains, backend) -> Committed:
    """Randomize, low-degree extend to the FRI domain, hash every row and build the Merkle tree."""
    coeffs = randomized_interpolants(trace, randomizers, d, backend)
    lde = evaluate_on_fri_domain(coeffs, d, backend)
    tree = backend.merkle_tree(backend.hash_rows(lde))
    return Committed(coeffs, lde, tree)


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


def quotient_codeword(main_lde: np.ndarray, aux_lde: np.ndarray, challenges: np.ndarray,
                      weights: np.ndarray, d: ProverDomains) -> np.ndarray:
    """Sum over all constraints of weight * constraint / zerofier on the quotient (= FRI) domain, (n, 3)."""
    from stages.air.constraints import CATEGORIES, lowered_air
    from stages.air.evaluate import evaluate_nodes

    air = lowered_air()
    n = d.fri.length
    step = n // d.trace.length  # the next trace row of quotient-domain row i is row i + step
    zinv = zerofier_inverses(d)
    offsets, start = {}, 0
    for category in CATEGORIES:
        offsets[category] = (start, start + len(air.constraints[category]))
        start += len(air.constraints[category])
    out = np.zeros((n, 3), dtype=np.uint64)
    for lo in range(0, n, QUOTIENT_CHUNK_ROWS):
        hi = min(n, lo + QUOTIENT_CHUNK_ROWS)
        nxt = (np.arange(lo, hi) + step) % n
        main, aux = main_lde[lo:hi], aux_lde[lo:hi]
        for category in CATEGORIES:
            a, b = offsets[category]
            if category == "transition":
                values = evaluate_nodes(air.constraints[category], main, aux, challenges,
                                        main_lde[nxt], aux_lde[nxt])
            else:
                values = evaluate_nodes(air.constraints[category], main, aux, challenges)
            combined = xfield.reduce_sum(xfield.mul(values, weights[a:b][np.newaxis]), axis=1)
            out[lo:hi] = xfield.add(out[lo:hi], xfield.mul_base(combined, zinv[category][lo:hi]))
    return out


def quotient_segments(quotient: np.ndarray, d: ProverDomains) -> np.ndarray:
    """Coefficients of the segments q_k with Q(X) = sum_k X^k q_k(X^4): (L, 4, 3)."""
    coeffs = ntt.interpolate_coset(quotient, d.quotient.offset)
    return np.stack([coeffs[k::NUM_QUOTIENT_SEGMENTS] for k in range(NUM_QUOTIENT_SEGMENTS)], axis=1)


def _weighted_row_sum(main: np.ndarray, aux: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """sum_c w_c main[.., c] + sum_c w_c aux[.., c] for rows of base main and extension aux values."""
    nm = main.shape[-1] if main.ndim == 2 else main.shape[-2]
    w_main, w_aux = weights[:nm], weights[nm:]
    if main.ndim == 2:  # base rows: one field matrix-vector product per extension coefficient
        part = np.stack([field.reduce_sum(field.mul(main, w_main[:, k]), axis=1) for k in range(3)], axis=-1)
    else:
        part = xfield.reduce_sum(xfield.mul(main, w_main), axis=-1)
    return xfield.add(part, xfield.reduce_sum(xfield.mul(aux, w_aux), axis=-1))


def deep_codeword(main_lde: np.ndarray, aux_lde: np.ndarray, segments_lde: np.ndarray,
                  ood: dict[str, np.ndarray], weights: np.ndarray, points: dict[str, np.ndarray],
                  d: ProverDomains) -> np.ndarray:
    """The DEEP combination codeword on the FRI domain, the input to FRI."""
    nrow = NUM_MAIN_COLUMNS + NUM_AUX_COLUMNS
    row_w, seg_w, deep_w = weights[:nrow], weights[nrow:nrow + NUM_QUOTIENT_SEGMENTS], weights[-3:]
    f = _weighted_row_sum(main_lde, aux_lde, row_w)
    g = xfield.reduce_sum(xfield.mul(segments_lde, seg_w), axis=1)
    f_curr = _weighted_row_sum(ood["main_curr"][np.newaxis], ood["aux_curr"][np.newaxis], row_w)[0]
    f_next = _weighted_row_sum(ood["main_next"][np.newaxis], ood["aux_next"][np.newaxis], row_w)[0]
    g_alpha4 = xfield.reduce_sum(xfield.mul(ood["segments"], seg_w), axis=0)
    x = xfield.lift(d.fri.values())

    def term(values: np.ndarray, value_at_z: np.ndarray, z: np.ndarray, w: np.ndarray) -> np.ndarray:
        quotient = xfield.mul(xfield.sub(values, value_at_z), xfield.batch_inv(xfield.sub(x, z)))
        return xfield.mul(quotient, w)

    out = term(f, f_curr, points["alpha"], deep_w[0])
    out = xfield.add(out, term(f, f_next, points["alpha_next"], deep_w[1]))
    return xfield.add(out, term(g, g_alpha4, points["alpha4"], deep_w[2]))


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


def main_table(aet) -> np.ndarray:
    """The padded master main table (h, 379) of an execution, degree-lowering columns included."""
    from stages.air.evaluate import fill_degree_lowering_main
    from stages.air.fill import fill_main_table

    return fill_degree_lowering_main(fill_main_table(aet))


def backend_for(device_key: str | None):
    """numpy for the CPU pool ("cpu" or None), OpenCL on the named device otherwise."""
    from stages.backend import get_backend

    if device_key in (None, "cpu", "numpy"):
        return get_backend("numpy")
    return get_backend("opencl", device_key)


def prove(claim, aet, seed: bytes | None = None, device_key: str | None = None,
          on_stage: Callable[[str], None] | None = None, progress: Progress | None = None,
          params: StarkParams | None = None) -> np.ndarray:
    """Prove an execution: claim (program_digest, version, input, output) and its AET -> proof elements."""
    clock = _StageClock(on_stage, progress)
    clock.begin("main table")
    table = main_table(aet)
    clock.begin(None)
    return prove_table(claim, table, seed=seed, backend=backend_for(device_key), params=params,
                       on_stage=on_stage, progress=progress)


def prove_table(claim, main_trace: np.ndarray, seed: bytes | None = None, backend=None,
                params: StarkParams | None = None, on_stage: Callable[[str], None] | None = None,
                progress: Progress | None = None) -> np.ndarray:
    """Prove a claim given the padded master main table (h, 379) of its execution; returns proof elements.

    main_trace must have all 379 columns filled (degree-lowering columns included).
    """
    from stages.air import constraint_counts
    from stages.air.evaluate import fill_degree_lowering_aux
    from stages.air.extend import extend

    backend = backend or backend_for(None)
    params = params or StarkParams()
    seed = os.urandom(32) if seed is None else seed
    if len(seed) != 32:
        raise ValueError(f"randomness seed must be 32 bytes, got {len(seed)}")
    h = main_trace.shape[0]
    d = derive(h, params)
    if main_trace.shape != (d.trace.length, NUM_MAIN_COLUMNS):
        raise ValueError(f"main table must be ({d.trace.length}, {NUM_MAIN_COLUMNS}), got {main_trace.shape}")
    k = d.num_trace_randomizers
    clock = _StageClock(on_stage, progress)

    stream = ProofStream()
    stream.absorb(claim_encoding(claim))
    stream.enqueue(ProofItem("Log2PaddedHeight", h.bit_length() - 1))

    clock.begin("main: LDE + Merkle")
    main = commit(main_trace, main_trace_randomizers(seed, NUM_MAIN_COLUMNS, k), d, backend)
    stream.enqueue(ProofItem("MerkleRoot", main.tree[1].copy()))

    clock.begin("aux: extend")
    challenges = derive_challenges(stream.sample_scalars(NUM_SAMPLED_CHALLENGES), claim.input, claim.output,
                                   claim.program_digest)
    aux_trace = np.zeros((h, NUM_AUX_COLUMNS, 3), dtype=np.uint64)
    aux_trace[:, :49] = extend(main_trace, challenges)
    randomizer_column, aux_randomizers = aux_randomness(seed, NUM_MAIN_COLUMNS, NUM_AUX_COLUMNS, h, k)
    fill_degree_lowering_aux(main_trace, aux_trace, challenges)
    aux_trace[:, RANDOMIZER_COLUMN] = randomizer_column
    clock.begin("aux: LDE + Merkle")
    aux = commit(aux_trace, aux_randomizers, d, backend)
    stream.enqueue(ProofItem("MerkleRoot", aux.tree[1].copy()))

    clock.begin("quotient: constraints")
    weights = stream.sample_scalars(sum(constraint_counts().values()))
    quotient = quotient_codeword(main.lde, aux.lde, challenges, weights, d)
    clock.begin("quotient: segments + Merkle")
    seg_coeffs = quotient_segments(quotient, d)
    segments_lde = evaluate_on_fri_domain(seg_coeffs, d, backend)
    seg_tree = backend.merkle_tree(backend.hash_rows(segments_lde))
    stream.enqueue(ProofItem("MerkleRoot", seg_tree[1].copy()))

    clock.begin("out-of-domain rows")
    alpha = stream.sample_scalars(1)[0]
    points = {"alpha": alpha, "alpha_next": xfield.mul_base(alpha, np.uint64(d.trace.generator)),
              "alpha4": xfield.pow(alpha, NUM_QUOTIENT_SEGMENTS)}
    ood = {
        "main_curr": ntt.evaluate_at(main.coefficients, points["alpha"]),
        "aux_curr": ntt.evaluate_at(aux.coefficients, points["alpha"]),
        "main_next": ntt.evaluate_at(main.coefficients, points["alpha_next"]),
        "aux_next": ntt.evaluate_at(aux.coefficients, points["alpha_next"]),
        "segments": ntt.evaluate_at(seg_coeffs, points["alpha4"]),
    }
    stream.enqueue(ProofItem("OutOfDomainMainRow", ood["main_curr"]))
    stream.enqueue(ProofItem("OutOfDomainAuxRow", ood["aux_curr"]))
    stream.enqueue(ProofItem("OutOfDomainMainRow", ood["main_next"]))
    stream.enqueue(ProofItem("OutOfDomainAuxRow", ood["aux_next"]))
    stream.enqueue(ProofItem("OutOfDomainQuotientSegments", ood["segments"]))

    clock.begin("DEEP codeword")
    lin_weights = stream.sample_scalars(NUM_MAIN_COLUMNS + NUM_AUX_COLUMNS + NUM_QUOTIENT_SEGMENTS + 3)
    codeword = deep_codeword(main.lde, aux.lde, segments_lde, ood, lin_weights, points, d)
    clock.begin("FRI")
    indices = fri.prove(codeword, d.fri, d.num_fri_rounds, d.num_collinearity_checks, stream)

    clock.begin("open rows + encode")
    stream.enqueue(ProofItem("MasterMainTableRows", main.lde[indices]))
    stream.enqueue(ProofItem("AuthenticationStructure", merkle.auth_structure(main.tree, indices)))
    stream.enqueue(ProofItem("MasterAuxTableRows", aux.lde[indices]))
    stream.enqueue(ProofItem("AuthenticationStructure", merkle.auth_structure(aux.tree, indices)))
    stream.enqueue(ProofItem("QuotientSegmentsElements", segments_lde[indices]))
    stream.enqueue(ProofItem("AuthenticationStructure", merkle.auth_structure(seg_tree, indices)))
    proof = stream.to_proof()
    clock.begin(None)
    return proof
