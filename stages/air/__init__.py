"""The AIR of Triton VM v7.0.0: master-table widths, constraint circuits and their counts."""

from __future__ import annotations

NUM_MAIN_COLUMNS = 379  # 149 table columns + 230 degree-lowering columns
NUM_AUX_COLUMNS = 91  # 49 table columns + 41 degree-lowering columns + 1 randomizer column


def constraint_counts() -> dict[str, int]:
    """Constraints per category after degree lowering: initial, consistency, transition, terminal."""
    try:
        from tvmpd.stages.air.constraints import constraint_counts as _counts
    except ImportError as exc:  # the per-table constraint ports land in stages/air/constraints/
        raise RuntimeError(f"AIR constraints are not built yet: {exc}") from exc
    return _counts()
