"""Domains and FRI shape per padded height equal the reference's params.json."""

import pytest

from tests.conftest import load_json
from tvmpd.stages import field
from tvmpd.stages.domains import StarkParams, derive, of_length, powers


def test_default_parameters():
    ref = load_json("params.json")["stark_default"]
    p = StarkParams()
    assert (p.security_level, p.fri_expansion_factor, p.num_trace_randomizers, p.num_collinearity_checks) == (
        ref["security_level"], ref["fri_expansion_factor"], ref["num_trace_randomizers"],
        ref["num_collinearity_checks"])


@pytest.mark.parametrize("entry", load_json("params.json")["per_padded_height"],
                         ids=lambda e: str(e["log2_padded_height"]))
def test_domains_per_padded_height(entry):
    d = derive(entry["padded_height"])
    for name in ("trace", "randomized_trace", "quotient", "fri"):
        dom = getattr(d, name)
        assert (dom.length, dom.offset, dom.generator) == tuple(
            entry[f"{name}_domain"][k] for k in ("length", "offset", "generator")), name
    assert d.max_degree == entry["max_degree"]
    assert d.interpolant_degree == entry["interpolant_degree"]
    assert d.num_fri_rounds == entry["fri_num_rounds"]
    assert d.fri_last_round_max_degree == entry["fri_last_round_max_degree"]


def test_domain_values_and_pow():
    dom = of_length(16, 7)
    vals = dom.values()
    assert [int(v) for v in vals] == [dom.value(i) for i in range(16)]
    sq = dom.pow(2)
    assert [int(v) for v in sq.values()] == [v * v % field.P for v in map(int, vals[:8])]
    assert [int(x) for x in powers(3, 5)] == [1, 3, 9, 27, 81]


def test_bad_lengths():
    with pytest.raises(ValueError):
        of_length(12)
    with pytest.raises(ValueError):
        derive(300)
