// Kernels of the low-memory proving mode (opencl/lean.py). Needs field.cl and device_tables.cl.
//
// In that mode a column's randomized interpolant p(X) = low(X) + X^h r(X) is stored as its h low
// coefficients (column-major, column c at coef[c * stride]) and the k coefficients of r (the trace
// randomizer, tail[c * k]). On a coset where X^h is a constant f (every coset of at most h points, and
// the trace domain with f = 1) p agrees with low(X) + f r(X), a polynomial of h coefficients.

// coef[c * stride + j] += factor * tail[(tail_col + c) * k + j] for j < k: fold f * r into the head of
// each column (factor = p - f takes it out again).
__kernel void add_scaled_tail_kernel(__global ulong *coef, const ulong stride, __global const ulong *tail,
                                     const uint k, const ulong tail_col, const ulong factor) {
    uint j = get_global_id(0);
    ulong c = get_global_id(1);
    if (j >= k) return;
    __global ulong *at = coef + c * stride + j;
    *at = gl_add(*at, gl_mul(factor, tail[(tail_col + c) * k + j]));
}

// Quotient values of one lean coset of n points x_i = offset * gen^i from the constraint sums of rows
// row0 .. row0 + n - 1 of `sums` (12 words a row: initial, consistency, transition, terminal). On such a
// coset x^h is constant, so one 1 / (x^h - 1) (cons_inv) serves every row. Value i goes to
// out[first + step * i] (three components out_stride apart).
__kernel void quotient_combine_rows_kernel(__global const ulong *sums, const ulong row0,
                                           __global ulong *out, const uint n, const ulong offset,
                                           const ulong gen, const ulong omega_inv, const ulong cons_inv,
                                           const ulong out_stride, const uint first, const uint step) {
    uint i = get_global_id(0);
    if (i >= n) return;
    ulong x = gl_mul(offset, gl_pow(gen, (ulong)i));
    xfe q = quotient_at(sums + (row0 + i) * 12, x, omega_inv, cons_inv);
    xfe_store_strided(out + first + (ulong)step * i, out_stride, q);
}
