"""OpenCL degree-lowering columns equal the numpy fill cell for cell: the form the device runs (on a CPU
device the interpreter's programs, stages/air/bytecode.py) and the generated kernels from the kernel cache
(what GPUs run)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tvmpd.stages.air.evaluate import fill_degree_lowering_aux as np_fill_aux
from tvmpd.stages.air.evaluate import fill_degree_lowering_main as np_fill_main
from tvmpd.stages.air.kernel_cache import air_kernels

P = 2**64 - 2**32 + 1

cl = pytest.importorskip("pyopencl")
from tests.conftest import random_field  # noqa: E402
from tvmpd.opencl import air  # noqa: E402


@pytest.mark.parametrize("name", ["halt", "all_tables"])
def test_lowering_matches_reference_tables(vectors, device, name):
    npz = np.load(vectors / "tables" / f"{name}.npz")
    main = npz["main"].copy()
    main[:, 149:] = 12345
    air.fill_degree_lowering_main(main, air_kernels(), device)
    np.testing.assert_array_equal(main, npz["main"])
    aux = npz["aux"].copy()
    aux[:, 49:90] = 777
    air.fill_degree_lowering_aux(npz["main"], aux, npz["challenges"], air_kernels(), device)
    np.testing.assert_array_equal(aux, npz["aux"])


@pytest.fixture(params=["device's form", "generated"])
def kernels(request):
    """The kernel set as the device runs it, then without its lowering programs (the generated kernels)."""
    full = air_kernels()
    if request.param == "generated":
        return dataclasses.replace(full, lowering_main_programs=(), lowering_aux_programs=())
    return full


@pytest.mark.parametrize("chunk", [None, 64])
def test_lowering_matches_numpy_on_random_tables(device, monkeypatch, chunk, kernels):
    """Also in launches of 64 rows (CPU devices run the generated kernels in launches of CPU_LAUNCH_ROWS
    rows, for pocl's small-grid builds only): rows past a launch's first must land where one launch puts
    them."""
    rng = np.random.default_rng(7)
    n = 64
    if chunk is not None:
        monkeypatch.setattr(air, "CPU_LAUNCH_ROWS", chunk)
        n = 4 * chunk
    main = random_field(rng, (n, 379))
    ch = random_field(rng, (63, 3))
    want_main = np_fill_main(main.copy())
    got_main = air.fill_degree_lowering_main(main.copy(), kernels, device)
    np.testing.assert_array_equal(got_main, want_main)
    aux = random_field(rng, (n, 91, 3))
    want = np_fill_aux(want_main, aux.copy(), ch)
    got = air.fill_degree_lowering_aux(want_main, aux.copy(), ch, kernels, device)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("n", [32, 45, 2])  # 45: a partial row block and lane group; 2: the least
def test_lowering_device_layout(device, kernels, n):
    from tvmpd.opencl.runtime import get_runtime

    rng = np.random.default_rng(8)
    main = random_field(rng, (n, 379))
    aux = random_field(rng, (n, 91, 3))
    ch = random_field(rng, (63, 3))
    want_main = np_fill_main(main.copy())
    want_aux = np_fill_aux(want_main, aux.copy(), ch)
    rt = get_runtime(device)
    mbuf = rt.to_device(np.ascontiguousarray(main.T))
    abuf = rt.to_device(np.ascontiguousarray(aux.reshape(n, 273).T))
    air.fill_degree_lowering_main_device(rt, kernels, mbuf, n)
    air.fill_degree_lowering_aux_device(rt, kernels, mbuf, abuf, ch, n)
    np.testing.assert_array_equal(rt.from_device(mbuf, (379, n)).T, want_main)
    np.testing.assert_array_equal(rt.from_device(abuf, (273, n)).T.reshape(n, 91, 3), want_aux)


def test_lowering_rejects_bad_input(device):
    with pytest.raises(ValueError):
        air.fill_degree_lowering_main(np.zeros((4, 378), dtype=np.uint64), air_kernels(), device)
    with pytest.raises(ValueError):
        main, aux = np.zeros((4, 379), np.uint64), np.zeros((4, 91, 3), np.uint64)
        air.fill_degree_lowering_aux(main, aux, np.zeros((62, 3), np.uint64), air_kernels(), device)

