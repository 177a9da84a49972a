"""The daemon process: job listeners on TCP and a Unix socket at once, the control socket, and signals.

SIGTERM drains (no new jobs, running ones finish) and then exits; the first SIGINT does the same, a second
SIGINT stops at once (running jobs are answered with ERROR) and the daemon exits 1. With --drain-timeout, a
drain that has not finished by then stops the same way. SIGHUP reloads nothing (settings need a restart):
it logs one status line. Socket files are removed on exit. Under systemd (Type=notify) the daemon sends
READY=1 once every child is warm, STOPPING=1 when it starts draining, and WATCHDOG=1 while its event loop
runs, when the unit sets WatchdogSec.

A client that half-closes its connection after sending (shutdown(SHUT_WR), as `nc -N` does) still gets
its answer; a client that resets the connection (or, on a Unix socket, closes it) abandons its job.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import select
import signal
import socket
import time
from collections import Counter

from tvmpd.supervisor import control, lifecycle, protocol
from tvmpd.supervisor.config import ServeConfig, ensure_private_dir
from tvmpd.supervisor.scheduler import Scheduler

log = logging.getLogger("tvmpd")

DRAINING_MESSAGE = "draining: this daemon is finishing its jobs and takes no new ones"
HANGUP_POLL_S = 0.25
SERVICE_TICK_S = 0.25  # how often readiness is checked for READY=1 (and the watchdog fed)


def peer_hung_up(sock) -> bool:
    """True when the peer has gone for good (hang-up or error on the socket), not merely half-closed:
    a Unix socket whose peer closed reports POLLHUP, a TCP connection that was reset POLLERR/POLLHUP; a
    peer that only shut down its sending side reports neither."""
    try:
        poller = select.poll()
        poller.register(sock.fileno(), 0)  # error, hang-up and invalid are always reported
        return any(ev & (select.POLLHUP | select.POLLERR | select.POLLNVAL) for _, ev in poller.poll(0))
    except (OSError, ValueError):
        return True


def is_loopback(host: str) -> bool:
    """True for localhost and loopback IP literals."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _socket_in_use(path: str) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        try:
            s.connect(path)
            return True
        except OSError:
            return False


@contextlib.contextmanager
def _umask(mask: int):
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


class Daemon:
    """Listeners, control commands and signal handling around one Scheduler."""

    def __init__(self, cfg: ServeConfig):
        self.cfg = cfg
        self.scheduler = Scheduler(cfg)
        self.servers: list[asyncio.AbstractServer] = []
        self.socket_files: list[str] = []
        self.listen: dict[str, str] = {}
        self.done = asyncio.Event()
        self.sigints = 0
        self.exit_code = 0
        self._drain_task: asyncio.Task | None = None
        self._conns: set[asyncio.Task] = set()
        self.job_conns = 0
        self.notified_ready = False
        self._service_task: asyncio.Task | None = None

    async def _bind_unix(self, path: str, handler) -> asyncio.AbstractServer:
        ensure_private_dir(path)
        if os.path.exists(path):
            if _socket_in_use(path):
                raise RuntimeError(f"{path} is in use by a running daemon")
            os.unlink(path)
        with _umask(0o177):
            server = await asyncio.start_unix_server(handler, path=path)
        os.chmod(path, 0o600)
        self.socket_files.append(path)
        return server

    async def start(self) -> None:
        cfg = self.cfg
        if cfg.tcp:
            kind, (host, port) = protocol.parse_address(cfg.tcp)
            if kind != "tcp":
                raise ValueError(f"--tcp wants HOST:PORT, got {cfg.tcp!r}")
            if not is_loopback(host) and not cfg.allow_remote:
                raise ValueError(f"refusing to listen on non-loopback address {host!r} "
                                 "without --allow-remote")
            server = await asyncio.start_server(self._on_job_conn, host, port)
            self.servers.append(server)
            bound = server.sockets[0].getsockname()
            self.listen["tcp"] = f"{bound[0]}:{bound[1]}"
        if cfg.unix:
            self.servers.append(await self._bind_unix(cfg.unix, self._on_job_conn))
            self.listen["unix"] = cfg.unix
        if not self.servers:
            raise ValueError("nothing to listen on: give --tcp and/or --unix")
        self.servers.append(await self._bind_unix(cfg.control, self._on_control_conn))
        self.listen["control"] = cfg.control
        if cfg.metrics:
            await self._start_metrics(cfg.metrics)
        await self.scheduler.start()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self._on_sigterm)
        loop.add_signal_handler(signal.SIGINT, self._on_sigint)
        loop.add_signal_handler(signal.SIGHUP, self._on_sighup)
        log.info("listening %s", " ".join(f"{k}={v}" for k, v in self.listen.items()))
        self._service_task = asyncio.create_task(self._service_loop())

    async def _start_metrics(self, address: str) -> None:
        from tvmpd.supervisor import metrics

        kind, where = protocol.parse_address(address)
        if kind != "tcp":
            raise ValueError(f"--metrics wants HOST:PORT, got {address!r}")
        host, port = where
        if not is_loopback(host) and not self.cfg.allow_remote:
            raise ValueError(f"refusing to serve metrics on non-loopback address {host!r} "
                             "without --allow-remote")
        server = await metrics.start_endpoint(host, port, metrics.make_registry(lambda: self._status({})))
        self.servers.append(server)
        bound = server.sockets[0].getsockname()
        self.listen["metrics"] = f"{bound[0]}:{bound[1]}"

    async def _service_loop(self) -> None:
        """READY=1 for systemd once every child is warm, WATCHDOG=1 while the loop runs."""
        every = lifecycle.watchdog_interval_s()
        fed = time.monotonic()
        while True:
            if not self.notified_ready and self.scheduler.ready and not self.scheduler.draining:
                self.notified_ready = True
                lifecycle.sd_notify("READY=1", f"STATUS=ready: {self._summary()}")
            if every is not None and time.monotonic() - fed >= every:
                fed = time.monotonic()
                lifecycle.sd_notify("WATCHDOG=1")
            await asyncio.sleep(SERVICE_TICK_S)

    def _summary(self) -> str:
        st = self.scheduler.status()
        states = Counter(c["state"] for c in st["children"])
        return (f"{len(st['running'])} running, {len(st['queue'])} queued; children "
                + ", ".join(f"{n} {s}" for s, n in sorted(states.items())))

    # ------------------------------------------------------------ signals and drain

    def _on_sigterm(self) -> None:
        log.info("SIGTERM: draining, then exiting")
        self.begin_drain()

    def _on_sighup(self) -> None:
        log.info("SIGHUP: nothing to reload (settings take effect at the next start); %s", self._summary())

    def _on_sigint(self) -> None:
        self.sigints += 1
        if self.sigints == 1:
            log.info("SIGINT: draining (send SIGINT again to stop at once)")
            self.begin_drain()
        else:
            log.warning("second SIGINT: stopping now; running jobs are answered ERROR")
            self.exit_code = 1
            self.scheduler.hard_stop()
            self.done.set()

    def begin_drain(self) -> None:
        if self._drain_task is None:
            self.scheduler.draining = True
            lifecycle.sd_notify("STOPPING=1", "STATUS=draining")
            self._drain_task = asyncio.create_task(self._drain())

    async def _drain(self) -> None:
        deadline = self.cfg.drain_timeout_s or None
        try:
            await asyncio.wait_for(self.scheduler.wait_idle(), deadline)
        except TimeoutError:
            log.error("drain not finished after %.0fs (--drain-timeout): stopping now; running jobs are "
                      "answered ERROR", deadline)
            self.exit_code = 1
            self.scheduler.hard_stop()
            self.done.set()
            return
        log.info("drained: no jobs left, exiting")
        self.done.set()

    # ------------------------------------------------------------ connections

    def _track(self) -> None:
        task = asyncio.current_task()
        self._conns.add(task)
        task.add_done_callback(self._conns.discard)

    async def _wait_for_answer(self, job, run: asyncio.Task, reader: asyncio.StreamReader, sock) -> bytes:
        """The job's answer; the job is abandoned when its client goes away first (reset, or a closed Unix
        socket), but not when it only half-closes."""
        watch = asyncio.create_task(reader.read(1))
        try:
            done, _ = await asyncio.wait({run, watch}, return_when=asyncio.FIRST_COMPLETED)
            if run not in done:
                if watch.exception() is not None:
                    self.scheduler.abandon(job)  # reset by the peer
                else:  # end of stream: a half-close, or a full close we can only see as a hang-up
                    while not run.done():
                        if sock is None or peer_hung_up(sock):
                            self.scheduler.abandon(job)
                            break
                        await asyncio.wait({run}, timeout=HANGUP_POLL_S)
            return await run
        finally:
            watch.cancel()

    async def _on_job_conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._track()
        peer = writer.get_extra_info("peername") or "unix"
        peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else "unix"
        self.job_conns += 1
        log.debug("job connection from %s (%d open)", peer, self.job_conns)
        try:
            if self.job_conns > self.cfg.max_connections:
                log.warning("connection from %s refused: %d job connections open (--max-connections %d)",
                            peer, self.job_conns - 1, self.cfg.max_connections)
                self.scheduler.totals["refused_connections"] += 1
                writer.write(protocol.encode_error(0, f"too many connections: this daemon serves at most "
                                                      f"{self.cfg.max_connections} at once"))
                await writer.drain()
                return
            if self.scheduler.draining:
                try:
                    job_id = await asyncio.wait_for(protocol.read_request_header(reader), 5)
                except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
                    job_id = None
                writer.write(protocol.encode_error(job_id or 0, DRAINING_MESSAGE))
                self.scheduler.totals["refused_draining"] += 1
                await writer.drain()
                return
            try:
                req = await asyncio.wait_for(protocol.read_request(reader, self.cfg.max_frame),
                                             self.cfg.read_timeout_s)
            except TimeoutError:
                log.warning("request from %s not complete after %.0fs: connection closed", peer,
                            self.cfg.read_timeout_s)
                self.scheduler.totals["bad_frames"] += 1
                return
            except protocol.ProtocolError as exc:
                log.warning("bad request from %s: %s", peer, exc)
                self.scheduler.totals["bad_frames"] += 1
                if exc.reply:
                    writer.write(protocol.encode_error(exc.job_id, f"bad request: {exc}"))
                    await writer.drain()
                return
            except (asyncio.IncompleteReadError, ConnectionError):
                log.warning("truncated request from %s: connection closed", peer)
                self.scheduler.totals["bad_frames"] += 1
                return
            job = self.scheduler.accept(req, peer)
            run = asyncio.create_task(self.scheduler.run(job))
            answer = await self._wait_for_answer(job, run, reader, writer.get_extra_info("socket"))
            writer.write(answer)
            await writer.drain()
        except (ConnectionError, OSError) as exc:
            log.warning("connection from %s lost: %s", peer, exc)
        except asyncio.CancelledError:
            pass  # shutting down; ending normally keeps asyncio's stream callback quiet
        finally:
            self.job_conns -= 1
            writer.close()

    def _status(self, _msg: dict) -> dict:
        return {**self.scheduler.status(), "listen": self.listen, "connections": self.job_conns}

    def _drain_cmd(self, _msg: dict) -> dict:
        self.begin_drain()
        return {"draining": True, "pid": os.getpid(), "jobs": len(self.scheduler.jobs)}

    async def _on_control_conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._track()
        log.debug("control connection")
        try:
            await control.handle(reader, writer, {"status": self._status, "drain": self._drain_cmd})
        except asyncio.CancelledError:
            pass

    # ------------------------------------------------------------ shutdown

    async def close(self) -> None:
        if self._service_task:
            self._service_task.cancel()
        for server in self.servers:
            server.close()
        # let the handlers that got their answers finish writing them
        deadline = time.monotonic() + 5
        while self._conns and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        for task in list(self._conns):
            task.cancel()
        await self.scheduler.shutdown()
        for path in self.socket_files:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)


async def serve_async(cfg: ServeConfig) -> int:
    daemon = Daemon(cfg)
    try:
        await daemon.start()
    except Exception:
        await daemon.close()
        raise
    await daemon.done.wait()
    await daemon.close()
    log.info("daemon exited%s", " (interrupted: running jobs were cut off)" if daemon.exit_code else "")
    return daemon.exit_code


def serve(cfg: ServeConfig) -> int:
    """Run the daemon until drained or stopped; the process exit code."""
    return asyncio.run(serve_async(cfg))
