// Tip5 (twenty-first 1.1.0): permutation, variable-length row hashing and Merkle levels.
// Needs field.cl. State: 16 canonical field elements in registers; rate 10, capacity 6, 5 rounds.
// A round is: S-box layer (split-and-lookup on state[0..4], x^7 on state[4..16]), MDS, round constants.

#define TIP5_RATE 10
#define TIP5_ROUNDS 5
#define MONT_R 0xFFFFFFFFUL           // 2^64 mod p: canonical -> raw Montgomery word
#define MONT_RINV 0xFFFFFFFE00000001UL // 2^-64 mod p: raw Montgomery word -> canonical

// LOOKUP[i] = ((i + 1)^3 - 1) mod 257, a permutation of 0..255.
__constant uchar TIP5_LOOKUP[256] = {
    0, 7, 26, 63, 124, 215, 85, 254, 214, 228, 45, 185, 140, 173, 33, 240,
    29, 177, 176, 32, 8, 110, 87, 202, 204, 99, 150, 106, 230, 14, 235, 128,
    213, 239, 212, 138, 23, 130, 208, 6, 44, 71, 93, 116, 146, 189, 251, 81,
    199, 97, 38, 28, 73, 179, 95, 84, 152, 48, 35, 119, 49, 88, 242, 3,
    148, 169, 72, 120, 62, 161, 166, 83, 175, 191, 137, 19, 100, 129, 112, 55,
    221, 102, 218, 61, 151, 237, 68, 164, 17, 147, 46, 234, 203, 216, 22, 141,
    65, 57, 123, 12, 244, 54, 219, 231, 96, 77, 180, 154, 5, 253, 133, 165,
    98, 195, 205, 134, 245, 30, 9, 188, 59, 142, 186, 197, 181, 144, 92, 31,
    224, 163, 111, 74, 58, 69, 113, 196, 67, 246, 225, 10, 121, 50, 60, 157,
    90, 122, 2, 250, 101, 75, 178, 159, 24, 36, 201, 11, 243, 132, 198, 190,
    114, 233, 39, 52, 21, 209, 108, 238, 91, 187, 18, 104, 194, 37, 153, 34,
    200, 143, 126, 155, 236, 118, 64, 80, 172, 89, 94, 193, 135, 183, 86, 107,
    252, 13, 167, 206, 136, 220, 207, 103, 171, 160, 76, 182, 227, 217, 158, 56,
    174, 4, 66, 109, 139, 162, 184, 211, 249, 47, 125, 232, 117, 43, 16, 42,
    127, 20, 241, 25, 149, 105, 156, 51, 53, 168, 145, 247, 223, 79, 78, 226,
    15, 222, 82, 115, 70, 210, 27, 41, 1, 170, 40, 131, 192, 229, 248, 255,
};

// Round r adds TIP5_RC[16 r + i] to state[i].
__constant ulong TIP5_RC[80] = {
    13630775303355457758UL, 16896927574093233874UL, 10379449653650130495UL, 1965408364413093495UL,
    15232538947090185111UL, 15892634398091747074UL, 3989134140024871768UL, 2851411912127730865UL,
    8709136439293758776UL, 3694858669662939734UL, 12692440244315327141UL, 10722316166358076749UL,
    12745429320441639448UL, 17932424223723990421UL, 7558102534867937463UL, 15551047435855531404UL,
    17532528648579384106UL, 5216785850422679555UL, 15418071332095031847UL, 11921929762955146258UL,
    9738718993677019874UL, 3464580399432997147UL, 13408434769117164050UL, 264428218649616431UL,
    4436247869008081381UL, 4063129435850804221UL, 2865073155741120117UL, 5749834437609765994UL,
    6804196764189408435UL, 17060469201292988508UL, 9475383556737206708UL, 12876344085611465020UL,
    13835756199368269249UL, 1648753455944344172UL, 9836124473569258483UL, 12867641597107932229UL,
    11254152636692960595UL, 16550832737139861108UL, 11861573970480733262UL, 1256660473588673495UL,
    13879506000676455136UL, 10564103842682358721UL, 16142842524796397521UL, 3287098591948630584UL,
    685911471061284805UL, 5285298776918878023UL, 18310953571768047354UL, 3142266350630002035UL,
    549990724933663297UL, 4901984846118077401UL, 11458643033696775769UL, 8706785264119212710UL,
    12521758138015724072UL, 11877914062416978196UL, 11333318251134523752UL, 3933899631278608623UL,
    16635128972021157924UL, 10291337173108950450UL, 4142107155024199350UL, 16973934533787743537UL,
    11068111539125175221UL, 17546769694830203606UL, 5315217744825068993UL, 4609594252909613081UL,
    3350107164315270407UL, 17715942834299349177UL, 9600609149219873996UL, 12894357635820003949UL,
    4597649658040514631UL, 7735563950920491847UL, 1663379455870887181UL, 13889298103638829706UL,
    7375530351220884434UL, 3502022433285269151UL, 9231805330431056952UL, 9252272755288523725UL,
    10014268662326746219UL, 15565031632950843234UL, 1209725273521819323UL, 6024642864597845108UL,
};

// The S-box of state[0..4]: map each byte of the raw Montgomery word through the lookup table.
inline ulong tip5_split_and_lookup(ulong x, __local const uchar *lut) {
    ulong raw = gl_mul(x, MONT_R);
    ulong out = 0;
    for (int b = 0; b < 8; b++) {
        ulong byte = (raw >> (8 * b)) & 0xFFUL;
        out |= ((ulong)lut[byte]) << (8 * b);
    }
    // The table fixes 0 and 255, so a canonical word stays canonical.
    return gl_mul(out, MONT_RINV);
}

inline ulong tip5_pow7(ulong x) {
    ulong x2 = gl_sqr(x);
    ulong x3 = gl_mul(x2, x);
    ulong x6 = gl_sqr(x3);
    return gl_mul(x6, x);
}

// One coefficient of the circulant MDS matrix: entry (i, j) is MDS_COL((i - j) mod 16).
#define MDS_COL(k) ((k) == 0 ? 61402u : (k) == 1 ? 1108u : (k) == 2 ? 28750u : (k) == 3 ? 33823u : \
                    (k) == 4 ? 7454u : (k) == 5 ? 43244u : (k) == 6 ? 53865u : (k) == 7 ? 12034u : \
                    (k) == 8 ? 56951u : (k) == 9 ? 27521u : (k) == 10 ? 41351u : (k) == 11 ? 40901u : \
                    (k) == 12 ? 12021u : (k) == 13 ? 59689u : (k) == 14 ? 26798u : 17845u)

// state <- M state. Split each element into 32-bit halves; the 16-bit matrix entries keep every
// row sum of a half below 2^52, so each output needs one reduction at the end.
inline void tip5_mds(ulong *state) {
    uint lo[16], hi[16];  // 32-bit halves, so each product below is one 32 x 32 -> 64 multiply
#pragma unroll
    for (int j = 0; j < 16; j++) {
        lo[j] = (uint)state[j];
        hi[j] = (uint)(state[j] >> 32);
    }
#pragma unroll
    for (int i = 0; i < 16; i++) {
        ulong acc_lo = 0, acc_hi = 0;
#pragma unroll
        for (int j = 0; j < 16; j++) {
            acc_lo += (ulong)MDS_COL((i - j) & 15) * lo[j];
            acc_hi += (ulong)MDS_COL((i - j) & 15) * hi[j];
        }
        // value = acc_hi * 2^32 + acc_lo, with acc_hi = h1 * 2^32 + h0 and 2^64 = 2^32 - 1 (mod p).
        ulong h0 = acc_hi & 0xFFFFFFFFUL;
        ulong h1 = acc_hi >> 32;
        ulong r = gl_add(gl_canon(h0 << 32), acc_lo);
        state[i] = gl_add(r, h1 * GL_EPS);
    }
}

inline void tip5_permutation(ulong *state, __local const uchar *lut) {
    for (int r = 0; r < TIP5_ROUNDS; r++) {
#pragma unroll
        for (int i = 0; i < 4; i++) state[i] = tip5_split_and_lookup(state[i], lut);
#pragma unroll
        for (int i = 4; i < 16; i++) state[i] = tip5_pow7(state[i]);
        tip5_mds(state);
#pragma unroll
        for (int i = 0; i < 16; i++) state[i] = gl_add(state[i], TIP5_RC[16 * r + i]);
    }
}

// Copy the byte table into local memory (divergent lookups into __constant serialise on GPUs).
inline void tip5_load_lut(__local uchar *lut) {
    for (uint i = get_local_id(0); i < 256; i += get_local_size(0)) lut[i] = TIP5_LOOKUP[i];
    barrier(CLK_LOCAL_MEM_FENCE);
}

// states: (n, 16) row-major, permuted in place.
__kernel void tip5_permute_kernel(__global ulong *states, const uint n) {
    __local uchar lut[256];
    tip5_load_lut(lut);
    uint g = get_global_id(0);
    if (g >= n) return;
    ulong s[16];
    for (int i = 0; i < 16; i++) s[i] = states[16 * (ulong)g + i];
    tip5_permutation(s, lut);
    for (int i = 0; i < 16; i++) states[16 * (ulong)g + i] = s[i];
}

// hash_varlen of every row, possibly fed in column batches. data is column-major: element (row, c)
// of the batch at data[c * col_stride + row], so the work-items of a group (one row each) read
// consecutive addresses. A batch that is not the last must hold a multiple of 10 columns; between
// batches the sponge states live in states (n, 16). The last batch pads (remainder, one 1, zeros; a
// whole extra block when the width is a multiple of 10) and writes the digest of row r to
// out[5 * (out_offset + r) ..] (row-major (.., 5)), so leaves can land directly in a Merkle node array.
__kernel void tip5_absorb_rows_kernel(__global const ulong *data, const uint n, const uint ncols,
                                      const ulong col_stride, __global ulong *states, const uint first,
                                      const uint last, __global ulong *out, const uint out_offset) {
    __local uchar lut[256];
    tip5_load_lut(lut);
    uint row = get_global_id(0);
    if (row >= n) return;
    ulong s[16];
    for (int i = 0; i < 16; i++) s[i] = first ? 0 : states[16 * (ulong)row + i];  // variable length: 0
    uint full = ncols / TIP5_RATE;
    uint c = 0;
    for (uint blk = 0; blk < full; blk++) {
#pragma unroll
        for (int i = 0; i < TIP5_RATE; i++) s[i] = data[(ulong)(c + i) * col_stride + row];
        c += TIP5_RATE;
        tip5_permutation(s, lut);
    }
    if (!last) {
        for (int i = 0; i < 16; i++) states[16 * (ulong)row + i] = s[i];
        return;
    }
    uint rem = ncols - c;
#pragma unroll
    for (int i = 0; i < TIP5_RATE; i++) {
        ulong v = 0;
        if ((uint)i < rem) v = data[(ulong)(c + i) * col_stride + row];
        else if ((uint)i == rem) v = 1;
        s[i] = v;
    }
    tip5_permutation(s, lut);
    for (int i = 0; i < 5; i++) out[5 * ((ulong)out_offset + row) + i] = s[i];
}

// One Merkle level: node k = hash_pair(node 2k, node 2k+1) for k in [first, 2 first).
// nodes is (2 n_leaves, 5) row-major; root = node 1, leaf i = node n_leaves + i.
__kernel void merkle_level_kernel(__global ulong *nodes, const uint first) {
    __local uchar lut[256];
    tip5_load_lut(lut);
    uint g = get_global_id(0);
    if (g >= first) return;
    ulong k = (ulong)first + g;
    ulong s[16];
    for (int i = 0; i < 10; i++) s[i] = nodes[10 * k + i];  // children 2k and 2k+1 are adjacent
    for (int i = 10; i < 16; i++) s[i] = 1;  // fixed-length domain: capacity starts at 1
    tip5_permutation(s, lut);
    for (int i = 0; i < 5; i++) nodes[5 * k + i] = s[i];
}
