"""End-to-end checks of the NTT / LDE / evaluate_at conventions against the reference prover.

The randomized trace interpolants of halt's master tables, evaluated on the FRI domain and hashed row by
row, must give the Merkle roots of the reference proof (items 1 and 2, also in tables/halt.meta.json);
evaluated at the out-of-domain point alpha and at w*alpha they must give proof items 4 to 7.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import VECTORS, load_json
from tvmpd.stages import field as F
from tvmpd.stages import merkle, rng, tip5
from tvmpd.stages import ntt as N
from tvmpd.stages import xfield as X
from tvmpd.stages.proof import from_bincode
from tvmpd.stages.proof_stream import ProofStream

NUM_RANDOMIZERS = 98
FRI_OFFSET = 7


def randomized_interpolant(trace: np.ndarray, randomizers: np.ndarray) -> np.ndarray:
    """Coefficients (along axis 0) of I(X) + (X^n - 1) * r(X), I interpolating the trace on <w_n>."""
    n = trace.shape[0]
    r = np.moveaxis(randomizers, 0, 1)  # (columns, k, ...) -> (k, columns, ...)
    coeffs = np.zeros((n + r.shape[0],) + trace.shape[1:], dtype=np.uint64)
    coeffs[:n] = N.intt(trace)
    coeffs[: r.shape[0]] = F.sub(coeffs[: r.shape[0]], r)
    coeffs[n:] = F.add(coeffs[n:], r)
    return coeffs


@pytest.fixture(scope="module")
def halt():
    if not (VECTORS / "tables" / "halt.npz").is_file():
        pytest.skip("reference table dump missing")
    tables = np.load(VECTORS / "tables" / "halt.npz")
    meta = load_json("tables/halt.meta.json")
    return tables, meta, bytes.fromhex(meta["seed"])


def test_main_table_lde_gives_reference_merkle_root(halt):
    tables, meta, seed = halt
    main = tables["main"]
    n = main.shape[0]
    fri = meta["domains"]["fri"]
    assert fri["offset"] == FRI_OFFSET and fri["generator"] == F.primitive_root(fri["length"])
    randomizers = rng.main_trace_randomizers(seed, main.shape[1], NUM_RANDOMIZERS)
    coeffs = randomized_interpolant(main, randomizers)
    lde = N.coset_evaluate(coeffs, FRI_OFFSET, fri["length"])
    # the randomized interpolant agrees with the trace on the trace domain
    assert (N.coset_evaluate(coeffs, 1, n) == main).all()
    nodes = merkle.build_tree(tip5.hash_rows(lde))
    assert merkle.root(nodes) == meta["main_merkle_root"]["values"]


def test_aux_table_lde_gives_reference_merkle_root(halt):
    tables, meta, seed = halt
    aux = tables["aux"]
    n = aux.shape[0]
    _, randomizers = rng.aux_randomness(seed, tables["main"].shape[1], aux.shape[1], n, NUM_RANDOMIZERS)
    coeffs = randomized_interpolant(aux, randomizers)
    assert (N.coset_evaluate(coeffs, 1, n) == aux).all()
    lde = N.coset_evaluate(coeffs, FRI_OFFSET, meta["domains"]["fri"]["length"])
    nodes = merkle.build_tree(tip5.hash_rows(lde.reshape(lde.shape[0], -1)))
    assert merkle.root(nodes) == meta["aux_merkle_root"]["values"]


def test_out_of_domain_rows_match_reference_proof(halt):
    tables, meta, seed = halt
    main, aux = tables["main"], tables["aux"]
    n = main.shape[0]
    transcript = load_json("proofs/halt.transcript.json")
    stream = ProofStream.from_proof(from_bincode((VECTORS / "proofs" / "halt.proof").read_bytes()))
    stream.absorb(transcript["claim_encoding"])
    stream.dequeue("Log2PaddedHeight")
    stream.dequeue("MerkleRoot")
    stream.sample_scalars(59)
    stream.dequeue("MerkleRoot")
    stream.sample_scalars(604)
    stream.dequeue("MerkleRoot")
    alpha = stream.sample_scalars(1)[0]
    next_alpha = X.mul_base(alpha, F.primitive_root(n))
    main_randomizers = rng.main_trace_randomizers(seed, main.shape[1], NUM_RANDOMIZERS)
    main_coeffs = randomized_interpolant(main, main_randomizers)
    _, aux_randomizers = rng.aux_randomness(seed, main.shape[1], aux.shape[1], n, NUM_RANDOMIZERS)
    aux_coeffs = randomized_interpolant(aux, aux_randomizers)
    for point, (main_item, aux_item) in [(alpha, (4, 5)), (next_alpha, (6, 7))]:
        assert N.evaluate_at(main_coeffs, point).tolist() == transcript["items"][main_item]["value"]
        assert N.evaluate_at(aux_coeffs, point).tolist() == transcript["items"][aux_item]["value"]
