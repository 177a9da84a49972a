"""Every CLI error is one line on stderr with a non-zero exit code and no traceback (a real subprocess)."""

from __future__ import annotations

import os
import pty
import subprocess
import sys

import pytest

from tests.conftest import VECTORS
from tests.daemon_harness import ROOT

HALT = str(VECTORS / "requests" / "halt.req")


def tvmpd(*args: str, stdout=subprocess.PIPE, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tvmpd", *args], cwd=ROOT, stdout=stdout,
                          stderr=subprocess.PIPE, text=True, timeout=120, **kw)


def one_line(result: subprocess.CompletedProcess) -> str:
    err = result.stderr.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


@pytest.mark.parametrize("args, code, words", [
    (["prove", HALT, "--device", "9:9", "-o", "/tmp/tvmpd-test-never.proof"], 2, "no OpenCL device '9:9'"),
    (["prove", HALT, "-o", "/nonexistent-folder/p.proof"], 2, "does not exist"),
    (["serve", "--log-level", "bogus"], 2, "'bogus' is not one of"),
    (["serve", "--omp-init", "maybe"], 2, "'maybe' is not one of"),
    (["serve", "--max-frame", "1Q"], 2, "is not a size"),
    (["status", "--control", "/nonexistent-folder/c.sock"], 2, "no daemon at"),
    (["frobnicate"], 2, "No such command"),
])
def test_cli_errors_are_one_line(args, code, words):
    result = tvmpd(*args)
    assert result.returncode == code, result.stderr
    assert words in one_line(result)


def test_empty_claim_file_for_verify(tmp_path):
    claim = tmp_path / "claim.json"
    claim.write_text("\n")
    proof = tmp_path / "p.proof"
    proof.write_bytes(b"\0" * 8)
    result = tvmpd("verify", str(claim), str(proof))
    assert result.returncode == 2
    assert "is empty" in one_line(result)


def test_prover_server_errors_and_version():
    cmd = [sys.executable, "-c", "from supervisor.cli import prover_server; prover_server()"]
    bad = subprocess.run([*cmd, "--omp-init", "x"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "'x' is not one of" in one_line(bad)
    ok = subprocess.run([*cmd, "--version"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and "proof version 5" in ok.stdout


def test_prove_refuses_to_write_binary_to_a_terminal():
    master, slave = pty.openpty()
    try:
        result = tvmpd("prove", HALT, stdout=slave)
    finally:
        os.close(slave)
        os.close(master)
    assert result.returncode == 2
    assert "refusing to write a binary proof to a terminal" in one_line(result)


def test_prove_on_a_terminal_ticks_the_running_stage(tmp_path):
    """stderr on a terminal: each stage's line is redrawn while it runs, then ends with its time."""
    master, slave = pty.openpty()
    try:
        cmd = [sys.executable, "-m", "tvmpd", "prove", HALT, "-o", str(tmp_path / "p")]
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=slave)
        os.close(slave)
        out = b""
        while True:  # read as it comes: a full terminal buffer would block the writer
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the other side is closed and everything was read
                break
            if not chunk:
                break
            out += chunk
        code = proc.wait(120)
    finally:
        os.close(master)
    assert code == 0
    text = out.decode()
    assert "\r\x1b[K[" in text and "quotient: constraints ... " in text
    assert "FRI done in" in text and "Traceback" not in text
