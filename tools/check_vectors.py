"""Check every vector request end to end through the CLI: `tvmpd prove` (no seed), then `tvmpd verify`.

Halting requests must prove and verify; failing ones must be refused with the reference's message;
too-big ones must exit 200 + log2. The CI suite covers requests up to 2^12; this covers all of them.

    python3 tools/check_vectors.py [--backend numpy|opencl] [--device KEY] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VECTORS = Path(os.environ.get("TVMPD_VECTORS", ROOT.parent / "shared" / "vectors"))


def tvmpd(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tvmpd", *args], cwd=ROOT, capture_output=True,
                          text=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["numpy", "opencl"], default="numpy")
    parser.add_argument("--device", default=None)
    parser.add_argument("--only", nargs="*", default=None)
    args = parser.parse_args()
    expected = json.loads((VECTORS / "expected.json").read_text())["requests"]
    names = sorted(args.only or expected)
    opts = ["--backend", args.backend] + (["--device", args.device] if args.device else [])
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        print(f"{'request':32s} {'expect':>14s} {'log2':>4s} {'prove s':>8s} {'verify s':>8s} result")
        for name in names:
            entry = expected[name]
            request = str(VECTORS / "requests" / f"{name}.req")
            proof = str(Path(tmp) / f"{name}.proof")
            t = time.perf_counter()
            proved = tvmpd("prove", request, "-o", proof, *opts)
            prove_s = time.perf_counter() - t
            verify_s = 0.0
            kind = entry["expect"]
            if kind == "ok":
                t = time.perf_counter()
                checked = tvmpd("verify", request, proof) if proved.returncode == 0 else proved
                verify_s = time.perf_counter() - t
                ok = proved.returncode == 0 and checked.returncode == 0
                detail = "proved, verified" if ok else (checked.stdout + checked.stderr).strip()[-200:]
            elif kind == "too_big":
                ok = proved.returncode == entry["reference_prove_exit_code"]
                detail = f"exit {proved.returncode}"
            else:
                message = entry.get("error", {}).get("message", "output")
                ok = proved.returncode == 1 and message in proved.stderr + proved.stdout
                detail = f"refused: {(proved.stderr + proved.stdout).strip()[-100:]}"
            failures += not ok
            log2 = entry.get("log2_padded_height")
            log2_text = "-" if log2 is None else str(log2)
            print(f"{name:32s} {kind:>14s} {log2_text:>4} {prove_s:8.1f} {verify_s:8.1f} "
                  f"{'OK ' if ok else 'FAIL '}{detail}", flush=True)
    print(f"{len(names)} requests, {failures} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
