"""Cold build time of the generated AIR constraint kernels on each OpenCL CPU implementation present.

Builds the chunked constraint evaluator the prover uses (tools/gen_constraints.py, full lowered AIR) with
the prover's CPU options, then launches every kernel once on 8 rows (pocl compiles a kernel at its first
launch, Intel's runtime at build time), with pyopencl's and pocl's binary caches off. Prints one row per
device: build, first launches, total. Driver wheels (Intel's CPU runtime) are registered as the tests do.

Usage: python3 tools/bench_kernel_build.py [--device KEY ...]
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
for _path in (str(ROOT), str(ROOT / "tools")):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import numpy as np  # noqa: E402

from tvmpd.opencl.icd import register  # noqa: E402

ROWS = 8
CPU_OPTIONS = ["-cl-std=CL1.2", "-cl-opt-disable"]  # what the prover builds the AIR kernels with on a CPU


def build_and_launch(key: str, source: str, total: int) -> tuple[float, float, int]:
    """(build seconds, first-launch seconds, kernel count) of the chunked constraint source on one device."""
    import pyopencl as cl
    from gen_constraints import constraint_kernels

    from tvmpd.opencl.devices import get_cl_device

    device = get_cl_device(key)
    ctx = cl.Context([device])
    queue = cl.CommandQueue(ctx)
    options = CPU_OPTIONS if device.type & cl.device_type.CPU else CPU_OPTIONS[:1]
    t = time.perf_counter()
    kernels = constraint_kernels(cl.Program(ctx, source).build(options=options))
    built = time.perf_counter() - t
    rng = np.random.default_rng(1)
    p = 2**64 - 2**32 + 1
    mf = cl.mem_flags

    def buf(shape):
        return cl.Buffer(ctx, mf.READ_WRITE | mf.COPY_HOST_PTR, hostbuf=rng.integers(0, p, shape, np.uint64))

    main, aux, challenges, weights = buf((379, ROWS)), buf((273, ROWS)), buf((63, 3)), buf((total, 3))
    out = buf((ROWS, 4, 3))
    u64 = np.uint64
    t = time.perf_counter()
    for kernel in kernels:  # column-major main table, aux as three base columns per column, weighted sums
        kernel(queue, (ROWS,), (ROWS,), main, u64(1), u64(ROWS), aux, u64(1), u64(3 * ROWS), u64(ROWS),
               challenges, weights, np.uint32(ROWS), np.uint32(1), np.uint32(1), out)
    queue.finish()
    return built, time.perf_counter() - t, len(kernels)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", nargs="*", help="device keys (default: a CPU device per implementation)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tvmpd-icd-") as icd_dir:
        register(Path(icd_dir))
        return _table(args.device)


def _table(keys: list[str] | None) -> int:
    """Build on each device of `keys` (default: the first CPU device of each platform) and print a row."""
    from gen_constraints import opencl_chunked_source

    from tvmpd.opencl.devices import cpu_devices, get_cl_device
    from tvmpd.stages.air.constraints import lowered_air, source_digest

    if not keys:
        first: dict[str, str] = {}
        for d in cpu_devices():
            first.setdefault(d.platform, d.key)
        keys = list(first.values())
    air = lowered_air()
    source = opencl_chunked_source(air, source_digest())
    total = sum(air.counts().values())
    print(f"generated constraint kernels: {total} constraints, {len(source) / 1e6:.1f} MB of OpenCL C, "
          f"caches off, {os.cpu_count()} CPUs", flush=True)
    print(f"{'device':60} {'kernels':>7} {'build s':>8} {'launch s':>8} {'total s':>8}", flush=True)
    for key in keys:
        dev = get_cl_device(key)
        name = f"{key} {dev.platform.name.strip()} / {dev.name.strip()}"[:60]
        built, launched, count = build_and_launch(key, source, total)
        print(f"{name:60} {count:7d} {built:8.1f} {launched:8.1f} {built + launched:8.1f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
