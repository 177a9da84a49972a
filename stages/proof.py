"""Proof items, the proof as a list of field elements (BFieldCodec of the proof stream), and its bincode.

A proof is a sequence of items; each item's encoding is its variant index followed by its payload, with
a length prefix where the payload type has no static length. The proof is `[len(E)] ++ E` with
`E = [#items] ++ (len(item) ++ item for each item)`. Nodes exchange it as bincode: u64 count + u64s.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import numpy as np

P = 0xFFFF_FFFF_0000_0001
NUM_MAIN_COLUMNS = 379
NUM_AUX_COLUMNS = 91
NUM_QUOTIENT_SEGMENTS = 4
DIGEST_LEN = 5

# Variant index = position; (name, absorbed into Fiat-Shamir, static payload length or None).
ITEM_KINDS: list[tuple[str, bool, int | None]] = [
    ("MerkleRoot", True, DIGEST_LEN),
    ("Log2PaddedHeight", True, 1),
    ("OutOfDomainMainRow", True, 3 * NUM_MAIN_COLUMNS),
    ("OutOfDomainAuxRow", True, 3 * NUM_AUX_COLUMNS),
    ("OutOfDomainQuotientSegments", True, 3 * NUM_QUOTIENT_SEGMENTS),
    ("FriPolynomial", True, None),
    ("AuthenticationStructure", False, None),
    ("MasterMainTableRows", False, None),
    ("MasterAuxTableRows", False, None),
    ("QuotientSegmentsElements", False, None),
    ("FriCodeword", False, None),
    ("FriResponse", False, None),
]
KIND_INDEX = {name: i for i, (name, _, _) in enumerate(ITEM_KINDS)}


class ProofFormatError(ValueError):
    """A proof (or proof item) whose encoding is malformed."""


@dataclass
class ProofItem:
    """One item of the proof stream. Payload forms, all uint64 numpy arrays unless noted:

    MerkleRoot (5,); Log2PaddedHeight int; OutOfDomainMainRow (379,3); OutOfDomainAuxRow (91,3);
    OutOfDomainQuotientSegments (4,3); FriPolynomial (k,3) coefficients, low first, no trailing zeros;
    AuthenticationStructure (m,5); MasterMainTableRows (n,379); MasterAuxTableRows (n,91,3);
    QuotientSegmentsElements (n,4,3); FriCodeword (n,3); FriResponse tuple (auth (m,5), leaves (n,3)).
    """

    kind: str
    payload: Any

    @property
    def in_fiat_shamir(self) -> bool:
        return ITEM_KINDS[KIND_INDEX[self.kind]][1]


def _vec(rows: np.ndarray, width: int) -> list[int]:
    """Vec<T> of a statically sized T: count, then the flattened elements."""
    flat = np.asarray(rows, dtype=np.uint64).reshape(-1)
    n = len(flat) // width if width else 0
    return [n, *flat.tolist()]


def _payload(item: ProofItem) -> list[int]:
    kind, x = item.kind, item.payload
    if kind == "Log2PaddedHeight":
        return [int(x)]
    if kind in ("MerkleRoot", "OutOfDomainMainRow", "OutOfDomainAuxRow", "OutOfDomainQuotientSegments"):
        return np.asarray(x, dtype=np.uint64).reshape(-1).tolist()
    if kind == "FriPolynomial":
        coeffs = np.asarray(x, dtype=np.uint64).reshape(-1, 3)
        while len(coeffs) and not coeffs[-1].any():
            coeffs = coeffs[:-1]
        vec = _vec(coeffs, 3)
        return [len(vec), *vec]
    if kind == "AuthenticationStructure":
        return _vec(x, DIGEST_LEN)
    if kind == "MasterMainTableRows":
        return _vec(x, NUM_MAIN_COLUMNS)
    if kind == "MasterAuxTableRows":
        return _vec(x, 3 * NUM_AUX_COLUMNS)
    if kind == "QuotientSegmentsElements":
        return _vec(x, 3 * NUM_QUOTIENT_SEGMENTS)
    if kind == "FriCodeword":
        return _vec(x, 3)
    if kind == "FriResponse":
        auth, leaves = x
        # Derived struct fields are encoded in reverse declaration order, each with its length.
        enc_leaves = _vec(leaves, 3)
        enc_auth = _vec(auth, DIGEST_LEN)
        return [len(enc_leaves), *enc_leaves, len(enc_auth), *enc_auth]
    raise ValueError(f"unknown proof item kind {kind!r}")


def encode_item(item: ProofItem) -> list[int]:
    """BFieldCodec of a proof item: variant index, then the payload (length-prefixed if not static)."""
    index = KIND_INDEX.get(item.kind)
    if index is None:
        raise ValueError(f"unknown proof item kind {item.kind!r}")
    payload = _payload(item)
    static = ITEM_KINDS[index][2]
    if static is not None:
        if len(payload) != static:
            raise ValueError(f"{item.kind} payload has {len(payload)} elements, expected {static}")
        return [index, *payload]
    return [index, len(payload), *payload]


def encode_proof(items: list[ProofItem]) -> np.ndarray:
    """The proof's field elements: BFieldCodec of the proof stream."""
    body: list[int] = [len(items)]
    for item in items:
        enc = encode_item(item)
        body.append(len(enc))
        body.extend(enc)
    return np.array([len(body), *body], dtype=np.uint64)


class _Reader:
    def __init__(self, data: np.ndarray, what: str) -> None:
        self.data = data
        self.pos = 0
        self.what = what

    def take(self, n: int) -> np.ndarray:
        if n < 0 or self.pos + n > len(self.data):
            raise ProofFormatError(f"{self.what}: needs {n} elements at {self.pos} of {len(self.data)}")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def one(self) -> int:
        return int(self.take(1)[0])

    def vec(self, width: int) -> np.ndarray:
        n = self.one()
        if n > len(self.data):
            raise ProofFormatError(f"{self.what}: absurd vector length {n}")
        return self.take(n * width).reshape(n, width)

    def done(self) -> None:
        if self.pos != len(self.data):
            raise ProofFormatError(f"{self.what}: {len(self.data) - self.pos} trailing elements")


def _decode_payload(kind: str, r: _Reader) -> Any:
    if kind == "MerkleRoot":
        return r.take(DIGEST_LEN).copy()
    if kind == "Log2PaddedHeight":
        v = r.one()
        if v >= 1 << 32:
            raise ProofFormatError(f"Log2PaddedHeight {v} is not a u32")
        return v
    if kind == "OutOfDomainMainRow":
        return r.take(3 * NUM_MAIN_COLUMNS).reshape(NUM_MAIN_COLUMNS, 3).copy()
    if kind == "OutOfDomainAuxRow":
        return r.take(3 * NUM_AUX_COLUMNS).reshape(NUM_AUX_COLUMNS, 3).copy()
    if kind == "OutOfDomainQuotientSegments":
        return r.take(3 * NUM_QUOTIENT_SEGMENTS).reshape(NUM_QUOTIENT_SEGMENTS, 3).copy()
    if kind == "FriPolynomial":
        inner = _Reader(r.take(r.one()), "FriPolynomial coefficients")
        coeffs = inner.vec(3).copy()
        inner.done()
        if len(coeffs) and not coeffs[-1].any():
            raise ProofFormatError("FriPolynomial has trailing zero coefficients")
        return coeffs
    if kind == "AuthenticationStructure":
        return r.vec(DIGEST_LEN).copy()
    if kind == "MasterMainTableRows":
        return r.vec(NUM_MAIN_COLUMNS).copy()
    if kind == "MasterAuxTableRows":
        return r.vec(3 * NUM_AUX_COLUMNS).reshape(-1, NUM_AUX_COLUMNS, 3).copy()
    if kind == "QuotientSegmentsElements":
        return r.vec(3 * NUM_QUOTIENT_SEGMENTS).reshape(-1, NUM_QUOTIENT_SEGMENTS, 3).copy()
    if kind == "FriCodeword":
        return r.vec(3).copy()
    if kind == "FriResponse":
        leaves_r = _Reader(r.take(r.one()), "FriResponse leaves")
        leaves = leaves_r.vec(3).copy()
        leaves_r.done()
        auth_r = _Reader(r.take(r.one()), "FriResponse authentication structure")
        auth = auth_r.vec(DIGEST_LEN).copy()
        auth_r.done()
        return (auth, leaves)
    raise ProofFormatError(f"unknown proof item kind {kind!r}")


def decode_item(enc: np.ndarray) -> ProofItem:
    """Inverse of encode_item; ProofFormatError on any malformed or trailing data."""
    r = _Reader(np.asarray(enc, dtype=np.uint64), "proof item")
    index = r.one()
    if index >= len(ITEM_KINDS):
        raise ProofFormatError(f"unknown proof item variant {index}")
    kind, _, static = ITEM_KINDS[index]
    if static is None:
        r = _Reader(r.take(r.one()), kind)
    payload = _decode_payload(kind, r)
    r.done()
    return ProofItem(kind, payload)


def decode_proof(elements: np.ndarray) -> list[ProofItem]:
    """The items of a proof given as its field elements; ProofFormatError if malformed."""
    data = np.asarray(elements, dtype=np.uint64)
    if (data >= np.uint64(P)).any():
        raise ProofFormatError("proof contains a non-canonical field element")
    outer = _Reader(data, "proof")
    body = _Reader(outer.take(outer.one()), "proof stream")
    outer.done()
    count = body.one()
    items = []
    for _ in range(count):
        items.append(decode_item(body.take(body.one())))
    body.done()
    return items


def to_bincode(elements: np.ndarray) -> bytes:
    """bincode 1.x of `Proof(Vec<BFieldElement>)`: u64 element count, then each element, little-endian."""
    data = np.asarray(elements, dtype="<u8")
    if data.ndim != 1:
        raise ValueError("a proof is a flat sequence of field elements")
    return struct.pack("<Q", len(data)) + data.tobytes()


def from_bincode(blob: bytes) -> np.ndarray:
    """Field elements of a bincode-encoded proof; ProofFormatError if lengths disagree."""
    if len(blob) < 8:
        raise ProofFormatError("proof file shorter than its 8-byte length prefix")
    (n,) = struct.unpack_from("<Q", blob)
    if len(blob) != 8 + 8 * n:
        raise ProofFormatError(f"proof says {n} elements but has {(len(blob) - 8) / 8:g}")
    return np.frombuffer(blob, dtype="<u8", offset=8).astype(np.uint64)


def encode_claim(program_digest: list[int], version: int, public_input: list[int],
                 public_output: list[int]) -> list[int]:
    """BFieldCodec of a Claim (fields reversed, vectors length-prefixed); Fiat-Shamir absorbs it first."""
    out = [len(public_output) + 1, len(public_output), *public_output]
    inp = [len(public_input) + 1, len(public_input), *public_input]
    return [*out, *inp, int(version), *program_digest]
