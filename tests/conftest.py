"""Shared fixtures: where the reference vectors live."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

VECTORS = Path(os.environ.get("TVMPD_VECTORS", Path(__file__).resolve().parents[2] / "shared" / "vectors"))


@pytest.fixture(scope="session")
def vectors() -> Path:
    """Path of ../shared/vectors (override with TVMPD_VECTORS)."""
    if not VECTORS.is_dir():
        pytest.fail(f"test vectors not found at {VECTORS}")
    return VECTORS


def load_json(name: str):
    """Parse a JSON file of the vectors folder."""
    return json.loads((VECTORS / name).read_text())
