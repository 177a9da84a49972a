"""Loaded at start-up by every Python process whose path holds this folder (tools/cold_timeline.py puts it
there): where TVMPD_TIMELINE names a file, appends to it one line per event of this process: its start, each
OpenCL program build, each kernel launch with the queue finished after it (so that pocl's compile at
submission is counted in it), each wait for another process's work (WAITS), and its exit with the CPU it
used. A measuring aid only: the finish after each launch serialises a process's launches."""

import atexit
import builtins
import json
import os
import sys
import time

_LOG = os.environ.get("TVMPD_TIMELINE")


def _write(kind: str, **fields) -> None:
    with open(_LOG, "a") as f:
        f.write(json.dumps({"t": time.time(), "pid": os.getpid(), "kind": kind, **fields}) + "\n")


def _patch_pyopencl(cl) -> None:
    build = cl.Program.build

    def timed_build(self, *args, **kwargs):
        t = time.perf_counter()
        result = build(self, *args, **kwargs)
        source = getattr(self, "_source", None) or ""
        first = source.split("__kernel void ", 1)[-1].split("(", 1)[0] if "__kernel void " in source else "?"
        _write("build", seconds=time.perf_counter() - t, chars=len(source), first_kernel=first)
        return result

    cl.Program.build = timed_build


def _patch_kernel_call(cl) -> None:
    call = cl.Kernel.__call__

    def timed_call(self, queue, gsize, lsize, *args, **kwargs):
        t = time.perf_counter()
        event = call(self, queue, gsize, lsize, *args, **kwargs)
        queue.finish()
        seconds = time.perf_counter() - t
        _write("launch", seconds=seconds, kernel=self.function_name, local=list(lsize or ()))
        return event

    cl.Kernel.__call__ = timed_call


# (module, class or None, function): calls timed as "wait" events (a process waiting for another's work)
WAITS = (("tvmpd.stages.device_warmup", "Warmup", "past"), ("tvmpd.opencl.prebuild", "Prebuild", "wait_for"),
         ("tvmpd.stages.disk_cache", None, "read_or_make"))


def _patch_wait(module, owner: str | None, name: str) -> None:
    holder = getattr(module, owner) if owner else module
    function = getattr(holder, name)

    def timed(*args, **kwargs):
        t = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            what = f"{owner + '.' if owner else ''}{name}"
            if name == "past" and len(args) > 1:
                what += f"({args[1]!r})"
            _write("wait", seconds=time.perf_counter() - t, what=what)

    setattr(holder, name, timed)


if _LOG:
    _write("start", argv=sys.argv)
    atexit.register(lambda: _write("exit", argv=sys.argv, cpu=sum(os.times()[:2])))
    _import = builtins.__import__
    _patched: set[str] = set()

    def _watching_import(name, *args, **kwargs):
        module = _import(name, *args, **kwargs)
        cl = sys.modules.get("pyopencl")
        if "pyopencl" not in _patched and cl is not None and hasattr(cl, "Program"):
            _patched.add("pyopencl")
            _patch_pyopencl(cl)
        if "kernel" not in _patched and cl is not None and hasattr(cl, "Kernel"):
            _patched.add("kernel")
            _patch_kernel_call(cl)
        for mod, owner, fn in WAITS:
            loaded = sys.modules.get(mod)
            if mod not in _patched and loaded is not None and hasattr(loaded, owner or fn):
                _patched.add(mod)
                _patch_wait(loaded, owner, fn)
        return module

    builtins.__import__ = _watching_import
