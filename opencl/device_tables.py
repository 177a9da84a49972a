"""Device-resident column-major tables and the STARK steps over them: upload, randomized interpolants,
coset evaluation, row hashing into Merkle trees, quotient combination, segments, out-of-domain values,
DEEP, FRI folding and row gathering, each on buffers that stay on one device.

Tables live column-major on the device as their randomized interpolants' coefficients (one buffer,
column c at c * L); extension tables are three base columns per column. Only digests, roots, small
vectors and revealed rows come back to the host. Kernels: opencl/device_tables.cl (+ field.cl), the
generated AIR constraint kernels through opencl/air.py, and the NTT / Tip5 / Merkle wrappers.
"""

from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyopencl as cl

from tvmpd.opencl import merkle, tip5
from tvmpd.opencl.air import AirKernels, evaluate_constraints
from tvmpd.opencl.ntt import coset_evaluate_device, coset_interpolate_device, intt_device
from tvmpd.opencl.runtime import KERNEL_DIR, Runtime

P = 2**64 - 2**32 + 1
EVAL_BLOCK = 8  # columns per work-item in evaluate_partial_kernel (device_tables.cl)
EVAL_GROUPS = 64  # work-groups per column block of evaluate_partial_kernel
# On a CPU: few small groups, so that each work-item sums many rows (its setup, two powers of each point,
# costs as much as about a hundred rows) and the closing reduction over the group stays short.
CPU_EVAL_GROUP = 8
CPU_EVAL_GROUPS = 16
BATCH_BYTES = 1 << 30  # largest scratch / staging buffer
UPLOAD_CHUNK_BYTES = 64 << 20  # rows of a host table per upload step: two pinned staging buffers of this size
UPLOAD_THREADS = 8  # host threads writing a chunk into pinned memory (numpy's copy releases the GIL)
UPLOAD_THREAD_BYTES = 4 << 20  # ... each copying at least this much of a chunk
CPU_RUN_GROUP = 64  # CPU devices: work-group size of this file's other kernels (see _run)
# Kernels of this file a proof first launches in its quotient stage or later: a cold warm-up has a helper
# compile them (first_launch) while its own proof is still at the tables (opencl/prebuild.py).
QUOTIENT_KERNELS = ("quotient_combine_kernel", "quotient_unfold_kernel", "segments_split_kernel")
OPEN_KERNELS = ("weighted_sum_kernel", "deep_kernel", "fri_fold_kernel", "xfe_leaves_kernel",
                "gather_columns_kernel")  # from the DEEP codeword on
LATE_KERNELS = QUOTIENT_KERNELS + OPEN_KERNELS
_ZERO = {"uint": np.uint32(0), "ulong": np.uint64(0), "int": np.int32(0), "long": np.int64(0)}


def build_program(rt: Runtime) -> cl.Program:
    """device_tables.cl (with field.cl) built for this context (once; on a CPU the program of every
    hand-written kernel, runtime.PROGRAMS)."""
    return rt.program("device_tables")


def _kernel(rt: Runtime, name: str) -> cl.Kernel:
    key = ("device_tables_kernel", name)
    if key not in rt.cache:
        rt.cache[key] = getattr(build_program(rt), name)
    return rt.cache[key]


def _run(rt: Runtime, name: str, gsize: tuple[int, ...], *args, wait_for=None) -> cl.Event | None:
    """Launch a kernel of this file over gsize (every kernel skips ids past its counts). On a CPU the
    work-group size is fixed (CPU_RUN_GROUP along dimension 0, global size rounded up): pocl compiles a
    kernel once per work-group size, and left to choose it picks one from the global size, so gathers of
    ever new row counts (authentication paths) each paid a compile. Returns the launch's event (None if
    nothing ran); wait_for: events it waits for."""
    if not all(gsize):
        return None
    kern = _kernel(rt, name)
    if not rt.device.type & cl.device_type.CPU:
        return kern(rt.queue, gsize, None, *args, wait_for=wait_for)
    local = rt.group_size(kern, CPU_RUN_GROUP)
    return rt.launch(kern, (-(-gsize[0] // local) * local,) + tuple(gsize[1:]),
                     (local,) + (1,) * (len(gsize) - 1), *args, wait_for=wait_for)


def _zero_arguments(source: str, name: str, scratch: cl.Buffer) -> list:
    """Arguments for kernel `name` of device_tables.cl (its source): scratch for each buffer, a zero of its
    type for each scalar (read from the kernel's signature)."""
    found = re.search(rf"__kernel void {name}\(([^)]*)\)", source)
    if found is None:
        raise ValueError(f"no kernel {name} in device_tables.cl")
    params = [" ".join(p.split()) for p in found.group(1).split(",")]
    return [scratch if "__global" in p else _ZERO[p.removeprefix("const ").split()[0]] for p in params]


def first_launch(rt: Runtime, names: tuple[str, ...]) -> None:
    """Launch each named kernel of this file once, every scalar zero and every buffer a small scratch one,
    so that pocl compiles it (it does at a kernel's first launch). Every kernel skips ids past its counts,
    so none reads or writes anything; and _run's launch shape on a CPU (CPU_RUN_GROUP, pieces at non-zero
    offsets) does not depend on the sizes, so the prover's launches use this compiled code."""
    scratch, source = rt.empty(4096), (KERNEL_DIR / "device_tables.cl").read_text()
    for name in names:
        _run(rt, name, (1,), *_zero_arguments(source, name, scratch))
    rt.queue.finish()


def first_launch_hashing(rt: Runtime) -> None:
    """Compile the kernels that hash a table's rows into a Merkle tree and read its root, by making one tree
    of eight one-column rows as the prover makes its trees (their CPU launch shapes do not depend on the
    sizes, as first_launch's do not)."""
    values = rt.to_device(np.zeros(8, dtype=np.uint64))
    nodes = new_tree(rt, 8)
    hash_rows_into_tree(rt, values, 1, 8, nodes, 8, 0, 1)
    finish_tree(rt, nodes, 8)
    gather_rows(rt, nodes, [1], 5)


def first_launch_evaluate(rt: Runtime) -> None:
    """Compile evaluate_partial_kernel (the out-of-domain rows) by one evaluation of eight columns of eight
    coefficients: on a CPU its launch shape is the same for every size."""
    point = np.zeros((1, 3), dtype=np.uint64)
    evaluate_at(rt, rt.to_device(np.zeros(64, dtype=np.uint64)), 8, 8, point, point)


def fill_zero(rt: Runtime, buf: cl.Buffer, nbytes: int, start: int = 0, piece: int = BATCH_BYTES) -> None:
    """Zero nbytes (a multiple of 8) of a device buffer from byte `start` (a multiple of 8) with zero_kernel,
    one launch per `piece` bytes; see device_tables.cl for why not clEnqueueFillBuffer."""
    first, last = start // 8, (start + nbytes) // 8
    for at in range(first, last, piece // 8):
        count = min(piece // 8, last - at)
        _run(rt, "zero_kernel", (count,), buf, np.uint64(at), np.uint64(count))


def batch_width(n: int, ncols: int, multiple: int = 1) -> int:
    """Columns per batch so that a scratch buffer of n rows stays under BATCH_BYTES."""
    per = max(multiple, BATCH_BYTES // (8 * n) // multiple * multiple)
    return max(1, min(per, ncols))


def _pinned_staging(rt: Runtime, nbytes: int) -> list[np.ndarray]:
    """Two host arrays of nbytes in pinned (page-locked) memory: buffers allocated by the driver
    (ALLOC_HOST_PTR) and mapped once for good, kept per context. A copy from pinned memory is a DMA that
    runs alongside kernels; a copy from a pageable array is staged by the driver and blocks."""
    key = ("pinned_staging",)
    if key not in rt.cache or rt.cache[key][1][0].nbytes < nbytes:
        flags = cl.mem_flags.READ_WRITE | cl.mem_flags.ALLOC_HOST_PTR
        bufs = [cl.Buffer(rt.context, flags, size=nbytes) for _ in range(2)]
        views = [cl.enqueue_map_buffer(rt.queue, buf, cl.map_flags.WRITE, 0, (nbytes // 8,), np.uint64)[0]
                 for buf in bufs]
        rt.cache[key] = (bufs, views)  # the buffers stay referenced while their mapped views are in use
    return rt.cache[key][1]


def _copy_queue(rt: Runtime) -> cl.CommandQueue:
    """A second in-order queue of the runtime's device for host-to-device copies, so that a copy can run
    while rt.queue runs a kernel; with rt.queue's properties (its events carry device timestamps when
    profiling is on, as tools/profile_prove.py needs)."""
    key = ("copy_queue",)
    if key not in rt.cache:
        rt.cache[key] = cl.CommandQueue(rt.context, rt.device, properties=rt.queue.properties)
    return rt.cache[key]


def _copy_rows(pool: ThreadPoolExecutor | None, threads: int, out: np.ndarray, src: np.ndarray) -> None:
    """out[:] = src (same shape), the rows split over `threads` of the pool (None: this thread alone)."""
    if pool is None:
        np.copyto(out, src)
        return
    step = -(-len(out) // threads)
    list(pool.map(lambda a: np.copyto(out[a:a + step], src[a:a + step]), range(0, len(out), step)))


TILE, TILE_ROWS = 32, 8  # device_tables.cl transpose_tiled_kernel's work-group shape


def transpose(rt: Runtime, src: cl.Buffer, dst: cl.Buffer, n: int, cols: int, dst_stride: int, row0: int,
              dst_off: int, wait_for: list | None = None, tiled: bool | None = None) -> cl.Event | None:
    """dst[dst_off + c * dst_stride + row0 + r] = src[r * cols + c] for r < n, c < cols (row-major rows into
    column-major columns). tiled: through local memory, both sides contiguous (the default on GPUs); else
    one element per work-item, reads strided by cols (the default on CPUs, where caches hide the stride)."""
    args = (src, dst, np.uint32(n), np.uint32(cols), np.uint64(dst_stride), np.uint64(row0),
            np.uint64(dst_off))
    if tiled is None:
        tiled = not rt.device.type & cl.device_type.CPU
    if not tiled:
        return _run(rt, "transpose_kernel", (n, cols), *args, wait_for=wait_for)
    gsize = (-(-n // TILE) * TILE, -(-cols // TILE) * TILE_ROWS)
    return _kernel(rt, "transpose_tiled_kernel")(rt.queue, gsize, (TILE, TILE_ROWS), *args, wait_for=wait_for)


def upload_columns(rt: Runtime, table: np.ndarray, dst: cl.Buffer | None = None,
                   first_column: int = 0) -> cl.Buffer:
    """A row-major (rows, cols) host table as a column-major device table, transposed on the device: a new
    buffer, or columns first_column.. of dst (a table of the same row count).

    Row chunks of UPLOAD_CHUNK_BYTES go through two pinned staging buffers and two device buffers: while
    chunk k is transposed on rt.queue, host threads write chunk k + 1 into pinned memory and a second queue
    copies it to the device. Returns once every chunk is in place."""
    rows, cols = table.shape
    dst = dst if dst is not None else rt.empty(8 * rows * cols)
    if rows == 0 or cols == 0:
        return dst
    chunk = max(1, min(rows, UPLOAD_CHUNK_BYTES // (8 * cols)))
    pinned = _pinned_staging(rt, 8 * chunk * cols)
    copies = _copy_queue(rt)
    staging = [rt.empty(8 * chunk * cols) for _ in range(2)]
    done: list[cl.Event | None] = [None, None]  # per slot: the transpose that last read it
    threads = max(1, min(UPLOAD_THREADS, os.cpu_count() or 1, 8 * chunk * cols // UPLOAD_THREAD_BYTES))
    pool = ThreadPoolExecutor(threads) if threads > 1 else None
    for k, r0 in enumerate(range(0, rows, chunk)):
        r1, slot = min(rows, r0 + chunk), k % 2
        if done[slot] is not None:
            done[slot].wait()  # its pinned and device buffers are free again
        n = r1 - r0
        host = pinned[slot][:n * cols].reshape(n, cols)
        _copy_rows(pool, threads, host, table[r0:r1])
        copied = cl.enqueue_copy(copies, staging[slot], host, is_blocking=False)
        copies.flush()  # an event waited for on another queue must have been flushed (OpenCL 1.2, 5.13)
        done[slot] = transpose(rt, staging[slot], dst, n, cols, rows, r0, first_column * rows, [copied])
        rt.queue.flush()
    if pool is not None:
        pool.shutdown()
    for event in done:
        if event is not None:
            event.wait()
    for buf in staging:
        buf.release()
    return dst


def download_columns(rt: Runtime, buf: cl.Buffer, ncols: int, n: int) -> np.ndarray:
    """A column-major device table as a row-major (n, ncols) host array (small tables: tests, last rounds)."""
    return rt.from_device(buf, (ncols, n)).T.copy()


def randomized_interpolants(rt: Runtime, trace: cl.Buffer, ncols: int, h: int,
                            randomizers: np.ndarray, first_col: int = 0) -> cl.Buffer:
    """Coefficients (ncols x 2h) of interpolant + (X^h - 1) * randomizer of the trace's columns first_col ..
    first_col + ncols (column-major trace, h rows each, on <w_h>); randomizers (ncols, k). The trace is
    kept."""
    log_h = h.bit_length() - 1
    k = randomizers.shape[1]
    coef = rt.empty(8 * ncols * 2 * h)
    bc = batch_width(h, ncols)
    tmp, work = rt.empty(8 * bc * h), rt.empty(8 * bc * h)
    for c0 in range(0, ncols, bc):
        c1 = min(ncols, c0 + bc)
        cl.enqueue_copy(rt.queue, work, trace, src_offset=8 * (first_col + c0) * h,
                        byte_count=8 * (c1 - c0) * h)
        intt_device(rt, work, tmp, c1 - c0, log_h)
        rnd = rt.to_device(np.ascontiguousarray(randomizers[c0:c1]))
        _run(rt, "randomize_kernel", (2 * h, c1 - c0), tmp, rnd, coef, np.uint32(h), np.uint32(k),
             np.uint64(c0 * 2 * h))
    rt.queue.finish()
    tmp.release()
    work.release()
    return coef


def interpolate_coset(rt: Runtime, values: cl.Buffer, ncols: int, n: int, offset: int,
                      first: int = 0) -> cl.Buffer:
    """Coefficients (ncols x n) of the polynomials of degree below n whose values on offset * <w_n> are
    columns first .. first + ncols of `values` (column-major, n rows each; kept), in column batches."""
    log_n = n.bit_length() - 1
    coef = rt.empty(8 * ncols * n)
    bc = batch_width(n, ncols)
    work, tmp = rt.empty(8 * bc * n), rt.empty(8 * bc * n)
    for c0 in range(0, ncols, bc):
        c1 = min(ncols, c0 + bc)
        cl.enqueue_copy(rt.queue, work, values, src_offset=8 * (first + c0) * n, byte_count=8 * (c1 - c0) * n)
        coset_interpolate_device(rt, work, tmp, coef, c1 - c0, log_n, offset, c0 * n)
    rt.queue.finish()
    work.release()
    tmp.release()
    return coef


def evaluate_coset(rt: Runtime, coef: cl.Buffer, ncols: int, length: int, offset: int, n: int,
                   out: cl.Buffer, out_col: int = 0, rows: np.ndarray | None = None, first: int = 0) -> None:
    """Columns out_col .. out_col + ncols of out (n rows each) <- values at offset * w_n^i of the
    polynomials of coef's columns first .. first + ncols (length coefficients each; n may be smaller than
    length), in column batches of at most BATCH_BYTES of output. rows: only these rows are wanted (less
    work; the others hold anything)."""
    log_len, log_n = length.bit_length() - 1, n.bit_length() - 1
    bc = batch_width(n, ncols)
    for c0 in range(0, ncols, bc):
        c1 = min(ncols, c0 + bc)
        coset_evaluate_device(rt, coef, out, c1 - c0, log_len, log_n, offset, (first + c0) * length,
                              (out_col + c0) * n, rows=rows)


def hash_rows_into_tree(rt: Runtime, values: cl.Buffer, ncols: int, n: int, nodes: cl.Buffer, n_leaves: int,
                        first: int, step: int) -> None:
    """Leaves first + step * i (i < n) of a node array <- hash_varlen of row i of a column-major table."""
    digests = rt.empty(40 * n)
    tip5.hash_rows_device(rt, values, n, ncols, digests)
    _run(rt, "scatter_digests_kernel", (n,), digests, nodes, np.uint32(n), np.uint64(n_leaves),
         np.uint32(first), np.uint32(step))
    rt.queue.finish()
    digests.release()


def new_tree(rt: Runtime, n_leaves: int) -> cl.Buffer:
    """A zeroed node array (2 n_leaves, 5) for merkle.levels_device."""
    return merkle.new_nodes(rt, n_leaves)


def finish_tree(rt: Runtime, nodes: cl.Buffer, n_leaves: int) -> None:
    """Fill the internal nodes once all leaves are set."""
    merkle.levels_device(rt, nodes, n_leaves)


def gather_rows(rt: Runtime, src: cl.Buffer, indices, width: int) -> np.ndarray:
    """Rows `indices` of a row-major (*, width) device array -> (len(indices), width) host array."""
    idx = np.asarray(indices, dtype=np.uint64)
    if len(idx) == 0:
        return np.zeros((0, width), dtype=np.uint64)
    ibuf = rt.to_device(idx)
    out = rt.empty(8 * len(idx) * width)
    _run(rt, "gather_rows_kernel", (len(idx),), src, ibuf, out, np.uint32(len(idx)), np.uint32(width))
    return rt.from_device(out, (len(idx), width))


def gather_columns(rt: Runtime, data: cl.Buffer, n: int, ncols: int, indices) -> np.ndarray:
    """Rows `indices` of a column-major (ncols x n) device table -> (len(indices), ncols) host array."""
    idx = np.asarray(indices, dtype=np.uint64)
    if len(idx) == 0:
        return np.zeros((0, ncols), dtype=np.uint64)
    ibuf = rt.to_device(idx)
    out = rt.empty(8 * len(idx) * ncols)
    _run(rt, "gather_columns_kernel", (len(idx), ncols), data, np.uint64(n), ibuf, out, np.uint32(len(idx)),
         np.uint32(ncols))
    return rt.from_device(out, (len(idx), ncols))


def constraint_sums(rt: Runtime, kernels: AirKernels, main_vals: cl.Buffer, aux_vals: cl.Buffer, n: int,
                    step: int, challenges: cl.Buffer, weights: cl.Buffer, sums: cl.Buffer,
                    only: tuple[int, ...] | None = None) -> None:
    """sums (n x 4 x 3) <- the weighted constraint sums per category of n rows (next row at +step) of
    column-major main / split-component aux values (mode 1 of air.evaluate_constraints; only: these
    constraint kernels, by launch index; the other constraints count as zero)."""
    cl.enqueue_fill_buffer(rt.queue, sums, np.uint64(0), 0, 96 * n)
    evaluate_constraints(rt, kernels, main_vals, (1, n), aux_vals, (1, 3 * n, n), challenges, weights, n,
                         step, 1, sums, only=only)


def quotient_coset(rt: Runtime, kernels: AirKernels, main_vals: cl.Buffer, aux_vals: cl.Buffer, n: int,
                   step: int, challenges: cl.Buffer, weights: cl.Buffer, sums: cl.Buffer, out: cl.Buffer,
                   out_len: int, first: int, out_step: int, offset: int, gen: int, omega_inv: int,
                   cons_even: int, cons_odd: int, only: tuple[int, ...] | None = None) -> None:
    """Quotient values of one coset (n rows, next row at +step) into out (3 x out_len) at first + out_step *
    i, from the constraint sums per category (constraint_sums; only: of these kernels alone)."""
    constraint_sums(rt, kernels, main_vals, aux_vals, n, step, challenges, weights, sums, only)
    _run(rt, "quotient_combine_kernel", (n,), sums, out, np.uint32(n), np.uint64(offset), np.uint64(gen),
         np.uint64(omega_inv), np.uint64(cons_even), np.uint64(cons_odd), np.uint64(out_len),
         np.uint32(first), np.uint32(out_step))


def quotient_segment_coefficients(rt: Runtime, quotient: cl.Buffer, n: int, offset: int) -> cl.Buffer:
    """Segment coefficients (12 x n/4: column 3k + j = component j of q_k) of the quotient codeword on
    offset * <w_n> (3 x n column-major; overwritten)."""
    log_n = n.bit_length() - 1
    coeffs = rt.empty(8 * 3 * n)
    intt_device(rt, quotient, coeffs, 3, log_n)
    seg = rt.empty(8 * 3 * n)
    _run(rt, "segments_split_kernel", (n,), coeffs, seg, np.uint32(n // 4), np.uint64(pow(offset, P - 2, P)))
    rt.queue.finish()
    coeffs.release()
    return seg


def quotient_segments_from_half(rt: Runtime, half: cl.Buffer, high: cl.Buffer, n: int,
                                offset: int) -> cl.Buffer:
    """Segment coefficients (as quotient_segment_coefficients) of a quotient of degree below n whose part
    of degree n/2 and above comes from the `high` constraints alone: half (3 x n/2) holds the whole
    quotient on offset * <w_n^2>, high (3 x n) those constraints' quotient on offset * <w_n>. In x /
    offset, the half domain's interpolant is the quotient with its upper half added onto its lower
    half, and that upper half is the high quotient's. Both buffers are released once read (peak 60 n
    bytes, where quotient_segment_coefficients has 72 n)."""
    log_n = n.bit_length() - 1
    coeffs = rt.empty(8 * 3 * n)
    intt_device(rt, high, coeffs, 3, log_n)
    rt.queue.finish()
    high.release()
    low = rt.empty(8 * 3 * n // 2)
    intt_device(rt, half, low, 3, log_n - 1)
    rt.queue.finish()
    half.release()
    _run(rt, "quotient_unfold_kernel", (n // 2,), low, coeffs, np.uint32(n // 2))
    rt.queue.finish()
    low.release()
    seg = rt.empty(8 * 3 * n)
    _run(rt, "segments_split_kernel", (n,), coeffs, seg, np.uint32(n // 4), np.uint64(pow(offset, P - 2, P)))
    rt.queue.finish()
    coeffs.release()
    return seg


def evaluate_at(rt: Runtime, data: cl.Buffer, n: int, ncols: int, za: np.ndarray, zb: np.ndarray,
                count: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Values of the ncols base polynomials (coefficients column-major, n each, of which only the first
    `count` may be nonzero: default n) at extension points za, zb: two (ncols, 3) arrays."""
    count = n if count is None else count
    nblocks = -(-ncols // EVAL_BLOCK)
    kernel = _kernel(rt, "evaluate_partial_kernel")
    cpu = bool(rt.device.type & cl.device_type.CPU)
    lsize = rt.group_size(kernel, CPU_EVAL_GROUP if cpu else 256)  # at most 256: the kernel's local array
    groups = max(1, min(CPU_EVAL_GROUPS if cpu else EVAL_GROUPS, count // lsize))
    points = rt.to_device(np.concatenate([za, zb]).astype(np.uint64))
    partial = rt.empty(8 * nblocks * groups * EVAL_BLOCK * 6)
    kernel(rt.queue, (groups * lsize, nblocks), (lsize, 1), data, np.uint64(n), np.uint32(ncols),
           np.uint32(count), points, partial)
    parts = rt.from_device(partial, (nblocks, groups, EVAL_BLOCK, 2, 3))
    total = parts[:, 0]
    for g in range(1, groups):
        s = total + parts[:, g]
        total = np.where((s < total) | (s >= P), s - np.uint64(P), s)  # field add (wrap-around included)
    total = total.reshape(nblocks * EVAL_BLOCK, 2, 3)[:ncols]
    return total[:, 0].copy(), total[:, 1].copy()


def weighted_sum(rt: Runtime, data: cl.Buffer, n: int, ncols: int, weights: np.ndarray, out: cl.Buffer,
                 accumulate: bool) -> None:
    """out (3 x n) (+)= sum_c weights[c] * column c of data (ncols x n); weights (ncols, 3)."""
    wbuf = rt.to_device(np.ascontiguousarray(weights, dtype=np.uint64))
    _run(rt, "weighted_sum_kernel", (n,), data, np.uint64(n), np.uint32(ncols), wbuf, out, np.uint32(n),
         np.uint32(int(accumulate)))


def deep(rt: Runtime, f: cl.Buffer, g: cl.Buffer, constants: np.ndarray, n: int, offset: int,
         gen: int) -> cl.Buffer:
    """DEEP codeword (n, 3) row-major from the weighted sums f, g (3 x n) and deep_kernel's 9 constants."""
    out = rt.empty(24 * n)
    cbuf = rt.to_device(np.ascontiguousarray(constants, dtype=np.uint64).reshape(27))
    _run(rt, "deep_kernel", (n,), f, g, cbuf, out, np.uint32(n), np.uint64(offset), np.uint64(gen))
    return out


def fri_fold(rt: Runtime, codeword: cl.Buffer, n: int, challenge: np.ndarray, offset: int,
             gen: int) -> cl.Buffer:
    """One FRI fold of an (n, 3) row-major codeword on offset * <gen> -> (n/2, 3)."""
    half = n // 2
    out = rt.empty(24 * half)
    cbuf = rt.to_device(np.ascontiguousarray(challenge, dtype=np.uint64))
    _run(rt, "fri_fold_kernel", (half,), codeword, out, np.uint32(half), cbuf,
         np.uint64(pow(offset, P - 2, P)), np.uint64(pow(gen, P - 2, P)), np.uint64(pow(2, P - 2, P)))
    return out


def xfe_tree(rt: Runtime, codeword: cl.Buffer, n: int) -> cl.Buffer:
    """Merkle nodes over the leaves [c0, c1, c2, 0, 0] of an (n, 3) codeword."""
    nodes = rt.empty(80 * n)
    cl.enqueue_fill_buffer(rt.queue, nodes, np.uint64(0), 0, 40)
    _run(rt, "xfe_leaves_kernel", (n,), codeword, nodes, np.uint32(n))
    merkle.levels_device(rt, nodes, n)
    return nodes


def fold_plan(points: list[int], size: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per fold step of open_by_folds (size -> size / 2 down to 1): (parent class of each class, y of each
    class). A class of a step is a distinct x^half among the points; its parent is the previous step's
    class y^2 (y at the next step squares to y at this one), 0 for the first step."""
    steps, prev, half = [], None, size // 2
    while half >= 1:
        ys = sorted({pow(x, half, P) for x in points})
        if prev is None:
            parent = [0] * len(ys)
        else:
            where = {v: i for i, v in enumerate(prev)}
            parent = [where[y * y % P] for y in ys]
        steps.append((np.array(parent, dtype=np.uint32), np.array(ys, dtype=np.uint64)))
        prev, half = ys, half // 2
    return steps


def open_by_folds(rt: Runtime, coef: cl.Buffer, first: int, ncols: int, length: int,
                  points: list[int], budget: int) -> np.ndarray:
    """(len(points), ncols) values at these points of the polynomials whose coefficients (lowest first,
    `length` each, a power of two) are columns first .. first + ncols - 1 of coef. Each step halves every
    polynomial once per distinct x^half among the points (fold_classes_kernel), so a few points cost a few
    times the coefficients instead of a transform of every coset they lie in. Column batches keep the two
    live steps within `budget` bytes."""
    if length < 2 or length & (length - 1):
        raise ValueError(f"length must be a power of two of at least 2, got {length}")
    steps = fold_plan(points, length)
    widest = max(len(ys) * (length >> (i + 1)) for i, (_, ys) in enumerate(steps))  # words per column
    batch = max(1, min(ncols, budget // (16 * widest)))
    plan = [(rt.to_device(parent), rt.to_device(ys), len(ys)) for parent, ys in steps]
    last = {x: i for i, x in enumerate(steps[-1][1].tolist())}
    out = np.empty((len(points), ncols), dtype=np.uint64)
    for c0 in range(0, ncols, batch):
        k = min(batch, ncols - c0)
        src, off, col_stride, class_stride, size = coef, (first + c0) * length, length, 0, length
        for parent, ys, nclasses in plan:
            half = size // 2
            dst = rt.empty(8 * nclasses * k * half)
            _run(rt, "fold_classes_kernel", (half, k, nclasses), src, dst, parent, ys, np.uint64(half),
                 np.uint32(k), np.uint32(nclasses), np.uint64(off), np.uint64(col_stride),
                 np.uint64(class_stride))
            if src is not coef:
                rt.queue.finish()
                src.release()
            src, off, col_stride, class_stride, size = dst, 0, half, k * half, half
        values = np.empty((len(last), k), dtype=np.uint64)  # the final classes are the points themselves
        cl.enqueue_copy(rt.queue, values, src)
        src.release()
        out[:, c0:c0 + k] = values[[last[x % P] for x in points]]
    return out
