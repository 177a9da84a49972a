// Batched radix-2 NTTs over many columns at once. Needs field.cl.
//
// Layout: column-major. Column c of a batch occupies data[c * stride .. c * stride + n), so every
// kernel reads and writes consecutive addresses across the work-items of a group.
//
// Twiddle table for size n (one per direction): tw[2^s + j] = w_{2^(s+1)}^j for 0 <= j < 2^s and
// 0 <= s < log n (tw[0] unused), w_m the primitive m-th root of unity (or its inverse). The
// twiddles of one stage are contiguous, so neighbouring butterflies read neighbouring entries.
//
// Two butterfly orders:
//   DIT (Cooley-Tukey): bit-reversed input -> natural output, stages s = 0, 1, ..., log n - 1:
//        (a, b) <- (a + w b, a - w b)
//   DIF (Gentleman-Sande): natural input -> bit-reversed output, stages s = log n - 1, ..., 0:
//        (a, b) <- (a + b, (a - b) w)
// where a = x[i], b = x[i + 2^s], bit s of i is 0, and w = tw[2^s + (i mod 2^s)].

#ifndef NTT_BLOCK
#define NTT_BLOCK 2048  // elements held in local memory by one work-group (16 KiB)
#endif
// Local slot of block element l: one pad word after every 16 words (a 16-word row spans all 32 banks),
// so the strided accesses of the low stages hit distinct banks.
#define SH(l) ((l) + ((l) >> 4))
#define NTT_LOCAL_WORDS (NTT_BLOCK + NTT_BLOCK / 16)

inline uint bit_reverse(uint i, uint log_n) {
    if (log_n == 0) return 0;
    i = ((i >> 1) & 0x55555555u) | ((i & 0x55555555u) << 1);
    i = ((i >> 2) & 0x33333333u) | ((i & 0x33333333u) << 2);
    i = ((i >> 4) & 0x0F0F0F0Fu) | ((i & 0x0F0F0F0Fu) << 4);
    i = ((i >> 8) & 0x00FF00FFu) | ((i & 0x00FF00FFu) << 8);
    i = (i >> 16) | (i << 16);
    return i >> (32 - log_n);
}

// tw[i] for 1 <= i < n: stage s = floor(log2 i), j = i - 2^s, tw[i] = stage_roots[s]^j,
// stage_roots[s] = w_{2^(s+1)}.
__kernel void ntt_twiddles_kernel(__global ulong *tw, __global const ulong *stage_roots, const uint n) {
    uint i = get_global_id(0);
    if (i >= n) return;
    if (i == 0) {
        tw[0] = 1;
        return;
    }
    uint s = 31 - clz(i);
    tw[i] = gl_pow(stage_roots[s], (ulong)(i - (1u << s)));
}

// out[i] = factor * base^e(i), e(i) = bit_reverse(i) if use_bitrev else i. Used for coset scaling.
__kernel void ntt_powers_kernel(__global ulong *out, const ulong base, const ulong factor, const uint log_n,
                                const uint use_bitrev) {
    uint i = get_global_id(0);
    if (i >= (1u << log_n)) return;
    uint e = use_bitrev ? bit_reverse(i, log_n) : i;
    out[i] = gl_mul(factor, gl_pow(base, (ulong)e));
}

// dst[c][i] = factor * src[c][bit_reverse(i)] for the column given by global id 1.
__kernel void ntt_bitrev_kernel(__global const ulong *src, __global ulong *dst, const uint log_n,
                                const ulong factor, const ulong src_stride, const ulong dst_stride) {
    uint i = get_global_id(0);
    ulong c = get_global_id(1);
    if (i >= (1u << log_n)) return;
    ulong v = src[c * src_stride + bit_reverse(i, log_n)];
    if (factor != 1) v = gl_mul(v, factor);
    dst[c * dst_stride + i] = v;
}

// dst[dst_off + c n + i] = src[c n + i] * pw[i], n = 2^log_n, for the column c given by global id 1: the
// coefficients of a coset's interpolant are the plain inverse transform's output times offset^-i.
__kernel void ntt_scale_kernel(__global const ulong *src, __global ulong *dst, __global const ulong *pw,
                               const uint log_n, const ulong dst_off) {
    uint i = get_global_id(0);
    ulong c = get_global_id(1);
    if (i >= (1u << log_n)) return;
    ulong at = (c << log_n) + i;
    dst[dst_off + at] = gl_mul(src[at], pw[i]);
}

// Butterflies of r = 1, 2 or 3 neighbouring stages s .. s + r - 1 on a group of 2^r elements in
// registers. x[a] is the element with global index i + a 2^s (i: the group's first index, j = i mod 2^s);
// stage s + q pairs x[a] with x[a + 2^q] (bit q of a clear) and its twiddle index is
// (i + a 2^s) mod 2^(s+q) = j + (a mod 2^q) 2^s, which TW(q, a mod 2^q) reads.
#define TW(q, am) tw[(1u << (s + (q))) + j + ((uint)(am) << s)]
#define BF_DIT(a, b, w)                     \
    do {                                    \
        ulong t_ = gl_mul_limbs(x[b], (w)); \
        x[b] = gl_sub(x[a], t_);            \
        x[a] = gl_add(x[a], t_);            \
    } while (0)
#define BF_DIF(a, b, w)                             \
    do {                                            \
        ulong y_ = x[b];                            \
        x[b] = gl_mul_limbs(gl_sub(x[a], y_), (w)); \
        x[a] = gl_add(x[a], y_);                    \
    } while (0)

inline void ntt_group2(ulong *x, const uint dif, __global const ulong *tw, const uint s, const uint j) {
    if (dif) BF_DIF(0, 1, TW(0, 0));
    else BF_DIT(0, 1, TW(0, 0));
}

inline void ntt_group4(ulong *x, const uint dif, __global const ulong *tw, const uint s, const uint j) {
    ulong w0 = TW(0, 0), w10 = TW(1, 0), w11 = TW(1, 1);
    if (dif) {
        BF_DIF(0, 2, w10); BF_DIF(1, 3, w11);
        BF_DIF(0, 1, w0); BF_DIF(2, 3, w0);
    } else {
        BF_DIT(0, 1, w0); BF_DIT(2, 3, w0);
        BF_DIT(0, 2, w10); BF_DIT(1, 3, w11);
    }
}

inline void ntt_group8(ulong *x, const uint dif, __global const ulong *tw, const uint s, const uint j) {
    ulong w0 = TW(0, 0), w10 = TW(1, 0), w11 = TW(1, 1);
    ulong w20 = TW(2, 0), w21 = TW(2, 1), w22 = TW(2, 2), w23 = TW(2, 3);
    if (dif) {
        BF_DIF(0, 4, w20); BF_DIF(1, 5, w21); BF_DIF(2, 6, w22); BF_DIF(3, 7, w23);
        BF_DIF(0, 2, w10); BF_DIF(1, 3, w11); BF_DIF(4, 6, w10); BF_DIF(5, 7, w11);
        BF_DIF(0, 1, w0); BF_DIF(2, 3, w0); BF_DIF(4, 5, w0); BF_DIF(6, 7, w0);
    } else {
        BF_DIT(0, 1, w0); BF_DIT(2, 3, w0); BF_DIT(4, 5, w0); BF_DIT(6, 7, w0);
        BF_DIT(0, 2, w10); BF_DIT(1, 3, w11); BF_DIT(4, 6, w10); BF_DIT(5, 7, w11);
        BF_DIT(0, 4, w20); BF_DIT(1, 5, w21); BF_DIT(2, 6, w22); BF_DIT(3, 7, w23);
    }
}

// One step of a pass: stages s0 + rel .. s0 + rel + R_LOG - 1 on every group of 2^R_LOG elements of the
// block (see ntt_pass_kernel for the block layout). One function per radix keeps x[] in registers.
#define NTT_BLOCK_STEP(R_LOG, GROUP_FN)                                                                   \
    inline void ntt_block_step##R_LOG(__local ulong *sh, const uint dif, __global const ulong *tw,       \
                                      const uint s0, const uint rel, const uint k, const uint log_t,     \
                                      const uint jblk) {                                                 \
        const uint hm = 1u << rel;                                                                       \
        const uint lstep = hm << log_t;                                                                  \
        const uint groups = 1u << (k + log_t - (R_LOG));                                                 \
        for (uint g = get_local_id(0); g < groups; g += get_local_size(0)) {                             \
            uint bt = g & ((1u << log_t) - 1u);                                                          \
            uint bm = g >> log_t;                                                                        \
            uint m_low = bm & (hm - 1u);                                                                 \
            uint m_base = ((bm >> rel) << (rel + (R_LOG))) | m_low;                                      \
            uint l0 = (m_base << log_t) | bt;                                                            \
            uint j = (m_low << s0) | (jblk << log_t) | bt;                                               \
            ulong x[1 << (R_LOG)];                                                                       \
            _Pragma("unroll") for (uint a = 0; a < (1u << (R_LOG)); a++) x[a] = sh[SH(l0 + a * lstep)];      \
            GROUP_FN(x, dif, tw, s0 + rel, j);                                                           \
            _Pragma("unroll") for (uint a = 0; a < (1u << (R_LOG)); a++) sh[SH(l0 + a * lstep)] = x[a];      \
        }                                                                                                \
    }

NTT_BLOCK_STEP(1, ntt_group2)
NTT_BLOCK_STEP(2, ntt_group4)
NTT_BLOCK_STEP(3, ntt_group8)

// One pass = k consecutive stages s0 .. s0 + k - 1 done in local memory.
//
// A group handles a block of B = 2^(k + log_t) elements of one column: 2^k "rows" m spaced 2^s0 apart
// times T = 2^log_t neighbouring low indices t (T <= 2^s0 keeps global reads in runs of T elements).
// Global index of local slot l = m * T + t:  gi = hi * 2^(s0 + k) + m * 2^s0 + jblk * T + t,
// where the block number (global id 1) splits into hi and jblk. Inside the block the stages run up to
// three at a time (radix 8) in registers, with a barrier after each such step.
//
// Loads read src[c * src_stride + (gi >> src_shift)]: src_shift > 0 broadcasts a shorter column, which
// is how the LDE skips its first stages (see opencl/ntt.py). With load_bits > 0 a load instead takes
// element bit_reverse(j, load_bits) of the column times load_table[j] (j = gi >> src_shift): the bit
// reversal and coset scaling of a coset evaluation done while loading, with no separate pass. A column
// longer than the transform (fold > 1 parts of 2^load_bits) is folded on the way: element r becomes
// sum_t src[r + t 2^load_bits] fold_factor^t (a polynomial evaluated on a coset smaller than its length). Stores multiply by scale[gi] when
// use_scale is set. Global id 0 is column * local size + local id, so groups of the same block of
// different columns run side by side and share twiddles in cache. src_off / dst_off (elements) select
// columns inside larger tables without sub-buffers, which NVIDIA's driver handles slowly. With use_blocks
// global id 1 indexes `blocks`, the list of block numbers to compute (a last pass run only where some
// outputs are wanted); the other blocks of dst are left as they were.
__kernel void ntt_pass_kernel(__global const ulong *src, __global ulong *dst, __global const ulong *tw,
                              __global const ulong *scale, const ulong src_stride, const ulong dst_stride,
                              const uint src_shift, const uint s0, const uint k, const uint log_t,
                              const uint dif, const uint use_scale, const ulong src_off,
                              const ulong dst_off, __global const ulong *load_table, const uint load_bits,
                              const uint fold, const ulong fold_factor, __global const uint *blocks,
                              const uint use_blocks) {
    __local ulong sh[NTT_LOCAL_WORDS];
    src += src_off;
    dst += dst_off;
    const uint lid = get_local_id(0);
    const uint lsize = get_local_size(0);
    const ulong c = get_group_id(0);
    const uint blk = use_blocks ? blocks[get_global_id(1)] : get_global_id(1);
    const uint T = 1u << log_t;
    const uint B = 1u << (k + log_t);
    const uint j_bits = s0 - log_t;  // jblk takes the low j_bits bits of the block number
    const uint jblk = blk & ((1u << j_bits) - 1u);
    const uint hi = blk >> j_bits;
    const uint base = (hi << (s0 + k)) | (jblk << log_t);

    for (uint l = lid; l < B; l += lsize) {
        uint gi = base | ((l >> log_t) << s0) | (l & (T - 1u));
        uint j = gi >> src_shift;
        if (load_bits) {
            __global const ulong *at = src + c * src_stride + bit_reverse(j, load_bits);
            ulong v = at[(ulong)(fold - 1) << load_bits];
            for (uint t = fold - 1; t > 0; t--) {
                v = gl_add(gl_mul_limbs(v, fold_factor), at[(ulong)(t - 1) << load_bits]);
            }
            sh[SH(l)] = gl_mul_limbs(v, load_table[j]);
        } else {
            sh[SH(l)] = src[c * src_stride + j];
        }
    }
    barrier(CLK_LOCAL_MEM_FENCE);

    for (uint done = 0; done < k;) {
        const uint r = min(k - done, 3u);
        const uint rel = dif ? (k - done - r) : done;  // DIT climbs from stage s0, DIF descends from the top
        if (r == 3) ntt_block_step3(sh, dif, tw, s0, rel, k, log_t, jblk);
        else if (r == 2) ntt_block_step2(sh, dif, tw, s0, rel, k, log_t, jblk);
        else ntt_block_step1(sh, dif, tw, s0, rel, k, log_t, jblk);
        barrier(CLK_LOCAL_MEM_FENCE);
        done += r;
    }

    for (uint l = lid; l < B; l += lsize) {
        uint gi = base | ((l >> log_t) << s0) | (l & (T - 1u));
        ulong v = sh[SH(l)];
        if (use_scale) v = gl_mul_limbs(v, scale[gi]);
        dst[c * dst_stride + gi] = v;
    }
}
