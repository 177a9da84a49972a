"""Base field: agreement with Python int arithmetic, ring axioms, inverses, roots, validation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tvmpd.stages import field as F

P = F.P
EDGE = [0, 1, 2, P - 1, P - 2, 2**32, 2**32 - 1, 2**32 + 1, 2**63, 2**63 - 1, 2**64 - 2**33, P // 2]
elem = st.one_of(st.sampled_from(EDGE), st.integers(0, P - 1))
elems = st.lists(elem, min_size=1, max_size=40)
settings.register_profile("tvmpd_field", max_examples=60, deadline=None)
settings.load_profile("tvmpd_field")


def arr(xs) -> np.ndarray:
    return np.array(xs, dtype=np.uint64)


def ints(a) -> list[int]:
    return [int(v) for v in np.asarray(a).reshape(-1)]


def test_edge_values_all_pairs():
    a = arr(EDGE)[:, None]
    b = arr(EDGE)[None, :]
    for op, ref in [(F.add, lambda x, y: (x + y) % P), (F.sub, lambda x, y: (x - y) % P),
                    (F.mul, lambda x, y: x * y % P)]:
        got = op(a, b)
        assert got.shape == (len(EDGE), len(EDGE)) and got.dtype == np.uint64
        assert ints(got) == [ref(x, y) for x in EDGE for y in EDGE]
    assert ints(F.neg(arr(EDGE))) == [(-x) % P for x in EDGE]
    assert ints(F.square(arr(EDGE))) == [x * x % P for x in EDGE]


def test_worst_case_products():
    # operands with all-ones limbs stress every carry path of the limb product and the reduction
    xs = [P - 1, 2**64 - 2**33, 2**63 + 2**32 - 1, (2**32 - 1) << 31, 0xFFFF_FFFE_FFFF_FFFF]
    xs = [x % P for x in xs]
    got = F.mul(arr(xs)[:, None], arr(xs)[None, :])
    assert ints(got) == [x * y % P for x in xs for y in xs]


@given(elems, elems)
def test_matches_python_ints(xs, ys):
    n = min(len(xs), len(ys))
    xs, ys = xs[:n], ys[:n]
    a, b = arr(xs), arr(ys)
    assert ints(F.add(a, b)) == [(x + y) % P for x, y in zip(xs, ys, strict=True)]
    assert ints(F.sub(a, b)) == [(x - y) % P for x, y in zip(xs, ys, strict=True)]
    assert ints(F.mul(a, b)) == [x * y % P for x, y in zip(xs, ys, strict=True)]
    assert ints(F.neg(a)) == [(-x) % P for x in xs]
    assert ints(F.square(a)) == [x * x % P for x in xs]
    assert int(F.reduce_sum(a)) == sum(xs) % P


@given(elem, elem, elem)
def test_ring_axioms(x, y, z):
    a, b, c = arr([x]), arr([y]), arr([z])
    assert ints(F.add(a, b)) == ints(F.add(b, a))
    assert ints(F.mul(a, b)) == ints(F.mul(b, a))
    assert ints(F.mul(F.mul(a, b), c)) == ints(F.mul(a, F.mul(b, c)))
    assert ints(F.add(F.add(a, b), c)) == ints(F.add(a, F.add(b, c)))
    assert ints(F.mul(a, F.add(b, c))) == ints(F.add(F.mul(a, b), F.mul(a, c)))
    assert ints(F.add(a, F.neg(a))) == [0]
    assert ints(F.sub(a, b)) == ints(F.add(a, F.neg(b)))
    assert ints(F.mul(a, 1)) == [x]


@given(st.lists(st.one_of(st.sampled_from(EDGE[1:]), st.integers(1, P - 1)), min_size=1, max_size=70))
def test_inverses(xs):
    a = arr(xs)
    expect = [pow(x, P - 2, P) for x in xs]
    assert ints(F.inv(a)) == expect
    assert ints(F.batch_inv(a)) == expect
    assert ints(F.batch_inv(a.reshape(1, -1))) == expect
    assert F.inv_int(xs[0]) == expect[0]


@given(elem, st.integers(0, 2**70))
def test_pow(x, e):
    assert int(F.pow(arr([x]), e)[0]) == pow(x, e, P)
    assert F.pow_int(x, e) == pow(x, e, P)


def test_pow_negative_and_shapes():
    a = arr([[3, 5], [7, P - 1]])
    assert F.pow(a, -2).shape == (2, 2)
    assert ints(F.mul(F.pow(a, -2), F.square(a))) == [1, 1, 1, 1]
    assert ints(F.pow(a, 0)) == [1, 1, 1, 1]
    assert int(F.pow(np.uint64(0), 0)) == 1


def test_broadcasting_and_scalars():
    a = arr([[1, 2, 3], [4, 5, 6]])
    b = arr([10, 20, 30])
    assert F.mul(a, b).shape == (2, 3)
    assert ints(F.mul(a, b)) == [10, 40, 90, 40, 100, 180]
    assert F.mul(3, 5).shape == () and int(F.mul(3, 5)) == 15
    assert int(F.add(P - 1, 1)) == 0
    assert int(F.sub(0, 1)) == P - 1
    assert ints(F.add(a, 1)) == [2, 3, 4, 5, 6, 7]
    assert F.mul(np.zeros((0, 3), dtype=np.uint64), b).shape == (0, 3)
    assert F.batch_inv(np.zeros(0, dtype=np.uint64)).shape == (0,)
    assert F.batch_inv(arr([5])).shape == (1,)


def test_inverse_of_zero_raises():
    with pytest.raises(ValueError):
        F.inv(arr([1, 0]))
    with pytest.raises(ValueError):
        F.batch_inv(arr([3, 0, 5]))
    with pytest.raises(ValueError):
        F.inv_int(P)
    with pytest.raises(ValueError):
        F.pow(arr([0]), -1)


def test_batch_inv_odd_sizes():
    for n in [1, 2, 3, 5, 17, 1000]:
        a = (np.arange(1, n + 1, dtype=np.uint64) * np.uint64(0x1234_5678_9ABC)) % np.uint64(P)
        assert (F.mul(F.batch_inv(a), a) == 1).all()


def test_to_array_validation():
    assert F.to_array([0, P - 1, 2**63]).dtype == np.uint64
    assert ints(F.to_array([0, P - 1, 2**63])) == [0, P - 1, 2**63]
    assert F.to_array([[1, 2], [3, 4]]).shape == (2, 2)
    assert F.to_array(5).shape == ()
    assert F.to_array(np.array([1, 2], dtype=np.int32)).dtype == np.uint64
    assert F.to_array([]).shape == (0,)
    for bad in [[P], [-1], [1.0], 1.5, [2**64], P, -3, ["7"], np.array([1.0]), np.array([-1]),
                np.array([P], dtype=np.uint64), [1, None], "12"]:
        with pytest.raises(ValueError):
            F.to_array(bad)
    with pytest.raises(ValueError):
        F.mul([P], [1])


def test_primitive_roots():
    assert F.primitive_root(2**32) == 1753635133440165772
    assert F.primitive_root(256) == 13797081185216407910
    assert F.primitive_root(512) == 1803076106186727246
    assert F.primitive_root(2048) == 455906449640507599
    assert F.primitive_root(1) == 1
    assert F.primitive_root(2) == P - 1
    for k in range(33):
        r = F.primitive_root(2**k)
        assert pow(r, 2**k, P) == 1
        if k:
            assert pow(r, 2 ** (k - 1), P) != 1
        if k < 32:
            assert F.primitive_root(2 ** (k + 1)) ** 2 % P == r
    for bad in [3, 2**33, -2, 2.0, True]:
        with pytest.raises(ValueError):
            F.primitive_root(bad)


def test_montgomery():
    xs = [0, 1, 2, P - 1, 2**32, 123456789]
    m = F.to_montgomery(arr(xs))
    assert ints(m) == [x * 2**64 % P for x in xs]
    assert ints(F.from_montgomery(m)) == xs
    assert int(F.to_montgomery(1)) == 2**32 - 1


def test_powers():
    assert ints(F.powers(3, 10)) == [pow(3, i, P) for i in range(10)]
    assert ints(F.powers(7, 1)) == [1]
    assert F.powers(7, 0).shape == (0,)
    w = F.primitive_root(1024)
    assert ints(F.powers(w, 1024)) == [pow(w, i, P) for i in range(1024)]


def test_large_arrays_take_the_sliced_path():
    rng = np.random.default_rng(7)
    n = 13 * F._CHUNK + 3
    a = rng.integers(0, P, n, dtype=np.uint64)
    b = rng.integers(0, P, n, dtype=np.uint64)
    a[:len(EDGE)] = EDGE
    b[-len(EDGE):] = EDGE
    idx = list(range(20)) + list(range(n - 20, n)) + list(rng.integers(0, n, 40))
    for op, ref in [(F.add, lambda x, y: (x + y) % P), (F.sub, lambda x, y: (x - y) % P),
                    (F.mul, lambda x, y: x * y % P)]:
        got = op(a, b)
        assert [int(got[i]) for i in idx] == [ref(int(a[i]), int(b[i])) for i in idx]
        # broadcast and strided operands agree with the small, whole-array path
        m = a[: 4 * 3 * F._CHUNK].reshape(-1, 3)
        row = b[:3]
        assert (op(m, row) == np.concatenate([op(m[i : i + 100], row) for i in range(0, len(m), 100)])).all()
        assert (op(m[::2], m[1::2]) == op(m[::2].copy(), m[1::2].copy())).all()
    assert (F.mul(F.batch_inv(a[a != 0]), a[a != 0]) == 1).all()


def test_from_u64_reduces():
    words = [0, 1, P - 1, P, P + 1, 2**64 - 1]
    assert ints(F.from_u64(words)) == [w % P for w in words]
    assert ints(F.from_u64(np.array(words, dtype=np.uint64))) == [w % P for w in words]
    for bad in [[-1], [2**64], [1.5]]:
        with pytest.raises(ValueError):
            F.from_u64(bad)
