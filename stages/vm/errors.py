"""Errors of the VM package: bad input (ValueError subclasses) and execution failures (VMError)."""

from __future__ import annotations


class ProgramError(ValueError):
    """A program given as JSON or as words is malformed."""


class TasmParseError(ValueError):
    """Triton assembly text could not be parsed."""


class InputError(ValueError):
    """A claim, public input or non-determinism is malformed."""


class VMError(Exception):
    """Execution failed the way the reference's `InstructionError` says.

    `kind` is the reference's variant name (`OpStackError::...` for op-stack errors), `message` its
    Display text verbatim, `instruction` the Display of the instruction at the failing address or None.
    """

    def __init__(self, kind: str, message: str, instruction_pointer: int, cycle_count: int,
                 instruction: str | None) -> None:
        self.kind = kind
        self.message = message
        self.instruction_pointer = instruction_pointer
        self.cycle_count = cycle_count
        self.instruction = instruction
        shown = instruction if instruction is not None else "--"
        super().__init__(f"VM error: {message} (ip {instruction_pointer}, cycle {cycle_count}, "
                         f"instruction {shown})")

    def to_dict(self) -> dict:
        """The fields as the vectors' `error` entries write them."""
        return {"kind": self.kind, "message": self.message, "instruction_pointer": self.instruction_pointer,
                "cycle_count": self.cycle_count, "instruction": self.instruction}


class ClaimMismatch(ValueError):
    """The claim does not fit the program or its execution (the reference's `ProvingError`).

    `kind` is `ProgramDigestMismatch` or `PublicOutputMismatch`; the message is the reference's text.
    """

    def __init__(self, kind: str, message: str) -> None:
        self.kind = kind
        self.message = message
        super().__init__(message)
