"""The compiled VM loop against the reference interpreter: same outputs, errors, recordings and AETs."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tvmpd.stages import tip5
from tvmpd.stages.vm import NonDeterminism, Program, VMError, build_aet, execute, execute_reference
from tvmpd.stages.vm.isa import BY_NAME, NUM_WORDS, STACK_REG, P

# values that reach every branch: small numbers (RAM addresses, node indices, u32 operands), u32 edges,
# field edges, arbitrary field elements
VALUES = st.one_of(st.integers(0, 24), st.integers(0, 24), st.integers(0, 2**32 - 1),
                   st.sampled_from([2**32 - 1, 2**32, P - 1, P - 2]), st.integers(0, P - 1))
# every instruction except the jumps (straight-line programs); halt only at the end
STRAIGHT = sorted(s.name for s in BY_NAME.values()
                  if s.name not in ("call", "return", "recurse", "recurse_or_return", "halt"))


@st.composite
def instructions(draw) -> list[tuple[int, int | None]]:
    name = draw(st.sampled_from(STRAIGHT))
    spec = BY_NAME[name]
    if name == "assert" and draw(st.integers(0, 3)):  # mostly make assertions hold
        return [(1, 1), (1, 1), (spec.opcode, None)]
    if name == "assert_vector" and draw(st.integers(0, 3)):
        return [(33, 4), (33, 4)] * 5 + [(spec.opcode, None)]
    small = st.integers(0, 2**32 - 1) | st.integers(0, 40)
    if spec.is_u32 and draw(st.integers(0, 3)):  # mostly give u32 instructions u32 operands
        if name.startswith("merkle_step"):  # st7: RAM pointer, st5: node index, st0..st4: the digest
            values = [draw(small), 0, draw(small)] + draw(st.lists(VALUES, min_size=5, max_size=5))
        else:
            values = [draw(small), draw(small)]
        return [(1, v) for v in values for _ in range(2)] + [(spec.opcode, None)]
    if spec.size == 1:
        return [(spec.opcode, None)]
    if spec.arg_kind == NUM_WORDS:
        arg = draw(st.integers(1, 5))
    elif spec.arg_kind == STACK_REG:
        arg = draw(st.integers(0, 15))
    else:
        arg = draw(VALUES)
    return [(spec.opcode, arg), (spec.opcode, arg)]


@st.composite
def runs(draw):
    """A straight-line program (mostly preceded by a sponge_init and a deep stack) with its public and
    secret input."""
    body = [(40, None)] if draw(st.integers(0, 5)) else []
    for value in draw(st.lists(VALUES, min_size=10, max_size=30)):
        body += [(1, value), (1, value)]
    for _ in range(draw(st.integers(0, 60))):
        if draw(st.integers(0, 3)) == 0:  # push often, so that deep instructions find their operands
            value = draw(VALUES)
            body += [(1, value), (1, value)]
        else:
            body += draw(instructions())
    if draw(st.integers(0, 7)):  # else it runs off the end of the program
        body.append((0, None))
    public = draw(st.lists(VALUES, max_size=8))
    tokens = draw(st.lists(VALUES, max_size=8))
    digests = draw(st.lists(st.lists(st.integers(0, P - 1), min_size=5, max_size=5), max_size=3))
    ram = draw(st.dictionaries(st.integers(0, 30), st.integers(0, P - 1), max_size=20))
    return Program(body), public, NonDeterminism(tokens, digests, ram)


def _outcome(runner, program, public, nd):
    try:
        return runner(program, public, nd)
    except VMError as err:
        return err.to_dict()


def _assert_same_arrays(a, b) -> None:
    for f in dataclasses.fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, np.ndarray):
            assert x.dtype == y.dtype and x.shape == y.shape and np.array_equal(x, y), f.name
        else:
            assert x == y, f.name


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(runs())
def test_compiled_equals_reference_on_straight_line_programs(case):
    program, public, nd = case
    got = _outcome(execute, program, public, nd)
    want = _outcome(execute_reference, program, public, nd)
    if isinstance(want, dict):
        assert got == want
        return
    assert not isinstance(got, dict), got
    assert got[0] == want[0]
    _assert_same_arrays(got[1], want[1])
    _assert_same_arrays(build_aet(program, got[1]), build_aet(program, want[1]))


def test_compiled_equals_reference_with_jumps_and_a_growing_ram():
    # loops, calls, recurse_or_return, thousands of distinct RAM cells (the RAM map rehashes) and
    # a few hundred permutations: more than every initial buffer holds
    program = Program.from_tasm("""
        read_io 1 sponge_init call fill push 0 call walk halt
        fill: dup 0 push 0 eq skiz return
              dup 0 dup 0 write_mem 1 pop 1 addi -1 recurse
        walk: dup 0 push 2000 eq skiz return
              push 0 push 0 push 0 push 0 dup 4 sponge_absorb_mem pop 5 sponge_squeeze pop 5 pop 5
              push 0 push 0 push 0 dup 3 push 11 xx_dot_step pop 5
              addi 10 recurse
    """)
    got_out, got = execute(program, [3000], max_cycles=100_000)
    want_out, want = execute_reference(program, [3000], max_cycles=100_000)
    assert got_out == want_out
    _assert_same_arrays(got, want)
    assert len(got.ram_log) > 5000 and len(got.hash_traces) > 300


@pytest.mark.parametrize("seed", range(3))
def test_native_permutation_equals_scalar(seed):
    rng = np.random.default_rng(seed)
    for _ in range(50):
        state = rng.integers(0, P, 16, dtype=np.uint64)
        state[rng.integers(0, 16)] = P - 1
        assert tip5.permutation_native(state).tolist() == tip5.permutation(state.tolist())


def test_native_row_and_pair_hashes_equal_the_batch_path():
    rng = np.random.default_rng(7)
    for width in (1, 9, 10, 11, 379, 91 * 3):
        rows = rng.integers(0, P, (5, width), dtype=np.uint64)
        rows[0, -1] = P - 1
        np.testing.assert_array_equal(tip5.hash_rows_native(rows), tip5.hash_rows(rows))
    left, right = (rng.integers(0, P, (30, 5), dtype=np.uint64) for _ in range(2))
    np.testing.assert_array_equal(tip5.hash_pairs_native(left, right), tip5.hash_pairs(left, right))


def test_verifier_constraint_values_equal_the_numpy_evaluator():
    from tvmpd.stages.air.constraints import lowered_air
    from tvmpd.stages.air.evaluate import evaluate_nodes
    from tvmpd.stages.verifier import ood_constraint_values

    rng = np.random.default_rng(3)
    main_curr, main_next = (rng.integers(0, P, (379, 3), dtype=np.uint64) for _ in range(2))
    aux_curr, aux_next = (rng.integers(0, P, (91, 3), dtype=np.uint64) for _ in range(2))
    challenges = rng.integers(0, P, (63, 3), dtype=np.uint64)
    got = ood_constraint_values(main_curr, aux_curr, main_next, aux_next, challenges)
    air = lowered_air()
    for category, values in got.items():
        nxt = (main_next[None], aux_next[None]) if category == "transition" else ()
        want = evaluate_nodes(air.constraints[category], main_curr[None], aux_curr[None], challenges, *nxt)[0]
        np.testing.assert_array_equal(values, want, err_msg=category)


def test_warm_up_starts_no_helper_once_the_loop_is_cached(monkeypatch):
    from tvmpd.stages.vm import warmup

    execute(Program.from_tasm("halt"), [])  # compiled (or loaded) here, so numba's cache holds it
    assert warmup.loop_cached()

    def no_helper(*args, **kwargs):
        raise AssertionError("warm_up started a compile helper although the loop is cached")

    monkeypatch.setattr(warmup.subprocess, "Popen", no_helper)
    warmup.warm_up()


def test_warm_up_survives_a_failing_compile_helper(monkeypatch, caplog):
    from tvmpd.stages.vm import warmup

    monkeypatch.setattr(warmup, "loop_cached", lambda: False)
    monkeypatch.setattr(warmup, "_HELPER_CODE", "raise SystemExit('helper broke')")
    with caplog.at_level("WARNING", logger=warmup.__name__):
        warmup.warm_up()
    assert "VM compile helper exited 1 (helper broke)" in caplog.text
    assert execute(Program.from_tasm("push 2 halt"), [])[0] == []


def test_warm_up_waits_for_another_process_compiling(monkeypatch, tmp_path):
    import fcntl
    import threading

    from tvmpd.stages.vm import warmup

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    states = iter([False, True])  # not cached before the lock; cached once the other process is done
    monkeypatch.setattr(warmup, "loop_cached", lambda: next(states, True))
    errors = []

    def no_helper(*args, **kwargs):
        errors.append("started a compile helper after the other process had compiled the loop")
        raise RuntimeError(errors[-1])

    def warm_up():
        try:
            warmup.warm_up()
        except Exception as exc:  # noqa: BLE001 (reported by the assertion below)
            errors.append(repr(exc))

    monkeypatch.setattr(warmup.subprocess, "Popen", no_helper)
    lock_path = tmp_path / "tvmpd" / "vm-compile.lock"
    lock_path.parent.mkdir(parents=True)
    with open(lock_path, "w") as other:  # the other process, compiling
        fcntl.flock(other, fcntl.LOCK_EX)
        waiter = threading.Thread(target=warm_up)
        waiter.start()
        waiter.join(1.0)
        assert waiter.is_alive()  # blocked on the lock
    waiter.join(60)
    assert not waiter.is_alive()
    assert errors == []


def test_warm_up_stops_waiting_for_a_stuck_lock_holder(monkeypatch, tmp_path, caplog):
    import fcntl

    from tvmpd.stages.vm import warmup

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(warmup, "loop_cached", lambda: False)
    monkeypatch.setattr(warmup, "_HELPER_CODE", "pass")  # the loop is cached for this process anyway
    monkeypatch.setattr(warmup, "LOCK_WAIT_S", 0.5)
    lock_path = tmp_path / "tvmpd" / "vm-compile.lock"
    lock_path.parent.mkdir(parents=True)
    with open(lock_path, "w") as stuck, caplog.at_level("WARNING", logger=warmup.__name__):
        fcntl.flock(stuck, fcntl.LOCK_EX)
        warmup.warm_up()  # returns instead of waiting for the holder
    assert "still held after" in caplog.text
