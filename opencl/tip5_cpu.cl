// Tip5 row hashing shaped for CPUs: each work-item hashes TIP5_VW rows at once, every field element a
// vector of TIP5_VW lanes (one per row, field_vec.cl), so the compiler emits SIMD instructions where the
// row-per-work-item kernel of tip5.cl runs scalar code (pocl does not vectorise it across work-items).
// Needs field.cl, field_vec.cl and tip5.cl (round constants, MDS constants, the permutation's
// definition). Same results bit for bit; states in Montgomery form as in tip5.cl.
//
// What differs from tip5.cl: products reduce by Montgomery's rule on field_vec.cl's wide products, and
// the S-box's byte map is computed, not looked up (a lookup per lane and byte would be scalar code):
// LOOKUP[i] = ((i + 1)^3 mod 257) - 1 on the 32-bit words of the state, with 256 = -1 (mod 257).

#define TIP5_VW GLV_WIDTH
typedef uint8 t5w;  // the lanes of a glv as 32-bit words

// x 2^32 mod p (tip5.cl's gl_times_2_32 across lanes): x << 32 is hi 2^64 + lo, and 2^64 = 2^32 - 1.
inline glv t5v_times_2_32(glv x) {
    glv hi = x >> 32;
    return glv_add(x << 32, (hi << 32) - hi);
}

inline glv t5v_to_montgomery(glv x) {
    return glv_sub(t5v_times_2_32(x), x);
}

inline glv t5v_from_montgomery(glv raw) {
    return glv_neg(t5v_times_2_32(raw));
}

// tip5_montyred across lanes: (hi 2^64 + lo) 2^-64 mod p.
inline glv t5v_montyred(glv lo, glv hi) {
    glv a = lo + (lo << 32);
    glv b = a - (a >> 32) + GLV_MASK(a < lo);  // minus the carry of lo + (lo << 32)
    glv r = hi - b;
    return r - (GLV_MASK(hi < b) & GL_EPS);
}

inline glv t5v_mont_mul(glv a, glv b) {
    glv lo, hi;
    glv_mul_wide(a, b, &lo, &hi);
    return t5v_montyred(lo, hi);
}

inline glv t5v_pow7(glv x) {
    glv x2 = t5v_mont_mul(x, x);
    glv x3 = t5v_mont_mul(x2, x);
    glv x6 = t5v_mont_mul(x3, x3);
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

inline glv t5v_split_and_lookup(glv raw) {
    return as_ulong4(t5w_lookup_bytes(as_uint8(raw)));
}

// The MDS convolution of tip5.cl on row lanes: t5v_nega2/4/8 and t5v_mds_cyclic16.
TIP5_MDS_FUNCTIONS(t5v, glv)

// state <- M state (tip5_mds across lanes): the low and the high 32-bit halves convolved one after the
// other (half the live vectors of doing both at once), then one reduction per element.
inline void t5v_mds(glv *state) {
    glv lo[16], hi[16];
#pragma unroll
    for (int j = 0; j < 16; j++) {
        lo[j] = state[j] & GLV_M32;
        hi[j] = state[j] >> 32;
    }
    t5v_mds_cyclic16(lo);
    t5v_mds_cyclic16(hi);
#pragma unroll
    for (int i = 0; i < 16; i++) {
        glv acc_lo = lo[i] >> 4, acc_hi = hi[i] >> 4;
        glv h0 = acc_hi & GLV_M32, h1 = acc_hi >> 32;
        glv r = glv_add(glv_canon(h0 << 32), acc_lo);
        state[i] = glv_add(r, (h1 << 32) - h1);
    }
}

inline void t5v_permutation(glv *state) {
    for (int r = 0; r < TIP5_ROUNDS; r++) {
#pragma unroll
        for (int i = 0; i < 4; i++) state[i] = t5v_split_and_lookup(state[i]);
#pragma unroll
        for (int i = 4; i < 16; i++) state[i] = t5v_pow7(state[i]);
        t5v_mds(state);
#pragma unroll
        for (int i = 0; i < 16; i++) state[i] = glv_add(state[i], (glv)TIP5_RC[16 * r + i]);
    }
}

// Element (row0 + lane, column c) of a column-major batch; rows at or past n read as 0.
inline glv t5v_load_column(__global const ulong *data, ulong c, ulong col_stride, uint row0, uint n) {
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
    glv s[16];
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
        glv v = (glv)0;
        if ((uint)i < rem) v = t5v_to_montgomery(t5v_load_column(data, c + i, col_stride, row0, n));
        else if ((uint)i == rem) v = (glv)GL_EPS;  // 1 in Montgomery form
        s[i] = v;
    }
    t5v_permutation(s);
    for (int i = 0; i < 5; i++) {
        ulong v[TIP5_VW];
        vstore4(t5v_from_montgomery(s[i]), 0, v);
        for (uint l = 0; l < lanes; l++) out[5 * ((ulong)out_offset + row0 + l) + i] = v[l];
    }
}
