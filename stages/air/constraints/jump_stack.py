"""Jump-stack table AIR (port of upstream `triton-air/src/table/jump_stack.rs`, same builder-call order)."""

from __future__ import annotations

from tvmpd.stages.air.challenges import ChallengeId as Ch
from tvmpd.stages.air.circuit import CircuitBuilder, DualRow, Node, SingleRow
from tvmpd.stages.air.columns import JumpStackAux as A
from tvmpd.stages.air.columns import JumpStackMain as M

OPCODE_CALL = 49
OPCODE_RETURN = 16
OPCODE_RECURSE_OR_RETURN = 32


def initial_constraints(b: CircuitBuilder) -> list[Node]:
    clk = b.input(SingleRow.main(M.CLK))
    jsp = b.input(SingleRow.main(M.JSP))
    jso = b.input(SingleRow.main(M.JSO))
    jsd = b.input(SingleRow.main(M.JSD))
    ci = b.input(SingleRow.main(M.CI))
    rppa = b.input(SingleRow.aux(A.RunningProductPermArg))
    cjd = b.input(SingleRow.aux(A.ClockJumpDifferenceLookupClientLogDerivative))
    perm_indeterminate = b.challenge(Ch.JumpStackIndeterminate)
    # clk, jsp, jso and jsd are 0 in the first row, so only ci enters the compressed row
    compressed_row = b.challenge(Ch.JumpStackCiWeight) * ci
    rppa_starts_correctly = rppa - (perm_indeterminate - compressed_row)
    cjd_starts_correctly = cjd - b.x_constant((0, 0, 0))
    return [clk, jsp, jso, jsd, rppa_starts_correctly, cjd_starts_correctly]


def consistency_constraints(b: CircuitBuilder) -> list[Node]:
    return []


def transition_constraints(b: CircuitBuilder) -> list[Node]:
    def one():
        return b.b_constant(1)

    call_opcode = b.b_constant(OPCODE_CALL)
    return_opcode = b.b_constant(OPCODE_RETURN)
    recurse_or_return_opcode = b.b_constant(OPCODE_RECURSE_OR_RETURN)

    clk = b.input(DualRow.curr_main(M.CLK))
    ci = b.input(DualRow.curr_main(M.CI))
    jsp = b.input(DualRow.curr_main(M.JSP))
    jso = b.input(DualRow.curr_main(M.JSO))
    jsd = b.input(DualRow.curr_main(M.JSD))
    rppa = b.input(DualRow.curr_aux(A.RunningProductPermArg))
    cjd = b.input(DualRow.curr_aux(A.ClockJumpDifferenceLookupClientLogDerivative))

    clk_next = b.input(DualRow.next_main(M.CLK))
    ci_next = b.input(DualRow.next_main(M.CI))
    jsp_next = b.input(DualRow.next_main(M.JSP))
    jso_next = b.input(DualRow.next_main(M.JSO))
    jsd_next = b.input(DualRow.next_main(M.JSD))
    rppa_next = b.input(DualRow.next_aux(A.RunningProductPermArg))
    cjd_next = b.input(DualRow.next_aux(A.ClockJumpDifferenceLookupClientLogDerivative))

    jsp_inc_or_stays = (jsp_next - jsp - one()) * (jsp_next - jsp)
    jsp_inc_or_ci_can_return = (
        (jsp_next - jsp - one()) * (ci - return_opcode) * (ci - recurse_or_return_opcode)
    )
    jsp_inc_or_jso_stays = jsp_inc_or_ci_can_return * (jso_next - jso)
    jsp_inc_or_jsd_stays = jsp_inc_or_ci_can_return * (jsd_next - jsd)
    jsp_inc_or_clk_inc_or_call = jsp_inc_or_ci_can_return * (clk_next - clk - one()) * (ci - call_opcode)

    compressed_row = (
        b.challenge(Ch.JumpStackClkWeight) * clk_next
        + b.challenge(Ch.JumpStackCiWeight) * ci_next
        + b.challenge(Ch.JumpStackJspWeight) * jsp_next
        + b.challenge(Ch.JumpStackJsoWeight) * jso_next
        + b.challenge(Ch.JumpStackJsdWeight) * jsd_next
    )
    rppa_updates = rppa_next - rppa * (b.challenge(Ch.JumpStackIndeterminate) - compressed_row)

    log_derivative_remains = cjd_next - cjd
    clk_diff = clk_next - clk
    log_derivative_accumulates = (cjd_next - cjd) * (
        b.challenge(Ch.ClockJumpDifferenceLookupIndeterminate) - clk_diff
    ) - one()
    log_derivative_updates = (jsp_next - jsp - one()) * log_derivative_accumulates + (
        jsp_next - jsp
    ) * log_derivative_remains
    return [
        jsp_inc_or_stays,
        jsp_inc_or_jso_stays,
        jsp_inc_or_jsd_stays,
        jsp_inc_or_clk_inc_or_call,
        rppa_updates,
        log_derivative_updates,
    ]


def terminal_constraints(b: CircuitBuilder) -> list[Node]:
    return []
