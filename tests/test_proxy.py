"""`tvmpd proxy` exit codes and stdout against a scripted one-shot TVMR server (no daemon needed)."""

from __future__ import annotations

import asyncio
import io
import os
import socket
import tempfile
import threading

import pytest

from supervisor import protocol
from supervisor.proxy import EXIT_ERROR, EXIT_TRANSPORT, read_five_lines, run_proxy
from tests.conftest import VECTORS

REQUEST = (VECTORS / "requests" / "halt.req").read_bytes()


def serve_once(answer: bytes) -> tuple[str, dict]:
    """A Unix socket that reads one full request, records it, and sends `answer`."""
    path = os.path.join(tempfile.mkdtemp(prefix="tvp", dir="/tmp"), "s.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)
    seen: dict = {}

    def run():
        conn, _ = srv.accept()
        with conn:
            buf = b""
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                buf += chunk
                try:
                    async def parse(data=buf):
                        reader = asyncio.StreamReader()
                        reader.feed_data(data)
                        reader.feed_eof()
                        return await protocol.read_request(reader)

                    seen["request"] = asyncio.run(parse())
                    break
                except asyncio.IncompleteReadError:
                    continue
            conn.sendall(answer)
        srv.close()
        os.unlink(path)
        os.rmdir(os.path.dirname(path))

    threading.Thread(target=run, daemon=True).start()
    return path, seen


def proxy(answer: bytes, stdin: bytes = REQUEST):
    path, seen = serve_once(answer)
    out, err = io.BytesIO(), io.StringIO()
    code = run_proxy(path, io.BytesIO(stdin), out, err, timeout=10)
    return code, out.getvalue(), err.getvalue(), seen


def test_ok_writes_proof_bytes():
    proof = protocol.encode_proof_bincode([1, 2, 3])
    code, out, err, seen = proxy(protocol.encode_ok(os.getpid(), proof))
    assert code == 0 and out == proof
    lines = REQUEST.decode().split("\n")[:5]
    assert seen["request"].fields() == lines and seen["request"].job_id == os.getpid()


def test_too_big_exit_code():
    code, out, err, _ = proxy(protocol.encode_too_big(1, 12))
    assert code == 212 and out == b"" and "2^12" in err


def test_error_answer():
    code, out, err, _ = proxy(protocol.encode_error(1, "VM execution failed: boom"))
    assert code == EXIT_ERROR and out == b"" and "boom" in err


def test_garbled_answer_and_no_daemon():
    code, _, err, _ = proxy(b"NOPE" + bytes(12))
    assert code == EXIT_TRANSPORT and "invalid response magic" in err
    err = io.StringIO()
    code = run_proxy("/tmp/tvmpd-no-such-daemon.sock", io.BytesIO(REQUEST), io.BytesIO(), err)
    assert code == EXIT_TRANSPORT
    assert "cannot get an answer" in err.getvalue()


def test_stdin_without_trailing_newline_and_short_input():
    assert read_five_lines(io.BytesIO(b"a\nb\nc\nnull\n{}")) == ["a", "b", "c", "null", "{}"]
    with pytest.raises(ValueError, match="5 JSON lines"):
        read_five_lines(io.BytesIO(b"a\nb\n"))
    err = io.StringIO()
    assert run_proxy("/nonexistent", io.BytesIO(b"x\n"), io.BytesIO(), err) == EXIT_ERROR
