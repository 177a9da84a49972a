// Row lanes for the generated constraint kernels on CPUs (stages/air/codegen.py, lanes): a work item
// evaluates rows x .. x + GLV_WIDTH - 1 at once, base-field values as field_vec.cl's glv (one lane per
// row) and extension values as xfev (three glv), so pocl emits SIMD code where it runs the one-row kernels
// as scalar code. Needs field.cl and field_vec.cl. Products stay out-of-line calls, as GL_MUL_CALL keeps
// them for the one-row kernels: inlined into the long generated kernels they make pocl's build far slower.

typedef struct { glv c0, c1, c2; } xfev;

__attribute__((noinline)) glv glv_mul_call(glv a, glv b) {
    return glv_mul(a, b);
}

inline xfev xfev_new(glv c0, glv c1, glv c2) {
    xfev r = { c0, c1, c2 };
    return r;
}

inline xfev xfev_splat(xfe a) {
    return xfev_new((glv)a.c0, (glv)a.c1, (glv)a.c2);
}

inline xfev xfev_lift(glv a) {
    return xfev_new(a, (glv)0, (glv)0);
}

inline xfev xfev_add(xfev a, xfev b) {
    return xfev_new(glv_add(a.c0, b.c0), glv_add(a.c1, b.c1), glv_add(a.c2, b.c2));
}

inline xfev xfev_neg(xfev a) {
    return xfev_new(glv_neg(a.c0), glv_neg(a.c1), glv_neg(a.c2));
}

inline xfev xfev_add_base(xfev a, glv b) {
    return xfev_new(glv_add(a.c0, b), a.c1, a.c2);
}

__attribute__((noinline)) xfev xfev_mul_base(xfev a, glv b) {
    return xfev_new(glv_mul(a.c0, b), glv_mul(a.c1, b), glv_mul(a.c2, b));
}

// field.cl's xfe_mul on lanes: schoolbook product, then x^3 = x - 1 and x^4 = x^2 - x.
__attribute__((noinline)) xfev xfev_mul(xfev a, xfev b) {
    glv d0 = glv_mul(a.c0, b.c0);
    glv d1 = glv_add(glv_mul(a.c0, b.c1), glv_mul(a.c1, b.c0));
    glv d2 = glv_add(glv_add(glv_mul(a.c0, b.c2), glv_mul(a.c1, b.c1)), glv_mul(a.c2, b.c0));
    glv d3 = glv_add(glv_mul(a.c1, b.c2), glv_mul(a.c2, b.c1));
    glv d4 = glv_mul(a.c2, b.c2);
    return xfev_new(glv_sub(d0, d3), glv_sub(glv_add(d1, d3), d4), glv_add(d2, d4));
}

// Rows r .. r + 3 (mod n) of a column whose rows lie `stride` apart: one vector load where they are
// consecutive in memory and in range, else one load per lane (the next rows wrapping around, strided
// layouts, lanes past the last row, whose results are never stored). Out of line, as the products: inlined
// at every leaf of a long kernel they made pocl's build 1.3-1.5x longer and the kernel no faster.
__attribute__((noinline)) glv glv_rows(__global const ulong *col, ulong r, ulong n, ulong stride) {
    if (stride == 1 && r + GLV_WIDTH <= n) return vload4(0, col + r);
    return (glv)(col[(r % n) * stride], col[((r + 1) % n) * stride], col[((r + 2) % n) * stride],
                 col[((r + 3) % n) * stride]);
}

__attribute__((noinline)) xfev xfev_rows(__global const ulong *col, ulong r, ulong n, ulong stride,
                                         ulong comp_stride) {
    return xfev_new(glv_rows(col, r, n, stride), glv_rows(col + comp_stride, r, n, stride),
                    glv_rows(col + 2 * comp_stride, r, n, stride));
}

// Element `index` of rows x .. x + 3 of a row-major (n, width) array of extension elements (lanes past
// the last row read as 0), and the store of those rows that exist.
inline xfev xfev_rows_load(__global const ulong *out, ulong x, ulong n, uint width, uint index) {
    ulong v[3 * GLV_WIDTH];
    for (uint l = 0; l < GLV_WIDTH; l++) {
        __global const ulong *p = out + ((x + l) * width + index) * 3;
        for (uint j = 0; j < 3; j++) v[j * GLV_WIDTH + l] = x + l < n ? p[j] : 0;
    }
    return xfev_new(vload4(0, v), vload4(1, v), vload4(2, v));
}

inline void xfev_rows_store(__global ulong *out, ulong x, ulong n, uint width, uint index, xfev a) {
    ulong v[3 * GLV_WIDTH];
    vstore4(a.c0, 0, v);
    vstore4(a.c1, 1, v);
    vstore4(a.c2, 2, v);
    for (uint l = 0; l < GLV_WIDTH && x + l < n; l++) {
        __global ulong *p = out + ((x + l) * width + index) * 3;
        for (uint j = 0; j < 3; j++) p[j] = v[j * GLV_WIDTH + l];
    }
}

#define glv_mul glv_mul_call  // in the generated code that follows, base products are calls (see above)
