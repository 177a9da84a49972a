"""The generated OpenCL constraint evaluators equal the numpy evaluator on random rows and challenges."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest

from stages import field as F
from stages import xfield as X
from stages.air.constraints import CATEGORIES, lower, lowered_air, source_digest
from stages.air.evaluate import evaluate_every_row
from tests.conftest import random_field

cl = pytest.importorskip("pyopencl")
ROOT = Path(__file__).resolve().parents[1]
P = F.P

# The full kernels take pocl minutes to compile the first time (it caches them afterwards), so by default
# the generator is checked on the AIR without the processor and hash tables (same code paths, 1/7 of
# the size), and the committed .cl files are checked to be exactly what the generator writes.
FULL = os.environ.get("TVMPD_FULL_OPENCL") == "1"
SMALL_TABLES = ("program", "op_stack", "ram", "jump_stack", "cascade", "lookup", "u32", "cross_table")


def _gen_module():
    spec = importlib.util.spec_from_file_location("gen_constraints", ROOT / "tools" / "gen_constraints.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod



def test_committed_kernels_are_generated_from_current_air():
    gen = _gen_module()
    air, digest = lowered_air(), source_digest()
    assert gen.CL_PATH.read_text() == gen.opencl_source(air, digest)
    assert gen.CL_CHUNKED_PATH.read_text() == gen.opencl_chunked_source(air, digest)


@pytest.fixture(scope="module")
def compiled(device):
    from opencl.devices import get_cl_device

    gen = _gen_module()
    air = lowered_air() if FULL else lower(SMALL_TABLES)
    ctx = cl.Context([get_cl_device(device)])
    # unoptimised: pocl compile time grows steeply with optimisation on kernels this large
    options = ["-cl-std=CL1.2", "-cl-opt-disable"]
    single = cl.Program(ctx, gen.opencl_source(air, "test")).build(options=options)
    chunked = cl.Program(ctx, gen.opencl_chunked_source(air, "test")).build(options=options)
    return air, ctx, [cl.Kernel(single, "evaluate_constraints")], gen.constraint_kernels(chunked)


def _expected(air, main, aux, challenges, step):
    return np.concatenate(list(evaluate_every_row(main, aux, challenges, step, air).values()), axis=1)


@pytest.mark.parametrize("kind", ["single", "chunked"])
@pytest.mark.parametrize("layout", ["row", "col", "split"])
def test_opencl_equals_numpy(compiled, kind, layout):
    air, ctx, single, chunked = compiled
    if kind == "single" and layout == "split":
        pytest.skip("the single kernel reads interleaved extension coefficients only")
    kernels = single if kind == "single" else chunked
    queue = cl.CommandQueue(ctx)
    rng = np.random.default_rng(7)
    n, step = 16, 3
    main = random_field(rng, (n, 379))
    aux = random_field(rng, (n, 91, 3))
    challenges = random_field(rng, (63, 3))
    counts = air.counts()
    total = sum(counts.values())
    weights = random_field(rng, (total, 3))
    if layout == "row":
        main_dev, mstr = main, (379, 1)
        aux_dev, astr = aux, (91 * 3, 3, 1)
    elif layout == "col":
        main_dev, mstr = np.ascontiguousarray(main.T), (1, n)
        aux_dev, astr = np.ascontiguousarray(aux.transpose(1, 0, 2)), (3, 3 * n, 1)
    else:  # every extension column as three column-major base columns
        main_dev, mstr = np.ascontiguousarray(main.T), (1, n)
        aux_dev, astr = np.ascontiguousarray(aux.transpose(1, 2, 0)), (1, 3 * n, n)
    mf = cl.mem_flags
    bm = cl.Buffer(ctx, mf.READ_ONLY | mf.COPY_HOST_PTR, hostbuf=main_dev)
    ba = cl.Buffer(ctx, mf.READ_ONLY | mf.COPY_HOST_PTR, hostbuf=aux_dev)
    bc = cl.Buffer(ctx, mf.READ_ONLY | mf.COPY_HOST_PTR, hostbuf=challenges)
    bw = cl.Buffer(ctx, mf.READ_ONLY | mf.COPY_HOST_PTR, hostbuf=weights)
    aux_args = [np.uint64(astr[0]), np.uint64(astr[1])] + ([np.uint64(astr[2])] if kind == "chunked" else [])
    expected = _expected(air, main, aux, challenges, step)
    for mode in (0, 1):
        out = np.zeros((n, total, 3) if mode == 0 else (n, 4, 3), dtype=np.uint64)
        bo = cl.Buffer(ctx, mf.READ_WRITE | mf.COPY_HOST_PTR, hostbuf=out)
        for kernel in kernels:
            kernel(queue, (n,), None, bm, np.uint64(mstr[0]), np.uint64(mstr[1]), ba, *aux_args,
                   bc, bw, np.uint32(n), np.uint32(step), np.uint32(mode), bo)  # fmt: skip
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
