"""stages/disk_cache.py: derived files stored whole and checked, and made by one process at a time."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tvmpd.stages import disk_cache

_MAKER = """
import sys, time
from pathlib import Path
from tvmpd.stages import disk_cache

def make():
    with open(sys.argv[1], "a") as f:
        f.write("made\\n")
    time.sleep(0.5)  # long enough for the other process to find the lock taken
    return b"machine code"

print(disk_cache.read_or_make("thing.o", make).decode())
"""


def test_read_or_make_stores_and_rereads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(disk_cache.KERNEL_CACHE_ENV, str(tmp_path))
    calls = []
    assert disk_cache.read_or_make("a.bin", lambda: calls.append(1) or b"data") == b"data"
    assert disk_cache.read_or_make("a.bin", lambda: calls.append(1) or b"other") == b"data"
    assert calls == [1]
    (tmp_path / "host" / "a.bin").write_bytes(b"\0" * 40)  # damaged: made again
    assert disk_cache.read_or_make("a.bin", lambda: b"again") == b"again"


def test_two_processes_make_it_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(disk_cache.KERNEL_CACHE_ENV, str(tmp_path))
    log = tmp_path / "made.log"
    procs = [subprocess.Popen([sys.executable, "-c", _MAKER, str(log)], stdout=subprocess.PIPE, text=True)
             for _ in range(2)]
    outputs = [p.communicate(timeout=60)[0].strip() for p in procs]
    assert outputs == ["machine code", "machine code"]
    assert log.read_text().splitlines() == ["made"]
