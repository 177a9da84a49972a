"""Messages between the supervisor and its children: one dataclass per kind, a msgpack map on the pipe.

Arrays never travel here: a message names shared-memory blocks by their descriptors (name, dtype, shape).
On the wire a message is its fields plus "t", the kind's tag; `decode` gives back the dataclass.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from typing import ClassVar

import msgpack


class Outcome(enum.StrEnum):
    """How a child's task ended."""

    EXECUTED = "executed"  # the VM ran, the main table is in shared memory
    TOO_BIG = "too_big"  # padded height above the job's limit
    LATER = "later"  # its main table does not fit in host memory now: retry when memory frees
    ERROR = "error"
    CANCELLED = "cancelled"  # stopped because its client went away
    OK = "ok"  # proved


class Admission(enum.StrEnum):
    """The supervisor's answer to a worker asking to build a main table."""

    ADMITTED = "admitted"
    LATER = "later"
    REFUSED = "refused"


@dataclass
class Message:
    """Base of every message; `tag` is the "t" value on the wire."""

    tag: ClassVar[str] = ""


# ---------------------------------------------------------------- supervisor -> child


@dataclass
class ExecuteTask(Message):
    """Parse the request, run the VM, build the main table into shared memory."""

    tag: ClassVar[str] = "execute"
    job: int
    attempt: int
    prefix: str  # shared-memory name prefix of the job
    request: dict  # block holding the msgpack'ed five JSON texts
    max_cycles: int


@dataclass
class ProveTask(Message):
    """Prove from the main table (or AET arrays) in shared memory."""

    tag: ClassVar[str] = "prove"
    job: int
    attempt: int
    prefix: str
    blocks: dict  # array name -> block descriptor
    scalars: dict
    env: list  # [key, value] pairs of the job's env vars for its log2
    claim: str


@dataclass
class Stop(Message):
    """Exit after the current task."""

    tag: ClassVar[str] = "stop"


@dataclass
class AdmitReply(Message):
    """Answer to Admit."""

    tag: ClassVar[str] = "admit-reply"
    answer: Admission
    message: str = ""

    def __post_init__(self) -> None:
        self.answer = Admission(self.answer)


# ---------------------------------------------------------------- child -> supervisor


@dataclass
class Hello(Message):
    """The process is up and starts warming up."""

    tag: ClassVar[str] = "hello"
    pid: int
    name: str


@dataclass
class Progress(Message):
    """Work is going on: a warm-up step (`what`) or VM cycles of a job."""

    tag: ClassVar[str] = "progress"
    what: str = ""
    job: int = 0
    cycles: int = 0


@dataclass
class Ready(Message):
    """Warm-up done: the child takes tasks."""

    tag: ClassVar[str] = "ready"
    warmup_s: float
    mem_free: int | None = None


@dataclass
class BootFailed(Message):
    """The child cannot work here (no device, driver or build error) and exits."""

    tag: ClassVar[str] = "boot-failed"
    message: str


@dataclass
class Memory(Message):
    """The device's free memory, measured now and then (not a sign of progress)."""

    tag: ClassVar[str] = "mem"
    mem_free: int | None = None


@dataclass
class Stage(Message):
    """A job's task entered a stage."""

    tag: ClassVar[str] = "stage"
    job: int
    stage: str


@dataclass
class Admit(Message):
    """May this worker build the job's main table (a large host allocation) now?"""

    tag: ClassVar[str] = "admit"
    job: int
    log2: int
    force_cpu: bool


@dataclass
class Result(Message):
    """A task's end; which fields are set depends on the outcome."""

    tag: ClassVar[str] = "result"
    job: int
    outcome: Outcome
    message: str = ""  # ERROR
    log2: int = 0  # EXECUTED, TOO_BIG, LATER
    force_cpu: bool = False
    blocks: dict = field(default_factory=dict)  # EXECUTED
    scalars: dict = field(default_factory=dict)
    env: list = field(default_factory=list)
    proof: dict | None = None  # OK: the proof's block
    t_execute: float | None = None
    t_prove: float | None = None
    stages: dict = field(default_factory=dict)  # stage name -> seconds
    memory_mode: str = ""  # OK on a device: the memory mode the proof used, e.g. "full+aux" (Layout.label)

    def __post_init__(self) -> None:
        self.outcome = Outcome(self.outcome)


KINDS: dict[str, type[Message]] = {cls.tag: cls for cls in (ExecuteTask, ProveTask, Stop, AdmitReply, Hello,
                                                            Progress, Ready, BootFailed, Memory, Stage,
                                                            Admit, Result)}


def encode(msg: Message) -> bytes:
    """The wire form of a message."""
    body = {f.name: getattr(msg, f.name) for f in dataclasses.fields(msg)}
    return msgpack.packb({"t": msg.tag, **body})


def decode(data: bytes) -> Message:
    """A message from its wire form; ValueError for an unknown kind or bad fields."""
    raw = msgpack.unpackb(data)
    if not isinstance(raw, dict) or raw.get("t") not in KINDS:
        raise ValueError(f"unknown message {str(raw)[:80]}")
    cls = KINDS[raw.pop("t")]
    try:
        return cls(**raw)
    except TypeError as exc:
        raise ValueError(f"bad {cls.__name__} message: {exc}") from None
