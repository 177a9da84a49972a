"""The algebraic execution trace (AET): everything the nine tables are filled from.

Built from the interpreter's raw recording; layouts follow the team contract (all arrays uint64, canonical
field values, upstream column order). The row loops come in two forms with the same results: compiled
(numba, cached on disk: the fast one once compiled) and vectorised numpy (no compile: for a process whose
numba cache is cold, where the compile, about 4 s of CPU, would cost more than the job; build_aet's
`compiled`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numba as nb
import numpy as np

from tvmpd.stages import field as F
from tvmpd.stages.air import fill, fill_numpy
from tvmpd.stages.tip5 import permutation_trace
from tvmpd.stages.tip5_numba import nb_invert_or_zero, nb_mul, nb_permute_trace, nb_sub

from .isa import P, op_stack_delta
from .program import Program
from .recording import Recording

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
_MONTGOMERY_R = (1 << 64) % P


@dataclass
class AET:
    """Algebraic execution trace of one run (see the team notes for every field's layout).

    `processor_trace` is row-major like the master table it is copied into (filled row by row: writing 39
    column streams at once took 8x as long at 2^16 cycles);
    helper variables of sponge_absorb_mem, merkle_step(_mem), xx/xb_dot_step are the RAM values
    (or divined digest) recorded at run time, all others are derived from the rows.
    """

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


def next_power_of_two(n: int) -> int:
    return 1 if n <= 1 else 1 << (n - 1).bit_length()


def _hash_rows(traces: np.ndarray, ci: np.ndarray) -> np.ndarray:
    """Hash-table rows [CI, RoundNumber, state0..15] of permutation traces (k, 6, 16)."""
    k = traces.shape[0]
    rows = np.zeros((k * 6, 18), dtype=np.uint64)
    rows[:, 0] = np.repeat(np.asarray(ci, dtype=np.uint64), 6)
    rows[:, 1] = np.tile(np.arange(6, dtype=np.uint64), k)
    rows[:, 2:] = traces.reshape(-1, 16)
    return rows


@nb.njit(cache=True)
def _coprocessor_rows(events: np.ndarray, traces: np.ndarray):
    """Hash-table rows [CI, RoundNumber, state0..15] of the run's coprocessor calls, in call order: 6 per
    `hash`/`merkle_step(_mem)` (CI 18) into the first array; 6 per sponge call and one all-zero row per
    `sponge_init` (CI 40) into the second."""
    n_hash = 0
    n_sponge = 0
    for e in events:
        if e == 18:
            n_hash += 6
        else:
            n_sponge += 1 if e == 40 else 6
    hash_rows = np.zeros((n_hash, 18), dtype=np.uint64)
    sponge_rows = np.zeros((n_sponge, 18), dtype=np.uint64)
    h = 0
    s = 0
    t = 0
    for e in events:
        if e == 40:
            sponge_rows[s, 0] = 40
            s += 1
            continue
        rows = hash_rows if e == 18 else sponge_rows
        r = h if e == 18 else s
        for round_ in range(6):
            rows[r + round_, 0] = e
            rows[r + round_, 1] = round_
            for j in range(16):  # loops, not slice assignments: no shape-check code for numba to compile
                rows[r + round_, 2 + j] = traces[t, round_, j]
        if e == 18:
            h += 6
        else:
            s += 6
        t += 1
    return hash_rows, sponge_rows


def program_hash_traces(words: list[int], compiled: bool = True) -> np.ndarray:
    """Permutation traces (k, 6, 16) of absorbing the padded program into a variable-length sponge."""
    padded = words + [1] + [0] * 9
    padded = padded[:padded_program_length(len(words))]
    absorb = _absorb_traces if compiled else _absorb_traces_numpy
    return absorb(np.array(padded, dtype=np.uint64)).reshape(-1, 6, 16)


@nb.njit(cache=True)
def _absorb_traces(padded: np.ndarray) -> np.ndarray:
    """Traces (6 rows each) of absorbing `padded` (a multiple of 10 words) into a zero sponge state."""
    k = padded.shape[0] // 10
    traces = np.empty((6 * k, 16), dtype=np.uint64)
    state = np.zeros(16, dtype=np.uint64)
    lo = np.empty(16, dtype=np.uint64)
    hi = np.empty(16, dtype=np.uint64)
    for t in range(k):
        for j in range(10):
            state[j] = padded[10 * t + j]
        nb_permute_trace(state, traces, 6 * t, lo, hi)
    return traces


_ARG_DECOMPOSED_MASK = np.zeros(128, dtype=np.bool_)
_ARG_DECOMPOSED_MASK[list(_ARG_DECOMPOSED)] = True
_ZERO = np.uint64(0)
_ONE = np.uint64(1)


@nb.njit(cache=True)
def _inverse_or_zero_into(proc: np.ndarray, rows: np.ndarray, values: np.ndarray, count: int) -> None:
    """proc[rows[i], HV0] = values[i]^-1 (0 for 0), for the first `count`, with one field inversion; the
    values are inverted in place."""
    nb_invert_or_zero(values[:count])
    for i in range(count):
        if values[i] != 0:
            proc[rows[i], HV0] = values[i]


@nb.njit(cache=True)
def _fill_processor(proc, ips, tops, opcode_at, nia_at, delta_at, jump_events, decomposed):  # noqa: C901
    """Every processor column from the recorded rows (helper variables recorded at run time excepted), and
    the op-stack underflow entries; returns those entries."""
    n = ips.shape[0]
    total = 0
    for r in range(n):
        total += abs(delta_at[ips[r]])
    op_stack = np.empty((total, 4), dtype=np.uint64)
    inv_rows = np.empty(n, dtype=np.int64)
    inv_vals = np.empty(n, dtype=np.uint64)
    n_inv = 0
    k = 0
    osp = 16
    event = -1
    n_events = jump_events.shape[0]
    for r in range(n):
        ip = ips[r]
        ci = opcode_at[ip]
        nia = nia_at[ip]
        proc[r, CLK] = r
        proc[r, IS_PADDING] = 0
        proc[r, IP] = ip
        proc[r, CI] = ci
        proc[r, NIA] = nia
        for bit in range(7):
            proc[r, IB0 + bit] = (ci >> bit) & 1
        while event + 1 < n_events and jump_events[event + 1, 0] <= r:
            event += 1
        for j in range(3):
            proc[r, JSP + j] = jump_events[event, 1 + j] if event >= 0 else _ZERO
        for j in range(16):
            proc[r, ST0 + j] = tops[r, 15 - j]
        proc[r, OSP] = osp
        for j in range(6):
            proc[r, HV0 + j] = 0
        proc[r, CJD_MULT] = 0
        if decomposed[ci]:
            for bit in range(4):
                proc[r, HV0 + bit] = (nia >> np.uint64(bit)) & _ONE
        if ci == 2:  # skiz: HV0 = st0^-1, HV1..5 decompose the next instruction's size and opcode
            inv_rows[n_inv] = r
            inv_vals[n_inv] = tops[r, 15]
            n_inv += 1
            proc[r, HV0 + 1] = nia % np.uint64(2)
            proc[r, HV0 + 2] = (nia >> np.uint64(1)) % np.uint64(4)
            proc[r, HV0 + 3] = (nia >> np.uint64(3)) % np.uint64(4)
            proc[r, HV0 + 4] = (nia >> np.uint64(5)) % np.uint64(4)
            proc[r, HV0 + 5] = nia >> np.uint64(7)
        elif ci == 32:  # recurse_or_return: (st6 - st5)^-1
            inv_rows[n_inv] = r
            inv_vals[n_inv] = nb_sub(tops[r, 9], tops[r, 10])
            n_inv += 1
        elif ci == 58:  # eq: (st1 - st0)^-1
            inv_rows[n_inv] = r
            inv_vals[n_inv] = nb_sub(tops[r, 14], tops[r, 15])
            n_inv += 1
        elif ci == 4:  # split: (hi - (2^32 - 1))^-1 where lo is not 0
            x = tops[r, 15]
            inv_rows[n_inv] = r
            inv_vals[n_inv] = nb_sub(x >> np.uint64(32), np.uint64(0xFFFFFFFF)) \
                if x & np.uint64(0xFFFFFFFF) else np.uint64(0)
            n_inv += 1
        # op-stack underflow entries: growing by d writes the old st15..st(16-d) at pointers
        # osp..osp+d-1; shrinking by d reads the words that surface as st(16-d)..st15 of the next row,
        # at pointers osp-1 down to osp-d
        d = delta_at[ip]
        if d > 0:
            for j in range(d):
                op_stack[k, 0] = r
                op_stack[k, 1] = 0
                op_stack[k, 2] = osp + j
                op_stack[k, 3] = tops[r, j]
                k += 1
        elif d < 0:
            src = min(r + 1, n - 1)
            for j in range(-d):
                op_stack[k, 0] = r
                op_stack[k, 1] = 1
                op_stack[k, 2] = osp - 1 - j
                op_stack[k, 3] = tops[src, min(max(-1 - d - j, 0), 15)]
                k += 1
        osp += d
    _inverse_or_zero_into(proc, inv_rows, inv_vals, n_inv)
    return op_stack


_MONTGOMERY_R_NB = np.uint64(_MONTGOMERY_R)


@nb.njit(cache=True)
def _cascade(program_traces: np.ndarray, traces: np.ndarray):
    """Distinct 16-bit limbs of the Montgomery form of state[0..4) of every round input (rounds 0..4) of
    every permutation trace (the program's first), in first-seen order, with their multiplicities."""
    first = np.full(1 << 16, -1, dtype=np.int64)
    counts = np.zeros(1 << 16, dtype=np.uint64)
    order = np.empty(1 << 16, dtype=np.int64)
    k = 0
    for part in (program_traces, traces):
        for t in range(part.shape[0]):
            for round_ in range(5):
                for i in range(4):
                    mont = nb_mul(part[t, round_, i], _MONTGOMERY_R_NB)
                    for shift in range(0, 64, 16):
                        limb = np.int64((mont >> np.uint64(shift)) & np.uint64(0xFFFF))
                        if first[limb] < 0:
                            first[limb] = k
                            order[k] = limb
                            k += 1
                        counts[limb] += 1
    limbs = order[:k].astype(np.uint64)
    mult = np.empty(k, dtype=np.uint64)
    for j in range(k):
        mult[j] = counts[order[j]]
    return limbs, mult


# ---------------------------------------------------------------------------------------------
# the same loops in vectorised numpy


def _coprocessor_rows_numpy(events: np.ndarray, traces: np.ndarray):
    """_coprocessor_rows without numba."""
    events = np.asarray(events, dtype=np.uint64)
    traced = events[events != 40]  # one trace each, in call order
    is_hash = traced == 18
    hash_rows = _hash_rows(traces[is_hash], traced[is_hash])
    sponge_events = events[events != 18]
    counts = np.where(sponge_events == 40, 1, 6)
    sponge_rows = np.zeros((int(counts.sum()), 18), dtype=np.uint64)
    sponge_rows[:, 0] = np.repeat(sponge_events, counts)
    starts = np.cumsum(counts) - counts
    at = (starts[sponge_events != 40][:, None] + np.arange(6)).reshape(-1)
    sponge_rows[at, 1] = np.tile(np.arange(6, dtype=np.uint64), int(np.count_nonzero(~is_hash)))
    sponge_rows[at, 2:] = traces[~is_hash].reshape(-1, 16)
    return hash_rows, sponge_rows


def _absorb_traces_numpy(padded: np.ndarray) -> np.ndarray:
    """_absorb_traces without numba: stages/tip5.py's permutation, a few per program."""
    state = [0] * 16
    traces = []
    for t in range(padded.shape[0] // 10):
        trace = permutation_trace([int(x) for x in padded[10 * t:10 * t + 10]] + state[10:])
        traces.append(trace)
        state = [int(x) for x in trace[5]]
    return np.concatenate(traces).astype(np.uint64) if traces else np.zeros((0, 16), dtype=np.uint64)


def _cascade_numpy(program_traces: np.ndarray, traces: np.ndarray):
    """_cascade without numba."""
    looked_up = np.concatenate([program_traces, traces])[:, :5, :4].reshape(-1)
    mont = F.mul(looked_up, np.uint64(_MONTGOMERY_R))
    limbs = ((mont[:, None] >> np.array([0, 16, 32, 48], dtype=np.uint64)) & np.uint64(0xFFFF)).reshape(-1)
    unique, first, counts = np.unique(limbs, return_index=True, return_counts=True)
    order = np.argsort(first, kind="stable")
    return unique[order].astype(np.uint64), counts[order].astype(np.uint64)


def _fill_processor_numpy(proc, ips, tops, opcode_at, nia_at, delta_at, jump_events, decomposed):
    """_fill_processor without numba, row blocks at a time."""
    n = ips.shape[0]
    parts, inv_rows, inv_vals = [], [], []
    osp = 16
    for r0 in range(0, n, _NUMPY_BLOCK):
        r1 = min(n, r0 + _NUMPY_BLOCK)
        osp, part = _processor_block_numpy(proc, r0, r1, ips[r0:r1], tops, osp, opcode_at, nia_at, delta_at,
                                           jump_events, decomposed, inv_rows, inv_vals)
        parts.append(part)
    if inv_rows:  # these rows' HV0 is 0 until here: an inverse or zero
        proc[np.concatenate(inv_rows), HV0] = F.inv_or_zero(np.concatenate(inv_vals))
    return np.concatenate(parts) if parts else np.zeros((0, 4), dtype=np.uint64)


_NUMPY_BLOCK = 1 << 15  # processor rows per numpy block: the temporaries stay small


def _processor_block_numpy(proc, r0, r1, ips, tops, osp_start, opcode_at, nia_at, delta_at, jump_events,
                           decomposed, inv_rows, inv_vals):  # noqa: C901
    """Processor rows r0 .. r1 - 1; returns the op-stack pointer at row r1 and the rows' op-stack
    entries, and appends the (rows, values) whose inverses go into HV0."""
    n = tops.shape[0]
    blk = proc[r0:r1]
    blk[:] = 0
    blk[:, CLK] = np.arange(r0, r1, dtype=np.uint64)
    blk[:, IP] = ips
    ci = opcode_at[ips].astype(np.uint64)
    blk[:, CI] = ci
    nia = nia_at[ips]
    blk[:, NIA] = nia
    for bit in range(7):
        blk[:, IB0 + bit] = (ci >> np.uint64(bit)) & np.uint64(1)
    if jump_events.shape[0]:
        idx = np.searchsorted(jump_events[:, 0], np.arange(r0, r1, dtype=np.uint64), side="right") - 1
        has = idx >= 0
        for j in range(3):
            blk[has, JSP + j] = jump_events[idx[has], 1 + j]
    tb = tops[r0:r1]
    blk[:, ST0:ST0 + 16] = tb[:, ::-1]
    delta = delta_at[ips]
    osp = np.empty(r1 - r0 + 1, dtype=np.int64)
    osp[0] = osp_start
    np.cumsum(delta, out=osp[1:])
    osp[1:] += osp_start
    blk[:, OSP] = osp[:-1].astype(np.uint64)

    rows = np.flatnonzero(decomposed[ci.astype(np.int64)])
    for bit in range(4):
        blk[rows, HV0 + bit] = (nia[rows] >> np.uint64(bit)) & np.uint64(1)
    skiz = np.flatnonzero(ci == 2)  # HV0 = st0^-1, HV1..5 decompose the next instruction
    inv_rows.append(skiz + r0)
    inv_vals.append(tb[skiz, 15])
    v = nia[skiz]
    blk[skiz, HV0 + 1] = v % np.uint64(2)
    blk[skiz, HV0 + 2] = (v >> np.uint64(1)) % np.uint64(4)
    blk[skiz, HV0 + 3] = (v >> np.uint64(3)) % np.uint64(4)
    blk[skiz, HV0 + 4] = (v >> np.uint64(5)) % np.uint64(4)
    blk[skiz, HV0 + 5] = v >> np.uint64(7)
    for opcode, a, b in ((32, 9, 10), (58, 14, 15)):  # recurse_or_return: st6 - st5; eq: st1 - st0
        r = np.flatnonzero(ci == opcode)
        inv_rows.append(r + r0)
        inv_vals.append(F.sub(tb[r, a], tb[r, b]))
    split = np.flatnonzero(ci == 4)  # (hi - (2^32 - 1))^-1 where lo is not 0
    x = tb[split, 15]
    inv_rows.append(split + r0)
    inv_vals.append(np.where(x & np.uint64(0xFFFFFFFF), F.sub(x >> np.uint64(32), np.uint64(0xFFFFFFFF)),
                             np.uint64(0)))

    # op-stack entries, as _fill_processor writes them
    moving = np.flatnonzero(delta)
    counts = np.abs(delta[moving])
    total = int(counts.sum())
    part = np.zeros((total, 4), dtype=np.uint64)
    if total:
        local = np.repeat(moving, counts)
        d = delta[local]
        j = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
        grow = d > 0
        row = local + r0
        part[:, 0] = row
        part[:, 1] = ~grow
        part[:, 2] = np.where(grow, osp[local] + j, osp[local] - 1 - j)
        src_row = np.where(grow, row, np.minimum(row + 1, n - 1))
        src_col = np.where(grow, j, np.clip(-1 - d - j, 0, 15))
        part[:, 3] = tops[src_row, src_col]
    return int(osp[-1]), part


def build_aet(program: Program, rec: Recording, compiled: bool = True) -> AET:
    """Turn the interpreter's Recording into the AET arrays; compiled: with the numba loops (False: numpy,
    no compile)."""
    words = program.words()
    n_words = len(program.instructions)
    instructions = program.instructions

    # ---- per-address lookup arrays ----
    opcode_at = np.array([op for op, _ in instructions], dtype=np.uint8)
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

    ips = rec.ips
    n = len(ips)
    tops = rec.stack_tops  # st15 .. st0 per row
    jump_events = rec.jump_events
    # every cell is written by _fill_processor: the pages are faulted in as it writes them, not zeroed first
    proc = np.empty((n, PROCESSOR_WIDTH), dtype=np.uint64)
    fill_processor = _fill_processor if compiled else _fill_processor_numpy
    op_stack = fill_processor(proc, ips, tops, opcode_at, nia_at, delta_at, jump_events, _ARG_DECOMPOSED_MASK)
    if rec.helper_cycles.size:
        proc[rec.helper_cycles, HV0:HV0 + 6] = rec.helper_values
    multiplicities = np.bincount(ips, minlength=n_words).astype(np.uint64)

    # ---- hash coprocessor ----
    prog = program_hash_traces(words, compiled)
    program_hash = _hash_rows(prog, np.full(prog.shape[0], 18))
    coprocessor_rows = _coprocessor_rows if compiled else _coprocessor_rows_numpy
    hash_trace, sponge_trace = coprocessor_rows(rec.hash_events, rec.hash_traces)

    # cascade: 16-bit limbs of the Montgomery form of state[0..4) of every round input, first-seen order
    cascade_limbs, cascade_mult = (_cascade if compiled else _cascade_numpy)(prog, rec.hash_traces)
    low = (cascade_limbs & np.uint64(0xFF)).astype(np.int64)
    high = (cascade_limbs >> np.uint64(8)).astype(np.int64)
    lookup_mult = (np.bincount(low, minlength=LOOKUP_TABLE_HEIGHT)
                   + np.bincount(high, minlength=LOOKUP_TABLE_HEIGHT)).astype(np.uint64)

    aet = AET(
        program_words=np.array(words, dtype=np.uint64),
        processor_trace=proc,
        instruction_multiplicities=multiplicities,
        op_stack_underflow_trace=op_stack,
        ram_trace=rec.ram_log,
        program_hash_trace=program_hash,
        sponge_trace=sponge_trace,
        hash_trace=hash_trace,
        cascade_limbs=cascade_limbs,
        cascade_multiplicities=cascade_mult,
        lookup_multiplicities=lookup_mult,
        u32_entries=rec.u32_entries,
    )
    # the heights as the main-table fill counts them from these arrays (the U32 table's with or without numba)
    aet.table_heights = (fill if compiled else fill_numpy).table_heights(aet)
    aet.padded_height = next_power_of_two(max(aet.table_heights.values()))
    return aet
