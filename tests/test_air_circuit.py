"""Circuit builder: hash-consing, simplifications, node ids and degree lowering as upstream."""

from __future__ import annotations

import random

import pytest

from tvmpd.stages.air.circuit import (
    CircuitBuilder,
    DualRow,
    P,
    SingleRow,
    circuit_sum,
    lower_to_degree,
    pick_node_to_substitute,
)


def _eval(node, env: dict, memo=None) -> int:
    """Scalar evaluation over the base field (no aux inputs); iterative via memo on small circuits."""
    memo = {} if memo is None else memo
    if node.id in memo:
        return memo[node.id]
    if node.kind == 4:
        a, b = _eval(node.lhs, env, memo), _eval(node.rhs, env, memo)
        v = (a + b) % P if node.op == "+" else (a * b) % P
    elif node.kind == 2:
        v = env[node.value.col]
    else:
        v = node.value
    memo[node.id] = v
    return v


def test_ids_and_hash_consing():
    b = CircuitBuilder()
    x0 = b.input(SingleRow.main(0))
    x1 = b.input(SingleRow.main(1))
    assert (x0.id, x1.id) == (0, 1)
    s = x0 + x1
    assert s.id == 2
    assert (x1 + x0) is s
    assert b.input(SingleRow.main(0)) is x0
    assert b.id_counter == 3
    d = x0 - x1  # minus_one leaf (3), product (4), sum (5)
    assert d.id == 5 and d.rhs.id == 4 and d.rhs.lhs.id == 3
    assert -x1 is d.rhs


def test_simplifications_and_folding():
    b = CircuitBuilder()
    x = b.input(SingleRow.main(0))
    assert x + b.zero() is x and b.zero() + x is x
    assert x * b.one() is x and b.one() * x is x
    assert (x * b.zero()).is_zero()
    assert x - b.zero() is x
    c = b.b_constant(42) * b.b_constant(7) + b.b_constant(13) - b.b_constant(12)
    assert c.kind == 0 and c.value == 42 * 7 + 1
    xc = b.x_constant((5, 0, 0))
    assert xc.kind == 0 and xc is b.b_constant(5)
    xx = b.x_constant((0, 1, 0)) * b.x_constant((0, 0, 1))  # x^3 = x - 1
    assert xx.value == (P - 1, 1, 0)
    assert b.b_constant(-1).value == P - 1
    with pytest.raises(TypeError):
        _ = x * 2


def test_degree_and_base_flag():
    b = CircuitBuilder()
    x = b.input(DualRow.curr_main(0))
    y = b.input(DualRow.next_aux(1))
    ch = b.challenge(3)
    assert (x * x * x).degree() == 3
    assert (x * ch).degree() == 1
    assert b.zero().degree() == -1
    assert (x * x).evaluates_to_base_element()
    assert not (x * ch).evaluates_to_base_element()
    assert not (x + y).evaluates_to_base_element()
    with pytest.raises(ValueError):
        b.input(SingleRow.main(0))
    with pytest.raises(ValueError):
        circuit_sum([])


def test_redirection():
    b = CircuitBuilder()

    def x(i):
        return b.input(SingleRow.main(i))

    part = x(0) + x(1)
    sub = x(0) * part
    root_1 = sub + b.challenge(0) - b.b_constant(42)
    root_2 = x(2) * sub - b.challenge(1)
    new = x(3)
    b.redirect_all_references_to_node(sub.id, new)
    assert root_1.lhs.lhs is new
    assert root_2.lhs.rhs is new
    assert sub.id not in b.all_nodes


def test_simple_lowering():
    b = CircuitBuilder()

    def x():
        return b.input(SingleRow.main(0))

    roots = [x() * x() * x() * x() * x(), x() * x() * x()]
    main, aux = lower_to_degree(roots, 3, 1, 0)
    assert len(main) == 1 and not aux


def test_occurrence_counting_tie_breaks():
    b = CircuitBuilder()

    def x(i):
        return b.input(SingleRow.main(i))

    roots = [x(0) * x(0) * x(0), x(1) * x(1) * x(1)]
    # both x0*x0 (id 1) and x1*x1 (id 4) occur once with degree 2: smallest id wins
    assert pick_node_to_substitute(roots, 2) == 1
    c0 = (x(0) * x(1) * x(2)) * (x(3) * x(4)) * x(5)
    c1 = (x(6) * x(7)) * (x(3) * x(4)) * x(8)
    main, aux = lower_to_degree([c0, c1], 3, 9, 0)
    assert len(main) <= 3 and not aux


@pytest.mark.parametrize("seed", range(20))
def test_lowering_is_sound(seed):
    rng = random.Random(seed)
    b = CircuitBuilder()
    n_in = 5
    leaves = [b.input(SingleRow.main(i)) for i in range(n_in)] + [b.b_constant(rng.randrange(P))]
    pool = list(leaves)
    for _ in range(40):
        a, c = rng.choice(pool), rng.choice(pool)
        pool.append(rng.choice([a + c, a * c, a - c, -a]))
    roots = pool[-6:]
    env = {i: rng.randrange(P) for i in range(n_in)}
    before = [_eval(r, env) for r in roots]
    roots = list(roots)
    main, aux = lower_to_degree(roots, 3, n_in, 0)
    assert not aux
    assert all(r.degree() <= 3 for r in roots)
    for k, sub in enumerate(main):
        # sub = v + (-1 * expr): v's value is expr's value; expr may use earlier substitutes
        env[n_in + k] = _eval(sub.rhs.rhs, env)
    for k, sub in enumerate(main):
        assert _eval(sub, env) == 0
        assert sub.degree() <= 3 or k >= 0
    assert [_eval(r, env) for r in roots] == before
