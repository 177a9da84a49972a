"""stages/transforms.py: the numpy and OpenCL (pocl) transforms give identical results for every operation."""

from __future__ import annotations

import numpy as np
import pytest

from tvmpd.stages import ntt as np_ntt
from tvmpd.stages.transforms import NumpyTransforms, OpenCLTransforms

P = 2**64 - 2**32 + 1


@pytest.fixture(scope="module")
def backends():
    return NumpyTransforms(), OpenCLTransforms()


@pytest.fixture(scope="module")
def rng():
    return np.random.default_rng()


def test_unknown_device_is_refused():
    with pytest.raises(ValueError):
        OpenCLTransforms(device_key="99:99")


def test_ntt_intt_lde_agree(backends, rng):
    ref, dev = backends
    x = rng.integers(0, P, size=(512, 3), dtype=np.uint64)
    assert np.array_equal(dev.ntt(x), ref.ntt(x))
    assert np.array_equal(dev.intt(x), ref.intt(x))
    assert np.array_equal(dev.lde(x, 1, 7, 4096), ref.lde(x, 1, 7, 4096))
    xe = rng.integers(0, P, size=(128, 2, 3), dtype=np.uint64)
    assert np.array_equal(dev.lde(xe, 7, 1, 512), ref.lde(xe, 7, 1, 512))
    assert np.array_equal(ref.ntt(x), np_ntt.ntt(x))


def test_hash_rows_and_merkle_tree_agree(backends, rng):
    ref, dev = backends
    rows = rng.integers(0, P, size=(64, 379), dtype=np.uint64)
    leaves = dev.hash_rows(rows)
    assert np.array_equal(leaves, ref.hash_rows(rows))
    assert np.array_equal(dev.merkle_tree(leaves), ref.merkle_tree(leaves))
    ext = rng.integers(0, P, size=(16, 91, 3), dtype=np.uint64)
    assert np.array_equal(dev.hash_rows(ext), ref.hash_rows(ext))


def test_coset_evaluate_and_evaluate_and_hash_agree(backends, rng):
    ref, dev = backends
    coeffs = rng.integers(0, P, size=(100, 4), dtype=np.uint64)
    assert np.array_equal(dev.coset_evaluate(coeffs, 7, 512), ref.coset_evaluate(coeffs, 7, 512))
    ext = rng.integers(0, P, size=(64, 5, 3), dtype=np.uint64)
    v_ref, d_ref = ref.evaluate_and_hash(ext, 7, 256)
    v_dev, d_dev = dev.evaluate_and_hash(ext, 7, 256)
    assert np.array_equal(v_dev, v_ref) and np.array_equal(d_dev, d_ref)
    assert dev.evaluate_and_hash(ext, 7, 256, keep_values=False)[0] is None
