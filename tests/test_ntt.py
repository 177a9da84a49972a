"""NTTs: agreement with naive evaluation, round trips, coset LDE, evaluate_at, domain conventions."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import load_json
from tvmpd.stages import field as F
from tvmpd.stages import ntt as N
from tvmpd.stages import xfield as X

P = F.P
RNG = np.random.default_rng(2024)


def rand(*shape: int) -> np.ndarray:
    return RNG.integers(0, P, shape, dtype=np.uint64)


def naive_eval(coeffs: np.ndarray, points: list[int]) -> list:
    """Python-int evaluation of every column (coefficients along axis 0) at every point."""
    c = coeffs.reshape(coeffs.shape[0], -1).astype(object)
    out = []
    for z in points:
        pw = [pow(z, j, P) for j in range(c.shape[0])]
        out.append([sum(int(c[j, k]) * pw[j] for j in range(c.shape[0])) % P for k in range(c.shape[1])])
    return out


def coset(n: int, offset: int) -> list[int]:
    w = F.primitive_root(n)
    return [offset * pow(w, i, P) % P for i in range(n)]


def as_rows(a: np.ndarray) -> list:
    return a.reshape(a.shape[0], -1).astype(object).tolist()


@pytest.mark.parametrize("n", [1, 2, 4, 8, 16, 32])
@pytest.mark.parametrize("shape", [(), (1,), (3,), (2, 3)])
def test_ntt_matches_naive(n, shape):
    c = rand(n, *shape)
    got = N.ntt(c)
    assert got.shape == c.shape and got.dtype == np.uint64
    assert as_rows(got) == naive_eval(c, coset(n, 1))
    assert (N.intt(got) == c).all()
    assert (N.ntt(N.intt(c)) == c).all()


def test_ntt_definition_on_edge_values():
    c = np.array([P - 1, 0, 2**32, 2**63, 1, P - 2, 2**32 - 1, 0], dtype=np.uint64)
    w = F.primitive_root(8)
    expect = [sum(int(c[j]) * pow(w, i * j, P) for j in range(8)) % P for i in range(8)]
    assert N.ntt(c).astype(object).tolist() == expect


@pytest.mark.parametrize("n", [1, 2, 8, 32])
@pytest.mark.parametrize("k", [1, 3, 8, 33, 70])
def test_coset_evaluate_matches_naive(n, k):
    c = rand(k, 3)
    got = N.coset_evaluate(c, 7, n)
    assert got.shape == (n, 3)
    assert as_rows(got) == naive_eval(c, coset(n, 7))


@pytest.mark.parametrize("n", [1, 2, 16, 64])
def test_coset_round_trip(n):
    c = rand(n, 5)
    for offset in [1, 7, P - 1, 2**32]:
        v = N.coset_evaluate(c, offset, n)
        assert (N.interpolate_coset(v, offset) == c).all()
    e = rand(n, 2, 3)
    assert (N.interpolate_coset(N.coset_evaluate(e, 7, n), 7) == e).all()


@pytest.mark.parametrize("n_in,n_out", [(1, 1), (1, 4), (2, 8), (8, 8), (8, 32), (16, 64), (32, 16)])
def test_lde_matches_direct_evaluation(n_in, n_out):
    coeffs = rand(n_in, 3)
    values = N.coset_evaluate(coeffs, 1, n_in)  # codeword on the trace-like domain
    got = N.lde(values, 1, 7, n_out)
    assert got.shape == (n_out, 3)
    if n_out >= n_in:
        assert as_rows(got) == naive_eval(coeffs, coset(n_out, 7))
    else:  # upstream semantics: the interpolant is folded onto the shorter domain
        assert (got == N.coset_evaluate(coeffs, 7, n_out)).all()
    shifted = N.coset_evaluate(coeffs, 5, n_in)
    assert (N.lde(shifted, 5, 7, n_out) == got).all()


def test_lde_extension_and_1d():
    ext = rand(16, 3, 3)
    got = N.lde(ext, 1, 7, 64)
    assert got.shape == (64, 3, 3)
    coeffs = N.intt(ext)
    assert as_rows(got) == naive_eval(coeffs, coset(64, 7))
    one = rand(8)
    assert N.lde(one, 1, 7, 32).shape == (32,)
    assert (N.lde(one, 1, 7, 32) == N.lde(one[:, None], 1, 7, 32)[:, 0]).all()


def test_larger_round_trip_and_spot_values():
    n = 1024
    c = rand(n, 5)
    v = N.coset_evaluate(c, 7, 4 * n)
    assert (N.interpolate_coset(v, 7)[:n] == c).all()
    assert (N.interpolate_coset(v, 7)[n:] == 0).all()
    pts = F.to_array(coset(4 * n, 7))
    for i in [0, 1, 2047, 4095]:
        assert (N.evaluate_at(c, int(pts[i])) == v[i]).all()
    assert (N.domain_values(4 * n, 7) == pts).all()


def horner(coeffs: list[int], x: list[int]) -> list[int]:
    acc = [0, 0, 0]
    for c in reversed(coeffs):
        acc = [int(v) for v in X.mul(np.array(acc, dtype=np.uint64), np.array(x, dtype=np.uint64))]
        acc[0] = (acc[0] + c) % P
    return acc


def test_evaluate_at_base_point():
    c = rand(9, 4)
    got = N.evaluate_at(c, 12345)
    assert got.shape == (4,)
    assert got.astype(object).tolist() == naive_eval(c, [12345])[0]
    assert N.evaluate_at(c[:, 0], 3).shape == ()
    assert int(N.evaluate_at(c[:, 0], 3)) == naive_eval(c[:, :1], [3])[0][0]
    e = rand(9, 2, 3)
    assert N.evaluate_at(e, 3).shape == (2, 3)
    assert N.evaluate_at(e, 3).astype(object).tolist() == [naive_eval(e[:, j], [3])[0] for j in range(2)]


def test_evaluate_at_extension_point(monkeypatch):
    z = [5, P - 2, 2**40]
    c = rand(11, 3)
    got = N.evaluate_at(c, np.array(z, dtype=np.uint64))
    assert got.shape == (3, 3)
    expect = [horner([int(v) for v in c[:, k]], z) for k in range(3)]
    assert got.astype(object).tolist() == expect
    # extension coefficients: (n, cols, 3), and a single (n, 3) polynomial with extension=True
    e = rand(11, 2, 3)
    ge = N.evaluate_at(e, z)
    assert ge.shape == (2, 3)
    for k in range(2):
        parts = [N.evaluate_at(e[:, k, i], z) for i in range(3)]
        t = np.array([0, 1, 0], dtype=np.uint64)
        expect_k = X.add(X.add(parts[0], X.mul(parts[1], t)), X.mul(parts[2], X.mul(t, t)))
        assert (ge[k] == expect_k).all()
    assert (N.evaluate_at(e[:, 1], z, extension=True) == ge[1]).all()
    # small blocks exercise the accumulation loop
    monkeypatch.setattr(N, "_BLOCK_ELEMS", 4)
    assert (N.evaluate_at(e, z) == ge).all()
    assert (N.evaluate_at(c, np.array(z, dtype=np.uint64)) == got).all()
    assert (N.evaluate_at(c, 99) == F.to_array(naive_eval(c, [99])[0])).all()


def test_domains_match_reference_params():
    for d in load_json("params.json")["per_padded_height"]:
        for name in ["trace_domain", "randomized_trace_domain", "quotient_domain", "fri_domain"]:
            dom = d[name]
            assert F.primitive_root(dom["length"]) == dom["generator"]
            vals = N.domain_values(dom["length"], dom["offset"])
            assert int(vals[1]) == dom["offset"] * dom["generator"] % P
            assert int(vals[0]) == dom["offset"]


def test_bad_input():
    for bad_len in [3, 6, 12]:
        with pytest.raises(ValueError):
            N.ntt(rand(bad_len, 2))
        with pytest.raises(ValueError):
            N.intt(rand(bad_len))
        with pytest.raises(ValueError):
            N.lde(rand(bad_len, 2), 1, 7, 16)
    with pytest.raises(ValueError):
        N.ntt(np.zeros((0, 2), dtype=np.uint64))
    with pytest.raises(ValueError):
        N.ntt(np.uint64(5))
    with pytest.raises(ValueError):
        N.ntt(np.ones(4, dtype=np.float64))
    with pytest.raises(ValueError):
        N.ntt([1, 2, P, 3])
    with pytest.raises(ValueError):
        N.coset_evaluate(rand(4), 7, 12)
    with pytest.raises(ValueError):
        N.coset_evaluate(rand(4), P, 8)
    with pytest.raises(ValueError):
        N.interpolate_coset(rand(4), 0)
    with pytest.raises(ValueError):
        N.lde(rand(4), 0, 7, 16)
    with pytest.raises(ValueError):
        N.evaluate_at(rand(4, 2), [1, 2])
    with pytest.raises(ValueError):
        N.evaluate_at(rand(4, 2), 1.5)
    with pytest.raises(ValueError):
        N.evaluate_at(rand(4, 2), [1, 2, 3], extension=True)
    assert (N.ntt([1, 2, 3, 4]) == N.ntt(np.array([1, 2, 3, 4], dtype=np.uint64))).all()


@pytest.mark.parametrize("chunk", [4, 16, 64])
def test_sliced_butterflies(monkeypatch, chunk):
    # tiny slices force every slicing branch of the butterfly passes (and of the field kernels)
    monkeypatch.setattr(F, "_CHUNK", chunk)
    for n, k in [(32, 3), (16, 1), (64, 7)]:
        c = rand(n, k)
        got = N.ntt(c)
        assert as_rows(got) == naive_eval(c, coset(n, 1))
        assert (N.intt(got) == c).all()
        assert (N.lde(got, 1, 7, 2 * n) == N.coset_evaluate(c, 7, 2 * n)).all()


def test_bigger_transform_spot_checks():
    c = rand(4096, 8)
    v = N.ntt(c)
    pts = N.domain_values(4096)
    for i in [0, 1, 777, 4095]:
        assert (N.evaluate_at(c, int(pts[i])) == v[i]).all()
    assert (N.intt(v) == c).all()


def test_zero_columns_and_empty_polynomials():
    z = np.zeros((8, 0, 3), dtype=np.uint64)
    assert N.ntt(z).shape == (8, 0, 3) and N.intt(z).shape == (8, 0, 3)
    assert N.lde(z, 1, 7, 32).shape == (32, 0, 3)
    assert N.evaluate_at(z, [1, 2, 3]).shape == (0, 3)
    assert N.evaluate_at(np.zeros((0, 2), dtype=np.uint64), 5).tolist() == [0, 0]
    assert N.evaluate_at(np.zeros((0, 2), dtype=np.uint64), [1, 2, 3]).tolist() == [[0, 0, 0]] * 2
