"""Shared-memory blocks that carry arrays between the supervisor and its children.

A block is a `multiprocessing.shared_memory.SharedMemory` segment holding one C-contiguous array, described
in messages by a small dict {name, dtype, shape} (msgpack friendly). Names are
`tvmpd_<supervisor pid>_<job seq>_<suffix>`, so the supervisor can unlink every block of a job by prefix,
also the ones a child created just before it died. Blocks are kept out of Python's resource tracker: their
lifetime is the job's, and the supervisor alone unlinks them.
"""

from __future__ import annotations

import mmap
import os
from multiprocessing import resource_tracker, shared_memory

import numpy as np

SHM_DIR = "/dev/shm"
PREFIX = "tvmpd_"


def job_prefix(supervisor_pid: int, job_seq: int) -> str:
    """Name prefix of every block that belongs to one job of one supervisor."""
    return f"{PREFIX}{supervisor_pid}_{job_seq}_"


def _untrack(shm: shared_memory.SharedMemory) -> None:
    # Python 3.11 registers attachments as well as creations; the supervisor owns the lifetime instead.
    try:
        resource_tracker.unregister(shm._name, "shared_memory")  # noqa: SLF001
    except Exception:  # the tracker may be absent in odd environments; nothing to undo then
        pass


def put_array(name: str, array: np.ndarray) -> dict:
    """Copy an array into a new block called `name`; returns its descriptor."""
    arr = np.ascontiguousarray(array)
    shm = shared_memory.SharedMemory(name=name, create=True, size=max(1, arr.nbytes))
    _untrack(shm)
    try:
        view = np.ndarray(arr.shape, dtype=arr.dtype, buffer=shm.buf)
        view[...] = arr
        del view
    finally:
        shm.close()
    return {"name": name, "dtype": arr.dtype.str, "shape": list(arr.shape)}


def get_array(desc: dict) -> np.ndarray:
    """A private copy of the array a descriptor names (the block itself stays untouched)."""
    shm = shared_memory.SharedMemory(name=desc["name"], create=False)
    _untrack(shm)
    try:
        view = np.ndarray(tuple(desc["shape"]), dtype=np.dtype(desc["dtype"]), buffer=shm.buf)
        out = view.copy()
        del view
    finally:
        shm.close()
    return out


def _mapped(name: str, shape: tuple[int, ...], dtype: np.dtype, writable: bool) -> np.ndarray:
    """An array over a block's memory. The mapping is prefaulted in one go (MAP_POPULATE: faulting a
    gigabyte page by page costs about a second) and lives as long as any view of it, so nothing is ever
    left pointing at unmapped memory, also when the block is unlinked meanwhile."""
    nbytes = int(np.prod(shape)) * dtype.itemsize
    if nbytes == 0:
        return np.zeros(shape, dtype=dtype)
    fd = os.open(os.path.join(SHM_DIR, name), os.O_RDWR if writable else os.O_RDONLY)
    try:
        prot = mmap.PROT_READ | (mmap.PROT_WRITE if writable else 0)
        mapping = mmap.mmap(fd, nbytes, flags=mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0), prot=prot)
    finally:
        os.close(fd)
    return np.ndarray(shape, dtype=dtype, buffer=mapping)


def create_array(name: str, shape: tuple[int, ...], dtype=np.uint64) -> tuple[dict, np.ndarray]:
    """A new block called `name` for an array of this shape, as (descriptor, writable view): the producer
    writes straight into shared memory instead of copying a finished array in (put_array)."""
    dtype = np.dtype(dtype)
    size = max(1, int(np.prod(shape)) * dtype.itemsize)
    shm = shared_memory.SharedMemory(name=name, create=True, size=size)
    _untrack(shm)
    shm.close()
    return {"name": name, "dtype": dtype.str, "shape": list(shape)}, _mapped(name, tuple(shape), dtype, True)


def attached(desc: dict) -> np.ndarray:
    """A read-only view of the array a descriptor names, mapped rather than copied (a proving child reads a
    2^21-row main table, gigabytes, straight from the block)."""
    return _mapped(desc["name"], tuple(desc["shape"]), np.dtype(desc["dtype"]), False)


def put_bytes(name: str, data: bytes) -> dict:
    """A block holding raw bytes (used for request texts)."""
    return put_array(name, np.frombuffer(data, dtype=np.uint8))


def get_bytes(desc: dict) -> bytes:
    """The bytes of a block made by put_bytes."""
    return get_array(desc).tobytes()


def unlink(name: str) -> bool:
    """Remove one block by name; False if it was already gone."""
    try:
        os.unlink(os.path.join(SHM_DIR, name))
    except FileNotFoundError:
        return False
    return True


def list_blocks(prefix: str = PREFIX) -> list[str]:
    """Names of the blocks in /dev/shm that start with `prefix`."""
    try:
        return sorted(n for n in os.listdir(SHM_DIR) if n.startswith(prefix))
    except FileNotFoundError:
        return []


def unlink_prefix(prefix: str) -> int:
    """Unlink every block whose name starts with `prefix`; returns how many went."""
    if not prefix.startswith(PREFIX) or len(prefix) <= len(PREFIX):
        raise ValueError(f"refusing to unlink by the broad prefix {prefix!r}")
    return sum(unlink(n) for n in list_blocks(prefix))


def reap_stale() -> list[str]:
    """Unlink blocks left by supervisors that no longer run (killed with SIGKILL, say); their names."""
    import psutil

    gone = []
    for name in list_blocks():
        pid = name[len(PREFIX):].split("_", 1)[0]
        if pid.isdigit() and not psutil.pid_exists(int(pid)):
            try:
                if unlink(name):
                    gone.append(name)
            except OSError:  # another user's block: not ours to remove
                pass
    return gone
