"""Prove seeded vector requests on an OpenCL device and compare with the reference proofs byte for byte;
prints the build time of each kernel file and the per-stage times of every proof.

    python3 tools/check_prove_device.py --vectors ../shared/vectors halt all_tables
    python3 tools/check_prove_device.py --vectors .vec --device 0:0 halt        # a GPU (copy of vectors)

Exit status 0 only if every proof is identical to the reference's.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tvmpd.opencl import air, device_tables  # noqa: E402
from tvmpd.opencl.runtime import get_runtime  # noqa: E402
from tvmpd.stages.air.kernel_cache import air_kernels, generate_all  # noqa: E402
from tvmpd.stages.proof import from_bincode  # noqa: E402
from tvmpd.stages.prover import prove  # noqa: E402
from tvmpd.stages.vm import Claim, NonDeterminism, Program  # noqa: E402
from tvmpd.stages.vm.interpreter import run_claim  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="+", help="seeded requests, e.g. halt all_tables")
    parser.add_argument("--vectors", type=Path, default=ROOT.parent / "shared" / "vectors")
    parser.add_argument("--device", default=None, help="OpenCL device key (default: first GPU, else pocl)")
    args = parser.parse_args()
    rt = get_runtime(args.device)
    print(f"device {rt.device.name} ({rt.key}): {rt.device.global_mem_size / 2**30:.1f} GiB, "
          f"largest buffer {rt.device.max_mem_alloc_size / 2**30:.1f} GiB", flush=True)
    for what, build in (("generate AIR kernels", generate_all),
                        ("device_tables.cl", lambda: device_tables.build_program(rt)),
                        ("AIR kernels", lambda: air.build_all(rt, air_kernels()))):
        t = time.perf_counter()
        build()
        print(f"build {what}: {time.perf_counter() - t:.1f}s", flush=True)
    print(f"AIR kernel set {air_kernels().digest}", flush=True)
    ok = True
    for name in args.names:
        lines = (args.vectors / "requests" / f"{name}.req").read_text().splitlines()
        claim = Claim.from_json(lines[0])
        _, aet = run_claim(claim, Program.from_json(lines[1]), NonDeterminism.from_json(lines[2]))
        seed = bytes.fromhex((args.vectors / "proofs" / f"{name}.seed").read_text().strip())
        reference = from_bincode((args.vectors / "proofs" / f"{name}.proof").read_bytes())
        t = time.perf_counter()
        proof = prove(claim, aet, seed=seed, device_key=rt.key,
                      progress=lambda stage, s: print(f"  {stage:30s} {s:8.2f}s", flush=True))
        same = np.array_equal(proof, reference)
        ok = ok and same
        print(f"{name}: {time.perf_counter() - t:.2f}s, identical to the reference: {same}", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
