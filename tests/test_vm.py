"""VM against the reference vectors: digests, outputs, heights, errors, JSON/TASM forms, AET tables."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import VECTORS, load_json
from tvmpd.stages.vm import Claim, NonDeterminism, Program, VMError, run
from tvmpd.stages.vm.isa import P

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


def _inv0(x: int) -> int:
    return pow(x, P - 2, P) if x % P else 0


def _expected_helpers(row: list[int], ram: dict[int, int], digest: list[int] | None) -> list[int]:
    """derive_helper_variables, written row by row from the reference's rules (slow, independent)."""
    ci, nia = row[3], row[4]
    st = row[15:31]
    hv = [0] * 6
    read = lambda a: ram.get(a % P, 0)  # noqa: E731
    if ci in (3, 9, 17, 25, 33, 41, 57, 11, 73, 19):
        hv[:4] = [(nia >> k) & 1 for k in range(4)]
    elif ci == 2:
        hv = [_inv0(st[0]), nia % 2, (nia >> 1) % 4, (nia >> 3) % 4, (nia >> 5) % 4, nia >> 7]
    elif ci == 32:
        hv[0] = _inv0(st[6] - st[5])
    elif ci == 48:
        hv = [read(st[0] + k) for k in range(4, 10)]
    elif ci == 36:
        hv = list(digest or [0] * 5) + [st[5] % 2]
    elif ci == 44:
        hv = [read(st[7] + k) for k in range(5)] + [st[5] % 2]
    elif ci == 4:
        lo, hi = st[0] & 0xFFFFFFFF, st[0] >> 32
        hv[0] = _inv0(hi - 0xFFFFFFFF) if lo else 0
    elif ci == 58:
        hv[0] = _inv0(st[1] - st[0])
    elif ci == 80:
        hv = [read(st[0] + k) for k in range(3)] + [read(st[1] + k) for k in range(3)]
    elif ci == 88:
        hv = [read(st[0])] + [read(st[1] + k) for k in range(3)] + [0, 0]
    return hv


@pytest.mark.parametrize("name", [n for n in NAMES if EXPECTED[n]["expect"] != "vm_error"
                                  and not n.startswith("sum_squares_2e1") or n == "sum_squares_2e10"])
def test_helper_variables_and_ram_replay(name):
    """Replays RAM from the RAM trace and re-derives every row's helper variables."""
    _, _, nd = _parsed(name)
    _, aet = _run(name)
    ram = dict(nd.ram)
    digests = list(nd.digests)
    ram_rows = aet.ram_trace.tolist()
    k = 0
    for row in aet.processor_trace.tolist():
        digest = digests[0] if digests else None
        assert row[32:38] == _expected_helpers(row, ram, digest), (name, row[0], row[3])
        if row[3] == 36:
            digests.pop(0)
        while k < len(ram_rows) and ram_rows[k][0] == row[0]:
            clk, kind, pointer, value = ram_rows[k]
            if kind == 1:
                assert ram.get(pointer, 0) == value
            else:
                ram[pointer] = value
            k += 1
    assert k == len(ram_rows)
