"""Time each device operation of the device-resident prover (stages/device_backend.py) alone, at full size.

For a trace of 2^log2 rows (randomized trace L = 2h, FRI domain N = 8L) every operation runs on random
data with the queue drained before and after, best of --repeat, so the table shows where a whole proof's
device time goes (bench_prove.py shows the stages; this shows the operations inside them).

    python3 tools/bench_device_ops.py --log2 10                  # pocl
    python3 tools/bench_device_ops.py --device 0:0 --log2 18 21  # a GPU
    python3 tools/bench_device_ops.py --log2 21 --upload-only    # the main table's upload alone, in GB/s

Rows that move host data also print GB/s: the main table's upload (upload_columns: pinned staging, copy
and transpose overlapped) and, for reference, one plain copy of the same bytes from pageable host memory.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tools.bench_core import best_time  # noqa: E402
from tvmpd.opencl import device_tables as dev  # noqa: E402
from tvmpd.opencl import ntt  # noqa: E402
from tvmpd.opencl.runtime import get_runtime  # noqa: E402
from tvmpd.stages.domains import derive  # noqa: E402

P = 2**64 - 2**32 + 1
MAIN, AUX = 379, 3 * 91


def random_buffer(rt, nelems: int, rng: np.random.Generator):
    """A device buffer of nelems random field elements (uploaded in 128 MiB pieces)."""
    buf = rt.empty(8 * nelems)
    piece = 1 << 24
    for lo in range(0, nelems, piece):
        n = min(piece, nelems - lo)
        host = rng.integers(0, P, size=n, dtype=np.uint64)
        import pyopencl as cl

        cl.enqueue_copy(rt.queue, buf, host, dst_offset=8 * lo)
    rt.queue.finish()
    return buf


def timed(rt, fn, repeat: int) -> float:
    """Best wall time in ms of fn() with the queue drained after each run (bench_core.best_time)."""
    return 1e3 * best_time(fn, repeat, rt.queue.finish)


def upload_rows(rt, host: np.ndarray, trace, repeat: int) -> list[tuple[str, float, int]]:
    """(operation, ms, bytes moved) of uploading the host table into trace, and of a plain pageable copy of
    its bytes for reference."""
    import pyopencl as cl

    h, width = host.shape
    rows = [(f"upload {width} of {MAIN} columns x 2^{h.bit_length() - 1}",
             timed(rt, lambda: dev.upload_columns(rt, host, trace), repeat), host.nbytes)]
    rows.append(("  reference: one pageable host->device copy, same bytes",
                 timed(rt, lambda: cl.enqueue_copy(rt.queue, trace, host), repeat), host.nbytes))
    return rows


def run(rt, log2: int, repeat: int, upload_only: bool = False) -> list[tuple[str, float, int]]:
    """(operation, ms, host bytes moved or 0) rows for one trace height."""
    d = derive(1 << log2)
    h, L, N = d.trace.length, d.randomized_trace.length, d.fri.length
    rng = np.random.default_rng(log2)
    host = rng.integers(0, P, size=(h, 149), dtype=np.uint64)
    trace = rt.empty(8 * MAIN * h)
    rows = upload_rows(rt, host, trace, repeat)
    if upload_only:
        trace.release()
        return rows
    randomizers = rng.integers(0, P, size=(MAIN, d.num_trace_randomizers), dtype=np.uint64)
    coef = None

    def interpolate():
        nonlocal coef
        if coef is not None:
            coef.release()
        coef = dev.randomized_interpolants(rt, trace, MAIN, h, randomizers)

    rows.append((f"randomized interpolants {MAIN} cols", timed(rt, interpolate, repeat), 0))
    values = rt.empty(8 * MAIN * L)
    offset = d.fri.value(1)
    rows.append((f"evaluate_coset {MAIN} cols x 2^{L.bit_length() - 1}",
                 timed(rt, lambda: dev.evaluate_coset(rt, coef, MAIN, L, offset, L, values), repeat), 0))
    bc = dev.batch_width(L, MAIN)
    log_len = L.bit_length() - 1
    c0 = min(bc, MAIN - bc)  # the second batch: columns at an offset inside the tables
    rows.append((f"  one batch ({bc} cols) at a column offset", timed(rt, lambda: ntt.coset_evaluate_device(
        rt, coef, values, bc, log_len, log_len, offset, c0 * L, c0 * L), repeat), 0))
    # the same batch through sub-buffers of the tables (how the prover addressed columns before: slow on
    # NVIDIA's driver within a whole proof)
    src, dst = coef.get_sub_region(8 * c0 * L, 8 * bc * L), values.get_sub_region(8 * c0 * L, 8 * bc * L)
    rows.append((f"  one batch ({bc} cols) through sub-buffers", timed(rt, lambda: ntt.coset_evaluate_device(
        rt, src, dst, bc, log_len, log_len, offset), repeat), 0))
    nodes = dev.new_tree(rt, N)
    rows.append((f"hash {MAIN}-col rows of one coset into the tree", timed(
        rt, lambda: dev.hash_rows_into_tree(rt, values, MAIN, L, nodes, N, 1, N // L), repeat), 0))
    rows.append(("Merkle internal nodes", timed(rt, lambda: dev.finish_tree(rt, nodes, N), repeat), 0))
    aux_values = random_buffer(rt, AUX * L, rng)
    ch = rt.to_device(rng.integers(0, P, size=(63, 3), dtype=np.uint64))
    from tvmpd.stages.air import constraint_counts

    wt = rt.to_device(rng.integers(0, P, size=(sum(constraint_counts().values()), 3), dtype=np.uint64))
    sums, quotient = rt.empty(8 * 12 * L), rt.empty(8 * 3 * N)
    from tvmpd.stages.air.kernel_cache import air_kernels

    rows.append(("constraints + combine, one coset", timed(rt, lambda: dev.quotient_coset(
        rt, air_kernels(), values, aux_values, L, L // h, ch, wt, sums, quotient, N, 1, N // L, offset,
        d.randomized_trace.generator, 3, 5, 7), repeat), 0))
    idx = rng.integers(0, L, size=160).tolist()
    rows.append(("gather 160 rows of one coset",
                 timed(rt, lambda: dev.gather_columns(rt, values, L, MAIN, idx), repeat), 0))
    for buf in (trace, coef, values, nodes, aux_values, sums, quotient):
        buf.release()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default=None, help="OpenCL device key (default: first GPU, else pocl)")
    parser.add_argument("--log2", type=int, nargs="+", default=[10])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--upload-only", action="store_true", help="only the main table's upload rows")
    args = parser.parse_args()
    rt = get_runtime(args.device)
    print(f"device {rt.device.name} ({rt.key}); host threads {os.cpu_count()}, "
          f"upload chunks {dev.UPLOAD_CHUNK_BYTES >> 20} MiB", flush=True)
    for log2 in args.log2:
        print(f"\ntrace 2^{log2}: operation                                         ms       GB/s",
              flush=True)
        for name, ms, nbytes in run(rt, log2, args.repeat, args.upload_only):
            rate = f"{nbytes / ms / 1e6:10.2f}" if nbytes else ""
            print(f"  {name:60s} {ms:10.2f} {rate}", flush=True)


if __name__ == "__main__":
    main()
