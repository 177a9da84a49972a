"""opencl/commit.py: fused coset evaluation + row hashing against stages/ntt.py and stages/tip5.py, on every
OpenCL CPU implementation present (the `device` fixture of conftest)."""

from __future__ import annotations

import numpy as np
import pytest

from tvmpd.opencl import commit
from tvmpd.stages import ntt as np_ntt
from tvmpd.stages import tip5 as np_tip5

P = np_tip5.P


@pytest.fixture(scope="module")
def rng():
    return np.random.default_rng()


@pytest.mark.parametrize("length, n, cols, batch", [(1, 1, 1, None), (8, 64, 3, None), (30, 128, 379, 40),
                                                    (64, 64, 25, 10), (16, 256, 10, 10)])
def test_evaluate_and_hash_matches_numpy(device, rng, length, n, cols, batch):
    coeffs = rng.integers(0, P, size=(length, cols), dtype=np.uint64)
    offset = int(rng.integers(1, P, dtype=np.uint64))
    values, digests = commit.evaluate_and_hash(coeffs, offset, n, batch_cols=batch, device_key=device)
    expected = np_ntt.coset_evaluate(coeffs, offset, n)
    assert np.array_equal(values, expected)
    assert np.array_equal(digests, np_tip5.hash_rows(expected))


def test_evaluate_and_hash_extension_without_values(device, rng):
    coeffs = rng.integers(0, P, size=(32, 13, 3), dtype=np.uint64)
    values, digests = commit.evaluate_and_hash(coeffs, 7, 128, keep_values=False, batch_cols=20,
                                               device_key=device)
    assert values is None
    expected = np_ntt.coset_evaluate(coeffs, 7, 128).reshape(128, 39)
    assert np.array_equal(digests, np_tip5.hash_rows(expected))


def test_evaluate_and_hash_bad_input():
    with pytest.raises(ValueError):
        commit.evaluate_and_hash(np.zeros((4, 2), dtype=np.uint64), 0, 8)
    with pytest.raises(ValueError):
        commit.evaluate_and_hash(np.zeros((16, 2), dtype=np.uint64), 7, 8)
    with pytest.raises(ValueError):
        commit.evaluate_and_hash(np.zeros((4, 30), dtype=np.uint64), 7, 8, batch_cols=15)
