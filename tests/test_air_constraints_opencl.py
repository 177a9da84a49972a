"""The generated OpenCL constraint evaluators equal the numpy evaluator on random rows and challenges."""

from __future__ import annotations

import os

import numpy as np
import pytest

from tests.conftest import random_field
from tvmpd.stages import xfield as X
from tvmpd.stages.air.constraints import CATEGORIES, lower, lowered_air
from tvmpd.stages.air.evaluate import evaluate_every_row
from tvmpd.stages.air.kernel_cache import air_kernels, build

cl = pytest.importorskip("pyopencl")
from tvmpd.opencl.air import constraint_kernels, constraint_rows_per_item  # noqa: E402
from tvmpd.opencl.runtime import get_runtime  # noqa: E402

# The full kernels take pocl minutes to compile the first time (it caches them afterwards), so by default
# the generator is checked on the AIR without the processor and hash tables (same code paths, 1/7 of
# the size); the full set, as the kernel cache holds it, is what the seeded proofs on pocl run.
FULL = os.environ.get("TVMPD_FULL_OPENCL") == "1"
SMALL_TABLES = ("program", "op_stack", "ram", "jump_stack", "cascade", "lookup", "u32", "cross_table")


@pytest.fixture(scope="module", params=["lanes", "one-row"])
def compiled(device, request):
    """(air, runtime, constraint kernels, rows per work item): on a CPU device first their row-lane form
    (what a CPU runs), then, forced, the one-row form a GPU runs."""
    from tvmpd.opencl import air as opencl_air

    if FULL:
        air, kernels = lowered_air(), air_kernels()
    else:
        air = lower(SMALL_TABLES)
        kernels = build(air, "test: small tables")
    rt = get_runtime(device)
    with pytest.MonkeyPatch.context() as mp:
        if request.param == "one-row":
            mp.setattr(opencl_air, "_lanes", lambda rt, kernels: False)
        return air, rt, constraint_kernels(rt, kernels), constraint_rows_per_item(rt, kernels)


def _expected(air, main, aux, challenges, step):
    return np.concatenate(list(evaluate_every_row(main, aux, challenges, step, air).values()), axis=1)


@pytest.mark.parametrize("layout", ["row", "col", "split"])
@pytest.mark.parametrize("n", [16, 13])  # 13: the last row-lane work item holds one row
def test_opencl_equals_numpy(compiled, layout, n):
    air, rt, kernels, _ = compiled
    ctx, queue = rt.context, rt.queue
    rng = np.random.default_rng(7)
    step = 3
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
    aux_args = [np.uint64(s) for s in astr]
    expected = _expected(air, main, aux, challenges, step)
    for mode in (0, 1):
        out = np.zeros((n, total, 3) if mode == 0 else (n, 4, 3), dtype=np.uint64)
        bo = cl.Buffer(ctx, mf.READ_WRITE | mf.COPY_HOST_PTR, hostbuf=out)
        for kernel in kernels:
            kernel(queue, (n,), None, bm, np.uint64(mstr[0]), np.uint64(mstr[1]), ba, *aux_args,
                   bc, bw, np.uint32(n), np.uint32(step), np.uint32(mode), bo, np.uint32(0))  # fmt: skip
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


def test_generated_kernels_negate_instead_of_multiplying_by_minus_one():
    """The circuits write subtraction as a product with p - 1; codegen emits a negation for it (a full
    field multiply costs several times as much on every device), and the equality test above checks the
    values."""
    import re

    from tvmpd.stages.air.codegen import MINUS_ONE

    kernels = air_kernels()
    sources = [src for _, src in kernels.constraints + kernels.lowering_main + kernels.lowering_aux]
    assert any("gl_neg(" in src for src in sources) and any("xfe_neg(" in src for src in sources)
    for src in sources:
        constants = set(re.findall(rf"const ulong (v\d+) = {MINUS_ONE}UL;", src))
        for a, b in re.findall(r"(?:gl_mul|xfe_mul_base)\((v\d+), (v\d+)\)", src):
            assert a not in constants and b not in constants


def test_constraint_sums_in_row_chunks_equal_one_launch(compiled, monkeypatch):
    """On CPU devices the constraint kernels run in launches of CPU_LAUNCH_ROWS rows (pocl's small-grid
    builds only); each chunk must add its own rows' sums, with the next row wrapping around the table."""
    from tvmpd.opencl import air as opencl_air
    from tvmpd.opencl import device_tables as dev

    air, rt, kernels, per = compiled
    rng = np.random.default_rng(11)
    n, step = 256, 8
    main = rt.to_device(random_field(rng, (379, n)))
    aux = rt.to_device(random_field(rng, (91 * 3, n)))
    ch = rt.to_device(random_field(rng, (63, 3)))
    w = rt.to_device(random_field(rng, (sum(air.counts().values()), 3)))

    def sums() -> np.ndarray:
        out = rt.empty(96 * n)
        cl.enqueue_fill_buffer(rt.queue, out, np.uint64(0), 0, 96 * n)
        for kern in kernels:
            dev.constraint_launch(rt, kern, main, aux, n, step, ch, w, out, per)
        host = np.empty(12 * n, dtype=np.uint64)
        cl.enqueue_copy(rt.queue, host, out)
        return host

    whole = sums()
    monkeypatch.setattr(opencl_air, "CPU_LAUNCH_ROWS", 32)
    np.testing.assert_array_equal(sums(), whole)
    assert whole.any()
