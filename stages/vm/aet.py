"""The algebraic execution trace (AET): everything the nine tables are filled from.

Built from the interpreter's raw recording with numpy; layouts follow the team contract (all arrays
uint64, canonical field values, upstream column order).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from stages.tip5 import permutation_trace

from .isa import BY_OPCODE, P, op_stack_delta
from .program import Program

TABLE_NAMES = ("Program", "Processor", "OpStack", "Ram", "JumpStack", "Hash", "Cascade", "Lookup", "U32")
PROCESSOR_WIDTH = 39
LOOKUP_TABLE_HEIGHT = 256

# processor column offsets (relative to the processor table)
CLK, IS_PADDING, IP, CI, NIA = 0, 1, 2, 3, 4
IB0 = 5
JSP, JSO, JSD = 12, 13, 14
ST0 = 15
OSP = 31
HV0 = 32
CJD_MULT = 38

_ARG_DECOMPOSED = (3, 9, 17, 25, 33, 41, 57, 11, 73, 19)  # pop divine pick place dup swap read_mem ...
_RUNTIME_HELPERS = (48, 36, 44, 80, 88)  # sponge_absorb_mem merkle_step(_mem) xx_dot_step xb_dot_step
_MONTGOMERY_R = (1 << 64) % P


@dataclass
class AET:
    """Algebraic execution trace of one run (see the team notes for every field's layout)."""

    program_words: np.ndarray
    processor_trace: np.ndarray
    instruction_multiplicities: np.ndarray
    op_stack_underflow_trace: np.ndarray
    ram_trace: np.ndarray
    program_hash_trace: np.ndarray
    sponge_trace: np.ndarray
    hash_trace: np.ndarray
    cascade_limbs: np.ndarray
    cascade_multiplicities: np.ndarray
    lookup_multiplicities: np.ndarray
    u32_entries: np.ndarray
    table_heights: dict = field(default_factory=dict)
    padded_height: int = 0

    @property
    def cycle_count(self) -> int:
        return self.processor_trace.shape[0] - 1

    @property
    def height(self) -> int:
        """Largest unpadded table height."""
        return max(self.table_heights.values())


def padded_program_length(num_words: int) -> int:
    """Program table height: words plus at least one padding 1, rounded up to a multiple of 10."""
    return -(-(num_words + 1) // 10) * 10


def u32_table_height(entries: np.ndarray) -> int:
    """Sum of per-entry section lengths: 1 if the dominant operand is 0, else 2 + floor(log2)."""
    total = 0
    for opcode, lhs, rhs, _ in entries.tolist():
        dominant = rhs if opcode == 30 else max(lhs, rhs)
        total += 1 if dominant == 0 else 1 + dominant.bit_length()
    return total


def next_power_of_two(n: int) -> int:
    return 1 if n <= 1 else 1 << (n - 1).bit_length()


def _inverse_or_zero(values: list[int]) -> list[int]:
    """Batch inversion of Python ints (Montgomery's trick); zeros map to zero."""
    nonzero = [v for v in values if v]
    prefix = []
    acc = 1
    for v in nonzero:
        prefix.append(acc)
        acc = acc * v % P
    inv = pow(acc, P - 2, P)
    inverses = [0] * len(nonzero)
    for i in range(len(nonzero) - 1, -1, -1):
        inverses[i] = inv * prefix[i] % P
        inv = inv * nonzero[i] % P
    it = iter(inverses)
    return [next(it) if v else 0 for v in values]


def _hash_rows(trace: np.ndarray, ci: int) -> np.ndarray:
    rows = np.zeros((trace.shape[0], 18), dtype=np.uint64)
    rows[:, 0] = ci
    rows[:, 1] = np.arange(trace.shape[0], dtype=np.uint64)
    rows[:, 2:] = trace
    return rows


def program_hash_traces(words: list[int]) -> list[np.ndarray]:
    """Permutation traces of absorbing the padded program into a variable-length sponge."""
    padded = words + [1] + [0] * 9
    padded = padded[:padded_program_length(len(words))]
    state = [0] * 16
    traces = []
    for k in range(0, len(padded), 10):
        trace = permutation_trace(padded[k:k + 10] + state[10:])
        traces.append(trace)
        state = trace[5].tolist()
    return traces


def build_aet(program: Program, rec) -> AET:
    """Turn the interpreter's Recording into the AET arrays."""
    words = program.words()
    n_words = len(program.instructions)
    instructions = program.instructions

    # ---- per-address lookup arrays ----
    opcode_at = np.array([op for op, _ in instructions], dtype=np.int64)
    nia_at = np.zeros(n_words, dtype=np.uint64)
    delta_at = np.zeros(n_words, dtype=np.int64)
    for a, (op, arg) in enumerate(instructions):
        if arg is not None:
            nia_at[a] = arg
        elif a + 1 < n_words:
            nia_at[a] = instructions[a + 1][0]
        else:
            nia_at[a] = 1
        delta_at[a] = op_stack_delta(op, arg)

    ips = np.frombuffer(rec.ips, dtype=np.int64)
    n = len(ips)
    tops = np.frombuffer(rec.stack_tops, dtype=np.uint64).reshape(n, 16)
    proc = np.zeros((n, PROCESSOR_WIDTH), dtype=np.uint64)
    proc[:, CLK] = np.arange(n, dtype=np.uint64)
    proc[:, IP] = ips
    ci = opcode_at[ips]
    proc[:, CI] = ci
    nia = nia_at[ips]
    proc[:, NIA] = nia
    for bit in range(7):
        proc[:, IB0 + bit] = (ci >> bit) & 1
    if rec.jump_events:
        ev = np.array(rec.jump_events, dtype=np.uint64)
        idx = np.searchsorted(ev[:, 0], np.arange(n, dtype=np.uint64), side="right") - 1
        has = idx >= 0
        for col, k in ((JSP, 1), (JSO, 2), (JSD, 3)):
            proc[has, col] = ev[idx[has], k]
    proc[:, ST0:ST0 + 16] = tops[:, ::-1]
    osp = np.empty(n, dtype=np.int64)
    osp[0] = 16
    np.cumsum(delta_at[ips[:-1]], out=osp[1:])
    osp[1:] += 16
    proc[:, OSP] = osp

    # ---- helper variables ----
    st = proc[:, ST0:ST0 + 16]
    rows = np.flatnonzero(np.isin(ci, _ARG_DECOMPOSED))
    for bit in range(4):
        proc[rows, HV0 + bit] = (nia[rows] >> np.uint64(bit)) & np.uint64(1)
    skiz = np.flatnonzero(ci == 2)
    if skiz.size:
        proc[skiz, HV0] = _inverse_or_zero(st[skiz, 0].tolist())
        v = nia[skiz]
        proc[skiz, HV0 + 1] = v % 2
        proc[skiz, HV0 + 2] = (v >> np.uint64(1)) % 4
        proc[skiz, HV0 + 3] = (v >> np.uint64(3)) % 4
        proc[skiz, HV0 + 4] = (v >> np.uint64(5)) % 4
        proc[skiz, HV0 + 5] = v >> np.uint64(7)
    for opcode, a_col, b_col in ((32, 6, 5), (58, 1, 0)):  # recurse_or_return: st6-st5; eq: st1-st0
        r = np.flatnonzero(ci == opcode)
        if r.size:
            diffs = [(x - y) % P for x, y in zip(st[r, a_col].tolist(), st[r, b_col].tolist(), strict=True)]
            proc[r, HV0] = _inverse_or_zero(diffs)
    split = np.flatnonzero(ci == 4)
    if split.size:
        values = []
        for x in st[split, 0].tolist():
            values.append(((x >> 32) - 0xFFFFFFFF) % P if x & 0xFFFFFFFF else 0)
        proc[split, HV0] = _inverse_or_zero(values)
    if rec.helper:
        cycles = np.fromiter(rec.helper.keys(), dtype=np.int64, count=len(rec.helper))
        proc[cycles, HV0:HV0 + 6] = np.array(list(rec.helper.values()), dtype=np.uint64)

    multiplicities = np.bincount(ips, minlength=n_words).astype(np.uint64)

    # ---- op-stack underflow entries: the net effect of each instruction on the underflow memory ----
    d = osp[1:] - osp[:-1]
    moving = np.flatnonzero(d)
    counts = np.abs(d[moving])
    total = int(counts.sum())
    op_stack = np.zeros((total, 4), dtype=np.uint64)
    if total:
        cyc = np.repeat(moving, counts)
        dd = np.repeat(d[moving], counts)
        starts = np.repeat(np.cumsum(counts) - counts, counts)
        j = np.arange(total) - starts
        grow = dd > 0
        pointer = np.where(grow, osp[cyc] + j, osp[cyc] - 1 - j)
        value = np.where(grow, st[cyc, np.clip(15 - j, 0, 15)],
                         st[np.minimum(cyc + 1, n - 1), np.clip(16 + dd + j, 0, 15)])
        op_stack[:, 0] = cyc
        op_stack[:, 1] = ~grow
        op_stack[:, 2] = pointer
        op_stack[:, 3] = value

    ram = np.array(rec.ram_log, dtype=np.uint64).reshape(-1, 4)

    # ---- hash coprocessor ----
    prog_traces = program_hash_traces(words)
    program_hash = np.concatenate([_hash_rows(t, 18) for t in prog_traces])
    hash_parts, sponge_parts, lookup_traces = [], [], list(prog_traces)
    init_row = np.zeros((1, 18), dtype=np.uint64)
    init_row[0, 0] = 40
    for ci_, trace in rec.permutations:
        if trace is None:
            sponge_parts.append(init_row)
            continue
        lookup_traces.append(trace)
        (hash_parts if ci_ == 18 else sponge_parts).append(_hash_rows(trace, ci_))
    empty = np.zeros((0, 18), dtype=np.uint64)
    hash_trace = np.concatenate(hash_parts) if hash_parts else empty
    sponge_trace = np.concatenate(sponge_parts) if sponge_parts else empty

    # cascade: 16-bit limbs of the Montgomery form of state[0..4) of every round input
    looked_up = np.stack(lookup_traces)[:, :5, :4].reshape(-1).tolist()
    mont = np.array([v * _MONTGOMERY_R % P for v in looked_up], dtype=np.uint64)
    limbs = ((mont[:, None] >> np.array([0, 16, 32, 48], dtype=np.uint64)) & np.uint64(0xFFFF)).reshape(-1)
    uniq, first, cnt = np.unique(limbs, return_index=True, return_counts=True)
    order = np.argsort(first, kind="stable")
    cascade_limbs = uniq[order].astype(np.uint64)
    cascade_mult = cnt[order].astype(np.uint64)
    lookup_mult = np.zeros(LOOKUP_TABLE_HEIGHT, dtype=np.uint64)
    np.add.at(lookup_mult, (cascade_limbs & np.uint64(0xFF)).astype(np.int64), 1)
    np.add.at(lookup_mult, (cascade_limbs >> np.uint64(8)).astype(np.int64), 1)

    # ---- u32 ----
    u32 = np.array([(op, lhs, rhs, m) for (op, lhs, rhs), m in rec.u32.items()], dtype=np.uint64)
    u32 = u32.reshape(-1, 4)

    heights = {
        "Program": padded_program_length(n_words),
        "Processor": n,
        "OpStack": total,
        "Ram": ram.shape[0],
        "JumpStack": n,
        "Hash": program_hash.shape[0] + sponge_trace.shape[0] + hash_trace.shape[0],
        "Cascade": int(cascade_limbs.shape[0]),
        "Lookup": LOOKUP_TABLE_HEIGHT,
        "U32": u32_table_height(u32),
    }
    return AET(
        program_words=np.array(words, dtype=np.uint64),
        processor_trace=proc,
        instruction_multiplicities=multiplicities,
        op_stack_underflow_trace=op_stack,
        ram_trace=ram,
        program_hash_trace=program_hash,
        sponge_trace=sponge_trace,
        hash_trace=hash_trace,
        cascade_limbs=cascade_limbs,
        cascade_multiplicities=cascade_mult,
        lookup_multiplicities=lookup_mult,
        u32_entries=u32,
        table_heights=heights,
        padded_height=next_power_of_two(max(heights.values())),
    )


def is_u32_opcode(opcode: int) -> bool:
    return BY_OPCODE[opcode].is_u32
