"""Host side of opencl/ntt.cl: batched NTT, inverse NTT and coset low-degree extension.

Device layout is column-major (one column after another, see ntt.cl). The numpy-level functions take
and return arrays in the (rows, cols) or (rows, cols, 3) layout of stages/ntt.py and convert; the
*_device functions work on device buffers that already hold column-major data.
"""

from __future__ import annotations

import numpy as np
import pyopencl as cl

from tvmpd.opencl.runtime import Runtime, get_runtime

P = 2**64 - 2**32 + 1
ROOT_2_32 = 1753635133440165772  # 7^((p-1)/2^32), the primitive 2^32-th root of upstream's table
LOG_BLOCK = 11  # log2 of NTT_BLOCK in ntt.cl
MIN_RUN = 4  # a pass reads runs of at least 2^MIN_RUN neighbouring elements when it can
MAX_LOG_N = 30
MAX_GROUPS_PER_LAUNCH = 32768  # keeps dimension 1 of every launch within what all drivers accept
MAX_POWER_TABLES = 64  # cached coset-power tables per device (one per size and offset)


def primitive_root(order: int) -> int:
    """Primitive root of unity of a power-of-two order <= 2^32 (the square chain of upstream's table)."""
    if order < 1 or order & (order - 1) or order > 2**32:
        raise ValueError(f"order must be a power of two <= 2^32, got {order}")
    return pow(ROOT_2_32, 2**32 // order, P)


def _log2_exact(n: int, what: str) -> int:
    if n < 1 or n & (n - 1):
        raise ValueError(f"{what} must be a power of two, got {n}")
    log_n = n.bit_length() - 1
    if log_n > MAX_LOG_N:
        raise ValueError(f"{what} 2^{log_n} is larger than the supported 2^{MAX_LOG_N}")
    return log_n


def plan_dit(first: int, end: int) -> list[tuple[int, int, int]]:
    """Passes (s0, k, log_t) covering stages first .. end-1 in ascending order (DIT order).

    A pass does k <= LOG_BLOCK - log_t stages on blocks of 2^(k + log_t) elements and needs log_t <= s0;
    runs of at least 2^MIN_RUN elements (where s0 allows) keep its global accesses coalesced. The
    fewest passes are used, a pass starting below MIN_RUN takes a whole block of stages, the others
    share the rest evenly, and each pass takes the widest runs its block allows.
    """
    cap = LOG_BLOCK - MIN_RUN  # most stages of a pass that starts at s0 >= MIN_RUN
    count, s0 = 0, first
    while s0 < end:  # fewest passes: greedy
        s0 += min(LOG_BLOCK - min(s0, MIN_RUN), end - s0)
        count += 1
    passes, s0 = [], first
    while s0 < end:
        left = max(count - len(passes), 1)
        rest = end - s0
        k = max(-(-rest // left), rest - (left - 1) * cap)
        if s0 < MIN_RUN:  # a pass this low can only use short runs: give it a whole block of stages
            k = LOG_BLOCK - s0
        k = min(k, LOG_BLOCK - min(s0, MIN_RUN), rest)
        passes.append((s0, k, min(s0, LOG_BLOCK - k)))
        s0 += k
    return passes


def plan_dif(first: int, end: int) -> list[tuple[int, int, int]]:
    """Passes (s0, k, log_t) covering stages end-1 .. first in descending order (DIF order)."""
    return plan_dit(first, end)[::-1]


CPU_TABLE_GROUP = 64  # work-items per group of the table kernels on a CPU


def _table_sizes(rt: Runtime, n: int) -> tuple[tuple[int], tuple[int] | None]:
    """(global, local) sizes of a table kernel over n entries: the driver's choice on a GPU; on a CPU fixed
    groups of CPU_TABLE_GROUP, since pocl compiles a kernel again for each group size it picks."""
    if not cpu_shaped(rt):
        return (n,), None
    return (-(-n // CPU_TABLE_GROUP) * CPU_TABLE_GROUP,), (CPU_TABLE_GROUP,)


def twiddles(rt: Runtime, log_n: int, inverse: bool) -> cl.Buffer:
    """Device twiddle table of size 2^log_n (layout in ntt.cl), built once per context and size."""
    key = ("ntt_twiddles", log_n, inverse)
    if key not in rt.cache:
        n = 1 << log_n
        roots = [primitive_root(2 ** (s + 1)) for s in range(log_n)] or [1]
        if inverse:
            roots = [pow(r, P - 2, P) for r in roots]
        roots_buf = rt.to_device(np.array(roots, dtype=np.uint64))
        tw = rt.empty(8 * n)
        rt.launch(rt.kernel("ntt", "ntt_twiddles_kernel"), *_table_sizes(rt, n), tw, roots_buf, np.uint32(n))
        rt.cache[key] = tw
    return rt.cache[key]


def _run_pass(rt: Runtime, src, dst, tw, scale, src_stride: int, dst_stride: int, src_shift: int,
              step: tuple[int, int, int], dif: bool, ncols: int, log_n: int, src_off: int = 0,
              dst_off: int = 0, load_table=None, load_bits: int = 0, fold: int = 1,
              fold_factor: int = 1, blocks: tuple[cl.Buffer, int] | None = None) -> None:
    """One ntt_pass_kernel pass over every block, or only over the `blocks` (device list, count) given."""
    s0, k, log_t = step
    block = 1 << (k + log_t)
    kern = rt.kernel("ntt", "ntt_pass_kernel")
    lsize = rt.group_size(kern, min(max(block // 8, 32), 256))  # one radix-8 group per work-item
    nblocks = (1 << log_n) // block if blocks is None else blocks[1]
    kern.set_args(src, dst, tw, scale if scale is not None else tw, np.uint64(src_stride),
                  np.uint64(dst_stride), np.uint32(src_shift), np.uint32(s0), np.uint32(k),
                  np.uint32(log_t), np.uint32(int(dif)), np.uint32(int(scale is not None)),
                  np.uint64(src_off), np.uint64(dst_off), load_table if load_table is not None else tw,
                  np.uint32(load_bits), np.uint32(fold), np.uint64(fold_factor),
                  blocks[0] if blocks is not None else tw, np.uint32(blocks is not None))
    for off in range(0, nblocks, MAX_GROUPS_PER_LAUNCH):
        count = min(MAX_GROUPS_PER_LAUNCH, nblocks - off)
        cl.enqueue_nd_range_kernel(rt.queue, kern, (ncols * lsize, count), (lsize, 1),
                                   global_work_offset=(0, off))


def _bitrev(rt: Runtime, src, dst, ncols: int, log_n: int, factor: int) -> None:
    rt.kernel("ntt", "ntt_bitrev_kernel")(
        rt.queue, (1 << log_n, ncols), None, src, dst, np.uint32(log_n), np.uint64(factor),
        np.uint64(1 << log_n), np.uint64(1 << log_n))


def _powers(rt: Runtime, log_n: int, base: int, factor: int, bitrev: bool) -> cl.Buffer:
    """Cached device table of factor * base^e(i), i < 2^log_n, e(i) = bit_reverse(i) if bitrev else i."""
    key = ("ntt_powers", log_n, base, factor, bitrev)
    if key not in rt.cache:
        old = [k for k in rt.cache if k[0] == "ntt_powers"]
        for k in old[: max(0, len(old) - MAX_POWER_TABLES + 1)]:  # oldest first
            del rt.cache[k]
        n = 1 << log_n
        rt.cache[key] = rt.empty(8 * n)
        rt.launch(rt.kernel("ntt", "ntt_powers_kernel"), *_table_sizes(rt, n), rt.cache[key], np.uint64(base),
                  np.uint64(factor), np.uint32(log_n), np.uint32(int(bitrev)))
    return rt.cache[key]


def partial_plan(first: int, log_n: int) -> list[tuple[int, int, int]] | None:
    """DIT passes for stages first .. log_n - 1 whose last pass takes a whole block of stages with runs of one
    element, so that each output lies in one block of 2^LOG_BLOCK elements with the same low log_n -
    LOG_BLOCK bits: the last pass can then run on the blocks of a few wanted outputs only. None when the
    transform is a single pass anyway."""
    top = log_n - LOG_BLOCK
    if top <= first:
        return None
    return plan_dit(first, top) + [(top, LOG_BLOCK, 0)]


def wanted_blocks(rows: np.ndarray, log_n: int) -> np.ndarray:
    """Block numbers of partial_plan's last pass holding these output rows (sorted, distinct)."""
    return np.unique(np.asarray(rows, dtype=np.int64) & ((1 << (log_n - LOG_BLOCK)) - 1)).astype(np.uint32)


def _forward_from_short(rt: Runtime, short, dst, ncols: int, log_short: int, log_n: int,
                        dst_off: int = 0, short_off: int = 0, load_table=None, fold_factor: int = 1,
                        dst_stride: int | None = None, rows: np.ndarray | None = None) -> None:
    """dst (ncols x 2^log_n) <- DIT stages log_n - log_short .. log_n - 1 on the bit-reversed, zero-padded
    columns whose nonzero part `short` (ncols x 2^log_short, bit-reversed order) holds.

    In bit-reversed order of the long size the short column's entries sit at multiples of
    e = 2^(log_n - log_short); the first log2(e) DIT stages would only copy each over its block of e, so
    the first pass reads the short column with a shift instead of running them. dst's columns start at
    element dst_off, short's at short_off. With load_table, `short` holds natural-order values that the
    first pass bit-reverses and multiplies by load_table (bit-reversed order) as it loads them; a column
    longer than 2^log_n (log_short > log_n) is then folded: element j + t 2^log_n adds fold_factor^t times
    its value to element j. dst_stride: elements from one dst column to the next (default 2^log_n).
    rows: only these output rows are wanted (the others of dst may hold anything afterwards), which lets the
    last pass skip most blocks (partial_plan).
    """
    stride = dst_stride if dst_stride is not None else 1 << log_n
    shift = max(0, log_n - log_short)
    fold = 1 << max(0, log_short - log_n)
    tw = twiddles(rt, log_n, inverse=False)
    plan = partial_plan(shift, log_n) if rows is not None else None
    blocks = None
    if plan is None:
        plan = plan_dit(shift, log_n) or [(shift, 0, 0)]
    else:
        wanted = wanted_blocks(rows, log_n)
        blocks = (rt.to_device(wanted), len(wanted))
    for i, step in enumerate(plan):
        first, last = i == 0, i == len(plan) - 1
        _run_pass(rt, short if first else dst, dst, tw, None, (1 << log_short) if first else stride,
                  stride, shift if first else 0, step, False, ncols, log_n,
                  short_off if first else dst_off, dst_off, load_table if first else None,
                  min(log_short, log_n) if first and load_table is not None else 0,
                  fold if first else 1, fold_factor, blocks if last else None)


def cpu_shaped(rt: Runtime) -> bool:
    """Whether rt's device is a CPU: its transforms then run one column per work-item (ntt_cpu.cl), which
    on a CPU is several times faster than the passes through local memory that a GPU needs."""
    return bool(rt.device.type & cl.device_type.CPU)


def _columns(rt: Runtime, src, dst, tw, ncols: int, log_short: int, log_n: int, src_stride: int,
             dst_stride: int, src_off: int = 0, dst_off: int = 0, table=None, factor: int = 1, fold: int = 1,
             fold_factor: int = 1) -> None:
    """ntt_cpu_column_kernel on ncols columns, one work-item (and work-group) each; see ntt_cpu.cl."""
    if ncols == 0:
        return
    kern = rt.kernel("cpu", "ntt_cpu_column_kernel")
    kern(rt.queue, (ncols,), (1,), src, dst, tw, table if table is not None else tw,
         np.uint32(int(table is not None)), np.uint64(factor), np.uint64(src_stride), np.uint64(dst_stride),
         np.uint64(src_off), np.uint64(dst_off), np.uint32(log_short), np.uint32(log_n), np.uint32(fold),
         np.uint64(fold_factor))


def ntt_device(rt: Runtime, src, dst, ncols: int, log_n: int) -> None:
    """dst <- NTT of each of ncols column-major columns of length 2^log_n in src (src is kept)."""
    (_ntt_columns if cpu_shaped(rt) else ntt_passes)(rt, src, dst, ncols, log_n)


def _ntt_columns(rt: Runtime, src, dst, ncols: int, log_n: int) -> None:
    """ntt_device as a CPU runs it: one work-item per column."""
    n = 1 << log_n
    _columns(rt, src, dst, twiddles(rt, log_n, inverse=False), ncols, log_n, log_n, n, n)


def ntt_passes(rt: Runtime, src, dst, ncols: int, log_n: int) -> None:
    """ntt_device as a GPU runs it: a bit-reversal, then passes of stages through local memory."""
    _bitrev(rt, src, dst, ncols, log_n, 1)
    tw = twiddles(rt, log_n, inverse=False)
    for step in plan_dit(0, log_n):
        _run_pass(rt, dst, dst, tw, None, 1 << log_n, 1 << log_n, 0, step, False, ncols, log_n)


def intt_device(rt: Runtime, src, dst, ncols: int, log_n: int) -> None:
    """dst <- inverse NTT of each column of src; src may be overwritten (used as scratch)."""
    (_intt_columns if cpu_shaped(rt) else intt_passes)(rt, src, dst, ncols, log_n)


def _intt_columns(rt: Runtime, src, dst, ncols: int, log_n: int) -> None:
    """intt_device as a CPU runs it: one work-item per column, the input kept."""
    n = 1 << log_n
    _columns(rt, src, dst, twiddles(rt, log_n, inverse=True), ncols, log_n, log_n, n, n,
             factor=pow(n, P - 2, P))


def intt_passes(rt: Runtime, src, dst, ncols: int, log_n: int) -> None:
    """intt_device as a GPU runs it: passes of DIF stages in place in src, then a scaled bit-reversal."""
    tw = twiddles(rt, log_n, inverse=True)
    for step in plan_dif(0, log_n):
        _run_pass(rt, src, src, tw, None, 1 << log_n, 1 << log_n, 0, step, True, ncols, log_n)
    _bitrev(rt, src, dst, ncols, log_n, pow(1 << log_n, P - 2, P))


def coset_interpolate_device(rt: Runtime, src, tmp, dst, ncols: int, log_n: int, offset: int,
                             dst_off: int = 0) -> None:
    """dst (ncols x 2^log_n from element dst_off) <- coefficients of the polynomials of degree below 2^log_n
    that take src's values (ncols x 2^log_n) on offset * <w_n>. src and tmp (as large) are overwritten."""
    intt_device(rt, src, tmp, ncols, log_n)
    pw = _powers(rt, log_n, pow(offset, P - 2, P), 1, bitrev=False)
    rt.kernel("ntt", "ntt_scale_kernel")(rt.queue, (1 << log_n, ncols), None, tmp, dst, pw, np.uint32(log_n),
                                         np.uint64(dst_off))


def lde_device(rt: Runtime, src, dst, ncols: int, log_n: int, log_big: int, offset_in: int,
               offset_out: int, scratch=None) -> None:
    """dst (ncols x 2^log_big) <- values on offset_out * <w_big> of the polynomials that take src's
    values (ncols x 2^log_n) on offset_in * <w_n>. src is kept; scratch (ncols x 2^log_n, allocated when
    None) is overwritten.

    On a GPU: inverse DIF leaves coefficients in bit-reversed order; its last pass also multiplies
    coefficient j by (o_out / o_in)^j / n, which is exactly the input the forward DIT of the big size needs.
    On a CPU: the coefficients of p(offset_in X), evaluated on (offset_out / offset_in) * <w_big>.
    """
    n = 1 << log_n
    ratio = offset_out * pow(offset_in, P - 2, P) % P
    scratch = scratch if scratch is not None else rt.empty(8 * n * ncols)
    if cpu_shaped(rt):
        intt_device(rt, src, scratch, ncols, log_n)
        coset_evaluate_device(rt, scratch, dst, ncols, log_n, log_big, ratio)
        return
    scale = _powers(rt, log_n, ratio, pow(n, P - 2, P), bitrev=True)
    tw_inv = twiddles(rt, log_n, inverse=True)
    inv_plan = plan_dif(0, log_n) or [(0, 0, 0)]
    for i, step in enumerate(inv_plan):
        last = i == len(inv_plan) - 1
        _run_pass(rt, src if i == 0 else scratch, scratch, tw_inv, scale if last else None, n, n, 0, step,
                  True, ncols, log_n)
    _forward_from_short(rt, scratch, dst, ncols, log_n, log_big)


def coset_evaluate_device(rt: Runtime, src, dst, ncols: int, log_len: int, log_n: int, offset: int,
                          src_off: int = 0, dst_off: int = 0, dst_stride: int | None = None,
                          rows: np.ndarray | None = None) -> None:
    """dst (ncols x 2^log_n, from element dst_off) <- values at offset * w_n^i of the polynomials whose
    coefficients (lowest first) src holds (ncols x 2^log_len from element src_off). src is kept. The first
    NTT pass loads the coefficients bit-reversed and scaled by offset^j; with log_len > log_n it first
    folds coefficient j + t n onto j (times offset^(t n)), as w_n^(j + t n) = w_n^j. dst_stride: elements
    between dst's columns (default n). rows: only these rows of dst are wanted (the GPU passes then skip most
    of their last pass, see _forward_from_short)."""
    if cpu_shaped(rt):
        _coset_evaluate_columns(rt, src, dst, ncols, log_len, log_n, offset, src_off, dst_off, dst_stride)
    else:
        coset_evaluate_passes(rt, src, dst, ncols, log_len, log_n, offset, src_off, dst_off, dst_stride, rows)


def _coset_evaluate_columns(rt: Runtime, src, dst, ncols: int, log_len: int, log_n: int, offset: int,
                            src_off: int = 0, dst_off: int = 0, dst_stride: int | None = None) -> None:
    """coset_evaluate_device as a CPU runs it: one work-item per column loads, scales and folds its
    coefficients and transforms them."""
    log_short = min(log_len, log_n)
    _columns(rt, src, dst, twiddles(rt, log_n, inverse=False), ncols, log_short, log_n, 1 << log_len,
             dst_stride if dst_stride is not None else 1 << log_n, src_off, dst_off,
             _powers(rt, log_short, offset, 1, bitrev=True), 1, 1 << (log_len - log_short),
             pow(offset, 1 << log_n, P))


def coset_evaluate_passes(rt: Runtime, src, dst, ncols: int, log_len: int, log_n: int, offset: int,
                          src_off: int = 0, dst_off: int = 0, dst_stride: int | None = None,
                          rows: np.ndarray | None = None) -> None:
    """coset_evaluate_device as a GPU runs it: passes of DIT stages through local memory, the first of them
    loading the coefficients bit-reversed and scaled."""
    table = _powers(rt, min(log_len, log_n), offset, 1, bitrev=True)
    _forward_from_short(rt, src, dst, ncols, log_len, log_n, dst_off, src_off, table,
                        pow(offset, 1 << log_n, P), dst_stride, rows)


def _check_offset(name: str, off) -> int:
    if isinstance(off, bool) or not isinstance(off, int | np.integer) or not 0 < int(off) < P:
        raise ValueError(f"{name} must be a nonzero field element, got {off!r}")
    return int(off)


def _check_table(values: np.ndarray, what: str) -> np.ndarray:
    """(n, c) or (n, c, 3) canonical uint64 array -> (n, c') view over base columns."""
    if not isinstance(values, np.ndarray) or values.dtype != np.uint64:
        raise ValueError(f"{what} must be a numpy uint64 array")
    if values.ndim not in (2, 3) or (values.ndim == 3 and values.shape[2] != 3):
        raise ValueError(f"{what} must have shape (n, cols) or (n, cols, 3), got {values.shape}")
    if values.size and int(values.max()) >= P:
        raise ValueError(f"{what} holds values >= p")
    return values.reshape(values.shape[0], int(np.prod(values.shape[1:])))


def _column_batches(rt: Runtime, ncols: int, rows_out: int) -> list[tuple[int, int]]:
    """Column ranges whose largest device buffer fits the device's single-allocation limit."""
    limit = min(int(rt.device.max_mem_alloc_size), 1 << 30)
    if 8 * rows_out > int(rt.device.max_mem_alloc_size):
        raise ValueError(f"one column of {rows_out} rows exceeds the device's largest buffer")
    per = max(1, limit // (8 * max(rows_out, 1)))
    return [(c, min(c + per, ncols)) for c in range(0, ncols, per)]


def _apply(values: np.ndarray, n_out: int, run, device_key: str | None) -> np.ndarray:
    """Run `run(rt, src, dst, ncols)` over column batches of a (n, c[,3]) table, return (n_out, c[,3])."""
    rt = get_runtime(device_key)
    flat = _check_table(values, "values")
    n, ncols = flat.shape
    out = np.empty((n_out, ncols), dtype=np.uint64)
    for c0, c1 in _column_batches(rt, ncols, n_out):
        src = rt.to_device(np.ascontiguousarray(flat[:, c0:c1].T))
        dst = rt.empty(8 * n_out * (c1 - c0))
        run(rt, src, dst, c1 - c0)
        out[:, c0:c1] = rt.from_device(dst, (c1 - c0, n_out)).T
    return out.reshape((n_out,) + values.shape[1:])


def ntt(coeffs: np.ndarray, device_key: str | None = None) -> np.ndarray:
    """Evaluate each column on <w_n> in natural order: out[i] = sum_j c_j w^(ij); shapes as stages/ntt.py."""
    log_n = _log2_exact(_check_table(coeffs, "coeffs").shape[0], "number of rows")
    return _apply(coeffs, 1 << log_n, lambda rt, s, d, c: ntt_device(rt, s, d, c, log_n), device_key)


def intt(values: np.ndarray, device_key: str | None = None) -> np.ndarray:
    """Inverse of ntt: coefficients of the polynomials taking these values on <w_n>."""
    log_n = _log2_exact(_check_table(values, "values").shape[0], "number of rows")
    return _apply(values, 1 << log_n, lambda rt, s, d, c: intt_device(rt, s, d, c, log_n), device_key)


def lde(values: np.ndarray, offset_in: int, offset_out: int, n_out: int,
        device_key: str | None = None) -> np.ndarray:
    """Low-degree extension: interpolate each column on offset_in * <w_n>, evaluate it on
    offset_out * <w_n_out> (n_out >= n)."""
    log_n = _log2_exact(_check_table(values, "values").shape[0], "number of rows")
    log_big = _log2_exact(int(n_out), "n_out")
    if log_big < log_n:
        raise ValueError(f"n_out ({n_out}) must be at least the number of rows ({1 << log_n})")
    offset_in, offset_out = _check_offset("offset_in", offset_in), _check_offset("offset_out", offset_out)

    def run(rt, s, d, c):
        lde_device(rt, s, d, c, log_n, log_big, offset_in, offset_out)

    return _apply(values, 1 << log_big, run, device_key)


def pad_coefficients(coeffs: np.ndarray, n: int) -> tuple[np.ndarray, int]:
    """Checked (L, c[,3]) coefficients zero-padded to the next power of two (<= n) -> (array, log2 length)."""
    log_n = _log2_exact(int(n), "n")
    length = _check_table(coeffs, "coeffs").shape[0]
    if length > 1 << log_n:
        raise ValueError(f"{length} coefficients do not fit a domain of {1 << log_n} points")
    log_len = max(length - 1, 0).bit_length()
    if length != 1 << log_len:
        padded = np.zeros((1 << log_len,) + coeffs.shape[1:], dtype=np.uint64)
        padded[:length] = coeffs
        coeffs = padded
    return coeffs, log_len


def coset_evaluate(coeffs: np.ndarray, offset: int, n: int, device_key: str | None = None) -> np.ndarray:
    """Values at offset * w_n^i (i < n) of the polynomials with these coefficients along axis 0, lowest first
    (at most n of them; any count), as stages/ntt.py's coset_evaluate."""
    offset = _check_offset("offset", offset)
    coeffs, log_len = pad_coefficients(coeffs, n)
    log_n = _log2_exact(int(n), "n")

    def run(rt, s, d, c):
        coset_evaluate_device(rt, s, d, c, log_len, log_n, offset)

    return _apply(coeffs, 1 << log_n, run, device_key)
