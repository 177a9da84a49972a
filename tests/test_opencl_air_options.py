"""opencl/air.py build options: the register cap goes to compilers that take NVIDIA's options (by the
device's extensions, not its name), for the constraint kernels only; every other build is unchanged."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

cl = pytest.importorskip("pyopencl")

from tvmpd.opencl import air  # noqa: E402


def _runtime(kind: int, extensions: str, platform: str) -> SimpleNamespace:
    device = SimpleNamespace(type=kind, extensions=extensions, platform=SimpleNamespace(name=platform))
    return SimpleNamespace(device=device)


def test_a_compiler_with_nvidia_options_caps_the_constraint_kernels_registers():
    nvidia = _runtime(cl.device_type.GPU, "cl_khr_fp64 cl_nv_compiler_options cl_nv_device_attribute_query",
                      "NVIDIA CUDA")
    assert air._constraint_options(nvidia) == (f"-cl-nv-maxrregcount={air.NV_CONSTRAINT_REGISTERS}",)
    assert air._options(nvidia) == ()  # degree lowering and extend.cl: no cap
    other = _runtime(cl.device_type.GPU, "cl_khr_fp64 cl_amd_device_attribute_query", "AMD APP")
    assert air._constraint_options(other) == ()


def test_the_test_device_builds_the_constraint_kernels_as_before(rt):
    assert air._constraint_options(rt) == air._options(rt)
