"""Benchmark workloads shaped like the jobs nodes send: TASM loops over Merkle paths, sponge absorption,
FRI-style dot steps, RAM traffic, and one mix whose table heights stand in the proportions of a real
Neptune job (see `../shared/workload-profiles.md` and tools/README.md).

`build(name, log2)` returns (program, public input, non-determinism) whose padded height is 2^log2
(10 <= log2 <= 22): the loop count comes from the public input and is solved from two short runs,
because every table grows linearly with it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tvmpd.stages.vm import Claim, NonDeterminism, Program, execute
from tvmpd.stages.vm.aet import build_aet

P = 2**64 - 2**32 + 1
RAM_WORDS = 4096  # initial RAM: addresses 0 .. RAM_WORDS-1 hold pseudo-random field elements
DEPTH = 20  # Merkle paths: depth of the tree whose authentication paths are walked

# Every program reads its loop count n, then runs `body` n times with the counter i (n .. 1) on st0.
_HEAD = "read_io 1 sponge_init call loop halt\nloop:\n  dup 0 push 0 eq skiz return\n"
_TAIL = "  addi -1 recurse\n"

# one authentication path from a secret leaf (divine 5): node index {base} + (i mod {base}), then the
# steps; merkle_step takes the sibling from secret input, merkle_step_mem from RAM (pointer on st7)
_MERKLE = """
  push 0 push 0 dup 2 push {mask} and push {base} add divine 5
  {steps}
  pop 5 pop 3
"""

# absorb 50 words of RAM (5 sponge_absorb_mem at a pointer that moves with i), squeeze once
_SPONGE = """
  push 0 push 0 push 0 push 0 dup 4 push 63 and push 50 mul
  sponge_absorb_mem sponge_absorb_mem sponge_absorb_mem sponge_absorb_mem sponge_absorb_mem
  pop 5 sponge_squeeze pop 5 pop 5
"""

# FRI-style inner products: 4 xx_dot_step and 4 xb_dot_step over two RAM vectors
_FOLD = """
  push 0 push 0 push 0 dup 3 push 255 and push 8 mul dup 0 addi 2048
  xx_dot_step xx_dot_step xx_dot_step xx_dot_step
  xb_dot_step xb_dot_step xb_dot_step xb_dot_step
  pop 5
"""

# RAM traffic: read 3 x 5 words, write 2 x 5 words back elsewhere
_RAM = """
  dup 0 push 511 and push 5 mul addi 4 read_mem 5 read_mem 5 read_mem 5 pop 1
  push 3000 write_mem 5 write_mem 5 pop 1 pop 5
"""

# stack shuffling and index arithmetic of a verifier between its hash and memory work
_SHUFFLE = "  swap 1 swap 1 pick 3 place 3 addi 0\n"
_DIV = "  dup 0 push 3 dup 1 div_mod pop 2\n"


def _merkle(depth: int, mem_steps: int) -> str:
    steps = ["merkle_step"] * (depth - mem_steps) + ["merkle_step_mem"] * mem_steps
    return _MERKLE.format(mask=(1 << depth) - 1, base=1 << depth, steps=" ".join(steps))


@dataclass(frozen=True)
class Workload:
    """A named loop body (TASM) and how many secret digests its Merkle steps take per round."""

    name: str
    body: str
    digests_per_round: int
    description: str


WORKLOADS = {w.name: w for w in (
    Workload("merkle", _merkle(DEPTH, DEPTH // 2), DEPTH // 2,
             f"an authentication path of depth {DEPTH} per round: merkle_step (secret digests), "
             "merkle_step_mem (RAM)"),
    Workload("sponge", _SPONGE, 0, "sponge_absorb_mem of 50 RAM words per round, then sponge_squeeze"),
    Workload("fold", _FOLD, 0, "xx_dot_step / xb_dot_step inner products over RAM"),
    Workload("ram", _RAM, 0, "read_mem / write_mem traffic"),
    # per round: a depth-6 path from RAM, 3 folds, 50 absorbed words, shuffling, one division by the
    # counter; heights per cycle: OpStack 0.78, RAM 1.44, Hash 0.49, U32 0.22-0.32 (grows with the
    # counter's bit length); a real 2^22 Neptune job: 0.85, 1.41, 0.49, 0.21
    Workload("recursive", _merkle(6, 6) + _FOLD * 3 + _SPONGE + _SHUFFLE * 6 + _DIV, 0,
             "mix in the table proportions of a real Neptune job (recursive verifier)"),
)}


def program(name: str) -> Program:
    """The workload's program."""
    return Program.from_tasm(_HEAD + WORKLOADS[name].body + _TAIL)


def inputs(name: str, rounds: int) -> tuple[list[int], NonDeterminism]:
    """Public input (the loop count) and deterministic secret input for `rounds` rounds."""
    rng = np.random.default_rng(14)
    ram = {a: int(v) for a, v in enumerate(rng.integers(0, P, RAM_WORDS, dtype=np.uint64))}
    tokens = rng.integers(0, P, 5 * rounds, dtype=np.uint64).tolist() if "divine" in WORKLOADS[name].body \
        else []
    digests = rng.integers(0, P, (WORKLOADS[name].digests_per_round * rounds, 5), dtype=np.uint64).tolist()
    return [rounds], NonDeterminism(tokens, digests, ram)


def table_heights(name: str, rounds: int) -> dict[str, int]:
    """Unpadded table heights of a run of `rounds` rounds."""
    prog = program(name)
    public, nd = inputs(name, rounds)
    _, rec = execute(prog, public, nd)
    return build_aet(prog, rec).table_heights


def rounds_for(name: str, log2: int) -> int:
    """The loop count whose run lands at padded height 2^log2: its tallest table at about 80% of it,
    extrapolated from runs of 4 and 8 rounds (no table grows faster than linearly in the rounds)."""
    if not 10 <= log2 <= 22:
        raise ValueError(f"workloads are sized for padded heights 2^10 .. 2^22, got 2^{log2}")
    a, b = table_heights(name, 4), table_heights(name, 8)
    tallest = [k for k in a if k not in ("Cascade", "Lookup", "Program")]
    slope = max((b[k] - a[k]) / 4 for k in tallest)
    offset = max(a[k] - 4 * slope for k in tallest)
    rounds = max(1, int((0.8 * (1 << log2) - offset) / slope))
    # the Cascade table (distinct 16-bit limbs looked up by Tip5, at most 2^16) grows slower than
    # linearly and can be the tallest up to 2^16: step down while it is
    while log2 <= 16 and padded_log2(name, rounds) > log2:
        if rounds == 1:
            raise ValueError(f"workload {name} cannot be as small as 2^{log2}: one round lands at "
                             f"2^{padded_log2(name, 1)} (its Cascade table)")
        rounds = rounds * 3 // 4 or 1
    return rounds


def padded_log2(name: str, rounds: int) -> int:
    """log2 of the padded height of a run of `rounds` rounds."""
    return (max(table_heights(name, rounds).values()) - 1).bit_length()


def build(name: str, log2: int) -> tuple[Program, list[int], NonDeterminism]:
    """(program, public input, non-determinism) of the workload at padded height 2^log2."""
    public, nd = inputs(name, rounds_for(name, log2))
    return program(name), public, nd


def job(name: str, log2: int, salt: int = 0) -> tuple[Claim, Program, NonDeterminism]:
    """A whole proof job (claim with its output, program, secret input) at padded height 2^log2; `salt`
    takes that many rounds off, so that jobs of one size differ."""
    prog = program(name)
    public, nd = inputs(name, max(1, rounds_for(name, log2) - salt))
    output, _ = execute(prog, public, nd)
    return Claim(prog.digest(), 5, public, output), prog, nd
