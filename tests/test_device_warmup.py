"""stages/device_warmup.py: on a fresh machine the helper builds and first-launches every kernel a proof
uses on pocl (they land in pocl's kernel cache), records it once, and a failing helper only costs a
warning."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from tvmpd.opencl import device_tables
from tvmpd.opencl.devices import POCL_PLATFORM, cpu_devices
from tvmpd.stages import device_warmup


def _pocl_key() -> str:
    keys = [d.key for d in cpu_devices() if d.platform == POCL_PLATFORM]
    if not keys:
        pytest.skip("pocl is not installed")
    return keys[0]


def test_helper_fills_pocl_cache_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # a fresh machine; the helper inherits it
    monkeypatch.delenv("POCL_CACHE_DIR", raising=False)
    monkeypatch.delenv("POCL_KERNEL_CACHE", raising=False)
    key = _pocl_key()
    warmup = device_warmup.start(key)
    assert warmup is not None
    warmup.wait()
    compiled = {path.stem for path in (tmp_path / "pocl").rglob("*.so")}
    # the interpreter (constraints and degree lowering), extend.cl, and kernels only a proof launches (LDE,
    # Merkle, FRI); no generated AIR kernel
    assert {"run_program", "ext_terms"} <= compiled
    assert not any(name.startswith(("lower_", "evaluate_constraints")) for name in compiled)
    assert any("merkle" in name for name in compiled) and any("fri" in name for name in compiled)
    # what helpers compile (the interpreter, the Merkle tree's kernels, the late hand-written kernels,
    # ext_terms(_late)): a helper's first launch (zero counts; a tiny tree; rows of zeros) compiled the one
    # variant the warm-up proof's launches then used (a different launch shape would have compiled a second)
    hashing = ("tip5_absorb_rows_vec_kernel", "scatter_digests_kernel", "merkle_level_kernel",
               "gather_rows_kernel")
    for name in (*device_tables.LATE_KERNELS, *hashing, "evaluate_partial_kernel", "run_program", "ext_terms",
                 "ext_terms_late"):
        variants = {path.parent.name for path in (tmp_path / "pocl").rglob(f"{name}.so")}
        assert len(variants) == 1, (name, variants)
    assert device_warmup.start(key) is None  # recorded: later processes start nothing


def test_no_helper_without_pocl_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("POCL_KERNEL_CACHE", "0")
    assert device_warmup.start(_pocl_key()) is None


def test_failed_helper_is_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "raise SystemExit('no device here')"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    with caplog.at_level(logging.WARNING):
        device_warmup.Warmup(proc).wait()
    assert "kernel warm-up helper failed (no device here)" in caplog.text


_STAGES_HELPER = """
import sys
for stage in ("main table", "main: LDE + Merkle", "aux: extend"):
    if not sys.stdin.readline():
        break
    print(stage, flush=True)
"""


def test_caller_follows_the_helpers_proof_a_stage_behind() -> None:
    """past(stage) returns once the helper's proof has begun a later stage, or once the helper has ended
    (its last stage, or one it never names); the helper here moves on at each line the test sends."""
    proc = subprocess.Popen([sys.executable, "-c", _STAGES_HELPER], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    warmup = device_warmup.Warmup(proc)
    proc.stdin.write("go\ngo\n")
    proc.stdin.flush()
    warmup.past("main table")  # returns: the helper has begun "main: LDE + Merkle"
    assert warmup.ended is None and proc.poll() is None  # it waits for the test's next line
    proc.stdin.close()  # the helper ends without naming "aux: extend"
    warmup.past("aux: extend")
    assert warmup.ended is not None
    assert not warmup.proof_done()  # it ended without its proof's last line
    warmup.past("a stage it never names")
    warmup.wait()
    assert proc.returncode == 0


def test_a_stuck_helper_is_followed_no_longer_than_the_deadline(monkeypatch, caplog) -> None:
    """A helper that never names a later stage holds the proof up to WAIT_S in all, not per stage."""
    monkeypatch.setattr(device_warmup, "WAIT_S", 0.3)
    proc = subprocess.Popen([sys.executable, "-c", _STAGES_HELPER], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    warmup = device_warmup.Warmup(proc)
    with caplog.at_level(logging.WARNING):
        for stage in ("main table", "main: LDE + Merkle", "aux: extend"):
            warmup.past(stage)  # the helper waits for a line that never comes
    assert "still at 'its start'" in caplog.text
    proc.stdin.close()
    warmup.wait()


_DONE_HELPER = f"""
import sys, time
print("open rows + encode", flush=True)
print({device_warmup.PROOF_DONE!r}, flush=True)
sys.stdin.readline()  # its own helpers still build (extend.cl): it ends when the test says so
"""


def test_the_last_stage_is_past_once_the_helpers_proof_is_done() -> None:
    """The caller's last stage follows the helper's proof to its end, not the helper (which still waits
    for extend.cl's build, no proof's concern), and the caller can tell that the proof is done."""
    proc = subprocess.Popen([sys.executable, "-c", _DONE_HELPER], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    warmup = device_warmup.Warmup(proc)
    warmup.past("open rows + encode")
    assert warmup.proof_done() and proc.poll() is None
    proc.stdin.close()
    warmup.wait()
    assert proc.returncode == 0


def test_announcing_to_a_caller_that_has_gone_is_quiet() -> None:
    """The caller's proof ended and it exited: the helper's further stage names go nowhere, no traceback."""
    code = ("import time; from tvmpd.stages.device_warmup import _announce; time.sleep(0.5); "
            "[_announce(s) for s in ('quotient', 'FRI')]")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    proc.stdout.close()  # the reading end gone, as when `tvmpd prove` exits
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and err == ""
