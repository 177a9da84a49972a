"""Runtime.launch: on a CPU device a launch goes in pieces along dimension 0 (the first one work-group, the
others at most CPU_GRID work-items at a global offset), and every work-item still runs exactly once."""

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
        assert calls[0] == ((local, rows), None)  # one work-group at offset zero first
        assert all(g[0] <= max(local, grid) and off is not None for g, off in calls[1:])
        assert len(calls) == 1 + -(-(width - local) // grid)
