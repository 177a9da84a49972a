"""The VM's hot loop compiled to native code with numba: runs a program exactly like the reference
interpreter (`interpreter.execute_reference`) and records the same Recording.

The loop works on uint64 arrays: the op stack, a growing buffer per record (instruction pointers, top 16
stack words, jump events, RAM accesses, helper variables, u32 operations, Tip5 traces) and an
open-addressing hash map for RAM. A failure ends the loop with an error code and up to three values;
the Python side turns them into the reference's VMError. `cache=True` keeps the machine code on disk,
so only the first process on a machine pays the compile (`warmup.warm_up` pays it on purpose).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numba as nb
import numpy as np

from tvmpd.stages.tip5_numba import _NB_P, nb_add, nb_mul, nb_permute_trace, nb_pow, nb_sub

from .errors import VMError
from .isa import P, bfe_display, instruction_display
from .program import Program
from .recording import Recording
from .types import NonDeterminism, PublicInput, run_inputs

# error codes of the compiled loop
(OK, TOO_SHALLOW, NOT_U32, ASSERTION, VECTOR_ASSERTION, EMPTY_SECRET, EMPTY_INPUT, EMPTY_DIGESTS,
 IP_OVERFLOW, JUMP_STACK_EMPTY, CYCLE_LIMIT, NO_SPONGE, INVERSE_OF_ZERO, DIVISION_BY_ZERO,
 LOG_OF_ZERO, STOPPED) = range(16)
CONTROL_CYCLES = 1 << 16  # the loop publishes its cycle count and reads the stop request this often
PROGRESS_S = 0.25  # how often a run with a progress callback calls it

_U = np.uint64
_ZERO = np.uint64(0)
_ONE = np.uint64(1)
_PM1 = np.uint64(P - 1)
_U32 = np.uint64(1 << 32)
_MASK32 = np.uint64((1 << 32) - 1)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_ROWS = 1 << 22  # initial capacity of the per-cycle records (a real 2^22 job runs about 2.3 M cycles)
# p^3 - 2, most significant bit first: the exponent of the inverse in the cubic extension
_XFE_INV_BITS = np.array([int(b) for b in bin(P**3 - 2)[2:]], dtype=np.uint8)


@nb.njit(cache=True)
def _grow(a: np.ndarray, need: int) -> np.ndarray:
    """a, or a copy with at least `need` rows (capacity doubles) whose first rows are a's."""
    if need <= a.shape[0]:
        return a
    b = np.empty((max(need, 2 * a.shape[0]),) + a.shape[1:], dtype=a.dtype)
    src, dst = a.ravel(), b.ravel()
    for i in range(src.size):  # a loop, not a slice assignment: no shape-check code for numba to compile
        dst[i] = src[i]
    return b


@nb.njit(cache=True)
def _slot(keys: np.ndarray, used: np.ndarray, key: np.uint64) -> int:
    """Index of `key` in the open-addressing map, or of the free slot where it would go."""
    mask = keys.shape[0] - 1
    i = np.int64((key * _GOLDEN) >> np.uint64(32)) & mask
    while used[i] and keys[i] != key:
        i = (i + 1) & mask
    return i


@nb.njit(cache=True)
def _rehash(keys: np.ndarray, vals: np.ndarray, used: np.ndarray):
    """The map with twice the slots."""
    cap = 2 * keys.shape[0]
    nk = np.zeros(cap, dtype=np.uint64)
    nv = np.zeros(cap, dtype=np.uint64)
    nu = np.zeros(cap, dtype=np.uint8)
    for j in range(keys.shape[0]):
        if used[j]:
            i = _slot(nk, nu, keys[j])
            nk[i] = keys[j]
            nv[i] = vals[j]
            nu[i] = 1
    return nk, nv, nu


@nb.njit(cache=True)
def _xfe_mul(a0, a1, a2, b0, b1, b2):
    """Product in F_p[x]/(x^3 - x + 1), coefficients low to high."""
    c0 = nb_sub(nb_sub(nb_mul(a0, b0), nb_mul(a2, b1)), nb_mul(a1, b2))
    c1 = nb_add(nb_add(nb_sub(nb_add(nb_mul(a1, b0), nb_mul(a0, b1)), nb_mul(a2, b2)), nb_mul(a2, b1)),
                nb_mul(a1, b2))
    c2 = nb_add(nb_add(nb_add(nb_mul(a2, b0), nb_mul(a1, b1)), nb_mul(a0, b2)), nb_mul(a2, b2))
    return c0, c1, c2


@nb.njit(cache=True)
def _bit_length(x: np.uint64) -> int:
    n = 0
    while x:
        x >>= _ONE
        n += 1
    return n


@nb.njit(cache=True, nogil=True)
def _run(ops, args, sizes, inputs, tokens, digests, ram_keys, ram_vals, stack0, limit, control):  # noqa: C901
    """The loop. Returns (status, err_ip, err_cycle, e1, e2, e3, output, records...). Every CONTROL_CYCLES
    cycles it writes its cycle count to control[0] and stops (status STOPPED) if control[1] is set; it
    holds no GIL, so a Python thread can watch it meanwhile."""
    n = ops.shape[0]
    un = np.uint64(n)
    # Large buffers cost only address space until written (the allocator maps them lazily), while
    # growing one copies it and faults in fresh pages: start big enough for most jobs.
    cap = min(limit + 1, _ROWS)
    ips = np.empty(cap, dtype=np.int64)
    tops = np.empty((cap, 16), dtype=np.uint64)
    jumps = np.empty((1024, 4), dtype=np.uint64)
    ram_log = np.empty((cap, 4), dtype=np.uint64)
    h_cyc = np.empty(1 << 16, dtype=np.int64)
    h_val = np.empty((1 << 16, 6), dtype=np.uint64)
    u32_log = np.empty((1 << 16, 3), dtype=np.uint64)
    h_ev = np.empty(1 << 18, dtype=np.uint8)
    h_tr = np.empty((6 << 18, 16), dtype=np.uint64)
    out = np.empty(16, dtype=np.uint64)
    n_jump = n_ram = n_help = n_u32 = n_ev = n_perm = n_out = 0

    st = np.empty(1024, dtype=np.uint64)
    sp = stack0.shape[0]
    for i in range(sp):
        st[i] = stack0[i]
    js_o = np.empty(64, dtype=np.uint64)
    js_d = np.empty(64, dtype=np.uint64)
    jsp = 0

    rcap = 64
    while rcap < 4 * ram_keys.shape[0]:
        rcap *= 2
    rk = np.zeros(rcap, dtype=np.uint64)
    rv = np.zeros(rcap, dtype=np.uint64)
    ru = np.zeros(rcap, dtype=np.uint8)
    r_count = 0
    for j in range(ram_keys.shape[0]):
        i = _slot(rk, ru, ram_keys[j])
        if not ru[i]:
            ru[i] = 1
            rk[i] = ram_keys[j]
            r_count += 1
        rv[i] = ram_vals[j]

    sponge = np.zeros(16, dtype=np.uint64)
    has_sponge = False
    state = np.empty(16, dtype=np.uint64)
    lo = np.empty(16, dtype=np.uint64)
    hi = np.empty(16, dtype=np.uint64)
    vals = np.empty(10, dtype=np.uint64)
    n_in = n_tok = n_dig = 0

    status = OK
    e1 = e2 = e3 = _ZERO
    ip = _ZERO
    c = 0  # rows recorded
    while True:
        if c % CONTROL_CYCLES == 0:
            control[0] = c
            if control[1] != 0:
                status = STOPPED
                break
        if ip >= un:
            status = IP_OVERFLOW
            break
        if c == ips.shape[0]:
            ips = _grow(ips, c + 1)
            tops = _grow(tops, c + 1)
        a_ip = np.int64(ip)
        ips[c] = a_ip
        for j in range(16):
            tops[c, j] = st[sp - 16 + j]
        c += 1
        if sp + 16 > st.shape[0]:
            st = _grow(st, sp + 16)
        if n_ram + 10 > ram_log.shape[0]:
            ram_log = _grow(ram_log, n_ram + 10)
        if n_u32 + 2 > u32_log.shape[0]:
            u32_log = _grow(u32_log, n_u32 + 2)
        if n_help + 1 > h_cyc.shape[0]:
            h_cyc = _grow(h_cyc, n_help + 1)
            h_val = _grow(h_val, n_help + 1)
        if n_ev + 1 > h_ev.shape[0]:
            h_ev = _grow(h_ev, n_ev + 1)
            h_tr = _grow(h_tr, 6 * (n_ev + 1))
        if jsp + 1 > js_o.shape[0]:
            js_o = _grow(js_o, jsp + 1)
            js_d = _grow(js_d, jsp + 1)
        if n_jump + 1 > jumps.shape[0]:
            jumps = _grow(jumps, n_jump + 1)
        op = ops[a_ip]
        arg = args[a_ip]
        na = np.int64(arg)  # number of words or stack register, where the instruction has one
        nxt = ip + _ONE
        if op == 1:  # push
            st[sp] = arg
            sp += 1
            nxt = ip + np.uint64(2)
        elif op == 3:  # pop
            if sp - na < 16:
                status = TOO_SHALLOW
                break
            sp -= na
            nxt = ip + np.uint64(2)
        elif op == 9:  # divine
            left = tokens.shape[0] - n_tok
            if left < na:
                status = EMPTY_SECRET
                e1 = np.uint64(left)
                break
            for j in range(na):
                st[sp] = tokens[n_tok + j]
                sp += 1
            n_tok += na
            nxt = ip + np.uint64(2)
        elif op == 17:  # pick
            x = st[sp - 1 - na]
            for j in range(sp - 1 - na, sp - 1):
                st[j] = st[j + 1]
            st[sp - 1] = x
            nxt = ip + np.uint64(2)
        elif op == 25:  # place
            x = st[sp - 1]
            for j in range(sp - 1, sp - 1 - na, -1):
                st[j] = st[j - 1]
            st[sp - 1 - na] = x
            nxt = ip + np.uint64(2)
        elif op == 33:  # dup
            st[sp] = st[sp - 1 - na]
            sp += 1
            nxt = ip + np.uint64(2)
        elif op == 41:  # swap
            x = st[sp - 1]
            st[sp - 1] = st[sp - 1 - na]
            st[sp - 1 - na] = x
            nxt = ip + np.uint64(2)
        elif op == 0:  # halt
            break
        elif op == 8:  # nop
            pass
        elif op == 2:  # skiz
            if sp < 17:
                status = TOO_SHALLOW
                break
            sp -= 1
            if st[sp] == _ZERO:
                if nxt >= un:
                    status = IP_OVERFLOW
                    e1 = _ONE  # raised by skiz itself
                    break
                nxt = nxt + np.uint64(sizes[np.int64(nxt)])
        elif op == 49 or op == 16 or op == 24 or op == 32:  # call return recurse recurse_or_return
            if c > limit:
                status = CYCLE_LIMIT
                break
            if op == 49:
                js_o[jsp] = ip + np.uint64(2)
                js_d[jsp] = arg
                jsp += 1
                jumps[n_jump, 0] = c
                jumps[n_jump, 1] = jsp
                jumps[n_jump, 2] = js_o[jsp - 1]
                jumps[n_jump, 3] = js_d[jsp - 1]
                n_jump += 1
                nxt = arg
            else:
                if jsp == 0:
                    status = JUMP_STACK_EMPTY
                    break
                if op == 16 or (op == 32 and st[sp - 6] == st[sp - 7]):
                    jsp -= 1
                    nxt = js_o[jsp]
                    jumps[n_jump, 0] = c
                    jumps[n_jump, 1] = jsp
                    jumps[n_jump, 2] = js_o[jsp - 1] if jsp else _ZERO
                    jumps[n_jump, 3] = js_d[jsp - 1] if jsp else _ZERO
                    n_jump += 1
                else:
                    nxt = js_d[jsp - 1]
        elif op == 10:  # assert
            if sp < 17:
                status = TOO_SHALLOW
                break
            if st[sp - 1] != _ONE:
                status = ASSERTION
                e1 = st[sp - 1]
                break
            sp -= 1
        elif op == 57:  # read_mem
            ptr = st[sp - 1]
            sp -= 1
            for _ in range(na):
                i = _slot(rk, ru, ptr)
                v = rv[i] if ru[i] else _ZERO
                ram_log[n_ram, 0] = c - 1
                ram_log[n_ram, 1] = 1
                ram_log[n_ram, 2] = ptr
                ram_log[n_ram, 3] = v
                n_ram += 1
                st[sp] = v
                sp += 1
                ptr = ptr - _ONE if ptr else _PM1
            st[sp] = ptr
            sp += 1
            nxt = ip + np.uint64(2)
        elif op == 11:  # write_mem
            if sp - na < 16:
                status = TOO_SHALLOW
                break
            sp -= 1
            ptr = st[sp]
            for _ in range(na):
                sp -= 1
                v = st[sp]
                i = _slot(rk, ru, ptr)
                if not ru[i]:
                    ru[i] = 1
                    rk[i] = ptr
                    r_count += 1
                rv[i] = v
                if 2 * r_count > rk.shape[0]:
                    rk, rv, ru = _rehash(rk, rv, ru)
                ram_log[n_ram, 0] = c - 1
                ram_log[n_ram, 1] = 0
                ram_log[n_ram, 2] = ptr
                ram_log[n_ram, 3] = v
                n_ram += 1
                ptr = ptr + _ONE if ptr != _PM1 else _ZERO
            st[sp] = ptr
            sp += 1
            nxt = ip + np.uint64(2)
        elif op == 18 or op == 34 or op == 48 or op == 56 or op == 36 or op == 44:
            # hash sponge_absorb sponge_absorb_mem sponge_squeeze merkle_step merkle_step_mem
            ci = op
            if op == 18:
                if sp < 21:
                    status = TOO_SHALLOW
                    break
                for j in range(10):
                    state[j] = st[sp - 1 - j]
                for j in range(10, 16):
                    state[j] = _ONE
                sp -= 10
            elif op == 34:
                if sp < 26:
                    status = TOO_SHALLOW
                    break
                if not has_sponge:
                    status = NO_SPONGE
                    break
                for j in range(10):
                    state[j] = st[sp - 1 - j]
                for j in range(10, 16):
                    state[j] = sponge[j]
                sp -= 10
            elif op == 48:
                if not has_sponge:
                    status = NO_SPONGE
                    break
                ci = 34
                ptr = st[sp - 1]
                for j in range(10):
                    i = _slot(rk, ru, ptr)
                    v = rv[i] if ru[i] else _ZERO
                    ram_log[n_ram, 0] = c - 1
                    ram_log[n_ram, 1] = 1
                    ram_log[n_ram, 2] = ptr
                    ram_log[n_ram, 3] = v
                    n_ram += 1
                    vals[j] = v
                    state[j] = v
                    ptr = ptr + _ONE if ptr != _PM1 else _ZERO
                for j in range(10, 16):
                    state[j] = sponge[j]
                for j in range(4):
                    st[sp - 2 - j] = vals[j]
                st[sp - 1] = ptr
                h_cyc[n_help] = c - 1
                for j in range(6):
                    h_val[n_help, j] = vals[4 + j]
                n_help += 1
            elif op == 56:
                if not has_sponge:
                    status = NO_SPONGE
                    break
                for j in range(10):
                    st[sp + j] = sponge[9 - j]
                sp += 10
                for j in range(16):
                    state[j] = sponge[j]
            else:  # merkle_step(_mem)
                ci = 18
                node = st[sp - 6]
                if node >= _U32:
                    status = NOT_U32
                    e1 = node
                    break
                if op == 36:
                    if n_dig >= digests.shape[0]:
                        status = EMPTY_DIGESTS
                        break
                    for j in range(5):
                        vals[j] = digests[n_dig, j]
                    n_dig += 1
                else:
                    ptr = st[sp - 8]
                    for j in range(5):
                        i = _slot(rk, ru, ptr)
                        v = rv[i] if ru[i] else _ZERO
                        ram_log[n_ram, 0] = c - 1
                        ram_log[n_ram, 1] = 1
                        ram_log[n_ram, 2] = ptr
                        ram_log[n_ram, 3] = v
                        n_ram += 1
                        vals[j] = v
                        ptr = ptr + _ONE if ptr != _PM1 else _ZERO
                    st[sp - 8] = ptr
                h_cyc[n_help] = c - 1
                for j in range(5):
                    h_val[n_help, j] = vals[j]
                h_val[n_help, 5] = node & _ONE
                n_help += 1
                right = node & _ONE
                for j in range(5):
                    if right:
                        state[j] = vals[j]
                        state[5 + j] = st[sp - 1 - j]
                    else:
                        state[j] = st[sp - 1 - j]
                        state[5 + j] = vals[j]
                for j in range(10, 16):
                    state[j] = _ONE
                parent = node >> _ONE
                u32_log[n_u32, 0] = 4
                u32_log[n_u32, 1] = node
                u32_log[n_u32, 2] = parent
                n_u32 += 1
                st[sp - 6] = parent
                sp -= 5
            h_ev[n_ev] = ci
            nb_permute_trace(state, h_tr, 6 * n_perm, lo, hi)
            n_ev += 1
            n_perm += 1
            if op == 18 or op == 36 or op == 44:
                for j in range(5):
                    st[sp + 4 - j] = state[j]
                sp += 5
            else:
                for j in range(16):
                    sponge[j] = state[j]
        elif op == 26:  # assert_vector
            if sp < 21:
                status = TOO_SHALLOW
                break
            for j in range(5):
                if st[sp - 1 - j] != st[sp - 6 - j]:
                    status = VECTOR_ASSERTION
                    e1 = np.uint64(j)
                    e2 = st[sp - 1 - j]
                    e3 = st[sp - 6 - j]
                    break
            if status != OK:
                break
            sp -= 5
        elif op == 40:  # sponge_init
            sponge[:] = _ZERO
            has_sponge = True
            h_ev[n_ev] = 40
            n_ev += 1
        elif op == 42 or op == 50 or op == 58:  # add mul eq
            if sp < 17:
                status = TOO_SHALLOW
                break
            sp -= 1
            x = st[sp]
            if op == 42:
                st[sp - 1] = nb_add(st[sp - 1], x)
            elif op == 50:
                st[sp - 1] = nb_mul(st[sp - 1], x)
            else:
                st[sp - 1] = _ONE if st[sp - 1] == x else _ZERO
        elif op == 65:  # addi
            st[sp - 1] = nb_add(st[sp - 1], arg)
            nxt = ip + np.uint64(2)
        elif op == 64:  # invert
            x = st[sp - 1]
            if x == _ZERO:
                status = INVERSE_OF_ZERO
                break
            st[sp - 1] = nb_pow(x, _NB_P - np.uint64(2))
        elif op == 4:  # split
            x = st[sp - 1]
            low = x & _MASK32
            high = x >> np.uint64(32)
            st[sp - 1] = high
            st[sp] = low
            sp += 1
            u32_log[n_u32, 0] = 4
            u32_log[n_u32, 1] = low
            u32_log[n_u32, 2] = high
            n_u32 += 1
        elif op == 6 or op == 14 or op == 22:  # lt and xor
            if sp < 17:
                status = TOO_SHALLOW
                break
            if st[sp - 1] >= _U32:
                status = NOT_U32
                e1 = st[sp - 1]
                break
            if st[sp - 2] >= _U32:
                status = NOT_U32
                e1 = st[sp - 2]
                break
            sp -= 1
            lhs = st[sp]
            rhs = st[sp - 1]
            if op == 6:
                st[sp - 1] = _ONE if lhs < rhs else _ZERO
            elif op == 14:
                st[sp - 1] = lhs & rhs
            else:
                st[sp - 1] = lhs ^ rhs
            u32_log[n_u32, 0] = 6 if op == 6 else 14
            u32_log[n_u32, 1] = lhs
            u32_log[n_u32, 2] = rhs
            n_u32 += 1
        elif op == 12 or op == 28:  # log_2_floor pop_count
            x = st[sp - 1]
            if x >= _U32:
                status = NOT_U32
                e1 = x
                break
            if op == 12:
                if x == _ZERO:
                    status = LOG_OF_ZERO
                    break
                st[sp - 1] = np.uint64(_bit_length(x) - 1)
            else:
                count = _ZERO
                y = x
                while y:
                    count += y & _ONE
                    y >>= _ONE
                st[sp - 1] = count
            u32_log[n_u32, 0] = op
            u32_log[n_u32, 1] = x
            u32_log[n_u32, 2] = _ZERO
            n_u32 += 1
        elif op == 30:  # pow
            if sp < 17:
                status = TOO_SHALLOW
                break
            if st[sp - 2] >= _U32:
                status = NOT_U32
                e1 = st[sp - 2]
                break
            sp -= 1
            base = st[sp]
            exponent = st[sp - 1]
            st[sp - 1] = nb_pow(base, exponent)
            u32_log[n_u32, 0] = 30
            u32_log[n_u32, 1] = base
            u32_log[n_u32, 2] = exponent
            n_u32 += 1
        elif op == 20:  # div_mod
            if st[sp - 1] >= _U32:
                status = NOT_U32
                e1 = st[sp - 1]
                break
            if st[sp - 2] >= _U32:
                status = NOT_U32
                e1 = st[sp - 2]
                break
            num = st[sp - 1]
            den = st[sp - 2]
            if den == _ZERO:
                status = DIVISION_BY_ZERO
                break
            q = num // den
            r = num - q * den
            st[sp - 2] = q
            st[sp - 1] = r
            u32_log[n_u32, 0] = 6
            u32_log[n_u32, 1] = r
            u32_log[n_u32, 2] = den
            u32_log[n_u32 + 1, 0] = 4
            u32_log[n_u32 + 1, 1] = num
            u32_log[n_u32 + 1, 2] = q
            n_u32 += 2
        elif op == 66 or op == 74:  # xx_add xx_mul
            if sp < 19:
                status = TOO_SHALLOW
                break
            x0, x1, x2 = st[sp - 1], st[sp - 2], st[sp - 3]
            y0, y1, y2 = st[sp - 4], st[sp - 5], st[sp - 6]
            if op == 66:
                z0, z1, z2 = nb_add(x0, y0), nb_add(x1, y1), nb_add(x2, y2)
            else:
                z0, z1, z2 = _xfe_mul(x0, x1, x2, y0, y1, y2)
            sp -= 3
            st[sp - 1], st[sp - 2], st[sp - 3] = z0, z1, z2
        elif op == 72:  # x_invert
            x0, x1, x2 = st[sp - 1], st[sp - 2], st[sp - 3]
            if x0 == _ZERO and x1 == _ZERO and x2 == _ZERO:
                status = INVERSE_OF_ZERO
                break
            z0, z1, z2 = _ONE, _ZERO, _ZERO
            for j in range(_XFE_INV_BITS.shape[0]):
                z0, z1, z2 = _xfe_mul(z0, z1, z2, z0, z1, z2)
                if _XFE_INV_BITS[j]:
                    z0, z1, z2 = _xfe_mul(z0, z1, z2, x0, x1, x2)
            st[sp - 1], st[sp - 2], st[sp - 3] = z0, z1, z2
        elif op == 82:  # xb_mul
            if sp < 17:
                status = TOO_SHALLOW
                break
            b = st[sp - 1]
            sp -= 1
            for j in range(3):
                st[sp - 1 - j] = nb_mul(b, st[sp - 1 - j])
        elif op == 73:  # read_io
            left = inputs.shape[0] - n_in
            if left < na:
                status = EMPTY_INPUT
                e1 = np.uint64(left)
                break
            for j in range(na):
                st[sp] = inputs[n_in + j]
                sp += 1
            n_in += na
            nxt = ip + np.uint64(2)
        elif op == 19:  # write_io
            if sp - na < 16:
                status = TOO_SHALLOW
                break
            if n_out + na > out.shape[0]:
                out = _grow(out, n_out + na)
            for _ in range(na):
                sp -= 1
                out[n_out] = st[sp]
                n_out += 1
            nxt = ip + np.uint64(2)
        elif op == 80 or op == 88:  # xx_dot_step xb_dot_step
            rp = st[sp - 1]
            lp = st[sp - 2]
            for j in range(6):
                vals[j] = _ZERO
            # xx: rhs0 lhs0 rhs1 lhs1 rhs2 lhs2; xb: rhs0 lhs0 lhs1 lhs2 (reads in this order)
            for j in range(6 if op == 80 else 4):
                left_side = (j % 2 == 1) if op == 80 else j > 0
                ptr = lp if left_side else rp
                i = _slot(rk, ru, ptr)
                v = rv[i] if ru[i] else _ZERO
                ram_log[n_ram, 0] = c - 1
                ram_log[n_ram, 1] = 1
                ram_log[n_ram, 2] = ptr
                ram_log[n_ram, 3] = v
                n_ram += 1
                nptr = ptr + _ONE if ptr != _PM1 else _ZERO
                if left_side:
                    lp = nptr
                    vals[3 + (j // 2 if op == 80 else j - 1)] = v
                else:
                    rp = nptr
                    vals[j // 2] = v
            h_cyc[n_help] = c - 1
            if op == 80:
                for j in range(6):
                    h_val[n_help, j] = vals[j]
                p0, p1, p2 = _xfe_mul(vals[0], vals[1], vals[2], vals[3], vals[4], vals[5])
            else:
                h_val[n_help, 0] = vals[0]
                for j in range(3):
                    h_val[n_help, 1 + j] = vals[3 + j]
                h_val[n_help, 4] = _ZERO
                h_val[n_help, 5] = _ZERO
                p0 = nb_mul(vals[0], vals[3])
                p1 = nb_mul(vals[0], vals[4])
                p2 = nb_mul(vals[0], vals[5])
            n_help += 1
            st[sp - 3] = nb_add(st[sp - 3], p0)
            st[sp - 4] = nb_add(st[sp - 4], p1)
            st[sp - 5] = nb_add(st[sp - 5], p2)
            st[sp - 2] = lp
            st[sp - 1] = rp
        else:  # unreachable: programs hold valid opcodes only
            status = IP_OVERFLOW
            break
        ip = nxt
    return (status, ip, c - 1, e1, e2, e3, out[:n_out], ips[:c], tops[:c], jumps[:n_jump], ram_log[:n_ram],
            h_cyc[:n_help], h_val[:n_help], u32_log[:n_u32], h_ev[:n_ev], h_tr[:6 * n_perm])


@nb.njit(cache=True)
def _count_u32(log: np.ndarray) -> np.ndarray:
    """Distinct (opcode, lhs, rhs) rows of the log with their multiplicities, in first-seen order."""
    cap = 64
    while cap < 2 * log.shape[0]:
        cap *= 2
    mask = cap - 1
    slot_of = np.full(cap, -1, dtype=np.int64)
    entries = np.empty((log.shape[0], 4), dtype=np.uint64)
    k = 0
    for r in range(log.shape[0]):
        h = (log[r, 0] * _GOLDEN) ^ (log[r, 1] * np.uint64(0xC2B2AE3D27D4EB4F)) ^ log[r, 2]
        i = np.int64((h * _GOLDEN) >> np.uint64(32)) & mask
        while True:
            e = slot_of[i]
            if e < 0:
                slot_of[i] = k
                entries[k, 0] = log[r, 0]
                entries[k, 1] = log[r, 1]
                entries[k, 2] = log[r, 2]
                entries[k, 3] = _ONE
                k += 1
                break
            if entries[e, 0] == log[r, 0] and entries[e, 1] == log[r, 1] and entries[e, 2] == log[r, 2]:
                entries[e, 3] += _ONE
                break
            i = (i + 1) & mask
    return entries[:k]


def _message(status: int, e1: int, e2: int, e3: int, limit: int, program: Program,
             ip: int) -> tuple[str, str]:
    """The reference's error kind and Display text for a failure of the compiled loop."""
    context = program.assertion_context.get(ip)
    prefix = f"[{context}] " if context is not None else ""
    return {
        TOO_SHALLOW: lambda: ("OpStackError::TooShallow", "operational stack is too shallow"),
        NOT_U32: lambda: ("OpStackError::FailedU32Conversion",
                          f"failed to convert BFieldElement {bfe_display(e1)} into u32"),
        ASSERTION: lambda: ("AssertionFailed",
                            f"assertion failed: {prefix}expected 1, got {bfe_display(e1)}"),
        VECTOR_ASSERTION: lambda: ("VectorAssertionFailed",
                                   f"vector assertion failed because stack[{e1}] != stack[{e1 + 5}]: "
                                   f"{prefix}expected {bfe_display(e2)}, got {bfe_display(e3)}"),
        EMPTY_SECRET: lambda: ("EmptySecretInput", f"secret input buffer is empty after {e1} reads"),
        EMPTY_INPUT: lambda: ("EmptyPublicInput", f"public input buffer is empty after {e1} reads"),
        EMPTY_DIGESTS: lambda: ("EmptySecretDigestInput", "no more secret digests available"),
        IP_OVERFLOW: lambda: ("InstructionPointerOverflow", "instruction pointer points outside of program"),
        JUMP_STACK_EMPTY: lambda: ("JumpStackIsEmpty", "jump stack is empty"),
        CYCLE_LIMIT: lambda: ("CycleLimitExceeded", f"execution exceeds the limit of {limit} cycles"),
        NO_SPONGE: lambda: ("SpongeNotInitialized",
                            "the Sponge state must be initialized before it can be used"),
        INVERSE_OF_ZERO: lambda: ("InverseOfZero", "0 does not have a multiplicative inverse"),
        DIVISION_BY_ZERO: lambda: ("DivisionByZero", "division by 0 is impossible"),
        LOG_OF_ZERO: lambda: ("LogarithmOfZero", "the logarithm of 0 does not exist"),
    }[status]()


def _program_arrays(program: Program) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per word address: opcode, argument (0 if none) and instruction size, as the loop reads them."""
    instructions = program.instructions
    ops = np.array([op for op, _ in instructions], dtype=np.int64)
    args = np.array([0 if arg is None else arg for _, arg in instructions], dtype=np.uint64)
    sizes = np.array([1 if arg is None else 2 for _, arg in instructions], dtype=np.int64)
    return ops, args, sizes


def _run_watched(arguments: tuple, control: np.ndarray, progress) -> tuple:
    """_run on a thread while this one calls progress(cycles) every PROGRESS_S; if progress raises, the
    loop is told to stop, and the exception propagates once it has."""
    box: dict = {}

    def target() -> None:
        try:
            box["result"] = _run(*arguments, control)
        except BaseException as exc:  # e.g. MemoryError: re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name="vm", daemon=True)
    thread.start()
    try:
        while True:
            thread.join(PROGRESS_S)
            if not thread.is_alive():
                break
            progress(int(control[0]))
    except BaseException:
        control[1] = 1
        thread.join()
        raise
    if "error" in box:
        raise box["error"]
    return box["result"]


def execute(program: Program, public_input: Sequence[int] | PublicInput,
            non_determinism: NonDeterminism | None = None,
            max_cycles: int | None = None, progress=None) -> tuple[list[int], Recording]:
    """Run the program to `halt` on the compiled loop; returns (output, Recording). Raises VMError.

    `progress(cycles)`, when given, is called every PROGRESS_S while the loop runs (a daemon's liveness
    signal); whatever it raises stops the loop within CONTROL_CYCLES cycles and propagates unchanged.

    `max_cycles` (not in the reference) bounds the run: checked at every jump (`call`, `return`,
    `recurse`, `recurse_or_return`), which is enough because only jumps go backwards; exceeding it
    raises VMError of kind `CycleLimitExceeded`.
    """
    inputs, nd = run_inputs(public_input, non_determinism)
    digest = program.digest()
    ops, args, sizes = _program_arrays(program)
    stack0 = np.array(list(reversed(digest)) + [0] * 11, dtype=np.uint64)
    limit = max_cycles if max_cycles is not None else 1 << 62
    ram = nd.ram
    arguments = (ops, args, sizes, np.array(inputs, dtype=np.uint64),
                 np.array(nd.individual_tokens, dtype=np.uint64),
                 np.array(nd.digests, dtype=np.uint64).reshape(-1, 5),
                 np.fromiter(ram.keys(), dtype=np.uint64, count=len(ram)),
                 np.fromiter(ram.values(), dtype=np.uint64, count=len(ram)), stack0, min(limit, 1 << 62))
    control = np.zeros(2, dtype=np.int64)  # cycles so far, stop request
    result = _run(*arguments, control) if progress is None else _run_watched(arguments, control, progress)
    status, ip, cycle, e1, e2, e3, output = result[:7]
    if status != OK:
        ip = int(ip)
        kind, message = _message(status, int(e1), int(e2), int(e3), limit, program, ip)
        if status == IP_OVERFLOW and e1 == 0:  # ran off the program: no instruction at the pointer
            raise VMError(kind, message, ip, int(cycle) + 1, None)
        raise VMError(kind, message, ip, int(cycle), instruction_display(program.instructions[ip]))
    ips, tops, jumps, ram_log, h_cyc, h_val, u32_log, h_ev, h_tr = result[7:]
    return output.tolist(), Recording(
        ips=ips, stack_tops=tops, jump_events=jumps, ram_log=ram_log, helper_cycles=h_cyc,
        helper_values=h_val, u32_entries=_count_u32(u32_log), hash_events=h_ev,
        hash_traces=h_tr.reshape(-1, 6, 16))
