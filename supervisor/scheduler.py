"""The supervisor's core: per-job state, routing, device choice, memory admission, retries, restarts.

A job runs in two steps: "execute" on a CPU pool worker (parse, VM, AET into shared memory), then "prove"
on a CPU worker (log2 padded height <= cpu_max_log2, or forced to CPU by the request) or on the least-loaded
device child that has the memory. A child that dies takes its task with it: the job's shared memory is
unlinked and the job starts over once, avoiding that child where another can take it; a second death
answers ERROR. Every accepted job is answered exactly once.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import time
from collections import Counter, deque
from dataclasses import dataclass, field

import msgpack
import psutil

from supervisor import protocol, shm
from supervisor.children import Child, ChildDied
from supervisor.config import ServeConfig

log = logging.getLogger("tvmpd")

MAIN_COLUMNS, AUX_XFE_COLUMNS = 379, 91
HOST_FRACTION = 0.9
RECENT_JOBS = 32


def prove_bytes(log2: int) -> int:
    """Rough peak memory of proving at 2^log2 rows: about three copies of the main and aux tables (trace
    values or coefficients, one coset of the extended tables, quotient and FRI data) plus overhead.
    A job whose estimate exceeds a whole device or host still runs there alone."""
    row = 8 * (MAIN_COLUMNS + 3 * AUX_XFE_COLUMNS)
    return (1 << log2) * row * 3 + (256 << 20)


def device_prove_bytes(log2: int) -> int:
    """Peak device memory of the device-resident prover at 2^log2 rows (stages.device_backend's model,
    about 50 GiB at 2^21); the rough prove_bytes when the STARK stage is absent."""
    try:
        from stages.device_backend import device_bytes
        from stages.domains import derive
    except ImportError:
        return prove_bytes(log2)
    return device_bytes(derive(1 << log2))[1]


def table_bytes(log2: int) -> int:
    """Host memory a device job still needs: the AET and main table staged in shared memory."""
    return (1 << log2) * 8 * MAIN_COLUMNS * 2 + (64 << 20)


def gib(n: int) -> str:
    return f"{n / 2**30:.2f} GiB"


@dataclass
class Job:
    """One accepted request and where it is."""

    seq: int
    job_id: int
    peer: str
    fields: list[str]
    created: float = field(default_factory=time.monotonic)
    state: str = "queued"
    device: str | None = None
    log2: int | None = None
    attempt: int = 0
    excluded: set = field(default_factory=set)
    timings: dict = field(default_factory=dict)
    stage_timings: str | None = None
    abandoned: bool = False
    host_hold: int = 0  # host memory held for the job's main table from admission to its end
    device_hold: int = 0  # device memory reserved while a device child proves it


class JobRefused(Exception):
    """A job that can never be placed (e.g. needs more memory than any child has)."""


class JobAbandoned(Exception):
    """The job's client disconnected before its answer."""


def _auto_cpu_workers() -> int:
    return max(1, min(4, (os.cpu_count() or 2) // 2))


def resolve_devices(cfg: ServeConfig) -> list[tuple[str, int]]:
    """(device key, memory bytes) for each device child: --devices, else every GPU (first --num-gpus)."""
    host_total = psutil.virtual_memory().total
    if cfg.devices is None:
        from opencl.devices import gpu_devices

        found = [(d.key, d.global_mem_bytes) for d in gpu_devices()]
        if cfg.num_gpus is not None:
            if cfg.num_gpus > len(found):
                log.warning("--num-gpus %d but only %d GPU(s) found", cfg.num_gpus, len(found))
            found = found[: cfg.num_gpus]
        return found
    from opencl.devices import list_devices

    known = {d.key: d.global_mem_bytes for d in list_devices()}
    out = []
    for key in cfg.devices:
        if key == "cpu":
            out.append((key, host_total))
        elif key in known:
            out.append((key, known[key]))
        else:
            raise ValueError(f"no OpenCL device {key!r} (see `tvmpd devices`; 'cpu' is also accepted)")
    return out


class Scheduler:
    """Owns the children and the jobs; `submit` answers one request with encoded TVMR bytes."""

    def __init__(self, cfg: ServeConfig):
        self.cfg = cfg
        self.pid = os.getpid()
        self.seq = itertools.count(1)
        self.jobs: dict[int, Job] = {}
        self.totals: Counter = Counter()
        self.recent: deque = deque(maxlen=RECENT_JOBS)
        self.started = time.monotonic()
        self.draining = False
        self.stopping = False
        self.host_reserved = 0
        self._wake = asyncio.Event()
        self._tasks: dict[int, asyncio.Task] = {}
        self._watchdog: asyncio.Task | None = None
        env = {"TVMPD_LOG_LEVEL": cfg.log_level}
        if cfg.omp_threads:
            env["OMP_NUM_THREADS"] = str(cfg.omp_threads)
        if cfg.omp_init is not None:
            env["TRITON_OMP_INIT"] = "1" if cfg.omp_init else "0"
        host_total = psutil.virtual_memory().total
        workers = cfg.cpu_workers or _auto_cpu_workers()
        self.cpu = [Child(f"cpu{i}", "cpu", "cpu", host_total, cfg.heartbeat_s, env) for i in range(workers)]
        self.devices = [Child(f"gpu{i}", "device", key, mem, cfg.heartbeat_s, env)
                        for i, (key, mem) in enumerate(resolve_devices(cfg))]
        for child in self.children:
            child.on_stage = self._on_stage
            child.on_death = self._on_death
            child.on_admit = self._on_admit
        self.max_jobs = cfg.max_jobs or max(1, len(self.children))
        self.slots = asyncio.Semaphore(self.max_jobs)

    @property
    def children(self) -> list[Child]:
        return self.cpu + self.devices

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        stale = shm.reap_stale()
        if stale:
            log.warning("unlinked %d shared-memory block(s) of supervisors that are gone", len(stale))
        for child in self.children:
            child.start()
        self._watchdog = asyncio.create_task(self._watch())
        log.info("supervisor pid=%d cpu_workers=%d devices=%s max_jobs=%d cpu_max_log2=%d", self.pid,
                 len(self.cpu), ",".join(f"{c.name}={c.device_key}" for c in self.devices) or "none",
                 self.max_jobs, self.cfg.cpu_max_log2)

    async def _watch(self) -> None:
        period = max(0.05, min(self.cfg.heartbeat_s, self.cfg.heartbeat_timeout_s / 4))
        while True:
            await asyncio.sleep(period)
            for child in self.children:
                try:
                    child.check(self.cfg.heartbeat_timeout_s)
                except Exception:  # keep watching the others
                    log.exception("watchdog: checking %s failed", child.name)

    def _kick(self) -> None:
        self._wake.set()
        self._wake = asyncio.Event()

    def _on_stage(self, seq: int, stage: str, child: Child) -> None:
        job = self.jobs.get(seq)
        if job is None:
            return
        if child.kind == "device" or job.state.startswith("proving"):
            job.state = f"proving:{stage}"
        self._event(job, "stage", stage=stage, device=child.name)

    def _on_death(self, child: Child, reason: str) -> None:
        if time.monotonic() - child.started_at > 60:
            child.restarts = 0
        delay = min(self.cfg.restart_backoff_max_s, self.cfg.restart_backoff_s * 2 ** child.restarts)
        child.restarts += 1
        self.totals["child_restarts"] += 1
        log.warning("child %s pid=%s died (%s); restart in %.1fs", child.name, child.pid, reason, delay)
        asyncio.get_running_loop().call_later(delay, self._restart, child)
        self._kick()

    def _on_cpu(self, log2: int, forced: bool) -> bool:
        """Routing: the CPU pool proves up to cpu_max_log2, forced jobs, and everything without devices."""
        return forced or log2 <= self.cfg.cpu_max_log2 or not self.devices

    def _host_need(self, log2: int, forced: bool) -> int:
        """Host memory a job holds from admission to its end: all of CPU proving (at most the whole host:
        such a job runs alone), or just its table."""
        if self._on_cpu(log2, forced):
            return min(prove_bytes(log2), self._host_capacity())
        return table_bytes(log2)

    def _on_admit(self, seq: int, log2: int, forced: bool, child: Child) -> None:
        """A worker asks to build a job's main table: hold the job's host memory, or say "later" (the worker
        then gives up its slot, and no job holds memory while waiting for more), or refuse what never fits."""
        job = self.jobs.get(seq)
        need = self._host_need(log2, forced)
        if job is None or job.abandoned:
            child.reply({"t": "refused", "message": "job abandoned"})
        elif job.host_hold >= need:
            child.reply({"t": "admitted"})
        elif table_bytes(log2) > self._host_capacity():
            cap, table = gib(self._host_capacity()), gib(table_bytes(log2))
            child.reply({"t": "refused", "message": f"job's main table needs about {table} of host memory at "
                         f"log2 padded height {log2}, more than this host can give ({cap})"})
        elif self._host_fits(need):
            self.host_reserved += need
            job.host_hold += need
            child.reply({"t": "admitted"})
        else:
            self._event(job, "memory-wait", need=gib(need), reserved=gib(self.host_reserved))
            child.reply({"t": "later"})

    async def _hold_host(self, job: Job, need: int) -> None:
        """Wait until `need` bytes of host memory fit, then hold them for the job."""
        while not self._host_fits(need):
            if self.stopping:
                raise asyncio.CancelledError()
            if job.abandoned:
                raise JobAbandoned()
            waiter = self._wake
            try:
                await asyncio.wait_for(waiter.wait(), 0.5)
            except TimeoutError:
                pass
        self.host_reserved += need
        job.host_hold += need

    def _drop_hold(self, job: Job) -> None:
        self.host_reserved -= job.host_hold
        job.host_hold = 0
        self._kick()

    def _restart(self, child: Child) -> None:
        if self.stopping or child.state == "stopped":
            return
        try:
            child.start()
        except Exception as exc:  # e.g. out of processes or file descriptors: try again later
            child.state = "restarting"
            self._on_death(child, f"restart failed: {exc}")
            return
        log.info("child %s restarted pid=%d", child.name, child.pid)
        self._kick()

    async def shutdown(self) -> None:
        """Stop every child and unlink whatever shared memory this supervisor still has."""
        self.stopping = True
        if self._watchdog:
            self._watchdog.cancel()
        for child in self.children:
            child.stop()
        left = shm.unlink_prefix(f"{shm.PREFIX}{self.pid}_")
        if left:
            log.warning("unlinked %d leftover shared-memory block(s)", left)

    async def wait_idle(self) -> None:
        """Return once no job is queued or running."""
        while self.jobs:
            waiter = self._wake
            try:
                await asyncio.wait_for(waiter.wait(), 0.5)
            except TimeoutError:
                pass

    def hard_stop(self) -> None:
        """Cancel every job (each is answered with ERROR by its submit call)."""
        self.stopping = True
        for task in list(self._tasks.values()):
            task.cancel()

    # ------------------------------------------------------------ jobs

    def _event(self, job: Job, event: str, **kv) -> None:
        parts = [f"{k}={json.dumps(str(v)) if ' ' in str(v) else v}" for k, v in kv.items() if v is not None]
        extra = " ".join(parts)
        log.info("job seq=%d id=%d event=%s log2=%s %s", job.seq, job.job_id, event,
                 job.log2 if job.log2 is not None else "-", extra)

    def accept(self, req: protocol.Request, peer: str) -> Job:
        """Register a request as a queued job."""
        job = Job(next(self.seq), req.job_id, peer, req.fields())
        self.jobs[job.seq] = job
        self.totals["accepted"] += 1
        self._event(job, "accepted", peer=peer, bytes=req.size())
        return job

    def abandon(self, job: Job) -> None:
        """The client went away: drop the job where it waits; a child proving it is killed and restarted
        (cheaper than finishing a proof nobody reads); a short execute step is left to finish."""
        if job.seq not in self.jobs or job.abandoned:
            return
        job.abandoned = True
        self._event(job, "abandoned", state=job.state, device=job.device)
        if job.state.startswith("proving"):
            for child in self.children:
                if child.current and child.current["job"] == job.seq:
                    child.fail("its job was abandoned by the client")
        self._kick()

    async def submit(self, req: protocol.Request, peer: str) -> bytes:
        """Run one request through the pipeline; always returns the encoded answer."""
        return await self.run(self.accept(req, peer))

    async def run(self, job: Job) -> bytes:
        """Run an accepted job; always returns the encoded answer."""
        task = asyncio.create_task(self._guarded(job))
        self._tasks[job.seq] = task
        try:
            answer = await asyncio.shield(task)
        except asyncio.CancelledError:
            if not task.done():
                raise
            answer = protocol.encode_error(job.job_id, "daemon stopped before the job finished")
            self._finish(job, "failed", "stopped")
        finally:
            self._tasks.pop(job.seq, None)
            self._drop_hold(job)
            shm.unlink_prefix(shm.job_prefix(self.pid, job.seq))
            self.jobs.pop(job.seq, None)
            self._kick()
        return answer

    def _finish(self, job: Job, state: str, outcome: str, **kv) -> None:
        job.state = state
        self.totals[outcome] += 1
        self.recent.append({"seq": job.seq, "job_id": job.job_id, "state": state, "outcome": outcome,
                            "device": job.device, "log2": job.log2, "attempts": job.attempt + 1,
                            "seconds": round(time.monotonic() - job.created, 3)})
        times = {k: f"{v:.3f}s" for k, v in job.timings.items()}
        age = f"{time.monotonic() - job.created:.3f}s"
        self._event(job, state, outcome=outcome, device=job.device, age=age, **times,
                    stages=job.stage_timings, **kv)

    async def _guarded(self, job: Job) -> bytes:
        try:
            async with self.slots:
                return await self._process(job)
        except asyncio.CancelledError:
            raise
        except JobAbandoned:
            self._finish(job, "failed", "abandoned")
            return protocol.encode_error(job.job_id, "job abandoned: its client went away")
        except Exception as exc:  # never leave a client without an answer
            log.exception("job seq=%d: internal error", job.seq)
            self._finish(job, "failed", "error", reason="internal")
            return protocol.encode_error(job.job_id, f"internal error: {type(exc).__name__}: {exc}")

    async def _process(self, job: Job) -> bytes:
        for attempt in (0, 1):
            job.attempt = attempt
            try:
                return await self._attempt(job)
            except ChildDied as exc:
                shm.unlink_prefix(shm.job_prefix(self.pid, job.seq))
                self._drop_hold(job)
                if job.abandoned:
                    raise JobAbandoned() from exc
                job.excluded.add(exc.child)
                if attempt == 1:
                    self._finish(job, "failed", "error", reason="child-died-twice")
                    return protocol.encode_error(job.job_id, f"job failed twice, giving up: {exc}")
                self.totals["retried"] += 1
                self._event(job, "retry", reason=str(exc))
                job.state = "queued"
                job.device = None
            except JobRefused as exc:
                self._finish(job, "failed", "error", reason="refused")
                return protocol.encode_error(job.job_id, str(exc))
        raise AssertionError("unreachable")

    async def _attempt(self, job: Job) -> bytes:
        if job.abandoned:
            raise JobAbandoned()
        prefix = shm.job_prefix(self.pid, job.seq)
        request = shm.put_bytes(f"{prefix}a{job.attempt}_request", msgpack.packb(job.fields))
        while True:
            worker, _ = await self._acquire(job, self.cpu, 0, 0)
            job.state = "executing"
            job.device = worker.name
            try:
                res = await self._run(worker, job, "execute", {"request": request, "prefix": prefix,
                                                               "max_cycles": self.cfg.max_cycles,
                                                               "attempt": job.attempt})
            finally:
                self._release(worker, job, 0)
            if res["outcome"] != "later":
                break
            # the main table did not fit in host memory now: wait without holding a worker, then redo
            job.state = "queued"
            job.log2 = res["log2"]
            await self._hold_host(job, self._host_need(res["log2"], res["force_cpu"]))
        shm.unlink(request["name"])
        if "t_execute" in res:
            job.timings["t_execute"] = res["t_execute"]
        exec_stages = res.get("stages") or {}
        if job.abandoned:
            raise JobAbandoned()
        if res["outcome"] == "error":
            self._finish(job, "failed", "error", reason=res["message"][:120])
            return protocol.encode_error(job.job_id, res["message"])
        job.log2 = res["log2"]
        if res["outcome"] == "too_big":
            self._finish(job, "done", "too_big")
            return protocol.encode_too_big(job.job_id, res["log2"])
        on_cpu = self._on_cpu(job.log2, res["force_cpu"])
        host_need = max(0, self._host_need(job.log2, res["force_cpu"]) - job.host_hold)  # normally held
        # With --idle-device-first a job small enough for the CPU pool still goes to an idle device when
        # there is one (about a second there, seconds to minutes on numpy), else whichever frees first.
        either = self.cfg.idle_device_first and on_cpu and bool(self.devices) and not res["force_cpu"]
        if on_cpu and not either:
            route, pool, need, fallback = "cpu", self.cpu, prove_bytes(job.log2), None
        else:
            route, pool, need = "device", self.devices, device_prove_bytes(job.log2)
            fallback = (self.cpu, prove_bytes(job.log2)) if either else None
        self._event(job, "executed", route="device-or-cpu" if either else route,
                    forced=res["force_cpu"] or None, t_execute=f"{res.get('t_execute', 0):.3f}s")
        job.state = "queued"
        child, host = await self._acquire(job, pool, need, host_need, fallback)
        job.state = "proving:prove"
        job.device = child.name
        self._event(job, "proving", device=child.name, key=child.device_key)
        try:
            res = await self._run(child, job, "prove", {
                "prefix": prefix, "attempt": job.attempt, "blocks": res["blocks"], "scalars": res["scalars"],
                "env": res["env"], "claim": job.fields[0]})
        finally:
            self._release(child, job, host)
        if "t_prove" in res:
            job.timings["t_prove"] = res["t_prove"]
        all_stages = {**exec_stages, **(res.get("stages") or {})}
        if all_stages:
            job.stage_timings = "; ".join(f"{k}={v:.3f}s" for k, v in all_stages.items())
        if res["outcome"] == "error":
            self._finish(job, "failed", "error", reason=res["message"][:120])
            return protocol.encode_error(job.job_id, res["message"])
        proof = shm.get_bytes(res["proof"])
        self._finish(job, "done", "ok", proof_bytes=len(proof))
        return protocol.encode_ok(job.job_id, proof)

    async def _run(self, child: Child, job: Job, op: str, msg: dict) -> dict:
        try:
            return await child.run(job.seq, op, msg)
        except ChildDied as exc:
            exc.child = child.name
            raise

    # ------------------------------------------------------------ placement

    def _host_capacity(self) -> int:
        if self.cfg.host_memory:
            return self.cfg.host_memory
        return int(psutil.virtual_memory().total * HOST_FRACTION)

    def _host_fits(self, need: int) -> bool:
        if self.host_reserved == 0:
            return True  # one job alone may always try
        fits = self.host_reserved + need <= self._host_capacity()
        return fits and need <= psutil.virtual_memory().available

    @staticmethod
    def _device_need(child: Child, need: int) -> int:
        """A device reservation: the estimate, at most the device's capacity (such a job runs alone)."""
        return min(need, child.capacity)

    @staticmethod
    def _device_fits(child: Child, need: int) -> bool:
        """Our reservations stay within the device's capacity (its total less what others held at start)."""
        if child.kind == "cpu":
            return True
        return child.mem_reserved + min(need, child.capacity) <= child.capacity

    def _pick(self, job: Job, pool: list[Child], need: int) -> Child | None:
        free = [c for c in pool if c.state == "idle" and c.current is None and self._device_fits(c, need)]
        if not free:
            return None
        fresh = [c for c in free if c.name not in job.excluded]
        others_alive = any(c.name not in job.excluded and c.state != "stopped" for c in pool)
        if not fresh and others_alive:
            return None  # a retry waits for another child when one exists
        candidates = fresh or free
        # devices large enough for the job first (on a smaller one the prover refuses it), then least loaded
        return min(candidates, key=lambda c: (c.kind == "device" and c.capacity < need, c.mem_reserved,
                                              -(c.capacity - c.mem_reserved), c.name))

    async def _acquire(self, job: Job, pool: list[Child], need: int, host_need: int,
                       fallback: tuple[list[Child], int] | None = None) -> tuple[Child, int]:
        """Wait for a child of `pool` with room for `need` (or, if given, of the fallback pool with its need,
        whichever is free first, `pool` preferred) and host room for host_need; reserve both."""
        if not pool:
            raise JobRefused("no child can run this job (no CPU worker and no device)")
        if host_need > self._host_capacity():
            raise JobRefused(f"job needs about {gib(host_need)} of host memory at log2 padded height "
                             f"{job.log2}, more than this host can give ({gib(self._host_capacity())})")
        while True:
            if self.stopping:
                raise asyncio.CancelledError()
            if job.abandoned:
                raise JobAbandoned()
            child, child_need = self._pick(job, pool, need), need
            if child is None and fallback is not None:
                child, child_need = self._pick(job, fallback[0], fallback[1]), fallback[1]
            if child is not None and self._host_fits(host_need):
                if child.kind == "device":
                    job.device_hold = self._device_need(child, child_need)
                    child.mem_reserved += job.device_hold
                self.host_reserved += host_need
                child.state = "busy"
                return child, host_need
            waiter = self._wake
            try:
                await asyncio.wait_for(waiter.wait(), 0.5)
            except TimeoutError:
                pass

    def _release(self, child: Child, job: Job, host_need: int) -> None:
        if child.kind == "device":
            child.mem_reserved -= job.device_hold
            job.device_hold = 0
        self.host_reserved -= host_need
        self._kick()

    # ------------------------------------------------------------ status

    def status(self) -> dict:
        """A msgpack/JSON-friendly snapshot for `tvmpd status`."""
        now = time.monotonic()
        vm = psutil.virtual_memory()
        by_child = {}
        for job in self.jobs.values():
            if job.device and job.state != "queued":
                by_child[job.device] = job
        children = []
        for c in self.children:
            j = by_child.get(c.name) if c.state == "busy" else None
            children.append({
                "name": c.name, "kind": c.kind, "key": c.device_key, "state": c.state, "pid": c.pid,
                "restarts": c.restarts, "mem_total": c.mem_total, "mem_reserved": c.mem_reserved,
                "mem_free": c.mem_free, "mem_capacity": c.capacity,
                "job": j.seq if j else None, "job_id": j.job_id if j else None,
                "stage": (c.current or {}).get("stage") if j else None,
            })
        jobs = [{"seq": j.seq, "job_id": j.job_id, "state": j.state, "device": j.device, "log2": j.log2,
                 "attempt": j.attempt, "age_s": round(now - j.created, 3), "peer": j.peer}
                for j in sorted(self.jobs.values(), key=lambda j: j.seq)]
        return {
            "pid": self.pid, "uptime_s": round(now - self.started, 3), "draining": self.draining,
            "max_jobs": self.max_jobs, "cpu_max_log2": self.cfg.cpu_max_log2,
            "children": children, "jobs": jobs,
            "queue": [j for j in jobs if j["state"] == "queued"],
            "running": [j for j in jobs if j["state"] != "queued"],
            "recent": list(self.recent),
            "totals": dict(self.totals),
            "memory": {"host_total": vm.total, "host_available": vm.available,
                       "host_reserved": self.host_reserved},
        }
