"""Child processes: CPU pool workers and device children, and the supervisor's handle on each.

A child owns one device key (an OpenCL "platform:device" key, or "cpu") and runs one task at a time:
"execute" (parse, run the VM, build the main table, put it into shared memory) or "prove" (read it back,
prove, put the proof into shared memory). Messages both ways are msgpack maps over a multiprocessing pipe;
arrays travel only as shared-memory blocks named in those maps.

Liveness comes from the work itself: a child reports progress from its work loop (warm-up steps, stage
boundaries, VM cycle counts), and the supervisor judges a busy child hung when that stops for longer than
its job's predicted time allows. Before it says "ready" a child warms up: an OpenCL device child proves a
tiny built-in program, which builds (or loads from pyopencl's binary cache) every kernel a proof uses, so
no job pays for the build. A side thread only reports the device's free memory.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import multiprocessing
import os
import threading
import time

import msgpack
import numpy as np

from tvmpd.supervisor.config import KEEP_COSETS_ENV, MEMORY_MODE_ENV
from tvmpd.supervisor.devmem import free_bytes
from tvmpd.supervisor.messages import (
    Admission,
    Admit,
    AdmitReply,
    BootFailed,
    ExecuteTask,
    Hello,
    Memory,
    Message,
    Outcome,
    Progress,
    ProveTask,
    Ready,
    Result,
    Stage,
    Stop,
    decode,
    encode,
)

log = logging.getLogger("tvmpd")
MEM_REPORT_S = 5.0
PROGRESS_MIN_S = 0.5  # VM progress is reported at most this often
# The warm-up proof: `halt` alone, padded height 2^8 (as small as a proof gets).
WARMUP_TASM = "halt"


class ChildState(enum.StrEnum):
    """Where a child is in its life; a str so that logs and status show the plain name."""

    STARTING = "starting"  # spawned, not yet heard from
    WARMING = "warming"  # up, building kernels / compiling before it takes jobs
    IDLE = "idle"
    BUSY = "busy"
    RESTARTING = "restarting"  # died or was killed; a restart is scheduled
    FAILED = "failed"  # could not start (no device, driver error): not restarted
    STOPPED = "stopped"


# ---------------------------------------------------------------- child side


def _run_execute(task: ExecuteTask, stage, ask, progress) -> Result:
    from tvmpd.supervisor import jobs, shm

    stage("execute")
    t0 = time.perf_counter()
    fields = msgpack.unpackb(shm.get_bytes(task.request))
    try:
        parsed = jobs.parse_request(fields)
        result = jobs.execute(parsed, task.max_cycles or jobs.DEFAULT_MAX_CYCLES, progress)
    except jobs.JobError as exc:
        return Result(task.job, Outcome.ERROR, message=str(exc))
    t_exec = time.perf_counter() - t0
    if result.kind == "error":
        return Result(task.job, Outcome.ERROR, message=result.message, t_execute=t_exec)
    if result.kind == "too_big":
        return Result(task.job, Outcome.TOO_BIG, log2=result.log2, t_execute=t_exec)
    # the main table is the big host allocation of a job: wait until the supervisor admits it
    answer = ask(Admit(task.job, result.log2, result.force_cpu))
    if isinstance(answer, AdmitReply) and answer.answer == Admission.LATER:
        return Result(task.job, Outcome.LATER, log2=result.log2, force_cpu=result.force_cpu, t_execute=t_exec)
    if not isinstance(answer, AdmitReply) or answer.answer != Admission.ADMITTED:
        message = answer.message if isinstance(answer, AdmitReply) else "not admitted"
        return Result(task.job, Outcome.ERROR, message=message, t_execute=t_exec)
    name = f"{task.prefix}a{task.attempt}_"
    stage("main table")
    t0 = time.perf_counter()
    made: list[tuple[dict, object]] = []

    def allocate(shape: tuple[int, ...]):
        desc, view = shm.create_array(name + "main_table", shape)  # filled in place: no copy afterwards
        made.append((desc, view))
        return view

    try:
        table = jobs.build_main_table(result.aet, allocate)
    except jobs.JobError as exc:
        return Result(task.job, Outcome.ERROR, message=str(exc), t_execute=t_exec)
    stages = {}
    if table is not None:
        stages["main table"] = time.perf_counter() - t0
        if made and table.shape == made[0][1].shape and np.may_share_memory(table, made[0][1]):
            blocks = {"main_table": made[0][0]}
        else:  # a prover that built its own array
            if made:
                shm.unlink(made[0][0]["name"])
            blocks = {"main_table": shm.put_array(name + "main_table", table)}
        del table, made
    else:
        blocks = {k: shm.put_array(name + k, arr) for k, arr in jobs.aet_arrays(result.aet).items()}
    return Result(task.job, Outcome.EXECUTED, log2=result.log2, force_cpu=result.force_cpu, blocks=blocks,
                  scalars=jobs.aet_scalars(result.aet),
                  env=[list(p) for p in parsed.env_vars.get(result.log2, [])], t_execute=t_exec,
                  stages=stages)


def _keep_memory(device_key: str) -> int | None:
    """Device memory a proof's kept cosets may plan for: what is free as the job starts (others' use
    excluded, as the scheduler's capacity; our released buffers are free again), None when unknown."""
    free = free_bytes(device_key)
    return None if free is None else int(free)


def _run_prove(task: ProveTask, device_key: str, stage) -> Result:
    from tvmpd.supervisor import jobs, shm

    stage("prove")
    t0 = time.perf_counter()
    timings: dict[str, float] = {}

    def on_timing(name: str, seconds: float) -> None:
        timings[name] = seconds

    env = [tuple(p) for p in task.env]
    arrays = {name: shm.attached(desc) for name, desc in task.blocks.items()}  # mapped, not copied
    table = arrays.pop("main_table", None)
    aet = jobs.aet_view(arrays, task.scalars) if table is None else None
    report: dict = {}
    try:
        proof = jobs.prove_job(task.claim, device_key, env, aet=aet, table=table, on_stage=stage,
                               on_timing=on_timing, memory_mode=os.environ.get(MEMORY_MODE_ENV),
                               keep_cosets=os.environ.get(KEEP_COSETS_ENV),
                               keep_memory=_keep_memory(device_key), report=report)
    except jobs.JobError as exc:
        if exc.__cause__ is not None:
            log.error("proving failed", exc_info=exc.__cause__)
        return Result(task.job, Outcome.ERROR, message=str(exc), t_prove=time.perf_counter() - t0,
                      stages=timings)
    desc = shm.put_bytes(f"{task.prefix}a{task.attempt}_proof", proof)
    return Result(task.job, Outcome.OK, proof=desc, t_prove=time.perf_counter() - t0, stages=timings,
                  memory_mode=report.get("memory_mode", ""))


def warm_up(device_key: str, progress) -> None:
    """Pay every one-time cost before the first job: the VM's compile where it has one, and for an OpenCL
    device a proof of `halt`, which builds every kernel program a proof of any size uses (on pocl they are
    built and first launched in a helper process while the VM compiles, stages/device_warmup.py)."""
    import tvmpd.stages.vm as vm
    from tvmpd.supervisor import jobs

    build = None
    if device_key != "cpu":
        from tvmpd.stages import device_warmup

        # pocl: the kernels built and first launched in a helper process meanwhile
        build = device_warmup.start(device_key, os.environ.get(MEMORY_MODE_ENV),
                                    os.environ.get(KEEP_COSETS_ENV))
    if hasattr(vm, "warm_up"):
        progress("VM compile")
        vm.warm_up()
    if device_key == "cpu":
        return  # the numpy prover has nothing to build
    if build is not None:
        progress("kernel build")
        build.wait()
    program = vm.Program.from_tasm(WARMUP_TASM)
    claim = vm.Claim(program.digest())
    parsed = jobs.ParsedJob(claim, program, vm.NonDeterminism(), None)
    done = jobs.execute(parsed)
    table = jobs.build_main_table(done.aet)
    jobs.prove_job(claim.to_json(), device_key, [], aet=done.aet, table=table,
                   on_stage=lambda s: progress(f"warm-up proof: {s}"),
                   memory_mode=os.environ.get(MEMORY_MODE_ENV), keep_cosets=os.environ.get(KEEP_COSETS_ENV))


def child_main(conn, name: str, device_key: str, env: dict, cancel) -> None:
    """Entry point of a spawned child: warm up, then take tasks and answer each with one "result" message.

    `cancel` is a shared integer the supervisor sets to a job's sequence number to stop that job: the work
    loop checks it at every stage boundary and VM progress report and answers "cancelled".
    """
    from tvmpd.supervisor import lifecycle

    lifecycle.become_child(int(env.get("TVMPD_SUPERVISOR_PID") or os.getppid()))
    os.environ.update(env)
    from tvmpd.supervisor import jobs
    from tvmpd.supervisor.config import LOG_CONTEXT, setup_logging

    setup_logging(os.environ.get("TVMPD_LOG_LEVEL", "INFO"), os.environ.get("TVMPD_LOG_FORMAT", "text"))
    LOG_CONTEXT.context["child"] = name  # every line this process logs names its child and job
    lock = threading.Lock()
    done = threading.Event()

    def send(msg: Message) -> None:
        with lock:
            conn.send_bytes(encode(msg))

    send(Hello(os.getpid(), name))
    started = time.perf_counter()
    try:
        warm_up(device_key, lambda what: send(Progress(what=what)))
        mem_free = free_bytes(device_key)
    except Exception as exc:  # no device, a driver or build error: say why once, then exit
        log.exception("warm-up on %s failed", device_key)
        send(BootFailed(f"{type(exc).__name__}: {exc}"))
        return
    send(Ready(time.perf_counter() - started, mem_free))

    def report_memory() -> None:
        while not done.wait(MEM_REPORT_S):
            try:
                send(Memory(free_bytes(device_key)))
            except OSError:
                return
            except Exception:  # a failed measurement is no reason to stop reporting
                continue

    threading.Thread(target=report_memory, daemon=True).start()
    while True:
        try:
            task = decode(conn.recv_bytes())
        except (EOFError, OSError):
            break
        if not isinstance(task, ExecuteTask | ProveTask):
            break  # Stop
        job = task.job
        last_report = [0.0]
        LOG_CONTEXT.context["job"] = job
        log.debug("%s task started (attempt %d)", task.tag, task.attempt)

        def ask(question: Message) -> Message:
            send(question)
            return decode(conn.recv_bytes())

        def check_cancel(job=job) -> None:
            if cancel.value == job:
                raise jobs.JobCancelled()

        def stage(s: str, job=job) -> None:
            check_cancel()
            send(Stage(job, s))

        def progress(cycles: int, job=job, last_report=last_report) -> None:
            check_cancel()
            now = time.monotonic()
            if now - last_report[0] >= PROGRESS_MIN_S:
                last_report[0] = now
                send(Progress(job=job, cycles=cycles))

        try:
            if isinstance(task, ExecuteTask):
                result = _run_execute(task, stage, ask, progress)
            else:
                result = _run_prove(task, device_key, stage)
        except jobs.JobCancelled:
            log.info("job stopped: its client went away")
            result = Result(job, Outcome.CANCELLED)
        except Exception as exc:  # a bug or a resource failure: answer the job instead of dying
            log.exception("%s task failed", task.tag)
            result = Result(job, Outcome.ERROR,
                            message=f"internal error in {name}: {type(exc).__name__}: {exc}")
        log.debug("%s task ended: %s", task.tag, result.outcome.value)
        LOG_CONTEXT.context.pop("job", None)
        send(result)
    done.set()


# ---------------------------------------------------------------- supervisor side


class ChildDied(Exception):
    """The child running a task died or stopped making progress."""


class Child:
    """The supervisor's handle on one child process: spawn, send a task, await its result, watch it."""

    def __init__(self, name: str, kind: str, device_key: str, mem_total: int, env: dict,
                 speed_class: str = "numpy:host"):
        self.name = name
        self.kind = kind  # "cpu" (pool worker) or "device"
        self.device_key = device_key
        self.speed_class = speed_class  # what proves here, the key of the timing table
        self.mem_total = mem_total
        self.mem_reserved = 0
        self.mem_free: int | None = None  # as the child last measured it, None when unknown
        self.mem_foreign = 0  # device memory others held when the child started
        self.env = env
        self.state = ChildState.STARTING
        self.proc = None
        self.conn = None
        self.pid = None
        self.last_progress = 0.0  # when the child last showed progress (any message of its work loop)
        self.started_at = 0.0
        self.busy_since = 0.0
        self.busy_predicted = 0.0  # predicted seconds of the task it runs (0: unknown)
        self.restarts = 0  # every restart, for status
        self.quick_failures = 0  # deaths since it last completed a job: the restart back-off exponent
        self.boot_failures = 0  # deaths before "ready" in a row
        self.boot_error: str | None = None
        self.current: dict | None = None  # {"job", "op", "stage", "future"}
        self.cancel_flag = None  # shared with the process: the seq of a job it should stop, else 0

    @property
    def capacity(self) -> int:
        """Device memory our jobs may reserve: the total less what others held at the child's start."""
        return max(0, self.mem_total - self.mem_foreign)

    def start(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe(duplex=True)
        self.cancel_flag = ctx.RawValue("q", 0)
        self.proc = ctx.Process(target=child_main, name=f"tvmpd-{self.name}",
                                args=(child, self.name, self.device_key,
                                      {**self.env, "TVMPD_SUPERVISOR_PID": str(os.getpid())},
                                      self.cancel_flag),
                                daemon=True)
        self.proc.start()
        child.close()
        self.conn = parent
        self.pid = self.proc.pid
        self.state = ChildState.STARTING
        self.started_at = self.last_progress = time.monotonic()
        asyncio.get_running_loop().add_reader(self.conn.fileno(), self._on_readable)

    def _detach(self) -> None:
        if self.conn is not None:
            try:
                asyncio.get_running_loop().remove_reader(self.conn.fileno())
            except (ValueError, OSError):
                pass
            self.conn.close()
            self.conn = None

    def _on_readable(self) -> None:
        try:
            msg = decode(self.conn.recv_bytes())
        except (EOFError, OSError):
            self.fail("pipe closed")
            return
        except Exception as exc:  # a garbled message: the child is not trustworthy any more
            self.fail(f"bad message: {exc}")
            return
        if isinstance(msg, Memory | Ready) and msg.mem_free is not None:
            self.mem_free = int(msg.mem_free)
        if not isinstance(msg, Memory | Progress):
            job = getattr(msg, "job", None)
            log.debug("child %s says %s%s", self.name, msg.tag, f" (job seq={job})" if job else "")
        if not isinstance(msg, Memory):  # the memory thread runs on its own: it shows no progress
            self.last_progress = time.monotonic()
        current = self.current["job"] if self.current else None
        if isinstance(msg, Hello):
            self.state = ChildState.WARMING
            log.info("child %s pid=%d up: warming (%s)", self.name, msg.pid, self.device_key)
        elif isinstance(msg, Progress) and self.state == ChildState.WARMING:
            log.info("child %s warming: %s", self.name, msg.what)
        elif isinstance(msg, Ready):
            # what others use of the device when the child starts; later readings include our own caches
            self.mem_foreign = max(0, self.mem_total - self.mem_free) if self.mem_free is not None else 0
            self.state = ChildState.IDLE
            self.boot_failures = 0
            if self.on_ready:
                self.on_ready(self, msg.warmup_s)
        elif isinstance(msg, BootFailed):
            self.boot_error = msg.message
            self.give_up(f"could not start: {msg.message}")
        elif isinstance(msg, Stage) and msg.job == current:
            self.current["stage"] = msg.stage
            if self.on_stage:
                self.on_stage(msg.job, msg.stage, self)
        elif isinstance(msg, Admit) and msg.job == current:
            if self.on_admit:
                self.on_admit(msg.job, msg.log2, msg.force_cpu, self)
        elif isinstance(msg, Result) and msg.job == current:
            fut = self.current["future"]
            self.current = None
            self.state = ChildState.IDLE
            self.busy_predicted = 0.0
            if not fut.done():
                fut.set_result(msg)

    on_stage = None  # set by the scheduler: callback(job_seq, stage, child)
    on_death = None  # set by the scheduler: callback(child, reason)
    on_ready = None  # set by the scheduler: callback(child, warm-up seconds)
    on_admit = None  # set by the scheduler: callback(job_seq, log2, force_cpu, child), answers with reply()

    def cancel(self, job_seq: int) -> None:
        """Ask the child to stop job `job_seq` at its next stage boundary (or VM progress report); it then
        answers that task with outcome "cancelled" and stays up, its compiled kernels warm."""
        if self.cancel_flag is not None:
            self.cancel_flag.value = job_seq

    def reply(self, msg: Message) -> None:
        """Answer a question the child asked while running its task."""
        if self.conn is not None:
            try:
                self.conn.send_bytes(encode(msg))
            except OSError:
                self.fail("pipe broken")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.is_alive()

    def check_alive(self) -> None:
        """Declare the child dead if its process has ended."""
        if self.state in (ChildState.RESTARTING, ChildState.STOPPED, ChildState.FAILED) or self.proc is None:
            return
        if not self.proc.is_alive():
            self.fail(f"exited with code {self.proc.exitcode}")

    def _end_process(self) -> None:
        self._detach()
        if self.proc is not None and self.proc.is_alive():
            self.proc.kill()
        if self.proc is not None:
            self.proc.join(timeout=5)

    def give_up(self, reason: str) -> None:
        """The child cannot start here (no device, driver or build error): stop it for good and say why."""
        self._end_process()
        self.state = ChildState.FAILED
        log.error("child %s (%s) failed and is not restarted: %s", self.name, self.device_key, reason)
        if self.on_death:
            self.on_death(self, reason)

    def fail(self, reason: str) -> None:
        """Kill the process, fail its task with ChildDied, and let the scheduler restart it."""
        if self.state in (ChildState.RESTARTING, ChildState.STOPPED, ChildState.FAILED):
            return
        if self.state in (ChildState.STARTING, ChildState.WARMING):
            self.boot_failures += 1
        self._end_process()
        self.state = ChildState.RESTARTING
        current, self.current = self.current, None
        if current and not current["future"].done():
            died = ChildDied(f"{self.name} died during {current['stage']}: {reason}")
            current["future"].set_exception(died)
        if self.on_death:
            self.on_death(self, reason)

    async def run(self, task: ExecuteTask | ProveTask) -> Result:
        """Send one task and wait for its result; ChildDied if the child goes away meanwhile."""
        fut = asyncio.get_running_loop().create_future()
        self.current = {"job": task.job, "op": task.tag, "stage": task.tag, "future": fut}
        self.state = ChildState.BUSY
        self.busy_since = self.last_progress = time.monotonic()
        try:
            self.conn.send_bytes(encode(task))
        except (OSError, AttributeError):
            self.fail("pipe broken")
        return await fut

    def stop(self, timeout: float = 3.0) -> None:
        """Ask the child to exit, then make sure it has."""
        self.state = ChildState.STOPPED
        if self.conn is not None:
            try:
                self.conn.send_bytes(encode(Stop()))
            except OSError:
                pass
        self._detach()
        if self.proc is not None:
            self.proc.join(timeout)
            if self.proc.is_alive():
                self.proc.kill()
                self.proc.join(2)
