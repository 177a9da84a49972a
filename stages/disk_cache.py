"""Files derived once per machine from our own sources (machine code, flattened circuits), so that a short
process loads them instead of rebuilding them. They live in $TVMPD_KERNEL_CACHE/host when that is set,
else in tvmpd's user cache directory (platformdirs: ~/.cache/tvmpd/host on Linux)."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

KERNEL_CACHE_ENV = "TVMPD_KERNEL_CACHE"


def cache_dir() -> Path:
    """The folder of the derived files (it may not exist yet)."""
    env = os.environ.get(KERNEL_CACHE_ENV)
    if env:
        return Path(env) / "host"
    import platformdirs

    return Path(platformdirs.user_cache_dir("tvmpd")) / "host"


_CHECK = 32  # bytes of SHA-256 in front of each file's data


def read(name: str) -> bytes | None:
    """The data stored under `name`, or None when the file is missing, unreadable or damaged (its checksum
    fails: machine code loaded from a damaged file could crash the process)."""
    try:
        blob = (cache_dir() / name).read_bytes()
    except OSError:
        return None
    data = blob[_CHECK:]
    return data if hashlib.sha256(data).digest() == blob[:_CHECK] else None


def write(name: str, data: bytes) -> None:
    """Store data under `name` atomically (other processes see all of it or nothing); a cache that cannot
    be written only costs the next process a rebuild, so errors are ignored."""
    folder = cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=folder)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(hashlib.sha256(data).digest() + data)
            os.replace(tmp, folder / name)
        except OSError:
            os.unlink(tmp)
            raise
    except OSError:
        pass


def read_or_make(name: str, make: Callable[[], bytes]) -> bytes:
    """The data stored under `name`, else make()'s, stored. One process per machine makes it at a time (a
    lock file): a first proof's processes (the caller and its warm-up helper) start together and would
    each compile the same machine code on a fresh machine."""
    data = read(name)
    if data is not None:
        return data
    with contextlib.ExitStack() as stack:
        try:
            cache_dir().mkdir(parents=True, exist_ok=True)
            lock = stack.enter_context(open(cache_dir() / f".{name}.lock", "w"))
            fcntl.flock(lock, fcntl.LOCK_EX)
        except OSError:
            pass  # no lock where the cache cannot be written: each process makes its own
        data = read(name)  # made by the process that held the lock
        if data is None:
            data = make()
            write(name, data)
    return data
