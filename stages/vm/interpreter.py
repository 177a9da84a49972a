"""Triton VM v7.0.0 interpreter: runs a program like the reference and records what the AET needs.

The hot loop records per cycle only the instruction pointer and the top 16 stack words; everything
derivable from those (CI, NIA, instruction bits, op-stack pointer, most helper variables, op-stack
underflow entries, jump-stack registers) is computed afterwards with numpy in `aet.py`.

`execute_reference` is the plain-Python interpreter, kept as the oracle of the compiled loop
(`compiled.execute`), which `run` and `run_claim` use.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence

import numpy as np

from tvmpd.stages.tip5 import permutation_trace

from .compiled import execute
from .errors import VMError
from .isa import BY_OPCODE, P, bfe_display, instruction_display
from .program import Program
from .recording import Recording
from .types import NonDeterminism, PublicInput, run_inputs

_U32 = 1 << 32
_MASK32 = _U32 - 1
PROGRESS_CYCLES = 1 << 16  # cycles between two progress reports (tens of ms at the interpreter's speed)


class _Fail(Exception):
    """Internal: an instruction failed; carries the reference's error kind and Display text."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


class _Halt(Exception):
    """Internal: `halt` was executed."""


def _shallow() -> _Fail:
    return _Fail("OpStackError::TooShallow", "operational stack is too shallow")


def _not_u32(value: int) -> _Fail:
    return _Fail("OpStackError::FailedU32Conversion",
                 f"failed to convert BFieldElement {bfe_display(value)} into u32")


def _assertion_text(expected: int, actual: int, context_id: int | None) -> str:
    prefix = f"[{context_id}] " if context_id is not None else ""
    return f"{prefix}expected {bfe_display(expected)}, got {bfe_display(actual)}"


def xfe_mul(a: Sequence[int], b: Sequence[int]) -> list[int]:
    """Product in F_p[x]/(x^3 - x + 1), coefficients low to high."""
    a0, a1, a2 = a
    b0, b1, b2 = b
    return [(a0 * b0 - a2 * b1 - a1 * b2) % P,
            (a1 * b0 + a0 * b1 - a2 * b2 + a2 * b1 + a1 * b2) % P,
            (a2 * b0 + a1 * b1 + a0 * b2 + a2 * b2) % P]


def xfe_inv(a: Sequence[int]) -> list[int]:
    """Inverse in the cubic extension as a^(p^3 - 2); the caller rules out zero."""
    result = [1, 0, 0]
    base = list(a)
    e = P**3 - 2
    while e:
        if e & 1:
            result = xfe_mul(result, base)
        base = xfe_mul(base, base)
        e >>= 1
    return result


class _Log:
    """Internal: the reference interpreter's growing records, turned into a Recording at the end."""

    def __init__(self) -> None:
        self.ips = array("q")  # instruction pointer per cycle
        self.stack_tops = array("Q")  # flat: 16 words per cycle, st15 first
        self.jump_events: list[tuple[int, int, int, int]] = []  # (row from which it holds, jsp, jso, jsd)
        self.ram_log: list[int] = []  # flat: clk, type, pointer, value
        self.helper: dict[int, tuple[int, ...]] = {}  # cycle -> helper variables recorded at runtime
        self.u32: dict[tuple[int, int, int], int] = {}
        self.hash_events = array("B")  # CI per hash-coprocessor call in order (40 = sponge_init, no trace)
        self.hash_traces = array("Q")  # flat: 6 x 16 words per permutation (not for sponge_init)

    def recording(self) -> Recording:
        n = len(self.ips)
        u32 = [(op, lhs, rhs, m) for (op, lhs, rhs), m in self.u32.items()]
        return Recording(
            ips=np.frombuffer(self.ips, dtype=np.int64).copy(),
            stack_tops=np.frombuffer(self.stack_tops, dtype=np.uint64).reshape(n, 16).copy(),
            jump_events=np.array(self.jump_events, dtype=np.uint64).reshape(-1, 4),
            ram_log=np.array(self.ram_log, dtype=np.uint64).reshape(-1, 4),
            helper_cycles=np.fromiter(self.helper.keys(), dtype=np.int64, count=len(self.helper)),
            helper_values=np.array(list(self.helper.values()), dtype=np.uint64).reshape(-1, 6),
            u32_entries=np.array(u32, dtype=np.uint64).reshape(-1, 4),
            hash_events=np.frombuffer(self.hash_events, dtype=np.uint8).copy(),
            hash_traces=np.frombuffer(self.hash_traces, dtype=np.uint64).reshape(-1, 6, 16).copy(),
        )



def execute_reference(program: Program, public_input: Sequence[int] | PublicInput,
                      non_determinism: NonDeterminism | None = None,
                      max_cycles: int | None = None, progress=None) -> tuple[list[int], Recording]:
    """The reference interpreter in plain Python, kept as the oracle of the compiled one (`execute`):
    runs the program to `halt`; returns (output, Recording). Raises VMError on failure.

    `progress(cycles)`, when given, is called at a jump once at least PROGRESS_CYCLES more cycles have run
    (a daemon's liveness signal); whatever it raises stops the run and propagates unchanged.

    `max_cycles` (not in the reference) bounds the run: checked at every jump (`call`, `return`,
    `recurse`, `recurse_or_return`), which is enough because only jumps go backwards; exceeding it
    raises VMError of kind `CycleLimitExceeded`.
    """
    inputs, nd = run_inputs(public_input, non_determinism)
    digest = program.digest()
    instructions = program.instructions
    n = len(instructions)
    rec = _Log()
    ips = rec.ips
    ips_append = ips.append
    tops_extend = rec.stack_tops.extend
    ram_log = rec.ram_log
    u32 = rec.u32
    helper = rec.helper
    hash_event = rec.hash_events.append
    add_trace = rec.hash_traces.frombytes

    def record_permutation(ci: int, trace) -> None:
        hash_event(ci)
        add_trace(trace.tobytes())

    jump_events = rec.jump_events

    # the op stack lives in a C array of u64 (bottom first, st0 = stk[-1]) so that recording the top
    # 16 words per cycle is a memcpy, not 16 int conversions
    stk = array("Q", list(reversed(digest)) + [0] * 11)
    push = stk.append
    pop = stk.pop
    js: list[tuple[int, int]] = []
    output: list[int] = []
    out_append = output.append
    ram = dict(nd.ram)
    tokens = list(nd.individual_tokens)
    digests = [list(d) for d in nd.digests]
    io = {"inp": 0, "tok": 0, "dig": 0}
    sponge: list = [None]
    ctx = program.assertion_context

    limit = max_cycles if max_cycles is not None else 1 << 62
    # the cycle count at which the next progress report is due (never, without a progress callback)
    report_at = [PROGRESS_CYCLES if progress is not None else 1 << 62]

    def check_limit() -> None:
        cycles = len(ips)
        if cycles > limit:
            raise _Fail("CycleLimitExceeded", f"execution exceeds the limit of {limit} cycles")
        if cycles >= report_at[0]:
            report_at[0] = cycles + PROGRESS_CYCLES
            progress(cycles)

    def jump_event() -> None:
        if js:
            o, d = js[-1]
            jump_events.append((len(ips), len(js), o, d))
        else:
            jump_events.append((len(ips), 0, 0, 0))

    def ram_read(ptr: int) -> int:
        v = ram.get(ptr, 0)
        ram_log.extend((len(ips) - 1, 1, ptr, v))
        return v

    # ---- handlers: (ip, arg) -> next ip ----
    def h_push(ip, a):
        push(a)
        return ip + 2

    def h_pop(ip, a):
        if len(stk) - a < 16:
            raise _shallow()
        del stk[-a:]
        return ip + 2

    def h_divine(ip, a):
        left = len(tokens) - io["tok"]
        if left < a:
            raise _Fail("EmptySecretInput", f"secret input buffer is empty after {left} reads")
        i = io["tok"]
        stk.extend(tokens[i:i + a])
        io["tok"] = i + a
        return ip + 2

    def h_pick(ip, a):
        push(pop(-1 - a))
        return ip + 2

    def h_place(ip, a):
        x = pop()
        stk.insert(len(stk) - a, x)
        return ip + 2

    def h_dup(ip, a):
        push(stk[-1 - a])
        return ip + 2

    def h_swap(ip, a):
        stk[-1], stk[-1 - a] = stk[-1 - a], stk[-1]
        return ip + 2

    def h_halt(ip, a):
        raise _Halt()

    def h_nop(ip, a):
        return ip + 1

    def h_skiz(ip, a):
        if len(stk) < 17:
            raise _shallow()
        if pop():
            return ip + 1
        nxt = ip + 1
        if nxt >= n:
            raise _Fail("InstructionPointerOverflow", "instruction pointer points outside of program")
        return ip + 1 + (2 if instructions[nxt][1] is not None else 1)

    def h_call(ip, a):
        check_limit()
        js.append((ip + 2, a))
        jump_event()
        return a

    def h_return(ip, a):
        check_limit()
        if not js:
            raise _Fail("JumpStackIsEmpty", "jump stack is empty")
        o = js.pop()[0]
        jump_event()
        return o

    def h_recurse(ip, a):
        check_limit()
        if not js:
            raise _Fail("JumpStackIsEmpty", "jump stack is empty")
        return js[-1][1]

    def h_recurse_or_return(ip, a):
        check_limit()
        if not js:
            raise _Fail("JumpStackIsEmpty", "jump stack is empty")
        if stk[-6] == stk[-7]:
            o = js.pop()[0]
            jump_event()
            return o
        return js[-1][1]

    def h_assert(ip, a):
        if len(stk) < 17:
            raise _shallow()
        x = stk[-1]
        if x != 1:
            raise _Fail("AssertionFailed", "assertion failed: " + _assertion_text(1, x, ctx.get(ip)))
        pop()
        return ip + 1

    def h_read_mem(ip, a):
        ptr = pop()
        for _ in range(a):
            push(ram_read(ptr))
            ptr = ptr - 1 if ptr else P - 1
        push(ptr)
        return ip + 2

    def h_write_mem(ip, a):
        if len(stk) - a < 16:
            raise _shallow()
        ptr = pop()
        clk = len(ips) - 1
        for _ in range(a):
            v = pop()
            ram[ptr] = v
            ram_log.extend((clk, 0, ptr, v))
            ptr = ptr + 1 if ptr != P - 1 else 0
        push(ptr)
        return ip + 2

    def pop10() -> list[int]:
        vals = stk[-1:-11:-1].tolist()
        del stk[-10:]
        return vals

    def h_hash(ip, a):
        if len(stk) < 21:
            raise _shallow()
        trace = permutation_trace(pop10() + [1] * 6)
        record_permutation(18, trace)
        out = trace[5, :5].tolist()
        stk.extend(out[::-1])
        return ip + 1

    def h_assert_vector(ip, a):
        if len(stk) < 21:
            raise _shallow()
        for i in range(5):
            expected, actual = stk[-1 - i], stk[-6 - i]
            if expected != actual:
                raise _Fail("VectorAssertionFailed",
                            f"vector assertion failed because stack[{i}] != stack[{i + 5}]: "
                            + _assertion_text(expected, actual, ctx.get(ip)))
        del stk[-5:]
        return ip + 1

    def h_sponge_init(ip, a):
        sponge[0] = [0] * 16
        hash_event(40)
        return ip + 1

    def no_sponge() -> _Fail:
        return _Fail("SpongeNotInitialized", "the Sponge state must be initialized before it can be used")

    def h_sponge_absorb(ip, a):
        if len(stk) < 26:
            raise _shallow()
        state = sponge[0]
        if state is None:
            raise no_sponge()
        trace = permutation_trace(pop10() + state[10:])
        record_permutation(34, trace)
        sponge[0] = trace[5].tolist()
        return ip + 1

    def h_sponge_absorb_mem(ip, a):
        state = sponge[0]
        if state is None:
            raise no_sponge()
        ptr = pop()
        vals = []
        for _ in range(10):
            vals.append(ram_read(ptr))
            ptr = ptr + 1 if ptr != P - 1 else 0
        stk[-1], stk[-2], stk[-3], stk[-4] = vals[0], vals[1], vals[2], vals[3]
        push(ptr)
        helper[len(ips) - 1] = tuple(vals[4:10])
        trace = permutation_trace(vals + state[10:])
        record_permutation(34, trace)
        sponge[0] = trace[5].tolist()
        return ip + 1

    def h_sponge_squeeze(ip, a):
        state = sponge[0]
        if state is None:
            raise no_sponge()
        stk.extend(state[9::-1])
        trace = permutation_trace(state)
        record_permutation(56, trace)
        sponge[0] = trace[5].tolist()
        return ip + 1

    def h_add(ip, a):
        if len(stk) < 17:
            raise _shallow()
        x = pop()
        stk[-1] = (stk[-1] + x) % P
        return ip + 1

    def h_addi(ip, a):
        stk[-1] = (stk[-1] + a) % P
        return ip + 2

    def h_mul(ip, a):
        if len(stk) < 17:
            raise _shallow()
        x = pop()
        stk[-1] = stk[-1] * x % P
        return ip + 1

    def h_invert(ip, a):
        x = stk[-1]
        if not x:
            raise _Fail("InverseOfZero", "0 does not have a multiplicative inverse")
        stk[-1] = pow(x, P - 2, P)
        return ip + 1

    def h_eq(ip, a):
        if len(stk) < 17:
            raise _shallow()
        x = pop()
        stk[-1] = 1 if stk[-1] == x else 0
        return ip + 1

    def h_split(ip, a):
        x = pop()
        lo, hi = x & _MASK32, x >> 32
        push(hi)
        push(lo)
        key = (4, lo, hi)
        u32[key] = u32.get(key, 0) + 1
        return ip + 1

    def check_u32(*indices: int) -> None:
        for i in indices:
            if stk[-1 - i] >= _U32:
                raise _not_u32(stk[-1 - i])

    def h_lt(ip, a):
        if len(stk) < 17:
            raise _shallow()
        check_u32(0, 1)
        lhs = pop()
        rhs = stk[-1]
        stk[-1] = 1 if lhs < rhs else 0
        key = (6, lhs, rhs)
        u32[key] = u32.get(key, 0) + 1
        return ip + 1

    def h_and(ip, a):
        if len(stk) < 17:
            raise _shallow()
        check_u32(0, 1)
        lhs = pop()
        rhs = stk[-1]
        stk[-1] = lhs & rhs
        key = (14, lhs, rhs)
        u32[key] = u32.get(key, 0) + 1
        return ip + 1

    def h_xor(ip, a):
        if len(stk) < 17:
            raise _shallow()
        check_u32(0, 1)
        lhs = pop()
        rhs = stk[-1]
        stk[-1] = lhs ^ rhs
        key = (14, lhs, rhs)
        u32[key] = u32.get(key, 0) + 1
        return ip + 1

    def h_log_2_floor(ip, a):
        check_u32(0)
        x = stk[-1]
        if not x:
            raise _Fail("LogarithmOfZero", "the logarithm of 0 does not exist")
        stk[-1] = x.bit_length() - 1
        key = (12, x, 0)
        u32[key] = u32.get(key, 0) + 1
        return ip + 1

    def h_pow(ip, a):
        if len(stk) < 17:
            raise _shallow()
        check_u32(1)
        base = pop()
        exponent = stk[-1]
        stk[-1] = pow(base, exponent, P)
        key = (30, base, exponent)
        u32[key] = u32.get(key, 0) + 1
        return ip + 1

    def h_div_mod(ip, a):
        check_u32(0, 1)
        if not stk[-2]:
            raise _Fail("DivisionByZero", "division by 0 is impossible")
        num = stk[-1]
        den = stk[-2]
        q, r = divmod(num, den)
        stk[-2] = q
        stk[-1] = r
        key = (6, r, den)
        u32[key] = u32.get(key, 0) + 1
        key = (4, num, q)
        u32[key] = u32.get(key, 0) + 1
        return ip + 1

    def h_pop_count(ip, a):
        check_u32(0)
        x = stk[-1]
        stk[-1] = x.bit_count()
        key = (28, x, 0)
        u32[key] = u32.get(key, 0) + 1
        return ip + 1

    def pop_xfe() -> list[int]:
        v = stk[-1:-4:-1].tolist()
        del stk[-3:]
        return v

    def push_xfe(x: Sequence[int]) -> None:
        stk.extend((x[2], x[1], x[0]))

    def h_xx_add(ip, a):
        if len(stk) < 19:
            raise _shallow()
        x = pop_xfe()
        y = pop_xfe()
        push_xfe([(x[0] + y[0]) % P, (x[1] + y[1]) % P, (x[2] + y[2]) % P])
        return ip + 1

    def h_xx_mul(ip, a):
        if len(stk) < 19:
            raise _shallow()
        x = pop_xfe()
        y = pop_xfe()
        push_xfe(xfe_mul(x, y))
        return ip + 1

    def h_x_invert(ip, a):
        x = stk[-1:-4:-1].tolist()
        if not any(x):
            raise _Fail("InverseOfZero", "0 does not have a multiplicative inverse")
        del stk[-3:]
        push_xfe(xfe_inv(x))
        return ip + 1

    def h_xb_mul(ip, a):
        if len(stk) < 17:
            raise _shallow()
        b = pop()
        x = pop_xfe()
        push_xfe([b * x[0] % P, b * x[1] % P, b * x[2] % P])
        return ip + 1

    def h_read_io(ip, a):
        left = len(inputs) - io["inp"]
        if left < a:
            raise _Fail("EmptyPublicInput", f"public input buffer is empty after {left} reads")
        i = io["inp"]
        stk.extend(inputs[i:i + a])
        io["inp"] = i + a
        return ip + 2

    def h_write_io(ip, a):
        if len(stk) - a < 16:
            raise _shallow()
        for _ in range(a):
            out_append(pop())
        return ip + 2

    def merkle(sibling: list[int]) -> None:
        node_index = stk[-6]
        parent = node_index >> 1
        acc = stk[-1:-6:-1].tolist()
        del stk[-5:]
        if node_index & 1:
            state = sibling + acc + [1] * 6
        else:
            state = acc + sibling + [1] * 6
        trace = permutation_trace(state)
        record_permutation(18, trace)
        out = trace[5, :5].tolist()
        stk.extend(out[::-1])
        stk[-6] = parent
        key = (4, node_index, parent)
        u32[key] = u32.get(key, 0) + 1

    def h_merkle_step(ip, a):
        check_u32(5)
        if io["dig"] >= len(digests):
            raise _Fail("EmptySecretDigestInput", "no more secret digests available")
        sibling = digests[io["dig"]]
        io["dig"] += 1
        helper[len(ips) - 1] = (*sibling, stk[-6] & 1)
        merkle(list(sibling))
        return ip + 1

    def h_merkle_step_mem(ip, a):
        check_u32(5)
        ptr = stk[-8]
        sibling = []
        for _ in range(5):
            sibling.append(ram_read(ptr))
            ptr = ptr + 1 if ptr != P - 1 else 0
        stk[-8] = ptr
        helper[len(ips) - 1] = (*sibling, stk[-6] & 1)
        merkle(sibling)
        return ip + 1

    def h_xx_dot_step(ip, a):
        rp = pop()
        lp = pop()
        rhs, lhs = [], []
        for _ in range(3):
            rhs.append(ram_read(rp))
            rp = rp + 1 if rp != P - 1 else 0
            lhs.append(ram_read(lp))
            lp = lp + 1 if lp != P - 1 else 0
        helper[len(ips) - 1] = (*rhs, *lhs)
        acc = pop_xfe()
        prod = xfe_mul(rhs, lhs)
        push_xfe([(acc[0] + prod[0]) % P, (acc[1] + prod[1]) % P, (acc[2] + prod[2]) % P])
        push(lp)
        push(rp)
        return ip + 1

    def h_xb_dot_step(ip, a):
        rp = pop()
        lp = pop()
        rhs = ram_read(rp)
        rp = rp + 1 if rp != P - 1 else 0
        lhs = []
        for _ in range(3):
            lhs.append(ram_read(lp))
            lp = lp + 1 if lp != P - 1 else 0
        helper[len(ips) - 1] = (rhs, *lhs, 0, 0)
        acc = pop_xfe()
        push_xfe([(acc[0] + rhs * lhs[0]) % P, (acc[1] + rhs * lhs[1]) % P, (acc[2] + rhs * lhs[2]) % P])
        push(lp)
        push(rp)
        return ip + 1

    scope = locals()
    handlers = {spec.opcode: scope["h_" + spec.name] for spec in BY_OPCODE.values()}
    code = [(handlers[op], arg) for op, arg in instructions]

    ip = 0
    try:
        while True:
            ips_append(ip)
            tops_extend(stk[-16:])
            h, a = code[ip]
            ip = h(ip, a)
    except _Halt:
        pass
    except IndexError:  # ip past the end; its row was already recorded
        if ip < n:
            raise
        raise VMError("InstructionPointerOverflow", "instruction pointer points outside of program",
                      ip, len(ips) - 1, None) from None
    except OverflowError:  # ip >= 2^63 does not fit the ip record; its row was not recorded
        if ip < n:
            raise
        raise VMError("InstructionPointerOverflow", "instruction pointer points outside of program",
                      ip, len(ips), None) from None
    except _Fail as f:
        raise VMError(f.kind, f.message, ip, len(ips) - 1, instruction_display(instructions[ip])) from None
    return output, rec.recording()


def run(program: Program, public_input: Sequence[int] | PublicInput,
        non_determinism: NonDeterminism | None = None, max_cycles: int | None = None, progress=None,
        reference: bool = False):
    """Run like the reference's `VM::trace_execution`: returns (output, AET); raises VMError on failure.
    `progress` is execute's progress callback. reference: on the plain interpreter (execute_reference) with
    the AET built in numpy (the same results) rather than by numba's compiled loops, for a process whose
    numba cache is cold."""
    from .aet import build_aet

    engine = execute_reference if reference else execute
    output, rec = engine(program, public_input, non_determinism, max_cycles, progress)
    return output, build_aet(program, rec, compiled=not reference)


def run_claim(claim, program: Program, non_determinism: NonDeterminism | None = None,
              max_cycles: int | None = None):
    """Check the claim's digest, run on the claim's input, check the claimed output (like `triton_vm::prove`).

    Returns (output, AET); raises ClaimMismatch (a ValueError) or VMError.
    """
    from .errors import ClaimMismatch

    if list(claim.program_digest) != program.digest():
        raise ClaimMismatch("ProgramDigestMismatch",
                            "claimed program digest does not match actual program digest")
    output, aet = run(program, claim.input, non_determinism, max_cycles)
    if output != list(claim.output):
        raise ClaimMismatch("PublicOutputMismatch",
                            "claimed public output does not match actual public output")
    return output, aet
