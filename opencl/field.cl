// Goldilocks field p = 2^64 - 2^32 + 1 on ulong, and its cubic extension F_p[x]/(x^3 - x + 1).
// Every helper takes canonical inputs (0 <= v < p) and returns canonical outputs.
// Only OpenCL 1.2 + 64-bit integers: products use mul_hi, no 128-bit types (except under GL_INT128).

#define GL_P 0xFFFFFFFF00000001UL
#define GL_EPS 0xFFFFFFFFUL  // 2^64 mod p = 2^32 - 1

// Carry out of s = a + b and borrow out of d = a - b. Programs built for a CPU define GL_CPU_CARRIES: there
// LLVM's CodeGenPrepare rewrites every plain test (s < a, a < b) into an overflow intrinsic and rescans the
// whole function after each rewrite, so an optimised build of a long generated kernel took minutes; the
// forms below give the same bits without the pattern it looks for.
#ifdef GL_CPU_CARRIES
#define GL_CARRY(a, b, s) (((((a) >> 1) + ((b) >> 1) + ((a) & (b) & 1UL)) >> 63) != 0)
#define GL_BORROW(a, b, d) ((d) > (a))
#else
#define GL_CARRY(a, b, s) ((s) < (a))
#define GL_BORROW(a, b, d) ((a) < (b))
#endif

inline ulong gl_add(ulong a, ulong b) {
    ulong s = a + b;
    // On wrap-around the true sum is s + 2^64 = s + (2^32 - 1) (mod p), and it is then already < p.
    s = GL_CARRY(a, b, s) ? s + GL_EPS : s;
    return (s >= GL_P) ? s - GL_P : s;
}

inline ulong gl_sub(ulong a, ulong b) {
    ulong d = a - b;
    // On borrow d = a - b + 2^64; adding p instead of 2^64 means subtracting 2^32 - 1.
    return GL_BORROW(a, b, d) ? d - GL_EPS : d;
}

inline ulong gl_neg(ulong a) {
    return (a == 0) ? 0 : GL_P - a;
}

// Reduce hi * 2^64 + lo using 2^64 = 2^32 - 1 and 2^96 = -1 (mod p).
inline ulong gl_reduce128(ulong lo, ulong hi) {
    ulong hi_hi = hi >> 32;
    ulong hi_lo = hi & 0xFFFFFFFFUL;
    ulong t = lo - hi_hi;
    t = GL_BORROW(lo, hi_hi, t) ? t - GL_EPS : t;
    ulong u = (hi_lo << 32) - hi_lo;  // hi_lo * (2^32 - 1), no overflow
    ulong r = t + u;
    r = GL_CARRY(t, u, r) ? r + GL_EPS : r;
    return (r >= GL_P) ? r - GL_P : r;
}

// GL_INT128: programs built for a CPU whose compiler offers 128-bit integers (opencl/runtime.py probes it)
// take the high word from one 64 x 64 -> 128 multiply; pocl's mul_hi on ulong is an out-of-line call of
// four 32-bit products.
// GL_MUL_CALL (long generated kernels): gl_mul, xfe_mul and xfe_mul_base stay calls; inlined, the 128-bit
// products made pocl's build of the largest constraint kernel take 92 s instead of 10 s, for no faster code.
// The two extension products inline their own base products, so each is one call instead of nine or three
// (the constraint kernels then take about 12-15% less CPU time on pocl; tools/README.md, session 7).
#ifdef GL_INT128
__attribute__((always_inline)) inline ulong gl_mul_inline(ulong a, ulong b) {
    unsigned __int128 p = (unsigned __int128)a * b;
    return gl_reduce128((ulong)p, (ulong)(p >> 64));
}
#ifdef GL_MUL_CALL
__attribute__((noinline)) ulong gl_mul(ulong a, ulong b) { return gl_mul_inline(a, b); }
#define XFE_PRODUCT __attribute__((noinline))
#define XFE_MUL gl_mul_inline
#else
inline ulong gl_mul(ulong a, ulong b) { return gl_mul_inline(a, b); }
#endif
#else
inline ulong gl_mul(ulong a, ulong b) {
    return gl_reduce128(a * b, mul_hi(a, b));
}
#endif

// The same product from four 32 x 32 -> 64 widening multiply-adds, each addend unable to overflow it. On an
// H100 the NTT passes run 12% faster with it and Tip5 5% slower (tools/README.md, session 6), so ntt.cl
// uses it and everything else gl_mul (CPUs with 128-bit integers keep their one multiply).
inline ulong gl_mul_limbs(ulong a, ulong b) {
#ifdef GL_INT128
    return gl_mul(a, b);
#else
    const uint a0 = (uint)a, a1 = (uint)(a >> 32), b0 = (uint)b, b1 = (uint)(b >> 32);
    const ulong p00 = (ulong)a0 * b0;
    const ulong t = (ulong)a0 * b1 + (p00 >> 32);
    const ulong u = (ulong)a1 * b0 + (t & 0xFFFFFFFFUL);
    const ulong lo = (u << 32) | (p00 & 0xFFFFFFFFUL);
    const ulong hi = (ulong)a1 * b1 + (t >> 32) + (u >> 32);
    return gl_reduce128(lo, hi);
#endif
}

inline ulong gl_sqr(ulong a) {
    return gl_mul(a, a);
}

inline ulong gl_pow(ulong base, ulong e) {
    ulong acc = 1;
    while (e != 0) {
        if (e & 1UL) acc = gl_mul(acc, base);
        base = gl_sqr(base);
        e >>= 1;
    }
    return acc;
}

// Any ulong (possibly >= p) to its canonical residue.
inline ulong gl_canon(ulong a) {
    return (a >= GL_P) ? a - GL_P : a;
}

// Cubic extension element c0 + c1 x + c2 x^2.
typedef struct { ulong c0, c1, c2; } xfe;

inline xfe xfe_add(xfe a, xfe b) {
    xfe r = { gl_add(a.c0, b.c0), gl_add(a.c1, b.c1), gl_add(a.c2, b.c2) };
    return r;
}

inline xfe xfe_sub(xfe a, xfe b) {
    xfe r = { gl_sub(a.c0, b.c0), gl_sub(a.c1, b.c1), gl_sub(a.c2, b.c2) };
    return r;
}

inline xfe xfe_neg(xfe a) {
    xfe r = { gl_neg(a.c0), gl_neg(a.c1), gl_neg(a.c2) };
    return r;
}

// a + b for a base-field b: only the constant coefficient changes.
inline xfe xfe_add_base(xfe a, ulong b) {
    xfe r = { gl_add(a.c0, b), a.c1, a.c2 };
    return r;
}

#ifndef XFE_PRODUCT
#define XFE_PRODUCT inline
#define XFE_MUL gl_mul
#endif

XFE_PRODUCT xfe xfe_mul_base(xfe a, ulong b) {
    xfe r = { XFE_MUL(a.c0, b), XFE_MUL(a.c1, b), XFE_MUL(a.c2, b) };
    return r;
}

// The body of the extension product a b: schoolbook, then x^3 = x - 1 and x^4 = x^2 - x, for elements of
// type T with coefficients of type C and the coefficients' product MUL, sum ADD and difference SUB
// (field_vec.cl's xfev_mul is the same product on lanes).
#define XFE_MUL_BODY(T, C, MUL, ADD, SUB) {                                    \
    C d0 = MUL(a.c0, b.c0);                                                    \
    C d1 = ADD(MUL(a.c0, b.c1), MUL(a.c1, b.c0));                              \
    C d2 = ADD(ADD(MUL(a.c0, b.c2), MUL(a.c1, b.c1)), MUL(a.c2, b.c0));        \
    C d3 = ADD(MUL(a.c1, b.c2), MUL(a.c2, b.c1));                              \
    C d4 = MUL(a.c2, b.c2);                                                    \
    T r = { SUB(d0, d3), SUB(ADD(d1, d3), d4), ADD(d2, d4) };                  \
    return r;                                                                  \
}

XFE_PRODUCT xfe xfe_mul(xfe a, xfe b) XFE_MUL_BODY(xfe, ulong, XFE_MUL, gl_add, gl_sub)

inline xfe xfe_new(ulong c0, ulong c1, ulong c2) { xfe r = { c0, c1, c2 }; return r; }

inline xfe xfe_lift(ulong a) { xfe r = { a, 0UL, 0UL }; return r; }

// Extension elements in global memory: coefficients at p[0], p[1], p[2], or p[0], p[s], p[2s].
inline xfe xfe_load(__global const ulong *p) { xfe r = { p[0], p[1], p[2] }; return r; }

inline void xfe_store(__global ulong *p, xfe v) { p[0] = v.c0; p[1] = v.c1; p[2] = v.c2; }

inline xfe xfe_load_strided(__global const ulong *p, const ulong s) {
    xfe r = { p[0], p[s], p[2 * s] };
    return r;
}

inline void xfe_store_strided(__global ulong *p, const ulong s, xfe v) {
    p[0] = v.c0;
    p[s] = v.c1;
    p[2 * s] = v.c2;
}
