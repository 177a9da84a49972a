"""The AIR kernel cache (stages/air/kernel_cache.py): sets keyed by digest, written atomically, read back
exactly as generated."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from tvmpd.stages.air import kernel_cache
from tvmpd.stages.air.constraints import lowered_air

ROOT = Path(__file__).resolve().parents[1]


def _unprogrammed(kernels):
    """A set without the interpreter's programs: what the cache stores (they are made at load)."""
    return dataclasses.replace(kernels, programs=(), lowering_main_programs=(), lowering_aux_programs=())


def test_generated_set_reads_back_as_generated(tmp_path):
    directory = kernel_cache.generate_all(tmp_path)
    assert directory == tmp_path / kernel_cache.kernels_digest()
    stored = kernel_cache._read(directory)
    fresh = kernel_cache.build(lowered_air(), kernel_cache.kernels_digest())
    assert stored == _unprogrammed(fresh)
    assert len(fresh.programs) == len(fresh.constraints)
    assert len(fresh.lowering_main_programs) == 3 and len(fresh.lowering_aux_programs) == 1  # per category
    names = [name for name, _ in fresh.constraints]
    assert names == [f"evaluate_constraints_{i}" for i in range(len(names))]
    assert all(source.startswith(f"__kernel void {name}(") for name, source in fresh.constraints)
    assert kernel_cache.generate_all(tmp_path) == directory  # present: kept as it is
    assert sorted(p.name for p in tmp_path.iterdir()) == [directory.name]


def test_processes_generating_at_once_leave_one_complete_set(tmp_path):
    code = ("import sys; from pathlib import Path; from stages.air import kernel_cache; "
            "print(kernel_cache.generate_all(Path(sys.argv[1])))")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE,
                              text=True) for _ in range(3)]
    outs = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0]
    assert len(set(outs)) == 1
    assert [p.name for p in tmp_path.iterdir()] == [kernel_cache.kernels_digest()]  # no temporary left
    fresh = kernel_cache.build(lowered_air(), kernel_cache.kernels_digest())
    assert kernel_cache._read(Path(outs[0])) == _unprogrammed(fresh)


def test_cache_root_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(kernel_cache.CACHE_ENV, str(tmp_path / "k"))
    assert kernel_cache.cache_root() == tmp_path / "k"
    monkeypatch.delenv(kernel_cache.CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert kernel_cache.cache_root() == tmp_path / "xdg" / "tvmpd" / "air-kernels"


def test_no_generated_kernel_is_tracked():
    listed = subprocess.run(["git", "ls-files", "*.cl"], cwd=ROOT, capture_output=True, text=True)
    if listed.returncode != 0:
        pytest.skip("not a git checkout")
    files = listed.stdout.split()
    assert files, "no kernel sources tracked"
    kernels = kernel_cache.build(lowered_air(), "")
    generated = [name for group in (kernels.constraints, kernels.lowering_main, kernels.lowering_aux)
                 for name, _ in group]
    for path in files:
        text = (ROOT / path).read_text()
        assert not [name for name in generated if f" {name}(" in text], f"{path} holds generated kernels"


def test_a_broken_set_is_reported_not_used(tmp_path, monkeypatch):
    directory = kernel_cache.generate_all(tmp_path)
    name = kernel_cache._read(directory).constraints[0][0]
    (directory / f"{name}.cl").unlink()
    assert kernel_cache._read(directory) is None
    monkeypatch.setenv(kernel_cache.CACHE_ENV, str(tmp_path))
    kernel_cache._air_kernels.cache_clear()
    try:
        with pytest.raises(RuntimeError, match="broken set"):
            kernel_cache.air_kernels()
    finally:
        kernel_cache._air_kernels.cache_clear()
