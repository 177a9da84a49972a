"""opencl/runtime.py: on pocl one process (or thread) on a machine builds a given program at a time, so a
cold machine's warm-up helpers do not compile the same program side by side; elsewhere builds take no lock."""

from __future__ import annotations

import fcntl
import threading
import time
from pathlib import Path

import pytest

from tvmpd.opencl import runtime
from tvmpd.opencl.devices import POCL_PLATFORM, cpu_devices


def _pocl_key() -> str:
    keys = [d.key for d in cpu_devices() if d.platform == POCL_PLATFORM]
    if not keys:
        pytest.skip("pocl is not installed")
    return keys[0]


def _source(tag: str) -> str:
    return f"__kernel void k_{tag}(__global ulong *x) {{ x[0] += 1; }}\n"


def test_a_second_builder_waits_for_the_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("POCL_KERNEL_CACHE", raising=False)
    rt = runtime.get_runtime(_pocl_key())
    source, options = _source(f"{time.time_ns()}"), runtime.BUILD_OPTIONS
    built: list[object] = []
    with runtime._one_builder(rt.device, source, options):  # another builder holds the program's lock
        locks = list((tmp_path / "tvmpd" / "build-locks").iterdir())
        assert len(locks) == 1
        thread = threading.Thread(target=lambda: built.append(runtime._build(rt.context, source, options)))
        thread.start()
        thread.join(1.0)
        assert thread.is_alive() and not built  # it waits for the lock
    thread.join(60)
    assert built and hasattr(built[0], f"k_{source.split('k_')[1].split('(')[0]}")
    # a different program does not wait for this one's lock
    with open(locks[0], "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        assert runtime._build(rt.context, _source("other"), options) is not None


def test_no_lock_without_pocl_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("POCL_KERNEL_CACHE", "0")
    rt = runtime.get_runtime(_pocl_key())
    assert not runtime.pocl_caches(rt.device)
    assert runtime._build(rt.context, _source("nolock"), runtime.BUILD_OPTIONS) is not None
    assert not (tmp_path / "tvmpd" / "build-locks").exists()
