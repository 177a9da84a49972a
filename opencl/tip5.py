"""Host side of opencl/tip5.cl: batched Tip5 permutation and hash_varlen of every row of a table.

Row hashing reads the table column-major on the device (one work-item per row, neighbouring rows at
neighbouring addresses; on a CPU, VEC_ROWS neighbouring rows per work-item in SIMD lanes, tip5_cpu.cl) and
may be fed in column batches so a wide table never has to be resident at once; the sponge states (n, 16)
stay on the device between batches.
"""

from __future__ import annotations

import numpy as np
import pyopencl as cl

from tvmpd.opencl.runtime import Runtime, get_runtime

P = 2**64 - 2**32 + 1
RATE = 10
LOCAL_SIZE = 128
VEC_ROWS = 4  # rows per work-item of tip5_cpu.cl (its TIP5_VW)


def cpu_shaped(rt: Runtime) -> bool:
    """Whether rt's device is a CPU: row hashing then runs VEC_ROWS rows per work-item as SIMD lanes
    (tip5_cpu.cl; pocl does not vectorise tip5.cl's row per work-item), 1.6x faster on pocl."""
    return bool(rt.device.type & cl.device_type.CPU)


def _launch(rt: Runtime, name: str, n: int, *args) -> None:
    """Run a tip5.cl kernel with one work-item per item (global size rounded up to the group size)."""
    kern = rt.kernel("tip5", name)
    lsize = rt.group_size(kern, LOCAL_SIZE)
    gsize = max(1, -(-n // lsize)) * lsize
    rt.launch(kern, (gsize,), (lsize,), *args)


def permute_device(rt: Runtime, states, n: int) -> None:
    """Apply the permutation to n states held as (n, 16) row-major in a device buffer, in place."""
    if n:
        _launch(rt, "tip5_permute_kernel", n, states, np.uint32(n))


def absorb_rows_device(rt: Runtime, data, n: int, ncols: int, col_stride: int, states, first: bool,
                       last: bool, out=None, out_offset: int = 0) -> None:
    """Absorb a column batch (column-major, ncols columns) into the per-row sponges; see tip5.cl.

    states may be None when first and last are both set; out and out_offset are used only by the last batch.
    """
    if not last and ncols % RATE:
        raise ValueError(f"a batch that is not the last must hold a multiple of {RATE} columns, got {ncols}")
    if n == 0:
        return
    states = states if states is not None else data
    out = out if out is not None else states
    args = (data, np.uint32(n), np.uint32(ncols), np.uint64(col_stride), states, np.uint32(int(first)),
            np.uint32(int(last)), out, np.uint32(out_offset))
    if cpu_shaped(rt):  # work-groups of one work-item: pocl's loop over several gave nothing more
        rt.launch(rt.kernel("cpu", "tip5_absorb_rows_vec_kernel"), (-(-n // VEC_ROWS),), (1,), *args)
    else:
        _launch(rt, "tip5_absorb_rows_kernel", n, *args)


def hash_rows_device(rt: Runtime, data, n: int, width: int, out, out_offset: int = 0) -> None:
    """out[out_offset + r] <- hash_varlen(row r) for a column-major (width x n) table in one buffer."""
    absorb_rows_device(rt, data, n, width, n, None, True, True, out, out_offset)


def _check_u64(a: np.ndarray, what: str, ndim: tuple[int, ...]) -> None:
    if not isinstance(a, np.ndarray) or a.dtype != np.uint64:
        raise ValueError(f"{what} must be a numpy uint64 array")
    if a.ndim not in ndim:
        raise ValueError(f"{what} has {a.ndim} dimensions, expected one of {ndim}")
    if a.size and int(a.max()) >= P:
        raise ValueError(f"{what} holds values >= p")


def permute_batch(states: np.ndarray, device_key: str | None = None) -> np.ndarray:
    """Tip5 permutation of each row of an (n, 16) uint64 array."""
    _check_u64(states, "states", (2,))
    if states.shape[1] != 16:
        raise ValueError(f"states must have shape (n, 16), got {states.shape}")
    rt = get_runtime(device_key)
    n = states.shape[0]
    buf = rt.to_device(states)
    permute_device(rt, buf, n)
    return rt.from_device(buf, (n, 16))


def hash_rows(rows: np.ndarray, device_key: str | None = None, limit_bytes: int | None = None) -> np.ndarray:
    """hash_varlen of every row of (n, w) or (n, c, 3) (flattened per row as the reference does) -> (n, 5).

    Tables larger than one device buffer (limit_bytes, default the device's allocation limit capped at
    1 GiB) go through in chunks of rows and batches of 10k columns, the sponge states kept on the device.
    """
    _check_u64(rows, "rows", (2, 3))
    if rows.ndim == 3 and rows.shape[2] != 3:
        raise ValueError(f"rows must have shape (n, w) or (n, c, 3), got {rows.shape}")
    flat = rows.reshape(rows.shape[0], int(np.prod(rows.shape[1:])))
    n, width = flat.shape
    rt = get_runtime(device_key)
    limit = limit_bytes or min(int(rt.device.max_mem_alloc_size), 1 << 30)
    out = np.empty((n, 5), dtype=np.uint64)
    if n == 0:
        return out
    chunk = n if 8 * n * width <= limit else max(1, min(n, limit // (16 * 8), limit // (8 * RATE)))
    cols = width if 8 * chunk * width <= limit else max(RATE, limit // (8 * chunk) // RATE * RATE)
    digests = rt.empty(40 * chunk)
    states = rt.empty(128 * chunk) if cols < width else None
    for r0 in range(0, n, chunk):
        r1 = min(r0 + chunk, n)
        bounds = list(range(0, width, cols)) + [width] if width else [0, 0]
        for i in range(len(bounds) - 1):
            c0, c1 = bounds[i], bounds[i + 1]
            data = rt.to_device(np.ascontiguousarray(flat[r0:r1, c0:c1].T))
            absorb_rows_device(rt, data, r1 - r0, c1 - c0, r1 - r0, states, i == 0, c1 == width, digests)
        out[r0:r1] = rt.from_device(digests, (r1 - r0, 5))  # copies only the first r1 - r0 digests
    return out


def finish(rt: Runtime) -> None:
    """Wait for every queued command of the runtime (for timing)."""
    cl.CommandQueue.finish(rt.queue)
