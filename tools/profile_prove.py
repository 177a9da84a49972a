"""Device time of every OpenCL command of one proof, per stage and per kernel (OpenCL event profiling).

Proves bench_prove.py's workload at each padded height on an OpenCL device with a profiling queue and
prints, per stage, the wall time next to the summed device time of each kernel / copy / fill, so the
gap between the two (host work, launch overhead, waiting) and the costliest kernels are visible.

    python3 tools/profile_prove.py --log2 10            # pocl
    python3 tools/profile_prove.py --log2 21 --top 6    # a GPU
    python3 tools/profile_prove.py --log2 23 --memory-mode lean --sync   # find an asynchronous fault
    python3 tools/profile_prove.py --log2 10 21 --build-option=-cl-nv-maxrregcount=96   # A/B a build option

--sync waits for every command to finish before the next is enqueued, so a device fault that OpenCL
reports later, at some unrelated call, is raised at the command that caused it, with its name, sizes and
scalar arguments (slow: only for finding faults).

--build-option adds an option to every program this process builds (a GPU experiment: on pocl the
prebuild helpers still build the generated kernels without it). Each new option set is a new build, so
warm up with a small height first, as above.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

os.environ["TVMPD_CL_PROFILE"] = "1"  # before any runtime exists: its queue records timestamps

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pyopencl as cl  # noqa: E402
import pyopencl._cl as _cl  # noqa: E402

from tools.bench_prove import workload  # noqa: E402
from tvmpd.stages.prover import backend_for, prove  # noqa: E402

EVENTS: list[tuple[str, object]] = []  # (command name, event) in enqueue order


def _recording(name_of, enqueue):
    def wrapped(*args, **kwargs):
        event = enqueue(*args, **kwargs)
        if isinstance(event, cl.Event):
            EVENTS.append((name_of(args), event))
        return event

    return wrapped


def _describe(name: str, args: tuple, kwargs: dict) -> str:
    """A command's name with its sizes and scalar arguments (buffers by their size), for fault reports."""
    parts = []
    for a in list(args[2:]) + [f"{k}={v}" for k, v in kwargs.items()]:
        if isinstance(a, cl.Buffer):
            parts.append(f"buffer({a.size})")
        elif isinstance(a, np.ndarray):
            parts.append(f"array{a.shape}")
        elif not isinstance(a, (cl.Kernel, cl.CommandQueue)):
            parts.append(str(a))
    return f"{name}({', '.join(parts)})"


def _synced(name_of, enqueue):
    def wrapped(*args, **kwargs):
        event = enqueue(*args, **kwargs)
        try:
            args[0].finish()
        except cl.Error as exc:
            raise RuntimeError(f"device fault at {_describe(name_of(args), args, kwargs)}: {exc}") from None
        return event

    return wrapped


def install(sync: bool = False) -> None:
    """Record the event of every kernel launch, copy and fill (pyopencl looks these up at call time); with
    sync, also finish the queue after each and name the command a fault comes from."""
    wrap = _synced if sync else _recording
    launch = wrap(lambda a: a[1].function_name, _cl.enqueue_nd_range_kernel)
    _cl.enqueue_nd_range_kernel = cl.enqueue_nd_range_kernel = launch
    cl.enqueue_copy = wrap(lambda a: "copy", cl.enqueue_copy)
    cl.enqueue_fill_buffer = wrap(lambda a: "fill", cl.enqueue_fill_buffer)


def device_seconds(events: list[tuple[str, object]]) -> dict[str, float]:
    """Summed device execution time per command name."""
    out: dict[str, float] = defaultdict(float)
    for name, event in events:
        event.wait()
        out[name] += (event.profile.end - event.profile.start) * 1e-9
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default=None, help="OpenCL device key (default: first GPU, else pocl)")
    parser.add_argument("--log2", type=int, nargs="+", default=[10])
    parser.add_argument("--top", type=int, default=5, help="kernels listed per stage")
    parser.add_argument("--memory-mode", default="auto", choices=("auto", "full", "half", "lean"))
    parser.add_argument("--keep-cosets", default="auto", choices=("auto", "none", "main", "aux", "both"))
    parser.add_argument("--keep-memory", type=float, default=None, metavar="GIB",
                        help="plan automatically kept cosets within GIB of device memory (79.2: an H100's)")
    parser.add_argument("--sync", action="store_true", help="finish after every command (finds faults)")
    parser.add_argument("--build-option", action="append", default=[], metavar="OPT",
                        help="an extra option for every OpenCL build of this run, for A/B experiments "
                             "(repeatable; e.g. --build-option=-cl-nv-maxrregcount=96)")
    parser.add_argument("--full-quotient", action="store_true",
                        help="evaluate every constraint on the whole quotient domain (the path before "
                             "stages/half_quotient.py), for A/B runs")
    args = parser.parse_args()
    keep_memory = None if args.keep_memory is None else int(args.keep_memory * 2**30)
    from tvmpd.opencl import runtime
    from tvmpd.opencl.devices import cpu_device, gpu_devices
    from tvmpd.stages import device_backend

    runtime.BUILD_OPTIONS = runtime.BUILD_OPTIONS + tuple(args.build_option)  # read at each build
    device_backend.HALF_QUOTIENT = not args.full_quotient  # read at each proof

    device = args.device or (gpu_devices() or [cpu_device()])[0].key
    install(args.sync)
    for log2 in args.log2:
        claim, aet = workload(log2)
        marks: list[tuple[str, float, int]] = []  # (stage, wall seconds, events recorded by its end)
        EVENTS.clear()
        t = time.perf_counter()
        backend = backend_for(device, memory_mode=args.memory_mode, keep_cosets=args.keep_cosets,
                              keep_memory=keep_memory)
        prove(claim, aet, backend=backend, progress=lambda s, d, m=marks: m.append((s, d, len(EVENTS))))
        total = time.perf_counter() - t
        layout = getattr(backend, "layout", None)
        mode = f", {layout.label} mode, cosets of {layout.rows} rows" if layout else ""
        print(f"\n2^{log2} on {device}{mode}: {total:.2f}s wall; per stage: wall, device busy, top commands")
        start = 0
        for stage, wall, end in marks:
            per = {} if args.sync else device_seconds(EVENTS[start:end])
            busy = sum(per.values())
            top = sorted(per.items(), key=lambda kv: -kv[1])[:args.top]
            listed = ", ".join(f"{name} {sec:.3f}" for name, sec in top)
            print(f"  {stage:28s} {wall:7.3f} {busy:7.3f}  {listed}", flush=True)
            start = end


if __name__ == "__main__":
    main()
