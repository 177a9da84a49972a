"""Which constraints need the whole quotient domain, and which half of it is enough for.

The quotient domain has 4L points (L: the randomized trace length, the interpolants' degree bound), but the
interpolants have degree h + r - 1 (h: padded height, r: trace randomizers), well below L. A constraint of
circuit degree k over a zerofier of degree z has a quotient of degree k (h + r - 1) - z: at most 3h + 4r - 3
for consistency and transition constraints (z = h, h - 1) and for initial and terminal ones of degree 3 or
less, which is below 2L = 4h whenever h > 4r - 3. Only the degree-4 initial and terminal constraints (z = 1)
reach above, by 4r - 4 coefficients. So the quotient's part below those "high" constraints is fixed by its
values on half the domain (the even cosets), and the high constraints, few and reading few columns, are
evaluated on every coset: the device backend combines the two into exactly the polynomial the reference
interpolates from the whole domain (opencl/device_tables.py quotient_segments_from_half).
"""

from __future__ import annotations

from dataclasses import dataclass

from tvmpd.stages.air.circuit import INPUT, _degrees, _postorder
from tvmpd.stages.air.constraints import CATEGORIES
from tvmpd.stages.domains import ProverDomains


@dataclass(frozen=True)
class HalfQuotient:
    """The high constraints of a proof: quotient-order indices, the constraint kernels (launch order) that
    evaluate them, and the main and aux columns they read."""

    high: tuple[int, ...]
    kernels: tuple[int, ...]
    main_columns: tuple[int, ...]
    aux_columns: tuple[int, ...]

    @property
    def aux_base_columns(self) -> list[int]:
        """The aux columns as base columns of a device table (column 3a + j: component j of aux column a)."""
        return [3 * a + j for a in self.aux_columns for j in range(3)]


def zerofier_degrees(h: int) -> dict[str, int]:
    """Degree of each category's zerofier on a trace domain of h rows."""
    return {"initial": 1, "consistency": h, "transition": h - 1, "terminal": 1}


def half_quotient(air, d: ProverDomains, kernel_ranges: list[tuple[int, ...]]) -> HalfQuotient | None:
    """The high constraints of `air` (a LoweredAir) on domains d, whose quotients have degree at least half
    the quotient domain's length; None when any of them is a consistency or transition constraint (they
    read the next row and many columns: evaluating them everywhere would save nothing). kernel_ranges:
    the quotient-order indices each constraint kernel evaluates (stages/air/codegen.py)."""
    h = d.trace.length
    degree = h + d.num_trace_randomizers - 1  # of every randomized interpolant
    zerofier = zerofier_degrees(h)
    high, roots, index = [], [], 0
    for category in CATEGORIES:
        constraints = air.constraints[category]
        circuit = _degrees(constraints)
        for c in constraints:
            if circuit[c.id] * degree - zerofier[category] >= d.quotient.length // 2:
                if category not in ("initial", "terminal"):
                    return None
                high.append(index)
                roots.append(c)
            index += 1
    inputs = [n.value for n in _postorder(roots) if n.kind == INPUT]
    kernels = tuple(k for k, r in enumerate(kernel_ranges) if any(i in r for i in high))
    return HalfQuotient(tuple(high), kernels, tuple(sorted({int(v.col) for v in inputs if v.is_main})),
                        tuple(sorted({int(v.col) for v in inputs if not v.is_main})))


def column_runs(columns: tuple[int, ...] | list[int]) -> list[tuple[int, int]]:
    """Sorted distinct columns as runs [start, end) of consecutive ones."""
    runs: list[tuple[int, int]] = []
    for c in sorted(set(columns)):
        if runs and runs[-1][1] == c:
            runs[-1] = (runs[-1][0], c + 1)
        else:
            runs.append((c, c + 1))
    return runs
