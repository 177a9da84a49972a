"""The OpenCL constraint evaluators equal the numpy evaluator on random rows and challenges: the generated
kernels (what GPUs run) and the interpreter of stages/air/bytecode.py's programs (what CPU devices run)."""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest

from tests.conftest import random_field
from tvmpd.stages import xfield as X
from tvmpd.stages.air.constraints import CATEGORIES, lower, lowered_air
from tvmpd.stages.air.evaluate import evaluate_every_row
from tvmpd.stages.air.kernel_cache import air_kernels, build

cl = pytest.importorskip("pyopencl")
from tvmpd.opencl.air import evaluate_constraints, interpreted  # noqa: E402
from tvmpd.opencl.runtime import get_runtime  # noqa: E402

# The full generated kernels take pocl a minute of CPU to compile the first time (it caches them
# afterwards), so by default they are checked on the AIR without the processor and hash tables (same code
# paths, 1/7 of the size); the interpreter compiles in a second and is checked on the whole AIR.
FULL = os.environ.get("TVMPD_FULL_OPENCL") == "1"
SMALL_TABLES = ("program", "op_stack", "ram", "jump_stack", "cascade", "lookup", "u32", "cross_table")


@pytest.fixture(scope="module", params=["interpreter", "generated"])
def compiled(device, request):
    """(air, runtime, kernel set): the set as the device runs it (on a CPU device the interpreter), then
    the set without its programs, so that the generated kernels run (what a GPU runs)."""
    if request.param == "interpreter" or FULL:
        air, kernels = lowered_air(), air_kernels()
    else:
        air = lower(SMALL_TABLES)
        kernels = build(air, "test: small tables")
    rt = get_runtime(device)
    if request.param == "generated":
        kernels = dataclasses.replace(kernels, programs=())
    elif not interpreted(rt, kernels):
        pytest.skip("this device runs the generated kernels")
    return air, rt, kernels


def _expected(air, main, aux, challenges, step):
    return np.concatenate(list(evaluate_every_row(main, aux, challenges, step, air).values()), axis=1)


@pytest.mark.parametrize("layout", ["row", "col", "split"])
@pytest.mark.parametrize("n", [16, 13, 45])  # 13: part of one row block and lane group; 45: two blocks
def test_opencl_equals_numpy(compiled, layout, n):
    air, rt, kernels = compiled
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
    bm, ba = rt.to_device(main_dev), rt.to_device(aux_dev)
    bc, bw = rt.to_device(challenges), rt.to_device(weights)
    expected = _expected(air, main, aux, challenges, step)
    for mode in (0, 1):
        shape = (n, total, 3) if mode == 0 else (n, 4, 3)
        bo = rt.to_device(np.zeros(shape, dtype=np.uint64))
        evaluate_constraints(rt, kernels, bm, mstr, ba, astr, bc, bw, n, step, mode, bo)
        out = rt.from_device(bo, shape)
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



def test_constraint_sums_in_row_ranges_equal_one_launch(compiled, monkeypatch):
    """The lean quotient evaluates a table's rows in ranges, and the generated kernels run on a CPU in
    launches of CPU_LAUNCH_ROWS rows (pocl's small-grid builds only): each range must add its own rows'
    sums and no others, with the next row wrapping around the table; `only` leaves the other kernels out."""
    from tvmpd.opencl import air as opencl_air

    air, rt, kernels = compiled
    rng = np.random.default_rng(11)
    n, step = 256, 8
    main = rt.to_device(random_field(rng, (379, n)))
    aux = rt.to_device(random_field(rng, (91 * 3, n)))
    ch = rt.to_device(random_field(rng, (63, 3)))
    w = rt.to_device(random_field(rng, (sum(air.counts().values()), 3)))

    def sums(ranges: list[tuple[int, int]], only: tuple[int, ...] | None = None) -> np.ndarray:
        out = rt.to_device(np.zeros(12 * n, dtype=np.uint64))
        for first, rows in ranges:
            evaluate_constraints(rt, kernels, main, (1, n), aux, (1, 3 * n, n), ch, w, n, step, 1, out,
                                 first=first, rows=rows, only=only)
        return rt.from_device(out, (n * 4, 3))

    whole = sums([(0, n)])
    assert whole.any()
    np.testing.assert_array_equal(sums([(0, 64), (64, 128), (192, 64)]), whole)
    monkeypatch.setattr(opencl_air, "CPU_LAUNCH_ROWS", 32)
    np.testing.assert_array_equal(sums([(0, n)]), whole)
    count = len(kernels.programs or kernels.constraints)
    even, odd = sums([(0, n)], tuple(range(0, count, 2))), sums([(0, n)], tuple(range(1, count, 2)))
    np.testing.assert_array_equal(X.add(even, odd), whole)
