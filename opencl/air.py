"""Host side of the AIR kernels: the generated degree-lowering fillers and constraint evaluators (a set
of kernel sources made by stages/air/kernel_cache.py, passed in as AirKernels), the constraint
interpreter that CPU devices run instead of the generated constraint kernels (opencl/air_interp.py) and the
hand-written auxiliary-table extension (opencl/extend.cl).

The numpy-level functions take and return arrays exactly as stages.air.evaluate / stages.air.extend do.
The *_device functions work on device tables laid out as the device pipeline keeps them: the main table
column-major (column c at main[c * n ...]) and the auxiliary table with three base columns per column
(coefficient j of column c at aux[(3 * c + j) * n ...]). Programs are built once per context and set.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyopencl as cl

from tvmpd.opencl import air_interp
from tvmpd.opencl.air_interp import Program
from tvmpd.opencl.devices import POCL_PLATFORM
from tvmpd.opencl.runtime import Runtime, get_runtime

KERNEL_DIR = Path(__file__).resolve().parent
NUM_MAIN = 379
NUM_AUX = 91
NUM_MAIN_BASE = 149
NUM_AUX_BASE = 49
BUILD_THREADS = 16  # generated kernels built at the same time on a GPU
_U = np.uint64


@dataclass(frozen=True)
class AirKernels:
    """One generated kernel set: each kernel as (name, OpenCL C source without the field helpers), in the
    order it must run, the column / challenge index #defines for extend.cl, and the CPU form of the
    constraint and degree-lowering kernels (interpreter programs: one per constraint kernel, one per lowering
    category); `digest` names the AIR and generator it came from."""

    digest: str
    constraints: tuple[tuple[str, str], ...]
    lowering_main: tuple[tuple[str, str], ...]
    lowering_aux: tuple[tuple[str, str], ...]
    defines: tuple[tuple[str, int], ...]
    programs: tuple[Program, ...] = ()  # the constraint kernels' CPU form (air_interp.py)
    lowering_main_programs: tuple[Program, ...] = ()  # the lowering kernels' CPU form, per side
    lowering_aux_programs: tuple[Program, ...] = ()


def _field_helpers() -> str:
    return (KERNEL_DIR / "field.cl").read_text()


def _options(rt: Runtime) -> tuple[str, ...]:
    """Build options of the generated kernels and extend.cl. pocl: optimised, with field.cl's carry forms
    that keep LLVM's code generation linear in kernel length and gl_mul as a call (field.cl says why), so
    the long kernels build in seconds each and run several times faster than unoptimised. Other CPU
    runtimes (Intel's): unoptimised, as their optimised builds of these kernels take minutes
    (opencl/README.md). GPUs: the full optimiser."""
    if not _is_cpu(rt):
        return ()
    if rt.device.platform.name.strip() != POCL_PLATFORM:
        return ("-cl-opt-disable",)
    return ("-DGL_CPU_CARRIES", "-DGL_MUL_CALL")


# NVIDIA's compiler gives the long constraint kernels up to 255 registers (evaluate_constraints_8 also
# spills), which leaves few warps per SM to hide latency; capped at 64 they ran 30% faster on an H100 in
# spite of more spills (tools/README.md, session 7: 325 -> 227 ms for all of them over 2^22 rows; caps of
# 96 and 80 gave 251 and 238 ms). The set alone builds in 95 s instead of 33 s; the prover's whole AIR build
# (16 threads, degree-lowering kernels included) took 89.8 s against 92.1 s before.
NV_CONSTRAINT_REGISTERS = 64


def _constraint_options(rt: Runtime) -> tuple[str, ...]:
    """Build options of the constraint kernels: _options, plus the register cap on devices whose compiler
    takes NVIDIA's options (the cl_nv_compiler_options extension)."""
    if "cl_nv_compiler_options" in rt.device.extensions.split():
        return _options(rt) + (f"-cl-nv-maxrregcount={NV_CONSTRAINT_REGISTERS}",)
    return _options(rt)


def _is_cpu(rt: Runtime) -> bool:
    return bool(rt.device.type & cl.device_type.CPU)


def air_kernel(rt: Runtime, kernels: AirKernels, group: str, name: str) -> cl.Kernel:
    """One kernel of a group of a set ("constraints", "lowering_main", "lowering_aux"), built once per
    context as its own small program (field.cl's helpers and that kernel): compilers take far longer on
    one large program, and opencl/prebuild.py builds a CPU device's kernels in several processes."""
    key = ("air_kernel", kernels.digest, name)
    if key not in rt.cache:
        source = dict(getattr(kernels, group))[name]
        options = _constraint_options(rt) if group == "constraints" else _options(rt)
        program = rt.program_from_source(f"air:{kernels.digest}:{name}", _field_helpers() + source, options)
        rt.cache[key] = cl.Kernel(program, name)
    return rt.cache[key]


def interpreted(rt: Runtime, kernels: AirKernels, group: str = "constraints") -> bool:
    """Whether rt runs a group of a set ("constraints", "lowering_main", "lowering_aux") with the interpreter
    (air_interp.py): on CPU devices, where it runs about as fast as the generated kernels and compiles some
    50 times faster, where the set has the group's programs; GPUs run the generated kernels."""
    return _is_cpu(rt) and bool(_programs(kernels, group))


def _programs(kernels: AirKernels, group: str) -> tuple[Program, ...]:
    return kernels.programs if group == "constraints" else getattr(kernels, f"{group}_programs")


def _build_group(rt: Runtime, kernels: AirKernels, group: str) -> list[cl.Kernel]:
    """The kernels of one group of a set in launch order, built once per context and set. On a GPU
    several are built at a time in threads (builds run without the GIL); pocl's compiler holds a
    process-wide lock, so a CPU device builds them one after the other (opencl/prebuild.py spreads a
    cold build over processes instead)."""
    key = ("air_group", kernels.digest, group)
    if key not in rt.cache:
        names = [name for name, _ in getattr(kernels, group)]
        threads = 1 if _is_cpu(rt) else max(1, min(BUILD_THREADS, os.cpu_count() or 1))
        with ThreadPoolExecutor(max_workers=threads) as pool:
            rt.cache[key] = list(pool.map(lambda name: air_kernel(rt, kernels, group, name), names))
    return rt.cache[key]


def build_all(rt: Runtime, kernels: AirKernels) -> None:
    """Build every program of a set and extend.cl on this device ahead of the first proof (warm-up); the
    interpreter instead of a group's generated kernels where the device runs it."""
    for group in ("lowering_main", "lowering_aux", "constraints"):
        if interpreted(rt, kernels, group):
            air_interp.kernel(rt)
        else:
            _build_group(rt, kernels, group)
    _extend_kernel(rt, kernels, "ext_terms")


def constraint_kernels(rt: Runtime, kernels: AirKernels,
                       only: tuple[int, ...] | None = None) -> list[cl.Kernel]:
    """The generated `evaluate_constraints_<k>` kernels of a set on this device, in launch order (only: those
    whose launch index k it names); each is called like any pyopencl kernel (interface in
    stages/air/codegen.py). evaluate_constraints runs them, or the interpreter, as the device wants."""
    built = _build_group(rt, kernels, "constraints")
    return built if only is None else [kern for k, kern in enumerate(built) if k in only]


def _check_challenges(challenges: np.ndarray) -> np.ndarray:
    challenges = np.asarray(challenges)
    if challenges.shape != (63, 3) or challenges.dtype != _U:
        raise ValueError(f"challenges must be (63, 3) uint64, got {challenges.shape} {challenges.dtype}")
    return np.ascontiguousarray(challenges)


def _check_main(main: np.ndarray, width: int = NUM_MAIN) -> None:
    if main.ndim != 2 or main.shape[1] != width or main.dtype != _U or main.shape[0] < 2:
        raise ValueError(f"master main table must be (rows >= 2, {width}) uint64, got {main.shape} "
                         f"{main.dtype}")


LOCAL_SIZE = 64  # explicit work-group size: pocl's own choice for the long kernels overflows its stack


def _sizes(rt: Runtime, kernel: cl.Kernel, n: int) -> tuple[tuple[int], tuple[int]]:
    """(global, local) sizes of a one-row-per-work-item launch over n rows: groups of LOCAL_SIZE or the
    largest the device runs this kernel with, n rounded up to whole groups (kernels skip rows >= n)."""
    local = rt.group_size(kernel, LOCAL_SIZE)
    return (-(-n // local) * local,), (local,)


# pocl compiles a kernel for a launch's grid class: under 65535 work items a "smallgrid" variant (the one
# prebuild.py compiles), above it a second one, which the generated kernels pay again at the first proof
# of 2^15 rows or more (about 40 s of CPU at 2^16 on the 2-core machine, mostly the constraint kernels).
CPU_LAUNCH_ROWS = 1 << 15


def launch_rows(rt: Runtime, kernel: cl.Kernel, n: int, local: int | None, *args, first: int = 0) -> None:
    """Launch a generated kernel (its last argument the first row) over rows first .. first + n - 1, one
    work item each: in one launch on a GPU, in launches of CPU_LAUNCH_ROWS rows on a CPU device, so that
    pocl only ever compiles the small-grid variant. Each launch is rounded up to whole groups and the
    kernels skip only rows past n_rows, so a range that ends before the table's last row must hold whole
    groups."""
    step = n
    if rt.device.type & cl.device_type.CPU:
        step = max(1, CPU_LAUNCH_ROWS // (local or 1)) * (local or 1)  # whole groups in every launch
    for r0 in range(first, first + n, step):
        items = min(step, first + n - r0)
        size = items if local is None else -(-items // local) * local
        kernel(rt.queue, (size,), None if local is None else (local,), *args, np.uint32(r0))


def evaluate_constraints(rt: Runtime, kernels: AirKernels, main: cl.Buffer, main_strides: tuple[int, int],
                         aux: cl.Buffer, aux_strides: tuple[int, int, int], challenges: cl.Buffer,
                         weights: cl.Buffer, n_rows: int, step: int, mode: int, out: cl.Buffer,
                         first: int = 0, rows: int | None = None,
                         only: tuple[int, ...] | None = None) -> None:
    """Every constraint of a set (only: those of the constraint kernels with these launch indices) over rows
    first .. first + rows - 1 of tables of n_rows rows (next row at (x + step) mod n_rows), with the
    generated kernels' strides, mode and out (stages/air/codegen.py): the interpreter on a CPU device, the
    generated kernels elsewhere. A range that ends before the last row must hold whole work-groups of 64
    rows."""
    rows = n_rows - first if rows is None else rows
    u64 = np.uint64
    if interpreted(rt, kernels):
        for k, program in enumerate(kernels.programs):
            if only is None or k in only:
                air_interp.launch(rt, (kernels.digest, "constraints", k), program, main, main_strides, aux,
                                  aux_strides, challenges, weights, n_rows, step, mode, out, first, rows)
        return
    for kern in constraint_kernels(rt, kernels, only):
        local = rt.group_size(kern, LOCAL_SIZE) if _is_cpu(rt) else None
        launch_rows(rt, kern, rows, local, main, u64(main_strides[0]), u64(main_strides[1]), aux,
                    *(u64(s) for s in aux_strides), challenges, weights, np.uint32(n_rows), np.uint32(step),
                    np.uint32(mode), out, first=first)


def _rows(n: int) -> np.uint32:
    if n < 2 or n >= 2**31:
        raise ValueError(f"row count must be in [2, 2^31), got {n}")
    return np.uint32(n)


def _interpret_lowering(rt: Runtime, kernels: AirKernels, group: str, main: cl.Buffer,
                        main_strides: tuple[int, int], aux: cl.Buffer, aux_strides: tuple[int, int, int],
                        challenges: cl.Buffer, n: int) -> None:
    """A lowering group's programs over all n rows (next row x + 1; the constraint arguments unused)."""
    for k, program in enumerate(_programs(kernels, group)):
        air_interp.launch(rt, (kernels.digest, group, k), program, main, main_strides, aux, aux_strides,
                          challenges, main, n, 1, 0, main, 0, n)


def _run_main_lowering(rt: Runtime, kernels: AirKernels, buf: cl.Buffer, n: int, row_stride: int,
                       col_stride: int) -> None:
    rows = _rows(n)  # checked for both forms
    if interpreted(rt, kernels, "lowering_main"):
        strides = (row_stride, col_stride)
        _interpret_lowering(rt, kernels, "lowering_main", buf, strides, buf, (0, 0, 0), buf, n)
        return
    for kernel in _build_group(rt, kernels, "lowering_main"):
        launch_rows(rt, kernel, n, rt.group_size(kernel, LOCAL_SIZE), buf, _U(row_stride), _U(col_stride),
                    rows)


def _run_aux_lowering(rt: Runtime, kernels: AirKernels, main_buf: cl.Buffer, main_strides: tuple[int, int],
                      aux_buf: cl.Buffer, aux_strides: tuple[int, int, int], challenges: cl.Buffer,
                      n: int) -> None:
    rows = _rows(n)  # checked for both forms
    if interpreted(rt, kernels, "lowering_aux"):
        _interpret_lowering(rt, kernels, "lowering_aux", main_buf, main_strides, aux_buf, aux_strides,
                            challenges, n)
        return
    strides = [_U(s) for s in main_strides], [_U(s) for s in aux_strides]
    for kernel in _build_group(rt, kernels, "lowering_aux"):
        launch_rows(rt, kernel, n, rt.group_size(kernel, LOCAL_SIZE), main_buf, *strides[0], aux_buf,
                    *strides[1], challenges, rows)


def fill_degree_lowering_main_device(rt: Runtime, kernels: AirKernels, main: cl.Buffer, n: int) -> None:
    """Fill main columns 149..378 of a column-major device main table (379 x n) in place."""
    _run_main_lowering(rt, kernels, main, n, 1, n)


def fill_degree_lowering_aux_device(rt: Runtime, kernels: AirKernels, main: cl.Buffer, aux: cl.Buffer,
                                    challenges: np.ndarray, n: int) -> None:
    """Fill aux columns 49..89 of a split-component device aux table (91 * 3 x n) in place from the full
    column-major device main table."""
    ch = rt.to_device(_check_challenges(challenges))
    _run_aux_lowering(rt, kernels, main, (1, n), aux, (1, 3 * n, n), ch, n)


def fill_degree_lowering_main(main: np.ndarray, kernels: AirKernels,
                              device_key: str | None = None) -> np.ndarray:
    """OpenCL version of stages.air.evaluate.fill_degree_lowering_main: fill columns 149..378 of the
    (rows, 379) master main table in place (transition ones 0 in the last row) and return it."""
    _check_main(main)
    rt = get_runtime(device_key)
    n = main.shape[0]
    buf = rt.to_device(main)
    _run_main_lowering(rt, kernels, buf, n, NUM_MAIN, 1)
    main[:] = rt.from_device(buf, main.shape)
    return main


def fill_degree_lowering_aux(main: np.ndarray, aux: np.ndarray, challenges: np.ndarray, kernels: AirKernels,
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
    _run_aux_lowering(rt, kernels, main_buf, (NUM_MAIN, 1), aux_buf, (3 * NUM_AUX, 3, 1), ch, n)
    aux[:] = rt.from_device(aux_buf, aux.shape)
    return aux


# ---------------------------------------------------------------------------------------------
# auxiliary-table extension (opencl/extend.cl)

P = 2**64 - 2**32 + 1
SCAN_CHUNK = 64  # elements one work item of the affine scan walks through




# aux columns solved as products / evaluations (a != 1); every other one is a running sum
_MULTIPLIED = (
    "ProgramAux_PrepareChunkRunningEvaluation", "ProgramAux_SendChunkRunningEvaluation",
    "ProcessorAux_InputTableEvalArg", "ProcessorAux_OutputTableEvalArg", "ProcessorAux_OpStackTablePermArg",
    "ProcessorAux_RamTablePermArg", "ProcessorAux_JumpStackTablePermArg", "ProcessorAux_HashInputEvalArg",
    "ProcessorAux_HashDigestEvalArg", "ProcessorAux_SpongeEvalArg", "OpStackAux_RunningProductPermArg",
    "RamAux_RunningProductOfRAMP", "RamAux_BezoutCoefficient0", "RamAux_BezoutCoefficient1",
    "RamAux_RunningProductPermArg", "JumpStackAux_RunningProductPermArg",
    "HashAux_ReceiveChunkRunningEvaluation", "HashAux_HashInputRunningEvaluation",
    "HashAux_HashDigestRunningEvaluation", "HashAux_SpongeRunningEvaluation",
    "LookupAux_PublicEvaluationArgument",
)


def _xmul(a: tuple[int, int, int], b: tuple[int, int, int]) -> tuple[int, int, int]:
    """Product in F_p[t]/(t^3 - t + 1) on Python ints."""
    d = [0] * 5
    for i in range(3):
        for j in range(3):
            d[i + j] += a[i] * b[j]
    return ((d[0] - d[3]) % P, (d[1] + d[3] - d[4]) % P, (d[2] + d[4]) % P)


def _powers(x: np.ndarray, count: int) -> list[tuple[int, int, int]]:
    out = [(1, 0, 0)]
    xi = tuple(int(v) for v in x)
    for _ in range(count - 1):
        out.append(_xmul(out[-1], xi))
    return out


def _extend_consts(kernels: AirKernels, challenges: np.ndarray) -> np.ndarray:
    """consts of extend.cl: the challenges, then indeterminate powers for the fixed-length arguments."""
    d = dict(kernels.defines)
    ch = _check_challenges(challenges)
    rows = [tuple(int(v) for v in c) for c in ch]
    rows += _powers(ch[d["ChallengeId_StandardInputIndeterminate"]], 6)
    rows += _powers(ch[d["ChallengeId_StandardOutputIndeterminate"]], 6)
    rows += _powers(ch[d["ChallengeId_ProgramAttestationPrepareChunkIndeterminate"]], 11)
    return np.array(rows, dtype=_U)


def _extend_kernel(rt: Runtime, kernels: AirKernels, name: str) -> cl.Kernel:
    """A kernel of extend.cl, built with the set's index #defines in front."""
    key = ("air_extend", kernels.digest, name)
    if key not in rt.cache:
        defines = "".join(f"#define {k} {v}\n" for k, v in kernels.defines)
        source = _field_helpers() + defines + (KERNEL_DIR / "extend.cl").read_text()
        prog = rt.program_from_source(f"extend:{kernels.digest}", source, _options(rt))
        rt.cache[key] = cl.Kernel(prog, name)
    return rt.cache[key]


def _has_a(rt: Runtime, kernels: AirKernels) -> cl.Buffer:
    key = ("air_extend_has_a", kernels.digest)
    if key not in rt.cache:
        d = dict(kernels.defines)
        flags = np.zeros(NUM_AUX_BASE, dtype=np.uint32)
        for name in _MULTIPLIED:
            flags[d[name]] = 1
        rt.cache[key] = rt.to_device(flags)
    return rt.cache[key]


def scan_device(rt: Runtime, kernels: AirKernels, a: cl.Buffer, b: cl.Buffer, stride: int, n: int,
                cols: list[int], width: int = NUM_AUX_BASE) -> None:
    """Solve x_i = a_i x_(i-1) + b_i (x_(-1) = 0) in place of b for the listed aux columns of
    (width x 3 x stride) split-component tables a, b; a is read only for the _MULTIPLIED columns (the
    others are running sums, a = 1)."""
    has_a = _has_a(rt, kernels)
    cols_buf = rt.to_device(np.array(cols, dtype=np.uint32))
    nchunks = -(-n // SCAN_CHUNK)
    shape = (_U(stride), np.uint32(n), np.uint32(SCAN_CHUNK), cols_buf, has_a)

    def sizes(kernel: cl.Kernel) -> tuple[tuple[int, int], tuple[int, int]]:
        (g,), (local,) = _sizes(rt, kernel, nchunks)
        return (g, len(cols)), (local, 1)

    sx = rt.empty(8) if nchunks == 1 else None
    if nchunks > 1:
        sa, sx = rt.empty(8 * 3 * width * nchunks), rt.empty(8 * 3 * width * nchunks)
        reduce = _extend_kernel(rt, kernels, "ext_scan_reduce")
        reduce(rt.queue, *sizes(reduce), a, b, *shape, sa, sx, _U(nchunks))
        scan_device(rt, kernels, sa, sx, nchunks, nchunks, cols, width)
    apply = _extend_kernel(rt, kernels, "ext_scan_apply")
    apply(rt.queue, *sizes(apply), a, b, *shape, sx, _U(nchunks))


def extend_device(rt: Runtime, kernels: AirKernels, main: cl.Buffer, challenges: np.ndarray, n: int,
                  aux: cl.Buffer) -> None:
    """Write aux columns 0..48 of a split-component device aux table (>= 49 * 3 x n) from the column-major
    device main table (>= 149 x n) under the 63 challenges; the other aux columns are left alone."""
    rows = _rows(n)
    d = dict(kernels.defines)
    consts = rt.to_device(_extend_consts(kernels, challenges))
    first = rt.to_device(np.full(8, n, dtype=np.uint32))
    amul = rt.empty(8 * 3 * NUM_AUX_BASE * n)

    def launch(name: str, *args) -> None:
        _extend_launch(rt, kernels, name, n, *args)

    launch("ext_first_padding", main, rows, first)
    launch("ext_terms", main, rows, consts, first, aux, amul)
    send = d["ProgramAux_SendChunkRunningEvaluation"]
    scan_device(rt, kernels, amul, aux, n, n, [c for c in range(NUM_AUX_BASE) if c != send])
    launch("ext_terms_late", main, rows, consts, aux, amul)
    scan_device(rt, kernels, amul, aux, n, n, [send])


# extend.cl's long row kernels on a CPU: work-groups of one work-item. pocl then compiles no loop over a
# group's items (about a fifth of ext_terms' first launch, its costliest compile in a cold proof), and the
# kernels ran as fast at 2^16 and 2^18 rows.
_CPU_SINGLE = ("ext_terms", "ext_terms_late")


def _extend_launch(rt: Runtime, kernels: AirKernels, name: str, n: int, *args) -> None:
    """Launch a row kernel of extend.cl over n rows, one work-item each, as extend_device does."""
    kernel = _extend_kernel(rt, kernels, name)
    if name in _CPU_SINGLE and _is_cpu(rt):
        rt.launch(kernel, (n,), (1,), *args)
    else:
        rt.launch(kernel, *_sizes(rt, kernel, n), *args)


def late_terms_device(rt: Runtime, kernels: AirKernels, main: cl.Buffer, challenges: np.ndarray, n: int,
                      aux: cl.Buffer) -> None:
    """extend_device's launch of ext_terms_late alone, on the same tables (its a-terms into a scratch
    table): opencl/prebuild.py has a helper compile it (pocl does at a kernel's first launch) beside the one
    compiling ext_terms."""
    consts = rt.to_device(_extend_consts(kernels, challenges))
    amul = rt.empty(8 * 3 * NUM_AUX_BASE * n)
    _extend_launch(rt, kernels, "ext_terms_late", n, main, _rows(n), consts, aux, amul)


def extend(main: np.ndarray, challenges: np.ndarray, kernels: AirKernels,
           device_key: str | None = None) -> np.ndarray:
    """OpenCL version of stages.air.extend.extend: the 49 auxiliary columns (rows, 49, 3) of a padded
    master main table (rows, >= 149) under the challenges (63, 3)."""
    main = np.asarray(main)
    if main.ndim != 2 or main.shape[1] < NUM_MAIN_BASE or main.shape[0] < 2 or main.dtype != _U:
        raise ValueError(f"main table must be (rows >= 2, >= {NUM_MAIN_BASE}) uint64, got {main.shape} "
                         f"{main.dtype}")
    _check_challenges(challenges)
    rt = get_runtime(device_key)
    n = main.shape[0]
    main_buf = rt.to_device(np.ascontiguousarray(main[:, :NUM_MAIN_BASE].T))
    aux_buf = rt.empty(8 * 3 * NUM_AUX_BASE * n)
    extend_device(rt, kernels, main_buf, challenges, n, aux_buf)
    return np.ascontiguousarray(rt.from_device(aux_buf, (3 * NUM_AUX_BASE, n)).T).reshape(n, NUM_AUX_BASE, 3)
