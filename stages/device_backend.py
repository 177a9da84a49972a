"""The Backend (stages/backend.py) with every large array resident on one OpenCL device.

A committed table is held as its randomized interpolants' coefficients (column-major, extension columns
as three base columns; in column parts no larger than the device's largest buffer) and its Merkle tree;
each of the E cosets of the FRI domain (rows c, c + E, ..., the points offset_c * w_M^k, M = N / E) is
evaluated just in time into a coset buffer held only during a step (hashing, quotient, opening rows).
Cosets have the randomized-trace length L, or L / 2 (`split` 2) when full-length coset buffers would not
fit the device (2^22 on an 80 GB GPU). The host uploads the main table (without its degree-lowering
columns) once; degree lowering, the aux table's extension, quotient, segments, out-of-domain rows, DEEP
and FRI run on the device; the host sees roots, small vectors, authentication paths and revealed rows.
Same proof bytes as HostBackend. Peak device memory: see device_bytes (about 50 GiB at padded height 2^21).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tvmpd.opencl import air, tip5
from tvmpd.opencl import device_tables as dev
from tvmpd.opencl.runtime import get_runtime
from tvmpd.stages import merkle, xfield
from tvmpd.stages.backend import Clock, DeviceTooSmall, deep_constants
from tvmpd.stages.domains import NUM_QUOTIENT_SEGMENTS, Domain, ProverDomains
from tvmpd.stages.profile import ProofProfile
from tvmpd.stages.verifier import NUM_AUX_COLUMNS, NUM_MAIN_COLUMNS

P = 2**64 - 2**32 + 1
RANDOMIZER_COLUMN = 90
_BASIS = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=np.uint64)  # 1, X, X^2 of the extension


@dataclass
class DeviceTree:
    """Merkle nodes (2n, 5) in a device buffer."""

    nodes: object
    n_leaves: int


@dataclass
class DeviceTable:
    """A committed table: coefficients (ncols x L) on the device, as parts (buffer, first column, columns),
    and its tree."""

    parts: list[tuple[object, int, int]]
    ncols: int  # base columns (3 per extension column)
    extension: bool
    tree: DeviceTree
    trace: object = None  # main table: its columns (379 x h), kept until the aux table is committed


@dataclass
class DeviceSegments:
    """Quotient segments: coefficients (12 x L: column 3k + j = component j of q_k), FRI-domain values
    (12 x N) and tree."""

    coefficients: object
    values: object
    tree: DeviceTree


@dataclass
class DeviceCodeword:
    """An (n, 3) row-major codeword of extension elements on the device."""

    buf: object
    n: int


MAX_PART_BYTES: int | None = None  # tests: cap coefficient parts below the device's largest buffer


def device_bytes(d: ProverDomains, split: int = 1) -> tuple[int, int]:
    """(largest unsplittable buffer, peak of all buffers) in bytes that DeviceBackend allocates for a proof on
    domains d with cosets of length L / split.

    Peak: the quotient step, with both tables' coefficients and one coset of each, three Merkle trees,
    the quotient buffers and up to three 1 GiB scratch buffers. Coefficients are stored in parts, so the
    largest buffer that cannot be split is a coset of the main table.
    """
    L, N = d.randomized_trace.length, d.fri.length
    M = L // split
    width = NUM_MAIN_COLUMNS + 3 * NUM_AUX_COLUMNS
    scratch = 3 * min(1 << 30, 8 * NUM_MAIN_COLUMNS * L)
    return 8 * NUM_MAIN_COLUMNS * M, 8 * (L + M) * width + 3 * 80 * N + 8 * N * 24 + scratch


def cl_fill_zero(rt, buf, nbytes: int, start: int = 0) -> None:
    """Zero nbytes of a device buffer from byte `start`."""
    import pyopencl as cl

    cl.enqueue_fill_buffer(rt.queue, buf, np.uint64(0), start, nbytes)


def _split_weights(weights: np.ndarray) -> np.ndarray:
    """Weights (m, 3) of extension columns -> (3m, 3) weights of their base components: w * X^j."""
    return xfield.mul(weights[:, np.newaxis, :], _BASIS[np.newaxis]).reshape(-1, 3)


def _join_components(values: np.ndarray) -> np.ndarray:
    """Values (3m, 3) at an extension point of the base components of m extension columns -> (m, 3)."""
    v = values.reshape(-1, 3, 3)
    return xfield.add(xfield.add(v[:, 0], xfield.mul(v[:, 1], _BASIS[1])), xfield.mul(v[:, 2], _BASIS[2]))


class DeviceRounds:
    """FRI rounds (fri.prove's engine) on device codewords and trees."""

    def __init__(self, rt) -> None:
        self.rt = rt

    def tree(self, codeword: DeviceCodeword) -> DeviceTree:
        return DeviceTree(dev.xfe_tree(self.rt, codeword.buf, codeword.n), codeword.n)

    def root(self, tree: DeviceTree) -> np.ndarray:
        return dev.gather_rows(self.rt, tree.nodes, [1], 5)[0]

    def fold(self, codeword: DeviceCodeword, domain: Domain, challenge: np.ndarray) -> DeviceCodeword:
        buf = dev.fri_fold(self.rt, codeword.buf, codeword.n, challenge, domain.offset, domain.generator)
        return DeviceCodeword(buf, codeword.n // 2)

    def to_host(self, codeword: DeviceCodeword) -> np.ndarray:
        return self.rt.from_device(codeword.buf, (codeword.n, 3))

    def auth(self, tree: DeviceTree, indices: list[int]) -> np.ndarray:
        nodes = merkle.auth_structure_node_indices(tree.n_leaves, indices)
        return dev.gather_rows(self.rt, tree.nodes, nodes, 5)

    def values(self, codeword: DeviceCodeword, indices: list[int]) -> np.ndarray:
        return dev.gather_rows(self.rt, codeword.buf, indices, 3)


def device_split(rt, d: ProverDomains) -> int:
    """Coset split on this device: 1 (cosets of the randomized trace length) if the proof fits so, else 2
    (half-length cosets, about 20% less memory); DeviceTooSmall if neither fits."""
    dev_ = rt.device
    have_largest, have_total = int(dev_.max_mem_alloc_size), int(dev_.global_mem_size)
    for split in (1, 2):
        largest, total = device_bytes(d, split)
        if largest <= have_largest and total <= have_total:
            return split
    gib = 2**30
    raise DeviceTooSmall(
        f"padded height 2^{d.trace.length.bit_length() - 1} needs about {total / gib:.1f} GiB of device "
        f"memory (largest buffer {largest / gib:.1f} GiB); {dev_.name.strip()} has {have_total / gib:.1f} "
        f"GiB (largest buffer {have_largest / gib:.1f} GiB)")


class DeviceBackend:
    """Backend on one OpenCL device ("platform:device" key of opencl.devices; None: the default device).
    commit_main sets the proof's geometry, so an object serves one proof at a time."""

    def __init__(self, device_key: str | None = None) -> None:
        self.rt = get_runtime(device_key)
        self.device_key = self.rt.key

    def _begin(self, d: ProverDomains, profile: ProofProfile) -> None:
        """A new proof: its generated AIR kernels and geometry, cosets of M rows (L, or L / 2 where the
        device needs it)."""
        split = device_split(self.rt, d)
        self.kernels = profile.air_kernels()
        self.d = d
        self.L = d.randomized_trace.length
        self.N = d.fri.length
        self.M = self.L // split  # rows of an evaluated coset
        self.E = self.N // self.M

    def _part_ranges(self, ncols: int) -> list[tuple[int, int]]:
        """Column ranges of a table's coefficient parts: each within the device's largest buffer."""
        limit = int(self.rt.device.max_mem_alloc_size)
        if MAX_PART_BYTES is not None:
            limit = min(limit, MAX_PART_BYTES)
        per = max(1, limit // (8 * self.L))
        return [(c, min(c + per, ncols)) for c in range(0, ncols, per)]

    def _evaluate(self, table: DeviceTable, c: int, out) -> None:
        """out (table.ncols x M) <- the table's values on coset c."""
        for buf, c0, k in table.parts:
            dev.evaluate_coset(self.rt, buf, k, self.L, self._offset(c), self.M, out, c0)

    def _evaluate_at(self, table: DeviceTable, za: np.ndarray,
                     zb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        values = [dev.evaluate_at(self.rt, buf, self.L, k, za, zb) for buf, _, k in table.parts]
        return np.concatenate([a for a, _ in values]), np.concatenate([b for _, b in values])

    def _weighted_sum(self, table: DeviceTable, weights: np.ndarray, out, accumulate: bool) -> None:
        for i, (buf, c0, k) in enumerate(table.parts):
            dev.weighted_sum(self.rt, buf, self.L, k, weights[c0:c0 + k], out, accumulate or i > 0)

    def _offset(self, c: int) -> int:
        return self.d.fri.value(c)

    def commit_main(self, trace: np.ndarray, randomizers: np.ndarray, d: ProverDomains,
                    profile: ProofProfile) -> DeviceTable:
        """Upload, fill the degree-lowering columns if only the 149 base columns came, interpolate +
        randomize, hash every coset's rows into the tree. The main trace stays on the device (in the
        handle) until the aux table is committed (its degree-lowering columns read the main table)."""
        self._begin(d, profile)
        rt, h = self.rt, trace.shape[0]
        ncols = NUM_MAIN_COLUMNS
        lower = trace.shape[1] < ncols
        columns = rt.empty(8 * ncols * h)
        dev.upload_columns(rt, trace[:, :ncols], columns)  # the base columns; lowering fills the others
        if lower:
            cl_fill_zero(rt, columns, 8 * (ncols - trace.shape[1]) * h, 8 * trace.shape[1] * h)
            air.fill_degree_lowering_main_device(rt, self.kernels, columns, h)
        table = self._commit_parts(self._interpolants(columns, ncols, h, randomizers), ncols, False)
        table.trace = columns
        return table

    def extend(self, main: DeviceTable, challenges: np.ndarray):
        """The aux table (91 * 3 base columns x h) on the device with its extension columns 0..48 filled from
        the device's main table (opencl/air.py extend_device); the host table is not needed."""
        rt, h = self.rt, self.d.trace.length
        ncols = 3 * NUM_AUX_COLUMNS
        columns = rt.empty(8 * ncols * h)
        cl_fill_zero(rt, columns, 8 * ncols * h)
        ch = np.ascontiguousarray(challenges, dtype=np.uint64)
        air.extend_device(rt, self.kernels, main.trace, ch, h, columns)
        rt.queue.finish()
        return columns

    def commit_aux(self, main: DeviceTable, extension, randomizer_column: np.ndarray, randomizers: np.ndarray,
                   challenges: np.ndarray) -> DeviceTable:
        """The aux table from the device table of extend() and the randomizer column (uploaded into it); its
        degree-lowering columns are then filled on the device, after which the main trace is released."""
        rt, h = self.rt, randomizer_column.shape[0]
        ncols = 3 * NUM_AUX_COLUMNS
        columns = extension
        dev.upload_columns(rt, randomizer_column, columns, 3 * RANDOMIZER_COLUMN)
        randomizers = randomizers.transpose(0, 2, 1).reshape(ncols, -1)  # base column 3c + j: component j
        ch = np.ascontiguousarray(challenges, dtype=np.uint64)
        air.fill_degree_lowering_aux_device(rt, self.kernels, main.trace, columns, ch, h)
        parts = self._interpolants(columns, ncols, h, randomizers)
        columns.release()  # both traces go before the cosets are evaluated: that is the peak of this step
        main.trace.release()
        main.trace = None
        return self._commit_parts(parts, ncols, True)

    def _interpolants(self, columns, ncols: int, h: int, randomizers: np.ndarray) -> list:
        """Coefficient parts (buffer, first column, columns) of the randomized interpolants of the columns."""
        rt = self.rt
        return [(dev.randomized_interpolants(rt, columns, c1 - c0, h, randomizers[c0:c1], c0), c0, c1 - c0)
                for c0, c1 in self._part_ranges(ncols)]

    def _commit_parts(self, parts: list, ncols: int, extension: bool) -> DeviceTable:
        """The table of these coefficient parts, every coset's rows hashed into its tree."""
        rt = self.rt
        table = DeviceTable(parts, ncols, extension, DeviceTree(dev.new_tree(rt, self.N), self.N))
        values = rt.empty(8 * ncols * self.M)
        for c in range(self.E):
            self._evaluate(table, c, values)
            dev.hash_rows_into_tree(rt, values, ncols, self.M, table.tree.nodes, self.N, c, self.E)
        dev.finish_tree(rt, table.tree.nodes, self.N)
        values.release()
        return table

    def root(self, table: DeviceTable | DeviceSegments) -> np.ndarray:
        return DeviceRounds(self.rt).root(table.tree)

    def quotient(self, main: DeviceTable, aux: DeviceTable, challenges: np.ndarray, weights: np.ndarray,
                 clock: Clock) -> DeviceSegments:
        """Constraints coset by coset, then segments, their FRI-domain values and tree."""
        rt, d, M, N, E = self.rt, self.d, self.M, self.N, self.E
        h = d.trace.length
        ch = rt.to_device(np.ascontiguousarray(challenges, dtype=np.uint64))
        wt = rt.to_device(np.ascontiguousarray(weights, dtype=np.uint64))
        sums = rt.empty(8 * 12 * M)
        quotient = rt.empty(8 * 3 * N)
        main_values, aux_values = rt.empty(8 * main.ncols * M), rt.empty(8 * aux.ncols * M)
        omega_inv = pow(d.trace.generator, P - 2, P)
        gen = pow(d.fri.generator, E, P)  # of the coset's subgroup, order M
        sign = pow(gen, h, P)  # -1 for M = 2h, 1 for M = h
        for c in range(E):
            offset = self._offset(c)
            self._evaluate(main, c, main_values)
            self._evaluate(aux, c, aux_values)
            x_h = pow(offset, h, P)  # x^h on this coset: x_h at even rows, x_h * sign at odd rows
            dev.quotient_coset(rt, self.kernels, main_values, aux_values, M, M // h, ch, wt, sums, quotient,
                               N, c, E, offset, gen, omega_inv, pow((x_h - 1) % P, P - 2, P),
                               pow((x_h * sign - 1) % P, P - 2, P))
        rt.queue.finish()
        for buf in (sums, main_values, aux_values):
            buf.release()
        clock.begin("quotient: segments + Merkle")
        seg = dev.quotient_segment_coefficients(rt, quotient, N, d.quotient.offset)
        quotient.release()
        width = 3 * NUM_QUOTIENT_SEGMENTS
        values = rt.empty(8 * width * N)
        dev.evaluate_coset(rt, seg, width, self.L, d.fri.offset, N, values)
        nodes = dev.new_tree(rt, N)
        tip5.hash_rows_device(rt, values, N, width, nodes, out_offset=N)
        dev.finish_tree(rt, nodes, N)
        return DeviceSegments(seg, values, DeviceTree(nodes, N))

    def out_of_domain(self, main: DeviceTable, aux: DeviceTable, segments: DeviceSegments,
                      points: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        rt, L = self.rt, self.L
        main_curr, main_next = self._evaluate_at(main, points["alpha"], points["alpha_next"])
        aux_curr, aux_next = self._evaluate_at(aux, points["alpha"], points["alpha_next"])
        seg, _ = dev.evaluate_at(rt, segments.coefficients, L, 3 * NUM_QUOTIENT_SEGMENTS, points["alpha4"],
                                 points["alpha4"])
        return {"main_curr": main_curr, "aux_curr": _join_components(aux_curr), "main_next": main_next,
                "aux_next": _join_components(aux_next), "segments": _join_components(seg)}

    def deep(self, main: DeviceTable, aux: DeviceTable, segments: DeviceSegments, ood: dict[str, np.ndarray],
             weights: np.ndarray, points: dict[str, np.ndarray]) -> DeviceCodeword:
        """Weighted sums on coefficients, extended to the FRI domain once, then the DEEP quotients."""
        rt, L, N = self.rt, self.L, self.N
        nm, nrow = NUM_MAIN_COLUMNS, NUM_MAIN_COLUMNS + NUM_AUX_COLUMNS
        f_coef, g_coef = rt.empty(24 * L), rt.empty(24 * L)
        self._weighted_sum(main, weights[:nm], f_coef, False)
        self._weighted_sum(aux, _split_weights(weights[nm:nrow]), f_coef, True)
        dev.weighted_sum(rt, segments.coefficients, L, 3 * NUM_QUOTIENT_SEGMENTS,
                         _split_weights(weights[nrow:nrow + NUM_QUOTIENT_SEGMENTS]), g_coef, False)
        f, g = rt.empty(24 * N), rt.empty(24 * N)
        dev.evaluate_coset(rt, f_coef, 3, L, self.d.fri.offset, N, f)
        dev.evaluate_coset(rt, g_coef, 3, L, self.d.fri.offset, N, g)
        f_curr, f_next, g_alpha4 = deep_constants(ood, weights, points)
        constants = np.stack([f_curr, f_next, g_alpha4, points["alpha"], points["alpha_next"],
                              points["alpha4"], weights[-3], weights[-2], weights[-1]])
        out = dev.deep(rt, f, g, constants, N, self.d.fri.offset, self.d.fri.generator)
        rt.queue.finish()
        for buf in (f_coef, g_coef, f, g):
            buf.release()
        return DeviceCodeword(out, N)

    def fri_rounds(self) -> DeviceRounds:
        return DeviceRounds(self.rt)

    def rows(self, table: DeviceTable | DeviceSegments, indices: list[int]) -> np.ndarray:
        """FRI-domain rows at these indices: segments from their values, tables by re-evaluating cosets."""
        rt = self.rt
        if isinstance(table, DeviceSegments):
            out = dev.gather_columns(rt, table.values, self.N, 3 * NUM_QUOTIENT_SEGMENTS, indices)
            return out.reshape(len(indices), NUM_QUOTIENT_SEGMENTS, 3)
        idx = np.asarray(indices, dtype=np.int64)
        out = np.zeros((len(idx), table.ncols), dtype=np.uint64)
        values = rt.empty(8 * table.ncols * self.M)
        for c in sorted(set((idx % self.E).tolist())):
            sel = idx % self.E == c
            self._evaluate(table, c, values)
            out[sel] = dev.gather_columns(rt, values, self.M, table.ncols, idx[sel] // self.E)
        values.release()
        return out.reshape(len(idx), -1, 3) if table.extension else out

    def auth(self, table: DeviceTable | DeviceSegments, indices: list[int]) -> np.ndarray:
        return DeviceRounds(self.rt).auth(table.tree, indices)

    def finish(self) -> None:
        self.rt.queue.finish()
