"""Rows per second of the AIR table stages, numpy vs OpenCL: filling the main table from the AET (numpy
only), the degree-lowering main columns, the auxiliary extension, the degree-lowering aux columns and
(with --constraints) evaluating all 604 constraints on the trace rows as the prover does on the device (the
generated kernels of the kernel cache on a GPU, the constraint interpreter on a CPU; numpy runs
stages.air.evaluate).

OpenCL figures are device-resident (tables already on the device, kernels built; build times printed
separately); every OpenCL result at a size numpy also ran is checked cell for cell against numpy.
The workload is tools/bench_prove.py's counting loop, padded to exactly 2^log2 rows.

    python3 tools/bench_air.py --log2 12 14 16
    python3 tools/bench_air.py --device 0:0 --log2 16 18 20 21 --numpy-max-log2 16 --constraints
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
for _path in (str(ROOT), str(ROOT / "tools")):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from bench_prove import workload  # noqa: E402, I001
from tvmpd.stages.air.constraints import lowered_air  # noqa: E402
from tvmpd.stages.air.evaluate import (  # noqa: E402
    evaluate_every_row,
    fill_degree_lowering_aux,
    fill_degree_lowering_main,
)
from tvmpd.stages.air.extend import extend  # noqa: E402
from tvmpd.stages.air.fill import fill_main_table  # noqa: E402

P = 2**64 - 2**32 + 1
STAGES = ("fill main", "lowering main", "extend aux", "lowering aux", "constraints")


def _timed(fn, *args):
    t = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t


def numpy_stages(main_base: np.ndarray, ch: np.ndarray, constraints: bool) -> tuple[dict, dict]:
    """(seconds per stage, outputs) of the numpy path on a filled main table (base columns set)."""
    times, out = {}, {}
    main = main_base.copy()
    _, times["lowering main"] = _timed(fill_degree_lowering_main, main)
    aux = np.zeros((main.shape[0], 91, 3), dtype=np.uint64)
    aux[:, :49], times["extend aux"] = _timed(extend, main, ch)
    _, times["lowering aux"] = _timed(fill_degree_lowering_aux, main, aux, ch)
    out["main"], out["aux"] = main, aux
    if constraints:
        air = lowered_air()
        t = time.perf_counter()
        evaluate_every_row(main, aux, ch, 1, air)
        times["constraints"] = time.perf_counter() - t
    return times, out


def opencl_stages(rt, main_base: np.ndarray, ch: np.ndarray, constraints: bool,
                  download: bool) -> tuple[dict, dict | None]:
    """(seconds per stage, outputs if `download`) of the OpenCL path, device-resident, after a warm-up."""
    import pyopencl as cl

    from tvmpd.opencl import air
    from tvmpd.stages.air.kernel_cache import air_kernels

    kernels = air_kernels()
    n = main_base.shape[0]
    weights = rt.to_device(np.random.default_rng(3).integers(0, P, (604, 3), dtype=np.uint64))
    chb = rt.to_device(ch)
    host_main = np.ascontiguousarray(main_base.T)
    times: dict[str, float] = {}
    for rep in range(2):  # the first run builds the kernels
        main = rt.to_device(host_main)
        aux = rt.empty(8 * 91 * 3 * n)
        cl.enqueue_fill_buffer(rt.queue, aux, np.uint64(0), 0, 8 * 91 * 3 * n)
        rt.queue.finish()
        stages = [
            ("lowering main", lambda m=main: air.fill_degree_lowering_main_device(rt, kernels, m, n)),
            ("extend aux", lambda m=main, a=aux: air.extend_device(rt, kernels, m, ch, n, a)),
            ("lowering aux",
             lambda m=main, a=aux: air.fill_degree_lowering_aux_device(rt, kernels, m, a, ch, n)),
        ]
        if constraints:
            sums = rt.empty(8 * 4 * 3 * n)

            def evaluate(m=main, a=aux, sums=sums) -> None:  # as the quotient runs them on this device
                air.evaluate_constraints(rt, kernels, m, (1, n), a, (1, 3 * n, n), chb, weights, n, 1, 1,
                                         sums)

            stages.append(("constraints", evaluate))
        for name, fn in stages:
            t = time.perf_counter()
            fn()
            rt.queue.finish()
            dt = time.perf_counter() - t
            if rep == 0:
                times[f"build+first {name}"] = dt
                print(f"  2^{n.bit_length() - 1} {name}: first run incl. build {dt:.2f}s", flush=True)
            else:
                times[name] = dt
    out = None
    if download:
        out = {
            "main": rt.from_device(main, (379, n)).T,
            "aux": rt.from_device(aux, (273, n)).T.reshape(n, 91, 3),
        }
    main.release()
    aux.release()
    return times, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--log2", type=int, nargs="+", default=[12, 14, 16])
    parser.add_argument("--device", default=None, help="OpenCL device key (default: first GPU, else pocl)")
    parser.add_argument("--numpy-max-log2", type=int, default=16, help="largest size numpy also runs")
    parser.add_argument("--constraints", action="store_true", help="also evaluate all constraints")
    args = parser.parse_args()

    from tvmpd.opencl.runtime import get_runtime

    rt = get_runtime(args.device)
    print(f"device: {rt.device.name.strip()} ({rt.key})", flush=True)
    ch = np.random.default_rng(1).integers(0, P, (63, 3), dtype=np.uint64)
    rows = []
    for log2 in args.log2:
        n = 1 << log2
        _, aet = workload(log2)
        if aet.padded_height != n:
            print(f"2^{log2}: skipped, the workload's padded height is {aet.padded_height}", file=sys.stderr)
            continue
        main_base, t_fill = _timed(fill_main_table, aet)
        np_times, np_out = {}, None
        if log2 <= args.numpy_max_log2:
            np_times, np_out = numpy_stages(main_base, ch, args.constraints)
        np_times["fill main"] = t_fill
        cl_times, cl_out = opencl_stages(rt, main_base, ch, args.constraints, np_out is not None)
        check = "-"
        if np_out is not None and cl_out is not None:
            same = np.array_equal(np_out["main"], cl_out["main"]) and np.array_equal(
                np_out["aux"][:, :90], cl_out["aux"][:, :90])
            check = "equal" if same else "DIFFERENT"
        builds = ", ".join(f"{k[12:]} {v:.2f}s" for k, v in cl_times.items() if k.startswith("build+first"))
        print(f"2^{log2}: numpy vs OpenCL outputs {check}; first run incl. build: {builds}", flush=True)
        rows.append((log2, np_times, cl_times, check))

    print(f"\n{'rows':>6} {'stage':<14} {'numpy s':>9} {'numpy rows/s':>13} {'OpenCL s':>9} "
          f"{'OpenCL rows/s':>13} {'speed-up':>8}")
    for log2, np_times, cl_times, _ in rows:
        n = 1 << log2
        for stage in STAGES:
            tn, tc = np_times.get(stage), cl_times.get(stage)
            if tn is None and tc is None:
                continue
            fmt = [f"{tn:9.3f}" if tn else f"{'-':>9}", f"{n / tn:13.3e}" if tn else f"{'-':>13}",
                   f"{tc:9.4f}" if tc else f"{'-':>9}", f"{n / tc:13.3e}" if tc else f"{'-':>13}",
                   f"{tn / tc:8.1f}" if tn and tc else f"{'-':>8}"]
            print(f"  2^{log2:<3} {stage:<14} " + " ".join(fmt))


if __name__ == "__main__":
    main()
