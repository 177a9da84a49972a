"""The algebraic execution trace (AET): everything the nine tables are filled from.

Built from the interpreter's raw recording with numpy; layouts follow the team contract (all arrays
uint64, canonical field values, upstream column order).
"""

from __future__ import annotations

import mmap
from dataclasses import dataclass, field

import numpy as np

from stages import field as fp
from stages.tip5 import permutation_trace

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

    `processor_trace` is column-major (Fortran order; the table is filled column by column);
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


def u32_table_height(entries: np.ndarray) -> int:
    """Sum of per-entry section lengths: 1 if the dominant operand is 0, else 2 + floor(log2)."""
    total = 0
    for opcode, lhs, rhs, _ in entries.tolist():
        dominant = rhs if opcode == 30 else max(lhs, rhs)
        total += 1 if dominant == 0 else 1 + dominant.bit_length()
    return total


def next_power_of_two(n: int) -> int:
    return 1 if n <= 1 else 1 << (n - 1).bit_length()


def _inverse_or_zero(values: np.ndarray) -> np.ndarray:
    """Elementwise inverse of canonical uint64 values, zeros mapping to zero (batch inversion)."""
    values = np.asarray(values, dtype=np.uint64)
    out = np.zeros_like(values)
    nonzero = values != 0
    if nonzero.any():
        out[nonzero] = fp.batch_inv(values[nonzero])
    return out


_POPULATE_BYTES = 1 << 22


def _zeros(shape: tuple[int, ...], order: str = "C") -> np.ndarray:
    """Zeroed uint64 array; large ones come pre-faulted from one mmap (first-touch page faults
    dominate filling big traces on the VMs we run on)."""
    nbytes = 8 * int(np.prod(shape))
    if nbytes < _POPULATE_BYTES or not hasattr(mmap, "MAP_POPULATE"):
        return np.zeros(shape, dtype=np.uint64, order=order)
    buf = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | mmap.MAP_POPULATE)
    flat = np.frombuffer(buf, dtype=np.uint64)
    return flat.reshape(shape[::-1]).T if order == "F" else flat.reshape(shape)


def _hash_rows(traces: np.ndarray, ci: np.ndarray) -> np.ndarray:
    """Hash-table rows [CI, RoundNumber, state0..15] of permutation traces (k, 6, 16)."""
    k = traces.shape[0]
    rows = np.zeros((k * 6, 18), dtype=np.uint64)
    rows[:, 0] = np.repeat(np.asarray(ci, dtype=np.uint64), 6)
    rows[:, 1] = np.tile(np.arange(6, dtype=np.uint64), k)
    rows[:, 2:] = traces.reshape(-1, 16)
    return rows


def _sponge_rows(events: np.ndarray, traces: np.ndarray) -> np.ndarray:
    """Sponge rows in event order: `sponge_init` (CI 40) is one all-zero row, the others 6 rows each."""
    counts = np.where(events == 40, 1, 6)
    rows = np.zeros((int(counts.sum()), 18), dtype=np.uint64)
    rows[:, 0] = np.repeat(events, counts)
    starts = np.cumsum(counts) - counts
    at = (starts[events != 40][:, None] + np.arange(6)).reshape(-1)
    rows[at, 1] = np.tile(np.arange(6, dtype=np.uint64), traces.shape[0])
    rows[at, 2:] = traces.reshape(-1, 16)
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


_BLOCK = 1 << 15


def _fill_block(proc, r0, r1, ip_b, tops, osp_start, opcode_at, nia_at, delta_at, jump_events, n):
    """Fill processor rows [r0, r1); returns the op-stack pointer at row r1, the block's op-stack
    entries, and (rows, values) whose inverses-or-zero go into HV0."""
    blk = proc[r0:r1]
    m = r1 - r0
    blk[:, CLK] = np.arange(r0, r1, dtype=np.uint64)
    blk[:, IP] = ip_b
    ci = opcode_at[ip_b]
    blk[:, CI] = ci
    nia = nia_at[ip_b]
    blk[:, NIA] = nia
    for bit in range(7):
        blk[:, IB0 + bit] = (ci >> bit) & 1
    if jump_events.shape[0]:
        idx = np.searchsorted(jump_events[:, 0], np.arange(r0, r1, dtype=np.uint64), side="right") - 1
        has = idx >= 0
        for col, k in ((JSP, 1), (JSO, 2), (JSD, 3)):
            blk[has, col] = jump_events[idx[has], k]
    tb = tops[r0:r1]
    for r in range(0, m, 2048):  # the row-major source stays in cache while the columns are written
        blk[r:r + 2048, ST0:ST0 + 16] = tb[r:r + 2048, ::-1]
    delta = delta_at[ip_b]
    osp = np.empty(m + 1, dtype=np.int64)
    osp[0] = 0
    np.cumsum(delta, out=osp[1:])
    osp += osp_start
    blk[:, OSP] = osp[:-1]

    # helper variables that follow from the row itself
    rows = np.flatnonzero(np.isin(ci, _ARG_DECOMPOSED))
    for bit in range(4):
        blk[rows, HV0 + bit] = (nia[rows] >> np.uint64(bit)) & np.uint64(1)
    # HV0 of skiz, recurse_or_return, eq, split is an inverse (or zero): collected, inverted once later
    inv_rows, inv_vals = [], []
    skiz = np.flatnonzero(ci == 2)
    if skiz.size:
        inv_rows.append(skiz)
        inv_vals.append(tb[skiz, 15])
        v = nia[skiz]
        blk[skiz, HV0 + 1] = v % 2
        blk[skiz, HV0 + 2] = (v >> np.uint64(1)) % 4
        blk[skiz, HV0 + 3] = (v >> np.uint64(3)) % 4
        blk[skiz, HV0 + 4] = (v >> np.uint64(5)) % 4
        blk[skiz, HV0 + 5] = v >> np.uint64(7)
    for opcode, a_reg, b_reg in ((32, 6, 5), (58, 1, 0)):  # recurse_or_return: st6-st5; eq: st1-st0
        r = np.flatnonzero(ci == opcode)
        if r.size:
            inv_rows.append(r)
            inv_vals.append(fp.sub(tb[r, 15 - a_reg], tb[r, 15 - b_reg]))
    split = np.flatnonzero(ci == 4)
    if split.size:
        x = tb[split, 15]
        hi_minus_max = fp.sub(x >> np.uint64(32), np.uint64(0xFFFFFFFF))
        inv_rows.append(split)
        inv_vals.append(np.where(x & np.uint64(0xFFFFFFFF), hi_minus_max, np.uint64(0)))
    inverse = (np.concatenate(inv_rows) + r0, np.concatenate(inv_vals)) if inv_rows else None

    # op-stack underflow entries = the net effect of each instruction on the underflow memory:
    # growing by d writes the old st15..st(16-d) at pointers osp..osp+d-1; shrinking by d reads the
    # words that surface as st(16-d)..st15 of the next row, at pointers osp-1 down to osp-d.
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
    return int(osp[-1]), part, inverse


def build_aet(program: Program, rec: Recording) -> AET:
    """Turn the interpreter's Recording into the AET arrays."""
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
    proc = _zeros((n, PROCESSOR_WIDTH), order="F")  # column-wise fill is contiguous
    op_parts, inv_parts = [], []
    osp_start = 16
    # Row blocks keep every temporary small and reused: on our VMs first-touch page faults of big
    # temporaries cost more than the arithmetic.
    for r0 in range(0, n, _BLOCK):
        r1 = min(n, r0 + _BLOCK)
        osp_start, part, inverse = _fill_block(proc, r0, r1, ips[r0:r1], tops, osp_start, opcode_at, nia_at,
                                               delta_at, jump_events, n)
        op_parts.append(part)
        if inverse is not None:
            inv_parts.append(inverse)
    if inv_parts:
        rows = np.concatenate([r for r, _ in inv_parts])
        proc[rows, HV0] = _inverse_or_zero(np.concatenate([v for _, v in inv_parts]))
    if rec.helper_cycles.size:
        proc[rec.helper_cycles, HV0:HV0 + 6] = rec.helper_values
    multiplicities = np.bincount(ips, minlength=n_words).astype(np.uint64)
    total = sum(part.shape[0] for part in op_parts)
    op_stack = _zeros((total, 4))
    k = 0
    for part in op_parts:
        op_stack[k:k + part.shape[0]] = part
        k += part.shape[0]

    ram = rec.ram_log

    # ---- hash coprocessor ----
    prog = np.stack(program_hash_traces(words))
    program_hash = _hash_rows(prog, np.full(prog.shape[0], 18))
    events = rec.hash_events.astype(np.uint64)
    perm = rec.hash_traces
    perm_ci = events[events != 40]
    hash_trace = _hash_rows(perm[perm_ci == 18], perm_ci[perm_ci == 18])
    sponge_trace = _sponge_rows(events[events != 18], perm[perm_ci != 18])

    # cascade: 16-bit limbs of the Montgomery form of state[0..4) of every round input, first-seen order
    looked_up = np.concatenate([prog, perm])[:, :5, :4].reshape(-1)
    mont = fp.mul(looked_up, np.uint64(_MONTGOMERY_R))
    limbs = ((mont[:, None] >> np.array([0, 16, 32, 48], dtype=np.uint64)) & np.uint64(0xFFFF))
    limbs = limbs.astype(np.uint16).reshape(-1)
    uniq, first, cnt = np.unique(limbs, return_index=True, return_counts=True)
    order = np.argsort(first, kind="stable")
    cascade_limbs = uniq[order].astype(np.uint64)
    cascade_mult = cnt[order].astype(np.uint64)
    lookup_mult = np.zeros(LOOKUP_TABLE_HEIGHT, dtype=np.uint64)
    np.add.at(lookup_mult, (cascade_limbs & np.uint64(0xFF)).astype(np.int64), 1)
    np.add.at(lookup_mult, (cascade_limbs >> np.uint64(8)).astype(np.int64), 1)

    # ---- u32 ----
    u32 = rec.u32_entries

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
