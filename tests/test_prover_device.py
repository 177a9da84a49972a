"""The device-resident prover path (stages/device_backend.py, opencl/device_tables.py) on pocl: its
primitives equal the numpy reference, and a seeded proof is byte-identical to the reference prover's."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import random_field
from tvmpd.stages import field, fri, ntt, xfield
from tvmpd.stages.domains import derive

cl = pytest.importorskip("pyopencl")



def test_randomized_interpolants_and_coset_values_equal_numpy(rt):
    from tvmpd.opencl import device_tables as dev
    from tvmpd.stages.host_backend import evaluate_on_coset, randomized_interpolants
    from tvmpd.stages.transforms import NumpyTransforms

    rng = np.random.default_rng(1)
    d = derive(256)
    trace, rnd = random_field(rng, (256, 13)), random_field(rng, (13, 98))
    want = randomized_interpolants(trace, rnd, d, NumpyTransforms())
    coef = dev.randomized_interpolants(rt, dev.upload_columns(rt, trace), 13, 256, rnd)
    np.testing.assert_array_equal(dev.download_columns(rt, coef, 13, 512), want)
    out = rt.empty(8 * 13 * 512)
    dev.evaluate_coset(rt, coef, 13, 512, d.fri.value(3), 512, out)
    np.testing.assert_array_equal(dev.download_columns(rt, out, 13, 512),
                                  evaluate_on_coset(want, d.fri.value(3), 512, NumpyTransforms()))


def test_interpolate_coset_inverts_coset_evaluation(rt, monkeypatch):
    """A kept coset's values give back the coefficients they were evaluated from (full mode's kept tables
    drop their coefficients for the quotient step and rebuild them so), in column batches, from any first
    column."""
    from tvmpd.opencl import device_tables as dev

    monkeypatch.setattr(dev, "BATCH_BYTES", 8 * 512 * 3)  # batches of 3 columns, the last one ragged
    rng = np.random.default_rng(2)
    coef = random_field(rng, (512, 11))
    values = rt.empty(8 * 11 * 512)
    offset = derive(256).fri.value(1)
    dev.evaluate_coset(rt, dev.upload_columns(rt, coef), 11, 512, offset, 512, values)
    back = dev.interpolate_coset(rt, values, 8, 512, offset, first=3)
    np.testing.assert_array_equal(dev.download_columns(rt, back, 8, 512), coef[:, 3:])


def test_upload_columns_through_pinned_chunks_transposes_exactly(rt, monkeypatch):
    """upload_columns pipelines row chunks through two pinned staging buffers: many chunks with a ragged
    last one, written by one host thread or several, a strided host view, columns placed at an offset of a
    wider table (the others untouched), and the staging buffers grown and reused by later calls."""
    from tvmpd.opencl import device_tables as dev

    rng = np.random.default_rng(5)
    wide = random_field(rng, (100, 16))
    table = wide[:, :13]  # not contiguous
    monkeypatch.setattr(dev, "UPLOAD_CHUNK_BYTES", 8 * 13 * 7)  # 15 chunks of 7 rows, the last of 2
    np.testing.assert_array_equal(dev.download_columns(rt, dev.upload_columns(rt, table), 13, 100), table)
    monkeypatch.setattr(dev, "UPLOAD_THREAD_BYTES", 8 * 13 * 3)  # chunks written by two threads (rows 4 + 3)
    np.testing.assert_array_equal(dev.download_columns(rt, dev.upload_columns(rt, table), 13, 100), table)
    before = random_field(rng, (100, 20))
    dst = rt.to_device(np.ascontiguousarray(before.T))
    monkeypatch.setattr(dev, "UPLOAD_CHUNK_BYTES", 8 * 13 * 40)  # larger staging: 3 chunks
    assert dev.upload_columns(rt, table, dst, 5) is dst
    want = before.copy()
    want[:, 5:18] = table
    np.testing.assert_array_equal(dev.download_columns(rt, dst, 20, 100), want)
    column = random_field(rng, (100, 1))
    dev.upload_columns(rt, column, dst, 19)
    want[:, 19:] = column
    np.testing.assert_array_equal(dev.download_columns(rt, dst, 20, 100), want)


@pytest.mark.parametrize("tiled", [True, False], ids=["tiled", "plain"])
def test_transpose_places_rows_as_columns(rt, tiled):
    """Both transposes (tiled through local memory, as GPUs run it in upload_columns, and one element per
    work-item, as CPUs do) put a row chunk at its rows of every column of a wider table, edges of partial
    tiles included, and leave the rest alone."""
    from tvmpd.opencl import device_tables as dev

    rng = np.random.default_rng(9)
    rows, cols, row0, n, first = 200, 150, 37, 70, 3  # 70 x 149 = partial tiles in both directions
    chunk = random_field(rng, (n, cols - first))
    before = random_field(rng, (cols, rows))
    dst = rt.to_device(before)
    dev.transpose(rt, rt.to_device(chunk), dst, n, cols - first, rows, row0, first * rows, tiled=tiled)
    rt.queue.finish()
    want = before.copy()
    want[first:, row0:row0 + n] = chunk.T
    np.testing.assert_array_equal(rt.from_device(dst, (cols, rows)), want)


def test_evaluate_at_and_weighted_sum_equal_numpy(rt):
    from tvmpd.opencl import device_tables as dev
    from tvmpd.stages.host_backend import _base_weighted

    rng = np.random.default_rng(2)
    coef = random_field(rng, (1024, 11))
    za, zb = random_field(rng, 3), random_field(rng, 3)
    buf = rt.to_device(np.ascontiguousarray(coef.T))
    va, vb = dev.evaluate_at(rt, buf, 1024, 11, za, zb)
    np.testing.assert_array_equal(va, ntt.evaluate_at(coef, za))
    np.testing.assert_array_equal(vb, ntt.evaluate_at(coef, zb))
    va, vb = dev.evaluate_at(rt, buf, 1024, 11, za, zb, count=700)  # coefficients 700 and up read as zero
    np.testing.assert_array_equal(va, ntt.evaluate_at(coef[:700], za))
    np.testing.assert_array_equal(vb, ntt.evaluate_at(coef[:700], zb))
    weights = random_field(rng, (11, 3))
    out = rt.empty(24 * 1024)
    dev.weighted_sum(rt, buf, 1024, 11, weights, out, False)
    np.testing.assert_array_equal(dev.download_columns(rt, out, 3, 1024), _base_weighted(coef, weights))


def test_fri_rounds_equal_host_rounds(rt):
    from tvmpd.stages.device_backend import DeviceCodeword, DeviceRounds

    rng = np.random.default_rng(3)
    domain = derive(256).fri
    codeword = random_field(rng, (domain.length, 3))
    challenge = random_field(rng, 3)
    host, device = fri.HostRounds(), DeviceRounds(rt)
    cw = DeviceCodeword(rt.to_device(codeword), domain.length)
    folded = device.fold(cw, domain, challenge)
    np.testing.assert_array_equal(device.to_host(folded), fri.fold(codeword, domain, challenge))
    tree, ref_tree = device.tree(cw), host.tree(codeword)
    np.testing.assert_array_equal(device.root(tree), host.root(ref_tree))
    idx = [5, 900, 5, 2047, 0]
    np.testing.assert_array_equal(device.auth(tree, idx), host.auth(ref_tree, idx))
    np.testing.assert_array_equal(device.values(cw, idx), codeword[idx])


def test_deep_kernel_inverse(rt):
    from tvmpd.opencl import device_tables as dev

    rng = np.random.default_rng(4)
    n = 64
    f, g = random_field(rng, (3, n)), random_field(rng, (3, n))
    consts = random_field(rng, (9, 3))
    out = rt.from_device(dev.deep(rt, rt.to_device(f), rt.to_device(g), consts, n, 7, 1 << 32), (n, 3))
    x = xfield.lift(field.mul(np.uint64(7), field.powers(1 << 32, n)))
    fx, gx = f.T, g.T

    def term(v, at, z, w):
        return xfield.mul(xfield.mul(xfield.sub(v, at), xfield.inv(xfield.sub(x, z))), w)

    want = term(fx, consts[0], consts[3], consts[6])
    want = xfield.add(want, term(fx, consts[1], consts[4], consts[7]))
    want = xfield.add(want, term(gx, consts[2], consts[5], consts[8]))
    np.testing.assert_array_equal(out, want)


def test_seeded_proof_on_device_is_byte_identical(rt, vectors):
    from tvmpd.stages.proof import from_bincode
    from tvmpd.stages.prover import prove
    from tvmpd.stages.vm import Claim, NonDeterminism, Program
    from tvmpd.stages.vm.interpreter import run_claim

    lines = (vectors / "requests" / "halt.req").read_text().splitlines()
    claim = Claim.from_json(lines[0])
    _, aet = run_claim(claim, Program.from_json(lines[1]), NonDeterminism.from_json(lines[2]))
    seed = bytes.fromhex((vectors / "proofs" / "halt.seed").read_text().strip())
    reference = from_bincode((vectors / "proofs" / "halt.proof").read_bytes())
    np.testing.assert_array_equal(prove(claim, aet, seed=seed, device_key=rt.key), reference)


def test_small_batches_give_the_same_proof(rt, vectors, monkeypatch):
    """Large tables go through the device in column batches and row chunks; force them at a small size."""
    from tvmpd.opencl import device_tables as dev

    monkeypatch.setattr(dev, "BATCH_BYTES", 1 << 15)  # 8 columns of 512 rows, 10 rows of 379 columns
    test_seeded_proof_on_device_is_byte_identical(rt, vectors)



def test_device_too_small_is_refused_with_the_sizes(rt, vectors, monkeypatch):
    """A device that cannot hold the tables is refused before any work, saying what is needed and what the
    device has (the host-array fallback would run numpy constraints for hours at such sizes)."""
    import tvmpd.stages.device_backend as pd
    from tvmpd.stages.backend import DeviceTooSmall
    from tvmpd.stages.prover import main_table, prove_table
    from tvmpd.stages.vm import Claim, NonDeterminism, Program
    from tvmpd.stages.vm.interpreter import run_claim

    monkeypatch.setattr(pd, "device_bytes", lambda d, split=1, keep="none", rebuild=False: (1 << 40, 1 << 60))
    monkeypatch.setattr(pd, "lean_bytes", lambda d, rows, largest_alloc=None: (1 << 40, 1 << 60))
    lines = (vectors / "requests" / "halt.req").read_text().splitlines()
    claim = Claim.from_json(lines[0])
    _, aet = run_claim(claim, Program.from_json(lines[1]), NonDeterminism.from_json(lines[2]))
    want = r"padded height 2\^8 needs about 1073741824.0 GiB of device memory \(largest buffer 1024.0 GiB\); "
    with pytest.raises(DeviceTooSmall, match=want + r".* has .* GiB \(largest buffer .* GiB\)"):
        prove_table(claim, main_table(aet, degree_lowered=False), backend=pd.DeviceBackend(rt.key),
                    degree_lowered=False)


def test_half_length_cosets_and_coefficient_parts_give_the_same_proof(rt, vectors, monkeypatch):
    """What a 2^22 proof does on an 80 GB GPU: cosets of L/2 rows (16 instead of 8) and each table's
    coefficients in several buffers; forced here at a small size."""
    import tvmpd.stages.device_backend as pd

    monkeypatch.setattr(pd, "device_split", lambda *args: pd.Layout("half", 256))
    monkeypatch.setattr(pd, "MAX_PART_BYTES", 8 * 512 * 100)  # parts of 100 columns of L = 512 rows
    test_seeded_proof_on_device_is_byte_identical(rt, vectors)


@pytest.mark.parametrize("keep", ["aux", "both"])
def test_kept_tables_rebuilding_their_coefficients_give_the_same_proof(rt, vectors, monkeypatch, keep):
    """Layout.rebuild (what 2^21 does on an 80 GB card): kept tables release their coefficients after the
    commit and interpolate them from their first coset after the quotient; forced here at 2^8 with parts
    and small batches, so that the rebuilt parts and the opened rows' column batches have several pieces."""
    import tvmpd.stages.device_backend as pd
    from tvmpd.opencl import device_tables as dev

    monkeypatch.setattr(pd, "device_split", lambda *args: pd.Layout("full", 512, keep, rebuild=True))
    monkeypatch.setattr(pd, "MAX_PART_BYTES", 8 * 512 * 100)
    monkeypatch.setattr(dev, "BATCH_BYTES", 8 * 512 * 64)
    test_seeded_proof_on_device_is_byte_identical(rt, vectors)


def test_device_layout_is_chosen_from_the_memory_model(rt, monkeypatch):
    import tvmpd.stages.device_backend as pd
    from tvmpd.stages.backend import DeviceTooSmall
    from tvmpd.stages.device_backend import device_split
    from tvmpd.stages.domains import derive

    d = derive(1 << 8)
    assert device_split(rt, d) == pd.Layout("full", 512, "both")  # pocl: room to keep both tables' cosets
    monkeypatch.setattr(pd, "device_bytes",
                        lambda d, split=1, keep="none", rebuild=False: (0, 1 << 60 if split == 1 else 0))
    assert device_split(rt, d) == pd.Layout("half", 256, "both")
    monkeypatch.setattr(pd, "device_bytes", lambda d, split=1, keep="none", rebuild=False: (0, 1 << 60))
    assert device_split(rt, d).mode == "lean"
    assert device_split(rt, d, "lean").mode == "lean"
    with pytest.raises(DeviceTooSmall):
        device_split(rt, d, "half")
    monkeypatch.setattr(pd, "lean_bytes", lambda d, rows, largest_alloc=None: (0, 1 << 60))
    with pytest.raises(DeviceTooSmall):
        device_split(rt, d)


def test_opencl_host_path_gives_the_reference_proof(rt, vectors):
    """HostBackend with OpenCL transforms (host arrays, one kernel call at a time) proves byte-identically."""
    from tvmpd.stages.host_backend import HostBackend
    from tvmpd.stages.proof import from_bincode
    from tvmpd.stages.prover import main_table, prove_table
    from tvmpd.stages.transforms import OpenCLTransforms
    from tvmpd.stages.vm import Claim, NonDeterminism, Program
    from tvmpd.stages.vm.interpreter import run_claim

    lines = (vectors / "requests" / "halt.req").read_text().splitlines()
    claim = Claim.from_json(lines[0])
    _, aet = run_claim(claim, Program.from_json(lines[1]), NonDeterminism.from_json(lines[2]))
    seed = bytes.fromhex((vectors / "proofs" / "halt.seed").read_text().strip())
    reference = from_bincode((vectors / "proofs" / "halt.proof").read_bytes())
    backend = HostBackend(OpenCLTransforms(rt.key), keep_lde=False)
    proof = prove_table(claim, main_table(aet, degree_lowered=False), seed=seed, backend=backend,
                        degree_lowered=False)
    np.testing.assert_array_equal(proof, reference)


def test_zero_fill_in_pieces_zeroes_exactly_the_range(rt):
    """fill_zero (a kernel: NVIDIA's fill faulted at offsets of 2^34 bytes, at 2^23) launches in pieces; they
    must cover the range, ragged last piece included, and nothing outside it."""
    import pyopencl as cl

    from tvmpd.opencl.device_tables import fill_zero

    data = np.arange(1, 101, dtype=np.uint64)
    buf = rt.to_device(data)
    fill_zero(rt, buf, 8 * 61, start=8 * 7, piece=8 * 5)
    out = np.empty_like(data)
    cl.enqueue_copy(rt.queue, out, buf)
    expected = data.copy()
    expected[7:68] = 0
    assert np.array_equal(out, expected)


def test_first_launch_of_the_late_kernels_touches_no_memory(rt, monkeypatch):
    """device_tables.first_launch (a cold warm-up's helper compiles the late kernels with it) launches each
    kernel with every scalar zero and a scratch buffer for each buffer argument: the arguments match each
    kernel's signature, and with their counts zero no kernel writes a word."""
    from tvmpd.opencl import device_tables as dev
    from tvmpd.opencl.runtime import Runtime

    pattern = np.arange(512, dtype=np.uint64) * 0x9E3779B97F4A7C15
    scratch = rt.to_device(pattern)
    # on the class: an attribute set on the shared runtime would stay behind (as its bound method) and hide
    # later tests' patches of Runtime.empty
    monkeypatch.setattr(Runtime, "empty", lambda self, nbytes: scratch)
    source = (dev.KERNEL_DIR / "device_tables.cl").read_text()
    for name in dev.LATE_KERNELS:
        args = dev._zero_arguments(source, name, scratch)
        assert len(args) == dev._kernel(rt, name).num_args
        assert all(a is scratch or a == 0 for a in args)
    dev.first_launch(rt, dev.LATE_KERNELS)
    np.testing.assert_array_equal(rt.from_device(scratch, (512,)), pattern)
    with pytest.raises(ValueError, match="no kernel nope_kernel"):
        dev._zero_arguments(source, "nope_kernel", scratch)


@pytest.mark.parametrize("mode", ["full", "lean"])
def test_cold_device_proof_is_byte_identical(rt, vectors, mode):
    """A cold device (its kernels still compiling beside the proof): the aux table extends on the host, and
    the proof asks for each helper task's kernels before it launches them; the proof is the reference's."""
    from tvmpd.stages.device_backend import DeviceBackend
    from tvmpd.stages.proof import from_bincode
    from tvmpd.stages.prover import main_table, prove_table
    from tvmpd.stages.vm import Claim, NonDeterminism, Program
    from tvmpd.stages.vm.interpreter import run_claim

    lines = (vectors / "requests" / "halt.req").read_text().splitlines()
    claim = Claim.from_json(lines[0])
    _, aet = run_claim(claim, Program.from_json(lines[1]), NonDeterminism.from_json(lines[2]))
    seed = bytes.fromhex((vectors / "proofs" / "halt.seed").read_text().strip())
    reference = from_bincode((vectors / "proofs" / "halt.proof").read_bytes())
    asked: list[tuple[str, ...]] = []
    backend = DeviceBackend(rt.key, mode, cold=True, kernels_ready=lambda *tasks: asked.append(tasks))
    proof = prove_table(claim, main_table(aet, degree_lowered=False), seed=seed, backend=backend,
                        degree_lowered=False)
    np.testing.assert_array_equal(proof, reference)
    firsts = list(dict.fromkeys(asked))
    assert firsts == [("interpreter", "lowering_main"), ("hashing",), ("interpreter", "lowering_aux"),
                      ("constraints", "late_quotient", "late_open")]  # no extend.cl: extended on the host
