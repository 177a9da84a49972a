"""A cold CPU device's kernel builds and first launches in a helper process, beside the caller's own work.

pocl compiles each kernel at its first launch. On a fresh machine the first proof therefore paid every
first launch of the hand-written kernels (6.5 s of a cold 2^12 proof on 16 cores, against 0.56 s warm).
start() runs them in a helper instead (`python -m tvmpd.stages.device_warmup KEY MODE KEEP wait|background`):
it starts the AIR kernels' build (opencl/prebuild.py, in its own helpers: the constraint interpreter, the
Merkle tree's kernels, the late stages' hand-written kernels, then extend.cl, at idle priority behind a
caller that does not wait for it: background) and meanwhile proves a
table of random rows at the height of the warm-up proof of `halt` (2^8) in the caller's memory mode,
building the hand-written program itself and waiting, before it launches a kernel of the helpers', for the
helper that builds it (pocl would compile it a second time). Its proof, like the caller's (a cold backend),
extends small aux tables on the host, so no proof waits for extend.cl. It names each stage on its standard
output as it begins it, then PROOF_DONE, so the caller's own proof can follow one stage behind
(Warmup.past) instead of waiting for the whole warm-up, and end before the helpers do. That proof is thrown
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
import os
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

    def proof_done(self) -> bool:
        """Whether the helper's own proof has ended (its helpers may still build what no proof waits for);
        not if it ended without one (another process had warmed up meanwhile, or it failed)."""
        with self._changed:
            return PROOF_DONE in self._stages

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


def start(device_key: str, memory_mode: str | None = None, keep_cosets: str | None = None,
          background: bool = False) -> Warmup | None:
    """Start the warm-up helper for an OpenCL device; None where it does not pay off or was done.
    background: the caller does not wait for the whole build (`tvmpd prove`), so what no proof waits for
    (prebuild.IDLE_TASKS) builds at idle priority; a caller that waits for it all (the daemon's warm-up,
    `tvmpd build`) gets it at normal priority."""
    marker = _marker(device_key)
    if marker is None or marker.exists():
        return None
    err = tempfile.TemporaryFile("w+")  # noqa: SIM115 (read and closed by Warmup.wait)
    proc = subprocess.Popen([sys.executable, "-m", "tvmpd.stages.device_warmup", device_key,
                             memory_mode or "auto", keep_cosets or "auto",
                             "background" if background else "wait"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err, text=True)
    return Warmup(proc, err)


PROOF_DONE = "warm-up proof done"  # the helper's last line: the caller's proof follows it no further


def _announce(stage: str) -> None:
    """Name a stage of the warm-up proof as it begins it (the caller's proof follows: Warmup.past). The
    caller may have finished and gone (its proof no longer follows): then there is no one to tell."""
    try:
        print(stage, flush=True)
    except BrokenPipeError:
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (Python's exit flushes stdout: not into the pipe)


@contextlib.contextmanager
def _lock(marker: Path) -> Iterator[None]:
    marker.parent.mkdir(parents=True, exist_ok=True)
    with open(marker.with_name(marker.name + ".lock"), "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def warm(device_key: str, memory_mode: str = "auto", keep_cosets: str = "auto", mode: str = "wait") -> None:
    """The helper's work, in this process: the AIR kernels' build (in its own helpers) and, beside it, the
    proof of random rows."""
    from tvmpd.stages.air.kernel_cache import start_prebuild

    marker = _marker(device_key)
    if marker is None:
        return
    with _lock(marker):
        if marker.exists():  # another helper finished while this one waited
            return
        # The helpers (prebuild.tasks) build the constraint interpreter, the Merkle tree's kernels and the
        # late stages' hand-written kernels while this process builds the hand-written program and
        # compiles the LDE's kernels in its proof; the proof waits for a helper's task before it launches
        # that task's kernels (DeviceBackend's kernels_ready), as pocl would compile them a second time
        # here. Started before the prover's imports: the helpers' own start is on the path of a cold proof
        # where cores are free.
        build = start_prebuild(device_key, idle_last=mode == "background")
        from tvmpd.opencl.runtime import get_runtime
        from tvmpd.stages import vm
        from tvmpd.stages.prover import MAIN_TABLE_STAGE, backend_for, prove_table

        _announce(MAIN_TABLE_STAGE)  # its rows are given: no table to fill
        get_runtime(device_key).program("device_tables")  # the hand-written program, before any wait
        shape = (1 << WARMUP_LOG2, NUM_MAIN_BASE_COLUMNS)
        rows = np.random.default_rng().integers(0, _P, shape, dtype=np.uint64)
        claim = vm.Claim(vm.Program.from_tasm("halt").digest())  # any claim: the proof is not kept
        backend = backend_for(device_key, memory_mode=memory_mode, keep_cosets=keep_cosets, cold=True,
                              kernels_ready=build.wait_for if build is not None else None)
        prove_table(claim, rows, backend=backend, degree_lowered=False, on_stage=_announce)
        _announce(PROOF_DONE)
        if build is not None:
            build.wait()  # extend.cl last, at idle priority: the caller's proof does not wait for it
        marker.touch()


if __name__ == "__main__":
    warm(*sys.argv[1:5])
