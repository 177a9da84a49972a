"""The device prover's lean memory mode (stages/device_backend.py, opencl/lean.py) on pocl: forced, or
picked by the memory model for a small device, it gives the reference proof byte for byte; and the model's
figures for the heights an 80 GB GPU proves."""

from __future__ import annotations

import numpy as np
import pytest

from tvmpd.stages.domains import derive

cl = pytest.importorskip("pyopencl")

GIB = 2**30
H100_MEMORY = 85031714816  # CL_DEVICE_GLOBAL_MEM_SIZE of an 80 GB H100 (NVIDIA's OpenCL)
H100_LARGEST = H100_MEMORY // 4  # its CL_DEVICE_MAX_MEM_ALLOC_SIZE


def _prove(backend, seeded_halt) -> np.ndarray:
    from tvmpd.stages.prover import prove_table

    claim, table, seed, _ = seeded_halt
    return prove_table(claim, table, seed=seed, backend=backend, degree_lowered=False)


def test_forced_lean_mode_gives_the_reference_proof(rt, seeded_halt):
    from tvmpd.stages.device_backend import DeviceBackend, Layout

    backend = DeviceBackend(rt.key, memory_mode="lean")
    np.testing.assert_array_equal(_prove(backend, seeded_halt), seeded_halt[3])
    assert backend.layout == Layout("lean", 256)  # pocl has room for cosets of h rows


def test_small_device_gets_lean_coset_pairs_and_the_reference_proof(rt, seeded_halt, monkeypatch):
    """A device just big enough for lean cosets of h / 4 rows: the model picks them (the quotient then runs
    on coset pairs, chains of four), and the main table goes through in row chunks and column parts."""
    import tvmpd.stages.device_backend as pd
    from tvmpd.opencl import device_tables as dev

    d = derive(256)
    memory = int(pd.lean_bytes(d, 64)[1] / pd.LEAN_HEADROOM) + 1
    assert pd.lean_bytes(d, 128)[1] > pd.LEAN_HEADROOM * memory and pd.device_bytes(d, 2)[1] > memory
    monkeypatch.setattr(pd, "device_memory", lambda rt: (1 << 30, memory))
    monkeypatch.setattr(dev, "BATCH_BYTES", 1 << 15)  # main table chunks of 8 rows
    monkeypatch.setattr(pd, "MAX_PART_BYTES", 8 * 256 * 100)  # main table in parts of 100 columns
    backend = pd.DeviceBackend(rt.key)
    np.testing.assert_array_equal(_prove(backend, seeded_halt), seeded_halt[3])
    assert backend.layout == pd.Layout("lean", 64)


def test_lean_half_cosets_give_the_reference_proof(rt, seeded_halt, monkeypatch):
    """Cosets of h / 2 rows: chains of two, so the rotated partner is the chain's first coset."""
    import tvmpd.stages.device_backend as pd

    monkeypatch.setattr(pd, "device_split", lambda *args: pd.Layout("lean", 128))
    np.testing.assert_array_equal(_prove(pd.DeviceBackend(rt.key), seeded_halt), seeded_halt[3])


def test_an_80_gb_gpu_proves_2_21_to_2_23_and_refuses_2_24():
    """The memory model on an H100 80 GB: 2^21 with full-length cosets, 2^22 with half-length ones (as
    measured at 68.6 GiB), 2^23 in lean mode under 78 GiB with every buffer within the allocation limit."""
    from tvmpd.stages.backend import DeviceTooSmall
    from tvmpd.stages.device_backend import device_bytes, device_layout, lean_bytes

    layouts = {log2: device_layout(derive(1 << log2), H100_LARGEST, H100_MEMORY) for log2 in (21, 22, 23)}
    assert [layouts[k].mode for k in (21, 22, 23)] == ["full", "half", "lean"]
    assert device_bytes(derive(1 << 23), 2)[1] > 150 * GIB  # what 2^23 needed before lean mode
    largest, total = lean_bytes(derive(1 << 23), layouts[23].rows, H100_LARGEST)
    assert total < 78 * GIB and largest <= H100_LARGEST
    assert layouts[23].rows < 1 << 23  # cosets shorter than h: the quotient runs on pairs
    with pytest.raises(DeviceTooSmall, match=r"padded height 2\^24 needs about"):
        device_layout(derive(1 << 24), H100_LARGEST, H100_MEMORY)


def test_forcing_a_mode_that_does_not_fit_is_refused():
    from tvmpd.stages.backend import DeviceTooSmall
    from tvmpd.stages.device_backend import device_layout

    with pytest.raises(DeviceTooSmall):
        device_layout(derive(1 << 23), H100_LARGEST, H100_MEMORY, "half")
    assert device_layout(derive(1 << 21), H100_LARGEST, H100_MEMORY, "lean").mode == "lean"
    with pytest.raises(ValueError, match="memory mode"):
        device_layout(derive(1 << 21), H100_LARGEST, H100_MEMORY, "tiny")


def test_aux_lowering_reads_the_main_columns_lean_mode_re_evaluates():
    from tvmpd.stages.device_backend import AUX_LOWERING_MAIN_COLUMNS, aux_lowering_main_columns

    assert aux_lowering_main_columns() == AUX_LOWERING_MAIN_COLUMNS


def test_a_device_job_reports_the_memory_mode_it_used(rt, seeded_halt):
    """What a device child passes on to the job's log line and `tvmpd status`."""
    from tvmpd.stages.proof import from_bincode
    from tvmpd.stages.verifier import verify
    from tvmpd.supervisor import jobs

    claim, table, _, _ = seeded_halt
    report: dict = {}
    proof = jobs.prove_job(claim.to_json(), rt.key, [], table=table, memory_mode="lean", report=report)
    assert report == {"memory_mode": "lean"}
    verify(claim, from_bincode(proof))  # raises if the proof is not valid


@pytest.mark.parametrize("rows, part_columns, gpu_passes", [(1024, None, False), (256, 100, True)])
def test_lean_quotient_on_half_its_domain_proves_all_tables(rt, seeded_all_tables, monkeypatch, rows,
                                                            part_columns, gpu_passes):
    """Padded height 2^10: the quotient on half its domain (stages/half_quotient.py) in lean mode, with
    cosets of h rows and in pairs of h / 4 rows (odd chains evaluate only the high constraints' columns,
    here across column parts of the tables), gives the reference proof; also with the NTT passes a GPU
    runs. The lean tables' opened rows come from folds of their coefficients (dev.open_by_folds), not from
    coset evaluations."""
    import tvmpd.stages.device_backend as pd
    from tvmpd.opencl import device_tables as dev
    from tvmpd.opencl import ntt as cl_ntt
    from tvmpd.stages.prover import prove_table

    taken = []
    original = dev.quotient_segments_from_half
    monkeypatch.setattr(dev, "quotient_segments_from_half",
                        lambda *a, **k: taken.append(1) or original(*a, **k))
    monkeypatch.setattr(pd, "device_split", lambda *args: pd.Layout("lean", rows))
    if part_columns is not None:
        monkeypatch.setattr(pd, "MAX_PART_BYTES", 8 * 1024 * part_columns)
    if gpu_passes:
        monkeypatch.setattr(cl_ntt, "cpu_shaped", lambda rt: False)
    folded = []  # (columns, points) of each open_by_folds call
    original_folds = dev.open_by_folds
    monkeypatch.setattr(dev, "open_by_folds",
                        lambda rt_, coef, first, ncols, *a: folded.append(ncols) or original_folds(
                            rt_, coef, first, ncols, *a))
    claim, table, seed, reference = seeded_all_tables
    proof = prove_table(claim, table, seed=seed, backend=pd.DeviceBackend(rt.key), degree_lowered=False)
    np.testing.assert_array_equal(proof, reference)
    assert taken == [1]
    assert sum(folded) == 379 + 3 * 91  # the opened rows of both lean tables, every column once
