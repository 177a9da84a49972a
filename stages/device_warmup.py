"""A cold CPU device's kernel builds and first launches in a helper process, beside the caller's own work.

pocl compiles each kernel at its first launch. On a fresh machine the first proof therefore paid every
first launch of the hand-written kernels (6.5 s of a cold 2^12 proof on 16 cores, against 0.56 s warm).
start() runs them in a helper instead (`python -m tvmpd.stages.device_warmup KEY MODE KEEP`): it starts the
AIR kernels' build (opencl/prebuild.py, in its own helpers: extend.cl, the late stages' hand-written
kernels) and meanwhile proves a table of random rows at the height of the warm-up proof of `halt` (2^8) in
the caller's memory mode, building the hand-written program and the constraint interpreter itself and
waiting, at each stage that launches a kernel of the helpers', for the helper that builds it (pocl would
compile it a second time). It names each stage on its standard output as it begins it, so the caller's own
proof can follow one stage behind (Warmup.past) instead of waiting for the whole warm-up. That proof is thrown
away; its launches are the ones any proof makes (a proof launches the same kernels at every height, in the
same pieces on a CPU, opencl/runtime.py), so pocl's cache then holds them all. One helper per machine works
at a time (a lock file; the others wait, then find the marker); a marker file named by the kernel set, the
device and pocl's cache directory records a finished warm-up, so later processes start nothing. Only where
the prebuild pays off (pocl with its kernel cache on); GPUs build their programs at the first proof and keep
them in pyopencl's binary cache.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from tvmpd.stages.air.columns import NUM_MAIN_BASE_COLUMNS

log = logging.getLogger(__name__)

WARMUP_LOG2 = 8  # the padded height of `halt`, whose proof the daemon's warm-up makes
WAIT_S = 900.0  # longest wait for a helper (a cold warm-up takes about 12 s on two cores)
_P = 2**64 - 2**32 + 1


def _marker(device_key: str) -> Path | None:
    """The warm-up's marker for this device, kernel set and pocl cache; None where no warm-up pays off."""
    from tvmpd.opencl import prebuild
    from tvmpd.opencl.runtime import get_runtime
    from tvmpd.stages.air.kernel_cache import kernels_digest

    rt = get_runtime(device_key)
    if not prebuild.wanted(rt):
        return None
    # by the set's name: a cold machine's first process starts the helper without generating the set first
    built = prebuild.marker(rt, kernels_digest())
    return built.with_name(built.name + "-warm")


class Warmup:
    """A running helper. past(stage) returns once its proof has finished that stage, wait() once it has
    finished (or failed: then the caller's proof compiles what is missing itself, as without a warm-up)."""

    def __init__(self, proc: subprocess.Popen, err=None) -> None:
        self._proc = proc
        self._err = err  # the helper's standard error (a file), or None where it goes to a pipe or nowhere
        self._stages: list[str] = []  # the stages its proof has begun, in order
        self.ended: float | None = None  # time.perf_counter() when its output ended (it exited)
        self._deadline = time.monotonic() + WAIT_S  # past() follows it no longer than this, in all
        self._changed = threading.Condition()
        self._reader = None
        if proc.stdout is not None:
            self._reader = threading.Thread(target=self._read, name="warmup-stages", daemon=True)
            self._reader.start()

    def _read(self) -> None:
        for line in self._proc.stdout:
            with self._changed:
                self._stages.append(line.strip())
                self._changed.notify_all()
        with self._changed:
            self.ended = time.perf_counter()
            self._changed.notify_all()

    def past(self, stage: str) -> None:
        """Block until the helper's proof has begun a stage after `stage` (so pocl's cache holds the kernels
        that stage launches), or the helper has ended; a stage it never names waits for its end."""
        def passed() -> bool:
            return self.ended is not None or (stage in self._stages and self._stages[-1] != stage)

        with self._changed:
            if not self._changed.wait_for(passed, timeout=max(0.0, self._deadline - time.monotonic())):
                log.warning("kernel warm-up helper still at %r after %.0f s; the proof goes on without it",
                            self._stages[-1] if self._stages else "its start", WAIT_S)

    def wait(self) -> None:
        try:
            self._proc.wait(timeout=WAIT_S)
            note = ""
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
            note = f"\nno answer after {WAIT_S:.0f} s"
        if self._reader is not None:
            self._reader.join()
        if self._err is not None:
            self._err.seek(0)
            err = self._err.read()
            self._err.close()
        else:  # a pipe (small outputs only: it is read once the helper has ended)
            err = self._proc.stderr.read() if self._proc.stderr is not None else ""
        if self._proc.returncode != 0:
            last = (err + note).strip().splitlines()[-1:] or [f"exit status {self._proc.returncode}"]
            log.warning("kernel warm-up helper failed (%s); the first proof builds what is missing", last[0])


def start(device_key: str, memory_mode: str | None = None, keep_cosets: str | None = None) -> Warmup | None:
    """Start the warm-up helper for an OpenCL device; None where it does not pay off or was done."""
    marker = _marker(device_key)
    if marker is None or marker.exists():
        return None
    err = tempfile.TemporaryFile("w+")  # noqa: SIM115 (read and closed by Warmup.wait)
    proc = subprocess.Popen([sys.executable, "-m", "tvmpd.stages.device_warmup", device_key,
                             memory_mode or "auto", keep_cosets or "auto"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err, text=True)
    return Warmup(proc, err)


@contextlib.contextmanager
def _lock(marker: Path) -> Iterator[None]:
    marker.parent.mkdir(parents=True, exist_ok=True)
    with open(marker.with_name(marker.name + ".lock"), "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def warm(device_key: str, memory_mode: str = "auto", keep_cosets: str = "auto") -> None:
    """The helper's work, in this process: the AIR kernels' build (in its own helpers) and, beside it, the
    proof of random rows."""
    from tvmpd.stages.air.kernel_cache import start_prebuild

    marker = _marker(device_key)
    if marker is None:
        return
    with _lock(marker):
        if marker.exists():  # another helper finished while this one waited
            return
        # The first things the proof below launches, the hand-written program and (where the set has its
        # programs) the constraint interpreter, are built here at first use: waiting for a helper to start
        # and build them took longer, and pocl compiled them a second time here when the proof got to
        # them first. The helpers build the rest (prebuild.tasks: extend.cl; the hand-written kernels of
        # the quotient stage on; the generated kernels of a set without programs). Started before the
        # prover's imports: the helpers' own start is on the path of a cold proof where cores are free.
        build = start_prebuild(device_key)
        from tvmpd.stages import vm
        from tvmpd.stages.prover import MAIN_TABLE_STAGE, backend_for, prove_table

        def before(stage: str) -> None:
            print(stage, flush=True)  # the caller's proof follows (Warmup.past)
            # The AIR kernels come from the prebuild's helpers, which run beside this proof: a stage that
            # launches one waits for it, as pocl would compile it a second time here.
            if build is None:
                return
            if stage.startswith("main"):
                build.wait_for("constraints", "lowering_main")  # the main table's degree lowering
            elif stage.startswith("aux"):
                build.wait_for("extend", "extend_late", "lowering_aux")
            elif stage.startswith("quotient"):
                build.wait_for("late_tables")  # the hand-written kernels from here on

        shape = (1 << WARMUP_LOG2, NUM_MAIN_BASE_COLUMNS)
        rows = np.random.default_rng().integers(0, _P, shape, dtype=np.uint64)
        claim = vm.Claim(vm.Program.from_tasm("halt").digest())  # any claim: the proof is not kept
        backend = backend_for(device_key, memory_mode=memory_mode, keep_cosets=keep_cosets)
        print(MAIN_TABLE_STAGE, flush=True)  # its rows are given: no table to fill
        prove_table(claim, rows, backend=backend, degree_lowered=False, on_stage=before)
        if build is not None:
            build.wait()
        marker.touch()


if __name__ == "__main__":
    warm(*sys.argv[1:4])
