"""The main-table fill of stages/air/fill.py in vectorised numpy: the same cells, without numba's compile.

fill.py's compiled loops are the fast form once compiled, but their first compile costs about 5 s of CPU
on an empty numba cache, more than filling a small job's table takes. A process without that cache (the
first `tvmpd prove` on a machine) fills its table here instead (`fill_main_table`, same contract as
fill.py's); tests compare the two cell for cell.
"""

from __future__ import annotations

import numpy as np

from tvmpd.stages import field as F
from tvmpd.stages.air.columns import (
    MAIN_TABLE_START,
    NUM_MAIN_BASE_COLUMNS,
    CascadeMain,
    HashMain,
    JumpStackMain,
    LookupMain,
    OpStackMain,
    ProcessorMain,
    ProgramMain,
    RamMain,
    U32Main,
)
from tvmpd.stages.air.fill import (
    _LT,
    _RC_BY_ROUND,
    NUM_OP_STACK_REGISTERS,
    OP_AND,
    OP_HASH,
    OP_LOG2FLOOR,
    OP_LT,
    OP_POPCOUNT,
    OP_POW,
    OP_SPLIT,
    PADDING_OP_STACK,
    PADDING_RAM,
    _arr,
    _bezout_fast,
    _bezout_quadratic,
    _local,
    check_clock_jumps,
    hash_parts,
    heights_with_u32,
    main_table_target,
    u32_entries,
)

P = F.P
_U = np.uint64
BEZOUT_QUADRATIC_MAX = 256  # distinct RAM pointers up to which the schoolbook Bezout path is faster


def _block(main: np.ndarray, table: type) -> np.ndarray:
    """The view of main holding one table's columns."""
    start = MAIN_TABLE_START[table.__name__.removesuffix("Main")]
    return main[:, start:start + len(table)]


def fill_op_stack(block: np.ndarray, trace: np.ndarray) -> np.ndarray:
    """OpStack rows sorted by (StackPointer, CLK), then padding, into block; returns the clock-jump
    differences."""
    trace = _arr(trace, 4, "op_stack_underflow_trace")
    k = trace.shape[0]
    sp, clk = _local(OpStackMain.StackPointer), _local(OpStackMain.CLK)
    rows = trace[np.lexsort((trace[:, clk], trace[:, sp]))] if k else trace
    same = rows[:-1, sp] == rows[1:, sp]
    block[:k] = rows
    pad = rows[-1].copy() if k else np.zeros(4, dtype=_U)
    if not k:
        pad[sp] = NUM_OP_STACK_REGISTERS
    pad[_local(OpStackMain.IB1ShrinkStack)] = PADDING_OP_STACK
    block[k:] = pad
    return F.sub(rows[1:, clk], rows[:-1, clk])[same]


def bezout_coefficients(roots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """fill.bezout_coefficients without its compiled path (the roots distinct, checked there)."""
    return _bezout_quadratic(roots) if roots.size <= BEZOUT_QUADRATIC_MAX else _bezout_fast(roots)


def fill_ram(block: np.ndarray, trace: np.ndarray) -> np.ndarray:
    """Ram rows sorted by (RamPointer, CLK) with the contiguity-argument columns, then padding, into block;
    returns the clock-jump differences."""
    trace = _arr(trace, 4, "ram_trace")
    k = trace.shape[0]
    c_type = _local(RamMain.InstructionType)
    c_inv = _local(RamMain.InverseOfRampDifference)
    c_b0 = _local(RamMain.BezoutCoefficientPolynomialCoefficient0)
    c_b1 = _local(RamMain.BezoutCoefficientPolynomialCoefficient1)
    block[:] = 0
    if not k:
        block[:, c_type] = PADDING_RAM
        block[:, c_b1] = 1
        return np.zeros(0, dtype=_U)
    rows = trace[np.lexsort((trace[:, 0], trace[:, 2]))]
    block[:k, [_local(RamMain.CLK), c_type, _local(RamMain.RamPointer), _local(RamMain.RamValue)]] = rows
    ptr = rows[:, 2]
    change = ptr[1:] != ptr[:-1]
    unique = ptr[np.concatenate([[True], change])]
    a, b = bezout_coefficients(unique)
    idx = unique.size - 1 - np.concatenate([[0], np.cumsum(change)])  # counts down as the pointer changes
    block[:k, c_b0] = a[idx]
    block[:k, c_b1] = b[idx]
    block[:k - 1, c_inv] = F.inv_or_zero(F.sub(ptr[1:], ptr[:-1]))
    pad = block[k - 1].copy()
    pad[c_type] = PADDING_RAM
    block[k:] = pad
    return F.sub(rows[1:, 0], rows[:-1, 0])[~change]


_JUMP_STACK_SOURCES = [_local(c) for c in (ProcessorMain.CLK, ProcessorMain.CI, ProcessorMain.JSP,
                                           ProcessorMain.JSO, ProcessorMain.JSD)]


def fill_jump_stack(block: np.ndarray, proc: np.ndarray) -> np.ndarray:
    """JumpStack rows from the processor rows sorted by (JSP, CLK), the padding after the row of the last
    cycle, into block; returns the clock-jump differences."""
    src = proc[:, _JUMP_STACK_SOURCES]
    n, num_rows = src.shape[0], block.shape[0]
    rows = src[np.argsort(src[:, 2], kind="stable")]
    same = rows[:-1, 2] == rows[1:, 2]
    at_end = np.flatnonzero(rows[:, 0] == n - 1)
    if not at_end.size:
        raise ValueError("processor trace has no row of its last cycle")
    last, num_pad = int(at_end[0]), num_rows - n
    block[:last + 1] = rows[:last + 1]
    block[last + 1:last + 1 + num_pad] = rows[last]
    block[last + 1:last + 1 + num_pad, 0] = np.arange(n, num_rows, dtype=_U)
    block[last + 1 + num_pad:] = rows[last + 1:]
    return F.sub(rows[1:, 0], rows[:-1, 0])[same]


def fill_processor(block: np.ndarray, proc: np.ndarray, clock_jump_differences: np.ndarray) -> None:
    """Processor rows with the clock-jump-difference multiplicities, then padding rows (the last row with
    IsPadding set and CLK counting on), into block."""
    n, num_rows = proc.shape[0], block.shape[0]
    c_mult = _local(ProcessorMain.ClockJumpDifferenceLookupMultiplicity)
    block[:n] = proc
    diffs = check_clock_jumps(clock_jump_differences, n)
    block[:n, c_mult] = np.bincount(diffs.astype(np.int64), minlength=n)[:n].astype(_U)
    pad = block[n - 1].copy()
    pad[_local(ProcessorMain.IsPadding)] = 1
    pad[c_mult] = 0
    block[n:] = pad
    block[n:, _local(ProcessorMain.CLK)] = np.arange(n, num_rows, dtype=_U)
    if num_rows > 1:
        block[1, c_mult] = F.add(block[1:2, c_mult], _U(num_rows - n))[0]


def fill_program(block: np.ndarray, words: np.ndarray, multiplicities: np.ndarray) -> None:
    """Program table into block: padded program words with lookup multiplicities, chunk indices."""
    words = np.asarray(words, dtype=_U).reshape(-1)
    mult = np.asarray(multiplicities, dtype=_U).reshape(-1)
    n, num_rows = words.size, block.shape[0]
    if mult.size < n:
        raise ValueError(f"{mult.size} instruction multiplicities for {n} program words")
    padded_len = (n + 10) // 10 * 10
    addr = np.arange(num_rows, dtype=_U)
    index = addr % _U(10)
    block[:] = 0
    block[:, _local(ProgramMain.Address)] = addr
    block[:n, _local(ProgramMain.Instruction)] = words
    block[n, _local(ProgramMain.Instruction)] = 1
    block[:n, _local(ProgramMain.LookupMultiplicity)] = mult[:n]
    block[:, _local(ProgramMain.IndexInChunk)] = index
    block[:, _local(ProgramMain.MaxMinusIndexInChunkInv)] = F.inv_or_zero(_U(9) - index)
    block[n:, _local(ProgramMain.IsHashInputPadding)] = 1
    block[padded_len:, _local(ProgramMain.IsTablePadding)] = 1


def _hash_rows(rows: np.ndarray, trace: np.ndarray, mode: int) -> None:
    """Hash-table rows of one mode from [CI, RoundNumber, state0..15] trace rows into rows."""
    k = trace.shape[0]
    rows[:, _local(HashMain.Mode)] = mode
    rows[:, _local(HashMain.CI)] = trace[:, 0]
    rows[:, _local(HashMain.RoundNumber)] = trace[:, 1]
    raw = F.to_montgomery(trace[:, 2:6])
    limbs = np.stack([(raw >> _U(s)) & _U(0xFFFF) for s in (48, 32, 16, 0)], axis=2)  # highest first
    lk_in, lk_out = _local(HashMain.State0HighestLkIn), _local(HashMain.State0HighestLkOut)
    rows[:, lk_in:lk_in + 16] = limbs.reshape(k, 16)
    rows[:, lk_out:lk_out + 16] = (_LT[limbs >> _U(8)] * _U(256) + _LT[limbs & _U(0xFF)]).reshape(k, 16)
    state4 = _local(HashMain.State4)
    rows[:, state4:state4 + 12] = trace[:, 6:]
    inv = _local(HashMain.State0Inv)
    rows[:, inv:inv + 4] = F.inv_or_zero(_U(2**32 - 1) - (raw >> _U(32)))
    c0 = _local(HashMain.Constant0)
    rows[:, c0:c0 + 16] = _RC_BY_ROUND[trace[:, 1].astype(np.int64)]


def fill_hash(block: np.ndarray, program_hash_trace, sponge_trace, hash_trace) -> None:
    """Hash table into block: program hashing (mode 1), sponge (2), hash (3) rows, then padding (0)."""
    block[:] = 0
    end = 0
    for trace, mode, first in hash_parts(program_hash_trace, sponge_trace, hash_trace):
        _hash_rows(block[first:first + trace.shape[0]], trace, mode)
        end = first + trace.shape[0]
    inv, c0 = _local(HashMain.State0Inv), _local(HashMain.Constant0)
    block[end:, inv:inv + 4] = F.inv_int(2**32 - 1)
    block[end:, c0:c0 + 16] = _RC_BY_ROUND[0]
    block[end:, _local(HashMain.CI)] = OP_HASH


def fill_cascade(block: np.ndarray, limbs: np.ndarray, multiplicities: np.ndarray) -> None:
    """Cascade table into block: one row per distinct 16-bit limb in first-seen order, then padding."""
    limbs = np.asarray(limbs, dtype=_U).reshape(-1)
    mult = np.asarray(multiplicities, dtype=_U).reshape(-1)
    if limbs.size != mult.size or (limbs.size and int(limbs.max()) > 0xFFFF):
        raise ValueError("cascade limbs must be 16-bit, one multiplicity each")
    k = limbs.size
    hi, lo = limbs >> _U(8), limbs & _U(0xFF)
    block[:] = 0
    block[:k, _local(CascadeMain.LookInHi)] = hi
    block[:k, _local(CascadeMain.LookInLo)] = lo
    block[:k, _local(CascadeMain.LookOutHi)] = _LT[hi]
    block[:k, _local(CascadeMain.LookOutLo)] = _LT[lo]
    block[:k, _local(CascadeMain.LookupMultiplicity)] = mult
    block[k:, _local(CascadeMain.IsPadding)] = 1


def fill_lookup(block: np.ndarray, multiplicities: np.ndarray) -> None:
    """Lookup table into block: Tip5's 8-bit lookup with multiplicities, then padding."""
    block[:] = 0
    block[:256, _local(LookupMain.LookIn)] = np.arange(256, dtype=_U)
    block[:256, _local(LookupMain.LookOut)] = _LT
    block[:256, _local(LookupMain.LookupMultiplicity)] = np.asarray(multiplicities, dtype=_U).reshape(256)
    block[256:, _local(LookupMain.IsPadding)] = 1


def _bit_lengths(x: np.ndarray) -> np.ndarray:
    """Bit length of each uint64 below 2^53 (u32 operands), exactly."""
    bits = np.zeros(x.shape, dtype=np.int64)
    nonzero = x != 0
    bits[nonzero] = np.frexp(x[nonzero].astype(np.float64))[1]  # x = m 2^e, 0.5 <= m < 1: e bits
    return bits


def u32_section_lengths(entries: np.ndarray) -> np.ndarray:
    """Rows per U32 entry: 1 + the bit length of its dominant operand."""
    ci, lhs, rhs = entries[:, 0], entries[:, 1], entries[:, 2]
    return 1 + _bit_lengths(np.where(ci == OP_POW, rhs, np.maximum(lhs, rhs)))


def _pow(base: np.ndarray, exponents: np.ndarray) -> np.ndarray:
    """base^exponent elementwise for u32 exponents (square and multiply from the top bit)."""
    acc = np.ones_like(base)
    for bit in range(31, -1, -1):
        acc = F.mul(acc, acc)
        acc = np.where((exponents >> _U(bit)) & _U(1) == 1, F.mul(acc, base), acc)
    return acc


def fill_u32(block: np.ndarray, entries: np.ndarray) -> None:
    """U32 table into block: one section per entry [CI, lhs, rhs, multiplicity] (the operands shifted right
    bit by bit until the dominant one is 0), then padding."""
    entries = u32_entries(entries)
    c = {col.name: _local(col) for col in U32Main}
    block[:] = 0
    total = 0
    if entries.shape[0]:
        lengths = u32_section_lengths(entries)
        total = int(lengths.sum())
        if total > block.shape[0]:
            raise ValueError(f"U32 table needs {total} rows, more than {block.shape[0]}")
        e = np.repeat(np.arange(entries.shape[0]), lengths)
        j = (np.arange(total) - np.repeat(np.cumsum(lengths) - lengths, lengths)).astype(_U)
        ci, lhs0, rhs0, mult = (entries[e, i] for i in range(4))
        lhs = np.where(ci == OP_POW, lhs0, lhs0 >> j)
        rhs = rhs0 >> j
        first = j == 0
        t = block[:total]
        t[:, c["CopyFlag"]] = first
        t[:, c["Bits"]] = j
        t[:, c["BitsMinus33Inv"]] = F.batch_inv(F.sub(j, _U(33)))
        t[:, c["CI"]] = ci
        t[:, c["LHS"]] = lhs
        t[:, c["LhsInv"]] = F.inv_or_zero(lhs)
        t[:, c["RHS"]] = rhs
        t[:, c["RhsInv"]] = F.inv_or_zero(rhs)
        t[:, c["LookupMultiplicity"]] = np.where(first, mult, _U(0))
        result = np.zeros(total, dtype=_U)
        sel = ci == OP_LT
        equal_after_first = (lhs[sel] == rhs[sel]) & ~first[sel]
        result[sel] = np.where(lhs[sel] < rhs[sel], _U(1), np.where(equal_after_first, _U(2), _U(0)))
        sel = ci == OP_AND
        result[sel] = lhs[sel] & rhs[sel]
        sel = ci == OP_LOG2FLOOR
        result[sel] = np.where(lhs[sel] == 0, _U(P - 1), (_bit_lengths(lhs0[sel]) - 1).astype(_U))
        sel = ci == OP_POW
        if sel.any():
            result[sel] = _pow(lhs[sel], rhs[sel])
        sel = ci == OP_POPCOUNT
        result[sel] = np.bitwise_count(lhs[sel]).astype(_U)
        t[:, c["Result"]] = result
    pad = np.zeros(len(U32Main), dtype=_U)
    pad[c["CI"]] = OP_SPLIT
    pad[c["BitsMinus33Inv"]] = F.inv_int(P - 33)
    if total:
        for name in ("CI", "LHS", "LhsInv", "Result"):
            pad[c[name]] = block[total - 1, c[name]]
        if pad[c["CI"]] == OP_LT:
            pad[c["Result"]] = 2
    block[total:] = pad


def table_heights(aet) -> dict[str, int]:
    """fill.table_heights without numba."""
    return heights_with_u32(aet, int(u32_section_lengths(_arr(aet.u32_entries, 4, "u32_entries")).sum()))


def fill_main_table(aet, num_rows: int | None = None, base_only: bool = False,
                    out: np.ndarray | None = None) -> np.ndarray:
    """fill.fill_main_table in numpy: the master main table (num_rows, 379), or its 149 base columns with
    base_only, written into `out` when given; same contract and cells."""
    proc, main = main_table_target(aet, num_rows, base_only, out, table_heights(aet))
    jumps = [fill_op_stack(_block(main, OpStackMain), aet.op_stack_underflow_trace),
             fill_ram(_block(main, RamMain), aet.ram_trace),
             fill_jump_stack(_block(main, JumpStackMain), proc)]
    fill_processor(_block(main, ProcessorMain), proc, np.concatenate(jumps))
    fill_program(_block(main, ProgramMain), aet.program_words, aet.instruction_multiplicities)
    fill_hash(_block(main, HashMain), aet.program_hash_trace, aet.sponge_trace, aet.hash_trace)
    fill_cascade(_block(main, CascadeMain), aet.cascade_limbs, aet.cascade_multiplicities)
    fill_lookup(_block(main, LookupMain), aet.lookup_multiplicities)
    fill_u32(_block(main, U32Main), aet.u32_entries)
    if not base_only:
        main[:, NUM_MAIN_BASE_COLUMNS:] = 0
    return main
