"""A whole-daemon run as an operator sees it: start, warm-up, two large jobs, a mixed burst, node proxies.

    python3 tools/daemon_scenario.py                      # every GPU, default flags
    python3 tools/daemon_scenario.py --serve-args "--num-gpus 1" --large 21 --burst 10 11 12 13 14 15 16 16

Steps (each printed as it ends, then a table):
1. `tvmpd serve` with default flags (private sockets and cache dir): seconds until `ready` (every child warm:
   an empty pyopencl cache makes this the fresh-host case, kernel builds included);
2. one job at --large, then a second one (answer time from sending);
3. the burst: --burst jobs and two --large jobs sent at once; makespan, and where each job was proved
   (the daemon's `event=proving` lines, with the predicted finish per child);
4. neptune-core's proxy mode and xnt-core's five lines through `tvmpd proxy` (tests/node_emulator.py),
   one `all_tables_env` job each when the node-formats samples are present.
Every proof is verified with our verifier.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tools.loadgen import request_fields  # noqa: E402
from tvmpd.supervisor import control, protocol  # noqa: E402

PROVING = re.compile(r'id=(\d+) event=proving log2=(\d+) device=(\w+).*predicted=([0-9.]+)s finish="?([^"]*)')


def verified(fields: list[str], resp) -> str:
    from tvmpd.stages.verifier import VerificationError, verify
    from tvmpd.stages.vm import Claim

    if isinstance(resp, Exception) or resp.status != protocol.STATUS_OK:
        return f"no answer: {resp}" if isinstance(resp, Exception) else f"status {resp.status} {resp.message}"
    try:
        verify(Claim.from_json(fields[0]), np.frombuffer(resp.proof[8:], dtype="<u8").astype(np.uint64))
        return "verified"
    except VerificationError as exc:
        return f"INVALID: {exc}"


def send_all(address: str, jobs: list[tuple[int, list[str]]]) -> dict[int, tuple[float, object]]:
    """Send every (job id, fields) at once; job id -> (seconds to answer, response or exception)."""
    out: dict[int, tuple[float, object]] = {}

    def one(job_id: int, fields: list[str]) -> None:
        sent = time.perf_counter()
        try:
            resp = protocol.submit(address, job_id, fields, timeout=1800)
        except OSError as exc:
            resp = exc
        out[job_id] = (time.perf_counter() - sent, resp)

    threads = [threading.Thread(target=one, args=job) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--serve-args", default="", help="extra `tvmpd serve` flags")
    parser.add_argument("--large", type=int, default=21)
    parser.add_argument("--burst", type=int, nargs="*", default=[10, 11, 12, 13, 14, 15, 16, 16])
    parser.add_argument("--ready-timeout", type=float, default=900)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="tvmpd-scenario-"))
    ctl, tcp = str(work / "c.sock"), "127.0.0.1:5599"
    log_path = work / "daemon.log"
    cmd = [sys.executable, "-m", "tvmpd", "serve", "--tcp", tcp, "--unix", str(work / "p.sock"),
           "--control", ctl, "--cache-dir", str(work / "cache"), *shlex.split(args.serve_args)]
    print("$", " ".join(cmd), flush=True)
    started = time.perf_counter()
    with open(log_path, "w") as logf:
        daemon = subprocess.Popen(cmd, cwd=ROOT, stdout=logf, stderr=subprocess.STDOUT)
    rows: list[tuple[str, str]] = []
    try:
        while True:
            if daemon.poll() is not None:
                raise SystemExit(f"daemon exited {daemon.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                st = control.request(ctl, {"cmd": "status"}, timeout=5)
                if st.get("ready"):
                    break
            except OSError:
                pass
            if time.perf_counter() - started > args.ready_timeout:
                raise SystemExit(f"not ready after {args.ready_timeout}s:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.2)
        ready = time.perf_counter() - started
        children = ", ".join(f"{c['name']}={c['speed_class']}" for c in st["children"])
        rows.append(("ready (all children warm)", f"{ready:.1f} s  [{children}]"))
        print(rows[-1], flush=True)

        for n in (1, 2):
            fields = request_fields(args.large, 100 + n)
            (secs, resp), = send_all(tcp, [(n, fields)]).values()
            rows.append((f"2^{args.large} job #{n}", f"answered in {secs:.2f} s, {verified(fields, resp)}"))
            print(rows[-1], flush=True)

        burst = [(100 + i, request_fields(log2, i)) for i, log2 in enumerate(args.burst)]
        burst += [(200 + i, request_fields(args.large, 10 + i)) for i in range(2)]
        log_mark = len(log_path.read_text())
        t0 = time.perf_counter()
        answers = send_all(tcp, burst)
        makespan = time.perf_counter() - t0
        new_log = log_path.read_text()[log_mark:]
        placed = {}
        for line in new_log.splitlines():
            m = PROVING.search(line)
            if m:
                placed[int(m.group(1))] = (m.group(2), m.group(3), m.group(4), m.group(5))
        print(f"{'job':>5} {'log2':>4} {'child':>6} {'predicted':>9} {'answer s':>9}  "
              "check / finish by child")
        for job_id, fields in burst:
            secs, resp = answers[job_id]
            log2, child, pred, finish = placed.get(job_id, ("?", "?", "?", ""))
            check = verified(fields, resp)
            print(f"{job_id:5d} {log2:>4} {child:>6} {pred:>9} {secs:9.2f}  {check} / {finish}")
        rows.append((f"burst {args.burst} + 2 x 2^{args.large}", f"makespan {makespan:.2f} s"))
        print(rows[-1], flush=True)

        samples = Path(os.environ.get("TVMPD_NODE_FORMATS", ROOT.parent / "shared" / "node-formats"))
        if (samples / "all_tables_env.job.json").exists():
            from tests.node_emulator import run_neptune, run_xnt

            job = json.loads((samples / "all_tables_env.job.json").read_text())
            for family, run in (("neptune-core", lambda: run_neptune(
                    job, f"{sys.executable} -m tvmpd proxy --socket {tcp}", cwd=str(ROOT))),
                    ("xnt-core", lambda: run_xnt(job, [sys.executable, "-m", "tvmpd", "proxy"], tcp,
                                                 cwd=str(ROOT)))):
                t = time.perf_counter()
                res = run()
                fields = [json.dumps(job["claim"])]
                ok = verified(fields, protocol.Response(0, 0, proof=res.stdout)) if res.exit_code == 0 else \
                    f"exit {res.exit_code} {res.stderr.get('ERROR')}"
                rows.append((f"{family} via tvmpd proxy (all_tables_env)",
                             f"exit {res.exit_code} in {time.perf_counter() - t:.2f} s, {ok}"))
                print(rows[-1], flush=True)
    finally:
        daemon.terminate()
        try:
            daemon.wait(120)
        except subprocess.TimeoutExpired:
            daemon.kill()
    print("\n| step | result |\n|---|---|")
    for step, result in rows:
        print(f"| {step} | {result} |")
    print("\ndaemon log (job events):")
    for line in log_path.read_text().splitlines():
        if any(k in line for k in ("ready", "warming", "event=proving", "event=done", "died", "failed")):
            print(line[:220])


if __name__ == "__main__":
    main()
