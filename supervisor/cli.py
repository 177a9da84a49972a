"""The `tvmpd` command line: a click group whose subcommands are the daemon's entry points."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

from tvmpd.supervisor import offline
from tvmpd.supervisor.config import (
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_TCP,
    KEEP_COSETS,
    LOG_FORMATS,
    LOG_LEVELS,
    MEMORY_MODES,
    ServeConfig,
    default_config_path,
    default_control_path,
    default_unix_path,
    load_toml,
    parse_size,
    setup_logging,
)


def proof_versions_text() -> str:
    """Which claim versions this build proves, e.g. "proof version 5 (Triton VM v7.0.0)"."""
    from tvmpd.stages.vm.types import PROOF_SYSTEM_NAMES, SUPPORTED_PROOF_VERSIONS

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


NO_ARGS_IS_HELP = getattr(click.exceptions, "NoArgsIsHelpError", ())  # click >= 8.2


class OneLineErrors:
    """A click command whose usage errors are one line on stderr (`tvmpd: ...`) with click's exit code,
    never the usage block or a traceback."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except NO_ARGS_IS_HELP as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            click.echo(f"{prog_name or self.name}: {exc.format_message()}", err=True)
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo(f"{prog_name or self.name}: aborted", err=True)
            sys.exit(1)
        except Exception as exc:  # a bug or a broken install: still one line, and a non-zero exit
            click.echo(f"{prog_name or self.name}: internal error: {type(exc).__name__}: {exc}", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


class Group(OneLineErrors, click.Group):
    """The `tvmpd` group."""


class Command(OneLineErrors, click.Command):
    """A stand-alone command (`prover-server`)."""


@click.group(name="tvmpd", cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=_print_version,
              help="Print the version and the proof versions this build proves, then exit.")
def main() -> None:
    """tvmpd: a proving daemon for Triton VM v7.0.0."""


@main.command()
def devices() -> None:
    """List the OpenCL devices and which ones tvmpd would use."""
    from tvmpd.opencl.devices import cpu_device, gpu_devices, list_devices

    found = list_devices()
    if not found:
        click.echo("no OpenCL platform found (install pocl-binary-distribution or a GPU driver)")
        return
    click.echo(f"{'key':6} {'kind':5} {'CUs':>4} {'memory':>10}  platform / device")
    for d in found:
        click.echo(f"{d.key:6} {d.kind:5} {d.compute_units:4d} {d.global_mem_bytes / 2**30:8.1f}GB  "
                   f"{d.platform} / {d.name}")
    from tvmpd.supervisor.scheduler import cpu_pool_device

    pool_key, _ = cpu_pool_device()
    cpu = cpu_device()
    prover = "numpy prover" if pool_key == "cpu" else f"OpenCL prover on {pool_key} ({cpu.name})"
    click.echo(f"CPU pool: {prover} (executes every job; proves the jobs routed to it)")
    if cpu is not None and cpu.key != pool_key:
        click.echo(f"OpenCL CPU device {cpu.key} ({cpu.name}): not used by default; "
                   f"`--devices {cpu.key}` makes a device child on it")
    from tvmpd.stages.air.kernel_cache import kernels_digest

    click.echo(f"proves: {proof_versions_text()}; AIR kernels digest {kernels_digest()[:16]}")
    gpus = gpu_devices()
    if gpus:
        for i, g in enumerate(gpus):
            click.echo(f"GPU child {i}: {g.key} {g.name}")
    else:
        click.echo("GPU children: none")


def _run_daemon(cfg: ServeConfig) -> None:
    from tvmpd.supervisor.server import serve

    setup_logging(cfg.log_level, cfg.log_format)
    try:
        code = serve(cfg)
    except (ValueError, RuntimeError, OSError) as exc:
        click.echo(f"tvmpd: {exc}", err=True)
        sys.exit(1)
    sys.exit(code)


OMP_INIT_CHOICES = ("0", "1", "true", "false", "yes", "no", "enabled", "disabled")


def _omp_init(value: str | None) -> bool | None:
    if value is None:
        return None
    return value.strip().lower() in ("1", "true", "yes", "enabled")


class SizeType(click.ParamType):
    """A byte count with an optional binary unit: 1073741824, 512M, 64G."""

    name = "size"

    def convert(self, value, param, ctx) -> int:
        try:
            return parse_size(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


SIZE = SizeType()


def _load_config_file(ctx: click.Context, _param, value: str | None) -> str | None:
    """--config: read the TOML file (or the default one, when it exists) into click's default map, so that
    precedence is flags > TVMPD_* environment > file > defaults."""
    path = Path(value) if value else default_config_path()
    if not value and not path.exists():
        return None
    known = {p.name for p in ctx.command.params if p.name != "config"}
    try:
        ctx.default_map = {**(ctx.default_map or {}), **load_toml(path, known)}
    except ValueError as exc:
        raise click.UsageError(str(exc), ctx) from None
    return str(path)


def _opt(*decls: str, name: str, **kw):
    """A `serve` option whose environment variable is TVMPD_<NAME> and whose TOML key is <name>."""
    return click.option(*decls, name, envvar=f"TVMPD_{name.upper()}", show_envvar=True, **kw)


SERVE_OPTIONS = [
    click.option("--config", "config", envvar="TVMPD_CONFIG", show_envvar=True, is_eager=True,
                 expose_value=True, callback=_load_config_file, type=click.Path(dir_okay=False),
                 help=f"TOML file of settings (keys are the option names) [default: {default_config_path()} "
                      "when it exists]."),
    _opt("--tcp", name="tcp", default=DEFAULT_TCP, show_default=True,
         help="TCP HOST:PORT for jobs ('' = none)."),
    _opt("--unix", name="unix", default=None, help=f"Unix socket for jobs, mode 0600 ('' = none) "
                                                   f"[default: {default_unix_path()}]."),
    _opt("--control", name="control", default=None,
         help=f"Control socket [default: {default_control_path()}]."),
    _opt("--allow-remote", name="allow_remote", is_flag=True,
         help="Allow a non-loopback TCP or metrics address."),
    _opt("--devices", name="devices", default=None,
         help="Comma-separated OpenCL device keys for device children ('cpu' = a CPU device child); "
              "default every GPU."),
    _opt("--num-gpus", name="num_gpus", type=click.IntRange(min=0), default=None,
         help="Use only the first N GPUs (the seed's flag)."),
    _opt("--cpu-workers", name="cpu_workers", type=click.IntRange(min=0), default=0,
         help="CPU pool size (0 = automatic)."),
    _opt("--cpu-max-log2", name="cpu_max_log2", type=click.IntRange(0, 64), default=None,
         help="Override the routing: prove on the CPU pool up to this log2 padded height, on devices "
              "above [default: every job goes where it is predicted to finish first]."),
    _opt("--max-jobs", name="max_jobs", type=click.IntRange(min=0), default=0,
         help="Jobs in flight at once (0 = one per child)."),
    _opt("--max-frame", name="max_frame", type=SIZE, default="1G", show_default=True,
         help="Largest request frame (bytes, or with a unit: 512M, 1G)."),
    _opt("--read-timeout", name="read_timeout", type=float, default=30.0, show_default=True,
         help="Seconds a client has to send its whole request frame."),
    _opt("--max-connections", name="max_connections", type=click.IntRange(min=1),
         default=DEFAULT_MAX_CONNECTIONS, show_default=True,
         help="Job connections open at once; one more is answered ERROR and closed."),
    _opt("--max-cycles", name="max_cycles", type=click.IntRange(min=1), default=1 << 25, show_default=True,
         help="Stop a program after this many VM cycles (ERROR CycleLimitExceeded); 2^25 cycles is above "
              "any padded height a device here proves."),
    _opt("--host-memory", name="host_memory", type=SIZE, default="0",
         help="Host memory jobs may hold (bytes or 64G; 0 = 90% of RAM); admission waits beyond it."),
    _opt("--hang-floor", name="hang_floor", type=float, default=60.0, show_default=True,
         help="A busy child that reports no progress for this long, and for longer than --hang-margin "
              "times its task's predicted time, counts as hung: it is killed and the job retried."),
    _opt("--hang-margin", name="hang_margin", type=float, default=4.0, show_default=True,
         help="Multiple of a task's predicted time a child may go without progress."),
    _opt("--cache-dir", name="cache_dir", type=click.Path(file_okay=False), default=None,
         help="Where the measured timing table is kept [default: $XDG_CACHE_HOME/tvmpd]."),
    _opt("--restart-backoff", name="restart_backoff", type=float, default=0.5, show_default=True,
         help="First restart delay (s); doubles per quick failure, capped at 30 s."),
    _opt("--cancel-grace", name="cancel_grace", type=float, default=30.0, show_default=True,
         help="A child asked to stop a job whose client went away (it stops at the next stage "
              "boundary) is killed if still at it after this many seconds."),
    _opt("--drain-timeout", name="drain_timeout", type=click.FloatRange(min=0), default=0.0,
         show_default=True,
         help="A drain (SIGTERM, `tvmpd drain`) still running after this many seconds stops at once, its "
              "running jobs answered ERROR, exit 1 (0 = wait for every job). Keep it below systemd's "
              "TimeoutStopSec."),
    _opt("--metrics", name="metrics", default=None,
         help="Serve Prometheus metrics on HOST:PORT at /metrics (loopback unless --allow-remote) "
              "[default: off]."),
    _opt("--memory-mode", name="memory_mode", type=click.Choice(MEMORY_MODES), default="auto",
         show_default=True,
         help="How device children hold a proof: auto picks per padded height and device from the memory "
              "model (full, then half-length cosets, then lean); full, half or lean force one (lean: "
              "coefficients only, cosets re-evaluated; 2^23 on an 80 GB GPU). A forced mode that does not "
              "fit the device fails the job."),
    _opt("--keep-cosets", name="keep_cosets", type=click.Choice(KEEP_COSETS), default="auto",
         show_default=True,
         help="Which tables' values on every coset a device proof keeps from the commit on, instead of "
              "evaluating them again for the quotient and the opened rows (full and half modes): auto keeps "
              "what the memory model fits in 90% of the device's memory, preferring both, then main, then "
              "aux; none, main, aux or both "
              "force a choice (a forced one that does not fit the device fails the job)."),
    _opt("--omp-threads", name="omp_threads", type=click.IntRange(min=1), default=None,
         help="OMP_NUM_THREADS for children (seed flag)."),
    _opt("--omp-init", name="omp_init", type=click.Choice(OMP_INIT_CHOICES, case_sensitive=False),
         default=None,
         help="TRITON_OMP_INIT for children (seed flag)."),
    _opt("--log-level", name="log_level", type=click.Choice(LOG_LEVELS, case_sensitive=False), default="INFO",
         show_default=True),
    _opt("--log-format", name="log_format", type=click.Choice(LOG_FORMATS), default="text", show_default=True,
         help="text: one line per event; json: one JSON object per line with the same fields."),
]


def serve_options(func):
    """Give a command every `serve` setting (used by `serve` and `config`)."""
    for option in reversed(SERVE_OPTIONS):
        func = option(func)
    return func


def serve_config(opts: dict) -> ServeConfig:
    """The daemon's settings from the values of SERVE_OPTIONS."""
    unix, devices = opts["unix"], opts["devices"]
    return ServeConfig(
        tcp=opts["tcp"] or None, unix=(default_unix_path() if unix is None else unix) or None,
        control=opts["control"] or default_control_path(), allow_remote=opts["allow_remote"],
        devices=[k.strip() for k in devices.split(",") if k.strip()] if devices else None,
        num_gpus=opts["num_gpus"], cpu_workers=opts["cpu_workers"], cpu_max_log2=opts["cpu_max_log2"],
        max_jobs=opts["max_jobs"], max_frame=opts["max_frame"], read_timeout_s=opts["read_timeout"],
        max_connections=opts["max_connections"], max_cycles=opts["max_cycles"],
        host_memory=opts["host_memory"], hang_floor_s=opts["hang_floor"], hang_margin=opts["hang_margin"],
        cache_dir=Path(opts["cache_dir"]) if opts["cache_dir"] else None,
        restart_backoff_s=opts["restart_backoff"], cancel_grace_s=opts["cancel_grace"],
        drain_timeout_s=opts["drain_timeout"], metrics=opts["metrics"] or None,
        omp_threads=opts["omp_threads"], omp_init=_omp_init(opts["omp_init"]),
        log_level=opts["log_level"].upper(), log_format=opts["log_format"], memory_mode=opts["memory_mode"],
        keep_cosets=opts["keep_cosets"])


@main.command()
@serve_options
def serve(**opts) -> None:
    """Run the proving daemon (TCP and Unix socket at once).

    Every option can also be set by the environment variable shown, or in the TOML file of --config;
    flags win over the environment, which wins over the file.
    """
    _run_daemon(serve_config(opts))


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(str(value))


@main.command("config")
@serve_options
def config_cmd(**opts) -> None:
    """Print the effective `serve` settings as TOML, each with where it came from.

    Takes the same options, environment and --config file as `serve`; the output is itself a valid
    config file.
    """
    from click.core import ParameterSource

    ctx = click.get_current_context()
    serve_config(opts)  # the same conversions the daemon does
    click.echo(f"# config file: {opts['config'] or 'none'}")
    for param in ctx.command.params:
        if param.name == "config" or not isinstance(param, click.Option):
            continue
        source = ctx.get_parameter_source(param.name)
        origin = {ParameterSource.COMMANDLINE: "flag", ParameterSource.ENVIRONMENT: f"env {param.envvar}",
                  ParameterSource.DEFAULT_MAP: "file"}.get(source, "default")
        value = opts[param.name]
        if value is None:
            click.echo(f"# {param.name} = (unset)  # {origin}")
        else:
            click.echo(f"{param.name} = {_toml_value(value)}  # {origin}")


def _control(path: str | None, msg: dict) -> dict:
    from tvmpd.supervisor import control

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
    if st.get("memory_mode"):
        keep = f", kept cosets {st['keep_cosets']}" if st.get("keep_cosets") else ""
        click.echo(f"device memory mode: {st['memory_mode']}{keep} (the settings; a finished job shows its "
                   "own)")
    click.echo(f"jobs: {len(st['running'])} running, {len(st['queue'])} queued (max {st['max_jobs']})")
    for j in st["jobs"]:
        timing = f"age {j['age_s']:.1f}s"
        if j.get("predicted_s") is not None and j.get("proving_s") is not None:
            timing += f", proving {j['proving_s']:.1f}s of {j['predicted_s']:.1f}s predicted"
        click.echo(f"  seq {j['seq']} id {j['job_id']} {j['state']} on {j['device'] or '-'} "
                   f"log2 {j['log2'] if j['log2'] is not None else '-'} {timing}")
    if st.get("recent"):
        last = st["recent"][-1]
        mode = f", memory mode {last['memory_mode']}" if last.get("memory_mode") else ""
        click.echo(f"last finished: seq {last['seq']} id {last['job_id']} {last['outcome']} on "
                   f"{last['device'] or '-'} in {last['seconds']:.1f}s{mode}")
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
    from tvmpd.supervisor import control as ctl

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
    from tvmpd.supervisor.proxy import main as proxy_main

    sys.exit(proxy_main(address))


@click.command(name="prover-server", cls=Command, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=_print_version,
              help="Print the version and the proof versions this build proves, then exit.")
@click.option("--tcp", default=None, help="TCP address to listen on (default: 127.0.0.1:5555).")
@click.option("--unix", default=None, help="Unix socket path to listen on (alone, it replaces TCP).")
@click.option("--max-jobs", type=int, default=None, help="Maximum concurrent jobs (default: one per child).")
@click.option("--num-gpus", type=int, default=None, help="Number of GPU devices to use (default: all; "
                                                         "TRITON_GPU_COUNT is honoured).")
@click.option("--omp-threads", type=int, default=None, help="OpenMP thread count (OMP_NUM_THREADS).")
@click.option("--omp-init", type=click.Choice(OMP_INIT_CHOICES, case_sensitive=False), default=None,
              help="Enable/disable OpenMP init parallelization (0|1).")
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
main.add_command(offline.build)


if __name__ == "__main__":
    main()
