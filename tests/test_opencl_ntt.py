"""OpenCL field, NTT, INTT and LDE kernels against the numpy reference (stages/field.py, stages/ntt.py), on
every OpenCL CPU implementation present (the `device` fixture of conftest)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import random_field
from tvmpd.opencl import ntt as cl_ntt
from tvmpd.opencl.runtime import get_runtime
from tvmpd.stages import field as F
from tvmpd.stages import ntt as np_ntt
from tvmpd.stages import xfield as X

P = F.P


@pytest.fixture(scope="module")
def rng():
    return np.random.default_rng()



def _edge_values(rng, n):
    """Random values with a share of edge cases (0, 1, p-1, 2^32-1, 2^32, p-2^32)."""
    x = random_field(rng, n)
    edges = np.array([0, 1, P - 1, 2**32 - 1, 2**32, P - 2**32, P - 2], dtype=np.uint64)
    pick = rng.random(n) < 0.25
    x[pick] = rng.choice(edges, size=int(pick.sum()))
    return x


def _run_binary(device, kernel_name, a, b, width=1):
    rt = get_runtime(device)
    n = a.shape[0]
    out = rt.empty(a.nbytes)
    rt.kernel("field", kernel_name)(rt.queue, (max(n, 1),), None, rt.to_device(a), rt.to_device(b), out,
                                    np.uint32(n))
    return rt.from_device(out, a.shape)


def test_field_kernels_match_numpy(device, rng):
    a = _edge_values(rng, 4096)
    b = _edge_values(rng, 4096)
    assert np.array_equal(_run_binary(device, "gl_mul_kernel", a, b), F.mul(a, b))
    assert np.array_equal(_run_binary(device, "gl_add_kernel", a, b), F.add(a, b))
    assert np.array_equal(_run_binary(device, "gl_sub_kernel", a, b), F.sub(a, b))


@pytest.mark.parametrize("options", [(), ("-DGL_CPU_CARRIES",), ("-DGL_INT128",),
                                     ("-DGL_INT128", "-DGL_CPU_CARRIES", "-DGL_MUL_CALL")],
                         ids=["plain", "cpu-carries", "int128", "int128-carries-call"])
def test_every_form_of_field_cl_matches_numpy(device, rng, options):
    """field.cl's two ways of testing carries and borrows and its two ways of multiplying (opencl/air.py
    builds the AIR's kernels for pocl with GL_CPU_CARRIES and GL_MUL_CALL; runtime.py adds GL_INT128 on CPUs
    that have 128-bit integers) give the same sums, differences and products, edge values included."""
    import pyopencl as cl

    from tvmpd.opencl.runtime import BUILD_OPTIONS, INT128_OPTIONS, KERNEL_DIR

    rt = get_runtime(device)
    if "-DGL_INT128" in options and rt.device_options() != INT128_OPTIONS:
        pytest.skip("this device's compiler has no 128-bit integers")
    source = "\n".join((KERNEL_DIR / f).read_text() for f in ("field.cl", "field_kernels.cl"))
    program = cl.Program(rt.context, source).build(options=list(BUILD_OPTIONS + options))
    a, b = _edge_values(rng, 8192), _edge_values(rng, 8192)
    for name, expected in (("gl_mul_kernel", F.mul(a, b)), ("gl_mul_limbs_kernel", F.mul(a, b)),
                           ("gl_add_kernel", F.add(a, b)),
                           ("gl_sub_kernel", F.sub(a, b))):
        out = rt.empty(a.nbytes)
        getattr(program, name)(rt.queue, (a.size,), None, rt.to_device(a), rt.to_device(b), out,
                               np.uint32(a.size))
        assert np.array_equal(rt.from_device(out, a.shape), expected), name
    x, y = a[:8190].reshape(-1, 3), b[:8190].reshape(-1, 3)
    out = rt.empty(x.nbytes)
    program.xfe_mul_kernel(rt.queue, (len(x),), None, rt.to_device(x), rt.to_device(y), out,
                           np.uint32(len(x)))
    assert np.array_equal(rt.from_device(out, x.shape), X.mul(x, y))
    base = b[:len(x)]  # under GL_MUL_CALL both extension products are out-of-line helpers of their own
    program.xfe_mul_base_kernel(rt.queue, (len(x),), None, rt.to_device(x), rt.to_device(base), out,
                                np.uint32(len(x)))
    assert np.array_equal(rt.from_device(out, x.shape), F.mul(x, base[:, None]))


def test_xfe_mul_kernel_matches_numpy(device, rng):
    a = _edge_values(rng, 3 * 1000).reshape(1000, 3)
    b = _edge_values(rng, 3 * 1000).reshape(1000, 3)
    assert np.array_equal(_run_binary(device, "xfe_mul_kernel", a, b), X.mul(a, b))


def test_primitive_roots_match_field_module():
    for log_n in (0, 1, 5, 16, 24, 32):
        assert cl_ntt.primitive_root(2**log_n) == F.primitive_root(2**log_n)


@pytest.mark.parametrize("log_n, cols", [(0, 1), (1, 3), (4, 5), (7, 1), (11, 2), (12, 3), (14, 1)])
def test_ntt_and_intt_match_numpy(device, rng, log_n, cols):
    x = random_field(rng, (1 << log_n, cols))
    values = cl_ntt.ntt(x, device)
    assert np.array_equal(values, np_ntt.ntt(x))
    coeffs = cl_ntt.intt(x, device)
    assert np.array_equal(coeffs, np_ntt.intt(x))
    assert np.array_equal(cl_ntt.intt(values, device), x)


def test_ntt_extension_columns(device, rng):
    x = random_field(rng, (256, 3, 3))
    out = cl_ntt.ntt(x, device)
    assert out.shape == x.shape
    assert np.array_equal(out, np_ntt.ntt(x))


@pytest.mark.parametrize(
    "log_n, log_out, cols, offsets",
    [
        (0, 0, 1, (1, 7)),
        (0, 3, 2, (7, 1)),
        (1, 1, 3, (1, 7)),
        (2, 5, 1, (3, 5)),
        (5, 8, 7, (1, 7)),
        (8, 10, 3, (7, 49)),
        (10, 13, 1, (1, 7)),
        (12, 16, 2, (7, 1)),
    ],
)
def test_lde_matches_numpy(device, rng, log_n, log_out, cols, offsets):
    x = random_field(rng, (1 << log_n, cols))
    got = cl_ntt.lde(x, offsets[0], offsets[1], 1 << log_out, device)
    assert np.array_equal(got, np_ntt.lde(x, offsets[0], offsets[1], 1 << log_out))


def test_lde_extension_random_offsets(device, rng):
    x = random_field(rng, (64, 5, 3))
    o_in, o_out = (int(v) for v in rng.integers(1, P, size=2, dtype=np.uint64))
    got = cl_ntt.lde(x, o_in, o_out, 512, device)
    assert got.shape == (512, 5, 3)
    assert np.array_equal(got, np_ntt.lde(x, o_in, o_out, 512))


def test_pass_plans_cover_every_stage():
    for log_n in range(0, 25):
        for first in range(0, log_n + 1):
            dit = cl_ntt.plan_dit(first, log_n)
            assert [s for s0, k, _ in dit for s in range(s0, s0 + k)] == list(range(first, log_n))
            dif = cl_ntt.plan_dif(first, log_n)
            covered = [s for s0, k, _ in dif for s in reversed(range(s0, s0 + k))]
            assert covered == list(reversed(range(first, log_n)))
            for s0, k, log_t in dit + dif:
                assert log_t <= s0 and k + log_t <= cl_ntt.LOG_BLOCK


def test_bad_input_raises():
    with pytest.raises(ValueError):
        cl_ntt.ntt(np.zeros((3, 2), dtype=np.uint64))
    with pytest.raises(ValueError):
        cl_ntt.ntt(np.zeros((4, 2), dtype=np.int64))
    with pytest.raises(ValueError):
        cl_ntt.intt(np.full((4, 2), P, dtype=np.uint64))
    with pytest.raises(ValueError):
        cl_ntt.lde(np.zeros((8, 1), dtype=np.uint64), 1, 7, 4)
    with pytest.raises(ValueError):
        cl_ntt.lde(np.zeros((8, 1), dtype=np.uint64), 0, 7, 16)


@pytest.mark.parametrize("length, log_n, cols", [(0, 2, 1), (1, 0, 2), (1, 4, 1), (5, 3, 3), (64, 6, 2),
                                                 (100, 10, 3), (1024, 13, 1)])
def test_coset_evaluate_matches_numpy(device, rng, length, log_n, cols):
    coeffs = random_field(rng, (length, cols))
    offset = int(rng.integers(1, P, dtype=np.uint64))
    got = cl_ntt.coset_evaluate(coeffs, offset, 1 << log_n, device)
    assert np.array_equal(got, np_ntt.coset_evaluate(coeffs, offset, 1 << log_n))


def test_coset_evaluate_extension_and_bad_input(device, rng):
    coeffs = random_field(rng, (40, 2, 3))
    got = cl_ntt.coset_evaluate(coeffs, 7, 256, device)
    assert np.array_equal(got, np_ntt.coset_evaluate(coeffs, 7, 256))
    with pytest.raises(ValueError):
        cl_ntt.coset_evaluate(coeffs, 7, 32)  # more coefficients than points
    with pytest.raises(ValueError):
        cl_ntt.coset_evaluate(coeffs, 0, 256)


def test_runtime_builds_and_caches_source_programs(device):
    rt = get_runtime(device)
    src = "__kernel void twice(__global ulong *x) { x[get_global_id(0)] *= 2; }"
    prog = rt.program_from_source("test_twice", src)
    assert rt.program_from_source("test_twice", src) is prog
    buf = rt.to_device(np.arange(4, dtype=np.uint64))
    prog.twice(rt.queue, (4,), None, buf)
    assert rt.from_device(buf, (4,)).tolist() == [0, 2, 4, 6]


@pytest.mark.parametrize("log_len, log_n", [(6, 4), (6, 5), (9, 7), (12, 11)])
def test_coset_evaluate_device_on_a_coset_smaller_than_the_polynomial(device, rng, log_len, log_n):
    # coefficients j + t n fold onto j: the prover evaluates on cosets of half the randomized-trace
    # length when the full-length coset buffers would not fit the device
    rt = get_runtime(device)
    coeffs = rng.integers(0, F.P, size=(3, 1 << log_len), dtype=np.uint64)
    offset = 7
    src, dst = rt.to_device(coeffs), rt.empty(8 * 3 << log_n)
    cl_ntt.coset_evaluate_device(rt, src, dst, 3, log_len, log_n, offset)
    got = rt.from_device(dst, (3, 1 << log_n))
    from tvmpd.stages.domains import powers

    x = F.mul(np.uint64(offset), powers(cl_ntt.primitive_root(1 << log_n), 1 << log_n))
    want = np.zeros_like(got)
    power = np.ones(1 << log_n, dtype=np.uint64)
    for j in range(1 << log_len):  # Horner would be shorter; this is the definition
        want = F.add(want, F.mul(coeffs[:, j:j + 1], power[np.newaxis]))
        power = F.mul(power, x)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("log_len, log_n", [(14, 14), (15, 14), (13, 15), (12, 12), (11, 11)])
def test_coset_evaluate_device_of_wanted_rows_only(device, rng, log_len, log_n):
    # opening rows: the last pass runs only on the blocks holding the wanted rows; those rows must equal a
    # full evaluation's (the rest of the output is not looked at), with and without folding and padding
    rt = get_runtime(device)
    ncols, n = 3, 1 << log_n
    coeffs = random_field(rng, (ncols, 1 << log_len))
    offset = int(rng.integers(1, P, dtype=np.uint64))
    # random rows of three blocks of the last pass (a block: the rows with equal low log_n - 11 bits)
    top = max(0, log_n - cl_ntt.LOG_BLOCK)
    rows = np.concatenate([(rng.integers(0, n >> top, size=20) << top) | (3 % (1 << top)), [0, n - 1]])
    src = rt.to_device(coeffs)
    full, part = rt.empty(8 * ncols * n), rt.to_device(np.full(ncols * n, 5, dtype=np.uint64))
    # the GPU-shaped passes (the CPU column kernels compute every row anyway), run here on the CPU device
    cl_ntt.coset_evaluate_passes(rt, src, full, ncols, log_len, log_n, offset)
    cl_ntt.coset_evaluate_passes(rt, src, part, ncols, log_len, log_n, offset, rows=rows)
    want = rt.from_device(full, (ncols, n))
    got = rt.from_device(part, (ncols, n))
    np.testing.assert_array_equal(got[:, rows], want[:, rows])
    if cl_ntt.partial_plan(max(0, log_n - log_len), log_n) is not None and top >= 3:
        # the other blocks really were skipped: they still hold the earlier passes' values
        assert np.count_nonzero(got != want) > ncols * n // 2


def test_partial_plan_covers_every_stage_and_ends_on_whole_blocks():
    for first, log_n in [(0, 12), (0, 22), (3, 23), (4, 16), (0, 30)]:
        plan = cl_ntt.partial_plan(first, log_n)
        stages = [s for s0, k, _ in plan for s in range(s0, s0 + k)]
        assert stages == list(range(first, log_n))
        assert plan[-1] == (log_n - cl_ntt.LOG_BLOCK, cl_ntt.LOG_BLOCK, 0)
    assert cl_ntt.partial_plan(0, 11) is None and cl_ntt.partial_plan(5, 16) is None
@pytest.mark.parametrize("log_len, log_n, cols", [(0, 0, 1), (1, 3, 2), (5, 5, 3), (9, 12, 2), (13, 13, 2),
                                                  (12, 14, 1), (8, 5, 3), (14, 12, 1)])
def test_both_transform_shapes_match_numpy(device, rng, log_len, log_n, cols):
    """The column-per-work-item transforms a CPU runs (ntt_cpu.cl) and the local-memory passes a GPU runs
    (ntt.cl) give numpy's values on every device: coset evaluation with column offsets and a dst stride
    (folded when the polynomial is longer than the coset), NTT and inverse NTT."""
    rt = get_runtime(device)
    n = 1 << log_n
    coeffs = random_field(rng, (cols, 1 << log_len))
    offset = int(rng.integers(1, P, dtype=np.uint64))
    x = F.mul(np.uint64(offset), np.array([pow(cl_ntt.primitive_root(n), i, P) for i in range(n)],
                                          dtype=np.uint64))
    want = np.zeros((cols, n), dtype=np.uint64)
    for j in reversed(range(1 << log_len)):  # Horner
        want = F.add(F.mul(want, x[np.newaxis]), coeffs[:, j:j + 1])
    src = rt.to_device(np.concatenate([random_field(rng, 5), coeffs.ravel()]))
    square = random_field(rng, (cols, n))
    for evaluate, forward, inverse in ((cl_ntt._coset_evaluate_columns, cl_ntt._ntt_columns,
                                        cl_ntt._intt_columns),
                                       (cl_ntt.coset_evaluate_passes, cl_ntt.ntt_passes, cl_ntt.intt_passes)):
        dst = rt.empty(8 * (3 + (n + 2) * cols))
        evaluate(rt, src, dst, cols, log_len, log_n, offset, 5, 3, n + 2)
        got = rt.from_device(dst, (3 + (n + 2) * cols,))[3:].reshape(cols, n + 2)[:, :n]
        assert np.array_equal(got, want), evaluate.__name__
        out = rt.empty(8 * n * cols)
        forward(rt, rt.to_device(square), out, cols, log_n)
        assert np.array_equal(rt.from_device(out, (cols, n)), np_ntt.ntt(square.T).T), forward.__name__
        inverse(rt, rt.to_device(square), out, cols, log_n)
        assert np.array_equal(rt.from_device(out, (cols, n)), np_ntt.intt(square.T).T), inverse.__name__
