"""Per-table constraint ports: counts per category as in the reference, and the lowering of the
tables that need no processor/hash columns."""

from __future__ import annotations

import importlib

import pytest

from tvmpd.stages.air.circuit import CircuitBuilder

# (init, cons, tran, term) before degree lowering, from the reference's arithmetization overview
COUNTS = {
    "program": (6, 5, 10, 2),
    "processor": (29, 10, 42, 1),
    "op_stack": (3, 1, 5, 0),
    "ram": (7, 1, 12, 1),
    "jump_stack": (6, 0, 6, 0),
    "hash": (22, 45, 48, 2),
    "cascade": (2, 1, 3, 0),
    "lookup": (3, 1, 4, 1),
    "u32": (1, 15, 22, 2),
    "cross_table": (0, 0, 0, 14),
}
MAX_DEGREE = {"program": 4, "op_stack": 4, "ram": 5, "jump_stack": 5, "cascade": 4, "lookup": 3, "u32": 12}


def _module(name):
    try:
        return importlib.import_module(f"tvmpd.stages.air.constraints.{name}")
    except ModuleNotFoundError:
        pytest.skip(f"constraints of {name} not ported yet")


@pytest.mark.parametrize("name", sorted(COUNTS))
def test_counts(name):
    mod = _module(name)
    got = tuple(
        len(getattr(mod, f"{c}_constraints")(CircuitBuilder()))
        for c in ("initial", "consistency", "transition", "terminal")
    )
    assert got == COUNTS[name]


@pytest.mark.parametrize("name", sorted(MAX_DEGREE))
def test_max_degree(name):
    mod = _module(name)
    degs = []
    for c in ("initial", "consistency", "transition", "terminal"):
        degs += [r.degree() for r in getattr(mod, f"{c}_constraints")(CircuitBuilder())]
    assert max(degs) == MAX_DEGREE[name]
