"""Number-theoretic transforms along axis 0, batched over all other axes, natural order in and out.

Conventions follow twenty-first / triton-vm `ArithmeticDomain`: a domain of length n with offset o has
values o * w_n^i (i = 0..n-1, w_n = field.primitive_root(n)); a codeword lists the values of a
polynomial at those points in that order. Arrays are (n,), (n, cols) base or (n, cols, 3) extension;
all transforms are F_p-linear with base-field twiddles, so extension coefficients are just more columns.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from tvmpd.stages import field as F
from tvmpd.stages import xfield as X
from tvmpd.stages.field import _add, _add_k, _mul, _mul_k, _sub_k


def _check_len(n: int, what: str) -> int:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1 or n & (n - 1) or n > 2**32:
        raise ValueError(f"{what} must be a power of two in [1, 2^32], got {n!r}")
    return int(n)


def _check_elem(x: int, what: str) -> int:
    if isinstance(x, bool) or not isinstance(x, int | np.integer) or not 0 <= int(x) < F.P:
        raise ValueError(f"{what} must be a base-field int in [0, p), got {x!r}")
    return int(x)


def _as_matrix(a) -> np.ndarray:
    """(n, k) view/copy of an array of shape (n, ...) as uint64."""
    a = F._u64(a)
    if a.ndim == 0:
        raise ValueError("expected an array with a leading (row) axis, got a scalar")
    return a.reshape(a.shape[0], int(np.prod(a.shape[1:])))


@lru_cache(maxsize=40)
def _bit_reverse(n: int) -> np.ndarray:
    log = n.bit_length() - 1
    idx = np.arange(n, dtype=np.int64)
    rev = np.zeros(n, dtype=np.int64)
    for b in range(log):
        rev |= ((idx >> b) & 1) << (log - 1 - b)
    return rev


def _stage(x: np.ndarray, m: int, tw: np.ndarray | None) -> None:
    """One radix-2 pass in place on an (n, k) matrix: pairs (row j, row j + m) inside each block of 2m
    rows become (u + tw_j v, u - tw_j v). Works slice by slice so that temporaries stay in cache."""
    n, k = x.shape
    blocks = x.reshape(n // (2 * m), 2, m, k)
    if m * k >= F._CHUNK:
        step = max(1, F._CHUNK // k)
        spans = [(slice(b, b + 1), slice(j, j + step)) for b in range(n // (2 * m))
                 for j in range(0, m, step)]
    else:
        rows = F._CHUNK // (m * k)
        spans = [(slice(b, b + rows), slice(0, m)) for b in range(0, n // (2 * m), rows)]
    for bs, js in spans:
        u = blocks[bs, 0, js]
        v = blocks[bs, 1, js]
        if tw is not None:
            v = _mul_k(v, tw[js].reshape(1, -1, 1))
        s = _add_k(u, v)
        blocks[bs, 1, js] = _sub_k(u, v)
        blocks[bs, 0, js] = s


def _transform(mat: np.ndarray, root: int) -> np.ndarray:
    """out[i] = sum_j mat[j] * root^(i*j) for an (n, k) matrix, n a power of two (root of order n)."""
    n = mat.shape[0]
    x = mat[_bit_reverse(n)]  # copy in bit-reversed row order
    if n == 1 or x.size == 0:
        return x
    tw_all = F.powers(root, n // 2)
    m = 1
    while m < n:
        _stage(x, m, tw_all[:: n // (2 * m)] if m > 1 else None)
        m *= 2
    return x


def _restore(out: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    return out.reshape((out.shape[0],) + tuple(shape[1:]))


def ntt(coeffs) -> np.ndarray:
    """Evaluate on the subgroup <w_n>: out[i] = sum_j c_j w_n^(i*j), along axis 0 (n a power of two)."""
    mat = _as_matrix(coeffs)
    n = _check_len(mat.shape[0], "NTT length")
    return _restore(_transform(mat, F.primitive_root(n)), np.shape(coeffs))


def intt(values) -> np.ndarray:
    """Inverse of ntt: coefficients from values on <w_n>, along axis 0."""
    mat = _as_matrix(values)
    n = _check_len(mat.shape[0], "INTT length")
    out = _transform(mat, F.inv_int(F.primitive_root(n)))
    out = _mul(out, np.uint64(F.inv_int(n)))
    return _restore(out, np.shape(values))


def _fold_scaled(mat: np.ndarray, scale: int, extra: int, n: int) -> np.ndarray:
    """Rows j of mat times extra * scale^j, reduced to n rows: row j + t*n adds into row j, which is
    exact for evaluation on any coset of <w_n> once scale^j already carries the offset powers."""
    rows = mat.shape[0]
    factors = F.powers(scale, rows)
    if extra != 1:
        factors = _mul(factors, np.uint64(extra))
    scaled = _mul(mat, factors[:, None])
    if rows <= n:
        out = np.zeros((n, mat.shape[1]), dtype=np.uint64)
        out[:rows] = scaled
        return out
    pad = (-rows) % n
    if pad:
        scaled = np.concatenate([scaled, np.zeros((pad, mat.shape[1]), dtype=np.uint64)])
    return F.reduce_sum(scaled.reshape(-1, n, mat.shape[1]), axis=0)


def coset_evaluate(coeffs, offset: int, n: int) -> np.ndarray:
    """Values of the polynomials (coefficients along axis 0, lowest first) at offset * w_n^i, i < n.

    More than n coefficients are allowed (folded, as upstream ArithmeticDomain::evaluate does).
    """
    offset = _check_elem(offset, "offset")
    n = _check_len(n, "domain length")
    mat = _as_matrix(coeffs)
    out = _transform(_fold_scaled(mat, offset, 1, n), F.primitive_root(n))
    return _restore(out, np.shape(coeffs))


def interpolate_coset(values, offset: int) -> np.ndarray:
    """Coefficients (n of them, along axis 0) of the polynomials taking `values` at offset * w_n^i."""
    offset = _check_elem(offset, "offset")
    if offset == 0:
        raise ValueError("cannot interpolate on a coset with offset 0")
    mat = _as_matrix(values)
    n = _check_len(mat.shape[0], "domain length")
    out = _transform(mat, F.inv_int(F.primitive_root(n)))
    out = _mul(out, F.powers(F.inv_int(offset), n)[:, None])
    out = _mul(out, np.uint64(F.inv_int(n)))
    return _restore(out, np.shape(values))


def lde(values, offset_in: int, offset_out: int, n_out: int) -> np.ndarray:
    """Low-degree extension: interpolate on the coset offset_in * <w_n_in> (n_in = len(values)) and
    evaluate on offset_out * <w_n_out>. n_out < n_in is allowed but loses information, as upstream."""
    offset_in = _check_elem(offset_in, "offset_in")
    offset_out = _check_elem(offset_out, "offset_out")
    if offset_in == 0:
        raise ValueError("cannot interpolate on a coset with offset 0")
    n_out = _check_len(n_out, "n_out")
    mat = _as_matrix(values)
    n_in = _check_len(mat.shape[0], "input length")
    coeffs = _transform(mat, F.inv_int(F.primitive_root(n_in)))
    # 1/n_in and both coset scalings in one pass: coefficient j gets (offset_out / offset_in)^j / n_in
    ratio = F.mul_int(offset_out, F.inv_int(offset_in))
    out = _transform(_fold_scaled(coeffs, ratio, F.inv_int(n_in), n_out), F.primitive_root(n_out))
    return _restore(out, np.shape(values))


def domain_values(n: int, offset: int = 1) -> np.ndarray:
    """The points offset * w_n^i, i < n, as uint64."""
    n = _check_len(n, "domain length")
    offset = _check_elem(offset, "offset")
    return _mul(F.powers(F.primitive_root(n), n), np.uint64(offset))


def _xpowers(x: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros((n, 3), dtype=np.uint64)
    if n == 0:
        return out
    out[0] = X.ONE
    step = x
    m = 1
    while m < n:
        k = min(m, n - m)
        out[m : m + k] = X.mul(out[:k], step)
        step = X.mul(step, step)
        m += k
    return out


# rows per block when forming products of the coefficients with the powers of x
_BLOCK_ELEMS = 1 << 20


def evaluate_at(coeffs, x, extension: bool | None = None) -> np.ndarray:
    """Value at x of each column's polynomial (coefficients along axis 0, lowest first).

    x: base int, or an extension element (shape (3,)). coeffs: (n,), (n, cols) base, or (n, cols, 3)
    extension; `extension` overrides the guess (ndim == 3 means extension), e.g. for a single (n, 3)
    extension polynomial. Returns shape coeffs.shape[1:] (base x), plus a trailing 3 for extension x
    with base coefficients.
    """
    a = F._u64(coeffs)
    if a.ndim == 0:
        raise ValueError("expected coefficients along axis 0, got a scalar")
    if extension is None:
        extension = a.ndim == 3
    if extension and a.shape[-1] != 3:
        raise ValueError(f"extension coefficients need a last axis of length 3, got shape {a.shape}")
    n = a.shape[0]
    base_x = isinstance(x, int | np.integer) and not isinstance(x, bool)
    if base_x:
        x = _check_elem(x, "evaluation point")
        mat = _as_matrix(a)
        pw = F.powers(x, n)[:, None]
        out = np.zeros(mat.shape[1], dtype=np.uint64)
        step = max(1, _BLOCK_ELEMS // max(1, mat.shape[1]))
        for i in range(0, n, step):
            out = _add(out, F.reduce_sum(_mul(mat[i : i + step], pw[i : i + step]), axis=0))
        return out.reshape(a.shape[1:])
    xe = X.to_array(x)
    if xe.shape != (3,):
        raise ValueError(f"evaluation point must be an int or one extension element (3,), got {xe.shape}")
    pw = _xpowers(xe, n)
    if extension:
        mat = a.reshape(n, int(np.prod(a.shape[1:-1])), 3)
        out_shape = a.shape[1:]
    else:
        mat = _as_matrix(a)
        out_shape = a.shape[1:] + (3,)
    out = np.zeros((mat.shape[1], 3), dtype=np.uint64)
    step = max(1, _BLOCK_ELEMS // (3 * max(1, mat.shape[1])))
    for i in range(0, n, step):
        p = pw[i : i + step, None, :]
        if extension:
            prod = X.mul(mat[i : i + step], p)
        else:
            prod = _mul(mat[i : i + step, :, None], p)
        out = _add(out, F.reduce_sum(prod, axis=0))
    return out.reshape(out_shape)
