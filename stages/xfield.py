"""Cubic extension F_p[t] / (t^3 - t + 1) on uint64 arrays of shape (..., 3), coefficient 0 first.

Reduction rule: t^3 = t - 1. Operations broadcast over the leading axes like stages.field.
"""

from __future__ import annotations

import numpy as np

from tvmpd.stages import field as F
from tvmpd.stages.field import _add, _add_k, _mul, _mul_k, _sub, _sub_k

DEGREE = 3
ONE: np.ndarray = np.array([1, 0, 0], dtype=np.uint64)
ZERO: np.ndarray = np.array([0, 0, 0], dtype=np.uint64)
ONE.setflags(write=False)
ZERO.setflags(write=False)


def to_array(x) -> np.ndarray:
    """Validated uint64 array of shape (..., 3) (canonical coefficients); ValueError otherwise."""
    a = F.to_array(x)
    if a.ndim == 0 or a.shape[-1] != DEGREE:
        raise ValueError(f"extension elements need a last axis of length 3, got shape {a.shape}")
    return a


def _x(x) -> np.ndarray:
    if isinstance(x, np.ndarray) and x.dtype == np.uint64 and x.ndim and x.shape[-1] == DEGREE:
        return x
    return to_array(x)


def _parts(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # slices keep a trailing axis of length 1, so every part is at least 1-d
    return x[..., 0:1], x[..., 1:2], x[..., 2:3]


def _join(r0: np.ndarray, r1: np.ndarray, r2: np.ndarray) -> np.ndarray:
    return np.concatenate(np.broadcast_arrays(r0, r1, r2), axis=-1)


def add(x, y) -> np.ndarray:
    """x + y."""
    return _add(_x(x), _x(y))


def sub(x, y) -> np.ndarray:
    """x - y."""
    return _sub(_x(x), _x(y))


def neg(x) -> np.ndarray:
    """-x."""
    return F.neg(_x(x))


def _mul3_k(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    a0, a1, a2 = _parts(x)
    b0, b1, b2 = _parts(y)
    folded = _add_k(_mul_k(a2, b1), _mul_k(a1, b2))  # coefficient of t^3, which becomes t - 1
    top = _mul_k(a2, b2)  # coefficient of t^4, which becomes t^2 - t
    r0 = _sub_k(_mul_k(a0, b0), folded)
    r1 = _add_k(_sub_k(_add_k(_mul_k(a1, b0), _mul_k(a0, b1)), top), folded)
    r2 = _add_k(_add_k(_add_k(_mul_k(a2, b0), _mul_k(a1, b1)), _mul_k(a0, b2)), top)
    return _join(r0, r1, r2)


def _mul3(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Product of broadcastable (..., 3) arrays, in cache-sized slices along the first axis when large."""
    shape = np.broadcast_shapes(x.shape, y.shape)
    size = int(np.prod(shape[:-1]))
    if size <= 2 * F._CHUNK or len(shape) == 1:
        return _mul3_k(x, y)
    out = np.empty(shape, dtype=np.uint64)
    x = np.broadcast_to(x, shape)
    y = np.broadcast_to(y, shape)
    rows = max(1, F._CHUNK * shape[0] // size)
    for i in range(0, shape[0], rows):
        out[i : i + rows] = _mul3_k(x[i : i + rows], y[i : i + rows])
    return out


def mul(x, y) -> np.ndarray:
    """x * y (broadcasting over leading axes)."""
    return _mul3(_x(x), _x(y))


def square(x) -> np.ndarray:
    """x^2."""
    x = _x(x)
    return _mul3(x, x)


def mul_base(x, b) -> np.ndarray:
    """x * b for extension x (..., 3) and base b (...)."""
    x = _x(x)
    b = F._u64(b)
    return _mul(x, b[..., None])


def lift(b) -> np.ndarray:
    """Base elements (...) as extension elements [b, 0, 0] of shape (..., 3)."""
    b = F._u64(b)
    out = np.zeros(b.shape + (DEGREE,), dtype=np.uint64)
    out[..., 0] = b
    return out


def _adjugate_row(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Numerator (..., 3) and norm (..., 1) of 1/x, from the adjugate of the multiply-by-x matrix."""
    a0, a1, a2 = _parts(x)
    # columns of the matrix are x, x*t, x*t^2
    m00, m01, m02 = a0, F.neg(a2), F.neg(a1)
    m10, m11, m12 = a1, _add(a0, a2), _sub(a1, a2)
    m20, m21, m22 = a2, a1, m11
    c0 = _sub(_mul(m11, m22), _mul(m12, m21))
    c1 = _sub(_mul(m12, m20), _mul(m10, m22))
    c2 = _sub(_mul(m10, m21), _mul(m11, m20))
    norm = _add(_add(_mul(m00, c0), _mul(m01, c1)), _mul(m02, c2))
    return _join(c0, c1, c2), norm


def inv(x) -> np.ndarray:
    """1/x elementwise; ValueError if any element is zero."""
    x = _x(x)
    if x.size and bool((x == 0).all(axis=-1).any()):
        raise ValueError("inverse of zero")
    num, norm = _adjugate_row(x)
    return _mul(num, F.inv(norm))


def batch_inv(x) -> np.ndarray:
    """1/x elementwise, inverting all norms with one batched base-field inversion; ValueError on zero."""
    x = _x(x)
    if x.size and bool((x == 0).all(axis=-1).any()):
        raise ValueError("inverse of zero")
    if x.size == 0:
        return x.copy()
    num, norm = _adjugate_row(x)
    return _mul(num, F.batch_inv(norm))


def pow(x, e: int) -> np.ndarray:
    """x^e for a Python-int exponent (square and multiply); negative e inverts first."""
    if isinstance(e, bool) or not isinstance(e, int | np.integer):
        raise ValueError(f"exponent must be an int, got {type(e).__name__}")
    e = int(e)
    x = _x(x)
    if e < 0:
        x = inv(x)
        e = -e
    acc = np.broadcast_to(ONE, x.shape).copy()
    base = x
    while e:
        if e & 1:
            acc = _mul3(acc, base)
        e >>= 1
        if e:
            base = _mul3(base, base)
    return acc


def reduce_sum(x, axis: int = 0) -> np.ndarray:
    """Sum of extension elements along a leading axis (negative axes count leading axes only)."""
    x = _x(x)
    if axis < 0:
        axis -= 1
    return F.reduce_sum(x, axis=axis)


# Scalar helpers on Python-int triples (c0, c1, c2), for the few places that work one element at a time
# (deriving challenges, constant folding in circuits, scan coefficients).
XInt = tuple[int, int, int]


def add_int(a: XInt, b: XInt) -> XInt:
    return ((a[0] + b[0]) % F.P, (a[1] + b[1]) % F.P, (a[2] + b[2]) % F.P)


def mul_int(a: XInt, b: XInt) -> XInt:
    """Product of two triples: schoolbook, then x^3 = x - 1 and x^4 = x^2 - x."""
    a0, a1, a2 = a
    b0, b1, b2 = b
    c3 = a1 * b2 + a2 * b1
    c4 = a2 * b2
    p = F.P
    return ((a0 * b0 - c3) % p, (a0 * b1 + a1 * b0 + c3 - c4) % p, (a0 * b2 + a1 * b1 + a2 * b0 + c4) % p)


def pow_int(x: XInt, e: int) -> XInt:
    """x^e for e >= 0 by square-and-multiply."""
    acc, base = (1, 0, 0), x
    while e:
        if e & 1:
            acc = mul_int(acc, base)
        base = mul_int(base, base)
        e >>= 1
    return acc


def dot(values, weights) -> np.ndarray:
    """sum_c weights[c] * values[..., c, :]: weighted sum over the last element axis, (..., k, 3) x (k, 3)."""
    return reduce_sum(mul(values, weights), axis=-1)
