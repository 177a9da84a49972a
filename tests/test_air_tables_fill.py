"""Main-table fill against the reference's master main tables (columns 0..149).

The VM-independent test rebuilds an AET (per the team contract) from the reference tables themselves, in
recorded (unsorted) order, and checks that filling, sorting and padding reproduce the tables exactly.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from stages import field as F
from stages.air import columns as C
from stages.air.fill import bezout_coefficients, fill_main_table


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


@pytest.mark.parametrize("k", [1, 2, 3, 7, 20])
def test_bezout_relation(k):
    rng = np.random.default_rng(k)
    roots = np.unique(rng.integers(0, F.P, size=k, dtype=np.uint64))
    a, b = bezout_coefficients(roots)
    x = np.uint64(123456789)
    # a(x) * rp(x) + b(x) * rp'(x) == 1 at a random point
    rp = np.uint64(1)
    for r in roots:
        rp = F.mul(rp, F.sub(x, r))
    fd = np.uint64(0)
    for i in range(roots.size):
        term = np.uint64(1)
        for j, r in enumerate(roots):
            if j != i:
                term = F.mul(term, F.sub(x, r))
        fd = F.add(fd, term)

    def ev(c):
        acc = np.uint64(0)
        for v in c[::-1]:
            acc = F.add(F.mul(acc, x), v)
        return acc

    assert int(F.add(F.mul(ev(a), rp), F.mul(ev(b), fd))) == 1
