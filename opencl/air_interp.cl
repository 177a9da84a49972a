// The CPU form of the AIR's generated kernels (constraint evaluators and degree-lowering fillers): one
// interpreter of the instruction lists stages/air/bytecode.py makes from the AIR's circuits (its docstring
// has the layout). pocl takes about a minute of CPU to compile the generated straight-line kernels; this
// compiles in about a second. Each instruction runs over a block of INTERP_ROWS rows on field_vec.cl's
// lanes, so the dispatch is paid once per 16 rows, and the values live in a per-work-item slot file in
// global memory (a few tens of KB: it stays in the core's caches).
// Needs field.cl and field_vec.cl. Same values as the generated kernels, bit for bit.

#define INTERP_ROWS (GLV_WIDTH * INTERP_GROUPS)  // rows per row block (INTERP_GROUPS: from air_interp.py)

// OP_*, LOAD_*, CONST_*, CHALLENGE_VALUE, KIND_SHIFT, INDEX_MASK: #defines from opencl/air_interp.py.

// Rows r .. r + 3 (mod n) of a column whose rows lie `stride` apart: one vector load where they are
// consecutive in memory and in range, else one load per lane (next rows wrapping around, strided layouts,
// lanes past the last row, whose results are never stored).
inline glv glv_rows(__global const ulong *col, ulong r, ulong n, ulong stride) {
    if (stride == 1 && r + GLV_WIDTH <= n) return vload4(0, col + r);
    return (glv)(col[(r % n) * stride], col[((r + 1) % n) * stride], col[((r + 2) % n) * stride],
                 col[((r + 3) % n) * stride]);
}

inline xfev xfev_rows(__global const ulong *col, ulong r, ulong n, ulong stride, ulong comp_stride) {
    return xfev_new(glv_rows(col, r, n, stride), glv_rows(col + comp_stride, r, n, stride),
                    glv_rows(col + 2 * comp_stride, r, n, stride));
}

// Stores of rows r .. r + 3 of a column (rows `stride` apart), rows from `last` on left alone; with
// zero_last the table's last row n - 1 gets 0 (a transition column, whose next row does not exist).
inline void glv_rows_store(__global ulong *col, ulong r, ulong last, ulong n, ulong stride, glv v,
                           uint zero_last) {
    ulong w[GLV_WIDTH];
    vstore4(v, 0, w);
    for (uint l = 0; l < GLV_WIDTH && r + l < last; l++)
        col[(r + l) * stride] = zero_last && r + l == n - 1 ? 0UL : w[l];
}

inline void xfev_rows_store_col(__global ulong *col, ulong r, ulong last, ulong n, ulong stride,
                                ulong comp_stride, xfev v, uint zero_last) {
    glv_rows_store(col, r, last, n, stride, v.c0, zero_last);
    glv_rows_store(col + comp_stride, r, last, n, stride, v.c1, zero_last);
    glv_rows_store(col + 2 * comp_stride, r, last, n, stride, v.c2, zero_last);
}

// Element `index` of rows x .. x + 3 of a row-major (rows, width) array of extension elements (rows at or
// past `last` read as 0), and the store of the rows before `last`.
inline xfev xfev_rows_load(__global const ulong *out, ulong x, ulong last, uint width, uint index) {
    ulong v[3 * GLV_WIDTH];
    for (uint l = 0; l < GLV_WIDTH; l++) {
        __global const ulong *p = out + ((x + l) * width + index) * 3;
        for (uint j = 0; j < 3; j++) v[j * GLV_WIDTH + l] = x + l < last ? p[j] : 0;
    }
    return xfev_new(vload4(0, v), vload4(1, v), vload4(2, v));
}

inline void xfev_rows_store(__global ulong *out, ulong x, ulong last, uint width, uint index, xfev a) {
    ulong v[3 * GLV_WIDTH];
    vstore4(a.c0, 0, v);
    vstore4(a.c1, 1, v);
    vstore4(a.c2, 2, v);
    for (uint l = 0; l < GLV_WIDTH && x + l < last; l++) {
        __global ulong *p = out + ((x + l) * width + index) * 3;
        for (uint j = 0; j < 3; j++) p[j] = v[j * GLV_WIDTH + l];
    }
}

// Slot files: base slot s, lane group g at B[s * INTERP_GROUPS + g]; extension slot s, coefficient j at
// X[(3 * s + j) * INTERP_GROUPS + g].
inline xfev x_slot(__global const glv *X, int s, uint g) {
    return xfev_new(X[(3 * s) * INTERP_GROUPS + g], X[(3 * s + 1) * INTERP_GROUPS + g],
                    X[(3 * s + 2) * INTERP_GROUPS + g]);
}

inline void x_slot_set(__global glv *X, int s, uint g, xfev v) {
    X[(3 * s) * INTERP_GROUPS + g] = v.c0;
    X[(3 * s + 1) * INTERP_GROUPS + g] = v.c1;
    X[(3 * s + 2) * INTERP_GROUPS + g] = v.c2;
}

// Constants and challenges into their slots: the same in every row, so once per work item.
inline void set_constants(__global glv *B, __global glv *X, __global const int *consts, uint n_consts,
                          __global const ulong *values, __global const ulong *challenges) {
    for (uint i = 0; i < n_consts; i++) {
        const int s = consts[2 * i], kind = consts[2 * i + 1] >> KIND_SHIFT;
        const int index = consts[2 * i + 1] & INDEX_MASK;
        for (uint g = 0; g < INTERP_GROUPS; g++) {
            if (kind == CONST_BASE) B[s * INTERP_GROUPS + g] = (glv)values[index];
            else x_slot_set(X, s, g, xfev_splat(xfe_load((kind == CONST_EXT ? values : challenges)
                                                         + (kind == CONST_EXT ? index : 3 * index))));
        }
    }
}

// The columns a program reads, rows x .. x + INTERP_ROWS - 1 and their next rows, into their slots.
inline void load_leaves(__global glv *B, __global glv *X, __global const int *leaves, uint n_leaves, ulong x,
                        ulong n, uint step, __global const ulong *main, ulong main_row_stride,
                        ulong main_col_stride, __global const ulong *aux, ulong aux_row_stride,
                        ulong aux_col_stride, ulong aux_comp_stride) {
    for (uint i = 0; i < n_leaves; i++) {
        const int s = leaves[2 * i], kind = leaves[2 * i + 1] >> KIND_SHIFT;
        const ulong col = (ulong)(leaves[2 * i + 1] & INDEX_MASK);
        const ulong shift = (kind == LOAD_MAIN_NEXT || kind == LOAD_AUX_NEXT) ? step : 0;
        for (uint g = 0; g < INTERP_GROUPS; g++) {
            const ulong r = x + GLV_WIDTH * g + shift;
            if (kind <= LOAD_MAIN_NEXT)
                B[s * INTERP_GROUPS + g] = glv_rows(main + col * main_col_stride, r, n, main_row_stride);
            else
                x_slot_set(X, s, g, xfev_rows(aux + col * aux_col_stride, r, n, aux_row_stride,
                                              aux_comp_stride));
        }
    }
}

// The arguments of the generated constraint kernels (stages/air/codegen.py: the rows, mode 0 stores, mode 1
// adds the weighted sum), rows first_row .. end_row - 1, then one program and this work item's slot files
// (scratch: base_slots + 3 ext_slots lane groups of INTERP_GROUPS per work item). Work item i takes row
// blocks i, i + global size, ... A lowering program's stores write main and aux: it reads no column it
// writes, other than through its slots (bytecode.py), so row blocks never race.
__kernel void run_program(
    __global ulong *main, const ulong main_row_stride, const ulong main_col_stride,
    __global ulong *aux, const ulong aux_row_stride, const ulong aux_col_stride,
    const ulong aux_comp_stride, __global const ulong *challenges, __global const ulong *weights,
    const uint n_rows, const uint step, const uint mode, __global ulong *out, const uint first_row,
    const uint end_row, __global const int *leaves, const uint n_leaves, __global const int *consts,
    const uint n_consts, __global const ulong *values, __global const int *code, const uint n_code,
    const uint category, const uint total, const uint zero_last_row, __global glv *scratch,
    const uint base_slots, const uint ext_slots)
{
    __global glv *B = scratch + (ulong)get_global_id(0) * (base_slots + 3 * ext_slots) * INTERP_GROUPS;
    __global glv *X = B + base_slots * INTERP_GROUPS;
    const ulong n = n_rows, last = min((ulong)end_row, n);
    const uint blocks = (end_row - first_row + INTERP_ROWS - 1) / INTERP_ROWS;
    set_constants(B, X, consts, n_consts, values, challenges);
    for (uint block = get_global_id(0); block < blocks; block += get_global_size(0)) {
        const ulong x = (ulong)first_row + (ulong)block * INTERP_ROWS;
        load_leaves(B, X, leaves, n_leaves, x, n, step, main, main_row_stride, main_col_stride, aux,
                    aux_row_stride, aux_col_stride, aux_comp_stride);
        xfev acc[INTERP_GROUPS];
        for (uint g = 0; g < INTERP_GROUPS; g++)
            acc[g] = mode == 1 ? xfev_rows_load(out, x + GLV_WIDTH * g, last, 4, category)
                               : xfev_splat(xfe_new(0, 0, 0));
        for (uint i = 0; i < n_code; i++) {
            const int op = code[4 * i], d = code[4 * i + 1], a = code[4 * i + 2], b = code[4 * i + 3];
            switch (op) {
            case OP_BADD:
                for (uint g = 0; g < INTERP_GROUPS; g++)
                    B[d * INTERP_GROUPS + g] = glv_add(B[a * INTERP_GROUPS + g], B[b * INTERP_GROUPS + g]);
                break;
            case OP_BMUL:
                for (uint g = 0; g < INTERP_GROUPS; g++)
                    B[d * INTERP_GROUPS + g] = glv_mul(B[a * INTERP_GROUPS + g], B[b * INTERP_GROUPS + g]);
                break;
            case OP_BNEG:
                for (uint g = 0; g < INTERP_GROUPS; g++)
                    B[d * INTERP_GROUPS + g] = glv_neg(B[a * INTERP_GROUPS + g]);
                break;
            case OP_XADD:
                for (uint g = 0; g < INTERP_GROUPS; g++)
                    x_slot_set(X, d, g, xfev_add(x_slot(X, a, g), x_slot(X, b, g)));
                break;
            case OP_XMUL:
                for (uint g = 0; g < INTERP_GROUPS; g++)
                    x_slot_set(X, d, g, xfev_mul(x_slot(X, a, g), x_slot(X, b, g)));
                break;
            case OP_XNEG:
                for (uint g = 0; g < INTERP_GROUPS; g++)
                    x_slot_set(X, d, g, xfev_neg(x_slot(X, a, g)));
                break;
            case OP_XADDB:
                for (uint g = 0; g < INTERP_GROUPS; g++)
                    x_slot_set(X, d, g, xfev_add_base(x_slot(X, a, g), B[b * INTERP_GROUPS + g]));
                break;
            case OP_XMULB:
                for (uint g = 0; g < INTERP_GROUPS; g++)
                    x_slot_set(X, d, g, xfev_mul_base(x_slot(X, a, g), B[b * INTERP_GROUPS + g]));
                break;
            case OP_STORE_MAIN:
                for (uint g = 0; g < INTERP_GROUPS; g++)
                    glv_rows_store(main + d * main_col_stride, x + GLV_WIDTH * g, last, n, main_row_stride,
                                   B[a * INTERP_GROUPS + g], zero_last_row);
                break;
            case OP_STORE_AUX:
            case OP_STORE_AUX_B:
                for (uint g = 0; g < INTERP_GROUPS; g++)
                    xfev_rows_store_col(aux + d * aux_col_stride, x + GLV_WIDTH * g, last, n, aux_row_stride,
                                        aux_comp_stride, op == OP_STORE_AUX_B ? xfev_lift(B[a * INTERP_GROUPS + g])
                                                                              : x_slot(X, a, g), zero_last_row);
                break;
            default: {  // OP_OUT_B, OP_OUT_X: constraint d's value
                const xfev w = xfev_splat(xfe_load(weights + 3 * d));
                for (uint g = 0; g < INTERP_GROUPS; g++) {
                    const xfev v = op == OP_OUT_B ? xfev_lift(B[a * INTERP_GROUPS + g]) : x_slot(X, a, g);
                    if (mode == 0) xfev_rows_store(out, x + GLV_WIDTH * g, last, total, d, v);
                    else acc[g] = xfev_add(acc[g], op == OP_OUT_B ? xfev_mul_base(w, v.c0) : xfev_mul(w, v));
                }
            }
            }
        }
        if (mode == 1)
            for (uint g = 0; g < INTERP_GROUPS; g++) xfev_rows_store(out, x + GLV_WIDTH * g, last, 4, category, acc[g]);
    }
}
