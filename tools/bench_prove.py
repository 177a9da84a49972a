"""Benchmark the prover: total and per-stage time per padded height, for one backend.

The workload is a counting loop whose public input sets the cycle count (about 12 cycles a round),
so each requested log2 padded height gets a program run that lands exactly there.

    python3 tools/bench_prove.py --backend numpy --log2 8 10 12
    python3 tools/bench_prove.py --backend opencl --device 0:0 --log2 16 18 20 21
    python3 tools/bench_prove.py --backend opencl --workload recursive --log2 21   # tools/workloads

Before the timed proofs it proves `halt` (padded height 2^8) once and prints that time separately: it
pays the one-time costs (numba's compile, every OpenCL program's build or load from the binary caches),
so the table holds warm figures. Under the table it prints the reference prover's figures (Triton VM
v7.0.0, Rust, all cores, measured on the GPU machine's 16 cores and on the 2-core machine) and ours as a
multiple of them.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tools.workloads import WORKLOADS  # noqa: E402
from tvmpd.stages.prover import prove  # noqa: E402
from tvmpd.stages.verifier import verify  # noqa: E402
from tvmpd.stages.vm import Claim, NonDeterminism, Program, run  # noqa: E402

# Reference prover (Triton VM v7.0.0, Rust, all cores): log2 padded height -> seconds (issue 18)
REFERENCE = {"16 cores": {12: 0.68, 14: 2.33, 16: 9.31, 18: 37.7}, "2 cores": {12: 6.5, 14: 15.2}}
NO_SECRETS = '{"individual_tokens":[],"digests":[],"ram":{}}'
LOOP = """
read_io 1 push 0 call loop write_io 1 pop 1 halt
loop:
  dup 1 push 0 eq skiz return
  dup 1 dup 0 mul add
  swap 1 addi -1 swap 1
  recurse
"""


def workload(log2: int, name: str = "loop"):
    """(claim, aet) of a run whose padded height is 2^log2: the counting loop (`halt` for 2^8, the loop's
    floor is 2^9) or a workload of tools/workloads by name."""
    if name != "loop":
        from tools import workloads

        claim, program, nd = workloads.job(name, log2)
        return claim, run(program, claim.input, nd)[1]
    program = Program.from_tasm("halt" if log2 == 8 else LOOP)
    if log2 == 8:
        output, aet = run(program, [], NonDeterminism.from_json(NO_SECRETS))
        return Claim(program.digest(), 5, [], output), aet
    rounds = max(1, (int(0.9 * (1 << log2)) - 11) // 12) if log2 > 8 else 1
    output, aet = run(program, [rounds], NonDeterminism.from_json(NO_SECRETS))
    return Claim(program.digest(), 5, [rounds], output), aet


def front_end(log2: int, name: str) -> tuple[Claim, object, dict[str, float]]:
    """(claim, aet, stage seconds) of a named workload, timed like a job: parse its JSON, run the VM, build
    the AET; "front-end peak MiB" is this process's peak RSS after them."""
    from tools import workloads
    from tvmpd.stages.vm import execute
    from tvmpd.stages.vm.aet import build_aet

    claim, program, nd = workloads.job(name, log2)
    texts = claim.to_json(), program.to_json(), nd.to_json()
    t0 = time.perf_counter()
    claim, program = Claim.from_json(texts[0]), Program.from_json(texts[1])
    nd = NonDeterminism.from_json(texts[2])
    program.digest()
    t1 = time.perf_counter()
    _, rec = execute(program, claim.input, nd)
    t2 = time.perf_counter()
    aet = build_aet(program, rec)
    t3 = time.perf_counter()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return claim, aet, {"parse": t1 - t0, "VM run": t2 - t1, "AET": t3 - t2, "front-end peak MiB": peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["numpy", "opencl"], default="numpy")
    parser.add_argument("--device", default=None, help="OpenCL device key (default: first GPU, else pocl)")
    parser.add_argument("--log2", type=int, nargs="+", default=[8, 10, 12])
    parser.add_argument("--workload", default="loop",
                        help="loop (default) or a workload of tools/workloads: " + ", ".join(WORKLOADS))
    parser.add_argument("--verify", action="store_true", help="also verify each proof (numpy verifier)")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="profile each proof (cProfile) and print its N costliest functions by own time")
    args = parser.parse_args()

    device = args.device
    if args.backend == "numpy":
        device = None
    elif device is None:
        from tvmpd.opencl.devices import cpu_device, gpu_devices

        device = (gpu_devices() or [cpu_device()])[0].key
    label = "numpy" if device is None else f"opencl {device}"

    claim, aet = workload(8)
    t = time.perf_counter()
    prove(claim, aet, device_key=device)
    warm_up = time.perf_counter() - t
    print(f"warm-up: halt proved in {warm_up:.2f}s (builds / loads every program)", file=sys.stderr,
          flush=True)

    rows = []
    for log2 in args.log2:
        t = time.perf_counter()
        if args.workload == "loop":
            claim, aet = workload(log2)
            stages = {"VM run": time.perf_counter() - t}
        else:
            claim, aet, stages = front_end(log2, args.workload)
        if aet.padded_height != 1 << log2:  # e.g. the loop program alone already needs 2^9 rows
            print(f"2^{log2}: skipped, the workload's smallest padded height is {aet.padded_height}",
                  file=sys.stderr)
            continue
        profiler = cProfile.Profile() if args.profile else None
        t, cpu = time.perf_counter(), time.process_time()
        if profiler is not None:
            profiler.enable()
        proof = prove(claim, aet, device_key=device, progress=lambda s, d, st=stages: st.__setitem__(s, d))
        total = time.perf_counter() - t
        # CPU seconds of all the process's threads (pocl's included): steadier than wall time on a shared host
        stages["prove CPU time"] = time.process_time() - cpu
        if profiler is not None:
            profiler.disable()
            print(f"2^{log2}: profile, costliest functions by own time", file=sys.stderr)
            pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(args.profile)
        if args.verify:
            t = time.perf_counter()
            verify(claim, proof)
            stages["verify"] = time.perf_counter() - t
        rows.append((log2, stages, total, len(proof)))
        print(f"2^{log2}: proved in {total:.2f}s ({len(proof)} elements)", file=sys.stderr, flush=True)

    names = list(dict.fromkeys(name for _, stages, _, _ in rows for name in stages))
    print(f"\nbackend: {label}")
    print(f"{'stage':30s}" + "".join(f"{'2^' + str(log2):>10s}" for log2, *_ in rows))
    for name in names:
        print(f"{name:30s}" + "".join(f"{stages.get(name, float('nan')):10.2f}" for _, stages, _, _ in rows))
    print(f"{'prove total':30s}" + "".join(f"{total:10.2f}" for _, _, total, _ in rows))
    print(f"{'warm-up (halt, builds)':30s}{warm_up:10.2f}")
    for machine, figures in REFERENCE.items():
        print(f"{'reference, ' + machine:30s}"
              + "".join(f"{figures[log2]:10.2f}" if log2 in figures else f"{'-':>10s}" for log2, *_ in rows))
        ratios = [f"{total / figures[log2]:9.2f}x" if log2 in figures else f"{'-':>10s}"
                  for log2, _, total, _ in rows]
        print(f"{'  ours / reference':30s}" + "".join(ratios))


if __name__ == "__main__":
    main()
