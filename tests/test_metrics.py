"""The Prometheus endpoint of a real daemon: scraped while a real proof runs and after it."""

from __future__ import annotations

import subprocess
import sys
import threading
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import VECTORS
from tests.daemon_harness import ROOT, Daemon
from tvmpd.supervisor import protocol


def request_fields(name: str) -> list[str]:
    return (VECTORS / "requests" / f"{name}.req").read_text().split("\n")[:5]


def scrape(d: Daemon) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted labels): value} from the daemon's /metrics."""
    url = f"http://{d.status()['listen']['metrics']}/metrics"
    with urllib.request.urlopen(url, timeout=10) as resp:
        text = resp.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def value(samples: dict, name: str, **labels) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def test_metrics_during_and_after_a_real_job():
    from tvmpd.stages.proof import from_bincode
    from tvmpd.stages.verifier import verify
    from tvmpd.stages.vm import Claim

    d = Daemon("--metrics", "127.0.0.1:0", cpu_workers=1, devices="")
    try:
        before = scrape(d)
        assert value(before, "tvmpd_ready") == 1 and value(before, "tvmpd_jobs_running") == 0
        assert value(before, "tvmpd_child_restarts_total", child="cpu0") == 0
        assert value(before, "tvmpd_host_memory_bytes", kind="total") > 0
        answers: dict = {}
        t = threading.Thread(target=lambda: answers.setdefault(1, d.submit(1, request_fields("halt"),
                                                                           timeout=300)))
        t.start()
        d.wait_for(lambda st: any(j["state"].startswith("proving:") for j in st["jobs"]), what="proving")
        during = scrape(d)
        assert value(during, "tvmpd_jobs_running") == 1 and value(during, "tvmpd_queue_depth") == 0
        assert value(during, "tvmpd_child_state", child="cpu0", kind="cpu", state="busy") == 1
        t.join(300)
        resp = answers[1]
        assert resp.status == protocol.STATUS_OK
        verify(Claim.from_json(request_fields("halt")[0]), from_bincode(resp.proof))
        assert d.submit(2, request_fields("sum_squares_2e12_max10")).status == protocol.STATUS_TOO_BIG
        after = scrape(d)
        assert value(after, "tvmpd_jobs_total", outcome="ok", route="cpu") == 1
        assert value(after, "tvmpd_jobs_total", outcome="too_big", route="cpu") == 1
        assert value(after, "tvmpd_jobs_running") == 0 and value(after, "tvmpd_queue_depth") == 0
        assert value(after, "tvmpd_events_total", event="accepted") == 2
        stage_counts = {dict(labels)["stage"]: v for (name, labels), v in after.items()
                        if name == "tvmpd_stage_seconds_count" and dict(labels)["log2"] == "8"}
        assert "FRI" in stage_counts and set(stage_counts.values()) == {1.0}, stage_counts
        assert value(after, "tvmpd_job_seconds_count", log2="8") == 1
    finally:
        assert d.stop() == 0


def test_metrics_refuse_a_remote_address_without_allow_remote(tmp_path):
    cmd = [sys.executable, "-m", "tvmpd", "serve", "--tcp", "127.0.0.1:0", "--unix", "",
           "--control", str(tmp_path / "c.sock"), "--metrics", "0.0.0.0:0", "--cpu-workers", "1"]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "refusing to serve metrics on non-loopback address" in out.stderr
