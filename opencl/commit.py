"""Fused table commitment steps on one device: evaluate polynomials on a coset and hash every row.

The table goes through the device in batches of columns (a multiple of 10, the Tip5 rate), each batch
evaluated and absorbed into per-row sponges that stay on the device, so the evaluated table never
has to be resident at once and is not uploaded a second time for hashing.
"""

from __future__ import annotations

import numpy as np

from tvmpd.opencl import tip5
from tvmpd.opencl.ntt import _log2_exact, coset_evaluate_device, pad_coefficients
from tvmpd.opencl.runtime import get_runtime

P = 2**64 - 2**32 + 1


def batch_columns(n: int, ncols: int, limit_bytes: int) -> int:
    """Columns per batch: a multiple of 10 whose n-row buffer stays under limit_bytes (at least 10)."""
    per = max(tip5.RATE, (limit_bytes // (8 * n)) // tip5.RATE * tip5.RATE)
    return min(per, max(ncols, 1))


def evaluate_and_hash(coeffs: np.ndarray, offset: int, n: int, keep_values: bool = True,
                      device_key: str | None = None,
                      batch_cols: int | None = None) -> tuple[np.ndarray | None, np.ndarray]:
    """(values at offset * w_n^i of each column's polynomial, hash_varlen of every row of those values).

    coeffs: (L, c) or (L, c, 3), coefficients lowest first, L <= n; values come back in the same layout
    with n rows (or None when keep_values is False); digests (n, 5). Extension rows are hashed flattened
    (c0, c1, c2 of each element), as the reference hashes auxiliary-table rows.
    """
    if not isinstance(offset, int | np.integer) or isinstance(offset, bool) or not 0 < int(offset) < P:
        raise ValueError(f"offset must be a nonzero field element, got {offset!r}")
    padded, log_len = pad_coefficients(coeffs, n)
    log_n = _log2_exact(int(n), "n")
    flat = padded.reshape(padded.shape[0], int(np.prod(padded.shape[1:])))
    length, ncols = flat.shape
    rt = get_runtime(device_key)
    limit = min(int(rt.device.max_mem_alloc_size), 1 << 30)
    bc = batch_cols if batch_cols is not None else batch_columns(n, ncols, limit)
    if bc < 1 or (bc % tip5.RATE and bc < ncols):
        raise ValueError(f"batch_cols must be a positive multiple of {tip5.RATE}, got {bc}")
    if 8 * n * min(bc, max(ncols, 1)) > int(rt.device.max_mem_alloc_size):
        raise ValueError(f"a batch of {min(bc, max(ncols, 1))} columns x {n} rows exceeds one device buffer")
    values = np.empty((n, ncols), dtype=np.uint64) if keep_values else None
    digests = rt.empty(40 * n)
    bounds = list(range(0, ncols, bc)) + [ncols]
    states = rt.empty(128 * n) if len(bounds) > 2 else None
    dst = rt.empty(8 * n * min(bc, max(ncols, 1)))
    for i in range(max(len(bounds) - 1, 1)):
        c0, c1 = (bounds[i], bounds[i + 1]) if ncols else (0, 0)
        if c1 > c0:
            src = rt.to_device(np.ascontiguousarray(flat[:, c0:c1].T))
            coset_evaluate_device(rt, src, dst, c1 - c0, log_len, log_n, int(offset))
        tip5.absorb_rows_device(rt, dst, n, c1 - c0, n, states, i == 0, c1 == ncols, digests)
        if values is not None and c1 > c0:
            values[:, c0:c1] = rt.from_device(dst, (c1 - c0, n)).T
    out = rt.from_device(digests, (n, 5))
    if values is not None:
        values = values.reshape((n,) + padded.shape[1:])
    return values, out
