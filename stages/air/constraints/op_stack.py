"""Op-stack table AIR (port of upstream `triton-air/src/table/op_stack.rs`, same builder-call order)."""

from __future__ import annotations

from functools import partial

from tvmpd.stages.air.challenges import ChallengeId as Ch
from tvmpd.stages.air.circuit import CircuitBuilder, Node, SingleRow
from tvmpd.stages.air.columns import OpStackAux as A
from tvmpd.stages.air.columns import OpStackMain as M
from tvmpd.stages.air.constraints import leaves

PADDING_VALUE = 2
NUM_OP_STACK_REGISTERS = 16


def initial_constraints(b: CircuitBuilder) -> list[Node]:
    ch = partial(leaves.challenge, b)
    main = partial(leaves.main, b)
    aux = partial(leaves.aux, b)

    initial_stack_length = b.b_constant(NUM_OP_STACK_REGISTERS)
    padding_indicator = b.b_constant(PADDING_VALUE)
    stack_pointer_is_16 = main(M.StackPointer) - initial_stack_length

    compressed_row = (
        ch(Ch.OpStackClkWeight) * main(M.CLK)
        + ch(Ch.OpStackIb1Weight) * main(M.IB1ShrinkStack)
        + ch(Ch.OpStackPointerWeight) * initial_stack_length
        + ch(Ch.OpStackFirstUnderflowElementWeight) * main(M.FirstUnderflowElement)
    )
    rppa_initial = ch(Ch.OpStackIndeterminate) - compressed_row
    rppa_has_accumulated_first_row = aux(A.RunningProductPermArg) - rppa_initial
    rppa_is_default_initial = aux(A.RunningProductPermArg) - b.x_constant((1, 0, 0))
    first_row_is_padding_row = main(M.IB1ShrinkStack) - padding_indicator
    first_row_is_not_padding_row = main(M.IB1ShrinkStack) * (main(M.IB1ShrinkStack) - b.b_constant(1))
    rppa_starts_correctly = (
        rppa_has_accumulated_first_row * first_row_is_padding_row
        + rppa_is_default_initial * first_row_is_not_padding_row
    )
    lookup_argument_initial = b.x_constant((0, 0, 0))
    log_derivative_initial = aux(A.ClockJumpDifferenceLookupClientLogDerivative) - lookup_argument_initial
    return [stack_pointer_is_16, rppa_starts_correctly, log_derivative_initial]


def consistency_constraints(b: CircuitBuilder) -> list[Node]:
    def ib1():
        return b.input(SingleRow.main(M.IB1ShrinkStack))

    ib1_is_legal = ib1() * (ib1() - b.b_constant(1)) * (ib1() - b.b_constant(PADDING_VALUE))
    return [ib1_is_legal]


def transition_constraints(b: CircuitBuilder) -> list[Node]:
    ch = partial(leaves.challenge, b)
    cur = partial(leaves.curr_main, b)
    nxt = partial(leaves.next_main, b)
    cur_aux = partial(leaves.curr_aux, b)
    nxt_aux = partial(leaves.next_aux, b)

    one = b.b_constant(1)
    padding_indicator = b.b_constant(PADDING_VALUE)

    clk = cur(M.CLK)
    ib1 = cur(M.IB1ShrinkStack)
    sp = cur(M.StackPointer)
    fue = cur(M.FirstUnderflowElement)
    rppa = cur_aux(A.RunningProductPermArg)
    cjd = cur_aux(A.ClockJumpDifferenceLookupClientLogDerivative)

    clk_next = nxt(M.CLK)
    ib1_next = nxt(M.IB1ShrinkStack)
    sp_next = nxt(M.StackPointer)
    fue_next = nxt(M.FirstUnderflowElement)
    rppa_next = nxt_aux(A.RunningProductPermArg)
    cjd_next = nxt_aux(A.ClockJumpDifferenceLookupClientLogDerivative)

    sp_inc_by_1_or_unchanged = (sp_next - sp - one) * (sp_next - sp)
    sp_inc_or_underflow_unchanged_or_grows = (sp_next - sp - one) * (fue_next - fue) * ib1_next
    next_row_is_padding_row = ib1_next - padding_indicator
    padding_rows_stay_padding = ib1 * (ib1 - one) * next_row_is_padding_row

    compressed_row = (
        ch(Ch.OpStackClkWeight) * clk_next
        + ch(Ch.OpStackIb1Weight) * ib1_next
        + ch(Ch.OpStackPointerWeight) * sp_next
        + ch(Ch.OpStackFirstUnderflowElementWeight) * fue_next
    )
    rppa_updates = rppa_next - rppa * (ch(Ch.OpStackIndeterminate) - compressed_row)
    next_row_is_not_padding_row = ib1_next * (ib1_next - one)
    rppa_remains = rppa_next - rppa
    rppa_updates_correctly = (
        rppa_updates * next_row_is_padding_row + rppa_remains * next_row_is_not_padding_row
    )

    clk_diff = clk_next - clk
    log_derivative_accumulates = (cjd_next - cjd) * (
        ch(Ch.ClockJumpDifferenceLookupIndeterminate) - clk_diff
    ) - one
    log_derivative_remains = cjd_next - cjd
    accumulates_or_sp_changes_or_padding = (
        log_derivative_accumulates * (sp_next - sp - one) * next_row_is_padding_row
    )
    remains_or_sp_unchanged = log_derivative_remains * (sp_next - sp)
    remains_or_next_not_padding = log_derivative_remains * next_row_is_not_padding_row
    log_derivative_updates_correctly = (
        accumulates_or_sp_changes_or_padding + remains_or_sp_unchanged + remains_or_next_not_padding
    )
    return [
        sp_inc_by_1_or_unchanged,
        sp_inc_or_underflow_unchanged_or_grows,
        padding_rows_stay_padding,
        rppa_updates_correctly,
        log_derivative_updates_correctly,
    ]


def terminal_constraints(b: CircuitBuilder) -> list[Node]:
    return []
