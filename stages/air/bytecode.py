"""The AIR's circuits as instruction lists for one small interpreter kernel (opencl/air_interp.cl): the CPU
form of the constraint evaluators and degree-lowering fillers. pocl spends about a minute of CPU compiling the
generated straight-line constraint kernels and 9 s on the lowering ones (their size, not their number, sets
the time); the interpreter compiles in about a second and, running each instruction over a block of rows,
loses little to dispatch.

One program per constraint kernel of codegen's split (same slices, same launch indices), and one per
category of each side's degree-lowering rules (in codegen's order), as int32 arrays:
    leaves: (slot, source) rows, loaded into slots at the start of each row block:
        source = kind << KIND_SHIFT | index, kind LOAD_MAIN / LOAD_MAIN_NEXT (base slot) or LOAD_AUX /
        LOAD_AUX_NEXT (extension slot), index the column;
    consts: (slot, source) rows, set once per work item: kind CONST_BASE / CONST_EXT (index into `values`,
        1 or 3 words) or CHALLENGE_VALUE (index of the challenge);
    code: (op, dst, a, b) rows, op one of opencl/air_interp.py's OP_*; dst / a / b are slots of the types
        the op names (B base, X extension); OUT_B / OUT_X take the quotient-order index of a constraint as
        dst, the STORE ops the column they fill (transition columns: 0 in the last row). Products with -1,
        mixed sums and products are shaped as codegen.binop_expr shapes them.
Base and extension values have separate slot files; temporaries reuse slots once their last reader ran.
"""

from __future__ import annotations

import heapq

import numpy as np

from tvmpd.opencl.air_interp import (
    CHALLENGE_VALUE,
    CONST_BASE,
    CONST_EXT,
    KIND_SHIFT,
    LOAD_AUX,
    LOAD_AUX_NEXT,
    LOAD_MAIN,
    LOAD_MAIN_NEXT,
    OP_BADD,
    OP_BMUL,
    OP_BNEG,
    OP_OUT_B,
    OP_OUT_X,
    OP_STORE_AUX,
    OP_STORE_AUX_B,
    OP_STORE_MAIN,
    OP_XADD,
    OP_XADDB,
    OP_XMUL,
    OP_XMULB,
    OP_XNEG,
    Program,
)
from tvmpd.stages.air import codegen
from tvmpd.stages.air.circuit import BCONST, BINOP, CHALLENGE, INPUT, XCONST, Node, _postorder
from tvmpd.stages.air.constraints import CATEGORIES, LoweredAir
from tvmpd.stages.air.evaluate import _substitution_expr

MINUS_ONE = 2**64 - 2**32  # P - 1: the circuits write every subtraction as a product with it


CONSTRAINT, STORE_MAIN, STORE_AUX = range(3)  # kinds of a program's outputs (_compile)


class _Slots:
    """A file of slots: permanent ones handed out in order, temporaries from a free list (lowest first,
    so live values stay close together)."""

    def __init__(self) -> None:
        self.count = 0
        self.free: list[int] = []

    def take(self) -> int:
        if self.free:
            return heapq.heappop(self.free)
        self.count += 1
        return self.count - 1

    def give(self, slot: int) -> None:
        heapq.heappush(self.free, slot)


def programs(air: LoweredAir) -> tuple[Program, ...]:
    """The interpreter programs of a lowered AIR's constraints: one per generated constraint kernel, in launch
    order."""
    total = sum(air.counts().values())
    return tuple(compile_slice(category, chunk, total) for category, chunk in codegen.constraint_slices(air))


def compile_slice(category: int, chunk: list[tuple[int, Node]], total: int) -> Program:
    """The program of one constraint kernel's slice, [(quotient-order index, constraint root)] in order, of
    an AIR with `total` constraints."""
    return _compile(category, [(CONSTRAINT, k, c) for k, c in chunk], total, {}, False)


def lowering_programs(air: LoweredAir, side: str) -> tuple[Program, ...]:
    """The interpreter programs of one side's ("main" or "aux") degree-lowering rules: one per category that
    has rules, in the order they must run. A rule reading a column an earlier rule of its category fills
    reads that rule's slot (the table does not hold it yet); next-row reads of such columns are refused, as
    codegen refuses them."""
    if side not in ("main", "aux"):
        raise ValueError(f"side must be 'main' or 'aux', got {side!r}")
    out = []
    for category in CATEGORIES:
        rules = getattr(air, f"{side}_substitutions")[category]
        if not rules:
            continue
        filled = {int(r.lhs.value.col) for r in rules}
        done: dict[int, Node] = {}  # column -> the expression that fills it
        alias: dict[int, Node] = {}  # node id of a read of such a column -> that expression
        outputs = []
        for rule in rules:
            expr, col = _substitution_expr(rule), int(rule.lhs.value.col)
            for n in _postorder([expr]):
                same_side = n.kind == INPUT and bool(n.value.is_main) == (side == "main")
                if same_side and int(n.value.col) in filled:
                    if getattr(n.value, "is_next", False) or int(n.value.col) not in done:
                        raise ValueError(f"rule for {side} column {col} reads column {n.value.col} of its "
                                         "category on the next row or before it is filled")
                    alias[n.id] = done[int(n.value.col)]
            if expr.id in alias:
                raise ValueError(f"rule for {side} column {col} only copies another column")
            outputs.append((STORE_MAIN if side == "main" else STORE_AUX, col, expr))
            done[col] = expr
        out.append(_compile(CATEGORIES.index(category), outputs, 0, alias, category == "transition"))
    return tuple(out)


def _compile(category: int, outputs: list[tuple[int, int, Node]], total: int, alias: dict[int, Node],
             zero_last_row: bool) -> Program:
    """A program computing outputs [(CONSTRAINT: quotient-order index / STORE_MAIN, STORE_AUX: column,
    root)] in order; nodes in `alias` (reads of columns the program fills) stand for their expressions."""
    def resolve(n: Node) -> Node:
        return alias.get(n.id, n)

    nodes = [n for n in _postorder([root for _, _, root in outputs]) if n.id not in alias]
    targets: dict[int, list[tuple[int, int]]] = {}
    for kind, index, root in outputs:
        targets.setdefault(root.id, []).append((kind, index))
    is_base: dict[int, bool] = {}
    for n in nodes:
        if n.kind == BINOP:
            is_base[n.id] = is_base[resolve(n.lhs).id] and is_base[resolve(n.rhs).id]
        elif n.kind == INPUT:
            is_base[n.id] = bool(n.value.is_main)
        else:
            is_base[n.id] = n.kind == BCONST

    def output_op(kind: int, n: Node) -> int:
        base = is_base[n.id]
        if kind == CONSTRAINT:
            return OP_OUT_B if base else OP_OUT_X
        if kind == STORE_AUX:
            return OP_STORE_AUX_B if base else OP_STORE_AUX
        if not base:
            raise ValueError("a main degree-lowering column is not a base-field expression")
        return OP_STORE_MAIN

    files = {True: _Slots(), False: _Slots()}
    slot: dict[int, int] = {}
    leaves, consts, values = [], [], []
    for n in nodes:  # leaves first: their slots stay theirs for the whole program
        if n.kind == BINOP:
            continue
        slot[n.id] = files[is_base[n.id]].take()
        if n.kind == INPUT:
            ind = n.value
            nxt = bool(getattr(ind, "is_next", False))
            if ind.is_main:
                kind = LOAD_MAIN_NEXT if nxt else LOAD_MAIN
            else:
                kind = LOAD_AUX_NEXT if nxt else LOAD_AUX
            leaves.append((slot[n.id], kind << KIND_SHIFT | int(ind.col)))
        elif n.kind == CHALLENGE:
            consts.append((slot[n.id], CHALLENGE_VALUE << KIND_SHIFT | int(n.value)))
        elif n.kind == BCONST:
            consts.append((slot[n.id], CONST_BASE << KIND_SHIFT | len(values)))
            values.append(int(n.value))
        elif n.kind == XCONST:
            consts.append((slot[n.id], CONST_EXT << KIND_SHIFT | len(values)))
            values.extend(int(v) for v in n.value)
        else:
            raise ValueError(f"unexpected leaf kind {n.kind!r}")

    # The instruction list on nodes: (op, node, operand nodes); an output names its index or column.
    steps: list[tuple[int, int, tuple[Node, ...]]] = []
    for kind, index, root in outputs:  # outputs that are leaves themselves
        if root.kind != BINOP:
            steps.append((output_op(kind, root), index, (root,)))
    for n in nodes:
        if n.kind != BINOP:
            continue
        op, operands = _instruction(n, resolve, is_base)
        steps.append((op, n.id, operands))
        for kind, index in targets.get(n.id, []):
            steps.append((output_op(kind, n), index, (n,)))
    last_read = {o.id: i for i, (_, _, operands) in enumerate(steps) for o in operands}

    code = []
    for i, (op, target, operands) in enumerate(steps):
        read = [slot[o.id] for o in operands]
        for o in {o.id: o for o in operands}.values():  # free first: the result may take a read slot
            if o.kind == BINOP and last_read[o.id] == i:
                files[is_base[o.id]].give(slot[o.id])
        if op in _OUTPUT_OPS:
            dst = target
        else:
            dst = slot[target] = files[op in (OP_BADD, OP_BMUL, OP_BNEG)].take()
        code.append((op, dst, read[0], read[1] if len(read) > 1 else 0))

    def table(rows: list, width: int) -> np.ndarray:
        return np.array(rows, dtype=np.int32).reshape(-1, width)

    return Program(category, table(leaves, 2), table(consts, 2), np.array(values, dtype=np.uint64),
                   table(code, 4), files[True].count, files[False].count, total, zero_last_row)


_OUTPUT_OPS = (OP_OUT_B, OP_OUT_X, OP_STORE_MAIN, OP_STORE_AUX, OP_STORE_AUX_B)


def _instruction(n: Node, resolve, is_base: dict[int, bool]) -> tuple[int, tuple[Node, ...]]:
    """(op, operands) of a BINOP node, as codegen.binop_expr shapes it: a product with -1 becomes a
    negation, a mixed sum or product keeps the base operand on the right; operands through resolve()."""
    lhs, rhs = resolve(n.lhs), resolve(n.rhs)
    lb, rb = is_base[lhs.id], is_base[rhs.id]
    if n.op == "*":
        for const, other in ((lhs, rhs), (rhs, lhs)):
            if const.kind == BCONST and int(const.value) == MINUS_ONE:
                return (OP_BNEG if is_base[other.id] else OP_XNEG), (other,)
    if lb and rb:
        return (OP_BADD if n.op == "+" else OP_BMUL), (lhs, rhs)
    if lb or rb:
        ext, base = (rhs, lhs) if lb else (lhs, rhs)
        return (OP_XADDB if n.op == "+" else OP_XMULB), (ext, base)
    return (OP_XADD if n.op == "+" else OP_XMUL), (lhs, rhs)
