"""The Triton VM v7.0.0 STARK verifier, step for step as the reference's `Verifier::verify`.

`verify(claim, proof)` returns None for a valid proof and raises VerificationError naming the first
check that fails otherwise.
"""

from __future__ import annotations

import numpy as np

from stages import field, merkle, tip5, xfield
from stages import fri as fri_mod
from stages.domains import MAX_LOG2_PADDED_HEIGHT, NUM_QUOTIENT_SEGMENTS, StarkParams, derive
from stages.profile import TRITON_VM_V7, ProofProfile, UnsupportedProofVersion, profile_for
from stages.proof import ProofFormatError, encode_claim
from stages.proof_stream import ProofStream

NUM_SAMPLED_CHALLENGES = 59
NUM_MAIN_COLUMNS = 379
NUM_AUX_COLUMNS = 91


class VerificationError(Exception):
    """A proof that the verifier rejects, with the reason."""


def claim_encoding(claim) -> list[int]:
    """BFieldCodec of a claim: any object with program_digest, version, input and output (stages.vm.Claim)."""
    return encode_claim(list(claim.program_digest), claim.version, list(claim.input), list(claim.output))


def _xscalar(values: np.ndarray) -> np.ndarray:
    return np.asarray(values, dtype=np.uint64).reshape(3)


def _deep_update(x: int, value_at_x: np.ndarray, z: np.ndarray, value_at_z: np.ndarray) -> np.ndarray:
    """(f(x) - f(z)) / (x - z): one DEEP quotient term at a FRI domain point x."""
    denominator = xfield.sub(xfield.lift(np.uint64(x)), z)
    return xfield.mul(xfield.sub(value_at_x, value_at_z), xfield.inv(denominator))


def ood_constraint_values(main_curr: np.ndarray, aux_curr: np.ndarray, main_next: np.ndarray,
                          aux_next: np.ndarray, challenges: np.ndarray, air=None) -> dict[str, np.ndarray]:
    """All lowered AIR constraints (air: a LoweredAir; None: the v7.0.0 one) at one out-of-domain row pair
    (main rows are extension elements)."""
    from stages.air.evaluate import evaluate_nodes  # the AIR is large; load it only when verifying

    air = air if air is not None else TRITON_VM_V7.lowered_air()
    mc, ac, mn, an = (r[np.newaxis] for r in (main_curr, aux_curr, main_next, aux_next))
    out = {}
    for category in ("initial", "consistency", "terminal"):
        out[category] = evaluate_nodes(air.constraints[category], mc, ac, challenges)[0]
    out["transition"] = evaluate_nodes(air.constraints["transition"], mc, ac, challenges, mn, an)[0]
    return out


def verify(claim, proof: np.ndarray, params: StarkParams | None = None) -> None:
    """Verify a proof (its field elements) of a claim under the proof system of the claim's version;
    raises VerificationError if it is not valid."""
    try:
        profile = profile_for(claim.version)
    except UnsupportedProofVersion as exc:
        raise VerificationError(str(exc)) from exc
    params = params or profile.params
    try:
        _verify(claim, proof, params, profile)
    except ProofFormatError as exc:
        raise VerificationError(f"malformed proof: {exc}") from exc
    except fri_mod.FriError as exc:
        raise VerificationError(f"FRI: {exc}") from exc


def _verify(claim, proof: np.ndarray, params: StarkParams, profile: ProofProfile) -> None:
    stream = ProofStream.from_proof(proof)
    stream.absorb(profile.claim_encoding(claim))
    log2_height = stream.dequeue("Log2PaddedHeight").payload
    if log2_height > MAX_LOG2_PADDED_HEIGHT:
        raise VerificationError(f"log2 of padded height {log2_height} is too large")
    d = derive(1 << log2_height, params)
    tree_height = d.fri.length.bit_length() - 1

    main_root = stream.dequeue("MerkleRoot").payload
    challenges = profile.derive_challenges(stream.sample_scalars(profile.num_sampled_challenges), claim.input,
                                           claim.output, claim.program_digest)
    aux_root = stream.dequeue("MerkleRoot").payload
    quotient_weights = stream.sample_scalars(profile.num_constraints())
    quotient_root = stream.dequeue("MerkleRoot").payload

    trace_gen = d.trace.generator
    alpha = stream.sample_scalars(1)[0]
    alpha_next = xfield.mul_base(alpha, np.uint64(trace_gen))
    alpha_pow_segments = xfield.pow(alpha, NUM_QUOTIENT_SEGMENTS)
    ood_main_curr = stream.dequeue("OutOfDomainMainRow").payload
    ood_aux_curr = stream.dequeue("OutOfDomainAuxRow").payload
    ood_main_next = stream.dequeue("OutOfDomainMainRow").payload
    ood_aux_next = stream.dequeue("OutOfDomainAuxRow").payload
    ood_segments = stream.dequeue("OutOfDomainQuotientSegments").payload

    # The quotient at alpha, from the constraints, must equal the one the segments claim.
    values = ood_constraint_values(ood_main_curr, ood_aux_curr, ood_main_next, ood_aux_next, challenges,
                                   profile.lowered_air())
    one = xfield.lift(np.uint64(1))
    initial_zinv = xfield.inv(xfield.sub(alpha, one))
    consistency_zinv = xfield.inv(xfield.sub(xfield.pow(alpha, d.trace.length), one))
    except_last_row = xfield.sub(alpha, xfield.lift(np.uint64(field.inv_int(trace_gen))))
    transition_zinv = xfield.mul(except_last_row, consistency_zinv)
    terminal_zinv = xfield.inv(except_last_row)
    summands = np.concatenate([
        xfield.mul(values["initial"], initial_zinv),
        xfield.mul(values["consistency"], consistency_zinv),
        xfield.mul(values["transition"], transition_zinv),
        xfield.mul(values["terminal"], terminal_zinv),
    ])
    quotient_value = xfield.dot(quotient_weights, summands)
    alpha_powers = np.stack([xfield.pow(alpha, k) for k in range(NUM_QUOTIENT_SEGMENTS)])
    if not np.array_equal(quotient_value, xfield.dot(alpha_powers, ood_segments)):
        raise VerificationError("out-of-domain quotient value does not match the quotient segments")

    weights = stream.sample_scalars(NUM_MAIN_COLUMNS + NUM_AUX_COLUMNS + NUM_QUOTIENT_SEGMENTS + 3)
    row_weights = weights[:NUM_MAIN_COLUMNS + NUM_AUX_COLUMNS]
    segment_weights = weights[NUM_MAIN_COLUMNS + NUM_AUX_COLUMNS:-3]
    deep_weights = weights[-3:]
    ood_curr_value = xfield.dot(row_weights, np.concatenate([ood_main_curr, ood_aux_curr]))
    ood_next_value = xfield.dot(row_weights, np.concatenate([ood_main_next, ood_aux_next]))
    ood_segment_value = xfield.dot(segment_weights, ood_segments)

    indices, fri_values = fri_mod.verify(stream, d.fri, d.num_fri_rounds, d.num_collinearity_checks,
                                         d.fri_last_round_max_degree)

    main_rows = stream.dequeue("MasterMainTableRows").payload
    main_auth = stream.dequeue("AuthenticationStructure").payload
    if len(main_rows) != len(indices) or not merkle.verify(main_root, tree_height, indices,
                                                           tip5.hash_rows(main_rows), main_auth):
        raise VerificationError("main table rows fail Merkle authentication")
    aux_rows = stream.dequeue("MasterAuxTableRows").payload
    aux_auth = stream.dequeue("AuthenticationStructure").payload
    if len(aux_rows) != len(indices) or not merkle.verify(aux_root, tree_height, indices,
                                                          tip5.hash_rows(aux_rows.reshape(len(aux_rows), -1)),
                                                          aux_auth):
        raise VerificationError("aux table rows fail Merkle authentication")
    segment_rows = stream.dequeue("QuotientSegmentsElements").payload
    segment_auth = stream.dequeue("AuthenticationStructure").payload
    if len(segment_rows) != len(indices) or not merkle.verify(
            quotient_root, tree_height, indices, tip5.hash_rows(segment_rows.reshape(len(segment_rows), -1)),
            segment_auth):
        raise VerificationError("quotient segment rows fail Merkle authentication")
    checks = params.num_collinearity_checks
    if not len(indices) == len(fri_values) == len(main_rows) == len(aux_rows) == len(segment_rows) == checks:
        raise VerificationError(f"expected {checks} revealed rows of every kind")
    if not stream.fully_consumed():
        raise VerificationError("proof has items after the last expected one")

    # Every revealed row must reproduce the FRI codeword's value there (the DEEP combination).
    for i, index in enumerate(indices):
        x = d.fri.value(index)
        row = np.concatenate([xfield.lift(main_rows[i]), aux_rows[i]])
        row_value = xfield.dot(row_weights, row)
        segment_value = xfield.dot(segment_weights, segment_rows[i])
        components = np.stack([
            _deep_update(x, row_value, alpha, ood_curr_value),
            _deep_update(x, row_value, alpha_next, ood_next_value),
            _deep_update(x, segment_value, alpha_pow_segments, ood_segment_value),
        ])
        if not np.array_equal(xfield.dot(deep_weights, components), fri_values[i]):
            raise VerificationError(f"combination codeword mismatch at revealed row {index}")
