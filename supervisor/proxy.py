"""`tvmpd proxy`: the command a node runs as its external prover; forwards one job to a running daemon.

It reads either job form from stdin, told apart by the input itself:
- neptune-core (v0.7.0+, `NEPTUNE_PROVER_PROXY`): one JSON object {program, claim, non_determinism,
  max_log2_padded_height, env_vars}, usually without a trailing newline, then EOF;
- xnt-core and the older `triton-vm-prover`: five JSON lines (claim, program, non-determinism, max log2,
  env vars).
Both become one TVMP request. The node's contract: bincode(Proof) on stdout and exit 0; exit 200 + log2
only when the job set a limit and the padded height exceeds it; any other failure exits 1 (2 when no daemon
answers) with one `ERROR:` line on stderr. Progress goes to stderr as `INFO:` lines. A node cancels by
killing the process it spawned, not this one: the proxy watches its stdout pipe and its parent chain, and
drops its connection when the node is gone, which makes the daemon abandon the job.

This module must stay light (no numpy, no prover): it is started once per job.
"""

from __future__ import annotations

import json
import os
import select
import socket
import struct
import sys
import time
from collections.abc import Callable
from typing import BinaryIO, TextIO

from tvmpd.supervisor import protocol

SOCKET_ENV = "TRITON_VM_PROVER_SOCKET"
TOO_BIG_EXIT_OFFSET = 200
EXIT_ERROR = 1
EXIT_TRANSPORT = 2
DEFAULT_TCP = "127.0.0.1:5555"
POLL_S = 0.2  # how often the node's presence is checked while the daemon works
# The object form's keys, in the order of the TVMP frame's five fields.
OBJECT_KEYS = ("claim", "program", "non_determinism", "max_log2_padded_height", "env_vars")
LINE_NAMES = ("claim", "program", "non-determinism", "max log2 padded height", "env vars")


class JobInputError(ValueError):
    """stdin does not hold a job in either form; the message says what is wrong."""


def _load(text: str, what: str):
    try:
        return json.loads(text)
    except ValueError as exc:
        raise JobInputError(f"{what} is not valid JSON: {exc}") from None


def _from_object(job: dict) -> tuple[list[str], object]:
    missing = [k for k in OBJECT_KEYS if k not in job]
    if missing:
        raise JobInputError(f"the job object lacks {', '.join(repr(k) for k in missing)} "
                            f"(a job has {', '.join(OBJECT_KEYS)})")
    fields = [json.dumps(job[k], separators=(",", ":")) for k in OBJECT_KEYS]
    return fields, job["max_log2_padded_height"]


def read_job(stream: BinaryIO) -> tuple[list[str], object]:
    """The five TVMP field texts and the job's max log2 (None when unset) from either input form.

    The first line decides: a JSON object with a `program` key is the whole job (neptune-core); an object
    without one is the claim, first of five lines (xnt-core). Reading stops after the fifth line, so a node
    that keeps stdin open after its five lines is still served.
    """
    first = stream.readline()
    if not first.strip():
        raise JobInputError("no job on stdin (empty input): expected one JSON job object or five JSON lines")
    try:
        text = first.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise JobInputError(f"stdin is not UTF-8 text: {exc}") from None
    try:
        head = json.loads(text)
    except ValueError:
        head = None
    if head is None and text.lstrip().startswith("{"):
        # not a complete JSON text on its own line: a pretty-printed or truncated job object
        rest = stream.read()
        try:
            whole = text + rest.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise JobInputError(f"stdin is not UTF-8 text: {exc}") from None
        head = _load(whole, "the job on stdin (truncated?)")
        if not isinstance(head, dict):
            raise JobInputError("the job on stdin is not a JSON object")
        return _from_object(head)
    if head is None:
        _load(text, "the first line on stdin (the claim)")
    if isinstance(head, dict) and "program" in head:
        return _from_object(head)
    lines = [text.rstrip("\r\n")]
    for _ in range(4):
        line = stream.readline()
        if not line:
            break
        try:
            lines.append(line.decode("utf-8").rstrip("\r\n"))
        except UnicodeDecodeError as exc:
            raise JobInputError(f"stdin is not UTF-8 text: {exc}") from None
    if len(lines) != 5:
        raise JobInputError(f"expected one JSON job object or 5 JSON lines on stdin, got {len(lines)} "
                            f"line(s)")
    values = [_load(line, f"line {i + 1} ({name})") for i, (line, name) in enumerate(zip(lines, LINE_NAMES,
                                                                                          strict=True))]
    return lines, values[3]


def _parent_of(pid: int) -> int | None:
    """The parent pid of `pid` from /proc, or None when the process is gone or /proc is unreadable."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    return int(stat.rsplit(b")", 1)[1].split()[1])


class NodeWatch:
    """Tells whether the node that started this proxy is still there.

    neptune-core runs `sh -c CMD` from its `neptune-prover` process and cancels by killing that process
    alone; the shell (or this process, when the shell exec'd it) is then re-parented, and the node closes
    the read end of our stdout. Either sign means nobody will read the proof.
    """

    def __init__(self, stdout_fd: int | None) -> None:
        self.ppid = os.getppid()
        self.grandparent = _parent_of(self.ppid) if self.ppid > 1 else None
        self.stdout_fd = stdout_fd
        self.poller = None
        if stdout_fd is not None:
            try:
                if not os.isatty(stdout_fd):
                    self.poller = select.poll()
                    self.poller.register(stdout_fd, 0)  # only error and hang-up are reported
            except OSError:
                self.poller = None

    def gone(self) -> str | None:
        """A reason when the node has gone, else None."""
        if os.getppid() != self.ppid:
            return "the process that started the proxy exited"
        if (self.grandparent or 0) > 1 and _parent_of(self.ppid) != self.grandparent:
            return "the node's prover process exited"
        if self.poller is not None:
            for _, events in self.poller.poll(0):
                if events & (select.POLLERR | select.POLLHUP | select.POLLNVAL):
                    return "the reader of the proof (stdout) closed its end"
        return None


def candidate_addresses(address: str | None) -> list[tuple[str, str]]:
    """Where to look for the daemon, with where each address came from: --socket, else
    TRITON_VM_PROVER_SOCKET, else the default daemon's Unix socket and then its TCP port."""
    if address:
        return [(address, "--socket")]
    env = os.environ.get(SOCKET_ENV)
    if env:
        return [(env, SOCKET_ENV)]
    from tvmpd.supervisor.config import default_unix_path

    return [(default_unix_path(), "default Unix socket"), (DEFAULT_TCP, "default TCP address")]


def _info(stderr: TextIO, text: str) -> None:
    try:
        print(f"INFO: tvmpd proxy: {text}", file=stderr, flush=True)
    except (OSError, ValueError):
        pass  # a node that closed our stderr still gets its exit code


def _error(stderr: TextIO, text: str) -> None:
    try:
        print(f"ERROR: tvmpd proxy: {' '.join(text.split())}", file=stderr, flush=True)
    except (OSError, ValueError):
        pass


def _connect(addresses: list[tuple[str, str]], timeout: float | None):
    tried = []
    for addr, origin in addresses:
        try:
            return protocol.connect(addr, timeout=timeout), addr
        except (OSError, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            tried.append(f"{addr} ({origin}: {reason})")
    raise ConnectionError(f"no tvmpd daemon answers; tried {'; '.join(tried)}. Start one with `tvmpd serve`, "
                          f"or point the proxy at it with --socket or {SOCKET_ENV} (a Unix socket path or "
                          f"HOST:PORT)")


def _await_answer(sock, gone: Callable[[], str | None]) -> protocol.Response | str:
    """The daemon's response, or the reason the node went away first (then the caller drops the job)."""
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN | select.POLLPRI)
    while True:
        if poller.poll(POLL_S * 1000):
            sock.settimeout(None)
            return protocol.read_response(sock)
        reason = gone()
        if reason:
            return reason


def run_proxy(addresses: list[tuple[str, str]] | str, stdin: BinaryIO, stdout: BinaryIO, stderr: TextIO,
              timeout: float | None = None, watch: NodeWatch | None = None) -> int:
    """Forward one job from `stdin` and return the process exit code (see the module docstring)."""
    if isinstance(addresses, str):
        addresses = [(addresses, "--socket")]
    try:
        fields, max_log2 = read_job(stdin)
    except JobInputError as exc:
        _error(stderr, str(exc))
        return EXIT_ERROR
    except OSError as exc:
        _error(stderr, f"cannot read stdin: {exc}")
        return EXIT_ERROR
    job_id = os.getpid() & 0xFFFFFFFF
    started = time.monotonic()
    try:
        sock, addr = _connect(addresses, timeout)
    except ConnectionError as exc:
        _error(stderr, str(exc))
        return EXIT_TRANSPORT
    try:
        with sock:
            frame = protocol.encode_request(job_id, fields)
            sock.sendall(frame)
            _info(stderr, f"job {job_id} ({len(frame)} bytes) sent to the daemon at {addr}")
            answer = _await_answer(sock, watch.gone if watch else lambda: None)
            if isinstance(answer, str) and sock.family in (socket.AF_INET, socket.AF_INET6):
                # close with a reset, not a FIN: the daemon keeps serving clients that only half-close
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except (OSError, ValueError) as exc:
        _error(stderr, f"no answer from the daemon at {addr}: {exc}")
        return EXIT_TRANSPORT
    if isinstance(answer, str):
        _error(stderr, f"{answer}: job {job_id} dropped, the daemon abandons it")
        return EXIT_ERROR
    seconds = time.monotonic() - started
    if answer.status == protocol.STATUS_OK:
        try:
            stdout.write(answer.proof)
            stdout.flush()
        except (OSError, ValueError) as exc:
            _error(stderr, f"cannot write the proof to stdout: {exc}")
            return EXIT_ERROR
        _info(stderr, f"job {job_id} proved: {len(answer.proof)} bytes after {seconds:.1f}s")
        return 0
    if answer.status == protocol.STATUS_TOO_BIG:
        code = TOO_BIG_EXIT_OFFSET + answer.log2
        # a node panics on 200..232 for a job without a limit: that exit is only for an exceeded limit
        if not isinstance(max_log2, int) or answer.log2 <= max_log2 or code > 255:
            _error(stderr, f"daemon answered 'padded height 2^{answer.log2} too big' for a job whose "
                           f"limit is {max_log2!r}")
            return EXIT_ERROR
        _info(stderr, f"job {job_id}: padded height 2^{answer.log2} exceeds the job's limit 2^{max_log2}; "
                      f"not proved")
        return code
    _error(stderr, answer.message or "the daemon answered ERROR without a reason")
    return EXIT_ERROR


def main(address: str | None) -> int:
    """Entry point behind the CLI: the job on stdin, the proof on stdout."""
    try:
        stdout_fd = sys.stdout.fileno()
    except (OSError, ValueError):
        stdout_fd = None
    return run_proxy(candidate_addresses(address), sys.stdin.buffer, sys.stdout.buffer, sys.stderr,
                     watch=NodeWatch(stdout_fd))
