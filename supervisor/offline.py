"""`tvmpd prove` and `tvmpd verify`: one proof from a request file, or one check of a proof, no daemon."""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import click

from tvmpd.supervisor.config import KEEP_COSETS, KEEP_COSETS_ENV, MEMORY_MODE_ENV, MEMORY_MODES

TOO_BIG_EXIT_BASE = 200  # the reference prover's CLI exits with 200 + log2(padded height)


def _stderr(line: str) -> None:
    click.echo(line, err=True)


class StageDisplay:
    """`tvmpd prove`'s progress on stderr: a line when each stage starts and ends, with the elapsed time; on
    a terminal the running stage's line ticks its own time instead, so a long stage is never silent."""

    TICK_S = 0.5

    def __init__(self, started: float, live: bool) -> None:
        self.started, self.live = started, live
        self.stage: str | None = None
        self.stage_t0 = 0.0
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        if live:
            threading.Thread(target=self._tick, name="stage-display", daemon=True).start()

    def _stamp(self) -> str:
        return f"[{time.perf_counter() - self.started:7.2f}s]"

    def _draw(self) -> None:
        running = time.perf_counter() - self.stage_t0
        sys.stderr.write(f"\r\033[K{self._stamp()} {self.stage} ... {running:.1f}s")
        sys.stderr.flush()

    def _tick(self) -> None:
        while not self.stopped.wait(self.TICK_S):
            with self.lock:
                if self.stage is not None:
                    self._draw()

    def start(self, stage: str) -> None:
        with self.lock:
            self.stage, self.stage_t0 = stage, time.perf_counter()
            if self.live:
                self._draw()
            else:
                _stderr(f"{self._stamp()} {stage} ...")

    def end(self, stage: str, seconds: float) -> None:
        with self.lock:
            self.stage = None
            if self.live:
                sys.stderr.write("\r\033[K")
            _stderr(f"{self._stamp()} {stage} done in {seconds:.2f}s")

    def close(self) -> None:
        self.stopped.set()
        with self.lock:
            if self.live and self.stage is not None:
                sys.stderr.write("\n")
                self.stage = None


def _read_request(path: str) -> list[str]:
    try:
        lines = Path(path).read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"cannot read request {path}: {exc}") from None
    lines = [line for line in lines if line.strip()]
    if len(lines) != 5:
        raise click.ClickException(f"{path}: a request has 5 JSON lines (claim, program, non-determinism, "
                                   f"max log2 padded height, env vars), found {len(lines)}")
    return lines


def _check_writable(output: str) -> None:
    """Fail before proving, not after, when the proof could not be written to `output`."""
    parent = Path(output).resolve().parent
    if not parent.is_dir():
        raise click.BadParameter(f"folder {parent} does not exist", param_hint="-o")
    if not os.access(parent, os.W_OK):
        raise click.BadParameter(f"folder {parent} is not writable", param_hint="-o")


@click.command()
@click.argument("request", type=click.Path(dir_okay=False))
@click.option("-o", "--output", "output", type=click.Path(dir_okay=False), default=None,
              help="Where to write bincode(Proof); default: standard output.")
@click.option("--seed", default=None, help="32-byte randomness seed as 64 hex digits (reproducible proofs).")
@click.option("--backend", type=click.Choice(["numpy", "opencl"]), default="numpy", show_default=True)
@click.option("--device", default=None, help="OpenCL device key (`tvmpd devices`); implies --backend opencl.")
@click.option("--memory-mode", "memory_mode", type=click.Choice(MEMORY_MODES), default="auto",
              envvar=MEMORY_MODE_ENV, show_envvar=True, show_default=True,
              help="OpenCL: how the device holds the proof (auto: from the memory model; full, half or lean "
                   "force one, as `serve --memory-mode`).")
@click.option("--keep-cosets", "keep_cosets", type=click.Choice(KEEP_COSETS), default="auto",
              envvar=KEEP_COSETS_ENV, show_envvar=True, show_default=True,
              help="OpenCL: which tables keep their coset values (auto: from the memory model; none, main, "
                   "aux or both force one, as `serve --keep-cosets`).")
def prove(request: str, output: str | None, seed: str | None, backend: str, device: str | None,
          memory_mode: str, keep_cosets: str) -> None:
    """Prove REQUEST (the five JSON lines a node sends) and write the proof."""
    seed_bytes = None
    if seed is not None:
        try:
            seed_bytes = bytes.fromhex(seed)
        except ValueError:
            seed_bytes = b""
        if len(seed_bytes) != 32:
            raise click.BadParameter("the seed is 64 hex digits (32 bytes)", param_hint="--seed")
    if output is None and sys.stdout.isatty():
        raise click.UsageError("refusing to write a binary proof to a terminal: give -o FILE or redirect "
                               "standard output")
    if output is not None:
        _check_writable(output)
    if device is not None:
        backend = "opencl"
        from tvmpd.opencl.devices import list_devices

        keys = [d.key for d in list_devices()]
        if device not in keys:
            raise click.BadParameter(f"no OpenCL device {device!r} (found: {', '.join(keys) or 'none'}; "
                                     "see `tvmpd devices`)", param_hint="--device")
    if backend == "opencl" and device is None:
        from tvmpd.opencl.devices import cpu_device, gpu_devices

        chosen = (gpu_devices() or [cpu_device()])[0]
        if chosen is None:
            raise click.ClickException("no OpenCL device found; use --backend numpy")
        device = chosen.key
    started = time.perf_counter()
    kernels_warmup = None
    if backend == "opencl":
        from tvmpd.stages import device_warmup

        # pocl, first run here: the kernels built and first launched in a helper while the VM runs; the
        # proof below follows its proof a stage behind
        kernels_warmup = device_warmup.start(device, memory_mode, keep_cosets, background=True)
    # the prover's imports after the helper's start: on a cold machine with cores to spare its chain of
    # builds is what the proof waits for
    from tvmpd.stages import vm
    from tvmpd.stages.proof import to_bincode
    from tvmpd.stages.prover import prove as stark_prove
    from tvmpd.supervisor import jobs

    # First run here (numba's cache cold): the VM, the AET and the table fill run without numba's compile,
    # which a background helper does once the proof is written.
    cold = not vm.loop_cached()
    reference_cycles = vm.REFERENCE_CYCLES if cold else None
    try:
        job = jobs.parse_request(_read_request(request))
        done = jobs.execute(job, reference_cycles=reference_cycles)
    except jobs.JobError as exc:
        raise click.ClickException(str(exc)) from None
    if done.kind == "error":
        raise click.ClickException(done.message)
    if done.kind == "too_big":
        _stderr(f"padded height 2^{done.log2} exceeds the maximum 2^{job.max_log2}; not proving")
        sys.exit(TOO_BIG_EXIT_BASE + done.log2)
    _stderr(f"executed: padded height 2^{done.log2}, {time.perf_counter() - started:.2f}s")

    from tvmpd.stages.prover import MAIN_TABLE_STAGE, DeviceTooSmall, backend_for

    display = StageDisplay(started, sys.stderr.isatty())

    def on_stage(stage: str) -> None:
        display.start(stage)
        if kernels_warmup is not None and stage != MAIN_TABLE_STAGE:  # that one launches no kernel
            kernels_warmup.past(stage)  # its kernels are in pocl's cache once the helper's proof is past it

    # cold: small aux tables extend on the host, as the helper's proof does (no proof waits for extend.cl)
    prover_backend = backend_for(device, memory_mode=memory_mode, keep_cosets=keep_cosets,
                                 cold=kernels_warmup is not None)
    try:
        proof = stark_prove(job.claim, done.aet, seed=seed_bytes, device_key=device, on_stage=on_stage,
                            progress=display.end, backend=prover_backend, compiled=not cold)
    except DeviceTooSmall as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        display.close()
        # The helper and its own helpers go on building what no proof waits for (extend.cl), and record the
        # finished build for the next run; not waited for. One that has exited is (a failure is logged).
        if kernels_warmup is not None and kernels_warmup.ended is not None:
            kernels_warmup.wait()
        elif kernels_warmup is not None and kernels_warmup.proof_done():
            _stderr("first run on this device: kernels built as this proof needed them; the rest build in "
                    "the background for the next run")
    layout = getattr(prover_backend, "layout", None)
    if layout is not None:
        _stderr(f"memory mode: {layout.label} (cosets of {layout.rows} rows)")
    blob = to_bincode(proof)
    if output is None:
        sys.stdout.buffer.write(blob)
        sys.stdout.buffer.flush()
    else:
        try:
            Path(output).write_bytes(blob)
        except OSError as exc:
            raise click.ClickException(f"cannot write {output}: {exc.strerror or exc}") from None
    total = time.perf_counter() - started
    _stderr(f"proof: {len(proof)} field elements, {len(blob)} bytes, total {total:.2f}s")
    if cold:
        vm.compile_in_background()
        _stderr("first run here: the VM ran without numba's compiled loops, which now compile in the "
                "background for the next run")


@click.command()
@click.argument("claim", type=click.Path(dir_okay=False))
@click.argument("proof", type=click.Path(dir_okay=False))
def verify(claim: str, proof: str) -> None:
    """Verify PROOF (bincode) against CLAIM (claim JSON, or a request whose first line is the claim).

    Exits 0 for a valid proof, 1 for an invalid one (with the reason), 2 for unreadable input.
    """
    if "numpy" not in sys.modules:
        # numpy's OpenBLAS starts a thread per core when it loads, a sixth of this short command here; the
        # verifier multiplies no float matrices. A value the user set is kept.
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from tvmpd.stages.proof import ProofFormatError, from_bincode
    from tvmpd.stages.verifier import VerificationError
    from tvmpd.stages.verifier import verify as stark_verify
    from tvmpd.stages.vm import Claim

    try:
        lines = [line for line in Path(claim).read_text().splitlines() if line.strip()]
        if not lines:
            raise ValueError(f"{claim} is empty")
        the_claim = Claim.from_json(lines[0])
        blob = Path(proof).read_bytes()
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        _stderr(f"error: cannot read claim or proof: {reason}")
        sys.exit(2)
    started = time.perf_counter()
    try:
        stark_verify(the_claim, from_bincode(blob))
    except (VerificationError, ProofFormatError) as exc:
        click.echo(f"invalid: {exc}")
        sys.exit(1)
    click.echo(f"valid ({time.perf_counter() - started:.2f}s)")


@click.command()
@click.option("--device", "devices", multiple=True,
              help="OpenCL device key to build for (repeatable; default: the CPU device and every GPU).")
def build(devices: tuple[str, ...]) -> None:
    """Pay every one-time build on this machine now (the VM's compile, the AIR's kernels, each OpenCL
    program of each device), so that the first `tvmpd prove` or `tvmpd serve` starts warm."""
    from tvmpd.opencl.devices import cpu_device, gpu_devices, list_devices
    from tvmpd.supervisor.children import warm_up

    keys = list(devices)
    if not keys:
        keys = [d.key for d in [cpu_device(), *gpu_devices()] if d is not None] or ["cpu"]
    known = {d.key for d in list_devices()} | {"cpu"}
    for key in keys:
        if key not in known:
            raise click.BadParameter(f"no OpenCL device {key!r} (see `tvmpd devices`)", param_hint="--device")
    started = time.perf_counter()
    for key in keys:
        t0 = time.perf_counter()
        warm_up(key, lambda what, key=key: _stderr(f"[{time.perf_counter() - started:7.2f}s] {key}: {what}"))
        _stderr(f"[{time.perf_counter() - started:7.2f}s] {key}: built in {time.perf_counter() - t0:.2f}s")
