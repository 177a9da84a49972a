"""`tvmpd proxy`: a drop-in for a node's `triton-vm-prover` binary that forwards to a running daemon.

Reads the five JSON lines from stdin, sends one TVMP request, and mirrors the stock binary's contract:
proof bytes on stdout and exit 0; exit 200 + log2 when the padded height is too big; otherwise a message
on stderr and a non-zero exit (1 for an ERROR answer, 2 when the daemon cannot be reached or misbehaves).
"""

from __future__ import annotations

import os
import sys
from typing import BinaryIO, TextIO

from supervisor import protocol

SOCKET_ENV = "TRITON_VM_PROVER_SOCKET"
TOO_BIG_EXIT_OFFSET = 200
EXIT_ERROR = 1
EXIT_TRANSPORT = 2


def read_five_lines(stream: BinaryIO) -> list[str]:
    """The five JSON lines of a prover request (the last may lack its newline); ValueError if fewer."""
    lines = []
    for _ in range(5):
        line = stream.readline()
        if not line:
            break
        lines.append(line.decode("utf-8").rstrip("\r\n"))
    if len(lines) != 5:
        raise ValueError(f"expected 5 JSON lines on stdin, got {len(lines)}")
    return lines


def run_proxy(address: str, stdin: BinaryIO, stdout: BinaryIO, stderr: TextIO,
              timeout: float | None = None) -> int:
    """Forward one job and return the process exit code."""
    try:
        fields = read_five_lines(stdin)
    except (ValueError, UnicodeDecodeError) as exc:
        print(f"tvmpd proxy: {exc}", file=stderr)
        return EXIT_ERROR
    job_id = os.getpid() & 0xFFFFFFFF
    try:
        resp = protocol.submit(address, job_id, fields, timeout=timeout)
    except (OSError, ValueError) as exc:
        print(f"tvmpd proxy: cannot get an answer from the daemon at {address}: {exc}", file=stderr)
        return EXIT_TRANSPORT
    if resp.status == protocol.STATUS_OK:
        stdout.write(resp.proof)
        stdout.flush()
        return 0
    if resp.status == protocol.STATUS_TOO_BIG:
        print(f"tvmpd proxy: padded height 2^{resp.log2} exceeds the job's limit", file=stderr)
        return TOO_BIG_EXIT_OFFSET + resp.log2
    print(f"tvmpd proxy: daemon error: {resp.message}", file=stderr)
    return EXIT_ERROR


def main(address: str | None) -> int:
    """Entry point behind the CLI: --socket, else TRITON_VM_PROVER_SOCKET, else a default daemon's socket."""
    from supervisor.config import default_unix_path

    addr = address or os.environ.get(SOCKET_ENV)
    if not addr and os.path.exists(default_unix_path()):
        addr = default_unix_path()
    if not addr:
        print(f"tvmpd proxy: no daemon address: give --socket or set {SOCKET_ENV} "
              f"(no default daemon at {default_unix_path()})", file=sys.stderr)
        return EXIT_TRANSPORT
    return run_proxy(addr, sys.stdin.buffer, sys.stdout.buffer, sys.stderr)
