"""Cubic extension field: agreement with a polynomial-arithmetic reference, axioms, inverses, validation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tvmpd.stages import field as F
from tvmpd.stages import xfield as X

P = F.P
EDGE = [0, 1, 2, P - 1, P - 2, 2**32, 2**32 - 1, 2**63, 2**64 - 2**33]
coef = st.one_of(st.sampled_from(EDGE), st.integers(0, P - 1))
xfe = st.tuples(coef, coef, coef).map(list)
nonzero_xfe = xfe.filter(lambda v: any(v))
settings.register_profile("tvmpd_xfield", max_examples=50, deadline=None)
settings.load_profile("tvmpd_xfield")


def ref_mul(a: list[int], b: list[int]) -> list[int]:
    """Schoolbook product, then reduce with t^4 = t^2 - t and t^3 = t - 1."""
    r = [0] * 5
    for i in range(3):
        for j in range(3):
            r[i + j] += a[i] * b[j]
    for k in (4, 3):
        c, r[k] = r[k], 0
        r[k - 2] += c
        r[k - 3] -= c
    return [v % P for v in r[:3]]


def ref_pow(a: list[int], e: int) -> list[int]:
    acc = [1, 0, 0]
    for bit in bin(e)[2:]:
        acc = ref_mul(acc, acc)
        if bit == "1":
            acc = ref_mul(acc, a)
    return acc


def arr(x) -> np.ndarray:
    return np.array(x, dtype=np.uint64)


def ints(a) -> list:
    return np.asarray(a).astype(object).tolist()


@given(xfe, xfe)
def test_matches_reference(a, b):
    x, y = arr(a), arr(b)
    assert ints(X.mul(x, y)) == ref_mul(a, b)
    assert ints(X.square(x)) == ref_mul(a, a)
    assert ints(X.add(x, y)) == [(u + v) % P for u, v in zip(a, b, strict=True)]
    assert ints(X.sub(x, y)) == [(u - v) % P for u, v in zip(a, b, strict=True)]
    assert ints(X.neg(x)) == [(-u) % P for u in a]
    assert ints(X.mul_base(x, arr(b[0]))) == [u * b[0] % P for u in a]


def test_spec_product_formula_and_modulus():
    t = arr([0, 1, 0])
    assert ints(X.mul(X.mul(t, t), t)) == [P - 1, 1, 0]  # t^3 = t - 1
    assert ints(X.pow(t, 4)) == [0, P - 1, 1]  # t^4 = t^2 - t
    a, b = [3, 5, 7], [11, 13, 17]
    a0, a1, a2 = a
    b0, b1, b2 = b
    expect = [a0 * b0 - a2 * b1 - a1 * b2, a1 * b0 + a0 * b1 - a2 * b2 + a2 * b1 + a1 * b2,
              a2 * b0 + a1 * b1 + a0 * b2 + a2 * b2]
    assert ints(X.mul(arr(a), arr(b))) == [v % P for v in expect]


@given(xfe, xfe, xfe)
def test_field_axioms(a, b, c):
    x, y, z = arr(a), arr(b), arr(c)
    assert ints(X.mul(x, y)) == ints(X.mul(y, x))
    assert ints(X.mul(X.mul(x, y), z)) == ints(X.mul(x, X.mul(y, z)))
    assert ints(X.mul(x, X.add(y, z))) == ints(X.add(X.mul(x, y), X.mul(x, z)))
    assert ints(X.mul(x, X.ONE)) == a
    assert ints(X.add(x, X.neg(x))) == [0, 0, 0]
    assert ints(X.mul(x, X.lift(arr(b[1])))) == ints(X.mul_base(x, b[1]))


@given(st.lists(nonzero_xfe, min_size=1, max_size=30))
def test_inverses(xs):
    x = arr(xs)
    ones = [[1, 0, 0]] * len(xs)
    assert ints(X.mul(X.inv(x), x)) == ones
    assert ints(X.batch_inv(x)) == ints(X.inv(x))
    # 1/x = x^(p^3 - 2)
    assert ints(X.inv(x[0])) == ref_pow(xs[0], P**3 - 2)


@given(xfe, st.integers(0, 2**66))
def test_pow(a, e):
    assert ints(X.pow(arr(a), e)) == ref_pow(a, e)


def test_pow_negative_and_zero():
    x = arr([[2, 3, 4], [0, 0, 5]])
    assert ints(X.mul(X.pow(x, -3), X.pow(x, 3))) == [[1, 0, 0], [1, 0, 0]]
    assert ints(X.pow(X.ZERO, 0)) == [1, 0, 0]
    assert ints(X.pow(X.ZERO, 5)) == [0, 0, 0]


def test_shapes_and_broadcasting():
    rng = np.random.default_rng(3)
    m = rng.integers(0, P, (4, 5, 3), dtype=np.uint64)
    s = arr([7, 8, 9])
    got = X.mul(m, s)
    assert got.shape == (4, 5, 3)
    assert ints(got[2, 3]) == ref_mul(ints(m[2, 3]), [7, 8, 9])
    assert X.mul(m[:, :1], m[:1, :]).shape == (4, 5, 3)
    b = rng.integers(0, P, (4, 5), dtype=np.uint64)
    assert ints(X.mul_base(m, b)[1, 2]) == [int(v) * int(b[1, 2]) % P for v in m[1, 2]]
    assert X.lift(b).shape == (4, 5, 3) and ints(X.lift(b)[3, 4]) == [int(b[3, 4]), 0, 0]
    assert X.lift(5).shape == (3,)
    assert X.batch_inv(X.add(m, X.ONE)).shape == (4, 5, 3)
    assert ints(X.reduce_sum(m, axis=0)[1]) == [sum(int(v) for v in m[:, 1, k]) % P for k in range(3)]
    assert ints(X.reduce_sum(m, axis=-1)[1]) == [sum(int(v) for v in m[1, :, k]) % P for k in range(3)]
    assert X.batch_inv(np.zeros((0, 3), dtype=np.uint64)).shape == (0, 3)


def test_large_arrays():
    rng = np.random.default_rng(4)
    m = rng.integers(0, P, (3 * F._CHUNK + 5, 3), dtype=np.uint64)
    n = rng.integers(0, P, (3 * F._CHUNK + 5, 3), dtype=np.uint64)
    got = X.mul(m, n)
    for i in [0, 1, F._CHUNK, len(m) - 1]:
        assert ints(got[i]) == ref_mul(ints(m[i]), ints(n[i]))
    assert (X.mul(X.batch_inv(m), m) == X.ONE).all()


def test_bad_input():
    with pytest.raises(ValueError):
        X.inv(arr([[1, 2, 3], [0, 0, 0]]))
    with pytest.raises(ValueError):
        X.batch_inv(arr([0, 0, 0]))
    with pytest.raises(ValueError):
        X.mul(arr([1, 2]), arr([1, 2]))
    with pytest.raises(ValueError):
        X.to_array([1, 2, P])
    with pytest.raises(ValueError):
        X.to_array(5)
    with pytest.raises(ValueError):
        X.add([1.0, 2.0, 3.0], X.ONE)
    with pytest.raises(ValueError):
        X.pow(X.ONE, 1.5)
    assert ints(X.to_array([[1, 2, 3]])) == [[1, 2, 3]]
    assert not X.ONE.flags.writeable


@settings(max_examples=100, deadline=None)
@given(st.tuples(*[st.integers(0, P - 1)] * 3), st.tuples(*[st.integers(0, P - 1)] * 3), st.integers(0, 300))
def test_scalar_int_helpers_agree_with_arrays(a, b, e):
    xa, xb = np.array(a, dtype=np.uint64), np.array(b, dtype=np.uint64)
    assert X.mul_int(a, b) == tuple(int(v) for v in X.mul(xa, xb))
    assert X.add_int(a, b) == tuple(int(v) for v in X.add(xa, xb))
    assert X.pow_int(a, e) == tuple(int(v) for v in X.pow(xa, e))
