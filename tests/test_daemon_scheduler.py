"""Scheduler placement without processes: earliest predicted finish (list scheduling over waiting jobs),
overrides, retries avoiding the dead child, memory, readiness and hang judging."""

from __future__ import annotations

import asyncio
import os
import time

import pytest

from tvmpd.supervisor.children import ChildState
from tvmpd.supervisor.config import ServeConfig
from tvmpd.supervisor.scheduler import Job, JobRefused, Scheduler, device_prove_bytes
from tvmpd.supervisor.timings import TimingTable

FAST = "opencl:Test GPU"


def make(devices: int = 1, mem: int = 64 << 30, workers: int = 1, **cfg) -> Scheduler:
    """A scheduler whose children are all idle (no processes), CPU workers numpy, devices FAST."""
    sched = Scheduler(ServeConfig(devices=["cpu"] * devices, cpu_workers=workers, tcp=None, unix=None,
                                  **cfg))
    sched.timings = TimingTable(None)
    for c in sched.children:
        c.state = ChildState.IDLE
        c.mem_total = mem
    for c in sched.cpu:  # whatever the pool proves with on this host (pocl where present)
        c.speed_class = "numpy:host"
    for c in sched.devices:
        c.speed_class = FAST
    return sched


def seed(sched: Scheduler, numpy_s: float, fast_s: float, log2: int = 10) -> None:
    sched.timings.record("numpy:host", log2, numpy_s)
    sched.timings.record(FAST, log2, fast_s)


def job(seq: int, log2: int = 10) -> Job:
    j = Job(seq, seq, "t", [])
    j.log2 = log2
    return j


async def place_all(sched: Scheduler, jobs: list[Job]) -> list[asyncio.Task]:
    tasks = [asyncio.create_task(sched._place(j, False)) for j in jobs]
    await asyncio.sleep(0)
    return tasks


def placed(tasks) -> list[str | None]:
    return [t.result()[0].name if t.done() else None for t in tasks]


def test_burst_is_placed_by_predicted_finish():
    async def go():
        sched = make()
        seed(sched, numpy_s=4.5, fast_s=1.0)
        burst = [job(i) for i in range(1, 6)]
        tasks = await place_all(sched, burst)
        # in line, the GPU would finish the jobs at 1, 2, 3, 4, 5 s and the idle CPU worker one at 4.5 s:
        # jobs 2-4 wait for the GPU, the 5th goes to the worker now
        assert placed(tasks) == ["gpu0", None, None, None, "cpu0"]
        assert [j.predicted for j in burst if j.predicted] == [1.0, 4.5]
        gpu0 = sched.devices[0]
        gpu0.state = ChildState.IDLE  # the first job is done
        sched._release(gpu0, burst[0], 0)
        await asyncio.sleep(0)
        assert placed(tasks)[:4] == ["gpu0", "gpu0", None, None]
        for t in tasks:
            t.cancel()

    asyncio.run(go())


def test_no_threshold_sends_a_job_to_a_slower_idle_child():
    async def go():
        sched = make()
        seed(sched, numpy_s=5.0, fast_s=1.0)
        tasks = await place_all(sched, [job(1)])
        assert placed(tasks) == ["gpu0"]
        # a big job waits for the busy GPU rather than taking the idle CPU worker (predicted ~hours there)
        tasks += await place_all(sched, [job(2, log2=21)])
        assert placed(tasks) == ["gpu0", None]
        for t in tasks:
            t.cancel()

    asyncio.run(go())


def test_cpu_max_log2_and_force_cpu_override():
    async def go():
        sched = make(cpu_max_log2=10)
        seed(sched, numpy_s=5.0, fast_s=1.0)
        small, large = job(1, 10), job(2, 11)
        tasks = await place_all(sched, [small, large])
        assert placed(tasks) == ["cpu0", "gpu0"]
        sched = make()
        seed(sched, numpy_s=5.0, fast_s=1.0)
        forced = asyncio.create_task(sched._place(job(3), True))
        await asyncio.sleep(0)
        assert forced.result()[0].name == "cpu0"

    asyncio.run(go())


def test_retry_avoids_the_child_it_died_on_while_another_lives():
    sched = make(devices=2)
    j = job(1)
    j.excluded.add("gpu0")
    assert "gpu0" not in [c.name for c in sched.options(j, False)]
    for c in sched.children:
        if c.name != "gpu0":
            c.state = ChildState.FAILED
    assert [c.name for c in sched.options(j, False)] == ["gpu0"]  # the only one left: try again there


def test_a_device_too_small_for_the_job_is_chosen_only_when_nothing_else_can():
    need = device_prove_bytes(23, 80 << 30)  # lean mode on an 80 GB card
    assert 40 << 30 < need < 78 << 30
    assert device_prove_bytes(23, 40 << 30) > 40 << 30  # no mode fits 40 GB
    sched = make(devices=2, mem=80 << 30)
    small, large = sched.devices
    small.mem_total = 40 << 30
    assert sched.predict(small, 23) > sched.predict(large, 23) + 1e5
    large.state = ChildState.FAILED
    assert small in sched.options(job(1, 23), False) and large not in sched.options(job(1, 23), False)


def test_device_memory_estimate_follows_the_mode_the_device_will_use():
    """2^21 fits an 80 GB card with full-length cosets and the aux table's kept coset values, automatically
    with its coefficients rebuilt after the quotient (headroom), plainly when forced (the estimate counts
    either); a 40 GB one would prove it in a smaller mode."""
    from tvmpd.stages.device_backend import device_bytes
    from tvmpd.stages.domains import derive

    full = device_prove_bytes(21)
    assert full == device_bytes(derive(1 << 21))[1]
    assert device_prove_bytes(21, 80 << 30) == device_bytes(derive(1 << 21), 1, "aux", rebuild=True)[1]
    assert device_prove_bytes(21, 80 << 30, keep="aux") == device_bytes(derive(1 << 21), 1, "aux")[1]
    assert device_bytes(derive(1 << 21), 1, "aux")[1] > full + (16 << 30)
    assert device_prove_bytes(21, 40 << 30) <= 40 << 30 < full
    assert device_prove_bytes(21, 40 << 30, "full") > 40 << 30


def test_kept_cosets_are_planned_within_what_others_leave_of_a_device():
    """An 80 GB card keeps both tables' cosets at 2^20, but none when others hold 40 GiB of it (the child
    plans them from the free memory): the estimate is then the plain full-length layout's, and the card is
    not treated as too small."""
    from tvmpd.stages.device_backend import device_bytes
    from tvmpd.stages.domains import derive

    sched = make(devices=1, mem=85031714816)
    (gpu,) = sched.devices
    assert sched._device_need(gpu, 20) == device_bytes(derive(1 << 20), 1, "both")[1]
    gpu.mem_foreign = 40 << 30
    assert sched._device_need(gpu, 20) == device_bytes(derive(1 << 20))[1] <= gpu.capacity
    assert sched.predict(gpu, 20) < 1e5


def test_memory_others_hold_lowers_a_device_capacity():
    sched = make(devices=2, mem=64 << 30)
    gpu0, gpu1 = sched.devices
    gpu0.mem_foreign = 62 << 30  # someone else held most of gpu0 when its child started
    gpu1.mem_foreign = 4 << 30
    assert gpu0.capacity == 2 << 30 and gpu1.capacity == 60 << 30


def test_a_warming_child_is_waited_for_when_it_still_finishes_first():
    async def go():
        sched = make()
        seed(sched, numpy_s=5.0, fast_s=1.0, log2=16)
        gpu0 = sched.devices[0]
        gpu0.state, gpu0.started_at = ChildState.WARMING, time.monotonic()
        sched.timings.record(FAST, "warmup", 30.0)
        tasks = await place_all(sched, [job(1, 16)])
        assert placed(tasks) == ["cpu0"]  # 5 s on the worker beats 30 s of warm-up + 1 s
        tasks += await place_all(sched, [job(2, 21)])
        assert placed(tasks) == ["cpu0", None]  # numpy at 2^21 is predicted far above the warm-up
        assert not sched.ready
        for t in tasks:
            t.cancel()

    asyncio.run(go())


def test_jobs_are_refused_when_every_child_that_could_prove_failed():
    async def go():
        sched = make(workers=1)
        for c in sched.children:
            c.state = ChildState.FAILED
        with pytest.raises(JobRefused, match="failed to start"):
            await sched._place(job(1), False)
        with pytest.raises(JobRefused, match="could start"):
            await sched._acquire(job(2), sched.cpu)

    asyncio.run(go())


def test_hang_judged_from_progress_and_prediction_not_while_warming():
    async def go():
        sched = make(hang_floor_s=5.0, hang_margin=4.0)
        gpu0, cpu0 = sched.devices[0], sched.cpu[0]
        now = time.monotonic()
        gpu0.state, gpu0.last_progress = ChildState.WARMING, now - 90  # building kernels for 90 s
        sched.check_child(gpu0, now)
        assert gpu0.state == ChildState.WARMING
        cpu0.state, cpu0.busy_predicted, cpu0.last_progress = ChildState.BUSY, 1.0, now - 4
        cpu0.current = {"job": 1, "op": "prove", "stage": "FRI",
                        "future": asyncio.get_running_loop().create_future()}
        sched.check_child(cpu0, now)
        assert cpu0.state == ChildState.BUSY  # within the floor
        cpu0.busy_predicted = 10.0
        cpu0.last_progress = now - 30
        sched.check_child(cpu0, now)
        assert cpu0.state == ChildState.BUSY  # 30 s < 4 x 10 s
        cpu0.last_progress = now - 41
        sched.check_child(cpu0, now)
        assert cpu0.state == ChildState.RESTARTING and sched.totals["child_restarts"] == 1

    asyncio.run(go())


def test_back_off_grows_with_failures_and_a_boot_loop_is_given_up():
    async def go():
        sched = make(restart_backoff_s=0.5)
        cpu0 = sched.cpu[0]
        delays = []
        for _ in range(3):
            cpu0.state = ChildState.BUSY
            delays.append(min(30.0, 0.5 * 2 ** cpu0.quick_failures))
            cpu0.fail("test")
        assert delays == [0.5, 1.0, 2.0] and cpu0.quick_failures == 3
        gpu0 = sched.devices[0]
        for _ in range(3):
            gpu0.state = ChildState.WARMING
            gpu0.fail("driver crash")
        assert gpu0.state == ChildState.FAILED and sched.totals["child_failed"] == 1

    asyncio.run(go())


def test_memory_guard_stops_the_biggest_busy_child_with_an_error(monkeypatch):
    from types import SimpleNamespace

    import tvmpd.supervisor.scheduler as sch

    async def go():
        sched = make(devices=1)
        gpu0, cpu0 = sched.devices[0], sched.cpu[0]
        j = job(1)
        j.host_hold = 1 << 30
        sched.jobs[1] = j
        loop = asyncio.get_running_loop()
        for pid, child in ((101, cpu0), (102, gpu0)):
            child.state, child.pid = ChildState.BUSY, pid
            child.current = {"job": 1 if child is cpu0 else 2, "op": "prove", "stage": "FRI",
                             "future": loop.create_future()}
        rss = {101: 20 << 30, 102: 2 << 30}
        monkeypatch.setattr(sch.psutil, "Process", lambda pid: SimpleNamespace(
            memory_info=lambda: SimpleNamespace(rss=rss[pid])))
        monkeypatch.setattr(sch.psutil, "virtual_memory", lambda: SimpleNamespace(
            total=24 << 30, available=4 << 30))
        sched.guard_memory()
        assert cpu0.state == ChildState.BUSY  # 4 GiB available: nothing to do
        monkeypatch.setattr(sch.psutil, "virtual_memory", lambda: SimpleNamespace(
            total=24 << 30, available=256 << 20))
        sched.guard_memory()
        assert cpu0.state == ChildState.RESTARTING and gpu0.state == ChildState.BUSY
        assert j.fatal.startswith("job stopped: host memory nearly exhausted (0.25 GiB available")
        assert "held 20.00 GiB (reserved for the job: 1.00 GiB)" in j.fatal

    asyncio.run(go())


def test_prove_job_without_prover(monkeypatch):
    import sys
    from types import SimpleNamespace

    from tvmpd.supervisor import jobs

    monkeypatch.setitem(sys.modules, "tvmpd.stages.prover", None)  # import now raises ImportError
    with pytest.raises(jobs.JobError, match=r"^proving is not implemented yet \(STARK stage missing\)"):
        jobs.prove_job("{}", "cpu", [], aet=SimpleNamespace(padded_height=256))


def test_nvidia_free_memory_by_pci_address(monkeypatch):
    import sys
    from types import SimpleNamespace

    from tvmpd.supervisor import devmem

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

    from tvmpd.supervisor.cli import main, prover_server

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

    from tvmpd.supervisor import shm

    dead = "tvmpd_4194303_1_a0_request"  # no process has this pid (above the usual pid_max)
    shm.put_array(dead, np.zeros(4, dtype=np.uint64))
    mine = shm.put_array(f"{shm.job_prefix(os.getpid(), 1)}a0_request", np.zeros(4, dtype=np.uint64))
    try:
        assert dead in shm.reap_stale()
        assert shm.list_blocks("tvmpd_4194303_") == [] and shm.list_blocks(mine["name"]) == [mine["name"]]
    finally:
        shm.unlink(dead)
        shm.unlink(mine["name"])


