"""Tip5 Merkle trees as twenty-first 1.1.0 builds them, with its authentication structures.

Nodes are stored in one (2n, 5) uint64 array: root = node 1, children of k are 2k and 2k+1, leaf i is
node n + i, node 0 is unused (zeros).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tvmpd.stages import tip5

DIGEST_LEN = tip5.DIGEST_LEN
MAX_TREE_HEIGHT = 63  # upstream computes 1 << height in a usize
_CHUNK = 1 << 14  # parents hashed per call of the compiled permutation (bounds the scratch states)


def _digests(a: np.ndarray, name: str) -> np.ndarray:
    """Check an (m, 5) uint64 array of canonical digests."""
    if not isinstance(a, np.ndarray) or a.dtype != np.uint64 or a.ndim != 2 or a.shape[1] != DIGEST_LEN:
        got = f"{a.dtype} array of shape {a.shape}" if isinstance(a, np.ndarray) else type(a).__name__
        raise ValueError(f"{name}: expected an (m, 5) uint64 array, got {got}")
    if a.size and bool((a >= np.uint64(tip5.P)).any()):
        raise ValueError(f"{name}: values must be canonical field elements (< p)")
    return a


def _is_power_of_two(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


def _indices(leaf_indices: Sequence[int], name: str = "leaf_indices") -> list[int]:
    """Leaf indices as a list of non-negative Python ints (range is checked by the caller)."""
    if isinstance(leaf_indices, np.ndarray):
        if leaf_indices.ndim != 1 or leaf_indices.dtype.kind not in "ui":
            raise ValueError(f"{name}: expected a 1-d integer array, got {leaf_indices.dtype}")
        leaf_indices = leaf_indices.tolist()
    try:
        items = list(leaf_indices)
    except TypeError as exc:
        raise ValueError(f"{name}: expected a sequence of integers") from exc
    for i in items:
        if isinstance(i, (bool, np.bool_)) or not isinstance(i, (int, np.integer)) or i < 0:
            raise ValueError(f"{name}: {i!r} is not a non-negative integer")
    return [int(i) for i in items]


def build_tree(leaves: np.ndarray) -> np.ndarray:
    """All nodes of the tree over (n, 5) leaf digests (n a power of two), shape (2n, 5) uint64."""
    leaves = _digests(leaves, "leaves")
    n = leaves.shape[0]
    if not _is_power_of_two(n):
        raise ValueError(f"number of leaves must be a power of two, got {n}")
    nodes = np.zeros((2 * n, DIGEST_LEN), dtype=np.uint64)
    nodes[n:] = leaves
    k = n // 2
    while k >= 1:  # parents k..2k-1 from children 2k..4k-1, whose pairs lie side by side
        for start in range(k, 2 * k, _CHUNK):
            end = min(start + _CHUNK, 2 * k)
            nodes[start:end] = _hash_children(nodes[2 * start : 2 * end].reshape(-1, tip5.RATE))
        k //= 2
    return nodes


def _hash_children(pairs: np.ndarray) -> np.ndarray:
    """Parent digests (m, 5) of (m, 10) rows left child ‖ right child, by the compiled permutation."""
    states = np.ones((len(pairs), tip5.STATE_SIZE), dtype=np.uint64)
    states[:, : tip5.RATE] = pairs
    tip5.permute_states(states)
    return states[:, :DIGEST_LEN]


def _num_leaves(nodes: np.ndarray) -> int:
    nodes = _digests(nodes, "nodes")
    if nodes.shape[0] < 2 or not _is_power_of_two(nodes.shape[0]):
        raise ValueError(f"nodes: expected 2n rows for n a power of two, got {nodes.shape[0]}")
    return nodes.shape[0] // 2


def root(nodes: np.ndarray) -> list[int]:
    """The root digest (node 1) of a tree made by build_tree."""
    _num_leaves(nodes)
    return [int(x) for x in nodes[1]]


def auth_structure_node_indices(num_leaves: int, leaf_indices: Sequence[int]) -> list[int]:
    """Node indices whose digests prove the given leaves: siblings on the leaf-to-root paths that are
    not themselves on a path, descending, without duplicates (duplicate leaf indices are fine)."""
    if isinstance(num_leaves, (bool, np.bool_)) or not isinstance(num_leaves, (int, np.integer)):
        raise ValueError(f"num_leaves must be an int, got {num_leaves!r}")
    num_leaves = int(num_leaves)
    if not _is_power_of_two(num_leaves):
        raise ValueError(f"number of leaves must be a power of two, got {num_leaves}")
    needed: set[int] = set()
    computable: set[int] = set()
    for leaf in _indices(leaf_indices):
        if leaf >= num_leaves:
            raise ValueError(f"leaf index {leaf} out of range for {num_leaves} leaves")
        node = leaf + num_leaves
        while node > 1 and node not in computable:
            computable.add(node)
            needed.add(node ^ 1)
            node >>= 1
    return sorted(needed - computable, reverse=True)


def auth_structure(nodes: np.ndarray, leaf_indices: Sequence[int]) -> np.ndarray:
    """Authentication structure for the leaves, (m, 5) uint64, in the reference's order."""
    n = _num_leaves(nodes)
    idx = auth_structure_node_indices(n, leaf_indices)
    return nodes[np.array(idx, dtype=np.int64)].reshape(len(idx), DIGEST_LEN)


def verify(
    root: Sequence[int],
    tree_height: int,
    leaf_indices: Sequence[int],
    leaf_digests: np.ndarray,
    auth_structure: np.ndarray,
) -> bool:
    """Check an inclusion proof like upstream `MerkleTreeInclusionProof::verify`.

    False for anything upstream rejects (index out of range, wrong structure length, differing digests
    for a repeated index, wrong root); no leaves and an empty structure verify trivially. Malformed
    arguments (types, shapes, non-canonical values) raise ValueError."""
    want_root = tip5._elements(root, "root", DIGEST_LEN)
    if isinstance(tree_height, (bool, np.bool_)) or not isinstance(tree_height, (int, np.integer)):
        raise ValueError(f"tree_height must be an int, got {tree_height!r}")
    if not 0 <= tree_height <= MAX_TREE_HEIGHT:
        raise ValueError(f"tree_height must be in 0..{MAX_TREE_HEIGHT}, got {tree_height}")
    indices = _indices(leaf_indices)
    leaf_digests = _digests(leaf_digests, "leaf_digests")
    auth = _digests(auth_structure, "auth_structure")
    if len(indices) != leaf_digests.shape[0]:
        raise ValueError(f"{len(indices)} leaf indices but {leaf_digests.shape[0]} leaf digests")

    if not indices:
        return auth.shape[0] == 0  # upstream: no leaves and an empty structure verify trivially
    num_leaves = 1 << int(tree_height)
    if any(i >= num_leaves for i in indices):
        return False

    # Walk up level by level with the known nodes of the level sorted; the structure holds, deepest level
    # first and descending within a level, the siblings that are not themselves known.
    nodes = np.array(indices, dtype=np.uint64) + np.uint64(num_leaves)
    order = np.argsort(nodes, kind="stable")
    nodes, digests = nodes[order], leaf_digests[order]
    first = np.ones(len(nodes), dtype=bool)
    first[1:] = nodes[1:] != nodes[:-1]
    firsts = np.flatnonzero(first)
    if not np.array_equal(digests, digests[firsts[np.cumsum(first) - 1]]):
        return False  # one leaf index with two different digests
    nodes, digests = nodes[first], digests[first]
    used = 0
    for _ in range(tree_height):
        siblings = nodes ^ np.uint64(1)
        at = np.minimum(np.searchsorted(nodes, siblings), len(nodes) - 1)
        missing = siblings[nodes[at] != siblings]  # ascending, like nodes
        if used + len(missing) > len(auth):
            return False
        level_nodes = np.concatenate([nodes, missing])
        level_digests = np.concatenate([digests, auth[used:used + len(missing)][::-1]])
        used += len(missing)
        order = np.argsort(level_nodes)  # now every node's sibling is there: pairs 2k, 2k + 1 side by side
        digests = _hash_children(level_digests[order].reshape(-1, tip5.RATE))
        nodes = level_nodes[order][0::2] >> np.uint64(1)
    return used == len(auth) and digests[0].tolist() == want_root
