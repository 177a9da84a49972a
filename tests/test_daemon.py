"""End-to-end tests of the daemon: a real `tvmpd serve` process on loopback TCP and Unix sockets."""

from __future__ import annotations

import json
import os
import signal
import stat
import struct
import subprocess
import sys
import tempfile
import threading

import numpy as np
import pytest

from tests.conftest import VECTORS, load_json
from tests.daemon_harness import ROOT, Daemon
from tvmpd.supervisor import protocol, shm

EXPECTED = load_json("expected.json")["requests"]


def request_fields(name: str) -> list[str]:
    lines = (VECTORS / "requests" / f"{name}.req").read_text().split("\n")
    return lines[:5]


def _vm_ready() -> bool:
    """True when stages.vm executes the halt vector as the reference does (then outcomes are checked)."""
    try:
        from tvmpd.supervisor import jobs

        res = jobs.execute(jobs.parse_request(request_fields("halt")))
        return res.kind == "executed" and res.log2 == EXPECTED["halt"]["log2_padded_height"]
    except Exception:
        return False


VM_READY = _vm_ready()




@pytest.fixture(scope="module")
def daemon():
    d = Daemon()
    yield d
    assert d.stop() == 0


def decode_error(data: bytes) -> tuple[int, str]:
    magic, status, job_id, length = struct.unpack("<IIII", data[:16])
    assert magic == protocol.MAGIC_RESPONSE and status == protocol.STATUS_ERROR
    return job_id, data[16:16 + length].decode()


def check_outcome(name: str, resp: protocol.Response) -> None:
    """The answer a request should get, given what exists of the VM and the prover."""
    if not VM_READY:
        assert resp.status == protocol.STATUS_ERROR and "tvmpd.stages.vm" in resp.message, resp
        return
    entry = EXPECTED[name]
    if entry["expect"] == "ok":  # a real proof: bincode of its elements (verified in test_node_dropin.py)
        assert resp.status == protocol.STATUS_OK, resp
        (count,) = struct.unpack("<Q", resp.proof[:8])
        assert count > 1000 and len(resp.proof) == 8 + 8 * count, resp.proof[:16]
    elif entry["expect"] == "too_big":
        assert resp.status == protocol.STATUS_TOO_BIG and resp.log2 == entry["log2_padded_height"], resp
    elif entry["expect"] == "vm_error":
        assert resp.status == protocol.STATUS_ERROR and entry["error"]["message"] in resp.message, resp
    else:
        assert resp.status == protocol.STATUS_ERROR
        assert "claimed public output does not match actual public output" in resp.message, resp


def test_sockets_are_private(daemon):
    for path in (daemon.unix, daemon.control):
        mode = os.stat(path).st_mode
        assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600


def test_sixteen_concurrent_clients_tcp_and_unix(daemon):
    names = ["halt", "fail_assert", "sum_squares_2e12_max10", "claim_output_mismatch", "fail_div_by_zero",
             "io_arith", "fail_not_u32", "gcd"]
    results: dict[int, tuple[str, protocol.Response]] = {}
    errors = []

    def client(i: int) -> None:
        name = names[i % len(names)]
        try:
            resp = daemon.submit(1000 + i, request_fields(name), via="tcp" if i % 2 else "unix")
            results[i] = (name, resp)
        except Exception as exc:  # collected and reported below
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    assert len(results) == 16
    for i, (name, resp) in results.items():
        assert resp.job_id == 1000 + i
        check_outcome(name, resp)
    st = daemon.status()
    assert st["totals"]["accepted"] >= 16 and not st["jobs"]


def test_bad_frames_get_error_or_close(daemon):
    good = protocol.encode_request(5, request_fields("halt"))
    job_id, msg = decode_error(daemon.raw(b"JUNK" + good[4:]))
    assert job_id == 0 and "invalid magic" in msg
    job_id, msg = decode_error(daemon.raw(good[:4] + struct.pack("<I", 9) + good[8:]))
    assert job_id == 5 and "unsupported protocol version 9" in msg
    # absurd length: answered from the prefix alone, while the client still holds the connection open
    job_id, msg = decode_error(daemon.raw(good[:12] + struct.pack("<I", 0xFFFFFFF0)))
    assert job_id == 5 and "request too large" in msg
    # truncated frame: the connection is closed without an answer
    assert daemon.raw(good[: len(good) // 2], shut=True) == b""
    assert daemon.raw(b"TV", shut=True) == b""
    # the server keeps serving
    check_outcome("halt", daemon.submit(6, request_fields("halt")))


def test_bad_json_and_programs(daemon):
    fields = request_fields("halt")
    resp = daemon.submit(11, ["{not json"] + fields[1:])
    assert resp.status == protocol.STATUS_ERROR and resp.message.startswith("invalid claim JSON"), resp
    resp = daemon.submit(12, fields[:3] + ['"ten"', "{}"])
    assert resp.status == protocol.STATUS_ERROR and "max_log2_padded_height" in resp.message
    resp = daemon.submit(13, fields[:4] + ["[1]"])
    assert resp.status == protocol.STATUS_ERROR and "env vars" in resp.message
    if not VM_READY:
        pytest.skip("tvmpd.stages.vm not ready: program, digest and VM checks need it")
    bad_program = '{"instructions":[{"NoSuchInstruction":1}],"address_to_label":{},"debug_information":{}}'
    resp = daemon.submit(14, [fields[0], bad_program] + fields[2:])
    assert resp.status == protocol.STATUS_ERROR and resp.message.startswith("invalid program"), resp
    claim = json.loads(fields[0])
    claim["program_digest"] = "00" * 40
    resp = daemon.submit(15, [json.dumps(claim)] + fields[1:])
    assert resp.status == protocol.STATUS_ERROR, resp
    assert resp.message.startswith("claimed program digest does not match actual program digest"), resp
    failing = ["fail_assert_vector", "fail_op_stack_too_shallow", "fail_secret_input_exhausted"]
    for i, name in enumerate(failing):
        check_outcome(name, daemon.submit(20 + i, request_fields(name)))
    check_outcome("halt", daemon.submit(30, fields))


def test_frame_limit_and_remote_refusal():
    d = Daemon("--max-frame", "2000", cpu_workers=1, devices="")
    try:
        fields = request_fields("halt")
        big = [fields[0], fields[1] + " " * 4000] + fields[2:]
        job_id, msg = decode_error(d.raw(protocol.encode_request(3, big)))
        assert job_id == 3 and "request too large" in msg and "2000" in msg
        resp = d.submit(4, fields)
        assert resp.job_id == 4
    finally:
        assert d.stop() == 0
    never = os.path.join(tempfile.mkdtemp(prefix="tvd", dir="/tmp"), "c.sock")
    cmd = [sys.executable, "-m", "tvmpd", "serve", "--tcp", "0.0.0.0:0", "--unix", "",
           "--control", never, "--cpu-workers", "1", "--devices", "cpu"]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "--allow-remote" in out.stderr
    assert not os.path.exists(never)
    cmd[cmd.index("0.0.0.0:0")] = "127.0.0.1:0"
    cmd[-1] = "9:9"
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "no OpenCL device '9:9'" in out.stderr
    assert not os.path.exists(never)
    os.rmdir(os.path.dirname(never))


@pytest.mark.parametrize("hook", ["kill", "hang"])
def test_child_failure_is_retried_and_child_restarted(hook):
    d = Daemon("--hang-floor", "2", faults=f"{hook}@execute")
    try:
        before = {c["name"]: c["pid"] for c in d.status()["children"]}
        resp = d.submit(77, request_fields("halt"), timeout=60)
        assert resp.job_id == 77 and "failed twice" not in resp.message
        check_outcome("halt", resp)
        st = d.wait_children_idle()
        assert st["totals"]["retried"] == 1 and st["totals"]["child_restarts"] == 1
        after = {c["name"]: c["pid"] for c in st["children"]}
        assert sum(before[n] != after[n] for n in before) == 1  # exactly one child was replaced
        assert not shm.list_blocks(f"{shm.PREFIX}{d.proc.pid}_")
        assert "event=retry" in d.log()
    finally:
        assert d.stop() == 0


@pytest.mark.skipif(not VM_READY, reason="a job reaches proving only when stages.vm executes it")
def test_device_child_killed_while_proving_retries_on_other_device():
    d = Daemon("--cpu-max-log2", "0", faults="kill@prove", devices="cpu,cpu")
    try:
        resp = d.submit(88, request_fields("halt"))
        check_outcome("halt", resp)
        st = d.wait_children_idle()
        assert st["totals"]["retried"] == 1
        log = d.log()
        proving = [line for line in log.splitlines() if "event=proving" in line]
        devices = [line.split("device=")[1].split()[0] for line in proving]
        # either idle device may take the first attempt (whichever child is ready first); the retry goes
        # to the other one
        assert sorted(devices) == ["gpu0", "gpu1"], log
    finally:
        assert d.stop() == 0


def _submit_async(d: Daemon, job_id: int, name: str, out: dict, via: str = "unix") -> threading.Thread:
    def run():
        try:
            out[job_id] = d.submit(job_id, request_fields(name), via=via)
        except Exception as exc:  # reported by the test
            out[job_id] = exc

    t = threading.Thread(target=run)
    t.start()
    return t


def test_status_json_and_drain_wait():
    d = Daemon("--max-jobs", "4", faults="slow=2@execute", cpu_workers=1, devices="")
    answers: dict = {}
    threads = [_submit_async(d, 40 + i, "halt", answers, via="tcp" if i else "unix") for i in range(3)]
    d.wait_for(lambda st: len(st["jobs"]) == 3, what="3 jobs in flight")
    out = subprocess.run([sys.executable, "-m", "tvmpd", "status", "--json", "--control", d.control],
                         capture_output=True, text=True, timeout=30, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    st = json.loads(out.stdout)
    assert len(st["queue"]) == 2 and len(st["running"]) == 1, st["jobs"]
    assert st["running"][0]["state"] == "executing" or st["running"][0]["state"].startswith("proving:")
    busy = [c for c in st["children"] if c["state"] == "busy"]
    assert len(busy) == 1 and busy[0]["stage"] and busy[0]["job"] == st["running"][0]["seq"]
    assert all(j["age_s"] >= 0 for j in st["jobs"]) and st["memory"]["host_total"] > 0
    human = subprocess.run([sys.executable, "-m", "tvmpd", "status", "--control", d.control],
                           capture_output=True, text=True, timeout=30, cwd=ROOT)
    assert human.returncode == 0 and "queued" in human.stdout
    # drain --wait: running and queued jobs finish, new ones are refused, the daemon exits 0
    cmd = [sys.executable, "-m", "tvmpd", "drain", "--wait", "--timeout", "60",
           "--control", d.control]
    drain = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    d.wait_for(lambda st: st["draining"], what="draining")
    refused = d.submit(99, request_fields("halt"), via="tcp")
    assert refused.status == protocol.STATUS_ERROR and refused.message.startswith("draining") and \
        refused.job_id == 99
    stdout, stderr = drain.communicate(timeout=60)
    assert drain.returncode == 0, stderr
    for t in threads:
        t.join(30)
    assert sorted(answers) == [40, 41, 42]
    for resp in answers.values():
        assert isinstance(resp, protocol.Response) and not resp.message.startswith("draining")
        check_outcome("halt", resp)
    assert d.proc.wait(10) == 0
    assert d.stop() == 0


def test_sigterm_drains_and_double_sigint_stops():
    d = Daemon(faults="slow=1@execute", cpu_workers=1, devices="")
    answers: dict = {}
    t = _submit_async(d, 50, "halt", answers)
    d.wait_for(lambda st: st["running"], what="a running job")
    d.proc.send_signal(signal.SIGTERM)
    t.join(30)
    check_outcome("halt", answers[50])
    assert d.proc.wait(20) == 0
    assert d.stop() == 0

    d = Daemon(faults="slow=20@execute", cpu_workers=1, devices="")
    t = _submit_async(d, 51, "halt", answers)
    d.wait_for(lambda st: st["running"], what="a running job")
    d.proc.send_signal(signal.SIGINT)
    d.wait_for(lambda st: st["draining"], what="draining after SIGINT")
    d.proc.send_signal(signal.SIGINT)
    t.join(20)
    assert answers[51].status == protocol.STATUS_ERROR and "stopped" in answers[51].message
    assert d.proc.wait(20) == 1, "a stop that cut a job off is not a clean exit"
    assert "Traceback" not in d.log()
    assert d.stop() == 1


def test_proxy_against_daemon(daemon):
    env = {**os.environ, "TRITON_VM_PROVER_SOCKET": daemon.unix}
    stdin = (VECTORS / "requests" / "sum_squares_2e12_max10.req").read_bytes()
    out = subprocess.run([sys.executable, "-m", "tvmpd", "proxy"], input=stdin, env=env, cwd=ROOT,
                         capture_output=True, timeout=60)
    if VM_READY:
        assert out.returncode == 212 and out.stdout == b""
    else:
        assert out.returncode == 1 and b"tvmpd.stages.vm" in out.stderr
    stdin = (VECTORS / "requests" / "fail_assert.req").read_bytes()
    cmd = [sys.executable, "-m", "tvmpd", "proxy", "--socket", daemon.tcp]
    out = subprocess.run(cmd, input=stdin, cwd=ROOT, capture_output=True, timeout=60)
    assert out.returncode == 1 and out.stdout == b""
    assert b"ERROR: tvmpd proxy: VM execution failed" in out.stderr


@pytest.mark.skipif(not VM_READY, reason="routing happens after stages.vm has executed the job")
def test_routing_by_height_and_force_cpu():
    d = Daemon("--cpu-max-log2", "8", cpu_workers=1, devices="cpu")
    try:
        fields = request_fields("io_arith")  # log2 9: above the CPU limit, so a device job
        check_outcome("io_arith", d.submit(1, fields))
        check_outcome("halt", d.submit(2, request_fields("halt")))  # log2 8: CPU pool
        forced = fields[:4] + ['{"9": [["force_cpu", "1"], ["RAYON_NUM_THREADS", "1"]]}']
        check_outcome("io_arith", d.submit(3, forced))
        routes = [line for line in d.log().splitlines() if "event=executed" in line]
        assert "forced=True" in routes[2]
        proving = [line for line in d.log().splitlines() if "event=proving" in line]
        assert "device=gpu0" in proving[0] and "device=cpu0" in proving[1] and "device=cpu0" in proving[2]
    finally:
        assert d.stop() == 0


def _stark_ready() -> bool:
    try:
        from tvmpd.stages.prover import main_table, prove_table  # noqa: F401
        from tvmpd.stages.verifier import verify  # noqa: F401
        return VM_READY
    except ImportError:
        return False


@pytest.mark.skipif(not _stark_ready(), reason="needs stages.vm, stages.prover and stages.verifier")
def test_real_proof_from_a_device_child_verifies():
    """The whole path: CPU pool executes and builds the main table into shared memory, a device child
    (here on the host, numpy backend) proves from it, and the verifier accepts the proof."""
    from tvmpd.stages.verifier import verify
    from tvmpd.stages.vm import Claim

    d = Daemon("--cpu-max-log2", "0", cpu_workers=1, devices="cpu")
    try:
        fields = request_fields("halt")
        resp = d.submit(1, fields, timeout=600)
        assert resp.status == protocol.STATUS_OK, resp
        (count,) = struct.unpack("<Q", resp.proof[:8])
        elements = np.frombuffer(resp.proof[8:], dtype="<u8")
        assert elements.size == count
        verify(Claim.from_json(fields[0]), elements.astype(np.uint64))
        log = d.log()
        assert "event=proving log2=8 device=gpu0" in log and "main table=" in log and "FRI=" in log, log
    finally:
        assert d.stop() == 0


@pytest.mark.skipif(not _stark_ready(), reason="needs stages.vm, stages.prover and stages.verifier")
def test_memory_mode_setting_reaches_the_device_child_and_is_reported(device):
    """`serve --memory-mode lean` with a device child on the OpenCL CPU device: the job is proved in lean
    mode, its log line and `tvmpd status` (last finished job) say so, and the proof verifies."""
    from tvmpd.stages.verifier import verify
    from tvmpd.stages.vm import Claim

    d = Daemon("--cpu-max-log2", "0", "--memory-mode", "lean", cpu_workers=1, devices=device)
    try:
        assert d.status()["memory_mode"] == "lean"
        fields = request_fields("halt")
        resp = d.submit(1, fields, timeout=600)
        assert resp.status == protocol.STATUS_OK, resp
        elements = np.frombuffer(resp.proof[8:], dtype="<u8").astype(np.uint64)
        verify(Claim.from_json(fields[0]), elements)
        assert d.status()["recent"][-1]["memory_mode"] == "lean"
        done = [line for line in d.log().splitlines() if "event=done" in line]
        assert "memory_mode=lean" in done[-1], done
    finally:
        assert d.stop() == 0


@pytest.mark.skipif(not _stark_ready(), reason="needs stages.vm, stages.prover and stages.verifier")
def test_keep_cosets_setting_reaches_the_device_child_and_is_reported(device):
    """`serve --keep-cosets aux`: the device child keeps only the aux table's coset values, and the job's log
    line and `tvmpd status` name them with the mode."""
    d = Daemon("--cpu-max-log2", "0", "--memory-mode", "full", "--keep-cosets", "aux", cpu_workers=1,
               devices=device)
    try:
        assert d.status()["keep_cosets"] == "aux"
        resp = d.submit(1, request_fields("halt"), timeout=600)
        assert resp.status == protocol.STATUS_OK, resp
        assert d.status()["recent"][-1]["memory_mode"] == "full+aux"
        done = [line for line in d.log().splitlines() if "event=done" in line]
        assert "memory_mode=full+aux" in done[-1], done
    finally:
        assert d.stop() == 0


def test_job_whose_child_dies_twice_gets_error():
    d = Daemon(faults="kill@execute@always", devices="")
    try:
        resp = d.submit(66, request_fields("halt"))
        assert resp.status == protocol.STATUS_ERROR and resp.job_id == 66
        assert resp.message.startswith("job failed twice, giving up: cpu")
        assert "died during execute" in resp.message
        st = d.wait_children_idle()
        assert st["totals"]["retried"] == 1 and st["totals"]["child_restarts"] == 2
        assert st["recent"][-1]["attempts"] == 2 and st["recent"][-1]["outcome"] == "error"
    finally:
        assert d.stop() == 0


def test_child_that_does_not_stop_its_abandoned_job_is_killed_after_the_grace():
    """Cancelling is cooperative (stage boundaries, VM progress); a child stuck inside a stage past
    --cancel-grace is killed and restarted as the last resort. (Clean cancels: test_node_dropin.py.)"""
    d = Daemon("--cpu-max-log2", "0", "--cancel-grace", "1",
               faults="slow=60@main: LDE + Merkle", cpu_workers=1)
    try:
        sock = protocol.connect(d.unix, timeout=10)
        sock.sendall(protocol.encode_request(7, request_fields("halt")))
        # the stage is reported by the child itself, so it is inside the slow stage once status shows it
        d.wait_for(lambda st: any(j["state"] == "proving:main: LDE + Merkle" for j in st["jobs"]),
                   what="the child inside its slow stage")
        sock.close()  # as a node does when it kills its prover process
        st = d.wait_for(lambda st: not st["jobs"] and st["totals"].get("abandoned") == 1, what="abandoned")
        assert st["totals"]["child_restarts"] == 1 and "ok" not in st["totals"]
        assert "did not stop its abandoned job within 1s" in d.log()
        d.wait_children_idle()
        assert not shm.list_blocks(f"{shm.PREFIX}{d.proc.pid}_")
        assert d.submit(8, request_fields("sum_squares_2e12_max10")).status == protocol.STATUS_TOO_BIG
    finally:
        assert d.stop() == 0


@pytest.mark.skipif(not VM_READY, reason="the cycle limit is enforced by stages.vm")
def test_cycle_limit_stops_runaway_programs():
    d = Daemon("--max-cycles", "1000", cpu_workers=1, devices="")
    try:
        resp = d.submit(1, request_fields("sum_squares_2e12"))
        assert resp.status == protocol.STATUS_ERROR and "CycleLimitExceeded" in resp.message, resp
        assert d.submit(2, request_fields("sum_squares_2e12_max10")).status == protocol.STATUS_ERROR
    finally:
        assert d.stop() == 0


@pytest.mark.skipif(not VM_READY, reason="admission happens after stages.vm has executed the job")
def test_host_memory_admission_waits_or_refuses():
    from tvmpd.supervisor.scheduler import prove_bytes

    limit = prove_bytes(8) + (8 << 20)  # room for one 2^8 job on the CPU pool, not two
    d = Daemon("--host-memory", str(limit), faults="slow=2@prove", devices="")
    try:
        answers: dict = {}
        threads = [_submit_async(d, 60 + i, "halt", answers) for i in range(2)]
        for t in threads:
            t.join(60)
        for resp in answers.values():
            check_outcome("halt", resp)
        assert "event=memory-wait" in d.log()
        assert d.status()["memory"]["host_reserved"] == 0
        resp = d.submit(62, request_fields("io_arith"))  # estimate above the limit: runs alone
        check_outcome("io_arith", resp)
        resp = d.submit(63, request_fields("sum_squares_2e16"))  # its main table alone exceeds the limit
        assert resp.status == protocol.STATUS_ERROR and "more than this host can give" in resp.message, resp
    finally:
        assert d.stop() == 0


def test_attached_block_is_read_in_place_and_outlives_its_unlinking():
    import numpy as np

    name = f"{shm.PREFIX}{os.getpid()}_attach_test"
    data = np.arange(12, dtype=np.uint64).reshape(3, 4)
    view = shm.attached(shm.put_array(name, data))
    try:
        np.testing.assert_array_equal(view, data)
        with pytest.raises(ValueError):
            view[0, 0] = 7  # read-only: a prover must not write into a job's block
        row = view[1]
    finally:
        shm.unlink(name)  # as the supervisor does when the job ends
    assert not shm.list_blocks(name)
    np.testing.assert_array_equal(row, data[1])  # still mapped while a view lives
    assert shm.attached({"name": name, "dtype": "<u8", "shape": [0, 4]}).shape == (0, 4)


@pytest.mark.skipif(not _stark_ready(), reason="needs stages.vm and stages.prover")
def test_main_table_is_built_in_place_in_shared_memory():
    import numpy as np

    from tvmpd.stages.prover import main_table
    from tvmpd.supervisor import jobs

    result = jobs.execute(jobs.parse_request(request_fields("halt")))
    name = f"{shm.PREFIX}{os.getpid()}_table_test"
    made = []

    def allocate(shape):
        desc, view = shm.create_array(name, shape)
        made.append((desc, view))
        return view

    try:
        table = jobs.build_main_table(result.aet, allocate)
        assert made and np.may_share_memory(table, made[0][1])  # written into the block, not copied there
        np.testing.assert_array_equal(shm.attached(made[0][0]), main_table(result.aet, degree_lowered=False))
    finally:
        shm.unlink(name)
