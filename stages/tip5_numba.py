"""Goldilocks arithmetic and the Tip5 round as numba functions, for the compiled loops of the VM, the AET and
the main-table fill (stages/vm, stages/air/fill.py). Results equal stages/tip5.py's bit for bit.

`cache=True` keeps the machine code on disk, so only the first process on a machine pays the compile. Only
those compiled loops import this module: numba's import alone is most of a short process's start-up.
"""

from __future__ import annotations

import numba as nb
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from tvmpd.stages.tip5 import (
    LOOKUP_TABLE,
    MDS_FIRST_COLUMN,
    NUM_ROUNDS,
    NUM_SPLIT_AND_LOOKUP,
    ROUND_CONSTANTS,
    STATE_SIZE,
    P,
)

_NB_P = np.uint64(P)
_NB_EPS = np.uint64(2**32 - 1)  # 2^64 mod p, also the Montgomery radix R mod p
_NB_M32 = np.uint64(0xFFFFFFFF)
_NB_S32 = np.uint64(32)
_NB_R_INV = np.uint64(pow(2**64 % P, P - 2, P))  # the Montgomery radix's inverse
_NB_LOOKUP = np.array(LOOKUP_TABLE, dtype=np.uint64)
_NB_RC = np.array(ROUND_CONSTANTS, dtype=np.uint64)
# _NB_MDS_COLUMNS[j, i] = MDS_FIRST_COLUMN[(i - j) % 16]: the weight of old[j] in new[i]
_NB_MDS_COLUMNS = np.array([[MDS_FIRST_COLUMN[(i - j) % STATE_SIZE] for i in range(STATE_SIZE)]
                            for j in range(STATE_SIZE)], dtype=np.uint64)


@nb.njit(cache=True)
def nb_reduce(hi: np.uint64, lo: np.uint64) -> np.uint64:
    """(hi * 2^64 + lo) mod p, canonical."""
    hh = hi >> _NB_S32  # weighs 2^96 = -1
    hl = hi & _NB_M32  # weighs 2^64 = 2^32 - 1
    t0 = lo - hh
    if lo < hh:
        t0 -= _NB_EPS
    t1 = hl * _NB_EPS
    t2 = t0 + t1
    if t2 < t1:
        t2 += _NB_EPS
    if t2 >= _NB_P:
        t2 -= _NB_P
    return t2


@intrinsic
def _mul_wide(typingctx, a, b):
    """(high, low) 64-bit words of the 128-bit product of two uint64 (one machine multiply)."""
    sig = types.UniTuple(types.uint64, 2)(types.uint64, types.uint64)

    def codegen(context, builder, signature, args):
        wide = ir.IntType(128)
        product = builder.mul(builder.zext(args[0], wide), builder.zext(args[1], wide))
        low = builder.trunc(product, ir.IntType(64))
        high = builder.trunc(builder.lshr(product, ir.Constant(wide, 64)), ir.IntType(64))
        return context.make_tuple(builder, signature.return_type, (high, low))

    return sig, codegen


@nb.njit(cache=True)
def nb_mul(a: np.uint64, b: np.uint64) -> np.uint64:
    """a * b mod p for any a, b below 2^64; canonical result."""
    hi, lo = _mul_wide(a, b)
    return nb_reduce(hi, lo)


@nb.njit(cache=True)
def nb_add(a: np.uint64, b: np.uint64) -> np.uint64:
    """a + b mod p for canonical a, b."""
    s = a + b
    if s < a:
        s += _NB_EPS
    if s >= _NB_P:
        s -= _NB_P
    return s


@nb.njit(cache=True)
def nb_sub(a: np.uint64, b: np.uint64) -> np.uint64:
    """a - b mod p for canonical a, b."""
    d = a - b
    if a < b:
        d -= _NB_EPS
    return d


@nb.njit(cache=True, nogil=True)
def nb_pow(base: np.uint64, exponent: np.uint64) -> np.uint64:
    """base^exponent mod p (square and multiply)."""
    acc = np.uint64(1)
    while exponent:
        if exponent & np.uint64(1):
            acc = nb_mul(acc, base)
        base = nb_mul(base, base)
        exponent >>= np.uint64(1)
    return acc


@nb.njit(cache=True, nogil=True)
def nb_invert_or_zero(values: np.ndarray) -> None:
    """Every value of a uint64 array replaced by its inverse mod p, zeros kept, with one exponentiation
    (Montgomery's batch inversion)."""
    n = values.size
    prefix = np.empty(n, dtype=np.uint64)
    acc = np.uint64(1)
    for i in range(n):
        prefix[i] = acc
        if values[i] != 0:
            acc = nb_mul(acc, values[i])
    inv = nb_pow(acc, _NB_P - np.uint64(2))
    for i in range(n - 1, -1, -1):
        v = values[i]
        if v != 0:
            values[i] = nb_mul(inv, prefix[i])
            inv = nb_mul(inv, v)


@nb.njit(cache=True)
def nb_round(s: np.ndarray, r: int, lo: np.ndarray, hi: np.ndarray) -> None:
    """One round in place on 16 canonical values (result canonical); lo, hi: 16-word scratch."""
    for i in range(NUM_SPLIT_AND_LOOKUP):
        m = nb_mul(s[i], _NB_EPS)  # Montgomery form
        out = np.uint64(0)
        shift = np.uint64(0)
        for _ in range(8):
            out |= _NB_LOOKUP[(m >> shift) & np.uint64(0xFF)] << shift
            shift += np.uint64(8)
        s[i] = nb_mul(out, _NB_R_INV)
    for i in range(NUM_SPLIT_AND_LOOKUP, STATE_SIZE):
        x = s[i]
        x3 = nb_mul(nb_mul(x, x), x)
        s[i] = nb_mul(nb_mul(x3, x3), x)
    # MDS on 32-bit halves, column by column (the 16 sums of a half move together)
    lo[:] = 0
    hi[:] = 0
    for j in range(STATE_SIZE):
        x_lo = s[j] & _NB_M32
        x_hi = s[j] >> _NB_S32
        for i in range(STATE_SIZE):
            lo[i] += _NB_MDS_COLUMNS[j, i] * x_lo
            hi[i] += _NB_MDS_COLUMNS[j, i] * x_hi
    for i in range(STATE_SIZE):
        sum_lo = lo[i]
        sum_hi = hi[i]
        # sum_hi * 2^32 with sum_hi = a * 2^32 + b is a * (2^32 - 1) + b * 2^32 (mod p)
        t = sum_lo + (sum_hi >> _NB_S32) * _NB_EPS
        v = ((sum_hi & _NB_M32) << _NB_S32) + t
        if v < t:
            v += _NB_EPS
        if v >= _NB_P:
            v -= _NB_P
        s[i] = nb_add(v, _NB_RC[16 * r + i])


@nb.njit(cache=True)
def nb_permute_trace(s: np.ndarray, trace: np.ndarray, row: int, lo: np.ndarray, hi: np.ndarray) -> None:
    """Permute s in place and write the 6 states (input, after each round) to trace[row:row + 6]."""
    for j in range(STATE_SIZE):
        trace[row, j] = s[j]
    for r in range(NUM_ROUNDS):
        nb_round(s, r, lo, hi)
        for j in range(STATE_SIZE):
            trace[row + 1 + r, j] = s[j]
