"""Daemon settings, default per-user paths, and log setup."""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_TCP = "127.0.0.1:5555"
DEFAULT_MAX_FRAME = 1 << 30
DEFAULT_MAX_CONNECTIONS = 256


def runtime_dir() -> Path:
    """Per-user directory for the daemon's sockets: $XDG_RUNTIME_DIR/tvmpd, else /tmp/tvmpd-<uid>."""
    base = os.environ.get("XDG_RUNTIME_DIR")
    return Path(base) / "tvmpd" if base else Path(f"/tmp/tvmpd-{os.getuid()}")


def default_control_path() -> str:
    """Where `tvmpd status` / `drain` find a daemon started with default settings."""
    return str(runtime_dir() / "control.sock")


def default_unix_path() -> str:
    """The job socket a default daemon listens on next to its TCP port."""
    return str(runtime_dir() / "prover.sock")


def ensure_private_dir(path: str) -> None:
    """Create the parent folder of a socket path, mode 0700 when we create it."""
    parent = Path(path).parent
    if not parent.exists():
        parent.mkdir(mode=0o700, parents=True, exist_ok=True)


@dataclass
class ServeConfig:
    """Everything `tvmpd serve` takes; defaults are the documented ones."""

    tcp: str | None = DEFAULT_TCP
    unix: str | None = field(default_factory=default_unix_path)
    control: str = field(default_factory=default_control_path)
    allow_remote: bool = False
    devices: list[str] | None = None  # OpenCL keys ("0:1") or "cpu"; None = every GPU
    num_gpus: int | None = None
    cpu_workers: int = 0  # 0 = automatic
    cpu_max_log2: int | None = None  # None: earliest predicted finish; N: CPU pool up to 2^N, devices above
    max_jobs: int = 0  # 0 = one per child
    max_frame: int = DEFAULT_MAX_FRAME
    max_cycles: int = 1 << 30
    read_timeout_s: float = 30.0  # a request must arrive completely within this
    max_connections: int = DEFAULT_MAX_CONNECTIONS  # job connections open at once; more are refused
    host_memory: int = 0  # bytes jobs may hold on the host; 0 = 90% of RAM
    hang_floor_s: float = 60.0  # a busy child may always go this long without progress
    hang_margin: float = 4.0  # ... or this many times its task's predicted time, if longer
    cache_dir: Path | None = None  # timing table; None: $TVMPD_CACHE_DIR or $XDG_CACHE_HOME/tvmpd
    restart_backoff_s: float = 0.5
    restart_backoff_max_s: float = 30.0
    cancel_grace_s: float = 30.0  # a child asked to stop an abandoned job is killed if still at it then
    omp_threads: int | None = None
    omp_init: bool | None = None
    log_level: str = "INFO"


def setup_logging(level: str = "INFO") -> None:
    """One line per event on stderr, with a UTC timestamp."""
    handler = logging.StreamHandler(sys.stderr)
    fmt = logging.Formatter("%(asctime)s.%(msecs)03dZ %(levelname)s %(message)s", "%Y-%m-%dT%H:%M:%S")
    fmt.converter = __import__("time").gmtime
    handler.setFormatter(fmt)
    root = logging.getLogger("tvmpd")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
