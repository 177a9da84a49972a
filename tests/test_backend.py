"""stages/backend.py: every backend offers each operation of the Backend protocol with its parameters."""

from __future__ import annotations

import inspect

import pytest

from tvmpd.stages.backend import Backend
from tvmpd.stages.host_backend import HostBackend

OPERATIONS = [name for name, value in vars(Backend).items() if callable(value) and not name.startswith("_")]


def _implementations() -> list[type]:
    pytest.importorskip("pyopencl")
    from tvmpd.stages.device_backend import DeviceBackend

    return [HostBackend, DeviceBackend]


def test_protocol_names_the_proof_operations():
    assert OPERATIONS == ["commit_main", "extend", "commit_aux", "root", "quotient", "out_of_domain", "deep",
                          "fri_rounds", "rows", "auth", "finish"]


@pytest.mark.parametrize("operation", OPERATIONS)
def test_every_backend_implements_the_operation(operation):
    want = list(inspect.signature(getattr(Backend, operation)).parameters)
    for cls in _implementations():
        assert callable(getattr(cls, operation, None)), f"{cls.__name__} lacks {operation}"
        assert list(inspect.signature(getattr(cls, operation)).parameters) == want, (cls.__name__, operation)
