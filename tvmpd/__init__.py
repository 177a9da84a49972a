"""tvmpd, a proving daemon for Triton VM: `tvmpd.supervisor` (daemon, CLI), `tvmpd.stages` (the proof),
`tvmpd.opencl` (kernels)."""

from pathlib import Path

# An installed wheel holds supervisor/, stages/ and opencl/ inside this package. A checkout keeps them
# beside this folder (the repository's layout), so there the package also looks one level up.
if not (Path(__file__).parent / "supervisor").is_dir():
    __path__.append(str(Path(__file__).resolve().parent.parent))
