"""Triton VM v7.0.0: instruction set, programs, claims, interpreter and algebraic execution trace."""

from .aet import AET, TABLE_NAMES, build_aet
from .compiled import execute, warm_up
from .errors import ClaimMismatch, InputError, ProgramError, TasmParseError, VMError
from .interpreter import execute_reference, run, run_claim
from .isa import SPECS, InstructionSpec, instruction_display
from .program import Program
from .types import (
    SUPPORTED_PROOF_VERSIONS,
    Claim,
    NonDeterminism,
    PublicInput,
    digest_from_hex,
    digest_to_hex,
    unsupported_version_message,
)

__all__ = [
    "AET", "TABLE_NAMES", "ClaimMismatch", "run_claim", "build_aet", "InputError", "ProgramError",
    "TasmParseError", "VMError",
    "execute", "execute_reference", "warm_up", "run", "SPECS", "InstructionSpec", "instruction_display",
    "Program", "Claim", "NonDeterminism", "PublicInput", "digest_from_hex", "digest_to_hex",
    "SUPPORTED_PROOF_VERSIONS", "unsupported_version_message",
]
