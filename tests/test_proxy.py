"""`tvmpd proxy` exit codes and stdout against a scripted one-shot TVMR server (no daemon needed)."""

from __future__ import annotations

import asyncio
import io
import json
import os
import socket
import tempfile
import threading

import pytest

from tests.conftest import NODE_FORMATS, VECTORS
from tvmpd.supervisor import protocol
from tvmpd.supervisor.proxy import EXIT_ERROR, EXIT_TRANSPORT, JobInputError, read_job, run_proxy

REQUEST = (VECTORS / "requests" / "halt.req").read_bytes()
LIMITED = (VECTORS / "requests" / "sum_squares_2e12_max10.req").read_bytes()
JOB = (NODE_FORMATS / "halt.job.json").read_bytes()


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
    """Run the proxy against a one-shot server answering `answer`: (exit code, stdout, stderr, seen)."""
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
    assert all(line.startswith("INFO: ") for line in err.splitlines())


def test_object_form_is_forwarded_as_the_same_five_fields():
    """neptune-core's JSON object (no newline, then EOF) becomes the same TVMP fields as its five lines."""
    proof = protocol.encode_proof_bincode([7])
    code, out, _, seen = proxy(protocol.encode_ok(1, proof), stdin=JOB)
    assert code == 0 and out == proof
    job = json.loads(JOB)
    fields = [json.loads(f) for f in seen["request"].fields()]
    assert fields == [job["claim"], job["program"], job["non_determinism"], job["max_log2_padded_height"],
                      job["env_vars"]]


def test_env_vars_travel_with_the_job():
    job = (NODE_FORMATS / "all_tables_env.job.json").read_bytes()
    _, _, _, seen = proxy(protocol.encode_ok(1, protocol.encode_proof_bincode([1])), stdin=job)
    assert json.loads(seen["request"].env_vars) == json.loads(job)["env_vars"]


def test_too_big_exit_code_only_for_a_set_limit():
    code, out, err, _ = proxy(protocol.encode_too_big(1, 12), stdin=LIMITED)
    assert code == 212 and out == b"" and "2^12" in err
    # a node panics on 200..232 for a job without a limit: a TOO_BIG answer then is an error
    code, out, err, _ = proxy(protocol.encode_too_big(1, 12), stdin=REQUEST)
    assert code == EXIT_ERROR and out == b"" and err.splitlines()[-1].startswith("ERROR: ")


def test_error_answer():
    code, out, err, _ = proxy(protocol.encode_error(1, "VM execution failed: boom"))
    assert code == EXIT_ERROR and out == b""
    assert err.splitlines()[-1].startswith("ERROR: ") and "boom" in err


def test_garbled_answer_and_no_daemon():
    code, _, err, _ = proxy(b"NOPE" + bytes(12))
    assert code == EXIT_TRANSPORT and "invalid response magic" in err
    err = io.StringIO()
    tried = [("/tmp/tvmpd-no-such-daemon.sock", "default Unix socket"), ("127.0.0.1:1", "default TCP")]
    code = run_proxy(tried, io.BytesIO(REQUEST), io.BytesIO(), err)
    assert code == EXIT_TRANSPORT
    line, = err.getvalue().splitlines()
    assert line.startswith("ERROR: ") and "/tmp/tvmpd-no-such-daemon.sock" in line and "127.0.0.1:1" in line
    assert "tvmpd serve" in line


def test_five_lines_with_or_without_trailing_newline_and_open_stdin():
    five = b'{"a":1}\n[1]\n{}\nnull\n{}'
    assert read_job(io.BytesIO(five))[0] == ['{"a":1}', "[1]", "{}", "null", "{}"]
    # a writer that keeps stdin open after five lines: reading stops after the fifth
    assert read_job(io.BytesIO(five + b"\nnot read\n"))[0][4] == "{}"
    assert read_job(io.BytesIO(b'{"a":1}\n[1]\n{}\n12\n{}\n'))[1] == 12


@pytest.mark.parametrize("stdin, expect", [
    (b"", "empty input"),
    (b"  \n", "empty input"),
    (b"garbage", "not valid JSON"),
    (b"\xff\xfe\n", "not UTF-8"),
    (JOB[: len(JOB) // 2], "truncated"),
    (b'{"program": {}, "claim": {}, "non_determinism": {}, "env_vars": {}}', "max_log2_padded_height"),
    (b'{"a":1}\n[1]\n', "got 2 line(s)"),
    (b'{"a":1}\n[1]\n{}\nnul\n{}', "line 4 (max log2 padded height)"),
])
def test_bad_stdin_is_one_error_line(stdin, expect):
    with pytest.raises(JobInputError, match=expect.replace("(", r"\(").replace(")", r"\)")):
        read_job(io.BytesIO(stdin))
    err = io.StringIO()
    assert run_proxy("/nonexistent", io.BytesIO(stdin), io.BytesIO(), err) == EXIT_ERROR
    line, = err.getvalue().splitlines()
    assert line.startswith("ERROR: ") and expect in line
