"""TVMP/TVMR wire protocol, byte-compatible with the seed's prover server (see DESIGN.md).

Request: b"TVMP" magic (u32 LE 0x54564D50), version 1, job_id, then five u32-length-prefixed UTF-8 JSON
strings (claim, program, non-determinism, max_log2_padded_height, env vars).
Response: magic 0x54564D52, status (0 OK, 1 PADDED_HEIGHT_TOO_BIG, 2 ERROR), job_id, then
OK: u64 length + bincode(Proof); TOO_BIG: u32 observed log2; ERROR: u32 length + UTF-8 message.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Sequence
from dataclasses import dataclass

MAGIC_REQUEST = 0x54564D50
MAGIC_RESPONSE = 0x54564D52
PROTOCOL_VERSION = 1

STATUS_OK = 0
STATUS_TOO_BIG = 1
STATUS_ERROR = 2

DEFAULT_MAX_FRAME = 1 << 30
FIELD_NAMES = ("claim", "program", "non-determinism", "max_log2_padded_height", "env vars")
MAX_ERROR_MESSAGE = 1 << 20


class ProtocolError(Exception):
    """A request frame that cannot be served; `reply` says whether an ERROR answer should still be sent."""

    def __init__(self, message: str, reply: bool, job_id: int = 0):
        super().__init__(message)
        self.reply = reply
        self.job_id = job_id


@dataclass
class Request:
    """One decoded TVMP request: the job id and the five JSON texts, verbatim."""

    job_id: int
    claim: str
    program: str
    non_determinism: str
    max_log2: str
    env_vars: str

    def fields(self) -> list[str]:
        return [self.claim, self.program, self.non_determinism, self.max_log2, self.env_vars]

    def size(self) -> int:
        return 12 + sum(4 + len(f.encode()) for f in self.fields())


@dataclass
class Response:
    """One decoded TVMR response: status, job id and exactly one of proof bytes, observed log2, message."""

    status: int
    job_id: int
    proof: bytes = b""
    log2: int = 0
    message: str = ""


def encode_request(job_id: int, fields: Sequence[str]) -> bytes:
    """Serialise a request frame from the five JSON texts."""
    if len(fields) != 5:
        raise ValueError(f"a request has 5 JSON fields, got {len(fields)}")
    if not 0 <= job_id < 2**32:
        raise ValueError(f"job_id {job_id} is not a u32")
    out = [struct.pack("<III", MAGIC_REQUEST, PROTOCOL_VERSION, job_id)]
    for f in fields:
        data = f.encode()
        out.append(struct.pack("<I", len(data)))
        out.append(data)
    return b"".join(out)


def encode_ok(job_id: int, proof: bytes) -> bytes:
    """OK response carrying bincode(Proof) bytes."""
    return struct.pack("<IIIQ", MAGIC_RESPONSE, STATUS_OK, job_id, len(proof)) + proof


def encode_too_big(job_id: int, observed_log2: int) -> bytes:
    """PADDED_HEIGHT_TOO_BIG response with the observed log2 of the padded height."""
    return struct.pack("<IIII", MAGIC_RESPONSE, STATUS_TOO_BIG, job_id, observed_log2)


def encode_error(job_id: int, message: str) -> bytes:
    """ERROR response with a UTF-8 message (cut to 1 MiB, which is what clients accept)."""
    data = message.encode()[:MAX_ERROR_MESSAGE]
    return struct.pack("<IIII", MAGIC_RESPONSE, STATUS_ERROR, job_id, len(data)) + data


def encode_proof_bincode(elements) -> bytes:
    """bincode(Proof): u64 element count, then each BFieldElement as u64, all little-endian (the one
    framing helper, stages.proof.to_bincode)."""
    from tvmpd.stages.proof import to_bincode  # here, not at the top: `tvmpd proxy` imports this module

    return to_bincode(elements)


async def read_request(reader: asyncio.StreamReader, max_frame: int = DEFAULT_MAX_FRAME) -> Request:
    """Read one request frame; ProtocolError on bad frames, asyncio.IncompleteReadError on early EOF.

    The total size is checked against `max_frame` from the length prefixes, before reading any body.
    """
    head = await reader.readexactly(12)
    magic, version, job_id = struct.unpack("<III", head)
    if magic != MAGIC_REQUEST:
        raise ProtocolError(f"invalid magic: expected 0x{MAGIC_REQUEST:08X}, got 0x{magic:08X}", reply=True)
    if version != PROTOCOL_VERSION:
        raise ProtocolError(f"unsupported protocol version {version} (expected {PROTOCOL_VERSION})",
                            reply=True, job_id=job_id)
    total = 12
    fields = []
    for name in FIELD_NAMES:
        (length,) = struct.unpack("<I", await reader.readexactly(4))
        total += 4 + length
        if total > max_frame:
            raise ProtocolError(f"request too large: {name} field of {length} bytes takes the frame past "
                                f"the limit of {max_frame} bytes", reply=True, job_id=job_id)
        data = await reader.readexactly(length)
        try:
            fields.append(data.decode("utf-8"))
        except UnicodeDecodeError:
            raise ProtocolError(f"invalid UTF-8 in the {name} field", reply=True, job_id=job_id) from None
    return Request(job_id, *fields)


async def read_request_header(reader: asyncio.StreamReader) -> int | None:
    """Read only magic, version and job id (used to refuse while draining); the job id or None."""
    head = await reader.readexactly(12)
    magic, version, job_id = struct.unpack("<III", head)
    if magic != MAGIC_REQUEST or version != PROTOCOL_VERSION:
        return None
    return job_id


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    chunks = []
    while n > 0:
        chunk = sock.recv(min(n, 1 << 20))
        if not chunk:
            raise ConnectionError("connection closed before the full response arrived")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def read_response(sock: socket.socket, max_proof: int = DEFAULT_MAX_FRAME) -> Response:
    """Read one TVMR response from a blocking socket; ValueError on a malformed response."""
    magic, status, job_id = struct.unpack("<III", _recv_exact(sock, 12))
    if magic != MAGIC_RESPONSE:
        raise ValueError(f"invalid response magic 0x{magic:08X}")
    if status == STATUS_OK:
        (length,) = struct.unpack("<Q", _recv_exact(sock, 8))
        if length > max_proof:
            raise ValueError(f"proof of {length} bytes exceeds the limit of {max_proof}")
        return Response(status, job_id, proof=_recv_exact(sock, length))
    if status == STATUS_TOO_BIG:
        (log2,) = struct.unpack("<I", _recv_exact(sock, 4))
        return Response(status, job_id, log2=log2)
    if status == STATUS_ERROR:
        (length,) = struct.unpack("<I", _recv_exact(sock, 4))
        if length > MAX_ERROR_MESSAGE:
            raise ValueError(f"error message of {length} bytes is absurd")
        return Response(status, job_id, message=_recv_exact(sock, length).decode("utf-8", "replace"))
    raise ValueError(f"unknown response status {status}")


def parse_address(address: str) -> tuple[str, str | tuple[str, int]]:
    """("unix", path) for an address starting with '/' (or '.'), else ("tcp", (host, port)) from HOST:PORT."""
    if address.startswith(("/", ".")):
        return "unix", address
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ValueError(f"address {address!r} is neither a Unix socket path nor HOST:PORT")
    return "tcp", (host.strip("[]"), int(port))


def connect(address: str, timeout: float | None = None) -> socket.socket:
    """A blocking socket connected to a daemon address (Unix path or HOST:PORT)."""
    kind, target = parse_address(address)
    if kind == "unix":
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(target)
        except OSError:
            sock.close()
            raise
        return sock
    return socket.create_connection(target, timeout=timeout)


def submit(address: str, job_id: int, fields: Sequence[str], timeout: float | None = None) -> Response:
    """Send one request to a daemon and wait for its answer (a small blocking client)."""
    with connect(address, timeout) as sock:
        sock.sendall(encode_request(job_id, fields))
        return read_response(sock)
