"""Scheduler placement without processes: least-loaded device choice, retries avoid the dead child,
memory admission."""

from __future__ import annotations

import asyncio
import os

import pytest

from supervisor.config import ServeConfig
from supervisor.scheduler import Job, JobRefused, Scheduler, prove_bytes


def make(devices: int = 2, mem: int = 64 << 30) -> Scheduler:
    sched = Scheduler(ServeConfig(devices=["cpu"] * devices, cpu_workers=1, tcp=None, unix=None))
    for c in sched.children:
        c.state = "idle"
        c.mem_total = mem
    return sched


def test_least_loaded_device_and_retry_avoidance():
    sched = make(3)
    job = Job(1, 1, "t", [])
    gpu0, gpu1, gpu2 = sched.devices
    gpu0.mem_reserved = 8 << 30
    gpu1.mem_reserved = 1 << 30
    assert sched._pick(job, sched.devices, 1 << 30) is gpu2
    gpu2.state = "busy"
    assert sched._pick(job, sched.devices, 1 << 30) is gpu1
    job.excluded.add("gpu1")
    assert sched._pick(job, sched.devices, 1 << 30) is gpu0
    gpu0.state = "busy"
    assert sched._pick(job, sched.devices, 1 << 30) is None  # waits for a child it has not failed on
    assert sched._pick(job, sched.devices, 60 << 30) is None


def test_device_reservations_and_host_refusal():
    async def go():
        sched = make(2, mem=4 << 30)
        job, other = Job(1, 1, "t", []), Job(2, 2, "t", [])
        job.log2 = other.log2 = 20
        assert prove_bytes(20) > 4 << 30
        # an estimate above a whole device is clamped: the job runs there alone
        child, host = await sched._acquire(job, sched.devices, prove_bytes(20), 1 << 20)
        assert child.state == "busy" and child.mem_reserved == 4 << 30 and sched.host_reserved == 1 << 20
        child.state = "idle"  # even idle, that device has no room left for another job
        assert sched._pick(other, sched.devices, 1 << 30) is not child
        sched._release(child, job, host)
        assert child.mem_reserved == 0 and sched.host_reserved == 0 and job.device_hold == 0
        with pytest.raises(JobRefused, match="host memory"):
            await sched._acquire(job, sched.cpu, 1 << 50, 1 << 50)

    asyncio.run(go())


def test_prove_job_without_prover(monkeypatch):
    import sys
    from types import SimpleNamespace

    from supervisor import jobs

    monkeypatch.delenv("TVMPD_TEST_FAKE_PROOF", raising=False)
    monkeypatch.setitem(sys.modules, "stages.prover", None)  # import now raises ImportError
    with pytest.raises(jobs.JobError, match=r"^proving is not implemented yet \(STARK stage missing\)"):
        jobs.prove_job("{}", "cpu", [], aet=SimpleNamespace(padded_height=256))
    monkeypatch.setenv("TVMPD_TEST_FAKE_PROOF", "1")
    fake = jobs.prove_job("{}", "cpu", [], aet=SimpleNamespace(padded_height=256))
    assert fake == (1).to_bytes(8, "little") + (256).to_bytes(8, "little")


def test_memory_others_hold_lowers_a_device_capacity():
    sched = make(2, mem=64 << 30)
    job = Job(1, 1, "t", [])
    gpu0, gpu1 = sched.devices
    gpu0.mem_foreign = 62 << 30  # someone else held most of gpu0 when its child started
    gpu1.mem_foreign = 4 << 30
    assert gpu0.capacity == 2 << 30 and gpu1.capacity == 60 << 30
    assert sched._pick(job, sched.devices, 8 << 30) is gpu1
    gpu1.mem_reserved = 56 << 30
    assert sched._pick(job, sched.devices, 8 << 30) is gpu0  # alone on gpu0 rather than never
    gpu0.mem_reserved = 1 << 30
    assert sched._pick(job, sched.devices, 8 << 30) is None


def test_nvidia_free_memory_by_pci_address(monkeypatch):
    import sys
    from types import SimpleNamespace

    from supervisor import devmem

    asked = []

    def by_bus(bus_id):
        asked.append(bus_id)
        if bus_id != "00000000:00:06.0":
            raise LookupError(bus_id)
        return "h"

    fake = SimpleNamespace(nvmlInit=lambda: None, nvmlDeviceGetHandleByPciBusId=by_bus,
                           nvmlDeviceGetMemoryInfo=lambda h: SimpleNamespace(free=123))
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    dev = SimpleNamespace(get_info=lambda attr: {0x4008: 0, 0x4009: 6, 0x400A: 0}[attr])
    assert devmem._nvidia_free(dev) == 123 and asked == ["00000000:00:06.0"]
    assert devmem._amd_free(dev) is None
    assert devmem.free_bytes("cpu") > 0


def test_cli_entry_points_without_a_daemon(tmp_path):
    from click.testing import CliRunner

    from supervisor.cli import main, prover_server

    out = CliRunner().invoke(prover_server, ["--help"])
    assert out.exit_code == 0
    for flag in ("--tcp", "--unix", "--max-jobs", "--num-gpus", "--omp-threads", "--omp-init"):
        assert flag in out.output
    assert CliRunner().invoke(prover_server, ["--bogus"]).exit_code != 0
    missing = str(tmp_path / "none.sock")
    for args in (["status", "--control", missing], ["status", "--json", "--control", missing],
                 ["drain", "--wait", "--control", missing]):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 2 and "no daemon at" in result.output, result.output


def test_blocks_of_dead_supervisors_are_reaped():
    import numpy as np

    from supervisor import shm

    dead = "tvmpd_4194303_1_a0_request"  # no process has this pid (above the usual pid_max)
    shm.put_array(dead, np.zeros(4, dtype=np.uint64))
    mine = shm.put_array(f"{shm.job_prefix(os.getpid(), 1)}a0_request", np.zeros(4, dtype=np.uint64))
    try:
        assert dead in shm.reap_stale()
        assert shm.list_blocks("tvmpd_4194303_") == [] and shm.list_blocks(mine["name"]) == [mine["name"]]
    finally:
        shm.unlink(dead)
        shm.unlink(mine["name"])


def test_a_device_large_enough_is_preferred():
    # the device model of the prover decides: at 2^21 about 50 GiB, so of a 40 GiB and an 80 GiB device
    # the larger one takes the job even though it is busier
    from supervisor.scheduler import device_prove_bytes

    need = device_prove_bytes(21)
    assert 40 << 30 < need < 60 << 30
    sched = make(2, mem=80 << 30)
    small, large = sched.devices
    small.mem_total = 40 << 30
    large.mem_reserved = 1 << 30
    assert sched._pick(Job(1, 1, "t", []), sched.devices, need) is large


def test_small_job_takes_an_idle_device_else_a_cpu_worker():
    async def go():
        sched = make(1)
        (gpu0,), (cpu0,) = sched.devices, sched.cpu
        cpu0.state = "idle"
        job = Job(1, 1, "t", [])
        job.log2 = 10
        child, _ = await sched._acquire(job, sched.devices, 1 << 30, 0, (sched.cpu, 1 << 30))
        assert child is gpu0 and gpu0.mem_reserved == 1 << 30
        other = Job(2, 2, "t", [])
        other.log2 = 10
        child, _ = await sched._acquire(other, sched.devices, 1 << 30, 0, (sched.cpu, 1 << 30))
        assert child is cpu0 and cpu0.state == "busy"  # the device is busy: the CPU pool takes it

    asyncio.run(go())
