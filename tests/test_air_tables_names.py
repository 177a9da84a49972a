"""Column enums and challenge ids against the reference's names; derived challenges against the dumps."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import load_json
from tvmpd.stages.air import columns as C
from tvmpd.stages.air.challenges import ChallengeId, derive_challenges


def test_column_names_match_meta(vectors):
    meta = json.loads((vectors / "tables" / "halt.meta.json").read_text())
    assert C.main_column_names() == meta["main_column_names"][:C.NUM_MAIN_BASE_COLUMNS]
    assert C.aux_column_names() == meta["aux_column_names"][:C.NUM_AUX_BASE_COLUMNS]
    for table, (lo, hi) in meta["main_column_ranges"].items():
        if table in C.MAIN_ENUMS:
            enum = C.MAIN_ENUMS[table]
            assert [m.value for m in enum] == list(range(lo, hi))
            assert C.MAIN_TABLE_START[table] == lo
    for table, (lo, hi) in meta["aux_column_ranges"].items():
        if table in C.AUX_ENUMS:
            assert [m.value for m in C.AUX_ENUMS[table]] == list(range(lo, hi))
            assert C.AUX_TABLE_START[table] == lo
    assert meta["main_column_ranges"]["DegreeLowering"] == [C.DEGREE_LOWERING_MAIN_START,
                                                             C.DEGREE_LOWERING_MAIN_END]
    assert meta["aux_column_ranges"]["DegreeLowering"] == [C.DEGREE_LOWERING_AUX_START,
                                                            C.DEGREE_LOWERING_AUX_END]
    assert meta["aux_randomizer_columns"] == [C.RANDOMIZER_AUX_COLUMN]


def test_column_spot_checks():
    assert C.ProcessorMain.CLK == 7
    assert C.ProgramAux.InstructionLookupServerLogDerivative == 0
    assert C.HashMain.State0HighestLkIn == 65
    assert C.U32Aux.LookupServerLogDerivative == 48
    assert len(C.HashMain) == 67 and len(C.HashAux) == 20


def test_challenge_names():
    params = load_json("params.json")
    assert [c.name for c in ChallengeId] == params["challenges"]["names_in_order"]
    assert [c.value for c in ChallengeId] == list(range(63))


@pytest.mark.parametrize("name", ["halt", "all_tables"])
def test_derive_challenges(vectors, name):
    npz = np.load(vectors / "tables" / f"{name}.npz")
    expected = load_json("expected.json")["requests"][name]
    meta = json.loads((vectors / "tables" / f"{name}.meta.json").read_text())
    got = derive_challenges(npz["challenges"][:59], meta["claim"]["input"], meta["claim"]["output"],
                            expected["program_digest"]["values"])
    assert got.dtype == np.uint64
    np.testing.assert_array_equal(got, npz["challenges"])


def test_derive_challenges_rejects_bad_shape():
    with pytest.raises(ValueError):
        derive_challenges(np.zeros((58, 3), dtype=np.uint64), [], [], [0] * 5)
