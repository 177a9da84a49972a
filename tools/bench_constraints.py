"""Rows per second of evaluating all 604 AIR constraints: numpy evaluator and the generated OpenCL
kernels (from the kernel cache, weighted-sum mode as the quotient uses them) on random rows.

Usage: python3 tools/bench_constraints.py [--numpy-rows 1024] [--cl-log2 16 18 20] [--local 8 64 128]
                                         [--device KEY]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
for _path in (str(ROOT), str(ROOT / "tools")):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from tvmpd.stages.air.constraints import lowered_air  # noqa: E402
from tvmpd.stages.air.evaluate import evaluate_every_row  # noqa: E402

P = 2**64 - 2**32 + 1


def _rand(rng, shape):
    return rng.integers(0, P, size=shape, dtype=np.uint64)


def bench_numpy(n: int) -> float:
    rng = np.random.default_rng(1)
    main, aux, ch = _rand(rng, (n, 379)), _rand(rng, (n, 91, 3)), _rand(rng, (63, 3))
    air = lowered_air()
    t = time.perf_counter()
    evaluate_every_row(main, aux, ch, 1, air)
    return n / (time.perf_counter() - t)


def bench_opencl(log2s: list[int], locals_: list[int], device_key: str | None) -> None:
    import pyopencl as cl

    from tvmpd.opencl.air import constraint_kernels
    from tvmpd.opencl.devices import cpu_device, gpu_devices
    from tvmpd.opencl.runtime import get_runtime
    from tvmpd.stages.air.kernel_cache import air_kernels

    key = device_key or (gpu_devices() or [cpu_device()])[0].key
    rt = get_runtime(key)
    ctx, queue = rt.context, rt.queue
    print(f"device: {key} {rt.device.name.strip()} ({rt.device.platform.name.strip()})")
    t0 = time.perf_counter()
    kernels = constraint_kernels(rt, air_kernels())  # built as the prover builds them on this device
    print(f"build of all {len(kernels)} kernels: {time.perf_counter() - t0:.1f} s (a CPU compiles each at "
          "its first launch, below)", flush=True)
    rng = np.random.default_rng(2)
    mf = cl.mem_flags
    ch = cl.Buffer(ctx, mf.READ_ONLY | mf.COPY_HOST_PTR, hostbuf=_rand(rng, (63, 3)))
    w = cl.Buffer(ctx, mf.READ_ONLY | mf.COPY_HOST_PTR, hostbuf=_rand(rng, (604, 3)))
    for log2 in log2s:
        n = 1 << log2
        # column-major tables as an LDE leaves them: column c of main at c * n
        main = cl.Buffer(ctx, mf.READ_ONLY | mf.COPY_HOST_PTR, hostbuf=_rand(rng, (379, n)))
        aux = cl.Buffer(ctx, mf.READ_ONLY | mf.COPY_HOST_PTR, hostbuf=_rand(rng, (91 * 3, n)))
        out = cl.Buffer(ctx, mf.READ_WRITE, n * 4 * 3 * 8)
        # aux: each extension column as three column-major base columns
        args = (main, np.uint64(1), np.uint64(n), aux, np.uint64(1), np.uint64(3 * n), np.uint64(n), ch, w)
        for local in locals_:
            global_size = (n + local - 1) // local * local
            run = (global_size,), (local,), *args, np.uint32(n), np.uint32(8), np.uint32(1), out, np.uint32(0)
            t = time.perf_counter()
            for kernel in kernels:
                kernel(queue, *run)
            queue.finish()
            first = time.perf_counter() - t
            print(f"opencl rows=2^{log2} local={local}: first launches {first:.1f} s", flush=True)
            t = time.perf_counter()
            reps = 3
            for _ in range(reps):
                for kernel in kernels:
                    kernel(queue, *run)
            queue.finish()
            dt = (time.perf_counter() - t) / reps
            print(f"opencl rows=2^{log2} local={local}: {dt * 1e3:.1f} ms, {n / dt:.3e} rows/s", flush=True)
        main.release()
        aux.release()
        out.release()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--numpy-rows", type=int, default=1024)
    parser.add_argument("--cl-log2", type=int, nargs="*", default=[])
    parser.add_argument("--local", type=int, nargs="*", default=[8])
    parser.add_argument("--device", default=None, help="OpenCL device key (default: first GPU, else pocl)")
    args = parser.parse_args(argv)
    if args.numpy_rows:
        print(f"numpy rows={args.numpy_rows}: {bench_numpy(args.numpy_rows):.3e} rows/s")
    if args.cl_log2:
        bench_opencl(args.cl_log2, args.local, args.device)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
