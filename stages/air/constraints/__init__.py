"""All AIR constraints of Triton VM v7.0.0, assembled and degree-lowered as upstream
`triton-constraint-builder` does it: one circuit builder per category, tables in master-table order,
then the grand cross-table argument; lowering to degree 4 category by category (initial, consistency,
transition, terminal), main substitution columns from 149 and aux ones from 49 on; finally each
category's list [lowered constraints, main substitutions, aux substitutions] is stably partitioned with
base-field constraints first, which is the order the quotient weights apply to.
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass

from stages.air.circuit import CircuitBuilder, Node, lower_to_degree

CATEGORIES = ("initial", "consistency", "transition", "terminal")
TABLE_MODULES = (
    "program",
    "processor",
    "op_stack",
    "ram",
    "jump_stack",
    "hash",
    "cascade",
    "lookup",
    "u32",
    "cross_table",
)
TARGET_DEGREE = 4
NUM_MAIN_TABLE_COLUMNS = 149
NUM_AUX_TABLE_COLUMNS = 49


def _module(name: str):
    try:
        return importlib.import_module(f"stages.air.constraints.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"stages.air.constraints.{name}":
            raise RuntimeError(f"AIR constraints of table module '{name}' are not built yet") from exc
        raise


def build_category(category: str, tables: tuple[str, ...] = TABLE_MODULES) -> list[Node]:
    """The unlowered constraints of one category, all tables in master-table order on one fresh builder."""
    if category not in CATEGORIES:
        raise ValueError(f"unknown constraint category {category!r}")
    builder = CircuitBuilder()
    roots: list[Node] = []
    for name in tables:
        roots.extend(getattr(_module(name), f"{category}_constraints")(builder))
    return roots


@dataclass
class LoweredAir:
    """Degree-lowered constraints per category (final quotient order) and the substitution rules
    `v - expr` per category, main and aux, in column order."""

    constraints: dict[str, list[Node]]
    main_substitutions: dict[str, list[Node]]
    aux_substitutions: dict[str, list[Node]]

    def counts(self) -> dict[str, int]:
        return {c: len(self.constraints[c]) for c in CATEGORIES}


def lower(tables: tuple[str, ...] = TABLE_MODULES) -> LoweredAir:
    """Build all categories and lower them to TARGET_DEGREE exactly like the reference."""
    num_main, num_aux = NUM_MAIN_TABLE_COLUMNS, NUM_AUX_TABLE_COLUMNS
    constraints, main_subs, aux_subs = {}, {}, {}
    for category in CATEGORIES:
        roots = build_category(category, tables)
        main, aux = lower_to_degree(roots, TARGET_DEGREE, num_main, num_aux)
        num_main += len(main)
        num_aux += len(aux)
        combined = roots + main + aux
        base = [c for c in combined if c.evaluates_to_base_element()]
        ext = [c for c in combined if not c.evaluates_to_base_element()]
        constraints[category] = base + ext
        main_subs[category] = main
        aux_subs[category] = aux
    return LoweredAir(constraints, main_subs, aux_subs)


@functools.cache
def lowered_air() -> LoweredAir:
    """The full lowered AIR (computed once per process)."""
    return lower()


def constraint_counts() -> dict[str, int]:
    """Constraints per category after degree lowering."""
    return lowered_air().counts()
