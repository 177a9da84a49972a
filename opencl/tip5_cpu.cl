// Tip5 row hashing shaped for CPUs: each work-item hashes TIP5_VW rows at once, every field element a
// vector of TIP5_VW lanes (one per row), so the compiler emits SIMD instructions (AVX2/AVX-512) where the
// row-per-work-item kernel of tip5.cl runs scalar code (pocl does not vectorise it across work-items).
// Needs field.cl and tip5.cl (round constants, MDS constants, the permutation's definition). Same results
// bit for bit; states in Montgomery form as in tip5.cl.
//
// Two things differ from tip5.cl because they are cheap across lanes and dear per lane:
// - 64 x 64 -> 128-bit products from four 32 x 32 -> 64-bit ones (one SIMD multiply each for all lanes);
// - the S-box's byte map computed, not looked up: LOOKUP[i] = ((i + 1)^3 mod 257) - 1, evaluated on the
//   32-bit words of the state, with 256 = -1 (mod 257) for the reductions (no gathers).

#define TIP5_VW 4
typedef ulong4 t5v;
typedef uint8 t5w;  // the same lanes as 32-bit words

#define T5V_M32 ((t5v)0xFFFFFFFFUL)
#define T5V_MASK(cmp) as_ulong4(cmp)  // vector comparisons give -1 (all bits) where true

inline t5v t5v_canon(t5v x) {
    return x - (T5V_MASK(x >= (t5v)GL_P) & GL_P);
}

inline t5v t5v_add(t5v a, t5v b) {
    t5v s = a + b;
    s += T5V_MASK(s < a) & GL_EPS;  // wrapped: the true sum is s + 2^64 = s + 2^32 - 1 (mod p)
    return t5v_canon(s);
}

inline t5v t5v_sub(t5v a, t5v b) {
    t5v d = a - b;
    return d - (T5V_MASK(a < b) & GL_EPS);  // borrowed: d = a - b + 2^64, and 2^64 - p = 2^32 - 1
}

// x 2^32 mod p (tip5.cl's gl_times_2_32 across lanes).
inline t5v t5v_times_2_32(t5v x) {
    t5v lo = x << 32, hi = x >> 32;
    t5v u = (hi << 32) - hi;
    t5v r = lo + u;
    r += T5V_MASK(r < lo) & GL_EPS;
    return t5v_canon(r);
}

inline t5v t5v_to_montgomery(t5v x) {
    return t5v_sub(t5v_times_2_32(x), x);
}

inline t5v t5v_from_montgomery(t5v raw) {
    t5v t = t5v_times_2_32(raw);
    return T5V_MASK(t != (t5v)0) & ((t5v)GL_P - t);
}

// tip5_montyred across lanes: (hi 2^64 + lo) 2^-64 mod p.
inline t5v t5v_montyred(t5v lo, t5v hi) {
    t5v a = lo + (lo << 32);
    t5v b = a - (a >> 32) + T5V_MASK(a < lo);  // minus the carry of lo + (lo << 32)
    t5v r = hi - b;
    return r - (T5V_MASK(hi < b) & GL_EPS);
}

inline t5v t5v_mont_mul(t5v a, t5v b) {
    t5v al = a & T5V_M32, ah = a >> 32, bl = b & T5V_M32, bh = b >> 32;
    t5v ll = al * bl, lh = al * bh, hl = ah * bl, hh = ah * bh;
    t5v t = lh + (ll >> 32);
    t5v u = hl + (t & T5V_M32);
    return t5v_montyred((u << 32) | (ll & T5V_M32), hh + (t >> 32) + (u >> 32));
}

inline t5v t5v_pow7(t5v x) {
    t5v x2 = t5v_mont_mul(x, x);
    t5v x3 = t5v_mont_mul(x2, x);
    t5v x6 = t5v_mont_mul(x3, x3);
    return t5v_mont_mul(x6, x);
}

// v mod 257 for v < 2^17: v = 256 a + b = b - a (mod 257).
inline t5w t5w_mod257(t5w v) {
    t5w r = (v & 0xFFu) + 257u - (v >> 8);  // in [1, 512]
    return r - (as_uint8(r >= (t5w)257u) & 257u);
}

// LOOKUP applied to each byte of each 32-bit word.
inline t5w t5w_lookup_bytes(t5w w) {
    t5w out = (t5w)0u;
#pragma unroll
    for (int k = 0; k < 4; k++) {
        t5w x = ((w >> (8 * k)) & 0xFFu) + 1u;  // 1 .. 256
        t5w y = t5w_mod257(t5w_mod257(x * x) * x) - 1u;  // 0 .. 255
        out |= y << (8 * k);
    }
    return out;
}

inline t5v t5v_split_and_lookup(t5v raw) {
    return as_ulong4(t5w_lookup_bytes(as_uint8(raw)));
}

// The MDS convolution of tip5.cl (tip5_mds_cyclic16 and its Karatsuba steps) on one half-vector, lanes t5v.
inline void t5v_nega2(const t5v *v, __constant const long *k, t5v *z) {
    t5v pe = (ulong)k[0] * v[0];
    t5v po = (ulong)k[1] * v[1];
    t5v ps = (ulong)k[2] * (v[0] + v[1]);
    z[0] = pe - po;
    z[1] = ps - pe - po;
}

#define T5V_NEGA_STEP(N, M, KS, HALF)                                                                 \
    __attribute__((always_inline)) inline void t5v_nega##N(const t5v *v, __constant const long *k, \
                                                            t5v *z) {                              \
        t5v ve[M], vo[M], vs[M], pe[M], po[M], ps[M];                                               \
        _Pragma("unroll") for (int i = 0; i < M; i++) {                                             \
            ve[i] = v[2 * i];                                                                       \
            vo[i] = v[2 * i + 1];                                                                   \
            vs[i] = ve[i] + vo[i];                                                                  \
        }                                                                                           \
        HALF(ve, k, pe);                                                                            \
        HALF(vo, k + KS, po);                                                                       \
        HALF(vs, k + 2 * KS, ps);                                                                   \
        z[0] = pe[0] - po[M - 1];                                                                   \
        _Pragma("unroll") for (int i = 1; i < M; i++) z[2 * i] = pe[i] + po[i - 1];                 \
        _Pragma("unroll") for (int i = 0; i < M; i++) z[2 * i + 1] = ps[i] - pe[i] - po[i];         \
    }
T5V_NEGA_STEP(4, 2, 3, t5v_nega2)
T5V_NEGA_STEP(8, 4, 9, t5v_nega4)

// x <- 16 (c * x mod x^16 - 1), as tip5_mds_cyclic16 (same bounds: exact in 64-bit lanes).
__attribute__((always_inline)) inline void t5v_mds_cyclic16(t5v *x) {
    t5v a8[8], b8[8], a4[4], b4[4], a2[2], b2[2], r8[8], r4[4], r2[2];
#pragma unroll
    for (int i = 0; i < 8; i++) {
        a8[i] = x[i] + x[i + 8];
        b8[i] = x[i] - x[i + 8];
    }
#pragma unroll
    for (int i = 0; i < 4; i++) {
        a4[i] = a8[i] + a8[i + 4];
        b4[i] = a8[i] - a8[i + 4];
    }
#pragma unroll
    for (int i = 0; i < 2; i++) {
        a2[i] = a4[i] + a4[i + 2];
        b2[i] = a4[i] - a4[i + 2];
    }
    t5v r1a = (ulong)TIP5_MDS_K1_PLUS * (a2[0] + a2[1]);
    t5v r1b = (ulong)TIP5_MDS_K1_MINUS * (a2[0] - a2[1]);
    t5v_nega2(b2, TIP5_MDS_K2, r2);
    t5v_nega4(b4, TIP5_MDS_K4, r4);
    t5v_nega8(b8, TIP5_MDS_K8, r8);
    a2[0] = r1a + r1b;
    a2[1] = r1a - r1b;
#pragma unroll
    for (int i = 0; i < 2; i++) {
        a4[i] = a2[i] + r2[i];
        a4[i + 2] = a2[i] - r2[i];
    }
#pragma unroll
    for (int i = 0; i < 4; i++) {
        a8[i] = a4[i] + r4[i];
        a8[i + 4] = a4[i] - r4[i];
    }
#pragma unroll
    for (int i = 0; i < 8; i++) {
        x[i] = a8[i] + r8[i];
        x[i + 8] = a8[i] - r8[i];
    }
}

// state <- M state (tip5_mds across lanes): the low and the high 32-bit halves convolved one after the
// other (half the live vectors of doing both at once), then one reduction per element.
inline void t5v_mds(t5v *state) {
    t5v lo[16], hi[16];
#pragma unroll
    for (int j = 0; j < 16; j++) {
        lo[j] = state[j] & T5V_M32;
        hi[j] = state[j] >> 32;
    }
    t5v_mds_cyclic16(lo);
    t5v_mds_cyclic16(hi);
#pragma unroll
    for (int i = 0; i < 16; i++) {
        t5v acc_lo = lo[i] >> 4, acc_hi = hi[i] >> 4;
        t5v h0 = acc_hi & T5V_M32, h1 = acc_hi >> 32;
        t5v r = t5v_add(t5v_canon(h0 << 32), acc_lo);
        state[i] = t5v_add(r, (h1 << 32) - h1);
    }
}

inline void t5v_permutation(t5v *state) {
    for (int r = 0; r < TIP5_ROUNDS; r++) {
#pragma unroll
        for (int i = 0; i < 4; i++) state[i] = t5v_split_and_lookup(state[i]);
#pragma unroll
        for (int i = 4; i < 16; i++) state[i] = t5v_pow7(state[i]);
        t5v_mds(state);
#pragma unroll
        for (int i = 0; i < 16; i++) state[i] = t5v_add(state[i], (t5v)TIP5_RC[16 * r + i]);
    }
}

// Element (row0 + lane, column c) of a column-major batch; rows at or past n read as 0.
inline t5v t5v_load_column(__global const ulong *data, ulong c, ulong col_stride, uint row0, uint n) {
    __global const ulong *p = data + c * col_stride + row0;
    if (row0 + TIP5_VW <= n) return vload4(0, p);
    ulong v[TIP5_VW];
    for (uint l = 0; l < TIP5_VW; l++) v[l] = row0 + l < n ? p[l] : 0;
    return vload4(0, v);
}

// tip5_absorb_rows_kernel with TIP5_VW rows per work-item (rows TIP5_VW g .. TIP5_VW g + TIP5_VW - 1):
// the same arguments, states and outputs.
__kernel void tip5_absorb_rows_vec_kernel(__global const ulong *data, const uint n, const uint ncols,
                                          const ulong col_stride, __global ulong *states, const uint first,
                                          const uint last, __global ulong *out, const uint out_offset) {
    uint row0 = TIP5_VW * get_global_id(0);
    if (row0 >= n) return;
    uint lanes = min((uint)TIP5_VW, n - row0);
    t5v s[16];
    for (int i = 0; i < 16; i++) {
        ulong v[TIP5_VW];
        for (uint l = 0; l < TIP5_VW; l++) v[l] = first || l >= lanes ? 0 : states[16 * (ulong)(row0 + l) + i];
        s[i] = vload4(0, v);
    }
    uint full = ncols / TIP5_RATE;
    uint c = 0;
    for (uint blk = 0; blk < full; blk++) {
#pragma unroll
        for (int i = 0; i < TIP5_RATE; i++) s[i] = t5v_to_montgomery(t5v_load_column(data, c + i, col_stride, row0, n));
        c += TIP5_RATE;
        t5v_permutation(s);
    }
    if (!last) {
        for (int i = 0; i < 16; i++) {
            ulong v[TIP5_VW];
            vstore4(s[i], 0, v);
            for (uint l = 0; l < lanes; l++) states[16 * (ulong)(row0 + l) + i] = v[l];
        }
        return;
    }
    uint rem = ncols - c;
#pragma unroll
    for (int i = 0; i < TIP5_RATE; i++) {
        t5v v = (t5v)0;
        if ((uint)i < rem) v = t5v_to_montgomery(t5v_load_column(data, c + i, col_stride, row0, n));
        else if ((uint)i == rem) v = (t5v)GL_EPS;  // 1 in Montgomery form
        s[i] = v;
    }
    t5v_permutation(s);
    for (int i = 0; i < 5; i++) {
        ulong v[TIP5_VW];
        vstore4(t5v_from_montgomery(s[i]), 0, v);
        for (uint l = 0; l < lanes; l++) out[5 * ((ulong)out_offset + row0 + l) + i] = v[l];
    }
}
