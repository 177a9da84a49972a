"""Registers and spills of every hand-written OpenCL kernel on an NVIDIA GPU (issue 19's kernel work).

Builds each program of opencl/runtime.PROGRAMS as the prover builds it, plus `-cl-nv-verbose`, and prints
what NVIDIA's assembler reports per kernel: registers, spill stores and loads, stack and shared memory.
A kernel that spills, or whose register count leaves few warps per SM, is where instruction-level work
pays first. Other devices print no such log; the tool then says so.

    python3 tools/kernel_registers.py                 # first GPU
    python3 tools/kernel_registers.py --program tip5 --option=-DSOMETHING
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def parse(log: str) -> list[tuple[str, int, int, int, int, int]]:
    """(kernel, registers, spill store bytes, spill load bytes, stack bytes, shared bytes) per entry
    function of a -cl-nv-verbose build log."""
    rows = []
    fields = (r"Used (\d+) registers", r"(\d+) bytes spill stores", r"(\d+) bytes spill loads",
              r"(\d+) bytes stack frame", r"(\d+) bytes smem")
    for block in re.split(r"Compiling entry function '", log)[1:]:
        found = [re.search(f, block) for f in fields]
        rows.append((block.split("'", 1)[0], *(int(m.group(1)) if m else 0 for m in found)))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default=None, help="OpenCL device key (default: first GPU)")
    parser.add_argument("--program", action="append", default=[], help="only these programs (repeatable)")
    parser.add_argument("--option", action="append", default=[], help="an extra build option (repeatable)")
    args = parser.parse_args()
    import pyopencl as cl

    from tvmpd.opencl.devices import gpu_devices
    from tvmpd.opencl.runtime import BUILD_OPTIONS, KERNEL_DIR, PROGRAMS, get_runtime

    key = args.device or next((d.key for d in gpu_devices()), None)
    if key is None:
        print("no GPU: -cl-nv-verbose is NVIDIA's", file=sys.stderr)
        return 1
    rt = get_runtime(key)
    print(f"{rt.device.name.strip()} ({key})")
    head = ("program", "kernel", "regs", "spill st", "spill ld", "stack", "smem")
    print("{:<14} {:<34} {:>5} {:>9} {:>9} {:>6} {:>6}".format(*head))
    for name, files in PROGRAMS.items():
        if (args.program and name not in args.program) or (not args.program and name == "cpu"):
            continue  # the CPU devices' program (ntt_cpu.cl, tip5_cpu.cl and the others again)
        source = "\n".join((KERNEL_DIR / f).read_text() for f in files)
        verbose = ["-cl-nv-verbose"] if "cl_nv_compiler_options" in rt.device.extensions else []
        options = list(BUILD_OPTIONS + rt.device_options()) + verbose + args.option
        program = cl.Program(rt.context, source).build(options=options)
        rows = parse(program.get_build_info(rt.device, cl.program_build_info.LOG) or "")
        if not rows:
            print(f"{name:<14} (no assembler report in the build log)")
        for kernel, regs, st, ld, stack, smem in rows:
            print(f"{name:<14} {kernel:<34} {regs:>5} {st:>9} {ld:>9} {stack:>6} {smem:>6}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
