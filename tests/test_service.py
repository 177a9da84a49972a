"""The daemon as a service: signals to the whole process group, a SIGKILLed supervisor, systemd
notifications, SIGHUP."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import tempfile
import threading
import time

import psutil

from tests.conftest import VECTORS
from tests.daemon_harness import Daemon
from tvmpd.supervisor import protocol, shm


def request_fields(name: str) -> list[str]:
    return (VECTORS / "requests" / f"{name}.req").read_text().split("\n")[:5]


def submit_in_thread(d: Daemon, job_id: int, answers: dict) -> threading.Thread:
    def go() -> None:
        try:
            answers[job_id] = d.submit(job_id, request_fields("halt"), timeout=60)
        except Exception as exc:  # noqa: BLE001 - the test looks at what came back
            answers[job_id] = exc

    t = threading.Thread(target=go, daemon=True)
    t.start()
    return t


def child_pids(d: Daemon) -> list[int]:
    return [c["pid"] for c in d.status()["children"] if c["pid"]]


def test_sigterm_to_the_whole_group_drains_the_job_without_a_restart():
    """systemd's KillMode=control-group (and a terminal) signal every process: the children ignore it and
    the supervisor drains, so the running job is answered, not restarted."""
    d = Daemon("--cpu-max-log2", "0", faults="slow=2@prove", cpu_workers=1)
    answers: dict = {}
    t = submit_in_thread(d, 11, answers)
    d.wait_for(lambda st: any(j["state"] == "proving:prove" for j in st["jobs"]),
               what="the job in its slow stage")
    pids = child_pids(d)
    os.killpg(d.proc.pid, signal.SIGTERM)
    t.join(60)
    resp = answers[11]
    assert isinstance(resp, protocol.Response) and resp.status == protocol.STATUS_OK, resp
    assert d.proc.wait(30) == 0
    log = d.log()
    assert "died" not in log and "retry" not in log, log
    assert d.stop() == 0
    time.sleep(0.5)
    assert not [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"]


def test_sigkilled_supervisor_leaves_no_child_and_no_block_after_the_next_start():
    d = Daemon("--cpu-max-log2", "0", faults="slow=60@prove", cpu_workers=1)
    answers: dict = {}
    t = submit_in_thread(d, 12, answers)
    d.wait_for(lambda st: any(j["state"] == "proving:prove" for j in st["jobs"]),
               what="the job in its slow stage")
    pids = child_pids(d)
    assert pids and shm.list_blocks(f"{shm.PREFIX}{d.proc.pid}_"), "the job holds a block"
    d.proc.kill()
    d.proc.wait(10)
    deadline = time.monotonic() + 5
    alive = pids
    while alive and time.monotonic() < deadline:
        time.sleep(0.1)
        alive = [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != "zombie"]
    assert not alive, f"children outlived their supervisor: {alive}"
    t.join(10)
    assert not isinstance(answers.get(12), protocol.Response), "a killed daemon cannot have answered"
    d2 = Daemon(cpu_workers=1, devices="")
    try:
        assert not shm.list_blocks(f"{shm.PREFIX}{d.proc.pid}_")
        assert "unlinked" in d2.log() and "supervisors that are gone" in d2.log()
    finally:
        assert d2.stop() == 0
        d.logf.close()
        shutil.rmtree(d.dir, ignore_errors=True)


def test_systemd_notifications_and_sighup():
    """READY=1 once every child is warm, WATCHDOG=1 at half the period, STOPPING=1 on drain; SIGHUP keeps
    the daemon running."""
    folder = tempfile.mkdtemp(prefix="tvn", dir="/tmp")
    path = os.path.join(folder, "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(0.2)
    got: list[str] = []
    done = threading.Event()

    def drain() -> None:  # read as systemd does, from the start: the warm-up may outlast the socket's queue
        while not done.is_set():
            try:
                got.append(sock.recv(4096).decode())
            except TimeoutError:
                pass

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()

    def seen(word: str, timeout: float = 60) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(word in m for m in list(got)):
                return True
            time.sleep(0.05)
        return False

    try:
        d = Daemon(env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "400000"}, cpu_workers=1, devices="")
        assert seen("READY=1") and seen("WATCHDOG=1")
        ready = next(m for m in list(got) if "READY=1" in m)
        assert "STATUS=ready" in ready
        assert d.status()["ready"]
        d.proc.send_signal(signal.SIGHUP)
        d.wait_for(lambda st: "SIGHUP" in d.log(), what="the SIGHUP log line")
        assert d.proc.poll() is None and d.status()["ready"]
        d.proc.send_signal(signal.SIGTERM)
        assert seen("STOPPING=1")
        assert d.proc.wait(20) == 0
        assert d.stop() == 0
    finally:
        done.set()
        reader.join(5)
        sock.close()
        shutil.rmtree(folder, ignore_errors=True)


def test_a_drain_past_its_deadline_stops_and_answers_the_job():
    d = Daemon("--drain-timeout", "1", faults="slow=30@execute", cpu_workers=1, devices="")
    answers: dict = {}
    t = submit_in_thread(d, 13, answers)
    d.wait_for(lambda st: st["running"], what="a running job")
    d.proc.send_signal(signal.SIGTERM)
    t.join(30)
    resp = answers[13]
    assert isinstance(resp, protocol.Response) and resp.status == protocol.STATUS_ERROR
    assert "stopped" in resp.message
    assert d.proc.wait(20) == 1
    assert "--drain-timeout" in d.log()
    assert d.stop() == 1


def test_notify_helpers(monkeypatch):
    from tvmpd.supervisor import lifecycle

    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert lifecycle.sd_notify("READY=1") is False
    name = f"tvmpd-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)  # systemd may hand out an abstract socket: @name
        sock.settimeout(5)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert lifecycle.sd_notify("STATUS=x", "READY=1")
        assert sock.recv(100) == b"STATUS=x\nREADY=1"
    monkeypatch.setenv("WATCHDOG_USEC", "3000000")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        # nobody reads: once the queue is full a send must fail at once instead of blocking the caller (the
        # daemon's event loop); a blocking send here would never return and the thread would stay alive
        results: list[bool] = []
        sender = threading.Thread(target=lambda: results.extend(lifecycle.sd_notify("WATCHDOG=1")
                                                                for _ in range(5000)), daemon=True)
        sender.start()
        sender.join(60)
        assert not sender.is_alive() and results[0] is True and results[-1] is False
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    assert lifecycle.watchdog_interval_s() == 1.5
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid() + 1))
    assert lifecycle.watchdog_interval_s() is None
    monkeypatch.setenv("WATCHDOG_USEC", "0")
    monkeypatch.delenv("WATCHDOG_PID")
    assert lifecycle.watchdog_interval_s() is None
