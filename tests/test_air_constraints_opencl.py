"""The generated OpenCL constraint evaluator equals the numpy evaluator on random rows and challenges."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest

from stages import field as F
from stages import xfield as X
from stages.air.constraints import CATEGORIES, lower, lowered_air
from stages.air.evaluate import evaluate_category

cl = pytest.importorskip("pyopencl")
ROOT = Path(__file__).resolve().parents[1]
P = F.P


def _gen_module():
    spec = importlib.util.spec_from_file_location("gen_constraints", ROOT / "tools" / "gen_constraints.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _rand(rng, shape):
    return rng.integers(0, P, size=shape, dtype=np.uint64)


# The full kernel takes pocl minutes to compile the first time (it caches it afterwards), so by default
# the generator is checked on the AIR without the processor and hash tables (same code paths, 1/7 of
# the size) and the committed constraints.cl is checked to be exactly what the generator writes.
FULL = os.environ.get("TVMPD_FULL_OPENCL") == "1"
SMALL_TABLES = ("program", "op_stack", "ram", "jump_stack", "cascade", "lookup", "u32", "cross_table")


def test_committed_kernel_is_generated_from_current_air():
    from stages.air.constraints import source_digest

    gen = _gen_module()
    assert gen.CL_PATH.read_text() == gen.opencl_source(lowered_air(), source_digest())


@pytest.fixture(scope="module")
def compiled():
    air = lowered_air() if FULL else lower(SMALL_TABLES)
    source = _gen_module().opencl_source(air, "test")
    ctx = cl.Context([cl.get_platforms()[0].get_devices()[0]])
    # unoptimised: pocl compile time grows steeply with optimisation on kernels this large
    prog = cl.Program(ctx, source).build(options=["-cl-std=CL1.2", "-cl-opt-disable"])
    return air, ctx, cl.Kernel(prog, "evaluate_constraints")


@pytest.mark.parametrize("layout", ["row", "col"])
def test_opencl_equals_numpy(compiled, layout):
    air, ctx, kernel = compiled
    queue = cl.CommandQueue(ctx)
    rng = np.random.default_rng(7)
    n, step = 16, 3
    main = _rand(rng, (n, 379))
    aux = _rand(rng, (n, 91, 3))
    challenges = _rand(rng, (63, 3))
    counts = air.counts()
    total = sum(counts.values())
    weights = _rand(rng, (total, 3))
    mf = cl.mem_flags
    if layout == "row":
        main_dev, mstr = main, (379, 1)
        aux_dev, astr = aux, (91 * 3, 3)
    else:
        main_dev, mstr = np.ascontiguousarray(main.T), (1, n)
        aux_dev, astr = np.ascontiguousarray(aux.transpose(1, 0, 2)), (3, 3 * n)
    bm = cl.Buffer(ctx, mf.READ_ONLY | mf.COPY_HOST_PTR, hostbuf=main_dev)
    ba = cl.Buffer(ctx, mf.READ_ONLY | mf.COPY_HOST_PTR, hostbuf=aux_dev)
    bc = cl.Buffer(ctx, mf.READ_ONLY | mf.COPY_HOST_PTR, hostbuf=challenges)
    bw = cl.Buffer(ctx, mf.READ_ONLY | mf.COPY_HOST_PTR, hostbuf=weights)
    nxt = np.roll(np.arange(n), -step)
    expected = np.concatenate(
        [
            evaluate_category(c, main, aux, challenges, main[nxt], aux[nxt], air=air)
            if c == "transition"
            else evaluate_category(c, main, aux, challenges, air=air)
            for c in CATEGORIES
        ],
        axis=1,
    )
    for mode in (0, 1):
        out = np.zeros((n, total, 3) if mode == 0 else (n, 4, 3), dtype=np.uint64)
        bo = cl.Buffer(ctx, mf.WRITE_ONLY, out.nbytes)
        kernel(
            queue, (n,), None,
            bm, np.uint64(mstr[0]), np.uint64(mstr[1]),
            ba, np.uint64(astr[0]), np.uint64(astr[1]),
            bc, bw, np.uint32(n), np.uint32(step), np.uint32(mode), bo,
        )  # fmt: skip
        cl.enqueue_copy(queue, out, bo)
        if mode == 0:
            np.testing.assert_array_equal(out, expected)
        else:
            offset = 0
            for i, c in enumerate(CATEGORIES):
                k = counts[c]
                weighted = X.mul(expected[:, offset : offset + k], weights[offset : offset + k])
                np.testing.assert_array_equal(out[:, i], X.reduce_sum(weighted, axis=1))
                offset += k
