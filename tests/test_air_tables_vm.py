"""VM -> fill -> extend: the reference dumps cell for cell, and the cross-table terminal relations (grand
cross-table argument, Ram Bezout relation, public lookup terminal) for every program that halts."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import load_json
from tvmpd.stages import field as F
from tvmpd.stages import xfield as X
from tvmpd.stages.air import columns as C
from tvmpd.stages.air.challenges import ChallengeId, derive_challenges
from tvmpd.stages.air.extend import extend
from tvmpd.stages.air.fill import fill_main_table
from tvmpd.stages.vm import Claim, NonDeterminism, Program, run

EXPECTED = load_json("expected.json")["requests"]
HALTING = sorted(n for n, e in EXPECTED.items() if e["expect"] == "ok" and e["padded_height"] <= 2**12)


def _evaluate():
    """The AIR helper's evaluator (degree-lowering columns, constraints); skip where it is not there yet."""
    return pytest.importorskip("tvmpd.stages.air.evaluate")


def _run(vectors, name):
    lines = (vectors / "requests" / f"{name}.req").read_text().splitlines()
    claim = Claim.from_json(lines[0])
    output, aet = run(Program.from_json(lines[1]), claim.input, NonDeterminism.from_json(lines[2]))
    return claim, output, aet


@pytest.mark.parametrize("name", ["halt", "all_tables"])
def test_vm_fill_matches_reference(vectors, name):
    _, _, aet = _run(vectors, name)
    main = fill_main_table(aet)
    ref = np.load(vectors / "tables" / f"{name}.npz")["main"]
    names = C.main_column_names()
    bad = [names[c] for c in range(C.NUM_MAIN_BASE_COLUMNS) if not np.array_equal(main[:, c], ref[:, c])]
    assert main.shape == ref.shape and not bad, f"main columns differ: {bad}"


@pytest.mark.parametrize("name", HALTING)
def test_cross_table_terminals(vectors, name):
    claim, output, aet = _run(vectors, name)
    main = fill_main_table(aet)
    assert main.shape[0] == EXPECTED[name]["padded_height"]
    rng = np.random.default_rng(len(name))
    sampled = rng.integers(0, F.P, size=(59, 3), dtype=np.uint64)
    ch = derive_challenges(sampled, claim.input, output, EXPECTED[name]["program_digest"]["values"])
    last = extend(main, ch)[-1]

    def col(c):
        return last[int(c)]

    def eq(a, b):
        assert np.array_equal(a, b)

    eq(col(C.ProgramAux.SendChunkRunningEvaluation), col(C.HashAux.ReceiveChunkRunningEvaluation))
    eq(col(C.ProcessorAux.InputTableEvalArg), ch[ChallengeId.StandardInputTerminal])
    eq(col(C.ProcessorAux.OutputTableEvalArg), ch[ChallengeId.StandardOutputTerminal])
    eq(
        col(C.ProcessorAux.InstructionLookupClientLogDerivative),
        col(C.ProgramAux.InstructionLookupServerLogDerivative),
    )
    eq(col(C.ProcessorAux.OpStackTablePermArg), col(C.OpStackAux.RunningProductPermArg))
    eq(col(C.ProcessorAux.RamTablePermArg), col(C.RamAux.RunningProductPermArg))
    eq(col(C.ProcessorAux.JumpStackTablePermArg), col(C.JumpStackAux.RunningProductPermArg))
    eq(col(C.ProcessorAux.HashInputEvalArg), col(C.HashAux.HashInputRunningEvaluation))
    eq(col(C.ProcessorAux.HashDigestEvalArg), col(C.HashAux.HashDigestRunningEvaluation))
    eq(col(C.ProcessorAux.SpongeEvalArg), col(C.HashAux.SpongeRunningEvaluation))
    hash_clients = last[
        C.HashAux.CascadeState0HighestClientLogDerivative : C.HashAux.CascadeState3LowestClientLogDerivative
        + 1
    ]
    eq(col(C.CascadeAux.HashTableServerLogDerivative), X.reduce_sum(hash_clients))
    eq(col(C.CascadeAux.LookupTableClientLogDerivative), col(C.LookupAux.CascadeTableServerLogDerivative))
    eq(col(C.ProcessorAux.U32LookupClientLogDerivative), col(C.U32Aux.LookupServerLogDerivative))
    clients = X.reduce_sum(
        np.stack(
            [
                col(C.OpStackAux.ClockJumpDifferenceLookupClientLogDerivative),
                col(C.RamAux.ClockJumpDifferenceLookupClientLogDerivative),
                col(C.JumpStackAux.ClockJumpDifferenceLookupClientLogDerivative),
            ]
        )
    )
    eq(col(C.ProcessorAux.ClockJumpDifferenceLookupServerLogDerivative), clients)
    eq(col(C.LookupAux.PublicEvaluationArgument), ch[ChallengeId.LookupTablePublicTerminal])
    bezout = F.add(
        X.mul(col(C.RamAux.BezoutCoefficient0), col(C.RamAux.RunningProductOfRAMP)),
        X.mul(col(C.RamAux.BezoutCoefficient1), col(C.RamAux.FormalDerivative)),
    )
    eq(bezout, np.array([1, 0, 0], dtype=np.uint64))


@pytest.mark.parametrize("name", ["halt", "all_tables"])
def test_full_master_tables_match_reference(vectors, name):
    """VM -> fill -> degree lowering (AIR helper) and extend -> aux lowering: all 379 main and 91 aux
    columns equal the reference (the randomizer aux column is taken from the dump)."""
    ev = _evaluate()
    fill_degree_lowering_aux, fill_degree_lowering_main = (
        ev.fill_degree_lowering_aux,
        ev.fill_degree_lowering_main,
    )

    npz = np.load(vectors / "tables" / f"{name}.npz")
    _, _, aet = _run(vectors, name)
    main = fill_degree_lowering_main(fill_main_table(aet))
    np.testing.assert_array_equal(main, npz["main"])
    aux = np.zeros(npz["aux"].shape, dtype=np.uint64)
    aux[:, : C.NUM_AUX_BASE_COLUMNS] = extend(main, npz["challenges"])
    aux[:, C.RANDOMIZER_AUX_COLUMN] = npz["aux"][:, C.RANDOMIZER_AUX_COLUMN]
    fill_degree_lowering_aux(main, aux, npz["challenges"])
    np.testing.assert_array_equal(aux, npz["aux"])


@pytest.mark.parametrize(
    "name", ["all_tables", "gcd", "hashing", "io_arith", "memory", "merkle", "u32_ops", "xfield"]
)
def test_constraints_vanish_on_filled_tables(vectors, name):
    """Every lowered constraint (AIR helper's evaluator) is zero on our main and aux tables."""
    ev = _evaluate()
    evaluate_on_trace, fill_degree_lowering_main = ev.evaluate_on_trace, ev.fill_degree_lowering_main
    fill_degree_lowering_aux = ev.fill_degree_lowering_aux

    claim, output, aet = _run(vectors, name)
    main = fill_degree_lowering_main(fill_main_table(aet))
    sampled = np.random.default_rng(3 + len(name)).integers(0, F.P, size=(59, 3), dtype=np.uint64)
    ch = derive_challenges(sampled, claim.input, output, EXPECTED[name]["program_digest"]["values"])
    aux = np.zeros((main.shape[0], C.NUM_MASTER_AUX_COLUMNS, 3), dtype=np.uint64)
    aux[:, : C.NUM_AUX_BASE_COLUMNS] = extend(main, ch)
    fill_degree_lowering_aux(main, aux, ch)
    nonzero = {
        k: np.flatnonzero(v.any(axis=(0, 2)))[:5].tolist()
        for k, v in evaluate_on_trace(main, aux, ch).items()
    }
    assert not any(nonzero.values()), nonzero


def test_table_heights_and_bad_height(vectors):
    from tvmpd.stages.air.fill import table_heights

    for name in ("all_tables", "u32_ops", "memory", "halt"):
        _, _, aet = _run(vectors, name)
        assert table_heights(aet) == EXPECTED[name]["table_heights"]
    with pytest.raises(ValueError):
        fill_main_table(aet, num_rows=128)
    with pytest.raises(ValueError):
        fill_main_table(aet, num_rows=300)


def test_constraints_vanish_with_many_ram_pointers():
    """A program writing 270 distinct RAM cells: the Bezout columns come from the fast polynomial path."""
    ev = _evaluate()
    evaluate_on_trace, fill_degree_lowering_main = ev.evaluate_on_trace, ev.fill_degree_lowering_main
    fill_degree_lowering_aux = ev.fill_degree_lowering_aux

    src = "push 0\ncall loop\nhalt\nloop:\n dup 0 push 270 eq skiz return\n"
    src += " dup 0 dup 0 write_mem 1 pop 1\n push 1 add\n recurse\n"
    program = Program.from_tasm(src)
    no_secrets = NonDeterminism.from_json('{"individual_tokens": [], "digests": [], "ram": {}}')
    output, aet = run(program, [], no_secrets)
    assert aet.table_heights["Ram"] == 270
    main = fill_degree_lowering_main(fill_main_table(aet))
    sampled = np.random.default_rng(5).integers(0, F.P, size=(59, 3), dtype=np.uint64)
    ch = derive_challenges(sampled, [], output, program.digest())
    aux = np.zeros((main.shape[0], C.NUM_MASTER_AUX_COLUMNS, 3), dtype=np.uint64)
    aux[:, : C.NUM_AUX_BASE_COLUMNS] = extend(main, ch)
    fill_degree_lowering_aux(main, aux, ch)
    assert not any(v.any() for v in evaluate_on_trace(main, aux, ch).values())
