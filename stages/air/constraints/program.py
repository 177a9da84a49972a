"""Program table AIR (port of upstream `triton-air/src/table/program.rs`, same builder-call order)."""

from __future__ import annotations

from functools import partial

from tvmpd.stages.air.challenges import ChallengeId as Ch
from tvmpd.stages.air.circuit import CircuitBuilder, Node
from tvmpd.stages.air.columns import ProgramAux as A
from tvmpd.stages.air.columns import ProgramMain as M
from tvmpd.stages.air.constraints import leaves

RATE = 10


def initial_constraints(b: CircuitBuilder) -> list[Node]:
    main = partial(leaves.main, b)
    aux = partial(leaves.aux, b)

    address = main(M.Address)
    instruction = main(M.Instruction)
    index_in_chunk = main(M.IndexInChunk)
    is_hash_input_padding = main(M.IsHashInputPadding)
    instruction_lookup_log_derivative = aux(A.InstructionLookupServerLogDerivative)
    prepare_chunk_running_evaluation = aux(A.PrepareChunkRunningEvaluation)
    send_chunk_running_evaluation = aux(A.SendChunkRunningEvaluation)

    lookup_arg_initial = b.x_constant((0, 0, 0))
    eval_arg_initial = b.x_constant((1, 0, 0))
    prepare_chunk_indeterminate = b.challenge(Ch.ProgramAttestationPrepareChunkIndeterminate)

    log_derivative_initial = instruction_lookup_log_derivative - lookup_arg_initial
    prepare_chunk_absorbed_first = (
        prepare_chunk_running_evaluation - eval_arg_initial * prepare_chunk_indeterminate - instruction
    )
    send_chunk_initial = send_chunk_running_evaluation - eval_arg_initial
    return [
        address,
        index_in_chunk,
        is_hash_input_padding,
        log_derivative_initial,
        prepare_chunk_absorbed_first,
        send_chunk_initial,
    ]


def consistency_constraints(b: CircuitBuilder) -> list[Node]:
    main = partial(leaves.main, b)

    one = b.b_constant(1)
    max_index_in_chunk = b.b_constant(RATE - 1)
    index_in_chunk = main(M.IndexInChunk)
    max_minus_index_inv = main(M.MaxMinusIndexInChunkInv)
    is_hash_input_padding = main(M.IsHashInputPadding)
    is_table_padding = main(M.IsTablePadding)

    max_minus_index = max_index_in_chunk - index_in_chunk
    inv_is_zero_or_inverse = (one - max_minus_index * max_minus_index_inv) * max_minus_index_inv
    value_is_zero_or_inverse = (one - max_minus_index * max_minus_index_inv) * max_minus_index
    hash_input_padding_is_bit = is_hash_input_padding * (is_hash_input_padding - one)
    table_padding_is_bit = is_table_padding * (is_table_padding - one)
    table_padding_implies_hash_input_padding = is_table_padding * (one - is_hash_input_padding)
    return [
        inv_is_zero_or_inverse,
        value_is_zero_or_inverse,
        hash_input_padding_is_bit,
        table_padding_is_bit,
        table_padding_implies_hash_input_padding,
    ]


def transition_constraints(b: CircuitBuilder) -> list[Node]:
    ch = partial(leaves.challenge, b)
    cur = partial(leaves.curr_main, b)
    nxt = partial(leaves.next_main, b)
    cur_aux = partial(leaves.curr_aux, b)
    nxt_aux = partial(leaves.next_aux, b)

    one = b.b_constant(1)
    rate_minus_one = b.b_constant(RATE - 1)
    prepare_chunk_indeterminate = ch(Ch.ProgramAttestationPrepareChunkIndeterminate)
    send_chunk_indeterminate = ch(Ch.ProgramAttestationSendChunkIndeterminate)

    address = cur(M.Address)
    instruction = cur(M.Instruction)
    lookup_multiplicity = cur(M.LookupMultiplicity)
    index_in_chunk = cur(M.IndexInChunk)
    max_minus_index_inv = cur(M.MaxMinusIndexInChunkInv)
    is_hash_input_padding = cur(M.IsHashInputPadding)
    is_table_padding = cur(M.IsTablePadding)
    log_derivative = cur_aux(A.InstructionLookupServerLogDerivative)
    prepare_chunk = cur_aux(A.PrepareChunkRunningEvaluation)
    send_chunk = cur_aux(A.SendChunkRunningEvaluation)

    address_next = nxt(M.Address)
    instruction_next = nxt(M.Instruction)
    index_in_chunk_next = nxt(M.IndexInChunk)
    max_minus_index_inv_next = nxt(M.MaxMinusIndexInChunkInv)
    is_hash_input_padding_next = nxt(M.IsHashInputPadding)
    is_table_padding_next = nxt(M.IsTablePadding)
    log_derivative_next = nxt_aux(A.InstructionLookupServerLogDerivative)
    prepare_chunk_next = nxt_aux(A.PrepareChunkRunningEvaluation)
    send_chunk_next = nxt_aux(A.SendChunkRunningEvaluation)

    address_increases_by_one = address_next - (address + one)
    table_padding_0_or_unchanged = is_table_padding * (is_table_padding_next - is_table_padding)
    index_in_chunk_cycles = (
        one - max_minus_index_inv * (rate_minus_one - index_in_chunk)
    ) * index_in_chunk_next + max_minus_index_inv * (index_in_chunk_next - index_in_chunk - one)
    hash_input_indicator_0_or_unchanged = is_hash_input_padding * (is_hash_input_padding_next - one)
    first_hash_input_padding_is_1 = (
        (is_hash_input_padding - one) * is_hash_input_padding_next * (instruction_next - one)
    )
    hash_input_padding_0_after_first_1 = is_hash_input_padding * instruction_next
    next_row_is_table_padding_row = is_table_padding_next - one
    table_padding_starts_correctly = (
        is_hash_input_padding
        * (one - max_minus_index_inv * (rate_minus_one - index_in_chunk))
        * next_row_is_table_padding_row
    )

    log_derivative_remains = log_derivative_next - log_derivative
    compressed_row = (
        ch(Ch.ProgramAddressWeight) * address
        + ch(Ch.ProgramInstructionWeight) * instruction
        + ch(Ch.ProgramNextInstructionWeight) * instruction_next
    )
    indeterminate = ch(Ch.InstructionLookupIndeterminate)
    log_derivative_updates = (log_derivative_next - log_derivative) * (
        indeterminate - compressed_row
    ) - lookup_multiplicity
    log_derivative_updates_iff_not_padding = (
        one - is_hash_input_padding
    ) * log_derivative_updates + is_hash_input_padding * log_derivative_remains

    prepare_absorbs = prepare_chunk_next - prepare_chunk_indeterminate * prepare_chunk - instruction_next
    prepare_resets_and_absorbs = prepare_chunk_next - prepare_chunk_indeterminate - instruction_next
    index_in_chunk_is_max = rate_minus_one - index_in_chunk
    index_in_chunk_is_not_max = one - max_minus_index_inv * (rate_minus_one - index_in_chunk)
    prepare_chunk_update = (
        index_in_chunk_is_max * prepare_absorbs + index_in_chunk_is_not_max * prepare_resets_and_absorbs
    )

    send_absorbs = send_chunk_next - send_chunk_indeterminate * send_chunk - prepare_chunk_next
    send_unchanged = send_chunk_next - send_chunk
    index_in_chunk_next_is_max = rate_minus_one - index_in_chunk_next
    index_in_chunk_next_is_not_max = one - max_minus_index_inv_next * index_in_chunk_next_is_max
    send_chunk_update = (
        send_absorbs * next_row_is_table_padding_row * index_in_chunk_next_is_not_max
        + send_unchanged * is_table_padding_next
        + send_unchanged * index_in_chunk_next_is_max
    )
    return [
        address_increases_by_one,
        table_padding_0_or_unchanged,
        index_in_chunk_cycles,
        hash_input_indicator_0_or_unchanged,
        first_hash_input_padding_is_1,
        hash_input_padding_0_after_first_1,
        table_padding_starts_correctly,
        log_derivative_updates_iff_not_padding,
        prepare_chunk_update,
        send_chunk_update,
    ]


def terminal_constraints(b: CircuitBuilder) -> list[Node]:
    main = partial(leaves.main, b)

    index_in_chunk = main(M.IndexInChunk)
    is_hash_input_padding = main(M.IsHashInputPadding)
    is_table_padding = main(M.IsTablePadding)
    hash_input_padding_is_one = is_hash_input_padding - b.b_constant(1)
    index_max_or_padding = (index_in_chunk - b.b_constant(RATE - 1)) * (is_table_padding - b.b_constant(1))
    return [hash_input_padding_is_one, index_max_or_padding]
