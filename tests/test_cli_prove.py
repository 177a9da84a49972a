"""`tvmpd prove` then `tvmpd verify` for the vector requests (no seed), and the CLI's refusals."""

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from tests.conftest import load_json
from tvmpd.supervisor.cli import main

EXPECTED = load_json("expected.json")["requests"]
# Requests up to 2^12 are proved here; the 2^14 and 2^16 ones are left to tools/check_vectors.py (minutes).
SMALL_OK = sorted(n for n, e in EXPECTED.items() if e["expect"] == "ok" and e["log2_padded_height"] <= 12)


@pytest.mark.parametrize("name", SMALL_OK)
def test_prove_then_verify(vectors, tmp_path, name):
    request = vectors / "requests" / f"{name}.req"
    proof = tmp_path / "proof.bin"
    runner = CliRunner()
    result = runner.invoke(main, ["prove", str(request), "-o", str(proof)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["verify", str(request), str(proof)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("valid")


def test_verify_rejects_a_proof_for_another_claim(vectors, tmp_path):
    proof = tmp_path / "halt.proof"
    proof.write_bytes((vectors / "proofs" / "halt.proof").read_bytes())
    claim = tmp_path / "claim.json"
    halt_claim = json.loads((vectors / "requests" / "halt.req").read_text().splitlines()[0])
    claim.write_text(json.dumps({**halt_claim, "output": [1]}))
    result = CliRunner().invoke(main, ["verify", str(claim), str(proof)])
    assert result.exit_code == 1 and result.output.startswith("invalid:")


def test_verify_of_unreadable_input_exits_2(vectors, tmp_path):
    bad = tmp_path / "bad.proof"
    bad.write_bytes(b"\x01\x02")
    result = CliRunner().invoke(main, ["verify", str(vectors / "requests" / "halt.req"), str(bad)])
    assert result.exit_code == 1 and "invalid" in result.output
    result = CliRunner().invoke(main, ["verify", str(tmp_path / "missing.json"), str(bad)])
    assert result.exit_code == 2


NOT_FOR_VERIFY = ("numba", "pyopencl", "tvmpd.opencl", "tvmpd.stages.prover", "tvmpd.stages.tip5_numba",
                  "tvmpd.stages.vm.compiled", "tvmpd.stages.vm.aet")
_LIST_MODULES = """
import sys
from tvmpd.supervisor.cli import main
try:
    main.main(sys.argv[1:], prog_name="tvmpd")
except SystemExit as exit_:
    print("exit", exit_.code)
print(" ".join(sorted(sys.modules)))
"""


def test_verify_imports_neither_numba_nor_opencl_nor_the_prover(vectors):
    """`tvmpd verify` is a short process, and numba's import alone would be most of it."""
    args = ["verify", str(vectors / "requests" / "halt.req"), str(vectors / "proofs" / "halt.proof")]
    out = subprocess.run([sys.executable, "-c", _LIST_MODULES, *args], capture_output=True, text=True,
                         timeout=300, check=True).stdout.splitlines()
    assert out[0].startswith("valid") and out[-2] == "exit 0"
    loaded = out[-1].split()
    assert "tvmpd.stages.verifier" in loaded
    assert [m for m in loaded if m.startswith(NOT_FOR_VERIFY)] == []


@pytest.mark.parametrize("name", sorted(n for n, e in EXPECTED.items() if e["expect"] == "too_big"))
def test_too_big_exits_200_plus_log2(vectors, tmp_path, name):
    result = CliRunner().invoke(main, ["prove", str(vectors / "requests" / f"{name}.req"),
                                       "-o", str(tmp_path / "p")])
    assert result.exit_code == EXPECTED[name]["reference_prove_exit_code"]
    assert not (tmp_path / "p").exists()


REFUSED = sorted(n for n, e in EXPECTED.items() if e["expect"] in ("vm_error", "claim_mismatch"))


@pytest.mark.parametrize("name", REFUSED)
def test_failing_requests_are_refused_with_a_reason(vectors, tmp_path, name):
    result = CliRunner().invoke(main, ["prove", str(vectors / "requests" / f"{name}.req"),
                                       "-o", str(tmp_path / "p")])
    assert result.exit_code == 1
    entry = EXPECTED[name]
    if entry["expect"] == "vm_error":
        assert entry["error"]["message"] in result.output
    else:
        assert "output" in result.output


def test_bad_seed_is_refused(vectors):
    result = CliRunner().invoke(main, ["prove", str(vectors / "requests" / "halt.req"), "--seed", "abc"])
    assert result.exit_code == 2 and "seed" in result.output


def test_seeded_cli_proof_is_the_reference_proof(vectors, tmp_path):
    seed = (vectors / "proofs" / "halt.seed").read_text().strip()
    out = tmp_path / "halt.proof"
    result = CliRunner().invoke(main, ["prove", str(vectors / "requests" / "halt.req"), "--seed", seed, "-o",
                                       str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == (vectors / "proofs" / "halt.proof").read_bytes()


def test_device_too_small_is_a_clear_error(vectors, tmp_path, monkeypatch):
    import tvmpd.stages.device_backend as pd

    monkeypatch.setattr(pd, "device_bytes", lambda d, split=1, keep="none", rebuild=False: (1 << 40, 1 << 60))
    monkeypatch.setattr(pd, "lean_bytes", lambda d, rows, largest_alloc=None: (1 << 40, 1 << 60))
    result = CliRunner().invoke(main, ["prove", str(vectors / "requests" / "halt.req"), "--backend", "opencl",
                                       "-o", str(tmp_path / "p")])
    assert result.exit_code == 1 and result.exception is not None and isinstance(result.exception, SystemExit)
    assert "needs about" in result.output and "GiB of device memory" in result.output
    assert not (tmp_path / "p").exists()


def test_forced_lean_memory_mode_gives_the_reference_proof(vectors, tmp_path, device):
    """`tvmpd prove --memory-mode lean` on the OpenCL device: the reference proof, and it says the mode."""
    seed = (vectors / "proofs" / "halt.seed").read_text().strip()
    out = tmp_path / "halt.proof"
    result = CliRunner().invoke(main, ["prove", str(vectors / "requests" / "halt.req"), "--seed", seed,
                                       "--device", device, "--memory-mode", "lean", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "memory mode: lean (cosets of 256 rows)" in result.output
    assert out.read_bytes() == (vectors / "proofs" / "halt.proof").read_bytes()


def test_forced_kept_cosets_give_the_reference_proof(vectors, tmp_path, device):
    """`tvmpd prove --keep-cosets main`: only the main table's coset values kept, the same proof, and it
    says so."""
    seed = (vectors / "proofs" / "halt.seed").read_text().strip()
    out = tmp_path / "halt.proof"
    result = CliRunner().invoke(main, ["prove", str(vectors / "requests" / "halt.req"), "--seed", seed,
                                       "--device", device, "--keep-cosets", "main", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "memory mode: full+main (cosets of 512 rows)" in result.output
    assert out.read_bytes() == (vectors / "proofs" / "halt.proof").read_bytes()
