"""Main table of Triton VM v7.0.0: the nine tables filled from the AET, sorted and padded like the reference.

`fill_main_table(aet)` returns the (padded_height, 379) uint64 master main table with columns 0..149
filled; the degree-lowering columns 149..379 are left zero for the AIR's lowering code to fill (they are
computed on the padded table). With base_only it returns just the 149 filled columns. Filling order
follows the reference: OpStack, Ram, JumpStack (they yield the clock-jump differences), Processor,
Program, Hash, Cascade, Lookup, U32.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

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

P = F.P
_U = np.uint64
_LT = np.array(LOOKUP_TABLE, dtype=_U)
# round constants per hash-table row by round number 0..5; the row after the last round carries zeros
_RC_BY_ROUND = np.concatenate([np.array(ROUND_CONSTANTS, dtype=_U).reshape(5, 16), np.zeros((1, 16), _U)])

OP_SPLIT, OP_LT, OP_AND, OP_LOG2FLOOR, OP_POW, OP_POPCOUNT, OP_HASH = 4, 6, 14, 12, 30, 28, 18
PADDING_OP_STACK = 2
PADDING_RAM = 2
NUM_OP_STACK_REGISTERS = 16
FILL_THREADS = 8  # tables filled at the same time
BEZOUT_QUADRATIC_MAX = 256  # above this many distinct RAM pointers the O(k log^2 k) path is faster
TABLE_NAMES = ("Program", "Processor", "OpStack", "Ram", "JumpStack", "Hash", "Cascade", "Lookup", "U32")
_WIDTH = {
    "Program": 7,
    "Processor": 39,
    "OpStack": 4,
    "Ram": 7,
    "JumpStack": 5,
    "Hash": 67,
    "Cascade": 6,
    "Lookup": 4,
    "U32": 10,
}


def _local(col) -> int:
    """Index of a master column inside its own table."""
    name = type(col).__name__.removesuffix("Main")
    return int(col) - MAIN_TABLE_START[name]


def _inv_or_zero(x: np.ndarray) -> np.ndarray:
    """Elementwise inverse, 0 for 0 (batched)."""
    x = np.asarray(x, dtype=_U)
    out = np.zeros_like(x)
    nz = x != 0
    if nz.any():
        out[nz] = F.batch_inv(x[nz])
    return out


def _arr(x, cols: int, what: str) -> np.ndarray:
    a = np.asarray(x, dtype=_U)
    if a.size == 0:
        return np.zeros((0, cols), dtype=_U)
    if a.ndim != 2 or a.shape[1] != cols:
        raise ValueError(f"AET {what} must have shape (rows, {cols}), got {a.shape}")
    return a


# ---------------------------------------------------------------------------------------------
# tables with clock-jump differences


def fill_op_stack(trace: np.ndarray, num_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """OpStack table (num_rows, 4) sorted by (StackPointer, CLK), padded; and its clock-jump differences."""
    trace = _arr(trace, 4, "op_stack_underflow_trace")
    k = trace.shape[0]
    sp_col, clk_col = _local(OpStackMain.StackPointer), _local(OpStackMain.CLK)
    rows = trace[np.lexsort((trace[:, clk_col], trace[:, sp_col]))] if k else trace
    same = rows[:-1, sp_col] == rows[1:, sp_col]
    cjd = F.sub(rows[1:, clk_col], rows[:-1, clk_col])[same]
    table = np.zeros((num_rows, 4), dtype=_U)
    table[:k] = rows
    pad = rows[-1].copy() if k else np.zeros(4, dtype=_U)
    if not k:
        pad[sp_col] = NUM_OP_STACK_REGISTERS
    pad[_local(OpStackMain.IB1ShrinkStack)] = PADDING_OP_STACK
    table[k:] = pad
    return table, cjd


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


def bezout_coefficients(roots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients (low to high, k each) of a, b with a*rp + b*rp' = 1, rp = prod (X - r) over the k
    distinct roots; b interpolates 1/rp'(r) on the roots. Used for the RAM table's contiguity argument."""
    roots = np.asarray(roots, dtype=_U)
    k = roots.size
    if k == 0:
        return np.zeros(0, dtype=_U), np.zeros(0, dtype=_U)
    if np.unique(roots).size != k:
        raise ValueError("Bezout coefficients need distinct roots")
    return _bezout_quadratic(roots) if k <= BEZOUT_QUADRATIC_MAX else _bezout_fast(roots)


def fill_ram(trace: np.ndarray, num_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Ram table (num_rows, 7), rows sorted by (RamPointer, CLK) with the contiguity-argument columns,
    padded; and its clock-jump differences."""
    trace = _arr(trace, 4, "ram_trace")
    k = trace.shape[0]
    c_clk, c_type = _local(RamMain.CLK), _local(RamMain.InstructionType)
    c_ptr, c_val = _local(RamMain.RamPointer), _local(RamMain.RamValue)
    c_inv = _local(RamMain.InverseOfRampDifference)
    c_b0 = _local(RamMain.BezoutCoefficientPolynomialCoefficient0)
    c_b1 = _local(RamMain.BezoutCoefficientPolynomialCoefficient1)
    table = np.zeros((num_rows, 7), dtype=_U)
    if not k:
        table[:, c_type] = PADDING_RAM
        table[:, c_b1] = 1
        return table, np.zeros(0, dtype=_U)
    rows = trace[np.lexsort((trace[:, 0], trace[:, 2]))]
    table[:k, [c_clk, c_type, c_ptr, c_val]] = rows
    ptr = rows[:, 2]
    change = ptr[1:] != ptr[:-1]
    uniq = ptr[np.concatenate([[True], change])]
    a, b = bezout_coefficients(uniq)
    # row r carries coefficient index (k_unique - 1 - number of pointer changes up to r)
    idx = uniq.size - 1 - np.concatenate([[0], np.cumsum(change)])
    table[:k, c_b0] = a[idx]
    table[:k, c_b1] = b[idx]
    table[: k - 1, c_inv] = _inv_or_zero(F.sub(ptr[1:], ptr[:-1]))
    cjd = F.sub(rows[1:, 0], rows[:-1, 0])[~change]
    pad = table[k - 1].copy()
    pad[c_type] = PADDING_RAM
    table[k:] = pad
    return table, cjd


def fill_jump_stack(processor_trace: np.ndarray, num_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """JumpStack table (num_rows, 5) from the processor rows, sorted by (JSP, CLK), padded after the row of
    the last cycle; and its clock-jump differences."""
    cols = [ProcessorMain.CLK, ProcessorMain.CI, ProcessorMain.JSP, ProcessorMain.JSO, ProcessorMain.JSD]
    src = processor_trace[:, [_local(c) for c in cols]]
    n = src.shape[0]
    rows = src[np.argsort(src[:, 2], kind="stable")]
    same = rows[:-1, 2] == rows[1:, 2]
    cjd = F.sub(rows[1:, 0], rows[:-1, 0])[same]
    last = int(np.nonzero(rows[:, 0] == n - 1)[0][0])
    num_pad = num_rows - n
    table = np.empty((num_rows, 5), dtype=_U)
    table[: last + 1] = rows[: last + 1]
    table[last + 1 : last + 1 + num_pad] = rows[last]
    table[last + 1 : last + 1 + num_pad, 0] = np.arange(n, num_rows, dtype=_U)
    table[last + 1 + num_pad :] = rows[last + 1 :]
    return table, cjd


def fill_processor(
    processor_trace: np.ndarray, clock_jump_differences: np.ndarray, num_rows: int
) -> np.ndarray:
    """Processor table (num_rows, 39): the trace with clock-jump-difference multiplicities, padded."""
    n = processor_trace.shape[0]
    c_mult = _local(ProcessorMain.ClockJumpDifferenceLookupMultiplicity)
    table = np.empty((num_rows, 39), dtype=_U)
    table[:n] = processor_trace
    diffs = np.asarray(clock_jump_differences, dtype=_U)
    if diffs.size and int(diffs.max()) >= n:
        raise ValueError(f"clock jump difference {int(diffs.max())} exceeds the processor trace ({n} rows)")
    table[:n, c_mult] = np.bincount(diffs.astype(np.int64), minlength=n)[:n].astype(_U)
    pad = table[n - 1].copy()
    pad[_local(ProcessorMain.IsPadding)] = 1
    pad[c_mult] = 0
    table[n:] = pad
    table[n:, _local(ProcessorMain.CLK)] = np.arange(n, num_rows, dtype=_U)
    table[1, c_mult] = F.add(table[1:2, c_mult], _U(num_rows - n))[0]
    return table


# ---------------------------------------------------------------------------------------------
# program, hash, cascade, lookup, u32


def fill_program(words: np.ndarray, multiplicities: np.ndarray, num_rows: int) -> np.ndarray:
    """Program table (num_rows, 7): padded program words with lookup multiplicities, chunk indices."""
    words = np.asarray(words, dtype=_U).reshape(-1)
    mult = np.asarray(multiplicities, dtype=_U).reshape(-1)
    n = words.size
    padded_len = -(-(n + 1) // 10) * 10
    table = np.zeros((num_rows, 7), dtype=_U)
    addr = np.arange(num_rows, dtype=_U)
    idx = addr % _U(10)
    table[:, _local(ProgramMain.Address)] = addr
    table[:n, _local(ProgramMain.Instruction)] = words
    table[n, _local(ProgramMain.Instruction)] = 1
    table[:n, _local(ProgramMain.LookupMultiplicity)] = mult[:n]
    table[:, _local(ProgramMain.IndexInChunk)] = idx
    table[:, _local(ProgramMain.MaxMinusIndexInChunkInv)] = _inv_or_zero(_U(9) - idx)
    table[n:, _local(ProgramMain.IsHashInputPadding)] = 1
    table[padded_len:, _local(ProgramMain.IsTablePadding)] = 1
    return table


def _lookup_16(limbs: np.ndarray) -> np.ndarray:
    return _LT[limbs >> _U(8)] * _U(256) + _LT[limbs & _U(0xFF)]


def hash_rows(trace: np.ndarray, mode: int) -> np.ndarray:
    """Hash-table rows (k, 67) from [CI, RoundNumber, state0..15] trace rows of one mode."""
    k = trace.shape[0]
    rows = np.zeros((k, 67), dtype=_U)
    rows[:, _local(HashMain.Mode)] = mode
    rows[:, _local(HashMain.CI)] = trace[:, 0]
    rows[:, _local(HashMain.RoundNumber)] = trace[:, 1]
    state = trace[:, 2:]
    raw = F.to_montgomery(state[:, :4])  # (k, 4)
    limbs = np.stack([(raw >> _U(s)) & _U(0xFFFF) for s in (48, 32, 16, 0)], axis=2)  # highest first
    start_in, start_out = _local(HashMain.State0HighestLkIn), _local(HashMain.State0HighestLkOut)
    rows[:, start_in : start_in + 16] = limbs.reshape(k, 16)
    rows[:, start_out : start_out + 16] = _lookup_16(limbs).reshape(k, 16)
    rows[:, _local(HashMain.State4) : _local(HashMain.State4) + 12] = state[:, 4:]
    high = limbs[:, :, 0] * _U(1 << 16) + limbs[:, :, 1]
    inv_start = _local(HashMain.State0Inv)
    rows[:, inv_start : inv_start + 4] = _inv_or_zero(_U(2**32 - 1) - high)
    rounds = trace[:, 1]
    if rounds.size and int(rounds.max()) > 5:
        raise ValueError("hash trace round number out of range 0..5")
    c0 = _local(HashMain.Constant0)
    rows[:, c0 : c0 + 16] = _RC_BY_ROUND[rounds.astype(np.int64)]
    return rows


def fill_hash(program_hash_trace, sponge_trace, hash_trace, num_rows: int) -> np.ndarray:
    """Hash table (num_rows, 67): program hashing (mode 1), sponge (2), hash (3) rows, then padding (0)."""
    parts = [
        hash_rows(_arr(t, 18, name), mode)
        for t, name, mode in (
            (program_hash_trace, "program_hash_trace", 1),
            (sponge_trace, "sponge_trace", 2),
            (hash_trace, "hash_trace", 3),
        )
    ]
    body = np.concatenate(parts)
    n = body.shape[0]
    table = np.zeros((num_rows, 67), dtype=_U)
    table[:n] = body
    inv_start = _local(HashMain.State0Inv)
    table[n:, inv_start : inv_start + 4] = F.inv_int(2**32 - 1)
    c0 = _local(HashMain.Constant0)
    table[n:, c0 : c0 + 16] = _RC_BY_ROUND[0]
    table[n:, _local(HashMain.CI)] = OP_HASH
    return table


def fill_cascade(limbs: np.ndarray, multiplicities: np.ndarray, num_rows: int) -> np.ndarray:
    """Cascade table (num_rows, 6): one row per distinct 16-bit limb in first-seen order, then padding."""
    limbs = np.asarray(limbs, dtype=_U).reshape(-1)
    k = limbs.size
    table = np.zeros((num_rows, 6), dtype=_U)
    hi, lo = limbs >> _U(8), limbs & _U(0xFF)
    table[:k, _local(CascadeMain.LookInHi)] = hi
    table[:k, _local(CascadeMain.LookInLo)] = lo
    table[:k, _local(CascadeMain.LookOutHi)] = _LT[hi]
    table[:k, _local(CascadeMain.LookOutLo)] = _LT[lo]
    table[:k, _local(CascadeMain.LookupMultiplicity)] = np.asarray(multiplicities, dtype=_U).reshape(-1)
    table[k:, _local(CascadeMain.IsPadding)] = 1
    return table


def fill_lookup(multiplicities: np.ndarray, num_rows: int) -> np.ndarray:
    """Lookup table (num_rows, 4): Tip5's 8-bit lookup with multiplicities, then padding."""
    table = np.zeros((num_rows, 4), dtype=_U)
    table[:256, _local(LookupMain.LookIn)] = np.arange(256, dtype=_U)
    table[:256, _local(LookupMain.LookOut)] = _LT
    table[:256, _local(LookupMain.LookupMultiplicity)] = np.asarray(multiplicities, dtype=_U).reshape(256)
    table[256:, _local(LookupMain.IsPadding)] = 1
    return table


def _pow_bits(base: np.ndarray, exps: np.ndarray) -> np.ndarray:
    """base^exp elementwise for u32 exponents."""
    acc = np.ones_like(base)
    for bit in range(31, -1, -1):
        acc = F.mul(acc, acc)
        acc = np.where((exps >> _U(bit)) & _U(1) == 1, F.mul(acc, base), acc)
    return acc


def u32_section_lengths(entries: np.ndarray) -> np.ndarray:
    """Rows per U32 entry: 1 if the dominant operand is 0, else 2 + floor(log2(dominant))."""
    ci, lhs, rhs = entries[:, 0], entries[:, 1], entries[:, 2]
    dom = np.where(ci == OP_POW, rhs, np.maximum(lhs, rhs))
    bits = np.zeros(dom.shape, dtype=np.int64)
    nz = dom != 0
    bits[nz] = np.floor(np.log2(dom[nz].astype(np.float64))).astype(np.int64)
    # float log2 can be off by one right at powers of two; fix exactly
    bits[nz] -= (np.left_shift(_U(1), bits[nz].astype(_U)) > dom[nz]).astype(np.int64)
    bits[nz] += (np.left_shift(_U(1), (bits[nz] + 1).astype(_U)) <= dom[nz]).astype(np.int64)
    return np.where(nz, bits + 2, 1)


def fill_u32(entries: np.ndarray, num_rows: int) -> np.ndarray:
    """U32 table (num_rows, 10): one section per entry [CI, lhs, rhs, multiplicity] in order, then padding."""
    entries = _arr(entries, 4, "u32_entries")
    table = np.zeros((num_rows, 10), dtype=_U)
    c = {col.name: _local(col) for col in U32Main}
    inv_minus_33 = F.inv_int(P - 33)
    if entries.shape[0]:
        if int(entries[:, 1:3].max()) >= 2**32:
            raise ValueError("U32 table operands must be u32")
        lens = u32_section_lengths(entries)
        total = int(lens.sum())
        if total > num_rows:
            raise ValueError(f"U32 table needs {total} rows, more than {num_rows}")
        e = np.repeat(np.arange(entries.shape[0]), lens)
        j = np.arange(total) - np.repeat(np.cumsum(lens) - lens, lens)
        ju = j.astype(_U)
        ci, lhs0, rhs0, mult = (entries[e, i] for i in range(4))
        is_pow = ci == OP_POW
        lhs = np.where(is_pow, lhs0, lhs0 >> ju)
        rhs = rhs0 >> ju
        first = j == 0
        t = table[:total]
        t[:, c["CopyFlag"]] = first
        t[:, c["Bits"]] = ju
        t[:, c["BitsMinus33Inv"]] = F.batch_inv(F.sub(ju, _U(33)))
        t[:, c["CI"]] = ci
        t[:, c["LHS"]] = lhs
        t[:, c["LhsInv"]] = _inv_or_zero(lhs)
        t[:, c["RHS"]] = rhs
        t[:, c["RhsInv"]] = _inv_or_zero(rhs)
        t[:, c["LookupMultiplicity"]] = np.where(first, mult, _U(0))
        result = np.zeros(total, dtype=_U)
        sel = ci == OP_LT
        result[sel] = np.where(
            lhs[sel] < rhs[sel],
            _U(1),
            np.where(lhs[sel] > rhs[sel], _U(0), np.where(first[sel], _U(0), _U(2))),
        )
        sel = ci == OP_AND
        result[sel] = lhs[sel] & rhs[sel]
        sel = ci == OP_LOG2FLOOR
        if sel.any():
            top = u32_section_lengths(np.stack([ci[sel], lhs0[sel], np.zeros_like(lhs0[sel])], axis=1)) - 2
            result[sel] = np.where(lhs[sel] == 0, _U(P - 1), top.astype(_U))
        sel = ci == OP_POW
        if sel.any():
            result[sel] = _pow_bits(lhs[sel], rhs[sel])
        sel = ci == OP_POPCOUNT
        result[sel] = np.bitwise_count(lhs[sel]).astype(_U)
        known = (
            (ci == OP_SPLIT)
            | (ci == OP_LT)
            | (ci == OP_AND)
            | (ci == OP_LOG2FLOOR)
            | is_pow
            | (ci == OP_POPCOUNT)
        )
        if not known.all():
            raise ValueError(f"not a u32 table instruction: opcode {int(ci[~known][0])}")
        t[:, c["Result"]] = result
    else:
        total = 0
    pad = np.zeros(10, dtype=_U)
    pad[c["CI"]] = OP_SPLIT
    pad[c["BitsMinus33Inv"]] = inv_minus_33
    if total:
        last = table[total - 1]
        for name in ("CI", "LHS", "LhsInv", "Result"):
            pad[c[name]] = last[c[name]]
        if pad[c["CI"]] == OP_LT:
            pad[c["Result"]] = 2
    table[total:] = pad
    return table


# ---------------------------------------------------------------------------------------------
# master table


def table_heights(aet) -> dict[str, int]:
    """Unpadded heights of the nine tables, computed from the AET's arrays as the reference does."""
    n_words = np.asarray(aet.program_words).reshape(-1).size
    u32 = _arr(aet.u32_entries, 4, "u32_entries")
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
        "U32": int(u32_section_lengths(u32).sum()) if u32.shape[0] else 0,
    }


def fill_main_table(aet, num_rows: int | None = None, base_only: bool = False,
                    out: np.ndarray | None = None) -> np.ndarray:
    """Master main table (num_rows, 379) uint64 from an AET (contract in the team notes): columns 0..149
    filled, sorted and padded as the reference does; degree-lowering columns 149..379 left zero, or left
    out with base_only (num_rows, 149): less to build and ship when a device fills them.
    num_rows defaults to aet.padded_height (the trace-domain length for default parameters). With `out`
    (a C-contiguous uint64 array of that shape, e.g. in shared memory) the table is written there."""
    h = int(aet.padded_height if num_rows is None else num_rows)
    proc = _arr(aet.processor_trace, 39, "processor_trace")
    if proc.shape[0] == 0:
        raise ValueError("processor trace is empty")
    needed = max(table_heights(aet).values())
    if h < needed or h & (h - 1):
        raise ValueError(f"table height {h} must be a power of two >= the longest table ({needed})")

    # The tables are independent apart from the processor's clock-jump multiplicities, and numpy releases
    # the GIL in its array loops: fill them, and copy each into its columns, on a few threads.
    width = NUM_MAIN_BASE_COLUMNS if base_only else NUM_MASTER_MAIN_COLUMNS
    if out is not None and (out.shape != (h, width) or out.dtype != _U or not out.flags.c_contiguous):
        raise ValueError(f"out must be a C-contiguous ({h}, {width}) uint64 array, "
                         f"got {out.shape} {out.dtype}")
    main = np.empty((h, width), dtype=_U) if out is None else out
    if not base_only:
        main[:, NUM_MAIN_BASE_COLUMNS:] = 0

    def place(name: str, block: np.ndarray) -> None:
        start = MAIN_TABLE_START[name]
        main[:, start : start + _WIDTH[name]] = block

    fills = {
        "OpStack": lambda: fill_op_stack(aet.op_stack_underflow_trace, h),
        "Ram": lambda: fill_ram(aet.ram_trace, h),
        "JumpStack": lambda: fill_jump_stack(proc, h),
        "Program": lambda: fill_program(aet.program_words, aet.instruction_multiplicities, h),
        "Hash": lambda: fill_hash(aet.program_hash_trace, aet.sponge_trace, aet.hash_trace, h),
        "Cascade": lambda: fill_cascade(aet.cascade_limbs, aet.cascade_multiplicities, h),
        "Lookup": lambda: fill_lookup(aet.lookup_multiplicities, h),
        "U32": lambda: fill_u32(aet.u32_entries, h),
    }

    def fill_and_place(name: str):
        result = fills[name]()
        block, cjd = result if isinstance(result, tuple) else (result, None)
        place(name, block)
        return cjd

    with ThreadPoolExecutor(max_workers=min(FILL_THREADS, os.cpu_count() or 1)) as pool:
        futures = {name: pool.submit(fill_and_place, name) for name in fills}
        cjd = np.concatenate([futures[name].result() for name in ("OpStack", "Ram", "JumpStack")])
        place("Processor", fill_processor(proc, cjd, h))
        for future in futures.values():
            future.result()
    return main
