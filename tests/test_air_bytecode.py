"""stages/air/bytecode.py: the constraint interpreter's programs, checked without OpenCL by running them
with numpy (every slot a column of rows) against the numpy evaluator: each constraint is written exactly
once, slots stay in their files, and reusing a temporary's slot never clobbers a value still to be read."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import random_field
from tvmpd.opencl import air_interp as op
from tvmpd.stages import field as F
from tvmpd.stages import xfield as X
from tvmpd.stages.air import bytecode
from tvmpd.stages.air.constraints import lower, lowered_air
from tvmpd.stages.air.evaluate import evaluate_every_row

MASK = (1 << op.KIND_SHIFT) - 1


def _run(program: op.ConstraintProgram, main, aux, challenges, step: int, out: np.ndarray) -> None:
    """Mode 0 of air_interp.cl, row-wise in numpy: out[:, k] = constraint k for every row."""
    n = main.shape[0]
    nxt = (np.arange(n) + step) % n
    base: list = [None] * program.base_slots
    ext: list = [None] * program.ext_slots
    for slot, source in program.leaves:
        kind, col = source >> op.KIND_SHIFT, source & MASK
        rows = nxt if kind in (op.LOAD_MAIN_NEXT, op.LOAD_AUX_NEXT) else slice(None)
        if kind in (op.LOAD_MAIN, op.LOAD_MAIN_NEXT):
            base[slot] = main[rows, col]
        else:
            ext[slot] = aux[rows, col]
    for slot, source in program.consts:
        kind, index = source >> op.KIND_SHIFT, source & MASK
        if kind == op.CONST_BASE:
            base[slot] = np.full(n, program.values[index], dtype=np.uint64)
        elif kind == op.CONST_EXT:
            ext[slot] = np.broadcast_to(program.values[index:index + 3], (n, 3))
        else:
            ext[slot] = np.broadcast_to(challenges[index], (n, 3))
    for code, d, a, b in program.code:
        if code == op.OP_BADD:
            base[d] = F.add(base[a], base[b])
        elif code == op.OP_BMUL:
            base[d] = F.mul(base[a], base[b])
        elif code == op.OP_BNEG:
            base[d] = F.neg(base[a])
        elif code == op.OP_XADD:
            ext[d] = X.add(ext[a], ext[b])
        elif code == op.OP_XMUL:
            ext[d] = X.mul(ext[a], ext[b])
        elif code == op.OP_XNEG:
            ext[d] = X.neg(ext[a])
        elif code == op.OP_XADDB:
            ext[d] = X.add(ext[a], X.lift(base[b]))
        elif code == op.OP_XMULB:
            ext[d] = X.mul_base(ext[a], base[b])
        else:
            out[:, d] = X.lift(base[a]) if code == op.OP_OUT_B else ext[a]


@pytest.mark.parametrize("tables", ["all", "small"])
def test_programs_equal_numpy_evaluator(tables):
    air = lowered_air() if tables == "all" else lower(("program", "op_stack", "ram", "jump_stack"))
    rng = np.random.default_rng(5)
    n, step = 8, 3
    main, aux = random_field(rng, (n, 379)), random_field(rng, (n, 91, 3))
    challenges = random_field(rng, (63, 3))
    programs = bytecode.programs(air)
    total = sum(air.counts().values())
    out = np.zeros((n, total, 3), dtype=np.uint64)
    for program in programs:
        assert program.total == total
        _run(program, main, aux, challenges, step, out)
    expected = np.concatenate(list(evaluate_every_row(main, aux, challenges, step, air).values()), axis=1)
    np.testing.assert_array_equal(out, expected)
    outputs = [d for p in programs for code, d, _, _ in p.code if code in (op.OP_OUT_B, op.OP_OUT_X)]
    assert sorted(outputs) == list(range(total))  # every constraint once


def test_slots_stay_in_their_files():
    for program in bytecode.programs(lowered_air()):
        slots = [(s, source >> op.KIND_SHIFT in (op.LOAD_MAIN, op.LOAD_MAIN_NEXT))
                 for s, source in program.leaves]
        slots += [(s, source >> op.KIND_SHIFT == op.CONST_BASE) for s, source in program.consts]
        assert all(s < (program.base_slots if is_base else program.ext_slots) for s, is_base in slots)
        base_ops = (op.OP_BADD, op.OP_BMUL, op.OP_BNEG)
        for code, d, a, b in program.code:
            if code in base_ops:
                assert max(d, a, b) < program.base_slots
            elif code in (op.OP_XADDB, op.OP_XMULB):
                assert max(d, a) < program.ext_slots and b < program.base_slots
            elif code == op.OP_OUT_B:
                assert a < program.base_slots
            else:
                assert max(a, 0 if code == op.OP_OUT_X else max(d, b)) < program.ext_slots
