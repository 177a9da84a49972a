"""Faults at a child's stage boundaries: `ACTION@STAGE[@always]`, comma-separated.

ACTION is `kill` (SIGKILL itself), `hang` (sleep an hour: no more progress) or `slow=SECONDS`; STAGE a stage
name as the child reports it (`execute`, `main table`, `prove`, a prover stage). Without `@always` a kill or
a hang happens once per daemon (the first process to get there leaves a marker file in the fault
directory), so the job's retry runs clean; a slow stage is slow every time.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Fault:
    """One fault: what to do at which stage."""

    action: str
    stage: str
    always: bool
    seconds: float = 0.0


def parse(spec: str) -> list[Fault]:
    """The faults of a TVMPD_FAULTS value."""
    faults = []
    for item in filter(None, (s.strip() for s in spec.split(","))):
        parts = item.split("@")
        action, stage, always = parts[0], parts[1], parts[2:] == ["always"]
        name, _, seconds = action.partition("=")
        if name not in ("kill", "hang", "slow"):
            raise ValueError(f"unknown fault {item!r}")
        faults.append(Fault(name, stage, always, float(seconds or 0)))
    return faults


def _first_time(marker_dir: str, fault: Fault) -> bool:
    path = Path(marker_dir) / f"fault-{fault.action}-{fault.stage.replace(' ', '_')}"
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return False
    os.close(fd)
    return True


def at_stage(stage: str, faults: list[Fault], marker_dir: str) -> None:
    """Apply the faults that name this stage."""
    for fault in faults:
        if fault.stage != stage:
            continue
        if fault.action == "slow":
            time.sleep(fault.seconds)
        elif fault.always or _first_time(marker_dir, fault):
            if fault.action == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            time.sleep(3600)


def install(spec: str, marker_dir: str) -> None:
    """Wrap the child's two task functions so that their stage callback applies the faults."""
    from tvmpd.supervisor import children

    faults = parse(spec)
    run_execute, run_prove = children._run_execute, children._run_prove

    def faulty(stage):
        def report(name: str, *args, **kwargs) -> None:
            stage(name, *args, **kwargs)
            at_stage(name, faults, marker_dir)
        return report

    children._run_execute = lambda msg, stage, ask, progress: run_execute(msg, faulty(stage), ask, progress)
    children._run_prove = lambda msg, device_key, stage: run_prove(msg, device_key, faulty(stage))
