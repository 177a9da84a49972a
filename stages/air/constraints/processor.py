"""AIR constraints of the Processor table of Triton VM v7.0.0 (port of `triton-air`'s processor table).

Every builder call (leaf creation and every + - * ) happens in the same order as in the reference,
helpers and lazy iterator chains included, because node ids decide the degree-lowering substitutions.
Public functions take a `CircuitBuilder` and return the constraint list in the reference's order.
"""

from __future__ import annotations

from tvmpd.stages.air.challenges import ChallengeId as C
from tvmpd.stages.air.circuit import CircuitBuilder, Node, circuit_sum
from tvmpd.stages.air.columns import ProcessorAux as A
from tvmpd.stages.air.columns import ProcessorMain as M
from tvmpd.stages.air.constraints.leaves import aux as _aux
from tvmpd.stages.air.constraints.leaves import challenge as _ch
from tvmpd.stages.air.constraints.leaves import const as _c
from tvmpd.stages.air.constraints.leaves import curr_aux as _ca
from tvmpd.stages.air.constraints.leaves import curr_main as _cm
from tvmpd.stages.air.constraints.leaves import main as _main
from tvmpd.stages.air.constraints.leaves import next_aux as _na
from tvmpd.stages.air.constraints.leaves import next_main as _nm
from tvmpd.stages.air.constraints.leaves import xconst as _xc

P = 2**64 - 2**32 + 1
NUM_OP_STACK_REGISTERS = 16
NUM_HELPER_VARIABLE_REGISTERS = 6
RAM_INSTRUCTION_TYPE_WRITE = 0
RAM_INSTRUCTION_TYPE_READ = 1
TIP5_RATE = 10

# Instructions in the reference's `ALL_INSTRUCTIONS` order with their opcodes (spec §4.1).
ALL_INSTRUCTIONS: tuple[tuple[str, int], ...] = (
    ("pop", 3),
    ("push", 1),
    ("divine", 9),
    ("pick", 17),
    ("place", 25),
    ("dup", 33),
    ("swap", 41),
    ("halt", 0),
    ("nop", 8),
    ("skiz", 2),
    ("call", 49),
    ("return", 16),
    ("recurse", 24),
    ("recurse_or_return", 32),
    ("assert", 10),
    ("read_mem", 57),
    ("write_mem", 11),
    ("hash", 18),
    ("assert_vector", 26),
    ("sponge_init", 40),
    ("sponge_absorb", 34),
    ("sponge_absorb_mem", 48),
    ("sponge_squeeze", 56),
    ("add", 42),
    ("addi", 65),
    ("mul", 50),
    ("invert", 64),
    ("eq", 58),
    ("split", 4),
    ("lt", 6),
    ("and", 14),
    ("xor", 22),
    ("log_2_floor", 12),
    ("pow", 30),
    ("div_mod", 20),
    ("pop_count", 28),
    ("xx_add", 66),
    ("xx_mul", 74),
    ("x_invert", 72),
    ("xb_mul", 82),
    ("read_io", 73),
    ("write_io", 19),
    ("merkle_step", 36),
    ("merkle_step_mem", 44),
    ("xx_dot_step", 80),
    ("xb_dot_step", 88),
)
OPCODE = dict(ALL_INSTRUCTIONS)
NUM_WORDS_LEGAL = (1, 2, 3, 4, 5)
NUM_WORDS_ILLEGAL = tuple(i for i in range(NUM_OP_STACK_REGISTERS) if i not in NUM_WORDS_LEGAL)

STACK = tuple(M[f"ST{i}"] for i in range(NUM_OP_STACK_REGISTERS))
STACK_WEIGHTS = tuple(C[f"StackWeight{i}"] for i in range(NUM_OP_STACK_REGISTERS))
HV = tuple(M[f"HV{i}"] for i in range(NUM_HELPER_VARIABLE_REGISTERS))
IB = tuple(M[f"IB{i}"] for i in range(7))

NodeList = list[Node]


# ---- leaf helpers ---------------------------------------------------------------------------------


# ---- public AIR -----------------------------------------------------------------------------------
def initial_constraints(b: CircuitBuilder) -> NodeList:
    """The 29 initial constraints (first row of the Processor table)."""
    clk_is_0 = _main(b, M.CLK)
    ip_is_0 = _main(b, M.IP)
    jsp_is_0 = _main(b, M.JSP)
    jso_is_0 = _main(b, M.JSO)
    jsd_is_0 = _main(b, M.JSD)
    st_is_0 = [_main(b, STACK[i]) for i in range(11)]
    op_stack_pointer_is_16 = _main(b, M.OpStackPointer) - _c(b, 16)

    program_digest = [_main(b, STACK[i]) for i in range(11, 16)]
    compressed_program_digest = _xc(b, 1)
    for element in program_digest:
        compressed_program_digest = (
            compressed_program_digest * _ch(b, C.CompressProgramDigestIndeterminate) + element
        )
    compressed_program_digest_is_expected = compressed_program_digest - _ch(b, C.CompressedProgramDigest)

    std_in_initial = _aux(b, A.InputTableEvalArg) - _xc(b, 1)

    instruction_lookup_indeterminate = _ch(b, C.InstructionLookupIndeterminate)
    instruction_ci_weight = _ch(b, C.ProgramInstructionWeight)
    instruction_nia_weight = _ch(b, C.ProgramNextInstructionWeight)
    compressed_row_for_instruction_lookup = instruction_ci_weight * _main(
        b, M.CI
    ) + instruction_nia_weight * _main(b, M.NIA)
    instruction_lookup_initial = (_aux(b, A.InstructionLookupClientLogDerivative) - _xc(b, 0)) * (
        instruction_lookup_indeterminate - compressed_row_for_instruction_lookup
    ) - _c(b, 1)

    std_out_initial = _aux(b, A.OutputTableEvalArg) - _xc(b, 1)
    op_stack_initial = _aux(b, A.OpStackTablePermArg) - _xc(b, 1)
    ram_initial = _aux(b, A.RamTablePermArg) - _xc(b, 1)

    jump_stack_indeterminate = _ch(b, C.JumpStackIndeterminate)
    jump_stack_ci_weight = _ch(b, C.JumpStackCiWeight)
    compressed_row_for_jump_stack = jump_stack_ci_weight * _main(b, M.CI)
    jump_stack_initial = _aux(b, A.JumpStackTablePermArg) - _xc(b, 1) * (
        jump_stack_indeterminate - compressed_row_for_jump_stack
    )

    clock_jump_initial = _aux(b, A.ClockJumpDifferenceLookupServerLogDerivative) * _ch(
        b, C.ClockJumpDifferenceLookupIndeterminate
    ) - _main(b, M.ClockJumpDifferenceLookupMultiplicity)

    hash_selector = _main(b, M.CI) - _c(b, OPCODE["hash"])
    hash_deselector = instruction_deselector_single_row(b, "hash")
    hash_input_indeterminate = _ch(b, C.HashInputIndeterminate)
    compressed_row = _c(b, 0)
    hash_input_absorbed_first_row = (
        _aux(b, A.HashInputEvalArg) - hash_input_indeterminate * _xc(b, 1) - compressed_row
    )
    hash_input_is_default_initial = _aux(b, A.HashInputEvalArg) - _xc(b, 1)
    hash_input_initial = (
        hash_selector * hash_input_is_default_initial + hash_deselector * hash_input_absorbed_first_row
    )

    hash_digest_initial = _aux(b, A.HashDigestEvalArg) - _xc(b, 1)
    sponge_initial = _aux(b, A.SpongeEvalArg) - _xc(b, 1)
    u32_initial = _aux(b, A.U32LookupClientLogDerivative) - _xc(b, 0)

    return [
        clk_is_0,
        ip_is_0,
        jsp_is_0,
        jso_is_0,
        jsd_is_0,
        *st_is_0,
        compressed_program_digest_is_expected,
        op_stack_pointer_is_16,
        std_in_initial,
        instruction_lookup_initial,
        std_out_initial,
        op_stack_initial,
        ram_initial,
        jump_stack_initial,
        clock_jump_initial,
        hash_input_initial,
        hash_digest_initial,
        sponge_initial,
        u32_initial,
    ]


def consistency_constraints(b: CircuitBuilder) -> NodeList:
    """The 10 consistency constraints (every row)."""
    ib_composition = _main(b, M.IB0)
    for i in range(1, 7):
        ib_composition = ib_composition + _c(b, 1 << i) * _main(b, IB[i])
    ci_corresponds_to_ib0_thru_ib6 = _main(b, M.CI) - ib_composition

    ib_is_bit = [_main(b, IB[i]) * (_main(b, IB[i]) - _c(b, 1)) for i in range(7)]
    is_padding_is_bit = _main(b, M.IsPadding) * (_main(b, M.IsPadding) - _c(b, 1))
    clock_jump_multiplicity_is_0_in_padding_rows = (
        _main(b, M.IsPadding)
        * (_main(b, M.CLK) - _c(b, 1))
        * _main(b, M.ClockJumpDifferenceLookupMultiplicity)
    )
    return [
        *ib_is_bit,
        is_padding_is_bit,
        ci_corresponds_to_ib0_thru_ib6,
        clock_jump_multiplicity_is_0_in_padding_rows,
    ]


def transition_constraints(b: CircuitBuilder) -> NodeList:
    """The 42 transition constraints (every pair of consecutive rows)."""
    clk_increases_by_1 = _nm(b, M.CLK) - _cm(b, M.CLK) - _c(b, 1)
    is_padding_is_0_or_does_not_change = _cm(b, M.IsPadding) * (_nm(b, M.IsPadding) - _cm(b, M.IsPadding))

    all_deselectors = [instruction_deselector_current_row(b, name) for name, _ in ALL_INSTRUCTIONS]
    deselector_sum = _c(b, 0)
    for deselector in all_deselectors:
        deselector_sum = deselector_sum + deselector
    exactly_one_deselector_is_active = deselector_sum - _c(b, 1)
    instruction_independent = [
        clk_increases_by_1,
        is_padding_is_0_or_does_not_change,
        exactly_one_deselector_is_active,
    ]

    all_instruction_constraints = [
        transition_constraints_for_instruction(b, name) for name, _ in ALL_INSTRUCTIONS
    ]
    deselected = _combine_instruction_constraints_with_deselectors(
        b, all_deselectors, all_instruction_constraints
    )
    doubly_deselected = _combine_transition_constraints_with_padding_constraints(b, deselected)

    table_linking = [
        _log_derivative_accumulates_clk_next(b),
        _log_derivative_for_instruction_lookup_updates_correctly(b),
        _running_product_for_jump_stack_table_updates_correctly(b),
        _running_evaluation_hash_input_updates_correctly(b),
        _running_evaluation_hash_digest_updates_correctly(b),
        _running_evaluation_sponge_updates_correctly(b),
        _log_derivative_with_u32_table_updates_correctly(b),
    ]
    return instruction_independent + doubly_deselected + table_linking


def terminal_constraints(b: CircuitBuilder) -> NodeList:
    """The single terminal constraint: the last instruction is `halt`."""
    return [_main(b, M.CI) - _c(b, OPCODE["halt"])]


# ---- combination of instruction-specific constraints ---------------------------------------------
def _combine_instruction_constraints_with_deselectors(
    b: CircuitBuilder, deselectors: NodeList, constraints_per_instruction: list[NodeList]
) -> NodeList:
    max_len = max(len(cs) for cs in constraints_per_instruction)
    zero = _c(b, 0)
    transposed = [
        [cs[i] if i < len(cs) else zero for cs in constraints_per_instruction] for i in range(max_len)
    ]
    return [circuit_sum(d * tc for d, tc in zip(deselectors, row, strict=True)) for row in transposed]


def _combine_transition_constraints_with_padding_constraints(
    b: CircuitBuilder, instruction_constraints: NodeList
) -> NodeList:
    padding_constraints = (
        [
            _nm(b, M.IP) - _cm(b, M.IP),
            _nm(b, M.CI) - _cm(b, M.CI),
            _nm(b, M.NIA) - _cm(b, M.NIA),
        ]
        + _group_keep_jump_stack(b)
        + _group_keep_op_stack(b)
        + _group_no_ram(b)
        + _group_no_io(b)
    )
    padding_row_deselector = _c(b, 1) - _nm(b, M.IsPadding)
    padding_row_selector = _nm(b, M.IsPadding)

    combined = []
    for i in range(max(len(instruction_constraints), len(padding_constraints))):
        zero = _c(b, 0)
        instruction_constraint = instruction_constraints[i] if i < len(instruction_constraints) else zero
        zero = _c(b, 0)
        padding_constraint = padding_constraints[i] if i < len(padding_constraints) else zero
        combined.append(
            instruction_constraint * padding_row_deselector + padding_constraint * padding_row_selector
        )
    return combined


def _combine_mutually_exclusive_constraint_groups(b: CircuitBuilder, groups: list[NodeList]) -> NodeList:
    num_constraints = max((len(g) for g in groups), default=0)
    combined = []
    for i in range(num_constraints):
        acc = _c(b, 0)
        for group in groups:
            if i < len(group):
                acc = acc + group[i]
        combined.append(acc)
    return combined


# ---- instruction groups ---------------------------------------------------------------------------
def _group_decompose_arg(b: CircuitBuilder) -> NodeList:
    hv_is_bit = [_cm(b, HV[i]) * (_cm(b, HV[i]) - _c(b, 1)) for i in range(4)]
    nia_is_decomposed = (
        _cm(b, M.NIA)
        - _c(b, 8) * _cm(b, M.HV3)
        - _c(b, 4) * _cm(b, M.HV2)
        - _c(b, 2) * _cm(b, M.HV1)
        - _cm(b, M.HV0)
    )
    return hv_is_bit + [nia_is_decomposed]


def _group_no_ram(b: CircuitBuilder) -> NodeList:
    return [_na(b, A.RamTablePermArg) - _ca(b, A.RamTablePermArg)]


def _group_no_io(b: CircuitBuilder) -> NodeList:
    return [_std_in_remains(b), _std_out_remains(b)]


def _group_op_stack_remains_except_top_n(b: CircuitBuilder, n: int) -> NodeList:
    if not 0 <= n <= NUM_OP_STACK_REGISTERS:
        raise ValueError(f"n must be in [0, 16], not {n}")
    next_stack = [_nm(b, st) for st in STACK]
    curr_stack = [_cm(b, st) for st in STACK]

    def compress_except_top_n(stack: NodeList) -> Node:
        return circuit_sum(_ch(b, STACK_WEIGHTS[i]) * st for i, st in enumerate(stack) if i >= n)

    all_but_top_n_remain = compress_except_top_n(next_stack) - compress_except_top_n(curr_stack)
    constraints = _group_keep_op_stack_height(b)
    constraints.append(all_but_top_n_remain)
    return constraints


def _group_keep_op_stack(b: CircuitBuilder) -> NodeList:
    return _group_op_stack_remains_except_top_n(b, 0)


def _group_keep_op_stack_height(b: CircuitBuilder) -> NodeList:
    osp_curr = _cm(b, M.OpStackPointer)
    osp_next = _nm(b, M.OpStackPointer)
    osp_remains = osp_next - osp_curr
    perm_arg_curr = _ca(b, A.OpStackTablePermArg)
    perm_arg_next = _na(b, A.OpStackTablePermArg)
    perm_arg_remains = perm_arg_next - perm_arg_curr
    return [osp_remains, perm_arg_remains]


def _group_grow_op_stack_and_top_two_elements_unconstrained(b: CircuitBuilder) -> NodeList:
    shifted = [_nm(b, STACK[i + 1]) - _cm(b, STACK[i]) for i in range(1, 15)]
    return shifted + [
        _nm(b, M.OpStackPointer) - _cm(b, M.OpStackPointer) - _c(b, 1),
        _running_product_op_stack_accounts_for_growing_stack_by(b, 1),
    ]


def _group_grow_op_stack(b: CircuitBuilder) -> NodeList:
    specific = [_nm(b, M.ST1) - _cm(b, M.ST0)]
    return specific + _group_grow_op_stack_and_top_two_elements_unconstrained(b)


def _group_op_stack_shrinks_and_top_three_elements_unconstrained(b: CircuitBuilder) -> NodeList:
    shifted = [_nm(b, STACK[i]) - _cm(b, STACK[i + 1]) for i in range(3, 15)]
    return shifted + [
        _nm(b, M.OpStackPointer) - _cm(b, M.OpStackPointer) + _c(b, 1),
        _running_product_op_stack_accounts_for_shrinking_stack_by(b, 1),
    ]


def _group_binop(b: CircuitBuilder) -> NodeList:
    specific = [
        _nm(b, M.ST1) - _cm(b, M.ST2),
        _nm(b, M.ST2) - _cm(b, M.ST3),
    ]
    return specific + _group_op_stack_shrinks_and_top_three_elements_unconstrained(b)


def _group_shrink_op_stack(b: CircuitBuilder) -> NodeList:
    specific = [_nm(b, M.ST0) - _cm(b, M.ST1)]
    return specific + _group_binop(b)


def _group_keep_jump_stack(b: CircuitBuilder) -> NodeList:
    jsp_does_not_change = _nm(b, M.JSP) - _cm(b, M.JSP)
    jso_does_not_change = _nm(b, M.JSO) - _cm(b, M.JSO)
    jsd_does_not_change = _nm(b, M.JSD) - _cm(b, M.JSD)
    return [jsp_does_not_change, jso_does_not_change, jsd_does_not_change]


def _group_step_1(b: CircuitBuilder) -> NodeList:
    ip_increases_by_1 = _nm(b, M.IP) - _cm(b, M.IP) - _c(b, 1)
    return _group_keep_jump_stack(b) + [ip_increases_by_1]


def _group_step_2(b: CircuitBuilder) -> NodeList:
    ip_increases_by_2 = _nm(b, M.IP) - _cm(b, M.IP) - _c(b, 2)
    return _group_keep_jump_stack(b) + [ip_increases_by_2]


# ---- deselectors and indicators -------------------------------------------------------------------
def _instruction_deselector(b: CircuitBuilder, name: str, bit_polynomials: NodeList) -> Node:
    opcode = OPCODE[name]

    def one() -> Node:
        return _c(b, 1)

    acc = one()
    for i, x_ib in enumerate(bit_polynomials):
        ib = (opcode >> i) & 1
        acc = acc * (x_ib * _c(b, ib) + (one() - x_ib) * _c(b, 1 - ib))
    return acc


def instruction_deselector_current_row(b: CircuitBuilder, name: str) -> Node:
    """Polynomial in the current row's instruction bits that is 1 iff CI is the given instruction."""
    return _instruction_deselector(b, name, [_cm(b, ib) for ib in IB])


def instruction_deselector_next_row(b: CircuitBuilder, name: str) -> Node:
    """Like `instruction_deselector_current_row`, on the next row's instruction bits."""
    return _instruction_deselector(b, name, [_nm(b, ib) for ib in IB])


def instruction_deselector_single_row(b: CircuitBuilder, name: str) -> Node:
    """Like `instruction_deselector_current_row`, for single-row constraints."""
    return _instruction_deselector(b, name, [_main(b, ib) for ib in IB])


def _indicator_polynomial(b: CircuitBuilder, index: int) -> Node:
    """1 iff (hv3, hv2, hv1, hv0) is the binary decomposition of `index`, 0 on other bit patterns."""
    if not 0 <= index < 16:
        raise ValueError(f"indicator polynomial index {index} out of bounds")

    def factor(bit: int) -> Node:
        if (index >> bit) & 1:
            return _cm(b, HV[bit])
        return _c(b, 1) - _cm(b, HV[bit])

    return factor(3) * factor(2) * factor(1) * factor(0)


# ---- per-instruction constraints ------------------------------------------------------------------
def _instruction_pop(b: CircuitBuilder) -> NodeList:
    return (
        _group_step_2(b)
        + _group_decompose_arg(b)
        + _stack_shrinks_by_any_of(b, NUM_WORDS_LEGAL)
        + _prohibit_any_illegal_number_of_words(b)
        + _group_no_ram(b)
        + _group_no_io(b)
    )


def _instruction_push(b: CircuitBuilder) -> NodeList:
    specific = [_nm(b, M.ST0) - _cm(b, M.NIA)]
    return specific + _group_grow_op_stack(b) + _group_step_2(b) + _group_no_ram(b) + _group_no_io(b)


def _instruction_divine(b: CircuitBuilder) -> NodeList:
    return (
        _group_step_2(b)
        + _group_decompose_arg(b)
        + _stack_grows_by_any_of(b, NUM_WORDS_LEGAL)
        + _prohibit_any_illegal_number_of_words(b)
        + _group_no_ram(b)
        + _group_no_io(b)
    )


def _compress_full_stack(b: CircuitBuilder, stack: NodeList) -> Node:
    if len(stack) != NUM_OP_STACK_REGISTERS:
        raise ValueError("a full stack has 16 elements")
    return circuit_sum(_ch(b, STACK_WEIGHTS[i]) * st for i, st in enumerate(stack))


def _stack_permutation_instruction(b: CircuitBuilder, permuted_stack) -> NodeList:
    """Shared shape of `pick`, `place` and `swap`: the next stack is a permutation of the current one."""
    next_stack = [_nm(b, st) for st in STACK]

    def next_is_permuted_current(i: int) -> Node:
        return _indicator_polynomial(b, i) * (
            _compress_full_stack(b, next_stack)
            - _compress_full_stack(b, [_cm(b, st) for st in permuted_stack(i)])
        )

    correct_permutation = circuit_sum(next_is_permuted_current(i) for i in range(NUM_OP_STACK_REGISTERS))
    return (
        [correct_permutation]
        + _group_decompose_arg(b)
        + _group_step_2(b)
        + _group_no_ram(b)
        + _group_no_io(b)
        + _group_keep_op_stack_height(b)
    )


def _picked(i: int) -> list[int]:
    stack = list(STACK)
    new_top = stack.pop(i)
    stack.insert(0, new_top)
    return stack


def _placed(i: int) -> list[int]:
    stack = list(STACK)
    old_top = stack.pop(0)
    stack.insert(i, old_top)
    return stack


def _swapped(i: int) -> list[int]:
    stack = list(STACK)
    stack[0], stack[i] = stack[i], stack[0]
    return stack


def _instruction_pick(b: CircuitBuilder) -> NodeList:
    return _stack_permutation_instruction(b, _picked)


def _instruction_place(b: CircuitBuilder) -> NodeList:
    return _stack_permutation_instruction(b, _placed)


def _instruction_swap(b: CircuitBuilder) -> NodeList:
    return _stack_permutation_instruction(b, _swapped)


def _instruction_dup(b: CircuitBuilder) -> NodeList:
    def duplicate_element(i: int) -> Node:
        return _indicator_polynomial(b, i) * (_nm(b, M.ST0) - _cm(b, STACK[i]))

    duplicate_indicated_element = circuit_sum(duplicate_element(i) for i in range(NUM_OP_STACK_REGISTERS))
    return (
        [duplicate_indicated_element]
        + _group_decompose_arg(b)
        + _group_step_2(b)
        + _group_grow_op_stack(b)
        + _group_no_ram(b)
        + _group_no_io(b)
    )


def _instruction_nop(b: CircuitBuilder) -> NodeList:
    return _group_step_1(b) + _group_keep_op_stack(b) + _group_no_ram(b) + _group_no_io(b)


def _instruction_skiz(b: CircuitBuilder) -> NodeList:
    def one() -> Node:
        return _c(b, 1)

    hv0_is_inverse_of_st0 = _cm(b, M.HV0) * _cm(b, M.ST0) - one()
    hv0_is_inverse_of_st0_or_hv0_is_0 = hv0_is_inverse_of_st0 * _cm(b, M.HV0)
    hv0_is_inverse_of_st0_or_st0_is_0 = hv0_is_inverse_of_st0 * _cm(b, M.ST0)

    nia_decomposes_to_hvs = (
        _cm(b, M.NIA)
        - _cm(b, M.HV1)
        - _c(b, 1 << 1) * _cm(b, M.HV2)
        - _c(b, 1 << 3) * _cm(b, M.HV3)
        - _c(b, 1 << 5) * _cm(b, M.HV4)
        - _c(b, 1 << 7) * _cm(b, M.HV5)
    )

    ip_case_1 = (_nm(b, M.IP) - _cm(b, M.IP) - _c(b, 1)) * _cm(b, M.ST0)
    ip_case_2 = (
        (_nm(b, M.IP) - _cm(b, M.IP) - _c(b, 2))
        * (_cm(b, M.ST0) * _cm(b, M.HV0) - one())
        * (_cm(b, M.HV1) - one())
    )
    ip_case_3 = (
        (_nm(b, M.IP) - _cm(b, M.IP) - _c(b, 3)) * (_cm(b, M.ST0) * _cm(b, M.HV0) - one()) * _cm(b, M.HV1)
    )
    ip_incr_by_1_or_2_or_3 = ip_case_1 + ip_case_2 + ip_case_3

    specific = [
        hv0_is_inverse_of_st0_or_hv0_is_0,
        hv0_is_inverse_of_st0_or_st0_is_0,
        nia_decomposes_to_hvs,
        ip_incr_by_1_or_2_or_3,
    ]
    return (
        specific
        + _next_instruction_range_check_constraints_for_skiz(b)
        + _group_keep_jump_stack(b)
        + _group_shrink_op_stack(b)
        + _group_no_ram(b)
        + _group_no_io(b)
    )


def _next_instruction_range_check_constraints_for_skiz(b: CircuitBuilder) -> NodeList:
    def is_0_or_1(col: int) -> Node:
        return _cm(b, col) * (_cm(b, col) - _c(b, 1))

    def is_0_or_1_or_2_or_3(col: int) -> Node:
        return _cm(b, col) * (_cm(b, col) - _c(b, 1)) * (_cm(b, col) - _c(b, 2)) * (_cm(b, col) - _c(b, 3))

    return [
        is_0_or_1(M.HV1),
        is_0_or_1_or_2_or_3(M.HV2),
        is_0_or_1_or_2_or_3(M.HV3),
        is_0_or_1_or_2_or_3(M.HV4),
        is_0_or_1_or_2_or_3(M.HV5),
    ]


def _instruction_call(b: CircuitBuilder) -> NodeList:
    jsp_incr_1 = _nm(b, M.JSP) - _cm(b, M.JSP) - _c(b, 1)
    jso_becomes_ip_plus_2 = _nm(b, M.JSO) - _cm(b, M.IP) - _c(b, 2)
    jsd_becomes_nia = _nm(b, M.JSD) - _cm(b, M.NIA)
    ip_becomes_nia = _nm(b, M.IP) - _cm(b, M.NIA)
    specific = [jsp_incr_1, jso_becomes_ip_plus_2, jsd_becomes_nia, ip_becomes_nia]
    return specific + _group_keep_op_stack(b) + _group_no_ram(b) + _group_no_io(b)


def _instruction_return(b: CircuitBuilder) -> NodeList:
    jsp_decrements_by_1 = _nm(b, M.JSP) - _cm(b, M.JSP) + _c(b, 1)
    ip_is_set_to_jso = _nm(b, M.IP) - _cm(b, M.JSO)
    specific = [jsp_decrements_by_1, ip_is_set_to_jso]
    return specific + _group_keep_op_stack(b) + _group_no_ram(b) + _group_no_io(b)


def _instruction_recurse(b: CircuitBuilder) -> NodeList:
    ip_becomes_jsd = _nm(b, M.IP) - _cm(b, M.JSD)
    return (
        [ip_becomes_jsd]
        + _group_keep_jump_stack(b)
        + _group_keep_op_stack(b)
        + _group_no_ram(b)
        + _group_no_io(b)
    )


def _instruction_recurse_or_return(b: CircuitBuilder) -> NodeList:
    def one() -> Node:
        return _c(b, 1)

    # upstream's names: "st5_eq_st6" is hv0·(st6 - st5), which is 1 iff st5 != st6 (hv0 an inverse)
    def st5_eq_st6() -> Node:
        return _cm(b, M.HV0) * (_cm(b, M.ST6) - _cm(b, M.ST5))

    def st5_neq_st6() -> Node:
        return one() - st5_eq_st6()

    hv0_is_inverse_or_hv0_is_0 = st5_neq_st6() * _cm(b, M.HV0)
    hv0_is_inverse_or_difference_is_0 = st5_neq_st6() * (_cm(b, M.ST6) - _cm(b, M.ST5))
    specific = [hv0_is_inverse_or_hv0_is_0, hv0_is_inverse_or_difference_is_0]

    maybe_return = [
        st5_neq_st6() * (_nm(b, M.IP) - _cm(b, M.JSO)),
        st5_neq_st6() * (_nm(b, M.JSP) - _cm(b, M.JSP) + one()),
    ]
    maybe_recurse = [
        st5_eq_st6() * (_nm(b, M.IP) - _cm(b, M.JSD)),
        st5_eq_st6() * (_nm(b, M.JSP) - _cm(b, M.JSP)),
        st5_eq_st6() * (_nm(b, M.JSO) - _cm(b, M.JSO)),
        st5_eq_st6() * (_nm(b, M.JSD) - _cm(b, M.JSD)),
    ]
    specific += _combine_mutually_exclusive_constraint_groups(b, [maybe_return, maybe_recurse])
    return specific + _group_keep_op_stack(b) + _group_no_ram(b) + _group_no_io(b)


def _instruction_assert(b: CircuitBuilder) -> NodeList:
    st0_is_1 = _cm(b, M.ST0) - _c(b, 1)
    return [st0_is_1] + _group_step_1(b) + _group_shrink_op_stack(b) + _group_no_ram(b) + _group_no_io(b)


def _instruction_halt(b: CircuitBuilder) -> NodeList:
    halt_is_followed_by_halt = _nm(b, M.CI) - _cm(b, M.CI)
    return (
        [halt_is_followed_by_halt]
        + _group_step_1(b)
        + _group_keep_op_stack(b)
        + _group_no_ram(b)
        + _group_no_io(b)
    )


def _instruction_read_mem(b: CircuitBuilder) -> NodeList:
    return (
        _group_step_2(b)
        + _group_decompose_arg(b)
        + _read_from_ram_any_of(b, NUM_WORDS_LEGAL)
        + _prohibit_any_illegal_number_of_words(b)
        + _group_no_io(b)
    )


def _instruction_write_mem(b: CircuitBuilder) -> NodeList:
    return (
        _group_step_2(b)
        + _group_decompose_arg(b)
        + _write_to_ram_any_of(b, NUM_WORDS_LEGAL)
        + _prohibit_any_illegal_number_of_words(b)
        + _group_no_io(b)
    )


def _instruction_hash(b: CircuitBuilder) -> NodeList:
    shrink_by_5_top_5_unconstrained = [_nm(b, STACK[i]) - _cm(b, STACK[i + 5]) for i in range(5, 11)]
    shrink_by_5_top_5_unconstrained += [
        _nm(b, M.OpStackPointer) - _cm(b, M.OpStackPointer) + _c(b, 5),
        _running_product_op_stack_accounts_for_shrinking_stack_by(b, 5),
    ]
    return _group_step_1(b) + shrink_by_5_top_5_unconstrained + _group_no_ram(b) + _group_no_io(b)


def _instruction_merkle_step(b: CircuitBuilder) -> NodeList:
    return _merkle_step_shared_constraints(b) + _group_op_stack_remains_except_top_n(b, 6) + _group_no_ram(b)


def _instruction_merkle_step_mem(b: CircuitBuilder) -> NodeList:
    ram_pointers = [_cm(b, M.ST7) + _c(b, i) for i in range(5)]
    ram_read_destinations = [_cm(b, HV[i]) for i in range(5)]
    read_from_ram_to_hvs = _read_from_ram_to(b, ram_pointers, ram_read_destinations)

    st6_does_not_change = _nm(b, M.ST6) - _cm(b, M.ST6)
    st7_increments_by_5 = _nm(b, M.ST7) - _cm(b, M.ST7) - _c(b, 5)
    st6_and_st7_update_correctly = (
        _ch(b, STACK_WEIGHTS[6]) * st6_does_not_change + _ch(b, STACK_WEIGHTS[7]) * st7_increments_by_5
    )
    return (
        [st6_and_st7_update_correctly, read_from_ram_to_hvs]
        + _merkle_step_shared_constraints(b)
        + _group_op_stack_remains_except_top_n(b, 8)
    )


def _merkle_step_shared_constraints(b: CircuitBuilder) -> NodeList:
    hv5_is_0_or_1 = _cm(b, M.HV5) * (_cm(b, M.HV5) - _c(b, 1))
    new_st5_is_previous_st5_div_2 = _c(b, 2) * _nm(b, M.ST5) + _cm(b, M.HV5) - _cm(b, M.ST5)
    return [hv5_is_0_or_1, new_st5_is_previous_st5_div_2] + _group_step_1(b) + _group_no_io(b)


def _instruction_assert_vector(b: CircuitBuilder) -> NodeList:
    specific = [_cm(b, STACK[i + 5]) - _cm(b, STACK[i]) for i in range(5)]
    return (
        specific
        + _group_step_1(b)
        + _constraints_for_shrinking_stack_by(b, 5)
        + _group_no_ram(b)
        + _group_no_io(b)
    )


def _instruction_sponge_init(b: CircuitBuilder) -> NodeList:
    return _group_step_1(b) + _group_keep_op_stack(b) + _group_no_ram(b) + _group_no_io(b)


def _instruction_sponge_absorb(b: CircuitBuilder) -> NodeList:
    return _group_step_1(b) + _constraints_for_shrinking_stack_by(b, 10) + _group_no_ram(b) + _group_no_io(b)


def _instruction_sponge_absorb_mem(b: CircuitBuilder) -> NodeList:
    increment_ram_pointer = _nm(b, M.ST0) - _cm(b, M.ST0) - _c(b, TIP5_RATE)
    ram_pointers = [_cm(b, M.ST0) + _c(b, i) for i in range(10)]
    ram_read_destinations = [_nm(b, STACK[i]) for i in range(1, 5)] + [_cm(b, HV[i]) for i in range(6)]
    read_from_ram = _read_from_ram_to(b, ram_pointers, ram_read_destinations)
    return (
        [increment_ram_pointer, read_from_ram]
        + _group_step_1(b)
        + _group_op_stack_remains_except_top_n(b, 5)
        + _group_no_io(b)
    )


def _instruction_sponge_squeeze(b: CircuitBuilder) -> NodeList:
    return _group_step_1(b) + _constraints_for_growing_stack_by(b, 10) + _group_no_ram(b) + _group_no_io(b)


def _instruction_add(b: CircuitBuilder) -> NodeList:
    specific = [_nm(b, M.ST0) - _cm(b, M.ST0) - _cm(b, M.ST1)]
    return specific + _group_step_1(b) + _group_binop(b) + _group_no_ram(b) + _group_no_io(b)


def _instruction_addi(b: CircuitBuilder) -> NodeList:
    specific = [_nm(b, M.ST0) - _cm(b, M.ST0) - _cm(b, M.NIA)]
    return (
        specific
        + _group_step_2(b)
        + _group_op_stack_remains_except_top_n(b, 1)
        + _group_no_ram(b)
        + _group_no_io(b)
    )


def _instruction_mul(b: CircuitBuilder) -> NodeList:
    specific = [_nm(b, M.ST0) - _cm(b, M.ST0) * _cm(b, M.ST1)]
    return specific + _group_step_1(b) + _group_binop(b) + _group_no_ram(b) + _group_no_io(b)


def _instruction_invert(b: CircuitBuilder) -> NodeList:
    specific = [_nm(b, M.ST0) * _cm(b, M.ST0) - _c(b, 1)]
    return (
        specific
        + _group_step_1(b)
        + _group_op_stack_remains_except_top_n(b, 1)
        + _group_no_ram(b)
        + _group_no_io(b)
    )


def _instruction_eq(b: CircuitBuilder) -> NodeList:
    def st0_eq_st1() -> Node:
        return _c(b, 1) - _cm(b, M.HV0) * (_cm(b, M.ST1) - _cm(b, M.ST0))

    hv0_is_inverse_of_diff_or_hv0_is_0 = _cm(b, M.HV0) * st0_eq_st1()
    hv0_is_inverse_of_diff_or_diff_is_0 = (_cm(b, M.ST1) - _cm(b, M.ST0)) * st0_eq_st1()
    st0_becomes_1_if_diff_is_not_invertible = _nm(b, M.ST0) - st0_eq_st1()
    specific = [
        hv0_is_inverse_of_diff_or_hv0_is_0,
        hv0_is_inverse_of_diff_or_diff_is_0,
        st0_becomes_1_if_diff_is_not_invertible,
    ]
    return specific + _group_step_1(b) + _group_binop(b) + _group_no_ram(b) + _group_no_io(b)


def _instruction_split(b: CircuitBuilder) -> NodeList:
    st0_decomposes_to_two_32_bit_chunks = _cm(b, M.ST0) - (_c(b, 1 << 32) * _nm(b, M.ST1) + _nm(b, M.ST0))
    hv0 = _cm(b, M.HV0)
    hi = _nm(b, M.ST1)
    lo = _nm(b, M.ST0)
    ffff_ffff = _c(b, 0xFFFF_FFFF)
    hv0_holds_inverse_of_chunk_difference_or_low_bits_are_0 = lo * (hv0 * (hi - ffff_ffff) - _c(b, 1))
    specific = [st0_decomposes_to_two_32_bit_chunks, hv0_holds_inverse_of_chunk_difference_or_low_bits_are_0]
    return (
        specific
        + _group_grow_op_stack_and_top_two_elements_unconstrained(b)
        + _group_step_1(b)
        + _group_no_ram(b)
        + _group_no_io(b)
    )


def _instruction_u32_binop(b: CircuitBuilder) -> NodeList:
    """`lt`, `and`, `xor`, `pow`: the U32 table proves the result."""
    return _group_step_1(b) + _group_binop(b) + _group_no_ram(b) + _group_no_io(b)


def _instruction_u32_unop(b: CircuitBuilder) -> NodeList:
    """`log_2_floor`, `pop_count`: the U32 table proves the result."""
    return _group_step_1(b) + _group_op_stack_remains_except_top_n(b, 1) + _group_no_ram(b) + _group_no_io(b)


def _instruction_div_mod(b: CircuitBuilder) -> NodeList:
    numerator_is_quotient_times_denominator_plus_remainder = (
        _cm(b, M.ST0) - _cm(b, M.ST1) * _nm(b, M.ST1) - _nm(b, M.ST0)
    )
    return (
        [numerator_is_quotient_times_denominator_plus_remainder]
        + _group_step_1(b)
        + _group_op_stack_remains_except_top_n(b, 2)
        + _group_no_ram(b)
        + _group_no_io(b)
    )


def _instruction_xx_add(b: CircuitBuilder) -> NodeList:
    specific = [_nm(b, STACK[i]) - _cm(b, STACK[i]) - _cm(b, STACK[i + 3]) for i in range(3)]
    return (
        specific
        + _constraints_for_shrinking_stack_by_3_and_top_3_unconstrained(b)
        + _group_step_1(b)
        + _group_no_ram(b)
        + _group_no_io(b)
    )


def _instruction_xx_mul(b: CircuitBuilder) -> NodeList:
    x0, x1, x2, y0, y1, y2 = [_cm(b, STACK[i]) for i in range(6)]
    c0, c1, c2 = _xx_product([x0, x1, x2], [y0, y1, y2])
    specific = [_nm(b, M.ST0) - c0, _nm(b, M.ST1) - c1, _nm(b, M.ST2) - c2]
    return (
        specific
        + _constraints_for_shrinking_stack_by_3_and_top_3_unconstrained(b)
        + _group_step_1(b)
        + _group_no_ram(b)
        + _group_no_io(b)
    )


def _instruction_x_invert(b: CircuitBuilder) -> NodeList:
    def cur(i: int) -> Node:
        return _cm(b, STACK[i])

    def nxt(i: int) -> Node:
        return _nm(b, STACK[i])

    first_coefficient_is_1 = cur(0) * nxt(0) - cur(2) * nxt(1) - cur(1) * nxt(2) - _c(b, 1)
    second_coefficient_is_0 = (
        cur(1) * nxt(0) + cur(0) * nxt(1) - cur(2) * nxt(2) + cur(2) * nxt(1) + cur(1) * nxt(2)
    )
    third_coefficient_is_0 = cur(2) * nxt(0) + cur(1) * nxt(1) + cur(0) * nxt(2) + cur(2) * nxt(2)
    specific = [first_coefficient_is_1, second_coefficient_is_0, third_coefficient_is_0]
    return (
        specific
        + _group_op_stack_remains_except_top_n(b, 3)
        + _group_step_1(b)
        + _group_no_ram(b)
        + _group_no_io(b)
    )


def _instruction_xb_mul(b: CircuitBuilder) -> NodeList:
    x, y0, y1, y2 = [_cm(b, STACK[i]) for i in range(4)]
    c0, c1, c2 = _xb_product([y0, y1, y2], x)
    specific = [_nm(b, M.ST0) - c0, _nm(b, M.ST1) - c1, _nm(b, M.ST2) - c2]
    return (
        specific
        + _group_op_stack_shrinks_and_top_three_elements_unconstrained(b)
        + _group_step_1(b)
        + _group_no_ram(b)
        + _group_no_io(b)
    )


def _instruction_read_io(b: CircuitBuilder) -> NodeList:
    groups = [_grow_stack_by_n_and_read_n_symbols_from_input(b, n) for n in NUM_WORDS_LEGAL]
    read_any_legal_number_of_words = _combine_mutually_exclusive_constraint_groups(b, groups)
    return (
        _group_step_2(b)
        + _group_decompose_arg(b)
        + read_any_legal_number_of_words
        + _prohibit_any_illegal_number_of_words(b)
        + _group_no_ram(b)
        + [_std_out_remains(b)]
    )


def _instruction_write_io(b: CircuitBuilder) -> NodeList:
    groups = [_shrink_stack_by_n_and_write_n_symbols_to_output(b, n) for n in NUM_WORDS_LEGAL]
    write_any_legal_number_of_words = _combine_mutually_exclusive_constraint_groups(b, groups)
    return (
        _group_step_2(b)
        + _group_decompose_arg(b)
        + write_any_legal_number_of_words
        + _prohibit_any_illegal_number_of_words(b)
        + _group_no_ram(b)
        + [_std_in_remains(b)]
    )


def _read_from_ram_to(b: CircuitBuilder, ram_pointers: NodeList, destinations: NodeList) -> Node:
    """RAM permutation-argument update for reading `destinations` from `ram_pointers` in one step."""
    if len(ram_pointers) != len(destinations):
        raise ValueError("every RAM read needs one pointer and one destination")

    def compress_row(ram_pointer: Node, destination: Node) -> Node:
        return (
            _cm(b, M.CLK) * _ch(b, C.RamClkWeight)
            + _c(b, RAM_INSTRUCTION_TYPE_READ) * _ch(b, C.RamInstructionTypeWeight)
            + ram_pointer * _ch(b, C.RamPointerWeight)
            + destination * _ch(b, C.RamValueWeight)
        )

    factor = None
    for pointer, destination in zip(ram_pointers, destinations, strict=True):
        compressed = compress_row(pointer, destination)
        term = _ch(b, C.RamIndeterminate) - compressed
        factor = term if factor is None else factor * term
    if factor is None:
        factor = _c(b, 1)
    return _ca(b, A.RamTablePermArg) * factor - _na(b, A.RamTablePermArg)


def _xx_product(x: NodeList, y: NodeList) -> NodeList:
    x0, x1, x2 = x
    y0, y1, y2 = y
    z0 = x0 * y0
    z1 = x1 * y0 + x0 * y1
    z2 = x2 * y0 + x1 * y1 + x0 * y2
    z3 = x2 * y1 + x1 * y2
    z4 = x2 * y2
    # reduce modulo x^3 - x + 1
    return [z0 - z3, z1 - z4 + z3, z2 + z4]


def _xb_product(x: NodeList, y: Node) -> NodeList:
    return [x[0] * y, x[1] * y, x[2] * y]


def _update_dotstep_accumulator(b: CircuitBuilder, accumulator: list[int], difference: NodeList) -> NodeList:
    curr = [_cm(b, col) for col in accumulator]
    nxt = [_nm(b, col) for col in accumulator]
    return [n - c - d for c, n, d in zip(curr, nxt, difference, strict=True)]


def _instruction_xx_dot_step(b: CircuitBuilder) -> NodeList:
    increment_ram_pointer_st0 = _nm(b, M.ST0) - _cm(b, M.ST0) - _c(b, 3)
    increment_ram_pointer_st1 = _nm(b, M.ST1) - _cm(b, M.ST1) - _c(b, 3)
    rhs_ptr0 = _cm(b, M.ST0)
    rhs_ptr1 = rhs_ptr0 + _c(b, 1)
    rhs_ptr2 = rhs_ptr0 + _c(b, 2)
    lhs_ptr0 = _cm(b, M.ST1)
    lhs_ptr1 = lhs_ptr0 + _c(b, 1)
    lhs_ptr2 = lhs_ptr0 + _c(b, 2)
    sources = [rhs_ptr0, rhs_ptr1, rhs_ptr2, lhs_ptr0, lhs_ptr1, lhs_ptr2]
    destinations = [_cm(b, HV[i]) for i in range(6)]
    read_two_xfes_from_ram = _read_from_ram_to(b, sources, destinations)
    ram_pointer_constraints = [increment_ram_pointer_st0, increment_ram_pointer_st1, read_two_xfes_from_ram]

    hv0, hv1, hv2, hv3, hv4, hv5 = [_cm(b, HV[i]) for i in range(6)]
    hv_product = _xx_product([hv0, hv1, hv2], [hv3, hv4, hv5])
    return (
        ram_pointer_constraints
        + _update_dotstep_accumulator(b, [M.ST2, M.ST3, M.ST4], hv_product)
        + _group_step_1(b)
        + _group_no_io(b)
        + _group_op_stack_remains_except_top_n(b, 5)
    )


def _instruction_xb_dot_step(b: CircuitBuilder) -> NodeList:
    increment_ram_pointer_st0 = _nm(b, M.ST0) - _cm(b, M.ST0) - _c(b, 1)
    increment_ram_pointer_st1 = _nm(b, M.ST1) - _cm(b, M.ST1) - _c(b, 3)
    rhs_ptr0 = _cm(b, M.ST0)
    lhs_ptr0 = _cm(b, M.ST1)
    lhs_ptr1 = lhs_ptr0 + _c(b, 1)
    lhs_ptr2 = lhs_ptr0 + _c(b, 2)
    sources = [rhs_ptr0, lhs_ptr0, lhs_ptr1, lhs_ptr2]
    destinations = [_cm(b, HV[i]) for i in range(4)]
    read_bfe_and_xfe_from_ram = _read_from_ram_to(b, sources, destinations)
    ram_pointer_constraints = [
        increment_ram_pointer_st0,
        increment_ram_pointer_st1,
        read_bfe_and_xfe_from_ram,
    ]

    hv0, hv1, hv2, hv3 = [_cm(b, HV[i]) for i in range(4)]
    hv_product = _xb_product([hv1, hv2, hv3], hv0)
    return (
        ram_pointer_constraints
        + _update_dotstep_accumulator(b, [M.ST2, M.ST3, M.ST4], hv_product)
        + _group_step_1(b)
        + _group_no_io(b)
        + _group_op_stack_remains_except_top_n(b, 5)
    )


_INSTRUCTION_CONSTRAINTS = {
    "pop": _instruction_pop,
    "push": _instruction_push,
    "divine": _instruction_divine,
    "pick": _instruction_pick,
    "place": _instruction_place,
    "dup": _instruction_dup,
    "swap": _instruction_swap,
    "halt": _instruction_halt,
    "nop": _instruction_nop,
    "skiz": _instruction_skiz,
    "call": _instruction_call,
    "return": _instruction_return,
    "recurse": _instruction_recurse,
    "recurse_or_return": _instruction_recurse_or_return,
    "assert": _instruction_assert,
    "read_mem": _instruction_read_mem,
    "write_mem": _instruction_write_mem,
    "hash": _instruction_hash,
    "assert_vector": _instruction_assert_vector,
    "sponge_init": _instruction_sponge_init,
    "sponge_absorb": _instruction_sponge_absorb,
    "sponge_absorb_mem": _instruction_sponge_absorb_mem,
    "sponge_squeeze": _instruction_sponge_squeeze,
    "add": _instruction_add,
    "addi": _instruction_addi,
    "mul": _instruction_mul,
    "invert": _instruction_invert,
    "eq": _instruction_eq,
    "split": _instruction_split,
    "lt": _instruction_u32_binop,
    "and": _instruction_u32_binop,
    "xor": _instruction_u32_binop,
    "log_2_floor": _instruction_u32_unop,
    "pow": _instruction_u32_binop,
    "div_mod": _instruction_div_mod,
    "pop_count": _instruction_u32_unop,
    "xx_add": _instruction_xx_add,
    "xx_mul": _instruction_xx_mul,
    "x_invert": _instruction_x_invert,
    "xb_mul": _instruction_xb_mul,
    "read_io": _instruction_read_io,
    "write_io": _instruction_write_io,
    "merkle_step": _instruction_merkle_step,
    "merkle_step_mem": _instruction_merkle_step_mem,
    "xx_dot_step": _instruction_xx_dot_step,
    "xb_dot_step": _instruction_xb_dot_step,
}


def transition_constraints_for_instruction(b: CircuitBuilder, name: str) -> NodeList:
    """The (not yet deselected) transition constraints of one instruction, by its assembly name."""
    if name not in _INSTRUCTION_CONSTRAINTS:
        raise ValueError(f"unknown instruction {name!r}")
    return _INSTRUCTION_CONSTRAINTS[name](b)


# ---- stack, RAM, I/O helpers ----------------------------------------------------------------------
def _prohibit_any_illegal_number_of_words(b: CircuitBuilder) -> NodeList:
    indicators = [_indicator_polynomial(b, n) for n in NUM_WORDS_ILLEGAL]
    return [circuit_sum(indicators)]


def _log_derivative_accumulates_clk_next(b: CircuitBuilder) -> Node:
    return (
        _na(b, A.ClockJumpDifferenceLookupServerLogDerivative)
        - _ca(b, A.ClockJumpDifferenceLookupServerLogDerivative)
    ) * (_ch(b, C.ClockJumpDifferenceLookupIndeterminate) - _nm(b, M.CLK)) - _nm(
        b, M.ClockJumpDifferenceLookupMultiplicity
    )


def _std_in_remains(b: CircuitBuilder) -> Node:
    return _na(b, A.InputTableEvalArg) - _ca(b, A.InputTableEvalArg)


def _std_out_remains(b: CircuitBuilder) -> Node:
    return _na(b, A.OutputTableEvalArg) - _ca(b, A.OutputTableEvalArg)


def _grow_stack_by_n_and_read_n_symbols_from_input(b: CircuitBuilder, n: int) -> NodeList:
    running_evaluation = _ca(b, A.InputTableEvalArg)
    for i in reversed(range(n)):
        running_evaluation = _ch(b, C.StandardInputIndeterminate) * running_evaluation + _nm(b, STACK[i])
    running_evaluation_update = _na(b, A.InputTableEvalArg) - running_evaluation
    conditional_update = _indicator_polynomial(b, n) * running_evaluation_update
    constraints = _conditional_constraints_for_growing_stack_by(b, n)
    constraints.append(conditional_update)
    return constraints


def _shrink_stack_by_n_and_write_n_symbols_to_output(b: CircuitBuilder, n: int) -> NodeList:
    running_evaluation = _ca(b, A.OutputTableEvalArg)
    for i in range(n):
        running_evaluation = _ch(b, C.StandardOutputIndeterminate) * running_evaluation + _cm(b, STACK[i])
    running_evaluation_update = _na(b, A.OutputTableEvalArg) - running_evaluation
    conditional_update = _indicator_polynomial(b, n) * running_evaluation_update
    constraints = _conditional_constraints_for_shrinking_stack_by(b, n)
    constraints.append(conditional_update)
    return constraints


def _log_derivative_for_instruction_lookup_updates_correctly(b: CircuitBuilder) -> Node:
    compressed_row = (
        _ch(b, C.ProgramAddressWeight) * _nm(b, M.IP)
        + _ch(b, C.ProgramInstructionWeight) * _nm(b, M.CI)
        + _ch(b, C.ProgramNextInstructionWeight) * _nm(b, M.NIA)
    )
    log_derivative_updates = (
        _na(b, A.InstructionLookupClientLogDerivative) - _ca(b, A.InstructionLookupClientLogDerivative)
    ) * (_ch(b, C.InstructionLookupIndeterminate) - compressed_row) - _c(b, 1)
    log_derivative_remains = _na(b, A.InstructionLookupClientLogDerivative) - _ca(
        b, A.InstructionLookupClientLogDerivative
    )
    return (_c(b, 1) - _nm(b, M.IsPadding)) * log_derivative_updates + _nm(
        b, M.IsPadding
    ) * log_derivative_remains


def _constraints_for_shrinking_stack_by_3_and_top_3_unconstrained(b: CircuitBuilder) -> NodeList:
    shifted = [_nm(b, STACK[i]) - _cm(b, STACK[i + 3]) for i in range(3, 13)]
    return shifted + [
        _nm(b, M.OpStackPointer) - _cm(b, M.OpStackPointer) + _c(b, 3),
        _running_product_op_stack_accounts_for_shrinking_stack_by(b, 3),
    ]


def _stack_shrinks_by_any_of(b: CircuitBuilder, shrinkages) -> NodeList:
    groups = [_conditional_constraints_for_shrinking_stack_by(b, n) for n in shrinkages]
    return _combine_mutually_exclusive_constraint_groups(b, groups)


def _stack_grows_by_any_of(b: CircuitBuilder, growths) -> NodeList:
    groups = [_conditional_constraints_for_growing_stack_by(b, n) for n in growths]
    return _combine_mutually_exclusive_constraint_groups(b, groups)


def _compress_partial_stack(b: CircuitBuilder, stack: NodeList, expected_len: int) -> Node:
    if len(stack) != expected_len:
        raise ValueError("unexpected stack length")
    return circuit_sum(_ch(b, STACK_WEIGHTS[i]) * st for i, st in enumerate(stack))


def _constraints_for_shrinking_stack_by(b: CircuitBuilder, n: int) -> NodeList:
    new_stack = [_nm(b, st) for st in STACK[: NUM_OP_STACK_REGISTERS - n]]
    old_stack_with_top_n_removed = [_cm(b, st) for st in STACK[n:]]
    compressed_new_stack = _compress_partial_stack(b, new_stack, NUM_OP_STACK_REGISTERS - n)
    compressed_old_stack = _compress_partial_stack(
        b, old_stack_with_top_n_removed, NUM_OP_STACK_REGISTERS - n
    )
    op_stack_pointer_shrinks_by_n = _nm(b, M.OpStackPointer) - _cm(b, M.OpStackPointer) + _c(b, n)
    new_stack_is_old_stack_with_top_n_removed = compressed_new_stack - compressed_old_stack
    return [
        op_stack_pointer_shrinks_by_n,
        new_stack_is_old_stack_with_top_n_removed,
        _running_product_op_stack_accounts_for_shrinking_stack_by(b, n),
    ]


def _constraints_for_growing_stack_by(b: CircuitBuilder, n: int) -> NodeList:
    new_stack = [_nm(b, st) for st in STACK[n:]]
    # upstream maps before dropping the last n elements, so their leaves are created first, back to front
    for st in reversed(STACK[NUM_OP_STACK_REGISTERS - n :]):
        _cm(b, st)
    old_stack_with_top_n_added = [_cm(b, st) for st in STACK[: NUM_OP_STACK_REGISTERS - n]]
    compressed_new_stack = _compress_partial_stack(b, new_stack, NUM_OP_STACK_REGISTERS - n)
    compressed_old_stack = _compress_partial_stack(b, old_stack_with_top_n_added, NUM_OP_STACK_REGISTERS - n)
    op_stack_pointer_grows_by_n = _nm(b, M.OpStackPointer) - _cm(b, M.OpStackPointer) - _c(b, n)
    new_stack_is_old_stack_with_top_n_added = compressed_new_stack - compressed_old_stack
    return [
        op_stack_pointer_grows_by_n,
        new_stack_is_old_stack_with_top_n_added,
        _running_product_op_stack_accounts_for_growing_stack_by(b, n),
    ]


def _conditional_constraints_for_shrinking_stack_by(b: CircuitBuilder, n: int) -> NodeList:
    return [_indicator_polynomial(b, n) * c for c in _constraints_for_shrinking_stack_by(b, n)]


def _conditional_constraints_for_growing_stack_by(b: CircuitBuilder, n: int) -> NodeList:
    return [_indicator_polynomial(b, n) * c for c in _constraints_for_growing_stack_by(b, n)]


def _running_product_op_stack_accounts_for_growing_stack_by(b: CircuitBuilder, n: int) -> Node:
    factor = _c(b, 1)
    for offset in range(n):
        factor = factor * _single_factor_for_permutation_argument_with_op_stack_table(b, False, offset)
    return _na(b, A.OpStackTablePermArg) - _ca(b, A.OpStackTablePermArg) * factor


def _running_product_op_stack_accounts_for_shrinking_stack_by(b: CircuitBuilder, n: int) -> Node:
    factor = _c(b, 1)
    for offset in range(n):
        factor = factor * _single_factor_for_permutation_argument_with_op_stack_table(b, True, offset)
    return _na(b, A.OpStackTablePermArg) - _ca(b, A.OpStackTablePermArg) * factor


def _single_factor_for_permutation_argument_with_op_stack_table(
    b: CircuitBuilder, shorter_stack_is_next: bool, op_stack_pointer_offset: int
) -> Node:
    row_with_shorter_stack = _nm if shorter_stack_is_next else _cm
    stack_element_index = NUM_OP_STACK_REGISTERS - 1 - op_stack_pointer_offset
    underflow_element = row_with_shorter_stack(b, STACK[stack_element_index])
    op_stack_pointer = row_with_shorter_stack(b, M.OpStackPointer)
    offset = _c(b, op_stack_pointer_offset)
    offset_op_stack_pointer = op_stack_pointer + offset
    compressed_row = (
        _ch(b, C.OpStackClkWeight) * _cm(b, M.CLK)
        + _ch(b, C.OpStackIb1Weight) * _cm(b, M.IB1)
        + _ch(b, C.OpStackPointerWeight) * offset_op_stack_pointer
        + _ch(b, C.OpStackFirstUnderflowElementWeight) * underflow_element
    )
    return _ch(b, C.OpStackIndeterminate) - compressed_row


def _write_to_ram_any_of(b: CircuitBuilder, number_of_words) -> NodeList:
    groups = [_conditional_constraints_for_writing_n_elements_to_ram(b, n) for n in number_of_words]
    return _combine_mutually_exclusive_constraint_groups(b, groups)


def _read_from_ram_any_of(b: CircuitBuilder, number_of_words) -> NodeList:
    groups = [_conditional_constraints_for_reading_n_elements_from_ram(b, n) for n in number_of_words]
    return _combine_mutually_exclusive_constraint_groups(b, groups)


def _conditional_constraints_for_writing_n_elements_to_ram(b: CircuitBuilder, n: int) -> NodeList:
    return [_indicator_polynomial(b, n) * c for c in _shrink_stack_by_n_and_write_n_elements_to_ram(b, n)]


def _conditional_constraints_for_reading_n_elements_from_ram(b: CircuitBuilder, n: int) -> NodeList:
    return [_indicator_polynomial(b, n) * c for c in _grow_stack_by_n_and_read_n_elements_from_ram(b, n)]


def _shrink_stack_by_n_and_write_n_elements_to_ram(b: CircuitBuilder, n: int) -> NodeList:
    op_stack_pointer_shrinks_by_n = _nm(b, M.OpStackPointer) - _cm(b, M.OpStackPointer) + _c(b, n)
    ram_pointer_grows_by_n = _nm(b, M.ST0) - _cm(b, M.ST0) - _c(b, n)
    constraints = [
        op_stack_pointer_shrinks_by_n,
        ram_pointer_grows_by_n,
        _running_product_op_stack_accounts_for_shrinking_stack_by(b, n),
        _running_product_ram_accounts_for_writing_n_elements(b, n),
    ]
    num_ram_pointers = 1
    for i in range(n + num_ram_pointers, NUM_OP_STACK_REGISTERS):
        constraints.append(_nm(b, STACK[i - n]) - _cm(b, STACK[i]))
    return constraints


def _grow_stack_by_n_and_read_n_elements_from_ram(b: CircuitBuilder, n: int) -> NodeList:
    op_stack_pointer_grows_by_n = _nm(b, M.OpStackPointer) - _cm(b, M.OpStackPointer) - _c(b, n)
    ram_pointer_shrinks_by_n = _nm(b, M.ST0) - _cm(b, M.ST0) + _c(b, n)
    constraints = [
        op_stack_pointer_grows_by_n,
        ram_pointer_shrinks_by_n,
        _running_product_op_stack_accounts_for_growing_stack_by(b, n),
        _running_product_ram_accounts_for_reading_n_elements(b, n),
    ]
    num_ram_pointers = 1
    for i in range(num_ram_pointers, NUM_OP_STACK_REGISTERS - n):
        constraints.append(_nm(b, STACK[i + n]) - _cm(b, STACK[i]))
    return constraints


def _running_product_ram_accounts_for_writing_n_elements(b: CircuitBuilder, n: int) -> Node:
    factor = _c(b, 1)
    for offset in range(n):
        factor = factor * _single_factor_for_permutation_argument_with_ram_table(
            b, False, RAM_INSTRUCTION_TYPE_WRITE, offset
        )
    return _na(b, A.RamTablePermArg) - _ca(b, A.RamTablePermArg) * factor


def _running_product_ram_accounts_for_reading_n_elements(b: CircuitBuilder, n: int) -> Node:
    factor = _c(b, 1)
    for offset in range(n):
        factor = factor * _single_factor_for_permutation_argument_with_ram_table(
            b, True, RAM_INSTRUCTION_TYPE_READ, offset
        )
    return _na(b, A.RamTablePermArg) - _ca(b, A.RamTablePermArg) * factor


def _single_factor_for_permutation_argument_with_ram_table(
    b: CircuitBuilder, longer_stack_is_next: bool, instruction_type: int, ram_pointer_offset: int
) -> Node:
    row_with_longer_stack = _nm if longer_stack_is_next else _cm
    num_ram_pointers = 1
    ram_value = row_with_longer_stack(b, STACK[ram_pointer_offset + num_ram_pointers])
    if instruction_type == RAM_INSTRUCTION_TYPE_READ:
        additional_offset = 1
    elif instruction_type == RAM_INSTRUCTION_TYPE_WRITE:
        additional_offset = 0
    else:
        raise ValueError(f"invalid RAM instruction type {instruction_type}")
    ram_pointer = row_with_longer_stack(b, M.ST0)
    offset = _c(b, additional_offset + ram_pointer_offset)
    offset_ram_pointer = ram_pointer + offset
    compressed_row = (
        _cm(b, M.CLK) * _ch(b, C.RamClkWeight)
        + _c(b, instruction_type) * _ch(b, C.RamInstructionTypeWeight)
        + offset_ram_pointer * _ch(b, C.RamPointerWeight)
        + ram_value * _ch(b, C.RamValueWeight)
    )
    return _ch(b, C.RamIndeterminate) - compressed_row


def _running_product_for_jump_stack_table_updates_correctly(b: CircuitBuilder) -> Node:
    compressed_row = (
        _ch(b, C.JumpStackClkWeight) * _nm(b, M.CLK)
        + _ch(b, C.JumpStackCiWeight) * _nm(b, M.CI)
        + _ch(b, C.JumpStackJspWeight) * _nm(b, M.JSP)
        + _ch(b, C.JumpStackJsoWeight) * _nm(b, M.JSO)
        + _ch(b, C.JumpStackJsdWeight) * _nm(b, M.JSD)
    )
    return _na(b, A.JumpStackTablePermArg) - _ca(b, A.JumpStackTablePermArg) * (
        _ch(b, C.JumpStackIndeterminate) - compressed_row
    )


def _running_evaluation_hash_input_updates_correctly(b: CircuitBuilder) -> Node:
    """`hash`, `merkle_step` and `merkle_step_mem` send their 10-element preimage to the Hash table."""

    def one() -> Node:
        return _c(b, 1)

    hash_deselector = instruction_deselector_next_row(b, "hash")
    merkle_step_deselector = instruction_deselector_next_row(b, "merkle_step")
    merkle_step_mem_deselector = instruction_deselector_next_row(b, "merkle_step_mem")
    hash_and_merkle_step_selector = (
        (_nm(b, M.CI) - _c(b, OPCODE["hash"]))
        * (_nm(b, M.CI) - _c(b, OPCODE["merkle_step"]))
        * (_nm(b, M.CI) - _c(b, OPCODE["merkle_step_mem"]))
    )

    weights = [_ch(b, STACK_WEIGHTS[i]) for i in range(10)]
    state_for_hash = [_nm(b, STACK[i]) for i in range(10)]
    compressed_hash_row = circuit_sum(w * st for w, st in zip(weights, state_for_hash, strict=True))

    def is_left_sibling() -> Node:
        return _nm(b, M.HV5)

    def is_right_sibling() -> Node:
        return one() - _nm(b, M.HV5)

    def merkle_step_state_element(left: int, right: int) -> Node:
        return is_right_sibling() * _nm(b, left) + is_left_sibling() * _nm(b, right)

    state_for_merkle_step = [merkle_step_state_element(STACK[i], HV[i]) for i in range(5)]
    state_for_merkle_step += [merkle_step_state_element(HV[i], STACK[i]) for i in range(5)]
    compressed_merkle_step_row = circuit_sum(
        w * st for w, st in zip(weights, state_for_merkle_step, strict=True)
    )

    def running_evaluation_updates_with(compressed_row: Node) -> Node:
        return (
            _na(b, A.HashInputEvalArg)
            - _ch(b, C.HashInputIndeterminate) * _ca(b, A.HashInputEvalArg)
            - compressed_row
        )

    running_evaluation_remains = _na(b, A.HashInputEvalArg) - _ca(b, A.HashInputEvalArg)
    return (
        hash_and_merkle_step_selector * running_evaluation_remains
        + hash_deselector * running_evaluation_updates_with(compressed_hash_row)
        + merkle_step_deselector * running_evaluation_updates_with(compressed_merkle_step_row)
        + merkle_step_mem_deselector * running_evaluation_updates_with(compressed_merkle_step_row)
    )


def _running_evaluation_hash_digest_updates_correctly(b: CircuitBuilder) -> Node:
    hash_deselector = instruction_deselector_current_row(b, "hash")
    merkle_step_deselector = instruction_deselector_current_row(b, "merkle_step")
    merkle_step_mem_deselector = instruction_deselector_current_row(b, "merkle_step_mem")
    hash_and_merkle_step_selector = (
        (_cm(b, M.CI) - _c(b, OPCODE["hash"]))
        * (_cm(b, M.CI) - _c(b, OPCODE["merkle_step"]))
        * (_cm(b, M.CI) - _c(b, OPCODE["merkle_step_mem"]))
    )
    weights = [_ch(b, STACK_WEIGHTS[i]) for i in range(5)]
    state = [_nm(b, STACK[i]) for i in range(5)]
    compressed_row = circuit_sum(w * st for w, st in zip(weights, state, strict=True))

    running_evaluation_updates = (
        _na(b, A.HashDigestEvalArg)
        - _ch(b, C.HashDigestIndeterminate) * _ca(b, A.HashDigestEvalArg)
        - compressed_row
    )
    running_evaluation_remains = _na(b, A.HashDigestEvalArg) - _ca(b, A.HashDigestEvalArg)
    return (
        hash_and_merkle_step_selector * running_evaluation_remains
        + (hash_deselector + merkle_step_deselector + merkle_step_mem_deselector) * running_evaluation_updates
    )


def _running_evaluation_sponge_updates_correctly(b: CircuitBuilder) -> Node:
    sponge_init_deselector = instruction_deselector_current_row(b, "sponge_init")
    sponge_absorb_deselector = instruction_deselector_current_row(b, "sponge_absorb")
    sponge_absorb_mem_deselector = instruction_deselector_current_row(b, "sponge_absorb_mem")
    sponge_squeeze_deselector = instruction_deselector_current_row(b, "sponge_squeeze")
    sponge_instruction_selector = (
        (_cm(b, M.CI) - _c(b, OPCODE["sponge_init"]))
        * (_cm(b, M.CI) - _c(b, OPCODE["sponge_absorb"]))
        * (_cm(b, M.CI) - _c(b, OPCODE["sponge_absorb_mem"]))
        * (_cm(b, M.CI) - _c(b, OPCODE["sponge_squeeze"]))
    )

    def weighted_sum(state: NodeList) -> Node:
        weights = [_ch(b, STACK_WEIGHTS[i]) for i in range(10)]
        return circuit_sum(w * st for w, st in zip(weights, state, strict=True))

    compressed_row_current = weighted_sum([_cm(b, STACK[i]) for i in range(10)])
    compressed_row_next = weighted_sum([_nm(b, STACK[i]) for i in range(10)])

    # the compressed initial Sponge state is 0, so `sponge_init` only absorbs the instruction
    updates_for_sponge_init = (
        _na(b, A.SpongeEvalArg)
        - _ch(b, C.SpongeIndeterminate) * _ca(b, A.SpongeEvalArg)
        - _ch(b, C.HashCIWeight) * _cm(b, M.CI)
    )
    updates_for_absorb = updates_for_sponge_init - compressed_row_current
    updates_for_squeeze = updates_for_sponge_init - compressed_row_next
    remains = _na(b, A.SpongeEvalArg) - _ca(b, A.SpongeEvalArg)

    stack_elements = [_nm(b, STACK[i]) for i in range(1, 5)]
    hv_elements = [_cm(b, HV[i]) for i in range(6)]
    compressed_row_absorb_mem = weighted_sum(stack_elements + hv_elements)
    updates_for_absorb_mem = (
        _na(b, A.SpongeEvalArg)
        - _ch(b, C.SpongeIndeterminate) * _ca(b, A.SpongeEvalArg)
        - _ch(b, C.HashCIWeight) * _c(b, OPCODE["sponge_absorb"])
        - compressed_row_absorb_mem
    )
    return (
        sponge_instruction_selector * remains
        + sponge_init_deselector * updates_for_sponge_init
        + sponge_absorb_deselector * updates_for_absorb
        + sponge_absorb_mem_deselector * updates_for_absorb_mem
        + sponge_squeeze_deselector * updates_for_squeeze
    )


def _log_derivative_with_u32_table_updates_correctly(b: CircuitBuilder) -> Node:
    def one() -> Node:
        return _c(b, 1)

    two_inverse = _c(b, pow(2, P - 2, P))
    split_deselector = instruction_deselector_current_row(b, "split")
    lt_deselector = instruction_deselector_current_row(b, "lt")
    and_deselector = instruction_deselector_current_row(b, "and")
    xor_deselector = instruction_deselector_current_row(b, "xor")
    pow_deselector = instruction_deselector_current_row(b, "pow")
    log_2_floor_deselector = instruction_deselector_current_row(b, "log_2_floor")
    div_mod_deselector = instruction_deselector_current_row(b, "div_mod")
    pop_count_deselector = instruction_deselector_current_row(b, "pop_count")
    merkle_step_deselector = instruction_deselector_current_row(b, "merkle_step")
    merkle_step_mem_deselector = instruction_deselector_current_row(b, "merkle_step_mem")

    running_sum = _ca(b, A.U32LookupClientLogDerivative)
    running_sum_next = _na(b, A.U32LookupClientLogDerivative)

    def ch(cid: int) -> Node:
        return _ch(b, cid)

    split_factor = (
        ch(C.U32Indeterminate)
        - ch(C.U32LhsWeight) * _nm(b, M.ST0)
        - ch(C.U32RhsWeight) * _nm(b, M.ST1)
        - ch(C.U32CiWeight) * _cm(b, M.CI)
    )
    binop_factor = (
        ch(C.U32Indeterminate)
        - ch(C.U32LhsWeight) * _cm(b, M.ST0)
        - ch(C.U32RhsWeight) * _cm(b, M.ST1)
        - ch(C.U32CiWeight) * _cm(b, M.CI)
        - ch(C.U32ResultWeight) * _nm(b, M.ST0)
    )
    xor_factor = (
        ch(C.U32Indeterminate)
        - ch(C.U32LhsWeight) * _cm(b, M.ST0)
        - ch(C.U32RhsWeight) * _cm(b, M.ST1)
        - ch(C.U32CiWeight) * _c(b, OPCODE["and"])
        - ch(C.U32ResultWeight) * (_cm(b, M.ST0) + _cm(b, M.ST1) - _nm(b, M.ST0)) * two_inverse
    )
    unop_factor = (
        ch(C.U32Indeterminate)
        - ch(C.U32LhsWeight) * _cm(b, M.ST0)
        - ch(C.U32CiWeight) * _cm(b, M.CI)
        - ch(C.U32ResultWeight) * _nm(b, M.ST0)
    )
    div_mod_factor_for_lt = (
        ch(C.U32Indeterminate)
        - ch(C.U32LhsWeight) * _nm(b, M.ST0)
        - ch(C.U32RhsWeight) * _cm(b, M.ST1)
        - ch(C.U32CiWeight) * _c(b, OPCODE["lt"])
        - ch(C.U32ResultWeight)
    )
    div_mod_factor_for_range_check = (
        ch(C.U32Indeterminate)
        - ch(C.U32LhsWeight) * _cm(b, M.ST0)
        - ch(C.U32RhsWeight) * _nm(b, M.ST1)
        - ch(C.U32CiWeight) * _c(b, OPCODE["split"])
    )
    merkle_step_range_check_factor = (
        ch(C.U32Indeterminate)
        - ch(C.U32LhsWeight) * _cm(b, M.ST5)
        - ch(C.U32RhsWeight) * _nm(b, M.ST5)
        - ch(C.U32CiWeight) * _c(b, OPCODE["split"])
    )

    absorbs_split_factor = (running_sum_next - running_sum) * split_factor - one()
    absorbs_binop_factor = (running_sum_next - running_sum) * binop_factor - one()
    absorbs_xor_factor = (running_sum_next - running_sum) * xor_factor - one()
    absorbs_unop_factor = (running_sum_next - running_sum) * unop_factor - one()
    absorbs_merkle_step_factor = (running_sum_next - running_sum) * merkle_step_range_check_factor - one()

    split_summand = split_deselector * absorbs_split_factor
    lt_summand = lt_deselector * absorbs_binop_factor
    and_summand = and_deselector * absorbs_binop_factor
    xor_summand = xor_deselector * absorbs_xor_factor
    pow_summand = pow_deselector * absorbs_binop_factor
    log_2_floor_summand = log_2_floor_deselector * absorbs_unop_factor
    div_mod_summand = div_mod_deselector * (
        (running_sum_next - running_sum) * div_mod_factor_for_lt * div_mod_factor_for_range_check
        - div_mod_factor_for_lt
        - div_mod_factor_for_range_check
    )
    pop_count_summand = pop_count_deselector * absorbs_unop_factor
    merkle_step_summand = merkle_step_deselector * absorbs_merkle_step_factor
    merkle_step_mem_summand = merkle_step_mem_deselector * absorbs_merkle_step_factor
    no_update_summand = (one() - _cm(b, M.IB2)) * (running_sum_next - running_sum)

    return (
        split_summand
        + lt_summand
        + and_summand
        + xor_summand
        + pow_summand
        + log_2_floor_summand
        + div_mod_summand
        + pop_count_summand
        + merkle_step_summand
        + merkle_step_mem_summand
        + no_update_summand
    )
