"""Public data types: Claim, PublicInput, NonDeterminism, and the Digest hex form."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from tvmpd.stages.profile import PROFILES, SUPPORTED_PROOF_VERSIONS

from .errors import InputError
from .isa import P

CURRENT_VERSION = 5
# Claim versions this build can prove are those with a profile (stages.profile; 5 is Triton VM v7.0.0).
# A claim of any other version (8 is Triton VM v8/v9) must be refused before any work: our AIR would make
# a proof of it that no verifier of that version accepts.
PROOF_SYSTEM_NAMES = {v: p.release for v, p in PROFILES.items()}


def unsupported_version_message(version: object) -> str | None:
    """None when a claim of this version can be proved here, else the one-line reason to give a node."""
    if isinstance(version, int) and not isinstance(version, bool) and version in SUPPORTED_PROOF_VERSIONS:
        return None
    supported = ", ".join(f"{v} ({PROOF_SYSTEM_NAMES.get(v, '?')})" for v in SUPPORTED_PROOF_VERSIONS)
    return f"unsupported claim version {version!r}: this tvmpd proves proof version {supported} only"


def digest_to_hex(digest: Sequence[int]) -> str:
    """Digest -> 80 lowercase hex chars: each of the 5 canonical values as 8 little-endian bytes."""
    if len(digest) != 5:
        raise InputError(f"a digest has 5 elements, got {len(digest)}")
    return b"".join(_canonical(v, "digest element").to_bytes(8, "little") for v in digest).hex()


def digest_from_hex(text: str) -> list[int]:
    """Inverse of digest_to_hex; raises InputError on bad length, bad hex or non-canonical elements."""
    if not isinstance(text, str) or len(text) != 80:
        raise InputError(f"a digest must be an 80-character hex string, got {text!r}")
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise InputError(f"a digest must be hex, got {text!r}") from None
    values = [int.from_bytes(raw[8 * i:8 * i + 8], "little") for i in range(5)]
    for v in values:
        if v >= P:
            raise InputError(f"digest element {v} is not canonical (>= p)")
    return values


def _canonical(v, what: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise InputError(f"{what} must be an integer, got {v!r}")
    if not 0 <= v < P:
        raise InputError(f"{what} {v} is not a canonical field element (0 <= v < p)")
    return v


def _json_element(v, what: str) -> int:
    """A field element as the reference reads one from JSON: any u64, reduced mod p (BFieldElement::new)."""
    if isinstance(v, bool) or not isinstance(v, int):
        raise InputError(f"{what} must be an integer, got {v!r}")
    if not 0 <= v < 2**64:
        raise InputError(f"{what} {v} is not a u64")
    return v % P


def _elements(values, what: str) -> list[int]:
    if not isinstance(values, list):
        raise InputError(f"{what} must be a list of field elements")
    return [_json_element(v, what + " element") for v in values]


def _load(text, what: str):
    if isinstance(text, dict):
        return text
    try:
        obj = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError, TypeError) as err:
        raise InputError(f"malformed {what} JSON: {err}") from None
    if not isinstance(obj, dict):
        raise InputError(f"{what} JSON must be an object")
    return obj


def _require(obj: dict, keys: tuple[str, ...], what: str) -> None:
    for key in keys:
        if key not in obj:
            raise InputError(f"{what} JSON lacks field `{key}`")


@dataclass
class Claim:
    """What a proof claims: program digest, version, public input and public output."""

    program_digest: list[int]
    version: int = CURRENT_VERSION
    input: list[int] = field(default_factory=list)
    output: list[int] = field(default_factory=list)

    @classmethod
    def from_json(cls, text: str | bytes | dict) -> Claim:
        obj = _load(text, "claim")
        _require(obj, ("program_digest", "version", "input", "output"), "claim")
        version = obj["version"]
        if isinstance(version, bool) or not isinstance(version, int) or not 0 <= version < 2**32:
            raise InputError(f"claim version must be a u32, got {version!r}")
        return cls(digest_from_hex(obj["program_digest"]), version, _elements(obj["input"], "claim input"),
                   _elements(obj["output"], "claim output"))

    def to_obj(self) -> dict:
        return {"program_digest": digest_to_hex(self.program_digest), "version": self.version,
                "input": list(self.input), "output": list(self.output)}

    def to_json(self) -> str:
        return json.dumps(self.to_obj(), separators=(",", ":"))

    def encode(self) -> list[int]:
        """BFieldCodec of the claim, as absorbed first by Fiat-Shamir."""
        from tvmpd.stages.proof import encode_claim

        return encode_claim(list(self.program_digest), self.version, list(self.input), list(self.output))


@dataclass
class PublicInput:
    """The public input: a FIFO of field elements read by `read_io` (the claim's `input`)."""

    individual_tokens: list[int] = field(default_factory=list)

    @classmethod
    def from_json(cls, text: str | bytes | list) -> PublicInput:
        obj = text
        if not isinstance(text, list):
            try:
                obj = json.loads(text)
            except (json.JSONDecodeError, UnicodeDecodeError, TypeError) as err:
                raise InputError(f"malformed public input JSON: {err}") from None
        return cls(_elements(obj, "public input"))


@dataclass
class NonDeterminism:
    """Secret input: individual tokens (`divine`), digests (`merkle_step`), initial RAM."""

    individual_tokens: list[int] = field(default_factory=list)
    digests: list[list[int]] = field(default_factory=list)
    ram: dict[int, int] = field(default_factory=dict)

    @classmethod
    def from_json(cls, text: str | bytes | dict) -> NonDeterminism:
        obj = _load(text, "non-determinism")
        _require(obj, ("individual_tokens", "digests", "ram"), "non-determinism")
        if not isinstance(obj["digests"], list):
            raise InputError("non-determinism `digests` must be a list of hex strings")
        if not isinstance(obj["ram"], dict):
            raise InputError("non-determinism `ram` must be an object")
        ram = {}
        for key, value in obj["ram"].items():
            if not (isinstance(key, str) and key.isdigit()):
                raise InputError(f"RAM address {key!r} must be a decimal string")
            ram[_json_element(int(key), "RAM address")] = _json_element(value, "RAM value")
        return cls(_elements(obj["individual_tokens"], "individual token"),
                   [digest_from_hex(d) for d in obj["digests"]], ram)

    def to_obj(self) -> dict:
        return {"individual_tokens": list(self.individual_tokens),
                "digests": [digest_to_hex(d) for d in self.digests],
                "ram": {str(a): v for a, v in self.ram.items()}}

    def to_json(self) -> str:
        return json.dumps(self.to_obj(), separators=(",", ":"))


def run_inputs(public_input, non_determinism) -> tuple[list[int], NonDeterminism]:
    """A run's public input as a checked list of canonical field elements (ValueError otherwise) and its
    non-determinism (empty when None): what both interpreters start from."""
    if isinstance(public_input, PublicInput):
        public_input = public_input.individual_tokens
    inputs = list(public_input)
    for v in inputs:
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < P:
            raise ValueError(f"public input element {v!r} is not a canonical field element")
    return inputs, non_determinism if non_determinism is not None else NonDeterminism()
