// Tip5 (twenty-first 1.1.0): permutation, variable-length row hashing and Merkle levels.
// Needs field.cl. State: 16 field elements in registers, in Montgomery form (x 2^64 mod p, canonical), as
// twenty-first holds them: the S-box's byte lookup reads that form, so it needs no conversion per round,
// products reduce by Montgomery's rule instead of 2^64 = 2^32 - 1, and the linear layers (MDS, round
// constants in Montgomery form) do not care. Elements are converted once on the way in and out.
// Rate 10, capacity 6, 5 rounds. A round is: S-box layer (split-and-lookup on state[0..4], x^7 on
// state[4..16]), MDS, round constants.

#define TIP5_RATE 10
#define TIP5_ROUNDS 5

// LOOKUP[i] = ((i + 1)^3 - 1) mod 257, a permutation of 0..255.
__constant uchar TIP5_LOOKUP[256] = {
    0, 7, 26, 63, 124, 215, 85, 254, 214, 228, 45, 185, 140, 173, 33, 240,
    29, 177, 176, 32, 8, 110, 87, 202, 204, 99, 150, 106, 230, 14, 235, 128,
    213, 239, 212, 138, 23, 130, 208, 6, 44, 71, 93, 116, 146, 189, 251, 81,
    199, 97, 38, 28, 73, 179, 95, 84, 152, 48, 35, 119, 49, 88, 242, 3,
    148, 169, 72, 120, 62, 161, 166, 83, 175, 191, 137, 19, 100, 129, 112, 55,
    221, 102, 218, 61, 151, 237, 68, 164, 17, 147, 46, 234, 203, 216, 22, 141,
    65, 57, 123, 12, 244, 54, 219, 231, 96, 77, 180, 154, 5, 253, 133, 165,
    98, 195, 205, 134, 245, 30, 9, 188, 59, 142, 186, 197, 181, 144, 92, 31,
    224, 163, 111, 74, 58, 69, 113, 196, 67, 246, 225, 10, 121, 50, 60, 157,
    90, 122, 2, 250, 101, 75, 178, 159, 24, 36, 201, 11, 243, 132, 198, 190,
    114, 233, 39, 52, 21, 209, 108, 238, 91, 187, 18, 104, 194, 37, 153, 34,
    200, 143, 126, 155, 236, 118, 64, 80, 172, 89, 94, 193, 135, 183, 86, 107,
    252, 13, 167, 206, 136, 220, 207, 103, 171, 160, 76, 182, 227, 217, 158, 56,
    174, 4, 66, 109, 139, 162, 184, 211, 249, 47, 125, 232, 117, 43, 16, 42,
    127, 20, 241, 25, 149, 105, 156, 51, 53, 168, 145, 247, 223, 79, 78, 226,
    15, 222, 82, 115, 70, 210, 27, 41, 1, 170, 40, 131, 192, 229, 248, 255,
};

// Round r adds TIP5_RC[16 r + i] to state[i]: the round constants in Montgomery form.
__constant ulong TIP5_RC[80] = {
    7037825344483254583UL, 15660281237101973268UL, 11663766947456533322UL, 9758322335534608651UL,
    9844019505645103858UL, 4857588499203253814UL, 8183281691101684811UL, 15181868196341541705UL,
    15313308792798519638UL, 4938243538257252168UL, 11477857560977070644UL, 8733479459723616501UL,
    5964369093314834808UL, 5237032791768927641UL, 18359039010129826068UL, 18116588813135677237UL,
    2373119002936405740UL, 6609692170274203878UL, 2821639470223165353UL, 5627586457204135930UL,
    12211487165911217099UL, 7204661105156636001UL, 12626318814627363213UL, 6427516477865291713UL,
    13821391005533853229UL, 14722843308708254034UL, 17831147802219528369UL, 218913218967027617UL,
    2837053027518735973UL, 3210943779430037835UL, 7054336531172598568UL, 6670615253073215499UL,
    6215281670845392714UL, 6900256161834717452UL, 4440316076963652853UL, 6676740671006861280UL,
    3322554067925148283UL, 3612069913603013341UL, 5442068317028031748UL, 16971511550198711839UL,
    13562874907509462005UL, 5867006965543663558UL, 8326918008935674480UL, 16918029521751963400UL,
    5474468139859308386UL, 2454012399801889149UL, 569589873975678404UL, 17507424082632478709UL,
    9038225550794018841UL, 16660859940746912489UL, 17257844725184629383UL, 3706016801679531593UL,
    17566486224421590314UL, 7708791552397413124UL, 2689521333672664497UL, 4064165436802017842UL,
    15141471530346796595UL, 1364174733976751532UL, 18217692388866001096UL, 15503489087998329673UL,
    12679114765070559102UL, 1725321575593133848UL, 12693023640037744607UL, 16382987239139532379UL,
    6953765660023409218UL, 831521851918920482UL, 12582394124858434573UL, 15701134258274330528UL,
    3257079200028190136UL, 13253780642593168972UL, 6475583681330976806UL, 6838199851576533613UL,
    17771771274180351592UL, 4281487964531026568UL, 3163387549720473023UL, 16140694131354242855UL,
    6867950304952209227UL, 10934976704992317137UL, 1446938313484247691UL, 17506129961070749385UL,
};

// x 2^32 mod p: x << 32 is hi 2^64 + lo with hi < 2^32, and 2^64 = 2^32 - 1 (mod p).
inline ulong gl_times_2_32(ulong x) {
    ulong lo = x << 32, hi = x >> 32;
    ulong u = (hi << 32) - hi;  // hi (2^32 - 1), no overflow
    ulong r = lo + u;
    r = GL_CARRY(lo, u, r) ? r + GL_EPS : r;  // the true sum is r + 2^64 = r + 2^32 - 1 (mod p), < 2^64
    return gl_canon(r);
}

// The raw Montgomery word of x is x 2^64 = x (2^32 - 1) (mod p), and x = raw 2^-64 = -raw 2^32 (mod p):
// shifts and adds where two products stood (a 64-bit product is about 20 32-bit instructions on a GPU).
inline ulong tip5_to_montgomery(ulong x) {
    return gl_sub(gl_times_2_32(x), x);
}

inline ulong tip5_from_montgomery(ulong raw) {
    return gl_neg(gl_times_2_32(raw));
}

// x 2^-64 mod p for x = hi 2^64 + lo with hi < p (Montgomery reduction; canonical result). With
// m = lo p^-1 mod 2^64 = lo (1 + 2^32) mod 2^64, x - m p is a multiple of 2^64, and (x - m p) / 2^64 =
// hi - b with b the high word of m p (below p), computed without a multiply.
inline ulong tip5_montyred(ulong lo, ulong hi) {
    ulong shifted = lo << 32;
    ulong a = lo + shifted;
    ulong b = a - (a >> 32) - (GL_CARRY(lo, shifted, a) ? 1UL : 0UL);
    ulong r = hi - b;
    return GL_BORROW(hi, b, r) ? r - GL_EPS : r;  // + p: - 2^64 + p = - (2^32 - 1)
}

// Montgomery product: a b 2^-64 mod p, so that (x 2^64)(y 2^64) -> x y 2^64.
inline ulong tip5_mont_mul(ulong a, ulong b) {
#ifdef GL_INT128
    unsigned __int128 p = (unsigned __int128)a * b;
    return tip5_montyred((ulong)p, (ulong)(p >> 64));
#else
    return tip5_montyred(a * b, mul_hi(a, b));
#endif
}

// The S-box of state[0..4]: map each byte of the Montgomery word through the lookup table. The table
// fixes 0 and 255, so a canonical word stays canonical.
inline ulong tip5_split_and_lookup(ulong raw, __local const uchar *lut) {
    ulong out = 0;
    for (int b = 0; b < 8; b++) {
        ulong byte = (raw >> (8 * b)) & 0xFFUL;
        out |= ((ulong)lut[byte]) << (8 * b);
    }
    return out;
}

inline ulong tip5_pow7(ulong x) {
    ulong x2 = tip5_mont_mul(x, x);
    ulong x3 = tip5_mont_mul(x2, x);
    ulong x6 = tip5_mont_mul(x3, x3);
    return tip5_mont_mul(x6, x);
}

// The MDS layer multiplies the state by the circulant matrix with first column
// c = (61402, 1108, 28750, 33823, 7454, 43244, 53865, 12034, 56951, 27521, 41351, 40901, 12021, 59689,
// 26798, 17845): new[i] = sum_j c[(i - j) mod 16] old[j], the cyclic convolution c * old mod x^16 - 1.
// It is computed through x^16 - 1 = (x - 1)(x + 1)(x^2 + 1)(x^4 + 1)(x^8 + 1): fold old down to its
// residue modulo each factor, multiply each residue by c's residue, and unfold. Unfolding one level
// (u = y mod x^k - 1, v = y mod x^k + 1) gives u + v = 2 (low half of y) and u - v = 2 (high half);
// instead of halving four times, c's residue modulo x^n + 1 (and x - 1) is scaled by 16 / (2n) here
// (by 1 for x - 1), so every path ends with the same factor 16 and the result is exactly 16 y.
// The residues modulo x^n + 1 (n = 2, 4, 8) are multiplied by Karatsuba on even and odd coefficients
// (tip5_nega2, tip5_nega4, tip5_nega8), which needs c's residue at every leaf of that recursion: these
// are the arrays below, in the order the recursion visits its products (even, odd, even + odd).
#define TIP5_MDS_K1_PLUS 524757L  // c mod (x - 1)
#define TIP5_MDS_K1_MINUS 52427L  // c mod (x + 1)
__constant long TIP5_MDS_K2[3] = {-25872L, 53918L, 28046L};  // 2 (c mod x^2 + 1)
__constant long TIP5_MDS_K4[9] = {395512L, -42248L, 353264L, -297216L, 179380L, -117836L, 98296L, 137132L,
                                   235428L};  // 4 (c mod x^4 + 1)
__constant long TIP5_MDS_K8[27] = {  // 8 (c mod x^8 + 1)
    35608L, -36536L, -928L, -100808L, 216536L, 115728L, -65200L, 180000L, 114800L,
    -211304L, -131560L, -342864L, -56624L, -46488L, -103112L, -267928L, -178048L, -445976L,
    -175696L, -168096L, -343792L, -157432L, 170048L, 12616L, -333128L, 1952L, -331176L,
};

// The convolution below is written once for any integer vector type T of 64-bit lanes: tip5.cl
// instantiates it on ulong2 (the two 32-bit halves of an element), tip5_cpu.cl on its row lanes. Each
// TIP5_MDS_* macro defines the functions PREFIX_... on T.

// PREFIX_nega2: z = w v mod x^2 + 1 for the w of Karatsuba constants k = (w0, w1, w0 + w1): three products.
#define TIP5_MDS_NEGA2(PREFIX, T)                                                                       \
    __attribute__((always_inline)) inline void PREFIX##_nega2(const T *v, __constant const long *k,     \
                                                              T *z) {                                 \
        T pe = (ulong)k[0] * v[0];                                                                   \
        T po = (ulong)k[1] * v[1];                                                                   \
        T ps = (ulong)k[2] * (v[0] + v[1]);                                                          \
        z[0] = pe - po;                                                                              \
        z[1] = ps - pe - po;                                                                         \
    }

// PREFIX_negaN: z = w v mod x^N + 1 by one Karatsuba step over HALF (the same product at N / 2 = M).
// With y = x^2 (so y^M = -1) and v = ve(y) + x vo(y) split into even and odd coefficients,
// w v = we ve + y wo vo + x ((we + wo)(ve + vo) - we ve - wo vo): three half-size products, whose
// constants are k, k + 3^log2(M) and k + 2 3^log2(M) (KS is that stride). Literal loop bounds and the
// unroll pragmas let the loops unroll fully, keeping the arrays in registers (a run-time bound left pocl
// with loops over private memory).
#define TIP5_MDS_NEGA_STEP(PREFIX, T, N, M, KS, HALF)                                                  \
    __attribute__((always_inline)) inline void PREFIX##_nega##N(const T *v, __constant const long *k,  \
                                                                T *z) {                               \
        T ve[M], vo[M], vs[M], pe[M], po[M], ps[M];                                                  \
        _Pragma("unroll") for (int i = 0; i < M; i++) {                                              \
            ve[i] = v[2 * i];                                                                        \
            vo[i] = v[2 * i + 1];                                                                    \
            vs[i] = ve[i] + vo[i];                                                                   \
        }                                                                                            \
        HALF(ve, k, pe);                                                                             \
        HALF(vo, k + KS, po);                                                                        \
        HALF(vs, k + 2 * KS, ps);                                                                    \
        z[0] = pe[0] - po[M - 1]; /* y po wraps its top coefficient around with a minus sign */     \
        _Pragma("unroll") for (int i = 1; i < M; i++) z[2 * i] = pe[i] + po[i - 1];                  \
        _Pragma("unroll") for (int i = 0; i < M; i++) z[2 * i + 1] = ps[i] - pe[i] - po[i];          \
    }

// PREFIX_mds_cyclic16: x <- 16 (c * x mod x^16 - 1) for 16 values x[j] < 2^32 (in each lane of T): 41
// multiplies instead of 256.
// All arithmetic is on ulong modulo 2^64, negative numbers as two's complement: every step is a ring
// operation, so the result is exact modulo 2^64, and it is the true value because 16 sum_j c_j x_j
// < 16 * 524757 * 2^32 < 2^56. (No intermediate even wraps: residues and Karatsuba sums stay below 2^36
// in magnitude, constants below 2^20, so products and their sums stay below 2^60.)
// Fold x down to its residues modulo x^8 -+ 1, x^4 -+ 1, x^2 -+ 1, x -+ 1, multiply each, and unfold
// (a level's low half is u + v, its high half u - v).
#define TIP5_MDS_CYCLIC16(PREFIX, T)                                                                    \
    __attribute__((always_inline)) inline void PREFIX##_mds_cyclic16(T *x) {                            \
        T a8[8], b8[8], a4[4], b4[4], a2[2], b2[2], r8[8], r4[4], r2[2];                             \
        _Pragma("unroll") for (int i = 0; i < 8; i++) {                                              \
            a8[i] = x[i] + x[i + 8];                                                                 \
            b8[i] = x[i] - x[i + 8];                                                                 \
        }                                                                                            \
        _Pragma("unroll") for (int i = 0; i < 4; i++) {                                              \
            a4[i] = a8[i] + a8[i + 4];                                                               \
            b4[i] = a8[i] - a8[i + 4];                                                               \
        }                                                                                            \
        _Pragma("unroll") for (int i = 0; i < 2; i++) {                                              \
            a2[i] = a4[i] + a4[i + 2];                                                               \
            b2[i] = a4[i] - a4[i + 2];                                                               \
        }                                                                                            \
        T r1a = (ulong)TIP5_MDS_K1_PLUS * (a2[0] + a2[1]);                                           \
        T r1b = (ulong)TIP5_MDS_K1_MINUS * (a2[0] - a2[1]);                                          \
        PREFIX##_nega2(b2, TIP5_MDS_K2, r2);                                                         \
        PREFIX##_nega4(b4, TIP5_MDS_K4, r4);                                                         \
        PREFIX##_nega8(b8, TIP5_MDS_K8, r8);                                                         \
        a2[0] = r1a + r1b;                                                                           \
        a2[1] = r1a - r1b;                                                                           \
        _Pragma("unroll") for (int i = 0; i < 2; i++) {                                              \
            a4[i] = a2[i] + r2[i];                                                                   \
            a4[i + 2] = a2[i] - r2[i];                                                               \
        }                                                                                            \
        _Pragma("unroll") for (int i = 0; i < 4; i++) {                                              \
            a8[i] = a4[i] + r4[i];                                                                   \
            a8[i + 4] = a4[i] - r4[i];                                                               \
        }                                                                                            \
        _Pragma("unroll") for (int i = 0; i < 8; i++) {                                              \
            x[i] = a8[i] + r8[i];                                                                    \
            x[i + 8] = a8[i] - r8[i];                                                                \
        }                                                                                            \
    }

// All of the above on T, under PREFIX.
#define TIP5_MDS_FUNCTIONS(PREFIX, T)                                                                   \
    TIP5_MDS_NEGA2(PREFIX, T)                                                                        \
    TIP5_MDS_NEGA_STEP(PREFIX, T, 4, 2, 3, PREFIX##_nega2)                                           \
    TIP5_MDS_NEGA_STEP(PREFIX, T, 8, 4, 9, PREFIX##_nega4)                                           \
    TIP5_MDS_CYCLIC16(PREFIX, T)

TIP5_MDS_FUNCTIONS(tip5, ulong2)

// state <- M state. Each element is split into 32-bit halves and each half-vector convolved with c
// exactly in integers (row sums below 2^52), so each output needs one reduction at the end.
inline void tip5_mds(ulong *state) {
    ulong2 x[16];  // (low half, high half) of each element: both go through the same convolution
#pragma unroll
    for (int j = 0; j < 16; j++) x[j] = (ulong2)(state[j] & 0xFFFFFFFFUL, state[j] >> 32);
    tip5_mds_cyclic16(x);
#pragma unroll
    for (int i = 0; i < 16; i++) {
        ulong acc_lo = x[i].s0 >> 4;  // exact: the convolution returned 16 times the row sum
        ulong acc_hi = x[i].s1 >> 4;
        // value = acc_hi * 2^32 + acc_lo, with acc_hi = h1 * 2^32 + h0 and 2^64 = 2^32 - 1 (mod p).
        ulong h0 = acc_hi & 0xFFFFFFFFUL;
        ulong h1 = acc_hi >> 32;
        ulong r = gl_add(gl_canon(h0 << 32), acc_lo);
        state[i] = gl_add(r, h1 * GL_EPS);
    }
}

inline void tip5_permutation(ulong *state, __local const uchar *lut) {
    for (int r = 0; r < TIP5_ROUNDS; r++) {
#pragma unroll
        for (int i = 0; i < 4; i++) state[i] = tip5_split_and_lookup(state[i], lut);
#pragma unroll
        for (int i = 4; i < 16; i++) state[i] = tip5_pow7(state[i]);
        tip5_mds(state);
#pragma unroll
        for (int i = 0; i < 16; i++) state[i] = gl_add(state[i], TIP5_RC[16 * r + i]);
    }
}

// Copy the byte table into local memory (divergent lookups into __constant serialise on GPUs).
inline void tip5_load_lut(__local uchar *lut) {
    for (uint i = get_local_id(0); i < 256; i += get_local_size(0)) lut[i] = TIP5_LOOKUP[i];
    barrier(CLK_LOCAL_MEM_FENCE);
}

// states: (n, 16) row-major, permuted in place.
__kernel void tip5_permute_kernel(__global ulong *states, const uint n) {
    __local uchar lut[256];
    tip5_load_lut(lut);
    uint g = get_global_id(0);
    if (g >= n) return;
    ulong s[16];
    for (int i = 0; i < 16; i++) s[i] = tip5_to_montgomery(states[16 * (ulong)g + i]);
    tip5_permutation(s, lut);
    for (int i = 0; i < 16; i++) states[16 * (ulong)g + i] = tip5_from_montgomery(s[i]);
}

// hash_varlen of every row, possibly fed in column batches. data is column-major: element (row, c)
// of the batch at data[c * col_stride + row], so the work-items of a group (one row each) read
// consecutive addresses. A batch that is not the last must hold a multiple of 10 columns; between
// batches the sponge states live in states (n, 16), in Montgomery form. The last batch pads (remainder, one 1, zeros; a
// whole extra block when the width is a multiple of 10) and writes the digest of row r to
// out[5 * (out_offset + r) ..] (row-major (.., 5)), so leaves can land directly in a Merkle node array.
__kernel void tip5_absorb_rows_kernel(__global const ulong *data, const uint n, const uint ncols,
                                      const ulong col_stride, __global ulong *states, const uint first,
                                      const uint last, __global ulong *out, const uint out_offset) {
    __local uchar lut[256];
    tip5_load_lut(lut);
    uint row = get_global_id(0);
    if (row >= n) return;
    ulong s[16];
    for (int i = 0; i < 16; i++) s[i] = first ? 0 : states[16 * (ulong)row + i];  // variable length: 0
    uint full = ncols / TIP5_RATE;
    uint c = 0;
    for (uint blk = 0; blk < full; blk++) {
#pragma unroll
        for (int i = 0; i < TIP5_RATE; i++) s[i] = tip5_to_montgomery(data[(ulong)(c + i) * col_stride + row]);
        c += TIP5_RATE;
        tip5_permutation(s, lut);
    }
    if (!last) {
        for (int i = 0; i < 16; i++) states[16 * (ulong)row + i] = s[i];
        return;
    }
    uint rem = ncols - c;
#pragma unroll
    for (int i = 0; i < TIP5_RATE; i++) {
        ulong v = 0;
        if ((uint)i < rem) v = tip5_to_montgomery(data[(ulong)(c + i) * col_stride + row]);
        else if ((uint)i == rem) v = GL_EPS;  // 1 in Montgomery form: 2^64 mod p
        s[i] = v;
    }
    tip5_permutation(s, lut);
    for (int i = 0; i < 5; i++) out[5 * ((ulong)out_offset + row) + i] = tip5_from_montgomery(s[i]);
}

// One Merkle level: node k = hash_pair(node 2k, node 2k+1) for k in [first, 2 first).
// nodes is (2 n_leaves, 5) row-major; root = node 1, leaf i = node n_leaves + i.
__kernel void merkle_level_kernel(__global ulong *nodes, const uint first) {
    __local uchar lut[256];
    tip5_load_lut(lut);
    uint g = get_global_id(0);
    if (g >= first) return;
    ulong k = (ulong)first + g;
    ulong s[16];
    for (int i = 0; i < 10; i++) s[i] = tip5_to_montgomery(nodes[10 * k + i]);  // children 2k, 2k+1 adjacent
    for (int i = 10; i < 16; i++) s[i] = GL_EPS;  // fixed-length domain: capacity starts at 1 (Montgomery)
    tip5_permutation(s, lut);
    for (int i = 0; i < 5; i++) nodes[5 * k + i] = tip5_from_montgomery(s[i]);
}
