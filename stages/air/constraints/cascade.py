"""Cascade table AIR (port of upstream `triton-air/src/table/cascade.rs`, same builder-call order)."""

from __future__ import annotations

from functools import partial

from tvmpd.stages.air.challenges import ChallengeId as Ch
from tvmpd.stages.air.circuit import CircuitBuilder, Node, SingleRow
from tvmpd.stages.air.columns import CascadeAux as A
from tvmpd.stages.air.columns import CascadeMain as M
from tvmpd.stages.air.constraints import leaves


def initial_constraints(b: CircuitBuilder) -> list[Node]:
    main = partial(leaves.main, b)
    aux = partial(leaves.aux, b)

    def one():
        return b.b_constant(1)

    def two():
        return b.b_constant(2)

    two_pow_8 = b.b_constant(1 << 8)
    lookup_initial = b.x_constant((0, 0, 0))

    is_padding = main(M.IsPadding)
    look_in_hi = main(M.LookInHi)
    look_in_lo = main(M.LookInLo)
    look_out_hi = main(M.LookOutHi)
    look_out_lo = main(M.LookOutLo)
    multiplicity = main(M.LookupMultiplicity)
    hash_log_derivative = aux(A.HashTableServerLogDerivative)
    lookup_log_derivative = aux(A.LookupTableClientLogDerivative)

    hash_indeterminate = b.challenge(Ch.HashCascadeLookupIndeterminate)
    hash_input_weight = b.challenge(Ch.HashCascadeLookInWeight)
    hash_output_weight = b.challenge(Ch.HashCascadeLookOutWeight)
    lookup_indeterminate = b.challenge(Ch.CascadeLookupIndeterminate)
    lookup_input_weight = b.challenge(Ch.LookupTableInputWeight)
    lookup_output_weight = b.challenge(Ch.LookupTableOutputWeight)

    compressed_row_hash = hash_input_weight * (two_pow_8 * look_in_hi + look_in_lo) + hash_output_weight * (
        two_pow_8 * look_out_hi + look_out_lo
    )
    hash_default_initial = hash_log_derivative - lookup_initial
    hash_accumulated_first = (hash_log_derivative - lookup_initial) * (
        hash_indeterminate - compressed_row_hash
    ) - multiplicity
    hash_initialized = (one() - is_padding) * hash_accumulated_first + is_padding * hash_default_initial

    compressed_row_lo = lookup_input_weight * look_in_lo + lookup_output_weight * look_out_lo
    compressed_row_hi = lookup_input_weight * look_in_hi + lookup_output_weight * look_out_hi
    lookup_default_initial = lookup_log_derivative - lookup_initial
    lookup_accumulated_first = (
        (lookup_log_derivative - lookup_initial)
        * (lookup_indeterminate - compressed_row_lo)
        * (lookup_indeterminate - compressed_row_hi)
        - two() * lookup_indeterminate
        + compressed_row_lo
        + compressed_row_hi
    )
    lookup_initialized = (one() - is_padding) * lookup_accumulated_first + is_padding * lookup_default_initial
    return [hash_initialized, lookup_initialized]


def consistency_constraints(b: CircuitBuilder) -> list[Node]:
    one = b.b_constant(1)
    is_padding = b.input(SingleRow.main(M.IsPadding))
    return [is_padding * (one - is_padding)]


def transition_constraints(b: CircuitBuilder) -> list[Node]:
    cur = partial(leaves.curr_main, b)
    nxt = partial(leaves.next_main, b)
    cur_aux = partial(leaves.curr_aux, b)
    nxt_aux = partial(leaves.next_aux, b)

    one = b.b_constant(1)
    two = b.b_constant(2)
    two_pow_8 = b.b_constant(1 << 8)

    is_padding = cur(M.IsPadding)
    hash_ld = cur_aux(A.HashTableServerLogDerivative)
    lookup_ld = cur_aux(A.LookupTableClientLogDerivative)

    is_padding_next = nxt(M.IsPadding)
    look_in_hi_next = nxt(M.LookInHi)
    look_in_lo_next = nxt(M.LookInLo)
    look_out_hi_next = nxt(M.LookOutHi)
    look_out_lo_next = nxt(M.LookOutLo)
    multiplicity_next = nxt(M.LookupMultiplicity)
    hash_ld_next = nxt_aux(A.HashTableServerLogDerivative)
    lookup_ld_next = nxt_aux(A.LookupTableClientLogDerivative)

    hash_indeterminate = b.challenge(Ch.HashCascadeLookupIndeterminate)
    hash_input_weight = b.challenge(Ch.HashCascadeLookInWeight)
    hash_output_weight = b.challenge(Ch.HashCascadeLookOutWeight)
    lookup_indeterminate = b.challenge(Ch.CascadeLookupIndeterminate)
    lookup_input_weight = b.challenge(Ch.LookupTableInputWeight)
    lookup_output_weight = b.challenge(Ch.LookupTableOutputWeight)

    padding_stays_padding = is_padding * (one - is_padding_next)

    compressed_next_row_hash = hash_input_weight * (
        two_pow_8 * look_in_hi_next + look_in_lo_next
    ) + hash_output_weight * (two_pow_8 * look_out_hi_next + look_out_lo_next)
    hash_remains = hash_ld_next - hash_ld
    hash_accumulates = (hash_ld_next - hash_ld) * (
        hash_indeterminate - compressed_next_row_hash
    ) - multiplicity_next
    hash_updates = (one - is_padding_next) * hash_accumulates + is_padding_next * hash_remains

    compressed_lo_next = lookup_input_weight * look_in_lo_next + lookup_output_weight * look_out_lo_next
    compressed_hi_next = lookup_input_weight * look_in_hi_next + lookup_output_weight * look_out_hi_next
    lookup_remains = lookup_ld_next - lookup_ld
    lookup_accumulates = (
        (lookup_ld_next - lookup_ld)
        * (lookup_indeterminate - compressed_lo_next)
        * (lookup_indeterminate - compressed_hi_next)
        - two * lookup_indeterminate
        + compressed_lo_next
        + compressed_hi_next
    )
    lookup_updates = (one - is_padding_next) * lookup_accumulates + is_padding_next * lookup_remains
    return [padding_stays_padding, hash_updates, lookup_updates]


def terminal_constraints(b: CircuitBuilder) -> list[Node]:
    return []
