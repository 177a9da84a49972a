"""Vectorised numpy evaluation of constraint circuits over many rows at once, and the degree-lowering
columns computed from the substitution rules (as upstream's generated `DegreeLoweringTable` fills them).

Main rows are (n, 379) uint64, aux rows (n, 91, 3) uint64, challenges (63, 3) uint64.  Base-field
sub-circuits are evaluated on (n,) arrays and only lifted where they meet extension values.
"""

from __future__ import annotations

import numpy as np

from tvmpd.stages import field as F
from tvmpd.stages import xfield as X
from tvmpd.stages.air.circuit import BCONST, BINOP, CHALLENGE, INPUT, XCONST, Node, _postorder
from tvmpd.stages.air.constraints import CATEGORIES, LoweredAir, lowered_air

NUM_MAIN = 379
NUM_AUX = 91


def _is_minus_one(node: Node) -> bool:
    return node.kind == BCONST and node.value == F.P - 1


def _check_rows(main: np.ndarray, aux: np.ndarray, challenges: np.ndarray) -> None:
    if main.ndim != 2 or main.dtype != np.uint64:
        raise ValueError(f"main rows must be a 2-d uint64 array, got {main.shape} {main.dtype}")
    if aux.ndim != 3 or aux.shape[2] != 3 or aux.dtype != np.uint64:
        raise ValueError(f"aux rows must be an (n, cols, 3) uint64 array, got {aux.shape} {aux.dtype}")
    if aux.shape[0] != main.shape[0]:
        raise ValueError("main and aux rows differ in number")
    if challenges.shape != (63, 3) or challenges.dtype != np.uint64:
        raise ValueError(f"challenges must be a (63, 3) uint64 array, got {challenges.shape}")


def evaluate_nodes(
    roots: list[Node],
    main: np.ndarray,
    aux: np.ndarray,
    challenges: np.ndarray,
    main_next: np.ndarray | None = None,
    aux_next: np.ndarray | None = None,
) -> np.ndarray:
    """Values of the circuits `roots` on every row: (n, len(roots), 3) uint64.  Single-row inputs
    read `main`/`aux`; dual-row inputs read current from `main`/`aux` and next from `*_next`.
    Main rows may be base (n, cols) or extension (n, cols, 3) values."""
    n = main.shape[0]
    order = _postorder(roots)
    uses: dict[int, int] = {}
    for node in order:
        if node.kind == BINOP:
            uses[node.lhs.id] = uses.get(node.lhs.id, 0) + 1
            uses[node.rhs.id] = uses.get(node.rhs.id, 0) + 1
    for r in roots:
        uses[r.id] = uses.get(r.id, 0) + 1
    vals: dict[int, tuple[bool, np.ndarray]] = {}  # id -> (is_base, value)

    def release(nid: int) -> None:
        uses[nid] -= 1
        if uses[nid] == 0:
            del vals[nid]

    for node in order:
        k = node.kind
        if k == BCONST:
            vals[node.id] = (True, np.full(1, node.value, dtype=np.uint64))
        elif k == XCONST:
            vals[node.id] = (False, np.array(node.value, dtype=np.uint64).reshape(1, 3))
        elif k == CHALLENGE:
            vals[node.id] = (False, challenges[node.value].reshape(1, 3))
        elif k == INPUT:
            ind = node.value
            is_next = getattr(ind, "is_next", False)
            if ind.is_main:
                src = main_next if is_next else main
                if src is None:
                    raise ValueError("transition circuits need the next main rows")
                # main rows are base (n, cols) on the trace / quotient domain, extension (n, cols, 3)
                # at the verifier's out-of-domain point
                vals[node.id] = (src.ndim == 2, np.ascontiguousarray(src[:, ind.col]))
            else:
                src = aux_next if is_next else aux
                if src is None:
                    raise ValueError("transition circuits need the next aux rows")
                vals[node.id] = (False, np.ascontiguousarray(src[:, ind.col, :]))
        else:
            lb, lv = vals[node.lhs.id]
            rb, rv = vals[node.rhs.id]
            if node.op == "*" and (_is_minus_one(node.lhs) or _is_minus_one(node.rhs)):
                # every subtraction is a product with -1: negate instead of multiplying
                b, v = (rb, rv) if _is_minus_one(node.lhs) else (lb, lv)
                out = (b, F.neg(v))
            elif lb and rb:
                out = (True, F.add(lv, rv) if node.op == "+" else F.mul(lv, rv))
            elif node.op == "+":
                out = (False, X.add(X.lift(lv) if lb else lv, X.lift(rv) if rb else rv))
            elif lb:
                out = (False, X.mul_base(rv, lv))
            elif rb:
                out = (False, X.mul_base(lv, rv))
            else:
                out = (False, X.mul(lv, rv))
            vals[node.id] = out
            release(node.lhs.id)
            release(node.rhs.id)

    result = np.zeros((n, len(roots), 3), dtype=np.uint64)
    for i, r in enumerate(roots):
        is_base, v = vals[r.id]
        if is_base:
            result[:, i, 0] = np.broadcast_to(v, (n,))
        else:
            result[:, i, :] = np.broadcast_to(v, (n, 3))
    return result


def evaluate_category(
    category: str,
    main: np.ndarray,
    aux: np.ndarray,
    challenges: np.ndarray,
    main_next: np.ndarray | None = None,
    aux_next: np.ndarray | None = None,
    air: LoweredAir | None = None,
) -> np.ndarray:
    """All lowered constraints of one category, in quotient order, on every row: (n, count, 3)."""
    if category not in CATEGORIES:
        raise ValueError(f"unknown constraint category {category!r}")
    _check_rows(main, aux, challenges)
    if category == "transition" and (main_next is None or aux_next is None):
        raise ValueError("transition constraints need next rows")
    air = lowered_air() if air is None else air
    return evaluate_nodes(air.constraints[category], main, aux, challenges, main_next, aux_next)


def evaluate_every_row(
    main: np.ndarray, aux: np.ndarray, challenges: np.ndarray, step: int = 1, air: LoweredAir | None = None
) -> dict[str, np.ndarray]:
    """Every category's constraints on every row, the next row of row i being row (i + step) mod n: what
    the quotient evaluates on a coset (and what the constraint kernels compute); (n, count, 3) each."""
    air = lowered_air() if air is None else air
    nxt = (np.arange(main.shape[0]) + step) % main.shape[0]
    return {c: evaluate_category(c, main, aux, challenges, main[nxt], aux[nxt], air=air) if c == "transition"
            else evaluate_category(c, main, aux, challenges, air=air) for c in CATEGORIES}


def evaluate_on_trace(
    main: np.ndarray, aux: np.ndarray, challenges: np.ndarray, air: LoweredAir | None = None
) -> dict[str, np.ndarray]:
    """Constraints on the rows they apply to in a trace: initial on row 0, consistency on every row,
    transition on (i, i+1) for i < n-1, terminal on the last row."""
    _check_rows(main, aux, challenges)
    air = lowered_air() if air is None else air
    return {
        "initial": evaluate_category("initial", main[:1], aux[:1], challenges, air=air),
        "consistency": evaluate_category("consistency", main, aux, challenges, air=air),
        "transition": evaluate_category(
            "transition", main[:-1], aux[:-1], challenges, main[1:], aux[1:], air=air
        ),
        "terminal": evaluate_category("terminal", main[-1:], aux[-1:], challenges, air=air),
    }


def _substitution_expr(rule: Node) -> Node:
    """The expression of a substitution rule `v + (-1) * expr`."""
    if rule.kind != BINOP or rule.op != "+" or rule.lhs.kind != INPUT:
        raise ValueError("substitution rule must be new_variable - expression")
    neg = rule.rhs
    if neg.kind != BINOP or neg.op != "*" or neg.lhs.kind != BCONST or neg.lhs.value != F.P - 1:
        raise ValueError("substitution rule must be new_variable - expression")
    return neg.rhs


def fill_degree_lowering_main(main: np.ndarray, air: LoweredAir | None = None) -> np.ndarray:
    """Fill columns 149..379 of a padded master main table in place (transition ones stay 0 in the
    last row) and return it."""
    air = lowered_air() if air is None else air
    if main.ndim != 2 or main.shape[1] != NUM_MAIN or main.dtype != np.uint64:
        raise ValueError(f"master main table must be (n, {NUM_MAIN}) uint64")
    dummy_aux = np.zeros((main.shape[0], 0, 3), dtype=np.uint64)
    dummy_ch = np.zeros((63, 3), dtype=np.uint64)
    for category in CATEGORIES:
        for rule in air.main_substitutions[category]:
            col = rule.lhs.value.col
            expr = _substitution_expr(rule)
            if category == "transition":
                v = evaluate_nodes([expr], main[:-1], dummy_aux[:-1], dummy_ch, main[1:], dummy_aux[1:])
                main[:-1, col] = v[:, 0, 0]
                main[-1, col] = 0
            else:
                main[:, col] = evaluate_nodes([expr], main, dummy_aux, dummy_ch)[:, 0, 0]
    return main


def fill_degree_lowering_aux(
    main: np.ndarray, aux: np.ndarray, challenges: np.ndarray, air: LoweredAir | None = None
) -> np.ndarray:
    """Fill aux columns 49..90 of a master aux table in place (transition ones stay 0 in the last row)
    from the full master main table; return it."""
    air = lowered_air() if air is None else air
    _check_rows(main, aux, challenges)
    for category in CATEGORIES:
        for rule in air.aux_substitutions[category]:
            col = rule.lhs.value.col
            expr = _substitution_expr(rule)
            if category == "transition":
                v = evaluate_nodes([expr], main[:-1], aux[:-1], challenges, main[1:], aux[1:])
                aux[:-1, col] = v[:, 0]
                aux[-1, col] = 0
            else:
                aux[:, col] = evaluate_nodes([expr], main, aux, challenges)[:, 0]
    return aux
