"""Throughput of the core operations (NTT, LDE, Tip5 row hashing, Merkle tree) on one backend.

Every figure is also given as a multiple of its memory-bandwidth floor: the bytes the operation must
at least read and write, divided by the bandwidth of a plain copy measured on the same device.
The OpenCL figures time device-resident data (inputs generated on the device, no host transfers);
the numpy figures time the reference functions on host arrays.

  python3 tools/bench_core.py --backend opencl                      # small sizes (CPU / pocl)
  python3 tools/bench_core.py --backend opencl --max-log 23 --commit-log 21   # a GPU
  python3 tools/bench_core.py --backend opencl --min-log 21 --max-log 21 --commit-log 21 --kernel-dir ../v
"""

from __future__ import annotations

import argparse
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

P = 2**64 - 2**32 + 1
ROW_WIDTH = 379  # main-table width of Triton VM v7.0.0
RATE = 10


def best_time(fn, repeat: int, sync) -> float:
    """Fastest of `repeat` runs (after one warm-up run), each closed by sync()."""
    fn()
    sync()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - t0)
    return best


def nothing() -> None:
    """No device to wait for (numpy)."""


class Table:
    def __init__(self, bandwidth: float):
        self.bandwidth = bandwidth
        self.rows: list[tuple[str, ...]] = []

    def add(self, op: str, size: str, seconds: float, items: float, unit: str, floor_bytes: float) -> None:
        floor = floor_bytes / self.bandwidth
        self.rows.append((op, size, f"{seconds * 1e3:.2f}", f"{items / seconds:.3e} {unit}",
                          f"{floor * 1e3:.3f}", f"{seconds / floor:.1f}x"))
        print("  " + " | ".join(self.rows[-1]), flush=True)

    def markdown(self) -> str:
        head = ("op", "size", "ms", "throughput", "floor ms", "x floor")
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(r) + " |" for r in self.rows]
        return "\n".join(lines)


def fit_cols(cols: int, rows: int, budget: int) -> int:
    """Columns of `rows` elements that fit a byte budget (at least 1, at most cols)."""
    return max(1, min(cols, budget // (8 * rows)))


# ----------------------------------------------------------------------------------------------- opencl


def run_opencl(args) -> Table:
    import pyopencl as cl

    from tvmpd.opencl import merkle, ntt, tip5
    from tvmpd.opencl.runtime import get_runtime

    rt = get_runtime(args.device)
    dev = rt.device
    print(f"device {rt.key}: {dev.name.strip()} ({dev.platform.name.strip()}), "
          f"{dev.global_mem_size / 2**30:.1f} GiB, max alloc {dev.max_mem_alloc_size / 2**30:.1f} GiB",
          flush=True)
    budget = min(args.budget_mib << 20, int(dev.max_mem_alloc_size))

    def sync():
        rt.queue.finish()

    def random_buffer(count: int, seed: int):
        buf = rt.empty(8 * count)
        fill = rt.kernel("field", "fill_random_kernel")
        fill(rt.queue, (count,), None, buf, np.uint64(count), np.uint64(seed))
        return buf

    # bandwidth: copy kernel over a large buffer, bytes read + written
    count = budget // 8 // 2
    a, b = random_buffer(count, 1), rt.empty(8 * count)
    copy = rt.kernel("field", "copy_kernel")
    t = best_time(partial(copy, rt.queue, (count,), None, a, b, np.uint64(count)), args.repeat, sync)
    bandwidth = 16 * count / t
    print(f"copy bandwidth: {bandwidth / 1e9:.1f} GB/s ({16 * count / 2**20:.0f} MiB moved)", flush=True)
    table = Table(bandwidth)

    for log in range(args.min_log, args.max_log + 1, args.step):
        n, big = 1 << log, 1 << (log + args.expansion_log)
        c = fit_cols(args.cols, n, budget)
        src, dst = random_buffer(c * n, 2), rt.empty(8 * c * n)
        t = best_time(partial(ntt.ntt_device, rt, src, dst, c, log), args.repeat, sync)
        table.add("ntt", f"{c} x 2^{log}", t, c * n, "elem/s", 16 * c * n)
        t = best_time(partial(ntt.intt_device, rt, src, dst, c, log), args.repeat, sync)
        table.add("intt", f"{c} x 2^{log}", t, c * n, "elem/s", 16 * c * n)

        c = fit_cols(args.cols, big, budget)
        src, dst, scratch = random_buffer(c * n, 3), rt.empty(8 * c * big), rt.empty(8 * c * n)
        run = partial(ntt.lde_device, rt, src, dst, c, log, log + args.expansion_log, 1, 7, scratch)
        t = best_time(run, args.repeat, sync)
        table.add("lde", f"{c} x 2^{log}->2^{log + args.expansion_log}", t, c * big, "col*row/s",
                  8 * c * (n + big))

        rows = n
        w = ROW_WIDTH
        if 8 * w * rows > budget:
            rows = 1 << (budget // (8 * w)).bit_length() - 1
        data, out = random_buffer(w * rows, 4), rt.empty(40 * rows)
        t = best_time(partial(tip5.hash_rows_device, rt, data, rows, w, out), args.repeat, sync)
        table.add("tip5 rows", f"2^{rows.bit_length() - 1} x {w}", t, rows, "rows/s", 8 * (w + 5) * rows)

        nodes = merkle.new_nodes(rt, n)
        leaves = random_buffer(5 * n, 5)
        cl.enqueue_copy(rt.queue, nodes, leaves, dst_offset=40 * n)
        t = best_time(partial(merkle.levels_device, rt, nodes, n), args.repeat, sync)
        table.add("merkle", f"2^{log} leaves", t, n, "leaves/s", 80 * n)

    if args.commit_log:
        nodes = commit_pipeline(args, rt, table, random_buffer, sync)
        lde_breakdown(args, rt, random_buffer, sync)
        if args.check:
            check_large(args, rt, nodes, random_buffer)
    return table


def check_large(args, rt, nodes, random_buffer) -> None:
    """Spot-check the kernels at commit size against the numpy reference (tests cover small sizes only)."""
    from tvmpd.opencl import ntt, tip5
    from tvmpd.stages import ntt as np_ntt
    from tvmpd.stages import tip5 as np_tip5

    log, log_big = args.commit_log, args.commit_log + args.expansion_log
    rng = np.random.default_rng()
    x = rng.integers(0, P, size=(1 << log, 1), dtype=np.uint64)
    ok = np.array_equal(ntt.lde(x, 1, 7, 1 << log_big, rt.key), np_ntt.lde(x, 1, 7, 1 << log_big))
    print(f"check lde 1 x 2^{log}->2^{log_big} vs numpy: {'ok' if ok else 'FAILED'}", flush=True)
    ok = np.array_equal(ntt.ntt(x, rt.key), np_ntt.ntt(x))
    ok = ok and np.array_equal(ntt.intt(x, rt.key), np_ntt.intt(x))
    print(f"check ntt/intt 1 x 2^{log} vs numpy: {'ok' if ok else 'FAILED'}", flush=True)

    big = 1 << log_big
    host_nodes = rt.from_device(nodes, (2 * big, 5))
    ks = rng.integers(1, big, size=4096)
    ok = np.array_equal(host_nodes[ks], np_tip5.hash_pairs(host_nodes[2 * ks], host_nodes[2 * ks + 1]))
    print(f"check merkle 2^{log_big} leaves, 4096 random parents: {'ok' if ok else 'FAILED'}", flush=True)

    n = 1 << log
    data, out = random_buffer(ROW_WIDTH * n, 8), rt.empty(40 * n)
    tip5.hash_rows_device(rt, data, n, ROW_WIDTH, out)
    table = rt.from_device(data, (ROW_WIDTH, n))
    rows = rng.integers(0, n, size=1024)
    expected = np_tip5.hash_rows(np.ascontiguousarray(table[:, rows].T))
    ok = np.array_equal(rt.from_device(out, (n, 5))[rows], expected)
    print(f"check tip5 rows 2^{log} x {ROW_WIDTH}, 1024 random rows vs numpy: {'ok' if ok else 'FAILED'}",
          flush=True)


def lde_breakdown(args, rt, random_buffer, sync) -> None:
    """Time each pass of one column batch of the commit's LDE separately (where the LDE time goes)."""
    from tvmpd.opencl import ntt

    log, log_big, c = args.commit_log, args.commit_log + args.expansion_log, args.batch_cols
    n, big = 1 << log, 1 << log_big
    src, scratch, dst = random_buffer(c * n, 7), rt.empty(8 * c * n), rt.empty(8 * c * big)
    ntt.lde_device(rt, src, dst, c, log, log_big, 1, 7, scratch)  # builds twiddles and the scale table
    tw_inv, tw = ntt.twiddles(rt, log, True), ntt.twiddles(rt, log_big, False)
    scale = ntt._powers(rt, log, 7, pow(n, P - 2, P), bitrev=True)
    inv_plan, fwd_plan = ntt.plan_dif(0, log), ntt.plan_dit(log_big - log, log_big)
    print(f"lde pass breakdown, {c} columns 2^{log} -> 2^{log_big}:", flush=True)
    for i, step in enumerate(inv_plan):
        last = i == len(inv_plan) - 1
        run = partial(ntt._run_pass, rt, src if i == 0 else scratch, scratch, tw_inv, scale if last else None,
                      n, n, 0, step, True, c, log)
        t = best_time(run, args.repeat, sync)
        print(f"  inverse pass (s0, k, log_t) = {step}: {t * 1e3:.2f} ms, "
              f"{16 * c * n / t / 1e9:.0f} GB/s", flush=True)
    for i, step in enumerate(fwd_plan):
        first = i == 0
        run = partial(ntt._run_pass, rt, scratch if first else dst, dst, tw, None, n if first else big, big,
                      log_big - log if first else 0, step, False, c, log_big)
        t = best_time(run, args.repeat, sync)
        moved = 8 * c * (n + big) if first else 16 * c * big
        print(f"  forward pass (s0, k, log_t) = {step}: {t * 1e3:.2f} ms, {moved / t / 1e9:.0f} GB/s",
              flush=True)


def commit_pipeline(args, rt, table: Table, random_buffer, sync) -> None:
    """Main-table commitment at full size: 379 columns LDE'd from 2^L to 2^(L+e), streamed through the
    row sponges in column batches (multiples of 10), then the Merkle tree. Every batch is really run;
    the batches reuse one set of buffers, so the input of each batch is the same random data."""
    from tvmpd.opencl import merkle, ntt, tip5

    log, log_big = args.commit_log, args.commit_log + args.expansion_log
    n, big, w = 1 << log, 1 << log_big, ROW_WIDTH
    bc = args.batch_cols
    batches = [(c, min(c + bc, w)) for c in range(0, w, bc)]
    src, scratch, dst = random_buffer(bc * n, 6), rt.empty(8 * bc * n), rt.empty(8 * bc * big)
    states = rt.empty(128 * big)
    nodes = merkle.new_nodes(rt, big)

    def lde_all():
        for c0, c1 in batches:
            ntt.lde_device(rt, src, dst, c1 - c0, log, log_big, 1, 7, scratch)

    def hash_all():
        for i, (c0, c1) in enumerate(batches):
            tip5.absorb_rows_device(rt, dst, big, c1 - c0, big, states, i == 0, i == len(batches) - 1,
                                    nodes, big)

    def tree():
        merkle.levels_device(rt, nodes, big)

    def everything():
        for i, (c0, c1) in enumerate(batches):
            ntt.lde_device(rt, src, dst, c1 - c0, log, log_big, 1, 7, scratch)
            tip5.absorb_rows_device(rt, dst, big, c1 - c0, big, states, i == 0, i == len(batches) - 1,
                                    nodes, big)
        merkle.levels_device(rt, nodes, big)

    size = f"{w} x 2^{log}->2^{log_big}"
    rep = max(1, args.repeat // 2)
    t_lde = best_time(lde_all, rep, sync)
    table.add("commit: lde", size, t_lde, w * big, "col*row/s", 8 * w * (n + big))
    t_hash = best_time(hash_all, rep, sync)
    table.add("commit: tip5 rows", f"2^{log_big} x {w}", t_hash, big, "rows/s", 8 * (w + 5) * big)
    t_tree = best_time(tree, rep, sync)
    table.add("commit: merkle", f"2^{log_big} leaves", t_tree, big, "leaves/s", 80 * big)
    t_all = best_time(everything, rep, sync)
    table.add("commit: all", size, t_all, big, "rows/s", 8 * w * (n + 2 * big) + 120 * big)
    print(f"batches of {bc} columns; lde {t_lde:.3f} s (target < 0.3 s at L=21), "
          f"tip5+merkle {t_hash + t_tree:.3f} s (target < 1 s at L=21), all {t_all:.3f} s", flush=True)
    return nodes


# ------------------------------------------------------------------------------------------------ numpy


def run_numpy(args) -> Table:
    from tvmpd.stages import merkle, ntt, tip5

    count = (args.budget_mib << 20) // 8 // 2
    a, b = np.ones(count, dtype=np.uint64), np.empty(count, dtype=np.uint64)
    t = best_time(partial(np.copyto, b, a), args.repeat, nothing)
    bandwidth = 16 * count / t
    print(f"numpy copy bandwidth: {bandwidth / 1e9:.1f} GB/s", flush=True)
    table = Table(bandwidth)
    rng = np.random.default_rng(0)
    budget = args.budget_mib << 20
    for log in range(args.min_log, args.max_log + 1, args.step):
        n, big = 1 << log, 1 << (log + args.expansion_log)
        c = fit_cols(args.cols, big, budget)
        x = rng.integers(0, P, size=(n, c), dtype=np.uint64)
        t = best_time(partial(ntt.ntt, x), args.repeat, nothing)
        table.add("ntt", f"{c} x 2^{log}", t, c * n, "elem/s", 16 * c * n)
        t = best_time(partial(ntt.lde, x, 1, 7, big), args.repeat, nothing)
        table.add("lde", f"{c} x 2^{log}->2^{log + args.expansion_log}", t, c * big, "col*row/s",
                  8 * c * (n + big))
        rows = rng.integers(0, P, size=(n, ROW_WIDTH), dtype=np.uint64)
        t = best_time(partial(tip5.hash_rows, rows), args.repeat, nothing)
        table.add("tip5 rows", f"2^{log} x {ROW_WIDTH}", t, n, "rows/s", 8 * (ROW_WIDTH + 5) * n)
        leaves = rng.integers(0, P, size=(n, 5), dtype=np.uint64)
        t = best_time(partial(merkle.build_tree, leaves), args.repeat, nothing)
        table.add("merkle", f"2^{log} leaves", t, n, "leaves/s", 80 * n)
    return table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", choices=("opencl", "numpy"), default="opencl")
    ap.add_argument("--device", default=None, help="OpenCL device key (`tvmpd devices`)")
    ap.add_argument("--min-log", type=int, default=10, help="smallest log2 rows")
    ap.add_argument("--max-log", type=int, default=14, help="largest log2 rows (pocl: <= 20)")
    ap.add_argument("--step", type=int, default=2, help="log2 step between sizes")
    ap.add_argument("--cols", type=int, default=ROW_WIDTH, help="columns per NTT/LDE (cut to budget)")
    ap.add_argument("--expansion-log", type=int, default=3, help="log2 of LDE expansion")
    ap.add_argument("--budget-mib", type=int, default=256, help="largest buffer per measurement, MiB")
    ap.add_argument("--commit-log", type=int, default=0, help="full main-table commit at 2^L rows")
    ap.add_argument("--batch-cols", type=int, default=40, help="commit batch columns (10k)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--check", action="store_true", help="spot-check commit-size results against numpy")
    ap.add_argument("--markdown", default=None, help="also write the table as markdown to this file")
    ap.add_argument("--kernel-dir", type=Path, default=None,
                    help="read the OpenCL sources (field.cl, ntt.cl, tip5.cl, ...) from this directory: "
                         "A/B a kernel variant in a copy of opencl/ against the checkout's")
    args = ap.parse_args()
    if args.kernel_dir is not None:
        from tvmpd.opencl import runtime

        runtime.KERNEL_DIR = args.kernel_dir.resolve()  # read at each program build
    if args.batch_cols % RATE:
        ap.error("--batch-cols must be a multiple of 10")
    print("  " + " | ".join(("op", "size", "ms", "throughput", "floor ms", "x floor")), flush=True)
    table = run_opencl(args) if args.backend == "opencl" else run_numpy(args)
    print()
    print(table.markdown())
    if args.markdown:
        Path(args.markdown).write_text(table.markdown() + "\n")


if __name__ == "__main__":
    main()
