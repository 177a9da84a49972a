"""AIR constraints of the Hash table of Triton VM v7.0.0 (port of `triton-air`'s hash table).

Builder calls happen in the reference's order (node ids decide the degree-lowering substitutions),
including lazily evaluated iterator chains. Tip5 constants come from `stages.tip5`.
"""

from __future__ import annotations

from tvmpd.stages.air.challenges import ChallengeId as C
from tvmpd.stages.air.circuit import CircuitBuilder, Node, circuit_sum
from tvmpd.stages.air.columns import HashAux as HA
from tvmpd.stages.air.columns import HashMain as H
from tvmpd.stages.air.constraints.leaves import aux as _aux
from tvmpd.stages.air.constraints.leaves import challenge as _ch
from tvmpd.stages.air.constraints.leaves import const as _c
from tvmpd.stages.air.constraints.leaves import curr_aux as _ca
from tvmpd.stages.air.constraints.leaves import curr_main as _cm
from tvmpd.stages.air.constraints.leaves import main as _main
from tvmpd.stages.air.constraints.leaves import next_aux as _na
from tvmpd.stages.air.constraints.leaves import next_main as _nm
from tvmpd.stages.air.constraints.leaves import xconst as _xc
from tvmpd.stages.tip5 import MDS_FIRST_COLUMN, NUM_ROUNDS, RATE, ROUND_CONSTANTS, STATE_SIZE

P = 2**64 - 2**32 + 1
MONTGOMERY_MODULUS = (1 << 64) % P
POWER_MAP_EXPONENT = 7
NUM_ROUND_CONSTANTS = STATE_SIZE
DIGEST_LEN = 5

# Hash table modes in the reference's enum order, with their column values.
MODE_PROGRAM_HASHING, MODE_SPONGE, MODE_HASH, MODE_PAD = 1, 2, 3, 0
ALL_MODES = (MODE_PROGRAM_HASHING, MODE_SPONGE, MODE_HASH, MODE_PAD)

OPCODE_HASH, OPCODE_SPONGE_INIT, OPCODE_SPONGE_ABSORB, OPCODE_SPONGE_SQUEEZE = 18, 40, 34, 56
_RELEVANT_INSTRUCTIONS = (OPCODE_HASH, OPCODE_SPONGE_INIT, OPCODE_SPONGE_ABSORB, OPCODE_SPONGE_SQUEEZE)

_LIMBS = ("Highest", "MidHigh", "MidLow", "Lowest")
LOOKUP_IN = tuple(tuple(H[f"State{i}{limb}LkIn"] for limb in _LIMBS) for i in range(4))
LOOKUP_OUT = tuple(tuple(H[f"State{i}{limb}LkOut"] for limb in _LIMBS) for i in range(4))
CASCADE_AUX = tuple(
    tuple(HA[f"CascadeState{i}{limb}ClientLogDerivative"] for limb in _LIMBS) for i in range(4)
)
STATE_COLUMNS = {i: H[f"State{i}"] for i in range(4, 16)}
CONSTANT_COLUMNS = tuple(H[f"Constant{i}"] for i in range(NUM_ROUND_CONSTANTS))
STATE_INV = tuple(H[f"State{i}Inv"] for i in range(4))
STACK_WEIGHTS = tuple(C[f"StackWeight{i}"] for i in range(16))

NodeList = list[Node]


def mds_matrix_entry(row: int, col: int) -> int:
    """Entry of Tip5's circulant MDS matrix."""
    return MDS_FIRST_COLUMN[(STATE_SIZE + row - col) % STATE_SIZE]


def round_constants_by_round_number(r: int) -> list[int]:
    """Round constants of round r, zeros for r >= NUM_ROUNDS (the last row of a permutation)."""
    if r >= NUM_ROUNDS:
        return [0] * NUM_ROUND_CONSTANTS
    return list(ROUND_CONSTANTS[NUM_ROUND_CONSTANTS * r : NUM_ROUND_CONSTANTS * (r + 1)])


# ---- leaf helpers ---------------------------------------------------------------------------------


# ---- selectors ------------------------------------------------------------------------------------
def _re_compose_16_bit_limbs(
    b: CircuitBuilder, highest: Node, mid_high: Node, mid_low: Node, lowest: Node
) -> Node:
    """A state element from its four 16-bit limbs (which hold the Montgomery representation)."""
    montgomery_modulus_inv = _c(b, pow(MONTGOMERY_MODULUS, P - 2, P))
    sum_of_shifted_limbs = (
        highest * _c(b, 1 << 48) + mid_high * _c(b, 1 << 32) + mid_low * _c(b, 1 << 16) + lowest
    )
    return sum_of_shifted_limbs * montgomery_modulus_inv


def _round_number_deselector(b: CircuitBuilder, round_number: Node, round_to_deselect: int) -> Node:
    """Zero iff `round_number` differs from `round_to_deselect` (within 0..=NUM_ROUNDS)."""
    if not 0 <= round_to_deselect <= NUM_ROUNDS:
        raise ValueError(f"round number must be in [0, {NUM_ROUNDS}], not {round_to_deselect}")
    acc = _c(b, 1) if round_to_deselect == 0 else round_number
    for r in range(1, NUM_ROUNDS + 1):
        if r != round_to_deselect:
            acc = acc * (round_number - _c(b, r))
    return acc


def _select_mode(b: CircuitBuilder, mode: Node, mode_to_select: int) -> Node:
    return mode - _c(b, mode_to_select)


def _mode_deselector(b: CircuitBuilder, mode: Node, mode_to_deselect: int) -> Node:
    acc = _c(b, 1)
    for m in ALL_MODES:
        if m != mode_to_deselect:
            acc = acc * (mode - _c(b, m))
    return acc


def _instruction_deselector(b: CircuitBuilder, ci: Node, opcode_to_deselect: int) -> Node:
    if opcode_to_deselect not in _RELEVANT_INSTRUCTIONS:
        raise ValueError(f"opcode {opcode_to_deselect} is not a hash-table instruction")
    acc = _c(b, 1)
    for opcode in _RELEVANT_INSTRUCTIONS:
        if opcode != opcode_to_deselect:
            acc = acc * (ci - _c(b, opcode))
    return acc


def _re_compose_states_0_through_3_before_lookup(b: CircuitBuilder, leaf) -> NodeList:
    states = []
    for i in range(4):
        limbs = [leaf(b, col) for col in LOOKUP_IN[i]]
        states.append(_re_compose_16_bit_limbs(b, *limbs))
    return states


def _tip5_constraints_as_circuits(b: CircuitBuilder) -> tuple[NodeList, NodeList]:
    """The next state (as circuits) and the 16 constraints of one Tip5 round."""
    states_after_lookup = []
    for i in range(4):
        limbs = [_cm(b, col) for col in LOOKUP_OUT[i]]
        states_after_lookup.append(_re_compose_16_bit_limbs(b, *limbs))

    before_power_map = [_cm(b, STATE_COLUMNS[i]) for i in range(4, 16)]
    after_power_map = list(before_power_map)
    for _ in range(1, POWER_MAP_EXPONENT):
        for i in range(len(after_power_map)):
            after_power_map[i] = after_power_map[i] * before_power_map[i]
    after_s_box = states_after_lookup + after_power_map

    zero = _c(b, 0)
    after_mds = [zero] * STATE_SIZE
    for row in range(STATE_SIZE):
        for col, state in enumerate(after_s_box):
            entry = _c(b, mds_matrix_entry(row, col))
            after_mds[row] = after_mds[row] + entry * state

    round_constants = [_cm(b, col) for col in CONSTANT_COLUMNS]
    after_round_constants = [st + rc for st, rc in zip(after_mds, round_constants, strict=True)]

    state_next = _re_compose_states_0_through_3_before_lookup(b, _nm)
    state_next += [_nm(b, STATE_COLUMNS[i]) for i in range(4, 16)]

    round_number_next = _nm(b, H.RoundNumber)
    round_performs_update = [
        round_number_next * (st - st_next)
        for st, st_next in zip(after_round_constants, state_next, strict=True)
    ]
    return state_next, round_performs_update


def _cascade_log_derivative_update_circuit(
    b: CircuitBuilder, look_in: int, look_out: int, aux_col: int
) -> Node:
    cascade_indeterminate = _ch(b, C.HashCascadeLookupIndeterminate)
    look_in_weight = _ch(b, C.HashCascadeLookInWeight)
    look_out_weight = _ch(b, C.HashCascadeLookOutWeight)

    ci_next = _nm(b, H.CI)
    mode_next = _nm(b, H.Mode)
    round_number_next = _nm(b, H.RoundNumber)
    log_derivative = _ca(b, aux_col)
    log_derivative_next = _na(b, aux_col)

    compressed_row = look_in_weight * _nm(b, look_in) + look_out_weight * _nm(b, look_out)
    log_derivative_remains = log_derivative_next - log_derivative
    log_derivative_updates = (log_derivative_next - log_derivative) * (
        cascade_indeterminate - compressed_row
    ) - _c(b, 1)

    next_is_pad_or_round_is_max_or_ci_is_sponge_init = (
        _select_mode(b, mode_next, MODE_PAD)
        * (round_number_next - _c(b, NUM_ROUNDS))
        * (ci_next - _c(b, OPCODE_SPONGE_INIT))
    )
    round_number_next_is_not_num_rounds = _round_number_deselector(b, round_number_next, NUM_ROUNDS)
    ci_next_is_not_sponge_init = _instruction_deselector(b, ci_next, OPCODE_SPONGE_INIT)
    next_row_is_padding_row = _mode_deselector(b, mode_next, MODE_PAD)

    return (
        next_is_pad_or_round_is_max_or_ci_is_sponge_init * log_derivative_updates
        + round_number_next_is_not_num_rounds * log_derivative_remains
        + ci_next_is_not_sponge_init * log_derivative_remains
        + next_row_is_padding_row * log_derivative_remains
    )


# ---- public AIR -----------------------------------------------------------------------------------
def initial_constraints(b: CircuitBuilder) -> NodeList:
    """The 22 initial constraints of the Hash table."""
    running_evaluation_initial = _xc(b, 1)
    lookup_arg_default_initial = _xc(b, 0)

    mode = _main(b, H.Mode)
    running_evaluation_hash_input = _aux(b, HA.HashInputRunningEvaluation)
    running_evaluation_hash_digest = _aux(b, HA.HashDigestRunningEvaluation)
    running_evaluation_sponge = _aux(b, HA.SpongeRunningEvaluation)
    running_evaluation_receive_chunk = _aux(b, HA.ReceiveChunkRunningEvaluation)

    cascade_indeterminate = _ch(b, C.HashCascadeLookupIndeterminate)
    look_in_weight = _ch(b, C.HashCascadeLookInWeight)
    look_out_weight = _ch(b, C.HashCascadeLookOutWeight)
    prepare_chunk_indeterminate = _ch(b, C.ProgramAttestationPrepareChunkIndeterminate)
    receive_chunk_indeterminate = _ch(b, C.ProgramAttestationSendChunkIndeterminate)

    state_rate_part = _re_compose_states_0_through_3_before_lookup(b, _main)
    state_rate_part += [_main(b, STATE_COLUMNS[i]) for i in range(4, RATE)]
    compressed_chunk = running_evaluation_initial
    for element in state_rate_part:
        compressed_chunk = compressed_chunk * prepare_chunk_indeterminate + element
    receive_chunk_initial = (
        running_evaluation_receive_chunk
        - receive_chunk_indeterminate * running_evaluation_initial
        - compressed_chunk
    )

    def cascade_log_derivative_init(look_in_col: int, look_out_col: int, aux_col: int) -> Node:
        look_in = _main(b, look_in_col)
        look_out = _main(b, look_out_col)
        compressed_row = look_in_weight * look_in + look_out_weight * look_out
        log_derivative = _aux(b, aux_col)
        return (log_derivative - lookup_arg_default_initial) * (cascade_indeterminate - compressed_row) - _c(
            b, 1
        )

    mode_is_program_hashing = _select_mode(b, mode, MODE_PROGRAM_HASHING)
    round_number_is_0 = _main(b, H.RoundNumber)
    hash_input_is_default_initial = running_evaluation_hash_input - running_evaluation_initial
    hash_digest_is_default_initial = running_evaluation_hash_digest - running_evaluation_initial
    sponge_is_default_initial = running_evaluation_sponge - running_evaluation_initial

    constraints = [
        mode_is_program_hashing,
        round_number_is_0,
        hash_input_is_default_initial,
        hash_digest_is_default_initial,
        sponge_is_default_initial,
        receive_chunk_initial,
    ]
    for i in range(4):
        for limb in range(4):
            constraints.append(
                cascade_log_derivative_init(LOOKUP_IN[i][limb], LOOKUP_OUT[i][limb], CASCADE_AUX[i][limb])
            )
    return constraints


def consistency_constraints(b: CircuitBuilder) -> NodeList:
    """The 45 consistency constraints of the Hash table."""
    mode = _main(b, H.Mode)
    ci = _main(b, H.CI)
    round_number = _main(b, H.RoundNumber)

    ci_is_hash = ci - _c(b, OPCODE_HASH)
    ci_is_sponge_init = ci - _c(b, OPCODE_SPONGE_INIT)
    ci_is_sponge_absorb = ci - _c(b, OPCODE_SPONGE_ABSORB)
    ci_is_sponge_squeeze = ci - _c(b, OPCODE_SPONGE_SQUEEZE)

    mode_is_not_hash = _mode_deselector(b, mode, MODE_HASH)
    round_number_is_not_0 = _round_number_deselector(b, round_number, 0)

    mode_is_a_valid_mode = _mode_deselector(b, mode, MODE_PAD) * _select_mode(b, mode, MODE_PAD)
    if_mode_is_not_sponge_then_ci_is_hash = _select_mode(b, mode, MODE_SPONGE) * ci_is_hash
    if_mode_is_sponge_then_ci_is_a_sponge_instruction = (
        _mode_deselector(b, mode, MODE_SPONGE)
        * ci_is_sponge_init
        * ci_is_sponge_absorb
        * ci_is_sponge_squeeze
    )
    if_padding_mode_then_round_number_is_0 = _mode_deselector(b, mode, MODE_PAD) * round_number

    if_ci_is_sponge_init_then_ = ci_is_hash * ci_is_sponge_absorb * ci_is_sponge_squeeze
    if_ci_is_sponge_init_then_round_number_is_0 = if_ci_is_sponge_init_then_ * round_number
    if_mode_is_hash_and_round_no_is_0_then_ = round_number_is_not_0 * mode_is_not_hash

    one = _c(b, 1)
    two_pow_16 = _c(b, 1 << 16)
    two_pow_32 = _c(b, 1 << 32)
    hi_limbs_minus_2_pow_32 = [
        two_pow_32 - one - _main(b, LOOKUP_IN[i][0]) * two_pow_16 - _main(b, LOOKUP_IN[i][1])
        for i in range(4)
    ]
    hi_limbs_inv = [_main(b, STATE_INV[i]) for i in range(4)]
    hi_limbs_are_not_all_1s = [hi_limbs_minus_2_pow_32[i] * hi_limbs_inv[i] - one for i in range(4)]
    hi_limbs_inv_is_inv_or_is_zero = [hi_limbs_are_not_all_1s[i] * hi_limbs_inv[i] for i in range(4)]
    hi_limbs_inv_is_inv_or_hi_limbs_is_zero = [
        hi_limbs_are_not_all_1s[i] * hi_limbs_minus_2_pow_32[i] for i in range(4)
    ]
    lo_limbs = [_main(b, LOOKUP_IN[i][2]) * two_pow_16 + _main(b, LOOKUP_IN[i][3]) for i in range(4)]
    if_hi_limbs_are_all_1_then_lo_limbs_are_all_0 = [
        hi_limbs_are_not_all_1s[i] * lo_limbs[i] for i in range(4)
    ]

    constraints = [
        mode_is_a_valid_mode,
        if_mode_is_not_sponge_then_ci_is_hash,
        if_mode_is_sponge_then_ci_is_a_sponge_instruction,
        if_padding_mode_then_round_number_is_0,
        if_ci_is_sponge_init_then_round_number_is_0,
        *hi_limbs_inv_is_inv_or_is_zero,
        *hi_limbs_inv_is_inv_or_hi_limbs_is_zero,
        *if_hi_limbs_are_all_1_then_lo_limbs_are_all_0,
    ]
    # upstream builds the next two groups lazily, i.e. only now, while extending the list
    for i in range(10, 16):
        constraints.append(if_ci_is_sponge_init_then_ * _main(b, STATE_COLUMNS[i]))
    for i in range(10, 16):
        constraints.append(if_mode_is_hash_and_round_no_is_0_then_ * (_main(b, STATE_COLUMNS[i]) - _c(b, 1)))

    for col_idx in range(NUM_ROUND_CONSTANTS):
        column = _main(b, CONSTANT_COLUMNS[col_idx])
        constraint = _c(b, 0)
        for round_idx in range(NUM_ROUNDS):
            round_constant = _c(b, round_constants_by_round_number(round_idx)[col_idx])
            deselector = _round_number_deselector(b, round_number, round_idx)
            constraint = constraint + deselector * (column - round_constant)
        constraints.append(constraint)
    return constraints


def transition_constraints(b: CircuitBuilder) -> NodeList:
    """The 48 transition constraints of the Hash table."""
    opcode_hash = _c(b, OPCODE_HASH)
    opcode_sponge_init = _c(b, OPCODE_SPONGE_INIT)
    opcode_sponge_absorb = _c(b, OPCODE_SPONGE_ABSORB)
    opcode_sponge_squeeze = _c(b, OPCODE_SPONGE_SQUEEZE)

    running_evaluation_initial = _xc(b, 1)

    prepare_chunk_indeterminate = _ch(b, C.ProgramAttestationPrepareChunkIndeterminate)
    receive_chunk_indeterminate = _ch(b, C.ProgramAttestationSendChunkIndeterminate)
    compress_program_digest_indeterminate = _ch(b, C.CompressProgramDigestIndeterminate)
    expected_program_digest = _ch(b, C.CompressedProgramDigest)
    hash_input_eval_indeterminate = _ch(b, C.HashInputIndeterminate)
    hash_digest_eval_indeterminate = _ch(b, C.HashDigestIndeterminate)
    sponge_indeterminate = _ch(b, C.SpongeIndeterminate)

    mode = _cm(b, H.Mode)
    ci = _cm(b, H.CI)
    round_number = _cm(b, H.RoundNumber)
    receive_chunk = _ca(b, HA.ReceiveChunkRunningEvaluation)
    hash_input = _ca(b, HA.HashInputRunningEvaluation)
    hash_digest = _ca(b, HA.HashDigestRunningEvaluation)
    sponge = _ca(b, HA.SpongeRunningEvaluation)

    mode_next = _nm(b, H.Mode)
    ci_next = _nm(b, H.CI)
    round_number_next = _nm(b, H.RoundNumber)
    receive_chunk_next = _na(b, HA.ReceiveChunkRunningEvaluation)
    hash_input_next = _na(b, HA.HashInputRunningEvaluation)
    hash_digest_next = _na(b, HA.HashDigestRunningEvaluation)
    sponge_next = _na(b, HA.SpongeRunningEvaluation)

    state_current = _re_compose_states_0_through_3_before_lookup(b, _cm)
    state_current += [_cm(b, STATE_COLUMNS[i]) for i in range(4, 16)]

    state_next, round_performs_update = _tip5_constraints_as_circuits(b)

    state_weights = [_ch(b, w) for w in STACK_WEIGHTS]

    round_number_is_not_num_rounds = _round_number_deselector(b, round_number, NUM_ROUNDS)
    round_number_is_0_through_4_or_round_number_next_is_0 = round_number_is_not_num_rounds * round_number_next

    next_mode_is_pad_or_round_number_is_num_rounds_or_increments_by_one = (
        _select_mode(b, mode_next, MODE_PAD)
        * (ci - opcode_sponge_init)
        * (round_number - _c(b, NUM_ROUNDS))
        * (round_number_next - round_number - _c(b, 1))
    )

    if_ci_is_sponge_init_then_round_number_next_is_0 = (
        _instruction_deselector(b, ci, OPCODE_SPONGE_INIT) * round_number_next
    )

    compressed_digest = running_evaluation_initial
    for element in state_current[:DIGEST_LEN]:
        compressed_digest = compressed_digest * compress_program_digest_indeterminate + element
    if_mode_changes_from_program_hashing_then_digest_is_expected = (
        _mode_deselector(b, mode, MODE_PROGRAM_HASHING)
        * _select_mode(b, mode_next, MODE_PROGRAM_HASHING)
        * (compressed_digest - expected_program_digest)
    )

    if_program_hashing_and_next_is_sponge_then_ci_next_is_sponge_init = (
        _mode_deselector(b, mode, MODE_PROGRAM_HASHING)
        * _mode_deselector(b, mode_next, MODE_SPONGE)
        * (ci_next - opcode_sponge_init)
    )

    if_round_number_is_not_max_and_ci_is_not_sponge_init_then_ci_doesnt_change = (
        (round_number - _c(b, NUM_ROUNDS)) * (ci - opcode_sponge_init) * (ci_next - ci)
    )
    if_round_number_is_not_max_and_ci_is_not_sponge_init_then_mode_doesnt_change = (
        (round_number - _c(b, NUM_ROUNDS)) * (ci - opcode_sponge_init) * (mode_next - mode)
    )

    if_mode_is_sponge_then_mode_next_is_sponge_or_hash_or_pad = (
        _mode_deselector(b, mode, MODE_SPONGE)
        * _select_mode(b, mode_next, MODE_SPONGE)
        * _select_mode(b, mode_next, MODE_HASH)
        * _select_mode(b, mode_next, MODE_PAD)
    )
    if_mode_is_hash_then_mode_next_is_hash_or_pad = (
        _mode_deselector(b, mode, MODE_HASH)
        * _select_mode(b, mode_next, MODE_HASH)
        * _select_mode(b, mode_next, MODE_PAD)
    )
    if_mode_is_pad_then_mode_next_is_pad = _mode_deselector(b, mode, MODE_PAD) * _select_mode(
        b, mode_next, MODE_PAD
    )

    difference_of_capacity_registers = [
        nxt - cur for cur, nxt in zip(state_current[RATE:], state_next[RATE:], strict=True)
    ]
    randomized_sum_of_capacity_differences = circuit_sum(
        w * d for w, d in zip(state_weights[RATE:], difference_of_capacity_registers, strict=True)
    )
    capacity_doesnt_change_at_section_start_when_program_hashing_or_absorbing = (
        _round_number_deselector(b, round_number_next, 0)
        * _select_mode(b, mode_next, MODE_HASH)
        * _select_mode(b, mode_next, MODE_PAD)
        * (ci_next - opcode_sponge_init)
        * randomized_sum_of_capacity_differences
    )

    difference_of_state_registers = [nxt - cur for cur, nxt in zip(state_current, state_next, strict=True)]
    randomized_sum_of_state_differences = circuit_sum(
        w * d for w, d in zip(state_weights, difference_of_state_registers, strict=True)
    )
    if_round_number_next_is_0_and_ci_next_is_squeeze_then_state_doesnt_change = (
        _round_number_deselector(b, round_number_next, 0)
        * _instruction_deselector(b, ci_next, OPCODE_SPONGE_SQUEEZE)
        * randomized_sum_of_state_differences
    )

    # evaluation argument "hash input": absorb the next row's rate at round 0 of mode `hash`
    hash_input_remains = hash_input_next - hash_input
    compressed_row_from_processor = circuit_sum(
        w * st for st, w in zip(state_next[:RATE], state_weights[:RATE], strict=True)
    )
    hash_input_updates = (
        hash_input_next - hash_input_eval_indeterminate * hash_input - compressed_row_from_processor
    )
    hash_input_is_updated_correctly = (
        _round_number_deselector(b, round_number_next, 0)
        * _mode_deselector(b, mode_next, MODE_HASH)
        * hash_input_updates
        + round_number_next * hash_input_remains
        + (_c(b, MODE_HASH) - mode_next) * hash_input_remains
    )

    # evaluation argument "hash digest": absorb the digest at the last round of mode `hash`
    round_number_next_is_num_rounds = round_number_next - _c(b, NUM_ROUNDS)
    hash_digest_remains = hash_digest_next - hash_digest
    compressed_row_hash_digest = circuit_sum(
        w * st for st, w in zip(state_next[:DIGEST_LEN], state_weights[:DIGEST_LEN], strict=True)
    )
    hash_digest_updates = (
        hash_digest_next - hash_digest_eval_indeterminate * hash_digest - compressed_row_hash_digest
    )
    hash_digest_is_updated_correctly = (
        _round_number_deselector(b, round_number_next, NUM_ROUNDS)
        * _mode_deselector(b, mode_next, MODE_HASH)
        * hash_digest_updates
        + round_number_next_is_num_rounds * hash_digest_remains
        + _select_mode(b, mode_next, MODE_HASH) * hash_digest_remains
    )

    # evaluation argument "sponge"
    compressed_row_next = circuit_sum(
        w * st for w, st in zip(state_weights[:RATE], state_next[:RATE], strict=True)
    )
    sponge_has_accumulated_ci = sponge_next - sponge_indeterminate * sponge - _ch(b, C.HashCIWeight) * ci_next
    sponge_has_accumulated_next_row = sponge_has_accumulated_ci - compressed_row_next
    if_round_no_next_0_and_ci_next_is_spongy_then_sponge_updates = (
        _round_number_deselector(b, round_number_next, 0)
        * (ci_next - opcode_hash)
        * sponge_has_accumulated_next_row
    )
    sponge_remains = sponge_next - sponge
    if_round_no_next_is_not_0_then_sponge_remains = round_number_next * sponge_remains
    if_ci_next_is_not_spongy_then_sponge_remains = (
        (ci_next - opcode_sponge_init)
        * (ci_next - opcode_sponge_absorb)
        * (ci_next - opcode_sponge_squeeze)
        * sponge_remains
    )
    sponge_is_updated_correctly = (
        if_round_no_next_0_and_ci_next_is_spongy_then_sponge_updates
        + if_round_no_next_is_not_0_then_sponge_remains
        + if_ci_next_is_not_spongy_then_sponge_remains
    )

    # program attestation: absorb a chunk of the program at round 0 of mode `program hashing`
    compressed_chunk = running_evaluation_initial
    for element in state_next[:RATE]:
        compressed_chunk = compressed_chunk * prepare_chunk_indeterminate + element
    receive_chunk_absorbs_chunk = (
        receive_chunk_next - receive_chunk_indeterminate * receive_chunk - compressed_chunk
    )
    receive_chunk_remains = receive_chunk_next - receive_chunk
    receive_chunk_iff_next_mode_is_prog_hashing_and_next_round_number_is_0 = (
        _round_number_deselector(b, round_number_next, 0)
        * _mode_deselector(b, mode_next, MODE_PROGRAM_HASHING)
        * receive_chunk_absorbs_chunk
        + round_number_next * receive_chunk_remains
        + _select_mode(b, mode_next, MODE_PROGRAM_HASHING) * receive_chunk_remains
    )

    constraints = [
        round_number_is_0_through_4_or_round_number_next_is_0,
        next_mode_is_pad_or_round_number_is_num_rounds_or_increments_by_one,
        if_ci_is_sponge_init_then_round_number_next_is_0,
        receive_chunk_iff_next_mode_is_prog_hashing_and_next_round_number_is_0,
        if_mode_changes_from_program_hashing_then_digest_is_expected,
        if_program_hashing_and_next_is_sponge_then_ci_next_is_sponge_init,
        if_round_number_is_not_max_and_ci_is_not_sponge_init_then_ci_doesnt_change,
        if_round_number_is_not_max_and_ci_is_not_sponge_init_then_mode_doesnt_change,
        if_mode_is_sponge_then_mode_next_is_sponge_or_hash_or_pad,
        if_mode_is_hash_then_mode_next_is_hash_or_pad,
        if_mode_is_pad_then_mode_next_is_pad,
        capacity_doesnt_change_at_section_start_when_program_hashing_or_absorbing,
        if_round_number_next_is_0_and_ci_next_is_squeeze_then_state_doesnt_change,
        hash_input_is_updated_correctly,
        hash_digest_is_updated_correctly,
        sponge_is_updated_correctly,
    ]
    for i in range(4):
        for limb in range(4):
            constraints.append(
                _cascade_log_derivative_update_circuit(
                    b, LOOKUP_IN[i][limb], LOOKUP_OUT[i][limb], CASCADE_AUX[i][limb]
                )
            )
    return constraints + round_performs_update


def terminal_constraints(b: CircuitBuilder) -> NodeList:
    """The 2 terminal constraints of the Hash table."""
    mode = _main(b, H.Mode)
    round_number = _main(b, H.RoundNumber)
    compress_program_digest_indeterminate = _ch(b, C.CompressProgramDigestIndeterminate)
    expected_program_digest = _ch(b, C.CompressedProgramDigest)
    max_round_number = _c(b, NUM_ROUNDS)

    program_digest = _re_compose_states_0_through_3_before_lookup(b, _main)
    program_digest.append(_main(b, H.State4))
    compressed_digest = _xc(b, 1)
    for element in program_digest:
        compressed_digest = compressed_digest * compress_program_digest_indeterminate + element
    if_mode_is_program_hashing_then_digest_is_expected = _mode_deselector(b, mode, MODE_PROGRAM_HASHING) * (
        compressed_digest - expected_program_digest
    )
    if_mode_is_not_pad_and_ci_is_not_sponge_init_then_round_number_is_max = (
        _select_mode(b, mode, MODE_PAD)
        * (_main(b, H.CI) - _c(b, OPCODE_SPONGE_INIT))
        * (round_number - max_round_number)
    )
    return [
        if_mode_is_program_hashing_then_digest_is_expected,
        if_mode_is_not_pad_and_ci_is_not_sponge_init_then_round_number_is_max,
    ]
