"""tools/profile_prove.py runs a whole proof on a profiling queue and prints every stage (it broke once when
a second, non-profiling queue appeared: its events carry no timestamps); tools/bench_constraint_builds.py
builds and times the constraint kernel set."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("pyopencl")
ROOT = Path(__file__).resolve().parent.parent


def test_profile_prove_prints_every_stage(device):
    out = subprocess.run([sys.executable, str(ROOT / "tools" / "profile_prove.py"), "--device", device,
                          "--log2", "8", "--top", "2"], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    for stage in ("main: LDE + Merkle", "quotient: constraints", "open rows + encode"):
        assert stage in out.stdout


def test_bench_constraint_builds_prints_a_row_per_run(device):
    tool = ROOT / "tools" / "bench_constraint_builds.py"
    args = ["--device", device, "--log2", "8", "--repeat", "1", "600:"]
    out = subprocess.run([sys.executable, str(tool), *args], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    row = [line for line in out.stdout.splitlines() if line.startswith("| 600 |")]
    assert len(row) == 1 and int(row[0].split("|")[3]) > 1  # the kernel set, split as the prover splits it
