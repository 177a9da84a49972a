"""Constraint circuits (hash-consed DAGs) and degree lowering, mirroring upstream `triton-constraint-circuit`.

Node ids, simplifications and degree-lowering tie-breaks follow the reference exactly, so the
substitution columns come out identical.  API (keep ports mechanical: every builder call in the same
order as the Rust code, since the order decides the node ids):

    b = CircuitBuilder()
    b.input(SingleRow.main(i)), b.input(SingleRow.aux(i))            # init / consistency / terminal
    b.input(DualRow.curr_main(i)), DualRow.next_main(i), DualRow.curr_aux(i), DualRow.next_aux(i)
    b.challenge(ChallengeId.X)          # any int
    b.b_constant(int), b.x_constant((c0, c1, c2)), b.zero(), b.one(), b.minus_one()
    x + y, x - y (= x + (-1)*y), x * y, -x (= (-1)*x)   # operands must be nodes of the same builder
    circuit_sum(iterable)               # left fold with +, like upstream `Sum` (empty -> ValueError)
    node.degree(), node.evaluates_to_base_element(), node.id
    lower_to_degree(roots, target_degree, num_main_cols, num_aux_cols) -> (main_subs, aux_subs)

Plain Python ints are refused as operands on purpose: `2 * x` would create the constant after `x`,
whereas upstream's `constant(2) * x` creates it first, which changes node ids.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from tvmpd.stages.xfield import add_int, mul_int

P = 2**64 - 2**32 + 1

BCONST, XCONST, INPUT, CHALLENGE, BINOP = range(5)
ADD, MUL = "+", "*"


@dataclass(frozen=True, slots=True)
class SingleRow:
    """Variable of a single-row constraint (initial, consistency, terminal): a main or aux column."""

    is_main: bool
    col: int

    @staticmethod
    def main(i: int) -> SingleRow:
        return SingleRow(True, int(i))

    @staticmethod
    def aux(i: int) -> SingleRow:
        return SingleRow(False, int(i))

    is_current = True

    def __str__(self) -> str:
        return f"{'main' if self.is_main else 'aux'}_row[{self.col}]"


@dataclass(frozen=True, slots=True)
class DualRow:
    """Variable of a transition constraint: main or aux column of the current or the next row."""

    is_main: bool
    is_next: bool
    col: int

    @staticmethod
    def curr_main(i: int) -> DualRow:
        return DualRow(True, False, int(i))

    @staticmethod
    def next_main(i: int) -> DualRow:
        return DualRow(True, True, int(i))

    @staticmethod
    def curr_aux(i: int) -> DualRow:
        return DualRow(False, False, int(i))

    @staticmethod
    def next_aux(i: int) -> DualRow:
        return DualRow(False, True, int(i))

    @property
    def is_current(self) -> bool:
        return not self.is_next

    def __str__(self) -> str:
        row = "next" if self.is_next else "current"
        return f"{row}_{'main' if self.is_main else 'aux'}_row[{self.col}]"


class Node:
    """One circuit node; also the handle used to build larger circuits with + - * and unary -."""

    __slots__ = ("id", "kind", "value", "op", "lhs", "rhs", "builder", "__weakref__")

    def __init__(self, builder: CircuitBuilder, nid: int, kind: int, value=None, op=None, lhs=None, rhs=None):
        self.builder = builder
        self.id = nid
        self.kind = kind
        self.value = value
        self.op = op
        self.lhs = lhs
        self.rhs = rhs

    # ---- arithmetic -------------------------------------------------------------------------
    def _check(self, other: object) -> Node:
        if not isinstance(other, Node):
            raise TypeError("circuit operands must be circuit nodes (use b.b_constant(k) for constants)")
        if other.builder is not self.builder:
            raise ValueError("circuit operands come from different builders")
        return other

    def __add__(self, other: Node) -> Node:
        return self.builder._binop(ADD, self, self._check(other))

    def __mul__(self, other: Node) -> Node:
        return self.builder._binop(MUL, self, self._check(other))

    def __sub__(self, other: Node) -> Node:
        other = self._check(other)
        return self.builder._binop(ADD, self, -other)

    def __neg__(self) -> Node:
        return self.builder._binop(MUL, self.builder.minus_one(), self)

    # ---- facts ------------------------------------------------------------------------------
    def is_zero(self) -> bool:
        return (self.kind == BCONST and self.value == 0) or (self.kind == XCONST and self.value == (0, 0, 0))

    def is_one(self) -> bool:
        return (self.kind == BCONST and self.value == 1) or (self.kind == XCONST and self.value == (1, 0, 0))

    def degree(self) -> int:
        """Degree of the polynomial this node represents (-1 for the constant zero), as upstream."""
        return _degrees([self])[self.id]

    def evaluates_to_base_element(self) -> bool:
        """True iff only main-table inputs and base-field constants occur below this node."""
        return _base_flags([self])[self.id]

    def is_binop(self) -> bool:
        return self.kind == BINOP

    def __repr__(self) -> str:
        return f"Node(id={self.id}, {self})"

    def __str__(self) -> str:
        if self.kind == BINOP:
            return f"({self.lhs}) {self.op} ({self.rhs})"
        if self.kind == INPUT:
            return str(self.value)
        if self.kind == CHALLENGE:
            return f"ch[{self.value}]"
        return str(self.value)


def _postorder(roots: Iterable[Node]) -> list[Node]:
    """Distinct nodes below the roots, children before parents (iterative, no recursion limit)."""
    seen: set[int] = set()
    order: list[Node] = []
    for root in roots:
        if id(root) in seen:
            continue
        stack = [(root, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                order.append(node)
                continue
            if id(node) in seen:
                continue
            seen.add(id(node))
            stack.append((node, True))
            if node.kind == BINOP:
                if id(node.rhs) not in seen:
                    stack.append((node.rhs, False))
                if id(node.lhs) not in seen:
                    stack.append((node.lhs, False))
    return order


def _degrees(roots: Iterable[Node]) -> dict[int, int]:
    deg: dict[int, int] = {}
    for n in _postorder(roots):
        if n.kind == BINOP:
            dl, dr = deg[n.lhs.id], deg[n.rhs.id]
            if n.op == ADD:
                deg[n.id] = max(dl, dr)
            else:
                deg[n.id] = -1 if min(dl, dr) <= -1 else dl + dr
        elif n.kind == INPUT:
            deg[n.id] = 1
        else:
            deg[n.id] = -1 if n.is_zero() else 0
    return deg


def _base_flags(roots: Iterable[Node]) -> dict[int, bool]:
    flag: dict[int, bool] = {}
    for n in _postorder(roots):
        if n.kind == BINOP:
            flag[n.id] = flag[n.lhs.id] and flag[n.rhs.id]
        elif n.kind == INPUT:
            flag[n.id] = n.value.is_main
        else:
            flag[n.id] = n.kind == BCONST
    return flag


class CircuitBuilder:
    """Creates nodes with unique ids; equal structures are returned as the same node (hash-consing)."""

    def __init__(self) -> None:
        self.id_counter = 0
        self.all_nodes: dict[int, Node] = {}
        # structural key -> node; binop keys use child ids, which is equivalent to upstream's deep
        # structural comparison because every structure exists at most once among the live nodes
        self._index: dict[tuple, Node] = {}
        # child id -> binop nodes that had it as a child (may contain stale entries; filtered on use)
        self._parents: dict[int, list[Node]] = {}
        self.indicator_type: type | None = None

    # ---- leaves -----------------------------------------------------------------------------
    def zero(self) -> Node:
        return self.b_constant(0)

    def one(self) -> Node:
        return self.b_constant(1)

    def minus_one(self) -> Node:
        return self.b_constant(-1)

    def b_constant(self, value: int) -> Node:
        """Base-field constant (any int, reduced mod p)."""
        return self._make_leaf(BCONST, int(value) % P)

    def x_constant(self, value) -> Node:
        """Extension-field constant (c0, c1, c2); stored as a base constant when c1 = c2 = 0."""
        coeffs = tuple(int(c) % P for c in value)
        if len(coeffs) != 3:
            raise ValueError("an extension-field constant has 3 coefficients")
        return self._make_leaf(XCONST, coeffs)

    def input(self, indicator: SingleRow | DualRow) -> Node:
        if not isinstance(indicator, (SingleRow, DualRow)):
            raise ValueError("input indicator must be a SingleRow or DualRow")
        if self.indicator_type is None:
            self.indicator_type = type(indicator)
        elif self.indicator_type is not type(indicator):
            raise ValueError("a builder takes either single-row or dual-row inputs, not both")
        return self._make_leaf(INPUT, indicator)

    def challenge(self, challenge_id: int) -> Node:
        return self._make_leaf(CHALLENGE, int(challenge_id))

    def _make_leaf(self, kind: int, value) -> Node:
        if kind == XCONST and value[1] == 0 and value[2] == 0:
            kind, value = BCONST, value[0]
        key = (kind, value)
        found = self._index.get(key)
        if found is not None:
            return found
        node = Node(self, self.id_counter, kind, value)
        self.all_nodes[node.id] = node
        self._index[key] = node
        self.id_counter += 1
        return node

    # ---- binary operations ------------------------------------------------------------------
    def _binop(self, op: str, lhs: Node, rhs: Node) -> Node:
        if op == ADD:
            if rhs.is_zero():
                return lhs
            if lhs.is_zero():
                return rhs
        else:
            if rhs.is_one():
                return lhs
            if lhs.is_one():
                return rhs
            if rhs.is_zero():
                return rhs
            if lhs.is_zero():
                return lhs

        lk, rk = lhs.kind, rhs.kind
        if lk in (BCONST, XCONST) and rk in (BCONST, XCONST):
            if lk == BCONST and rk == BCONST:
                val = (lhs.value + rhs.value) % P if op == ADD else (lhs.value * rhs.value) % P
                return self.b_constant(val)
            lv = (lhs.value, 0, 0) if lk == BCONST else lhs.value
            rv = (rhs.value, 0, 0) if rk == BCONST else rhs.value
            return self.x_constant(add_int(lv, rv) if op == ADD else mul_int(lv, rv))

        # commutative: the swapped order is searched first, as upstream does
        found = self._index.get((op, rhs.id, lhs.id))
        if found is None:
            found = self._index.get((op, lhs.id, rhs.id))
        if found is not None:
            return found
        node = Node(self, self.id_counter, BINOP, op=op, lhs=lhs, rhs=rhs)
        self.all_nodes[node.id] = node
        self._index[(op, lhs.id, rhs.id)] = node
        self._parents.setdefault(lhs.id, []).append(node)
        if rhs is not lhs:
            self._parents.setdefault(rhs.id, []).append(node)
        self.id_counter += 1
        return node

    # ---- substitution -----------------------------------------------------------------------
    def redirect_all_references_to_node(self, old_id: int, new: Node) -> None:
        """Forget node `old_id` and let every live node that pointed to it point to `new` instead."""
        old = self.all_nodes.pop(old_id)
        key = (old.op, old.lhs.id, old.rhs.id) if old.kind == BINOP else (old.kind, old.value)
        if self._index.get(key) is old:
            del self._index[key]
        for parent in self._parents.pop(old_id, []):
            if self.all_nodes.get(parent.id) is not parent:
                continue
            if parent.lhs.id != old_id and parent.rhs.id != old_id:
                continue
            pkey = (parent.op, parent.lhs.id, parent.rhs.id)
            if self._index.get(pkey) is parent:
                del self._index[pkey]
            if parent.lhs.id == old_id:
                parent.lhs = new
            if parent.rhs.id == old_id:
                parent.rhs = new
            self._parents.setdefault(new.id, []).append(parent)
            self._index.setdefault((parent.op, parent.lhs.id, parent.rhs.id), parent)


def circuit_sum(terms: Iterable[Node]) -> Node:
    """Left fold with +, as upstream's `Sum` for circuits; an empty input is an error."""
    acc = None
    for t in terms:
        acc = t if acc is None else acc + t
    if acc is None:
        raise ValueError("circuit_sum of an empty sequence")
    return acc


def multicircuit_degree(roots: list[Node]) -> int:
    """Maximal degree of the given circuits (-1 if there are none)."""
    if not roots:
        return -1
    deg = _degrees(roots)
    return max(deg[r.id] for r in roots)


def pick_node_to_substitute(roots: list[Node], target_degree: int) -> int:
    """Id of the node to replace by a fresh column: most occurrences below over-degree nodes, then
    highest degree, then smallest id (occurrences count every path, as upstream's tree walk does)."""
    order = _postorder(roots)
    deg = _degrees(roots)
    high = [n for n in order if deg[n.id] > target_degree]
    # occurrences of n = sum over distinct high nodes h of the number of paths h -> n
    count: dict[int, int] = {n.id: 1 for n in high}
    for n in reversed(_postorder(high)):  # parents before children
        c = count.get(n.id, 0)
        if c and n.kind == BINOP:
            count[n.lhs.id] = count.get(n.lhs.id, 0) + c
            count[n.rhs.id] = count.get(n.rhs.id, 0) + c
    candidates = [(nid, c) for nid, c in count.items() if 1 < deg[nid] <= target_degree]
    if not candidates:
        raise ValueError("Cannot lower degree.")
    best = max(c for _, c in candidates)
    candidates = [nid for nid, c in candidates if c == best]
    best_deg = max(deg[nid] for nid in candidates)
    return min(nid for nid in candidates if deg[nid] == best_deg)


def apply_substitution(
    roots: list[Node], chosen_id: int, num_main_cols: int, num_aux_cols: int, n_main_new: int, n_aux_new: int
) -> Node:
    """Replace node `chosen_id` by a new column variable everywhere; return `new_variable - node`."""
    builder = roots[0].builder
    chosen = builder.all_nodes[chosen_id]
    itype = builder.indicator_type
    if chosen.evaluates_to_base_element():
        col = num_main_cols + n_main_new
        ind = SingleRow.main(col) if itype is SingleRow else DualRow.curr_main(col)
    else:
        col = num_aux_cols + n_aux_new
        ind = SingleRow.aux(col) if itype is SingleRow else DualRow.curr_aux(col)
    new_variable = builder.input(ind)
    builder.redirect_all_references_to_node(chosen_id, new_variable)
    for i, r in enumerate(roots):
        if r.id == chosen_id:
            roots[i] = new_variable
    return new_variable - chosen


def lower_to_degree(
    roots: list[Node], target_degree: int, num_main_cols: int, num_aux_cols: int
) -> tuple[list[Node], list[Node]]:
    """Lower all circuits (in place) to `target_degree` with fresh columns; return the new constraints
    `v - node` split into (main, aux) in substitution order."""
    if target_degree <= 1:
        raise ValueError(f"Target degree must be greater than 1. Got {target_degree}.")
    main_constraints: list[Node] = []
    aux_constraints: list[Node] = []
    if not roots:
        return main_constraints, aux_constraints
    while multicircuit_degree(roots) > target_degree:
        chosen_id = pick_node_to_substitute(roots, target_degree)
        new = apply_substitution(
            roots, chosen_id, num_main_cols, num_aux_cols, len(main_constraints), len(aux_constraints)
        )
        if new.evaluates_to_base_element():
            main_constraints.append(new)
        else:
            aux_constraints.append(new)
    return main_constraints, aux_constraints
