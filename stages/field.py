"""Goldilocks base field F_p, p = 2^64 - 2^32 + 1, on numpy uint64 arrays (canonical values, broadcasting).

All array operations are vectorised: products are formed from 32-bit limbs and reduced with
2^64 = 2^32 - 1 (mod p) and 2^96 = -1 (mod p), never leaving uint64.
"""

from __future__ import annotations

import builtins
from functools import lru_cache

import numpy as np

P: int = 2**64 - 2**32 + 1
EPSILON: int = 2**32 - 1  # 2^64 mod p
GENERATOR: int = 7  # generates the whole multiplicative group
MONTGOMERY_R: int = EPSILON  # R = 2^64 mod p
MONTGOMERY_R_INV: int = builtins.pow(2**64, P - 2, P)

_P = np.uint64(P)
_EPS = np.uint64(EPSILON)
_LO32 = np.uint64(0xFFFF_FFFF)
_S32 = np.uint64(32)
_ONE = np.uint64(1)
_ipow = builtins.pow  # this module defines its own pow


# ---------------------------------------------------------------------------------------------
# Python-int helpers


def _check_int(x: int) -> int:
    if isinstance(x, bool) or not isinstance(x, int | np.integer):
        raise ValueError(f"field element must be an int, got {type(x).__name__}")
    x = int(x)
    if not 0 <= x < P:
        raise ValueError(f"field element {x} out of range [0, p)")
    return x


def add_int(a: int, b: int) -> int:
    return (a + b) % P


def sub_int(a: int, b: int) -> int:
    return (a - b) % P


def mul_int(a: int, b: int) -> int:
    return a * b % P


def pow_int(a: int, e: int) -> int:
    """a^e mod p; negative e inverts first (ValueError on 0)."""
    if e < 0:
        return _ipow(inv_int(a), -e, P)
    return _ipow(a % P, e, P)


def inv_int(a: int) -> int:
    """Multiplicative inverse of a Python int (ValueError on 0 mod p)."""
    if a % P == 0:
        raise ValueError("inverse of zero")
    return _ipow(a % P, P - 2, P)


def _primitive_roots() -> dict[int, int]:
    # root of order 2^32 is 7^((p-1)/2^32); the root of order 2^(k-1) is the square of the one of order 2^k
    roots = {2**32: _ipow(GENERATOR, (P - 1) >> 32, P)}
    for k in range(31, -1, -1):
        roots[2**k] = roots[2 ** (k + 1)] ** 2 % P
    roots[0] = 1  # upstream's table also answers order 0 with 1
    return roots


PRIMITIVE_ROOTS: dict[int, int] = _primitive_roots()


def primitive_root(order: int) -> int:
    """Primitive root of unity of the given power-of-two order (<= 2^32), as in twenty-first's table."""
    ok = isinstance(order, int | np.integer) and not isinstance(order, bool)
    if not ok or int(order) not in PRIMITIVE_ROOTS:
        raise ValueError(f"no primitive root of order {order!r}: need a power of two in [1, 2^32]")
    return PRIMITIVE_ROOTS[int(order)]


# ---------------------------------------------------------------------------------------------
# conversion and validation


def to_array(x) -> np.ndarray:
    """Validated uint64 array of canonical elements from ints / sequences / integer arrays.

    Raises ValueError for values outside [0, p), non-integer types (floats, strings, ...).
    """
    if isinstance(x, np.ndarray):
        if x.dtype == np.uint64:
            if x.size and bool((x >= _P).any()):
                raise ValueError("field element out of range [0, p)")
            return x
        if x.dtype.kind in "iub":
            if x.dtype.kind == "i" and x.size and bool((x < 0).any()):
                raise ValueError("negative field element")
            return x.astype(np.uint64)
        if x.dtype.kind != "O":
            raise ValueError(f"field elements must be integers, got dtype {x.dtype}")
        obj = x
    elif isinstance(x, int | np.integer) and not isinstance(x, bool):
        return np.array(_check_int(x), dtype=np.uint64)
    else:
        try:
            obj = np.array(x, dtype=object)
        except (ValueError, TypeError) as err:
            raise ValueError(f"cannot read field elements: {err}") from None
    flat = [_check_int(v) for v in obj.flat]
    return np.array(flat, dtype=np.uint64).reshape(obj.shape)


def from_u64(x) -> np.ndarray:
    """Any u64 words reduced mod p (upstream accepts values >= p when deserialising and reduces them)."""
    if isinstance(x, np.ndarray) and x.dtype == np.uint64:
        a = x
    else:
        try:
            a = np.array(x, dtype=object)
            if any(isinstance(v, bool) or not isinstance(v, int | np.integer) or not 0 <= v < 2**64
                   for v in a.flat):
                raise ValueError("u64 words must be ints in [0, 2^64)")
            a = a.astype(np.uint64)
        except (TypeError, OverflowError) as err:
            raise ValueError(f"cannot read u64 words: {err}") from None
    return np.where(a >= _P, a - _P, a)


def _u64(x) -> np.ndarray:
    """Operand as uint64 array; arrays already uint64 are trusted to be canonical (hot path)."""
    if isinstance(x, np.ndarray) and x.dtype == np.uint64:
        return x
    return to_array(x)


def _bshape(*xs: np.ndarray) -> tuple[int, ...]:
    return np.broadcast_shapes(*(v.shape for v in xs))


# ---------------------------------------------------------------------------------------------
# core arithmetic (inputs 1-d or more so that numpy never hands back overflow-warning scalars)


def _add_k(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    t = _P - b  # a + b = a - (p - b); p - b lies in [1, p]
    d = a - t
    d -= (a < t) * _EPS  # borrowed 2^64: add p = 2^64 - EPS
    return d


def _sub_k(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = a - b
    d -= (a < b) * _EPS  # borrowed 2^64: add p = 2^64 - EPS
    return d


def _reduce128(hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
    """(hi * 2^64 + lo) mod p, canonical; consumes (overwrites) hi."""
    hi_hi = hi >> _S32
    hi &= _LO32
    t0 = lo - hi_hi  # 2^96 = -1
    t0 -= (lo < hi_hi) * _EPS
    t1 = hi << _S32
    t1 -= hi  # hi_lo * 2^64 = hi_lo * (2^32 - 1)
    t0 += t1
    t0 += (t0 < t1) * _EPS
    t0 -= (t0 >= _P) * _P
    return t0


def _mul_k(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a0 = a & _LO32
    a1 = a >> _S32
    b0 = b & _LO32
    b1 = b >> _S32
    lo = a0 * b0
    mid = a0 * b1
    cross = a1 * b0
    mid += cross
    hi = a1 * b1
    hi += (mid < cross).astype(np.uint64) << _S32  # carry out of the middle sum is worth 2^96
    low = mid << _S32
    low += lo
    hi += low < lo
    mid >>= _S32
    hi += mid
    return _reduce128(hi, low)


# Big operands are processed in slices that stay in cache: about 3-4x faster than whole-array temporaries.
_CHUNK = 1 << 14


def _chunked(kernel, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Apply a limb kernel to (at least 1-d) broadcastable uint64 arrays, slice by slice when large."""
    shape = np.broadcast_shapes(a.shape, b.shape)
    size = int(np.prod(shape))
    if size <= 2 * _CHUNK:
        return kernel(a, b)
    out = np.empty(shape, dtype=np.uint64)
    if a.shape == shape and b.shape == shape and a.flags.c_contiguous and b.flags.c_contiguous:
        fa, fb, fo = a.reshape(-1), b.reshape(-1), out.reshape(-1)
        for i in range(0, size, _CHUNK):
            fo[i : i + _CHUNK] = kernel(fa[i : i + _CHUNK], fb[i : i + _CHUNK])
        return out
    a = np.broadcast_to(a, shape)
    b = np.broadcast_to(b, shape)
    rows = max(1, _CHUNK * shape[0] // size)
    for i in range(0, shape[0], rows):
        out[i : i + rows] = kernel(a[i : i + rows], b[i : i + rows])
    return out


def _add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return _chunked(_add_k, a, b)


def _sub(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return _chunked(_sub_k, a, b)


def _mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return _chunked(_mul_k, a, b)


def _binary(op, a, b) -> np.ndarray:
    a = _u64(a)
    b = _u64(b)
    shape = _bshape(a, b)
    return op(np.atleast_1d(a), np.atleast_1d(b)).reshape(shape)


def add(a, b) -> np.ndarray:
    """a + b mod p (broadcasting)."""
    return _binary(_add, a, b)


def sub(a, b) -> np.ndarray:
    """a - b mod p (broadcasting)."""
    return _binary(_sub, a, b)


def mul(a, b) -> np.ndarray:
    """a * b mod p (broadcasting)."""
    return _binary(_mul, a, b)


def neg(a) -> np.ndarray:
    """-a mod p."""
    a = _u64(a)
    a1 = np.atleast_1d(a)
    return np.where(a1 == 0, a1, _P - a1).reshape(a.shape)


def square(a) -> np.ndarray:
    """a^2 mod p."""
    a = _u64(a)
    a1 = np.atleast_1d(a)
    return _mul(a1, a1).reshape(a.shape)


def pow(a, e: int) -> np.ndarray:
    """a^e elementwise for a Python-int exponent (square and multiply); negative e inverts first."""
    if isinstance(e, bool) or not isinstance(e, int | np.integer):
        raise ValueError(f"exponent must be an int, got {type(e).__name__}")
    e = int(e)
    a = _u64(a)
    if e < 0:
        a = inv(a)
        e = -e
    base = np.atleast_1d(a).copy()
    acc = np.ones_like(base)
    while e:
        if e & 1:
            acc = _mul(acc, base)
        e >>= 1
        if e:
            base = _mul(base, base)
    return acc.reshape(a.shape)


def inv(a) -> np.ndarray:
    """Elementwise inverse; ValueError if any element is 0. (Same as batch_inv, which is the fast way.)"""
    return batch_inv(a)


def inv_or_zero(a) -> np.ndarray:
    """Elementwise inverse, 0 for 0 (the AIR's "inverse or zero" cells), with one batch inversion."""
    a = _u64(a)
    out = np.zeros_like(a)
    nonzero = a != 0
    if nonzero.any():
        out[nonzero] = batch_inv(a[nonzero])
    return out


def batch_inv(a) -> np.ndarray:
    """Elementwise inverse with Montgomery's trick run as a product tree: ~3 muls per element plus
    one scalar inversion. ValueError if any element is 0."""
    a = _u64(a)
    if a.size and bool((a == 0).any()):
        raise ValueError("inverse of zero")
    if a.size == 0:
        return a.copy()
    flat = a.reshape(-1)
    size = 1 << (flat.size - 1).bit_length()
    levels = [np.concatenate([flat, np.ones(size - flat.size, dtype=np.uint64)])]
    while levels[-1].size > 1:
        cur = levels[-1]
        levels.append(_mul(cur[0::2], cur[1::2]))
    invs = np.array([inv_int(int(levels[-1][0]))], dtype=np.uint64)
    for cur in reversed(levels[:-1]):
        nxt = np.empty_like(cur)
        nxt[0::2] = _mul(invs, cur[1::2])  # 1/(x*y) * y = 1/x
        nxt[1::2] = _mul(invs, cur[0::2])
        invs = nxt
    return invs[: flat.size].reshape(a.shape)


def reduce_sum(a, axis: int | None = 0) -> np.ndarray:
    """Sum mod p along an axis (None: all), exact via 32-bit halves (fine for up to 2^32 terms)."""
    a = _u64(a)
    lo = np.sum(a & _LO32, axis=axis, dtype=np.uint64)
    hi = np.sum(a >> _S32, axis=axis, dtype=np.uint64)
    lo1 = np.atleast_1d(lo)
    hi1 = np.atleast_1d(hi)
    # hi * 2^32 + lo with hi, lo < 2^64: reduce hi*2^32 as a 128-bit value (hi >> 32, hi << 32)
    r = _add_k(_reduce128(hi1 >> _S32, hi1 << _S32), _reduce128(np.zeros_like(lo1), lo1))
    return r.reshape(np.shape(lo))


def to_montgomery(a) -> np.ndarray:
    """Montgomery form a * 2^64 mod p (the raw word upstream stores)."""
    return mul(a, np.uint64(MONTGOMERY_R))


def from_montgomery(m) -> np.ndarray:
    """Canonical value of a Montgomery-form word m (m * 2^-64 mod p)."""
    return mul(m, np.uint64(MONTGOMERY_R_INV))


def _powers_compute(x: int, n: int) -> np.ndarray:
    out = np.empty(n, dtype=np.uint64)
    if n == 0:
        return out
    out[0] = 1
    m = 1
    while m < n:
        k = min(m, n - m)
        out[m : m + k] = _mul(out[:k], np.uint64(pow_int(x, m)))
        m += k
    out.setflags(write=False)
    return out


# small tables (twiddles, coset scalings) are reused across calls; bounded so memory stays modest
_powers_cached = lru_cache(maxsize=32)(_powers_compute)
_POWERS_CACHE_MAX_LEN = 1 << 20


def powers(x: int, n: int) -> np.ndarray:
    """[1, x, x^2, ..., x^(n-1)] as uint64 (vectorised doubling; read-only, cached up to 2^20 entries)."""
    x = _check_int(x)
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
        raise ValueError(f"length must be a non-negative int, got {n!r}")
    n = int(n)
    if n > _POWERS_CACHE_MAX_LEN:
        return _powers_compute(x, n)
    return _powers_cached(x, n)
