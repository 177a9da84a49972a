"""Device steps of the low-memory proving mode (stages/device_backend.py, mode "lean").

There a table column is kept as the h low coefficients of its randomized interpolant plus its randomizer
tail r (k coefficients; p = low + X^h r, see opencl/lean.cl), half of the 2h coefficients the other modes
store. Cosets of at most h points are evaluated by folding f r into the head (X^h = f there), evaluating,
and folding it out again. The main table is filled in row chunks, so no buffer holds all its columns.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyopencl as cl

from tvmpd.opencl import air
from tvmpd.opencl import device_tables as dev
from tvmpd.opencl.air import AirKernels, evaluate_constraints
from tvmpd.opencl.ntt import coset_evaluate_device, intt_device
from tvmpd.opencl.runtime import Runtime

P = 2**64 - 2**32 + 1
KERNEL_DIR = Path(__file__).resolve().parent


def _kernel(rt: Runtime, name: str) -> cl.Kernel:
    key = ("lean_kernel", name)
    if key not in rt.cache:
        source = "\n".join((KERNEL_DIR / f).read_text() for f in ("field.cl", "device_tables.cl", "lean.cl"))
        rt.cache[key] = getattr(rt.program_from_source("lean", source), name)
    return rt.cache[key]


def add_scaled_tail(rt: Runtime, coef: cl.Buffer, ncols: int, stride: int, tail: cl.Buffer, k: int,
                    tail_col: int, factor: int) -> None:
    """Head j < k of columns 0 .. ncols - 1 of coef (column stride `stride`) += factor * tail rows
    tail_col .. tail_col + ncols - 1 (tail: (columns, k) row-major)."""
    if k and ncols:
        _kernel(rt, "add_scaled_tail_kernel")(rt.queue, (k, ncols), None, coef, np.uint64(stride), tail,
                                              np.uint32(k), np.uint64(tail_col), np.uint64(factor % P))


def low_interpolants(rt: Runtime, buf: cl.Buffer, ncols: int, h: int, tail: cl.Buffer, k: int,
                     tail_col: int) -> None:
    """In place: trace columns (ncols x h, on <w_h>) -> low coefficients of interpolant + (X^h - 1) r, i.e.
    the interpolant minus r (tail rows tail_col ..)."""
    log_h = h.bit_length() - 1
    bc = dev.batch_width(h, ncols)
    work, tmp = rt.empty(8 * bc * h), rt.empty(8 * bc * h)
    for c0 in range(0, ncols, bc):
        c1 = min(ncols, c0 + bc)
        cl.enqueue_copy(rt.queue, work, buf, src_offset=8 * c0 * h, byte_count=8 * (c1 - c0) * h)
        intt_device(rt, work, tmp, c1 - c0, log_h)
        cl.enqueue_copy(rt.queue, buf, tmp, dst_offset=8 * c0 * h, byte_count=8 * (c1 - c0) * h)
    add_scaled_tail(rt, buf, ncols, h, tail, k, tail_col, P - 1)
    rt.queue.finish()
    work.release()
    tmp.release()


def evaluate(rt: Runtime, coef: cl.Buffer, ncols: int, length: int, offset: int, n: int, out: cl.Buffer,
             out_off: int, out_stride: int, first: int = 0) -> None:
    """Values at offset * w_n^i of the polynomials of coef's columns first .. first + ncols (length
    coefficients each) into out: column c at element out_off + c * out_stride, in column batches of at most
    dev.BATCH_BYTES of output."""
    log_len, log_n = length.bit_length() - 1, n.bit_length() - 1
    bc = dev.batch_width(n, ncols)
    for c0 in range(0, ncols, bc):
        c1 = min(ncols, c0 + bc)
        coset_evaluate_device(rt, coef, out, c1 - c0, log_len, log_n, offset, (first + c0) * length,
                              out_off + c0 * out_stride, out_stride)


def chunk_rows(h: int, width: int) -> int:
    """Rows of one main-table chunk: a power of two (so chunks tile h) of at most dev.BATCH_BYTES."""
    rows = max(2, dev.BATCH_BYTES // (8 * width))
    return min(h, 1 << (rows.bit_length() - 1))


def fill_main(rt: Runtime, kernels: AirKernels, trace: np.ndarray, width: int,
              parts: list[tuple[cl.Buffer, int, int]]) -> None:
    """The main table (width columns, h rows) into column parts (buffer, first column, columns; column
    stride h) from the host table `trace` (h, base or all columns), degree-lowering columns filled on the
    device chunk by chunk. A chunk carries the next chunk's first row, which its transition columns read.
    Each chunk goes up through upload_columns' pinned staging (its copies overlap its transposes)."""
    h, given = trace.shape
    lower = given < width
    rows = chunk_rows(h, width)
    chunk = rt.empty(8 * width * (rows + 1))
    for r0 in range(0, h, rows):
        n = rows + int(lower and r0 + rows < h)
        dev.upload_columns(rt, trace[r0:r0 + n, :width], chunk)
        if lower:
            cl.enqueue_fill_buffer(rt.queue, chunk, np.uint64(0), 8 * given * n, 8 * (width - given) * n)
            air.fill_degree_lowering_main_device(rt, kernels, chunk, n)
        for buf, c0, k in parts:
            copy_columns(rt, chunk, n, buf, h, k, rows, dst_row0=r0, src_col0=c0)
        # no finish: the next chunk's upload queues its transposes behind these copies (one in-order queue)
    rt.queue.finish()
    chunk.release()


def quotient_rows(rt: Runtime, kernels: AirKernels, main_vals: cl.Buffer, aux_vals: cl.Buffer, n_rows: int,
                  row0: int, rows: int, step: int, challenges: cl.Buffer, weights: cl.Buffer,
                  sums: cl.Buffer, out: cl.Buffer, out_len: int, first: int, out_step: int, offset: int,
                  gen: int, omega_inv: int, cons_inv: int, only: tuple[int, ...] | None = None) -> None:
    """Quotient values of rows row0 .. row0 + rows - 1 of value buffers of n_rows rows (next row at
    (x + step) mod n_rows), the points offset * gen^i, into out (3 x out_len) at first + out_step * i.
    sums: n_rows x 12 words; the rows' constraint sums come from air.evaluate_constraints (mode 1; only:
    these constraint kernels, by launch index)."""
    cl.enqueue_fill_buffer(rt.queue, sums, np.uint64(0), 96 * row0, 96 * rows)
    evaluate_constraints(rt, kernels, main_vals, (1, n_rows), aux_vals, (1, 3 * n_rows, n_rows), challenges,
                         weights, n_rows, step, 1, sums, first=row0, rows=rows, only=only)
    _kernel(rt, "quotient_combine_rows_kernel")(
        rt.queue, (rows,), None, sums, np.uint64(row0), out, np.uint32(rows), np.uint64(offset),
        np.uint64(gen), np.uint64(omega_inv), np.uint64(cons_inv), np.uint64(out_len), np.uint32(first),
        np.uint32(out_step))


def copy_columns(rt: Runtime, src: cl.Buffer, src_stride: int, dst: cl.Buffer, dst_stride: int, ncols: int,
                 rows: int, src_row0: int = 0, dst_row0: int = 0, src_col0: int = 0) -> None:
    """Rows src_row0 .. + rows of columns src_col0 .. + ncols of a column-major table (column stride
    src_stride) into rows dst_row0 .. of columns 0 .. ncols - 1 of another (column stride dst_stride)."""
    src_pitches = (8 * src_stride, 8 * src_stride * ncols)
    dst_pitches = (8 * dst_stride, 8 * dst_stride * ncols)
    cl.enqueue_copy(rt.queue, dst, src, src_origin=(8 * src_row0, src_col0, 0),
                    dst_origin=(8 * dst_row0, 0, 0), region=(8 * rows, ncols, 1), src_pitches=src_pitches,
                    dst_pitches=dst_pitches)
