// Auxiliary-table extension of Triton VM v7.0.0 on the device: the 49 cross-table-argument columns.
// Needs field.cl (gl_*, xfe_*) and the generated column and challenge index #defines (opencl/air.py puts
// those of the kernel set in front) before it.
//
// Every auxiliary column is an affine recurrence x_r = a_r * x_(r-1) + b_r over the extension field with
// x_(-1) = 0 (a column's initial value is folded into row 0): running evaluations have a = indeterminate,
// running products b = 0, log-derivative sums a = 1.  ext_terms writes each row's (a, b) -- b straight
// into the auxiliary table, a into a scratch table of the same layout -- and ext_scan_* solve the
// recurrences with a chunked parallel scan over the composition of the affine maps.
//
// Layouts: main is column-major (column c at main[c * n ...]); the auxiliary table and the scratch have
// three base columns per extension column (coefficient j of column c at aux[(3 * c + j) * n ...]).
// consts holds the 63 challenges, then powers 0..5 of the standard-input and -output indeterminates and
// powers 0..10 of the program-attestation prepare-chunk indeterminate (3 ulongs each).

#define EX_IN_POW 63
#define EX_OUT_POW 69
#define EX_PREP_POW 75
#define EX_MONTGOMERY_R_INV 18446744065119617025UL  // 2^-64 mod p

inline xfe ex_lift(ulong a) { xfe r = {a, 0UL, 0UL}; return r; }

inline xfe ex_c(__global const ulong *consts, uint i) {
    xfe r = {consts[3 * i], consts[3 * i + 1], consts[3 * i + 2]};
    return r;
}

inline ulong ex_sqn(ulong x, int k) {
    for (int i = 0; i < k; i++) x = gl_mul(x, x);
    return x;
}

// x^(p - 2) = 1/x by an addition chain (73 products instead of gl_pow's 127); t_k = x^(2^k - 1)
inline ulong ex_inv_base(ulong x) {
    const ulong t2 = gl_mul(gl_mul(x, x), x);
    const ulong t4 = gl_mul(ex_sqn(t2, 2), t2);
    const ulong t8 = gl_mul(ex_sqn(t4, 4), t4);
    const ulong t16 = gl_mul(ex_sqn(t8, 8), t8);
    const ulong t24 = gl_mul(ex_sqn(t16, 8), t8);
    const ulong t28 = gl_mul(ex_sqn(t24, 4), t4);
    const ulong t30 = gl_mul(ex_sqn(t28, 2), t2);
    const ulong t31 = gl_mul(gl_mul(t30, t30), x);
    const ulong t32m2 = gl_mul(t31, t31);  // x^(2^32 - 2)
    return gl_mul(ex_sqn(t32m2, 32), gl_mul(t32m2, x));  // p - 2 = (2^32 - 2) 2^32 + 2^32 - 1
}

// inverse through the adjugate of the multiplication matrix of a (basis 1, t, t^2; t^3 = t - 1)
inline xfe ex_inv(xfe a) {
    ulong s = gl_add(a.c0, a.c2);
    ulong d = gl_sub(a.c1, a.c2);
    ulong k0 = gl_sub(gl_mul(s, s), gl_mul(d, a.c1));
    ulong k1 = gl_sub(gl_mul(d, a.c2), gl_mul(a.c1, s));
    ulong k2 = gl_sub(gl_mul(a.c1, a.c1), gl_mul(s, a.c2));
    ulong det = gl_sub(gl_sub(gl_mul(a.c0, k0), gl_mul(a.c2, k1)), gl_mul(a.c1, k2));
    ulong di = ex_inv_base(det);
    xfe r = {gl_mul(k0, di), gl_mul(k1, di), gl_mul(k2, di)};
    return r;
}

// alpha - sum of base values times challenge weights, the usual compressed-row denominator / factor
inline xfe ex_wsum(__global const ulong *consts, xfe acc, uint w, ulong v) {
    return xfe_add(acc, xfe_mul_base(ex_c(consts, w), v));
}

// (valid, op-stack size change) of instruction ci with argument nia, as the reference decodes them
inline int ex_decode(ulong ci, ulong nia, long *delta) {
    int nw = nia >= 1 && nia <= 5;
    switch (ci) {
    case 1: case 4: *delta = 1; return 1;
    case 33: *delta = 1; return nia <= 15;
    case 17: case 25: case 41: *delta = 0; return nia <= 15;
    case 3: case 11: case 19: *delta = -(long)nia; return nw;
    case 9: case 57: case 73: *delta = (long)nia; return nw;
    case 0: case 8: case 12: case 16: case 20: case 24: case 28: case 32: case 36: case 40: case 44:
    case 48: case 49: case 64: case 65: case 72: case 80: case 88:
        *delta = 0; return 1;
    case 2: case 6: case 10: case 14: case 22: case 30: case 42: case 50: case 58: case 82:
        *delta = -1; return 1;
    case 18: case 26: *delta = -5; return 1;
    case 34: *delta = -10; return 1;
    case 56: *delta = 10; return 1;
    case 66: case 74: *delta = -3; return 1;
    default: *delta = 0; return 0;
    }
}

#define EX_M(c) main[(ulong)(c) * n + r]
#define EX_MP(c) main[(ulong)(c) * n + r - 1]
#define EX_MR(c, row) main[(ulong)(c) * n + (row)]
#define EX_CH(id) ex_c(consts, ChallengeId_##id)
#define EX_STORE(buf, col, v) do { xfe v_ = (v); ulong o_ = (ulong)(col) * 3 * n + r; \
    buf[o_] = v_.c0; buf[o_ + n] = v_.c1; buf[o_ + 2 * n] = v_.c2; } while (0)
// a non-window column with initial value 1: row 0 holds a_0 * 1 + b_0 (the scan starts from 0)
#define EX_PUT_ONE(col, av, bv) do { xfe a__ = (av); xfe b__ = (bv); \
    if (r == 0) { EX_STORE(aux, col, xfe_add(a__, b__)); EX_STORE(amul, col, ex_lift(0UL)); } \
    else { EX_STORE(aux, col, b__); EX_STORE(amul, col, a__); } } while (0)
// a window column (rows r-1, r) whose row 0 is the given value
#define EX_PUT_WIN(col, first, av, bv) do { if (r == 0) { EX_STORE(aux, col, (first)); \
    EX_STORE(amul, col, ex_lift(0UL)); } else { EX_STORE(aux, col, (bv)); EX_STORE(amul, col, (av)); } } while (0)

// First row at or after `from` where predicate k holds, per predicate (atomic minimum; first[k] starts
// at n): 0 processor padding, 1 op-stack padding (rows >= 1), 2 RAM padding (rows >= 1),
// 3 RAM padding (rows >= 0), 4 lookup padding.
__kernel void ext_first_padding(__global const ulong *main, const uint n, __global uint *first) {
    const uint r = get_global_id(0);
    if (r >= n) return;
    if (EX_M(ProcessorMain_IsPadding) == 1) atomic_min(first + 0, r);
    if (r >= 1 && EX_M(OpStackMain_IB1ShrinkStack) == 2) atomic_min(first + 1, r);
    if (EX_M(RamMain_InstructionType) == 2) {
        atomic_min(first + 3, r);
        if (r >= 1) atomic_min(first + 2, r);
    }
    if (EX_M(LookupMain_IsPadding) == 1) atomic_min(first + 4, r);
}

inline xfe ex_ram_factor(__global const ulong *consts, xfe base, ulong ptr, ulong val) {
    xfe comp = ex_wsum(consts, ex_wsum(consts, base, ChallengeId_RamPointerWeight, ptr),
                       ChallengeId_RamValueWeight, val);
    return xfe_sub(ex_c(consts, ChallengeId_RamIndeterminate), comp);
}

// rate register i (0..9) of a hash-table row: the first four from their 16-bit limbs (Montgomery form)
inline ulong ex_rate(__global const ulong *main, uint n, uint r, int i) {
    if (i >= 4) return EX_M(HashMain_State4 + i - 4);
    uint c = HashMain_State0HighestLkIn + 4 * i;
    ulong raw = gl_add(gl_add(gl_mul(EX_M(c), 1UL << 48), gl_mul(EX_M(c + 1), 1UL << 32)),
                       gl_add(gl_mul(EX_M(c + 2), 1UL << 16), EX_M(c + 3)));
    return gl_mul(raw, EX_MONTGOMERY_R_INV);
}

// Per row r: (a, b) of every column but Program.SendChunkRunningEvaluation (ext_terms_late), with
// Ram.FormalDerivative's slot holding the running sum of 1/(beta - ramp) it is the product with.
__kernel void ext_terms(__global const ulong *main, const uint n, __global const ulong *consts,
                        __global const uint *first, __global ulong *aux, __global ulong *amul) {
    const uint r = get_global_id(0);
    if (r >= n) return;
    const xfe one = ex_lift(1UL), zero = ex_lift(0UL);
    const uint rp = r == 0 ? 0 : r - 1;  // previous row (row 0 only uses it under r > 0)
    const xfe cjd_alpha = EX_CH(ClockJumpDifferenceLookupIndeterminate);

    // ---- program table
    {
        xfe t = zero;
        if (r > 0 && EX_MP(ProgramMain_IsHashInputPadding) != 1) {
            xfe comp = ex_wsum(consts, zero, ChallengeId_ProgramAddressWeight, EX_MP(ProgramMain_Address));
            comp = ex_wsum(consts, comp, ChallengeId_ProgramInstructionWeight, EX_MP(ProgramMain_Instruction));
            comp = ex_wsum(consts, comp, ChallengeId_ProgramNextInstructionWeight, EX_M(ProgramMain_Instruction));
            t = xfe_mul_base(ex_inv(xfe_sub(EX_CH(InstructionLookupIndeterminate), comp)),
                             EX_MP(ProgramMain_LookupMultiplicity));
        }
        EX_STORE(aux, ProgramAux_InstructionLookupServerLogDerivative, t);
        xfe alpha = EX_CH(ProgramAttestationPrepareChunkIndeterminate);
        xfe instr = ex_lift(EX_M(ProgramMain_Instruction));
        if (EX_M(ProgramMain_IndexInChunk) == 0)
            EX_PUT_ONE(ProgramAux_PrepareChunkRunningEvaluation, zero, xfe_add(alpha, instr));
        else
            EX_PUT_ONE(ProgramAux_PrepareChunkRunningEvaluation, alpha, instr);
    }

    // ---- processor table
    {
        const ulong ci = EX_M(ProcessorMain_CI);
        const ulong ci_p = EX_MR(ProcessorMain_CI, rp), nia_p = EX_MR(ProcessorMain_NIA, rp);
        long delta = 0;
        const int valid_p = ex_decode(ci_p, nia_p, &delta);
        const int cur_live = EX_M(ProcessorMain_IsPadding) != 1;

        // standard input / output
        xfe a = one, b = zero;
        if (ci_p == 73 && nia_p >= 1 && nia_p <= 5) {
            a = ex_c(consts, EX_IN_POW + (uint)nia_p);
            for (uint i = 0; i < nia_p; i++)
                b = xfe_add(b, xfe_mul_base(ex_c(consts, EX_IN_POW + i), EX_M(ProcessorMain_ST0 + i)));
        }
        EX_PUT_WIN(ProcessorAux_InputTableEvalArg, one, a, b);
        a = one; b = zero;
        if (ci_p == 19 && nia_p >= 1 && nia_p <= 5) {
            a = ex_c(consts, EX_OUT_POW + (uint)nia_p);
            for (uint i = 0; i < nia_p; i++)
                b = xfe_add(b, xfe_mul_base(ex_c(consts, EX_OUT_POW + (uint)nia_p - 1 - i),
                                            EX_MR(ProcessorMain_ST0 + i, rp)));
        }
        EX_PUT_WIN(ProcessorAux_OutputTableEvalArg, one, a, b);

        // instruction lookup client: rows before the first padding row
        b = zero;
        if (r < first[0]) {
            xfe comp = ex_wsum(consts, zero, ChallengeId_ProgramAddressWeight, EX_M(ProcessorMain_IP));
            comp = ex_wsum(consts, comp, ChallengeId_ProgramInstructionWeight, ci);
            comp = ex_wsum(consts, comp, ChallengeId_ProgramNextInstructionWeight, EX_M(ProcessorMain_NIA));
            b = ex_inv(xfe_sub(EX_CH(InstructionLookupIndeterminate), comp));
        }
        EX_STORE(aux, ProcessorAux_InstructionLookupClientLogDerivative, b);

        // op-stack permutation: one factor per underflow word moved
        a = one;
        if (r > 0 && valid_p && cur_live && delta != 0) {
            const uint srow = delta > 0 ? rp : r;  // the row with the shorter stack
            const uint size = delta > 0 ? (uint)delta : (uint)(-delta);
            xfe base = ex_wsum(consts, zero, ChallengeId_OpStackClkWeight, EX_MR(ProcessorMain_CLK, rp));
            base = ex_wsum(consts, base, ChallengeId_OpStackIb1Weight, EX_MR(ProcessorMain_IB1, rp));
            const ulong ptr = EX_MR(ProcessorMain_OpStackPointer, srow);
            for (uint off = 0; off < size; off++) {
                xfe comp = ex_wsum(consts, base, ChallengeId_OpStackPointerWeight, gl_add(ptr, off));
                comp = ex_wsum(consts, comp, ChallengeId_OpStackFirstUnderflowElementWeight,
                               EX_MR(ProcessorMain_ST0 + 15 - off, srow));
                a = xfe_mul(a, xfe_sub(EX_CH(OpStackIndeterminate), comp));
            }
        }
        EX_PUT_WIN(ProcessorAux_OpStackTablePermArg, one, a, zero);

        // RAM permutation: one factor per memory access of the previous row's instruction
        a = one;
        if (r > 0 && valid_p && cur_live) {
            const ulong clk = EX_MR(ProcessorMain_CLK, rp);
            xfe rd = ex_wsum(consts, ex_wsum(consts, zero, ChallengeId_RamClkWeight, clk),
                             ChallengeId_RamInstructionTypeWeight, 1UL);
            xfe wr = ex_wsum(consts, zero, ChallengeId_RamClkWeight, clk);
            const ulong st0p = EX_MR(ProcessorMain_ST0, rp), st1p = EX_MR(ProcessorMain_ST1, rp);
            if (ci_p == 57) {
                for (uint off = 0; off < nia_p; off++)
                    a = xfe_mul(a, ex_ram_factor(consts, rd, gl_add(EX_M(ProcessorMain_ST0), off + 1),
                                                 EX_M(ProcessorMain_ST0 + off + 1)));
            } else if (ci_p == 11) {
                for (uint off = 0; off < nia_p; off++)
                    a = xfe_mul(a, ex_ram_factor(consts, wr, gl_add(st0p, off), EX_MR(ProcessorMain_ST0 + off + 1, rp)));
            } else if (ci_p == 48) {
                for (uint i = 0; i < 10; i++) {
                    ulong v = i < 4 ? EX_M(ProcessorMain_ST1 + i) : EX_MR(ProcessorMain_HV0 + i - 4, rp);
                    a = xfe_mul(a, ex_ram_factor(consts, rd, gl_add(st0p, i), v));
                }
            } else if (ci_p == 44) {
                const ulong st7p = EX_MR(ProcessorMain_ST7, rp);
                for (uint i = 0; i < 5; i++)
                    a = xfe_mul(a, ex_ram_factor(consts, rd, gl_add(st7p, i), EX_MR(ProcessorMain_HV0 + i, rp)));
            } else if (ci_p == 80) {
                for (uint i = 0; i < 3; i++)
                    a = xfe_mul(a, ex_ram_factor(consts, rd, gl_add(st0p, i), EX_MR(ProcessorMain_HV0 + i, rp)));
                for (uint i = 0; i < 3; i++)
                    a = xfe_mul(a, ex_ram_factor(consts, rd, gl_add(st1p, i), EX_MR(ProcessorMain_HV3 + i, rp)));
            } else if (ci_p == 88) {
                a = ex_ram_factor(consts, rd, st0p, EX_MR(ProcessorMain_HV0, rp));
                for (uint i = 0; i < 3; i++)
                    a = xfe_mul(a, ex_ram_factor(consts, rd, gl_add(st1p, i), EX_MR(ProcessorMain_HV1 + i, rp)));
            }
        }
        EX_PUT_WIN(ProcessorAux_RamTablePermArg, one, a, zero);

        // jump-stack permutation
        {
            xfe comp = ex_wsum(consts, zero, ChallengeId_JumpStackClkWeight, EX_M(ProcessorMain_CLK));
            comp = ex_wsum(consts, comp, ChallengeId_JumpStackCiWeight, ci);
            comp = ex_wsum(consts, comp, ChallengeId_JumpStackJspWeight, EX_M(ProcessorMain_JSP));
            comp = ex_wsum(consts, comp, ChallengeId_JumpStackJsoWeight, EX_M(ProcessorMain_JSO));
            comp = ex_wsum(consts, comp, ChallengeId_JumpStackJsdWeight, EX_M(ProcessorMain_JSD));
            EX_PUT_ONE(ProcessorAux_JumpStackTablePermArg, xfe_sub(EX_CH(JumpStackIndeterminate), comp), zero);
        }

        // hash input: hash / merkle_step(_mem) rows, siblings ordered by the parity of st5
        a = one; b = zero;
        if (ci == 18 || ci == 36 || ci == 44) {
            a = EX_CH(HashInputIndeterminate);
            const int left = ci == 18 || (EX_M(ProcessorMain_ST5) & 1UL) == 0;
            for (uint i = 0; i < 10; i++) {
                ulong v;
                if (ci == 18) v = EX_M(ProcessorMain_ST0 + i);
                else if (left) v = i < 5 ? EX_M(ProcessorMain_ST0 + i) : EX_M(ProcessorMain_HV0 + i - 5);
                else v = i < 5 ? EX_M(ProcessorMain_HV0 + i) : EX_M(ProcessorMain_ST0 + i - 5);
                b = ex_wsum(consts, b, ChallengeId_StackWeight0 + i, v);
            }
        }
        EX_PUT_ONE(ProcessorAux_HashInputEvalArg, a, b);

        // hash digest: the row after a hash / merkle_step(_mem)
        a = one; b = zero;
        if (ci_p == 18 || ci_p == 36 || ci_p == 44) {
            a = EX_CH(HashDigestIndeterminate);
            for (uint i = 0; i < 5; i++) b = ex_wsum(consts, b, ChallengeId_StackWeight0 + i, EX_M(ProcessorMain_ST0 + i));
        }
        EX_PUT_WIN(ProcessorAux_HashDigestEvalArg, one, a, b);

        // sponge
        a = one; b = zero;
        if (ci_p == 40 || ci_p == 34 || ci_p == 48 || ci_p == 56) {
            a = EX_CH(SpongeIndeterminate);
            const ulong op = ci_p == 48 ? 34UL : ci_p;  // absorb_mem is absorb to the hash table
            b = xfe_mul_base(EX_CH(HashCIWeight), op);
            if (ci_p != 40) {
                for (uint i = 0; i < 10; i++) {
                    ulong v;
                    if (ci_p == 34) v = EX_MR(ProcessorMain_ST0 + i, rp);
                    else if (ci_p == 56) v = EX_M(ProcessorMain_ST0 + i);
                    else v = i < 4 ? EX_M(ProcessorMain_ST1 + i) : EX_MR(ProcessorMain_HV0 + i - 4, rp);
                    b = ex_wsum(consts, b, ChallengeId_StackWeight0 + i, v);
                }
            }
        }
        EX_PUT_WIN(ProcessorAux_SpongeEvalArg, one, a, b);

        // U32 lookup client: one or two inverses per window
        b = zero;
        if (r > 0) {
            const ulong st0p = EX_MR(ProcessorMain_ST0, rp), st1p = EX_MR(ProcessorMain_ST1, rp);
            const ulong st0c = EX_M(ProcessorMain_ST0), st1c = EX_M(ProcessorMain_ST1);
            xfe d = zero, d2 = zero;
            int count = 1;
            if (ci_p == 4) {
                d = ex_wsum(consts, d, ChallengeId_U32LhsWeight, st0c);
                d = ex_wsum(consts, d, ChallengeId_U32RhsWeight, st1c);
                d = ex_wsum(consts, d, ChallengeId_U32CiWeight, ci_p);
            } else if (ci_p == 6 || ci_p == 14 || ci_p == 30) {
                d = ex_wsum(consts, d, ChallengeId_U32LhsWeight, st0p);
                d = ex_wsum(consts, d, ChallengeId_U32RhsWeight, st1p);
                d = ex_wsum(consts, d, ChallengeId_U32CiWeight, ci_p);
                d = ex_wsum(consts, d, ChallengeId_U32ResultWeight, st0c);
            } else if (ci_p == 22) {
                const ulong halved = gl_mul(gl_sub(gl_add(st0p, st1p), st0c), (GL_P + 1) / 2);
                d = ex_wsum(consts, d, ChallengeId_U32LhsWeight, st0p);
                d = ex_wsum(consts, d, ChallengeId_U32RhsWeight, st1p);
                d = ex_wsum(consts, d, ChallengeId_U32CiWeight, 14UL);
                d = ex_wsum(consts, d, ChallengeId_U32ResultWeight, halved);
            } else if (ci_p == 12 || ci_p == 28) {
                d = ex_wsum(consts, d, ChallengeId_U32LhsWeight, st0p);
                d = ex_wsum(consts, d, ChallengeId_U32CiWeight, ci_p);
                d = ex_wsum(consts, d, ChallengeId_U32ResultWeight, st0c);
            } else if (ci_p == 20) {
                d = ex_wsum(consts, d, ChallengeId_U32LhsWeight, st0c);
                d = ex_wsum(consts, d, ChallengeId_U32RhsWeight, st1p);
                d = ex_wsum(consts, d, ChallengeId_U32CiWeight, 6UL);
                d = ex_wsum(consts, d, ChallengeId_U32ResultWeight, 1UL);
                d2 = ex_wsum(consts, d2, ChallengeId_U32LhsWeight, st0p);
                d2 = ex_wsum(consts, d2, ChallengeId_U32RhsWeight, st1c);
                d2 = ex_wsum(consts, d2, ChallengeId_U32CiWeight, 4UL);
                count = 2;
            } else if (ci_p == 36 || ci_p == 44) {
                d = ex_wsum(consts, d, ChallengeId_U32LhsWeight, EX_MR(ProcessorMain_ST5, rp));
                d = ex_wsum(consts, d, ChallengeId_U32RhsWeight, EX_M(ProcessorMain_ST5));
                d = ex_wsum(consts, d, ChallengeId_U32CiWeight, 4UL);
            } else {
                count = 0;
            }
            const xfe alpha = EX_CH(U32Indeterminate);
            if (count == 2) {  // one inversion for both: 1/x + 1/y = (x + y) / (x y)
                xfe x = xfe_sub(alpha, d), y = xfe_sub(alpha, d2);
                b = xfe_mul(xfe_add(x, y), ex_inv(xfe_mul(x, y)));
            } else if (count == 1) {
                b = ex_inv(xfe_sub(alpha, d));
            }
        }
        EX_STORE(aux, ProcessorAux_U32LookupClientLogDerivative, b);

        // clock-jump-difference lookup server
        b = zero;
        const ulong mult = EX_M(ProcessorMain_ClockJumpDifferenceLookupMultiplicity);
        if (mult != 0)
            b = xfe_mul_base(ex_inv(xfe_sub(EX_CH(ClockJumpDifferenceLookupIndeterminate),
                                            ex_lift(EX_M(ProcessorMain_CLK)))), mult);
        EX_STORE(aux, ProcessorAux_ClockJumpDifferenceLookupServerLogDerivative, b);
    }

    // ---- op-stack table
    {
        xfe a = one;
        const ulong ib1 = EX_M(OpStackMain_IB1ShrinkStack);
        if (ib1 != 2) {
            xfe comp = ex_wsum(consts, zero, ChallengeId_OpStackClkWeight, EX_M(OpStackMain_CLK));
            comp = ex_wsum(consts, comp, ChallengeId_OpStackIb1Weight, ib1);
            comp = ex_wsum(consts, comp, ChallengeId_OpStackPointerWeight, EX_M(OpStackMain_StackPointer));
            comp = ex_wsum(consts, comp, ChallengeId_OpStackFirstUnderflowElementWeight,
                           EX_M(OpStackMain_FirstUnderflowElement));
            a = xfe_sub(EX_CH(OpStackIndeterminate), comp);
        }
        EX_PUT_ONE(OpStackAux_RunningProductPermArg, a, zero);
        xfe b = zero;
        if (r > 0 && r < first[1] && EX_MP(OpStackMain_StackPointer) == EX_M(OpStackMain_StackPointer))
            b = ex_inv(xfe_sub(cjd_alpha, ex_lift(gl_sub(EX_M(OpStackMain_CLK), EX_MP(OpStackMain_CLK)))));
        EX_STORE(aux, OpStackAux_ClockJumpDifferenceLookupClientLogDerivative, b);
    }

    // ---- RAM table
    {
        const ulong ramp = EX_M(RamMain_RamPointer), itype = EX_M(RamMain_InstructionType);
        const xfe beta = EX_CH(RamTableBezoutRelationIndeterminate);
        const int change = r == 0 || (itype != 2 && EX_MP(RamMain_RamPointer) != ramp);
        const xfe beta_minus = xfe_sub(beta, ex_lift(ramp));
        EX_PUT_ONE(RamAux_RunningProductOfRAMP, change ? beta_minus : one, zero);
        EX_STORE(aux, RamAux_FormalDerivative, change ? ex_inv(beta_minus) : zero);
        const int step = r > 0 && r < first[2] && EX_MP(RamMain_RamPointer) != ramp;
        EX_PUT_WIN(RamAux_BezoutCoefficient0, ex_lift(EX_M(RamMain_BezoutCoefficientPolynomialCoefficient0)),
                   step ? beta : one, step ? ex_lift(EX_M(RamMain_BezoutCoefficientPolynomialCoefficient0)) : zero);
        EX_PUT_WIN(RamAux_BezoutCoefficient1, ex_lift(EX_M(RamMain_BezoutCoefficientPolynomialCoefficient1)),
                   step ? beta : one, step ? ex_lift(EX_M(RamMain_BezoutCoefficientPolynomialCoefficient1)) : zero);
        xfe a = one;
        if (r < first[3]) {
            xfe comp = ex_wsum(consts, zero, ChallengeId_RamClkWeight, EX_M(RamMain_CLK));
            comp = ex_wsum(consts, comp, ChallengeId_RamInstructionTypeWeight, itype);
            comp = ex_wsum(consts, comp, ChallengeId_RamPointerWeight, ramp);
            comp = ex_wsum(consts, comp, ChallengeId_RamValueWeight, EX_M(RamMain_RamValue));
            a = xfe_sub(EX_CH(RamIndeterminate), comp);
        }
        EX_PUT_ONE(RamAux_RunningProductPermArg, a, zero);
        xfe b = zero;
        if (r > 0 && r < first[2] && EX_MP(RamMain_RamPointer) == ramp)
            b = ex_inv(xfe_sub(cjd_alpha, ex_lift(gl_sub(EX_M(RamMain_CLK), EX_MP(RamMain_CLK)))));
        EX_STORE(aux, RamAux_ClockJumpDifferenceLookupClientLogDerivative, b);
    }

    // ---- jump-stack table
    {
        xfe comp = ex_wsum(consts, zero, ChallengeId_JumpStackClkWeight, EX_M(JumpStackMain_CLK));
        comp = ex_wsum(consts, comp, ChallengeId_JumpStackCiWeight, EX_M(JumpStackMain_CI));
        comp = ex_wsum(consts, comp, ChallengeId_JumpStackJspWeight, EX_M(JumpStackMain_JSP));
        comp = ex_wsum(consts, comp, ChallengeId_JumpStackJsoWeight, EX_M(JumpStackMain_JSO));
        comp = ex_wsum(consts, comp, ChallengeId_JumpStackJsdWeight, EX_M(JumpStackMain_JSD));
        EX_PUT_ONE(JumpStackAux_RunningProductPermArg, xfe_sub(EX_CH(JumpStackIndeterminate), comp), zero);
        xfe b = zero;
        if (r > 0 && EX_MP(JumpStackMain_JSP) == EX_M(JumpStackMain_JSP))
            b = ex_inv(xfe_sub(cjd_alpha, ex_lift(gl_sub(EX_M(JumpStackMain_CLK), EX_MP(JumpStackMain_CLK)))));
        EX_STORE(aux, JumpStackAux_ClockJumpDifferenceLookupClientLogDerivative, b);
    }

    // ---- hash table
    {
        const ulong mode = EX_M(HashMain_Mode), rnd = EX_M(HashMain_RoundNumber), ci = EX_M(HashMain_CI);
        ulong rate[10];
        for (int i = 0; i < 10; i++) rate[i] = ex_rate(main, n, r, i);
        xfe a = one, b = zero;
        if (mode == 1 && rnd == 0) {
            a = EX_CH(ProgramAttestationSendChunkIndeterminate);
            b = ex_c(consts, EX_PREP_POW + 10);
            for (uint i = 0; i < 10; i++) b = xfe_add(b, xfe_mul_base(ex_c(consts, EX_PREP_POW + 9 - i), rate[i]));
        }
        EX_PUT_ONE(HashAux_ReceiveChunkRunningEvaluation, a, b);
        a = one; b = zero;
        if (mode == 2 && rnd == 0) {
            a = EX_CH(SpongeIndeterminate);
            b = xfe_mul_base(EX_CH(HashCIWeight), ci);
            if (ci != 40)
                for (uint i = 0; i < 10; i++) b = ex_wsum(consts, b, ChallengeId_StackWeight0 + i, rate[i]);
        }
        EX_PUT_ONE(HashAux_SpongeRunningEvaluation, a, b);
        a = one; b = zero;
        if (mode == 3 && rnd == 0) {
            a = EX_CH(HashInputIndeterminate);
            for (uint i = 0; i < 10; i++) b = ex_wsum(consts, b, ChallengeId_StackWeight0 + i, rate[i]);
        }
        EX_PUT_ONE(HashAux_HashInputRunningEvaluation, a, b);
        a = one; b = zero;
        if (mode == 3 && rnd == 5) {
            a = EX_CH(HashDigestIndeterminate);
            for (uint i = 0; i < 5; i++) b = ex_wsum(consts, b, ChallengeId_StackWeight0 + i, rate[i]);
        }
        EX_PUT_ONE(HashAux_HashDigestRunningEvaluation, a, b);
        // 16 cascade lookups, inverted together (Montgomery's trick: one inversion, 45 products)
        if (mode != 0 && rnd != 5 && ci != 40) {
            const xfe alpha = EX_CH(HashCascadeLookupIndeterminate);
            xfe den[16], before[16];
            xfe acc = one;
            for (uint j = 0; j < 16; j++) {
                xfe comp = ex_wsum(consts, zero, ChallengeId_HashCascadeLookInWeight, EX_M(HashMain_State0HighestLkIn + j));
                comp = ex_wsum(consts, comp, ChallengeId_HashCascadeLookOutWeight, EX_M(HashMain_State0HighestLkOut + j));
                den[j] = xfe_sub(alpha, comp);
                before[j] = acc;
                acc = xfe_mul(acc, den[j]);
            }
            xfe inv = ex_inv(acc);  // 1 / (den_0 ... den_15)
            for (int j = 15; j >= 0; j--) {
                EX_STORE(aux, HashAux_CascadeState0HighestClientLogDerivative + j, xfe_mul(inv, before[j]));
                inv = xfe_mul(inv, den[j]);
            }
        } else {
            for (uint j = 0; j < 16; j++) EX_STORE(aux, HashAux_CascadeState0HighestClientLogDerivative + j, zero);
        }
    }

    // ---- cascade table
    {
        xfe server = zero, client = zero;
        if (EX_M(CascadeMain_IsPadding) != 1) {
            const ulong hi = EX_M(CascadeMain_LookInHi), lo = EX_M(CascadeMain_LookInLo);
            const ulong ohi = EX_M(CascadeMain_LookOutHi), olo = EX_M(CascadeMain_LookOutLo);
            xfe comp = ex_wsum(consts, zero, ChallengeId_HashCascadeLookInWeight, gl_add(gl_mul(hi, 256UL), lo));
            comp = ex_wsum(consts, comp, ChallengeId_HashCascadeLookOutWeight, gl_add(gl_mul(ohi, 256UL), olo));
            server = xfe_mul_base(ex_inv(xfe_sub(EX_CH(HashCascadeLookupIndeterminate), comp)),
                                  EX_M(CascadeMain_LookupMultiplicity));
            const xfe alpha = EX_CH(CascadeLookupIndeterminate);
            xfe x = xfe_sub(alpha, ex_wsum(consts, ex_wsum(consts, zero, ChallengeId_LookupTableInputWeight, lo),
                                           ChallengeId_LookupTableOutputWeight, olo));
            xfe y = xfe_sub(alpha, ex_wsum(consts, ex_wsum(consts, zero, ChallengeId_LookupTableInputWeight, hi),
                                           ChallengeId_LookupTableOutputWeight, ohi));
            client = xfe_mul(xfe_add(x, y), ex_inv(xfe_mul(x, y)));
        }
        EX_STORE(aux, CascadeAux_HashTableServerLogDerivative, server);
        EX_STORE(aux, CascadeAux_LookupTableClientLogDerivative, client);
    }

    // ---- lookup table
    {
        xfe server = zero, a = one, b = zero;
        if (r < first[4]) {
            xfe comp = ex_wsum(consts, zero, ChallengeId_LookupTableInputWeight, EX_M(LookupMain_LookIn));
            comp = ex_wsum(consts, comp, ChallengeId_LookupTableOutputWeight, EX_M(LookupMain_LookOut));
            server = xfe_mul_base(ex_inv(xfe_sub(EX_CH(CascadeLookupIndeterminate), comp)),
                                  EX_M(LookupMain_LookupMultiplicity));
            a = EX_CH(LookupTablePublicIndeterminate);
            b = ex_lift(EX_M(LookupMain_LookOut));
        }
        EX_STORE(aux, LookupAux_CascadeTableServerLogDerivative, server);
        EX_PUT_ONE(LookupAux_PublicEvaluationArgument, a, b);
    }

    // ---- U32 table
    {
        xfe b = zero;
        if (EX_M(U32Main_CopyFlag) == 1) {
            xfe comp = ex_wsum(consts, zero, ChallengeId_U32CiWeight, EX_M(U32Main_CI));
            comp = ex_wsum(consts, comp, ChallengeId_U32LhsWeight, EX_M(U32Main_LHS));
            comp = ex_wsum(consts, comp, ChallengeId_U32RhsWeight, EX_M(U32Main_RHS));
            comp = ex_wsum(consts, comp, ChallengeId_U32ResultWeight, EX_M(U32Main_Result));
            b = xfe_mul_base(ex_inv(xfe_sub(EX_CH(U32Indeterminate), comp)), EX_M(U32Main_LookupMultiplicity));
        }
        EX_STORE(aux, U32Aux_LookupServerLogDerivative, b);
    }
}

// After the first scans: (a, b) of Program.SendChunkRunningEvaluation from the finished prepare-chunk
// column, and Ram.FormalDerivative = RunningProductOfRAMP * (running sum of 1/(beta - ramp)).
__kernel void ext_terms_late(__global const ulong *main, const uint n, __global const ulong *consts,
                             __global ulong *aux, __global ulong *amul) {
    const uint r = get_global_id(0);
    if (r >= n) return;
    const xfe one = ex_lift(1UL), zero = ex_lift(0UL);
    xfe a = one, b = zero;
    if (EX_M(ProgramMain_IsTablePadding) != 1 && EX_M(ProgramMain_IndexInChunk) == 9) {
        a = EX_CH(ProgramAttestationSendChunkIndeterminate);
        const ulong o = (ulong)ProgramAux_PrepareChunkRunningEvaluation * 3 * n + r;
        b.c0 = aux[o]; b.c1 = aux[o + n]; b.c2 = aux[o + 2 * n];
    }
    EX_PUT_ONE(ProgramAux_SendChunkRunningEvaluation, a, b);
    const ulong p = (ulong)RamAux_RunningProductOfRAMP * 3 * n + r;
    const ulong f = (ulong)RamAux_FormalDerivative * 3 * n + r;
    xfe x = {aux[p], aux[p + n], aux[p + 2 * n]};
    xfe y = {aux[f], aux[f + n], aux[f + 2 * n]};
    EX_STORE(aux, RamAux_FormalDerivative, xfe_mul(x, y));
}

// ---- chunked affine scan: x_i = a_i * x_(i-1) + b_i, x_(-1) = 0, per column of a column list
// Arrays: coefficient j of element i of column c at arr[(3 * c + j) * stride + i]; has_a[c] == 0 means
// a = 1 for that column (the a array is then not read).

inline xfe ex_ld(__global const ulong *p, ulong stride) { xfe r = {p[0], p[stride], p[2 * stride]}; return r; }
inline void ex_st(__global ulong *p, ulong stride, xfe v) { p[0] = v.c0; p[stride] = v.c1; p[2 * stride] = v.c2; }

// Per (chunk, listed column): the composed map of the chunk's elements, x -> A x + B.
__kernel void ext_scan_reduce(__global const ulong *a, __global const ulong *b, const ulong stride,
                              const uint n, const uint chunk, __global const uint *cols,
                              __global const uint *has_a, __global ulong *sa, __global ulong *sb,
                              const ulong sstride) {
    const uint k = get_global_id(0), li = get_global_id(1);
    const uint nchunks = (n + chunk - 1) / chunk;
    if (k >= nchunks) return;
    const uint c = cols[li];
    const ulong base = 3UL * c * stride;
    const uint lo = k * chunk, hi = min(n, lo + chunk);
    xfe A = ex_lift(1UL), B = ex_lift(0UL);
    if (has_a[c]) {
        for (uint i = lo; i < hi; i++) {
            xfe ai = ex_ld(a + base + i, stride);
            A = xfe_mul(ai, A);
            B = xfe_add(xfe_mul(ai, B), ex_ld(b + base + i, stride));
        }
    } else {
        for (uint i = lo; i < hi; i++) B = xfe_add(B, ex_ld(b + base + i, stride));
    }
    const ulong sbase = 3UL * c * sstride + k;
    ex_st(sa + sbase, sstride, A);
    ex_st(sb + sbase, sstride, B);
}

// Per (chunk, listed column): rerun the chunk from the value x of the end of the previous chunk (taken
// from the solved summaries sx; 0 for chunk 0), writing x_i over b_i.
__kernel void ext_scan_apply(__global const ulong *a, __global ulong *b, const ulong stride, const uint n,
                             const uint chunk, __global const uint *cols, __global const uint *has_a,
                             __global const ulong *sx, const ulong sstride) {
    const uint k = get_global_id(0), li = get_global_id(1);
    const uint nchunks = (n + chunk - 1) / chunk;
    if (k >= nchunks) return;
    const uint c = cols[li];
    const ulong base = 3UL * c * stride;
    const uint lo = k * chunk, hi = min(n, lo + chunk);
    xfe x = k == 0 ? ex_lift(0UL) : ex_ld(sx + 3UL * c * sstride + k - 1, sstride);
    if (has_a[c]) {
        for (uint i = lo; i < hi; i++) {
            x = xfe_add(xfe_mul(ex_ld(a + base + i, stride), x), ex_ld(b + base + i, stride));
            ex_st(b + base + i, stride, x);
        }
    } else {
        for (uint i = lo; i < hi; i++) {
            x = xfe_add(x, ex_ld(b + base + i, stride));
            ex_st(b + base + i, stride, x);
        }
    }
}
