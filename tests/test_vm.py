"""VM against the reference vectors: digests, outputs, heights, errors, JSON/TASM forms, AET tables."""

from __future__ import annotations

import json

import numpy as np
import pytest

from stages.vm import Claim, NonDeterminism, Program, VMError, run
from tests.conftest import VECTORS, load_json

EXPECTED = load_json("expected.json")["requests"]
NAMES = sorted(EXPECTED)


def _request(name: str) -> list[str]:
    return (VECTORS / EXPECTED[name]["request"]).read_text().splitlines()


def _parsed(name: str):
    lines = _request(name)
    return Claim.from_json(lines[0]), Program.from_json(lines[1]), NonDeterminism.from_json(lines[2])


_RUNS: dict[str, tuple] = {}


def _run(name: str):
    if name not in _RUNS:
        claim, program, nd = _parsed(name)
        _RUNS[name] = run(program, claim.input, nd)
    return _RUNS[name]


@pytest.mark.parametrize("name", NAMES)
def test_request_matches_reference(name):
    entry = EXPECTED[name]
    claim, program, nd = _parsed(name)
    assert program.digest() == entry["program_digest"]["values"]
    assert claim.program_digest == entry["program_digest"]["values"]
    if entry["expect"] == "vm_error":
        with pytest.raises(VMError) as info:
            run(program, claim.input, nd)
        err = info.value
        assert err.to_dict() == entry["error"]
        assert str(err.instruction_pointer) in str(err) and err.message in str(err)
        return
    output, aet = _run(name)
    assert output == entry["output"]
    assert aet.padded_height == entry["padded_height"]
    assert aet.cycle_count == entry["cycle_count"]
    assert aet.table_heights == entry["table_heights"]
    if entry["expect"] == "claim_mismatch":
        assert output != claim.output
    else:
        assert output == claim.output


@pytest.mark.parametrize("name", NAMES)
def test_tasm_parses_to_request_program(name):
    program = Program.from_json(_request(name)[1])
    parsed = Program.from_tasm((VECTORS / EXPECTED[name]["program"]).read_text())
    assert parsed == program
    assert parsed.digest() == program.digest()
    assert json.loads(parsed.to_json()) == json.loads(_request(name)[1])


@pytest.mark.parametrize("name", NAMES)
def test_json_round_trips_byte_for_byte(name):
    lines = _request(name)
    assert Claim.from_json(lines[0]).to_json() == lines[0]
    assert Program.from_json(lines[1]).to_json() == lines[1]
    assert NonDeterminism.from_json(lines[2]).to_json() == lines[2]
    program = Program.from_json(lines[1])
    assert Program.from_tasm(program.to_tasm()) == program
    assert Program.from_words(program.words()) == program


@pytest.mark.parametrize("name", ["halt", "all_tables"])
def test_aet_equals_reference_tables(name):
    meta = load_json(f"tables/{name}.meta.json")
    main = np.load(VECTORS / f"tables/{name}.npz")["main"]
    ranges = meta["main_column_ranges"]
    _, aet = _run(name)

    def part(table, rows, cols=None):
        lo, hi = ranges[table]
        block = main[:rows, lo:hi]
        return block if cols is None else block[:, cols]

    proc = aet.processor_trace
    n = proc.shape[0]
    assert proc.shape == (n, 39) and proc.dtype == np.uint64
    np.testing.assert_array_equal(proc[:, :38], part("Processor", n)[:, :38])
    assert not proc[:, 38].any()

    program = part("Program", len(aet.program_words))
    np.testing.assert_array_equal(program[:, 1], aet.program_words)
    np.testing.assert_array_equal(program[:, 2], aet.instruction_multiplicities)

    k = aet.op_stack_underflow_trace.shape[0]
    ref = sorted(map(tuple, part("OpStack", k).tolist()))
    assert ref == sorted(map(tuple, aet.op_stack_underflow_trace.tolist()))

    k = aet.ram_trace.shape[0]
    ref = sorted(map(tuple, part("Ram", k, [0, 1, 2, 3]).tolist()))
    assert ref == sorted(map(tuple, aet.ram_trace.tolist()))

    traces = np.concatenate([aet.program_hash_trace, aet.sponge_trace, aet.hash_trace])
    hash_cols = part("Hash", traces.shape[0])
    np.testing.assert_array_equal(hash_cols[:, 1:3], traces[:, 0:2])  # CI, RoundNumber
    np.testing.assert_array_equal(hash_cols[:, 35:47], traces[:, 6:18])  # State4..State15

    k = aet.cascade_limbs.shape[0]
    cascade = part("Cascade", k)
    np.testing.assert_array_equal(cascade[:, 1] * 256 + cascade[:, 2], aet.cascade_limbs)
    np.testing.assert_array_equal(cascade[:, 5], aet.cascade_multiplicities)
    np.testing.assert_array_equal(part("Lookup", 256)[:, 3], aet.lookup_multiplicities)

    u32 = part("U32", aet.table_heights["U32"])
    firsts = u32[u32[:, 0] == 1]
    np.testing.assert_array_equal(firsts[:, [3, 4, 6, 9]], aet.u32_entries)
