"""stages/profile.py: one profile per proof version; the v7.0.0 profile states the facts the prover and
verifier use, and claims of other versions are refused."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tvmpd.stages.air import columns
from tvmpd.stages.air.challenges import ChallengeId
from tvmpd.stages.domains import StarkParams
from tvmpd.stages.profile import (
    PROFILES,
    SUPPORTED_PROOF_VERSIONS,
    TRITON_VM_V7,
    UnsupportedProofVersion,
    profile_for,
)
from tvmpd.stages.proof import decode_proof, from_bincode
from tvmpd.stages.vm import Claim

FRI_KINDS = {"MerkleRoot", "FriCodeword", "FriPolynomial", "FriResponse"}


def test_registry_selects_by_claim_version():
    assert SUPPORTED_PROOF_VERSIONS == tuple(sorted(PROFILES)) == (5,)
    assert profile_for(5) is TRITON_VM_V7
    for version in (0, 4, 6, 8, 2**32 - 1):
        with pytest.raises(UnsupportedProofVersion, match=f"claim version {version} is not supported"):
            profile_for(version)


def test_v7_profile_matches_the_air():
    p = TRITON_VM_V7
    assert p.params == StarkParams()
    assert p.num_constraints() == 604
    assert p.num_main_base_columns == columns.NUM_MAIN_BASE_COLUMNS
    lowered = p.lowered_air().main_substitutions
    assert p.num_main_columns == p.num_main_base_columns + sum(len(rules) for rules in lowered.values())
    assert p.num_sampled_challenges == ChallengeId.StandardInputTerminal  # derived challenges come after
    assert p.air_kernels().constraints


def test_v7_proof_items_are_the_reference_proofs_items(vectors):
    proof = from_bincode((vectors / "proofs" / "halt.proof").read_bytes())
    kinds = [item.kind for item in decode_proof(proof)]
    before, after = TRITON_VM_V7.items_before_fri, TRITON_VM_V7.items_after_fri
    assert tuple(kinds[:len(before)]) == before
    assert tuple(kinds[-len(after):]) == after
    assert set(kinds[len(before):-len(after)]) <= FRI_KINDS


def _halt(vectors):
    from tvmpd.stages.vm import NonDeterminism, Program
    from tvmpd.stages.vm.interpreter import run_claim

    lines = (vectors / "requests" / "halt.req").read_text().splitlines()
    claim = Claim.from_json(lines[0])
    _, aet = run_claim(claim, Program.from_json(lines[1]), NonDeterminism.from_json(lines[2]))
    return claim, aet


def test_prover_refuses_an_unsupported_version_before_any_work(vectors):
    from tvmpd.stages.prover import prove_table

    claim, _ = _halt(vectors)
    other = dataclasses.replace(claim, version=6)
    with pytest.raises(UnsupportedProofVersion):
        prove_table(other, np.zeros((4, 3), dtype=np.uint64))  # refused before the table is even checked


def test_verifier_rejects_a_claim_of_an_unsupported_version(vectors):
    from tvmpd.stages.verifier import VerificationError, verify

    claim, _ = _halt(vectors)
    proof = from_bincode((vectors / "proofs" / "halt.proof").read_bytes())
    verify(claim, proof)
    with pytest.raises(VerificationError, match="claim version 6 is not supported"):
        verify(dataclasses.replace(claim, version=6), proof)
