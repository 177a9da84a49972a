"""Pay numba's compile of the VM, AET, table fill and host Tip5 before the first job (`warm_up`), spread
over two processes on an empty cache: the compiled loop alone is about half of it and compiles in a helper
process while this one compiles the rest from the plain interpreter's recording."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import platformdirs

from tvmpd.stages import tip5
from tvmpd.stages.air.fill import fill_main_table

from . import compiled
from .aet import build_aet
from .interpreter import execute_reference
from .program import Program

log = logging.getLogger(__name__)

LOCK_WAIT_S = 300.0  # longest wait for another process's compile (about 15-30 s on an idle machine)
LOCK_POLL_S = 0.2

WARMUP_TASM = "push 3 push 5 xor sponge_init push 0 sponge_absorb_mem halt"  # every compiled path, briefly


def _warm_loop() -> None:
    """Compile (or load) the compiled loop: the largest single compile, about 15 s on an empty cache."""
    compiled.execute(Program.from_tasm(WARMUP_TASM), [])


def _warm_rest() -> None:
    """Compile (or load) everything else warm_up covers, from the plain interpreter's recording, so it
    does not wait for the loop: the AET's loops, both main-table fills and the Tip5 entry points."""
    program = Program.from_tasm(WARMUP_TASM)
    aet = build_aet(program, execute_reference(program, [])[1])
    fill_main_table(aet, base_only=True)  # what the daemon's workers build for a device
    fill_main_table(aet)  # with the degree-lowering columns zeroed, for the numpy prover
    zeros = np.zeros((1, 5), dtype=np.uint64)
    tip5.hash_rows_native(zeros)
    tip5.hash_pairs_native(zeros, zeros)


_HELPER_CODE = "from tvmpd.stages.vm.warmup import _warm_loop; _warm_loop()"
# The background helper of compile_in_background: lowest priority, under the machine-wide lock.
_BACKGROUND_CODE = ("import os; os.nice(19); "
                    "from tvmpd.stages.vm.warmup import _warm_all_locked; _warm_all_locked()")

# A process without the compiled loop runs a job of up to this many cycles on the plain interpreter (about
# 5 us a cycle: some 5 s at most) rather than wait for numba's compile (the loop 13-20 s, the AET and fills
# about 9 s of CPU); a longer job then goes on to the compiled loop (compiling it itself where the
# background helper has not cached it yet).
REFERENCE_CYCLES = 1 << 20


def loop_cached() -> bool:
    """Whether numba's on-disk cache holds the loop for the current source. Reads numba's cache index
    through a private attribute; any change there reads as "not cached", which only costs a helper."""
    try:
        return bool(compiled._run._cache._cache_file._load_index())
    except Exception:  # noqa: BLE001 (numba internals moved: fall back to the helper)
        return False


@contextlib.contextmanager
def _compile_lock() -> Iterator[None]:
    """Hold tvmpd's machine-wide VM compile lock, so that of the daemon's children starting together on a
    fresh machine one compiles and the others then load its cache; no lock where the cache directory
    cannot be written (each process then compiles for itself, as numba alone would)."""
    try:
        path = Path(platformdirs.user_cache_dir("tvmpd")) / "vm-compile.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = open(path, "w")  # noqa: SIM115 (closed below, after the lock is released)
    except OSError:
        yield
        return
    try:
        deadline = time.monotonic() + LOCK_WAIT_S
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:  # a stuck holder must not keep this process from starting
                    log.warning("VM compile lock %s still held after %.0f s; compiling without it", path,
                                LOCK_WAIT_S)
                    break
                time.sleep(LOCK_POLL_S)
        yield
    finally:
        lock.close()  # releases the lock if this process holds it


def _warm_all_locked() -> None:
    """Compile everything warm_up covers under the machine-wide lock unless another process has cached it
    meanwhile (the loop is compiled last: cached, it stands for the rest)."""
    with _compile_lock():
        if not loop_cached():
            _warm_rest()
            _warm_loop()


def compile_in_background() -> None:
    """What a cold process (`tvmpd prove` on an empty numba cache) calls once its job is done: it ran the
    job without numba (`run(..., reference=True)`, up to REFERENCE_CYCLES, and the numpy table fill), and
    leaves the compile to a helper of lowest priority that outlives it, so that numba's cache holds the
    loop, the AET and the fills for the next process. Nothing to do where the loop is cached."""
    if loop_cached():
        return
    subprocess.Popen([sys.executable, "-c", _BACKGROUND_CODE], stdin=subprocess.DEVNULL,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def warm_up() -> None:
    """Compile (or load from numba's on-disk cache) the compiled VM loop, the AET's compiled loops, the
    main-table fill and the compiled Tip5 entry points, by running a tiny program; call once before serving
    jobs so that no job pays the compile.

    On an empty cache the loop compiles in a helper process while this one compiles the rest (numba
    compiles one function at a time per process, under its global lock), then loads the loop from the
    cache the helper wrote: on two cores about 17 s instead of 28 s. Other processes warming up meanwhile
    wait for this one and load its cache."""
    cached = loop_cached()
    with contextlib.nullcontext() if cached else _compile_lock():
        helper = None
        if not cached and not loop_cached():  # another process may have compiled it while this one waited
            helper = subprocess.Popen([sys.executable, "-c", _HELPER_CODE], stdin=subprocess.DEVNULL,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            _warm_rest()
        finally:
            if helper is not None:
                err = helper.communicate()[1]
                if helper.returncode != 0:  # compiled here below instead; say why the helper could not
                    last = err.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
                    log.warning("VM compile helper exited %s (%s); compiling in this process",
                                helper.returncode, last[0])
        _warm_loop()  # loads what the helper cached, or compiles it when the helper could not
