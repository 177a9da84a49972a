"""opencl/prebuild.py: the cold build of the AIR kernels and the hand-written programs on pocl, spread
over helper processes, lands every kernel in pocl's kernel cache (the prover's launches then load it), is
recorded once, and is skipped where it cannot pay off."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tvmpd.opencl import device_tables, prebuild
from tvmpd.opencl.air import AirKernels
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


def test_tasks_in_the_order_the_warm_up_proof_needs_them() -> None:
    """The interpreter's set (a CPU's): the interpreter, the Merkle tree's kernels, the late hand-written
    kernels, then extend.cl, which no proof waits for (its tasks run at idle priority); the warm-up proof
    builds the hand-written program and compiles the LDE's kernels itself. A set without the interpreter's
    programs has its generated kernels before the late ones, costliest first."""
    kernels = air_kernels()
    assert kernels.programs and prebuild.tasks(kernels) == [
        "interpreter", "hashing", "late_quotient", "late_open", "extend", "extend_late"]
    assert prebuild.IDLE_TASKS == ("extend", "extend_late")
    generated = dataclasses.replace(kernels, programs=(), lowering_main_programs=(), lowering_aux_programs=())
    work = prebuild.tasks(generated)
    assert work[0] == "hashing" and work[-4:] == ["late_quotient", "late_open", "extend", "extend_late"]
    assert work[1] == "constraints" and sorted(work[1:4]) == ["constraints", "lowering_aux", "lowering_main"]


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
    seconds = build.wait()  # (wait_for would run a task still queued in this process: another test's)
    names = [n for n, _ in kernels.lowering_main + kernels.lowering_aux]
    assert set(seconds) == {"lowering_main", "lowering_aux", "hashing", "late_quotient", "late_open",
                            "extend", "extend_late"}
    compiled = _compiled(tmp_path / "pocl")
    hashing = {"tip5_absorb_rows_vec_kernel", "scatter_digests_kernel", "merkle_level_kernel",
               "gather_rows_kernel"}
    assert set(names) | {"ext_terms", "ext_scan_apply", "evaluate_partial_kernel"} | hashing <= compiled
    assert set(device_tables.LATE_KERNELS) <= compiled
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
    # the interpreter's set: no generated kernel to build
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
    assert set(build.wait()) == set(prebuild.tasks(kernels))
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


def _one_helper_prebuild(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tag: str
                         ) -> tuple[prebuild.Prebuild, AirKernels, list[str]]:
    """A cold prebuild of the interpreter's set with one helper (two cores), and the tasks this process runs
    itself as they run (the helper is another process: its tasks are not recorded)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("POCL_KERNEL_CACHE", raising=False)
    rt = get_runtime(_pocl_key())
    full = air_kernels()
    kernels = dataclasses.replace(full, digest=f"{tag}-{full.digest}")
    here: list[str] = []
    run_task = prebuild.run_task

    def recorded(rt, kernels, count, group):
        here.append(group)
        run_task(rt, kernels, count, group)

    monkeypatch.setattr(prebuild, "run_task", recorded)
    build = prebuild.start(rt, kernels.digest, lambda: (kernels, 1), processes=1)
    assert build is not None
    return build, kernels, here


def test_a_waiting_caller_runs_a_task_no_helper_has_taken(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    """Two cores: the one helper works through the tasks in order; the warm-up proof, waiting for a later
    one it needs, builds that one itself instead of idling (and the helper then skips it)."""
    build, kernels, here = _one_helper_prebuild(tmp_path, monkeypatch, "steal")
    build.wait_for("late_open")  # the helper is busy with the interpreter: late_open is still queued
    assert here == ["late_open"] and "late_open" in build.seconds
    assert set(build.wait()) == set(prebuild.tasks(kernels))
    assert here == ["late_open"]  # the helper did the rest
    # the helper's builds land in this machine's pocl cache (this process's pocl keeps the cache directory
    # it started with, so its own do not show here)
    assert {"run_program", "tip5_absorb_rows_vec_kernel", "ext_terms"} <= _compiled(tmp_path / "pocl")


_IDLE_CHECK = """
import os, threading
from tvmpd.opencl.prebuild import _idle
started = threading.Event()
stop = threading.Event()
worker = threading.Thread(target=lambda: (started.set(), stop.wait()))  # a thread from before, as pocl's
worker.start()
started.wait()
_idle()
print(sorted({os.sched_getscheduler(int(tid)) == os.SCHED_IDLE for tid in os.listdir("/proc/self/task")}))
stop.set()
"""


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="Linux scheduling classes")
def test_idle_priority_reaches_every_thread() -> None:
    """extend.cl's tasks behind a `tvmpd prove` run only on otherwise idle cores: every thread of the helper,
    the ones pocl started before (it compiles in its own) included."""
    out = subprocess.run([sys.executable, "-c", _IDLE_CHECK], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[True]"


def test_with_one_helper_a_waiting_caller_takes_later_tasks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    """Two cores, one helper busy with the task the warm-up proof waits for: the proof's process builds the
    next queued tasks meanwhile (a later stage's), never the idle ones (extend.cl), instead of idling."""
    build, kernels, here = _one_helper_prebuild(tmp_path, monkeypatch, "steal-any")
    deadline = time.monotonic() + 60
    while "interpreter" in build._todo and time.monotonic() < deadline:  # the helper takes it first
        time.sleep(0.01)
    build.wait_for("interpreter")
    assert here and here[0] == "hashing" and not set(here) & set(prebuild.IDLE_TASKS)
    assert set(build.wait()) == set(prebuild.tasks(kernels))
