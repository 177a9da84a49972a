"""Host side of the Merkle kernels in opencl/tip5.cl: build a tree over leaf digests level by level.

Node array (2n, 5) row-major as stages/merkle.py: root = node 1, children of k are 2k and 2k+1, leaf i
is node n + i; node 0 is unused and left zero.
"""

from __future__ import annotations

import numpy as np
import pyopencl as cl

from tvmpd.opencl.runtime import Runtime, get_runtime
from tvmpd.opencl.tip5 import LOCAL_SIZE, P, hash_rows_device


def levels_device(rt: Runtime, nodes, n_leaves: int) -> None:
    """Fill the internal nodes 1 .. n-1 of a device node array whose leaves (nodes n .. 2n-1) are set."""
    kern = rt.kernel("tip5", "merkle_level_kernel")
    first = n_leaves // 2
    while first >= 1:
        lsize = rt.group_size(kern, LOCAL_SIZE)
        gsize = -(-first // lsize) * lsize
        rt.launch(kern, (gsize,), (lsize,), nodes, np.uint32(first))
        first //= 2


def _check_leaf_count(n: int) -> None:
    if n < 1 or n & (n - 1):
        raise ValueError(f"number of leaves must be a power of two, got {n}")


def new_nodes(rt: Runtime, n_leaves: int) -> cl.Buffer:
    """A zeroed device node array for n_leaves leaves."""
    nodes = rt.empty(2 * n_leaves * 40)
    cl.enqueue_fill_buffer(rt.queue, nodes, np.uint64(0), 0, 2 * n_leaves * 40)
    return nodes


def commit_rows_device(rt: Runtime, data, n: int, width: int) -> cl.Buffer:
    """Hash the rows of a column-major (width x n) table into leaves and build the tree; returns the nodes."""
    _check_leaf_count(n)
    nodes = new_nodes(rt, n)
    hash_rows_device(rt, data, n, width, nodes, out_offset=n)
    levels_device(rt, nodes, n)
    return nodes


def build_tree(leaves: np.ndarray, device_key: str | None = None,
               limit_bytes: int | None = None) -> np.ndarray:
    """Merkle tree over (n, 5) leaf digests -> (2n, 5) nodes (node 0 zero).

    A node array larger than one device buffer (limit_bytes, default the device's allocation limit) is
    built as subtrees over chunks of leaves, then one small tree over the subtree roots.
    """
    if not isinstance(leaves, np.ndarray) or leaves.dtype != np.uint64:
        raise ValueError("leaves must be a numpy uint64 array")
    if leaves.ndim != 2 or leaves.shape[1] != 5:
        raise ValueError(f"leaves must have shape (n, 5), got {leaves.shape}")
    if leaves.size and int(leaves.max()) >= P:
        raise ValueError("leaves hold values >= p")
    n = leaves.shape[0]
    _check_leaf_count(n)
    rt = get_runtime(device_key)
    limit = limit_bytes or int(rt.device.max_mem_alloc_size)
    if 80 * n <= limit or n <= 2:
        nodes = new_nodes(rt, n)
        cl.enqueue_copy(rt.queue, nodes, np.ascontiguousarray(leaves), dst_offset=n * 40)
        levels_device(rt, nodes, n)
        return rt.from_device(nodes, (2 * n, 5))
    m = min(n // 2, 1 << max(1, (limit // 80).bit_length() - 1))  # leaves per subtree: power of two in [2, n)
    out = np.zeros((2 * n, 5), dtype=np.uint64)
    top = n // m  # subtree c's root is node top + c; its level-d nodes start at (top + c) * 2^d
    for c in range(top):
        sub = build_tree(leaves[c * m : (c + 1) * m], device_key, limit_bytes)
        width = 1
        while width <= m:
            out[(top + c) * width : (top + c + 1) * width] = sub[width : 2 * width]
            width *= 2
    out[1 : 2 * top] = build_tree(out[top : 2 * top], device_key, limit_bytes)[1:]
    return out
