"""Aux-table extension against the reference's master aux tables (columns 0..49)."""

from __future__ import annotations

import numpy as np
import pytest

from tvmpd.stages import field as F
from tvmpd.stages import xfield as X
from tvmpd.stages.air import columns as C
from tvmpd.stages.air.extend import _scan, extend


@pytest.mark.parametrize("name", ["halt", "all_tables"])
def test_extend_matches_reference(vectors, name):
    npz = np.load(vectors / "tables" / f"{name}.npz")
    aux = extend(npz["main"], npz["challenges"])
    ref = npz["aux"][:, : C.NUM_AUX_BASE_COLUMNS]
    assert aux.shape == ref.shape and aux.dtype == np.uint64
    names = C.aux_column_names()
    bad = [names[c] for c in range(C.NUM_AUX_BASE_COLUMNS) if not np.array_equal(aux[:, c], ref[:, c])]
    assert not bad, f"aux columns differ: {bad}"


def test_extend_accepts_only_main_base_columns(vectors):
    npz = np.load(vectors / "tables" / "halt.npz")
    full = extend(npz["main"], npz["challenges"])
    np.testing.assert_array_equal(extend(npz["main"][:, :149].copy(), npz["challenges"]), full)


def test_extend_rejects_bad_input():
    with pytest.raises(ValueError):
        extend(np.zeros((4, 100), dtype=np.uint64), np.zeros((63, 3), dtype=np.uint64))
    with pytest.raises(ValueError):
        extend(np.zeros((4, 149), dtype=np.uint64), np.zeros((62, 3), dtype=np.uint64))


@pytest.mark.parametrize("n", [1, 5, 33, 300, 1000])
def test_scan_matches_sequential(n):
    rng = np.random.default_rng(n)
    a = rng.integers(0, F.P, size=(n, 3), dtype=np.uint64)
    b = rng.integers(0, F.P, size=(n, 3), dtype=np.uint64)
    init = np.array([3, 1, 4], dtype=np.uint64)
    got = _scan(a, b, init)
    got_prod = _scan(a, None, init)
    x = y = init
    for k in range(n):
        x = F.add(X.mul(a[k], x), b[k])
        y = X.mul(a[k], y)
        assert np.array_equal(got[k], x) and np.array_equal(got_prod[k], y)
