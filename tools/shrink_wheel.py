"""Re-zip a wheel with LZMA in place, so the device tool's 64 MiB carry holds `.whl` beside the tree.

llvmlite 0.50's wheel (which numba 0.68, the first to accept the device's numpy 2.5, needs) is 59.7 MB
deflated and 40.6 MB with LZMA; pip installs either (the RECORD hashes cover the files, not the archive).

    python3 tools/shrink_wheel.py .whl/llvmlite-*.whl
"""

from __future__ import annotations

import argparse
import os
import zipfile
from pathlib import Path


def shrink(path: Path) -> tuple[int, int]:
    """Rewrite the wheel at path with every member LZMA-compressed; (bytes before, bytes after)."""
    before = path.stat().st_size
    tmp = path.with_suffix(".tmp")
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_LZMA) as dst:
        for info in src.infolist():
            dst.writestr(info, src.read(info.filename), compress_type=zipfile.ZIP_LZMA)
    os.replace(tmp, path)
    return before, path.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("wheels", nargs="+", type=Path)
    for path in parser.parse_args().wheels:
        before, after = shrink(path)
        print(f"{path.name}: {before / 1e6:.1f} MB -> {after / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
