// NTTs shaped for CPU devices: one work-item transforms one whole column, in place in its output column,
// with no local memory and no barriers (pocl runs a barrier-free work-group of one work-item as plain
// scalar code). Needs field.cl, field_vec.cl (butterflies of four neighbours at once) and ntt.cl
// (bit_reverse, the twiddle table layout).
//
// The column is loaded in bit-reversed order and then put through the DIT stages (ntt.cl's notation).
// The low stages only pair elements within aligned blocks, so they run block by block on blocks that stay
// in the L1 cache; the high stages then sweep the whole column (at most a few hundred KiB: L2).

#ifndef NTT_CPU_BLOCK_LOG
#define NTT_CPU_BLOCK_LOG 11  // 2^11 ulongs = 16 KiB per block of the low stages
#endif

// The radix-4 sweep's butterflies j = 0 .. h - 1 of one block (stages of half-sizes h and 2h) on
// GLV_WIDTH consecutive j at once (field_vec.cl): neighbouring j read neighbouring elements and twiddles,
// so each operand is one vector load. h is a multiple of GLV_WIDTH.
inline void ntt_cpu_radix4_lanes(__global ulong *p, __global const ulong *w1, __global const ulong *w2,
                                 const uint h) {
    for (uint j = 0; j < h; j += GLV_WIDTH) {
        glv wa = vload4(0, w1 + j), wb = vload4(0, w2 + j), wc = vload4(0, w2 + j + h);
        glv a0 = vload4(0, p + j), a1 = glv_mul(vload4(0, p + j + h), wa);
        glv a2 = vload4(0, p + j + 2 * h), a3 = glv_mul(vload4(0, p + j + 3 * h), wa);
        glv b0 = glv_add(a0, a1), b1 = glv_sub(a0, a1);
        glv b2 = glv_add(a2, a3), b3 = glv_sub(a2, a3);
        glv t2 = glv_mul(b2, wb), t3 = glv_mul(b3, wc);
        vstore4(glv_add(b0, t2), 0, p + j);
        vstore4(glv_sub(b0, t2), 0, p + j + 2 * h);
        vstore4(glv_add(b1, t3), 0, p + j + h);
        vstore4(glv_sub(b1, t3), 0, p + j + 3 * h);
    }
}

// The radix-2 stage's butterflies of one block, GLV_WIDTH consecutive j at once (h a multiple of it).
inline void ntt_cpu_radix2_lanes(__global ulong *p, __global const ulong *w, const uint h) {
    for (uint j = 0; j < h; j += GLV_WIDTH) {
        glv a = vload4(0, p + j), b = glv_mul(vload4(0, p + j + h), vload4(0, w + j));
        vstore4(glv_add(a, b), 0, p + j);
        vstore4(glv_sub(a, b), 0, p + j + h);
    }
}

// DIT stages first .. end - 1 over x[0 .. 2^log_len). Radix 4 (two stages per sweep) where it can.
inline void ntt_cpu_dit(__global ulong *x, __global const ulong *tw, uint first, const uint end,
                        const uint log_len) {
    const uint n = 1u << log_len;
    while (first + 1 < end) {
        const uint h = 1u << first;  // stage first pairs i, i + h; stage first + 1 pairs i, i + 2h
        __global const ulong *w1 = tw + h;
        __global const ulong *w2 = tw + 2 * h;
        for (uint base = 0; base < n; base += 4 * h) {
            __global ulong *p = x + base;
            if (h >= GLV_WIDTH) {
                ntt_cpu_radix4_lanes(p, w1, w2, h);
                continue;
            }
            for (uint j = 0; j < h; j++) {
                ulong wa = w1[j], wb = w2[j], wc = w2[j + h];
                ulong a0 = p[j], a1 = gl_mul(p[j + h], wa), a2 = p[j + 2 * h], a3 = gl_mul(p[j + 3 * h], wa);
                ulong b0 = gl_add(a0, a1), b1 = gl_sub(a0, a1);
                ulong b2 = gl_add(a2, a3), b3 = gl_sub(a2, a3);
                ulong t2 = gl_mul(b2, wb), t3 = gl_mul(b3, wc);
                p[j] = gl_add(b0, t2);
                p[j + 2 * h] = gl_sub(b0, t2);
                p[j + h] = gl_add(b1, t3);
                p[j + 3 * h] = gl_sub(b1, t3);
            }
        }
        first += 2;
    }
    if (first < end) {
        const uint h = 1u << first;
        __global const ulong *w = tw + h;
        for (uint base = 0; base < n; base += 2 * h) {
            __global ulong *p = x + base;
            if (h >= GLV_WIDTH) {
                ntt_cpu_radix2_lanes(p, w, h);
                continue;
            }
            for (uint j = 0; j < h; j++) {
                ulong a = p[j], b = gl_mul(p[j + h], w[j]);
                p[j] = gl_add(a, b);
                p[j + h] = gl_sub(a, b);
            }
        }
    }
}

// Column c (global id 0) of dst, 2^log_n elements from dst + dst_off + c * dst_stride, <- the forward
// transform (twiddles tw) of the column whose bit-reversed, zero-padded input is described below; with
// the inverse twiddles and factor 1/n this is the inverse NTT.
//
// Input element j < 2^log_short of the bit-reversed order is v(j) = sum_t src[bit_reverse(j) + t 2^log_short]
// fold_factor^t (t < fold; src's column at src + src_off + c * src_stride), times load_table[j] when
// use_table is set, else times factor. The zero padding to 2^log_n puts v(j) at bit-reversed position
// j 2^shift (shift = log_n - log_short), and the first shift DIT stages copy it over its block of 2^shift,
// so the column starts from those copies at stage shift.
__kernel void ntt_cpu_column_kernel(__global const ulong *src, __global ulong *dst, __global const ulong *tw,
                                    __global const ulong *load_table, const uint use_table,
                                    const ulong factor, const ulong src_stride, const ulong dst_stride,
                                    const ulong src_off, const ulong dst_off, const uint log_short,
                                    const uint log_n, const uint fold, const ulong fold_factor) {
    const ulong c = get_global_id(0);
    __global const ulong *in = src + src_off + c * src_stride;
    __global ulong *x = dst + dst_off + c * dst_stride;
    const uint shift = log_n - log_short;
    const uint copies = 1u << shift;
    for (uint j = 0; j < (1u << log_short); j++) {
        __global const ulong *at = in + bit_reverse(j, log_short);
        ulong v = at[(ulong)(fold - 1) << log_short];
        for (uint t = fold - 1; t > 0; t--) v = gl_add(gl_mul(v, fold_factor), at[(ulong)(t - 1) << log_short]);
        v = gl_mul(v, use_table ? load_table[j] : factor);
        for (uint r = 0; r < copies; r++) x[(j << shift) + r] = v;
    }
    const uint log_b = min(log_n, (uint)NTT_CPU_BLOCK_LOG);
    if (shift < log_b) {
        for (uint b = 0; b < (1u << log_n); b += 1u << log_b) ntt_cpu_dit(x + b, tw, shift, log_b, log_b);
    }
    ntt_cpu_dit(x, tw, max(shift, log_b), log_n, log_n);
}
