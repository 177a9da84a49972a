"""Cold build time of the AIR's kernels on each OpenCL CPU implementation present, and what the build buys:
the constraints' run time on random rows; for the constraints as the prover runs them on a CPU (the
interpreter, opencl/air_interp.cl) and as the generated kernels (what a GPU runs).

Builds every program as the prover does (opencl/air.py build_all: degree lowering, constraints, extend.cl)
with pyopencl's and pocl's binary caches off, then evaluates the constraints once on a few rows (pocl
compiles a kernel at its first launch, Intel's runtime at build time), then times them in weighted-sum mode
over --rows rows (best of --repeat). Prints one row per device and form. Driver wheels (Intel's CPU runtime)
are registered as the tests do.

Usage: python3 tools/bench_kernel_build.py [--device KEY ...] [--rows 16384] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ["PYOPENCL_NO_CACHE"] = "1"  # cold builds: no binaries from earlier runs
os.environ["POCL_KERNEL_CACHE"] = "0"

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from tvmpd.opencl.icd import register  # noqa: E402

P = 2**64 - 2**32 + 1


def measure(key: str, rows: int, repeat: int, generated: bool) -> tuple[float, float, float, int]:
    """(build seconds, first-launch seconds, run seconds for `rows` rows, constraint kernel count) on one
    device, with a fresh context; generated: the generated constraint kernels instead of the interpreter."""
    import dataclasses

    from tvmpd.opencl import air
    from tvmpd.opencl.device_tables import constraint_sums
    from tvmpd.opencl.runtime import get_runtime
    from tvmpd.stages.air.constraints import lowered_air
    from tvmpd.stages.air.kernel_cache import air_kernels

    kernels = air_kernels()
    if generated:
        kernels = dataclasses.replace(kernels, programs=(), lowering_main_programs=(),
                                      lowering_aux_programs=())
    rt = get_runtime(key)
    rt.cache.clear()  # a fresh build for each form
    t = time.perf_counter()
    air.build_all(rt, kernels)
    built = time.perf_counter() - t
    rng = np.random.default_rng(1)

    def buf(shape: tuple[int, ...]):
        return rt.to_device(rng.integers(0, P, shape, dtype=np.uint64))

    total = sum(lowered_air().counts().values())
    challenges, weights = buf((63, 3)), buf((total, 3))

    def run(n: int) -> float:
        main, aux, sums = buf((379, n)), buf((273, n)), rt.empty(8 * 12 * n)
        t = time.perf_counter()
        constraint_sums(rt, kernels, main, aux, n, 1, challenges, weights, sums)
        rt.queue.finish()
        return time.perf_counter() - t

    launched = run(64)
    ran = min(run(rows) for _ in range(repeat))
    return built, launched, ran, len(kernels.programs or kernels.constraints)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", nargs="*", help="device keys (default: a CPU device per implementation)")
    parser.add_argument("--rows", type=int, default=1 << 14, help="rows of the timed constraint run")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tvmpd-icd-") as icd_dir:
        register(Path(icd_dir))
        from tvmpd.opencl.devices import cpu_devices, get_cl_device

        keys = args.device
        if not keys:
            first: dict[str, str] = {}
            for d in cpu_devices():
                first.setdefault(d.platform, d.key)
            keys = list(first.values())
        print(f"AIR kernels built as the prover builds them, caches off, {os.cpu_count()} CPUs; "
              f"constraints timed on {args.rows} rows", flush=True)
        print(f"{'device':50} {'constraints':>12} {'kernels':>7} {'build s':>8} {'launch s':>8} "
              f"{'total s':>8} {'run s':>8}", flush=True)
        for key in keys:
            dev = get_cl_device(key)
            name = f"{key} {dev.platform.name.strip()} / {dev.name.strip()}"[:50]
            for generated in (False, True):
                built, launched, ran, count = measure(key, args.rows, args.repeat, generated)
                form = "generated" if generated else "interpreter"
                print(f"{name:50} {form:>12} {count:7d} {built:8.1f} {launched:8.1f} {built + launched:8.1f} "
                      f"{ran:8.2f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
