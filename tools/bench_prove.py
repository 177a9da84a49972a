"""Benchmark the prover: total and per-stage time per padded height, for one backend.

The workload is a counting loop whose public input sets the cycle count (about 12 cycles a round),
so each requested log2 padded height gets a program run that lands exactly there.

    python3 tools/bench_prove.py --backend numpy --log2 8 10 12
    python3 tools/bench_prove.py --backend opencl --device 0:0 --log2 16 18 20 21
    python3 tools/bench_prove.py --backend opencl --workload recursive --log2 21   # tools/workloads
    python3 tools/bench_prove.py --backend opencl --log2 21 22 23 --verify          # memory modes by height
    python3 tools/bench_prove.py --workload recursive --log2 16 18 20 --front-end-only

OpenCL proofs also report the device memory mode (stages/device_backend.py: full, half or lean, chosen
by the memory model unless --memory-mode forces one) with the tables whose coset values are kept ("full+aux";
--keep-cosets forces a choice), the coset rows, the model's peak device memory, the peak that
nvidia-smi saw while proving (when it exists) and the process's peak host memory.

For a workload the front end is timed stage by stage as a job runs it (parse, VM run, AET, main table of
149 base columns) with the process's peak RSS after the main table ("front-end peak MiB"); the proof
then starts from that table.

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
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tools.workloads import WORKLOADS  # noqa: E402
from tvmpd.stages.proof import to_bincode  # noqa: E402
from tvmpd.stages.prover import backend_for, main_table, prove, prove_table  # noqa: E402
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
    the AET."""
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
    return claim, aet, {"parse": t1 - t0, "VM run": t2 - t1, "AET": t3 - t2}


class GpuMemory:
    """Peak GPU memory in use (MiB, the largest over the GPUs) that nvidia-smi reports every 100 ms."""

    def __init__(self) -> None:
        self.peak = 0
        command = ["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits", "-lms", "100"]
        self.proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            if line.strip().isdigit():
                self.peak = max(self.peak, int(line))

    def reset(self) -> None:
        time.sleep(0.3)  # let the last samples of the previous proof arrive
        self.peak = 0

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(5)


def model_peak_gib(backend) -> float:
    """The memory model's peak for the layout the backend's last proof used (GiB), NaN if none."""
    from tvmpd.stages.device_backend import layout_bytes

    layout = getattr(backend, "layout", None)
    if layout is None:
        return float("nan")
    return layout_bytes(backend.d, layout, int(backend.rt.device.max_mem_alloc_size))[1] / 2**30


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["numpy", "opencl"], default="numpy")
    parser.add_argument("--device", default=None, help="OpenCL device key (default: first GPU, else pocl)")
    parser.add_argument("--log2", type=int, nargs="+", default=[8, 10, 12])
    parser.add_argument("--workload", default="loop",
                        help="loop (default) or a workload of tools/workloads: " + ", ".join(WORKLOADS))
    parser.add_argument("--verify", action="store_true", help="also verify each proof (numpy verifier)")
    parser.add_argument("--memory-mode", default="auto", choices=["auto", "full", "half", "lean"],
                        help="OpenCL: device memory mode (default: the memory model picks per height)")
    parser.add_argument("--keep-cosets", default="auto", choices=["auto", "none", "main", "aux", "both"],
                        help="OpenCL: tables whose coset values are kept (default: the memory model picks)")
    parser.add_argument("--keep-memory", type=float, default=None, metavar="GIB",
                        help="OpenCL: plan automatically kept cosets within GIB of device memory (as the "
                             "daemon does with the free memory; 79.2 on an H200 keeps what an H100 would)")
    parser.add_argument("--front-end-only", action="store_true",
                        help="a workload's front end only (parse, VM, AET, main table), no proof")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="profile each proof (cProfile) and print its N costliest functions by own time")
    parser.add_argument("--save", type=Path, default=None, metavar="DIR",
                        help="write each proof and its claim to DIR (for `tvmpd verify CLAIM PROOF`)")
    parser.add_argument("--full-quotient", action="store_true",
                        help="OpenCL: every constraint on the whole quotient domain (before "
                             "stages/half_quotient.py), for A/B runs")
    args = parser.parse_args()
    keep_memory = None if args.keep_memory is None else int(args.keep_memory * 2**30)
    if args.full_quotient:
        from tvmpd.stages import device_backend

        device_backend.HALF_QUOTIENT = False

    device = args.device
    if args.backend == "numpy":
        device = None
    elif device is None:
        from tvmpd.opencl.devices import cpu_device, gpu_devices

        device = (gpu_devices() or [cpu_device()])[0].key
    label = "numpy" if device is None else f"opencl {device}"
    if args.front_end_only and args.workload == "loop":
        parser.error("--front-end-only needs --workload")
    from tvmpd.stages.vm import warm_up

    warm_up()  # as the daemon does before it reports ready: no stage below loads or compiles numba code
    claim, aet = workload(8)
    t = time.perf_counter()
    prove(claim, aet, device_key=device, backend=backend_for(device, memory_mode=args.memory_mode,
                                                             keep_cosets=args.keep_cosets,
                                                             keep_memory=keep_memory))
    warm_seconds = time.perf_counter() - t
    print(f"warm-up: halt proved in {warm_seconds:.2f}s (builds / loads every program)", file=sys.stderr,
          flush=True)

    gpu = GpuMemory() if device is not None and shutil.which("nvidia-smi") else None
    rows, modes, failed = [], {}, False
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
        backend = backend_for(device, memory_mode=args.memory_mode, keep_cosets=args.keep_cosets,
                              keep_memory=keep_memory)
        if gpu is not None:
            gpu.reset()
        t, cpu = time.perf_counter(), time.process_time()
        if profiler is not None:
            profiler.enable()
        progress = lambda s, d, st=stages: st.__setitem__(s, d)  # noqa: E731
        try:
            if args.workload == "loop":
                proof = prove(claim, aet, device_key=device, progress=progress, backend=backend)
            else:  # as the daemon: the main table (which a device child proves from), then the proof
                table = main_table(aet, degree_lowered=False)
                stages["main table"] = time.perf_counter() - t
                stages["front-end peak MiB"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                if args.front_end_only:
                    front = sum(stages[k] for k in ("parse", "VM run", "AET", "main table"))
                    rows.append((log2, stages, front, 0))
                    del table, aet
                    continue
                proof = prove_table(claim, table, backend=backend, degree_lowered=False, progress=progress)
                del table
        except Exception as exc:  # report it with what was seen so far, then go on to the next height
            seen = f"; nvidia-smi peak {gpu.peak / 1024:.1f} GiB" if gpu is not None else ""
            last = next(reversed(stages))
            print(f"2^{log2}: FAILED after {time.perf_counter() - t:.1f}s, in stage {last!r} or the next: "
                  f"{type(exc).__name__}: {exc}{seen}", file=sys.stderr, flush=True)
            failed = True
            continue
        total = time.perf_counter() - t
        if device is not None:
            layout = backend.layout
            modes[log2] = (layout.label, f"2^{layout.rows.bit_length() - 1}")
            stages["model peak GiB"] = model_peak_gib(backend)
            if gpu is not None:
                time.sleep(0.3)
                stages["nvidia-smi peak GiB"] = gpu.peak / 1024
        stages["host peak RSS GiB"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
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
        if args.save is not None:
            args.save.mkdir(parents=True, exist_ok=True)
            stem = args.save / f"{args.workload}-{log2}"
            stem.with_suffix(".claim.json").write_text(claim.to_json())
            stem.with_suffix(".proof").write_bytes(to_bincode(proof))
        rows.append((log2, stages, total, len(proof)))
        print(f"2^{log2}: proved in {total:.2f}s ({len(proof)} elements)", file=sys.stderr, flush=True)

    if gpu is not None:
        gpu.stop()
    names = list(dict.fromkeys(name for _, stages, _, _ in rows for name in stages))
    print(f"\nbackend: {label}")
    print(f"{'stage':30s}" + "".join(f"{'2^' + str(log2):>10s}" for log2, *_ in rows))
    if modes:
        for i, title in enumerate(("memory mode (+kept cosets)", "coset rows")):
            print(f"{title:30s}" + "".join(f"{modes.get(log2, ('-', '-'))[i]:>10s}" for log2, *_ in rows))
    for name in names:
        print(f"{name:30s}" + "".join(f"{stages.get(name, float('nan')):10.2f}" for _, stages, _, _ in rows))
    total_name = "front end total" if args.front_end_only else "prove total"
    print(f"{total_name:30s}" + "".join(f"{total:10.2f}" for _, _, total, _ in rows))
    print(f"{'warm-up (halt, builds)':30s}{warm_seconds:10.2f}")
    for machine, figures in REFERENCE.items():
        print(f"{'reference, ' + machine:30s}"
              + "".join(f"{figures[log2]:10.2f}" if log2 in figures else f"{'-':>10s}" for log2, *_ in rows))
        ratios = [f"{total / figures[log2]:9.2f}x" if log2 in figures else f"{'-':>10s}"
                  for log2, _, total, _ in rows]
        print(f"{'  ours / reference':30s}" + "".join(ratios))
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
