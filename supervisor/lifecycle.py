"""The daemon's life as a service: children that die with their supervisor, and systemd notifications.

A child asks the kernel to SIGKILL it when its parent dies (prctl PR_SET_PDEATHSIG on Linux) and also
watches its parent's pid, for kernels or platforms without the prctl. systemd notifications (READY=1,
STOPPING=1, WATCHDOG=1, STATUS=...) are datagrams to $NOTIFY_SOCKET, written with the socket module.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import socket
import sys
import threading

log = logging.getLogger("tvmpd")

PR_SET_PDEATHSIG = 1
PARENT_POLL_S = 1.0


def set_parent_death_signal(sig: int = signal.SIGKILL) -> bool:
    """Ask the kernel to send `sig` to this process when its parent exits; False where unsupported.
    (Linux sends it when the parent's spawning thread ends: the supervisor spawns from its main thread.)"""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def watch_parent(parent_pid: int, poll_s: float = PARENT_POLL_S) -> threading.Thread:
    """Exit this process at once when it is no longer `parent_pid`'s child (the parent died and we were
    re-parented): the fallback where the parent-death signal is missing or came too late."""

    def loop() -> None:
        stop = threading.Event()
        while not stop.wait(poll_s):
            if os.getppid() != parent_pid:
                os._exit(1)

    thread = threading.Thread(target=loop, name="parent-watch", daemon=True)
    thread.start()
    return thread


def become_child(parent_pid: int) -> None:
    """What a supervisor's child does first: die with the supervisor, and leave SIGTERM, SIGINT and SIGHUP
    (sent to the whole process group by systemd, a terminal or Ctrl-C) to the supervisor, which alone
    decides when its children stop."""
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    if not set_parent_death_signal(signal.SIGKILL):
        log.debug("no parent-death signal here: watching the parent's pid only")
    if os.getppid() != parent_pid:  # the parent died before the prctl took effect
        os._exit(1)
    watch_parent(parent_pid)


def _notify_address() -> str | None:
    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr:
        return None
    return "\0" + addr[1:] if addr.startswith("@") else addr


def sd_notify(*lines: str) -> bool:
    """Send systemd a notification ("READY=1", "STATUS=...") when run with Type=notify; False when there is
    no $NOTIFY_SOCKET or it cannot be reached (never an exception: a notification is best effort)."""
    addr = _notify_address()
    if addr is None:
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            # never wait: a receiver whose queue is full would otherwise stall the event loop that sends this
            sock.setblocking(False)
            sock.sendto("\n".join(lines).encode(), addr)
        return True
    except OSError as exc:
        log.debug("sd_notify to %s failed: %s", addr, exc)
        return False


def watchdog_interval_s() -> float | None:
    """Half the watchdog period systemd asked for ($WATCHDOG_USEC, for this pid): how often to send
    WATCHDOG=1; None when no watchdog is set."""
    usec = os.environ.get("WATCHDOG_USEC", "")
    pid = os.environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0 or (pid.isdigit() and int(pid) != os.getpid()):
        return None
    return int(usec) / 1e6 / 2
