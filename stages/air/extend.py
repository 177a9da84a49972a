"""Auxiliary table of Triton VM v7.0.0: the 49 cross-table-argument columns over the extension field.

`extend(main, challenges)` computes, from the padded master main table and the 63 challenges, the
running evaluations, running products and log-derivatives of all nine tables exactly as the
reference's per-table `extend` functions do. Sequential recurrences become blocked affine scans,
running sums become modular prefix sums and all inverses are batched.
"""

from __future__ import annotations

import numpy as np

from tvmpd.stages import field as F
from tvmpd.stages import xfield as X
from tvmpd.stages.air.challenges import ChallengeId as CI
from tvmpd.stages.air.columns import (
    NUM_AUX_BASE_COLUMNS,
    NUM_MAIN_BASE_COLUMNS,
    CascadeAux,
    CascadeMain,
    HashAux,
    HashMain,
    JumpStackAux,
    JumpStackMain,
    LookupAux,
    LookupMain,
    OpStackAux,
    OpStackMain,
    ProcessorAux,
    ProcessorMain,
    ProgramAux,
    ProgramMain,
    RamAux,
    RamMain,
    U32Aux,
    U32Main,
)

P = F.P
_U = np.uint64
_LO32 = _U(0xFFFF_FFFF)
_S32 = _U(32)

# opcodes used below
OP_HALT, OP_SPLIT, OP_LT, OP_AND, OP_XOR, OP_LOG2FLOOR, OP_POW, OP_DIVMOD, OP_POPCOUNT = (
    0,
    4,
    6,
    14,
    22,
    12,
    30,
    20,
    28,
)
OP_HASH, OP_MERKLE_STEP, OP_MERKLE_STEP_MEM = 18, 36, 44
OP_SPONGE_INIT, OP_SPONGE_ABSORB, OP_SPONGE_ABSORB_MEM, OP_SPONGE_SQUEEZE = 40, 34, 48, 56
OP_READ_MEM, OP_WRITE_MEM, OP_READ_IO, OP_WRITE_IO = 57, 11, 73, 19
OP_XX_DOT_STEP, OP_XB_DOT_STEP = 80, 88
U32_OPCODES = (
    OP_SPLIT,
    OP_LT,
    OP_AND,
    OP_XOR,
    OP_LOG2FLOOR,
    OP_POW,
    OP_DIVMOD,
    OP_POPCOUNT,
    OP_MERKLE_STEP,
    OP_MERKLE_STEP_MEM,
)

# op-stack size change per opcode; "+n"/"-n": plus/minus the NumberOfWords argument
_DELTA: dict[int, int | str] = {
    1: 1,
    3: "-n",
    9: "+n",
    17: 0,
    25: 0,
    33: 1,
    41: 0,
    0: 0,
    8: 0,
    2: -1,
    49: 0,
    16: 0,
    24: 0,
    32: 0,
    10: -1,
    57: "+n",
    11: "-n",
    18: -5,
    26: -5,
    40: 0,
    34: -10,
    48: 0,
    56: 10,
    42: -1,
    65: 0,
    50: -1,
    64: 0,
    58: -1,
    4: 1,
    6: -1,
    14: -1,
    22: -1,
    12: 0,
    30: -1,
    20: 0,
    28: 0,
    66: -3,
    74: -3,
    72: 0,
    82: -1,
    73: "+n",
    19: "-n",
    36: 0,
    44: 0,
    80: 0,
    88: 0,
}
_ARG_NUM_WORDS = (3, 9, 57, 11, 73, 19)
_ARG_STACK_ELEMENT = (17, 25, 33, 41)

PADDING_OP_STACK = 2
PADDING_RAM = 2
RAM_READ, RAM_WRITE = 1, 0
MONTGOMERY_R_INV = pow(2**64, P - 2, P)


# ---------------------------------------------------------------------------------------------
# extension-field helpers on (n, 3) arrays


def _bx(col: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Base column (n,) times extension constant (3,) -> (n, 3)."""
    return F.mul(col[:, None], w[None, :])


def _lin(cols: list[np.ndarray], ws: list[np.ndarray]) -> np.ndarray:
    """Sum of base columns times extension weights, (n, 3)."""
    acc = _bx(cols[0], ws[0])
    for c, w in zip(cols[1:], ws[1:], strict=True):
        acc = F.add(acc, _bx(c, w))
    return acc


def _minus(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Extension constant x (3,) minus rows y (n, 3)."""
    return F.sub(np.broadcast_to(x, y.shape), y)


def _cumsum(x: np.ndarray) -> np.ndarray:
    """Inclusive prefix sum mod p along axis 0 (exact for up to 2^32 rows)."""
    lo = np.cumsum(x & _LO32, axis=0, dtype=_U)
    hi = np.cumsum(x >> _S32, axis=0, dtype=_U)
    hi = hi - (hi >= _U(P)) * _U(P)
    lo = lo - (lo >= _U(P)) * _U(P)
    return F.add(F.mul(hi, _U(1 << 32)), lo)


def _scan(a: np.ndarray | None, b: np.ndarray | None, init) -> np.ndarray:
    """x_k = a_k * x_(k-1) + b_k for all k with x_(-1) = init; a None means 1, b None means 0. (n, 3)."""
    init = np.asarray(init, dtype=_U).reshape(3)
    if a is None:
        if b is None:
            raise ValueError("scan needs a or b")
        return F.add(_cumsum(b), init[None, :])
    n = a.shape[0]
    if n == 0:
        return np.zeros((0, 3), dtype=_U)
    if n <= 32:
        x = tuple(int(v) for v in init)
        out = np.empty((n, 3), dtype=_U)
        for k in range(n):
            x = X.mul_int(tuple(int(v) for v in a[k]), x)
            if b is not None:
                x = ((x[0] + int(b[k, 0])) % P, (x[1] + int(b[k, 1])) % P, (x[2] + int(b[k, 2])) % P)
            out[k] = x
        return out
    # blocks of k rows: local composition of the affine maps, then carry across blocks recursively
    k = 16
    m = -(-n // k)
    pad = m * k - n
    A = np.concatenate([a, np.tile(np.array([1, 0, 0], dtype=_U), (pad, 1))]).reshape(m, k, 3)
    B = None
    if b is not None:
        B = np.concatenate([b, np.zeros((pad, 3), dtype=_U)]).reshape(m, k, 3)
    for j in range(1, k):
        if B is not None:
            B[:, j] = F.add(X.mul(A[:, j], B[:, j - 1]), B[:, j])
        A[:, j] = X.mul(A[:, j], A[:, j - 1])
    ends = _scan(A[:, -1], None if B is None else B[:, -1], init)
    starts = np.concatenate([init[None, :], ends[:-1]])
    x = X.mul(A, starts[:, None, :])
    if B is not None:
        x = F.add(x, B)
    return x.reshape(m * k, 3)[:n]


def _scan_const(alpha: np.ndarray, b: np.ndarray, init) -> np.ndarray:
    """x_k = alpha * x_(k-1) + b_k with one constant alpha (3,): the blocked scan without the products of
    the multipliers, which are just powers of alpha. (n, 3)."""
    init = np.asarray(init, dtype=_U).reshape(3)
    n = b.shape[0]
    al = tuple(int(v) for v in alpha)
    if n <= 32:
        return _scan(np.broadcast_to(alpha, (n, 3)), b, init)
    k = 16
    m = -(-n // k)
    B = np.concatenate([b, np.zeros((m * k - n, 3), dtype=_U)]).reshape(m, k, 3)
    for j in range(1, k):
        B[:, j] = F.add(X.mul(B[:, j - 1], alpha), B[:, j])
    powers = np.array([X.pow_int(al, j + 1) for j in range(k)], dtype=_U)  # alpha^(j+1)
    ends = _scan_const(powers[-1], B[:, -1], init)
    starts = np.concatenate([init[None, :], ends[:-1]])
    x = F.add(X.mul(powers[None, :, :], starts[:, None, :]), B)
    return x.reshape(m * k, 3)[:n]


def _scan_masked(
    mask: np.ndarray, factor: np.ndarray | None, summand: np.ndarray | None, init, n: int
) -> np.ndarray:
    """x = factor * x + summand on rows where mask holds, x unchanged elsewhere (factor None: 1; a (3,)
    factor is a constant, an (n, 3) one per row). Only the masked rows are scanned, then carried forward."""
    init = np.asarray(init, dtype=_U).reshape(3)
    idx = np.flatnonzero(mask)
    if idx.size == 0 or (factor is None and summand is None):
        return np.tile(init, (n, 1))
    b = None if summand is None else np.ascontiguousarray(np.broadcast_to(summand, (n, 3))[idx])
    if factor is not None and np.ndim(factor) == 1:
        if b is None:
            b = np.zeros((idx.size, 3), dtype=_U)
        x = _scan_const(np.asarray(factor, dtype=_U), b, init)
    else:
        a = None if factor is None else np.ascontiguousarray(factor[idx])
        x = _scan(a, b, init)
    pos = np.cumsum(mask) - 1
    out = x[np.maximum(pos, 0)]
    out[pos < 0] = init
    return out


def _inverse_sum(
    mask: np.ndarray, denominators: np.ndarray, multiplicities: np.ndarray | None = None
) -> np.ndarray:
    """Per row: multiplicity / denominator where mask holds, else 0, (n, 3)."""
    n = mask.shape[0]
    out = np.zeros((n, 3), dtype=_U)
    if mask.any():
        inv = X.batch_inv(np.ascontiguousarray(denominators[mask]))
        if multiplicities is not None:
            inv = F.mul(inv, multiplicities[mask][:, None])
        out[mask] = inv
    return out


def _inverse_by_key(mask: np.ndarray, keys: np.ndarray, denominators_of) -> np.ndarray:
    """1/denominator per masked row where the denominator is a function of an integer key: each distinct
    key is inverted once. `denominators_of(unique_keys) -> (u, 3)`."""
    n = mask.shape[0]
    out = np.zeros((n, 3), dtype=_U)
    if mask.any():
        uniq, where = np.unique(keys[mask], return_inverse=True)
        out[mask] = X.batch_inv(denominators_of(uniq))[where]
    return out


def _prefix_true(mask: np.ndarray) -> np.ndarray:
    """Rows before the first False (the reference's loops that `break` at padding)."""
    return np.logical_and.accumulate(mask) if mask.size else mask


def _cjd_inverses(mask: np.ndarray, clk_prev: np.ndarray, clk_cur: np.ndarray, indeterminate) -> np.ndarray:
    """1/(indeterminate - (clk_cur - clk_prev)) on masked windows, one inversion per distinct jump."""
    diff = F.sub(clk_cur, clk_prev)
    return _inverse_by_key(mask, diff, lambda u: _minus(indeterminate, _lift(u)))


def _lift(col: np.ndarray) -> np.ndarray:
    out = np.zeros((col.shape[0], 3), dtype=_U)
    out[:, 0] = col
    return out


def _with_first(first, rest: np.ndarray) -> np.ndarray:
    """Prepend a constant row to (n-1, 3) window results."""
    return np.concatenate([np.asarray(first, dtype=_U).reshape(1, 3), rest])


_ONE = np.array([1, 0, 0], dtype=_U)
_ZERO = np.zeros(3, dtype=_U)


# ---------------------------------------------------------------------------------------------
# per-table extensions; each returns {master aux column: (n, 3)}


def _program(m: np.ndarray, ch: np.ndarray) -> dict[int, np.ndarray]:
    n = m.shape[0]
    addr, instr = m[:, ProgramMain.Address], m[:, ProgramMain.Instruction]
    mult, idx = m[:, ProgramMain.LookupMultiplicity], m[:, ProgramMain.IndexInChunk]
    hash_pad, table_pad = m[:, ProgramMain.IsHashInputPadding], m[:, ProgramMain.IsTablePadding]

    # server log-derivative: value before this row's summand; summand uses (row, next row)
    win = hash_pad[:-1] != 1
    comp = _lin(
        [addr[:-1], instr[:-1], instr[1:]],
        [ch[CI.ProgramAddressWeight], ch[CI.ProgramInstructionWeight], ch[CI.ProgramNextInstructionWeight]],
    )
    terms = _inverse_sum(win, _minus(ch[CI.InstructionLookupIndeterminate], comp), mult[:-1])
    lookup = _with_first(_ZERO, _cumsum(terms))

    alpha = ch[CI.ProgramAttestationPrepareChunkIndeterminate]
    reset = idx == 0
    a = np.broadcast_to(alpha, (n, 3)).copy()
    a[reset] = 0
    b = _lift(instr)
    b[reset] = F.add(b[reset], alpha[None, :])
    prepare = _scan(a, b, _ONE)

    send_mask = (table_pad != 1) & (idx == 9)
    send = _scan_masked(send_mask, ch[CI.ProgramAttestationSendChunkIndeterminate], prepare, _ONE, n)
    return {
        ProgramAux.InstructionLookupServerLogDerivative: lookup,
        ProgramAux.PrepareChunkRunningEvaluation: prepare,
        ProgramAux.SendChunkRunningEvaluation: send,
    }


def _decode(ci: np.ndarray, nia: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(valid, op-stack delta) per processor row, as the reference's instruction decoding of (CI, NIA)."""
    valid = np.zeros(ci.shape, dtype=bool)
    delta = np.zeros(ci.shape, dtype=np.int64)
    for op, d in _DELTA.items():
        sel = ci == op
        if not sel.any():
            continue
        if op in _ARG_NUM_WORDS:
            sel &= (nia >= 1) & (nia <= 5)
            nw = nia.astype(np.int64)
            delta[sel] = (nw if d == "+n" else -nw)[sel]
        else:
            if op in _ARG_STACK_ELEMENT:
                sel &= nia <= 15
            delta[sel] = d
        valid |= sel
    return valid, delta


def _st(rows: np.ndarray, i: int) -> np.ndarray:
    return rows[:, ProcessorMain.ST0 + i]


def _hv(rows: np.ndarray, i: int) -> np.ndarray:
    return rows[:, ProcessorMain.HV0 + i]


def _processor(m: np.ndarray, ch: np.ndarray) -> dict[int, np.ndarray]:
    n = m.shape[0]
    prev, cur = m[:-1], m[1:]
    ci_prev = prev[:, ProcessorMain.CI]
    nia_prev = prev[:, ProcessorMain.NIA]
    valid_prev, delta_prev = _decode(ci_prev, nia_prev)
    out: dict[int, np.ndarray] = {}
    weights = [ch[CI.StackWeight0 + i] for i in range(10)]

    # standard input / output: a read_io n / write_io n in the previous row
    for col, op, alpha_id in (
        (ProcessorAux.InputTableEvalArg, OP_READ_IO, CI.StandardInputIndeterminate),
        (ProcessorAux.OutputTableEvalArg, OP_WRITE_IO, CI.StandardOutputIndeterminate),
    ):
        alpha = tuple(int(v) for v in ch[alpha_id])
        a = np.zeros((n - 1, 3), dtype=_U)
        a[:, 0] = 1
        b = np.zeros((n - 1, 3), dtype=_U)
        for num in range(1, 6):
            sel = (ci_prev == op) & valid_prev & (nia_prev == num)
            if not sel.any():
                continue
            a[sel] = np.array(X.pow_int(alpha, num), dtype=_U)
            if op == OP_READ_IO:  # symbols st_(n-1) .. st_0 of the next row, st_0 last
                cols = [_st(cur[sel], i) for i in range(num)]
                ws = [np.array(X.pow_int(alpha, i), dtype=_U) for i in range(num)]
            else:  # symbols st_0 .. st_(n-1) of this row, st_0 first
                cols = [_st(prev[sel], i) for i in range(num)]
                ws = [np.array(X.pow_int(alpha, num - 1 - i), dtype=_U) for i in range(num)]
            b[sel] = _lin(cols, ws)
        io = (ci_prev == op) & valid_prev & (nia_prev >= 1) & (nia_prev <= 5)
        out[col] = _with_first(_ONE, _scan_masked(io, a, b, _ONE, n - 1))

    # instruction lookup client: rows until the first padding row
    live = _prefix_true(m[:, ProcessorMain.IsPadding] != 1)
    comp = _lin(
        [m[:, ProcessorMain.IP], m[:, ProcessorMain.CI], m[:, ProcessorMain.NIA]],
        [ch[CI.ProgramAddressWeight], ch[CI.ProgramInstructionWeight], ch[CI.ProgramNextInstructionWeight]],
    )
    out[ProcessorAux.InstructionLookupClientLogDerivative] = _cumsum(
        _inverse_sum(live, _minus(ch[CI.InstructionLookupIndeterminate], comp))
    )

    out[ProcessorAux.OpStackTablePermArg] = _with_first(
        _ONE, _op_stack_factors(prev, cur, valid_prev, delta_prev, ch)
    )
    out[ProcessorAux.RamTablePermArg] = _with_first(_ONE, _ram_factors(prev, cur, valid_prev, ch))

    comp = _lin(
        [
            m[:, ProcessorMain.CLK],
            m[:, ProcessorMain.CI],
            m[:, ProcessorMain.JSP],
            m[:, ProcessorMain.JSO],
            m[:, ProcessorMain.JSD],
        ],
        [
            ch[CI.JumpStackClkWeight],
            ch[CI.JumpStackCiWeight],
            ch[CI.JumpStackJspWeight],
            ch[CI.JumpStackJsoWeight],
            ch[CI.JumpStackJsdWeight],
        ],
    )
    out[ProcessorAux.JumpStackTablePermArg] = _scan(_minus(ch[CI.JumpStackIndeterminate], comp), None, _ONE)

    # hash input: every hash / merkle_step(_mem) row, siblings ordered by the parity of st5
    ci = m[:, ProcessorMain.CI]
    hashing = (ci == OP_HASH) | (ci == OP_MERKLE_STEP) | (ci == OP_MERKLE_STEP_MEM)
    comp = np.zeros((n, 3), dtype=_U)
    sel = ci == OP_HASH
    if sel.any():
        comp[sel] = _lin([_st(m[sel], i) for i in range(10)], weights)
    merkle = hashing & ~sel
    for left in (True, False):
        s = merkle & ((_st(m, 5) % _U(2) == 0) == left)
        if s.any():
            sts = [_st(m[s], i) for i in range(5)]
            hvs = [_hv(m[s], i) for i in range(5)]
            comp[s] = _lin(sts + hvs if left else hvs + sts, weights)
    out[ProcessorAux.HashInputEvalArg] = _scan_masked(hashing, ch[CI.HashInputIndeterminate], comp, _ONE, n)

    # hash digest: the row after a hash / merkle_step(_mem)
    sel = (ci_prev == OP_HASH) | (ci_prev == OP_MERKLE_STEP) | (ci_prev == OP_MERKLE_STEP_MEM)
    comp = np.zeros((n - 1, 3), dtype=_U)
    if sel.any():
        comp[sel] = _lin([_st(cur[sel], i) for i in range(5)], weights[:5])
    out[ProcessorAux.HashDigestEvalArg] = _with_first(
        _ONE, _scan_masked(sel, ch[CI.HashDigestIndeterminate], comp, _ONE, n - 1)
    )

    out[ProcessorAux.SpongeEvalArg] = _with_first(_ONE, _sponge(prev, cur, ci_prev, ch, weights))
    out[ProcessorAux.U32LookupClientLogDerivative] = _with_first(
        _ZERO, _cumsum(_u32_client(prev, cur, ci_prev, ch))
    )

    mult = m[:, ProcessorMain.ClockJumpDifferenceLookupMultiplicity]
    has = mult != 0
    terms = _inverse_sum(
        has, _minus(ch[CI.ClockJumpDifferenceLookupIndeterminate], _lift(m[:, ProcessorMain.CLK])), mult
    )
    out[ProcessorAux.ClockJumpDifferenceLookupServerLogDerivative] = _cumsum(terms)
    return out


def _op_stack_factors(prev, cur, valid, delta, ch) -> np.ndarray:
    """Running product over windows of the op-stack permutation factors (reference's processor extension)."""
    n1 = prev.shape[0]
    active = valid & (cur[:, ProcessorMain.IsPadding] != 1) & (delta != 0)
    factor = np.zeros((n1, 3), dtype=_U)
    factor[:, 0] = 1
    if active.any():
        rows = np.flatnonzero(active)
        # the underflow words sit in the row with the shorter stack: before growing, after shrinking
        grow = (delta[rows] > 0)[:, None]
        cols = [ProcessorMain.OpStackPointer] + [ProcessorMain.ST0 + 15 - off for off in range(10)]
        shorter = np.where(grow, prev[rows][:, cols], cur[rows][:, cols])
        size = np.abs(delta[rows])
        alpha = ch[CI.OpStackIndeterminate]
        base = F.add(
            _bx(prev[rows, ProcessorMain.CLK], ch[CI.OpStackClkWeight]),
            _bx(prev[rows, ProcessorMain.IB1], ch[CI.OpStackIb1Weight]),
        )
        f = factor[rows]
        for off in range(int(size.max())):
            s = size > off
            ptr = F.add(shorter[s, 0], _U(off))
            comp = F.add(
                base[s],
                _lin(
                    [ptr, shorter[s, 1 + off]],
                    [ch[CI.OpStackPointerWeight], ch[CI.OpStackFirstUnderflowElementWeight]],
                ),
            )
            f[s] = X.mul(f[s], _minus(alpha, comp))
        factor[rows] = f
    return _scan_masked(active, factor, None, _ONE, n1)


def _ram_factors(prev, cur, valid, ch) -> np.ndarray:
    """Running product over windows of the RAM permutation factors (reference's processor extension)."""
    n1 = prev.shape[0]
    ci = prev[:, ProcessorMain.CI]
    nia = prev[:, ProcessorMain.NIA]
    live = valid & (cur[:, ProcessorMain.IsPadding] != 1)
    factor = np.zeros((n1, 3), dtype=_U)
    factor[:, 0] = 1
    active = np.zeros(n1, dtype=bool)
    alpha = ch[CI.RamIndeterminate]

    def apply(sel: np.ndarray, itype: int, accesses) -> None:
        # accesses: list of (pointer column, value column) over the selected rows
        clk = prev[sel, ProcessorMain.CLK]
        base = F.add(
            _bx(clk, ch[CI.RamClkWeight]),
            _bx(np.full(clk.shape, itype, dtype=_U), ch[CI.RamInstructionTypeWeight]),
        )
        f = None
        for ptr, val in accesses:
            comp = F.add(base, _lin([ptr, val], [ch[CI.RamPointerWeight], ch[CI.RamValueWeight]]))
            term = _minus(alpha, comp)
            f = term if f is None else X.mul(f, term)
        factor[sel] = f
        active[sel] = True

    def plus(col: np.ndarray, k: int) -> np.ndarray:
        return F.add(col, _U(k))

    for num in range(1, 6):
        sel = live & (ci == OP_READ_MEM) & (nia == num)
        if sel.any():
            c = cur[sel]
            apply(sel, RAM_READ, [(plus(_st(c, 0), off + 1), _st(c, off + 1)) for off in range(num)])
        sel = live & (ci == OP_WRITE_MEM) & (nia == num)
        if sel.any():
            p = prev[sel]
            apply(sel, RAM_WRITE, [(plus(_st(p, 0), off), _st(p, off + 1)) for off in range(num)])
    sel = live & (ci == OP_SPONGE_ABSORB_MEM)
    if sel.any():
        p, c = prev[sel], cur[sel]
        vals = [_st(c, i) for i in range(1, 5)] + [_hv(p, i) for i in range(6)]
        apply(sel, RAM_READ, [(plus(_st(p, 0), i), v) for i, v in enumerate(vals)])
    sel = live & (ci == OP_MERKLE_STEP_MEM)
    if sel.any():
        p = prev[sel]
        apply(sel, RAM_READ, [(plus(_st(p, 7), i), _hv(p, i)) for i in range(5)])
    sel = live & (ci == OP_XX_DOT_STEP)
    if sel.any():
        p = prev[sel]
        acc = [(plus(_st(p, 0), i), _hv(p, i)) for i in range(3)]
        acc += [(plus(_st(p, 1), i), _hv(p, 3 + i)) for i in range(3)]
        apply(sel, RAM_READ, acc)
    sel = live & (ci == OP_XB_DOT_STEP)
    if sel.any():
        p = prev[sel]
        acc = [(_st(p, 0), _hv(p, 0))] + [(plus(_st(p, 1), i), _hv(p, 1 + i)) for i in range(3)]
        apply(sel, RAM_READ, acc)
    return _scan_masked(active, factor, None, _ONE, n1)


def _sponge(prev, cur, ci_prev, ch, weights) -> np.ndarray:
    n1 = prev.shape[0]
    w_ci = ch[CI.HashCIWeight]
    summand = np.zeros((n1, 3), dtype=_U)
    sel_init = ci_prev == OP_SPONGE_INIT
    summand[sel_init] = F.mul(w_ci, _U(OP_SPONGE_INIT))
    sel = ci_prev == OP_SPONGE_ABSORB
    if sel.any():
        summand[sel] = F.add(
            _lin([_st(prev[sel], i) for i in range(10)], weights), F.mul(w_ci, _U(OP_SPONGE_ABSORB))[None, :]
        )
    sel = ci_prev == OP_SPONGE_ABSORB_MEM
    if sel.any():
        cols = [_st(cur[sel], i) for i in range(1, 5)] + [_hv(prev[sel], i) for i in range(6)]
        summand[sel] = F.add(_lin(cols, weights), F.mul(w_ci, _U(OP_SPONGE_ABSORB))[None, :])
    sel = ci_prev == OP_SPONGE_SQUEEZE
    if sel.any():
        summand[sel] = F.add(
            _lin([_st(cur[sel], i) for i in range(10)], weights), F.mul(w_ci, _U(OP_SPONGE_SQUEEZE))[None, :]
        )
    mask = sel_init | (ci_prev == OP_SPONGE_ABSORB) | (ci_prev == OP_SPONGE_ABSORB_MEM) | sel
    return _scan_masked(mask, ch[CI.SpongeIndeterminate], summand, _ONE, n1)


def _u32_client(prev, cur, ci_prev, ch) -> np.ndarray:
    """Sum of the U32 lookup inverses of each window (two for div_mod)."""
    n1 = prev.shape[0]
    w_l, w_r, w_c, w_res = (
        ch[CI.U32LhsWeight],
        ch[CI.U32RhsWeight],
        ch[CI.U32CiWeight],
        ch[CI.U32ResultWeight],
    )
    alpha = ch[CI.U32Indeterminate]
    dens = []  # (selection, denominators)

    def const(sel: np.ndarray, v: int) -> np.ndarray:
        return np.full(int(sel.sum()), v, dtype=_U)

    sel = ci_prev == OP_SPLIT
    if sel.any():
        p, c = prev[sel], cur[sel]
        dens.append((sel, _lin([_st(c, 0), _st(c, 1), p[:, ProcessorMain.CI]], [w_l, w_r, w_c])))
    sel = (ci_prev == OP_LT) | (ci_prev == OP_AND) | (ci_prev == OP_POW)
    if sel.any():
        p, c = prev[sel], cur[sel]
        dens.append(
            (sel, _lin([_st(p, 0), _st(p, 1), p[:, ProcessorMain.CI], _st(c, 0)], [w_l, w_r, w_c, w_res]))
        )
    sel = ci_prev == OP_XOR
    if sel.any():
        p, c = prev[sel], cur[sel]
        half = F.mul(F.sub(F.add(_st(p, 0), _st(p, 1)), _st(c, 0)), _U((P + 1) // 2))
        dens.append((sel, _lin([_st(p, 0), _st(p, 1), const(sel, OP_AND), half], [w_l, w_r, w_c, w_res])))
    sel = (ci_prev == OP_LOG2FLOOR) | (ci_prev == OP_POPCOUNT)
    if sel.any():
        p, c = prev[sel], cur[sel]
        dens.append((sel, _lin([_st(p, 0), p[:, ProcessorMain.CI], _st(c, 0)], [w_l, w_c, w_res])))
    sel = ci_prev == OP_DIVMOD
    if sel.any():
        p, c = prev[sel], cur[sel]
        dens.append(
            (sel, _lin([_st(c, 0), _st(p, 1), const(sel, OP_LT), const(sel, 1)], [w_l, w_r, w_c, w_res]))
        )
        dens.append((sel, _lin([_st(p, 0), _st(c, 1), const(sel, OP_SPLIT)], [w_l, w_r, w_c])))
    sel = (ci_prev == OP_MERKLE_STEP) | (ci_prev == OP_MERKLE_STEP_MEM)
    if sel.any():
        p, c = prev[sel], cur[sel]
        dens.append((sel, _lin([_st(p, 5), _st(c, 5), const(sel, OP_SPLIT)], [w_l, w_r, w_c])))
    total = np.zeros((n1, 3), dtype=_U)
    if dens:
        inv = X.batch_inv(np.concatenate([_minus(alpha, d) for _, d in dens]))
        start = 0
        for sel, d in dens:
            part = inv[start : start + d.shape[0]]
            start += d.shape[0]
            total[sel] = F.add(total[sel], part)
    return total


def _op_stack(m: np.ndarray, ch: np.ndarray) -> dict[int, np.ndarray]:
    n = m.shape[0]
    clk, ib1 = m[:, OpStackMain.CLK], m[:, OpStackMain.IB1ShrinkStack]
    sp, fue = m[:, OpStackMain.StackPointer], m[:, OpStackMain.FirstUnderflowElement]
    live = ib1 != PADDING_OP_STACK
    comp = _lin(
        [clk, ib1, sp, fue],
        [
            ch[CI.OpStackClkWeight],
            ch[CI.OpStackIb1Weight],
            ch[CI.OpStackPointerWeight],
            ch[CI.OpStackFirstUnderflowElementWeight],
        ],
    )
    perm = _scan_masked(live, _minus(ch[CI.OpStackIndeterminate], comp), None, _ONE, n)
    win = _prefix_true(live[1:]) & (sp[:-1] == sp[1:])
    cjd = _with_first(
        _ZERO, _cumsum(_cjd_inverses(win, clk[:-1], clk[1:], ch[CI.ClockJumpDifferenceLookupIndeterminate]))
    )
    return {
        OpStackAux.RunningProductPermArg: perm,
        OpStackAux.ClockJumpDifferenceLookupClientLogDerivative: cjd,
    }


def _ram(m: np.ndarray, ch: np.ndarray) -> dict[int, np.ndarray]:
    n = m.shape[0]
    clk, itype = m[:, RamMain.CLK], m[:, RamMain.InstructionType]
    ramp, ramv = m[:, RamMain.RamPointer], m[:, RamMain.RamValue]
    beta = ch[CI.RamTableBezoutRelationIndeterminate]
    live = itype != PADDING_RAM
    changes = np.concatenate([[True], live[1:] & (ramp[:-1] != ramp[1:])])
    beta_minus = _minus(beta, _lift(ramp))
    rp = _scan_masked(changes, beta_minus, None, _ONE, n)
    inv = _inverse_sum(changes, beta_minus)
    fd = X.mul(rp, _cumsum(inv))

    win = _prefix_true(live[1:])
    step = win & (ramp[:-1] != ramp[1:])
    bez = []
    for col in (
        RamMain.BezoutCoefficientPolynomialCoefficient0,
        RamMain.BezoutCoefficientPolynomialCoefficient1,
    ):
        first = _lift(m[:1, col])[0]
        rest = _scan_masked(step, beta, _lift(m[1:, col]), first, n - 1)
        bez.append(_with_first(first, rest))

    live_prefix = _prefix_true(live)
    comp = _lin(
        [clk, itype, ramp, ramv],
        [
            ch[CI.RamClkWeight],
            ch[CI.RamInstructionTypeWeight],
            ch[CI.RamPointerWeight],
            ch[CI.RamValueWeight],
        ],
    )
    perm = _scan_masked(live_prefix, _minus(ch[CI.RamIndeterminate], comp), None, _ONE, n)
    same = win & (ramp[:-1] == ramp[1:])
    cjd = _with_first(
        _ZERO, _cumsum(_cjd_inverses(same, clk[:-1], clk[1:], ch[CI.ClockJumpDifferenceLookupIndeterminate]))
    )
    return {
        RamAux.RunningProductOfRAMP: rp,
        RamAux.FormalDerivative: fd,
        RamAux.BezoutCoefficient0: bez[0],
        RamAux.BezoutCoefficient1: bez[1],
        RamAux.RunningProductPermArg: perm,
        RamAux.ClockJumpDifferenceLookupClientLogDerivative: cjd,
    }


def _jump_stack(m: np.ndarray, ch: np.ndarray) -> dict[int, np.ndarray]:
    clk, jsp = m[:, JumpStackMain.CLK], m[:, JumpStackMain.JSP]
    comp = _lin(
        [clk, m[:, JumpStackMain.CI], jsp, m[:, JumpStackMain.JSO], m[:, JumpStackMain.JSD]],
        [
            ch[CI.JumpStackClkWeight],
            ch[CI.JumpStackCiWeight],
            ch[CI.JumpStackJspWeight],
            ch[CI.JumpStackJsoWeight],
            ch[CI.JumpStackJsdWeight],
        ],
    )
    perm = _scan(_minus(ch[CI.JumpStackIndeterminate], comp), None, _ONE)
    same = jsp[:-1] == jsp[1:]
    cjd = _with_first(
        _ZERO, _cumsum(_cjd_inverses(same, clk[:-1], clk[1:], ch[CI.ClockJumpDifferenceLookupIndeterminate]))
    )
    return {
        JumpStackAux.RunningProductPermArg: perm,
        JumpStackAux.ClockJumpDifferenceLookupClientLogDerivative: cjd,
    }


_LIMB_NAMES = ("Highest", "MidHigh", "MidLow", "Lowest")


def _hash(m: np.ndarray, ch: np.ndarray) -> dict[int, np.ndarray]:
    n = m.shape[0]
    mode, rnd, ci = m[:, HashMain.Mode], m[:, HashMain.RoundNumber], m[:, HashMain.CI]
    weights = [ch[CI.StackWeight0 + i] for i in range(10)]

    def rate(rows: np.ndarray) -> list[np.ndarray]:
        regs = []
        for i in range(4):
            hi, mh, ml, lo = (rows[:, HashMain[f"State{i}{limb}LkIn"]] for limb in _LIMB_NAMES)
            raw = F.add(
                F.add(F.mul(hi, _U(1 << 48)), F.mul(mh, _U(1 << 32))), F.add(F.mul(ml, _U(1 << 16)), lo)
            )
            regs.append(F.mul(raw, _U(MONTGOMERY_R_INV)))
        return regs + [rows[:, HashMain.State4 + i] for i in range(6)]

    out: dict[int, np.ndarray] = {}
    round0 = rnd == 0
    # program attestation: each absorbed chunk, compressed as an evaluation-argument terminal
    sel = (mode == 1) & round0
    summand = np.zeros((n, 3), dtype=_U)
    if sel.any():
        alpha = tuple(int(v) for v in ch[CI.ProgramAttestationPrepareChunkIndeterminate])
        regs = rate(m[sel])
        summand[sel] = F.add(
            _lin(regs, [np.array(X.pow_int(alpha, 9 - i), dtype=_U) for i in range(10)]),
            np.array(X.pow_int(alpha, 10), dtype=_U)[None, :],
        )
    out[HashAux.ReceiveChunkRunningEvaluation] = _scan_masked(
        sel, ch[CI.ProgramAttestationSendChunkIndeterminate], summand, _ONE, n
    )

    w_ci = ch[CI.HashCIWeight]
    sel = (mode == 2) & round0
    summand = np.zeros((n, 3), dtype=_U)
    if sel.any():
        s = _bx(ci[sel], w_ci)
        absorbing = ci[sel] != OP_SPONGE_INIT
        if absorbing.any():
            rows = m[sel][absorbing]
            s[absorbing] = F.add(s[absorbing], _lin(rate(rows), weights))
        summand[sel] = s
    out[HashAux.SpongeRunningEvaluation] = _scan_masked(sel, ch[CI.SpongeIndeterminate], summand, _ONE, n)

    sel = (mode == 3) & round0
    summand = np.zeros((n, 3), dtype=_U)
    if sel.any():
        summand[sel] = _lin(rate(m[sel]), weights)
    out[HashAux.HashInputRunningEvaluation] = _scan_masked(
        sel, ch[CI.HashInputIndeterminate], summand, _ONE, n
    )

    sel = (mode == 3) & (rnd == 5)
    summand = np.zeros((n, 3), dtype=_U)
    if sel.any():
        summand[sel] = _lin(rate(m[sel])[:5], weights[:5])
    out[HashAux.HashDigestRunningEvaluation] = _scan_masked(
        sel, ch[CI.HashDigestIndeterminate], summand, _ONE, n
    )

    # cascade lookups: 16 clients; the denominator depends on (LkIn, LkOut) only
    active = (mode != 0) & (rnd != 5) & (ci != OP_SPONGE_INIT)
    alpha, w_in, w_out = (
        ch[CI.HashCascadeLookupIndeterminate],
        ch[CI.HashCascadeLookInWeight],
        ch[CI.HashCascadeLookOutWeight],
    )
    pairs = []
    for i in range(4):
        for limb in _LIMB_NAMES:
            pairs.append(
                (
                    HashAux[f"CascadeState{i}{limb}ClientLogDerivative"],
                    m[active, HashMain[f"State{i}{limb}LkIn"]],
                    m[active, HashMain[f"State{i}{limb}LkOut"]],
                )
            )
    if active.any():
        ins = np.concatenate([p[1] for p in pairs])
        outs = np.concatenate([p[2] for p in pairs])
        inv = _pair_inverses(ins, outs, alpha, w_in, w_out)
        k = int(active.sum())
        for j, (col, _, _) in enumerate(pairs):
            terms = np.zeros((n, 3), dtype=_U)
            terms[active] = inv[j * k : (j + 1) * k]
            out[col] = _cumsum(terms)
    else:
        for col, _, _ in pairs:
            out[col] = np.zeros((n, 3), dtype=_U)
    return out


def _pair_inverses(ins: np.ndarray, outs: np.ndarray, alpha, w_in, w_out) -> np.ndarray:
    """1/(alpha - w_in*in - w_out*out) for each pair, inverting every distinct pair once."""
    if ins.size and int(ins.max()) < 2**32 and int(outs.max()) < 2**32:
        keys = (ins << _S32) | outs
        uniq, where = np.unique(keys, return_inverse=True)
        u_in, u_out = uniq >> _S32, uniq & _LO32
    else:
        uniq, where = np.unique(np.stack([ins, outs], axis=1), axis=0, return_inverse=True)
        u_in, u_out = uniq[:, 0], uniq[:, 1]
        where = where.reshape(-1)
    den = F.sub(F.sub(np.broadcast_to(alpha, (u_in.shape[0], 3)), _bx(u_in, w_in)), _bx(u_out, w_out))
    return X.batch_inv(np.ascontiguousarray(den))[where]


def _cascade(m: np.ndarray, ch: np.ndarray) -> dict[int, np.ndarray]:
    n = m.shape[0]
    live = m[:, CascadeMain.IsPadding] != 1
    hi, lo = m[:, CascadeMain.LookInHi], m[:, CascadeMain.LookInLo]
    ohi, olo = m[:, CascadeMain.LookOutHi], m[:, CascadeMain.LookOutLo]
    look_in = F.add(F.mul(hi, _U(256)), lo)
    look_out = F.add(F.mul(ohi, _U(256)), olo)
    comp = _lin([look_in, look_out], [ch[CI.HashCascadeLookInWeight], ch[CI.HashCascadeLookOutWeight]])
    server = _cumsum(
        _inverse_sum(
            live, _minus(ch[CI.HashCascadeLookupIndeterminate], comp), m[:, CascadeMain.LookupMultiplicity]
        )
    )
    client = np.zeros((n, 3), dtype=_U)
    if live.any():
        k = int(live.sum())
        inv = _pair_inverses(
            np.concatenate([lo[live], hi[live]]),
            np.concatenate([olo[live], ohi[live]]),
            ch[CI.CascadeLookupIndeterminate],
            ch[CI.LookupTableInputWeight],
            ch[CI.LookupTableOutputWeight],
        )
        client[live] = F.add(inv[:k], inv[k:])
    return {
        CascadeAux.HashTableServerLogDerivative: server,
        CascadeAux.LookupTableClientLogDerivative: _cumsum(client),
    }


def _lookup(m: np.ndarray, ch: np.ndarray) -> dict[int, np.ndarray]:
    n = m.shape[0]
    live = _prefix_true(m[:, LookupMain.IsPadding] != 1)
    look_in, look_out = m[:, LookupMain.LookIn], m[:, LookupMain.LookOut]
    comp = _lin([look_in, look_out], [ch[CI.LookupTableInputWeight], ch[CI.LookupTableOutputWeight]])
    server = _cumsum(
        _inverse_sum(
            live, _minus(ch[CI.CascadeLookupIndeterminate], comp), m[:, LookupMain.LookupMultiplicity]
        )
    )
    public = _scan_masked(live, ch[CI.LookupTablePublicIndeterminate], _lift(look_out), _ONE, n)
    return {LookupAux.CascadeTableServerLogDerivative: server, LookupAux.PublicEvaluationArgument: public}


def _u32(m: np.ndarray, ch: np.ndarray) -> dict[int, np.ndarray]:
    copy = m[:, U32Main.CopyFlag] == 1
    comp = _lin(
        [m[:, U32Main.CI], m[:, U32Main.LHS], m[:, U32Main.RHS], m[:, U32Main.Result]],
        [ch[CI.U32CiWeight], ch[CI.U32LhsWeight], ch[CI.U32RhsWeight], ch[CI.U32ResultWeight]],
    )
    terms = _inverse_sum(copy, _minus(ch[CI.U32Indeterminate], comp), m[:, U32Main.LookupMultiplicity])
    return {U32Aux.LookupServerLogDerivative: _cumsum(terms)}


TABLE_EXTENSIONS = {
    "Program": _program,
    "Processor": _processor,
    "OpStack": _op_stack,
    "Ram": _ram,
    "JumpStack": _jump_stack,
    "Hash": _hash,
    "Cascade": _cascade,
    "Lookup": _lookup,
    "U32": _u32,
}


def extend(main: np.ndarray, challenges: np.ndarray) -> np.ndarray:
    """The 49 auxiliary columns (rows, 49, 3) of a padded master main table (rows, >= 149) under the 63
    challenges (63, 3), equal to the reference's aux columns 0..49."""
    main = np.asarray(main)
    challenges = np.asarray(challenges)
    if main.ndim != 2 or main.shape[1] < NUM_MAIN_BASE_COLUMNS or main.shape[0] < 2:
        raise ValueError(f"main table must be (rows >= 2, >= {NUM_MAIN_BASE_COLUMNS}), got {main.shape}")
    if main.dtype != np.uint64:
        raise ValueError(f"main table must be uint64, got {main.dtype}")
    if challenges.shape != (63, 3) or challenges.dtype != np.uint64:
        raise ValueError(f"challenges must be (63, 3) uint64, got {challenges.shape} {challenges.dtype}")
    m = main[:, :NUM_MAIN_BASE_COLUMNS]
    out = np.zeros((m.shape[0], NUM_AUX_BASE_COLUMNS, 3), dtype=_U)
    for fn in TABLE_EXTENSIONS.values():
        for col, values in fn(m, challenges).items():
            out[:, int(col)] = values
    return out
