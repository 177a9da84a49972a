"""The benchmark workloads of tools/workloads: they land at the padded height asked for, run the same on
the compiled and the reference interpreter, and give proofs that our verifier accepts."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tools import workloads
from tvmpd.stages.prover import prove
from tvmpd.stages.verifier import verify
from tvmpd.stages.vm import execute, execute_reference, run_claim

SMALLEST = {"merkle": 11, "sponge": 10, "fold": 10, "ram": 10, "recursive": 12}


@pytest.mark.parametrize("name", sorted(workloads.WORKLOADS))
def test_workload_lands_at_its_padded_height_and_runs_as_the_reference(name):
    for log2 in (SMALLEST[name], 13):
        claim, program, nd = workloads.job(name, log2)
        output, aet = run_claim(claim, program, nd)
        assert aet.padded_height == 1 << log2
    got = execute(program, claim.input, nd)
    want = execute_reference(program, claim.input, nd)
    assert got[0] == want[0]
    for f in dataclasses.fields(got[1]):
        np.testing.assert_array_equal(getattr(got[1], f.name), getattr(want[1], f.name), err_msg=f.name)


def test_workload_below_its_floor_is_refused():
    with pytest.raises(ValueError, match="cannot be as small as 2\\^10"):
        workloads.rounds_for("recursive", 10)


def test_recursive_workload_has_the_table_proportions_of_a_real_job():
    heights = workloads.table_heights("recursive", 400)
    cycles = heights["Processor"]
    # a real 2^22 Neptune job: RAM 1.41, OpStack 0.85, Hash 0.49, U32 0.21 times the cycles
    for table, real in (("Ram", 1.41), ("OpStack", 0.85), ("Hash", 0.49), ("U32", 0.21)):
        assert real / 1.25 <= heights[table] / cycles <= real * 1.25, table
    assert heights["Ram"] == max(heights.values())


@pytest.mark.parametrize("name", ["sponge", "fold"])  # the smallest ones (2^10); recursive's floor is 2^12
def test_workload_proof_verifies(name):
    claim, program, nd = workloads.job(name, SMALLEST[name])
    _, aet = run_claim(claim, program, nd)
    verify(claim, prove(claim, aet))
