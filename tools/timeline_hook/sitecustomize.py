"""Loaded at start-up by every Python process whose path holds this folder (tools/cold_timeline.py puts it
there): where TVMPD_TIMELINE names a file, appends to it one line per event of this process (its start, each
OpenCL program build, each CPU launch through Runtime.launch with the queue finished after it, so that pocl's
compile at submission is counted in it, and its exit with the CPU it used). A measuring aid only: the finish
after each launch serialises a process's launches."""

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


def _patch_runtime(runtime) -> None:
    launch = runtime.Runtime.launch

    def timed_launch(self, kernel, gsize, lsize, *args, **kwargs):
        t = time.perf_counter()
        event = launch(self, kernel, gsize, lsize, *args, **kwargs)
        self.queue.finish()
        seconds = time.perf_counter() - t
        _write("launch", seconds=seconds, kernel=kernel.function_name, local=list(lsize or ()))
        return event

    runtime.Runtime.launch = timed_launch


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
        runtime = sys.modules.get("tvmpd.opencl.runtime")
        if "runtime" not in _patched and runtime is not None and hasattr(runtime, "Runtime"):
            _patched.add("runtime")
            _patch_runtime(runtime)
        return module

    builtins.__import__ = _watching_import
