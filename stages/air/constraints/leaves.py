"""Short names for the circuit leaves every table's constraints create over and over."""

from __future__ import annotations

from tvmpd.stages.air.circuit import CircuitBuilder, DualRow, Node, SingleRow


def main(b: CircuitBuilder, col: int) -> Node:
    """Main column of a single-row constraint."""
    return b.input(SingleRow.main(col))


def aux(b: CircuitBuilder, col: int) -> Node:
    """Aux column of a single-row constraint."""
    return b.input(SingleRow.aux(col))


def curr_main(b: CircuitBuilder, col: int) -> Node:
    return b.input(DualRow.curr_main(col))


def next_main(b: CircuitBuilder, col: int) -> Node:
    return b.input(DualRow.next_main(col))


def curr_aux(b: CircuitBuilder, col: int) -> Node:
    return b.input(DualRow.curr_aux(col))


def next_aux(b: CircuitBuilder, col: int) -> Node:
    return b.input(DualRow.next_aux(col))


def const(b: CircuitBuilder, value: int) -> Node:
    return b.b_constant(value)


def xconst(b: CircuitBuilder, value: int) -> Node:
    """Extension-field constant with only a base coefficient (how the reference writes XFE 0 and 1)."""
    return b.x_constant((value, 0, 0))


def challenge(b: CircuitBuilder, cid: int) -> Node:
    return b.challenge(cid)
