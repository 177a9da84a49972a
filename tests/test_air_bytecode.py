"""stages/air/bytecode.py: the constraint interpreter's programs, checked without OpenCL by running them
with numpy (every slot a column of rows) against the numpy evaluator: each constraint is written exactly
once, slots stay in their files, and reusing a temporary's slot never clobbers a value still to be read."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tests.conftest import random_field
from tvmpd.opencl import air_interp as op
from tvmpd.stages import field as F
from tvmpd.stages import xfield as X
from tvmpd.stages.air import bytecode
from tvmpd.stages.air.constraints import lower, lowered_air
from tvmpd.stages.air.evaluate import evaluate_every_row, fill_degree_lowering_aux, fill_degree_lowering_main

MASK = (1 << op.KIND_SHIFT) - 1


def _run(program: op.Program, main, aux, challenges, step: int, out: np.ndarray) -> None:
    """Mode 0 of air_interp.cl, row-wise in numpy: out[:, k] = constraint k for every row; stores into main
    and aux (0 in the last row of a transition program's columns)."""
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
        elif code in (op.OP_OUT_B, op.OP_OUT_X):
            out[:, d] = X.lift(base[a]) if code == op.OP_OUT_B else ext[a]
        else:
            table = main if code == op.OP_STORE_MAIN else aux
            table[:, d] = ext[a] if code == op.OP_STORE_AUX else base[a]  # STORE_AUX_B: a lifted base value
            if code == op.OP_STORE_AUX_B:
                table[:, d, 1:] = 0
            if program.zero_last_row:
                table[-1, d] = 0


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


@pytest.mark.parametrize("tables", ["all", "small"])
def test_lowering_programs_equal_numpy_fill(tables):
    air = lowered_air() if tables == "all" else lower(("program", "op_stack", "ram", "jump_stack"))
    rng = np.random.default_rng(6)
    n = 8
    main = random_field(rng, (n, 379))
    main[:, 149:] = 0
    aux = random_field(rng, (n, 91, 3))
    aux[:, 49:] = 0
    challenges = random_field(rng, (63, 3))
    want_main = fill_degree_lowering_main(main.copy(), air)
    want_aux = fill_degree_lowering_aux(want_main, aux.copy(), challenges, air)
    unused = np.zeros((n, 0, 3), dtype=np.uint64)
    for program in bytecode.lowering_programs(air, "main"):
        _run(program, main, aux, challenges, 1, unused)
    np.testing.assert_array_equal(main, want_main)
    for program in bytecode.lowering_programs(air, "aux"):
        _run(program, main, aux, challenges, 1, unused)
    np.testing.assert_array_equal(aux, want_aux)
    stores = [d for side in ("main", "aux") for p in bytecode.lowering_programs(air, side)
              for code, d, _, _ in p.code if code in (op.OP_STORE_MAIN, op.OP_STORE_AUX, op.OP_STORE_AUX_B)]
    rules = [int(r.lhs.value.col) for side in ("main", "aux")
             for rs in getattr(air, f"{side}_substitutions").values() for r in rs]
    assert sorted(stores) == sorted(rules) and len(set(rules)) == len(rules)  # every column once


def test_lowering_refuses_reading_a_column_before_it_is_filled():
    air = lowered_air()
    rules = air.main_substitutions["transition"]
    swapped = dict(air.main_substitutions, transition=rules[::-1])  # later rules read earlier ones
    with pytest.raises(ValueError, match="before it is filled"):
        bytecode.lowering_programs(dataclasses.replace(air, main_substitutions=swapped), "main")


def test_slots_stay_in_their_files():
    air = lowered_air()
    for program in (*bytecode.programs(air), *bytecode.lowering_programs(air, "main"),
                    *bytecode.lowering_programs(air, "aux")):
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
            elif code in (op.OP_OUT_B, op.OP_STORE_MAIN, op.OP_STORE_AUX_B):
                assert a < program.base_slots
            else:
                assert max(a, 0 if code in (op.OP_OUT_X, op.OP_STORE_AUX) else max(d, b)) < program.ext_slots
