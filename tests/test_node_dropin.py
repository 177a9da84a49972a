"""A stock node proving through tvmpd: the node emulator against a real daemon, real proofs, `tvmpd verify`.

Every sample job of ../shared/node-formats goes through neptune-core's proxy mode (`sh -c` under a
`neptune-prover` stand-in, one JSON object) and xnt-core's five lines; cancellation kills only the
stand-in, as neptune-core does.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from tests.conftest import NODE_FORMATS, load_json
from tests.daemon_harness import ROOT, Daemon
from tests.node_emulator import cancel_neptune, run_neptune, run_xnt, start_neptune
from tvmpd.stages.vm import Claim, Program

EXPECTED = load_json("expected.json")["requests"]
CLI = [sys.executable, "-m", "tvmpd"]
SAMPLES = ("halt", "all_tables_env", "sum_squares_2e12_max10", "fail_assert", "claim_output_mismatch")


def sample(name: str) -> dict:
    return json.loads((NODE_FORMATS / f"{name}.job.json").read_text())


@pytest.fixture(scope="module")
def daemon():
    """One CPU worker proving with numpy; no device child (as on a host without GPU)."""
    d = Daemon(cpu_workers=1, devices="")
    yield d
    assert d.stop() == 0


def proxy_command(d: Daemon) -> str:
    return f"{sys.executable} -m tvmpd proxy --socket {d.unix}"


def verify(claim: dict, proof: bytes, tmp_path) -> subprocess.CompletedProcess:
    """`tvmpd verify` of a proof against the job's claim."""
    (tmp_path / "claim.json").write_text(json.dumps(claim))
    (tmp_path / "proof.bin").write_bytes(proof)
    return subprocess.run([*CLI, "verify", str(tmp_path / "claim.json"), str(tmp_path / "proof.bin")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)


def check_node_outcome(name: str, run, job: dict, tmp_path) -> None:
    """The outcome the node-formats README gives for this sample, as the node sees it."""
    assert "other" not in run.stderr, f"stderr lines without a level prefix: {run.stderr}"
    request = EXPECTED[name.removesuffix("_env")]
    if request["expect"] == "ok":
        assert run.exit_code == 0 and "ERROR" not in run.stderr, run
        assert run.stdout, run
        checked = verify(job["claim"], run.stdout, tmp_path)
        assert checked.returncode == 0 and checked.stdout.startswith("valid"), checked
    elif request["expect"] == "too_big":
        assert run.exit_code == 200 + request["log2_padded_height"] and run.stdout == b"", run
    else:
        assert run.exit_code not in (None, 0) and not 200 <= run.exit_code <= 232, run
        assert run.stdout == b"" and len(run.stderr["ERROR"]) == 1, run
        reason = run.stderr["ERROR"][0]
        if request["expect"] == "vm_error":
            assert request["error"]["message"] in reason, reason
        else:
            assert "claimed public output does not match actual public output" in reason, reason


@pytest.mark.parametrize("name", SAMPLES)
def test_neptune_core_proxy_mode(daemon, name, tmp_path):
    job = sample(name)
    run = run_neptune(job, proxy_command(daemon), cwd=str(ROOT))
    check_node_outcome(name, run, job, tmp_path)
    assert run.stderr.get("INFO"), "an operator sees progress as INFO lines"


@pytest.mark.parametrize("name", ("halt", "sum_squares_2e12_max10", "fail_assert", "claim_output_mismatch"))
def test_xnt_core_five_lines(daemon, name, tmp_path):
    job = sample(name)
    run = run_xnt(job, [*CLI, "proxy"], daemon.unix, cwd=str(ROOT))
    check_node_outcome(name, run, job, tmp_path)


def test_unused_env_vars_are_logged_once_and_ignored(daemon):
    log = daemon.log()
    if "RAYON_NUM_THREADS" not in log:  # the all_tables_env sample has not run in this module yet
        run_neptune(sample("all_tables_env"), proxy_command(daemon), cwd=str(ROOT))
        log = daemon.log()
    assert "job env var RAYON_NUM_THREADS is not used by tvmpd: ignored" in log


def test_version_8_refused_before_any_work_everywhere(daemon, tmp_path):
    job = sample("halt")
    job["claim"]["version"] = 8
    before = daemon.status()["totals"].get("accepted", 0)
    for run in (run_neptune(job, proxy_command(daemon), cwd=str(ROOT)),
                run_xnt(job, [*CLI, "proxy"], daemon.unix, cwd=str(ROOT))):
        assert run.exit_code == 1 and run.stdout == b"", run
        (line,) = run.stderr["ERROR"]
        assert "unsupported claim version 8" in line and "proof version 5 (Triton VM v7.0.0)" in line
    events = [line for line in daemon.log().splitlines() if "reason=unsupported-version" in line]
    assert len(events) == 2 and daemon.status()["totals"]["accepted"] == before + 2
    assert not any("event=executed" in line and "id=" in line and line in events for line in events)
    request = tmp_path / "v8.req"
    request.write_bytes(json.dumps(job["claim"]).encode() + b"\n" + b"\n".join(
        json.dumps(job[k]).encode() for k in ("program", "non_determinism", "max_log2_padded_height",
                                               "env_vars")))
    out = subprocess.run([*CLI, "prove", str(request), "-o", str(tmp_path / "p")], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 1 and "unsupported claim version 8" in out.stderr
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "p").exists()


def test_no_limit_never_exits_in_the_too_big_range(daemon, tmp_path):
    """max_log2_padded_height null on a job of 2^12: a proof (neptune-core panics on 200..232 here)."""
    job = sample("sum_squares_2e12_max10")
    job["max_log2_padded_height"] = None
    run = run_neptune(job, proxy_command(daemon), cwd=str(ROOT))
    assert run.exit_code == 0, run
    assert verify(job["claim"], run.stdout, tmp_path).returncode == 0


def endless_job() -> dict:
    """A program that loops until stopped (the daemon's cycle limit is far away)."""
    program = Program.from_tasm("push 0 call loop halt loop: push 1 add recurse")
    claim = Claim(program.digest())
    return {"program": json.loads(program.to_json()), "claim": json.loads(claim.to_json()),
            "non_determinism": {"individual_tokens": [], "digests": [], "ram": {}},
            "max_log2_padded_height": None, "env_vars": {}}


def _worker(st: dict) -> dict:
    (worker,) = st["children"]
    return worker


def _cancel_and_time(d: Daemon, job: dict, running) -> float:
    """Start `job` through neptune-core's proxy mode, cancel it as the node does once `running(status)`
    holds, and return the seconds until the daemon has dropped it and its worker is idle again."""
    proc = start_neptune(job, proxy_command(d), cwd=str(ROOT))
    try:
        d.wait_for(running, what="the job to run")
    except BaseException:
        proc.kill()
        raise
    cancel_neptune(proc)
    killed = time.monotonic()
    d.wait_for(lambda st: not st["jobs"] and _worker(st)["state"] == "idle", timeout=60, what="cancel")
    return time.monotonic() - killed


def test_cancel_while_in_the_vm_frees_the_worker_within_two_seconds(daemon, tmp_path):
    pid = _worker(daemon.status())["pid"]
    abandoned = daemon.status()["totals"].get("abandoned", 0)
    seconds = _cancel_and_time(daemon, endless_job(),
                               lambda st: any(j["state"] == "executing" for j in st["jobs"]))
    assert seconds < 2.0, f"worker busy {seconds:.2f}s after the node cancelled"
    st = daemon.status()
    assert _worker(st)["pid"] == pid and _worker(st)["restarts"] == 0, "a cancel is not a crash"
    assert st["totals"]["abandoned"] == abandoned + 1 and "event=abandoned" in daemon.log()
    # the worker takes the next job at once
    job = sample("halt")
    run = run_neptune(job, proxy_command(daemon), cwd=str(ROOT))
    check_node_outcome("halt", run, job, tmp_path)


def test_cancel_while_proving_stops_at_the_next_stage(daemon, tmp_path):
    pid = _worker(daemon.status())["pid"]
    job = sample("all_tables_env")
    seconds = _cancel_and_time(daemon, job, lambda st: any(
        j["state"].startswith("proving:") and j["state"] != "proving:prove" for j in st["jobs"]))
    assert seconds < 20, f"proving went on {seconds:.2f}s after the node cancelled"
    st = daemon.status()
    assert _worker(st)["pid"] == pid and st["totals"].get("ok", 0) >= 0
    assert "child_restarts" not in st["totals"]
    run = run_neptune(sample("halt"), proxy_command(daemon), cwd=str(ROOT))
    check_node_outcome("halt", run, sample("halt"), tmp_path)


@pytest.mark.parametrize("stdin, expect", [
    (b"garbage", "not valid JSON"),
    (b"", "empty input"),
    (b'{"program": {"instructions": ["Halt"]}, "claim": {', "truncated"),
    (b'{"program": {}, "claim": {}, "non_determinism": {}, "max_log2_padded_height": null}', "'env_vars'"),
])
def test_proxy_bad_stdin_one_error_line_no_traceback(stdin, expect):
    out = subprocess.run([*CLI, "proxy", "--socket", "/nonexistent/tvmpd.sock"], input=stdin, cwd=ROOT,
                         capture_output=True, timeout=60)
    lines = out.stderr.decode().splitlines()
    assert out.returncode == 1 and out.stdout == b"" and len(lines) == 1, out
    assert lines[0].startswith("ERROR: ") and expect in lines[0]


def test_proxy_without_daemon_names_the_addresses_tried(tmp_path):
    env = {"XDG_RUNTIME_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([*CLI, "proxy"], input=(NODE_FORMATS / "halt.job.json").read_bytes(), cwd=ROOT,
                         capture_output=True, timeout=60, env=env)
    (line,) = out.stderr.decode().splitlines()
    assert out.returncode == 2 and line.startswith("ERROR: ")
    assert str(tmp_path / "tvmpd" / "prover.sock") in line and "127.0.0.1:5555" in line
    assert "tvmpd serve" in line


def test_proxy_starts_without_numpy_or_the_prover():
    out = subprocess.run([sys.executable, "-X", "importtime", "-m", "tvmpd", "proxy", "--socket",
                          "/nonexistent/tvmpd.sock"], input=b"", cwd=ROOT, capture_output=True, timeout=60)
    imported = {line.rsplit("|", 1)[-1].strip() for line in out.stderr.decode().splitlines() if "|" in line}
    assert "tvmpd.supervisor.proxy" in imported
    assert not imported & {"numpy", "pyopencl", "tvmpd.stages", "tvmpd.stages.vm"}, imported
