"""Programs: the reference's serde JSON form, Triton assembly, word encoding and digest."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from .errors import ProgramError, TasmParseError
from .isa import (
    ADDRESS,
    BFE,
    BY_NAME,
    BY_OPCODE,
    BY_VARIANT,
    NONE,
    NUM_WORDS,
    STACK_REG,
    Instruction,
    P,
    instruction_display,
    validate_arg,
)

_KEYWORDS = ("hint", "error_id", "error_message")


class Program:
    """A program as the reference holds it: one instruction entry per program word.

    `instructions[a]` is `(opcode, arg)`; a two-word instruction occupies two consecutive entries.
    Equality compares the instructions only, like the reference.
    """

    def __init__(self, instructions: Sequence[Instruction], address_to_label: dict[int, str] | None = None,
                 breakpoints: list[bool] | None = None, type_hints: dict[int, list[dict]] | None = None,
                 assertion_context: dict[int, int] | None = None) -> None:
        self.instructions: list[Instruction] = list(instructions)
        self.address_to_label: dict[int, str] = dict(address_to_label or {})
        self.breakpoints: list[bool] = list(breakpoints) if breakpoints is not None \
            else [False] * len(self.instructions)
        self.type_hints: dict[int, list[dict]] = dict(type_hints or {})
        self.assertion_context: dict[int, int] = dict(assertion_context or {})
        self._words: list[int] | None = None
        self._digest: list[int] | None = None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Program) and self.instructions == other.instructions

    def __hash__(self) -> int:
        return hash(tuple(self.instructions))

    def __len__(self) -> int:
        return len(self.instructions)

    def __repr__(self) -> str:
        return f"Program({len(self.instructions)} words, digest {self.digest()[:1]}...)"

    # ----- encoding -----
    def iter_instructions(self):
        """Yield (address, instruction) walking the program by instruction, as the reference's iterator."""
        address = 0
        n = len(self.instructions)
        while address < n:
            instruction = self.instructions[address]
            yield address, instruction
            address += BY_OPCODE[instruction[0]].size

    def words(self) -> list[int]:
        """The program as field elements: opcode, then the argument for two-word instructions."""
        if self._words is None:
            words: list[int] = []
            for _, (opcode, arg) in self.iter_instructions():
                words.append(opcode)
                if arg is not None:
                    words.append(arg)
            self._words = words
        return list(self._words)

    def encode(self) -> list[int]:
        """BFieldCodec encoding: length, then the words."""
        return [len(self.instructions)] + self.words()

    @classmethod
    def from_words(cls, words: Sequence[int]) -> Program:
        """Decode the word form (`words()`); raises ProgramError on bad opcodes or a missing argument."""
        instructions: list[Instruction] = []
        i = 0
        while i < len(words):
            opcode = words[i]
            spec = BY_OPCODE.get(opcode) if isinstance(opcode, int) else None
            if spec is None:
                raise ProgramError(f"invalid opcode {opcode!r} at index {i}")
            if spec.size == 2:
                if i + 1 >= len(words):
                    raise ProgramError(f"missing argument for instruction {spec.name} at index {i}")
                try:
                    arg = validate_arg(spec, words[i + 1])
                except ValueError as err:
                    raise ProgramError(f"at index {i}: {err}") from None
                instructions += [(opcode, arg), (opcode, arg)]
            else:
                instructions.append((opcode, None))
            i += spec.size
        return cls(instructions)

    def digest(self) -> list[int]:
        """Program digest = Tip5 hash_varlen of the words (no length prefix), 5 canonical ints."""
        if self._digest is None:
            from tvmpd.stages.tip5 import hash_varlen

            self._digest = [int(v) for v in hash_varlen(self.words())]
        return list(self._digest)

    def label_for_address(self, address: int) -> str:
        return self.address_to_label.get(address, f"address_{address}")

    # ----- JSON (serde form) -----
    @classmethod
    def from_json(cls, text: str | bytes | dict) -> Program:
        """Parse the reference's serde JSON form; raises ProgramError (a ValueError) on malformed input."""
        obj = _load_json(text, ProgramError)
        return cls.from_obj(obj)

    @classmethod
    def from_obj(cls, obj: object) -> Program:
        if not isinstance(obj, dict):
            raise ProgramError("program JSON must be an object")
        for key in ("instructions", "address_to_label", "debug_information"):
            if key not in obj:
                raise ProgramError(f"program JSON lacks field `{key}`")
        raw = obj["instructions"]
        if not isinstance(raw, list):
            raise ProgramError("`instructions` must be a list")
        instructions = [_instruction_from_serde(entry, i) for i, entry in enumerate(raw)]
        _check_duplicate_slots(instructions)
        address_to_label = {}
        a2l = obj["address_to_label"]
        if not isinstance(a2l, dict):
            raise ProgramError("`address_to_label` must be an object")
        for key, label in a2l.items():
            if not isinstance(label, str):
                raise ProgramError(f"label for address {key} must be a string")
            address_to_label[_address_key(key)] = label
        dbg = obj["debug_information"]
        if not isinstance(dbg, dict):
            raise ProgramError("`debug_information` must be an object")
        for key in ("breakpoints", "type_hints", "assertion_context"):
            if key not in dbg:
                raise ProgramError(f"debug_information lacks field `{key}`")
        breakpoints = dbg["breakpoints"]
        if not isinstance(breakpoints, list) or not all(isinstance(b, bool) for b in breakpoints):
            raise ProgramError("`breakpoints` must be a list of booleans")
        type_hints: dict[int, list[dict]] = {}
        if not isinstance(dbg["type_hints"], dict):
            raise ProgramError("`type_hints` must be an object")
        for key, hints in dbg["type_hints"].items():
            if not isinstance(hints, list):
                raise ProgramError("type hints per address must be a list")
            type_hints[_address_key(key)] = [_type_hint_from_obj(h) for h in hints]
        assertion_context: dict[int, int] = {}
        if not isinstance(dbg["assertion_context"], dict):
            raise ProgramError("`assertion_context` must be an object")
        for key, ctx in dbg["assertion_context"].items():
            if not (isinstance(ctx, dict) and list(ctx) == ["ID"] and _is_int(ctx["ID"])):
                raise ProgramError(f"assertion context at {key} must be {{\"ID\": <integer>}}")
            assertion_context[_address_key(key)] = ctx["ID"]
        return cls(instructions, address_to_label, list(breakpoints), type_hints, assertion_context)

    def to_obj(self) -> dict:
        """The serde form as Python objects (maps keyed by decimal address strings)."""
        return {
            "instructions": [_instruction_to_serde(ins) for ins in self.instructions],
            "address_to_label": {str(a): label for a, label in self.address_to_label.items()},
            "debug_information": {
                "breakpoints": list(self.breakpoints),
                "type_hints": {str(a): [dict(h) for h in hs] for a, hs in self.type_hints.items()},
                "assertion_context": {str(a): {"ID": i} for a, i in self.assertion_context.items()},
            },
        }

    def to_json(self) -> str:
        """Compact serde JSON (maps in the order held, i.e. as parsed or ascending)."""
        return json.dumps(self.to_obj(), separators=(",", ":"))

    # ----- Triton assembly -----
    @classmethod
    def from_tasm(cls, text: str) -> Program:
        """Parse Triton assembly as the reference parser does; raises TasmParseError (a ValueError)."""
        return _program_from_tokens(_tokenize(text), text)

    def to_tasm(self) -> str:
        """Disassemble with labels, hints, breakpoints and assertion contexts (the reference's Display)."""
        call_targets = {arg for opcode, arg in self.instructions if opcode == 49}
        lines: list[str] = []
        end = 0
        for address, (opcode, arg) in self.iter_instructions():
            if address in call_targets:
                lines.append(f"{self.label_for_address(address)}:")
            for hint in self.type_hints.get(address, []):
                lines.append(_type_hint_display(hint))
            if address < len(self.breakpoints) and self.breakpoints[address]:
                lines.append("break")
            if opcode == 49:
                lines.append(f"call {self.label_for_address(arg)}")
            else:
                lines.append(instruction_display((opcode, arg)))
            if address in self.assertion_context:
                lines.append(f"error_id {self.assertion_context[address]}")
            end = address + BY_OPCODE[opcode].size
        for address in sorted(a for a in self.address_to_label if a >= end):
            lines.append(f"{self.address_to_label[address]}:")
        return "".join(line + "\n" for line in lines)


# ---------------------------------------------------------------------------------------------
# serde helpers

def _load_json(text, error_class):
    if isinstance(text, dict | list):
        return text
    try:
        return json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError, TypeError) as err:
        raise error_class(f"malformed JSON: {err}") from None


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _address_key(key: str) -> int:
    if not (isinstance(key, str) and key.isdigit() and int(key) < 2**64):
        raise ProgramError(f"map key {key!r} is not a u64 address")
    return int(key)


def _type_hint_from_obj(h) -> dict:
    if not isinstance(h, dict):
        raise ProgramError("a type hint must be an object")
    for key in ("starting_index", "length", "type_name", "variable_name"):
        if key not in h:
            raise ProgramError(f"type hint lacks field `{key}`")
    if not (_is_int(h["starting_index"]) and _is_int(h["length"]) and isinstance(h["variable_name"], str)
            and (h["type_name"] is None or isinstance(h["type_name"], str))):
        raise ProgramError("type hint fields have wrong types")
    return {"starting_index": h["starting_index"], "length": h["length"], "type_name": h["type_name"],
            "variable_name": h["variable_name"]}


def _instruction_from_serde(entry, index: int) -> Instruction:
    if isinstance(entry, str):
        spec = BY_VARIANT.get(entry)
        if spec is None:
            raise ProgramError(f"unknown instruction {entry!r} at index {index}")
        if spec.arg_kind != NONE:
            raise ProgramError(f"instruction {entry!r} at index {index} needs an argument")
        return (spec.opcode, None)
    if isinstance(entry, dict) and len(entry) == 1:
        ((variant, raw),) = entry.items()
        spec = BY_VARIANT.get(variant)
        if spec is None:
            raise ProgramError(f"unknown instruction {variant!r} at index {index}")
        if spec.arg_kind == NONE:
            raise ProgramError(f"instruction {variant!r} at index {index} takes no argument")
        if spec.arg_kind in (BFE, ADDRESS):
            if not _is_int(raw) or not 0 <= raw < 2**64:
                raise ProgramError(f"argument of {variant} at index {index} must be a u64, got {raw!r}")
            return (spec.opcode, raw % P)  # as BFieldElement::new reads a u64: reduced mod p
        if spec.arg_kind == NUM_WORDS:
            if raw not in ("N1", "N2", "N3", "N4", "N5"):
                raise ProgramError(f"argument of {variant} at index {index} must be N1..N5, got {raw!r}")
            return (spec.opcode, int(raw[1:]))
        names = [f"ST{i}" for i in range(16)]
        if raw not in names:
            raise ProgramError(f"argument of {variant} at index {index} must be ST0..ST15, got {raw!r}")
        return (spec.opcode, int(raw[2:]))
    raise ProgramError(f"malformed instruction entry at index {index}: {entry!r}")


def _instruction_to_serde(instruction: Instruction):
    opcode, arg = instruction
    spec = BY_OPCODE[opcode]
    if spec.arg_kind == NONE:
        return spec.variant
    if spec.arg_kind == NUM_WORDS:
        return {spec.variant: f"N{arg}"}
    if spec.arg_kind == STACK_REG:
        return {spec.variant: f"ST{arg}"}
    return {spec.variant: arg}


def _check_duplicate_slots(instructions: list[Instruction]) -> None:
    """Two-word instructions must appear twice in a row (the argument slot); anything else is rejected."""
    i = 0
    n = len(instructions)
    while i < n:
        spec = BY_OPCODE[instructions[i][0]]
        if spec.size == 2:
            if i + 1 >= n or instructions[i + 1] != instructions[i]:
                raise ProgramError(
                    f"two-word instruction `{instruction_display(instructions[i])}` at index {i} must be "
                    f"followed by its duplicate (one entry per program word)")
        i += spec.size


# ---------------------------------------------------------------------------------------------
# Triton assembly parser (mirrors the reference's nom grammar)

_LABEL_RE = re.compile(r"[^\W\d]|_", re.UNICODE)
_WORD_RE = re.compile(r"[a-z0-9_]+")
_INT_RE = re.compile(r"[+-]?[0-9]+")
_DIGITS_RE = re.compile(r"[0-9]+")


class _Tok:
    __slots__ = ("kind", "value", "pos")

    def __init__(self, kind: str, value, pos: int) -> None:
        self.kind = kind  # "ins", "label", "break", "hint", "ctx"
        self.value = value
        self.pos = pos


def _where(text: str, pos: int) -> str:
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1) + 1
    snippet = text[pos:pos + 20].split("\n")[0]
    return f"line {line}, column {col} (at {snippet!r})"


def _fail(text: str, pos: int, what: str):
    raise TasmParseError(f"{what} at {_where(text, pos)}")


def _comment(s: str, i: int) -> int | None:
    """End of a comment starting at i, or None."""
    if s.startswith("//", i):
        j = i + 2
        while j < len(s) and s[j] not in "\n\r":
            j += 1
        return j if j > i + 2 else None  # the reference requires at least one character
    if s.startswith("/*", i):
        k = s.find("*/", i + 2)
        return None if k < 0 else k + 2
    return None


def _cws0(s: str, i: int) -> int:
    while i < len(s):
        if s[i].isspace():
            i += 1
            continue
        j = _comment(s, i)
        if j is None:
            break
        i = j
    return i


def _cws1(s: str, i: int) -> int | None:
    """Comment-or-whitespace (at least one) or end of input; None if neither."""
    if i >= len(s):
        return i
    j = _cws0(s, i)
    return j if j > i else None


def _ws0(s: str, i: int) -> int:
    while i < len(s) and s[i].isspace():
        i += 1
    return i


def _label_addr(s: str, i: int) -> tuple[str, int] | None:
    if i >= len(s) or not (s[i].isalpha() or s[i] == "_"):
        return None
    j = i + 1
    while j < len(s) and (s[j].isalnum() or s[j] in "_-"):
        j += 1
    return s[i:j], j


def _check_label_legal(text: str, pos: int, label: str) -> None:
    if label in BY_NAME or label in _KEYWORDS:
        _fail(text, pos, f"label `{label}` must be neither instruction nor keyword")


def _tokenize(s: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    i = _cws0(s, 0)
    while i < len(s):
        start = i
        # label
        la = _label_addr(s, i)
        if la is not None:
            name, j = la
            j = _ws0(s, j)
            if j < len(s) and s[j] == ":":
                j = _cws0(s, j + 1)
                _check_label_legal(s, start, name)
                tokens.append(_Tok("label", name, start))
                i = j
                continue
        # instruction, break, hint, error_id: a lowercase word followed by whitespace, comment or end
        m = _WORD_RE.match(s, i)
        word = m.group(0) if m else ""
        after = _cws1(s, i + len(word)) if word else None
        if word and after is not None and word in BY_NAME:
            ins, i = _instruction_args(s, BY_NAME[word], after, start)
            tokens.append(_Tok("ins", ins, start))
            continue
        if word == "break" and after is not None:
            tokens.append(_Tok("break", None, start))
            i = after
            continue
        if word == "hint" and after is not None:
            hint, i = _type_hint(s, after)
            tokens.append(_Tok("hint", hint, start))
            continue
        if word == "error_id" and after is not None:
            m = _INT_RE.match(s, after)
            if not m:
                _fail(s, after, "expected a valid error ID of type i128")
            value = int(m.group(0))
            if not -(2**127) <= value < 2**127:
                _fail(s, after, "expected a valid error ID of type i128")
            j = _cws1(s, m.end())
            if j is None:
                _fail(s, m.end(), "expected whitespace or comment after error ID")
            tokens.append(_Tok("ctx", value, start))
            i = j
            continue
        _fail(s, start, "expected label, instruction, or end of file")
    return tokens


def _instruction_args(s: str, spec, i: int, start: int):
    """Parse the argument of `spec` at i; returns ((opcode, arg or label), next position)."""
    if spec.arg_kind == NONE:
        return (spec.opcode, None), i
    if spec.arg_kind == ADDRESS:
        la = _label_addr(s, i)
        if la is None:
            _fail(s, i, "label must start with an alphabetic character or `_`")
        label, j = la
        k = _cws1(s, j)
        if k is None:
            _fail(s, j, "expected whitespace or comment after label")
        _check_label_legal(s, i, label)
        return (spec.opcode, label), k
    if spec.arg_kind == BFE:
        m = _INT_RE.match(s, i)
        if not m:
            _fail(s, i, "expected a reasonably-sized integer")
        n = int(m.group(0))
        if not -(2**127) <= n < 2**127:
            _fail(s, i, "expected a reasonably-sized integer")
        k = _cws1(s, m.end())
        if k is None:
            _fail(s, m.end(), "expected whitespace or comment after constant")
        if n <= -P or n >= P:
            _fail(s, i, f"out-of-bounds constant {n} (must satisfy -p < n < p)")
        return (spec.opcode, n if n >= 0 else n + P), k
    m = _DIGITS_RE.match(s, i)
    if not m:
        _fail(s, i, f"expected a number argument for `{spec.name}`")
    n = int(m.group(0))
    digits = m.group(0)
    if spec.arg_kind == NUM_WORDS and digits not in ("1", "2", "3", "4", "5"):
        _fail(s, i, "using an out-of-bounds argument (1-5 allowed)")
    if spec.arg_kind == STACK_REG and digits not in [str(k) for k in range(16)]:
        _fail(s, i, "using an out-of-bounds stack register (0-15 exist)")
    k = _cws1(s, m.end())
    if k is None:
        _fail(s, m.end(), "expected whitespace or comment after argument")
    return (spec.opcode, n), k


def _type_name(s: str, i: int) -> tuple[str, int]:
    """Parse `**Name<A, B>`; returns the normalised name and the next position."""
    j = i
    while j < len(s) and s[j] == "*":
        j += 1
    if j >= len(s) or not (s[j].isascii() and (s[j].isalpha() or s[j] == "_")):
        _fail(s, i, "type hint's type name is malformed")
    j += 1
    while j < len(s) and s[j].isascii() and (s[j].isalnum() or s[j] == "_"):
        j += 1
    name = s[i:j]
    k = _cws0(s, j)
    if k < len(s) and s[k] == "<":
        generics = []
        k = _cws0(s, k + 1)
        while k < len(s) and s[k] != ">":
            g, k = _type_name(s, k)
            generics.append(g)
            k = _cws0(s, k)
            if k < len(s) and s[k] == ",":
                k = _cws0(s, k + 1)
            elif k < len(s) and s[k] != ">":
                _fail(s, k, "type hint's type name is malformed")
        if k >= len(s):
            _fail(s, i, "type hint's type name is malformed")
        k += 1
        return (f"{name}<{', '.join(generics)}>" if generics else name), k
    return name, j


def _type_hint(s: str, i: int) -> tuple[dict, int]:
    j = i
    if j >= len(s) or not ((s[j].isalpha() and s[j].islower()) or s[j] == "_"):
        _fail(s, i, "type hint's variable name must start with a lowercase alphabetic character or `_`")
    while j < len(s) and ((s[j].isalpha() and s[j].islower()) or s[j] == "_" or s[j].isnumeric()):
        j += 1
    variable_name = s[i:j]
    j = _ws0(s, j)
    type_name = None
    if j < len(s) and s[j] == ":":
        j = _cws0(s, j + 1)
        type_name, j = _type_name(s, j)
        j = _ws0(s, j)
    if j >= len(s) or s[j] != "=":
        _fail(s, j, "syntax error in type hint (expected `=`)")
    j = _cws0(s, j + 1)
    if not s.startswith("stack", j):
        _fail(s, j, "syntax error in type hint (expected `stack`)")
    j += 5
    if j >= len(s) or s[j] != "[":
        _fail(s, j, "syntax error in type hint (expected `[`)")
    j = _cws0(s, j + 1)
    m = _DIGITS_RE.match(s, j)
    if not m:
        _fail(s, j, "type hint requires a stack position (or range) indicator")
    start = int(m.group(0))
    j = _ws0(s, m.end())
    length = 1
    if s.startswith("..", j):
        j = _cws0(s, j + 2)
        m = _DIGITS_RE.match(s, j)
        if not m:
            _fail(s, j, "type hint with range indicator requires a range end")
        end = int(m.group(0))
        if end <= start:
            _fail(s, j, "type hint's stack range indicator must be non-empty")
        length = end - start
        j = _ws0(s, m.end())
    if j >= len(s) or s[j] != "]":
        _fail(s, j, "type hint requires closing bracket for stack position (or range) indicator")
    j = _cws0(s, j + 1)
    return {"starting_index": start, "length": length, "type_name": type_name,
            "variable_name": variable_name}, j


def _type_hint_display(hint: dict) -> str:
    start, length = hint["starting_index"], hint["length"]
    rng = f"{start}" if length == 1 else f"{start}..{start + length}"
    type_part = f": {hint['type_name']}" if hint["type_name"] is not None else ""
    return f"hint {hint['variable_name']}{type_part} = stack[{rng}]"


def _program_from_tokens(tokens: list[_Tok], text: str) -> Program:
    labels: dict[str, int] = {}
    address = 0
    for tok in tokens:
        if tok.kind == "label":
            if tok.value in labels:
                _fail(text, tok.pos, f"duplicate label `{tok.value}`")
            labels[tok.value] = address
        elif tok.kind == "ins":
            address += BY_OPCODE[tok.value[0]].size
    accept_ctx = False
    for tok in tokens:
        if tok.kind == "ins" and tok.value[0] == 49 and tok.value[1] not in labels:
            _fail(text, tok.pos, f"missing label `{tok.value[1]}`")
        if tok.kind == "ctx" and not accept_ctx:
            _fail(text, tok.pos, "incorrectly placed assertion context")
        accept_ctx = tok.kind == "ins" and tok.value[0] in (10, 26)
    instructions: list[Instruction] = []
    breakpoints: list[bool] = []
    type_hints: dict[int, list[dict]] = {}
    assertion_context: dict[int, int] = {}
    break_next = False
    for tok in tokens:
        if tok.kind == "ins":
            opcode, arg = tok.value
            if opcode == 49:
                arg = labels[arg]
            size = BY_OPCODE[opcode].size
            instructions += [(opcode, arg)] * size
            breakpoints += [break_next] * size
            break_next = False
        elif tok.kind == "break":
            break_next = True
        elif tok.kind == "hint":
            type_hints.setdefault(len(instructions), []).append(tok.value)
        elif tok.kind == "ctx":
            assertion_context[max(len(instructions) - 1, 0)] = tok.value
    address_to_label: dict[int, str] = {}
    for name, a in sorted(labels.items(), key=lambda kv: kv[1]):  # several labels on one address: one is kept
        address_to_label[a] = name
    return Program(instructions, address_to_label, breakpoints, type_hints, assertion_context)
