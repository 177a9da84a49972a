"""Free memory of the device a child owns, where the platform can tell (best effort, None otherwise).

OpenCL has no portable free-memory query: AMD exposes CL_DEVICE_GLOBAL_FREE_MEMORY_AMD; for NVIDIA the
device's PCI address (cl_nv_device_attribute_query) is matched against NVML when nvidia-ml-py is installed.
The "cpu" key reports the host's available memory.
"""

from __future__ import annotations

import psutil

CL_DEVICE_GLOBAL_FREE_MEMORY_AMD = 0x4039
CL_DEVICE_PCI_BUS_ID_NV = 0x4008
CL_DEVICE_PCI_SLOT_ID_NV = 0x4009
CL_DEVICE_PCI_DOMAIN_ID_NV = 0x400A


def _amd_free(dev) -> int | None:
    try:
        value = dev.get_info(CL_DEVICE_GLOBAL_FREE_MEMORY_AMD)
    except Exception:  # not an AMD device, or the runtime lacks the extension
        return None
    first = value[0] if isinstance(value, list | tuple) else value
    return int(first) * 1024  # reported in KiB


def _nvidia_free(dev) -> int | None:
    try:
        bus = int(dev.get_info(CL_DEVICE_PCI_BUS_ID_NV))
        slot = int(dev.get_info(CL_DEVICE_PCI_SLOT_ID_NV))
    except Exception:  # not an NVIDIA device
        return None
    try:
        domain = int(dev.get_info(CL_DEVICE_PCI_DOMAIN_ID_NV))
    except Exception:  # older drivers: domain 0
        domain = 0
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception:  # no NVML here
        return None
    # drivers report the slot either as the PCI device number or as device << 3 | function
    prefix = f"{domain:08x}:{bus:02x}:"
    for bus_id in (f"{prefix}{slot:02x}.0", f"{prefix}{slot >> 3:02x}.{slot & 7:x}"):
        try:
            handle = pynvml.nvmlDeviceGetHandleByPciBusId(bus_id)
            return int(pynvml.nvmlDeviceGetMemoryInfo(handle).free)
        except Exception:  # no device at this address
            continue
    return None


def free_bytes(device_key: str) -> int | None:
    """Free memory of a device key ("cpu" or an OpenCL "platform:device" key), None when unknown; an OpenCL
    CPU device's memory is the host's."""
    if device_key == "cpu":
        return int(psutil.virtual_memory().available)
    try:
        import pyopencl as cl

        from tvmpd.opencl.devices import get_cl_device

        dev = get_cl_device(device_key)
    except Exception:  # no OpenCL runtime in this process
        return None
    if dev.type & cl.device_type.CPU:
        return int(psutil.virtual_memory().available)
    free = _amd_free(dev)
    return free if free is not None else _nvidia_free(dev)
