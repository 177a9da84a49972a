"""U32 table AIR (port of upstream `triton-air/src/table/u32.rs`, same builder-call order)."""

from __future__ import annotations

from functools import partial

from tvmpd.stages.air.challenges import ChallengeId as Ch
from tvmpd.stages.air.circuit import CircuitBuilder, DualRow, Node, SingleRow
from tvmpd.stages.air.columns import U32Aux as A
from tvmpd.stages.air.columns import U32Main as M
from tvmpd.stages.air.constraints import leaves

OP_SPLIT, OP_LT, OP_AND, OP_LOG2FLOOR, OP_POW, OP_POPCOUNT = 4, 6, 14, 12, 30, 28
_U32_INSTRUCTIONS = (OP_SPLIT, OP_LT, OP_AND, OP_LOG2FLOOR, OP_POW, OP_POPCOUNT)


def instruction_deselector(opcode: int, b: CircuitBuilder, ci: Node) -> Node:
    """Product of (ci - opcode') over the other u32 instructions: non-zero only for `opcode`."""
    acc = b.b_constant(1)
    for other in _U32_INSTRUCTIONS:
        if other != opcode:
            acc = acc * (ci - b.b_constant(other))
    return acc


def initial_constraints(b: CircuitBuilder) -> list[Node]:
    main = partial(leaves.main, b)
    ch = partial(leaves.challenge, b)

    one = b.b_constant(1)
    copy_flag = main(M.CopyFlag)
    lhs = main(M.LHS)
    rhs = main(M.RHS)
    ci = main(M.CI)
    result = main(M.Result)
    multiplicity = main(M.LookupMultiplicity)
    log_derivative = b.input(SingleRow.aux(A.LookupServerLogDerivative))

    compressed_row = (
        ch(Ch.U32LhsWeight) * lhs
        + ch(Ch.U32RhsWeight) * rhs
        + ch(Ch.U32CiWeight) * ci
        + ch(Ch.U32ResultWeight) * result
    )
    copy_flag_1_then_accumulated = copy_flag * (
        log_derivative * (ch(Ch.U32Indeterminate) - compressed_row) - multiplicity
    )
    default_initial = b.x_constant((0, 0, 0))
    copy_flag_0_then_default = (copy_flag - one) * (log_derivative - default_initial)
    return [copy_flag_0_then_default + copy_flag_1_then_accumulated]


def consistency_constraints(b: CircuitBuilder) -> list[Node]:
    main = partial(leaves.main, b)

    def one():
        return b.b_constant(1)

    def two():
        return b.b_constant(2)

    copy_flag = main(M.CopyFlag)
    bits = main(M.Bits)
    bits_minus_33_inv = main(M.BitsMinus33Inv)
    ci = main(M.CI)
    lhs = main(M.LHS)
    lhs_inv = main(M.LhsInv)
    rhs = main(M.RHS)
    rhs_inv = main(M.RhsInv)
    result = main(M.Result)
    multiplicity = main(M.LookupMultiplicity)

    def deselect(op):
        return instruction_deselector(op, b, ci)

    c0 = copy_flag * (one() - copy_flag)
    c1 = copy_flag * bits
    c2 = one() - bits_minus_33_inv * (bits - b.b_constant(33))
    c3 = lhs_inv * (one() - lhs * lhs_inv)
    c4 = lhs * (one() - lhs * lhs_inv)
    c5 = rhs_inv * (one() - rhs * rhs_inv)
    c6 = rhs * (one() - rhs * rhs_inv)
    c7 = (
        deselect(OP_LT)
        * (copy_flag - one())
        * (one() - lhs * lhs_inv)
        * (one() - rhs * rhs_inv)
        * (result - two())
    )
    c8 = deselect(OP_LT) * copy_flag * (one() - lhs * lhs_inv) * (one() - rhs * rhs_inv) * result
    c9 = deselect(OP_AND) * (one() - lhs * lhs_inv) * (one() - rhs * rhs_inv) * result
    c10 = deselect(OP_POW) * (one() - rhs * rhs_inv) * (result - one())
    c11 = deselect(OP_LOG2FLOOR) * (copy_flag - one()) * (one() - lhs * lhs_inv) * (result + one())
    c12 = deselect(OP_POPCOUNT) * (one() - lhs * lhs_inv) * result
    c13 = deselect(OP_LOG2FLOOR) * copy_flag * (one() - lhs * lhs_inv)
    c14 = (copy_flag - one()) * multiplicity
    return [c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14]


def transition_constraints(b: CircuitBuilder) -> list[Node]:
    cur = partial(leaves.curr_main, b)
    nxt = partial(leaves.next_main, b)
    ch = partial(leaves.challenge, b)

    def one():
        return b.b_constant(1)

    def two():
        return b.b_constant(2)

    copy_flag = cur(M.CopyFlag)
    bits = cur(M.Bits)
    ci = cur(M.CI)
    lhs = cur(M.LHS)
    rhs = cur(M.RHS)
    result = cur(M.Result)
    log_derivative = b.input(DualRow.curr_aux(A.LookupServerLogDerivative))

    copy_flag_next = nxt(M.CopyFlag)
    bits_next = nxt(M.Bits)
    ci_next = nxt(M.CI)
    lhs_next = nxt(M.LHS)
    rhs_next = nxt(M.RHS)
    result_next = nxt(M.Result)
    lhs_inv_next = nxt(M.LhsInv)
    multiplicity_next = nxt(M.LookupMultiplicity)
    log_derivative_next = b.input(DualRow.next_aux(A.LookupServerLogDerivative))

    def deselect(op):
        return instruction_deselector(op, b, ci_next)

    ci_is_pow = ci - b.b_constant(OP_POW)
    lhs_lsb = lhs - two() * lhs_next
    rhs_lsb = rhs - two() * rhs_next

    t0 = copy_flag_next * lhs * ci_is_pow
    t1 = copy_flag_next * rhs
    t2 = (copy_flag_next - one()) * (ci_next - ci)
    t3 = (copy_flag_next - one()) * lhs * ci_is_pow * (bits_next - bits - one())
    t4 = (copy_flag_next - one()) * rhs * (bits_next - bits - one())
    t5 = (copy_flag_next - one()) * ci_is_pow * lhs_lsb * (lhs_lsb - one())
    t6 = (copy_flag_next - one()) * rhs_lsb * (rhs_lsb - one())

    t7 = (copy_flag_next - one()) * deselect(OP_LT) * (result_next - one()) * (result_next - two()) * result
    t8 = (copy_flag_next - one()) * deselect(OP_LT) * result_next * (result_next - two()) * (result - one())
    t9 = (
        (copy_flag_next - one())
        * deselect(OP_LT)
        * result_next
        * (result_next - one())
        * (lhs_lsb - one())
        * rhs_lsb
        * (result - one())
    )
    t10 = (
        (copy_flag_next - one())
        * deselect(OP_LT)
        * result_next
        * (result_next - one())
        * lhs_lsb
        * (rhs_lsb - one())
        * result
    )
    t11 = (
        (copy_flag_next - one())
        * deselect(OP_LT)
        * result_next
        * (result_next - one())
        * (one() - lhs_lsb - rhs_lsb + two() * lhs_lsb * rhs_lsb)
        * (copy_flag - one())
        * (result - two())
    )
    t12 = (
        (copy_flag_next - one())
        * deselect(OP_LT)
        * result_next
        * (result_next - one())
        * (one() - lhs_lsb - rhs_lsb + two() * lhs_lsb * rhs_lsb)
        * copy_flag
        * result
    )
    t13 = (copy_flag_next - one()) * deselect(OP_AND) * (result - two() * result_next - lhs_lsb * rhs_lsb)
    t14 = (
        (copy_flag_next - one())
        * deselect(OP_LOG2FLOOR)
        * (one() - lhs_next * lhs_inv_next)
        * lhs
        * (result - bits)
    )
    t15 = (copy_flag_next - one()) * deselect(OP_LOG2FLOOR) * lhs_next * (result_next - result)
    t16 = (copy_flag_next - one()) * deselect(OP_POW) * (lhs_next - lhs)
    t17 = (
        (copy_flag_next - one()) * deselect(OP_POW) * (rhs_lsb - one()) * (result - result_next * result_next)
    )
    t18 = (copy_flag_next - one()) * deselect(OP_POW) * rhs_lsb * (result - result_next * result_next * lhs)
    t19 = (copy_flag_next - one()) * deselect(OP_POPCOUNT) * (result - result_next - lhs_lsb)
    t20 = (copy_flag_next - one()) * (log_derivative_next - log_derivative)

    compressed_row_next = (
        ch(Ch.U32CiWeight) * ci_next
        + ch(Ch.U32LhsWeight) * lhs_next
        + ch(Ch.U32RhsWeight) * rhs_next
        + ch(Ch.U32ResultWeight) * result_next
    )
    t21 = copy_flag_next * (
        (log_derivative_next - log_derivative) * (ch(Ch.U32Indeterminate) - compressed_row_next)
        - multiplicity_next
    )
    return [
        t0,
        t1,
        t2,
        t3,
        t4,
        t5,
        t6,
        t7,
        t8,
        t9,
        t10,
        t11,
        t12,
        t13,
        t14,
        t15,
        t16,
        t17,
        t18,
        t19,
        t20,
        t21,
    ]


def terminal_constraints(b: CircuitBuilder) -> list[Node]:
    main = partial(leaves.main, b)

    ci = main(M.CI)
    lhs = main(M.LHS)
    rhs = main(M.RHS)
    return [lhs * (ci - b.b_constant(OP_POW)), rhs]
