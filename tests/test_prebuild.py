"""opencl/prebuild.py: the cold build of the AIR kernels and the hand-written programs on pocl, spread
over helper processes, lands every kernel in pocl's kernel cache (the prover's launches then load it), is
recorded once, and is skipped where it cannot pay off."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import pytest

from tvmpd.opencl import device_tables, prebuild
from tvmpd.opencl.devices import POCL_PLATFORM, cpu_devices
from tvmpd.opencl.runtime import get_runtime
from tvmpd.stages.air.constraints import lowered_air
from tvmpd.stages.air.kernel_cache import air_kernels


def _pocl_key() -> str:
    keys = [d.key for d in cpu_devices() if d.platform == POCL_PLATFORM]
    if not keys:
        pytest.skip("pocl is not installed")
    return keys[0]


def _compiled(pocl_cache: Path) -> set[str]:
    """Names of the kernels pocl has compiled machine code for in this cache directory."""
    return {path.stem for path in pocl_cache.rglob("*.so")}


def test_tasks_are_what_the_warm_up_proof_leaves_to_helpers() -> None:
    """The interpreter's set (a CPU's) leaves extend.cl and the late hand-written kernels to the helpers:
    the warm-up proof builds the hand-written program and the interpreter itself. A set without the
    interpreter's programs adds its generated kernels, costliest first."""
    kernels = air_kernels()
    assert kernels.programs and prebuild.tasks(kernels) == ["extend", "extend_late", "late_tables"]
    generated = dataclasses.replace(kernels, programs=(), lowering_main_programs=(), lowering_aux_programs=())
    work = prebuild.tasks(generated)
    assert sorted(work) == ["constraints", "extend", "extend_late", "late_tables", "lowering_aux",
                            "lowering_main"]
    assert work[0] == "constraints"


def test_prebuild_fills_pocl_cache_and_runs_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a fresh machine: pocl's and tvmpd's caches under an empty XDG_CACHE_HOME (the helpers inherit it)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("POCL_CACHE_DIR", raising=False)
    monkeypatch.delenv("POCL_KERNEL_CACHE", raising=False)
    rt = get_runtime(_pocl_key())
    full = air_kernels()
    # the interpreter's set (a CPU device's); one generated lowering kernel each side, without their
    # programs, keeps the cold build short and covers the generated kernels' tasks
    kernels = dataclasses.replace(full, digest="test-" + full.digest, lowering_main=full.lowering_main[:1],
                                  lowering_aux=full.lowering_aux[-1:], lowering_main_programs=(),
                                  lowering_aux_programs=())
    count = sum(lowered_air().counts().values())
    build = prebuild.start(rt, kernels.digest, lambda: (kernels, count), processes=2)
    assert build is not None
    build.wait_for("lowering_main", "constraints")  # what the warm-up proof waits for; not a task here: none
    assert "lowering_main" in build.seconds
    seconds = build.wait()
    names = [n for n, _ in kernels.lowering_main + kernels.lowering_aux]
    assert set(seconds) == {"lowering_main", "lowering_aux", "extend", "extend_late", "late_tables"}
    compiled = _compiled(tmp_path / "pocl")
    assert set(names) | {"ext_terms", "ext_scan_apply"} | set(device_tables.LATE_KERNELS) <= compiled
    assert "run_program" not in compiled  # the interpreter: the warm-up proof builds it
    assert prebuild.marker(rt, kernels.digest).exists()
    # recorded: later processes skip it
    assert prebuild.start(rt, kernels.digest, lambda: (kernels, 1)) is None


def test_prebuild_skipped_without_pocl_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("POCL_KERNEL_CACHE", "0")
    rt = get_runtime(_pocl_key())
    assert not prebuild.wanted(rt)
    assert prebuild.start(rt, air_kernels().digest, lambda: (air_kernels(), 1)) is None


def test_failed_helper_is_logged_and_not_recorded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("POCL_KERNEL_CACHE", raising=False)
    rt = get_runtime(_pocl_key())
    full = air_kernels()
    # a kernel that does not compile: the helper exits with pocl's build error
    broken = (("evaluate_constraints_0", "__kernel void evaluate_constraints_0(__global ulong *x) { y; }"),)
    kernels = dataclasses.replace(full, digest="broken-" + full.digest, constraints=broken,
                                  programs=(), lowering_main=(), lowering_aux=(), lowering_main_programs=(),
                                  lowering_aux_programs=())
    build = prebuild.start(rt, kernels.digest, lambda: (kernels, 1), processes=1)
    assert build is not None
    build.wait()
    assert "a helper failed" in caplog.text
    assert not prebuild.marker(rt, kernels.digest).exists()


def test_start_returns_before_the_set_is_made(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The helpers start while the caller's thread still makes the set (a cold machine generates it, about
    a second), and get it once it is made."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("POCL_KERNEL_CACHE", raising=False)
    rt = get_runtime(_pocl_key())
    full = air_kernels()
    # only the tasks every set has (extend.cl, the late kernels) and no generated kernel to build
    kernels = dataclasses.replace(full, digest="async-" + full.digest)
    released = threading.Event()

    def make():
        assert released.wait(60), "start() waited for make()"
        return kernels, 1

    build = prebuild.start(rt, kernels.digest, make, processes=2)
    assert build is not None
    released.set()  # only reached if start() returned while make() was still blocked
    build.wait_for("extend")
    assert "extend" in build.seconds
    assert set(build.wait()) == {"extend", "extend_late", "late_tables"}
    assert prebuild.marker(rt, kernels.digest).exists()


def test_a_set_that_cannot_be_made_is_logged_not_recorded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    """make() failing ends the helpers (nothing to build; the prover builds what it needs) without a hang,
    and no marker says the set was built."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("POCL_KERNEL_CACHE", raising=False)
    rt = get_runtime(_pocl_key())

    def make():
        raise RuntimeError("kernel cache holds a broken set")

    build = prebuild.start(rt, "unmade", make, processes=2)
    assert build is not None
    build.wait_for("extend")  # returns: no helper is left to build it
    assert build.wait() == {}
    assert "making the kernel set: kernel cache holds a broken set" in caplog.text
    assert not prebuild.marker(rt, "unmade").exists()
