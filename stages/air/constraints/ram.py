"""RAM table AIR (port of upstream `triton-air/src/table/ram.rs`, same builder-call order)."""

from __future__ import annotations

from functools import partial

from tvmpd.stages.air.challenges import ChallengeId as Ch
from tvmpd.stages.air.circuit import CircuitBuilder, Node, SingleRow
from tvmpd.stages.air.columns import RamAux as A
from tvmpd.stages.air.columns import RamMain as M
from tvmpd.stages.air.constraints import leaves

INSTRUCTION_TYPE_WRITE = 0
INSTRUCTION_TYPE_READ = 1
PADDING_INDICATOR = 2


def initial_constraints(b: CircuitBuilder) -> list[Node]:
    ch = partial(leaves.challenge, b)
    const = partial(leaves.const, b)
    main = partial(leaves.main, b)
    aux = partial(leaves.aux, b)

    first_row_is_padding_row = main(M.InstructionType) - const(PADDING_INDICATOR)
    first_row_is_not_padding_row = (main(M.InstructionType) - const(INSTRUCTION_TYPE_READ)) * (
        main(M.InstructionType) - const(INSTRUCTION_TYPE_WRITE)
    )
    bcpc0_is_0 = main(M.BezoutCoefficientPolynomialCoefficient0)
    bc0_is_0 = aux(A.BezoutCoefficient0)
    bc1_is_bcpc1 = aux(A.BezoutCoefficient1) - main(M.BezoutCoefficientPolynomialCoefficient1)
    formal_derivative_is_1 = aux(A.FormalDerivative) - const(1)
    rp_ramp_initial = (
        aux(A.RunningProductOfRAMP) - ch(Ch.RamTableBezoutRelationIndeterminate) + main(M.RamPointer)
    )
    cjd_initial = aux(A.ClockJumpDifferenceLookupClientLogDerivative) - b.x_constant((0, 0, 0))

    compressed_row = (
        main(M.CLK) * ch(Ch.RamClkWeight)
        + main(M.InstructionType) * ch(Ch.RamInstructionTypeWeight)
        + main(M.RamPointer) * ch(Ch.RamPointerWeight)
        + main(M.RamValue) * ch(Ch.RamValueWeight)
    )
    rppa_has_accumulated_first_row = aux(A.RunningProductPermArg) - ch(Ch.RamIndeterminate) + compressed_row
    rppa_is_default_initial = aux(A.RunningProductPermArg) - b.x_constant((1, 0, 0))
    rppa_starts_correctly = (
        rppa_has_accumulated_first_row * first_row_is_padding_row
        + rppa_is_default_initial * first_row_is_not_padding_row
    )
    return [
        bcpc0_is_0,
        bc0_is_0,
        bc1_is_bcpc1,
        rp_ramp_initial,
        formal_derivative_is_1,
        rppa_starts_correctly,
        cjd_initial,
    ]


def consistency_constraints(b: CircuitBuilder) -> list[Node]:
    def it():
        return b.input(SingleRow.main(M.InstructionType))

    legal = (
        (it() - b.b_constant(INSTRUCTION_TYPE_WRITE))
        * (it() - b.b_constant(INSTRUCTION_TYPE_READ))
        * (it() - b.b_constant(PADDING_INDICATOR))
    )
    return [legal]


def transition_constraints(b: CircuitBuilder) -> list[Node]:
    ch = partial(leaves.challenge, b)
    const = partial(leaves.const, b)
    cur = partial(leaves.curr_main, b)
    nxt = partial(leaves.next_main, b)
    cur_aux = partial(leaves.curr_aux, b)
    nxt_aux = partial(leaves.next_aux, b)

    one = const(1)
    bezout_challenge = ch(Ch.RamTableBezoutRelationIndeterminate)

    clock = cur(M.CLK)
    ram_pointer = cur(M.RamPointer)
    ram_value = cur(M.RamValue)
    instruction_type = cur(M.InstructionType)
    iord = cur(M.InverseOfRampDifference)
    bcpc0 = cur(M.BezoutCoefficientPolynomialCoefficient0)
    bcpc1 = cur(M.BezoutCoefficientPolynomialCoefficient1)

    rp_ramp = cur_aux(A.RunningProductOfRAMP)
    fd = cur_aux(A.FormalDerivative)
    bc0 = cur_aux(A.BezoutCoefficient0)
    bc1 = cur_aux(A.BezoutCoefficient1)
    rppa = cur_aux(A.RunningProductPermArg)
    cjd = cur_aux(A.ClockJumpDifferenceLookupClientLogDerivative)

    clock_next = nxt(M.CLK)
    ram_pointer_next = nxt(M.RamPointer)
    ram_value_next = nxt(M.RamValue)
    instruction_type_next = nxt(M.InstructionType)
    bcpc0_next = nxt(M.BezoutCoefficientPolynomialCoefficient0)
    bcpc1_next = nxt(M.BezoutCoefficientPolynomialCoefficient1)

    rp_ramp_next = nxt_aux(A.RunningProductOfRAMP)
    fd_next = nxt_aux(A.FormalDerivative)
    bc0_next = nxt_aux(A.BezoutCoefficient0)
    bc1_next = nxt_aux(A.BezoutCoefficient1)
    rppa_next = nxt_aux(A.RunningProductPermArg)
    cjd_next = nxt_aux(A.ClockJumpDifferenceLookupClientLogDerivative)

    next_row_is_padding_row = instruction_type_next - const(PADDING_INDICATOR)
    padding_stays_padding = (
        (instruction_type - const(INSTRUCTION_TYPE_READ))
        * (instruction_type - const(INSTRUCTION_TYPE_WRITE))
        * next_row_is_padding_row
    )
    rp_diff = ram_pointer_next - ram_pointer
    rp_changes = one - rp_diff * iord
    iord_is_0_or_inverse = iord * rp_changes
    rp_diff_is_0_or_inverse = rp_diff * rp_changes
    rp_changes_or_write_or_value_stays = (
        rp_changes * (const(INSTRUCTION_TYPE_WRITE) - instruction_type_next) * (ram_value_next - ram_value)
    )
    bcpc0_only_changes_with_rp = rp_changes * (bcpc0_next - bcpc0)
    bcpc1_only_changes_with_rp = rp_changes * (bcpc1_next - bcpc1)
    rp_ramp_updates = rp_diff * (
        rp_ramp_next - rp_ramp * (bezout_challenge - ram_pointer_next)
    ) + rp_changes * (rp_ramp_next - rp_ramp)
    fd_updates = rp_diff * (fd_next - rp_ramp - (bezout_challenge - ram_pointer_next) * fd) + rp_changes * (
        fd_next - fd
    )
    bc0_updates = rp_diff * (bc0_next - bezout_challenge * bc0 - bcpc0_next) + rp_changes * (bc0_next - bc0)
    bc1_updates = rp_diff * (bc1_next - bezout_challenge * bc1 - bcpc1_next) + rp_changes * (bc1_next - bc1)

    compressed_row = (
        clock_next * ch(Ch.RamClkWeight)
        + ram_pointer_next * ch(Ch.RamPointerWeight)
        + ram_value_next * ch(Ch.RamValueWeight)
        + instruction_type_next * ch(Ch.RamInstructionTypeWeight)
    )
    rppa_accumulates = rppa_next - rppa * (ch(Ch.RamIndeterminate) - compressed_row)
    next_row_is_not_padding_row = (instruction_type_next - const(INSTRUCTION_TYPE_READ)) * (
        instruction_type_next - const(INSTRUCTION_TYPE_WRITE)
    )
    rppa_remains = rppa_next - rppa
    rppa_updates = rppa_accumulates * next_row_is_padding_row + rppa_remains * next_row_is_not_padding_row

    clock_difference = clock_next - clock
    log_derivative_accumulates = (cjd_next - cjd) * (
        ch(Ch.ClockJumpDifferenceLookupIndeterminate) - clock_difference
    ) - one
    log_derivative_remains = cjd_next - cjd
    term_a = log_derivative_accumulates * rp_changes * next_row_is_padding_row
    term_b = log_derivative_remains * rp_diff * next_row_is_padding_row
    term_c = log_derivative_remains * next_row_is_not_padding_row
    log_derivative_updates = term_a + term_b + term_c
    return [
        padding_stays_padding,
        iord_is_0_or_inverse,
        rp_diff_is_0_or_inverse,
        rp_changes_or_write_or_value_stays,
        bcpc0_only_changes_with_rp,
        bcpc1_only_changes_with_rp,
        rp_ramp_updates,
        fd_updates,
        bc0_updates,
        bc1_updates,
        rppa_updates,
        log_derivative_updates,
    ]


def terminal_constraints(b: CircuitBuilder) -> list[Node]:
    aux = partial(leaves.aux, b)

    bezout_relation_holds = (
        aux(A.BezoutCoefficient0) * aux(A.RunningProductOfRAMP)
        + aux(A.BezoutCoefficient1) * aux(A.FormalDerivative)
        - b.b_constant(1)
    )
    return [bezout_relation_holds]
