"""The Triton VM v7.0.0 STARK verifier, step for step as the reference's `Verifier::verify`.

`verify(claim, proof)` returns None for a valid proof and raises VerificationError naming the first
check that fails otherwise.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from tvmpd.stages import field, merkle, tip5, xfield
from tvmpd.stages import fri as fri_mod
from tvmpd.stages.domains import MAX_LOG2_PADDED_HEIGHT, NUM_QUOTIENT_SEGMENTS, StarkParams, derive
from tvmpd.stages.profile import TRITON_VM_V7, ProofProfile, UnsupportedProofVersion, profile_for
from tvmpd.stages.proof import ProofFormatError, encode_claim
from tvmpd.stages.proof_stream import ProofStream

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


def _deep_update(x: np.ndarray, value_at_x: np.ndarray, z: np.ndarray, value_at_z: np.ndarray) -> np.ndarray:
    """(f(x) - f(z)) / (x - z): the DEEP quotient terms at FRI domain points x (n, 3), values (n, 3)."""
    denominator = xfield.sub(x, z)
    return xfield.mul(xfield.sub(value_at_x, value_at_z), xfield.inv(denominator))


def ood_constraint_values(main_curr: np.ndarray, aux_curr: np.ndarray, main_next: np.ndarray,
                          aux_next: np.ndarray, challenges: np.ndarray, air=None) -> dict[str, np.ndarray]:
    """All lowered AIR constraints (air: a LoweredAir; None: the v7.0.0 one) at one out-of-domain row pair
    (main rows are extension elements), by a compiled walk over the flattened circuits."""
    air = air if air is not None else TRITON_VM_V7.lowered_air()
    rows = tuple(np.ascontiguousarray(r, dtype=np.uint64).reshape(-1, 3)
                 for r in (main_curr, aux_curr, main_next, aux_next))
    challenges = np.ascontiguousarray(challenges, dtype=np.uint64)
    return {category: _evaluate_at_point(*_flat_circuit(air, category), *rows, challenges)
            for category in ("initial", "consistency", "terminal", "transition")}


# node kinds of a flattened circuit
_CONST, _CHALLENGE, _MAIN, _AUX, _ADD, _MUL = range(6)
_FLAT: dict[tuple[int, str], tuple[np.ndarray, ...]] = {}  # (id of a LoweredAir, category) -> arrays


def _flat_circuit(air, category: str) -> tuple[np.ndarray, ...]:
    """One category of a lowered AIR as arrays in evaluation order: kind, two operands (node indices
    of a sum or product; column or challenge index and is-next for an input), constants, roots."""
    key = (id(air), category)
    if key in _FLAT:
        return _FLAT[key]
    from tvmpd.stages.air.circuit import BCONST, BINOP, CHALLENGE, INPUT, XCONST, _postorder

    roots = air.constraints[category]
    order = _postorder(roots)
    index = {node.id: i for i, node in enumerate(order)}
    kind = np.empty(len(order), dtype=np.int64)
    a = np.zeros(len(order), dtype=np.int64)
    b = np.zeros(len(order), dtype=np.int64)
    consts = np.zeros((len(order), 3), dtype=np.uint64)
    for i, node in enumerate(order):
        if node.kind == BCONST:
            kind[i], consts[i, 0] = _CONST, node.value
        elif node.kind == XCONST:
            kind[i], consts[i] = _CONST, node.value
        elif node.kind == CHALLENGE:
            kind[i], a[i] = _CHALLENGE, node.value
        elif node.kind == INPUT:
            kind[i] = _MAIN if node.value.is_main else _AUX
            a[i], b[i] = node.value.col, getattr(node.value, "is_next", False)
        elif node.kind == BINOP:
            kind[i] = _ADD if node.op == "+" else _MUL
            a[i], b[i] = index[node.lhs.id], index[node.rhs.id]
        else:
            raise ValueError(f"unknown circuit node kind {node.kind}")
    _FLAT[key] = kind, a, b, consts, np.array([index[r.id] for r in roots], dtype=np.int64)
    return _FLAT[key]


@nb.njit(cache=True)
def _evaluate_at_point(kind, a, b, consts, roots, main_curr, aux_curr, main_next, aux_next, challenges):
    """Values (len(roots), 3) of a flattened circuit on one row pair of extension-field values."""
    vals = np.empty((kind.shape[0], 3), dtype=np.uint64)
    for i in range(kind.shape[0]):
        k = kind[i]
        if k == _CONST:
            vals[i] = consts[i]
        elif k == _CHALLENGE:
            vals[i] = challenges[a[i]]
        elif k == _MAIN:
            vals[i] = main_next[a[i]] if b[i] else main_curr[a[i]]
        elif k == _AUX:
            vals[i] = aux_next[a[i]] if b[i] else aux_curr[a[i]]
        elif k == _ADD:
            for j in range(3):
                vals[i, j] = tip5.nb_add(vals[a[i], j], vals[b[i], j])
        else:  # product in F_p[x]/(x^3 - x + 1)
            x0, x1, x2 = vals[a[i], 0], vals[a[i], 1], vals[a[i], 2]
            y0, y1, y2 = vals[b[i], 0], vals[b[i], 1], vals[b[i], 2]
            m = tip5.nb_mul
            vals[i, 0] = tip5.nb_sub(tip5.nb_sub(m(x0, y0), m(x2, y1)), m(x1, y2))
            vals[i, 1] = tip5.nb_add(tip5.nb_add(tip5.nb_sub(tip5.nb_add(m(x1, y0), m(x0, y1)), m(x2, y2)),
                                                 m(x2, y1)), m(x1, y2))
            vals[i, 2] = tip5.nb_add(tip5.nb_add(tip5.nb_add(m(x2, y0), m(x1, y1)), m(x0, y2)), m(x2, y2))
    out = np.empty((roots.shape[0], 3), dtype=np.uint64)
    for r in range(roots.shape[0]):
        out[r] = vals[roots[r]]
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
                                                           tip5.hash_rows_native(main_rows), main_auth):
        raise VerificationError("main table rows fail Merkle authentication")
    aux_rows = stream.dequeue("MasterAuxTableRows").payload
    aux_auth = stream.dequeue("AuthenticationStructure").payload
    if len(aux_rows) != len(indices) or not merkle.verify(
            aux_root, tree_height, indices, tip5.hash_rows_native(aux_rows.reshape(len(aux_rows), -1)),
            aux_auth):
        raise VerificationError("aux table rows fail Merkle authentication")
    segment_rows = stream.dequeue("QuotientSegmentsElements").payload
    segment_auth = stream.dequeue("AuthenticationStructure").payload
    if len(segment_rows) != len(indices) or not merkle.verify(
            quotient_root, tree_height, indices,
            tip5.hash_rows_native(segment_rows.reshape(len(segment_rows), -1)), segment_auth):
        raise VerificationError("quotient segment rows fail Merkle authentication")
    checks = params.num_collinearity_checks
    if not len(indices) == len(fri_values) == len(main_rows) == len(aux_rows) == len(segment_rows) == checks:
        raise VerificationError(f"expected {checks} revealed rows of every kind")
    if not stream.fully_consumed():
        raise VerificationError("proof has items after the last expected one")

    # Every revealed row must reproduce the FRI codeword's value there (the DEEP combination).
    xs = xfield.lift(np.array([d.fri.value(index) for index in indices], dtype=np.uint64))
    rows = np.concatenate([xfield.lift(main_rows), aux_rows], axis=1)
    row_values = xfield.dot(rows, row_weights)
    segment_values = xfield.dot(segment_rows, segment_weights)
    components = np.stack([
        _deep_update(xs, row_values, alpha, ood_curr_value),
        _deep_update(xs, row_values, alpha_next, ood_next_value),
        _deep_update(xs, segment_values, alpha_pow_segments, ood_segment_value),
    ], axis=1)
    combined = xfield.dot(components, deep_weights)
    for i, index in enumerate(indices):
        if not np.array_equal(combined[i], fri_values[i]):
            raise VerificationError(f"combination codeword mismatch at revealed row {index}")
