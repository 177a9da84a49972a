"""Device pick, ICD registration and device requirements (opencl/devices.py, opencl/icd.py, opencl/runtime.py)
with more than one OpenCL CPU implementation present."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest

from tvmpd.opencl import devices, icd
from tvmpd.opencl import runtime as rtm


def _info(key: str, platform: str, name: str, kind: str = "cpu") -> devices.DeviceInfo:
    return devices.DeviceInfo(key=key, platform=platform, name=name, kind=kind, compute_units=2,
                              global_mem_bytes=1 << 30, max_alloc_bytes=1 << 28)


@pytest.mark.parametrize("order", [0, 1, 2])
def test_cpu_pick_does_not_depend_on_the_loader_order(monkeypatch, order):
    found = [_info("0:0", "Intel(R) OpenCL", "AMD EPYC"),
             _info("1:0", devices.POCL_PLATFORM, "pthread-AMD EPYC"),
             _info("2:0", "NVIDIA CUDA", "NVIDIA H100", kind="gpu")]
    found = found[order:] + found[:order]
    # the same devices under the keys the loader gives them in this order
    found = [replace(d, key=f"{i}:0") for i, d in enumerate(found)]
    monkeypatch.setattr(devices, "list_devices", lambda: found)
    assert devices.cpu_device().platform == devices.POCL_PLATFORM
    assert [d.platform for d in devices.cpu_devices()] == [devices.POCL_PLATFORM, "Intel(R) OpenCL"]
    assert [d.name for d in devices.gpu_devices()] == ["NVIDIA H100"]


def test_cpu_pick_without_pocl_takes_the_first_platform_by_name(monkeypatch):
    found = [_info("0:0", "Zeta CPU", "z"), _info("1:0", "Alpha CPU", "a")]
    monkeypatch.setattr(devices, "list_devices", lambda: found)
    assert devices.cpu_device().key == "1:0"
    monkeypatch.setattr(devices, "list_devices", lambda: [])
    assert devices.cpu_device() is None


def _vendors(path: Path, entries: dict[str, str]) -> Path:
    path.mkdir()
    for name, line in entries.items():
        (path / name).write_text(line + "\n")
    return path


def test_write_vendors_keeps_what_the_loader_sees_and_adds_the_drivers(tmp_path):
    system = _vendors(tmp_path / "system", {"nvidia.icd": "libnvidia-opencl.so.1",
                                            "amd.icd": "/opt/amd/libamdocl64.so", "notes.txt": "not an icd"})
    driver = tmp_path / "wheel" / "lib" / "libintelocl.so"
    out = icd.write_vendors(tmp_path / "out", [driver], {"OCL_ICD_VENDORS": str(system)})
    got = {p.name: p.read_text().strip() for p in out.iterdir()}
    assert got == {"nvidia.icd": "libnvidia-opencl.so.1", "amd.icd": "/opt/amd/libamdocl64.so",
                   "tvmpd-libintelocl.icd": str(driver)}
    # written again from its own output (OCL_ICD_VENDORS already pointing at it): the same entries, no copy
    again = icd.write_vendors(out, [driver], {"OCL_ICD_VENDORS": str(out)})
    assert {p.name: p.read_text().strip() for p in again.iterdir()} == got


def test_write_vendors_does_not_register_a_driver_the_system_already_loads(tmp_path):
    system = _vendors(tmp_path / "system", {"intel.icd": "/opt/intel/oclcpu/libintelocl.so"})
    out = icd.write_vendors(tmp_path / "out", [tmp_path / "libintelocl.so"],
                            {"OPENCL_VENDOR_PATH": str(system)})
    assert [p.name for p in out.iterdir()] == ["intel.icd"]
    lone = icd.write_vendors(tmp_path / "lone", [tmp_path / "libintelocl.so"],
                             {"OCL_ICD_VENDORS": str(tmp_path / "missing")})
    assert [p.read_text().strip() for p in lone.iterdir()] == [str(tmp_path / "libintelocl.so")]


def test_every_installed_driver_wheel_is_an_opencl_platform_here():
    """conftest registered the driver wheels of the test extra: each one adds a CPU platform next to pocl
    (CI installs Intel's CPU runtime, so its OpenCL tests run on two implementations)."""
    drivers = icd.wheel_drivers()
    if not drivers:
        pytest.skip("no OpenCL driver wheel installed")
    platforms = {d.platform for d in devices.cpu_devices()}
    assert devices.POCL_PLATFORM in platforms
    assert len(platforms) >= 1 + len(drivers), platforms


def test_tvmpd_devices_lists_every_cpu_platform_and_picks_pocl():
    from click.testing import CliRunner

    from tvmpd.supervisor.cli import main

    result = CliRunner().invoke(main, ["devices"])
    assert result.exit_code == 0, result.output
    for d in devices.cpu_devices():
        assert f"{d.platform} / {d.name}" in result.output
    pick = devices.cpu_device()
    if pick.platform == devices.POCL_PLATFORM:  # the CPU pool proves on it
        assert f"CPU pool: OpenCL prover on {pick.key} ({pick.name})" in result.output
    else:
        assert f"OpenCL CPU device {pick.key} ({pick.name}): not used by default" in result.output


def _fake_device(**overrides) -> SimpleNamespace:
    fields = dict(name="Tiny GPU ", platform=SimpleNamespace(name="Tiny Platform"),
                  opencl_c_version="OpenCL C 1.2 ", profile="FULL_PROFILE", extensions="cl_khr_fp64",
                  endian_little=1, local_mem_size=32768,
                  max_work_group_size=256, max_work_item_sizes=[256, 256, 64])
    return SimpleNamespace(**{**fields, **overrides})


def test_device_requirements_name_the_device_and_what_it_lacks():
    assert rtm.device_problems(_fake_device()) == []
    bad = _fake_device(opencl_c_version="OpenCL C 1.1", profile="EMBEDDED_PROFILE", endian_little=0,
                       local_mem_size=16384, max_work_item_sizes=[32, 32, 32])
    problems = rtm.device_problems(bad)
    assert len(problems) == 5
    with pytest.raises(rtm.DeviceUnsupported) as err:
        rtm.check_device(bad, "3:1")
    message = str(err.value)
    assert message.startswith("OpenCL device 3:1 (Tiny GPU, Tiny Platform) cannot run tvmpd's kernels")
    for needed in ("OpenCL C 1.2", "64-bit integers", "little-endian", "17408 bytes of local memory",
                   "work-groups of 64"):
        assert needed in message
    # an embedded-profile device with the 64-bit extension is fine
    assert rtm.device_problems(_fake_device(profile="EMBEDDED_PROFILE", extensions="cl_khr_int64")) == []


def test_test_devices_meet_the_requirements(device):
    from tvmpd.opencl.devices import get_cl_device

    assert rtm.device_problems(get_cl_device(device)) == []


def test_group_size_is_a_power_of_two_within_the_kernel_limit(device):
    import pyopencl as cl

    rt = rtm.get_runtime(device)
    kernel = rt.kernel("tip5", "tip5_permute_kernel")
    limit = kernel.get_work_group_info(cl.kernel_work_group_info.WORK_GROUP_SIZE, rt.device)
    for wanted in (1, 3, 64, 100, 128, 1 << 20):
        size = rt.group_size(kernel, wanted)
        assert size & (size - 1) == 0 and size <= max(1, min(wanted, limit, rt.max_work_group()))
        assert 2 * size > min(wanted, limit, rt.max_work_group())


def test_register_points_the_loader_at_the_directory_once(tmp_path, monkeypatch):
    driver = tmp_path / "lib" / "libintelocl.so"
    monkeypatch.setattr(icd, "wheel_drivers", lambda: [driver])
    system = _vendors(tmp_path / "system", {"nvidia.icd": "libnvidia-opencl.so.1"})
    monkeypatch.setenv("OCL_ICD_VENDORS", str(system))
    first = icd.register(tmp_path / "first")
    assert first == tmp_path / "first" and icd.os.environ["OCL_ICD_VENDORS"] == str(first)
    assert sorted(p.name for p in first.iterdir()) == ["nvidia.icd", "tvmpd-libintelocl.icd"]
    # a second registration (a child process, a second import of conftest) finds the driver already seen
    assert icd.register(tmp_path / "second") is None
    assert icd.os.environ["OCL_ICD_VENDORS"] == str(first) and not (tmp_path / "second").exists()
    monkeypatch.setattr(icd, "wheel_drivers", lambda: [])
    monkeypatch.setenv("OCL_ICD_VENDORS", str(system))
    assert icd.register(tmp_path / "third") is None and icd.os.environ["OCL_ICD_VENDORS"] == str(system)
