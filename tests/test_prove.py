"""End to end: request -> VM -> tables -> STARK. Seeded proofs are byte-identical to the reference prover's,
and our verifier accepts them and rejects tampered ones."""


import numpy as np
import pytest

from tvmpd.stages.proof import from_bincode
from tvmpd.stages.prover import PaddedHeightTooBig, prove
from tvmpd.stages.verifier import VerificationError, verify
from tvmpd.stages.vm import Claim, NonDeterminism, Program
from tvmpd.stages.vm.interpreter import run_claim

SEEDED = ["halt", "io_arith", "merkle", "all_tables"]


def _request(vectors, name):
    lines = (vectors / "requests" / f"{name}.req").read_text().splitlines()
    return Claim.from_json(lines[0]), Program.from_json(lines[1]), NonDeterminism.from_json(lines[2])


@pytest.fixture(scope="module")
def reference_proofs(vectors):
    out = {}
    for name in SEEDED:
        claim, program, nd = _request(vectors, name)
        seed = bytes.fromhex((vectors / "proofs" / f"{name}.seed").read_text().strip())
        reference = from_bincode((vectors / "proofs" / f"{name}.proof").read_bytes())
        _, aet = run_claim(claim, program, nd)
        out[name] = (claim, aet, seed, reference)
    return out


@pytest.mark.parametrize("name", SEEDED)
def test_seeded_proof_is_byte_identical_to_reference(reference_proofs, name):
    claim, aet, seed, reference = reference_proofs[name]
    np.testing.assert_array_equal(prove(claim, aet, seed=seed), reference)


@pytest.mark.parametrize("name", SEEDED)
def test_verifier_accepts_reference_proof(reference_proofs, name):
    claim, _, _, reference = reference_proofs[name]
    verify(claim, reference)


def test_verifier_rejects_tampered_elements(reference_proofs):
    claim, _, _, reference = reference_proofs["halt"]
    rng = np.random.default_rng(7)
    # Positions across the whole proof: header, roots, out-of-domain rows, FRI data, revealed rows.
    chosen = {2, 3, 5, 20, 500, 1500, 3000, 3500} | set(rng.integers(4, len(reference), 12).tolist())
    positions = sorted(chosen)
    for pos in positions:
        tampered = reference.copy()
        tampered[pos] = (tampered[pos] + np.uint64(1)) % np.uint64(2**64 - 2**32 + 1)
        with pytest.raises(VerificationError):
            verify(claim, tampered)


def test_verifier_rejects_proof_of_another_claim(reference_proofs):
    claim, _, _, reference = reference_proofs["io_arith"]
    other = Claim(claim.program_digest, claim.version, claim.input, [x + 1 for x in claim.output] or [1])
    with pytest.raises(VerificationError):
        verify(other, reference)


def test_unseeded_proof_verifies_and_differs(reference_proofs):
    claim, aet, _, reference = reference_proofs["halt"]
    proof = prove(claim, aet)
    verify(claim, proof)
    assert not np.array_equal(proof, reference)


def test_padded_height_limit_is_an_error_type():
    err = PaddedHeightTooBig(12, 10)
    assert err.log2_padded_height == 12 and "2^12" in str(err)


def test_seeded_proof_on_opencl_is_byte_identical(reference_proofs, device):
    claim, aet, seed, reference = reference_proofs["halt"]
    np.testing.assert_array_equal(prove(claim, aet, seed=seed, device_key=device), reference)


def test_recomputed_lde_gives_the_same_proof(reference_proofs):
    claim, aet, seed, reference = reference_proofs["io_arith"]
    np.testing.assert_array_equal(prove(claim, aet, seed=seed, cache_lde=False), reference)


def test_base_only_table_on_numpy_gives_the_same_proof(reference_proofs):
    # The daemon's CPU pool ships the 149 base columns; the prover fills the degree-lowering ones.
    from tvmpd.stages.prover import main_table, prove_table

    claim, aet, seed, reference = reference_proofs["halt"]
    base = main_table(aet, degree_lowered=False)
    assert base.shape == (aet.padded_height, 149)
    np.testing.assert_array_equal(main_table(aet)[:, :149], base)
    np.testing.assert_array_equal(prove_table(claim, base, seed=seed, degree_lowered=False), reference)
    with pytest.raises(ValueError, match="main table must be"):
        prove_table(claim, base, seed=seed)  # all 379 columns are needed when they are not filled here
