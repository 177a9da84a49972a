"""The reference prover's randomness: rand 0.9's StdRng (ChaCha12) and the draws Triton VM makes from it.

With a fixed 32-byte seed every random value of a proof (trace randomizers, the aux randomizer column)
is a function of that seed; reproducing the exact stream makes seeded proofs byte-identical.
The keystream is computed with numpy, many 64-byte blocks at a time (ChaCha is a counter-mode cipher).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

P = 0xFFFF_FFFF_0000_0001
_SIGMA = np.array([0x61707865, 0x3320646E, 0x79622D32, 0x6B206574], dtype=np.uint32)
_DOUBLE_ROUNDS = 6  # ChaCha12
_BUFFER_WORDS = 64  # rand_chacha refills four 16-word blocks at a time
_BIAS_THRESHOLD = (1 << 64) - P  # range.wrapping_neg() for the range [0, p-1]
KEYSTREAM_THREADS = 8  # threads generating one long keystream
KEYSTREAM_MIN_BLOCKS = 1 << 14  # blocks per thread, at least


def _rotl(x: np.ndarray, n: int) -> np.ndarray:
    return (x << np.uint32(n)) | (x >> np.uint32(32 - n))


def _quarter_round(s: list[np.ndarray], a: int, b: int, c: int, d: int) -> None:
    s[a] = s[a] + s[b]
    s[d] = _rotl(s[d] ^ s[a], 16)
    s[c] = s[c] + s[d]
    s[b] = _rotl(s[b] ^ s[c], 12)
    s[a] = s[a] + s[b]
    s[d] = _rotl(s[d] ^ s[a], 8)
    s[c] = s[c] + s[d]
    s[b] = _rotl(s[b] ^ s[c], 7)


def chacha12_blocks(key: bytes, first_block: int, num_blocks: int) -> np.ndarray:
    """Keystream words of blocks first_block .. first_block+num_blocks-1 (stream id 0), flat uint32."""
    return chacha12_blocks_many([key], first_block, num_blocks)[0]


def chacha12_blocks_many(keys: list[bytes], first_block: int, num_blocks: int) -> np.ndarray:
    """chacha12_blocks for several keys at once (one set of array operations for all): (len(keys), words)."""
    if any(len(k) != 32 for k in keys):
        raise ValueError("ChaCha keys must be 32 bytes")
    nk = len(keys)
    key_words = np.frombuffer(b"".join(keys), dtype="<u4").astype(np.uint32).reshape(nk, 8)
    counters = np.arange(first_block, first_block + num_blocks, dtype=np.uint64)
    shape = (nk, num_blocks)
    init = [np.full(shape, w, dtype=np.uint32) for w in _SIGMA]
    init += [np.broadcast_to(key_words[:, i:i + 1], shape).copy() for i in range(8)]
    init += [np.broadcast_to((counters & np.uint64(0xFFFF_FFFF)).astype(np.uint32), shape).copy(),
             np.broadcast_to((counters >> np.uint64(32)).astype(np.uint32), shape).copy()]
    init += [np.zeros(shape, dtype=np.uint32), np.zeros(shape, dtype=np.uint32)]
    s = list(init)
    with np.errstate(over="ignore"):
        for _ in range(_DOUBLE_ROUNDS):
            _quarter_round(s, 0, 4, 8, 12)
            _quarter_round(s, 1, 5, 9, 13)
            _quarter_round(s, 2, 6, 10, 14)
            _quarter_round(s, 3, 7, 11, 15)
            _quarter_round(s, 0, 5, 10, 15)
            _quarter_round(s, 1, 6, 11, 12)
            _quarter_round(s, 2, 7, 8, 13)
            _quarter_round(s, 3, 4, 9, 14)
        out = np.stack([s[i] + init[i] for i in range(16)], axis=2)
    return out.reshape(nk, -1)


def _keystream(key: bytes, first_block: int, num_blocks: int) -> np.ndarray:
    """chacha12_blocks, long runs split over threads (numpy releases the GIL in its array loops; the aux
    randomizer column alone takes 12 words per trace row)."""
    parts = min(KEYSTREAM_THREADS, os.cpu_count() or 1, num_blocks // KEYSTREAM_MIN_BLOCKS)
    if parts <= 1:
        return chacha12_blocks(key, first_block, num_blocks)
    bounds = [first_block + num_blocks * i // parts for i in range(parts + 1)]
    with ThreadPoolExecutor(max_workers=parts) as pool:
        chunks = pool.map(lambda i: chacha12_blocks(key, bounds[i], bounds[i + 1] - bounds[i]), range(parts))
        return np.concatenate(list(chunks))


def offset_seed(seed: bytes, index: int) -> bytes:
    """Seed of column `index`: its 8 little-endian bytes added to seed bytes 0..8, each wrapping, no carry."""
    if len(seed) != 32:
        raise ValueError(f"seed must be 32 bytes, got {len(seed)}")
    if not 0 <= index < 1 << 64:
        raise ValueError(f"column index out of range: {index}")
    head = bytes((b + i) & 0xFF for b, i in zip(seed[:8], index.to_bytes(8, "little"), strict=True))
    return head + seed[8:]


class StdRng:
    """rand 0.9's StdRng seeded from 32 bytes: next_u32 / next_u64 as rand_core's block buffer serves them."""

    def __init__(self, seed: bytes) -> None:
        if len(seed) != 32:
            raise ValueError(f"seed must be 32 bytes, got {len(seed)}")
        self._key = bytes(seed)
        self._words = np.zeros(0, dtype=np.uint32)  # generated, not yet consumed words
        self._pos = 0
        self._next_block = 0  # always a multiple of four: the buffer is refilled four blocks at a time

    @classmethod
    def many(cls, seeds: list[bytes], words: int) -> list[StdRng]:
        """One generator per seed, each with at least `words` keystream words generated up front in one
        vectorised pass (many short streams, e.g. one per column, would otherwise cost a pass each)."""
        rngs = [cls(seed) for seed in seeds]
        blocks = 4 * -(-words // _BUFFER_WORDS)
        if rngs and blocks:
            stream = chacha12_blocks_many([r._key for r in rngs], 0, blocks)
            for rng, row in zip(rngs, stream, strict=True):
                rng._words, rng._next_block = row, blocks
        return rngs

    def _ensure(self, n_words: int) -> None:
        """Make at least n_words unconsumed words available, generating whole 4-block buffers."""
        have = len(self._words) - self._pos
        if have >= n_words:
            return
        buffers = -(-(n_words - have) // _BUFFER_WORDS)
        fresh = _keystream(self._key, self._next_block, 4 * buffers)
        self._next_block += 4 * buffers
        self._words = np.concatenate([self._words[self._pos:], fresh])
        self._pos = 0

    def _take(self, n_words: int) -> np.ndarray:
        self._ensure(n_words)
        out = self._words[self._pos:self._pos + n_words]
        self._pos += n_words
        return out

    def next_u32(self) -> int:
        return int(self._take(1)[0])

    def next_u64(self) -> int:
        # Word order is low then high, also across a buffer refill, so the flat stream is all that matters.
        lo, hi = self._take(2)
        return int(lo) | (int(hi) << 32)

    def random_bytes32(self) -> bytes:
        """`rng.random::<[u8; 32]>()`: one next_u32 per byte, truncated to its low byte."""
        return bytes(int(w) & 0xFF for w in self._take(32))

    def random_bfes(self, n: int) -> np.ndarray:
        """n field elements as `random_range(0..=p-1)` draws them (rand 0.9 biased Canon, usually two u64)."""
        out = np.empty(n, dtype=np.uint64)
        done = 0
        while done < n:
            # Fast path: assume every draw takes two u64 (four words); cut at the first one that doesn't.
            want = n - done
            self._ensure(4 * want)
            words = self._words[self._pos:self._pos + 4 * want].astype(np.uint64).reshape(want, 4)
            x = words[:, 0] | (words[:, 1] << np.uint64(32))
            y = words[:, 2] | (words[:, 3] << np.uint64(32))
            hi, lo = _wide_mul_p(x)
            short = np.flatnonzero(lo <= np.uint64(_BIAS_THRESHOLD))
            good = want if len(short) == 0 else int(short[0])
            hi2, _ = _wide_mul_p(y[:good])
            overflow = (lo[:good] + hi2) < lo[:good]
            out[done:done + good] = hi[:good] + overflow.astype(np.uint64)
            self._pos += 4 * good
            done += good
            if good < want:  # the rare unbiased draw: one u64 only
                out[done] = hi[good]
                self._pos += 2
                done += 1
        return out

    def random_xfes(self, n: int) -> np.ndarray:
        """n extension-field elements (c0, c1, c2 drawn in that order) as an (n, 3) array."""
        return self.random_bfes(3 * n).reshape(n, 3)


def _wide_mul_p(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(high, low) 64-bit halves of x * p for uint64 x, with p = 2^64 - 2^32 + 1."""
    # x*p = x*2^64 - x*2^32 + x. Let t = x*2^32 (a 96-bit value: th*2^64 + tl), then x*p = x*2^64 - t + x.
    with np.errstate(over="ignore"):
        th = x >> np.uint64(32)
        tl = x << np.uint64(32)
        low = x - tl
        borrow = (x < tl).astype(np.uint64)
        high = x - th - borrow
    return high, low


def seed_from_u64(state: int) -> bytes:
    """rand_core's `seed_from_u64` (a PCG32 stream), used by upstream tests to make seeds."""
    out = bytearray()
    mask = (1 << 64) - 1
    for _ in range(8):
        state = (state * 6364136223846793005 + 11634580027462260723) & mask
        xorshifted = (((state >> 18) ^ state) >> 27) & 0xFFFF_FFFF
        rot = state >> 59
        word = ((xorshifted >> rot) | (xorshifted << ((32 - rot) & 31))) & 0xFFFF_FFFF
        out += word.to_bytes(4, "little")
    return bytes(out)


def main_trace_randomizers(seed: bytes, num_columns: int, num_coefficients: int) -> np.ndarray:
    """Coefficients (low first) of every main column's trace randomizer: (num_columns, num_coefficients)."""
    # a draw takes two u64 (four words) but for rare unbiased ones; more words are made when needed
    rngs = StdRng.many([offset_seed(seed, c) for c in range(num_columns)], 4 * num_coefficients)
    return np.stack([rng.random_bfes(num_coefficients) for rng in rngs])


def aux_randomness(seed: bytes, num_main_columns: int, num_aux_columns: int, trace_len: int,
                   num_coefficients: int) -> tuple[np.ndarray, np.ndarray]:
    """(randomizer column (trace_len, 3), aux trace randomizers (num_aux_columns, num_coefficients, 3)).

    The aux table's stream is the main seed offset by the number of main columns; it first fills the
    randomizer column, then draws the seed from which each aux column's randomizer stream is offset.
    """
    rng = StdRng(offset_seed(seed, num_main_columns))
    column = rng.random_xfes(trace_len)
    aux_seed = rng.random_bytes32()
    rngs = StdRng.many([offset_seed(aux_seed, c) for c in range(num_aux_columns)], 12 * num_coefficients)
    randomizers = np.stack([r.random_xfes(num_coefficients) for r in rngs])
    return column, randomizers
