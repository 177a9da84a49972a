"""Triton VM v7.0.0: instruction set, programs, claims, interpreter and algebraic execution trace.

Each name below loads its module on first use: the compiled VM and AET import numba, whose import alone
is most of a short process that only reads claims (`tvmpd verify`)."""

from __future__ import annotations

import importlib

_NAMES = {
    "aet": ("AET", "TABLE_NAMES", "build_aet"),
    "compiled": ("execute",),
    "errors": ("ClaimMismatch", "InputError", "ProgramError", "TasmParseError", "VMError"),
    "interpreter": ("execute_reference", "run", "run_claim"),
    "isa": ("SPECS", "InstructionSpec", "instruction_display"),
    "program": ("Program",),
    "types": ("SUPPORTED_PROOF_VERSIONS", "Claim", "NonDeterminism", "PublicInput", "digest_from_hex",
              "digest_to_hex", "unsupported_version_message"),
    "warmup": ("REFERENCE_CYCLES", "compile_in_background", "loop_cached", "warm_up"),
}
_MODULE_OF = {name: module for module, names in _NAMES.items() for name in names}
__all__ = list(_MODULE_OF)


def __getattr__(name: str):
    """The exported name, from its module (imported now if it was not yet)."""
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
