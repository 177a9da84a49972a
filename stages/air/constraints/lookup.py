"""Lookup table AIR (port of upstream `triton-air/src/table/lookup.rs`, same builder-call order)."""

from __future__ import annotations

from functools import partial

from tvmpd.stages.air.challenges import ChallengeId as Ch
from tvmpd.stages.air.circuit import CircuitBuilder, Node, SingleRow
from tvmpd.stages.air.columns import LookupAux as A
from tvmpd.stages.air.columns import LookupMain as M
from tvmpd.stages.air.constraints import leaves


def initial_constraints(b: CircuitBuilder) -> list[Node]:
    main = partial(leaves.main, b)
    aux = partial(leaves.aux, b)

    lookup_input = main(M.LookIn)
    lookup_output = main(M.LookOut)
    multiplicity = main(M.LookupMultiplicity)
    cascade_ld = aux(A.CascadeTableServerLogDerivative)
    public_eval = aux(A.PublicEvaluationArgument)

    # the first input is 0, so it does not enter the compressed row
    lookup_initial = b.x_constant((0, 0, 0))
    cascade_indeterminate = b.challenge(Ch.CascadeLookupIndeterminate)
    compressed_row = lookup_output * b.challenge(Ch.LookupTableOutputWeight)
    cascade_initialized = (cascade_ld - lookup_initial) * (
        cascade_indeterminate - compressed_row
    ) - multiplicity

    eval_initial = b.x_constant((1, 0, 0))
    public_indeterminate = b.challenge(Ch.LookupTablePublicIndeterminate)
    public_initialized = public_eval - eval_initial * public_indeterminate - lookup_output
    return [lookup_input, cascade_initialized, public_initialized]


def consistency_constraints(b: CircuitBuilder) -> list[Node]:
    main = partial(leaves.main, b)

    return [main(M.IsPadding) * (b.b_constant(1) - main(M.IsPadding))]


def transition_constraints(b: CircuitBuilder) -> list[Node]:
    def one():
        return b.b_constant(1)

    cur = partial(leaves.curr_main, b)
    nxt = partial(leaves.next_main, b)
    cur_aux = partial(leaves.curr_aux, b)
    nxt_aux = partial(leaves.next_aux, b)

    lookup_input = cur(M.LookIn)
    is_padding = cur(M.IsPadding)
    cascade_ld = cur_aux(A.CascadeTableServerLogDerivative)
    public_eval = cur_aux(A.PublicEvaluationArgument)

    lookup_input_next = nxt(M.LookIn)
    lookup_output_next = nxt(M.LookOut)
    multiplicity_next = nxt(M.LookupMultiplicity)
    is_padding_next = nxt(M.IsPadding)
    cascade_ld_next = nxt_aux(A.CascadeTableServerLogDerivative)
    public_eval_next = nxt_aux(A.PublicEvaluationArgument)

    padding_stays_padding = is_padding * (one() - is_padding_next)
    padding_input_is_0 = is_padding_next * lookup_input_next
    input_increments = (one() - is_padding_next) * (lookup_input_next - lookup_input - one())
    input_increments_iff_not_padding = padding_input_is_0 + input_increments

    cascade_indeterminate = b.challenge(Ch.CascadeLookupIndeterminate)
    compressed_row = lookup_input_next * b.challenge(
        Ch.LookupTableInputWeight
    ) + lookup_output_next * b.challenge(Ch.LookupTableOutputWeight)
    cascade_remains = cascade_ld_next - cascade_ld
    cascade_updates = (cascade_ld_next - cascade_ld) * (
        cascade_indeterminate - compressed_row
    ) - multiplicity_next
    cascade_updates_iff_not_padding = (
        one() - is_padding_next
    ) * cascade_updates + is_padding_next * cascade_remains

    public_indeterminate = b.challenge(Ch.LookupTablePublicIndeterminate)
    public_remains = public_eval_next - public_eval
    public_updates = public_eval_next - public_eval * public_indeterminate - lookup_output_next
    public_updates_iff_not_padding = (
        one() - is_padding_next
    ) * public_updates + is_padding_next * public_remains
    return [
        padding_stays_padding,
        input_increments_iff_not_padding,
        cascade_updates_iff_not_padding,
        public_updates_iff_not_padding,
    ]


def terminal_constraints(b: CircuitBuilder) -> list[Node]:
    public_eval = b.input(SingleRow.aux(A.PublicEvaluationArgument))
    return [public_eval - b.challenge(Ch.LookupTablePublicTerminal)]
