"""The no-compile forms (a cold `tvmpd prove`): the AET built in numpy (stages/vm/aet.py, compiled=False) and
the main table filled in numpy (stages/air/fill_numpy.py) equal numba's compiled loops cell for cell, on every
vector request, random straight-line programs, a RAM-heavy run (the Bezout coefficients' fast path) and a
u32-heavy one."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from tests.conftest import VECTORS
from tests.test_vm_compiled import _assert_same_arrays, runs
from tvmpd.stages.air import fill, fill_numpy
from tvmpd.stages.vm import VMError, build_aet, execute_reference
from tvmpd.stages.vm.program import Program
from tvmpd.supervisor import jobs

REQUESTS = sorted(p.stem for p in (VECTORS / "requests").glob("*.req") if not p.stem.startswith("fail_"))


def _assert_same(program: Program, rec) -> None:
    compiled, plain = build_aet(program, rec), build_aet(program, rec, compiled=False)
    _assert_same_arrays(compiled, plain)
    assert fill_numpy.table_heights(plain) == fill.table_heights(plain)
    for base_only in (True, False):
        want = fill.fill_main_table(compiled, base_only=base_only)
        got = fill_numpy.fill_main_table(plain, base_only=base_only)
        mismatch = np.argwhere(got != want)
        assert not mismatch.size, f"first differing (row, column): {mismatch[0].tolist()}"


@pytest.mark.parametrize("name", REQUESTS)
def test_vector_requests(name):
    job = jobs.parse_request((VECTORS / "requests" / f"{name}.req").read_text().split("\n")[:5])
    try:
        _, rec = execute_reference(job.program, [int(x) for x in job.claim.input], job.non_determinism)
    except VMError:
        pytest.skip("the request's run fails (checked elsewhere)")
    _assert_same(job.program, rec)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(runs())
def test_random_straight_line_programs(case):
    program, public, nd = case
    try:
        _, rec = execute_reference(program, public, nd)
    except VMError:
        return
    _assert_same(program, rec)


def test_many_ram_cells_and_u32_operations():
    # 600 distinct RAM pointers (above BEZOUT_QUADRATIC_MAX: the O(k log^2 k) path), each also through
    # every u32 table instruction
    program = Program.from_tasm("""
        read_io 1 call fill halt
        fill: dup 0 push 0 eq skiz return
              dup 0 dup 0 write_mem 1 pop 1
              dup 0 push 7 lt pop 1 dup 0 push 12345 and pop 1 dup 0 log_2_floor pop 1
              dup 0 pop_count pop 1 push 3 dup 1 pow pop 1 dup 0 split pop 2
              addi -1 recurse
    """)
    _, rec = execute_reference(program, [600], None)
    assert len(rec.ram_log) == 600 and len(rec.u32_entries) > 1000
    assert fill_numpy.BEZOUT_QUADRATIC_MAX < 600
    _assert_same(program, rec)


def test_pow_of_a_base_beyond_u32_is_filled_and_proved():
    """`pow`'s base is any field element (only the exponent is u32, as in the reference's VM): its U32 entry
    has an lhs of 2^32 or more, which the fill once refused as "U32 table operands must be u32" (found by
    test_random_straight_line_programs). Both fills agree, and the proof verifies."""
    from tvmpd.stages.prover import prove
    from tvmpd.stages.verifier import verify
    from tvmpd.stages.vm import Claim
    from tvmpd.stages.vm.interpreter import run

    base = 941080798860502487
    program = Program.from_tasm(f"push 0 push {base} pow pop 1 push 5 push {base} pow write_io 1 halt")
    _, rec = execute_reference(program, [], None)
    assert any(int(e[0]) == fill.OP_POW and int(e[1]) == base for e in rec.u32_entries)
    _assert_same(program, rec)
    output, aet = run(program, [])
    assert output == [pow(base, 5, 2**64 - 2**32 + 1)]
    claim = Claim(program.digest(), input=[], output=output)
    verify(claim, prove(claim, aet))
