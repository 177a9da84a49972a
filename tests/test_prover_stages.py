"""Prover stages against the reference dumps: randomized LDE + Merkle roots of the main and aux tables."""

import json

import numpy as np
import pytest

from tvmpd.stages import field, ntt
from tvmpd.stages.domains import derive
from tvmpd.stages.host_backend import commit, randomized_interpolants, zerofier_inverses
from tvmpd.stages.rng import aux_randomness, main_trace_randomizers
from tvmpd.stages.transforms import NumpyTransforms


@pytest.mark.parametrize("name", ["halt", "all_tables"])
def test_main_and_aux_roots_equal_reference(vectors, name):
    tables = np.load(vectors / "tables" / f"{name}.npz")
    transcript = json.loads((vectors / "proofs" / f"{name}.transcript.json").read_text())
    seed = bytes.fromhex(transcript["seed"])
    d = derive(tables["main"].shape[0])
    backend = NumpyTransforms()
    main = commit(tables["main"], main_trace_randomizers(seed, 379, 98), d, backend)
    assert main.tree[1].tolist() == transcript["items"][1]["value"]["values"]
    _, aux_randomizers = aux_randomness(seed, 379, 91, d.trace.length, 98)
    aux = commit(tables["aux"], aux_randomizers, d, backend)
    assert aux.tree[1].tolist() == transcript["items"][2]["value"]["values"]


def test_randomized_interpolant_agrees_with_trace_on_trace_domain():
    rng = np.random.default_rng(5)
    d = derive(256)
    trace = rng.integers(0, 2**63, size=(256, 3), dtype=np.uint64)
    randomizers = rng.integers(0, 2**63, size=(3, 98), dtype=np.uint64)
    coeffs = randomized_interpolants(trace, randomizers, d, NumpyTransforms())
    assert coeffs.shape == (512, 3)
    # On the trace domain the zerofier vanishes, so the randomized polynomial still takes the trace values.
    np.testing.assert_array_equal(ntt.coset_evaluate(coeffs, 1, 256), trace)


def test_zerofier_inverses():
    d = derive(256)
    z = zerofier_inverses(d)
    x = d.fri.values()
    np.testing.assert_array_equal(field.mul(z["initial"], field.sub(x, np.uint64(1))), np.ones_like(x))
    np.testing.assert_array_equal(field.mul(z["terminal"], field.sub(x, np.uint64(field.inv_int(
        d.trace.generator)))), np.ones_like(x))
