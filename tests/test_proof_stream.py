"""Fiat-Shamir replay of reference proofs: the sampled challenges and weights equal the reference dumps."""

import json

import numpy as np
import pytest

from tvmpd.stages.proof import ProofFormatError, ProofItem, from_bincode
from tvmpd.stages.proof_stream import ProofStream


@pytest.mark.parametrize("name", ["halt", "all_tables"])
def test_replay_samples_reference_challenges_and_quotient_weights(vectors, name):
    elements = from_bincode((vectors / "proofs" / f"{name}.proof").read_bytes())
    transcript = json.loads((vectors / "proofs" / f"{name}.transcript.json").read_text())
    tables = np.load(vectors / "tables" / f"{name}.npz")
    stream = ProofStream.from_proof(elements)
    stream.absorb(transcript["claim_encoding"])
    assert stream.dequeue("Log2PaddedHeight").payload == transcript["padded_height"].bit_length() - 1
    stream.dequeue("MerkleRoot")
    np.testing.assert_array_equal(stream.sample_scalars(59), tables["challenges"][:59])
    stream.dequeue("MerkleRoot")
    np.testing.assert_array_equal(stream.sample_scalars(604), tables["quotient_weights"])


def test_dequeue_of_the_wrong_kind_is_a_format_error():
    stream = ProofStream()
    stream.enqueue(ProofItem("Log2PaddedHeight", 8))
    replay = ProofStream.from_proof(stream.to_proof())
    with pytest.raises(ProofFormatError):
        replay.dequeue("MerkleRoot")
    assert replay.dequeue("Log2PaddedHeight").payload == 8
    assert replay.fully_consumed()
    with pytest.raises(ProofFormatError):
        replay.dequeue("MerkleRoot")


def test_prover_and_verifier_streams_agree():
    prover = ProofStream()
    prover.absorb([1, 2, 3])
    prover.enqueue(ProofItem("MerkleRoot", np.arange(5, dtype=np.uint64)))
    prover.enqueue(ProofItem("FriCodeword", np.ones((4, 3), dtype=np.uint64)))  # not absorbed
    a = prover.sample_scalars(3)
    verifier = ProofStream.from_proof(prover.to_proof())
    verifier.absorb([1, 2, 3])
    verifier.dequeue("MerkleRoot")
    verifier.dequeue("FriCodeword")
    np.testing.assert_array_equal(verifier.sample_scalars(3), a)
