"""The lowered AIR against the reference tables in vectors/tables: counts, degree-lowering columns
recomputed from the substitution rules, every constraint zero on honest tables, tampering detected."""

from __future__ import annotations

import json

import numpy as np
import pytest

import tvmpd.stages.air as air_package
from tvmpd.stages.air import evaluate as E
from tvmpd.stages.air.constraints import CATEGORIES, lowered_air

P = 2**64 - 2**32 + 1
NAMES = ("halt", "all_tables")


@pytest.fixture(scope="module", params=NAMES)
def tables(request, vectors):
    data = np.load(vectors / "tables" / f"{request.param}.npz")
    meta = json.loads((vectors / "tables" / f"{request.param}.meta.json").read_text())
    return request.param, data["main"], data["aux"], data["challenges"], meta


def test_counts():
    expected = {"initial": 81, "consistency": 97, "transition": 403, "terminal": 23}
    assert air_package.constraint_counts() == expected
    air = lowered_air()
    assert sum(len(v) for v in air.main_substitutions.values()) == 230
    assert sum(len(v) for v in air.aux_substitutions.values()) == 41
    assert [len(air.main_substitutions[c]) for c in CATEGORIES] == [2, 18, 210, 0]
    assert [len(air.aux_substitutions[c]) for c in CATEGORIES] == [0, 0, 41, 0]
    assert (air_package.NUM_MAIN_COLUMNS, air_package.NUM_AUX_COLUMNS) == (379, 91)
    for category in CATEGORIES:
        constraints = air.constraints[category]
        assert max(c.degree() for c in constraints) <= 4
        flags = [c.evaluates_to_base_element() for c in constraints]
        assert flags == sorted(flags, reverse=True)  # base-field constraints first


def test_degree_lowering_columns_match_reference(tables):
    _, main, aux, challenges, _ = tables
    filled = main.copy()
    filled[:, 149:] = 0
    E.fill_degree_lowering_main(filled)
    np.testing.assert_array_equal(filled, main)
    filled_aux = aux.copy()
    filled_aux[:, 49:90] = 0
    E.fill_degree_lowering_aux(main, filled_aux, challenges)
    np.testing.assert_array_equal(filled_aux, aux)


def test_all_constraints_vanish_on_honest_tables(tables):
    _, main, aux, challenges, _ = tables
    values = E.evaluate_on_trace(main, aux, challenges)
    for category, v in values.items():
        nonzero = np.nonzero(v.any(axis=(0, 2)))[0]
        assert nonzero.size == 0, f"{category} constraints {nonzero.tolist()} are not zero"


def _detected(main, aux, challenges, r) -> bool:
    n = main.shape[0]
    air = lowered_air()
    if r == 0 and E.evaluate_category("initial", main[:1], aux[:1], challenges, air=air).any():
        return True
    if r == n - 1 and E.evaluate_category("terminal", main[-1:], aux[-1:], challenges, air=air).any():
        return True
    if E.evaluate_category("consistency", main[r : r + 1], aux[r : r + 1], challenges, air=air).any():
        return True
    lo, hi = max(r - 1, 0), min(r, n - 2)
    cur, nxt = slice(lo, hi + 1), slice(lo + 1, hi + 2)
    return bool(
        E.evaluate_category("transition", main[cur], aux[cur], challenges, main[nxt], aux[nxt], air=air).any()
    )


def _constrained_cells(meta, n):
    """(row range, column range) pairs whose cells every honest-table constraint set pins down: the
    unpadded rows of each table, and the consistency / transition degree-lowering columns.  Padding
    rows of some tables, the initial-substitution columns outside row 0, the hash round constants of
    a permutation's last row and the program's lookup multiplicity in hash-input padding rows are free
    in the reference AIR too, so they are left out."""
    cells = []
    for table, (c0, c1) in meta["main_column_ranges"].items():
        height = meta["table_heights_unpadded"].get(table, 0)
        if table == "Program":
            cells += [((0, height), (0, 2)), ((0, height), (3, c1))]
        elif table == "Hash" and height > 0:
            cells.append(((0, height), (c0, 113)))
        elif height > 0:
            cells.append(((0, height), (c0, c1)))
    cells.append(((0, n), (151, 169)))
    cells.append(((0, n - 1), (169, 379)))
    return cells


def test_tampering_a_main_cell_is_detected(tables):
    name, main, aux, challenges, meta = tables
    rng = np.random.default_rng(2024 if name == "halt" else 4202)
    cells = _constrained_cells(meta, main.shape[0])
    for _ in range(6):
        (r0, r1), (c0, c1) = cells[int(rng.integers(len(cells)))]
        r, c = int(rng.integers(r0, r1)), int(rng.integers(c0, c1))
        tampered = main.copy()
        tampered[r, c] = (int(main[r, c]) + int(rng.integers(1, P, dtype=np.uint64))) % P
        assert _detected(tampered, aux, challenges, r), f"tampered cell ({r}, {c}) not detected"


def test_cache_matches_fresh_lowering():
    from tvmpd.stages.air.constraints import load_cache, lower, to_json

    cached = load_cache()
    assert cached is not None, "stale or missing cache: run python3 tools/gen_kernels.py --air"
    assert to_json(cached) == to_json(lower())
