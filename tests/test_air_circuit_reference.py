"""The builder's dictionary-based hash-consing and DAG path counting give exactly what a literal
transcription of the reference does (linear structural search over all nodes, deep equality, tree
walks that visit every occurrence), node ids and lowering results included, on random circuits."""

from __future__ import annotations

import random

import pytest

from tvmpd.stages.air.circuit import CircuitBuilder, P, SingleRow, lower_to_degree


class RNode:
    def __init__(self, nid, kind, value=None, op=None, lhs=None, rhs=None):
        self.id, self.kind, self.value, self.op, self.lhs, self.rhs = nid, kind, value, op, lhs, rhs


def _eq(a: RNode, b: RNode) -> bool:
    if a is b:
        return True
    if a.kind != b.kind:
        return False
    if a.kind != "bin":
        return a.value == b.value
    return a.op == b.op and _eq(a.lhs, b.lhs) and _eq(a.rhs, b.rhs)


class RBuilder:
    """Literal transcription of the reference builder (slow, for small circuits only)."""

    def __init__(self):
        self.counter = 0
        self.all_nodes: dict[int, RNode] = {}

    def _insert_or_find(self, node: RNode) -> RNode:
        for existing in self.all_nodes.values():
            if _eq(existing, node):
                return existing
        self.all_nodes[node.id] = node
        self.counter += 1
        return node

    def leaf(self, kind, value):
        return self._insert_or_find(RNode(self.counter, kind, value))

    def const(self, v):
        return self.leaf("b", v % P)

    def binop(self, op, lhs, rhs):
        def zero(n):
            return n.kind == "b" and n.value == 0

        def one(n):
            return n.kind == "b" and n.value == 1

        if op == "+" and zero(rhs):
            return lhs
        if op == "+" and zero(lhs):
            return rhs
        if op == "*" and one(rhs):
            return lhs
        if op == "*" and one(lhs):
            return rhs
        if op == "*" and zero(rhs):
            return rhs
        if op == "*" and zero(lhs):
            return lhs
        if lhs.kind == "b" and rhs.kind == "b":
            return self.const(lhs.value + rhs.value if op == "+" else lhs.value * rhs.value)
        for candidate in (RNode(self.counter, "bin", op=op, lhs=rhs, rhs=lhs), None):
            if candidate is None:
                break
            for existing in self.all_nodes.values():
                if _eq(existing, candidate):
                    return existing
        return self._insert_or_find(RNode(self.counter, "bin", op=op, lhs=lhs, rhs=rhs))

    def neg(self, x):
        return self.binop("*", self.const(-1), x)

    def sub(self, a, b):
        return self.binop("+", a, self.neg(b))

    def redirect(self, old_id, new):
        del self.all_nodes[old_id]
        for node in self.all_nodes.values():
            if node.kind == "bin":
                if node.lhs.id == old_id:
                    node.lhs = new
                if node.rhs.id == old_id:
                    node.rhs = new


def _tree(node):
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        if n.kind in ("bin", 4):  # 4: the fast builder's BINOP
            stack.append(n.rhs)
            stack.append(n.lhs)


def _degree(n):
    if n.kind == "b":
        return -1 if n.value == 0 else 0
    if n.kind == "in":
        return 1
    dl, dr = _degree(n.lhs), _degree(n.rhs)
    if n.op == "+":
        return max(dl, dr)
    return -1 if min(dl, dr) <= -1 else dl + dr


def _base(n):
    if n.kind == "in":
        return n.value[0] == "main"
    if n.kind == "b":
        return True
    return _base(n.lhs) and _base(n.rhs)


def r_lower(builder: RBuilder, roots: list[RNode], target: int, n_main: int, n_aux: int):
    main, aux = [], []
    while max(_degree(r) for r in roots) > target:
        nodes = [n for r in roots for n in _tree(r)]
        high = []
        for n in nodes:
            if _degree(n) > target and not any(_eq(n, h) for h in high):
                high.append(n)
        low = [n.id for h in high for n in _tree(h) if 1 < _degree(n) <= target]
        degree_of = {n.id: _degree(n) for h in high for n in _tree(h)}
        counts: dict[int, int] = {}
        for i in low:
            counts[i] = counts.get(i, 0) + 1
        best = max(counts.values())
        cands = [i for i, c in counts.items() if c == best]
        best_deg = max(degree_of[i] for i in cands)
        chosen_id = min(i for i in cands if degree_of[i] == best_deg)
        chosen = builder.all_nodes[chosen_id]
        if _base(chosen):
            var = builder.leaf("in", ("main", n_main + len(main)))
        else:
            var = builder.leaf("in", ("aux", n_aux + len(aux)))
        builder.redirect(chosen_id, var)
        roots[:] = [var if r.id == chosen_id else r for r in roots]
        new = builder.sub(var, chosen)
        (main if _base(new) else aux).append(new)
    return main, aux


def _shape(node) -> list:
    """Ids and structure of a circuit, children first."""
    out, seen = [], set()
    for n in reversed(list(_tree(node))):
        if n.id in seen:
            continue
        seen.add(n.id)
        if n.kind in ("bin", 4):  # 4: the fast builder's BINOP
            out.append((n.id, n.op, n.lhs.id, n.rhs.id))
        else:
            out.append((n.id,))
    return out


@pytest.mark.parametrize("seed", range(40))
def test_same_ids_and_lowering_as_literal_reference(seed):
    rng = random.Random(seed)
    fast, ref = CircuitBuilder(), RBuilder()
    pool_f, pool_r = [], []
    for i in range(4):
        pool_f.append(fast.input(SingleRow.main(i)))
        pool_r.append(ref.leaf("in", ("main", i)))
    pool_f.append(fast.input(SingleRow.aux(0)))
    pool_r.append(ref.leaf("in", ("aux", 0)))
    for _ in range(30):
        op = rng.choices(["+", "*", "-", "neg", "const"], weights=[3, 4, 2, 1, 1])[0]
        a, b = rng.randrange(len(pool_f)), rng.randrange(len(pool_f))
        if op == "const":
            v = rng.choice([0, 1, 2, P - 1, rng.randrange(P)])
            pool_f.append(fast.b_constant(v))
            pool_r.append(ref.const(v))
        elif op == "neg":
            pool_f.append(-pool_f[a])
            pool_r.append(ref.neg(pool_r[a]))
        elif op == "-":
            pool_f.append(pool_f[a] - pool_f[b])
            pool_r.append(ref.sub(pool_r[a], pool_r[b]))
        else:
            pool_f.append(pool_f[a] + pool_f[b] if op == "+" else pool_f[a] * pool_f[b])
            pool_r.append(ref.binop(op, pool_r[a], pool_r[b]))
        assert pool_f[-1].id == pool_r[-1].id
    assert fast.id_counter == ref.counter
    picks = rng.sample(range(len(pool_f) - 12, len(pool_f)), 5)
    roots_f = [pool_f[i] for i in picks]
    roots_r = [pool_r[i] for i in picks]
    if max(r.degree() for r in roots_f) <= 2:
        return
    main_f, aux_f = lower_to_degree(roots_f, 2, 10, 3)
    main_r, aux_r = r_lower(ref, roots_r, 2, 10, 3)
    assert [c.id for c in main_f] == [c.id for c in main_r]
    assert [c.id for c in aux_f] == [c.id for c in aux_r]
    assert [r.id for r in roots_f] == [r.id for r in roots_r]
    for f, r in zip(main_f + aux_f + roots_f, main_r + aux_r + roots_r, strict=True):
        assert _shape(f) == _shape(r)
