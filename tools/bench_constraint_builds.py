"""The generated constraint kernels built other ways: build time, registers and spills (NVIDIA), and the
time of the whole set over random rows (weighted mode, as the quotient runs it).

Each run is a node bound for the generator's kernel split (MAX_NODES_PER_KERNEL, 600 in the prover) and
extra build options, written BOUND:OPTIONS. The prover's own options for the device are always included,
so the register cap the prover sets on NVIDIA is there too unless a run sets another (the last
-cl-nv-maxrregcount given wins in NVIDIA's compiler).

    python3 tools/bench_constraint_builds.py --log2 22 "600:" "600:-cl-nv-maxrregcount=96" "300:"   # a GPU
    python3 tools/bench_constraint_builds.py --log2 14 "600:" "150:"                                # pocl

On a CPU, pocl compiles each kernel at its first launch: that time is printed as "first launches".
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

P = 2**64 - 2**32 + 1


def build(rt, item: tuple[str, str], options: list[str]) -> tuple:
    """(kernel, largest register count, spill store bytes) of one generated kernel built with options."""
    import pyopencl as cl

    from tvmpd.opencl import air

    name, source = item
    program = cl.Program(rt.context, air._field_helpers() + source).build(options=options)
    log = program.get_build_info(rt.device, cl.program_build_info.LOG) or ""
    registers = [int(x) for x in re.findall(r"Used (\d+) registers", log)]
    spills = sum(int(x) for x in re.findall(r"(\d+) bytes spill stores", log))
    return cl.Kernel(program, name), max(registers, default=0), spills


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", metavar="BOUND:OPTIONS")
    parser.add_argument("--log2", type=int, default=14, help="log2 of the random rows")
    parser.add_argument("--device", default=None, help="OpenCL device key (default: first GPU, else pocl)")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    import pyopencl as cl

    from tvmpd.opencl import air
    from tvmpd.opencl.devices import cpu_device, gpu_devices
    from tvmpd.opencl.runtime import BUILD_OPTIONS, get_runtime
    from tvmpd.stages.air import codegen
    from tvmpd.stages.air.constraints import lowered_air

    rt = get_runtime(args.device or (gpu_devices() or [cpu_device()])[0].key)
    gpu = not rt.device.type & cl.device_type.CPU
    n, mf, rng = 1 << args.log2, cl.mem_flags, np.random.default_rng(2)

    def random_buffer(shape: tuple[int, int]) -> cl.Buffer:
        values = rng.integers(0, P, size=shape, dtype=np.uint64)
        return cl.Buffer(rt.context, mf.READ_ONLY | mf.COPY_HOST_PTR, hostbuf=values)

    ch, w, main_, aux = (random_buffer(s) for s in ((63, 3), (604, 3), (379, n), (273, n)))
    out = cl.Buffer(rt.context, mf.READ_WRITE, n * 4 * 3 * 8)
    launch = (main_, np.uint64(1), np.uint64(n), aux, np.uint64(1), np.uint64(3 * n), np.uint64(n), ch, w,
              np.uint32(n), np.uint32(8), np.uint32(1), out)
    lowered = lowered_air()
    print(f"{rt.device.name.strip()}, 2^{args.log2} rows")
    print("| bound | options | kernels | build s | first launches s | set ms | largest registers "
          "| spill stores B |")
    print("|---|---|---|---|---|---|---|---|")
    for run in args.runs:
        bound, _, extra = run.partition(":")
        codegen.MAX_NODES_PER_KERNEL = int(bound)  # this process only: the kernels it builds below
        options = list(BUILD_OPTIONS + rt.device_options() + air._constraint_options(rt)
                       + tuple(extra.split()) + (("-cl-nv-verbose",) if gpu else ()))
        sources = codegen.constraint_kernels(lowered)
        t = time.perf_counter()
        with ThreadPoolExecutor(air.BUILD_THREADS if gpu else 1) as pool:
            built = list(pool.map(lambda item, o=options: build(rt, item, o), sources))
        build_s = time.perf_counter() - t
        local = 64 if gpu else 8
        t = time.perf_counter()
        for kernel, _, _ in built:
            kernel(rt.queue, (n,), (local,), *launch)
        rt.queue.finish()
        first_s = time.perf_counter() - t
        t = time.perf_counter()
        for _ in range(args.repeat):
            for kernel, _, _ in built:
                kernel(rt.queue, (n,), (local,), *launch)
        rt.queue.finish()
        set_ms = (time.perf_counter() - t) / args.repeat * 1e3
        print(f"| {bound} | {extra or '-'} | {len(built)} | {build_s:.1f} | {first_s:.1f} | {set_ms:.1f} | "
              f"{max(b[1] for b in built)} | {sum(b[2] for b in built)} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
