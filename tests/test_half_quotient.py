"""The quotient on half its domain (stages/half_quotient.py): which constraints are high for v7.0.0, from
which padded height on the split applies, and the device's recombination of the two codewords giving the
segments of the whole-domain interpolation. Whole proofs through it: tests/test_prover_keep.py."""

from __future__ import annotations

import numpy as np

from tvmpd.stages import field, ntt
from tvmpd.stages.air import codegen
from tvmpd.stages.air.circuit import INPUT, _degrees, _postorder
from tvmpd.stages.air.constraints import CATEGORIES, lowered_air
from tvmpd.stages.domains import FRI_OFFSET, derive
from tvmpd.stages.half_quotient import column_runs, half_quotient, zerofier_degrees


def _plan(log2: int):
    air = lowered_air()
    return half_quotient(air, derive(1 << log2), codegen.constraint_kernel_ranges(air))


def test_v7_high_constraints_are_the_degree_4_initial_and_terminal_ones():
    """At 2^21 exactly the three degree-4 initial constraints and the one degree-4 terminal constraint
    reach the upper half; they sit in the first and the last constraint kernel and read 32 main columns
    and one aux column."""
    air = lowered_air()
    counts = air.counts()
    plan = _plan(21)
    initial = [i for i, c in enumerate(air.constraints["initial"]) if _degrees([c])[c.id] == 4]
    first_terminal = sum(counts[c] for c in CATEGORIES[:3])
    terminal = [first_terminal + i for i, c in enumerate(air.constraints["terminal"])
                if _degrees([c])[c.id] == 4]
    assert plan.high == tuple(initial + terminal) and len(plan.high) == 4
    # the high constraints have constraint kernels of their own: the odd cosets run nothing else
    ranges = codegen.constraint_kernel_ranges(air)
    assert plan.kernels == (0, len(ranges) - 2)
    assert sorted(i for k in plan.kernels for i in ranges[k]) == list(plan.high)
    assert sorted(i for r in ranges for i in r) == list(range(sum(counts.values())))  # each once
    assert len(plan.main_columns) == 32 and plan.aux_columns == (45,)
    # single-row constraints: a coset's own values are all they read
    flat = [c for cat in CATEGORIES for c in air.constraints[cat]]
    inputs = [n.value for n in _postorder([flat[i] for i in plan.high]) if n.kind == INPUT]
    assert inputs and not any(getattr(v, "is_next", False) for v in inputs)
    assert _plan(22) == _plan(21) == _plan(10)


def test_the_split_needs_padded_height_above_four_times_the_randomizers():
    """Degree-4 transition constraints have quotients of degree 3h + 4r - 3 (r = 98 randomizers): below half
    the domain (4h) from h = 512 on; at 256 they are high too, and no split is made."""
    assert _plan(8) is None
    assert _plan(9) is not None
    d = derive(512)
    degree = d.trace.length + d.num_trace_randomizers - 1
    assert 4 * degree - zerofier_degrees(512)["transition"] < d.quotient.length // 2 <= 4 * degree - 1


def test_column_runs():
    assert column_runs((5, 1, 2, 3, 9, 10, 3)) == [(1, 4), (5, 6), (9, 11)]
    assert column_runs(()) == []


def test_half_domain_and_high_codewords_give_the_whole_quotients_segments(rt):
    """A random quotient Q = Q_low + Q_high (deg Q_low < n/2 <= deg Q_high < n): its segments from its values
    on the half domain and Q_high's on the whole one equal those from Q's values on the whole domain."""
    from tvmpd.opencl import device_tables as dev

    n, rng = 1 << 10, np.random.default_rng(7)
    low = np.zeros((n, 3), dtype=np.uint64)
    low[: n // 2] = rng.integers(0, field.P, (n // 2, 3), dtype=np.uint64)
    high = np.zeros((n, 3), dtype=np.uint64)
    high[: n // 2 + 40] = rng.integers(0, field.P, (n // 2 + 40, 3), dtype=np.uint64)
    whole = ntt.coset_evaluate(field.add(low, high), FRI_OFFSET, n)  # (n, 3)
    high_values = ntt.coset_evaluate(high, FRI_OFFSET, n)

    def columns(values: np.ndarray):  # (rows, 3) -> a 3 x rows column-major device buffer
        return rt.to_device(np.ascontiguousarray(values.T))

    expected = dev.quotient_segment_coefficients(rt, columns(whole), n, FRI_OFFSET)
    got = dev.quotient_segments_from_half(rt, columns(whole[::2]), columns(high_values), n, FRI_OFFSET)
    want = rt.from_device(expected, (12, n // 4))
    np.testing.assert_array_equal(rt.from_device(got, (12, n // 4)), want)
    # and those segments are Q's: segment k holds Q's coefficients k, k + 4, ...
    q = field.add(low, high)
    np.testing.assert_array_equal(want.reshape(4, 3, n // 4).transpose(0, 2, 1),
                                  q.reshape(n // 4, 4, 3).transpose(1, 0, 2))
