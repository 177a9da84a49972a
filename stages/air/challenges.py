"""Fiat-Shamir challenges of Triton VM v7.0.0: ids in the reference's order and the 4 derived ones."""

from __future__ import annotations

from collections.abc import Sequence
from enum import IntEnum

import numpy as np

from tvmpd.stages import xfield

P = 2**64 - 2**32 + 1

_NAMES = (
    ["CompressProgramDigestIndeterminate", "StandardInputIndeterminate", "StandardOutputIndeterminate",
     "InstructionLookupIndeterminate", "HashInputIndeterminate", "HashDigestIndeterminate",
     "SpongeIndeterminate", "OpStackIndeterminate", "RamIndeterminate", "JumpStackIndeterminate",
     "U32Indeterminate", "ClockJumpDifferenceLookupIndeterminate", "RamTableBezoutRelationIndeterminate",
     "ProgramAddressWeight", "ProgramInstructionWeight", "ProgramNextInstructionWeight",
     "OpStackClkWeight", "OpStackIb1Weight", "OpStackPointerWeight", "OpStackFirstUnderflowElementWeight",
     "RamClkWeight", "RamPointerWeight", "RamValueWeight", "RamInstructionTypeWeight",
     "JumpStackClkWeight", "JumpStackCiWeight", "JumpStackJspWeight", "JumpStackJsoWeight",
     "JumpStackJsdWeight", "ProgramAttestationPrepareChunkIndeterminate",
     "ProgramAttestationSendChunkIndeterminate", "HashCIWeight"]
    + [f"StackWeight{i}" for i in range(16)]
    + ["HashCascadeLookupIndeterminate", "HashCascadeLookInWeight", "HashCascadeLookOutWeight",
       "CascadeLookupIndeterminate", "LookupTableInputWeight", "LookupTableOutputWeight",
       "LookupTablePublicIndeterminate", "U32LhsWeight", "U32RhsWeight", "U32CiWeight", "U32ResultWeight",
       "StandardInputTerminal", "StandardOutputTerminal", "LookupTablePublicTerminal",
       "CompressedProgramDigest"]
)

ChallengeId = IntEnum("ChallengeId", [(n, i) for i, n in enumerate(_NAMES)], module=__name__)

NUM_CHALLENGES = 63
NUM_SAMPLED_CHALLENGES = 59
NUM_DERIVED_CHALLENGES = 4

# Tip5's 8-bit S-box: x -> (x + 1)^3 - 1 mod 257, which maps 0..255 onto 0..255.
TIP5_LOOKUP_TABLE = tuple(((x + 1) ** 3 - 1) % 257 for x in range(256))


def eval_arg_terminal(symbols: Sequence[int], indeterminate: Sequence[int]) -> np.ndarray:
    """Evaluation-argument terminal: acc = 1, then acc = acc*indeterminate + symbol for every symbol."""
    x = tuple(int(c) for c in indeterminate)
    acc = (1, 0, 0)
    for s in symbols:
        s = int(s)
        if not 0 <= s < P:
            raise ValueError(f"symbol {s} is not a canonical field element")
        acc = xfield.mul_int(acc, x)
        acc = ((acc[0] + s) % P, acc[1], acc[2])
    return np.array(acc, dtype=np.uint64)


def derive_challenges(sampled: np.ndarray, claim_input: Sequence[int], claim_output: Sequence[int],
                      program_digest: Sequence[int]) -> np.ndarray:
    """Append the 4 derived challenges (ids 59..62) to the 59 sampled ones, giving (63, 3) uint64."""
    sampled = np.asarray(sampled)
    if sampled.shape != (NUM_SAMPLED_CHALLENGES, 3):
        raise ValueError(f"expected sampled challenges of shape (59, 3), got {sampled.shape}")
    if sampled.dtype != np.uint64 or np.any(sampled >= np.uint64(P)):
        raise ValueError("sampled challenges must be canonical uint64 field elements")
    if len(program_digest) != 5:
        raise ValueError(f"program digest must have 5 elements, got {len(program_digest)}")
    out = np.zeros((NUM_CHALLENGES, 3), dtype=np.uint64)
    out[:NUM_SAMPLED_CHALLENGES] = sampled
    out[ChallengeId.StandardInputTerminal] = eval_arg_terminal(
        claim_input, sampled[ChallengeId.StandardInputIndeterminate])
    out[ChallengeId.StandardOutputTerminal] = eval_arg_terminal(
        claim_output, sampled[ChallengeId.StandardOutputIndeterminate])
    out[ChallengeId.LookupTablePublicTerminal] = eval_arg_terminal(
        TIP5_LOOKUP_TABLE, sampled[ChallengeId.LookupTablePublicIndeterminate])
    out[ChallengeId.CompressedProgramDigest] = eval_arg_terminal(
        program_digest, sampled[ChallengeId.CompressProgramDigestIndeterminate])
    return out
