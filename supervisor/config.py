"""Daemon settings (defaults, the TOML file, sizes with units), default per-user paths, and log setup."""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
import tomllib
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
    max_cycles: int = 1 << 25  # see jobs.DEFAULT_MAX_CYCLES
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
    log_format: str = "text"  # "text" or "json" (one JSON object per line)
    drain_timeout_s: float = 0.0  # a drain still running after this stops at once (0 = wait for every job)
    metrics: str | None = None  # HOST:PORT of the Prometheus endpoint; None = off
    memory_mode: str = "auto"  # device children: auto (the memory model picks), full, half or lean
    keep_cosets: str = "auto"  # device children: tables whose coset values a proof keeps (auto: the model)


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
MEMORY_MODES = ("auto", "full", "half", "lean")  # stages/device_backend.py device_layout
MEMORY_MODE_ENV = "TVMPD_MEMORY_MODE"  # how a child learns the memory mode (and `tvmpd prove`'s variable)
KEEP_COSETS = ("auto", "none", "main", "aux", "both")  # stages/device_backend.py Layout.keep
KEEP_COSETS_ENV = "TVMPD_KEEP_COSETS"  # how a child learns the kept-cosets setting (and `tvmpd prove`'s)
LOG_FORMATS = ("text", "json")
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:I?B)?\s*$", re.IGNORECASE)


def parse_size(text: str | int) -> int:
    """Bytes from `1073741824`, `512M`, `64G`, `1.5GiB` (binary units: K = 1024); ValueError otherwise."""
    if isinstance(text, int):
        if text < 0:
            raise ValueError(f"a size cannot be negative: {text}")
        return text
    m = _SIZE.match(str(text))
    if not m:
        raise ValueError(f"{text!r} is not a size (bytes, or a number with K, M, G or T, e.g. 64G)")
    return int(float(m.group(1)) * _UNITS[m.group(2).upper()])


def default_config_path() -> Path:
    """$XDG_CONFIG_HOME/tvmpd/tvmpd.toml (else ~/.config/tvmpd/tvmpd.toml): read when it exists."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "tvmpd" / "tvmpd.toml"


def load_toml(path: Path, known: set[str]) -> dict:
    """The settings of a TOML file as {option name: value} (dashes or underscores in keys, a list of
    devices as an array or a comma-separated string); ValueError naming the file for unknown keys or
    bad TOML."""
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read config {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: not valid TOML: {exc}") from None
    section = data.get("serve", data) if isinstance(data.get("serve"), dict) else data
    out = {}
    for key, value in section.items():
        name = key.replace("-", "_")
        if name not in known:
            raise ValueError(f"{path}: unknown setting {key!r} (known: {', '.join(sorted(known))})")
        if isinstance(value, list):
            value = ",".join(str(v) for v in value)
        out[name] = value
    return out


class ContextFilter(logging.Filter):
    """Adds this process's context (a child's name, the job it runs) to every record."""

    def __init__(self) -> None:
        super().__init__()
        self.context: dict[str, object] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        for k, v in self.context.items():
            if not hasattr(record, k):
                setattr(record, k, v)
        return True


class TextFormatter(logging.Formatter):
    """`2026-01-01T00:00:00.000Z INFO [child=cpu0 job=3] message`; the bracket only in a child."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s.%(msecs)03dZ %(levelname)s %(ctx)s%(message)s", "%Y-%m-%dT%H:%M:%S")
        self.converter = time.gmtime

    def format(self, record: logging.LogRecord) -> str:
        ctx = " ".join(f"{k}={getattr(record, k)}" for k in ("child", "job")
                       if getattr(record, k, None) is not None)
        record.ctx = f"[{ctx}] " if ctx else ""
        return super().format(record)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, msg, plus a job event's fields and the process context."""

    def format(self, record: logging.LogRecord) -> str:
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"
        out: dict[str, object] = {"ts": ts, "level": record.levelname, "msg": record.getMessage()}
        for k in ("child", "job"):
            if getattr(record, k, None) is not None:
                out[k] = getattr(record, k)
        out.update(getattr(record, "fields", None) or {})
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


LOG_CONTEXT = ContextFilter()


def setup_logging(level: str = "INFO", fmt: str = "text") -> None:
    """One line per event on stderr with a UTC timestamp, as text or JSON."""
    if level.upper() not in LOG_LEVELS:
        raise ValueError(f"log level {level!r} is not one of {', '.join(LOG_LEVELS)}")
    if fmt not in LOG_FORMATS:
        raise ValueError(f"log format {fmt!r} is not one of {', '.join(LOG_FORMATS)}")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(LOG_CONTEXT)
    root = logging.getLogger("tvmpd")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
