"""What one VM run records for the AET, as numpy arrays (both interpreters hand over this form)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Recording:
    """Raw per-run records handed to `aet.build_aet`; every array is uint64 unless said otherwise.

    ips: (n,) int64 instruction pointer per cycle; stack_tops: (n, 16) the top 16 stack words per cycle,
    st15 first; jump_events: (k, 4) (row from which it holds, jsp, jso, jsd); ram_log: (k, 4) (clk,
    type, pointer, value); helper_cycles (int64) / helper_values (k, 6): helper variables recorded at
    run time; u32_entries: (k, 4) (opcode, lhs, rhs, multiplicity) in first-seen order; hash_events:
    (k,) uint8 CI per hash-coprocessor call (40 = sponge_init, no trace); hash_traces: (k, 6, 16)
    one permutation trace per call other than sponge_init.
    """

    ips: np.ndarray
    stack_tops: np.ndarray
    jump_events: np.ndarray
    ram_log: np.ndarray
    helper_cycles: np.ndarray
    helper_values: np.ndarray
    u32_entries: np.ndarray
    hash_events: np.ndarray
    hash_traces: np.ndarray

    @property
    def cycle_count(self) -> int:
        return int(self.ips.shape[0]) - 1
