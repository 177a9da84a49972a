"""Cold against warm `tvmpd prove`: the first proof on a fresh machine (every cache empty: numba's, pocl's,
tvmpd's, the drivers') against later ones, per padded height, every proof verified; prints a table.

Each height gets a fresh cache directory (XDG_CACHE_HOME and NUMBA_CACHE_DIR below it). The cold run is the
first `tvmpd prove` there; the background processes it leaves (numba's compile at lowest priority, the
kernel warm-up helper and its prebuild helpers, which finish building what no proof waited for) are waited
for, then the warm runs prove the same request again. The workload is tools/bench_prove.py's counting loop
(tools/loadgen.py request_fields). Wall and CPU times are the command's (CPU: user + system of it and the
children it waited for: helpers that outlive it are not counted, tools/cold_timeline.py gives every
process's); the cold run's "VM s" is the moment (from the command's start) `tvmpd prove` reports its run
executed, "helpers s" the one when the kernel warm-up's helpers had all ended.

    python3 tools/bench_cold.py --log2 12 14 16
    python3 tools/bench_cold.py --device 0:0 --log2 12 --warm-runs 2 --tree /path/to/other/checkout
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tools.loadgen import request_fields  # noqa: E402

# command-line fragments of the processes a cold `tvmpd prove` leaves behind: the kernel warm-up's, numba's
HELPERS = ("tvmpd.stages.device_warmup", "tvmpd.opencl.prebuild")
BACKGROUND = ("_warm_all_locked", "_warm_loop_locked", *HELPERS)
QUIET_TIMEOUT_S = 600.0


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def wait_for_background(fragments: tuple[str, ...] = BACKGROUND) -> float:
    """Wait until no background process of a cold run (of those fragments) is left; returns the seconds
    waited."""
    t = time.perf_counter()
    while time.perf_counter() - t < QUIET_TIMEOUT_S:
        busy = False
        for proc in psutil.process_iter(["cmdline"]):
            line = " ".join(proc.info["cmdline"] or ())
            if any(fragment in line for fragment in fragments):
                busy = True
                break
        if not busy:
            break
        time.sleep(0.1)
    return time.perf_counter() - t


Ran = tuple[float, float, subprocess.CompletedProcess]
Row = tuple[str, float, float, str, float]


def _run(tree: Path, env: dict[str, str], args: list[str]) -> Ran:
    """(wall s, CPU s, result) of `python -m tvmpd.supervisor.cli ARGS` in tree."""
    cpu = _children_cpu()
    t = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "tvmpd.supervisor.cli", *args], cwd=tree, env=env,
                            capture_output=True, text=True)
    return time.perf_counter() - t, _children_cpu() - cpu, result


def _reported(stderr: str, label: str) -> float | None:
    """The seconds `tvmpd prove` printed after `label` on standard error, if it printed that line."""
    found = re.search(rf"^{re.escape(label)}.*?([0-9.]+)s$", stderr, re.MULTILINE)
    return float(found.group(1)) if found else None


def measure(tree: Path, log2: int, device: str | None, warm_runs: int) -> list[Row]:
    """[(run, wall s, CPU s, stderr, helpers s)] of one cold and warm_runs warm proofs at 2^log2 in tree
    (helpers s: when the kernel warm-up's helpers had ended, from the command's start); raises on a failed
    or unverified proof."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="tvmpd-cold-") as cache:
        env = dict(os.environ, XDG_CACHE_HOME=cache, NUMBA_CACHE_DIR=str(Path(cache) / "numba"),
                   PYTHONPATH=os.pathsep.join([str(tree), *filter(None, [os.environ.get("PYTHONPATH")])]))
        request, proof = Path(cache) / "request", Path(cache) / "proof"
        request.write_text("\n".join(request_fields(log2, 0)) + "\n")
        target = ["--device", device] if device else ["--backend", "opencl"]
        for run in ["cold"] + ["warm"] * warm_runs:
            wall, cpu, result = _run(tree, env, ["prove", *target, str(request), "-o", str(proof)])
            helpers = wall + wait_for_background(HELPERS)
            if result.returncode != 0:
                raise RuntimeError(f"2^{log2} {run}: tvmpd prove failed: {result.stderr.strip()[-500:]}")
            checked = _run(tree, env, ["verify", str(request), str(proof)])[2]
            if checked.returncode != 0:
                raise RuntimeError(f"2^{log2} {run}: proof not verified: {checked.stdout.strip()}")
            rows.append((run, wall, cpu, result.stderr.replace("\r", "\n"), helpers))
            wait_for_background()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--log2", type=int, nargs="+", default=[12, 14])
    parser.add_argument("--device", help="OpenCL device key (default: tvmpd prove --backend opencl's choice)")
    parser.add_argument("--warm-runs", type=int, default=2)
    parser.add_argument("--tree", type=Path, action="append",
                        help="checkout to measure (repeatable, e.g. an older commit's `git archive`); "
                             "default: this one")
    args = parser.parse_args()
    trees = args.tree or [ROOT]
    print(f"{'tree':<24} {'log2':>4} {'cold s':>8} {'cold CPU':>9} {'VM s':>6} {'helpers s':>9} "
          f"{'warm s':>14} {'cold/warm':>9}")
    for tree in trees:
        for log2 in args.log2:
            rows = measure(tree.resolve(), log2, args.device, args.warm_runs)
            (_, cold, cold_cpu, stderr, helpers_s), warm = rows[0], [row[1] for row in rows[1:]]
            vm_s = _reported(stderr, "executed:")
            phases = " ".join(f"{'-' if v is None else f'{v:.2f}':>{w}}"
                              for v, w in ((vm_s, 6), (helpers_s, 9)))
            warm_text = ", ".join(f"{w:.2f}" for w in warm) or "-"
            ratio = f"{cold / min(warm):.1f}x" if warm else "-"
            name = tree.name or str(tree)
            print(f"{name:<24} {log2:>4} {cold:>8.2f} {cold_cpu:>9.1f} {phases} {warm_text:>14} {ratio:>9}",
                  flush=True)


if __name__ == "__main__":
    main()
