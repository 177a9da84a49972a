"""Proofs per hour of the CPU pool for a mix of small jobs, by pool size: the threads question of issue 18
(one worker using every core, or several workers sharing them; pocl's threads are split evenly).

For each --workers count it starts `tvmpd serve` on private sockets with no GPU child (`--num-gpus 0`),
waits until every child is warm, sends the mix with tools/loadgen.py (every proof verified), stops the
daemon and prints one row.

    python3 tools/bench_pool.py --workers 1 2 --log2 9 10 11 12 --jobs 2
    python3 tools/bench_pool.py --workers 1 2 4 8 --log2 10 12 14 --jobs 4      # a 16-core host
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_pool(workers: int, log2s: list[int], jobs: int, timeout: float) -> tuple[float, float, str]:
    """(seconds until ready, seconds from the mix's first request to its last answer, loadgen's summary
    line) with `workers` workers."""
    with tempfile.TemporaryDirectory(prefix="tvmpd-pool-") as tmp:
        d = Path(tmp)
        log = (d / "log.txt").open("w")
        cmd = [sys.executable, "-m", "tvmpd", "serve", "--tcp", "", "--unix", str(d / "p.sock"),
               "--control", str(d / "c.sock"), "--cpu-workers", str(workers), "--num-gpus", "0",
               "--cache-dir", str(d / "cache")]
        daemon = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        try:
            t0 = time.perf_counter()
            while "ready: all" not in (d / "log.txt").read_text():
                if daemon.poll() is not None or time.perf_counter() - t0 > timeout:
                    raise RuntimeError(f"daemon with {workers} workers never got ready: see its log\n"
                                       + (d / "log.txt").read_text()[-2000:])
                time.sleep(0.5)
            ready = time.perf_counter() - t0
            out = subprocess.run([sys.executable, str(ROOT / "tools" / "loadgen.py"), "--address",
                                  str(d / "p.sock"), "--log2", *map(str, log2s), "--jobs", str(jobs)],
                                 cwd=ROOT, capture_output=True, text=True, timeout=timeout)
            print(out.stdout, end="", file=sys.stderr, flush=True)
            if out.returncode != 0:
                raise RuntimeError(f"loadgen failed with {workers} workers:\n{out.stdout}{out.stderr}")
            summary = out.stdout.strip().splitlines()[-1]  # "N jobs in X.XXs, 0 failed"
            return ready, float(summary.split(" in ")[1].split("s,")[0]), summary
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(timeout=120)
            log.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--log2", type=int, nargs="+", default=[9, 10, 11, 12])
    parser.add_argument("--jobs", type=int, default=2, help="jobs per log2, all sent at once")
    parser.add_argument("--timeout", type=float, default=1800)
    args = parser.parse_args()
    rows = []
    for workers in args.workers:
        ready, mix, summary = run_pool(workers, args.log2, args.jobs, args.timeout)
        rows.append((workers, ready, mix, summary))
    count = len(args.log2) * args.jobs
    print(f"mix: log2 {' '.join(map(str, args.log2))}, {args.jobs} jobs each ({count} jobs), "
          f"{os.cpu_count()} CPUs; every proof verified")
    print(f"{'workers':>7} {'threads each':>12} {'ready s':>8} {'mix s':>8} {'proofs/hour':>11}")
    for workers, ready, mix, _ in rows:
        threads = max(1, (os.cpu_count() or 1) // workers)
        print(f"{workers:7d} {threads:12d} {ready:8.1f} {mix:8.1f} {3600 * count / mix:11.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
