"""The AIR's generated OpenCL kernels (stages/air/codegen.py), kept in a cache directory keyed by a digest
of everything they are generated from, never in the source tree.

The directory is $TVMPD_KERNEL_CACHE if set, else tvmpd's user cache directory (platformdirs:
$XDG_CACHE_HOME/tvmpd or ~/.cache/tvmpd on Linux), then air-kernels/<digest>/. It holds one .cl file per
kernel and manifest.json (kernel order, index #defines). A set is written into a temporary directory and
renamed into place, so processes generating at the same time never see half a set. The constraint
interpreter's programs (stages/air/bytecode.py, CPU devices) are made from the AIR when a set is loaded (a
few hundredths of a second), not stored.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import shutil
import tempfile
import threading
from pathlib import Path

import platformdirs

from tvmpd.opencl import prebuild
from tvmpd.opencl.air import AirKernels
from tvmpd.stages.air import bytecode, codegen
from tvmpd.stages.air.constraints import LoweredAir, lowered_air, source_digest

CACHE_ENV = "TVMPD_KERNEL_CACHE"
FORMAT = 3  # bump when the layout of a cached set changes
_AIR_DIR = Path(__file__).resolve().parent
_INPUTS = tuple(_AIR_DIR / name for name in ("codegen.py", "bytecode.py", "columns.py", "challenges.py"))


@functools.cache
def kernels_digest() -> str:
    """SHA-256 (hex) over the circuit sources, the generator and the column / challenge ids: the name of
    the cached kernel set, printed by `tvmpd devices` and logged by the daemon."""
    h = hashlib.sha256(f"tvmpd air kernels, format {FORMAT}\n".encode())
    h.update(source_digest().encode())
    for path in _INPUTS:
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def cache_root() -> Path:
    """Where kernel sets live: $TVMPD_KERNEL_CACHE, else <user cache dir>/tvmpd/air-kernels."""
    env = os.environ.get(CACHE_ENV)
    return Path(env) if env else Path(platformdirs.user_cache_dir("tvmpd")) / "air-kernels"


def build(air: LoweredAir, digest: str) -> AirKernels:
    """Generate the kernel set of a lowered AIR in memory (tests use it on part of the AIR)."""
    return _with_programs(AirKernels(
        digest=digest,
        constraints=tuple(codegen.constraint_kernels(air)),
        lowering_main=tuple(codegen.lowering_kernels(air, "main")),
        lowering_aux=tuple(codegen.lowering_kernels(air, "aux")),
        defines=tuple(codegen.index_defines().items()),
    ), air)


def _with_programs(kernels: AirKernels, air: LoweredAir) -> AirKernels:
    """The set with the interpreter's programs of `air` (the CPU form of its constraint and lowering
    kernels)."""
    return dataclasses.replace(kernels, programs=bytecode.programs(air),
                               lowering_main_programs=bytecode.lowering_programs(air, "main"),
                               lowering_aux_programs=bytecode.lowering_programs(air, "aux"))


def _write(kernels: AirKernels, target: Path) -> None:
    """Write a set into a fresh temporary directory next to `target`, then rename it into place; if
    another process got there first its (identical) set stays."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        groups = {"constraints": kernels.constraints, "lowering_main": kernels.lowering_main,
                  "lowering_aux": kernels.lowering_aux}
        for group in groups.values():
            for name, source in group:
                (tmp / f"{name}.cl").write_text(source)
        manifest = {"format": FORMAT, "digest": kernels.digest, "defines": dict(kernels.defines),
                    **{key: [name for name, _ in group] for key, group in groups.items()}}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1))
        try:
            os.rename(tmp, target)
        except OSError:
            if not (target / "manifest.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _read(directory: Path) -> AirKernels | None:
    """The set stored in `directory`, or None if there is none (or not of this format)."""
    try:
        manifest = json.loads((directory / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    if manifest.get("format") != FORMAT:
        return None

    def group(key: str) -> tuple[tuple[str, str], ...]:
        return tuple((name, (directory / f"{name}.cl").read_text()) for name in manifest[key])

    try:
        return AirKernels(digest=manifest["digest"], constraints=group("constraints"),
                          lowering_main=group("lowering_main"), lowering_aux=group("lowering_aux"),
                          defines=tuple((k, int(v)) for k, v in manifest["defines"].items()))
    except (OSError, KeyError, TypeError, ValueError):
        return None


def generate_all(root: Path | None = None) -> Path:
    """Make sure the kernel set of the current AIR is in the cache (generating it if needed); returns its
    directory. For installs and the daemon's warm-up, so no proof waits for it."""
    target = (root or cache_root()) / kernels_digest()
    if _read(target) is None:
        _write(build(lowered_air(), kernels_digest()), target)
    return target


_MAKING = threading.Lock()  # a prebuild makes the set in a thread beside the caller's own first use


def air_kernels() -> AirKernels:
    """The current AIR's kernel set, from the cache (generated there on first use); read once per
    process, also when two threads ask at once."""
    with _MAKING:
        return _air_kernels()


@functools.cache
def _air_kernels() -> AirKernels:
    kernels = _read(generate_all())
    if kernels is None or kernels.digest != kernels_digest():
        raise RuntimeError(f"kernel cache {cache_root()} holds a broken set {kernels_digest()}: delete that "
                           "directory and it is generated again")
    return _with_programs(kernels, lowered_air())


def start_prebuild(device_key: str, idle_last: bool = False) -> prebuild.Prebuild | None:
    """Start building the current AIR's kernel set on an OpenCL device in helper processes when that is
    pocl's (opencl/prebuild.py: it compiles each kernel at first launch, one at a time per process; the
    helpers build what the warm-up proof does not build itself); wait() on the result before the first
    proof. None for other devices and sets built before. idle_last: prebuild.start's."""
    from tvmpd.opencl.runtime import get_runtime

    rt = get_runtime(device_key)
    if not prebuild.wanted(rt):
        return None
    return prebuild.start(rt, kernels_digest(), lambda: (air_kernels(), sum(lowered_air().counts().values())),
                          idle_last=idle_last)
