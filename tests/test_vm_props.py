"""VM: property tests (assembly and JSON round trips), failure kinds, bad input, instruction table."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tvmpd.stages.vm import (
    SPECS,
    Claim,
    ClaimMismatch,
    InputError,
    NonDeterminism,
    Program,
    ProgramError,
    TasmParseError,
    VMError,
    run,
    run_claim,
)
from tvmpd.stages.vm.isa import P, bfe_display, op_stack_delta

FIELD = st.one_of(st.integers(0, P - 1), st.sampled_from([0, 1, 256, 257, P - 1, P - 256, P - 257, 2**32]))


@st.composite
def programs(draw) -> Program:
    """Random programs whose call targets are instruction starts (so they can be labelled)."""
    picks = draw(st.lists(st.sampled_from(SPECS), max_size=40))
    starts, address = [], 0
    for spec in picks:
        starts.append(address)
        address += spec.size
    instructions = []
    for spec in picks:
        kind = spec.arg_kind
        if kind == "none":
            arg = None
        elif kind == "num_words":
            arg = draw(st.integers(1, 5))
        elif kind == "stack_reg":
            arg = draw(st.integers(0, 15))
        elif kind == "address":
            arg = draw(st.sampled_from(starts))
        else:
            arg = draw(FIELD)
        instructions += [(spec.opcode, arg)] * spec.size
    return Program(instructions)


@settings(max_examples=150, deadline=None)
@given(programs())
def test_assemble_disassemble_round_trip(program):
    text = program.to_tasm()
    again = Program.from_tasm(text)
    assert again == program
    assert again.to_tasm() == text
    assert Program.from_words(program.words()) == program


@settings(max_examples=150, deadline=None)
@given(programs())
def test_program_json_round_trip(program):
    text = program.to_json()
    again = Program.from_json(text)
    assert again == program
    assert again.to_json() == text


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, P - 1), min_size=5, max_size=5), st.lists(FIELD, max_size=8),
       st.lists(FIELD, max_size=8), st.integers(0, 2**32 - 1))
def test_claim_json_round_trip(digest, inputs, outputs, version):
    claim = Claim(digest, version, inputs, outputs)
    text = claim.to_json()
    assert Claim.from_json(text) == claim
    assert Claim.from_json(text).to_json() == text


@settings(max_examples=100, deadline=None)
@given(st.lists(FIELD, max_size=6),
       st.lists(st.lists(st.integers(0, P - 1), min_size=5, max_size=5), max_size=3),
       st.dictionaries(st.integers(0, P - 1), st.integers(0, P - 1), max_size=6))
def test_non_determinism_json_round_trip(tokens, digests, ram):
    nd = NonDeterminism(tokens, digests, ram)
    text = nd.to_json()
    assert NonDeterminism.from_json(text) == nd
    assert NonDeterminism.from_json(text).to_json() == text


def test_instruction_table():
    assert len(SPECS) == 46
    assert len({s.opcode for s in SPECS}) == 46
    for spec in SPECS:
        assert (spec.opcode & 1) == (spec.size == 2)
        assert spec.is_u32 == bool(spec.opcode & 4)
        if spec.delta is not None:
            assert (spec.opcode & 2 != 0) == (spec.delta < 0)
    assert op_stack_delta(3, 4) == -4 and op_stack_delta(57, 2) == 2
    assert [bfe_display(v) for v in (0, 256, 257, P - 256, P - 257)] == \
        ["0", "256", "00000000000000000257", "-256", "18446744069414584064"]


def test_halt_digest_and_words():
    program = Program.from_tasm("push 1 pop 1 halt")
    assert program.words() == [1, 1, 3, 1, 0]
    assert program.digest() == [11713469116959262666, 1127617409665793809, 6349107082958416694,
                                2691402490837202677, 13530173415836984136]
    assert Program.from_tasm("halt").digest() == [4843866011885844809, 16618866032559590857,
                                                  18247689143239181392, 7637465675240023996,
                                                  9104890367162237026]


def test_tasm_syntax():
    text = """
    // comment
    push -1 /* inline */ push 18446744069414584320
    call my-label_1 halt
    my-label_1 :
    hint x: Pair<Foo, *Bar> = stack[0..2]
    break
    push 0 assert error_id -7 return
    """
    program = Program.from_tasm(text)
    assert program.instructions[0] == (1, P - 1) and program.instructions[2] == (1, P - 1)
    assert program.instructions[4] == (49, 7)
    assert program.address_to_label == {7: "my-label_1"}
    assert program.type_hints == {7: [{"starting_index": 0, "length": 2, "type_name": "Pair<Foo, *Bar>",
                                       "variable_name": "x"}]}
    assert program.breakpoints[7] and program.breakpoints[8] and not program.breakpoints[9]
    assert program.assertion_context == {9: -7}
    again = Program.from_tasm(program.to_tasm())
    assert again == program and again.to_json() == program.to_json()


@pytest.mark.parametrize("text", [
    "push 18446744069414584321", "push -18446744069414584321", "pushh 1", "foo", "pop 6", "pop 0",
    "dup 16", "call nowhere", "a: a: halt", "push: halt", "call halt", "push 1x", "halt error_id 3",
    "/* unterminated", "push",
])
def test_tasm_errors(text):
    with pytest.raises(TasmParseError):
        Program.from_tasm(text)


HALT = {"address_to_label": {}, "debug_information": {"breakpoints": [], "type_hints": {},
                                                      "assertion_context": {}}}


@pytest.mark.parametrize("instructions", [
    ["Foo"], [{"Push": 2**64}, {"Push": 2**64}], [{"Push": 1}, "Halt"], [{"Push": 1}],
    [{"Pop": "N6"}, {"Pop": "N6"}], [{"Dup": "ST16"}, {"Dup": "ST16"}], [{"Push": -1}, {"Push": -1}],
    ["Push"], [{"Halt": 1}], [7],
])
def test_program_json_errors(instructions):
    with pytest.raises(ProgramError):
        Program.from_json(json.dumps({"instructions": instructions, **HALT}))


def test_json_bad_input():
    for text in ("{", "[]", json.dumps({"instructions": []}), b"\xff"):
        with pytest.raises(ValueError):
            Program.from_json(text)
    good = {"program_digest": "00" * 40, "version": 5, "input": [], "output": []}
    assert Claim.from_json(json.dumps(good)).program_digest == [0] * 5
    for change in ({"program_digest": "00" * 39}, {"program_digest": "zz" * 40}, {"input": [2**64]},
                   {"output": [-1]}, {"version": "5"}, {"program_digest": "ff" * 40}):
        with pytest.raises(InputError):
            Claim.from_json(json.dumps({**good, **change}))
    with pytest.raises(InputError):
        Claim.from_json(json.dumps({"version": 5, "input": [], "output": []}))
    with pytest.raises(InputError):
        NonDeterminism.from_json('{"individual_tokens": [], "digests": [], "ram": {"x": 1}}')
    with pytest.raises(InputError):
        NonDeterminism.from_json('{"individual_tokens": [], "digests": []}')


def _fail(text: str, public_input=(), nd=None) -> VMError:
    with pytest.raises(VMError) as info:
        run(Program.from_tasm(text), list(public_input), nd)
    return info.value


@pytest.mark.parametrize("text, kind, message, ip, cycle, instruction", [
    ("read_io 2 halt", "EmptyPublicInput", "public input buffer is empty after 1 reads", 0, 0, "read_io 2"),
    ("push 0 " * 10 + "sponge_absorb", "SpongeNotInitialized",
     "the Sponge state must be initialized before it can be used", 20, 10, "sponge_absorb"),
    ("sponge_squeeze", "SpongeNotInitialized", "the Sponge state must be initialized before it can be used",
     0, 0, "sponge_squeeze"),
    ("push 0 log_2_floor", "LogarithmOfZero", "the logarithm of 0 does not exist", 2, 1, "log_2_floor"),
    ("merkle_step", "EmptySecretDigestInput", "no more secret digests available", 0, 0, "merkle_step"),
    ("nop", "InstructionPointerOverflow", "instruction pointer points outside of program", 1, 1, None),
    ("push 0 skiz", "InstructionPointerOverflow", "instruction pointer points outside of program", 2, 1,
     "skiz"),
    ("push 2 assert error_id 42 halt", "AssertionFailed", "assertion failed: [42] expected 1, got 2", 2, 1,
     "assert"),
    ("push 0 push 0 push 0 x_invert", "InverseOfZero", "0 does not have a multiplicative inverse", 6, 3,
     "x_invert"),
    ("push -1 push 5 lt", "OpStackError::FailedU32Conversion",
     "failed to convert BFieldElement -1 into u32", 4, 2, "lt"),
    ("push 4294967296 pop_count", "OpStackError::FailedU32Conversion",
     "failed to convert BFieldElement 00000000004294967296 into u32", 2, 1, "pop_count"),
    ("recurse", "JumpStackIsEmpty", "jump stack is empty", 0, 0, "recurse"),
    ("add", "OpStackError::TooShallow", "operational stack is too shallow", 0, 0, "add"),
    ("push 1 dup 0 push 1 dup 0 hash", "OpStackError::TooShallow", "operational stack is too shallow",
     8, 4, "hash"),
])
def test_failure_kinds(text, kind, message, ip, cycle, instruction):
    err = _fail(text, [7])
    assert (err.kind, err.message, err.instruction_pointer, err.cycle_count, err.instruction) == \
        (kind, message, ip, cycle, instruction)
    assert "\n" not in str(err) and message in str(err)


def test_semantics_small():
    program = Program.from_tasm("""
        push 7 push 3 div_mod write_io 2
        push 2 push 10 pow write_io 1
        push 12 push 10 xor write_io 1
        push 5 split write_io 2
        push 3 push 2 push 1 dup 2 dup 2 dup 2 x_invert xx_mul write_io 3
        push 1 push 2 push 3 place 2 write_io 3
        push 1 push 2 push 3 pick 2 write_io 3
        halt""")
    output, aet = run(program, [])
    assert output == [3, 0, 100, 6, 5, 0, 1, 0, 0, 2, 1, 3, 1, 3, 2]
    assert aet.table_heights["Processor"] == aet.cycle_count + 1


def test_run_claim_checks():
    program = Program.from_tasm("read_io 1 write_io 1 halt")
    good = Claim(program.digest(), 5, [9], [9])
    assert run_claim(good, program)[0] == [9]
    with pytest.raises(ClaimMismatch, match="claimed public output does not match actual public output"):
        run_claim(Claim(program.digest(), 5, [9], [8]), program)
    with pytest.raises(ClaimMismatch) as info:
        run_claim(Claim([0] * 5, 5, [9], [9]), program)
    assert info.value.kind == "ProgramDigestMismatch"


def test_cycle_limit_and_huge_call_target():
    looping = Program.from_tasm("call l halt l: recurse")
    with pytest.raises(VMError) as info:
        run(looping, [], max_cycles=1000)
    assert info.value.kind == "CycleLimitExceeded" and info.value.cycle_count >= 1000
    far = Program([(49, P - 1), (49, P - 1)])
    with pytest.raises(VMError) as info:
        run(far, [])
    assert (info.value.kind, info.value.instruction_pointer, info.value.cycle_count) == \
        ("InstructionPointerOverflow", P - 1, 1)
    with pytest.raises(VMError) as info:
        run(Program([]), [])
    assert (info.value.kind, info.value.instruction_pointer, info.value.instruction) == \
        ("InstructionPointerOverflow", 0, None)


def test_json_field_elements_at_or_above_p_are_reduced_as_the_reference_does():
    # BFieldElement's serde reads any u64 and reduces it mod p (BFieldElement::new); only non-u64 is an error
    from tvmpd.stages.vm import Claim, NonDeterminism, Program
    from tvmpd.stages.vm.errors import InputError

    p = 2**64 - 2**32 + 1
    digest = "00" * 40
    claim = Claim.from_json(f'{{"program_digest":"{digest}","version":0,"input":[{p}, {p + 5}],"output":[]}}')
    assert claim.input == [0, 5]
    secrets = f'{{"individual_tokens":[{2**64 - 1}],"digests":[],"ram":{{"{p + 1}":{p}}}}}'
    nd = NonDeterminism.from_json(secrets)
    assert nd.individual_tokens == [2**64 - 1 - p] and nd.ram == {1: 0}
    program = Program.from_tasm("push 7 halt")
    reduced = Program.from_json(program.to_json().replace('"Push":7', f'"Push":{p + 7}'))
    assert reduced.digest() == program.digest()
    with pytest.raises(InputError, match="not a u64"):
        Claim.from_json(f'{{"program_digest":"{digest}","version":0,"input":[{2**64}],"output":[]}}')
