"""tools/cold_timeline.py: names each process of a cold proof by its part, lists builds and each process's
first launch of a kernel (not its later ones), and leaves numba's background compile out of the CPU sum."""

from __future__ import annotations

from tools.cold_timeline import _role, report


def _event(t: float, pid: int, kind: str, **fields) -> dict:
    return {"t": 100.0 + t, "pid": pid, "kind": kind, **fields}


def test_roles_of_a_cold_proofs_processes() -> None:
    assert _role(["/x/tvmpd/supervisor/cli.py", "prove", "r", "-o", "p"]) == "tvmpd prove"
    assert _role(["/x/tvmpd/stages/device_warmup.py", "0:0", "auto", "auto"]) == "warm-up helper"
    assert _role(["/x/tvmpd/opencl/prebuild.py", "0:0", "probe"]) == "prebuild helper"
    assert _role(["-c"]) == "numba compile"


def test_report_lists_first_launches_once_and_sums_cpu_without_numba(capsys) -> None:
    events = [
        _event(0.0, 1, "start", argv=["-m"]),
        _event(0.5, 2, "start", argv=["-m"]),
        _event(0.9, 2, "build", seconds=0.4, chars=7025, first_kernel="probe"),
        _event(1.5, 2, "launch", seconds=0.5, kernel="deep_kernel", local=[64]),
        _event(1.6, 2, "launch", seconds=0.2, kernel="deep_kernel", local=[64]),  # a later launch: not listed
        _event(2.0, 1, "launch", seconds=0.01, kernel="zero_kernel", local=[64]),  # under min_seconds
        _event(3.0, 2, "exit", argv=["/x/device_warmup.py", "0:0"], cpu=2.5),
        _event(4.0, 3, "start", argv=["-c"]),
        _event(4.0, 1, "exit", argv=["/x/cli.py", "prove"], cpu=1.5),
        _event(9.0, 3, "exit", argv=["-c"], cpu=20.0),
    ]
    report(events, 100.0, 0.04)
    out = capsys.readouterr().out
    assert "P0 tvmpd prove" in out and "P1 warm-up helper" in out and "P2 numba compile" in out
    assert out.count("first launch deep_kernel (group 64)") == 1
    assert "zero_kernel" not in out
    assert "build probe... (7025 chars)" in out
    assert "first launches 0.51 s" in out and "numba's background compile 4.00 s" in out
