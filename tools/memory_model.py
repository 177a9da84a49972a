"""Print the device prover's memory model per padded height: the mode it picks on a device of the given
size with the tables whose coset values it keeps ("full+aux"), the coset rows, the model's peak and largest
buffer (stages/device_backend.py device_layout).

    python3 tools/memory_model.py                          # an 80 GB H100 as NVIDIA's OpenCL reports it
    python3 tools/memory_model.py --memory 139G --largest 34.8G --log2 21 22 23 24
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tvmpd.stages.backend import DeviceTooSmall  # noqa: E402
from tvmpd.stages.device_backend import device_layout, layout_bytes  # noqa: E402
from tvmpd.stages.domains import derive  # noqa: E402
from tvmpd.supervisor.config import parse_size  # noqa: E402

H100_MEMORY = 85031714816  # CL_DEVICE_GLOBAL_MEM_SIZE of an 80 GB H100


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--memory", type=parse_size, default=H100_MEMORY, help="device memory (bytes or 80G)")
    parser.add_argument("--largest", type=parse_size, default=None,
                        help="largest allocation (default: a quarter of the memory, as NVIDIA's OpenCL)")
    parser.add_argument("--mode", default="auto", choices=["auto", "full", "half", "lean"])
    parser.add_argument("--keep", default="auto", choices=["auto", "none", "main", "aux", "both"],
                        help="tables whose coset values are kept (auto: as the device would choose)")
    parser.add_argument("--log2", type=int, nargs="+", default=list(range(16, 25)))
    args = parser.parse_args()
    largest_alloc = args.largest or args.memory // 4
    gib = 2**30
    print(f"device: {args.memory / gib:.1f} GiB, largest buffer {largest_alloc / gib:.1f} GiB, "
          f"mode {args.mode}, kept cosets {args.keep}")
    print("| 2^ | mode (+kept cosets) / coset rows | model peak GiB | largest buffer GiB |")
    print("|---|---|---|---|")
    for log2 in args.log2:
        d = derive(1 << log2)
        try:
            layout = device_layout(d, largest_alloc, args.memory, args.mode, args.keep)
        except DeviceTooSmall as exc:
            print(f"| {log2} | refused: {exc} | | |")
            continue
        largest, total = layout_bytes(d, layout, largest_alloc)
        print(f"| {log2} | {layout.label} / 2^{layout.rows.bit_length() - 1} | {total / gib:.1f} | "
              f"{largest / gib:.1f} |")


if __name__ == "__main__":
    main()
