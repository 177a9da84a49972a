"""Shared fixtures and helpers: the reference vectors, random field data, the OpenCL test device."""

from __future__ import annotations

import atexit
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

from tvmpd.opencl.icd import register

# Before anything loads OpenCL: make OpenCL drivers installed as wheels (Intel's CPU runtime, from the test
# extra) visible next to pocl, for this process and the daemons it starts.
_ICD_DIR = Path(tempfile.mkdtemp(prefix="tvmpd-icd-"))
atexit.register(shutil.rmtree, _ICD_DIR, True)
register(_ICD_DIR)

VECTORS = Path(os.environ.get("TVMPD_VECTORS", Path(__file__).resolve().parents[2] / "shared" / "vectors"))
NODE_FORMATS = VECTORS.parent / "node-formats"  # sample node jobs next to the vectors in ../shared


@pytest.fixture(scope="session")
def vectors() -> Path:
    """Path of ../shared/vectors (override with TVMPD_VECTORS)."""
    if not VECTORS.is_dir():
        pytest.fail(f"test vectors not found at {VECTORS}")
    return VECTORS


def load_json(name: str):
    """Parse a JSON file of the vectors folder."""
    return json.loads((VECTORS / name).read_text())


def random_field(rng: np.random.Generator, shape) -> np.ndarray:
    """Uniform canonical field elements (uint64 below p) of this shape."""
    return rng.integers(0, 2**64 - 2**32 + 1, size=shape, dtype=np.uint64)


def _implementation(platform: str) -> str:
    """Short test id of an OpenCL implementation: "pocl", or the leading word of its platform name."""
    from tvmpd.opencl.devices import POCL_PLATFORM

    if platform == POCL_PLATFORM:
        return "pocl"
    return re.match(r"[A-Za-z0-9]*", platform.strip())[0].lower() or "other"


def opencl_test_devices() -> list[tuple[str, str]]:
    """(test id, device key) of every device the OpenCL kernel tests run on: one CPU device of each OpenCL
    implementation present (pocl, Intel's CPU runtime, ...), or only TVMPD_AIR_TEST_DEVICE when it is set
    (e.g. a GPU)."""
    if os.environ.get("TVMPD_AIR_TEST_DEVICE"):
        return [("env", os.environ["TVMPD_AIR_TEST_DEVICE"])]
    from tvmpd.opencl.devices import cpu_devices

    picked: dict[str, str] = {}
    for dev in cpu_devices():
        picked.setdefault(_implementation(dev.platform), dev.key)
    return list(picked.items())


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Each test that takes `device` (an opencl.devices key) runs once per device of opencl_test_devices()."""
    if "device" in metafunc.fixturenames:
        found = opencl_test_devices()
        metafunc.parametrize("device", [key for _, key in found], ids=[name for name, _ in found],
                             scope="module")


@pytest.fixture(scope="module")
def rt(device):
    """The OpenCL runtime of the test device (one per device of opencl_test_devices())."""
    from tvmpd.opencl.runtime import get_runtime

    return get_runtime(device)


def _seeded(vectors: Path, name: str):
    """A vector request as (claim, main table of its 149 base columns, seed, reference proof)."""
    from tvmpd.stages.proof import from_bincode
    from tvmpd.stages.prover import main_table
    from tvmpd.stages.vm import Claim, NonDeterminism, Program
    from tvmpd.stages.vm.interpreter import run_claim

    lines = (vectors / "requests" / f"{name}.req").read_text().splitlines()
    claim = Claim.from_json(lines[0])
    _, aet = run_claim(claim, Program.from_json(lines[1]), NonDeterminism.from_json(lines[2]))
    seed = bytes.fromhex((vectors / "proofs" / f"{name}.seed").read_text().strip())
    reference = from_bincode((vectors / "proofs" / f"{name}.proof").read_bytes())
    return claim, main_table(aet, degree_lowered=False), seed, reference


@pytest.fixture(scope="module")
def seeded_halt(vectors):
    """The `halt` vector (padded height 2^8) as (claim, base main table, seed, reference proof)."""
    return _seeded(vectors, "halt")


@pytest.fixture(scope="module")
def seeded_all_tables(vectors):
    """The `all_tables` vector (padded height 2^10, every table filled) in the same form."""
    return _seeded(vectors, "all_tables")
