"""Tip5 permutation, hash functions and sponge (twenty-first 1.1.0): scalar, batched and compiled.

Scalar functions work on Python ints (canonical field values); the batch functions on numpy uint64
arrays of shape (n, ...); the compiled path is machine code that llvmlite builds from LLVM IR generated
here, cached on disk, with no numba (a short process such as `tvmpd verify` never pays numba's import).
All three give bit-identical results. The VM's compiled loops use stages/tip5_numba.py.
"""

from __future__ import annotations

import ctypes
import hashlib
import struct
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tvmpd.stages import disk_cache

P = 2**64 - 2**32 + 1
STATE_SIZE = 16
RATE = 10
CAPACITY = 6
NUM_ROUNDS = 5
DIGEST_LEN = 5
NUM_SPLIT_AND_LOOKUP = 4

# R = 2^64 is the Montgomery radix of the reference's in-memory field representation.
_R = 2**64 % P
_R_INV = pow(_R, P - 2, P)

LOOKUP_TABLE: tuple[int, ...] = (
    0, 7, 26, 63, 124, 215, 85, 254, 214, 228, 45, 185, 140, 173, 33, 240, 29, 177, 176, 32, 8,
    110, 87, 202, 204, 99, 150, 106, 230, 14, 235, 128, 213, 239, 212, 138, 23, 130, 208, 6, 44,
    71, 93, 116, 146, 189, 251, 81, 199, 97, 38, 28, 73, 179, 95, 84, 152, 48, 35, 119, 49, 88,
    242, 3, 148, 169, 72, 120, 62, 161, 166, 83, 175, 191, 137, 19, 100, 129, 112, 55, 221, 102,
    218, 61, 151, 237, 68, 164, 17, 147, 46, 234, 203, 216, 22, 141, 65, 57, 123, 12, 244, 54, 219,
    231, 96, 77, 180, 154, 5, 253, 133, 165, 98, 195, 205, 134, 245, 30, 9, 188, 59, 142, 186, 197,
    181, 144, 92, 31, 224, 163, 111, 74, 58, 69, 113, 196, 67, 246, 225, 10, 121, 50, 60, 157, 90,
    122, 2, 250, 101, 75, 178, 159, 24, 36, 201, 11, 243, 132, 198, 190, 114, 233, 39, 52, 21, 209,
    108, 238, 91, 187, 18, 104, 194, 37, 153, 34, 200, 143, 126, 155, 236, 118, 64, 80, 172, 89,
    94, 193, 135, 183, 86, 107, 252, 13, 167, 206, 136, 220, 207, 103, 171, 160, 76, 182, 227, 217,
    158, 56, 174, 4, 66, 109, 139, 162, 184, 211, 249, 47, 125, 232, 117, 43, 16, 42, 127, 20, 241,
    25, 149, 105, 156, 51, 53, 168, 145, 247, 223, 79, 78, 226, 15, 222, 82, 115, 70, 210, 27, 41,
    1, 170, 40, 131, 192, 229, 248, 255,
)  # fmt: skip

ROUND_CONSTANTS: tuple[int, ...] = (
    13630775303355457758, 16896927574093233874, 10379449653650130495, 1965408364413093495,
    15232538947090185111, 15892634398091747074, 3989134140024871768, 2851411912127730865,
    8709136439293758776, 3694858669662939734, 12692440244315327141, 10722316166358076749,
    12745429320441639448, 17932424223723990421, 7558102534867937463, 15551047435855531404,
    17532528648579384106, 5216785850422679555, 15418071332095031847, 11921929762955146258,
    9738718993677019874, 3464580399432997147, 13408434769117164050, 264428218649616431,
    4436247869008081381, 4063129435850804221, 2865073155741120117, 5749834437609765994,
    6804196764189408435, 17060469201292988508, 9475383556737206708, 12876344085611465020,
    13835756199368269249, 1648753455944344172, 9836124473569258483, 12867641597107932229,
    11254152636692960595, 16550832737139861108, 11861573970480733262, 1256660473588673495,
    13879506000676455136, 10564103842682358721, 16142842524796397521, 3287098591948630584,
    685911471061284805, 5285298776918878023, 18310953571768047354, 3142266350630002035,
    549990724933663297, 4901984846118077401, 11458643033696775769, 8706785264119212710,
    12521758138015724072, 11877914062416978196, 11333318251134523752, 3933899631278608623,
    16635128972021157924, 10291337173108950450, 4142107155024199350, 16973934533787743537,
    11068111539125175221, 17546769694830203606, 5315217744825068993, 4609594252909613081,
    3350107164315270407, 17715942834299349177, 9600609149219873996, 12894357635820003949,
    4597649658040514631, 7735563950920491847, 1663379455870887181, 13889298103638829706,
    7375530351220884434, 3502022433285269151, 9231805330431056952, 9252272755288523725,
    10014268662326746219, 15565031632950843234, 1209725273521819323, 6024642864597845108,
)  # fmt: skip

MDS_FIRST_COLUMN: tuple[int, ...] = (
    61402, 1108, 28750, 33823, 7454, 43244, 53865, 12034, 56951, 27521, 41351, 40901, 12021, 59689,
    26798, 17845,
)  # fmt: skip

# The circulant MDS product is computed with one big-integer multiplication: state and first column are
# packed into 96-bit slots; the product holds the linear convolution (31 slots), and folding slot i + 16
# onto slot i gives new[i] = sum_j MDS_FIRST_COLUMN[(i - j) % 16] * old[j]. Each slot stays below 2^85
# (16 products of < 2^64 by < 2^16, plus a round constant), so no carries cross slots.
_SLOT_BITS = 96
_PACK = struct.Struct("<" + "Q4x" * STATE_SIZE)
_UNPACK = struct.Struct("<" + "QI" * STATE_SIZE)
_LOW_SLOTS = (1 << (_SLOT_BITS * STATE_SIZE)) - 1
_MDS_PACKED = int.from_bytes(_PACK.pack(*MDS_FIRST_COLUMN), "little")
_RC_PACKED = tuple(
    int.from_bytes(_PACK.pack(*ROUND_CONSTANTS[16 * r : 16 * r + 16]), "little") for r in range(NUM_ROUNDS)
)
_TWO64 = 2**64 - P  # 2^64 mod p

_LOOKUP_BYTES = bytes(LOOKUP_TABLE)  # for bytes.translate


# ----------------------------------------------------------------------------------------------
# input checks


def _elements(xs: Sequence[int], name: str, length: int | None = None) -> list[int]:
    """Return xs as a new list of Python ints after checking each is a canonical field element."""
    if isinstance(xs, np.ndarray):
        if xs.ndim != 1 or xs.dtype.kind not in "ui":
            raise ValueError(f"{name}: expected a 1-d integer array, got {xs.dtype} shape {xs.shape}")
        xs = xs.tolist()
    elif not isinstance(xs, list | tuple):
        try:
            xs = list(xs)
        except TypeError as exc:
            raise ValueError(f"{name}: expected a sequence of integers") from exc
    if length is not None and len(xs) != length:
        raise ValueError(f"{name}: expected {length} elements, got {len(xs)}")
    if all(type(v) is int for v in xs):
        out = list(xs)
    else:  # numpy integers are fine; bools, floats, strings are not
        out = []
        for v in xs:
            if isinstance(v, bool | np.bool_) or not isinstance(v, int | np.integer):
                raise ValueError(f"{name}: expected integers, got {type(v).__name__}")
            out.append(int(v))
    if out and (min(out) < 0 or max(out) >= P):
        bad = next(v for v in out if not 0 <= v < P)
        raise ValueError(f"{name}: {bad} is not a canonical field element (0 <= v < p)")
    return out


# ----------------------------------------------------------------------------------------------
# scalar permutation


def _round(s: list[int], r: int) -> list[int]:
    """One Tip5 round (S-boxes, MDS, round constants) on 16 ints; returns 16 ints congruent to the
    result mod p but not reduced (below 2^85); inputs may be unreduced likewise."""
    # split-and-lookup: the bytes of the Montgomery form x * 2^64 mod p go through the table
    out = [
        int.from_bytes((x * _R % P).to_bytes(8, "little").translate(_LOOKUP_BYTES), "little") * _R_INV % P
        for x in s[:NUM_SPLIT_AND_LOOKUP]
    ]
    for x in s[NUM_SPLIT_AND_LOOKUP:]:
        x3 = x * x * x % P
        out.append(x3 * x3 * x % P)
    prod = int.from_bytes(_PACK.pack(*out), "little") * _MDS_PACKED
    prod = (prod & _LOW_SLOTS) + (prod >> (_SLOT_BITS * STATE_SIZE)) + _RC_PACKED[r]
    w = _UNPACK.unpack(prod.to_bytes(_UNPACK.size, "little"))
    return [lo + hi * _TWO64 for lo, hi in zip(w[0::2], w[1::2], strict=True)]


def _permute(s: list[int]) -> list[int]:
    """The permutation on an already validated state (list of 16 canonical ints), by the compiled path."""
    state = np.array([s], dtype=np.uint64)
    permute_states(state)
    return state[0].tolist()


def _permute_scalar(s: list[int]) -> list[int]:
    """The permutation in plain Python ints: the oracle of the compiled path."""
    for r in range(NUM_ROUNDS):
        s = _round(s, r)
    return [x % P for x in s]


def permutation(state: Sequence[int]) -> list[int]:
    """Apply the Tip5 permutation to 16 canonical field elements; returns the new state."""
    return _permute_scalar(_elements(state, "state", STATE_SIZE))


def permutation_trace(state: Sequence[int]) -> np.ndarray:
    """States before round 0 and after each of the 5 rounds, shape (6, 16) uint64 (Hash table rows)."""
    s = _elements(state, "state", STATE_SIZE)
    rows = [s]
    for r in range(NUM_ROUNDS):
        s = _round(s, r)
        rows.append([x % P for x in s])
    return np.array(rows, dtype=np.uint64)


# ----------------------------------------------------------------------------------------------
# hash functions and sponge


def hash_10(xs: Sequence[int]) -> list[int]:
    """Fixed-length hash of exactly 10 elements (capacity initialised to ones); 5-element digest."""
    s = _elements(xs, "xs", RATE) + [1] * CAPACITY
    return _permute(s)[:DIGEST_LEN]


def hash_pair(left: Sequence[int], right: Sequence[int]) -> list[int]:
    """Merkle node digest: hash_10(left ‖ right) for two 5-element digests."""
    a = _elements(left, "left", DIGEST_LEN)
    b = _elements(right, "right", DIGEST_LEN)
    return _permute(a + b + [1] * CAPACITY)[:DIGEST_LEN]


def _pad(xs: list[int]) -> list[int]:
    """Append 1 and then zeros up to the next multiple of RATE (always at least one element)."""
    return xs + [1] + [0] * ((-len(xs) - 1) % RATE)


def hash_varlen(xs: Sequence[int]) -> list[int]:
    """Variable-length hash (zero initial state, padded absorption); 5-element digest."""
    state = np.zeros((1, STATE_SIZE), dtype=np.uint64)
    absorb_states(state, np.array([_pad(_elements(xs, "xs"))], dtype=np.uint64))
    return state[0, :DIGEST_LEN].tolist()


class Sponge:
    """Tip5 sponge in overwrite mode, as used for Fiat-Shamir and program hashing."""

    def __init__(self, fixed_length: bool = False) -> None:
        """Variable-length domain (all zeros) by default; fixed_length sets the capacity to ones."""
        self.state: list[int] = [0] * RATE + [1 if fixed_length else 0] * CAPACITY

    @classmethod
    def init(cls) -> Sponge:
        """A fresh variable-length sponge (upstream `Tip5::init()`)."""
        return cls()

    def copy(self) -> Sponge:
        """An independent copy of this sponge."""
        other = Sponge()
        other.state = list(self.state)
        return other

    def absorb(self, xs: Sequence[int]) -> None:
        """Overwrite the rate with 10 elements, then permute."""
        self.state = _permute(_elements(xs, "xs", RATE) + self.state[RATE:])

    def squeeze(self) -> list[int]:
        """Return the 10 rate elements, then permute."""
        out = self.state[:RATE]
        self.state = _permute(self.state)
        return out

    def pad_and_absorb_all(self, xs: Sequence[int]) -> None:
        """Absorb xs followed by the padding 1, 0, ... in blocks of 10."""
        state = np.array([self.state], dtype=np.uint64)
        absorb_states(state, np.array([_pad(_elements(xs, "xs"))], dtype=np.uint64))
        self.state = state[0].tolist()

    def sample_scalars(self, n: int) -> np.ndarray:
        """n extension-field elements from ceil(3n/10) squeezes, shape (n, 3) uint64; leftovers dropped."""
        n = _count(n, "n")
        flat: list[int] = []
        for _ in range(-(-3 * n // RATE)):
            flat += self.squeeze()
        return np.array(flat[: 3 * n], dtype=np.uint64).reshape(n, 3)

    def sample_indices(self, upper_bound: int, n: int) -> list[int]:
        """n indices in [0, upper_bound) (a power of two); elements equal to p-1 are skipped."""
        upper_bound = _count(upper_bound, "upper_bound")
        n = _count(n, "n")
        if upper_bound <= 0 or upper_bound & (upper_bound - 1) or upper_bound > 2**32:
            raise ValueError(f"upper_bound must be a power of two <= 2^32, got {upper_bound}")
        out: list[int] = []
        buf: list[int] = []
        pos = RATE
        while len(out) < n:
            if pos == RATE:
                buf = self.squeeze()
                pos = 0
            e = buf[pos]
            pos += 1
            if e != P - 1:
                out.append((e & 0xFFFFFFFF) % upper_bound)
        return out


def _count(n: int, name: str) -> int:
    """Check a non-negative integer count/bound."""
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {n!r}")
    return int(n)


# ----------------------------------------------------------------------------------------------
# batched (numpy) path: states are handled lane-major, shape (16, n), so each lane is contiguous


# The byte-wise lookup applied to two bytes at once (a 16-bit limb), for the batch path.
_LIMBS = np.arange(1 << 16)
_LOOKUP16_NP = np.array(LOOKUP_TABLE, dtype=np.uint16)[_LIMBS & 0xFF] | (
    np.array(LOOKUP_TABLE, dtype=np.uint16)[_LIMBS >> 8] << np.uint16(8))
_MDS_MATRIX_F = np.array(
    [[MDS_FIRST_COLUMN[(i - j) % STATE_SIZE] for j in range(STATE_SIZE)] for i in range(STATE_SIZE)],
    dtype=np.float64,
)
_RC_NP = np.array(ROUND_CONSTANTS, dtype=np.uint64).reshape(NUM_ROUNDS, STATE_SIZE, 1)
_U32 = np.uint64(0xFFFFFFFF)
_S32 = np.uint64(32)
_EPS = np.uint64(2**32 - 1)  # 2^64 mod p
_P_NP = np.uint64(P)
# Rows per block. Keeps the float64 MDS products at 16 x 16 x n <= 2^18 multiply-adds, which OpenBLAS
# runs on one thread (above that it starts threads, which spin and are very slow on a busy machine),
# and the working set of one block in cache.
_BATCH = 1000


def _workspace(n: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Scratch buffers for _permute_lanes on n states: 7 uint64 and 3 float64 arrays of shape (16, n)."""
    return (
        [np.empty((STATE_SIZE, n), dtype=np.uint64) for _ in range(7)],
        [np.empty((STATE_SIZE, n), dtype=np.float64) for _ in range(3)],
    )


def _reduce_into(
    hi: np.ndarray, low: np.ndarray, out: np.ndarray, w0: np.ndarray, w1: np.ndarray, canonical: bool
) -> None:
    """out = (hi * 2^64 + low) mod p; clobbers hi, low, w0, w1 (out may alias none of them).

    With canonical=False the result is only congruent mod p and below 2^64 (fine as a multiplicand)."""
    np.right_shift(hi, _S32, out=w0)  # hi >> 32 weighs 2^96 = -1
    np.bitwise_and(hi, _U32, out=hi)  # hi & (2^32 - 1) weighs 2^64 = 2^32 - 1
    np.less(low, w0, out=w1)
    np.subtract(low, w0, out=low)
    np.multiply(w1, _EPS, out=w1)
    np.subtract(low, w1, out=low)  # a borrow of 2^64 is worth -(2^32 - 1)
    np.left_shift(hi, _S32, out=w0)
    np.subtract(w0, hi, out=w0)
    np.add(low, w0, out=out)
    np.less(out, w0, out=w1)
    np.multiply(w1, _EPS, out=w1)
    np.add(out, w1, out=out)  # a carry of 2^64 is worth 2^32 - 1
    if not canonical:
        return
    np.greater_equal(out, _P_NP, out=w1)
    np.multiply(w1, _P_NP, out=w1)
    np.subtract(out, w1, out=out)


def _mul_into(
    a: np.ndarray, b: np.ndarray | int, out: np.ndarray, w: list[np.ndarray], canonical: bool = True
) -> None:
    """out = a * b mod p elementwise without allocating (b an array or a Python-int constant).

    Uses 32-bit limbs; inputs may be any values below 2^64; w holds 5 scratch arrays shaped like a;
    out may alias a or b; canonical=False skips the final reduction below p."""
    a0, a1, b0, b1, lo = w
    np.bitwise_and(a, _U32, out=a0)
    np.right_shift(a, _S32, out=a1)
    if isinstance(b, np.ndarray):
        np.bitwise_and(b, _U32, out=b0)
        np.right_shift(b, _S32, out=b1)
        c0, c1 = b0, b1
    else:
        c0, c1 = np.uint64(b & 0xFFFFFFFF), np.uint64(b >> 32)
    np.multiply(a0, c0, out=lo)
    np.multiply(a1, c0, out=b0)
    np.multiply(a0, c1, out=a0)
    np.multiply(a1, c1, out=a1)  # a1: high word
    np.add(a0, b0, out=b0)  # b0: middle sum (may wrap)
    np.less(b0, a0, out=b1)
    np.left_shift(b1, _S32, out=b1)  # a wrapped middle sum carries 2^96 = 2^32 in the high word
    np.add(a1, b1, out=a1)
    np.right_shift(b0, _S32, out=b1)
    np.add(a1, b1, out=a1)
    np.left_shift(b0, _S32, out=b0)
    np.add(lo, b0, out=b0)  # b0: low word
    np.less(b0, lo, out=b1)
    np.add(a1, b1, out=a1)
    _reduce_into(a1, b0, out, lo, b1, canonical)


def _permute_lanes(s: np.ndarray, ws: tuple[list[np.ndarray], list[np.ndarray]] | None = None) -> np.ndarray:
    """Tip5 permutation, in place, on lane-major canonical states s (16, n) uint64 (C-contiguous).

    ws: scratch from _workspace(n), reusable across calls. Returns s."""
    n = s.shape[1]
    u, f = ws if ws is not None else _workspace(n)
    k = NUM_SPLIT_AND_LOOKUP
    w_lookup = [x[:k] for x in u[:5]]
    w_power = [x[k:] for x in u[:5]]
    m, x2, x3 = u[5][:k], u[5][k:], u[6][k:]
    f_lo, f_hi, f_out = f
    t0, t1, t2 = u[0], u[1], u[2]
    x = s[k:]
    for r in range(NUM_ROUNDS):
        # split-and-lookup on the Montgomery form, two bytes per table access
        # (only the Montgomery words must be canonical; everything else feeds another multiplication or
        # the MDS, which accept any value below 2^64, so those skip the final reduction)
        _mul_into(s[:k], _R, m, w_lookup)
        limbs = m.view(np.uint16)
        np.take(_LOOKUP16_NP, limbs, out=limbs)
        _mul_into(m, _R_INV, s[:k], w_lookup, False)
        # x^7 = (x^3)^2 * x
        _mul_into(x, x, x2, w_power, False)
        _mul_into(x2, x, x3, w_power, False)
        _mul_into(x3, x3, x2, w_power, False)
        _mul_into(x2, x, x, w_power, False)
        # MDS on 32-bit halves: each output sums 16 products (< 2^32 * 2^16), below 2^52, exact in float64;
        # the result is canonical
        np.bitwise_and(s, _U32, out=t0)
        f_lo[...] = t0
        np.right_shift(s, _S32, out=t0)
        f_hi[...] = t0
        np.matmul(_MDS_MATRIX_F, f_lo, out=f_out)
        np.copyto(t0, f_out, casting="unsafe")  # lo sums
        np.matmul(_MDS_MATRIX_F, f_hi, out=f_out)
        np.copyto(t1, f_out, casting="unsafe")  # hi sums, weight 2^32
        # hi * 2^32 with hi = a * 2^32 + b is a * 2^64 + b * 2^32 = a * (2^32 - 1) + b * 2^32 (mod p)
        np.right_shift(t1, _S32, out=t2)
        np.multiply(t2, _EPS, out=t2)
        np.add(t2, t0, out=t2)  # < 2^53
        np.left_shift(t1, _S32, out=s)
        np.add(s, t2, out=s)
        np.less(s, t2, out=t0)
        np.multiply(t0, _EPS, out=t0)
        np.add(s, t0, out=s)
        np.greater_equal(s, _P_NP, out=t0)
        np.multiply(t0, _P_NP, out=t0)
        np.subtract(s, t0, out=s)
        # round constants
        np.add(s, _RC_NP[r], out=t1)
        np.less(t1, s, out=t0)
        np.multiply(t0, _EPS, out=t0)
        np.add(t1, t0, out=t1)
        np.greater_equal(t1, _P_NP, out=t0)
        np.multiply(t0, _P_NP, out=t0)
        np.subtract(t1, t0, out=s)
    return s


def _u64_matrix(a: np.ndarray, name: str, width: int | None = None) -> np.ndarray:
    """Check a 2-d uint64 array of canonical field elements (optionally of a given width)."""
    if not isinstance(a, np.ndarray) or a.dtype != np.uint64 or a.ndim != 2:
        got = f"{a.dtype} array of shape {a.shape}" if isinstance(a, np.ndarray) else type(a).__name__
        raise ValueError(f"{name}: expected a 2-d uint64 array, got {got}")
    if width is not None and a.shape[1] != width:
        raise ValueError(f"{name}: expected {width} columns, got {a.shape[1]}")
    if a.size and bool((a >= _P_NP).any()):
        raise ValueError(f"{name}: values must be canonical field elements (< p)")
    return a


def permute_batch(states: np.ndarray) -> np.ndarray:
    """Tip5 permutation of every row of an (n, 16) uint64 array; returns a new (n, 16) array."""
    states = _u64_matrix(states, "states", STATE_SIZE)
    out = np.empty_like(states)
    for k in range(0, states.shape[0], _BATCH):
        out[k : k + _BATCH] = _permute_lanes(states[k : k + _BATCH].T.copy()).T  # copy: permuted in place
    return out


def _hash_pairs_lanes(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """hash_pair of lane-major digests (5, n) and (5, n); returns (5, n). Inputs must be canonical."""
    s = np.empty((STATE_SIZE, left.shape[1]), dtype=np.uint64)
    s[:DIGEST_LEN] = left
    s[DIGEST_LEN:RATE] = right
    s[RATE:] = 1
    return _permute_lanes(s)[:DIGEST_LEN]


def hash_pairs(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """hash_pair of corresponding rows of two (n, 5) uint64 digest arrays; returns (n, 5)."""
    left = _u64_matrix(left, "left", DIGEST_LEN)
    right = _u64_matrix(right, "right", DIGEST_LEN)
    if left.shape != right.shape:
        raise ValueError(f"left and right differ in shape: {left.shape} vs {right.shape}")
    out = np.empty_like(left)
    for k in range(0, left.shape[0], _BATCH):
        out[k : k + _BATCH] = _hash_pairs_lanes(left[k : k + _BATCH].T, right[k : k + _BATCH].T).T
    return out


def hash_rows(rows: np.ndarray) -> np.ndarray:
    """hash_varlen of every row of an (n, w) uint64 array (e.g. master-table rows); returns (n, 5)."""
    rows = _u64_matrix(rows, "rows")
    n, w = rows.shape
    full = w // RATE
    tail = np.zeros((RATE, 1), dtype=np.uint64)
    tail[w - full * RATE] = 1
    out = np.empty((n, DIGEST_LEN), dtype=np.uint64)
    for k in range(0, n, _BATCH):
        block = rows[k : k + _BATCH]
        s = np.zeros((STATE_SIZE, block.shape[0]), dtype=np.uint64)
        ws = _workspace(block.shape[0])
        for c in range(full):
            s[:RATE] = block[:, RATE * c : RATE * (c + 1)].T
            _permute_lanes(s, ws)
        s[:RATE] = tail
        s[: w - full * RATE] = block[:, RATE * full :].T
        _permute_lanes(s, ws)
        out[k : k + _BATCH] = s[:DIGEST_LEN].T
    return out


# ----------------------------------------------------------------------------------------------
# compiled path: LLVM IR generated below, compiled by llvmlite once per machine and kept as an object file
# in stages/disk_cache.py's folder; `permute_states` and `absorb_states` run it on (n, 16) uint64 states

_EPS_INT = 2**32 - 1  # 2^64 mod p, also the Montgomery radix R mod p


class _Ir:
    """An SSA instruction list with fresh value names."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.count = 0

    def __call__(self, text: str) -> str:
        name = f"%v{self.count}"
        self.count += 1
        self.lines.append(f"  {name} = {text}")
        return name

    def pick(self, test: str, then: str, other: str) -> str:
        """`then` where the comparison `test` holds (icmp operands, e.g. "ult i64 %a, %b"), else `other`."""
        return self(f"select i1 {self(f'icmp {test}')}, i64 {then}, i64 {other}")

    def reduce128(self, x: str) -> str:
        """(x mod p) of an i128, canonical: x = hi * 2^64 + lo with 2^64 = 2^32 - 1 and 2^96 = -1."""
        lo = self(f"trunc i128 {x} to i64")
        hi = self(f"trunc i128 {self(f'lshr i128 {x}, 64')} to i64")
        hh = self(f"lshr i64 {hi}, 32")
        hl = self(f"and i64 {hi}, {_EPS_INT}")
        t0 = self(f"sub i64 {lo}, {hh}")
        # a borrow of 2^64 is worth -(2^32 - 1), a carry of 2^64 is worth 2^32 - 1
        t0 = self.pick(f"ult i64 {lo}, {hh}", self(f"sub i64 {t0}, {_EPS_INT}"), t0)
        t1 = self(f"mul i64 {hl}, {_EPS_INT}")
        t2 = self(f"add i64 {t0}, {t1}")
        t2 = self.pick(f"ult i64 {t2}, {t1}", self(f"add i64 {t2}, {_EPS_INT}"), t2)
        return self.pick(f"uge i64 {t2}, {P}", self(f"sub i64 {t2}, {P}"), t2)

    def mul(self, a: str, b: str) -> str:
        """a * b mod p for any a, b below 2^64 (b may be a constant)."""
        wide = self(f"mul i128 {self(f'zext i64 {a} to i128')}, {self(f'zext i64 {b} to i128')}")
        return self.reduce128(wide)

    def add(self, a: str, b: str) -> str:
        """a + b mod p for canonical a, b."""
        s = self(f"add i64 {a}, {b}")
        s = self.pick(f"ult i64 {s}, {a}", self(f"add i64 {s}, {_EPS_INT}"), s)
        return self.pick(f"uge i64 {s}, {P}", self(f"sub i64 {s}, {P}"), s)


def _round_ir(ir: _Ir, s: list[str], r: int) -> list[str]:
    """One Tip5 round on 16 canonical i64 values; returns the 16 new values."""
    out = []
    for x in s[:NUM_SPLIT_AND_LOOKUP]:
        montgomery = ir.mul(x, str(_R))
        word = "0"
        for k in range(8):
            byte = ir(f"and i64 {ir(f'lshr i64 {montgomery}, {8 * k}')}, 255")
            entry = ir(f"getelementptr [256 x i8], ptr @lookup, i64 0, i64 {byte}")
            looked_up = ir(f"zext i8 {ir(f'load i8, ptr {entry}')} to i64")
            word = ir(f"or i64 {word}, {ir(f'shl i64 {looked_up}, {8 * k}')}")
        out.append(ir.mul(word, str(_R_INV)))
    for x in s[NUM_SPLIT_AND_LOOKUP:]:
        x3 = ir.mul(ir.mul(x, x), x)
        out.append(ir.mul(ir.mul(x3, x3), x))
    wide = [ir(f"zext i64 {x} to i128") for x in out]
    new = []
    for i in range(STATE_SIZE):
        acc = ir(f"mul i128 {wide[0]}, {MDS_FIRST_COLUMN[i % STATE_SIZE]}")
        for j in range(1, STATE_SIZE):  # 16 products below 2^80: the sum fits an i128
            acc = ir(f"add i128 {acc}, {ir(f'mul i128 {wide[j]}, {MDS_FIRST_COLUMN[(i - j) % STATE_SIZE]}')}")
        new.append(ir.add(ir.reduce128(acc), str(ROUND_CONSTANTS[STATE_SIZE * r + i])))
    return new


def module_ir() -> str:
    """The LLVM module: @tip5_permute(states, n) and @tip5_absorb(states, words, n, blocks)."""
    rounds = []
    for r in range(NUM_ROUNDS):  # one function a round: small blocks keep LLVM's instruction scheduling quick
        ir = _Ir()
        slots = [ir(f"getelementptr i64, ptr %s, i64 {i}") for i in range(STATE_SIZE)]
        state = _round_ir(ir, [ir(f"load i64, ptr {slot}") for slot in slots], r)
        ir.lines += [f"  store i64 {x}, ptr {slot}" for x, slot in zip(state, slots, strict=True)]
        body = "\n".join(ir.lines)
        rounds.append(f"define internal void @round{r}(ptr %s) noinline nounwind {{\n{body}\n  ret void\n}}")
    calls = "\n".join(f"  call void @round{r}(ptr %s)" for r in range(NUM_ROUNDS))
    table = "".join(f"\\{v:02X}" for v in LOOKUP_TABLE)
    return f'@lookup = internal unnamed_addr constant [256 x i8] c"{table}"\n\n' + "\n".join(rounds) + f"""
define internal void @permute_one(ptr %s) nounwind {{
{calls}
  ret void
}}

define void @tip5_permute(ptr %states, i64 %n) nounwind {{
entry:
  %empty = icmp eq i64 %n, 0
  br i1 %empty, label %done, label %loop
loop:
  %k = phi i64 [0, %entry], [%next, %loop]
  %at = mul i64 %k, {STATE_SIZE}
  %s = getelementptr i64, ptr %states, i64 %at
  call void @permute_one(ptr %s)
  %next = add i64 %k, 1
  %more = icmp ult i64 %next, %n
  br i1 %more, label %loop, label %done
done:
  ret void
}}

define void @tip5_absorb(ptr %states, ptr %words, i64 %n, i64 %blocks) nounwind {{
entry:
  %total = mul i64 %n, %blocks
  %empty = icmp eq i64 %total, 0
  br i1 %empty, label %done, label %loop
loop:
  %k = phi i64 [0, %entry], [%next, %loop]
  %row = udiv i64 %k, %blocks
  %at = mul i64 %row, {STATE_SIZE}
  %s = getelementptr i64, ptr %states, i64 %at
  %from = mul i64 %k, {RATE}
  %w = getelementptr i64, ptr %words, i64 %from
  call void @llvm.memcpy.p0.p0.i64(ptr %s, ptr %w, i64 {8 * RATE}, i1 false)
  call void @permute_one(ptr %s)
  %next = add i64 %k, 1
  %more = icmp ult i64 %next, %total
  br i1 %more, label %loop, label %done
done:
  ret void
}}

declare void @llvm.memcpy.p0.p0.i64(ptr, ptr, i64, i1)
"""


class _Library:
    """The loaded machine code: an MCJIT engine holding the object file, and the two C functions."""

    def __init__(self) -> None:
        import llvmlite
        import llvmlite.binding as llvm

        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        cpu, features = llvm.get_host_cpu_name(), llvm.get_host_cpu_features().flatten()
        # the large code model addresses the lookup table absolutely: the loaded sections may lie anywhere;
        # codegen at level 1 (see _compile)
        machine = llvm.Target.from_default_triple().create_target_machine(cpu=cpu, features=features, opt=1,
                                                                          codemodel="large")
        key = hashlib.sha256("\n".join([Path(__file__).read_text(), llvmlite.__version__,
                                        llvm.get_default_triple(), cpu, features]).encode()).hexdigest()
        name = f"tip5-{key[:32]}.o"
        code = disk_cache.read_or_make(name, lambda: self._compile(llvm, machine))
        self.engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), machine)
        self.engine.add_object_file(llvm.ObjectFileRef.from_data(code))
        self.engine.finalize_object()
        void_p, i64 = ctypes.c_void_p, ctypes.c_int64
        self.permute = ctypes.CFUNCTYPE(None, void_p, i64)(self.engine.get_function_address("tip5_permute"))
        self.absorb = ctypes.CFUNCTYPE(None, void_p, void_p, i64, i64)(
            self.engine.get_function_address("tip5_absorb"))

    @staticmethod
    def _compile(llvm, machine) -> bytes:
        """Machine code of module_ir() as written: LLVM's optimising module passes and codegen level 3 made
        the compile, which the first proof on a machine pays in two processes, 1.1-1.7 s instead of 0.55 s
        on the 2-core machine, for no faster permutation (100000 in 0.13-0.18 s either way)."""
        module = llvm.parse_assembly(module_ir())
        module.verify()
        return machine.emit_object(module)


_LIBRARY: _Library | None = None


def library() -> _Library:
    """The compiled functions, loaded (or compiled and cached) on first use."""
    global _LIBRARY
    if _LIBRARY is None:
        _LIBRARY = _Library()
    return _LIBRARY


def _address(a: np.ndarray, width: int, name: str) -> int:
    """The data address of a C-contiguous 2-d uint64 array whose rows are a multiple of `width` long."""
    if not isinstance(a, np.ndarray) or a.dtype != np.uint64 or a.ndim != 2 or a.shape[1] % width or \
            not a.flags.c_contiguous:
        raise ValueError(f"{name}: expected a C-contiguous 2-d uint64 array, rows a multiple of {width} long")
    return a.__array_interface__["data"][0]


def permute_states(states: np.ndarray) -> None:
    """Tip5 permutation in place of every row of a C-contiguous (n, 16) uint64 array (canonical values)."""
    if states.ndim != 2 or states.shape[1] != STATE_SIZE:
        raise ValueError(f"states: expected shape (n, {STATE_SIZE}), got {states.shape}")
    library().permute(_address(states, STATE_SIZE, "states"), states.shape[0])


def absorb_states(states: np.ndarray, words: np.ndarray) -> None:
    """For each row: overwrite the state's rate with the row of `words` 10 at a time, permuting after each
    block. states (n, 16), words (n, 10 * blocks), both C-contiguous uint64 of canonical values."""
    if states.ndim != 2 or states.shape[1] != STATE_SIZE or words.ndim != 2 or len(words) != len(states):
        raise ValueError(f"expected states (n, 16) and words (n, 10 k), got {states.shape}, {words.shape}")
    library().absorb(_address(states, STATE_SIZE, "states"), _address(words, RATE, "words"), states.shape[0],
                     words.shape[1] // RATE)


def permutation_native(state: np.ndarray) -> np.ndarray:
    """Tip5 permutation of 16 canonical uint64 values by the compiled path; returns a new array."""
    s = np.array(state, dtype=np.uint64).reshape(1, STATE_SIZE)
    permute_states(s)
    return s[0]


def hash_rows_native(rows: np.ndarray) -> np.ndarray:
    """hash_rows by the compiled path (no batch set-up: for the verifier's few hundred rows)."""
    rows = _u64_matrix(rows, "rows")
    n, w = rows.shape
    words = np.zeros((n, w + 1 + (-(w + 1)) % RATE), dtype=np.uint64)
    words[:, :w] = rows
    words[:, w] = 1  # padding: a 1 after the row, then zeros to the block's end
    states = np.zeros((n, STATE_SIZE), dtype=np.uint64)
    absorb_states(states, words)
    return states[:, :DIGEST_LEN].copy()


def hash_pairs_native(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """hash_pairs by the compiled path."""
    left = _u64_matrix(left, "left", DIGEST_LEN)
    right = _u64_matrix(right, "right", DIGEST_LEN)
    if left.shape != right.shape:
        raise ValueError(f"left and right differ in shape: {left.shape} vs {right.shape}")
    states = np.ones((left.shape[0], STATE_SIZE), dtype=np.uint64)
    absorb_states(states, np.concatenate([left, right], axis=1))
    return states[:, :DIGEST_LEN].copy()
