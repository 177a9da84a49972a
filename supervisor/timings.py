"""Predicted proving times per speed class and log2 padded height, learned from finished jobs.

A speed class names what proves ("numpy:host" for the numpy backend, "opencl:<device name>" for an OpenCL
device), so a table measured on one host carries over to a restart and to every child of the same kind.
Until a class has measurements, a prior of the form a + b * 2^log2 stands in (rough figures of this
project's own benchmarks); a class measured at some heights is scaled from the nearest one. The table is
kept as JSON in the cache directory across restarts.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path

log = logging.getLogger("tvmpd")

ALPHA = 0.3  # weight of a new measurement in the moving average
WARMUP = "warmup"  # the key under which a class's warm-up time is kept
# (seconds, seconds per row) by backend kind, before anything is measured: numpy proves 2^10 in ~7 s and
# 2^12 in ~25 s on a small host; pocl 2^12 in ~12 s; a data-centre GPU 2^21 in ~7 s.
PRIORS = {"numpy": (0.8, 6e-3), "opencl-cpu": (1.0, 2.9e-3), "opencl": (0.5, 3e-6)}
WARMUP_PRIORS = {"numpy": 1.0, "opencl-cpu": 120.0, "opencl": 150.0}


def default_cache_dir() -> Path:
    """$TVMPD_CACHE_DIR, else $XDG_CACHE_HOME/tvmpd, else ~/.cache/tvmpd."""
    env = os.environ.get("TVMPD_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tvmpd"


def prior_kind(speed_class: str) -> str:
    """The PRIORS key of a speed class."""
    return speed_class.split(":", 1)[0] if speed_class.split(":", 1)[0] in PRIORS else "numpy"


class TimingTable:
    """Moving averages of proving seconds by (speed class, log2), with priors where nothing is measured."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.table: dict[str, dict[str, float]] = {}
        if path is not None and path.exists():
            try:
                loaded = json.loads(path.read_text())
                self.table = {str(c): {str(k): float(v) for k, v in row.items()} for c, row in loaded.items()}
            except (OSError, ValueError, AttributeError) as exc:
                log.warning("timing table %s unreadable (%s): starting from priors", path, exc)

    def predict(self, speed_class: str, log2: int) -> float:
        """Predicted seconds to prove 2^log2 rows on this class."""
        row = self.table.get(speed_class, {})
        if str(log2) in row:
            return row[str(log2)]
        measured = sorted((abs(int(k) - log2), int(k)) for k in row if k.isdigit())
        if measured:
            near = measured[0][1]
            return row[str(near)] * 2.0 ** (log2 - near)
        a, b = PRIORS[prior_kind(speed_class)]
        return a + b * (1 << log2)

    def predict_warmup(self, speed_class: str) -> float:
        """Predicted seconds for a child of this class to get ready."""
        row = self.table.get(speed_class, {})
        return row.get(WARMUP, WARMUP_PRIORS[prior_kind(speed_class)])

    def record(self, speed_class: str, key: int | str, seconds: float) -> None:
        """Fold one measurement (a proof at log2 `key`, or WARMUP) into the table and save it."""
        row = self.table.setdefault(speed_class, {})
        old = row.get(str(key))
        row[str(key)] = seconds if old is None else (1 - ALPHA) * old + ALPHA * seconds
        self.save()

    def save(self) -> None:
        """Write the table atomically; a failure is logged, never fatal."""
        if self.path is None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".timings")
            with os.fdopen(fd, "w") as f:
                json.dump(self.table, f, indent=1, sort_keys=True)
            os.replace(tmp, self.path)
        except OSError as exc:
            log.warning("cannot save the timing table to %s: %s", self.path, exc)
