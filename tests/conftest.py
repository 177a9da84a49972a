"""Shared fixtures and helpers: the reference vectors, random field data, the OpenCL test device."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

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


@pytest.fixture(scope="module")
def device() -> str:
    """OpenCL device key for the AIR kernel tests: pocl by default; TVMPD_AIR_TEST_DEVICE runs the same
    checks on another device (e.g. a GPU)."""
    if os.environ.get("TVMPD_AIR_TEST_DEVICE"):
        return os.environ["TVMPD_AIR_TEST_DEVICE"]
    from opencl.devices import cpu_device

    dev = cpu_device()
    if dev is None:
        pytest.skip("no OpenCL CPU device")
    return dev.key
