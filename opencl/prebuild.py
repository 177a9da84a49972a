"""A cold build of the AIR kernels a proof uses on pocl, in helper processes beside the warm-up proof.

pocl compiles a kernel at its first launch, for that launch's work-group size and grid class (fewer than
65535 work-items get a "smallgrid" build, larger launches another one, about 1.6 times as costly), keeps the
machine code in its on-disk kernel cache and holds a process-wide lock while it compiles. So start() hands
the builds the warm-up proof (stages/device_warmup.py) does not make itself (the constraint interpreter;
the Merkle tree's kernels; the hand-written kernels of a proof's late stages; extend.cl, its ext_terms_late
apart, last and at idle priority; the generated constraint and degree-lowering kernels of a set without
the interpreter's programs) to helper processes (plain subprocesses: the daemon's
children may not fork multiprocessing children), each launching its share once as the prover launches them
(the AIR's on a few rows, in launches of at most air.CPU_LAUNCH_ROWS rows, so this one small-grid build
serves every size); the prover's own launches then load them from pocl's cache. One process on a machine
builds a set at a time (a lock file); the others wait for it in wait(). A marker file in tvmpd's cache
directory, named by the set, the device and pocl's cache directory, records a finished build, so later
processes skip it (a pocl cache emptied by hand only makes the next first launches compile one by one
again).
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import pickle
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import platformdirs

from tvmpd.opencl import air, device_tables
from tvmpd.opencl.air import AirKernels
from tvmpd.opencl.runtime import Runtime, get_runtime, pocl_caches

ROWS = 128  # rows of a warm-up launch: two chunks of extend.cl's scan, a few constraint work-groups
MIN_TASKS = 5  # tasks() of any set: "hashing", "late_quotient", "late_open", "extend" and "extend_late"


def wanted(rt: Runtime) -> bool:
    """Whether a prebuild pays off on this device: pocl (it compiles at first launch), its kernel cache on."""
    return pocl_caches(rt.device)


# Tasks no proof waits for while a warm-up runs (its proofs extend small tables on the host:
# stages/device_backend.py COLD_HOST_EXTEND_ROWS): last, and at idle priority where the caller does not wait
# for them (_idle; start(idle_last=True): `tvmpd prove`).
IDLE_TASKS = ("extend", "extend_late")


def tasks(kernels: AirKernels) -> list[str]:
    """The helpers' tasks, each a group of kernels, in the order the warm-up proof (stages/device_warmup.py)
    needs them; it builds the hand-written program itself and launches the LDE's kernels first:
    - "interpreter" (a set with the interpreter's programs): its program and first launch (the main table's
      degree lowering);
    - "hashing": the Merkle tree's kernels (device_tables.first_launch_hashing), which the warm-up proof
      reaches after its LDE;
    - for a set without the interpreter's programs its generated kernels ("constraints", "lowering_main",
      "lowering_aux"), costliest (longest source) first;
    - "late_quotient", "late_open": the hand-written kernels a proof first launches in its quotient stage
      and out-of-domain rows (device_tables.QUOTIENT_KERNELS, evaluate_partial_kernel) and from its DEEP
      codeword on (OPEN_KERNELS): two tasks of about the same compile time;
    - IDLE_TASKS: extend.cl ("extend"; its ext_terms_late, "extend_late", apart so that where cores are
      free it compiles beside ext_terms)."""
    first = ["interpreter"] if kernels.lowering_main_programs else []
    cost = {}
    if not kernels.programs:
        cost["constraints"] = sum(len(s) for _, s in kernels.constraints)
    for group in ("lowering_main", "lowering_aux"):
        if not getattr(kernels, f"{group}_programs"):
            cost[group] = sum(len(s) for _, s in getattr(kernels, group))
    generated = sorted(cost, key=lambda group: -cost[group])
    return [*first, "hashing", *generated, "late_quotient", "late_open", *IDLE_TASKS]


def _idle() -> None:
    """Run this process (every thread: pocl compiles in its own) only when a core is otherwise idle (Linux
    SCHED_IDLE; elsewhere nothing): its work waits for no proof."""
    if not hasattr(os, "SCHED_IDLE"):
        return
    try:
        for tid in os.listdir("/proc/self/task"):
            os.sched_setscheduler(int(tid), os.SCHED_IDLE, os.sched_param(0))
    except OSError:
        pass


def run_task(rt: Runtime, kernels: AirKernels, num_constraints: int, group: str) -> None:
    """Build one task's kernels and launch them once, as the prover does: on ROWS rows of zeros, or (the
    hand-written ones) with every count zero."""
    if group == "late_quotient":
        device_tables.first_launch(rt, device_tables.QUOTIENT_KERNELS)
        device_tables.first_launch_evaluate(rt)
        return
    if group == "late_open":
        device_tables.first_launch(rt, device_tables.OPEN_KERNELS)
        return
    if group == "hashing":
        device_tables.first_launch_hashing(rt)
        return
    n = ROWS
    main = rt.to_device(np.zeros(air.NUM_MAIN * n, dtype=np.uint64))
    aux = rt.to_device(np.zeros(3 * air.NUM_AUX * n, dtype=np.uint64))
    challenges = np.zeros((63, 3), dtype=np.uint64)
    if group in ("lowering_main", "interpreter"):  # the interpreter: a set with programs lowers with it
        air.fill_degree_lowering_main_device(rt, kernels, main, n)
    elif group == "lowering_aux":
        air.fill_degree_lowering_aux_device(rt, kernels, main, aux, challenges, n)
    elif group == "extend":
        air.extend_device(rt, kernels, main, challenges, n, aux)
    elif group == "extend_late":
        air.late_terms_device(rt, kernels, main, challenges, n, aux)
    else:  # the constraints, in weighted-sum mode as the quotient runs them
        weights = rt.to_device(np.zeros((num_constraints, 3), dtype=np.uint64))
        sums = rt.to_device(np.zeros(12 * n, dtype=np.uint64))
        air.evaluate_constraints(rt, kernels, main, (1, n), aux, (1, 3 * n, n), rt.to_device(challenges),
                                 weights, n, 1, 1, sums)
    rt.queue.finish()


def _pocl_cache_dir() -> str:
    """pocl's kernel cache directory as pocl derives it from the environment."""
    if os.environ.get("POCL_CACHE_DIR"):
        return os.environ["POCL_CACHE_DIR"]
    return str(Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pocl")


def marker(rt: Runtime, digest: str) -> Path:
    """The file that records a finished prebuild of the kernel set `digest` (AirKernels.digest) on this
    device into this pocl cache."""
    dev = rt.device
    where = "\n".join((dev.name, dev.driver_version, dev.platform.version, _pocl_cache_dir()))
    tag = hashlib.sha256(where.encode()).hexdigest()[:16]
    return Path(platformdirs.user_cache_dir("tvmpd")) / "prebuilt" / f"{digest}-{tag}"


class Prebuild:
    """A running prebuild (or one another process runs); wait() blocks until the set is in pocl's cache.

    The helpers start at once, before the set exists: on a cold machine making the set (generating its
    kernels) takes the caller a second or so, which each helper spends starting Python and, where cores are
    to spare, building the 128-bit probe (every program's options depend on it). The set is made in a thread
    of this process beside the caller's own work and handed to each helper as a pickle file; then tasks
    follow, one at a time. A caller that waits for tasks (wait_for) runs queued ones itself meanwhile."""

    def __init__(self, rt: Runtime, digest: str, make: Callable[[], tuple[AirKernels, int]],
                 processes: int, idle_last: bool = False) -> None:
        self.seconds: dict[str, float] = {}
        self.errors: list[str] = []
        self._threads: list[threading.Thread] = []
        self._done = threading.Condition()  # notified as each task finishes, as each helper ends, once made
        self._waited = False
        self._names: set[str] | None = None  # the set's tasks, once made
        self._setup: str | None = None  # the pickle file the helpers load the set from, once made
        self._made = threading.Event()
        self._marker = marker(rt, digest)
        self._marker.parent.mkdir(parents=True, exist_ok=True)
        self._lock = open(self._marker.parent / f"{digest}.lock", "w")  # noqa: SIM115 (until wait)
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return  # another process builds this set; wait() waits for its lock
        # Where cores are to spare each helper builds the probe at once; with one helper (two cores) it
        # loads the one this process builds (in _make, or the caller's first program) from pocl's cache.
        self._helpers_probe = processes > 1
        self._idle_last = idle_last
        self._processes = processes
        self._todo: list[str] = []  # tasks no one has taken yet, under _done
        self._rt = rt
        self._set: tuple[AirKernels, int] | None = None  # the set and its constraint count, once made
        self._maker = threading.Thread(target=self._make, args=(rt, make, processes), name="prebuild-make",
                                       daemon=True)
        for _ in range(min(processes, MIN_TASKS)):  # tasks() always has at least these many
            self._spawn(rt.key)
        self._maker.start()

    def _spawn(self, device_key: str) -> None:
        """Start one helper and the thread that feeds it."""
        err = tempfile.TemporaryFile("w+")  # noqa: SIM115 (read and closed by _feed)
        proc = subprocess.Popen([sys.executable, "-m", "tvmpd.opencl.prebuild", device_key,
                                 "probe" if self._helpers_probe else "wait",
                                 "idle" if self._idle_last else "normal"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True)
        thread = threading.Thread(target=self._feed, args=(proc, err), daemon=True)
        thread.start()
        self._threads.append(thread)

    def _make(self, rt: Runtime, make: Callable[[], tuple[AirKernels, int]], processes: int) -> None:
        """Make the set and its task list, write the helpers' pickle, start more helpers if it has more
        tasks than started ones (up to `processes`)."""
        try:
            kernels, num_constraints = make()
            work = tasks(kernels)
            if not self._helpers_probe:
                rt.device_options()
            fd, setup = tempfile.mkstemp(prefix="tvmpd-prebuild-", suffix=".pickle")
            with os.fdopen(fd, "wb") as f:
                pickle.dump((kernels, num_constraints), f)
        except Exception as exc:  # noqa: BLE001 (reported by wait(); the prover builds what it needs itself)
            self.errors.append(f"making the kernel set: {exc}")
            work, setup = [], None
        with self._done:
            self._todo.extend(work)
            self._names, self._setup = set(work), setup
            self._set = (kernels, num_constraints) if setup is not None else None
            self._done.notify_all()
        self._made.set()
        for _ in range(len(self._threads), min(processes, len(work))):
            self._spawn(rt.key)

    def _feed(self, proc: subprocess.Popen, err) -> None:
        """Hand the helper the set, then one task at a time until none are left or it fails."""
        try:
            self._made.wait()
            if self._setup is not None:  # else the set could not be made: the helper ends at once
                proc.stdin.write(f"{self._setup}\n")
                proc.stdin.flush()
                while True:
                    group = self._take()
                    if group is None:
                        break
                    proc.stdin.write(f"{group}\n")
                    proc.stdin.flush()
                    answer = proc.stdout.readline().split()
                    if not answer:
                        break
                    with self._done:
                        self.seconds[group] = float(answer[0])
                        self._done.notify_all()
            proc.stdin.close()
        except OSError:
            pass  # the helper died: its exit status and error output say why
        if proc.wait() != 0:
            err.seek(0)
            self.errors.append(err.read().strip()[-2000:] or f"helper exited with {proc.returncode}")
        err.close()
        with self._done:
            self._done.notify_all()

    def _take(self, accept: Callable[[str], bool] = lambda task: True) -> str | None:
        """The first task no one has taken yet that `accept`s, now taken."""
        with self._done:
            for i, task in enumerate(self._todo):
                if accept(task):
                    return self._todo.pop(i)
        return None

    def _take_while_waiting(self, names: tuple[str, ...]) -> str | None:
        """With one helper (two cores), while `names` are not all built: the first queued task that is not
        an idle one, now taken (the caller would otherwise leave its core idle until the helper is done)."""
        with self._done:  # a reentrant lock: _take takes it again
            if self._processes != 1 or all(name in self.seconds for name in names if name in self._names):
                return None
            return self._take(lambda task: task not in IDLE_TASKS)

    def _run_here(self, group: str) -> None:
        """Run a task in this process (one this process waits for that no helper has taken yet)."""
        t = time.perf_counter()
        try:
            run_task(self._rt, *self._set, group)
        except Exception as exc:  # noqa: BLE001 (logged by wait(); the prover builds what it needs itself)
            self.errors.append(f"{group}: {exc}")
        with self._done:
            self.seconds[group] = time.perf_counter() - t
            self._done.notify_all()

    def wait_for(self, *names: str) -> None:
        """Block until those of the named tasks (groups such as "extend" or "constraints") this set has are
        built, or no helper is left to build them (one failed: the caller then builds what is missing
        itself); where another process holds the set's lock, until it has built the whole set. A named task
        no helper has taken yet, this process runs itself meanwhile; with one helper (two cores) any queued
        task but the idle ones (a later stage's: it would otherwise wait with a core idle)."""
        if not self._threads:
            self.wait()
            return
        self._made.wait()
        while self._set is not None:
            group = self._take(names.__contains__) or self._take_while_waiting(names)
            if group is None:
                break
            self._run_here(group)

        def ready() -> bool:
            if not any(thread.is_alive() for thread in self._threads):
                return True
            return self._names is not None and all(name in self.seconds for name in names
                                                   if name in self._names)

        with self._done:
            self._done.wait_for(ready)

    def wait(self) -> dict[str, float]:
        """Block until the set is built (here or by the process holding the lock); the seconds of each task
        built here. A helper that failed is logged as a warning: the prover then builds what is missing
        itself, as without a prebuild."""
        if self._waited:
            return self.seconds
        self._waited = True
        if self._threads:
            self._maker.join()  # it may still add helpers
            for thread in self._threads:
                thread.join()
            if self._setup is not None:
                os.unlink(self._setup)
            if not self.errors:
                self._marker.touch()
        else:
            fcntl.flock(self._lock, fcntl.LOCK_EX)
        self._lock.close()
        for error in self.errors:
            logging.getLogger("tvmpd").warning("prebuild of the AIR kernels: a helper failed: %s", error)
        return self.seconds


def start(rt: Runtime, digest: str, make: Callable[[], tuple[AirKernels, int]], processes: int | None = None,
          idle_last: bool = False) -> Prebuild | None:
    """Start building the kernel set named `digest` (AirKernels.digest; make() returns the set and its
    constraint count) on rt's device in `processes` helpers (default: one per core but the one the warm-up
    proof beside them keeps busy); returns at once, the set is made in a thread. None where a prebuild does
    not pay off (wanted()) or was done (marker()). idle_last: IDLE_TASKS run at idle priority (a caller that
    does not wait for them: `tvmpd prove`)."""
    if not wanted(rt) or marker(rt, digest).exists():
        return None
    return Prebuild(rt, digest, make, processes or max(1, (os.cpu_count() or 1) - 1), idle_last)


def _serve(device_key: str, probe: bool, idle_last: bool) -> None:
    """Helper process: build the probe at once if `probe`; then load the set from the pickle file named on
    the first line of standard input and run the tasks named on the next ones, answering each with its
    seconds on standard output; with idle_last, IDLE_TASKS at idle priority (_idle)."""
    rt = get_runtime(device_key)
    if probe:
        rt.device_options()
    setup = sys.stdin.readline().strip()
    if not setup:
        return  # the set could not be made: nothing to build
    with open(setup, "rb") as f:
        kernels, num_constraints = pickle.load(f)
    for line in sys.stdin:
        group = line.strip()
        if idle_last and group in IDLE_TASKS:
            _idle()
        t = time.perf_counter()
        run_task(rt, kernels, num_constraints, group)
        print(f"{time.perf_counter() - t:.3f}", flush=True)


if __name__ == "__main__":
    _serve(sys.argv[1], sys.argv[2] == "probe", sys.argv[3] == "idle")
