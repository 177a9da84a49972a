"""Proof codec against the reference proofs: decode, re-encode byte for byte, malformed input rejected."""

import json

import numpy as np
import pytest

from tvmpd.stages.proof import (
    ProofFormatError,
    ProofItem,
    decode_item,
    decode_proof,
    encode_claim,
    encode_item,
    encode_proof,
    from_bincode,
    to_bincode,
)

NAMES = ["halt", "io_arith", "merkle", "all_tables"]


def _load(vectors, name):
    blob = (vectors / "proofs" / f"{name}.proof").read_bytes()
    transcript = json.loads((vectors / "proofs" / f"{name}.transcript.json").read_text())
    return blob, transcript


@pytest.mark.parametrize("name", NAMES)
def test_reference_proof_round_trips(vectors, name):
    blob, transcript = _load(vectors, name)
    elements = from_bincode(blob)
    assert len(elements) == transcript["proof_bfe_len"]
    items = decode_proof(elements)
    assert [i.kind for i in items] == [x["kind"] for x in transcript["items"]]
    assert [len(encode_item(i)) for i in items] == [x["encoding_len"] for x in transcript["items"]]
    assert [i.in_fiat_shamir for i in items] == [x["in_fiat_shamir"] for x in transcript["items"]]
    np.testing.assert_array_equal(encode_proof(items), elements)
    assert to_bincode(elements) == blob


@pytest.mark.parametrize("name", NAMES)
def test_claim_encoding(vectors, name):
    _, transcript = _load(vectors, name)
    claim = transcript["claim"]
    digest = bytes.fromhex(claim["program_digest"])
    words = [int.from_bytes(digest[8 * i:8 * i + 8], "little") for i in range(5)]
    enc = encode_claim(words, claim["version"], claim["input"], claim["output"])
    assert enc == transcript["claim_encoding"]


def test_item_values_match_transcript(vectors):
    blob, transcript = _load(vectors, "halt")
    items = decode_proof(from_bincode(blob))
    by_kind = {}
    for item, ref in zip(items, transcript["items"], strict=True):
        by_kind.setdefault(item.kind, []).append((item, ref["value"]))
    (log2, value), = by_kind["Log2PaddedHeight"]
    assert log2.payload == value == 8
    root, value = by_kind["MerkleRoot"][0]
    assert root.payload.tolist() == value["values"]
    ood, value = by_kind["OutOfDomainMainRow"][0]
    assert ood.payload.tolist() == value
    poly, value = by_kind["FriPolynomial"][0]
    assert poly.payload.tolist() == value["coefficients"]


def test_malformed_proofs_are_rejected(vectors):
    blob, _ = _load(vectors, "halt")
    elements = from_bincode(blob)
    with pytest.raises(ProofFormatError):
        from_bincode(blob[:-1])
    with pytest.raises(ProofFormatError):
        decode_proof(elements[:-1])
    bad = elements.copy()
    bad[1] += np.uint64(1)  # one item more than there is
    with pytest.raises(ProofFormatError):
        decode_proof(bad)
    bad = elements.copy()
    bad[3] = np.uint64(99)  # unknown variant index of the first item
    with pytest.raises(ProofFormatError):
        decode_proof(bad)
    bad = elements.copy()
    bad[5] = np.uint64(2**64 - 1)  # not a canonical field element
    with pytest.raises(ProofFormatError):
        decode_proof(bad)


def test_fri_polynomial_strips_trailing_zeros_and_rejects_them_on_decode():
    coeffs = np.array([[1, 2, 3], [0, 0, 0]], dtype=np.uint64)
    enc = encode_item(ProofItem("FriPolynomial", coeffs))
    assert enc == [5, 5, 4, 1, 1, 2, 3]
    assert decode_item(np.array(enc, dtype=np.uint64)).payload.tolist() == [[1, 2, 3]]
    with pytest.raises(ProofFormatError):
        decode_item(np.array([5, 8, 7, 2, 1, 2, 3, 0, 0, 0], dtype=np.uint64))


def test_wrong_payload_size_is_a_value_error():
    with pytest.raises(ValueError):
        encode_item(ProofItem("MerkleRoot", np.zeros(4, dtype=np.uint64)))
    with pytest.raises(ValueError):
        encode_item(ProofItem("NoSuchItem", 1))
