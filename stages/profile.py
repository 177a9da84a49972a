"""Proof-system profiles: everything a Triton VM release fixes about its proofs, in one object selected by
the claim's version number. The prover driver, the verifier and the backends take the AIR, its generated
kernels, the STARK parameters, the proof items and the transcript from here.

Today: Triton VM v7.0.0, proof version 5. A release with another proof version (Triton VM v8/v9 for
Neptune's HardforkDelta and XNT's UpgradeVMv8: version 8) is a new ProofProfile with its own AIR package
and kernel set, registered in PROFILES.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tvmpd.stages.domains import CLAIM_VERSION, NUM_QUOTIENT_SEGMENTS, StarkParams


@dataclass(frozen=True)
class ProofProfile:
    """One release's proof system. The callables load their (large) parts on first use."""

    version: int  # the claim's version number, which selects the profile
    release: str
    params: StarkParams  # default STARK parameters
    num_main_columns: int
    num_main_base_columns: int  # main columns filled from the execution (the rest by degree lowering)
    num_aux_columns: int
    num_quotient_segments: int
    num_sampled_challenges: int  # challenges sampled from the transcript (the rest are derived)
    items_before_fri: tuple[str, ...]  # proof item kinds, in order, up to the DEEP codeword
    items_after_fri: tuple[str, ...]  # proof item kinds after FRI's rounds
    lowered_air: Callable[[], Any]  # () -> stages.air.constraints.LoweredAir (degree-lowered AIR)
    air_digest: Callable[[], str]  # () -> digest of the AIR's sources: the key of what is cached from it
    air_kernels: Callable[[], Any]  # () -> opencl.air.AirKernels generated from that AIR
    claim_encoding: Callable[[Any], list[int]]  # claim -> what the transcript absorbs first
    derive_challenges: Callable[..., Any]  # (sampled, input, output, program digest) -> (63, 3)

    def num_constraints(self) -> int:
        """Constraints of the lowered AIR: the number of quotient weights sampled."""
        return sum(self.lowered_air().counts().values())


class UnsupportedProofVersion(ValueError):
    """A claim's version number names no proof system this build knows."""


def _v7_lowered_air() -> Any:
    from tvmpd.stages.air.constraints import lowered_air

    return lowered_air()


def _v7_air_digest() -> str:
    from tvmpd.stages.air.constraints import source_digest

    return source_digest()


def _v7_air_kernels() -> Any:
    from tvmpd.stages.air.kernel_cache import air_kernels

    return air_kernels()


def _v7_claim_encoding(claim: Any) -> list[int]:
    from tvmpd.stages.proof import encode_claim

    return encode_claim(list(claim.program_digest), claim.version, list(claim.input), list(claim.output))


def _v7_derive_challenges(sampled: Any, public_input: Any, public_output: Any, program_digest: Any) -> Any:
    from tvmpd.stages.air.challenges import derive_challenges

    return derive_challenges(sampled, public_input, public_output, program_digest)


TRITON_VM_V7 = ProofProfile(
    version=CLAIM_VERSION,
    release="Triton VM v7.0.0",
    params=StarkParams(security_level=160, log2_expansion_factor=2),
    num_main_columns=379,
    num_main_base_columns=149,
    num_aux_columns=91,
    num_quotient_segments=NUM_QUOTIENT_SEGMENTS,
    num_sampled_challenges=59,
    items_before_fri=("Log2PaddedHeight", "MerkleRoot", "MerkleRoot", "MerkleRoot", "OutOfDomainMainRow",
                      "OutOfDomainAuxRow", "OutOfDomainMainRow", "OutOfDomainAuxRow",
                      "OutOfDomainQuotientSegments"),
    items_after_fri=("MasterMainTableRows", "AuthenticationStructure", "MasterAuxTableRows",
                     "AuthenticationStructure", "QuotientSegmentsElements", "AuthenticationStructure"),
    lowered_air=_v7_lowered_air,
    air_digest=_v7_air_digest,
    air_kernels=_v7_air_kernels,
    claim_encoding=_v7_claim_encoding,
    derive_challenges=_v7_derive_challenges,
)

PROFILES: dict[int, ProofProfile] = {p.version: p for p in (TRITON_VM_V7,)}
SUPPORTED_PROOF_VERSIONS: tuple[int, ...] = tuple(sorted(PROFILES))


def profile_for(version: int) -> ProofProfile:
    """The profile of a claim's version number; UnsupportedProofVersion if there is none."""
    try:
        return PROFILES[int(version)]
    except (KeyError, TypeError, ValueError):
        raise UnsupportedProofVersion(
            f"claim version {version!r} is not supported (supported: "
            f"{', '.join(map(str, SUPPORTED_PROOF_VERSIONS))})") from None
