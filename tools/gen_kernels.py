"""Generate the AIR's outputs ahead of time: the OpenCL kernel set (stages/air/kernel_cache.py, into the
kernel cache, never the source tree) and, with --air, the lowered-AIR file stages/air/generated/
lowered_air.json. Prints the kernel digest, the cache directory and how long generation took.

Usage: python3 tools/gen_kernels.py [--air] [--check]
  --air    also lower the AIR afresh and rewrite lowered_air.json (after editing a constraint module)
  --check  only check that lowered_air.json matches the constraint sources (exit 1 if stale)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tvmpd.stages.air import kernel_cache  # noqa: E402
from tvmpd.stages.air.constraints import CACHE_PATH, load_cache, lower, to_json, write_cache  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--air", action="store_true", help="rewrite lowered_air.json from the sources")
    parser.add_argument("--check", action="store_true", help="only check lowered_air.json is up to date")
    args = parser.parse_args(argv)
    if args.check:
        cached = load_cache()
        ok = cached is not None and to_json(cached) == to_json(lower())
        print("up to date" if ok else "STALE: run python3 tools/gen_kernels.py --air")
        return 0 if ok else 1
    if args.air:
        air = lower()
        write_cache(air)
        print(f"wrote {CACHE_PATH.relative_to(ROOT)}; counts {air.counts()}")
    start = time.perf_counter()
    directory = kernel_cache.generate_all()
    print(f"kernel set {kernel_cache.kernels_digest()} in {directory} ({time.perf_counter() - start:.2f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
