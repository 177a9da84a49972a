"""Load generator: send proof jobs to a running daemon at once, check every answer, print a table.

Each job is the counting-loop workload of tools/bench_prove.py, or a workload of tools/workloads by name
(`--workload recursive`), at a chosen padded height (a distinct public input per job, so no two jobs are
alike). Every OK answer is verified with our verifier.

    tvmpd serve --devices 0:0,0:1 &                # e.g. two GPUs
    python3 tools/loadgen.py --address 127.0.0.1:5555 --log2 18 --jobs 2
    python3 tools/loadgen.py --log2 10 12 --jobs 4 --no-verify
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tools.bench_prove import LOOP, NO_SECRETS  # noqa: E402
from tvmpd.supervisor import protocol  # noqa: E402
from tvmpd.supervisor.config import default_unix_path  # noqa: E402


def request_fields(log2: int, salt: int, workload: str = "loop") -> list[str]:
    """The five request lines of a loop (or named workload) run landing at padded height 2^log2 (salt
    varies the input)."""
    from tvmpd.stages.vm import Claim, NonDeterminism, Program, run

    if workload != "loop":
        from tools import workloads

        claim, program, nd = workloads.job(workload, log2, salt)
        return [claim.to_json(), program.to_json(), nd.to_json(), "null", "{}"]

    program = Program.from_tasm(LOOP)
    rounds = max(1, (int(0.9 * (1 << log2)) - 11) // 12 - salt)
    output, _ = run(program, [rounds], NonDeterminism.from_json(NO_SECRETS))
    claim = Claim(program.digest(), 5, [rounds], output)
    return [claim.to_json(), program.to_json(), NO_SECRETS, "null", "{}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--address", default=None, help="HOST:PORT or a Unix socket path (default: "
                                                       "the default daemon's Unix socket)")
    parser.add_argument("--log2", type=int, nargs="+", default=[10])
    parser.add_argument("--jobs", type=int, default=2, help="jobs per log2, all sent at once")
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--no-verify", action="store_true")
    parser.add_argument("--workload", default="loop", help="loop (default) or a workload of tools/workloads")
    args = parser.parse_args()
    address = args.address or default_unix_path()

    work = [(log2, salt) for log2 in args.log2 for salt in range(args.jobs)]
    fields = {w: request_fields(*w, args.workload) for w in work}
    results: dict[tuple[int, int], tuple[float, float, object]] = {}

    def one(job_id: int, w: tuple[int, int]) -> None:
        sent = time.perf_counter()
        try:
            resp = protocol.submit(address, job_id, fields[w], timeout=args.timeout)
        except OSError as exc:
            resp = exc
        results[w] = (sent, time.perf_counter(), resp)

    start = time.perf_counter()
    threads = [threading.Thread(target=one, args=(i + 1, w)) for i, w in enumerate(work)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    failures = 0
    print(f"{'job':>4} {'log2':>4} {'status':>10} {'seconds':>8} {'bytes':>9} verified")
    for i, w in enumerate(work):
        sent, done, resp = results[w]
        verified = "-"
        if isinstance(resp, Exception):
            status, size = f"{type(resp).__name__}", 0
        else:
            status = {protocol.STATUS_OK: "OK", protocol.STATUS_TOO_BIG: "TOO_BIG"}.get(resp.status, "ERROR")
            size = len(resp.proof or b"")
            if status == "OK" and not args.no_verify:
                from tvmpd.stages.proof import from_bincode
                from tvmpd.stages.verifier import VerificationError, verify
                from tvmpd.stages.vm import Claim

                elements = from_bincode(resp.proof)
                try:
                    verify(Claim.from_json(fields[w][0]), elements)
                    verified = "yes"
                except VerificationError as exc:
                    verified = f"NO: {exc}"
            if status == "ERROR":
                status = f"ERROR {json.dumps(resp.message)[:60]}"
        failures += status != "OK" or verified.startswith("NO")
        print(f"{i + 1:4d} {w[0]:4d} {status:>10} {done - sent:8.2f} {size:9d} {verified}")
    print(f"{len(work)} jobs in {time.perf_counter() - start:.2f}s, {failures} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
