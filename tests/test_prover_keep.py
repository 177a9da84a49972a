"""Kept coset values (stages/device_backend.py Layout.keep): the memory model's choice per padded height on
an 80 GB GPU, its peak counting the kept values, and on pocl every forced choice giving the reference proof
byte for byte with the device's allocations within the model's peak."""

from __future__ import annotations

import weakref

import numpy as np
import pytest

from tvmpd.stages.domains import derive

cl = pytest.importorskip("pyopencl")

GIB = 2**30
H100_MEMORY = 85031714816  # CL_DEVICE_GLOBAL_MEM_SIZE of an 80 GB H100 (NVIDIA's OpenCL)
H100_LARGEST = H100_MEMORY // 4  # its CL_DEVICE_MAX_MEM_ALLOC_SIZE
WIDTH_MAIN, WIDTH_AUX = 379, 3 * 91


def test_an_80_gb_gpu_keeps_both_tables_at_2_20_aux_rebuilt_at_2_21_none_at_2_22():
    """Both tables' values on the FRI domain (40.8 GiB at 2^20) fit with the rest; at 2^21 the aux values
    (34.1 GiB) fit KEEP_HEADROOM of the memory only when the aux coefficients make room for them during the
    quotient (Layout.rebuild; the main values, 47.4 GiB, do not fit at all), a forced --keep-cosets aux
    keeps them plainly (it fits the whole memory); at 2^22 (half-length cosets) nothing more fits."""
    from tvmpd.stages.device_backend import KEEP_HEADROOM, Layout, device_bytes, device_layout, layout_bytes

    layouts = {log2: device_layout(derive(1 << log2), H100_LARGEST, H100_MEMORY) for log2 in (20, 21, 22, 23)}
    assert layouts[20] == Layout("full", 1 << 21, "both")
    assert layouts[21] == Layout("full", 1 << 22, "aux", rebuild=True)
    d = derive(1 << 21)
    assert device_bytes(d, 1, "aux")[1] > KEEP_HEADROOM * H100_MEMORY >= device_bytes(d, 1, "aux", True)[1]
    assert device_layout(d, H100_LARGEST, H100_MEMORY, keep="aux") == Layout("full", 1 << 22, "aux")
    assert layouts[22] == Layout("half", 1 << 22, "none")
    assert layouts[23].mode == "lean" and layouts[23].keep == "none"
    for log2, layout in layouts.items():
        assert layout_bytes(derive(1 << log2), layout, H100_LARGEST)[1] <= H100_MEMORY
    assert [layouts[k].label for k in (20, 21, 22)] == ["full+both", "full+aux/rebuilt", "half"]


def test_the_peak_counts_kept_values_on_the_whole_fri_domain():
    """Keeping a table replaces its one coset buffer (M rows) by its values on all N rows (exactly that much
    more where the quotient step stays the peak; more where the steps after it become the peak);
    planned_bytes, what the scheduler reserves, is the chosen layout's peak with them."""
    from tvmpd.stages.device_backend import device_bytes, planned_bytes

    for log2, split in ((20, 1), (21, 1), (22, 2)):
        d = derive(1 << log2)
        n, m = d.fri.length, d.randomized_trace.length // split
        none = device_bytes(d, split)[1]
        for keep, width in (("main", WIDTH_MAIN), ("aux", WIDTH_AUX), ("both", WIDTH_MAIN + WIDTH_AUX)):
            more = device_bytes(d, split, keep)[1] - none
            assert more == 8 * width * (n - m) if log2 < 22 else more >= 8 * width * (n - m)
    d = derive(1 << 21)
    assert planned_bytes(d, H100_MEMORY) == device_bytes(d, 1, "aux", True)[1]  # plain: over KEEP_HEADROOM
    assert planned_bytes(d, H100_MEMORY, keep="aux") == device_bytes(d, 1, "aux")[1]
    assert planned_bytes(d, H100_MEMORY, keep="none") == device_bytes(d, 1)[1]
    assert planned_bytes(derive(1 << 20), H100_MEMORY) == device_bytes(derive(1 << 20), 1, "both")[1]


def test_forced_keep_is_kept_or_refused():
    from tvmpd.stages.backend import DeviceTooSmall
    from tvmpd.stages.device_backend import Layout, device_layout

    d20, d21 = derive(1 << 20), derive(1 << 21)
    assert device_layout(d20, H100_LARGEST, H100_MEMORY, keep="none") == Layout("full", 1 << 21)
    assert device_layout(d20, H100_LARGEST, H100_MEMORY, keep="aux") == Layout("full", 1 << 21, "aux")
    # a forced keep is kept plainly if that fits the memory, else with rebuilt coefficients if that fits
    assert device_layout(d21, H100_LARGEST, H100_MEMORY, keep="main") == Layout("full", 1 << 22, "main", True)
    with pytest.raises(DeviceTooSmall):  # neither full nor half length cosets leave room for 81 GiB
        device_layout(d21, H100_LARGEST, H100_MEMORY, keep="both")
    with pytest.raises(DeviceTooSmall):  # lean mode keeps nothing
        device_layout(d20, H100_LARGEST, H100_MEMORY, mode="lean", keep="aux")
    with pytest.raises(ValueError, match="kept cosets"):
        device_layout(d20, H100_LARGEST, H100_MEMORY, keep="some")


def test_auto_keep_stays_within_the_share_given_for_it(monkeypatch):
    """keep_memory bounds what automatic keeping may use (a CPU device's share of the host's memory): the
    first of both, main, aux (the wider main table saves more NTT work), each plainly, else rebuilt, that
    fits it."""
    from tvmpd.stages import device_backend
    from tvmpd.stages.device_backend import device_bytes, device_layout

    monkeypatch.setattr(device_backend, "KEEP_HEADROOM", 1.0)

    d = derive(1 << 20)
    order = [(keep, rebuild) for keep in ("both", "main", "aux") for rebuild in (False, True)]
    size = {choice: device_bytes(d, 1, *choice)[1] for choice in order}
    assert size["aux", False] < size["main", False] < size["both", False]
    assert all(size[k, True] < size[k, False] for k in ("both", "main", "aux"))  # the rebuilt ones need less
    for budget in sorted({b for s in size.values() for b in (s, s - 1)}):
        want = next(((k, r) for k, r in order if size[k, r] <= budget), ("none", False))
        layout = device_layout(d, H100_LARGEST, H100_MEMORY, keep_memory=budget)
        assert (layout.keep, layout.rebuild) == want
    assert device_layout(d, H100_LARGEST, H100_MEMORY, keep_memory=size["both", False] - 1).keep == "both"


def test_the_device_keeps_within_the_memory_it_is_given(rt, monkeypatch):
    """pocl (a CPU device) keeps both tables' cosets at 2^8 within half its memory; given less memory for
    them (a child passes what is free), it keeps what fits."""
    from tvmpd.stages import device_backend
    from tvmpd.stages.device_backend import Layout, device_bytes, device_split

    monkeypatch.setattr(device_backend, "KEEP_HEADROOM", 1.0)

    d = derive(256)
    assert device_split(rt, d) == Layout("full", 512, "both")
    aux, aux_rebuilt = (device_bytes(d, 1, "aux", rebuild)[1] for rebuild in (False, True))
    assert device_split(rt, d, keep_memory=aux) == Layout("full", 512, "main", True)  # main rebuilt: less
    assert device_split(rt, d, keep_memory=aux_rebuilt) == Layout("full", 512, "aux", True)
    assert device_split(rt, d, keep_memory=1 << 20) == Layout("full", 512, "none")
    assert device_split(rt, d, keep="both", keep_memory=1 << 20).keep == "both"  # forced: the device decides


class _Tracked(cl.Buffer):
    """A device buffer whose bytes count as live until released or collected."""

    def release(self) -> None:
        self.drop()
        super().release()


class _Allocations:
    """Live and peak bytes of the device buffers a Runtime allocates (Runtime.empty / to_device)."""

    def __init__(self) -> None:
        self.live = self.peak = 0

    def track(self, buf: _Tracked) -> _Tracked:
        cell = [buf.size]
        self.live += cell[0]
        self.peak = max(self.peak, self.live)
        buf.drop = lambda: self._drop(cell)
        weakref.finalize(buf, self._drop, cell)
        return buf

    def _drop(self, cell: list) -> None:
        self.live -= cell[0]
        cell[0] = 0


@pytest.fixture
def allocations(monkeypatch):
    from tvmpd.opencl.runtime import Runtime

    counter = _Allocations()

    def empty(self, nbytes: int) -> cl.Buffer:
        return counter.track(_Tracked(self.context, cl.mem_flags.READ_WRITE, size=max(int(nbytes), 8)))

    def to_device(self, array: np.ndarray) -> cl.Buffer:
        array = np.ascontiguousarray(array)
        buf = empty(self, array.nbytes)
        if array.nbytes:
            cl.enqueue_copy(self.queue, buf, array)
        return buf

    monkeypatch.setattr(Runtime, "empty", empty)
    monkeypatch.setattr(Runtime, "to_device", to_device)
    return counter


@pytest.mark.parametrize("mode, keep", [("full", "none"), ("full", "main"), ("full", "aux"), ("full", "both"),
                                        ("half", "none"), ("half", "aux"), ("half", "both")])
def test_each_forced_keep_gives_the_reference_proof_within_the_model(rt, seeded_halt, allocations,
                                                                     monkeypatch, mode, keep):
    """The quotient and the opened rows read whichever tables are kept and evaluate the others; the
    buffers allocated during the proof never exceed the layout's modelled peak. Scratch batches are made
    small, so that the model's scratch term hides nothing: it would not hold for "both" if the model left
    the kept values out, or the steps after the quotient."""
    from tvmpd.opencl import device_tables as dev
    from tvmpd.stages.device_backend import DeviceBackend, Layout, device_bytes, layout_bytes
    from tvmpd.stages.prover import prove_table

    monkeypatch.setattr(dev, "BATCH_BYTES", 1 << 15)
    claim, table, seed, reference = seeded_halt
    backend = DeviceBackend(rt.key, memory_mode=mode, keep_cosets=keep)
    proof = prove_table(claim, table, seed=seed, backend=backend, degree_lowered=False)
    np.testing.assert_array_equal(proof, reference)
    split = 1 if mode == "full" else 2
    assert backend.layout == Layout(mode, 512 // split, keep)
    modelled = layout_bytes(backend.d, backend.layout)[1]
    assert 0 < allocations.peak <= modelled
    if keep == "both":
        assert allocations.peak > device_bytes(backend.d, split)[1]


@pytest.mark.parametrize("keep, gpu_passes", [("main", 0), ("aux", 0), ("both", 0), ("aux", 1)])
def test_rebuilt_coefficients_give_the_reference_proof_within_the_model(rt, seeded_halt, allocations,
                                                                        monkeypatch, keep, gpu_passes):
    """Layout.rebuild: the kept tables' coefficients are released after their commit and interpolated again
    after the quotient (also through the GPU's NTT passes: their inverse runs in place); the proof is the
    reference's and the allocations stay within the modelled peak, which is below the plain keep's (the
    point of rebuilding) where the quotient step is the peak."""
    from tvmpd.opencl import device_tables as dev
    from tvmpd.opencl import ntt as cl_ntt
    from tvmpd.stages import device_backend as pd
    from tvmpd.stages.prover import prove_table

    monkeypatch.setattr(dev, "BATCH_BYTES", 1 << 15)
    if gpu_passes:
        monkeypatch.setattr(cl_ntt, "cpu_shaped", lambda rt: False)
    monkeypatch.setattr(pd, "device_split", lambda *args: pd.Layout("full", 512, keep, rebuild=True))
    claim, table, seed, reference = seeded_halt
    backend = pd.DeviceBackend(rt.key)
    proof = prove_table(claim, table, seed=seed, backend=backend, degree_lowered=False)
    np.testing.assert_array_equal(proof, reference)
    modelled = pd.layout_bytes(backend.d, backend.layout)[1]
    assert 0 < allocations.peak <= modelled <= pd.device_bytes(backend.d, 1, keep)[1]
    if keep != "both":  # (with both kept, the steps after the quotient, which hold every coefficient, peak)
        assert modelled < pd.device_bytes(backend.d, 1, keep)[1]


@pytest.mark.parametrize("mode, keep", [("full", "main"), ("half", "aux")])
def test_kept_cosets_prove_all_tables_as_the_reference(rt, seeded_all_tables, mode, keep):
    """A program that fills every table (padded height 2^10): one table kept, the other evaluated again."""
    from tvmpd.stages.device_backend import DeviceBackend
    from tvmpd.stages.prover import prove_table

    claim, table, seed, reference = seeded_all_tables
    backend = DeviceBackend(rt.key, memory_mode=mode, keep_cosets=keep)
    proof = prove_table(claim, table, seed=seed, backend=backend, degree_lowered=False)
    np.testing.assert_array_equal(proof, reference)
    assert (backend.layout.mode, backend.layout.keep) == (mode, keep)


def test_the_half_domain_quotient_proves_all_tables_as_the_reference(rt, seeded_all_tables, allocations,
                                                                     monkeypatch):
    """At padded height 2^10 the quotient is evaluated on half its domain (stages/half_quotient.py): every
    constraint on the even cosets, the high ones on all four with the odd cosets' other columns left
    stale, and the proof is still the reference's, within the layout's modelled peak."""
    from tvmpd.opencl import device_tables as dev
    from tvmpd.stages.device_backend import DeviceBackend, layout_bytes
    from tvmpd.stages.prover import prove_table

    taken = []
    original = dev.quotient_segments_from_half
    monkeypatch.setattr(dev, "quotient_segments_from_half",
                        lambda *a, **k: taken.append(1) or original(*a, **k))
    monkeypatch.setattr(dev, "BATCH_BYTES", 1 << 15)
    claim, table, seed, reference = seeded_all_tables
    backend = DeviceBackend(rt.key, memory_mode="full", keep_cosets="none")
    proof = prove_table(claim, table, seed=seed, backend=backend, degree_lowered=False)
    np.testing.assert_array_equal(proof, reference)
    assert taken == [1]
    assert 0 < allocations.peak <= layout_bytes(backend.d, backend.layout)[1]
