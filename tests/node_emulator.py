"""A node emulator: hands a job to an external prover command the way neptune-core and xnt-core do.

neptune-core (proxy mode): its `neptune-prover` process runs `sh -c "$NEPTUNE_PROVER_PROXY"` with its own
stdin, stdout and stderr inherited; the node writes one JSON object without a newline, closes stdin, reads
stdout to the end and the exit code, and logs stderr lines by their level prefix. It cancels by killing
`neptune-prover` alone (SIGKILL) and dropping its pipe ends. xnt-core: runs `triton-vm-prover`, which finds
the daemon through TRITON_VM_PROVER_SOCKET, with five JSON lines on stdin.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field

LEVELS = ("ERROR", "WARN", "INFO", "DEBUG", "TRACE")

# Stands in for neptune-core's `neptune-prover` binary in proxy mode: runs the proxy command through
# `sh -c` with inherited stdio, passes its exit code on, and dies by the same signal that killed it.
NEPTUNE_PROVER = """
import os, signal, subprocess, sys
code = subprocess.call(["sh", "-c", os.environ["NEPTUNE_PROVER_PROXY"]])
if code < 0:
    os.kill(os.getpid(), -code)
sys.exit(code)
"""


@dataclass
class NodeRun:
    """What a node sees of one prover run."""

    exit_code: int | None  # None when the prover was killed by a signal (the node logs a likely OOM kill)
    signal: int | None
    stdout: bytes
    stderr: dict[str, list[str]] = field(default_factory=dict)  # lines by level; "other" for unprefixed


def sort_stderr(text: str) -> dict[str, list[str]]:
    """Stderr lines by the level prefix neptune-core reads (`ERROR:` ...), the rest under "other"."""
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        level = next((lv for lv in LEVELS if line.startswith(f"{lv}:")), "other")
        out.setdefault(level, []).append(line)
    return out


def five_lines(job: dict) -> bytes:
    """The five-line form of a job object (claim, program, non-determinism, max log2, env vars)."""
    keys = ("claim", "program", "non_determinism", "max_log2_padded_height", "env_vars")
    return ("\n".join(json.dumps(job[k], separators=(",", ":")) for k in keys) + "\n").encode()


def _finish(proc: subprocess.Popen, stdin: bytes, timeout: float) -> NodeRun:
    out, err = proc.communicate(stdin, timeout=timeout)
    code = proc.returncode
    return NodeRun(code if code >= 0 else None, -code if code < 0 else None, out,
                   sort_stderr(err.decode("utf-8", "replace")))


def start_neptune(job: dict | bytes, proxy_command: str, env: dict | None = None,
                  cwd: str | None = None) -> subprocess.Popen:
    """Start `neptune-prover` in proxy mode for `job` (the object is written without a newline, stdin is
    closed) and return it; the caller reads its pipes or kills it."""
    data = job if isinstance(job, bytes) else json.dumps(job, separators=(",", ":")).encode()
    full_env = {**os.environ, **(env or {}), "NEPTUNE_PROVER_PROXY": proxy_command}
    proc = subprocess.Popen([sys.executable, "-c", NEPTUNE_PROVER], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=full_env, cwd=cwd)
    proc.stdin.write(data)
    proc.stdin.close()
    return proc


def run_neptune(job: dict | bytes, proxy_command: str, env: dict | None = None, cwd: str | None = None,
                timeout: float = 600) -> NodeRun:
    """One job through neptune-core's proxy mode, to the end."""
    proc = start_neptune(job, proxy_command, env, cwd)
    out, err = proc.stdout.read(), proc.stderr.read()
    proc.wait(timeout)
    code = proc.returncode
    proc.stdout.close()
    proc.stderr.close()
    return NodeRun(code if code >= 0 else None, -code if code < 0 else None, out,
                   sort_stderr(err.decode("utf-8", "replace")))


def cancel_neptune(proc: subprocess.Popen) -> None:
    """Cancel as neptune-core does: SIGKILL its prover process only, then drop the pipe ends."""
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    proc.stdout.close()
    proc.stderr.close()


def run_xnt(job: dict, prover_command: list[str], socket_address: str, cwd: str | None = None,
            timeout: float = 600) -> NodeRun:
    """One job as xnt-core hands it to `triton-vm-prover`: five lines, the daemon's address in
    TRITON_VM_PROVER_SOCKET."""
    env = {**os.environ, "TRITON_VM_PROVER_SOCKET": socket_address}
    proc = subprocess.Popen(prover_command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, cwd=cwd)
    return _finish(proc, five_lines(job), timeout)
