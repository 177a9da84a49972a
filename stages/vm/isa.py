"""Triton VM v7.0.0 instruction set: opcodes, arguments, sizes and op-stack influence.

An instruction is held as a pair `(opcode, arg)`; `arg` is None for one-word instructions and a
canonical integer otherwise (number of words 1..5, stack register 0..15, field element, address).
"""

from __future__ import annotations

from dataclasses import dataclass

P = 2**64 - 2**32 + 1

# argument kinds
NONE, BFE, NUM_WORDS, STACK_REG, ADDRESS = "none", "bfe", "num_words", "stack_reg", "address"


@dataclass(frozen=True)
class InstructionSpec:
    """Static facts of one instruction."""

    name: str  # assembly mnemonic
    variant: str  # serde variant name of the reference enum
    opcode: int
    arg_kind: str
    delta: int | None  # op-stack size change; None means "depends on the argument" (±n)
    is_u32: bool = False

    @property
    def size(self) -> int:
        return 1 if self.arg_kind == NONE else 2


def _spec(name, variant, opcode, arg_kind=NONE, delta=0, is_u32=False) -> InstructionSpec:
    return InstructionSpec(name, variant, opcode, arg_kind, delta, is_u32)


# Order = declaration order of the reference's instruction enum (serde + BFieldCodec rely on names only).
SPECS: tuple[InstructionSpec, ...] = (
    _spec("push", "Push", 1, BFE, 1),
    _spec("pop", "Pop", 3, NUM_WORDS, None),
    _spec("divine", "Divine", 9, NUM_WORDS, None),
    _spec("pick", "Pick", 17, STACK_REG, 0),
    _spec("place", "Place", 25, STACK_REG, 0),
    _spec("dup", "Dup", 33, STACK_REG, 1),
    _spec("swap", "Swap", 41, STACK_REG, 0),
    _spec("halt", "Halt", 0),
    _spec("nop", "Nop", 8),
    _spec("skiz", "Skiz", 2, NONE, -1),
    _spec("call", "Call", 49, ADDRESS, 0),
    _spec("return", "Return", 16),
    _spec("recurse", "Recurse", 24),
    _spec("recurse_or_return", "RecurseOrReturn", 32),
    _spec("assert", "Assert", 10, NONE, -1),
    _spec("read_mem", "ReadMem", 57, NUM_WORDS, None),
    _spec("write_mem", "WriteMem", 11, NUM_WORDS, None),
    _spec("hash", "Hash", 18, NONE, -5),
    _spec("assert_vector", "AssertVector", 26, NONE, -5),
    _spec("sponge_init", "SpongeInit", 40),
    _spec("sponge_absorb", "SpongeAbsorb", 34, NONE, -10),
    _spec("sponge_absorb_mem", "SpongeAbsorbMem", 48),
    _spec("sponge_squeeze", "SpongeSqueeze", 56, NONE, 10),
    _spec("add", "Add", 42, NONE, -1),
    _spec("addi", "AddI", 65, BFE, 0),
    _spec("mul", "Mul", 50, NONE, -1),
    _spec("invert", "Invert", 64),
    _spec("eq", "Eq", 58, NONE, -1),
    _spec("split", "Split", 4, NONE, 1, True),
    _spec("lt", "Lt", 6, NONE, -1, True),
    _spec("and", "And", 14, NONE, -1, True),
    _spec("xor", "Xor", 22, NONE, -1, True),
    _spec("log_2_floor", "Log2Floor", 12, NONE, 0, True),
    _spec("pow", "Pow", 30, NONE, -1, True),
    _spec("div_mod", "DivMod", 20, NONE, 0, True),
    _spec("pop_count", "PopCount", 28, NONE, 0, True),
    _spec("xx_add", "XxAdd", 66, NONE, -3),
    _spec("xx_mul", "XxMul", 74, NONE, -3),
    _spec("x_invert", "XInvert", 72),
    _spec("xb_mul", "XbMul", 82, NONE, -1),
    _spec("read_io", "ReadIo", 73, NUM_WORDS, None),
    _spec("write_io", "WriteIo", 19, NUM_WORDS, None),
    _spec("merkle_step", "MerkleStep", 36, NONE, 0, True),
    _spec("merkle_step_mem", "MerkleStepMem", 44, NONE, 0, True),
    _spec("xx_dot_step", "XxDotStep", 80),
    _spec("xb_dot_step", "XbDotStep", 88),
)

BY_OPCODE: dict[int, InstructionSpec] = {s.opcode: s for s in SPECS}
BY_NAME: dict[str, InstructionSpec] = {s.name: s for s in SPECS}
BY_VARIANT: dict[str, InstructionSpec] = {s.variant: s for s in SPECS}

# instructions whose argument is a number of words whose sign of influence is negative
_SHRINKING_BY_ARG = {3, 11, 19}  # pop, write_mem, write_io
_GROWING_BY_ARG = {9, 57, 73}  # divine, read_mem, read_io

# opcode constants used by the interpreter
OP = {s.name: s.opcode for s in SPECS}

Instruction = tuple[int, "int | None"]


def op_stack_delta(opcode: int, arg: int | None) -> int:
    """Change of the op-stack length caused by an instruction."""
    spec = BY_OPCODE[opcode]
    if spec.delta is not None:
        return spec.delta
    return -arg if opcode in _SHRINKING_BY_ARG else arg


def validate_arg(spec: InstructionSpec, arg: int | None) -> int | None:
    """Check the argument against the instruction's argument kind; returns it canonical."""
    if spec.arg_kind == NONE:
        if arg is not None:
            raise ValueError(f"instruction `{spec.name}` takes no argument")
        return None
    if isinstance(arg, bool) or not isinstance(arg, int):
        raise ValueError(f"instruction `{spec.name}` needs an integer argument, got {arg!r}")
    if spec.arg_kind == NUM_WORDS and not 1 <= arg <= 5:
        raise ValueError(f"argument of `{spec.name}` must be 1..5, got {arg}")
    if spec.arg_kind == STACK_REG and not 0 <= arg <= 15:
        raise ValueError(f"argument of `{spec.name}` must be a stack register 0..15, got {arg}")
    if spec.arg_kind in (BFE, ADDRESS) and not 0 <= arg < P:
        raise ValueError(f"argument of `{spec.name}` must be a field element 0 <= v < p, got {arg}")
    return arg


def bfe_display(value: int) -> str:
    """The reference's Display of a base-field element (negatives near p, 20-digit zero padding)."""
    if value >= P - 256:
        return f"-{P - value}"
    if value <= 256:
        return str(value)
    return f"{value:020d}"


def instruction_display(instruction: Instruction) -> str:
    """The reference's Display of an instruction, e.g. `push -1`, `pop 5`, `call 00000000000000000300`."""
    opcode, arg = instruction
    spec = BY_OPCODE[opcode]
    if arg is None:
        return spec.name
    if spec.arg_kind in (BFE, ADDRESS):
        return f"{spec.name} {bfe_display(arg)}"
    return f"{spec.name} {arg}"
