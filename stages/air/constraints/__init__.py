"""All AIR constraints of Triton VM v7.0.0, assembled and degree-lowered as upstream
`triton-constraint-builder` does it: one circuit builder per category, tables in master-table order,
then the grand cross-table argument; lowering to degree 4 category by category (initial, consistency,
transition, terminal), main substitution columns from 149 and aux ones from 49 on; finally each
category's list [lowered constraints, main substitutions, aux substitutions] is stably partitioned with
base-field constraints first, which is the order the quotient weights apply to.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import json
from dataclasses import dataclass
from pathlib import Path

from tvmpd.stages.air.circuit import (
    BCONST,
    BINOP,
    CHALLENGE,
    INPUT,
    XCONST,
    CircuitBuilder,
    DualRow,
    Node,
    SingleRow,
    _postorder,
    lower_to_degree,
)

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
        return importlib.import_module(f"tvmpd.stages.air.constraints.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"tvmpd.stages.air.constraints.{name}":
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


CACHE_PATH = Path(__file__).resolve().parents[1] / "generated" / "lowered_air.json"


def source_digest() -> str:
    """SHA-256 over the circuit builder and every constraint module: a cache made from other sources
    is stale."""
    h = hashlib.sha256()
    here = Path(__file__).resolve().parent
    for path in [here.parent / "circuit.py"] + sorted(here.glob("*.py")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def to_json(air: LoweredAir) -> dict:
    """Plain-data form of a lowered AIR: per category the reachable nodes (children first) and the
    ids of constraints and substitution rules."""
    out = {}
    for category in CATEGORIES:
        roots = air.constraints[category] + air.main_substitutions[category] + air.aux_substitutions[category]
        nodes = []
        for n in _postorder(roots):
            if n.kind == BINOP:
                nodes.append([n.id, BINOP, n.op, n.lhs.id, n.rhs.id])
            elif n.kind == INPUT:
                nodes.append(
                    [n.id, INPUT, int(n.value.is_main), int(getattr(n.value, "is_next", False)), n.value.col]
                )
            elif n.kind == XCONST:
                nodes.append([n.id, XCONST, list(n.value)])
            else:
                nodes.append([n.id, n.kind, n.value])
        out[category] = {
            "nodes": nodes,
            "constraints": [c.id for c in air.constraints[category]],
            "main_substitutions": [c.id for c in air.main_substitutions[category]],
            "aux_substitutions": [c.id for c in air.aux_substitutions[category]],
        }
    return out


def from_json(data: dict) -> LoweredAir:
    """Rebuild a lowered AIR (builder-less nodes) from `to_json` output."""
    constraints, main_subs, aux_subs = {}, {}, {}
    for category in CATEGORIES:
        cat = data[category]
        nodes: dict[int, Node] = {}
        for rec in cat["nodes"]:
            nid, kind = rec[0], rec[1]
            if kind == BINOP:
                nodes[nid] = Node(None, nid, BINOP, op=rec[2], lhs=nodes[rec[3]], rhs=nodes[rec[4]])
            elif kind == INPUT:
                is_main, is_next, col = bool(rec[2]), bool(rec[3]), rec[4]
                ind = DualRow(is_main, is_next, col) if category == "transition" else SingleRow(is_main, col)
                nodes[nid] = Node(None, nid, INPUT, ind)
            elif kind == XCONST:
                nodes[nid] = Node(None, nid, XCONST, tuple(rec[2]))
            elif kind in (BCONST, CHALLENGE):
                nodes[nid] = Node(None, nid, kind, rec[2])
            else:
                raise ValueError(f"unknown node kind {kind} in lowered-AIR data")
        constraints[category] = [nodes[i] for i in cat["constraints"]]
        main_subs[category] = [nodes[i] for i in cat["main_substitutions"]]
        aux_subs[category] = [nodes[i] for i in cat["aux_substitutions"]]
    return LoweredAir(constraints, main_subs, aux_subs)


def write_cache(air: LoweredAir, path: Path = CACHE_PATH) -> None:
    """Store a lowered AIR with the digest of the sources it came from (generated file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "generated_by": "tools/gen_kernels.py --air -- do not edit",
        "source_digest": source_digest(),
        "air": to_json(air),
    }
    path.write_text(json.dumps(doc, separators=(",", ":")))


def load_cache(path: Path = CACHE_PATH) -> LoweredAir | None:
    """The cached lowered AIR, or None if absent or made from different sources."""
    if not path.is_file():
        return None
    doc = json.loads(path.read_text())
    if doc.get("source_digest") != source_digest():
        return None
    return from_json(doc["air"])


@functools.cache
def lowered_air() -> LoweredAir:
    """The full lowered AIR: from the generated cache when it matches the sources, else computed."""
    cached = load_cache()
    return cached if cached is not None else lower()


def constraint_counts() -> dict[str, int]:
    """Constraints per category after degree lowering."""
    return lowered_air().counts()
