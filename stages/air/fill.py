"""Main table of Triton VM v7.0.0: the nine tables filled from the AET, sorted and padded like the reference.

`fill_main_table(aet)` returns the (padded_height, 379) uint64 master main table with columns 0..149
filled; the degree-lowering columns 149..379 are left zero for the AIR's lowering code to fill (they are
computed on the padded table). With base_only it returns just the 149 filled columns. Filling order
follows the reference: OpStack, Ram, JumpStack (they yield the clock-jump differences), Processor,
Program, Hash, Cascade, Lookup, U32.

Each table is written straight into its columns of the master table by a compiled loop (numba,
`cache=True`, GIL released), so a 2^21-row table is one pass over the caller's memory (the daemon's
shared-memory block) with no per-table intermediate copies; the tables run on a few threads.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numba as nb
import numpy as np

from tvmpd.stages import field as F
from tvmpd.stages import ntt
from tvmpd.stages.air.columns import (
    MAIN_TABLE_START,
    NUM_MAIN_BASE_COLUMNS,
    NUM_MASTER_MAIN_COLUMNS,
    CascadeMain,
    HashMain,
    LookupMain,
    OpStackMain,
    ProcessorMain,
    ProgramMain,
    RamMain,
    U32Main,
)
from tvmpd.stages.tip5 import LOOKUP_TABLE, ROUND_CONSTANTS
from tvmpd.stages.tip5_numba import nb_add, nb_invert_or_zero, nb_mul, nb_pow, nb_sub

P = F.P
_U = np.uint64
_LT = np.array(LOOKUP_TABLE, dtype=_U)
# round constants per hash-table row by round number 0..5; the row after the last round carries zeros
_RC_BY_ROUND = np.concatenate([np.array(ROUND_CONSTANTS, dtype=_U).reshape(5, 16), np.zeros((1, 16), _U)])

OP_SPLIT, OP_LT, OP_AND, OP_LOG2FLOOR, OP_POW, OP_POPCOUNT, OP_HASH = 4, 6, 14, 12, 30, 28, 18
U32_OPS = (OP_SPLIT, OP_LT, OP_AND, OP_LOG2FLOOR, OP_POW, OP_POPCOUNT)
PADDING_OP_STACK = 2
PADDING_RAM = 2
NUM_OP_STACK_REGISTERS = 16
FILL_THREADS = 8  # threads filling tables (and chunks of the wide ones) at the same time
ROW_CHUNK = 1 << 16  # rows per task of the wide tables
BEZOUT_COMPILED_MAX = 6144  # above this many distinct RAM pointers the O(k log^2 k) path is faster
BEZOUT_THREADS = 8
TABLE_NAMES = ("Program", "Processor", "OpStack", "Ram", "JumpStack", "Hash", "Cascade", "Lookup", "U32")

# Column offsets inside each table, spelled out here (the compiled loops take them as constants, and
# numba's cache would not notice a change in another module); _check_offsets ties them to columns.py.
PROC_CLK, PROC_IS_PADDING, PROC_CI, PROC_JSP, PROC_JSO, PROC_JSD, PROC_CJD_MULT = 0, 1, 3, 12, 13, 14, 38
PROC_WIDTH = 39
HASH_MODE, HASH_CI, HASH_ROUND, HASH_LK_IN, HASH_LK_OUT, HASH_STATE4, HASH_INV, HASH_CONST = (
    0, 1, 2, 3, 19, 35, 47, 51)
HASH_WIDTH = 67

_ZERO = np.uint64(0)
_ONE = np.uint64(1)
_MONTGOMERY_R = np.uint64(F.MONTGOMERY_R)
_U32_MAX = np.uint64(2**32 - 1)
_M16 = np.uint64(0xFFFF)
_M8 = np.uint64(0xFF)
_S8 = np.uint64(8)
_INV_NINE_MINUS_INDEX = np.array([pow(9 - i, P - 2, P) if i < 9 else 0 for i in range(10)], dtype=_U)
_INV_BITS_MINUS_33 = np.array([pow(i - 33, P - 2, P) for i in range(34)], dtype=_U)


def _local(col) -> int:
    """Index of a master column inside its own table."""
    name = type(col).__name__.removesuffix("Main")
    return int(col) - MAIN_TABLE_START[name]


def _check_offsets() -> None:
    """The constants above name the columns columns.py defines."""
    pm, hm = ProcessorMain, HashMain
    expected = {
        PROC_CLK: pm.CLK, PROC_IS_PADDING: pm.IsPadding, PROC_CI: pm.CI, PROC_JSP: pm.JSP, PROC_JSO: pm.JSO,
        PROC_JSD: pm.JSD, PROC_CJD_MULT: pm.ClockJumpDifferenceLookupMultiplicity,
    }
    hashes = {
        HASH_MODE: hm.Mode, HASH_CI: hm.CI, HASH_ROUND: hm.RoundNumber, HASH_LK_IN: hm.State0HighestLkIn,
        HASH_LK_OUT: hm.State0HighestLkOut, HASH_STATE4: hm.State4, HASH_INV: hm.State0Inv,
        HASH_CONST: hm.Constant0,
    }
    for offset, col in (*expected.items(), *hashes.items()):
        if _local(col) != offset:
            raise RuntimeError(f"column offset of {col.name} is {_local(col)}, not {offset}")
    if len(ProcessorMain) != PROC_WIDTH or len(HashMain) != HASH_WIDTH:
        raise RuntimeError("Processor or Hash table width changed")
    tables = (OpStackMain, RamMain, ProgramMain, CascadeMain, LookupMain, U32Main)
    orders = (
        ("CLK", "IB1ShrinkStack", "StackPointer", "FirstUnderflowElement"),
        ("CLK", "InstructionType", "RamPointer", "RamValue", "InverseOfRampDifference",
         "BezoutCoefficientPolynomialCoefficient0", "BezoutCoefficientPolynomialCoefficient1"),
        ("Address", "Instruction", "LookupMultiplicity", "IndexInChunk", "MaxMinusIndexInChunkInv",
         "IsHashInputPadding", "IsTablePadding"),
        ("IsPadding", "LookInHi", "LookInLo", "LookOutHi", "LookOutLo", "LookupMultiplicity"),
        ("IsPadding", "LookIn", "LookOut", "LookupMultiplicity"),
        ("CopyFlag", "Bits", "BitsMinus33Inv", "CI", "LHS", "LhsInv", "RHS", "RhsInv", "Result",
         "LookupMultiplicity"),
    )
    for enum, names in zip(tables, orders, strict=True):
        if tuple(c.name for c in sorted(enum, key=int)) != names:
            raise RuntimeError(f"{enum.__name__} columns moved")


_check_offsets()


def _arr(x, cols: int, what: str) -> np.ndarray:
    a = np.asarray(x, dtype=_U)
    if a.size == 0:
        return np.zeros((0, cols), dtype=_U)
    if a.ndim != 2 or a.shape[1] != cols:
        raise ValueError(f"AET {what} must have shape (rows, {cols}), got {a.shape}")
    return a


def _vec(x) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(x, dtype=_U).reshape(-1))


# ---------------------------------------------------------------------------------------------
# compiled helpers


@nb.njit(cache=True, nogil=True)
def _bit_length(x: np.uint64) -> int:
    n = 0
    while x:
        n += 1
        x >>= _ONE
    return n


# ---------------------------------------------------------------------------------------------
# tables with clock-jump differences


@nb.njit(cache=True, nogil=True)
def _op_stack_into(main, c0, trace, order, num_rows):
    """OpStack rows in `order` (by StackPointer, then CLK) and their padding into main[:, c0:c0+4];
    returns the clock-jump differences."""
    k = order.size
    cjd = np.empty(max(k - 1, 0), dtype=np.uint64)
    m = 0
    for r in range(k):
        s = order[r]
        for j in range(4):
            main[r, c0 + j] = trace[s, j]
        if r > 0 and trace[s, 2] == trace[order[r - 1], 2]:
            cjd[m] = nb_sub(trace[s, 0], trace[order[r - 1], 0])
            m += 1
    pad = np.zeros(4, dtype=np.uint64)
    if k:
        for j in range(4):
            pad[j] = trace[order[k - 1], j]
    else:
        pad[2] = NUM_OP_STACK_REGISTERS
    pad[1] = PADDING_OP_STACK
    for r in range(k, num_rows):
        for j in range(4):
            main[r, c0 + j] = pad[j]
    return cjd[:m]


def fill_op_stack(main: np.ndarray, c0: int, trace: np.ndarray, num_rows: int) -> np.ndarray:
    """OpStack table into main[:, c0:c0+4], sorted by (StackPointer, CLK) and padded; returns its
    clock-jump differences."""
    trace = np.ascontiguousarray(_arr(trace, 4, "op_stack_underflow_trace"))
    sp_col, clk_col = _local(OpStackMain.StackPointer), _local(OpStackMain.CLK)
    order = np.lexsort((trace[:, clk_col], trace[:, sp_col])) if trace.shape[0] else np.zeros(0, np.int64)
    return _op_stack_into(main, c0, trace, order, num_rows)


def _poly_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out = np.zeros(a.size + b.size - 1, dtype=_U)
    for i in range(a.size):
        out[i : i + b.size] = F.add(out[i : i + b.size], F.mul(b, a[i]))
    return out


def _bezout_quadratic(roots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bezout coefficients by schoolbook polynomial arithmetic, vectorised over the roots: O(k^2)."""
    k = roots.size
    # rp = prod (X - r_i), coefficients low to high, monic of degree k
    rp = np.zeros(k + 1, dtype=_U)
    rp[0] = 1
    for i, r in enumerate(roots):
        shifted = rp[: i + 1].copy()
        rp[1 : i + 2] = shifted
        rp[0] = 0
        rp[: i + 1] = F.sub(rp[: i + 1], F.mul(shifted, r))
    fd = F.mul(rp[1:], np.arange(1, k + 1, dtype=_U))  # formal derivative, degree k-1
    # fd at every root (Horner, vectorised over the roots)
    fd_at = np.zeros(k, dtype=_U)
    for c in fd[::-1]:
        fd_at = F.add(F.mul(fd_at, roots), c)
    inv_fd = F.batch_inv(fd_at)
    # b = sum_i inv_fd_i^2 * rp / (X - r_i); the quotients come from synthetic division for all i at once
    w = F.mul(inv_fd, inv_fd)
    b = np.zeros(k, dtype=_U)
    q = np.ones(k, dtype=_U)  # coefficient k-1 of every quotient (rp is monic)
    b[k - 1] = F.reduce_sum(w)
    for j in range(k - 1, 0, -1):
        q = F.add(rp[j], F.mul(roots, q))
        b[j - 1] = F.reduce_sum(F.mul(w, q))
    # a = (1 - fd*b) / rp, an exact division by a monic polynomial
    num = F.neg(_poly_mul(fd, b))
    num[0] = F.add(num[0:1], _U(1))[0]
    a = np.zeros(k, dtype=_U)
    for j in range(num.size - 1 - k, -1, -1):
        coef = num[j + k]
        a[j] = coef
        num[j : j + k + 1] = F.sub(num[j : j + k + 1], F.mul(rp, coef))
    if (num != 0).any():
        raise ValueError("Bezout relation failed: inexact division")
    return a, b


def _pmul(a: np.ndarray, b: np.ndarray, n_out: int | None = None) -> np.ndarray:
    """Column-wise polynomial products (coefficients along axis 0, lowest first) of (la, c) and (lb, c),
    truncated to n_out coefficients; NTT for long factors, schoolbook for short ones."""
    la, lb = a.shape[0], b.shape[0]
    n = la + lb - 1
    n_out = n if n_out is None else min(n, n_out)
    if min(la, lb) <= 32:
        if la > lb:
            a, b, la, lb = b, a, lb, la
        out = np.zeros((n, a.shape[1]), dtype=_U)
        for i in range(la):
            out[i : i + lb] = F.add(out[i : i + lb], F.mul(b, a[i : i + 1]))
        return out[:n_out]
    size = 1 << (n - 1).bit_length()
    fa = np.zeros((size, a.shape[1]), dtype=_U)
    fb = np.zeros((size, b.shape[1]), dtype=_U)
    fa[:la] = a
    fb[:lb] = b
    return ntt.intt(F.mul(ntt.ntt(fa), ntt.ntt(fb)))[:n_out]


def _series_inverse(h: np.ndarray, n: int) -> np.ndarray:
    """Column-wise power-series inverses mod X^n of (m, c) polynomials with constant term 1 (Newton)."""
    g = np.zeros((1, h.shape[1]), dtype=_U)
    g[0] = 1
    t = 1
    while t < n:
        t = min(2 * t, n)
        e = F.neg(_pmul(h[:t], g, t))
        e[0] = F.add(e[0], _U(2))
        g = _pmul(g, e, t)
    return g[:n]


def _product_tree(leaves: np.ndarray) -> list[np.ndarray]:
    """Levels of products of adjacent pairs; level l is (2^l + 1, count) for the (2, K) leaf level."""
    levels = [leaves]
    while levels[-1].shape[1] > 1:
        cur = levels[-1]
        levels.append(_pmul(cur[:, 0::2], cur[:, 1::2]))
    return levels


def _bezout_fast(roots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bezout coefficients with subproduct trees, a remainder tree and Newton division: O(k log^2 k)."""
    k = roots.size
    size = 1 << (k - 1).bit_length()
    # extra evaluation points pad the tree to a power of two; their results are ignored
    candidates = _U(P - 1) - np.arange(2 * size, dtype=_U)
    dummies = candidates[~np.isin(candidates, roots)][: size - k]
    points = np.concatenate([roots, dummies])
    monic = _product_tree(np.stack([F.neg(points), np.ones(size, dtype=_U)]))
    # the same shape with the extra points replaced by the constant 1: its root is rp over the real roots
    real_leaves = np.zeros((2, size), dtype=_U)
    real_leaves[0, :k] = F.neg(roots)
    real_leaves[1, :k] = 1
    real_leaves[0, k:] = 1
    real = _product_tree(real_leaves)
    rp = real[-1][: k + 1, 0]
    fd = F.mul(rp[1:], np.arange(1, k + 1, dtype=_U))
    # remainder tree: fd mod each node, down to the values at the points
    rem = np.zeros((size, 1), dtype=_U)
    rem[:k, 0] = fd
    for level in range(len(monic) - 2, -1, -1):
        d = 1 << level
        z = monic[level]  # (d + 1, count), monic
        r = np.repeat(rem, 2, axis=1)  # (2d, count): each child starts from its parent's remainder
        inv = _series_inverse(z[::-1], d)
        q = _pmul(r[::-1][:d], inv, d)[::-1]
        rem = F.sub(r[:d], _pmul(q, z, d))
    fd_at = rem[0, :k]
    inv_fd = F.batch_inv(fd_at)
    weights = np.zeros((1, size), dtype=_U)
    weights[0, :k] = F.mul(inv_fd, inv_fd)
    # b = sum_i w_i rp / (X - r_i), combined up the tree: P = P_left * Z_right + P_right * Z_left
    comb = weights
    for level in range(len(real) - 1):
        z = real[level]
        comb = F.add(_pmul(comb[:, 0::2], z[:, 1::2]), _pmul(comb[:, 1::2], z[:, 0::2]))
    b = comb[:k, 0].copy()
    # a = (1 - fd*b) / rp: reversed quotient = reversed numerator * reversed rp^-1 mod X^(k-1)
    num = F.neg(_pmul(fd[:, None], b[:, None])[:, 0])
    num[0] = F.add(num[0:1], _U(1))[0]
    a = np.zeros(k, dtype=_U)
    if k > 1:
        inv_rp = _series_inverse(rp[::-1, None], k - 1)
        a[: k - 1] = _pmul(num[::-1][: k - 1, None], inv_rp, k - 1)[::-1, 0]
    check = F.sub(num, _pmul(a[:, None], rp[:, None])[: num.size, 0])
    if (check != 0).any():
        raise ValueError("Bezout relation failed: inexact division")
    return a, b


@nb.njit(cache=True, nogil=True)
def _bz_zerofier(roots: np.ndarray) -> np.ndarray:
    """Coefficients (low first) of prod (X - r), built one root at a time."""
    k = roots.size
    rp = np.zeros(k + 1, dtype=np.uint64)
    rp[0] = _ONE
    for i in range(k):
        r = roots[i]
        rp[i + 1] = rp[i]
        for j in range(i, 0, -1):
            rp[j] = nb_sub(rp[j - 1], nb_mul(r, rp[j]))
        rp[0] = nb_sub(_ZERO, nb_mul(r, rp[0]))
    return rp


@nb.njit(cache=True, nogil=True)
def _bz_evaluate(poly: np.ndarray, points: np.ndarray, out: np.ndarray, lo: int, hi: int) -> None:
    """out[i] = poly(points[i]) for i in lo..hi (Horner, the points in the inner loop)."""
    for i in range(lo, hi):
        out[i] = _ZERO
    for j in range(poly.size - 1, -1, -1):
        c = poly[j]
        for i in range(lo, hi):
            out[i] = nb_add(nb_mul(out[i], points[i]), c)


@nb.njit(cache=True, nogil=True)
def _bz_quotient_sum(roots: np.ndarray, w: np.ndarray, rp: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Coefficients of sum over i in lo..hi of w_i rp / (X - r_i), by synthetic division from the top."""
    k = roots.size
    b = np.zeros(k, dtype=np.uint64)
    if hi <= lo:
        return b
    q = np.ones(hi - lo, dtype=np.uint64)  # coefficient k-1 of every quotient (rp is monic)
    total = _ZERO
    for i in range(lo, hi):
        total = nb_add(total, w[i])
    b[k - 1] = total
    for j in range(k - 1, 0, -1):
        c = rp[j]
        s0 = s1 = _ZERO  # two partial sums: independent chains run side by side
        i = lo
        while i + 1 < hi:
            q0 = nb_add(c, nb_mul(roots[i], q[i - lo]))
            q1 = nb_add(c, nb_mul(roots[i + 1], q[i + 1 - lo]))
            q[i - lo] = q0
            q[i + 1 - lo] = q1
            s0 = nb_add(s0, nb_mul(w[i], q0))
            s1 = nb_add(s1, nb_mul(w[i + 1], q1))
            i += 2
        if i < hi:
            q0 = nb_add(c, nb_mul(roots[i], q[i - lo]))
            q[i - lo] = q0
            s0 = nb_add(s0, nb_mul(w[i], q0))
        b[j - 1] = nb_add(s0, s1)
    return b


@nb.njit(cache=True, nogil=True)
def _bz_one_minus_product(fd: np.ndarray, b: np.ndarray, num: np.ndarray, lo: int, hi: int) -> None:
    """num[t] for t in lo..hi of 1 - fd * b."""
    k = b.size
    for t in range(lo, hi):
        s0 = s1 = _ZERO  # two partial sums: independent chains run side by side
        i, end = max(0, t - k + 1), min(t, fd.size - 1) + 1
        while i + 1 < end:
            s0 = nb_add(s0, nb_mul(fd[i], b[t - i]))
            s1 = nb_add(s1, nb_mul(fd[i + 1], b[t - i - 1]))
            i += 2
        if i < end:
            s0 = nb_add(s0, nb_mul(fd[i], b[t - i]))
        num[t] = nb_sub(_ONE if t == 0 else _ZERO, nb_add(s0, s1))


@nb.njit(cache=True, nogil=True)
def _bz_exact_quotient(num: np.ndarray, rp: np.ndarray) -> np.ndarray:
    """num / rp for a monic rp that divides num exactly (else ValueError)."""
    k = rp.size - 1
    a = np.zeros(k, dtype=np.uint64)
    for j in range(num.size - 1 - k, -1, -1):
        coef = num[j + k]
        a[j] = coef
        for t in range(k + 1):
            num[j + t] = nb_sub(num[j + t], nb_mul(rp[t], coef))
    for t in range(num.size):
        if num[t] != 0:
            raise ValueError("Bezout relation failed: inexact division")
    return a


def _ranges(n: int, parts: int) -> list[tuple[int, int]]:
    step = -(-n // parts)
    return [(lo, min(lo + step, n)) for lo in range(0, n, step)]


def _bezout_compiled(roots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The schoolbook O(k^2) Bezout coefficients of _bezout_quadratic as compiled loops, the evaluation at
    the roots, b's quotient sums and the product fd * b split over threads: for the few thousand distinct
    RAM pointers of a typical job it beats the O(k log^2 k) numpy path."""
    roots = np.ascontiguousarray(roots, dtype=_U)
    k = roots.size
    parts = min(BEZOUT_THREADS, os.cpu_count() or 1) if k >= 512 else 1
    with ThreadPoolExecutor(max_workers=parts) as pool:
        rp = _bz_zerofier(roots)
        fd = F.mul(rp[1:], np.arange(1, k + 1, dtype=_U))  # the formal derivative
        w = np.empty(k, dtype=_U)
        list(pool.map(lambda r: _bz_evaluate(fd, roots, w, *r), _ranges(k, parts)))
        w = F.batch_inv(w)  # the roots are distinct: fd is nonzero on them
        w = F.mul(w, w)
        b = np.zeros(k, dtype=_U)
        for part in pool.map(lambda r: _bz_quotient_sum(roots, w, rp, *r), _ranges(k, parts)):
            b = F.add(b, part)
        num = np.empty(2 * k - 1, dtype=_U)
        list(pool.map(lambda r: _bz_one_minus_product(fd, b, num, *r), _ranges(num.size, parts)))
    return _bz_exact_quotient(num, rp), b


def bezout_coefficients(roots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients (low to high, k each) of a, b with a*rp + b*rp' = 1, rp = prod (X - r) over the k
    distinct roots; b interpolates 1/rp'(r) on the roots. Used for the RAM table's contiguity argument."""
    roots = np.asarray(roots, dtype=_U)
    k = roots.size
    if k == 0:
        return np.zeros(0, dtype=_U), np.zeros(0, dtype=_U)
    if np.unique(roots).size != k:
        raise ValueError("Bezout coefficients need distinct roots")
    return _bezout_compiled(roots) if k <= BEZOUT_COMPILED_MAX else _bezout_fast(roots)


@nb.njit(cache=True, nogil=True)
def _ram_into(main, c0, trace, order, a, b, num_rows):
    """Ram rows [CLK, type, pointer, value] in `order` (by pointer, then CLK) with the inverse of the next
    pointer difference and the Bezout coefficients of the row's pointer, then padding, into
    main[:, c0:c0+7]; returns the clock-jump differences."""
    k = order.size
    diffs = np.empty(k - 1, dtype=np.uint64)
    for r in range(k - 1):
        diffs[r] = nb_sub(trace[order[r + 1], 2], trace[order[r], 2])
    nb_invert_or_zero(diffs)
    cjd = np.empty(k - 1, dtype=np.uint64)
    m = 0
    idx = a.size - 1  # the coefficient index counts down as the pointer changes
    for r in range(k):
        s = order[r]
        if r > 0:
            prev = order[r - 1]
            if trace[s, 2] != trace[prev, 2]:
                idx -= 1
            else:
                cjd[m] = nb_sub(trace[s, 0], trace[prev, 0])
                m += 1
        for j in range(4):
            main[r, c0 + j] = trace[s, j]
        main[r, c0 + 4] = diffs[r] if r < k - 1 else _ZERO
        main[r, c0 + 5] = a[idx]
        main[r, c0 + 6] = b[idx]
    for r in range(k, num_rows):
        for j in range(7):
            main[r, c0 + j] = main[k - 1, c0 + j]
        main[r, c0 + 1] = PADDING_RAM
    return cjd[:m]


def fill_ram(main: np.ndarray, c0: int, trace: np.ndarray, num_rows: int) -> np.ndarray:
    """Ram table into main[:, c0:c0+7], rows sorted by (RamPointer, CLK) with the contiguity-argument
    columns, padded; returns its clock-jump differences."""
    trace = np.ascontiguousarray(_arr(trace, 4, "ram_trace"))
    if not trace.shape[0]:
        block = main[:num_rows, c0 : c0 + 7]
        block[:] = 0
        block[:, _local(RamMain.InstructionType)] = PADDING_RAM
        block[:, _local(RamMain.BezoutCoefficientPolynomialCoefficient1)] = 1
        return np.zeros(0, dtype=_U)
    order = np.lexsort((trace[:, 0], trace[:, 2]))
    ptr = trace[order, 2]
    uniq = ptr[np.concatenate([[True], ptr[1:] != ptr[:-1]])]
    a, b = bezout_coefficients(uniq)
    return _ram_into(main, c0, trace, order, a, b, num_rows)


@nb.njit(cache=True, nogil=True)
def _jump_stack_into(main, c0, proc, num_rows):
    """JumpStack rows [CLK, CI, JSP, JSO, JSD] of the processor rows sorted by (JSP, CLK), the padding
    inserted after the row of the last cycle, into main[:, c0:c0+5]; returns the clock-jump differences."""
    n = proc.shape[0]
    top = _ZERO
    for r in range(n):
        top = max(top, proc[r, PROC_JSP])
    # A stable counting sort by JSP (rows are in CLK order): JSP grows by at most one a cycle, so it stays
    # below the row count. (No np.argsort fallback: numba's mergesort took about 2 s of a cold compile.)
    start = np.zeros(int(top) + 2, dtype=np.int64)
    for r in range(n):
        start[int(proc[r, PROC_JSP]) + 1] += 1
    for v in range(int(top) + 1):
        start[v + 1] += start[v]
    order = np.empty(n, dtype=np.int64)
    for r in range(n):
        v = int(proc[r, PROC_JSP])
        order[start[v]] = r
        start[v] += 1
    cols = (PROC_CLK, PROC_CI, PROC_JSP, PROC_JSO, PROC_JSD)
    cjd = np.empty(max(n - 1, 0), dtype=np.uint64)
    m = 0
    last = -1
    for r in range(n):
        s = order[r]
        if proc[s, PROC_CLK] == np.uint64(n - 1) and last < 0:
            last = r
        if r > 0 and proc[s, PROC_JSP] == proc[order[r - 1], PROC_JSP]:
            cjd[m] = nb_sub(proc[s, PROC_CLK], proc[order[r - 1], PROC_CLK])
            m += 1
    num_pad = num_rows - n
    for r in range(n):
        s = order[r]
        row = r if r <= last else r + num_pad
        for j in range(5):
            main[row, c0 + j] = proc[s, cols[j]]
    s = order[last]
    for p in range(num_pad):
        row = last + 1 + p
        main[row, c0] = n + p
        for j in range(1, 5):
            main[row, c0 + j] = proc[s, cols[j]]
    return cjd[:m]


def fill_jump_stack(main: np.ndarray, c0: int, proc: np.ndarray, num_rows: int) -> np.ndarray:
    """JumpStack table into main[:, c0:c0+5] from the processor rows, sorted by (JSP, CLK), padded after the
    row of the last cycle; returns its clock-jump differences."""
    if not (proc[:, PROC_CLK] == proc.shape[0] - 1).any():
        raise ValueError("processor trace has no row of its last cycle")
    return _jump_stack_into(main, c0, proc, num_rows)


@nb.njit(cache=True, nogil=True)
def _processor_rows_into(main, c0, proc, lo, hi, num_rows):
    """Processor rows lo..hi into main[:, c0:c0+39]: the trace's rows, then padding rows (copies of the last
    with IsPadding set and the CLK counting on); multiplicities zero (_processor_multiplicities_into)."""
    n = proc.shape[0]
    for r in range(lo, min(hi, n)):
        for j in range(PROC_WIDTH):
            main[r, c0 + j] = proc[r, j]
        main[r, c0 + PROC_CJD_MULT] = 0
    for r in range(max(lo, n), hi):
        for j in range(PROC_WIDTH):
            main[r, c0 + j] = proc[n - 1, j]
        main[r, c0 + PROC_IS_PADDING] = 1
        main[r, c0 + PROC_CJD_MULT] = 0
        main[r, c0 + PROC_CLK] = r


@nb.njit(cache=True, nogil=True)
def _processor_multiplicities_into(main, c0, n, cjd, num_rows):
    """How often each clock-jump difference occurs, in the multiplicity column; the padding rows' jumps of 1
    are counted at row 1."""
    for i in range(cjd.size):
        main[int(cjd[i]), c0 + PROC_CJD_MULT] += _ONE
    if num_rows > 1:
        main[1, c0 + PROC_CJD_MULT] = nb_add(main[1, c0 + PROC_CJD_MULT], np.uint64(num_rows - n))


def check_clock_jumps(clock_jump_differences: np.ndarray, n: int) -> np.ndarray:
    """The clock-jump differences as a uint64 array, each below the processor trace's length n."""
    diffs = np.ascontiguousarray(clock_jump_differences, dtype=_U)
    if diffs.size and int(diffs.max()) >= n:
        raise ValueError(f"clock jump difference {int(diffs.max())} exceeds the processor trace ({n} rows)")
    return diffs


# ---------------------------------------------------------------------------------------------
# program, hash, cascade, lookup, u32


@nb.njit(cache=True, nogil=True)
def _program_into(main, c0, words, mult, num_rows, inv_nine_minus_index):
    n = words.size
    padded_len = (n + 10) // 10 * 10  # words plus at least one padding 1, in chunks of 10
    for r in range(num_rows):
        idx = r % 10
        main[r, c0] = r
        main[r, c0 + 1] = words[r] if r < n else (_ONE if r == n else _ZERO)
        main[r, c0 + 2] = mult[r] if r < n else _ZERO
        main[r, c0 + 3] = idx
        main[r, c0 + 4] = inv_nine_minus_index[idx]
        main[r, c0 + 5] = 1 if r >= n else 0
        main[r, c0 + 6] = 1 if r >= padded_len else 0


def fill_program(main: np.ndarray, c0: int, words: np.ndarray, multiplicities: np.ndarray,
                 num_rows: int) -> None:
    """Program table into main[:, c0:c0+7]: padded program words with lookup multiplicities, chunk indices."""
    words, mult = _vec(words), _vec(multiplicities)
    if mult.size < words.size:
        raise ValueError(f"{mult.size} instruction multiplicities for {words.size} program words")
    _program_into(main, c0, words, mult, num_rows, _INV_NINE_MINUS_INDEX)


@nb.njit(cache=True, nogil=True)
def _hash_into(main, c0, start, trace, mode, lookup, rc_by_round):
    """Hash-table rows of one mode from [CI, RoundNumber, state0..15] trace rows into main rows start..:
    the first four state words split into 16-bit limbs of their Montgomery form with their lookups and
    inverses, the other twelve as they are, the round's constants."""
    k = trace.shape[0]
    inv = np.empty(4 * k, dtype=np.uint64)
    for r in range(k):
        for i in range(4):
            inv[4 * r + i] = _U32_MAX - (nb_mul(trace[r, 2 + i], _MONTGOMERY_R) >> np.uint64(32))
    nb_invert_or_zero(inv)
    for r in range(k):
        row = start + r
        main[row, c0 + HASH_MODE] = mode
        main[row, c0 + HASH_CI] = trace[r, 0]
        main[row, c0 + HASH_ROUND] = trace[r, 1]
        for i in range(4):
            raw = nb_mul(trace[r, 2 + i], _MONTGOMERY_R)
            for j in range(4):
                limb = (raw >> np.uint64(48 - 16 * j)) & _M16
                main[row, c0 + HASH_LK_IN + 4 * i + j] = limb
                looked_up = lookup[limb >> _S8] * np.uint64(256) + lookup[limb & _M8]
                main[row, c0 + HASH_LK_OUT + 4 * i + j] = looked_up
            main[row, c0 + HASH_INV + i] = inv[4 * r + i]
        for j in range(12):
            main[row, c0 + HASH_STATE4 + j] = trace[r, 6 + j]
        rnd = trace[r, 1]
        for j in range(16):
            main[row, c0 + HASH_CONST + j] = rc_by_round[rnd, j]


@nb.njit(cache=True, nogil=True)
def _hash_padding_into(main, c0, start, num_rows, inv_of_max, rc0):
    for r in range(start, num_rows):
        for j in range(HASH_WIDTH):
            main[r, c0 + j] = 0
        main[r, c0 + HASH_CI] = OP_HASH
        for i in range(4):
            main[r, c0 + HASH_INV + i] = inv_of_max
        for j in range(16):
            main[r, c0 + HASH_CONST + j] = rc0[j]


def hash_parts(program_hash_trace, sponge_trace, hash_trace) -> list[tuple[np.ndarray, int, int]]:
    """The hash table's trace parts as (trace, mode, first row): program hashing (mode 1), sponge (2),
    hash (3); padding (mode 0) follows them."""
    parts, start = [], 0
    named = ((program_hash_trace, "program_hash_trace", 1), (sponge_trace, "sponge_trace", 2),
             (hash_trace, "hash_trace", 3))
    for trace, name, mode in named:
        trace = np.ascontiguousarray(_arr(trace, 18, name))
        if trace.shape[0] and int(trace[:, 1].max()) > 5:
            raise ValueError("hash trace round number out of range 0..5")
        parts.append((trace, mode, start))
        start += trace.shape[0]
    return parts


def fill_hash_rows(main: np.ndarray, c0: int, trace: np.ndarray, mode: int, first_row: int) -> None:
    """Hash-table rows of one mode's trace (or a slice of it) into main rows first_row.. at column c0."""
    _hash_into(main, c0, first_row, trace, mode, _LT, _RC_BY_ROUND)


def fill_hash_padding(main: np.ndarray, c0: int, lo: int, hi: int) -> None:
    """Hash-table padding rows lo..hi into main at column c0."""
    _hash_padding_into(main, c0, lo, hi, _U(F.inv_int(2**32 - 1)), _RC_BY_ROUND[0])


@nb.njit(cache=True, nogil=True)
def _cascade_into(main, c0, limbs, mult, num_rows, lookup):
    k = limbs.size
    for r in range(k):
        hi, lo = limbs[r] >> _S8, limbs[r] & _M8
        main[r, c0] = 0
        main[r, c0 + 1] = hi
        main[r, c0 + 2] = lo
        main[r, c0 + 3] = lookup[hi]
        main[r, c0 + 4] = lookup[lo]
        main[r, c0 + 5] = mult[r]
    for r in range(k, num_rows):
        main[r, c0] = 1
        for j in range(1, 6):
            main[r, c0 + j] = 0


def fill_cascade(main: np.ndarray, c0: int, limbs: np.ndarray, multiplicities: np.ndarray,
                 num_rows: int) -> None:
    """Cascade table into main[:, c0:c0+6]: one row per distinct 16-bit limb in first-seen order, padding."""
    limbs, mult = _vec(limbs), _vec(multiplicities)
    if limbs.size != mult.size or (limbs.size and int(limbs.max()) > 0xFFFF):
        raise ValueError("cascade limbs must be 16-bit, one multiplicity each")
    _cascade_into(main, c0, limbs, mult, num_rows, _LT)


@nb.njit(cache=True, nogil=True)
def _lookup_into(main, c0, mult, num_rows, lookup):
    for r in range(num_rows):
        padding = r >= 256
        main[r, c0] = 1 if padding else 0
        main[r, c0 + 1] = 0 if padding else r
        main[r, c0 + 2] = _ZERO if padding else lookup[r]
        main[r, c0 + 3] = _ZERO if padding else mult[r]


def fill_lookup(main: np.ndarray, c0: int, multiplicities: np.ndarray, num_rows: int) -> None:
    """Lookup table into main[:, c0:c0+4]: Tip5's 8-bit lookup with multiplicities, then padding."""
    _lookup_into(main, c0, np.ascontiguousarray(np.asarray(multiplicities, dtype=_U).reshape(256)), num_rows,
                 _LT)


@nb.njit(cache=True, nogil=True)
def _u32_height(entries) -> int:
    """Rows of the U32 table: per entry 1 + the bit length of its dominant operand."""
    total = 0
    for e in range(entries.shape[0]):
        dominant = entries[e, 2] if entries[e, 0] == OP_POW else max(entries[e, 1], entries[e, 2])
        total += 1 + _bit_length(dominant)
    return total


@nb.njit(cache=True, nogil=True)
def _u32_into(main, c0, entries, total, num_rows, inv_bits_minus_33):  # noqa: C901
    """U32 sections (one per [CI, lhs, rhs, multiplicity] entry: the operands shifted right bit by bit
    until the dominant one is 0) and padding into main[:, c0:c0+10]."""
    lhs_inv = np.empty(total, dtype=np.uint64)
    rhs_inv = np.empty(total, dtype=np.uint64)
    row = 0
    for e in range(entries.shape[0]):
        ci, lhs0, rhs0 = entries[e, 0], entries[e, 1], entries[e, 2]
        dominant = rhs0 if ci == OP_POW else max(lhs0, rhs0)
        for j in range(1 + _bit_length(dominant)):
            shift = np.uint64(j)
            lhs_inv[row] = lhs0 if ci == OP_POW else lhs0 >> shift
            rhs_inv[row] = rhs0 >> shift
            row += 1
    nb_invert_or_zero(lhs_inv)
    nb_invert_or_zero(rhs_inv)
    row = 0
    for e in range(entries.shape[0]):
        ci, lhs0, rhs0, mult = entries[e, 0], entries[e, 1], entries[e, 2], entries[e, 3]
        dominant = rhs0 if ci == OP_POW else max(lhs0, rhs0)
        for j in range(1 + _bit_length(dominant)):
            shift = np.uint64(j)
            lhs = lhs0 if ci == OP_POW else lhs0 >> shift
            rhs = rhs0 >> shift
            result = _ZERO
            if ci == OP_LT:
                if lhs < rhs:
                    result = _ONE
                elif lhs == rhs and j > 0:
                    result = np.uint64(2)
            elif ci == OP_AND:
                result = lhs & rhs
            elif ci == OP_LOG2FLOOR:
                result = np.uint64(P - 1) if lhs == 0 else np.uint64(_bit_length(lhs0) - 1)
            elif ci == OP_POW:
                result = nb_pow(lhs, rhs)
            elif ci == OP_POPCOUNT:
                x = lhs
                while x:
                    x &= x - _ONE
                    result += _ONE
            main[row, c0] = 1 if j == 0 else 0
            main[row, c0 + 1] = j
            main[row, c0 + 2] = inv_bits_minus_33[j]
            main[row, c0 + 3] = ci
            main[row, c0 + 4] = lhs
            main[row, c0 + 5] = lhs_inv[row]
            main[row, c0 + 6] = rhs
            main[row, c0 + 7] = rhs_inv[row]
            main[row, c0 + 8] = result
            main[row, c0 + 9] = mult if j == 0 else _ZERO
            row += 1
    pad = np.zeros(10, dtype=np.uint64)
    pad[3] = OP_SPLIT
    pad[2] = inv_bits_minus_33[0]
    if total:
        for j in (3, 4, 5, 8):
            pad[j] = main[total - 1, c0 + j]
        if pad[3] == OP_LT:
            pad[8] = np.uint64(2)
    for r in range(total, num_rows):
        for j in range(10):
            main[r, c0 + j] = pad[j]


def u32_entries(entries) -> np.ndarray:
    """The AET's U32 entries [CI, lhs, rhs, multiplicity] as a C-contiguous (k, 4) uint64 array, checked:
    u32 operands (but `pow`'s lhs, its base, which is any field element, as in the reference's VM),
    U32-table instructions."""
    entries = np.ascontiguousarray(_arr(entries, 4, "u32_entries"))
    if entries.shape[0]:
        pow_rows = entries[:, 0] == OP_POW
        if int(entries[:, 2].max()) >= 2**32 or int(entries[~pow_rows, 1].max(initial=0)) >= 2**32:
            raise ValueError("U32 table operands must be u32")
        if int(entries[pow_rows, 1].max(initial=0)) >= P:
            raise ValueError("pow's base in the U32 table must be a canonical field element")
        unknown = ~np.isin(entries[:, 0], np.array(U32_OPS, dtype=_U))
        if unknown.any():
            raise ValueError(f"not a u32 table instruction: opcode {int(entries[unknown, 0][0])}")
    return entries


def fill_u32(main: np.ndarray, c0: int, entries: np.ndarray, num_rows: int) -> None:
    """U32 table into main[:, c0:c0+10]: one section per entry [CI, lhs, rhs, multiplicity], then padding."""
    entries = u32_entries(entries)
    total = _u32_height(entries)
    if total > num_rows:
        raise ValueError(f"U32 table needs {total} rows, more than {num_rows}")
    _u32_into(main, c0, entries, total, num_rows, _INV_BITS_MINUS_33)


# ---------------------------------------------------------------------------------------------
# master table


def table_heights(aet) -> dict[str, int]:
    """Unpadded heights of the nine tables, computed from the AET's arrays as the reference does."""
    return heights_with_u32(aet, _u32_height(np.ascontiguousarray(_arr(aet.u32_entries, 4, "u32_entries"))))


def heights_with_u32(aet, u32_rows: int) -> dict[str, int]:
    """table_heights given the U32 table's height (which fill_numpy.py counts without numba)."""
    n_words = np.asarray(aet.program_words).reshape(-1).size
    return {
        "Program": -(-(n_words + 1) // 10) * 10,
        "Processor": int(np.shape(aet.processor_trace)[0]),
        "OpStack": _arr(aet.op_stack_underflow_trace, 4, "op_stack_underflow_trace").shape[0],
        "Ram": _arr(aet.ram_trace, 4, "ram_trace").shape[0],
        "JumpStack": int(np.shape(aet.processor_trace)[0]),
        "Hash": sum(
            _arr(t, 18, "hash traces").shape[0]
            for t in (aet.program_hash_trace, aet.sponge_trace, aet.hash_trace)
        ),
        "Cascade": np.asarray(aet.cascade_limbs).reshape(-1).size,
        "Lookup": 256,
        "U32": u32_rows,
    }


def main_table_target(aet, num_rows: int | None, base_only: bool, out: np.ndarray | None,
                      heights: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """(processor trace, the array to fill) of fill_main_table's arguments, checked: the height a power of
    two that holds every table (`heights`), `out` (if given) C-contiguous uint64 of the table's shape."""
    h = int(aet.padded_height if num_rows is None else num_rows)
    proc = _arr(aet.processor_trace, PROC_WIDTH, "processor_trace")
    if proc.shape[0] == 0:
        raise ValueError("processor trace is empty")
    needed = max(heights.values())
    if h < needed or h & (h - 1):
        raise ValueError(f"table height {h} must be a power of two >= the longest table ({needed})")
    width = NUM_MAIN_BASE_COLUMNS if base_only else NUM_MASTER_MAIN_COLUMNS
    if out is not None and (out.shape != (h, width) or out.dtype != _U or not out.flags.c_contiguous):
        raise ValueError(f"out must be a C-contiguous ({h}, {width}) uint64 array, "
                         f"got {out.shape} {out.dtype}")
    return proc, np.empty((h, width), dtype=_U) if out is None else out


@nb.njit(cache=True, nogil=True)
def _zero_into(main, c0, lo, hi):
    for r in range(lo, hi):
        for j in range(c0, main.shape[1]):
            main[r, j] = 0


def _chunks(lo: int, hi: int) -> list[tuple[int, int]]:
    return [(a, min(a + ROW_CHUNK, hi)) for a in range(lo, hi, ROW_CHUNK)]


def fill_main_table(aet, num_rows: int | None = None, base_only: bool = False,
                    out: np.ndarray | None = None) -> np.ndarray:
    """Master main table (num_rows, 379) uint64 from an AET (contract in the team notes): columns 0..149
    filled, sorted and padded as the reference does; degree-lowering columns 149..379 left zero, or left
    out with base_only (num_rows, 149): less to build and ship when a device fills them.
    num_rows defaults to aet.padded_height (the trace-domain length for default parameters). With `out`
    (a C-contiguous uint64 array of that shape, e.g. in shared memory) the table is written there."""
    proc, main = main_table_target(aet, num_rows, base_only, out, table_heights(aet))
    h, n = main.shape[0], proc.shape[0]
    start = MAIN_TABLE_START
    hashes = hash_parts(aet.program_hash_trace, aet.sponge_trace, aet.hash_trace)
    hash_end = sum(trace.shape[0] for trace, _, _ in hashes)
    # Every table writes every cell of its columns, the wide ones (Processor, Hash) in chunks of rows; the
    # compiled loops release the GIL, so all of it runs on a pool of threads. The tables are independent
    # apart from the processor's clock-jump multiplicities, counted once OpStack, Ram (the longest: its
    # Bezout coefficients) and JumpStack are done.
    with ThreadPoolExecutor(max_workers=min(FILL_THREADS, os.cpu_count() or 1)) as pool:
        jumps = [
            pool.submit(fill_ram, main, start["Ram"], aet.ram_trace, h),
            pool.submit(fill_op_stack, main, start["OpStack"], aet.op_stack_underflow_trace, h),
            pool.submit(fill_jump_stack, main, start["JumpStack"], proc, h),
        ]
        rows = [pool.submit(_processor_rows_into, main, start["Processor"], proc, a, b, h)
                for a, b in _chunks(0, h)]
        rest = [pool.submit(fill_hash_rows, main, start["Hash"], trace[a:b], mode, first + a)
                for trace, mode, first in hashes for a, b in _chunks(0, trace.shape[0])]
        rest += [pool.submit(fill_hash_padding, main, start["Hash"], a, b) for a, b in _chunks(hash_end, h)]
        rest += [
            pool.submit(fill_program, main, start["Program"], aet.program_words,
                        aet.instruction_multiplicities, h),
            pool.submit(fill_cascade, main, start["Cascade"], aet.cascade_limbs,
                        aet.cascade_multiplicities, h),
            pool.submit(fill_lookup, main, start["Lookup"], aet.lookup_multiplicities, h),
            pool.submit(fill_u32, main, start["U32"], aet.u32_entries, h),
        ]
        if not base_only:
            rest += [pool.submit(_zero_into, main, NUM_MAIN_BASE_COLUMNS, a, b) for a, b in _chunks(0, h)]
        diffs = check_clock_jumps(np.concatenate([future.result() for future in jumps]), n)
        for future in rows:
            future.result()
        _processor_multiplicities_into(main, start["Processor"], n, diffs, h)
        for future in rest:
            future.result()
    return main
