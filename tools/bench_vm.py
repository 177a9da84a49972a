"""Benchmark the VM: cycles per second and peak memory for three loop programs at 2^16 and 2^20 cycles.

Usage: python3 tools/bench_vm.py [--log2 16 20] [--cases arith hash u32]
Each measurement runs in a fresh child process so that its peak RSS is its own.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

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


def measure(case: str, log2_cycles: int) -> dict:
    """Run in this process: interpreter time, AET time, cycles, peak RSS."""
    from stages.vm import Program, execute
    from stages.vm.aet import build_aet

    program = Program.from_tasm(program_text(case))
    program.digest()
    n = iterations_for(case, log2_cycles)
    t0, c0 = time.perf_counter(), time.process_time()
    output, rec = execute(program, [n])
    t1, c1 = time.perf_counter(), time.process_time()
    aet = build_aet(program, rec)
    t2, c2 = time.perf_counter(), time.process_time()
    cycles = aet.cycle_count
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"case": case, "log2": log2_cycles, "cycles": cycles, "execute_s": t1 - t0, "aet_s": t2 - t1,
            "execute_cps": cycles / (t1 - t0), "total_cps": cycles / (t2 - t0),
            "execute_cpu_cps": cycles / (c1 - c0), "total_cpu_cps": cycles / (c2 - c0),
            "padded_height": aet.padded_height, "peak_rss_mib": peak_mib}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--log2", type=int, nargs="+", default=[16, 20])
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--child", nargs=2, metavar=("CASE", "LOG2"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child[0], int(args.child[1]))))
        return
    print("c/s = cycles per second of wall time; cpu = per second of this process's CPU time (the machine")
    print("is shared, so wall time includes waiting for a core); exec = interpreter, +AET = with the trace")
    print(f"{'case':6} {'cycles':>9} {'exec c/s':>10} {'exec cpu':>10} {'+AET c/s':>10} {'+AET cpu':>10} "
          f"{'exec s':>7} {'AET s':>6} {'padded':>8} {'peak MiB':>9}")
    for case in args.cases:
        for log2 in args.log2:
            out = subprocess.run([sys.executable, __file__, "--child", case, str(log2)], check=True,
                                 capture_output=True, text=True).stdout
            r = json.loads(out)
            print(f"{case:6} {r['cycles']:>9} {r['execute_cps']:>10,.0f} {r['execute_cpu_cps']:>10,.0f} "
                  f"{r['total_cps']:>10,.0f} {r['total_cpu_cps']:>10,.0f} {r['execute_s']:>7.2f} "
                  f"{r['aet_s']:>6.2f} {r['padded_height']:>8} {r['peak_rss_mib']:>9.0f}")


if __name__ == "__main__":
    main()
