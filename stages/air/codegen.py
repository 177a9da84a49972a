"""OpenCL C generated from the lowered AIR: the constraint evaluators, the degree-lowering fillers and the
column / challenge index #defines. Each kernel comes out as (name, source) without the field helpers
(opencl/field.cl), which the loader in opencl/air.py puts in front; stages/air/kernel_cache.py stores them.

Every kernel takes the first row of its launch last (`first_row`): work item i handles row x = first_row +
i, so a CPU device can run n rows as launches of fewer than 65535 work items (opencl/air.py launch_rows).

Constraint kernels `evaluate_constraints_<k>` (launch all in order on the same buffers), one work item per
row x (CPU devices run stages/air/bytecode.py's programs of the same slices instead, opencl/air_interp.cl);
the "next" row of a transition constraint is row (x + step) mod n_rows:
    main[x * main_row_stride + col * main_col_stride] (canonical ulong),
    aux[x * aux_row_stride + col * aux_col_stride + j * aux_comp_stride] = coefficient j,
    challenges[63 * 3], weights[604 * 3] (quotient weights); constraint k is the k-th in quotient order.
    mode 0: out[(x * 604 + k) * 3 + j] = constraint k at row x;
    mode 1: ADDS the slice's weighted sum into out[(x * 4 + category) * 3 + j] (zero `out` first).

Degree-lowering kernels, per side and category, each a run of consecutive rules, one work item per row:
    lower_main_<category>_<part>(main, main_row_stride, main_col_stride, n_rows, first_row)
    lower_aux_<category>_<part>(main, main_row_stride, main_col_stride, aux, aux_row_stride,
                                aux_col_stride, aux_comp_stride, challenges, n_rows, first_row)
Rules run in column order within a row (later rules read earlier ones from registers within a kernel,
from the table across kernels); transition kernels read row x + 1 and write 0 into the last row.
"""

from __future__ import annotations

from tvmpd.stages.air.circuit import BCONST, BINOP, CHALLENGE, INPUT, XCONST, Node, P, _degrees, _postorder
from tvmpd.stages.air.constraints import CATEGORIES, LoweredAir
from tvmpd.stages.air.evaluate import _substitution_expr

# Upper bound on distinct circuit nodes per constraint kernel (a bigger constraint gets its own kernel):
# GPU compilers slow down sharply on long straight-line kernels.
MAX_NODES_PER_KERNEL = 600
# The same bound for a degree-lowering kernel.
NODES_PER_PART = 300

Kernel = tuple[str, str]  # (kernel name, OpenCL C source of that one kernel)


MINUS_ONE = P - 1  # the circuits write every subtraction as a product with it


def binop_expr(op: str, lv: str, lb: bool, rv: str, rb: bool, lc: int | None = None,
               rc: int | None = None) -> str:
    """C expression of lv op rv ('+' or '*'), each operand a base (ulong) or extension (xfe) value; lc / rc
    is an operand's value when it is a base-field constant. A product with -1 becomes a negation and a sum
    with one base operand adds to one coefficient only: the same values for far fewer instructions."""
    if op == "*" and MINUS_ONE in (lc, rc):
        other, other_base = (rv, rb) if lc == MINUS_ONE else (lv, lb)
        return f"{'gl' if other_base else 'xfe'}_neg({other})"
    if lb and rb:
        return f"gl_{'add' if op == '+' else 'mul'}({lv}, {rv})"
    if op == "+":
        if lb or rb:
            return f"xfe_add_base({rv}, {lv})" if lb else f"xfe_add_base({lv}, {rv})"
        return f"xfe_add({lv}, {rv})"
    if lb:
        return f"xfe_mul_base({rv}, {lv})"
    if rb:
        return f"xfe_mul_base({lv}, {rv})"
    return f"xfe_mul({lv}, {rv})"


def _base_constant(n: Node) -> int | None:
    """The value of a base-field constant leaf, None for any other node."""
    return int(n.value) if n.kind == BCONST else None


def _constant(n: Node) -> tuple[bool, str] | None:
    """(is_base, C expression) of a constant leaf, None for other nodes."""
    if n.kind == BCONST:
        return True, f"{n.value}UL"
    if n.kind == XCONST:
        c0, c1, c2 = n.value
        return False, f"xfe_new({c0}UL, {c1}UL, {c2}UL)"
    return None


# ---------------------------------------------------------------------------------------------
# constraint evaluators

_CONSTRAINT_HEAD = """__kernel void {name}(
    __global const ulong *main, const ulong main_row_stride, const ulong main_col_stride,
    __global const ulong *aux, const ulong aux_row_stride, const ulong aux_col_stride,
    const ulong aux_comp_stride, __global const ulong *challenges, __global const ulong *weights,
    const uint n_rows, const uint step, const uint mode, __global ulong *out, const uint first_row)
{{
    const ulong x = (ulong)first_row + get_global_id(0);
    if (x >= n_rows) return;
    const ulong y = (x + step) % n_rows;
    __global const ulong *mc = main + x * main_row_stride;
    __global const ulong *mn = main + y * main_row_stride;
    __global const ulong *ac = aux + x * aux_row_stride;
    __global const ulong *an = aux + y * aux_row_stride;"""


def _constraint_leaf(n: Node) -> tuple[bool, str]:
    """(is_base, C expression) of a leaf of a constraint circuit."""
    constant = _constant(n)
    if constant is not None:
        return constant
    if n.kind == CHALLENGE:
        return False, f"xfe_load(challenges + {3 * int(n.value)})"
    ind = n.value
    nxt = getattr(ind, "is_next", False)
    if ind.is_main:
        return True, f"{'mn' if nxt else 'mc'}[{ind.col} * main_col_stride]"
    return False, f"xfe_load_strided({'an' if nxt else 'ac'} + {ind.col} * aux_col_stride, aux_comp_stride)"


def _chunks(constraints: list[tuple[int, Node]]) -> list[list[tuple[int, Node]]]:
    """Consecutive slices of (quotient-order index, constraint) whose circuits have at most
    MAX_NODES_PER_KERNEL nodes."""
    chunks: list[list[tuple[int, Node]]] = []
    current: list[tuple[int, Node]] = []
    seen: set[int] = set()
    for item in constraints:
        nodes = {n.id for n in _postorder([item[1]])}
        if current and len(seen | nodes) > MAX_NODES_PER_KERNEL:
            chunks.append(current)
            current, seen = [], set()
        current.append(item)
        seen |= nodes
    if current:
        chunks.append(current)
    return chunks


def _constraint_kernel(name: str, category_index: int, chunk: list[tuple[int, Node]], total: int) -> str:
    """One kernel over a slice of constraints: each is stored (mode 0) or weighted into the category's
    sum (mode 1) right after it is computed, so that its value need not stay live (fewer registers)."""
    lines = [_CONSTRAINT_HEAD.format(name=name),
             f"    __global ulong *acc_at = out + (x * 4 + {category_index}) * 3;",
             "    xfe acc = mode == 1 ? xfe_load(acc_at) : xfe_new(0, 0, 0);"]
    position = {}
    for k, c in chunk:
        position.setdefault(c.id, []).append(k)
    is_base: dict[int, bool] = {}
    for n in _postorder([c for _, c in chunk]):
        if n.kind != BINOP:
            b, expr = _constraint_leaf(n)
        else:
            lb, rb = is_base[n.lhs.id], is_base[n.rhs.id]
            b = lb and rb
            expr = binop_expr(n.op, f"v{n.lhs.id}", lb, f"v{n.rhs.id}", rb, _base_constant(n.lhs),
                              _base_constant(n.rhs))
        is_base[n.id] = b
        lines.append(f"    const {'ulong' if b else 'xfe'} v{n.id} = {expr};")
        for k in position.get(n.id, []):
            value = f"xfe_lift(v{n.id})" if b else f"v{n.id}"
            w = f"xfe_load(weights + {3 * k})"
            term = f"xfe_mul_base({w}, v{n.id})" if b else f"xfe_mul({w}, v{n.id})"
            lines.append(f"    if (mode == 0) xfe_store(out + (x * {total} + {k}) * 3, {value}); "
                         f"else acc = xfe_add(acc, {term});")
    lines.append("    if (mode == 1) xfe_store(acc_at, acc);")
    lines.append("}")
    return "\n".join(lines) + "\n"


def constraint_slices(air: LoweredAir) -> list[tuple[int, list[tuple[int, Node]]]]:
    """(category index, [(quotient-order index, constraint)]) of each constraint kernel, in launch order.
    The initial and terminal constraints of the AIR's largest degree get kernels of their own: their
    quotients are the ones that need the whole quotient domain (stages/half_quotient.py), so the odd
    cosets, where only they are evaluated, run those small kernels alone."""
    slices = []
    first = 0
    top = max(_degrees([c for cs in air.constraints.values() for c in cs]).values())
    for index, category in enumerate(CATEGORIES):
        items = list(enumerate(air.constraints[category], first))
        first += len(items)
        groups = [items]
        if category in ("initial", "terminal"):
            degree = _degrees([c for _, c in items])
            high = [it for it in items if degree[it[1].id] == top]
            groups = [high, [it for it in items if degree[it[1].id] < top]]
        for group in groups:
            slices.extend((index, chunk) for chunk in _chunks(group))
    return slices


def constraint_kernels(air: LoweredAir) -> list[Kernel]:
    """The constraint evaluators of `air` (interface in the module docstring), in launch order."""
    total = sum(air.counts().values())
    kernels: list[Kernel] = []
    for index, chunk in constraint_slices(air):
        name = f"evaluate_constraints_{len(kernels)}"
        kernels.append((name, _constraint_kernel(name, index, chunk, total)))
    return kernels


def constraint_kernel_ranges(air: LoweredAir) -> list[tuple[int, ...]]:
    """The quotient-order indices of the constraints each constraint kernel evaluates, in launch order."""
    return [tuple(k for k, _ in chunk) for _, chunk in constraint_slices(air)]


# ---------------------------------------------------------------------------------------------
# degree-lowering fillers

_MAIN_HEAD = """__kernel void {name}(__global ulong *main, const ulong main_row_stride,
                                    const ulong main_col_stride, const uint n_rows, const uint first_row)
{{
    const ulong x = (ulong)first_row + get_global_id(0);
    if (x >= n_rows) return;
    __global ulong *mc = main + x * main_row_stride;"""

_AUX_HEAD = """__kernel void {name}(__global const ulong *main, const ulong main_row_stride,
                                   const ulong main_col_stride, __global ulong *aux,
                                   const ulong aux_row_stride, const ulong aux_col_stride,
                                   const ulong aux_comp_stride, __global const ulong *challenges,
                                   const uint n_rows, const uint first_row)
{{
    const ulong x = (ulong)first_row + get_global_id(0);
    if (x >= n_rows) return;
    __global const ulong *mc = main + x * main_row_stride;
    __global ulong *ac = aux + x * aux_row_stride;"""

_LAST_ROW = """    if (x + 1 == n_rows) {{
{zeros}
        return;
    }}
    __global const ulong *mn = main + (x + 1) * main_row_stride;"""


def _lowering_leaf(n: Node, is_aux_kernel: bool) -> tuple[bool, str]:
    """(is_base, C expression) of a leaf of a substitution rule."""
    constant = _constant(n)
    if constant is not None:
        return constant
    if n.kind == CHALLENGE:
        if not is_aux_kernel:
            raise ValueError("a main substitution rule reads a challenge")
        i = 3 * int(n.value)
        return False, f"xfe_new(challenges[{i}], challenges[{i + 1}], challenges[{i + 2}])"
    if n.kind != INPUT:
        raise ValueError(f"unexpected leaf kind {n.kind!r}")
    ind = n.value
    nxt = getattr(ind, "is_next", False)
    if ind.is_main:
        return True, f"{'mn' if nxt else 'mc'}[{ind.col} * main_col_stride]"
    if not is_aux_kernel:
        raise ValueError("a main substitution rule reads an aux column")
    return False, f"xfe_load_strided({'an' if nxt else 'ac'} + {ind.col} * aux_col_stride, aux_comp_stride)"


def _lowering_kernel(name: str, side: str, transition: bool, rules: list[Node]) -> str:
    """Straight-line kernel evaluating `rules` in order and storing each into its column."""
    is_aux = side == "aux"
    cols = [int(r.lhs.value.col) for r in rules]
    written = set(cols)
    lines = [(_AUX_HEAD if is_aux else _MAIN_HEAD).format(name=name)]
    if transition:
        if is_aux:
            zeros = [f"        xfe_store_strided(ac + {c} * aux_col_stride, aux_comp_stride, xfe_lift(0UL));"
                     for c in cols]
        else:
            zeros = [f"        mc[{c} * main_col_stride] = 0UL;" for c in cols]
        lines.append(_LAST_ROW.format(zeros="\n".join(zeros)))
        if is_aux:
            lines.append("    __global const ulong *an = aux + (x + 1) * aux_row_stride;")
    is_base: dict[int, bool] = {}
    var: dict[int, str] = {}
    done: dict[tuple[bool, int], str] = {}  # (is_main, col) of a rule already evaluated -> its variable
    for rule, col in zip(rules, cols, strict=True):
        expr = _substitution_expr(rule)
        for n in _postorder([expr]):
            if n.id in var:
                continue
            if n.kind == BINOP:
                lb, rb = is_base[n.lhs.id], is_base[n.rhs.id]
                text = binop_expr(n.op, var[n.lhs.id], lb, var[n.rhs.id], rb, _base_constant(n.lhs),
                                  _base_constant(n.rhs))
                is_base[n.id], var[n.id] = lb and rb, f"v{n.id}"
                lines.append(f"    const {'ulong' if lb and rb else 'xfe'} v{n.id} = {text};")
                continue
            if n.kind == INPUT and bool(n.value.is_main) != is_aux and int(n.value.col) in written:
                key = (bool(n.value.is_main), int(n.value.col))
                if getattr(n.value, "is_next", False) or key not in done:
                    raise ValueError(f"rule for column {col} reads column {n.value.col} of its own kernel "
                                     "on the next row or before it is computed")
                is_base[n.id], var[n.id] = key[0], done[key]
                continue
            b, text = _lowering_leaf(n, is_aux)
            is_base[n.id], var[n.id] = b, f"v{n.id}"
            lines.append(f"    const {'ulong' if b else 'xfe'} v{n.id} = {text};")
        value = var[expr.id]
        if is_aux:
            stored = f"xfe_lift({value})" if is_base[expr.id] else value
            lines.append(f"    xfe_store_strided(ac + {col} * aux_col_stride, aux_comp_stride, {stored});"
                         f"  // column {col}")
        else:
            if not is_base[expr.id]:
                raise ValueError(f"main substitution column {col} is not a base-field expression")
            lines.append(f"    mc[{col} * main_col_stride] = {value};  // column {col}")
        done[(not is_aux, col)] = value
    lines.append("}")
    return "\n".join(lines) + "\n"


def _check_no_next_row_reads(side: str, rules: list[Node]) -> None:
    """Rows are filled in parallel: no rule may read the next row of a column its own category fills."""
    filled = {int(r.lhs.value.col) for r in rules}
    for n in _postorder([_substitution_expr(r) for r in rules]):
        same_side = n.kind == INPUT and bool(n.value.is_main) == (side == "main")
        if same_side and getattr(n.value, "is_next", False) and int(n.value.col) in filled:
            raise ValueError(f"a {side} substitution reads the next row of column {n.value.col}")


def _parts(rules: list[Node]) -> list[list[Node]]:
    """Consecutive runs of rules of at most NODES_PER_PART distinct nodes each (a larger rule alone)."""
    parts: list[list[Node]] = []
    seen: set[int] = set()
    for rule in rules:
        nodes = _postorder([_substitution_expr(rule)])
        fresh = [n for n in nodes if n.id not in seen]
        if not parts or (len(seen) + len(fresh) > NODES_PER_PART and parts[-1]):
            parts.append([])
            seen, fresh = set(), nodes
        parts[-1].append(rule)
        seen.update(n.id for n in fresh)
    return parts


def lowering_kernels(air: LoweredAir, side: str) -> list[Kernel]:
    """The degree-lowering fillers of one side ("main" or "aux") of `air`, in the order they must run."""
    if side not in ("main", "aux"):
        raise ValueError(f"side must be 'main' or 'aux', got {side!r}")
    kernels: list[Kernel] = []
    for category in CATEGORIES:
        rules = getattr(air, f"{side}_substitutions")[category]
        _check_no_next_row_reads(side, rules)
        for part, run in enumerate(_parts(rules)):
            name = f"lower_{side}_{category}_{part}"
            kernels.append((name, _lowering_kernel(name, side, category == "transition", run)))
    return kernels


# ---------------------------------------------------------------------------------------------
# index definitions for hand-written kernels


def index_defines() -> dict[str, int]:
    """Every master-table column index (<Enum>_<member>) and challenge index (ChallengeId_<name>), so that
    hand-written kernels (opencl/extend.cl) never hard-code an index."""
    from tvmpd.stages.air import columns
    from tvmpd.stages.air.challenges import ChallengeId

    out: dict[str, int] = {}
    for table in ("Program", "Processor", "OpStack", "Ram", "JumpStack", "Hash", "Cascade", "Lookup", "U32"):
        for side in ("Main", "Aux"):
            enum = getattr(columns, f"{table}{side}")
            out.update({f"{enum.__name__}_{m.name}": int(m) for m in enum})
    out.update({f"ChallengeId_{m.name}": int(m) for m in ChallengeId})
    return out
