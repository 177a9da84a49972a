"""Host side of opencl/lowering.cl (generated degree-lowering columns) and opencl/extend.cl (auxiliary
table extension): the table stages of the prover on an OpenCL device.

The numpy-level functions take and return arrays exactly as stages.air.evaluate / stages.air.extend do.
The *_device functions work on device tables laid out as the device pipeline keeps them: the main table
column-major (column c at main[c * n ...]) and the auxiliary table with three base columns per column
(coefficient j of column c at aux[(3 * c + j) * n ...]).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyopencl as cl

from opencl.runtime import Runtime, get_runtime

KERNEL_DIR = Path(__file__).resolve().parent
NUM_MAIN = 379
NUM_AUX = 91
NUM_MAIN_BASE = 149
NUM_AUX_BASE = 49
_U = np.uint64


def _options(rt: Runtime) -> tuple[str, ...]:
    """pocl's CPU code generation spends minutes optimising the long straight-line kernels for little
    gain on 2 cores; GPUs get the full optimiser."""
    return ("-cl-opt-disable",) if rt.device.type & cl.device_type.CPU else ()


def _lowering_kernel(rt: Runtime, name: str) -> cl.Kernel:
    key = ("air_lowering", name)
    if key not in rt.cache:
        prog = rt.program_from_source("lowering", (KERNEL_DIR / "lowering.cl").read_text(), _options(rt))
        rt.cache[key] = cl.Kernel(prog, name)
    return rt.cache[key]


def _lowering_kernels(side: str) -> list[str]:
    """Kernel names of lowering.cl for one side, in the order they must run (categories in order)."""
    text = (KERNEL_DIR / "lowering.cl").read_text()
    order = ("initial", "consistency", "transition", "terminal")
    return [f"lower_{side}_{c}" for c in order if f"__kernel void lower_{side}_{c}(" in text]


def _check_challenges(challenges: np.ndarray) -> np.ndarray:
    challenges = np.asarray(challenges)
    if challenges.shape != (63, 3) or challenges.dtype != _U:
        raise ValueError(f"challenges must be (63, 3) uint64, got {challenges.shape} {challenges.dtype}")
    return np.ascontiguousarray(challenges)


def _check_main(main: np.ndarray, width: int = NUM_MAIN) -> None:
    if main.ndim != 2 or main.shape[1] != width or main.dtype != _U or main.shape[0] < 2:
        raise ValueError(f"master main table must be (rows >= 2, {width}) uint64, got {main.shape} "
                         f"{main.dtype}")


def _rows(n: int) -> np.uint32:
    if n < 2 or n >= 2**31:
        raise ValueError(f"row count must be in [2, 2^31), got {n}")
    return np.uint32(n)


def _run_main_lowering(rt: Runtime, buf: cl.Buffer, n: int, row_stride: int, col_stride: int) -> None:
    for name in _lowering_kernels("main"):
        _lowering_kernel(rt, name)(rt.queue, (n,), None, buf, _U(row_stride), _U(col_stride), _rows(n))


def _run_aux_lowering(rt: Runtime, main_buf: cl.Buffer, main_strides: tuple[int, int], aux_buf: cl.Buffer,
                      aux_strides: tuple[int, int, int], challenges: cl.Buffer, n: int) -> None:
    for name in _lowering_kernels("aux"):
        _lowering_kernel(rt, name)(rt.queue, (n,), None, main_buf, *(_U(s) for s in main_strides), aux_buf,
                            *(_U(s) for s in aux_strides), challenges, _rows(n))


def fill_degree_lowering_main_device(rt: Runtime, main: cl.Buffer, n: int) -> None:
    """Fill main columns 149..378 of a column-major device main table (379 x n) in place."""
    _run_main_lowering(rt, main, n, 1, n)


def fill_degree_lowering_aux_device(rt: Runtime, main: cl.Buffer, aux: cl.Buffer, challenges: np.ndarray,
                                    n: int) -> None:
    """Fill aux columns 49..89 of a split-component device aux table (91 * 3 x n) in place from the full
    column-major device main table."""
    ch = rt.to_device(_check_challenges(challenges))
    _run_aux_lowering(rt, main, (1, n), aux, (1, 3 * n, n), ch, n)


def fill_degree_lowering_main(main: np.ndarray, device_key: str | None = None) -> np.ndarray:
    """OpenCL version of stages.air.evaluate.fill_degree_lowering_main: fill columns 149..378 of the
    (rows, 379) master main table in place (transition ones 0 in the last row) and return it."""
    _check_main(main)
    rt = get_runtime(device_key)
    n = main.shape[0]
    buf = rt.to_device(main)
    _run_main_lowering(rt, buf, n, NUM_MAIN, 1)
    main[:] = rt.from_device(buf, main.shape)
    return main


def fill_degree_lowering_aux(main: np.ndarray, aux: np.ndarray, challenges: np.ndarray,
                             device_key: str | None = None) -> np.ndarray:
    """OpenCL version of stages.air.evaluate.fill_degree_lowering_aux: fill aux columns 49..89 of the
    (rows, 91, 3) aux table in place from the full main table and return it."""
    _check_main(main)
    if aux.ndim != 3 or aux.shape[1:] != (NUM_AUX, 3) or aux.dtype != _U or aux.shape[0] != main.shape[0]:
        raise ValueError(f"aux table must be ({main.shape[0]}, {NUM_AUX}, 3) uint64, got {aux.shape} "
                         f"{aux.dtype}")
    rt = get_runtime(device_key)
    n = main.shape[0]
    main_buf = rt.to_device(main)
    aux_buf = rt.to_device(aux)
    ch = rt.to_device(_check_challenges(challenges))
    _run_aux_lowering(rt, main_buf, (NUM_MAIN, 1), aux_buf, (3 * NUM_AUX, 3, 1), ch, n)
    aux[:] = rt.from_device(aux_buf, aux.shape)
    return aux
