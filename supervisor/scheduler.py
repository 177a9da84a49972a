"""The supervisor's core: per-job state, routing, device choice, memory admission, retries, restarts.

A job runs in two steps: "execute" on a CPU pool worker (parse, VM, AET into shared memory), then "prove"
on the child where it is predicted to finish first: that child's remaining work plus the job's predicted
time there (supervisor.timings, learned from finished jobs), with the jobs waiting before it counted in
line (list scheduling). `--cpu-max-log2` and a job's `force_cpu` restrict the choice when given. A child
that dies or stops making progress takes its task with it: the job's shared memory is unlinked and the job
starts over once, avoiding that child where another can take it; a second death answers ERROR. Every
accepted job is answered exactly once.
"""

from __future__ import annotations

import asyncio
import enum
import itertools
import json
import logging
import os
import time
from collections import Counter, deque
from dataclasses import dataclass, field

import msgpack
import psutil

from tvmpd.supervisor import jobs, metrics, protocol, shm
from tvmpd.supervisor.children import Child, ChildDied, ChildState
from tvmpd.supervisor.config import KEEP_COSETS_ENV, MEMORY_MODE_ENV, ServeConfig
from tvmpd.supervisor.messages import Admission, AdmitReply, ExecuteTask, Outcome, ProveTask, Result
from tvmpd.supervisor.timings import TimingTable, default_cache_dir

log = logging.getLogger("tvmpd")

MAIN_COLUMNS, AUX_XFE_COLUMNS = 379, 91
HOST_FRACTION = 0.9
RECENT_JOBS = 32
WARMING_HANG_FLOOR_S = 600.0  # a kernel build reports no progress for minutes on a fresh host
EXECUTE_PREDICTED_S = 10.0  # what a worker running the VM is assumed to need, for routing only
TOO_SMALL_PENALTY_S = 1e6  # a device below the job's memory estimate: only when nothing else can take it
MAX_BOOT_FAILURES = 3  # deaths before "ready" in a row, then the child is given up
MEMORY_FLOOR_BYTES = 512 << 20  # the memory guard acts when less than this (or the fraction) is available
MEMORY_FLOOR_FRACTION = 0.02


def prove_bytes(log2: int) -> int:
    """Rough peak memory of proving at 2^log2 rows: about three copies of the main and aux tables (trace
    values or coefficients, one coset of the extended tables, quotient and FRI data) plus overhead.
    A job whose estimate exceeds a whole device or host still runs there alone."""
    row = 8 * (MAIN_COLUMNS + 3 * AUX_XFE_COLUMNS)
    return (1 << log2) * row * 3 + (256 << 20)


def device_prove_bytes(log2: int, memory: int | None = None, mode: str = "auto", keep: str = "auto",
                       keep_memory: int | None = None) -> int:
    """Peak device memory of the device-resident prover at 2^log2 rows (stages.device_backend's model,
    about 50 GiB at 2^21 with full-length cosets), on a device of `memory` bytes in the memory mode and
    with the cosets kept within keep_memory it would use there (None: full-length cosets, none kept); the
    rough prove_bytes when the STARK stage is absent."""
    try:
        from tvmpd.stages.device_backend import device_bytes, planned_bytes
        from tvmpd.stages.domains import derive
    except ImportError:
        return prove_bytes(log2)
    if memory is None:
        return device_bytes(derive(1 << log2))[1]
    return planned_bytes(derive(1 << log2), memory, mode, keep, keep_memory)


def table_bytes(log2: int) -> int:
    """Host memory a device job still needs: the AET and main table staged in shared memory."""
    return (1 << log2) * 8 * MAIN_COLUMNS * 2 + (64 << 20)


SERIOUS_REASONS = ("internal", "child-died-twice", "host-memory")


def event_level(event: str, kv: dict) -> int:
    """A job event's log level: failures WARNING (ERROR when the daemon or a child is at fault), a retry
    WARNING, the rest INFO; a job whose client went away is no failure of ours."""
    if event == "failed" and kv.get("outcome") != "abandoned":
        return logging.ERROR if kv.get("reason") in SERIOUS_REASONS else logging.WARNING
    return logging.WARNING if event == "retry" else logging.INFO


def gib(n: int) -> str:
    return f"{n / 2**30:.2f} GiB"


class JobState(enum.StrEnum):
    """Where an accepted job is."""

    QUEUED = "queued"  # waiting for a worker or a prover
    EXECUTING = "executing"  # in the VM / building its main table on a CPU worker
    PROVING = "proving"
    DONE = "done"  # answered with a proof or TOO_BIG
    FAILED = "failed"  # answered with ERROR (or abandoned)


@dataclass
class Job:
    """One accepted request and where it is."""

    seq: int
    job_id: int
    peer: str
    fields: list[str]
    created: float = field(default_factory=time.monotonic)
    state: JobState = JobState.QUEUED
    stage: str = ""  # the proving stage, while PROVING
    device: str | None = None
    log2: int | None = None
    attempt: int = 0
    excluded: set = field(default_factory=set)
    timings: dict = field(default_factory=dict)
    stage_timings: str | None = None
    abandoned: bool = False
    host_hold: int = 0  # host memory held for the job's main table from admission to its end
    device_hold: int = 0  # device memory reserved while a device child proves it
    predicted: float | None = None  # predicted proving seconds on the child it was placed on
    proving_since: float | None = None
    memory_mode: str | None = None  # the device memory mode its proof used (full, half, lean)
    fatal: str | None = None  # why its child was stopped on purpose (no retry): the ERROR it gets

    def set_state(self, state: JobState, stage: str = "") -> None:
        self.state, self.stage = state, stage

    def status_state(self) -> str:
        """The state as `tvmpd status` shows it: "proving:<stage>" while proving."""
        return f"{self.state.value}:{self.stage}" if self.state == JobState.PROVING else self.state.value


@dataclass
class Waiting:
    """A job ready to prove, waiting for the dispatcher to give it a child."""

    job: Job
    forced_cpu: bool
    future: asyncio.Future


class JobRefused(Exception):
    """A job that can never be placed (e.g. needs more memory than any child has)."""


class JobAbandoned(Exception):
    """The job's client disconnected before its answer."""


def _auto_cpu_workers() -> int:
    return max(1, min(4, (os.cpu_count() or 2) // 2))


def _speed_class(device) -> str:
    """The timing table's key for an OpenCL device."""
    return f"{'opencl' if device.kind == 'gpu' else 'opencl-cpu'}:{device.name}"


def cpu_pool_device() -> tuple[str, str]:
    """(device key, speed class) the CPU pool's workers prove with: pocl's OpenCL CPU device where pocl is
    present (the device-resident prover, several times faster than numpy on the same cores), else the
    numpy backend ("cpu")."""
    from tvmpd.opencl.devices import POCL_PLATFORM, cpu_device

    dev = cpu_device()
    if dev is not None and dev.platform == POCL_PLATFORM:
        return dev.key, _speed_class(dev)
    return "cpu", "numpy:host"


def pool_env(workers: int) -> dict[str, str]:
    """Environment of each CPU pool worker: pocl's threads split evenly between the workers (pocl otherwise
    starts one per core in every worker), unless the operator set POCL_MAX_PTHREAD_COUNT."""
    if "POCL_MAX_PTHREAD_COUNT" in os.environ:
        return {}
    return {"POCL_MAX_PTHREAD_COUNT": str(max(1, (os.cpu_count() or 1) // workers))}


def resolve_devices(cfg: ServeConfig) -> list[tuple[str, int, str]]:
    """(device key, memory bytes, speed class) for each device child: --devices, else every GPU (first
    --num-gpus)."""
    host_total = psutil.virtual_memory().total
    if cfg.devices is None:
        from tvmpd.opencl.devices import gpu_devices

        found = [(d.key, d.global_mem_bytes, _speed_class(d)) for d in gpu_devices()]
        if cfg.num_gpus is not None:
            if cfg.num_gpus > len(found):
                log.warning("--num-gpus %d but only %d GPU(s) found", cfg.num_gpus, len(found))
            found = found[: cfg.num_gpus]
        return found
    from tvmpd.opencl.devices import list_devices

    known = {d.key: d for d in list_devices()}
    out = []
    for key in cfg.devices:
        if key == "cpu":
            out.append((key, host_total, "numpy:host"))
        elif key in known:
            out.append((key, known[key].global_mem_bytes, _speed_class(known[key])))
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
        self.waiting: list[Waiting] = []
        cache_dir = cfg.cache_dir or default_cache_dir()
        self.timings = TimingTable(cache_dir / "timings.json")
        env = {"TVMPD_LOG_LEVEL": cfg.log_level, "TVMPD_LOG_FORMAT": cfg.log_format}
        if cfg.omp_threads:
            env["OMP_NUM_THREADS"] = str(cfg.omp_threads)
        if cfg.omp_init is not None:
            env["TRITON_OMP_INIT"] = "1" if cfg.omp_init else "0"
        env[MEMORY_MODE_ENV] = cfg.memory_mode
        env[KEEP_COSETS_ENV] = cfg.keep_cosets
        host_total = psutil.virtual_memory().total
        workers = cfg.cpu_workers or _auto_cpu_workers()
        pool_key, pool_speed = cpu_pool_device()
        pool = {**env, **pool_env(workers)} if pool_key != "cpu" else env
        self.cpu = [Child(f"cpu{i}", "cpu", pool_key, host_total, pool, pool_speed) for i in range(workers)]
        self.devices = [Child(f"gpu{i}", "device", key, mem, env, speed)
                        for i, (key, mem, speed) in enumerate(resolve_devices(cfg))]
        for child in self.children:
            child.on_stage = self._on_stage
            child.on_death = self._on_death
            child.on_admit = self._on_admit
            child.on_ready = self._on_ready
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
        log.info("supervisor pid=%d cpu_workers=%d devices=%s max_jobs=%d routing=%s proof_versions=%s",
                 self.pid, len(self.cpu),
                 ",".join(f"{c.name}={c.device_key}" for c in self.devices) or "none", self.max_jobs,
                 "earliest-finish" if self.cfg.cpu_max_log2 is None else
                 f"cpu-max-log2={self.cfg.cpu_max_log2}",
                 ",".join(str(v) for v in jobs.supported_proof_versions()))
        from tvmpd.stages.air.kernel_cache import kernels_digest

        log.info("AIR kernels digest %s", kernels_digest())

    @property
    def ready(self) -> bool:
        """Every child that can run is warm (readiness; liveness is judged per job from progress)."""
        usable = [c for c in self.children if c.state != ChildState.FAILED]
        return bool(usable) and all(c.state in (ChildState.IDLE, ChildState.BUSY) for c in usable)

    def hang_limit(self, child: Child) -> float:
        """Seconds a child may go without progress before it counts as hung: a warming child gets minutes
        (kernel builds report nothing while they run); a busy one its task's predicted time x margin,
        never less than the floor."""
        if child.state in (ChildState.STARTING, ChildState.WARMING):
            warm = self.timings.predict_warmup(child.speed_class)
            return max(WARMING_HANG_FLOOR_S, self.cfg.hang_floor_s, self.cfg.hang_margin * warm)
        if child.current and child.current["op"] == "execute":
            return self.cfg.hang_floor_s  # the VM reports progress as it runs; its length is not predicted
        return max(self.cfg.hang_floor_s, self.cfg.hang_margin * child.busy_predicted)

    def check_child(self, child: Child, now: float) -> None:
        """The watchdog's look at one child: dead, or making no progress for longer than it may."""
        child.check_alive()
        if child.state not in (ChildState.STARTING, ChildState.WARMING, ChildState.BUSY):
            return
        silent = now - child.last_progress
        limit = self.hang_limit(child)
        if silent > limit:
            what = f"{child.current['stage']} of job seq={child.current['job']}" if child.current else \
                child.state.value
            child.fail(f"no progress for {silent:.0f}s during {what} (limit {limit:.0f}s)")

    def guard_memory(self) -> None:
        """When the host is about to run out of memory, stop the busy child holding the most (the kernel's
        OOM killer would otherwise pick a process, maybe the supervisor) and answer its job ERROR."""
        vm = psutil.virtual_memory()
        if vm.available >= max(MEMORY_FLOOR_BYTES, vm.total * MEMORY_FLOOR_FRACTION):
            return
        busy = []
        for child in self.children:
            if child.state == ChildState.BUSY and child.current and child.pid:
                try:
                    busy.append((psutil.Process(child.pid).memory_info().rss, child))
                except psutil.Error:
                    continue
        if not busy:
            return
        rss, child = max(busy, key=lambda b: b[0])
        job = self.jobs.get(child.current["job"])
        held = gib(job.host_hold) if job else "?"
        message = (f"job stopped: host memory nearly exhausted ({gib(vm.available)} available of "
                   f"{gib(vm.total)}) while its process held {gib(rss)} (reserved for the job: {held})")
        if job:
            job.fatal = message
        log.error("memory guard: %s; stopping %s", message, child.name)
        child.fail("stopped by the memory guard")

    async def _watch(self) -> None:
        tick = 0
        while True:
            await asyncio.sleep(0.25)
            tick += 1
            now = time.monotonic()
            for child in self.children:
                try:
                    self.check_child(child, now)
                except Exception:  # keep watching the others
                    log.exception("watchdog: checking %s failed", child.name)
            if tick % 4 == 0:
                try:
                    self.guard_memory()
                except Exception:
                    log.exception("watchdog: memory guard failed")

    def _kick(self) -> None:
        self._wake.set()
        self._wake = asyncio.Event()
        self._dispatch()

    def _on_ready(self, child: Child, warmup_s: float) -> None:
        log.info("child %s ready after %.1fs warm-up", child.name, warmup_s)
        if child.device_key != "cpu":
            self.timings.record(child.speed_class, "warmup", warmup_s)
        if self.ready:
            log.info("ready: all %d children warm", len([c for c in self.children
                                                         if c.state != ChildState.FAILED]))
        self._kick()

    def _on_stage(self, seq: int, stage: str, child: Child) -> None:
        job = self.jobs.get(seq)
        if job is None:
            return
        if child.kind == "device" or job.state == JobState.PROVING:
            job.set_state(JobState.PROVING, stage)
        self._event(job, "stage", stage=stage, device=child.name)

    def _on_death(self, child: Child, reason: str) -> None:
        """A child died or was killed: restart it with back-off (doubling per failure since it last completed
        a job), or give it up after MAX_BOOT_FAILURES deaths before it was ever ready."""
        if child.state == ChildState.FAILED:
            self.totals["child_failed"] += 1
            self._kick()
            return
        if child.boot_failures >= MAX_BOOT_FAILURES:
            child.give_up(f"died {child.boot_failures} times before it was ready (last: {reason})")
            return
        delay = min(self.cfg.restart_backoff_max_s, self.cfg.restart_backoff_s * 2 ** child.quick_failures)
        child.quick_failures += 1
        child.restarts += 1
        self.totals["child_restarts"] += 1
        log.warning("child %s pid=%s died (%s); restart in %.1fs", child.name, child.pid, reason, delay)
        asyncio.get_running_loop().call_later(delay, self._restart, child)
        self._kick()

    def _cpu_only(self, forced: bool) -> bool:
        return forced or not self.devices

    def _host_need(self, log2: int, on_cpu: bool) -> int:
        """Host memory a job holds while it is proved: all of CPU proving (at most the whole host: such a
        job runs alone), or just its table for a device."""
        if on_cpu:
            return min(prove_bytes(log2), self._host_capacity())
        return table_bytes(log2)

    def _on_admit(self, seq: int, log2: int, forced: bool, child: Child) -> None:
        """A worker asks to build a job's main table: hold the job's host memory, or say "later" (the worker
        then gives up its slot, and no job holds memory while waiting for more), or refuse what never fits."""
        job = self.jobs.get(seq)
        # the table is held from now on; CPU proving holds the rest when it is placed on a worker
        need = self._host_need(log2, self._cpu_only(forced))
        if job is None or job.abandoned:
            child.reply(AdmitReply(Admission.REFUSED, "job abandoned"))
        elif job.host_hold >= need:
            child.reply(AdmitReply(Admission.ADMITTED))
        elif table_bytes(log2) > self._host_capacity():
            cap, table = gib(self._host_capacity()), gib(table_bytes(log2))
            child.reply(AdmitReply(Admission.REFUSED, f"job's main table needs about {table} of host memory "
                                   f"at log2 padded height {log2}, more than this host can give ({cap})"))
        elif self._host_fits(need):
            self.host_reserved += need
            job.host_hold += need
            child.reply(AdmitReply(Admission.ADMITTED))
        else:
            self._event(job, "memory-wait", need=gib(need), reserved=gib(self.host_reserved))
            child.reply(AdmitReply(Admission.LATER))

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
        if self.stopping or child.state in (ChildState.STOPPED, ChildState.FAILED):
            return
        try:
            child.start()
        except Exception as exc:  # e.g. out of processes or file descriptors: try again later
            child.state = ChildState.RESTARTING
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
        kv = {k: v for k, v in kv.items() if v is not None}
        parts = [f"{k}={json.dumps(str(v)) if ' ' in str(v) else v}" for k, v in kv.items()]
        extra = " ".join(parts)
        fields = {"seq": job.seq, "id": job.job_id, "event": event, "log2": job.log2, **kv}
        log.log(event_level(event, kv), "job seq=%d id=%d event=%s log2=%s %s", job.seq, job.job_id, event,
                job.log2 if job.log2 is not None else "-", extra, extra={"fields": fields})

    def accept(self, req: protocol.Request, peer: str) -> Job:
        """Register a request as a queued job."""
        job = Job(next(self.seq), req.job_id, peer, req.fields())
        self.jobs[job.seq] = job
        self.totals["accepted"] += 1
        self._event(job, "accepted", peer=peer, bytes=req.size())
        return job

    def abandon(self, job: Job) -> None:
        """The client went away: drop the job where it waits; a child running it is asked to stop at its
        next stage boundary (VM: within PROGRESS_CYCLES cycles) and stays up; only a child that has not
        stopped after cancel_grace_s is killed."""
        if job.seq not in self.jobs or job.abandoned:
            return
        job.abandoned = True
        self._event(job, "abandoned", state=job.status_state(), device=job.device)
        for child in self.children:
            if child.current and child.current["job"] == job.seq:
                child.cancel(job.seq)
                asyncio.get_running_loop().call_later(self.cfg.cancel_grace_s, self._cancel_overdue,
                                                      child, job.seq)
        self._kick()

    def _cancel_overdue(self, child: Child, seq: int) -> None:
        if child.current and child.current["job"] == seq:
            child.fail(f"did not stop its abandoned job within {self.cfg.cancel_grace_s:.0f}s")

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
            self._finish(job, JobState.FAILED, "stopped")
        finally:
            self._tasks.pop(job.seq, None)
            self._drop_hold(job)
            shm.unlink_prefix(shm.job_prefix(self.pid, job.seq))
            self.jobs.pop(job.seq, None)
            self._kick()
        return answer

    def _finish(self, job: Job, state: JobState, outcome: str, **kv) -> None:
        job.set_state(state)
        self.totals[outcome] += 1
        self.recent.append({"seq": job.seq, "job_id": job.job_id, "state": state.value, "outcome": outcome,
                            "device": job.device, "log2": job.log2, "attempts": job.attempt + 1,
                            "memory_mode": job.memory_mode,
                            "seconds": round(time.monotonic() - job.created, 3)})
        times = {k: f"{v:.3f}s" for k, v in job.timings.items()}
        age = f"{time.monotonic() - job.created:.3f}s"
        metrics.job_finished(outcome, job.device, job.log2, time.monotonic() - job.created)
        self._event(job, state.value, outcome=outcome, device=job.device, age=age, **times,
                    stages=job.stage_timings, **kv)

    async def _guarded(self, job: Job) -> bytes:
        try:
            refusal = jobs.version_refusal(job.fields[0])
        except jobs.JobError as exc:  # the VM module is missing: parse_request will say so again
            refusal = None
            log.error("job seq=%d: cannot check the claim version: %s", job.seq, exc)
        if refusal:  # before any work: a node must learn this at once, not after minutes of proving
            self._finish(job, JobState.FAILED, "error", reason="unsupported-version")
            return protocol.encode_error(job.job_id, refusal)
        try:
            async with self.slots:
                return await self._process(job)
        except asyncio.CancelledError:
            raise
        except JobAbandoned:
            self._finish(job, JobState.FAILED, "abandoned")
            return protocol.encode_error(job.job_id, "job abandoned: its client went away")
        except Exception as exc:  # never leave a client without an answer
            log.exception("job seq=%d: internal error", job.seq)
            self._finish(job, JobState.FAILED, "error", reason="internal")
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
                if job.fatal:
                    self._finish(job, JobState.FAILED, "error", reason="host-memory")
                    return protocol.encode_error(job.job_id, job.fatal)
                job.excluded.add(exc.child)
                if attempt == 1:
                    self._finish(job, JobState.FAILED, "error", reason="child-died-twice")
                    return protocol.encode_error(job.job_id, f"job failed twice, giving up: {exc}")
                self.totals["retried"] += 1
                self._event(job, "retry", reason=str(exc))
                job.set_state(JobState.QUEUED)
                job.device = None
            except JobRefused as exc:
                self._finish(job, JobState.FAILED, "error", reason="refused")
                return protocol.encode_error(job.job_id, str(exc))
        raise AssertionError("unreachable")

    async def _attempt(self, job: Job) -> bytes:
        if job.abandoned:
            raise JobAbandoned()
        prefix = shm.job_prefix(self.pid, job.seq)
        request = shm.put_bytes(f"{prefix}a{job.attempt}_request", msgpack.packb(job.fields))
        while True:
            worker = await self._acquire(job, self.cpu)
            job.set_state(JobState.EXECUTING)
            job.device = worker.name
            try:
                res = await self._run(worker, ExecuteTask(job.seq, job.attempt, prefix, request,
                                                          self.cfg.max_cycles))
            finally:
                self._release(worker, job, 0)
            if res.outcome == Outcome.CANCELLED:
                raise JobAbandoned()
            if res.outcome != Outcome.LATER:
                break
            # the main table did not fit in host memory now: wait without holding a worker, then redo
            job.set_state(JobState.QUEUED)
            job.log2 = res.log2
            await self._hold_host(job, self._host_need(res.log2, self._cpu_only(res.force_cpu)))
        shm.unlink(request["name"])
        if res.t_execute is not None:
            job.timings["t_execute"] = res.t_execute
        exec_stages = res.stages
        if job.abandoned:
            raise JobAbandoned()
        if res.outcome == Outcome.ERROR:
            self._finish(job, JobState.FAILED, "error", reason=res.message[:120])
            return protocol.encode_error(job.job_id, res.message)
        job.log2 = res.log2
        if res.outcome == Outcome.TOO_BIG:
            self._finish(job, JobState.DONE, "too_big")
            return protocol.encode_too_big(job.job_id, res.log2)
        self._event(job, "executed", forced=res.force_cpu or None, t_execute=f"{res.t_execute or 0:.3f}s")
        job.set_state(JobState.QUEUED)
        job.device = None
        child, host = await self._place(job, res.force_cpu)
        job.set_state(JobState.PROVING, "prove")
        job.device = child.name
        job.proving_since = time.monotonic()
        try:
            res = await self._run(child, ProveTask(job.seq, job.attempt, prefix, res.blocks, res.scalars,
                                                   res.env, job.fields[0]))
        finally:
            self._release(child, job, host)
        if res.outcome == Outcome.CANCELLED:
            raise JobAbandoned()
        if res.t_prove is not None:
            job.timings["t_prove"] = res.t_prove
        job.memory_mode = res.memory_mode or None
        all_stages = {**exec_stages, **res.stages}
        if all_stages:
            job.stage_timings = "; ".join(f"{k}={v:.3f}s" for k, v in all_stages.items())
            metrics.stages_finished(job.log2, all_stages)
        if res.outcome == Outcome.ERROR:
            self._finish(job, JobState.FAILED, "error", reason=res.message[:120])
            return protocol.encode_error(job.job_id, res.message)
        child.quick_failures = 0  # a completed job resets the restart back-off
        if res.t_prove is not None:
            self.timings.record(child.speed_class, job.log2, res.t_prove)
        proof = shm.get_bytes(res.proof)
        mode = {"memory_mode": job.memory_mode} if job.memory_mode else {}
        self._finish(job, JobState.DONE, "ok", proof_bytes=len(proof), **mode)
        return protocol.encode_ok(job.job_id, proof)

    async def _run(self, child: Child, task: ExecuteTask | ProveTask) -> Result:
        try:
            return await child.run(task)
        except ChildDied as exc:
            exc.child = child.name
            raise

    # ------------------------------------------------------------ placement

    def _host_capacity(self) -> int:
        if self.cfg.host_memory:
            return self.cfg.host_memory
        return int(psutil.virtual_memory().total * HOST_FRACTION)

    def _host_fits(self, need: int) -> bool:
        if self.host_reserved == 0 or need == 0:
            return True  # one job alone may always try; nothing more asked always fits
        fits = self.host_reserved + need <= self._host_capacity()
        return fits and need <= psutil.virtual_memory().available

    async def _acquire(self, job: Job, pool: list[Child]) -> Child:
        """Wait for an idle child of `pool` (the CPU pool, to execute a job), one the job has not failed on
        where another exists; mark it busy."""
        if not pool:
            raise JobRefused("no child can run this job (no CPU worker)")
        while True:
            if self.stopping:
                raise asyncio.CancelledError()
            if job.abandoned:
                raise JobAbandoned()
            free = [c for c in pool if c.state == ChildState.IDLE and c.current is None]
            fresh = [c for c in free if c.name not in job.excluded]
            others_alive = any(c.name not in job.excluded and c.state != ChildState.FAILED for c in pool)
            candidates = fresh or ([] if others_alive else free)
            if candidates:
                child = min(candidates, key=lambda c: c.name)
                child.state = ChildState.BUSY
                child.busy_predicted = EXECUTE_PREDICTED_S
                return child
            if all(c.state in (ChildState.FAILED, ChildState.STOPPED) for c in pool):
                raise JobRefused("no CPU worker could start: see the daemon's log")
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

    def _device_need(self, child: Child, log2: int) -> int:
        """Device memory a 2^log2 proof takes on this child, in the memory mode it will use there, with the
        cosets it keeps within the memory others leave (the child plans them from the free memory)."""
        return device_prove_bytes(log2, child.mem_total, self.cfg.memory_mode, self.cfg.keep_cosets,
                                  child.capacity)

    def predict(self, child: Child, log2: int) -> float:
        """Predicted seconds to prove 2^log2 on this child (a device too small for the job's memory
        estimate is penalised: it is chosen only when no other child can take the job)."""
        t = self.timings.predict(child.speed_class, log2)
        if child.kind == "device" and self._device_need(child, log2) > child.capacity:
            t += TOO_SMALL_PENALTY_S
        return t

    def free_in(self, child: Child, now: float) -> float | None:
        """Predicted seconds until the child can start another task; None for one that never will."""
        state = child.state
        if state == ChildState.IDLE:
            return 0.0
        if state == ChildState.BUSY:
            return max(0.0, child.busy_predicted - (now - child.busy_since))
        if state in (ChildState.STARTING, ChildState.WARMING, ChildState.RESTARTING):
            return max(1.0, self.timings.predict_warmup(child.speed_class) - (now - child.started_at))
        return None

    def options(self, job: Job, forced_cpu: bool) -> list[Child]:
        """The children a job may be proved on: all of them by default; the CPU pool for a job forced to
        the CPU (or without devices); with --cpu-max-log2, the CPU pool up to it and devices above. Children
        the job failed on are left out while another can take it."""
        cap = self.cfg.cpu_max_log2
        if self._cpu_only(forced_cpu) or (cap is not None and job.log2 <= cap):
            pool = self.cpu
        elif cap is not None:
            pool = self.devices
        else:
            pool = self.children
        alive = [c for c in pool if c.state not in (ChildState.FAILED, ChildState.STOPPED)]
        fresh = [c for c in alive if c.name not in job.excluded]
        return fresh or alive

    def _dispatch(self) -> None:
        """Give waiting jobs their children, in arrival order, each where it is predicted to finish first.

        A job whose best child is busy waits for it, and the jobs behind it see that child as busy for the
        job's predicted time as well (list scheduling), so a burst spreads over the children by predicted
        finish instead of piling onto whichever frees first.
        """
        if not self.waiting:
            return
        now = time.monotonic()
        free = {c.name: self.free_in(c, now) for c in self.children}
        for w in sorted(self.waiting, key=lambda w: w.job.seq):
            if w.future.done():
                continue
            if w.job.abandoned:
                w.future.set_exception(JobAbandoned())
                continue
            scored = []
            for child in self.options(w.job, w.forced_cpu):
                if free[child.name] is not None:
                    pred = self.predict(child, w.job.log2)
                    scored.append((free[child.name] + pred, child.name, pred, child))
            if not scored:
                w.future.set_exception(JobRefused("no child can prove this job: every one that could has "
                                                  "failed to start (see the daemon's log)"))
                continue
            finish, _, pred, child = min(scored, key=lambda s: (s[0], s[1]))
            on_cpu = child.kind == "cpu" or child.device_key == "cpu"
            host = max(0, self._host_need(w.job.log2, on_cpu) - w.job.host_hold)
            if child.state == ChildState.IDLE and child.current is None and self._host_fits(host):
                if child.kind == "device":
                    w.job.device_hold = min(self._device_need(child, w.job.log2), child.capacity)
                    child.mem_reserved += w.job.device_hold
                self.host_reserved += host
                child.state = ChildState.BUSY
                child.busy_since, child.busy_predicted = now, pred
                w.job.predicted = pred
                choices = " ".join(f"{n}={f:.1f}s" for f, n, _, _ in sorted(scored, key=lambda s: s[1]))
                self._event(w.job, "proving", device=child.name, key=child.device_key,
                            predicted=f"{pred:.2f}s", finish=choices)
                w.future.set_result((child, host))
                free[child.name] = pred
            else:
                free[child.name] = finish  # it queues behind: later jobs see the child busy for it too

    async def _place(self, job: Job, forced_cpu: bool) -> tuple[Child, int]:
        """Wait until the dispatcher gives the job a child; (child, host memory reserved for it)."""
        if self.stopping:
            raise asyncio.CancelledError()
        waiting = Waiting(job, forced_cpu, asyncio.get_running_loop().create_future())
        self.waiting.append(waiting)
        try:
            self._dispatch()
            return await waiting.future
        finally:
            self.waiting.remove(waiting)

    # ------------------------------------------------------------ status

    def status(self) -> dict:
        """A msgpack/JSON-friendly snapshot for `tvmpd status`."""
        now = time.monotonic()
        vm = psutil.virtual_memory()
        by_child = {}
        for job in self.jobs.values():
            if job.device and job.state != JobState.QUEUED:
                by_child[job.device] = job
        children = []
        for c in self.children:
            j = by_child.get(c.name) if c.state == ChildState.BUSY else None
            free = self.free_in(c, now)
            children.append({
                "name": c.name, "kind": c.kind, "key": c.device_key, "state": c.state.value, "pid": c.pid,
                "speed_class": c.speed_class, "restarts": c.restarts, "mem_total": c.mem_total,
                "mem_reserved": c.mem_reserved, "mem_free": c.mem_free, "mem_capacity": c.capacity,
                "free_in_s": None if free is None else round(free, 3), "error": c.boot_error,
                "job": j.seq if j else None, "job_id": j.job_id if j else None,
                "stage": (c.current or {}).get("stage") if j else None,
            })
        rows = [{"seq": j.seq, "job_id": j.job_id, "state": j.status_state(), "device": j.device,
                 "log2": j.log2, "attempt": j.attempt, "age_s": round(now - j.created, 3), "peer": j.peer,
                 "predicted_s": None if j.predicted is None else round(j.predicted, 3),
                 "proving_s": None if j.proving_since is None else round(now - j.proving_since, 3)}
                for j in sorted(self.jobs.values(), key=lambda j: j.seq)]
        return {
            "pid": self.pid, "uptime_s": round(now - self.started, 3), "draining": self.draining,
            "ready": self.ready,
            "max_jobs": self.max_jobs, "cpu_max_log2": self.cfg.cpu_max_log2,
            "memory_mode": self.cfg.memory_mode, "keep_cosets": self.cfg.keep_cosets,
            "proof_versions": list(jobs.supported_proof_versions()),
            "children": children, "jobs": rows,
            "queue": [j for j in rows if j["state"] == "queued"],
            "running": [j for j in rows if j["state"] != "queued"],
            "recent": list(self.recent),
            "totals": dict(self.totals),
            "memory": {"host_total": vm.total, "host_available": vm.available,
                       "host_reserved": self.host_reserved},
        }
