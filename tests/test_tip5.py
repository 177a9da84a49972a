"""Tip5 known-answer tests against the reference vectors (shared/vectors/tip5.json) and spec §13."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import load_json
from hypothesis import given, settings
from hypothesis import strategies as st

from tvmpd.stages import tip5

P = tip5.P


@pytest.fixture(scope="module")
def v(vectors):
    return load_json("tip5.json")


def digest_hex(d: list[int]) -> str:
    return b"".join(x.to_bytes(8, "little") for x in d).hex()


# ---------------------------------------------------------------------------------------------
# constants


def test_lookup_table_is_offset_fermat_cube_map():
    assert len(tip5.LOOKUP_TABLE) == 256
    assert list(tip5.LOOKUP_TABLE) == [((i + 1) ** 3 - 1) % 257 for i in range(256)]
    assert sorted(tip5.LOOKUP_TABLE) == list(range(256))


def test_constant_shapes():
    assert len(tip5.ROUND_CONSTANTS) == 80 and all(0 <= c < P for c in tip5.ROUND_CONSTANTS)
    assert len(tip5.MDS_FIRST_COLUMN) == 16
    assert tip5.RATE == 10 and tip5.NUM_ROUNDS == 5


# ---------------------------------------------------------------------------------------------
# scalar path against the reference vectors


def test_fixed_hash_varlen(v):
    for case in v["fixed"]["hash_varlen"]:
        assert tip5.hash_varlen(case["input"]) == case["digest"]["values"], case["input_name"]
        assert digest_hex(tip5.hash_varlen(case["input"])) == case["digest"]["hex"]


def test_fixed_hash_pair(v):
    for case in v["fixed"]["hash_pair"]:
        assert tip5.hash_pair(case["left"]["values"], case["right"]["values"]) == case["digest"]["values"]


def test_fixed_hash_10(v):
    case = v["fixed"]["hash_10"]
    assert tip5.hash_10(case["input"]) == case["output"]


def test_fixed_permutations_and_round_states(v):
    case = v["fixed"]["permutation_of_0_to_15"]
    assert tip5.permutation(case["input"]) == case["output"]
    trace = tip5.permutation_trace(case["input"])
    assert trace.dtype == np.uint64 and trace.shape == (6, 16)
    assert trace.tolist() == case["round_states"]
    assert tip5.permutation([P - 1] * 16) == v["fixed"]["permutation_of_all_p_minus_1"]["output"]


def test_fixed_sponge(v):
    case = v["fixed"]["sponge"]
    sponge = tip5.Sponge.init()
    sponge.pad_and_absorb_all(list(range(21)))
    scalars = sponge.sample_scalars(3)
    assert scalars.dtype == np.uint64 and scalars.shape == (3, 3)
    assert scalars.tolist() == case["sample_scalars_3"]
    assert sponge.sample_indices(1024, 5) == case["sample_indices_1024_5"]
    assert sponge.state == case["state_after"]


@pytest.mark.parametrize("kind", ["hash_varlen", "hash_10"])
def test_random_hashes(v, kind):
    fn = getattr(tip5, kind)
    cases = v["random"][kind]
    assert len(cases) == 16
    for case in cases:
        want = case["digest"]["values"] if isinstance(case["digest"], dict) else case["digest"]
        assert fn(case["input"]) == want


def test_random_hash_pair(v):
    for case in v["random"]["hash_pair"]:
        assert tip5.hash_pair(case["left"]["values"], case["right"]["values"]) == case["digest"]["values"]


def test_random_permutation(v):
    for case in v["random"]["permutation"]:
        assert tip5.permutation(case["input"]) == case["output"]
        assert tip5.permutation_trace(case["input"])[-1].tolist() == case["output"]


# ---------------------------------------------------------------------------------------------
# upstream snapshot values (spec §13)


def test_hash10_chain_snapshot(v):
    preimage = [0] * 10
    for i in range(6):
        preimage[i : i + 5] = tip5.hash_10(preimage)
    got = digest_hex(tip5.hash_10(preimage))
    assert got == "109cc2fe453bd9962f754b96d8f5b919b60af030940a275f5540da195fef65ee651c1b6fa19b2c6a"
    assert got == v["self_checks"]["hash10_test_vectors_snapshot"]["expected_upstream"]


def test_hash_varlen_sum_snapshot(v):
    acc = [0] * 5
    for i in range(20):
        acc = [(a + b) % P for a, b in zip(acc, tip5.hash_varlen(list(range(i))), strict=True)]
    got = digest_hex(acc)
    assert got == "efbafa86622a9c69652f8a1c4ffd734f021ad23a0a8085412a877de0f9170b18ea4ff69b6fff9a03"
    assert got == v["self_checks"]["hash_varlen_test_vectors_sum"]["expected_upstream"]


def test_tip5_paper_and_zero_vectors():
    assert tip5.hash_varlen([0]) == [
        4843866011885844809,
        16618866032559590857,
        18247689143239181392,
        7637465675240023996,
        9104890367162237026,
    ]
    assert digest_hex(tip5.hash_10([0] * 10)) == (
        "cd65052100640f0d27e5654f97c47e49899add2f265967ccbefee7264e9bc08f588542d9dc3d5ac5"
    )


# ---------------------------------------------------------------------------------------------
# sponge semantics


def test_sponge_semantics():
    s = tip5.Sponge()
    assert s.state == [0] * 16
    assert tip5.Sponge(fixed_length=True).state == [0] * 10 + [1] * 6
    # absorb overwrites the rate
    s.absorb(list(range(10)))
    assert s.state == tip5.permutation(list(range(10)) + [0] * 6)
    # squeeze returns the rate, then permutes
    before = list(s.state)
    assert s.squeeze() == before[:10]
    assert s.state == tip5.permutation(before)
    # a multiple of 10 gets one extra padding block
    a = tip5.Sponge()
    a.pad_and_absorb_all(list(range(10)))
    b = tip5.Sponge()
    b.absorb(list(range(10)))
    b.absorb([1] + [0] * 9)
    assert a.state == b.state
    assert tip5.hash_varlen(list(range(10))) == a.state[:5]
    c = a.copy()
    c.squeeze()
    assert c.state != a.state


def test_sample_scalars_discards_leftovers():
    a = tip5.Sponge()
    b = tip5.Sponge()
    got = a.sample_scalars(4)  # 12 elements -> 2 squeezes, 8 discarded
    flat = b.squeeze() + b.squeeze()
    assert got.reshape(-1).tolist() == flat[:12]
    assert a.state == b.state
    assert tip5.Sponge().sample_scalars(0).shape == (0, 3)


def test_sample_indices_skips_p_minus_1_and_drops_leftovers():
    s = tip5.Sponge()
    s.state = [P - 1] + list(range(1, 10)) + [0] * 6
    first = s.state[:10]
    s2 = tip5.Sponge()
    s2.state = list(s.state)
    got = s.sample_indices(8, 3)
    assert got == [x % 8 for x in first[1:4]]
    # leftovers are not kept: the next call squeezes afresh
    s2.squeeze()
    expect_next = s2.squeeze()
    assert s.sample_indices(2**32, 2) == [x & 0xFFFFFFFF for x in expect_next if x != P - 1][:2]
    s3 = tip5.Sponge()
    s3.state = [P - 1] * 10 + [0] * 6
    nxt = tip5.permutation(s3.state)[:10]
    assert s3.sample_indices(16, 10) == [x % 16 for x in nxt if x != P - 1][:10]


# ---------------------------------------------------------------------------------------------
# input validation


@pytest.mark.parametrize(
    "call",
    [
        lambda: tip5.permutation([0] * 15),
        lambda: tip5.permutation([0] * 17),
        lambda: tip5.permutation([P] + [0] * 15),
        lambda: tip5.permutation([-1] + [0] * 15),
        lambda: tip5.permutation([0.0] * 16),
        lambda: tip5.permutation(["1"] * 16),
        lambda: tip5.permutation_trace([0] * 3),
        lambda: tip5.hash_10([0] * 9),
        lambda: tip5.hash_pair([0] * 5, [0] * 4),
        lambda: tip5.hash_pair([0] * 5, [P] * 5),
        lambda: tip5.hash_varlen([P]),
        lambda: tip5.hash_varlen(np.zeros(3, dtype=np.float64)),
        lambda: tip5.hash_varlen(None),
        lambda: tip5.hash_varlen([True]),
        lambda: tip5.hash_varlen([np.float64(1)]),
        lambda: tip5.hash_varlen([2**64]),
        lambda: tip5.Sponge().absorb([0] * 11),
        lambda: tip5.Sponge().sample_indices(1000, 3),
        lambda: tip5.Sponge().sample_indices(0, 3),
        lambda: tip5.Sponge().sample_indices(2**33, 3),
        lambda: tip5.Sponge().sample_indices(8, -1),
        lambda: tip5.Sponge().sample_scalars(-1),
        lambda: tip5.Sponge().sample_scalars(1.5),
    ],
)
def test_bad_input_raises(call):
    with pytest.raises(ValueError):
        call()


def test_accepts_numpy_inputs():
    xs = np.arange(16, dtype=np.uint64)
    assert tip5.permutation(xs) == tip5.permutation(list(range(16)))
    assert tip5.hash_varlen(np.array([1, 2, 3], dtype=np.uint64)) == tip5.hash_varlen([1, 2, 3])
    assert tip5.hash_varlen([np.uint64(1), np.int64(2), 3]) == tip5.hash_varlen([1, 2, 3])
    assert tip5.hash_varlen(range(1, 4)) == tip5.hash_varlen((1, 2, 3))
    assert tip5.hash_varlen(x for x in [1, 2, 3]) == tip5.hash_varlen([1, 2, 3])


# ---------------------------------------------------------------------------------------------
# batched numpy path against the scalar path and the vectors


def _random_field(rng, shape) -> np.ndarray:
    a = rng.integers(0, P, size=shape, dtype=np.uint64)
    flat = a.reshape(-1)
    edge = np.array([0, 1, P - 1, 2**32, 2**32 - 1, P - 2], dtype=np.uint64)
    pick = rng.integers(0, flat.size, size=min(flat.size, 8 * 6)) if flat.size else []
    for k, i in enumerate(pick):
        flat[i] = edge[k % edge.size]
    return a


def test_permute_batch_matches_vectors_and_scalar(v):
    cases = v["random"]["permutation"]
    states = np.array([c["input"] for c in cases], dtype=np.uint64)
    got = tip5.permute_batch(states)
    assert got.dtype == np.uint64 and got.shape == states.shape
    assert got.tolist() == [c["output"] for c in cases]
    rng = np.random.default_rng(5)
    states = _random_field(rng, (40, 16))
    states[0] = P - 1
    states[1] = 0
    got = tip5.permute_batch(states)
    assert got.tolist() == [tip5.permutation(s) for s in states.tolist()]
    assert tip5.permute_batch(np.zeros((0, 16), dtype=np.uint64)).shape == (0, 16)


def test_permute_batch_spans_blocks(monkeypatch):
    monkeypatch.setattr(tip5, "_BATCH", 7)
    rng = np.random.default_rng(6)
    states = _random_field(rng, (17, 16))
    assert tip5.permute_batch(states).tolist() == [tip5.permutation(s) for s in states.tolist()]
    rows = _random_field(rng, (17, 13))
    assert tip5.hash_rows(rows).tolist() == [tip5.hash_varlen(r) for r in rows.tolist()]


@pytest.mark.parametrize("width", [0, 1, 9, 10, 12, 273, 379])
def test_hash_rows_matches_scalar(width):
    rng = np.random.default_rng(width)
    rows = _random_field(rng, (12, width))
    got = tip5.hash_rows(rows)
    assert got.dtype == np.uint64 and got.shape == (12, 5)
    assert got.tolist() == [tip5.hash_varlen(r) for r in rows.tolist()]


def test_hash_rows_matches_vectors(v):
    for case in v["fixed"]["hash_varlen"] + v["random"]["hash_varlen"]:
        row = np.array([case["input"]], dtype=np.uint64).reshape(1, -1)
        assert tip5.hash_rows(row)[0].tolist() == case["digest"]["values"]


def test_hash_pairs_matches_vectors_and_scalar(v):
    cases = v["fixed"]["hash_pair"] + v["random"]["hash_pair"]
    left = np.array([c["left"]["values"] for c in cases], dtype=np.uint64)
    right = np.array([c["right"]["values"] for c in cases], dtype=np.uint64)
    assert tip5.hash_pairs(left, right).tolist() == [c["digest"]["values"] for c in cases]
    rng = np.random.default_rng(8)
    left = _random_field(rng, (20, 5))
    right = _random_field(rng, (20, 5))
    want = [tip5.hash_pair(a, b) for a, b in zip(left.tolist(), right.tolist(), strict=True)]
    assert tip5.hash_pairs(left, right).tolist() == want


@pytest.mark.parametrize(
    "call",
    [
        lambda: tip5.permute_batch(np.zeros((3, 15), dtype=np.uint64)),
        lambda: tip5.permute_batch(np.zeros(16, dtype=np.uint64)),
        lambda: tip5.permute_batch(np.zeros((3, 16), dtype=np.int64)),
        lambda: tip5.permute_batch([[0] * 16]),
        lambda: tip5.permute_batch(np.full((2, 16), P, dtype=np.uint64)),
        lambda: tip5.hash_rows(np.zeros((2, 3), dtype=np.float64)),
        lambda: tip5.hash_rows(np.full((2, 3), 2**64 - 1, dtype=np.uint64)),
        lambda: tip5.hash_rows(np.zeros((2, 3, 3), dtype=np.uint64)),
        lambda: tip5.hash_pairs(np.zeros((2, 5), dtype=np.uint64), np.zeros((3, 5), dtype=np.uint64)),
        lambda: tip5.hash_pairs(np.zeros((2, 4), dtype=np.uint64), np.zeros((2, 4), dtype=np.uint64)),
    ],
)
def test_batch_bad_input_raises(call):
    with pytest.raises(ValueError):
        call()


def test_batch_does_not_modify_inputs():
    for n in [1, 3]:
        states = np.arange(16 * n, dtype=np.uint64).reshape(n, 16)
        before = states.copy()
        tip5.permute_batch(states)
        assert np.array_equal(states, before)
    rows = np.arange(24, dtype=np.uint64).reshape(2, 12)
    before = rows.copy()
    tip5.hash_rows(rows)
    assert np.array_equal(rows, before)


def test_inplace_field_mul_kernel_edge_values():
    # the allocation-free multiply used by the batch permutation, on all pairs of edge values
    edge = [0, 1, 2, P - 1, P - 2, 2**32, 2**32 - 1, 2**32 + 1, 2**63, 2**64 - 2**32, (P - 1) // 2]
    edge += np.random.default_rng(9).integers(0, P, size=20, dtype=np.uint64).tolist()
    a = np.array([x for x in edge for _ in edge], dtype=np.uint64)
    b = np.array([y for _ in edge for y in edge], dtype=np.uint64)
    out = np.empty_like(a)
    w = [np.empty_like(a) for _ in range(5)]
    tip5._mul_into(a, b, out, w)
    assert out.tolist() == [x * y % P for x, y in zip(a.tolist(), b.tolist(), strict=True)]
    tip5._mul_into(a, tip5._R, out, w)
    assert out.tolist() == [x * 2**64 % P for x in a.tolist()]
    # lazily reduced results are congruent and may themselves be multiplied again
    tip5._mul_into(a, b, out, w, False)
    assert [x % P for x in out.tolist()] == [x * y % P for x, y in zip(a.tolist(), b.tolist(), strict=True)]
    big = np.array([2**64 - 1, 2**64 - 2, P, P + 5] * 3, dtype=np.uint64)
    out = np.empty_like(big)
    tip5._mul_into(big, big[::-1].copy(), out, [np.empty_like(big) for _ in range(5)])
    assert out.tolist() == [x * y % P for x, y in zip(big.tolist(), big[::-1].tolist(), strict=True)]


# ---------------------------------------------------------------------------------------------
# compiled path (generated LLVM IR, built by llvmlite) against the vectors and the pure-Python oracle

ELEMENTS = st.one_of(st.integers(0, P - 1), st.sampled_from([0, 1, 2**32 - 1, 2**32, 2**63, P - 2, P - 1]))
STATES = st.lists(st.lists(ELEMENTS, min_size=16, max_size=16), min_size=0, max_size=6)


def scalar_absorb(state: list[int], words: list[int]) -> list[int]:
    """Overwrite the rate with each block of 10 words and permute, by the pure-Python permutation."""
    for k in range(0, len(words), tip5.RATE):
        state = tip5.permutation(words[k : k + tip5.RATE] + state[tip5.RATE :])
    return state


def test_compiled_permutation_matches_vectors(v):
    cases = v["random"]["permutation"] + [v["fixed"]["permutation_of_0_to_15"]]
    states = np.array([c["input"] for c in cases] + [[P - 1] * 16], dtype=np.uint64)
    tip5.permute_states(states)
    want = [c["output"] for c in cases] + [v["fixed"]["permutation_of_all_p_minus_1"]["output"]]
    assert states.tolist() == want


@settings(max_examples=60, deadline=None)
@given(STATES)
def test_compiled_permutation_equals_the_scalar_oracle(states):
    got = np.array(states, dtype=np.uint64).reshape(-1, 16)
    tip5.permute_states(got)
    assert got.tolist() == [tip5.permutation(s) for s in states]


@settings(max_examples=40, deadline=None)
@given(STATES, st.integers(0, 4), st.randoms(use_true_random=False))
def test_compiled_absorption_equals_the_scalar_oracle(states, blocks, random):
    words = [[random.randrange(P) for _ in range(tip5.RATE * blocks)] for _ in states]
    got = np.array(states, dtype=np.uint64).reshape(-1, 16)
    tip5.absorb_states(got, np.array(words, dtype=np.uint64).reshape(len(states), tip5.RATE * blocks))
    assert got.tolist() == [scalar_absorb(s, w) for s, w in zip(states, words, strict=True)]


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 5), st.integers(0, 45), st.randoms(use_true_random=False))
def test_compiled_row_and_pair_hashes_equal_the_scalar_oracle(n, width, random):
    rows = [[random.randrange(P) for _ in range(width)] for _ in range(n)]
    want = [scalar_absorb([0] * 16, r + [1] + [0] * ((-width - 1) % tip5.RATE))[:5] for r in rows]
    assert tip5.hash_rows_native(np.array(rows, dtype=np.uint64).reshape(n, width)).tolist() == want
    pairs = [[random.randrange(P) for _ in range(10)] for _ in range(n)]
    both = np.array(pairs, dtype=np.uint64).reshape(n, 10)
    left, right = both[:, :5], both[:, 5:]
    want = [tip5.permutation(p + [1] * tip5.CAPACITY)[:5] for p in pairs]
    assert tip5.hash_pairs_native(left, right).tolist() == want


@pytest.mark.parametrize(
    "call",
    [
        lambda: tip5.permute_states(np.zeros((2, 15), dtype=np.uint64)),
        lambda: tip5.permute_states(np.zeros((2, 16), dtype=np.int64)),
        lambda: tip5.permute_states(np.zeros((16, 2), dtype=np.uint64).T),
        lambda: tip5.permute_states(np.zeros(16, dtype=np.uint64)),
        lambda: tip5.absorb_states(np.zeros((2, 16), dtype=np.uint64), np.zeros((2, 15), dtype=np.uint64)),
        lambda: tip5.absorb_states(np.zeros((2, 16), dtype=np.uint64), np.zeros((3, 10), dtype=np.uint64)),
        lambda: tip5.hash_pairs_native(np.zeros((2, 5), dtype=np.uint64), np.zeros((3, 5), dtype=np.uint64)),
        lambda: tip5.hash_rows_native(np.full((1, 3), P, dtype=np.uint64)),
    ],
)
def test_compiled_path_refuses_arrays_it_cannot_read(call):
    with pytest.raises(ValueError):
        call()


def test_compiled_code_is_built_once_then_loaded_from_the_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("TVMPD_KERNEL_CACHE", str(tmp_path))
    monkeypatch.setattr(tip5, "_LIBRARY", None)
    state = np.arange(16, dtype=np.uint64).reshape(1, 16)
    tip5.permute_states(state)
    stored = [p.name[:5] for p in (tmp_path / "host").iterdir() if not p.name.startswith(".")]  # no lock
    assert stored == ["tip5-"]

    def no_compile(*_args):
        raise AssertionError("compiled again although the cache holds the object file")

    monkeypatch.setattr(tip5, "_LIBRARY", None)
    monkeypatch.setattr(tip5._Library, "_compile", staticmethod(no_compile))
    again = np.arange(16, dtype=np.uint64).reshape(1, 16)
    tip5.permute_states(again)
    assert again.tolist() == state.tolist() == [tip5.permutation(list(range(16)))]


def test_an_unwritable_cache_only_costs_a_compile(monkeypatch, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("TVMPD_KERNEL_CACHE", str(blocker))
    monkeypatch.setattr(tip5, "_LIBRARY", None)
    assert tip5.hash_varlen([1, 2, 3]) == scalar_absorb([0] * 16, [1, 2, 3, 1] + [0] * 6)[:5]
