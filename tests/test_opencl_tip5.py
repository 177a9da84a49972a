"""OpenCL Tip5 permutation, row hashing and Merkle tree against the vectors and stages/tip5.py, on every
OpenCL CPU implementation present (the `device` fixture of conftest)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import load_json, random_field
from tvmpd.opencl import merkle as cl_merkle
from tvmpd.opencl import tip5 as cl_tip5
from tvmpd.opencl.runtime import KERNEL_DIR, PROGRAMS, get_runtime
from tvmpd.stages import tip5 as np_tip5

P = np_tip5.P


@pytest.fixture(scope="module")
def rng():
    return np.random.default_rng()


@pytest.fixture(params=["cpu", "gpu"])
def row_kernel(request, monkeypatch):
    """Row hashing through the kernel a CPU runs (tip5_cpu.cl, rows in SIMD lanes) and, forced, through the
    one a GPU runs (tip5.cl, a row per work-item): both must give the reference's digests."""
    monkeypatch.setattr(cl_tip5, "cpu_shaped", lambda rt: request.param == "cpu")
    return request.param


# A kernel applying only tip5_mds, built beside the tip5 program's sources: the layer alone on any state.
_MDS_KERNEL = """
__kernel void mds_only_kernel(__global ulong *states, const uint n) {
    uint g = get_global_id(0);
    if (g >= n) return;
    ulong s[16];
    for (int i = 0; i < 16; i++) s[i] = states[16 * (ulong)g + i];
    tip5_mds(s);
    for (int i = 0; i < 16; i++) states[16 * (ulong)g + i] = s[i];
}
"""

# Lane values at the edges of the MDS's bounds: halves of all ones (0xFFFFFFFF_FFFFFFFF is not canonical,
# but tip5_mds is exact for any 64-bit word), p - 1 (high half all ones), and their neighbours.
_MDS_EDGES = [0, 1, 2**32 - 1, 2**32, P - 1, P - 2, 2**64 - 1, 2**64 - 2**32 - 1, 2**63]


def _mds_reference(state: list[int]) -> list[int]:
    """The circulant matrix product mod p in Python ints, straight from the first column."""
    col = np_tip5.MDS_FIRST_COLUMN
    return [sum(col[(i - j) % 16] * state[j] for j in range(16)) % P for i in range(16)]


def _mds_device(device: str, states: np.ndarray) -> np.ndarray:
    rt = get_runtime(device)
    source = "\n".join((KERNEL_DIR / f).read_text() for f in PROGRAMS["tip5"]) + _MDS_KERNEL
    kern = rt.program_from_source("tip5-mds-only", source).mds_only_kernel
    buf = rt.to_device(states)
    kern(rt.queue, (states.shape[0],), None, buf, np.uint32(states.shape[0]))
    return rt.from_device(buf, states.shape)


def _digest(d):
    return d["values"] if isinstance(d, dict) else d



def test_permutation_known_answers(vectors, device):
    cases = load_json("tip5.json")["random"]["permutation"]
    states = np.array([c["input"] for c in cases], dtype=np.uint64)
    expected = np.array([c["output"] for c in cases], dtype=np.uint64)
    assert np.array_equal(cl_tip5.permute_batch(states, device), expected)


def test_permutation_matches_numpy(device, rng):
    states = random_field(rng, (1000, 16))
    edges = np.array([0, 1, P - 1, 2**32 - 1, P - 2**32], dtype=np.uint64)
    states[:5] = edges[:, None]  # edge words in every lane
    assert np.array_equal(cl_tip5.permute_batch(states, device), np_tip5.permute_batch(states))


def test_mds_extreme_states(device):
    """Every lane at one edge value, and alternating pairs of edge values, against the plain product."""
    states = [[e] * 16 for e in _MDS_EDGES]
    states += [[a if j % 2 else b for j in range(16)] for a in _MDS_EDGES for b in _MDS_EDGES]
    states += [[_MDS_EDGES[(j + k) % len(_MDS_EDGES)] for j in range(16)] for k in range(len(_MDS_EDGES))]
    got = _mds_device(device, np.array(states, dtype=np.uint64))
    assert got.tolist() == [_mds_reference(s) for s in states]


_mds_lane = st.one_of(st.integers(0, 2**64 - 1), st.integers(0, P - 1), st.sampled_from(_MDS_EDGES),
                      st.integers(2**64 - 2**33, 2**64 - 1), st.integers(P - 2**33, P - 1))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(_mds_lane, min_size=16, max_size=16), min_size=1, max_size=8))
def test_mds_matches_the_plain_matrix_product(device, states):
    got = _mds_device(device, np.array(states, dtype=np.uint64))
    assert got.tolist() == [_mds_reference(s) for s in states]


def test_hash_rows_known_answers(vectors, device):
    data = load_json("tip5.json")
    for case in data["random"]["hash_varlen"] + data["fixed"]["hash_varlen"]:
        row = np.array(case["input"], dtype=np.uint64).reshape(1, -1)
        assert cl_tip5.hash_rows(row, device)[0].tolist() == _digest(case["digest"])


@pytest.mark.parametrize("n, width", [(1, 0), (1, 1), (3, 9), (17, 10), (64, 12), (33, 273), (257, 379)])
def test_hash_rows_matches_numpy(device, rng, row_kernel, n, width):
    rows = random_field(rng, (n, width))
    assert np.array_equal(cl_tip5.hash_rows(rows, device), np_tip5.hash_rows(rows))


def test_hash_rows_extension_rows_are_flattened(device, rng):
    rows = random_field(rng, (20, 91, 3))
    assert np.array_equal(cl_tip5.hash_rows(rows, device), np_tip5.hash_rows(rows.reshape(20, 273)))


@pytest.mark.parametrize("n", [100, 101, 3])
def test_hash_rows_in_column_batches(device, rng, row_kernel, n):
    """Feeding a 379-wide table as batches of 10k columns gives the same digests as one pass (row counts
    that fill the CPU kernel's last work-item partly included)."""
    width = 379
    rows = random_field(rng, (n, width))
    rt = get_runtime(device)
    states = rt.empty(n * 16 * 8)
    out = rt.empty(n * 5 * 8)
    bounds = [0, 40, 200, 370, width]
    for i in range(len(bounds) - 1):
        c0, c1 = bounds[i], bounds[i + 1]
        data = rt.to_device(np.ascontiguousarray(rows[:, c0:c1].T))
        cl_tip5.absorb_rows_device(rt, data, n, c1 - c0, n, states, i == 0, c1 == width, out)
    assert np.array_equal(rt.from_device(out, (n, 5)), np_tip5.hash_rows(rows))


def test_hash_pair_known_answers(vectors, device):
    data = load_json("tip5.json")
    for case in data["random"]["hash_pair"] + data["fixed"]["hash_pair"]:
        leaves = np.array([_digest(case["left"]), _digest(case["right"])], dtype=np.uint64)
        assert cl_merkle.build_tree(leaves, device)[1].tolist() == _digest(case["digest"])


@pytest.mark.parametrize("n", [1, 2, 8, 1024])
def test_merkle_tree_matches_numpy(device, rng, n):
    leaves = random_field(rng, (n, 5))
    nodes = cl_merkle.build_tree(leaves, device)
    expected = np.zeros((2 * n, 5), dtype=np.uint64)
    expected[n:] = leaves
    k = n // 2
    while k >= 1:
        expected[k : 2 * k] = np_tip5.hash_pairs(expected[2 * k : 4 * k : 2], expected[2 * k + 1 : 4 * k : 2])
        k //= 2
    assert np.array_equal(nodes, expected)


def test_commit_rows_device(device, rng):
    n, width = 64, 23
    rows = random_field(rng, (n, width))
    rt = get_runtime(device)
    nodes = cl_merkle.commit_rows_device(rt, rt.to_device(np.ascontiguousarray(rows.T)), n, width)
    got = rt.from_device(nodes, (2 * n, 5))
    assert np.array_equal(got, cl_merkle.build_tree(np_tip5.hash_rows(rows), device))


def test_bad_input_raises():
    with pytest.raises(ValueError):
        cl_tip5.permute_batch(np.zeros((2, 15), dtype=np.uint64))
    with pytest.raises(ValueError):
        cl_tip5.hash_rows(np.full((2, 3), P, dtype=np.uint64))
    with pytest.raises(ValueError):
        cl_tip5.hash_rows(np.zeros((2, 3), dtype=np.float64))
    with pytest.raises(ValueError):
        cl_merkle.build_tree(np.zeros((3, 5), dtype=np.uint64))
    with pytest.raises(ValueError):
        cl_merkle.build_tree(np.zeros((4, 4), dtype=np.uint64))


@pytest.mark.parametrize("n, width, limit", [(100, 379, 8 * 379 * 100), (100, 379, 40_000), (37, 25, 2_000),
                                             (5, 0, 64)])
def test_hash_rows_in_chunks_when_over_the_buffer_limit(device, rng, n, width, limit):
    rows = random_field(rng, (n, width))
    assert np.array_equal(cl_tip5.hash_rows(rows, device, limit_bytes=limit), np_tip5.hash_rows(rows))


@pytest.mark.parametrize("n, limit", [(64, 80 * 16), (256, 80 * 8), (8, 80)])
def test_merkle_tree_in_subtrees_when_over_the_buffer_limit(device, rng, n, limit):
    leaves = random_field(rng, (n, 5))
    got = cl_merkle.build_tree(leaves, device, limit_bytes=limit)
    assert np.array_equal(got, cl_merkle.build_tree(leaves, device))


def test_hash_rows_edge_values(device, row_kernel):
    """Rows of field elements at the edges of the reductions (0, 1, p - 1, 2^32 - 1, 2^32, p - 2^32) in every
    position and combination of neighbours, against stages/tip5.py."""
    edges = [0, 1, P - 1, P - 2, 2**32 - 1, 2**32, P - 2**32, 2**63]
    rows = np.array([[edges[(i * j + j) % len(edges)] for j in range(23)] for i in range(37)],
                    dtype=np.uint64)
    assert np.array_equal(cl_tip5.hash_rows(rows, device), np_tip5.hash_rows(rows))
