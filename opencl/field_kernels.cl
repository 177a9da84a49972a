// Elementwise field kernels over flat arrays: tests and benchmarks. Needs field.cl before it.

__kernel void gl_mul_kernel(__global const ulong *a, __global const ulong *b, __global ulong *out,
                            const uint n) {
    uint i = get_global_id(0);
    if (i < n) out[i] = gl_mul(a[i], b[i]);
}

__kernel void gl_mul_limbs_kernel(__global const ulong *a, __global const ulong *b, __global ulong *out,
                                  const uint n) {
    uint i = get_global_id(0);
    if (i < n) out[i] = gl_mul_limbs(a[i], b[i]);
}

__kernel void gl_add_kernel(__global const ulong *a, __global const ulong *b, __global ulong *out,
                            const uint n) {
    uint i = get_global_id(0);
    if (i < n) out[i] = gl_add(a[i], b[i]);
}

__kernel void gl_sub_kernel(__global const ulong *a, __global const ulong *b, __global ulong *out,
                            const uint n) {
    uint i = get_global_id(0);
    if (i < n) out[i] = gl_sub(a[i], b[i]);
}

// a, b, out hold n extension elements as (n, 3) row-major.
__kernel void xfe_mul_kernel(__global const ulong *a, __global const ulong *b, __global ulong *out,
                             const uint n) {
    uint i = get_global_id(0);
    if (i >= n) return;
    xfe x = { a[3 * i], a[3 * i + 1], a[3 * i + 2] };
    xfe y = { b[3 * i], b[3 * i + 1], b[3 * i + 2] };
    xfe z = xfe_mul(x, y);
    out[3 * i] = z.c0;
    out[3 * i + 1] = z.c1;
    out[3 * i + 2] = z.c2;
}

// a, out: n extension elements (n, 3) row-major; b: n base elements.
__kernel void xfe_mul_base_kernel(__global const ulong *a, __global const ulong *b, __global ulong *out,
                                  const uint n) {
    uint i = get_global_id(0);
    if (i >= n) return;
    xfe x = { a[3 * i], a[3 * i + 1], a[3 * i + 2] };
    xfe z = xfe_mul_base(x, b[i]);
    out[3 * i] = z.c0;
    out[3 * i + 1] = z.c1;
    out[3 * i + 2] = z.c2;
}

// Plain copy, used to measure the device's memory bandwidth.
__kernel void copy_kernel(__global const ulong *src, __global ulong *dst, const ulong n) {
    ulong i = get_global_id(0);
    if (i < n) dst[i] = src[i];
}

// Pseudo-random canonical field elements (splitmix64 of seed + index, reduced): benchmark input made on
// the device, so large tables need no host upload.
__kernel void fill_random_kernel(__global ulong *out, const ulong n, const ulong seed) {
    ulong i = get_global_id(0);
    if (i >= n) return;
    ulong z = seed + (i + 1) * 0x9E3779B97F4A7C15UL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
    z = z ^ (z >> 31);
    out[i] = gl_canon(z);
}
