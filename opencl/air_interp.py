"""Host side of opencl/air_interp.cl, the CPU form of the AIR's generated kernels: an interpreter of
instruction lists (Program, made from the AIR by stages/air/bytecode.py), one per generated constraint kernel
and one per degree-lowering category. It compiles in about a second where pocl needs about a minute of CPU
for the generated constraint kernels and 9 s for the lowering ones, so a CPU device's first proof does not
wait for that build (opencl/README.md, tools/README.md: figures).
The opcodes and operand kinds are defined here once and passed to the kernel as #defines.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyopencl as cl

from tvmpd.opencl.runtime import Runtime

KERNEL_DIR = Path(__file__).resolve().parent

# Instruction ops; the names give the slot types: B base, X extension, XB extension with a base operand b.
# OUT_*: a constraint's value (dst: its index); STORE_*: a degree-lowering column (dst: the column), main from
# a base slot, aux from an extension slot or (AUX_B) a base one.
OPS = ("OP_BADD", "OP_BMUL", "OP_BNEG", "OP_XADD", "OP_XMUL", "OP_XNEG", "OP_XADDB", "OP_XMULB", "OP_OUT_B",
       "OP_OUT_X", "OP_STORE_MAIN", "OP_STORE_AUX", "OP_STORE_AUX_B")
(OP_BADD, OP_BMUL, OP_BNEG, OP_XADD, OP_XMUL, OP_XNEG, OP_XADDB, OP_XMULB, OP_OUT_B, OP_OUT_X, OP_STORE_MAIN,
 OP_STORE_AUX, OP_STORE_AUX_B) = range(len(OPS))
# Leaf sources (kind << KIND_SHIFT | column) and constant sources (kind << KIND_SHIFT | index).
LOADS = ("LOAD_MAIN", "LOAD_MAIN_NEXT", "LOAD_AUX", "LOAD_AUX_NEXT")
LOAD_MAIN, LOAD_MAIN_NEXT, LOAD_AUX, LOAD_AUX_NEXT = range(len(LOADS))
CONSTS = ("CONST_BASE", "CONST_EXT", "CHALLENGE_VALUE")
CONST_BASE, CONST_EXT, CHALLENGE_VALUE = range(len(CONSTS))
KIND_SHIFT = 24

LANE_WIDTH = 4  # field_vec.cl's GLV_WIDTH
ROWS_PER_BLOCK = 32  # rows each instruction runs over (air_interp.cl's INTERP_ROWS)
ITEMS_PER_UNIT = 4  # work items per compute unit (each walks every so-many-th row block)


@dataclass(frozen=True, eq=False)  # compared by identity: it holds arrays
class Program:
    """One interpreter program (a constraint kernel's constraints, or a category's degree-lowering rules):
    (slot, source) int32 rows of the leaves loaded per row block and of the constants set once, the
    constant words, (op, dst, a, b) int32 rows of code, and the sizes of the base and extension slot
    files."""

    category: int  # which per-category running sum mode 1 adds to
    leaves: np.ndarray
    consts: np.ndarray
    values: np.ndarray
    code: np.ndarray
    base_slots: int
    ext_slots: int
    total: int  # constraints of the whole AIR: the row width of mode 0's output
    zero_last_row: bool = False  # transition lowering: the table's last row stores 0


def _defines() -> str:
    names = [*((name, i) for group in (OPS, LOADS, CONSTS) for i, name in enumerate(group)),
             ("KIND_SHIFT", KIND_SHIFT), ("INDEX_MASK", (1 << KIND_SHIFT) - 1),
             ("INTERP_GROUPS", ROWS_PER_BLOCK // LANE_WIDTH)]
    return "".join(f"#define {name} {value}\n" for name, value in names)


def source() -> str:
    """The interpreter's whole program source (field helpers, lanes, the interpreter)."""
    files = ("field.cl", "field_vec.cl")
    return "".join((KERNEL_DIR / f).read_text() for f in files) + _defines() + (
        KERNEL_DIR / "air_interp.cl").read_text()


def kernel(rt: Runtime) -> cl.Kernel:
    """The interpreter kernel on rt, built once per context, with the full optimiser everywhere (it is
    small)."""
    key = "air_interp"
    if key not in rt.cache:
        program = rt.program_from_source("air_interp", source())
        rt.cache[key] = cl.Kernel(program, "run_program")
    return rt.cache[key]


@dataclass(frozen=True)
class _Uploaded:
    leaves: cl.Buffer
    consts: cl.Buffer
    values: cl.Buffer
    code: cl.Buffer


def _upload(rt: Runtime, name: tuple, program: Program) -> _Uploaded:
    key = ("air_interp_program", *name)
    if key not in rt.cache:
        def buf(a: np.ndarray, dtype) -> cl.Buffer:
            a = np.ascontiguousarray(a, dtype=dtype).ravel()
            return rt.to_device(a if a.size else np.zeros(1, dtype=dtype))

        rt.cache[key] = _Uploaded(buf(program.leaves, np.int32), buf(program.consts, np.int32),
                                  buf(program.values, np.uint64), buf(program.code, np.int32))
    return rt.cache[key]


def _scratch(rt: Runtime, words: int) -> cl.Buffer:
    """A slot-file buffer of at least `words` ulongs, kept per context and grown when needed."""
    key = "air_interp_scratch"
    held = rt.cache.get(key)
    if held is None or held[0] < words:
        if held is not None:
            held[1].release()
        held = rt.cache[key] = (words, rt.empty(8 * words))
    return held[1]


def launch(rt: Runtime, name: tuple, program: Program, main: cl.Buffer, main_strides: tuple[int, int],
           aux: cl.Buffer, aux_strides: tuple[int, int, int], challenges: cl.Buffer, weights: cl.Buffer,
           n_rows: int, step: int, mode: int, out: cl.Buffer, first: int, rows: int) -> None:
    """Run one program over rows first .. first + rows - 1 (next row at (x + step) mod n_rows), with the
    generated kernels' meaning of mode and out (stages/air/codegen.py) for its constraints; its stores write
    main and aux. The program, named by `name` (its set's digest, group and index), stays on the device for
    later launches."""
    up = _upload(rt, name, program)
    blocks = -(-rows // ROWS_PER_BLOCK)
    items = max(1, min(blocks, ITEMS_PER_UNIT * rt.device.max_compute_units))
    per_item = (program.base_slots + 3 * program.ext_slots) * ROWS_PER_BLOCK
    scratch = _scratch(rt, items * max(per_item, 1))
    u32, u64 = np.uint32, np.uint64
    kernel(rt)(rt.queue, (items,), (1,), main, u64(main_strides[0]), u64(main_strides[1]), aux,
         *(u64(s) for s in aux_strides), challenges, weights, u32(n_rows), u32(step), u32(mode), out,
         u32(first), u32(first + rows), up.leaves, u32(len(program.leaves)), up.consts,
         u32(len(program.consts)), up.values, up.code, u32(len(program.code)), u32(program.category),
         u32(program.total), u32(program.zero_last_row), scratch, u32(program.base_slots),
         u32(program.ext_slots))
