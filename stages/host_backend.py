"""The Backend on host arrays (stages/backend.py): tables as numpy arrays, transforms (NTT, row hashing,
Merkle trees) through a Transforms object, numpy's (the reference every other backend is checked
against) or OpenCL kernels one call at a time (the OpenCL host path). Constraints, degree lowering and
the aux extension run in numpy.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from tvmpd.stages import field, fri, merkle, ntt, xfield
from tvmpd.stages.air.constraints import LoweredAir
from tvmpd.stages.backend import Clock, deep_constants
from tvmpd.stages.domains import NUM_QUOTIENT_SEGMENTS, ProverDomains, powers
from tvmpd.stages.profile import ProofProfile
from tvmpd.stages.transforms import NumpyTransforms, Transforms
from tvmpd.stages.verifier import NUM_AUX_COLUMNS, NUM_MAIN_COLUMNS

RANDOMIZER_COLUMN = 90
QUOTIENT_CHUNK_ROWS = 1 << 13  # rows of the quotient domain evaluated per constraint pass


def randomized_interpolants(trace: np.ndarray, randomizers: np.ndarray, d: ProverDomains,
                            transforms: Transforms) -> np.ndarray:
    """Coefficients of I_c(X) + (X^h - 1) r_c(X) for every column c: interpolant plus zerofier * randomizer.

    trace: (h, cols[, 3]) on the trace domain; randomizers: (cols, k[, 3]) coefficients, low first.
    """
    h = d.trace.length
    coeffs = np.zeros((d.randomized_trace.length,) + trace.shape[1:], dtype=np.uint64)
    coeffs[:h] = transforms.intt(trace)
    r = np.moveaxis(randomizers, 1, 0)  # (k, cols[, 3])
    k = r.shape[0]
    coeffs[:k] = field.sub(coeffs[:k], r)
    coeffs[h:h + k] = field.add(coeffs[h:h + k], r)
    return coeffs


def evaluate_on_coset(coeffs: np.ndarray, offset: int, n: int, transforms: Transforms) -> np.ndarray:
    """Values of polynomials (coefficients along axis 0, at most n of them) at offset * w_n^i, i < n."""
    scaled = np.zeros((n,) + coeffs.shape[1:], dtype=np.uint64)
    shape = (len(coeffs),) + (1,) * (coeffs.ndim - 1)
    scaled[:len(coeffs)] = field.mul(coeffs, powers(offset, len(coeffs)).reshape(shape))
    return transforms.ntt(scaled)


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
    transforms: Transforms
    trace: np.ndarray | None = None  # the main trace (h, 379), kept until the aux table is committed
    profile: ProofProfile | None = None  # the proof system it is committed under (set by HostBackend)

    def coset(self, c: int) -> np.ndarray:
        """Values on FRI-domain rows c::E, shape (L, cols[, 3])."""
        if self.lde is not None:
            return self.lde[c::num_cosets(self.d)]
        return evaluate_on_coset(self.coefficients, coset_offset(self.d, c), self.d.randomized_trace.length,
                                 self.transforms)

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


def commit(trace: np.ndarray, randomizers: np.ndarray, d: ProverDomains, transforms: Transforms,
           keep_lde: bool = True) -> Committed:
    """Randomize, low-degree extend to the FRI domain, hash every row and build the Merkle tree."""
    coeffs = randomized_interpolants(trace, randomizers, d, transforms)
    if keep_lde:
        lde = evaluate_on_coset(coeffs, d.fri.offset, d.fri.length, transforms)
        digests = transforms.hash_rows(lde)
    else:
        lde = None
        e = num_cosets(d)
        digests = np.zeros((d.fri.length, 5), dtype=np.uint64)
        for c in range(e):
            values = evaluate_on_coset(coeffs, coset_offset(d, c), d.randomized_trace.length, transforms)
            digests[c::e] = transforms.hash_rows(values)
    return Committed(coeffs, transforms.merkle_tree(digests), lde, d, transforms)


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
                      d: ProverDomains, air: LoweredAir | None = None) -> np.ndarray:
    """Sum over all constraints of weight * constraint / zerofier on the quotient (= FRI) domain, (n, 3).

    Works coset by coset: within coset c (rows c::E) the next trace row of row k is row k + L/h. air: the
    lowered AIR (None: the v7.0.0 one).
    """
    from tvmpd.stages.air.constraints import CATEGORIES, lowered_air
    from tvmpd.stages.air.evaluate import evaluate_nodes

    air = air if air is not None else lowered_air()
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
                  transforms: Transforms) -> np.ndarray:
    """The DEEP combination codeword on the FRI domain, the input to FRI.

    The weighted sums of columns are formed on coefficients (linear), then extended once.
    """
    nm = NUM_MAIN_COLUMNS
    nrow = NUM_MAIN_COLUMNS + NUM_AUX_COLUMNS
    row_w, seg_w, deep_w = weights[:nrow], weights[nrow:nrow + NUM_QUOTIENT_SEGMENTS], weights[-3:]
    f_coeffs = xfield.add(_base_weighted(main.coefficients, row_w[:nm]),
                          xfield.dot(aux.coefficients, row_w[nm:]))
    g_coeffs = xfield.dot(seg_coeffs, seg_w)
    f = evaluate_on_coset(f_coeffs, d.fri.offset, d.fri.length, transforms)
    g = evaluate_on_coset(g_coeffs, d.fri.offset, d.fri.length, transforms)
    f_curr, f_next, g_alpha4 = deep_constants(ood, weights, points)
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


def extend_tables(main_trace: np.ndarray, challenges: np.ndarray) -> np.ndarray:
    """stages.air.extend.extend (aux columns 0..48, (h, 49, 3)) with the tables extended in threads: numpy
    releases the GIL in its array loops, and the nine tables are independent."""
    from tvmpd.stages.air.extend import NUM_AUX_BASE_COLUMNS, NUM_MAIN_BASE_COLUMNS, TABLE_EXTENSIONS

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




@dataclass
class Segments:
    """The quotient's segment polynomials q_k: coefficients (L, 4, 3), values on the FRI domain, tree."""

    coefficients: np.ndarray
    lde: np.ndarray
    tree: np.ndarray


class HostBackend:
    """Backend on host arrays. transforms: NumpyTransforms (default, the reference) or OpenCLTransforms;
    keep_lde: keep the FRI-domain extensions in memory (None: decide per proof from free memory and
    TVM_LDE_TRACE), else recompute one coset at a time; both give the same proof."""

    def __init__(self, transforms: Transforms | None = None, keep_lde: bool | None = None) -> None:
        self.transforms = transforms if transforms is not None else NumpyTransforms()
        self.keep_lde = keep_lde

    def commit_main(self, trace: np.ndarray, randomizers: np.ndarray, d: ProverDomains,
                    profile: ProofProfile) -> Committed:
        """Commit the main table (h, 379), filling its degree-lowering columns first if it has only the
        149 base columns; the filled trace stays in the handle for the aux table."""
        from tvmpd.stages.air.evaluate import fill_degree_lowering_main

        if trace.shape[1] < NUM_MAIN_COLUMNS:
            full = np.zeros((len(trace), NUM_MAIN_COLUMNS), dtype=np.uint64)
            full[:, :trace.shape[1]] = trace
            trace = fill_degree_lowering_main(full, profile.lowered_air())
        keep = keep_lde(d) if self.keep_lde is None else self.keep_lde
        committed = commit(trace, randomizers, d, self.transforms, keep)
        committed.trace, committed.profile = trace, profile
        return committed

    def extend(self, main: Committed, challenges: np.ndarray) -> np.ndarray:
        """The aux table's extension columns (h, 49, 3)."""
        return extend_tables(main.trace, challenges)

    def commit_aux(self, main: Committed, extension: np.ndarray, randomizer_column: np.ndarray,
                   randomizers: np.ndarray, challenges: np.ndarray) -> Committed:
        """The aux table from its extension columns (h, 49, 3) and randomizer column, with degree lowering;
        the main trace is dropped from its handle afterwards."""
        from tvmpd.stages.air.evaluate import fill_degree_lowering_aux

        aux_trace = np.zeros((len(extension), NUM_AUX_COLUMNS, 3), dtype=np.uint64)
        aux_trace[:, :extension.shape[1]] = extension
        aux_trace[:, RANDOMIZER_COLUMN] = randomizer_column
        fill_degree_lowering_aux(main.trace, aux_trace, challenges, main.profile.lowered_air())
        main.trace = None
        aux = commit(aux_trace, randomizers, main.d, self.transforms, main.lde is not None)
        aux.profile = main.profile
        return aux

    def root(self, table: Committed | Segments) -> np.ndarray:
        return table.tree[1].copy()

    def quotient(self, main: Committed, aux: Committed, challenges: np.ndarray, weights: np.ndarray,
                 clock: Clock) -> Segments:
        d = main.d
        quotient = quotient_codeword(main, aux, challenges, weights, d, main.profile.lowered_air())
        clock.begin("quotient: segments + Merkle")
        seg_coeffs = quotient_segments(quotient, d)
        lde = evaluate_on_coset(seg_coeffs, d.fri.offset, d.fri.length, self.transforms)
        return Segments(seg_coeffs, lde, self.transforms.merkle_tree(self.transforms.hash_rows(lde)))

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
        return deep_codeword(main, aux, segments.coefficients, ood, weights, points, main.d, self.transforms)

    def fri_rounds(self) -> fri.HostRounds:
        return fri.HostRounds()

    def rows(self, table: Committed | Segments, indices: list[int]) -> np.ndarray:
        if isinstance(table, Segments):
            return table.lde[indices]
        return table.rows(indices)

    def auth(self, table: Committed | Segments, indices: list[int]) -> np.ndarray:
        return merkle.auth_structure(table.tree, indices)

    def finish(self) -> None:
        pass
