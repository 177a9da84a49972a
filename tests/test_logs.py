"""Daemon logs: --log-format json carries the job events' fields, failures are WARNING or ERROR, and
child-side lines name their child and job."""

from __future__ import annotations

import json
import logging
import signal

from tests.conftest import VECTORS
from tests.daemon_harness import Daemon
from tvmpd.supervisor import protocol
from tvmpd.supervisor.config import JsonFormatter, TextFormatter
from tvmpd.supervisor.scheduler import event_level


def request_fields(name: str) -> list[str]:
    return (VECTORS / "requests" / f"{name}.req").read_text().split("\n")[:5]


def test_json_logs_of_a_real_daemon():
    d = Daemon("--log-format", "json", "--log-level", "debug", cpu_workers=1, devices="")
    try:
        assert d.submit(1, request_fields("fail_assert")).status == protocol.STATUS_ERROR
        assert d.submit(2, request_fields("halt")).status == protocol.STATUS_OK
        d.proc.send_signal(signal.SIGTERM)
        assert d.proc.wait(30) == 0
        text = d.log()
    finally:
        assert d.stop() == 0
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]  # every line is JSON
    events = {(r["seq"], r["event"]): r for r in lines if "event" in r}
    failed, done = events[(1, "failed")], events[(2, "done")]
    assert failed["level"] == "WARNING" and failed["outcome"] == "error" and failed["id"] == 1
    assert done["level"] == "INFO" and done["outcome"] == "ok" and done["log2"] == 8
    assert events[(2, "accepted")]["peer"] == "unix"
    child_lines = [r for r in lines if r.get("child") == "cpu0" and r.get("job") == 2]
    assert any(r["level"] == "DEBUG" and "task started" in r["msg"] for r in child_lines), child_lines
    assert all(set(r) >= {"ts", "level", "msg"} for r in lines)


def test_text_lines_carry_the_child_context_and_json_the_fields():
    record = logging.LogRecord("tvmpd", logging.WARNING, __file__, 1, "job seq=%d failed", (3,), None)
    record.child, record.job, record.fields = "gpu0", 3, {"seq": 3, "event": "failed"}
    text = TextFormatter().format(record)
    assert text.endswith("WARNING [child=gpu0 job=3] job seq=3 failed")
    obj = json.loads(JsonFormatter().format(record))
    assert obj["msg"] == "job seq=3 failed" and obj["child"] == "gpu0" and obj["event"] == "failed"


def test_failure_levels():
    assert event_level("failed", {"outcome": "error", "reason": "internal"}) == logging.ERROR
    assert event_level("failed", {"outcome": "error", "reason": "bad input"}) == logging.WARNING
    assert event_level("failed", {"outcome": "abandoned"}) == logging.INFO
    assert event_level("retry", {}) == logging.WARNING
    assert event_level("done", {"outcome": "ok"}) == logging.INFO
