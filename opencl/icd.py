"""Register OpenCL drivers that pip installs as wheels (Intel's CPU runtime) with the ICD loader.

The loader bundled with pyopencl reads the vendors directory named by OCL_ICD_VENDORS (else
OPENCL_VENDOR_PATH, else /etc/OpenCL/vendors) and then pyopencl's own folder, where pocl lives. A wheel
cannot write /etc, and the .icd file Intel's wheel ships names a placeholder path, so `register` writes a
vendors directory of its own: one .icd file per wheel driver plus a copy of every entry the loader already
sees, so that registering adds platforms and hides none. No system file and no root are involved.
"""

from __future__ import annotations

import os
import sys
from importlib import metadata
from pathlib import Path

# distribution name -> driver library it ships
WHEEL_DRIVERS = {"intel-opencl-rt": "libintelocl.so"}
DEFAULT_VENDORS = Path("/etc/OpenCL/vendors")


def wheel_drivers() -> list[Path]:
    """Driver libraries of the installed wheels of WHEEL_DRIVERS (none when no such wheel is installed)."""
    found = []
    for dist, library in WHEEL_DRIVERS.items():
        try:
            files = metadata.distribution(dist).files or []
        except metadata.PackageNotFoundError:
            continue
        for entry in files:
            path = Path(entry.locate())
            if entry.name == library and path.is_file():
                found.append(path.resolve())
                break
    return found


def current_entries(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The loader's present vendor entries, {file name: driver line}, from where it would read them."""
    environ = os.environ if environ is None else environ
    source = environ.get("OCL_ICD_VENDORS") or environ.get("OPENCL_VENDOR_PATH") or str(DEFAULT_VENDORS)
    path = Path(source)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix == ".icd" and p.is_file())
    elif path.suffix == ".icd" and path.is_file():
        files = [path]
    else:  # OCL_ICD_VENDORS may name one driver library (or nothing that exists)
        return {f"{path.name}.icd": source} if path.is_file() else {}
    out = {}
    for f in files:
        try:
            line = f.read_text().strip()
        except OSError:
            continue
        if line:
            out[f.name] = line
    return out


def write_vendors(directory: Path, drivers: list[Path], environ: dict[str, str] | None = None) -> Path:
    """Make `directory` a vendors directory: the present entries plus one per driver whose library file
    name no present entry already loads (its old .icd files are replaced)."""
    directory = Path(directory)
    entries = current_entries(environ)
    loaded = {Path(line).name for line in entries.values()}
    for driver in drivers:
        if driver.name not in loaded:
            entries[f"tvmpd-{driver.stem}.icd"] = str(driver)
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("*.icd"):
        old.unlink()
    for name, line in sorted(entries.items()):
        (directory / name).write_text(line + "\n")
    return directory


def register(directory: Path) -> Path | None:
    """Write the vendors directory and point OCL_ICD_VENDORS at it; None (and nothing changed) when no
    driver wheel is installed or the loader already sees every one (registered by a parent process, say).
    Takes effect only before this process's first OpenCL call."""
    seen = {Path(line).name for line in current_entries().values()}
    drivers = [d for d in wheel_drivers() if d.name not in seen]
    if not drivers:
        return None
    directory = write_vendors(directory, drivers)
    os.environ["OCL_ICD_VENDORS"] = str(directory)
    return directory


def main(argv: list[str]) -> int:
    """`python3 -m opencl.icd [DIR]`: write the vendors directory (default ~/.cache/tvmpd/opencl-vendors)
    and print it, for `export OCL_ICD_VENDORS=$(python3 -m opencl.icd)`."""
    target = Path(argv[0]) if argv else Path.home() / ".cache" / "tvmpd" / "opencl-vendors"
    drivers = wheel_drivers()
    if not drivers:
        print("no OpenCL driver wheel installed (intel-opencl-rt, intel-cmplr-lib-rt)", file=sys.stderr)
        return 1
    print(write_vendors(target, drivers))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
