import asyncio
import struct

import pytest

from tests.conftest import load_json
from tvmpd.supervisor import protocol
from tvmpd.supervisor.jobs import (
    JobError,
    digest_hex,
    digest_values,
    force_cpu,
    parse_env_vars,
    parse_max_log2,
)

FIELDS = ['{"a":1}', '{"instructions":["Halt"]}', "{}", "null", "{}"]


def _read(data: bytes, max_frame: int = protocol.DEFAULT_MAX_FRAME, eof: bool = True):
    async def go():
        reader = asyncio.StreamReader()
        reader.feed_data(data)
        if eof:
            reader.feed_eof()
        return await protocol.read_request(reader, max_frame)

    return asyncio.run(go())


def test_request_round_trip():
    frame = protocol.encode_request(42, FIELDS)
    assert frame[:4] == b"PMVT"  # 0x54564D50 little-endian
    req = _read(frame)
    assert req.job_id == 42 and req.fields() == FIELDS and req.size() == len(frame)


def test_response_encodings():
    ok = protocol.encode_ok(7, b"\x01\x02")
    assert ok == struct.pack("<IIIQ", 0x54564D52, 0, 7, 2) + b"\x01\x02"
    assert protocol.encode_too_big(3, 12) == struct.pack("<IIII", 0x54564D52, 1, 3, 12)
    err = protocol.encode_error(5, "boom")
    assert err == struct.pack("<IIII", 0x54564D52, 2, 5, 4) + b"boom"


def test_proof_bincode():
    assert protocol.encode_proof_bincode([1, 2**64 - 2**32]) == (
        struct.pack("<Q", 2) + struct.pack("<QQ", 1, 2**64 - 2**32))


def test_bad_magic_and_version():
    frame = bytearray(protocol.encode_request(1, FIELDS))
    with pytest.raises(protocol.ProtocolError, match="invalid magic") as exc:
        _read(b"XXXX" + bytes(frame[4:]))
    assert exc.value.reply
    frame[4:8] = struct.pack("<I", 2)
    with pytest.raises(protocol.ProtocolError, match="unsupported protocol version 2") as exc:
        _read(bytes(frame))
    assert exc.value.job_id == 1


def test_frame_limit_checked_before_body():
    head = struct.pack("<IIII", protocol.MAGIC_REQUEST, 1, 9, 0xFFFFFFFF)
    with pytest.raises(protocol.ProtocolError, match="request too large") as exc:
        _read(head, eof=False)  # no body and no EOF: must answer from the length prefix alone
    assert exc.value.job_id == 9
    frame = protocol.encode_request(1, FIELDS)
    with pytest.raises(protocol.ProtocolError, match="too large"):
        _read(frame, max_frame=len(frame) - 1)
    assert _read(frame, max_frame=len(frame)).job_id == 1


def test_truncated_and_bad_utf8():
    frame = protocol.encode_request(1, FIELDS)
    with pytest.raises(asyncio.IncompleteReadError):
        _read(frame[:-3])
    bad = protocol.encode_request(1, FIELDS)[:12] + struct.pack("<I", 2) + b"\xff\xfe"
    with pytest.raises(protocol.ProtocolError, match="UTF-8"):
        _read(bad + protocol.encode_request(1, FIELDS)[12 + 4 + len(FIELDS[0]):])


def test_request_validation():
    with pytest.raises(ValueError):
        protocol.encode_request(1, FIELDS[:4])
    with pytest.raises(ValueError):
        protocol.encode_request(2**32, FIELDS)
    assert protocol.parse_address("/tmp/x.sock") == ("unix", "/tmp/x.sock")
    assert protocol.parse_address("127.0.0.1:5555") == ("tcp", ("127.0.0.1", 5555))
    with pytest.raises(ValueError):
        protocol.parse_address("nonsense")


def test_digest_forms_match_vectors():
    entry = load_json("expected.json")["requests"]["halt"]["program_digest"]
    assert digest_values(entry["hex"]) == entry["values"]
    assert digest_hex(entry["values"]) == entry["hex"]


def test_settings_lines():
    assert parse_max_log2("null") is None and parse_max_log2("10") == 10
    for bad in ('"x"', "1.5", "true", "300", "-1", "{"):
        with pytest.raises(JobError):
            parse_max_log2(bad)
    env = parse_env_vars('{"12": [["force_cpu", "1"], ["RAYON_NUM_THREADS", "3"]], "14": [["X", "y"]]}')
    assert env[12][1] == ("RAYON_NUM_THREADS", "3")
    assert force_cpu(env, 12) and not force_cpu(env, 14) and not force_cpu(env, 10)
    for bad in ("[]", '{"x": []}', '{"1": [["a"]]}', '{"1": "a"}'):
        with pytest.raises(JobError):
            parse_env_vars(bad)
