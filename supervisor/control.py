"""The control socket: msgpack maps, each framed by a u32 little-endian length, over a 0600 Unix socket.

Requests: {"cmd": "status"} and {"cmd": "drain"}; every answer is a map with "ok" (and "error" when not ok).
"""

from __future__ import annotations

import asyncio
import socket
import struct

import msgpack

MAX_CONTROL_FRAME = 16 << 20


def pack(msg: dict) -> bytes:
    data = msgpack.packb(msg)
    return struct.pack("<I", len(data)) + data


async def read_message(reader: asyncio.StreamReader) -> dict:
    """One framed msgpack map from an asyncio stream; ValueError if it is not one."""
    (length,) = struct.unpack("<I", await reader.readexactly(4))
    if length > MAX_CONTROL_FRAME:
        raise ValueError(f"control message of {length} bytes is too large")
    msg = msgpack.unpackb(await reader.readexactly(length))
    if not isinstance(msg, dict):
        raise ValueError("control message is not a map")
    return msg


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, commands: dict) -> None:
    """Serve one control connection: answer each request with commands[cmd](msg)."""
    try:
        while True:
            try:
                msg = await read_message(reader)
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            except ValueError as exc:
                writer.write(pack({"ok": False, "error": str(exc)}))
                return
            fn = commands.get(msg.get("cmd"))
            if fn is None:
                known = sorted(commands)
                answer = {"ok": False, "error": f"unknown command {msg.get('cmd')!r}; known: {known}"}
            else:
                answer = {"ok": True, **fn(msg)}
            writer.write(pack(answer))
            await writer.drain()
    finally:
        writer.close()


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("control socket closed")
        buf += chunk
    return buf


def request(path: str, msg: dict, timeout: float = 10.0) -> dict:
    """Send one control request and return the answer (blocking client for the CLI)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(path)
        sock.sendall(pack(msg))
        (length,) = struct.unpack("<I", _recv_exact(sock, 4))
        return msgpack.unpackb(_recv_exact(sock, length))
