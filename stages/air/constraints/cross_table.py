"""Grand cross-table argument (port of upstream `triton-air/src/cross_table_argument.rs`): 14 terminal
constraints tying the tables' running products, evaluations and log derivatives together."""

from __future__ import annotations

from functools import partial

from tvmpd.stages.air.challenges import ChallengeId as Ch
from tvmpd.stages.air.circuit import CircuitBuilder, Node
from tvmpd.stages.air.columns import (
    CascadeAux,
    HashAux,
    JumpStackAux,
    LookupAux,
    OpStackAux,
    ProcessorAux,
    ProgramAux,
    RamAux,
    U32Aux,
)
from tvmpd.stages.air.constraints import leaves


def initial_constraints(b: CircuitBuilder) -> list[Node]:
    return []


def consistency_constraints(b: CircuitBuilder) -> list[Node]:
    return []


def transition_constraints(b: CircuitBuilder) -> list[Node]:
    return []


def terminal_constraints(b: CircuitBuilder) -> list[Node]:
    aux = partial(leaves.aux, b)
    ch = partial(leaves.challenge, b)

    program_attestation = aux(ProgramAux.SendChunkRunningEvaluation) - aux(
        HashAux.ReceiveChunkRunningEvaluation
    )
    input_to_processor = ch(Ch.StandardInputTerminal) - aux(ProcessorAux.InputTableEvalArg)
    processor_to_output = aux(ProcessorAux.OutputTableEvalArg) - ch(Ch.StandardOutputTerminal)
    instruction_lookup = aux(ProcessorAux.InstructionLookupClientLogDerivative) - aux(
        ProgramAux.InstructionLookupServerLogDerivative
    )
    processor_to_op_stack = aux(ProcessorAux.OpStackTablePermArg) - aux(OpStackAux.RunningProductPermArg)
    processor_to_ram = aux(ProcessorAux.RamTablePermArg) - aux(RamAux.RunningProductPermArg)
    processor_to_jump_stack = aux(ProcessorAux.JumpStackTablePermArg) - aux(
        JumpStackAux.RunningProductPermArg
    )
    hash_input = aux(ProcessorAux.HashInputEvalArg) - aux(HashAux.HashInputRunningEvaluation)
    hash_digest = aux(HashAux.HashDigestRunningEvaluation) - aux(ProcessorAux.HashDigestEvalArg)
    sponge = aux(ProcessorAux.SpongeEvalArg) - aux(HashAux.SpongeRunningEvaluation)
    hash_to_cascade = aux(CascadeAux.HashTableServerLogDerivative)
    for state in range(4):
        for limb in ("Highest", "MidHigh", "MidLow", "Lowest"):
            hash_to_cascade = hash_to_cascade - aux(HashAux[f"CascadeState{state}{limb}ClientLogDerivative"])
    cascade_to_lookup = aux(CascadeAux.LookupTableClientLogDerivative) - aux(
        LookupAux.CascadeTableServerLogDerivative
    )
    processor_to_u32 = aux(ProcessorAux.U32LookupClientLogDerivative) - aux(U32Aux.LookupServerLogDerivative)
    clock_jump_difference_lookup = (
        aux(ProcessorAux.ClockJumpDifferenceLookupServerLogDerivative)
        - aux(OpStackAux.ClockJumpDifferenceLookupClientLogDerivative)
        - aux(RamAux.ClockJumpDifferenceLookupClientLogDerivative)
        - aux(JumpStackAux.ClockJumpDifferenceLookupClientLogDerivative)
    )
    return [
        program_attestation,
        input_to_processor,
        processor_to_output,
        instruction_lookup,
        processor_to_op_stack,
        processor_to_ram,
        processor_to_jump_stack,
        hash_input,
        hash_digest,
        sponge,
        hash_to_cascade,
        cascade_to_lookup,
        processor_to_u32,
        clock_jump_difference_lookup,
    ]
