"""The `tvmpd` command line: a click group whose subcommands are the daemon's entry points."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

from supervisor import offline
from supervisor.config import (
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_FRAME,
    DEFAULT_TCP,
    ServeConfig,
    default_control_path,
    default_unix_path,
    setup_logging,
)


def proof_versions_text() -> str:
    """Which claim versions this build proves, e.g. "proof version 5 (Triton VM v7.0.0)"."""
    from stages.vm.types import PROOF_SYSTEM_NAMES, SUPPORTED_PROOF_VERSIONS

    return "proof version " + ", ".join(f"{v} ({PROOF_SYSTEM_NAMES.get(v, '?')})"
                                        for v in SUPPORTED_PROOF_VERSIONS)


def _print_version(ctx: click.Context, _param, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from importlib.metadata import PackageNotFoundError, version

    try:
        ours = version("tvmpd")
    except PackageNotFoundError:
        ours = "(not installed)"
    click.echo(f"tvmpd {ours}; proves {proof_versions_text()}")
    ctx.exit()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=_print_version,
              help="Print the version and the proof versions this build proves, then exit.")
def main() -> None:
    """tvmpd: a proving daemon for Triton VM v7.0.0."""


@main.command()
def devices() -> None:
    """List the OpenCL devices and which ones tvmpd would use."""
    from opencl.devices import cpu_device, gpu_devices, list_devices

    found = list_devices()
    if not found:
        click.echo("no OpenCL platform found (install pocl-binary-distribution or a GPU driver)")
        return
    click.echo(f"{'key':6} {'kind':5} {'CUs':>4} {'memory':>10}  platform / device")
    for d in found:
        click.echo(f"{d.key:6} {d.kind:5} {d.compute_units:4d} {d.global_mem_bytes / 2**30:8.1f}GB  "
                   f"{d.platform} / {d.name}")
    cpu = cpu_device()
    click.echo(f"CPU pool device: {cpu.key + ' ' + cpu.name if cpu else 'none (numpy backend)'}")
    from stages.air.kernel_cache import kernels_digest

    click.echo(f"proves: {proof_versions_text()}; AIR kernels digest {kernels_digest()[:16]}")
    gpus = gpu_devices()
    if gpus:
        for i, g in enumerate(gpus):
            click.echo(f"GPU child {i}: {g.key} {g.name}")
    else:
        click.echo("GPU children: none")


def _run_daemon(cfg: ServeConfig) -> None:
    from supervisor.server import serve

    setup_logging(cfg.log_level)
    try:
        code = serve(cfg)
    except (ValueError, RuntimeError, OSError) as exc:
        click.echo(f"tvmpd: {exc}", err=True)
        sys.exit(1)
    sys.exit(code)


def _omp_init(value: str | None) -> bool | None:
    if value is None:
        return None
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "enabled"):
        return True
    if lowered in ("0", "false", "no", "disabled"):
        return False
    return None


@main.command()
@click.option("--tcp", default=DEFAULT_TCP, show_default=True, help="TCP HOST:PORT for jobs ('' = none).")
@click.option("--unix", default=None, help=f"Unix socket for jobs, mode 0600 ('' = none) "
                                           f"[default: {default_unix_path()}].")
@click.option("--control", default=None, help=f"Control socket [default: {default_control_path()}].")
@click.option("--allow-remote", is_flag=True, help="Allow a non-loopback TCP address.")
@click.option("--devices", "device_keys", default=None,
              help="Comma-separated OpenCL device keys for device children ('cpu' = a CPU device child); "
                   "default every GPU.")
@click.option("--num-gpus", type=int, default=None, help="Use only the first N GPUs (the seed's flag).")
@click.option("--cpu-workers", type=int, default=0, help="CPU pool size (0 = automatic).")
@click.option("--cpu-max-log2", type=int, default=None,
              help="Override the routing: prove on the CPU pool up to this log2 padded height, on devices "
                   "above [default: every job goes where it is predicted to finish first].")
@click.option("--max-jobs", type=int, default=0, help="Jobs in flight at once (0 = one per child).")
@click.option("--max-frame", type=int, default=DEFAULT_MAX_FRAME, show_default=True,
              help="Largest request frame in bytes.")
@click.option("--read-timeout", type=float, default=30.0, show_default=True,
              help="Seconds a client has to send its whole request frame.")
@click.option("--max-connections", type=int, default=DEFAULT_MAX_CONNECTIONS, show_default=True,
              help="Job connections open at once; one more is answered ERROR and closed.")
@click.option("--max-cycles", type=int, default=1 << 30, show_default=True,
              help="Stop a program after this many VM cycles (ERROR CycleLimitExceeded).")
@click.option("--host-memory", type=int, default=0,
              help="Bytes of host memory jobs may hold (0 = 90% of RAM); admission waits beyond it.")
@click.option("--hang-floor", type=float, default=60.0, show_default=True,
              help="A busy child that reports no progress for this long, and for longer than --hang-margin "
                   "times its task's predicted time, counts as hung: it is killed and the job retried.")
@click.option("--hang-margin", type=float, default=4.0, show_default=True,
              help="Multiple of a task's predicted time a child may go without progress.")
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None,
              help="Where the measured timing table is kept [default: $TVMPD_CACHE_DIR, else "
                   "$XDG_CACHE_HOME/tvmpd].")
@click.option("--restart-backoff", type=float, default=0.5, show_default=True,
              help="First restart delay (s); doubles per quick failure, capped at 30 s.")
@click.option("--cancel-grace", type=float, default=30.0, show_default=True,
              help="A child asked to stop a job whose client went away (it stops at the next stage "
                   "boundary) is killed if still at it after this many seconds.")
@click.option("--omp-threads", type=int, default=None, help="OMP_NUM_THREADS for children (seed flag).")
@click.option("--omp-init", default=None, help="TRITON_OMP_INIT for children, 0 or 1 (seed flag).")
@click.option("--log-level", default="INFO", show_default=True)
def serve(tcp, unix, control, allow_remote, device_keys, num_gpus, cpu_workers, cpu_max_log2, max_jobs,
          max_frame, read_timeout, max_connections, max_cycles, host_memory, hang_floor, hang_margin,
          cache_dir, restart_backoff, cancel_grace, omp_threads, omp_init, log_level) -> None:
    """Run the proving daemon (TCP and Unix socket at once)."""
    cfg = ServeConfig(
        tcp=tcp or None, unix=(default_unix_path() if unix is None else unix) or None,
        control=control or default_control_path(), allow_remote=allow_remote,
        devices=[k.strip() for k in device_keys.split(",") if k.strip()] if device_keys else None,
        num_gpus=num_gpus, cpu_workers=cpu_workers, cpu_max_log2=cpu_max_log2,
        max_jobs=max_jobs, max_frame=max_frame, read_timeout_s=read_timeout, max_connections=max_connections,
        max_cycles=max_cycles, host_memory=host_memory, hang_floor_s=hang_floor, hang_margin=hang_margin,
        cache_dir=Path(cache_dir) if cache_dir else None,
        restart_backoff_s=restart_backoff, cancel_grace_s=cancel_grace, omp_threads=omp_threads,
        omp_init=_omp_init(omp_init),
        log_level=log_level)
    _run_daemon(cfg)


def _control(path: str | None, msg: dict) -> dict:
    from supervisor import control

    path = path or default_control_path()
    try:
        answer = control.request(path, msg)
    except OSError as exc:
        click.echo(f"tvmpd: no daemon at {path}: {exc}", err=True)
        sys.exit(2)
    if not answer.get("ok"):
        click.echo(f"tvmpd: {answer.get('error')}", err=True)
        sys.exit(1)
    return answer


def _fmt_bytes(n: int) -> str:
    return f"{n / 2**30:.1f}G"


@main.command()
@click.option("--control", default=None, help="Control socket of the daemon.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(control, as_json) -> None:
    """Show devices, jobs, queue, totals and memory of a running daemon."""
    st = _control(control, {"cmd": "status"})
    if as_json:
        click.echo(json.dumps(st, indent=1, sort_keys=True))
        return
    readiness = "ready" if st.get("ready") else "WARMING"
    click.echo(f"tvmpd pid {st['pid']}, up {st['uptime_s']:.0f}s, {readiness}"
               f"{', DRAINING' if st['draining'] else ''}; "
               f"listening {' '.join(f'{k}={v}' for k, v in st['listen'].items())}")
    click.echo(f"{'child':6} {'kind':6} {'key':5} {'state':10} {'pid':>7} {'restarts':>8} "
               f"{'mem':>13}  job/stage")
    for c in st["children"]:
        job = f"{c['job']}/{c['stage']}" if c["job"] else "-"
        mem = f"{_fmt_bytes(c['mem_reserved'])}/{_fmt_bytes(c['mem_total'])}"
        if c.get("mem_free") is not None and c["kind"] == "device":
            mem += f" ({_fmt_bytes(c['mem_free'])} free)"
        click.echo(f"{c['name']:6} {c['kind']:6} {c['key']:5} {c['state']:10} {c['pid'] or '-':>7} "
                   f"{c['restarts']:8d} {mem:>13}  {job}")
        if c.get("error"):
            click.echo(f"       {c['name']} failed: {c['error']}")
    if st.get("proof_versions"):
        click.echo(f"proves claim version(s) {', '.join(str(v) for v in st['proof_versions'])}")
    click.echo(f"jobs: {len(st['running'])} running, {len(st['queue'])} queued (max {st['max_jobs']})")
    for j in st["jobs"]:
        timing = f"age {j['age_s']:.1f}s"
        if j.get("predicted_s") is not None and j.get("proving_s") is not None:
            timing += f", proving {j['proving_s']:.1f}s of {j['predicted_s']:.1f}s predicted"
        click.echo(f"  seq {j['seq']} id {j['job_id']} {j['state']} on {j['device'] or '-'} "
                   f"log2 {j['log2'] if j['log2'] is not None else '-'} {timing}")
    if st.get("recent"):
        last = st["recent"][-1]
        click.echo(f"last finished: seq {last['seq']} id {last['job_id']} {last['outcome']} on "
                   f"{last['device'] or '-'} in {last['seconds']:.1f}s")
    totals = ", ".join(f"{k} {v}" for k, v in sorted(st["totals"].items())) or "none yet"
    click.echo(f"totals: {totals}")
    m = st["memory"]
    click.echo(f"host memory: {_fmt_bytes(m['host_available'])} available of {_fmt_bytes(m['host_total'])}, "
               f"{_fmt_bytes(m['host_reserved'])} reserved by jobs")


@main.command()
@click.option("--control", default=None, help="Control socket of the daemon.")
@click.option("--wait", is_flag=True, help="Block until the daemon has finished its jobs and exited.")
@click.option("--timeout", type=float, default=0,
              help="With --wait: give up after this many seconds (0 = never).")
def drain(control, wait, timeout) -> None:
    """Stop taking jobs, finish the running ones, then exit."""
    from supervisor import control as ctl

    path = control or default_control_path()
    answer = _control(path, {"cmd": "drain"})
    click.echo(f"daemon pid {answer['pid']} draining, {answer['jobs']} job(s) left")
    if not wait:
        return
    deadline = time.monotonic() + timeout if timeout else None
    while True:
        try:
            ctl.request(path, {"cmd": "status"}, timeout=5)
        except OSError:
            break
        if deadline and time.monotonic() > deadline:
            click.echo("tvmpd: timed out waiting for the drain", err=True)
            sys.exit(1)
        time.sleep(0.1)
    import psutil

    while psutil.pid_exists(answer["pid"]) and (not deadline or time.monotonic() < deadline):
        try:
            if psutil.Process(answer["pid"]).status() == psutil.STATUS_ZOMBIE:
                break
        except psutil.NoSuchProcess:
            break
        time.sleep(0.05)
    click.echo("drained; daemon exited")


@main.command()
@click.option("--socket", "address", default=None,
              help="Daemon address, a Unix socket path or HOST:PORT [default: $TRITON_VM_PROVER_SOCKET, "
                   "else a default daemon's Unix socket].")
def proxy(address) -> None:
    """A node's external prover: the job on stdin, the proof on stdout, exit 200+log2 if too big.

    Reads neptune-core's JSON job object or xnt-core's five JSON lines and forwards the job to a running
    daemon; errors are one `ERROR:` line on stderr.
    """
    from supervisor.proxy import main as proxy_main

    sys.exit(proxy_main(address))


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--tcp", default=None, help="TCP address to listen on (default: 127.0.0.1:5555).")
@click.option("--unix", default=None, help="Unix socket path to listen on (alone, it replaces TCP).")
@click.option("--max-jobs", type=int, default=None, help="Maximum concurrent jobs (default: one per child).")
@click.option("--num-gpus", type=int, default=None, help="Number of GPU devices to use (default: all; "
                                                         "TRITON_GPU_COUNT is honoured).")
@click.option("--omp-threads", type=int, default=None, help="OpenMP thread count (OMP_NUM_THREADS).")
@click.option("--omp-init", default=None, help="Enable/disable OpenMP init parallelization (0|1).")
def prover_server(tcp, unix, max_jobs, num_gpus, omp_threads, omp_init) -> None:
    """The seed's `prover-server` command line, served by tvmpd."""
    import os

    if num_gpus is None and os.environ.get("TRITON_GPU_COUNT", "").isdigit():
        num_gpus = int(os.environ["TRITON_GPU_COUNT"])
    if unix and not tcp:
        tcp_addr = None
    else:
        tcp_addr = tcp or DEFAULT_TCP
    cfg = ServeConfig(tcp=tcp_addr, unix=unix, max_jobs=max_jobs or 0, num_gpus=num_gpus,
                      omp_threads=omp_threads, omp_init=_omp_init(omp_init))
    _run_daemon(cfg)


main.add_command(offline.prove)
main.add_command(offline.verify)


if __name__ == "__main__":
    main()
