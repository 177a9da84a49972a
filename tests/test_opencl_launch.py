"""Runtime.launch: on a CPU device a launch goes in pieces of at most CPU_GRID work-items along dimension 0,
each at a non-zero global offset (pocl then compiles one variant of the kernel per work-group size), and every
work-item still runs exactly once."""

from __future__ import annotations

import numpy as np
import pyopencl as cl
import pytest

from tvmpd.opencl import runtime as rtm

_KERNEL = """
__kernel void mark(__global uint *out, const uint width) {
    const uint i = get_global_id(0), j = get_global_id(1);
    out[j * width + i] += 1 + i;
}
"""


@pytest.mark.parametrize("groups, grid, rows",
                         [(1, 256, 1), (2, 256, 1), (37, 256, 3), (37, 64, 2), (8, 512, 1)])
def test_launch_covers_every_item_once(rt, monkeypatch, groups, grid, rows):
    monkeypatch.setattr(rtm, "CPU_GRID", grid)  # small pieces, so that a small launch has many
    local = 16
    width = groups * local
    kernel = cl.Program(rt.context, _KERNEL).build().mark
    out = rt.to_device(np.zeros(width * rows, dtype=np.uint32))
    calls = []
    original = cl.Kernel.__call__

    def counted(self, queue, gsize, lsize, *args, **kw):
        calls.append((gsize, kw.get("global_offset")))
        return original(self, queue, gsize, lsize, *args, **kw)

    monkeypatch.setattr(cl.Kernel, "__call__", counted)
    event = rt.launch(kernel, (width, rows), (local, 1), out, np.uint32(width))
    event.wait()
    got = rt.from_device(out, (rows, width), dtype=np.uint32)
    assert np.array_equal(got, np.tile(1 + np.arange(width, dtype=np.uint32), (rows, 1)))
    if rt.device.type & cl.device_type.CPU:
        # an added third dimension of one work-item at offset 1: no piece is at offset zero
        assert all(g[1:] == (rows, 1) and off[1:] == (0, 1) for g, off in calls)
        assert [off[0] for _, off in calls] == list(range(0, width, max(local, grid // local * local)))
        assert all(g[0] <= max(local, grid) for g, _ in calls)


_KERNEL_3D = """
__kernel void mark3(__global uint *out, const uint width) {
    const uint i = get_global_id(0), j = get_global_id(1), k = get_global_id(2);
    out[(k * 2 + j) * width + i] += 1 + i;
}
"""


def test_three_dimensional_launch_keeps_its_dimensions(rt, monkeypatch):
    """A launch of three dimensions has no spare one: its first work-group goes at offset zero, the rest at
    their offsets, each item once."""
    monkeypatch.setattr(rtm, "CPU_GRID", 64)
    local, width = 16, 16 * 9
    kernel = cl.Program(rt.context, _KERNEL_3D).build().mark3
    out = rt.to_device(np.zeros(width * 6, dtype=np.uint32))
    rt.launch(kernel, (width, 2, 3), (local, 1, 1), out, np.uint32(width)).wait()
    got = rt.from_device(out, (6, width), dtype=np.uint32)
    assert np.array_equal(got, np.tile(1 + np.arange(width, dtype=np.uint32), (6, 1)))
