"""FRI: the FRI part of every reference proof verifies; prover and verifier agree; tampering fails."""

import json

import numpy as np
import pytest

from tvmpd.stages import domains, fri, ntt, xfield
from tvmpd.stages.proof import from_bincode
from tvmpd.stages.proof_stream import ProofStream


def _stream_at_fri(vectors, name):
    """Replay a reference proof up to the start of its FRI part."""
    elements = from_bincode((vectors / "proofs" / f"{name}.proof").read_bytes())
    transcript = json.loads((vectors / "proofs" / f"{name}.transcript.json").read_text())
    stream = ProofStream.from_proof(elements)
    stream.absorb(transcript["claim_encoding"])
    log2 = stream.dequeue("Log2PaddedHeight").payload
    stream.dequeue("MerkleRoot")
    stream.sample_scalars(59)
    stream.dequeue("MerkleRoot")
    stream.sample_scalars(604)
    stream.dequeue("MerkleRoot")
    stream.sample_scalars(1)
    for kind in ("OutOfDomainMainRow", "OutOfDomainAuxRow", "OutOfDomainMainRow", "OutOfDomainAuxRow",
                 "OutOfDomainQuotientSegments"):
        stream.dequeue(kind)
    stream.sample_scalars(379 + 91 + 4 + 3)
    return stream, domains.derive(1 << log2)


@pytest.mark.parametrize("name", ["halt", "io_arith", "merkle", "all_tables"])
def test_fri_of_reference_proof_verifies(vectors, name):
    stream, d = _stream_at_fri(vectors, name)
    indices, values = fri.verify(stream, d.fri, d.num_fri_rounds, d.num_collinearity_checks,
                                 d.fri_last_round_max_degree)
    assert len(indices) == len(values) == 80
    assert all(0 <= i < d.fri.length for i in indices)
    assert stream.dequeue("MasterMainTableRows").payload.shape == (80, 379)


def test_fri_rejects_a_tampered_reference_proof(vectors):
    stream, d = _stream_at_fri(vectors, "halt")
    response = next(i for i in stream.items if i.kind == "FriResponse")
    response.payload[1][0, 0] ^= np.uint64(1)
    with pytest.raises(fri.FriError):
        fri.verify(stream, d.fri, d.num_fri_rounds, d.num_collinearity_checks, d.fri_last_round_max_degree)


def _low_degree_codeword(degree_bound, domain, rng):
    coeffs = rng.integers(0, 2**63, size=(degree_bound, 3), dtype=np.uint64)
    return ntt.coset_evaluate(coeffs, domain.offset, domain.length)


@pytest.mark.parametrize("log2_len,rounds,checks", [(9, 2, 8), (11, 4, 16), (8, 0, 4)])
def test_prover_and_verifier_agree(log2_len, rounds, checks):
    rng = np.random.default_rng(log2_len)
    domain = domains.of_length(1 << log2_len, 7)
    last_max_degree = ((1 << log2_len) // 4 - 1) >> rounds
    codeword = _low_degree_codeword((1 << log2_len) // 4, domain, rng)
    prover = ProofStream()
    a = fri.prove(codeword, domain, rounds, checks, prover)
    verifier = ProofStream.from_proof(prover.to_proof())
    indices, values = fri.verify(verifier, domain, rounds, checks, last_max_degree)
    assert indices == a
    np.testing.assert_array_equal(values, codeword[a])
    assert verifier.fully_consumed()
    np.testing.assert_array_equal(verifier.sample_scalars(1), prover.sample_scalars(1))


def test_high_degree_codeword_is_rejected():
    rng = np.random.default_rng(1)
    domain = domains.of_length(2048, 7)
    codeword = _low_degree_codeword(2048, domain, rng)  # degree 2047, far above the bound of 511
    prover = ProofStream()
    fri.prove(codeword, domain, 2, 16, prover)
    with pytest.raises(fri.FriError):
        fri.verify(ProofStream.from_proof(prover.to_proof()), domain, 2, 16, 127)


def test_fold_halves_the_degree():
    rng = np.random.default_rng(2)
    domain = domains.of_length(64, 7)
    codeword = _low_degree_codeword(16, domain, rng)
    folded = fri.fold(codeword, domain, xfield.to_array([3, 4, 5]))
    coeffs = ntt.interpolate_coset(folded, domain.pow(2).offset)
    assert not coeffs[8:].any()
