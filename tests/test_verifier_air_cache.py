"""The verifier's flattened AIR: built from the lowered AIR once, then read from the disk cache, keyed by the
digest of the AIR's sources."""

from __future__ import annotations

import dataclasses

import numpy as np

from tvmpd.stages import verifier
from tvmpd.stages.profile import TRITON_VM_V7

P = 2**64 - 2**32 + 1


def _fresh(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("TVMPD_KERNEL_CACHE", str(tmp_path))
    monkeypatch.setattr(verifier, "_FLAT", {})


def test_the_cached_air_is_the_flattened_lowered_air(monkeypatch, tmp_path):
    _fresh(monkeypatch, tmp_path)
    built = verifier.flat_air(TRITON_VM_V7)
    want = verifier._flatten(TRITON_VM_V7.lowered_air())
    assert {c: tuple(want[f"{c}_{f}"].tolist() for f in verifier._FIELDS) for c in built} == built
    assert [len(built[c][4]) for c in built] == list(TRITON_VM_V7.lowered_air().counts().values())
    files = list((tmp_path / "host").glob("air-*.npz"))
    assert len(files) == 1 and TRITON_VM_V7.air_digest()[:32] in files[0].name

    def no_flattening(_air):
        raise AssertionError("flattened again although the cache holds the AIR")

    monkeypatch.setattr(verifier, "_FLAT", {})
    monkeypatch.setattr(verifier, "_flatten", no_flattening)
    assert verifier.flat_air(TRITON_VM_V7) == built


def test_another_air_digest_is_never_served_a_stale_cache(monkeypatch, tmp_path):
    _fresh(monkeypatch, tmp_path)
    verifier.flat_air(TRITON_VM_V7)
    other = dataclasses.replace(TRITON_VM_V7, air_digest=lambda: "0" * 64)
    flattened = []
    real = verifier._flatten
    monkeypatch.setattr(verifier, "_flatten", lambda air: flattened.append(1) or real(air))
    verifier.flat_air(other)
    assert flattened == [1] and len(list((tmp_path / "host").glob("air-*.npz"))) == 2


def test_constraint_values_from_the_cache_equal_those_from_a_fresh_flattening(monkeypatch, tmp_path):
    rng = np.random.default_rng(11)
    rows = [rng.integers(0, P, (n, 3), dtype=np.uint64) for n in (379, 91, 379, 91)]
    challenges = rng.integers(0, P, (63, 3), dtype=np.uint64)
    _fresh(monkeypatch, tmp_path)
    first = verifier.ood_constraint_values(*rows, challenges)
    monkeypatch.setattr(verifier, "_FLAT", {})
    again = verifier.ood_constraint_values(*rows, challenges)
    assert list(first) == ["initial", "consistency", "transition", "terminal"]
    for category, values in first.items():
        np.testing.assert_array_equal(values, again[category])


def test_a_damaged_cache_file_is_rebuilt_not_read(monkeypatch, tmp_path):
    _fresh(monkeypatch, tmp_path)
    built = verifier.flat_air(TRITON_VM_V7)
    (path,) = (tmp_path / "host").glob("air-*.npz")
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 1
    path.write_bytes(bytes(blob))
    monkeypatch.setattr(verifier, "_FLAT", {})
    assert verifier.flat_air(TRITON_VM_V7) == built
