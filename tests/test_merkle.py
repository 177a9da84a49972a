"""Merkle trees and authentication structures (twenty-first 1.1.0 semantics)."""

from __future__ import annotations

import numpy as np
import pytest

from tvmpd.stages import merkle, tip5

P = tip5.P


def random_leaves(rng, n: int) -> np.ndarray:
    return rng.integers(0, P, size=(n, 5), dtype=np.uint64)


def scalar_hash_pair(left: list[int], right: list[int]) -> list[int]:
    """hash_pair by the pure-Python permutation (the oracle of the compiled one)."""
    return tip5.permutation([*left, *right] + [1] * tip5.CAPACITY)[: tip5.DIGEST_LEN]


def scalar_root(leaves: list[list[int]]) -> list[int]:
    layer = leaves
    while len(layer) > 1:
        layer = [scalar_hash_pair(layer[i], layer[i + 1]) for i in range(0, len(layer), 2)]
    return layer[0]


@pytest.mark.parametrize("chunk", [1, 3, 1 << 14])
def test_build_tree_matches_scalar_hash_pair(monkeypatch, chunk):
    monkeypatch.setattr(merkle, "_CHUNK", chunk)  # levels hashed in one or several calls
    rng = np.random.default_rng(1)
    for n in [1, 2, 4, 8, 64]:
        leaves = random_leaves(rng, n)
        nodes = merkle.build_tree(leaves)
        assert nodes.dtype == np.uint64 and nodes.shape == (2 * n, 5)
        assert nodes[n:].tolist() == leaves.tolist()
        for k in range(1, n):
            assert nodes[k].tolist() == scalar_hash_pair(nodes[2 * k].tolist(), nodes[2 * k + 1].tolist())
        assert merkle.root(nodes) == scalar_root(leaves.tolist())
        assert nodes[0].tolist() == [0] * 5


def test_build_tree_fixed_value():
    # hash_pair of two known digests (a reference vector) is the root of a two-leaf tree
    left = tip5.hash_varlen([])
    right = tip5.hash_varlen([0])
    nodes = merkle.build_tree(np.array([left, right], dtype=np.uint64))
    assert merkle.root(nodes) == [
        9221551174631759109,
        946407449117719750,
        13966394865660276538,
        17102327138085350406,
        10285450212021838042,
    ]


def test_auth_structure_upstream_doc_example():
    assert merkle.auth_structure_node_indices(8, [0, 2]) == [11, 9, 3]
    assert merkle.auth_structure_node_indices(8, [2, 0, 2, 0]) == [11, 9, 3]
    assert merkle.auth_structure_node_indices(8, []) == []
    assert merkle.auth_structure_node_indices(8, list(range(8))) == []
    assert merkle.auth_structure_node_indices(8, [5]) == [12, 7, 2]
    assert merkle.auth_structure_node_indices(1, [0]) == []
    nodes = merkle.build_tree(random_leaves(np.random.default_rng(2), 8))
    assert merkle.auth_structure(nodes, [0, 2]).tolist() == nodes[[11, 9, 3]].tolist()
    assert merkle.auth_structure(nodes, []).shape == (0, 5)


def brute_force_indices(n: int, leaf_indices: list[int]) -> list[int]:
    paths = set()
    for i in leaf_indices:
        k = i + n
        while k > 1:
            paths.add(k)
            k //= 2
    return sorted({k ^ 1 for k in paths} - paths, reverse=True)


@pytest.mark.parametrize("seed", [3, 5])
def test_random_trees_verify_and_tampering_rejected(seed):
    rng = np.random.default_rng(seed)
    for height in [0, 1, 3, 6, 9]:
        n = 1 << height
        leaves = random_leaves(rng, n)
        nodes = merkle.build_tree(leaves)
        r = merkle.root(nodes)
        for _ in range(4):
            idx = rng.integers(0, n, size=int(rng.integers(1, 6))).tolist()  # duplicates likely
            assert merkle.auth_structure_node_indices(n, idx) == brute_force_indices(n, idx)
            auth = merkle.auth_structure(nodes, idx)
            digests = leaves[idx]
            assert merkle.verify(r, height, idx, digests, auth)
            # wrong root
            bad_root = list(r)
            bad_root[0] = (bad_root[0] + 1) % P
            assert not merkle.verify(bad_root, height, idx, digests, auth)
            # tampered leaf digest
            bad = digests.copy()
            bad[0, 4] = (int(bad[0, 4]) + 1) % P
            assert not merkle.verify(r, height, idx, bad, auth)
            if auth.shape[0]:
                # tampered, missing or extra authentication digest
                bad_auth = auth.copy()
                bad_auth[-1, 2] ^= np.uint64(1)
                assert not merkle.verify(r, height, idx, digests, bad_auth)
                assert not merkle.verify(r, height, idx, digests, auth[:-1])
                assert not merkle.verify(r, height, idx, digests, np.concatenate([auth, auth[:1]]))
                # a proof for other leaves does not verify these
                other = [(i + 1) % n for i in idx]
                if sorted(set(other)) != sorted(set(idx)):
                    assert not merkle.verify(r, height, other, digests, auth)
            # wrong tree height
            assert not merkle.verify(r, height + 1, idx, digests, auth)


def test_verify_edge_cases():
    rng = np.random.default_rng(4)
    leaves = random_leaves(rng, 8)
    nodes = merkle.build_tree(leaves)
    r = merkle.root(nodes)
    empty = np.zeros((0, 5), dtype=np.uint64)
    # trivial proof: no leaves, no structure (upstream accepts it)
    assert merkle.verify(r, 3, [], empty, empty)
    assert not merkle.verify(r, 3, [], empty, nodes[2:3])
    # repeated index with differing digests
    auth = merkle.auth_structure(nodes, [1, 1])
    assert merkle.verify(r, 3, [1, 1], leaves[[1, 1]], auth)
    bad = leaves[[1, 1]].copy()
    bad[1, 0] = (int(bad[1, 0]) + 1) % P
    assert not merkle.verify(r, 3, [1, 1], bad, auth)
    # index out of range for the height: rejected, as upstream does
    assert not merkle.verify(r, 3, [8], leaves[:1], auth)
    # the full tree needs no structure
    assert merkle.verify(r, 3, list(range(8)), leaves, empty)
    # numpy index arrays are accepted
    idx = np.array([6, 3], dtype=np.int64)
    assert merkle.verify(r, 3, idx, leaves[idx], merkle.auth_structure(nodes, idx))


@pytest.mark.parametrize(
    "call",
    [
        lambda: merkle.build_tree(np.zeros((3, 5), dtype=np.uint64)),
        lambda: merkle.build_tree(np.zeros((0, 5), dtype=np.uint64)),
        lambda: merkle.build_tree(np.zeros((4, 4), dtype=np.uint64)),
        lambda: merkle.build_tree(np.zeros((4, 5), dtype=np.int64)),
        lambda: merkle.build_tree(np.full((4, 5), P, dtype=np.uint64)),
        lambda: merkle.build_tree([[0] * 5] * 4),
        lambda: merkle.root(np.zeros((6, 5), dtype=np.uint64)),
        lambda: merkle.auth_structure(np.zeros((16, 5), dtype=np.uint64), [8]),
        lambda: merkle.auth_structure(np.zeros((16, 5), dtype=np.uint64), [-1]),
        lambda: merkle.auth_structure(np.zeros((16, 5), dtype=np.uint64), [1.0]),
        lambda: merkle.auth_structure_node_indices(6, [0]),
        lambda: merkle.auth_structure_node_indices(0, []),
        lambda: merkle.verify([0] * 4, 3, [], np.zeros((0, 5), np.uint64), np.zeros((0, 5), np.uint64)),
        lambda: merkle.verify([P] * 5, 3, [], np.zeros((0, 5), np.uint64), np.zeros((0, 5), np.uint64)),
        lambda: merkle.verify([0] * 5, -1, [], np.zeros((0, 5), np.uint64), np.zeros((0, 5), np.uint64)),
        lambda: merkle.verify([0] * 5, 64, [], np.zeros((0, 5), np.uint64), np.zeros((0, 5), np.uint64)),
        lambda: merkle.verify([0] * 5, 3, [0, 1], np.zeros((1, 5), np.uint64), np.zeros((0, 5), np.uint64)),
        lambda: merkle.verify([0] * 5, 3, [0], np.zeros((1, 5), np.int64), np.zeros((0, 5), np.uint64)),
    ],
)
def test_bad_input_raises(call):
    with pytest.raises(ValueError):
        call()
