"""Opened rows of lean tables by folding (opencl/device_tables.py open_by_folds): the values of polynomials
at a few points equal Horner's, whatever the points share."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

cl = pytest.importorskip("pyopencl")
from tvmpd.opencl import device_tables as dev  # noqa: E402
from tvmpd.stages.field import primitive_root  # noqa: E402

P = 2**64 - 2**32 + 1


def _horner(coefficients: list[int], x: int) -> int:
    acc = 0
    for c in reversed(coefficients):
        acc = (acc * x + c) % P
    return acc


def test_fold_plan_classes_are_the_points_powers():
    w = primitive_root(64)
    points = [7 * pow(w, i, P) % P for i in (0, 1, 32, 33, 5)]
    steps = dev.fold_plan(points, 16)
    assert [len(ys) for _, ys in steps] == [3, 3, 3, 5]  # x^8, x^4, x^2 (i mod 8, 16, 32), x
    for t, (parent, ys) in enumerate(steps):
        half = 16 >> (t + 1)
        assert sorted(ys.tolist()) == sorted({pow(x, half, P) for x in points})
        if t:
            prev = steps[t - 1][1].tolist()
            assert [prev[p] for p in parent.tolist()] == [y * y % P for y in ys.tolist()]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(log_len=st.integers(1, 7), ncols=st.integers(1, 5), first=st.integers(0, 2), data=st.data())
def test_open_by_folds_equals_horner(rt, log_len, ncols, first, data):
    length = 1 << log_len
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    coef = rng.integers(0, P, size=(first + ncols, length), dtype=np.uint64, endpoint=False)
    w = primitive_root(1 << (log_len + 3))
    indices = data.draw(st.lists(st.integers(0, (8 << log_len) - 1), min_size=1, max_size=12))
    points = [3 * pow(w, i, P) % P for i in indices]  # a coset, repeats allowed, as opened rows are
    points += data.draw(st.lists(st.integers(0, P - 1), max_size=3))  # and anywhere
    budget = data.draw(st.sampled_from([1, 1 << 20]))  # one column per batch, or all at once
    got = dev.open_by_folds(rt, rt.to_device(coef.reshape(-1)), first, ncols, length, points, budget)
    want = [[_horner(coef[first + c].tolist(), x) for c in range(ncols)] for x in points]
    np.testing.assert_array_equal(got, np.array(want, dtype=np.uint64))


def test_open_by_folds_wants_a_power_of_two_length(rt):
    with pytest.raises(ValueError, match="power of two"):
        dev.open_by_folds(rt, rt.to_device(np.zeros(6, dtype=np.uint64)), 0, 1, 6, [1], 1 << 20)
