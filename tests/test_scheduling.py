"""The daemon's scheduling and liveness with real proofs: placement by predicted finish, a frozen child,
cancels in a row, half-closed clients."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import time
from pathlib import Path

import pytest

from tests.conftest import VECTORS
from tests.daemon_harness import Daemon
from tvmpd.supervisor import protocol
from tvmpd.supervisor.scheduler import cpu_pool_device

FINISH = re.compile(r"(\w+)=([0-9.e+]+)s")


def fields(name: str) -> list[str]:
    return (VECTORS / "requests" / f"{name}.req").read_text().split("\n")[:5]


def endless() -> list[str]:
    """A request whose program loops until it is stopped."""
    from tvmpd.stages.vm import Claim, Program

    program = Program.from_tasm("push 0 call loop halt loop: push 1 add recurse")
    return [Claim(program.digest()).to_json(), program.to_json(),
            '{"individual_tokens":[],"digests":[],"ram":{}}', "null", "{}"]


def read_answer(sock: socket.socket) -> protocol.Response:
    sock.settimeout(300)
    return protocol.read_response(sock)


def _worker(st: dict, name: str = "cpu0") -> dict:
    return next(c for c in st["children"] if c["name"] == name)


def test_half_closed_client_gets_its_proof():
    d = Daemon(cpu_workers=1, devices="")
    try:
        for address in (d.tcp, d.unix):
            with protocol.connect(address, timeout=30) as sock:
                sock.sendall(protocol.encode_request(5, fields("halt")))
                sock.shutdown(socket.SHUT_WR)  # as `nc -N` does
                resp = read_answer(sock)
            assert resp.status == protocol.STATUS_OK and resp.job_id == 5, resp
        assert d.status()["totals"]["ok"] == 2 and "abandoned" not in d.status()["totals"]
    finally:
        assert d.stop() == 0


def test_ten_cancels_in_a_row_leave_the_worker_warm_and_free():
    d = Daemon(cpu_workers=1, devices="")
    try:
        pid = _worker(d.status())["pid"]
        gaps = []
        for i in range(10):
            sock = protocol.connect(d.unix, timeout=30)
            sock.sendall(protocol.encode_request(100 + i, endless()))
            d.wait_for(lambda st: any(j["state"] == "executing" for j in st["jobs"]), what="the VM running")
            sock.close()  # the client goes away
            gone = time.monotonic()
            d.wait_for(lambda st: not st["jobs"] and _worker(st)["state"] == "idle", what="the cancel")
            gaps.append(time.monotonic() - gone)
        st = d.status()
        assert st["totals"]["abandoned"] == 10 and "child_restarts" not in st["totals"]
        assert _worker(st)["pid"] == pid
        assert max(gaps) < 2.0, gaps
        started = time.monotonic()
        resp = d.submit(200, fields("halt"), timeout=120)
        assert resp.status == protocol.STATUS_OK
        assert time.monotonic() - started < 60
    finally:
        assert d.stop() == 0


def test_a_frozen_child_is_detected_and_its_job_answered_once():
    d = Daemon("--hang-floor", "2", "--hang-margin", "1", cpu_workers=2, devices="")
    try:
        with protocol.connect(d.unix, timeout=30) as sock:
            sock.sendall(protocol.encode_request(9, fields("all_tables")))
            st = d.wait_for(lambda st: any(j["state"].startswith("proving:") and j["state"] != "proving:prove"
                                           for j in st["jobs"]), what="proving")
            (running,) = st["jobs"]
            victim = _worker(st, running["device"])
            os.kill(victim["pid"], signal.SIGSTOP)
            frozen = time.monotonic()
            st = d.wait_for(lambda st: st["totals"].get("retried") == 1, timeout=120,
                            what="the hang detected")
            detected = time.monotonic() - frozen
            resp = read_answer(sock)
        assert resp.status == protocol.STATUS_OK and resp.job_id == 9, resp
        # limit: max(floor 2 s, 1 x predicted) with numpy's prior for 2^10 (~7 s), plus the watchdog's tick
        assert detected < 20, detected
        log = d.log()
        assert f"child {victim['name']} pid={victim['pid']} died (no progress for" in log
        st = d.wait_children_idle()
        assert st["totals"]["ok"] == 1 and st["totals"]["child_restarts"] == 1
        assert _worker(st, victim["name"])["pid"] != victim["pid"]
    finally:
        assert d.stop() == 0


def test_burst_placed_by_predicted_finish_on_a_pocl_device_and_a_cpu_worker():
    from tvmpd.opencl.devices import cpu_device

    pocl = cpu_device()
    if pocl is None:
        pytest.skip("no OpenCL CPU device")
    d = Daemon(cpu_workers=1, devices=pocl.key)
    try:
        st = d.status()
        assert st["ready"], st
        classes = {c["name"]: c["speed_class"] for c in st["children"]}
        assert classes["cpu0"] == cpu_pool_device()[1] and classes["gpu0"].startswith("opencl-cpu:")
        burst = ["halt", "all_tables", "halt", "io_arith", "gcd", "all_tables"]
        socks = []
        for i, name in enumerate(burst):
            sock = protocol.connect(d.unix, timeout=30)
            sock.sendall(protocol.encode_request(i, fields(name)))
            socks.append(sock)
        answers = [read_answer(s) for s in socks]
        for s in socks:
            s.close()
        assert all(a.status == protocol.STATUS_OK for a in answers), answers
        placements = [line for line in d.log().splitlines() if "event=proving" in line]
        assert len(placements) == len(burst)
        used = set()
        for line in placements:
            chosen = re.search(r" device=(\w+)", line).group(1)
            finish = {name: float(t) for name, t in FINISH.findall(line.split("finish=", 1)[1])}
            assert set(finish) == {"cpu0", "gpu0"}, line
            assert finish[chosen] == min(finish.values()), line  # the earliest predicted finish
            used.add(chosen)
        assert d.status()["totals"]["ok"] == len(burst)
        saved = json.loads(Path(d.dir, "cache", "timings.json").read_text())  # kept across restarts
        for name in used:
            assert saved[classes[name]], saved
    finally:
        assert d.stop() == 0
