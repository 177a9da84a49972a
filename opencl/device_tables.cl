// Prover kernels that keep a proof's tables on the device between stages. Needs field.cl.
//
// Tables are column-major: column c of a table with row stride 1 occupies data[c * stride .. + n).
// Extension-field tables are held as three base columns per extension column (c0, c1, c2), so every
// linear operation on them is an operation on base columns. Codewords of extension elements that FRI
// works on are (n, 3) row-major instead, as Merkle leaves and revealed values are read per element.

inline ulong gl_inv(ulong a) {
    return gl_pow(a, GL_P - 2);
}

// 1 / a in the cubic extension: first column of the inverse of the multiplication matrix of a.
inline xfe xfe_inv(xfe a) {
    ulong s = gl_add(a.c0, a.c2);
    ulong d = gl_sub(a.c1, a.c2);
    ulong k0 = gl_sub(gl_mul(s, s), gl_mul(d, a.c1));
    ulong k1 = gl_sub(gl_mul(d, a.c2), gl_mul(a.c1, s));
    ulong k2 = gl_sub(gl_mul(a.c1, a.c1), gl_mul(s, a.c2));
    ulong det = gl_sub(gl_sub(gl_mul(a.c0, k0), gl_mul(a.c2, k1)), gl_mul(a.c1, k2));
    ulong t = gl_inv(det);
    xfe r = { gl_mul(k0, t), gl_mul(k1, t), gl_mul(k2, t) };
    return r;
}

inline xfe xfe_pow(xfe base, ulong e) {
    xfe acc = { 1, 0, 0 };
    while (e != 0) {
        if (e & 1UL) acc = xfe_mul(acc, base);
        base = xfe_mul(base, base);
        e >>= 1;
    }
    return acc;
}

inline xfe xfe_at(__global const ulong *p) {
    xfe r = { p[0], p[1], p[2] };
    return r;
}

// dst[dst_off + c * dst_stride + row0 + r] = src[r * cols + c]: a chunk of rows of a row-major table into
// columns (dst_off: the first target column inside a larger table).
__kernel void transpose_kernel(__global const ulong *src, __global ulong *dst, const uint rows,
                               const uint cols, const ulong dst_stride, const ulong row0, const ulong dst_off) {
    uint r = get_global_id(0);
    uint c = get_global_id(1);
    if (r >= rows || c >= cols) return;
    dst[dst_off + c * dst_stride + row0 + r] = src[(ulong)r * cols + c];
}

// The same transpose through local memory, in tiles of TILE x TILE elements: a work-group of (TILE,
// TILE_ROWS) reads a tile's rows along the source row and writes its columns along the destination
// column, so both the reads and the writes are contiguous across the work-items (the kernel above reads
// with a stride of `cols` words). Global size (ceil(rows / TILE) TILE, ceil(cols / TILE) TILE_ROWS).
#define TILE 32
#define TILE_ROWS 8
__kernel void transpose_tiled_kernel(__global const ulong *src, __global ulong *dst, const uint rows,
                                     const uint cols, const ulong dst_stride, const ulong row0,
                                     const ulong dst_off) {
    __local ulong tile[TILE][TILE + 1];  // + 1: the column reads below hit distinct banks
    const uint lx = get_local_id(0), ly = get_local_id(1);
    const uint r0 = get_group_id(0) * TILE, c0 = get_group_id(1) * TILE;
    for (uint j = ly; j < TILE; j += TILE_ROWS) {
        const uint r = r0 + j, c = c0 + lx;
        if (r < rows && c < cols) tile[j][lx] = src[(ulong)r * cols + c];
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint j = ly; j < TILE; j += TILE_ROWS) {
        const uint c = c0 + j, r = r0 + lx;
        if (r < rows && c < cols) dst[dst_off + c * dst_stride + row0 + r] = tile[lx][j];
    }
}

// buf[first + i] = 0 for i < count. NVIDIA's clEnqueueFillBuffer faulted at byte offsets of 2^34 and above
// (the aux table of a 2^23 proof), so device tables are zeroed by this kernel, with 64-bit indices.
__kernel void zero_kernel(__global ulong *buf, const ulong first, const ulong count) {
    ulong i = get_global_id(0);
    if (i < count) buf[first + i] = 0;
}

// Randomized interpolant coefficients: column c of dst (length 2h) = interpolant (tmp, length h)
// + (X^h - 1) * randomizer (rnd, k coefficients per column); dst starts at element dst_off.
__kernel void randomize_kernel(__global const ulong *tmp, __global const ulong *rnd, __global ulong *dst,
                               const uint h, const uint k, const ulong dst_off) {
    uint i = get_global_id(0);
    ulong c = get_global_id(1);
    if (i >= 2 * h) return;
    ulong v;
    if (i < h) {
        v = tmp[c * h + i];
        if (i < k) v = gl_sub(v, rnd[c * k + i]);
    } else {
        v = (i - h < k) ? rnd[c * k + (i - h)] : 0;
    }
    dst[dst_off + c * 2 * h + i] = v;
}

// Leaves of a Merkle node array: node n_leaves + first + step * i <- digest i (row-major (count, 5)).
__kernel void scatter_digests_kernel(__global const ulong *digests, __global ulong *nodes, const uint count,
                                     const ulong n_leaves, const uint first, const uint step) {
    uint i = get_global_id(0);
    if (i >= count) return;
    ulong node = n_leaves + first + (ulong)step * i;
    for (uint j = 0; j < 5; j++) nodes[node * 5 + j] = digests[(ulong)i * 5 + j];
}

// Leaves of a FRI round: node n + i <- [c0, c1, c2, 0, 0] of codeword element i ((n, 3) row-major).
__kernel void xfe_leaves_kernel(__global const ulong *codeword, __global ulong *nodes, const uint n) {
    uint i = get_global_id(0);
    if (i >= n) return;
    ulong node = (ulong)n + i;
    nodes[node * 5] = codeword[3 * (ulong)i];
    nodes[node * 5 + 1] = codeword[3 * (ulong)i + 1];
    nodes[node * 5 + 2] = codeword[3 * (ulong)i + 2];
    nodes[node * 5 + 3] = 0;
    nodes[node * 5 + 4] = 0;
}

// out[t * width + j] = src[idx[t] * width + j]: rows of a row-major array (Merkle nodes, codewords).
__kernel void gather_rows_kernel(__global const ulong *src, __global const ulong *idx, __global ulong *out,
                                 const uint count, const uint width) {
    uint t = get_global_id(0);
    if (t >= count) return;
    ulong r = idx[t];
    for (uint j = 0; j < width; j++) out[(ulong)t * width + j] = src[r * width + j];
}

// out[t * ncols + c] = data[c * stride + idx[t]]: rows of a column-major table.
__kernel void gather_columns_kernel(__global const ulong *data, const ulong stride, __global const ulong *idx,
                                    __global ulong *out, const uint count, const uint ncols) {
    uint t = get_global_id(0);
    uint c = get_global_id(1);
    if (t >= count || c >= ncols) return;
    out[(ulong)t * ncols + c] = data[c * stride + idx[t]];
}

// The quotient at one point x from that row's 12 words of weighted constraint sums (initial, consistency,
// transition, terminal, 3 words each): sum_cat sums_cat / zerofier_cat(x), where cons_inv is
// 1 / (x^h - 1) and omega_inv the trace generator's inverse. Shared with opencl/lean.cl.
inline xfe quotient_at(__global const ulong *s, ulong x, ulong omega_inv, ulong cons_inv) {
    ulong init_inv = gl_inv(gl_sub(x, 1));
    ulong except_last = gl_sub(x, omega_inv);
    ulong term_inv = gl_inv(except_last);
    ulong tran_inv = gl_mul(except_last, cons_inv);
    xfe q = xfe_mul_base(xfe_at(s), init_inv);
    q = xfe_add(q, xfe_mul_base(xfe_at(s + 3), cons_inv));
    q = xfe_add(q, xfe_mul_base(xfe_at(s + 6), tran_inv));
    return xfe_add(q, xfe_mul_base(xfe_at(s + 9), term_inv));
}

// Quotient of one coset: x_i = offset * gen^i (i < n), sums[(i * 4 + category) * 3 + j] the weighted
// constraint sums of the four categories (initial, consistency, transition, terminal). Writes
// sum_cat sums_cat / zerofier_cat(x_i) to out[j * out_stride + first + step * i].
// x^h takes two values on a coset of length 2h: cons_even at even i and cons_odd at odd i (inverted).
__kernel void quotient_combine_kernel(__global const ulong *sums, __global ulong *out, const uint n,
                                      const ulong offset, const ulong gen, const ulong omega_inv,
                                      const ulong cons_even, const ulong cons_odd, const ulong out_stride,
                                      const uint first, const uint step) {
    uint i = get_global_id(0);
    if (i >= n) return;
    ulong x = gl_mul(offset, gl_pow(gen, (ulong)i));
    ulong cons_inv = (i & 1u) ? cons_odd : cons_even;
    xfe q = quotient_at(sums + (ulong)i * 12, x, omega_inv, cons_inv);
    xfe_store_strided(out + first + (ulong)step * i, out_stride, q);
}

// coeffs (3 columns of length 2h) <- the whole quotient's coefficients: low (3 columns of length h) holds
// those of its interpolant on the half domain (its upper half folded onto its lower half), coeffs those of
// the high constraints' quotient, which alone reach the upper half: low - upper half below h, kept above.
__kernel void quotient_unfold_kernel(__global const ulong *low, __global ulong *coeffs, const uint h) {
    uint i = get_global_id(0);
    if (i >= h) return;
    for (uint j = 0; j < 3; j++) {
        __global ulong *column = coeffs + (ulong)j * 2 * h;
        column[i] = gl_sub(low[(ulong)j * h + i], column[h + i]);
    }
}

// Segments of the quotient: coefficients (3 columns of length 4n, natural order, of the polynomial in
// x / offset) -> seg[(3k + j) * n + m] = coeffs[j][4m + k] * offset_inv^(4m + k), k < 4, j < 3.
__kernel void segments_split_kernel(__global const ulong *coeffs, __global ulong *seg, const uint n,
                                    const ulong offset_inv) {
    uint e = get_global_id(0);  // coefficient index 4m + k
    if (e >= 4 * n) return;
    uint k = e & 3u, m = e >> 2;
    ulong f = gl_pow(offset_inv, (ulong)e);
    for (uint j = 0; j < 3; j++) seg[(ulong)(3 * k + j) * n + m] = gl_mul(coeffs[(ulong)j * 4 * n + e], f);
}

// Partial sums for evaluating columns of coefficients at one or two extension points z_a, z_b:
// work-group (g, b) handles column block b (EVAL_BLOCK columns) and rows g*L + l, stepping by G*L.
// partial[((b * G + g) * EVAL_BLOCK + q) * 6 + 3p + j] = component j of the sum for column
// b * EVAL_BLOCK + q at point p. The host adds the G partials of each column.
#define EVAL_BLOCK 8
__kernel void evaluate_partial_kernel(__global const ulong *data, const ulong stride, const uint ncols,
                                      const uint n, __global const ulong *points,
                                      __global ulong *partial) {
    __local ulong red[256];
    const uint lid = get_local_id(0);
    const uint lsize = get_local_size(0);
    const uint g = get_group_id(0);
    const uint groups = get_num_groups(0);
    const uint b = get_global_id(1);
    const uint c0 = b * EVAL_BLOCK;
    const uint nc = min((uint)EVAL_BLOCK, ncols - c0);
    xfe za = xfe_at(points), zb = xfe_at(points + 3);
    const uint start = g * lsize + lid;
    const uint total = groups * lsize;
    xfe pa = xfe_pow(za, (ulong)start), pb = xfe_pow(zb, (ulong)start);
    const xfe sa = xfe_pow(za, (ulong)total), sb = xfe_pow(zb, (ulong)total);
    ulong acc[EVAL_BLOCK][6];
    for (uint q = 0; q < EVAL_BLOCK; q++)
        for (uint j = 0; j < 6; j++) acc[q][j] = 0;
    for (uint r = start; r < n; r += total) {
        for (uint q = 0; q < EVAL_BLOCK; q++) {
            if (q < nc) {
                ulong v = data[(ulong)(c0 + q) * stride + r];
                acc[q][0] = gl_add(acc[q][0], gl_mul(v, pa.c0));
                acc[q][1] = gl_add(acc[q][1], gl_mul(v, pa.c1));
                acc[q][2] = gl_add(acc[q][2], gl_mul(v, pa.c2));
                acc[q][3] = gl_add(acc[q][3], gl_mul(v, pb.c0));
                acc[q][4] = gl_add(acc[q][4], gl_mul(v, pb.c1));
                acc[q][5] = gl_add(acc[q][5], gl_mul(v, pb.c2));
            }
        }
        pa = xfe_mul(pa, sa);
        pb = xfe_mul(pb, sb);
    }
    for (uint q = 0; q < EVAL_BLOCK; q++) {
        for (uint j = 0; j < 6; j++) {
            red[lid] = acc[q][j];
            barrier(CLK_LOCAL_MEM_FENCE);
            for (uint h = lsize / 2; h > 0; h >>= 1) {
                if (lid < h) red[lid] = gl_add(red[lid], red[lid + h]);
                barrier(CLK_LOCAL_MEM_FENCE);
            }
            if (lid == 0) partial[(((ulong)b * groups + g) * EVAL_BLOCK + q) * 6 + j] = red[0];
            barrier(CLK_LOCAL_MEM_FENCE);
        }
    }
}

// out (3 columns of length n, column-major) (+)= sum_c weights[c] * data[c * stride + i]; weights are
// extension elements (ncols, 3).
__kernel void weighted_sum_kernel(__global const ulong *data, const ulong stride, const uint ncols,
                                  __global const ulong *weights, __global ulong *out, const uint n,
                                  const uint accumulate) {
    uint i = get_global_id(0);
    if (i >= n) return;
    xfe acc = { 0, 0, 0 };
    if (accumulate) {
        acc.c0 = out[i];
        acc.c1 = out[(ulong)n + i];
        acc.c2 = out[2 * (ulong)n + i];
    }
    for (uint c = 0; c < ncols; c++) {
        ulong v = data[(ulong)c * stride + i];
        acc.c0 = gl_add(acc.c0, gl_mul(v, weights[3 * c]));
        acc.c1 = gl_add(acc.c1, gl_mul(v, weights[3 * c + 1]));
        acc.c2 = gl_add(acc.c2, gl_mul(v, weights[3 * c + 2]));
    }
    out[i] = acc.c0;
    out[(ulong)n + i] = acc.c1;
    out[2 * (ulong)n + i] = acc.c2;
}

// DEEP codeword on the FRI domain x_i = offset * gen^i: f, g (3 columns of length n, column-major)
// are the weighted row and segment sums there; c holds 9 extension elements: f(alpha), f(alpha_next),
// g(alpha^4), alpha, alpha_next, alpha^4, and the three DEEP weights. out is (n, 3) row-major.
__kernel void deep_kernel(__global const ulong *f, __global const ulong *g, __global const ulong *c,
                          __global ulong *out, const uint n, const ulong offset, const ulong gen) {
    uint i = get_global_id(0);
    if (i >= n) return;
    ulong x = gl_mul(offset, gl_pow(gen, (ulong)i));
    xfe fx = { f[i], f[(ulong)n + i], f[2 * (ulong)n + i] };
    xfe gx = { g[i], g[(ulong)n + i], g[2 * (ulong)n + i] };
    xfe xe = { x, 0, 0 };
    xfe t0 = xfe_mul(xfe_sub(fx, xfe_at(c)), xfe_inv(xfe_sub(xe, xfe_at(c + 9))));
    xfe t1 = xfe_mul(xfe_sub(fx, xfe_at(c + 3)), xfe_inv(xfe_sub(xe, xfe_at(c + 12))));
    xfe t2 = xfe_mul(xfe_sub(gx, xfe_at(c + 6)), xfe_inv(xfe_sub(xe, xfe_at(c + 15))));
    xfe r = xfe_add(xfe_add(xfe_mul(t0, xfe_at(c + 18)), xfe_mul(t1, xfe_at(c + 21))), xfe_mul(t2, xfe_at(c + 24)));
    out[3 * (ulong)i] = r.c0;
    out[3 * (ulong)i + 1] = r.c1;
    out[3 * (ulong)i + 2] = r.c2;
}

// One FRI fold of a codeword ((2 nh, 3) row-major) on offset * <gen>: x_i^-1 = offset_inv * gen_inv^i,
// dst[i] = ((1 + c x_i^-1) src[i] + (1 - c x_i^-1) src[i + nh]) / 2.
__kernel void fri_fold_kernel(__global const ulong *src, __global ulong *dst, const uint nh,
                              __global const ulong *challenge, const ulong offset_inv, const ulong gen_inv,
                              const ulong two_inv) {
    uint i = get_global_id(0);
    if (i >= nh) return;
    ulong x_inv = gl_mul(offset_inv, gl_pow(gen_inv, (ulong)i));
    xfe cx = xfe_mul_base(xfe_at(challenge), x_inv);
    xfe one = { 1, 0, 0 };
    xfe a = xfe_at(src + 3 * (ulong)i);
    xfe b = xfe_at(src + 3 * ((ulong)i + nh));
    xfe r = xfe_add(xfe_mul(xfe_add(one, cx), a), xfe_mul(xfe_sub(one, cx), b));
    r = xfe_mul_base(r, two_inv);
    dst[3 * (ulong)i] = r.c0;
    dst[3 * (ulong)i + 1] = r.c1;
    dst[3 * (ulong)i + 2] = r.c2;
}

// One step of evaluating polynomials at a few points by folding (device_tables.open_by_folds). A polynomial
// p of 2 nh coefficients equals p_lo + X^nh p_hi; at every point x with x^nh = y it takes the value of the
// folded polynomial p_lo + y p_hi, of half the size. Class k of this step (its y[k]) folds class parent[k]
// of the previous step, column by column:
//   dst[(k ncols + c) nh + j] = src[src_off + parent[k] class_stride + c col_stride + j] + y[k] (... + nh).
__kernel void fold_classes_kernel(__global const ulong *src, __global ulong *dst, __global const uint *parent,
                                  __global const ulong *y, const ulong nh, const uint ncols,
                                  const uint nclasses, const ulong src_off, const ulong col_stride,
                                  const ulong class_stride) {
    ulong j = get_global_id(0);
    uint c = get_global_id(1), k = get_global_id(2);
    if (j >= nh || c >= ncols || k >= nclasses) return;
    __global const ulong *p = src + src_off + parent[k] * class_stride + c * col_stride;
    dst[((ulong)k * ncols + c) * nh + j] = gl_add(p[j], gl_mul(y[k], p[j + nh]));
}
