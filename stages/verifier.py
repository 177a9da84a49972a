"""The Triton VM v7.0.0 STARK verifier, step for step as the reference's `Verifier::verify`.

`verify(claim, proof)` returns None for a valid proof and raises VerificationError naming the first
check that fails otherwise.
"""

from __future__ import annotations

import io

import numpy as np

from tvmpd.stages import disk_cache, field, merkle, tip5, xfield
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
                          aux_next: np.ndarray, challenges: np.ndarray,
                          profile: ProofProfile = TRITON_VM_V7) -> dict[str, np.ndarray]:
    """All lowered AIR constraints of a profile at one out-of-domain row pair (main rows are extension
    elements), each category (k, 3) uint64, by a walk over the flattened circuits in Python ints."""
    rows = [[tuple(v) for v in np.asarray(r, dtype=np.uint64).reshape(-1, 3).tolist()]
            for r in (main_curr, aux_curr, main_next, aux_next)]
    points = [tuple(v) for v in np.asarray(challenges, dtype=np.uint64).tolist()]
    return {category: np.array(_evaluate_at_point(flat, *rows, points), dtype=np.uint64).reshape(-1, 3)
            for category, flat in flat_air(profile).items()}


# node kinds of a flattened circuit
_CONST, _CHALLENGE, _MAIN, _AUX, _ADD, _MUL = range(6)
_FIELDS = ("kind", "a", "b", "consts", "roots")
_CATEGORIES = ("initial", "consistency", "transition", "terminal")
_FLAT_FORMAT = 1  # part of the cached file's name: bump when _flatten's output changes
_FLAT: dict[str, dict[str, tuple[list, ...]]] = {}  # AIR digest -> category -> lists of _FIELDS


def _flat_npz(profile: ProofProfile) -> bytes:
    """_flatten's arrays of a profile's lowered AIR as one .npz file's bytes (the disk cache's form)."""
    buffer = io.BytesIO()
    np.savez(buffer, **_flatten(profile.lowered_air()))
    return buffer.getvalue()


def flat_air(profile: ProofProfile) -> dict[str, tuple[list, ...]]:
    """Every category of a profile's lowered AIR as flat lists (see _flatten), read from the disk cache
    when one made from the same AIR sources is there: loading the lowered AIR itself takes ~0.2 s, a large
    part of a `tvmpd verify`."""
    digest = profile.air_digest()
    if digest not in _FLAT:
        name = f"air-{profile.version}-{digest[:32]}-{_FLAT_FORMAT}.npz"
        data = disk_cache.read_or_make(name, lambda: _flat_npz(profile))
        with np.load(io.BytesIO(data)) as stored:
            arrays = {key: stored[key] for key in stored.files}
        _FLAT[digest] = {c: tuple(arrays[f"{c}_{f}"].tolist() for f in _FIELDS) for c in _CATEGORIES}
    return _FLAT[digest]


def _flatten(air) -> dict[str, np.ndarray]:
    """Each category of a LoweredAir as arrays "<category>_<field>" in evaluation order: kind, two operands
    (node indices of a sum or product; column or challenge index and is-next for an input), constants,
    roots."""
    from tvmpd.stages.air.circuit import BCONST, BINOP, CHALLENGE, INPUT, XCONST, _postorder

    out = {}
    for category in _CATEGORIES:
        roots = air.constraints[category]
        order = _postorder(roots)
        index = {node.id: i for i, node in enumerate(order)}
        kind = np.empty(len(order), dtype=np.int8)
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
        fields = (kind, a, b, consts, np.array([index[r.id] for r in roots], dtype=np.int64))
        out.update({f"{category}_{name}": values for name, values in zip(_FIELDS, fields, strict=True)})
    return out


def _evaluate_at_point(flat: tuple[list, ...], main_curr: list, aux_curr: list, main_next: list,
                       aux_next: list, challenges: list) -> list[tuple[int, int, int]]:
    """Values of a flattened circuit's roots on one row pair of extension-field values (int triples)."""
    kinds, lhs, rhs, consts, roots = flat
    vals: list = []
    push = vals.append
    for k, a, b, c in zip(kinds, lhs, rhs, consts, strict=True):
        if k == _MUL:
            push(xfield.mul_int(vals[a], vals[b]))
        elif k == _ADD:
            push(xfield.add_int(vals[a], vals[b]))
        elif k == _CONST:
            push(c)
        elif k == _CHALLENGE:
            push(challenges[a])
        elif k == _MAIN:
            push(main_next[a] if b else main_curr[a])
        else:
            push(aux_next[a] if b else aux_curr[a])
    return [vals[r] for r in roots]


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
    quotient_weights = stream.sample_scalars(sum(len(flat[4]) for flat in flat_air(profile).values()))
    quotient_root = stream.dequeue("MerkleRoot").payload

    trace_gen = d.trace.generator
    alpha = stream.sample_scalars(1)[0]
    alpha_int = tuple(alpha.tolist())

    def alpha_pow(e: int) -> np.ndarray:  # Python ints: on one element much quicker than numpy
        return np.array(xfield.pow_int(alpha_int, e), dtype=np.uint64)

    alpha_next = xfield.mul_base(alpha, np.uint64(trace_gen))
    alpha_pow_segments = alpha_pow(NUM_QUOTIENT_SEGMENTS)
    ood_main_curr = stream.dequeue("OutOfDomainMainRow").payload
    ood_aux_curr = stream.dequeue("OutOfDomainAuxRow").payload
    ood_main_next = stream.dequeue("OutOfDomainMainRow").payload
    ood_aux_next = stream.dequeue("OutOfDomainAuxRow").payload
    ood_segments = stream.dequeue("OutOfDomainQuotientSegments").payload

    # The quotient at alpha, from the constraints, must equal the one the segments claim.
    values = ood_constraint_values(ood_main_curr, ood_aux_curr, ood_main_next, ood_aux_next, challenges,
                                   profile)
    one = xfield.lift(np.uint64(1))
    initial_zinv = xfield.inv(xfield.sub(alpha, one))
    consistency_zinv = xfield.inv(xfield.sub(alpha_pow(d.trace.length), one))
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
    alpha_powers = np.stack([alpha_pow(k) for k in range(NUM_QUOTIENT_SEGMENTS)])
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
