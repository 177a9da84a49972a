"""Benchmark the VM: cycles per second and peak memory for three loop programs at 2^16 and 2^20 cycles,
and for the workloads of tools/workloads at a padded height of 2^log2.

Usage: python3 tools/bench_vm.py [--log2 16 20] [--cases arith hash u32] [--workloads recursive merkle]
                                 [--engines compiled reference] [--compile]
Each measurement runs in a fresh child process so that its peak RSS is its own; the compiled engine's
machine code comes from numba's cache (paid before the clock starts). --compile also times the compile
on an empty cache (a fresh machine) and the load from a warm one.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

LOOP_HEAD = "read_io 1 push 0 call loop halt\nloop:\n  dup 1 push 0 eq skiz return\n"
LOOP_TAIL = "  swap 1 addi -1 swap 1\n  recurse\n"

CASES = {
    # acc = acc * n + 7: 11 cycles per iteration, field arithmetic and stack shuffling only
    "arith": ("  dup 1 mul addi 7\n", 11),
    # one sponge_absorb_mem and one sponge_squeeze per 19 cycles (two Tip5 permutations); the pushes
    # shield the loop counter from sponge_absorb_mem, which overwrites st1..st4
    "hash": ("  push 0 push 0 push 0 push 0 push 0 sponge_absorb_mem sponge_squeeze pop 5 pop 5 pop 5\n", 19),
    # xor/and/pop_count/lt/log_2_floor/div_mod on u32 values
    "u32": ("  dup 1 dup 1 xor dup 2 and pop_count add dup 1 dup 1 lt pop 1 dup 1 log_2_floor pop 1\n"
            "  push 7 dup 2 div_mod pop 2\n", 29),
}


def program_text(case: str) -> str:
    body, _ = CASES[case]
    prefix = "sponge_init\n" if case == "hash" else ""
    return prefix + LOOP_HEAD + body + LOOP_TAIL


def iterations_for(case: str, log2_cycles: int) -> int:
    _, per_iteration = CASES[case]
    return max(1, (1 << log2_cycles) // per_iteration)


def measure(engine: str, case: str, log2: int) -> dict:
    """Run in this process: interpreter time, AET time, cycles, peak RSS. For a loop case log2 sets the
    cycles, for a workload the padded height."""
    from tvmpd.stages.vm import Program, execute, execute_reference, warm_up
    from tvmpd.stages.vm.aet import build_aet

    if engine == "compiled":
        warm_up()
    if case in CASES:
        program = Program.from_tasm(program_text(case))
        public, nd = [iterations_for(case, log2)], None
    else:
        from tools import workloads

        program = workloads.program(case)
        public, nd = workloads.inputs(case, workloads.rounds_for(case, log2))
    program.digest()
    run = execute if engine == "compiled" else execute_reference
    t0, c0 = time.perf_counter(), time.process_time()
    output, rec = run(program, public, nd)
    t1, c1 = time.perf_counter(), time.process_time()
    aet = build_aet(program, rec)
    t2, c2 = time.perf_counter(), time.process_time()
    cycles = aet.cycle_count
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"engine": engine, "case": case, "log2": log2, "cycles": cycles, "execute_s": t1 - t0,
            "aet_s": t2 - t1,
            "execute_cps": cycles / (t1 - t0), "total_cps": cycles / (t2 - t0),
            "execute_cpu_cps": cycles / (c1 - c0), "total_cpu_cps": cycles / (c2 - c0),
            "padded_height": aet.padded_height, "peak_rss_mib": peak_mib}


def compile_times() -> tuple[float, float]:
    """Seconds of `stages.vm.warm_up()` in a fresh process on an empty numba cache, then on the warm one
    (import of stages.vm and numba included in both)."""
    code = "import time; t = time.perf_counter(); import stages.vm; stages.vm.warm_up(); " \
           "print(time.perf_counter() - t)"
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache, PYTHONPATH=str(ROOT))
        times = [float(subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True,
                                      text=True, cwd=ROOT).stdout) for _ in range(2)]
    return times[0], times[1]


def main() -> None:
    from tools.workloads import WORKLOADS

    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--log2", type=int, nargs="+", default=[16, 20])
    parser.add_argument("--cases", nargs="*", default=list(CASES), choices=list(CASES))
    parser.add_argument("--workloads", nargs="*", default=[], choices=list(WORKLOADS))
    parser.add_argument("--engines", nargs="+", default=["compiled"], choices=["compiled", "reference"])
    parser.add_argument("--compile", action="store_true", help="also time the numba compile, cold and warm")
    parser.add_argument("--child", nargs=3, metavar=("ENGINE", "CASE", "LOG2"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child[0], args.child[1], int(args.child[2]))))
        return
    if args.compile:
        cold, warm = compile_times()
        print(f"numba: import + warm_up() on an empty cache (compile) {cold:.2f} s, "
              f"from the cache {warm:.2f} s")
    print("c/s = cycles per second of wall time; cpu = per second of this process's CPU time (the machine")
    print("is shared, so wall time includes waiting for a core); exec = interpreter, +AET = with the trace;")
    print("log2 = cycles for the loop cases, padded height for the workloads")
    print(f"{'engine':9} {'case':9} {'log2':>4} {'cycles':>9} {'exec c/s':>11} {'exec cpu':>11} "
          f"{'+AET c/s':>10} {'+AET cpu':>10} {'exec s':>7} {'AET s':>6} {'padded':>8} {'peak MiB':>9}")
    for engine in args.engines:
        for case in args.cases + args.workloads:
            for log2 in args.log2:
                out = subprocess.run([sys.executable, __file__, "--child", engine, case, str(log2)],
                                     check=True, capture_output=True, text=True).stdout
                r = json.loads(out)
                print(f"{engine:9} {case:9} {log2:>4} {r['cycles']:>9} {r['execute_cps']:>11,.0f} "
                      f"{r['execute_cpu_cps']:>11,.0f} {r['total_cps']:>10,.0f} {r['total_cpu_cps']:>10,.0f} "
                      f"{r['execute_s']:>7.2f} {r['aet_s']:>6.2f} {r['padded_height']:>8} "
                      f"{r['peak_rss_mib']:>9.0f}", flush=True)


if __name__ == "__main__":
    main()
