"""Enumerate OpenCL platforms and devices and pick the ones tvmpd uses (CPU pool, one child per GPU)."""

from __future__ import annotations

from dataclasses import dataclass

import pyopencl as cl


@dataclass(frozen=True)
class DeviceInfo:
    """One OpenCL device as tvmpd sees it; `key` ("platform:device" indices) names it on the CLI."""

    key: str
    platform: str
    name: str
    kind: str  # "gpu", "cpu" or "other"
    compute_units: int
    global_mem_bytes: int
    max_alloc_bytes: int


def _kind(device: cl.Device) -> str:
    if device.type & cl.device_type.GPU:
        return "gpu"
    if device.type & cl.device_type.CPU:
        return "cpu"
    return "other"


def list_devices() -> list[DeviceInfo]:
    """All devices of all platforms; an absent or broken ICD yields an empty list, not an exception."""
    out: list[DeviceInfo] = []
    try:
        platforms = cl.get_platforms()
    except cl.Error:
        return out
    for pi, platform in enumerate(platforms):
        try:
            devices = platform.get_devices()
        except cl.Error:
            continue
        for di, dev in enumerate(devices):
            out.append(
                DeviceInfo(
                    key=f"{pi}:{di}",
                    platform=platform.name.strip(),
                    name=dev.name.strip(),
                    kind=_kind(dev),
                    compute_units=int(dev.max_compute_units),
                    global_mem_bytes=int(dev.global_mem_size),
                    max_alloc_bytes=int(dev.max_mem_alloc_size),
                )
            )
    return out


def gpu_devices() -> list[DeviceInfo]:
    """Devices that get a GPU child each: every GPU of every platform."""
    return [d for d in list_devices() if d.kind == "gpu"]


POCL_PLATFORM = "Portable Computing Language"


def cpu_devices() -> list[DeviceInfo]:
    """Every CPU device, pocl's first (the runtime tvmpd installs), then by platform, device name and key:
    the order does not depend on the order in which the ICD loader happens to list the platforms."""
    cpus = [d for d in list_devices() if d.kind == "cpu"]
    return sorted(cpus, key=lambda d: (d.platform != POCL_PLATFORM, d.platform, d.name, d.key))


def cpu_device() -> DeviceInfo | None:
    """The CPU device tvmpd uses by default (`tvmpd devices`, `tvmpd prove --backend opencl` without a GPU):
    pocl when present, so that registering another CPU runtime (Intel's) does not change the pick."""
    cpus = cpu_devices()
    return cpus[0] if cpus else None


def get_cl_device(key: str) -> cl.Device:
    """The pyopencl device named by a "platform:device" key; ValueError if there is none."""
    try:
        pi, di = (int(x) for x in key.split(":"))
        return cl.get_platforms()[pi].get_devices()[di]
    except (ValueError, IndexError, cl.Error) as exc:
        raise ValueError(f"no OpenCL device {key!r}") from exc
