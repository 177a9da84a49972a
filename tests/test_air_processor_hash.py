"""Processor and Hash table AIR: constraint counts, degrees, and zero on the reference's honest tables."""

from __future__ import annotations

import numpy as np
import pytest

from tvmpd.stages import field as F
from tvmpd.stages.air import constraints as air
from tvmpd.stages.air.circuit import BCONST, BINOP, CHALLENGE, INPUT, MUL, XCONST, CircuitBuilder
from tvmpd.stages.air.constraints import hash as hash_air
from tvmpd.stages.air.constraints import processor as processor_air

CATEGORIES = ("initial", "consistency", "transition", "terminal")
EXPECTED_COUNTS = {
    "processor": {"initial": 29, "consistency": 10, "transition": 42, "terminal": 1},
    "hash": {"initial": 22, "consistency": 45, "transition": 48, "terminal": 2},
}
EXPECTED_MAX_DEGREE = {"processor": 19, "hash": 9}
MODULES = {"processor": processor_air, "hash": hash_air}


def _build(table: str, category: str):
    b = CircuitBuilder()
    return b, getattr(MODULES[table], f"{category}_constraints")(b)


# ---- a small evaluator over numpy rows: base values (n,), extension values (n, 3) ----------------
def _lift(v: np.ndarray) -> np.ndarray:
    out = np.zeros(v.shape + (3,), dtype=np.uint64)
    out[..., 0] = v
    return out


def _xadd(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return F.add(a, b)


def _xmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    c = [np.zeros(np.broadcast_shapes(a.shape[:-1], b.shape[:-1]), dtype=np.uint64) for _ in range(5)]
    for i in range(3):
        for j in range(3):
            c[i + j] = F.add(c[i + j], F.mul(a[..., i], b[..., j]))
    # x^3 = x - 1, x^4 = x^2 - x
    c0 = F.sub(c[0], c[3])
    c1 = F.sub(F.add(c[1], c[3]), c[4])
    c2 = F.add(c[2], c[4])
    return np.stack([c0, c1, c2], axis=-1)


def _evaluate(roots, curr_main, curr_aux, next_main, next_aux, challenges) -> list[np.ndarray]:
    """Values of the roots on n rows, each as an (n, 3) array of extension-field elements."""
    n = curr_main.shape[0]
    values: dict[int, tuple[bool, np.ndarray]] = {}
    for root in roots:
        stack = [root]
        while stack:
            node = stack[-1]
            if node.id in values:
                stack.pop()
                continue
            if node.kind == BINOP:
                pending = [c for c in (node.lhs, node.rhs) if c.id not in values]
                if pending:
                    stack.extend(pending)
                    continue
                (lb, lv), (rb, rv) = values[node.lhs.id], values[node.rhs.id]
                if lb and rb:
                    val = (True, F.mul(lv, rv) if node.op == MUL else F.add(lv, rv))
                else:
                    lv = _lift(lv) if lb else lv
                    rv = _lift(rv) if rb else rv
                    val = (False, _xmul(lv, rv) if node.op == MUL else _xadd(lv, rv))
            elif node.kind == BCONST:
                val = (True, np.full(n, node.value, dtype=np.uint64))
            elif node.kind == XCONST:
                val = (False, np.broadcast_to(np.array(node.value, dtype=np.uint64), (n, 3)).copy())
            elif node.kind == CHALLENGE:
                val = (False, np.broadcast_to(challenges[node.value], (n, 3)).copy())
            elif node.kind == INPUT:
                ind = node.value
                is_next = getattr(ind, "is_next", False)
                if ind.is_main:
                    val = (True, (next_main if is_next else curr_main)[:, ind.col])
                else:
                    val = (False, (next_aux if is_next else curr_aux)[:, ind.col, :])
            else:
                raise AssertionError(f"unknown node kind {node.kind}")
            values[node.id] = val
            stack.pop()
    return [values[r.id][1] if not values[r.id][0] else _lift(values[r.id][1]) for r in roots]


@pytest.fixture(scope="module", params=["halt", "all_tables"])
def honest(request, vectors):
    data = np.load(vectors / "tables" / f"{request.param}.npz")
    return data["main"], data["aux"], data["challenges"]


def _rows_for(category: str, main: np.ndarray, aux: np.ndarray):
    if category == "initial":
        return main[:1], aux[:1], main[:1], aux[:1]
    if category == "terminal":
        return main[-1:], aux[-1:], main[-1:], aux[-1:]
    if category == "consistency":
        return main, aux, main, aux
    return main[:-1], aux[:-1], main[1:], aux[1:]


# ---- tests ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("table", ["processor", "hash"])
@pytest.mark.parametrize("category", CATEGORIES)
def test_constraint_counts(table, category):
    _, constraints = _build(table, category)
    assert len(constraints) == EXPECTED_COUNTS[table][category]


@pytest.mark.parametrize("table", ["processor", "hash"])
def test_max_degree_before_lowering(table):
    degrees = [c.degree() for cat in CATEGORIES for c in _build(table, cat)[1]]
    assert max(degrees) == EXPECTED_MAX_DEGREE[table]


@pytest.mark.parametrize("table", ["processor", "hash"])
def test_construction_is_deterministic(table):
    for category in CATEGORIES:
        b1, c1 = _build(table, category)
        b2, c2 = _build(table, category)
        assert b1.id_counter == b2.id_counter
        assert [c.id for c in c1] == [c.id for c in c2]
        assert [str(c) for c in c1] == [str(c) for c in c2]


@pytest.mark.parametrize("table", ["processor", "hash"])
@pytest.mark.parametrize("category", CATEGORIES)
def test_zero_on_honest_tables(table, category, honest):
    main, aux, challenges = honest
    _, constraints = _build(table, category)
    values = _evaluate(constraints, *_rows_for(category, main, aux), challenges)
    for i, v in enumerate(values):
        bad = np.nonzero(np.any(v != 0, axis=-1))[0]
        assert bad.size == 0, f"{table} {category} constraint {i} non-zero on rows {bad[:10]}"


@pytest.mark.parametrize("table", ["processor", "hash"])
def test_tampered_transition_is_caught(table, honest):
    main, aux, challenges = honest
    main = main.copy()
    col = {"processor": processor_air.M.ST3, "hash": hash_air.H.State7}[table]
    # a row in the middle of the non-padding part (hash: a permutation row of program hashing)
    row = 2
    main[row, col] = F.add(main[row, col], np.uint64(1))
    _, constraints = _build(table, "transition")
    values = _evaluate(constraints, *_rows_for("transition", main, aux), challenges)
    assert any(np.any(v != 0) for v in values)


# ---- degree lowering over all tables reproduces the reference's substitution columns -----------
# Substitution nodes are picked by node id, so these tests check that the ports issue their builder
# calls in the reference's order: every rule `v - expr` must vanish on the reference's master tables.


@pytest.fixture(scope="module")
def lowered():
    return air.lowered_air()


def test_substitution_column_counts(lowered):
    main = {c: len(lowered.main_substitutions[c]) for c in air.CATEGORIES}
    aux = {c: len(lowered.aux_substitutions[c]) for c in air.CATEGORIES}
    assert main == {"initial": 2, "consistency": 18, "transition": 210, "terminal": 0}
    assert aux == {"initial": 0, "consistency": 0, "transition": 41, "terminal": 0}


@pytest.mark.parametrize("name", ["halt", "all_tables"])
def test_substitution_rules_match_reference_columns(lowered, name, vectors):
    data = np.load(vectors / "tables" / f"{name}.npz")
    main, aux, challenges = data["main"], data["aux"], data["challenges"]
    column = 149
    for category in air.CATEGORIES:
        rules = lowered.main_substitutions[category]
        values = _evaluate(rules, *_rows_for(category, main, aux), challenges) if rules else []
        for i, v in enumerate(values):
            assert not np.any(v != 0), f"main substitution column {column + i} ({category}) differs"
        column += len(rules)
    column = 49
    for category in air.CATEGORIES:
        rules = lowered.aux_substitutions[category]
        values = _evaluate(rules, *_rows_for(category, main, aux), challenges) if rules else []
        for i, v in enumerate(values):
            assert not np.any(v != 0), f"aux substitution column {column + i} ({category}) differs"
        column += len(rules)
