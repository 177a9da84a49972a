"""The built wheel: everything under the one `tvmpd` import name (nothing that could overwrite another
distribution's top-level package, such as Supervisor's `supervisor`), kernels and data included, and the
console scripts pointing into it."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


SOURCES = ("supervisor", "stages", "opencl", "tvmpd", "setup.cfg", "pyproject.toml", "README.md")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    """The wheel built offline from a copy of the sources (a build writes build/ and egg-info beside them)."""
    tmp = tmp_path_factory.mktemp("wheel")
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, tmp / "src" / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(ROOT / name, tmp / "src" / name)
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(tmp / "out"), str(tmp / "src")], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr[-2000:]
    (path,) = (tmp / "out").glob("tvmpd-*.whl")
    return zipfile.ZipFile(path)


def test_one_top_level_name(wheel):
    tops = {name.split("/")[0] for name in wheel.namelist() if ".dist-info/" not in name}
    assert tops == {"tvmpd"}, tops


def test_the_packages_kernels_and_data_are_inside(wheel):
    names = set(wheel.namelist())
    for folder in ("supervisor", "stages", "opencl"):
        sources = {p.relative_to(ROOT).as_posix() for p in (ROOT / folder).rglob("*.py")}
        assert {f"tvmpd/{s}" for s in sources} <= names, folder
    kernels = {p.name for p in (ROOT / "opencl").glob("*.cl")}
    assert {f"tvmpd/opencl/{k}" for k in kernels} <= names
    assert "tvmpd/__main__.py" in names


def test_console_scripts_point_into_the_namespace(wheel):
    (entry,) = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
    text = wheel.read(entry).decode()
    assert "tvmpd = tvmpd.supervisor.cli:main" in text
    assert "prover-server = tvmpd.supervisor.cli:prover_server" in text
