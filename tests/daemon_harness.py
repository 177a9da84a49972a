"""A real `tvmpd serve` subprocess for tests, on private sockets, checked for leftovers when it stops."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tvmpd.supervisor import control, protocol, shm

ROOT = Path(__file__).resolve().parents[1]


class Daemon:
    """A `tvmpd serve` subprocess with private socket paths; stop() checks it left nothing behind."""

    def __init__(self, *args: str, env: dict | None = None, cpu_workers: int = 2, devices: str = "cpu",
                 faults: str | None = None):
        """`faults`: a tests/faults/inject.py specification, injected into every process of the daemon."""
        self.dir = tempfile.mkdtemp(prefix="tvd", dir="/tmp")
        self.unix = os.path.join(self.dir, "p.sock")
        self.control = os.path.join(self.dir, "c.sock")
        self.log_path = os.path.join(self.dir, "log")
        cmd = [sys.executable, "-m", "tvmpd", "serve", "--tcp", "127.0.0.1:0", "--unix", self.unix,
               "--control", self.control, "--cpu-workers", str(cpu_workers), "--restart-backoff", "0.1",
               "--cache-dir", os.path.join(self.dir, "cache"), *args]
        if devices:
            cmd += ["--devices", devices]
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("TVMPD_FAULTS")}
        if faults:
            path = os.pathsep.join(p for p in (str(ROOT / "tests" / "faults"), str(ROOT),
                                               full_env.get("PYTHONPATH")) if p)
            full_env.update(PYTHONPATH=path, TVMPD_FAULTS=faults, TVMPD_FAULTS_DIR=self.dir)
        full_env.update(env or {})
        self.logf = open(self.log_path, "w")
        # its own process group, as under systemd: a test may signal the whole group
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=full_env, stdout=self.logf, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self.tcp = None
        try:
            self.wait_children_idle()
            self.tcp = self.status()["listen"]["tcp"]
        except BaseException:
            self.proc.kill()  # never leave a daemon behind when a test fails early
            self.proc.wait(10)
            shm.unlink_prefix(f"{shm.PREFIX}{self.proc.pid}_")
            self.logf.close()
            shutil.rmtree(self.dir, ignore_errors=True)
            raise

    def log(self) -> str:
        return Path(self.log_path).read_text()

    def status(self) -> dict:
        return control.request(self.control, {"cmd": "status"}, timeout=5)

    def wait_for(self, pred, timeout: float = 90, what: str = "condition"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"daemon exited early with {self.proc.returncode}:\n{self.log()}")
            try:
                st = self.status()
                if pred(st):
                    return st
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}:\n{self.log()}")

    def wait_children_idle(self):
        # generous: a child's warm-up proof builds any OpenCL program not yet in the binary cache, which on a
        # loaded 2-core machine (pocl, optimised constraint kernels) can take over two minutes
        return self.wait_for(lambda st: all(c["state"] == "idle" for c in st["children"]) and not st["jobs"],
                             timeout=300, what="children idle")

    def submit(self, job_id: int, fields: list[str], via: str = "unix", timeout: float = 60):
        return protocol.submit(self.unix if via == "unix" else self.tcp, job_id, fields, timeout=timeout)

    def raw(self, data: bytes, shut: bool = False, timeout: float = 10) -> bytes:
        """Send raw bytes over TCP; everything the server sends back until it closes."""
        with protocol.connect(self.tcp, timeout=timeout) as sock:
            sock.sendall(data)
            if shut:
                sock.shutdown(socket.SHUT_WR)
            out = b""
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    return out
                out += chunk

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(10)
        self.logf.close()
        leftovers = shm.list_blocks(f"{shm.PREFIX}{self.proc.pid}_")
        assert not leftovers, f"shared memory left behind: {leftovers}"
        assert not os.path.exists(self.unix) and not os.path.exists(self.control), "socket files left"
        shutil.rmtree(self.dir, ignore_errors=True)
        return code
