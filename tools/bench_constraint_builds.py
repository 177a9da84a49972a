"""The generated constraint kernels built other ways: build time, registers and spills (NVIDIA), and the
time of the whole set over random rows (weighted mode, as the quotient runs it).

Each run is a node bound for the generator's kernel split (MAX_NODES_PER_KERNEL, 600 in the prover) and
extra build options, written BOUND:OPTIONS. The prover's own options for the device are always included,
the register cap it sets on NVIDIA too, except in a run that names its own -cl-nv-maxrregcount (255: as
NVIDIA's compiler chooses without a cap).

    python3 tools/bench_constraint_builds.py --log2 22 "600:" "600:-cl-nv-maxrregcount=96" "300:"   # a GPU
    python3 tools/bench_constraint_builds.py --log2 14 "600:" "150:"                                # pocl

Every kernel is launched as the quotient launches the generated kernels (air.launch_rows; a CPU device
runs the constraint interpreter in proofs instead, tools/bench_kernel_build.py compares the two). On a CPU,
pocl compiles each kernel at its first launch: that time is printed as "first launches".
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
    n, rng = 1 << args.log2, np.random.default_rng(2)
    ch, w, main_, aux = (rt.to_device(rng.integers(0, P, size=shape, dtype=np.uint64))
                         for shape in ((63, 3), (604, 3), (379, n), (273, n)))
    sums = rt.empty(n * 4 * 3 * 8)

    def run_set(kernels: list) -> float:
        """Seconds of one launch of every kernel, each as the quotient launches it."""
        t = time.perf_counter()
        u32, u64 = np.uint32, np.uint64
        for kernel in kernels:
            local = None if gpu else rt.group_size(kernel, air.LOCAL_SIZE)
            air.launch_rows(rt, kernel, n, local, main_, u64(1), u64(n), aux, u64(1), u64(3 * n), u64(n), ch,
                            w, u32(n), u32(1), u32(1), sums)
        rt.queue.finish()
        return time.perf_counter() - t

    lowered = lowered_air()
    print(f"{rt.device.name.strip()}, 2^{args.log2} rows")
    print("| bound | options | kernels | build s | first launches s | set ms | largest registers "
          "| spill stores B |")
    print("|---|---|---|---|---|---|---|---|")
    for run in args.runs:
        bound, _, extra = run.partition(":")
        codegen.MAX_NODES_PER_KERNEL = int(bound)  # this process only: the kernels it builds below
        prover = air._options(rt) if "-cl-nv-maxrregcount" in extra else air._constraint_options(rt)
        options = list(BUILD_OPTIONS + rt.device_options() + prover + tuple(extra.split())
                       + (("-cl-nv-verbose",) if gpu else ()))
        sources = codegen.constraint_kernels(lowered)
        t = time.perf_counter()
        with ThreadPoolExecutor(air.BUILD_THREADS if gpu else 1) as pool:
            built = list(pool.map(lambda item, o=options: build(rt, item, o), sources))
        build_s = time.perf_counter() - t
        kernels = [kernel for kernel, _, _ in built]
        first_s = run_set(kernels)
        set_ms = sum(run_set(kernels) for _ in range(args.repeat)) / args.repeat * 1e3
        print(f"| {bound} | {extra or '-'} | {len(built)} | {build_s:.1f} | {first_s:.1f} | {set_ms:.1f} | "
              f"{max(b[1] for b in built)} | {sum(b[2] for b in built)} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
