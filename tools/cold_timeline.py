"""Where a cold `tvmpd prove` spends its time: every process it starts, every OpenCL program build and
every first launch (pocl compiles a kernel there) and every wait of one process for another, on one time
line, with each process's CPU.

Runs one `tvmpd prove --backend opencl` of tools/bench_prove.py's workload with every cache empty (a fresh
XDG_CACHE_HOME and NUMBA_CACHE_DIR), waits for the background processes it leaves, verifies the proof, and
prints what tools/timeline_hook/sitecustomize.py recorded in each process. Launches are timed with the
queue finished after each (the hook's doing), which serialises a process's launches: the figures are for
finding where the time goes, not for comparing against bench_cold.py's.

    python3 tools/cold_timeline.py --log2 12
    python3 tools/cold_timeline.py --log2 12 --min-seconds 0.02 --tree /path/to/other/checkout
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tools.bench_cold import wait_for_background  # noqa: E402
from tools.loadgen import request_fields  # noqa: E402

HOOK = ROOT / "tools" / "timeline_hook"


def _role(argv: list[str]) -> str:
    """A process's part in a cold proof, from its command line as its exit saw it."""
    line = " ".join(argv)
    for fragment, role in (("device_warmup", "warm-up helper"), ("prebuild", "prebuild helper"),
                           ("cli", "tvmpd " + (argv[1] if len(argv) > 1 else "?"))):
        if fragment in line:
            return role
    return "numba compile" if not argv or argv[0] == "-c" else line[:40]


def record(tree: Path, log2: int, device: str | None = None) -> tuple[list[dict], float]:
    """The hook's events of one cold proof at 2^log2 in tree, and the command's start time."""
    with tempfile.TemporaryDirectory(prefix="tvmpd-timeline-") as tmp:
        log, request, proof = Path(tmp) / "events", Path(tmp) / "request", Path(tmp) / "proof"
        request.write_text("\n".join(request_fields(log2, 0)) + "\n")
        env = dict(os.environ, XDG_CACHE_HOME=tmp, NUMBA_CACHE_DIR=str(Path(tmp) / "numba"),
                   TVMPD_TIMELINE=str(log), PYTHONPATH=os.pathsep.join(
                       [str(HOOK), str(tree), *filter(None, [os.environ.get("PYTHONPATH")])]))
        cli = [sys.executable, "-m", "tvmpd.supervisor.cli"]
        start = time.time()
        target = ["--device", device] if device else ["--backend", "opencl"]
        proved = subprocess.run([*cli, "prove", *target, str(request), "-o", str(proof)],
                                cwd=tree, env=env, capture_output=True, text=True)
        if proved.returncode != 0:
            raise SystemExit(f"tvmpd prove failed: {proved.stderr.strip()[-500:]}")
        wait_for_background()
        env.pop("TVMPD_TIMELINE")
        checked = subprocess.run([*cli, "verify", str(request), str(proof)], cwd=tree, env=env,
                                 capture_output=True, text=True)
        if checked.returncode != 0:
            raise SystemExit(f"proof not verified: {checked.stdout.strip()}")
        return [json.loads(line) for line in log.read_text().splitlines()], start


def report(events: list[dict], start: float, min_seconds: float) -> None:
    """Print the processes, then builds and first launches in time order, then first launches summed."""
    exits = {e["pid"]: e for e in events if e["kind"] == "exit"}
    starts = {e["pid"]: e["t"] for e in events if e["kind"] == "start"}
    names = {}
    print(f"{'process':<18} {'pid':>7} {'start s':>8} {'end s':>7} {'CPU s':>6}")
    for n, pid in enumerate(sorted(starts, key=starts.get)):
        end = exits.get(pid)
        names[pid] = f"P{n} {_role(end['argv']) if end else '?'}"
        ended, cpu = (end["t"] - start, end["cpu"]) if end else (float("nan"), float("nan"))
        print(f"{names[pid]:<18} {pid:>7} {starts[pid] - start:>8.2f} {ended:>7.2f} {cpu:>6.2f}")
    print(f"\n{'t s':>6}  {'process':<18} {'seconds':>7}  what")
    seen: set[tuple[int, str, tuple]] = set()
    firsts: dict[str, float] = defaultdict(float)
    for e in sorted(events, key=lambda e: e["t"]):
        if e["kind"] == "build":
            what = f"build {e['first_kernel']}... ({e['chars']} chars)"
        elif e["kind"] == "launch":
            key = (e["pid"], e["kernel"], tuple(e["local"]))
            if key in seen:
                continue
            seen.add(key)
            firsts[e["kernel"]] += e["seconds"]
            what = f"first launch {e['kernel']} (group {'x'.join(map(str, e['local'])) or '-'})"
        elif e["kind"] == "wait":
            what = f"wait {e['what']}"
        else:
            continue
        if e["seconds"] >= min_seconds:
            print(f"{e['t'] - start:>6.2f}  {names.get(e['pid'], '?'):<18} {e['seconds']:>7.2f}  {what}")
    builds = sum(e["seconds"] for e in events if e["kind"] == "build")
    cpu = sum(e["cpu"] for e in exits.values() if _role(e["argv"]) != "numba compile")
    print(f"\nprogram builds {builds:.2f} s, first launches {sum(firsts.values()):.2f} s (their wall time, "
          f"each in its process); CPU of the processes but numba's background compile {cpu:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--log2", type=int, default=12)
    parser.add_argument("--device", help="OpenCL device key (default: tvmpd prove --backend opencl's choice)")
    parser.add_argument("--min-seconds", type=float, default=0.04, help="list events at least this long")
    parser.add_argument("--tree", type=Path, default=ROOT, help="checkout to measure (default: this one)")
    args = parser.parse_args()
    events, start = record(args.tree.resolve(), args.log2, args.device)
    report(events, start, args.min_seconds)


if __name__ == "__main__":
    main()
