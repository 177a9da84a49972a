"""Main-table fill against the reference's master main tables (columns 0..149).

The VM-independent test rebuilds an AET (per the team contract) from the reference tables themselves, in
recorded (unsorted) order, and checks that filling, sorting and padding reproduce the tables exactly.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from tvmpd.stages import field as F
from tvmpd.stages.air import columns as C
from tvmpd.stages.air.fill import bezout_coefficients, fill_main_table


def _block(main, name):
    start = C.MAIN_TABLE_START[name]
    return main[:, start : start + len(C.MAIN_ENUMS[name])]


def _recorded_order(rows, clk_col):
    """Rows in execution order (by clock, ties keep table order), as an AET would list them."""
    return rows[np.lexsort((np.arange(rows.shape[0]), rows[:, clk_col]))]


def aet_from_reference(main, heights):
    proc = _block(main, "Processor")[: heights["Processor"]].copy()
    proc[:, -1] = 0
    op = _block(main, "OpStack")[: heights["OpStack"]]
    ram = _block(main, "Ram")[: heights["Ram"], :4]
    prog = _block(main, "Program")
    num_words = int(np.argmax(prog[:, 5] == 1))
    hash_t = _block(main, "Hash")[: heights["Hash"]]
    limbs = hash_t[:, 3:19].reshape(-1, 4, 4)
    raw = (
        (limbs[:, :, 0] << np.uint64(48))
        | (limbs[:, :, 1] << np.uint64(32))
        | (limbs[:, :, 2] << np.uint64(16))
        | limbs[:, :, 3]
    )
    trace = np.concatenate([hash_t[:, 1:3], F.from_montgomery(raw), hash_t[:, 35:47]], axis=1)
    mode = hash_t[:, 0]
    casc = _block(main, "Cascade")[: heights["Cascade"]]
    u32 = _block(main, "U32")[: heights["U32"]]
    first = u32[:, 0] == 1
    return SimpleNamespace(
        padded_height=main.shape[0],
        table_heights=heights,
        processor_trace=proc,
        op_stack_underflow_trace=_recorded_order(op, 0),
        ram_trace=_recorded_order(ram, 0),
        program_words=prog[:num_words, 1],
        instruction_multiplicities=prog[:num_words, 2],
        program_hash_trace=trace[mode == 1],
        sponge_trace=trace[mode == 2],
        hash_trace=trace[mode == 3],
        cascade_limbs=casc[:, 1] * np.uint64(256) + casc[:, 2],
        cascade_multiplicities=casc[:, 5],
        lookup_multiplicities=_block(main, "Lookup")[:256, 3],
        u32_entries=np.stack([u32[first, 3], u32[first, 4], u32[first, 6], u32[first, 9]], axis=1),
    )


@pytest.mark.parametrize("name", ["halt", "all_tables"])
def test_fill_from_reference_aet(vectors, name):
    npz = np.load(vectors / "tables" / f"{name}.npz")
    meta = json.loads((vectors / "tables" / f"{name}.meta.json").read_text())
    main = fill_main_table(aet_from_reference(npz["main"], meta["table_heights_unpadded"]))
    assert main.shape == npz["main"].shape and main.dtype == np.uint64
    assert not main[:, C.NUM_MAIN_BASE_COLUMNS :].any()
    names = C.main_column_names()
    ref = npz["main"]
    bad = [names[c] for c in range(C.NUM_MAIN_BASE_COLUMNS) if not np.array_equal(main[:, c], ref[:, c])]
    assert not bad, f"main columns differ: {bad}"


@pytest.mark.parametrize("k", [1, 2, 3, 7, 20, 300])
def test_bezout_relation(k):
    rng = np.random.default_rng(k)
    roots = [int(r) for r in np.unique(rng.integers(0, F.P, size=k, dtype=np.uint64))]
    a, b = bezout_coefficients(np.array(roots, dtype=np.uint64))
    x = 123456789
    # a(x) * rp(x) + b(x) * rp'(x) == 1 at a point, with rp'(x) = rp(x) * sum 1/(x - r)
    rp = 1
    for r in roots:
        rp = rp * (x - r) % F.P
    fd = rp * sum(pow(x - r, F.P - 2, F.P) for r in roots) % F.P

    def ev(c):
        acc = 0
        for v in c[::-1]:
            acc = (acc * x + int(v)) % F.P
        return acc

    assert (ev(a) * rp + ev(b) * fd) % F.P == 1


@pytest.mark.parametrize("k", [1, 2, 5, 33, 130])
def test_bezout_fast_equals_quadratic(k):
    from tvmpd.stages.air.fill import _bezout_fast, _bezout_quadratic

    roots = np.unique(np.random.default_rng(100 + k).integers(0, F.P, size=k, dtype=np.uint64))
    roots = np.random.default_rng(k).permutation(roots)
    fast, slow = _bezout_fast(roots), _bezout_quadratic(roots)
    np.testing.assert_array_equal(fast[0], slow[0])
    np.testing.assert_array_equal(fast[1], slow[1])


def test_bezout_rejects_repeated_roots():
    with pytest.raises(ValueError):
        bezout_coefficients(np.array([5, 7, 5], dtype=np.uint64))
