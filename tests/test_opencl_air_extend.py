"""OpenCL auxiliary-table extension (opencl/extend.cl) equals stages.air.extend cell for cell."""

from __future__ import annotations

import numpy as np
import pytest

from tvmpd.stages.air import columns as C
from tvmpd.stages.air.challenges import ChallengeId
from tvmpd.stages.air.extend import extend as np_extend
from tvmpd.stages.air.kernel_cache import air_kernels

P = 2**64 - 2**32 + 1

cl = pytest.importorskip("pyopencl")
from tests.conftest import random_field  # noqa: E402
from tvmpd.opencl import air  # noqa: E402

OPCODES = np.array(
    [0, 1, 2, 3, 4, 6, 8, 9, 10, 11, 12, 14, 16, 17, 18, 19, 20, 22, 24, 25, 26, 28, 30, 32, 33, 34, 36, 40,
     41, 42, 44, 48, 49, 50, 56, 57, 58, 64, 65, 66, 72, 73, 74, 80, 82, 88, 5, 7],
    dtype=np.uint64,
)




def _adversarial_main(rng: np.random.Generator, n: int) -> np.ndarray:
    """Random main table whose cells are mostly small (flags, modes, paddings, equal neighbours hit every
    branch), with random opcodes and full-range field elements mixed in."""
    main = random_field(rng, (n, 149))
    small = rng.random((n, 149)) < 0.7
    main[small] = rng.integers(0, 4, size=int(small.sum()), dtype=np.uint64)
    for col in (C.ProcessorMain.CI, C.HashMain.CI, C.JumpStackMain.CI, C.U32Main.CI):
        main[:, col] = rng.choice(OPCODES, n)
    main[:, C.ProcessorMain.NIA] = rng.integers(0, 17, n, dtype=np.uint64)
    main[:, C.ProgramMain.IndexInChunk] = rng.integers(0, 10, n, dtype=np.uint64)
    main[:, C.HashMain.RoundNumber] = rng.integers(0, 6, n, dtype=np.uint64)
    for col in (C.ProcessorMain.IsPadding, C.LookupMain.IsPadding, C.CascadeMain.IsPadding):
        main[:, col] = rng.random(n) < 0.1
    return main


@pytest.mark.parametrize("name", ["halt", "all_tables"])
def test_extend_matches_reference_tables(vectors, device, name):
    npz = np.load(vectors / "tables" / f"{name}.npz")
    got = air.extend(npz["main"], npz["challenges"], air_kernels(), device)
    np.testing.assert_array_equal(got, npz["aux"][:, :49])


@pytest.mark.parametrize("seed,n", [(1, 2), (2, 3), (3, 65), (4, 300), (5, 4200)])
def test_extend_matches_numpy_on_random_tables(device, seed, n):
    rng = np.random.default_rng(seed)
    main = _adversarial_main(rng, n)
    ch = random_field(rng, (63, 3))
    want = np_extend(main, ch)
    got = air.extend(main, ch, air_kernels(), device)
    bad = [c for c in range(49) if not np.array_equal(got[:, c], want[:, c])]
    assert not bad, f"columns {bad} differ"


def test_scan_matches_sequential(device):
    from tvmpd.opencl.runtime import get_runtime

    rng = np.random.default_rng(9)
    n = 64 * 64 + 37  # three scan levels
    rt = get_runtime(device)
    a = random_field(rng, (49, 3, n))
    b = random_field(rng, (49, 3, n))
    abuf, bbuf = rt.to_device(a), rt.to_device(b)
    cols = [1, 5]  # one multiplied column, one running sum
    air.scan_device(rt, air_kernels(), abuf, bbuf, n, n, cols)
    got = rt.from_device(bbuf, (49, 3, n))
    x = [np.zeros(3, dtype=np.uint64) for _ in cols]
    from tvmpd.stages import xfield as X

    for i in range(n):
        for k, c in enumerate(cols):
            x[k] = X.add(X.mul(a[c, :, i], x[k]) if c == 1 else x[k], b[c, :, i])
    for k, c in enumerate(cols):
        np.testing.assert_array_equal(got[c, :, -1], x[k])
    np.testing.assert_array_equal(got[0], b[0])  # unlisted columns untouched


def test_column_layout_assumptions():
    # extend.cl walks the hash table's 16 limb columns and cascade client columns by offset
    names = [f"State{i}{limb}" for i in range(4) for limb in ("Highest", "MidHigh", "MidLow", "Lowest")]
    for j, name in enumerate(names):
        assert C.HashMain[f"{name}LkIn"] == C.HashMain.State0HighestLkIn + j
        assert C.HashMain[f"{name}LkOut"] == C.HashMain.State0HighestLkOut + j
        first_client = C.HashAux.CascadeState0HighestClientLogDerivative
        assert C.HashAux[f"Cascade{name}ClientLogDerivative"] == first_client + j
    assert all(C.ProcessorMain[f"ST{i}"] == C.ProcessorMain.ST0 + i for i in range(16))
    assert all(C.ProcessorMain[f"HV{i}"] == C.ProcessorMain.HV0 + i for i in range(6))
    defs = dict(air_kernels().defines)
    assert defs["ChallengeId_U32Indeterminate"] == ChallengeId.U32Indeterminate
    assert all(f"StackWeight{i}" in ChallengeId.__members__ and
               ChallengeId[f"StackWeight{i}"] == ChallengeId.StackWeight0 + i for i in range(10))


def test_extend_rejects_bad_input(device):
    with pytest.raises(ValueError):
        air.extend(np.zeros((4, 148), np.uint64), np.zeros((63, 3), np.uint64), air_kernels(), device)
    with pytest.raises(ValueError):
        air.extend(np.zeros((4, 149), np.uint64), np.zeros((63, 2), np.uint64), air_kernels(), device)
