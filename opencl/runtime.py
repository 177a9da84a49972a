"""OpenCL context, queue and program cache: one context per device, each program compiled once per context."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import platformdirs
import pyopencl as cl

from tvmpd.opencl.devices import POCL_PLATFORM, cpu_device, get_cl_device, gpu_devices

KERNEL_DIR = Path(__file__).resolve().parent

# Programs: name -> .cl files concatenated in order (field.cl provides the arithmetic to the others).
PROGRAMS: dict[str, tuple[str, ...]] = {
    "field": ("field.cl", "field_kernels.cl"),
    "ntt": ("field.cl", "ntt.cl"),
    "tip5": ("field.cl", "tip5.cl"),
    "device_tables": ("field.cl", "device_tables.cl"),
    # CPU devices: every hand-written kernel a proof launches, in one program, which also serves the names
    # of CPU_SERVED there. One build instead of four (each pays clang's start and the link of pocl's
    # builtin library): 0.8 s against 2 s on a fresh 2-core machine. The CPU-shaped kernels (ntt_cpu.cl,
    # tip5_cpu.cl: ntt.py's and tip5.py's cpu_shaped) are only here.
    "cpu": ("field.cl", "field_vec.cl", "device_tables.cl", "ntt.cl", "ntt_cpu.cl", "tip5.cl", "tip5_cpu.cl"),
}
CPU_SERVED = ("ntt", "tip5", "device_tables")

BUILD_OPTIONS = ("-cl-std=CL1.2",)

# pocl compiles a kernel once per work-group size, zero or non-zero global offset, and grid class (every
# dimension under 2^16 work-items or not). Runtime.launch therefore enqueues a CPU launch in pieces of at
# most CPU_GRID work-items along dimension 0 (a 2^16 proof after `tvmpd build` compiled 17 large-grid
# variants before), each with a non-zero offset: the launch gets one more dimension, of one work-item at
# offset 1, which the kernels do not read. Every launch of a kernel with a given work-group size then uses
# one variant, which the warm-up proof compiles; with the first piece at offset zero, each kernel cost two
# compiles (`goffs0` and not), some 5 s of CPU in a cold 2^12 proof on the 2-core machine.
CPU_GRID = 1 << 15

# What every device must offer tvmpd's kernels (opencl/README.md says why for each): OpenCL C 1.2
# (BUILD_OPTIONS), 64-bit integers (a field element is one ulong), little-endian words (numpy arrays are
# copied byte for byte), local memory for one NTT block (ntt.cl: NTT_BLOCK + NTT_BLOCK / 16 ulongs) and
# work-groups of 64 work-items (opencl/air.py launches the generated AIR kernels with groups of 64).
MIN_OPENCL_C = (1, 2)
MIN_LOCAL_MEM_BYTES = 8 * (2048 + 2048 // 16)
MIN_WORK_GROUP = 64


class DeviceUnsupported(ValueError):
    """A device lacks a capability the kernels need; the message names the device and each missing one."""


def _opencl_c_version(device: cl.Device) -> tuple[int, int]:
    """(major, minor) of the device's "OpenCL C x.y ..." version string; (0, 0) if unreadable."""
    try:
        major, minor = device.opencl_c_version.split()[2].split(".")[:2]
        return int(major), int(minor)
    except (ValueError, IndexError, cl.Error):
        return (0, 0)


def device_problems(device: cl.Device) -> list[str]:
    """What the device lacks of the requirements above, one phrase each; empty when it has them all."""
    problems = []
    version = _opencl_c_version(device)
    if version < MIN_OPENCL_C:
        wanted = ".".join(map(str, MIN_OPENCL_C))
        problems.append(f"OpenCL C {wanted} (it offers {device.opencl_c_version.strip()!r})")
    if device.profile.strip() != "FULL_PROFILE" and "cl_khr_int64" not in device.extensions.split():
        problems.append(f"64-bit integers (an {device.profile.strip()} device without cl_khr_int64)")
    if not device.endian_little:
        problems.append("little-endian memory")
    if device.local_mem_size < MIN_LOCAL_MEM_BYTES:
        problems.append(f"{MIN_LOCAL_MEM_BYTES} bytes of local memory (it has {device.local_mem_size})")
    if min(device.max_work_group_size, device.max_work_item_sizes[0]) < MIN_WORK_GROUP:
        problems.append(f"work-groups of {MIN_WORK_GROUP} work-items (it allows "
                        f"{min(device.max_work_group_size, device.max_work_item_sizes[0])})")
    return problems


def check_device(device: cl.Device, key: str) -> None:
    """Raise DeviceUnsupported, naming the device and all it lacks, unless it meets the requirements."""
    problems = device_problems(device)
    if problems:
        where = f"{device.name.strip()}, {device.platform.name.strip()}"
        raise DeviceUnsupported(f"OpenCL device {key} ({where}) cannot run tvmpd's kernels: it lacks "
                                + "; ".join(problems))


INT128_OPTIONS = ("-DGL_INT128",)
_INT128_PROBE = """
__kernel void probe(__global ulong *x) {
    ulong a = x[0], b = x[1];
    x[2] = gl_mul(a, b);
    x[3] = gl_mul(b, b);
}
"""


def pocl_caches(device: cl.Device) -> bool:
    """Whether pocl keeps this device's programs and compiled kernels in its on-disk cache (a CPU device of
    pocl with POCL_KERNEL_CACHE not 0), so that a second process finds what a first one built."""
    return (bool(device.type & cl.device_type.CPU) and device.platform.name.strip() == POCL_PLATFORM
            and os.environ.get("POCL_KERNEL_CACHE", "1") != "0")


@contextlib.contextmanager
def _one_builder(device: cl.Device, source: str, options: tuple[str, ...]) -> Iterator[None]:
    """On a device whose builds pocl caches: one process (or thread) on the machine builds a given program at
    a time; another waits for it and then loads the program from pocl's cache (a cold machine's warm-up
    helpers would otherwise compile it side by side). Elsewhere nothing."""
    if not pocl_caches(device):
        yield
        return
    key = "\n".join((device.name, device.driver_version, " ".join(options), source))
    folder = Path(platformdirs.user_cache_dir("tvmpd")) / "build-locks"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / hashlib.sha256(key.encode()).hexdigest()[:24], "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _build(context: cl.Context, source: str, options: tuple[str, ...]) -> cl.Program:
    """Build OpenCL C source for the context's device (one builder per machine at a time on pocl)."""
    with _one_builder(context.devices[0], source, options):
        return cl.Program(context, source).build(options=list(options))


def _int128_works(context: cl.Context, queue: cl.CommandQueue) -> bool:
    """Whether field.cl built with INT128_OPTIONS compiles on this context's device and multiplies two
    full-width elements as Python's integers do."""
    a, b = 0xFFFFFFFF00000000, 0xFEDCBA9876543210
    try:
        source = (KERNEL_DIR / "field.cl").read_text() + _INT128_PROBE
        program = _build(context, source, BUILD_OPTIONS + INT128_OPTIONS)
        buf = cl.Buffer(context, cl.mem_flags.READ_WRITE | cl.mem_flags.COPY_HOST_PTR,
                        hostbuf=np.array([a, b, 0, 0], dtype=np.uint64))
        program.probe(queue, (1,), None, buf)
        out = np.empty(4, dtype=np.uint64)
        cl.enqueue_copy(queue, out, buf)
    except cl.Error:
        return False
    p = 2**64 - 2**32 + 1
    return int(out[2]) == a * b % p and int(out[3]) == b * b % p


@dataclass
class Runtime:
    """One device's context and in-order queue plus its compiled programs."""

    key: str
    device: cl.Device
    context: cl.Context
    queue: cl.CommandQueue
    programs: dict[str, cl.Program] = field(default_factory=dict)
    cache: dict = field(default_factory=dict)  # per-context data (twiddle tables, ...), owned by wrappers
    _probing: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def device_options(self) -> tuple[str, ...]:
        """Build options every program gets on this device: -DGL_INT128 (field.cl's products from one
        128-bit multiply) on a CPU whose compiler accepts 128-bit integers and multiplies right with them,
        nothing on other devices (GPU programs stay as they were). Probed once per context, also when two
        threads ask at once (opencl/prebuild.py asks from its own)."""
        key = ("device_options",)
        with self._probing:
            if key not in self.cache:
                self.cache[key] = INT128_OPTIONS if self.device.type & cl.device_type.CPU and _int128_works(
                    self.context, self.queue) else ()
        return self.cache[key]

    def program(self, name: str) -> cl.Program:
        """The compiled program `name` of PROGRAMS (built on first use, then reused; on a CPU device the
        names of CPU_SERVED get the program "cpu")."""
        if name in CPU_SERVED and self.device.type & cl.device_type.CPU:
            name = "cpu"
        if name not in self.programs:
            if name not in PROGRAMS:
                raise ValueError(f"unknown OpenCL program {name!r}")
            source = "\n".join((KERNEL_DIR / f).read_text() for f in PROGRAMS[name])
            options = BUILD_OPTIONS + self.device_options()
            self.programs[name] = _build(self.context, source, options)
        return self.programs[name]

    def program_from_source(self, name: str, source: str, options: tuple[str, ...] = ()) -> cl.Program:
        """Build OpenCL C source (e.g. generated kernels) once per context under `name`, then reuse it."""
        key = ("source", name, options)
        if key not in self.cache:
            options = BUILD_OPTIONS + self.device_options() + options
            self.cache[key] = _build(self.context, source, options)
        return self.cache[key]

    def kernel(self, program: str, name: str) -> cl.Kernel:
        """A kernel object, cached so argument setting does not re-create it each call."""
        key = ("kernel", program, name)
        if key not in self.cache:
            self.cache[key] = getattr(self.program(program), name)
        return self.cache[key]

    def to_device(self, array: np.ndarray) -> cl.Buffer:
        """Copy a numpy array to a new device buffer (blocking)."""
        array = np.ascontiguousarray(array)
        buf = cl.Buffer(self.context, cl.mem_flags.READ_WRITE, size=max(array.nbytes, 8))
        if array.nbytes:
            cl.enqueue_copy(self.queue, buf, array)
        return buf

    def empty(self, nbytes: int) -> cl.Buffer:
        """An uninitialised device buffer of at least 8 bytes."""
        return cl.Buffer(self.context, cl.mem_flags.READ_WRITE, size=max(int(nbytes), 8))

    def from_device(self, buf: cl.Buffer, shape: tuple[int, ...], dtype=np.uint64) -> np.ndarray:
        """Copy a device buffer back into a new numpy array (blocking)."""
        out = np.empty(shape, dtype=dtype)
        if out.nbytes:
            cl.enqueue_copy(self.queue, out, buf)
        return out

    def launch(self, kernel: cl.Kernel, gsize: tuple[int, ...], lsize: tuple[int, ...] | None, *args,
               wait_for=None) -> cl.Event:
        """Enqueue kernel over gsize in groups of lsize (gsize[0] a multiple of lsize[0]) and return the event
        of its last launch; on a CPU device in pieces along dimension 0 (CPU_GRID), each at a non-zero
        global offset (a launch of under three dimensions gets a last one of one work-item at offset 1).
        The kernel must index by get_global_id, which includes a piece's offset (get_group_id does not),
        and must not read the added dimension."""
        if lsize is None or not self.device.type & cl.device_type.CPU:
            return kernel(self.queue, gsize, lsize, *args, wait_for=wait_for)
        group, rest, local = lsize[0], tuple(gsize[1:]), tuple(lsize)
        tail = (0,) * len(rest)
        if len(gsize) < 3:
            rest, local, tail = rest + (1,), local + (1,), tail + (1,)
        step = max(group, CPU_GRID // group * group)
        start, event = 0, None
        while start < gsize[0]:
            # a three-dimensional launch has no spare dimension: its first piece, one work-group, is at
            # offset zero and the kernel gets a second variant for it
            size = group if start == 0 and not any(tail) else min(step, gsize[0] - start)
            offset = (start,) + tail if start or any(tail) else None
            event = kernel(self.queue, (size,) + rest, local, *args, global_offset=offset,
                           wait_for=None if start else wait_for)  # the in-order queue orders the rest
            start += size
        return event

    def max_work_group(self) -> int:
        """Most work-items in one work-group of this device (along dimension 0)."""
        return min(int(self.device.max_work_group_size), int(self.device.max_work_item_sizes[0]))

    def group_size(self, kernel: cl.Kernel, wanted: int) -> int:
        """The largest power of two <= wanted that this device runs `kernel` with: the kernel's own limit
        (registers, local memory) can be below the device's."""
        key = ("group_limit", kernel.int_ptr)
        if key not in self.cache:
            info = cl.kernel_work_group_info.WORK_GROUP_SIZE
            self.cache[key] = min(self.max_work_group(), int(kernel.get_work_group_info(info, self.device)))
        return 1 << (max(1, min(wanted, self.cache[key])).bit_length() - 1)


_RUNTIMES: dict[str | None, Runtime] = {}  # None: the default device, resolved once


def default_device_key() -> str:
    """TVMPD_DEVICE if set, else the first GPU, else the CPU (pocl) device; ValueError if none."""
    env = os.environ.get("TVMPD_DEVICE")
    if env:
        return env
    gpus = gpu_devices()
    if gpus:
        return gpus[0].key
    cpu = cpu_device()
    if cpu is None:
        raise ValueError("no OpenCL device found (is pocl installed?)")
    return cpu.key


def get_runtime(device_key: str | None = None) -> Runtime:
    """The cached Runtime of a device ("platform:device" key of opencl.devices; None picks the default)."""
    if device_key is None:
        if None not in _RUNTIMES:
            _RUNTIMES[None] = get_runtime(default_device_key())
        return _RUNTIMES[None]
    key = device_key
    if key not in _RUNTIMES:
        device = get_cl_device(key)
        check_device(device, key)
        context = cl.Context([device])
        # TVMPD_CL_PROFILE=1: events carry device timestamps (tools/profile_prove.py reads them)
        profiling = os.environ.get("TVMPD_CL_PROFILE", "") not in ("", "0")
        queue = cl.CommandQueue(context, properties=cl.command_queue_properties.PROFILING_ENABLE
                                if profiling else 0)
        _RUNTIMES[key] = Runtime(key=key, device=device, context=context, queue=queue)
    return _RUNTIMES[key]
