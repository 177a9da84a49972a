"""Prometheus metrics: job outcomes and stage durations as they happen, the daemon's state at each scrape.

Counters and histograms are updated by the scheduler through job_finished() and stages_finished(); gauges
(queue, running jobs, readiness, children, memory) are read from the daemon's status snapshot when
Prometheus scrapes, on the event loop, so a scrape always sees one consistent state. The endpoint is a
minimal HTTP responder on the daemon's own event loop (no thread), off unless --metrics is given.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

log = logging.getLogger("tvmpd")

# durations from 1/64 s to about 2.3 h, one bucket per power of two
LOG2_BUCKETS = tuple(2.0 ** k for k in range(-6, 14))
REQUEST_TIMEOUT_S = 5.0

JOBS = Counter("tvmpd_jobs", "Jobs answered, by outcome (ok, too_big, error, abandoned, stopped) and route "
               "(where the job last ran: cpu pool, device child, or none)", ["outcome", "route"],
               registry=None)
JOB_SECONDS = Histogram("tvmpd_job_seconds", "Time from accepting a job to answering it, by log2 padded "
                        "height", ["log2"], buckets=LOG2_BUCKETS, registry=None)
STAGE_SECONDS = Histogram("tvmpd_stage_seconds", "Duration of each proving stage of completed jobs, by "
                          "stage and log2 padded height", ["stage", "log2"], buckets=LOG2_BUCKETS,
                          registry=None)


def route_of(child_name: str | None) -> str:
    """The route label of a child name: cpu0 -> cpu, gpu1 -> device, None -> none."""
    if not child_name:
        return "none"
    return "cpu" if child_name.startswith("cpu") else "device"


def job_finished(outcome: str, child_name: str | None, log2: int | None, seconds: float) -> None:
    """Count one answered job."""
    JOBS.labels(outcome, route_of(child_name)).inc()
    JOB_SECONDS.labels("none" if log2 is None else str(log2)).observe(seconds)


def stages_finished(log2: int, stages: dict[str, float]) -> None:
    """Record the stage durations of one proved job."""
    for stage, seconds in stages.items():
        STAGE_SECONDS.labels(stage, str(log2)).observe(seconds)


class StateCollector:
    """Gauges from the daemon's status snapshot, read at scrape time."""

    def __init__(self, status: Callable[[], dict]):
        self.status = status

    def describe(self):
        return []  # names are not checked for clashes: nothing else is registered beside these

    def collect(self):
        st = self.status()
        yield GaugeMetricFamily("tvmpd_ready", "1 when every child that can run is warm",
                                value=int(st["ready"]))
        yield GaugeMetricFamily("tvmpd_draining", "1 while draining", value=int(st["draining"]))
        yield GaugeMetricFamily("tvmpd_queue_depth", "Jobs accepted and not yet running",
                                value=len(st["queue"]))
        yield GaugeMetricFamily("tvmpd_jobs_running", "Jobs executing or proving", value=len(st["running"]))
        yield GaugeMetricFamily("tvmpd_connections", "Open job connections", value=st.get("connections", 0))
        yield GaugeMetricFamily("tvmpd_uptime_seconds", "Seconds since the daemon started",
                                value=st["uptime_s"])
        restarts = CounterMetricFamily("tvmpd_child_restarts", "Restarts of each child", labels=["child"])
        state = GaugeMetricFamily("tvmpd_child_state", "1 for the state each child is in",
                                  labels=["child", "kind", "state"])
        memory = GaugeMetricFamily("tvmpd_device_memory_bytes", "Each child's device memory: total, capacity "
                                   "(total less others' use), reserved by jobs, free as measured",
                                   labels=["child", "kind"])
        for c in st["children"]:
            restarts.add_metric([c["name"]], c["restarts"])
            state.add_metric([c["name"], c["kind"], c["state"]], 1)
            if c["kind"] == "device":
                for kind, key in (("total", "mem_total"), ("capacity", "mem_capacity"),
                                  ("reserved", "mem_reserved"), ("free", "mem_free")):
                    if c.get(key) is not None:
                        memory.add_metric([c["name"], kind], c[key])
        yield restarts
        yield state
        yield memory
        host = GaugeMetricFamily("tvmpd_host_memory_bytes", "Host memory: total, available, reserved by jobs",
                                 labels=["kind"])
        for kind in ("total", "available", "reserved"):
            host.add_metric([kind], st["memory"][f"host_{kind}"])
        yield host
        events = CounterMetricFamily("tvmpd_events", "The daemon's running totals (accepted jobs, refused "
                                     "connections, bad frames, retries, child restarts ...)",
                                     labels=["event"])
        for event, n in sorted(st["totals"].items()):
            events.add_metric([event], n)
        yield events


def make_registry(status: Callable[[], dict]) -> CollectorRegistry:
    """A registry with the job metrics and the state read from `status` at each scrape."""
    registry = CollectorRegistry()
    for metric in (JOBS, JOB_SECONDS, STAGE_SECONDS):
        registry.register(metric)
    registry.register(StateCollector(status))
    return registry


async def start_endpoint(host: str, port: int, registry: CollectorRegistry) -> asyncio.AbstractServer:
    """Serve `GET /metrics` (and `/`) in the Prometheus text format on the running event loop."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await asyncio.wait_for(reader.readline(), REQUEST_TIMEOUT_S)
            while True:  # headers, up to the blank line
                header = await asyncio.wait_for(reader.readline(), REQUEST_TIMEOUT_S)
                if header in (b"\r\n", b"\n", b""):
                    break
            parts = line.decode("latin-1").split()
            path = parts[1].split("?", 1)[0] if len(parts) >= 2 else ""
            if len(parts) >= 2 and parts[0] == "GET" and path in ("/metrics", "/"):
                body, status, ctype = generate_latest(registry), "200 OK", CONTENT_TYPE_LATEST
            else:
                body, status, ctype = b"not found: try /metrics\n", "404 Not Found", "text/plain"
            writer.write(f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
                         f"Connection: close\r\n\r\n".encode() + body)
            await writer.drain()
        except (TimeoutError, ConnectionError, UnicodeDecodeError) as exc:
            log.debug("metrics request failed: %s", exc)
        except Exception:  # a scrape must never take the daemon down
            log.exception("metrics: scrape failed")
        finally:
            writer.close()

    return await asyncio.start_server(handle, host, port)
