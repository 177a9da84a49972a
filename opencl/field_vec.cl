// Goldilocks arithmetic on four lanes at once (ulong4), for the kernels shaped for CPUs (tip5_cpu.cl,
// ntt_cpu.cl): written on vectors, they compile to SIMD instructions, where pocl leaves field.cl's scalar
// helpers scalar. Needs field.cl (GL_P, GL_EPS). Same results as field.cl's helpers, lane by lane. A 64 x 64
// -> 128-bit product is four 32 x 32 -> 64-bit products (one SIMD multiply each for all lanes). ulong8 is
// avoided on purpose: pocl 3.0 reloads a cached program holding ulong8 code as a program without kernels.

typedef ulong4 glv;

#define GLV_WIDTH 4
#define GLV_M32 ((glv)0xFFFFFFFFUL)
#define GLV_MASK(cmp) as_ulong4(cmp)  // vector comparisons give -1 (all bits) where true

inline glv glv_canon(glv x) {
    return x - (GLV_MASK(x >= (glv)GL_P) & GL_P);
}

inline glv glv_add(glv a, glv b) {
    glv s = a + b;
    s += GLV_MASK(s < a) & GL_EPS;  // wrapped: the true sum is s + 2^64 = s + 2^32 - 1 (mod p)
    return glv_canon(s);
}

inline glv glv_sub(glv a, glv b) {
    glv d = a - b;
    return d - (GLV_MASK(a < b) & GL_EPS);  // borrowed: d = a - b + 2^64, and 2^64 - p = 2^32 - 1
}

inline glv glv_neg(glv a) {
    return GLV_MASK(a != (glv)0) & ((glv)GL_P - a);
}

// (lo, hi) <- the 128-bit product a b of each lane.
inline void glv_mul_wide(glv a, glv b, glv *lo, glv *hi) {
    glv al = a & GLV_M32, ah = a >> 32, bl = b & GLV_M32, bh = b >> 32;
    glv ll = al * bl, lh = al * bh, hl = ah * bl, hh = ah * bh;
    glv t = lh + (ll >> 32);
    glv u = hl + (t & GLV_M32);
    *lo = (u << 32) | (ll & GLV_M32);
    *hi = hh + (t >> 32) + (u >> 32);
}

// gl_reduce128 of each lane: hi 2^64 + lo mod p.
inline glv glv_reduce128(glv lo, glv hi) {
    glv hi_hi = hi >> 32, hi_lo = hi & GLV_M32;
    glv t = lo - hi_hi;
    t -= GLV_MASK(lo < hi_hi) & GL_EPS;
    glv u = (hi_lo << 32) - hi_lo;
    glv r = t + u;
    r += GLV_MASK(r < t) & GL_EPS;
    return glv_canon(r);
}

inline glv glv_mul(glv a, glv b) {
    glv lo, hi;
    glv_mul_wide(a, b, &lo, &hi);
    return glv_reduce128(lo, hi);
}

// Extension-field elements on lanes (one lane per row): three glv coefficients, as field.cl's xfe.
typedef struct { glv c0, c1, c2; } xfev;

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

inline xfev xfev_mul_base(xfev a, glv b) {
    return xfev_new(glv_mul(a.c0, b), glv_mul(a.c1, b), glv_mul(a.c2, b));
}

// field.cl's xfe_mul on lanes (its XFE_MUL_BODY).
inline xfev xfev_mul(xfev a, xfev b) XFE_MUL_BODY(xfev, glv, glv_mul, glv_add, glv_sub)
