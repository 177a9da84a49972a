"""The reference prover's randomness: values upstream's tests pin, and the dumped aux randomizer column."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tvmpd.stages.rng import (
    P,
    StdRng,
    _wide_mul_p,
    aux_randomness,
    main_trace_randomizers,
    offset_seed,
    seed_from_u64,
)

GOLDEN_SEED = [155, 120, 138, 60, 201, 253, 212, 7, 164, 11, 228, 187, 89, 24, 142, 40, 170, 237, 213, 66, 70,
               110, 99, 157, 211, 16, 38, 194, 252, 164, 79, 15]


def test_std_rng_value_stability():
    rng = StdRng(bytes([1, 0, 0, 0, 23, 0, 0, 0, 200, 1, 0, 0, 210, 30, 0, 0] + [0] * 16))
    assert rng.next_u64() == 10719222850664546238


def test_seed_chain_of_upstream_golden_proof():
    seed = StdRng(seed_from_u64(4742841043836029231)).random_bytes32()
    assert list(seed) == GOLDEN_SEED


def test_main_randomizers_of_golden_proof():
    coeffs = main_trace_randomizers(bytes(GOLDEN_SEED), 2, 98)
    assert coeffs.shape == (2, 98)
    assert list(coeffs[0, :3]) == [15226235194605079826, 2680203312679791356, 3910046500044225081]
    assert coeffs[1, 0] == 12605966062609731505
    assert (coeffs < P).all()


@pytest.mark.parametrize("name", ["halt", "all_tables"])
def test_aux_randomizer_column_equals_reference_dump(vectors, name):
    tables = np.load(vectors / "tables" / f"{name}.npz")
    seed = bytes.fromhex((vectors / "proofs" / f"{name}.seed").read_text().strip())
    rows = tables["aux"].shape[0]
    column, randomizers = aux_randomness(seed, 379, 91, rows, 98)
    np.testing.assert_array_equal(column, tables["aux"][:, 90])
    assert randomizers.shape == (91, 98, 3)


def test_offset_seed_adds_bytewise_without_carry():
    seed = bytes([255] * 8 + [7] * 24)
    assert offset_seed(seed, 1) == bytes([0] + [255] * 7 + [7] * 24)
    assert offset_seed(seed, 0x0101) == bytes([0, 0] + [255] * 6 + [7] * 24)


def test_next_u64_across_a_buffer_refill_takes_low_word_first():
    a = StdRng(bytes(32))
    words = [a.next_u32() for _ in range(66)]
    b = StdRng(bytes(32))
    for _ in range(63):
        b.next_u32()
    assert b.next_u64() == words[63] | (words[64] << 32)


def test_bad_seed_length():
    with pytest.raises(ValueError):
        StdRng(b"short")
    with pytest.raises(ValueError):
        offset_seed(bytes(31), 0)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**64 - 1))
def test_wide_mul_p_matches_python(x):
    hi, lo = _wide_mul_p(np.array([x], dtype=np.uint64))
    assert (int(hi[0]) << 64) | int(lo[0]) == x * P


def test_rare_one_draw_path_matches_scalar_definition():
    # Compare the vectorised sampler against a literal transcription of rand's single-sample method.
    def scalar(rng: StdRng) -> int:
        x = rng.next_u64()
        prod = x * P
        hi, lo = prod >> 64, prod & (2**64 - 1)
        if lo > 2**64 - P:
            hi2 = (rng.next_u64() * P) >> 64
            hi += (lo + hi2) >> 64
        return hi

    seed = bytes(range(32))
    fast = StdRng(seed).random_bfes(500)
    slow_rng = StdRng(seed)
    assert [scalar(slow_rng) for _ in range(500)] == [int(v) for v in fast]


def test_many_generators_draw_the_same_streams_as_one_at_a_time():
    from tvmpd.stages.rng import StdRng, chacha12_blocks, chacha12_blocks_many, offset_seed

    seeds = [offset_seed(bytes(range(32)), c) for c in range(5)]
    many = chacha12_blocks_many(seeds, 3, 6)
    for seed, row in zip(seeds, many, strict=True):
        np.testing.assert_array_equal(row, chacha12_blocks(seed, 3, 6))
    # 10 words prefetched, 400 draws wanted: the generators go on past their first buffer
    for rng, seed in zip(StdRng.many(seeds, 10), seeds, strict=True):
        np.testing.assert_array_equal(rng.random_bfes(400), StdRng(seed).random_bfes(400))


def test_keystream_split_over_threads_is_the_same_stream(monkeypatch):
    import tvmpd.stages.rng as rng

    monkeypatch.setattr(rng, "KEYSTREAM_MIN_BLOCKS", 4)
    key = bytes(range(32))
    np.testing.assert_array_equal(rng._keystream(key, 8, 37), rng.chacha12_blocks(key, 8, 37))
    whole = rng.StdRng(key).random_bfes(3000)
    monkeypatch.setattr(rng, "KEYSTREAM_MIN_BLOCKS", 1 << 30)
    np.testing.assert_array_equal(whole, rng.StdRng(key).random_bfes(3000))
