"""The Backend (stages/backend.py) with every large array resident on one OpenCL device.

A committed table is held as its randomized interpolants' coefficients (column-major, extension columns
as three base columns; in column parts no larger than the device's largest buffer) and its Merkle tree;
each of the E cosets of the FRI domain (rows c, c + E, ..., the points offset_c * w_M^k, M = N / E) is
evaluated just in time into a coset buffer held only during a step (hashing, quotient, opening rows).
The memory mode (device_layout, from the memory model per padded height and device, or forced):
"full": cosets of the randomized-trace length L; "half": cosets of L / 2 when full-length coset buffers
would not fit (2^22 on an 80 GB GPU); "lean" (2^23 on an 80 GB GPU): coefficients as h low coefficients
plus the randomizer tail (opencl/lean.py, half the memory), the main trace filled in row chunks and dropped
once committed (re-evaluated on the trace domain for the aux table), cosets of at most h rows, the
quotient's constraints on pairs of such cosets (a row's next row lies in the partner coset), and the
segments' values re-evaluated for hashing and opening instead of kept. In full and half mode a table may
keep its values on every coset from the commit on (Layout.keep: none, main, aux or both, the choice that
saves the most NTT work within the memory model, or forced), so that the quotient and the opened rows read
them instead of evaluating cosets again. Where the quotient's degree allows (from padded height 2^9 on,
stages/half_quotient.py), its constraints run on the even cosets only, plus the four high ones on every
coset from the few columns they read: half the constraint work and half the NTTs of the quotient step.
The host uploads the main table
(without its degree-lowering columns) once; degree lowering, the aux table's extension, quotient,
segments, out-of-domain rows, DEEP and FRI run on the device; the host sees roots, small vectors,
authentication paths and revealed rows. Same proof bytes as HostBackend in every mode. Peak device
memory: see device_bytes and lean_bytes (about 50 GiB at padded height 2^21).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyopencl as cl

from tvmpd.opencl import air, lean, tip5
from tvmpd.opencl import device_tables as dev
from tvmpd.opencl.runtime import get_runtime
from tvmpd.stages import field, merkle, xfield
from tvmpd.stages.air import codegen
from tvmpd.stages.backend import Clock, DeviceTooSmall, deep_constants
from tvmpd.stages.domains import NUM_QUOTIENT_SEGMENTS, Domain, ProverDomains
from tvmpd.stages.half_quotient import HalfQuotient, column_runs, half_quotient
from tvmpd.stages.host_backend import extend_tables
from tvmpd.stages.profile import ProofProfile
from tvmpd.stages.verifier import NUM_AUX_COLUMNS, NUM_MAIN_COLUMNS

P = 2**64 - 2**32 + 1
RANDOMIZER_COLUMN = 90
# A cold device (pocl still compiling tvmpd's kernels beside this proof, stages/device_warmup.py): the aux
# table's extension runs on the host up to this many rows. numpy extends 2^12 rows in 0.1 s and 2^16 in about
# 1.6 s on two cores, against some 2 s of CPU for compiling extend.cl, which a helper then does after the
# first proof (opencl/prebuild.py).
COLD_HOST_EXTEND_ROWS = 1 << 16
_BASIS = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=np.uint64)  # 1, X, X^2 of the extension


@dataclass
class DeviceTree:
    """Merkle nodes (2n, 5) in a device buffer, or in host memory (`host`; lean mode moves a committed
    table's tree there: it is read only for the root and the authentication paths)."""

    nodes: object
    n_leaves: int
    host: np.ndarray | None = None


@dataclass
class DeviceTable:
    """A committed table: coefficients (ncols x length) on the device, as parts (buffer, first column,
    columns), and its tree. In lean mode length is h and `tail` (ncols x k, row-major; `tail_host` its host
    copy) holds the randomizer coefficients of X^h and up."""

    parts: list[tuple[object, int, int]]
    ncols: int  # base columns (3 per extension column)
    extension: bool
    tree: DeviceTree
    trace: object = None  # main table: its columns (379 x h), kept until the aux table is committed
    length: int = 0
    tail: object = None
    tail_host: np.ndarray | None = None
    cosets: list | None = None  # the values on each coset (ncols x M), kept from the commit (Layout.keep)


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


HALF_QUOTIENT = True  # the quotient's constraints on half its domain where that gives the same polynomial
# (stages/half_quotient.py); tools/profile_prove.py --full-quotient turns it off to compare
MODES = ("full", "half", "lean")
KEEPS = ("none", "main", "aux", "both")  # which tables keep their coset values from the commit on
KEEP_PREFERENCE = ("both", "main", "aux", "none")  # most NTT work saved first (main is the wider table)
GIB = 2**30
LEAN_HEADROOM = 0.9  # lean mode plans for this share of the device (cached twiddles, driver, fragmentation)
# Automatic keeping plans for this share of the memory it may use. On an H100, nvidia-smi saw 56.6 GiB for
# 2^20 keeping both tables (model 57.3) and 67.9 GiB for 2^21 keeping aux with half-length cosets (model
# 70.2); 2^21 keeping aux with full-length cosets models 76.1 of 79.2 GiB and stays a forced choice
# (--keep-cosets forces one that fits the whole memory).
KEEP_HEADROOM = 0.9
LEAN_MIN_ROWS = 64  # smallest lean coset
LEAN_MAX_SPLIT = 64  # lean cosets have at least h / 64 rows: shorter ones save little (other steps' peaks
# stay) and cost many more launches


@dataclass(frozen=True)
class Layout:
    """How a proof uses the device: its memory mode, rows of an evaluated coset, which tables keep their
    values on every coset from the commit on (KEEPS; never in lean mode), and whether those tables give
    up their coefficients for the quotient step and rebuild them from their first coset after it (full
    mode only: one inverse transform per column buys the room to keep the aux table at 2^21 on 80 GB)."""

    mode: str
    rows: int
    keep: str = "none"
    rebuild: bool = False

    @property
    def label(self) -> str:
        """The mode as logs and reports show it: "full", "full+aux" when tables' cosets are kept, "full+aux
        /rebuilt" when their coefficients are rebuilt after the quotient (Layout.rebuild)."""
        if self.keep == "none":
            return self.mode
        return f"{self.mode}+{self.keep}" + ("/rebuilt" if self.rebuild else "")


def kept_widths(keep: str) -> tuple[int, int]:
    """Base columns of the (main, aux) tables whose coset values a proof keeps (KEEPS)."""
    if keep not in KEEPS:
        raise ValueError(f"kept cosets must be auto, {', '.join(KEEPS)}; got {keep!r}")
    main = NUM_MAIN_COLUMNS if keep in ("main", "both") else 0
    aux = 3 * NUM_AUX_COLUMNS if keep in ("aux", "both") else 0
    return main, aux


def device_bytes(d: ProverDomains, split: int = 1, keep: str = "none",
                 rebuild: bool = False) -> tuple[int, int]:
    """(largest unsplittable buffer, peak of all buffers) in bytes that DeviceBackend allocates for a proof on
    domains d with cosets of length L / split, keeping the coset values of the tables `keep` names (with
    rebuild, those tables hold no coefficients during the quotient step).

    Every step holds the kept values (all N rows of a kept table) and both tables' coefficients. Peak: the
    larger of the quotient step (one coset of each table not kept, three Merkle trees, the quotient
    buffers, up to three scratch batches) and the steps after it (the three tables' trees, the segments'
    coefficients and values, the DEEP codeword and every FRI round's codeword and tree, and while rows are
    opened a column batch of a coset). Coefficients are stored in parts and kept values per coset, so the
    largest buffer that cannot be split is a coset of the main table.
    """
    L, N = d.randomized_trace.length, d.fri.length
    M = L // split
    width = NUM_MAIN_COLUMNS + 3 * NUM_AUX_COLUMNS
    kept_main, kept_aux = kept_widths(keep)
    kept = kept_main + kept_aux
    scratch = 3 * min(dev.BATCH_BYTES, 8 * NUM_MAIN_COLUMNS * L)
    quotient = 8 * M * (width - kept) + 3 * 80 * N + 8 * N * 24 + 12 * N + scratch  # 12 N: half quotient
    quotient += 8 * L * (width - kept if rebuild else width)
    unkept = max(NUM_MAIN_COLUMNS - kept_main, 3 * NUM_AUX_COLUMNS - kept_aux)
    opened = 8 * M * dev.batch_width(M, unkept) if unkept else 0
    after = 8 * L * width + (3 * 80 + 8 * 15 + 2 * (24 + 80)) * N + opened  # 15: segment coefficients, values
    return 8 * NUM_MAIN_COLUMNS * M, 8 * N * kept + max(quotient, after)


def aux_lowering_main_columns(profile: ProofProfile | None = None) -> int:
    """How many leading main columns the aux table's degree-lowering rules read (303 in v7.0.0): lean mode
    re-evaluates that many main trace columns into one buffer for them."""
    from tvmpd.stages.air.circuit import INPUT, _postorder
    from tvmpd.stages.air.constraints import lowered_air
    from tvmpd.stages.air.evaluate import _substitution_expr

    lowered = profile.lowered_air() if profile is not None else lowered_air()
    rules = [r for rs in lowered.aux_substitutions.values() for r in rs]
    return 1 + max(int(n.value.col) for n in _postorder([_substitution_expr(r) for r in rules])
                   if n.kind == INPUT and n.value.is_main)


AUX_LOWERING_MAIN_COLUMNS = 303  # aux_lowering_main_columns() of v7.0.0 (tests check it)


def lean_bytes(d: ProverDomains, rows: int, largest_alloc: int | None = None) -> tuple[int, int]:
    """(largest buffer, peak of all buffers) in bytes of a lean-mode proof on domains d with cosets of
    `rows` rows; tables in parts of at most largest_alloc bytes (None: one part).

    Peak: the largest of the steps: main commit (trace in place, chunk, coset, tree), aux extension (main
    coefficients, 149 main trace columns, aux trace, extend's 147-column scratch), aux degree lowering (303
    main trace columns instead), quotient (both tables' coefficients, a pair of cosets of both tables, the
    quotient), FRI (coefficients, segments, every round's codeword and tree). A committed table's tree
    goes to host memory."""
    h, L, N = d.trace.length, d.randomized_trace.length, d.fri.length
    col = 8 * h
    nm, na = NUM_MAIN_COLUMNS, 3 * NUM_AUX_COLUMNS
    tree = 80 * N
    batch = min(GIB, col * nm)
    commit_main = col * nm + tree + 8 * nm * rows + 4 * batch  # 4: chunk, staging, then INTT work and tmp
    extend = col * (nm + 149 + na + 3 * 49)
    lowering = col * (nm + na + AUX_LOWERING_MAIN_COLUMNS)
    commit_aux = col * (nm + na) + tree + 8 * na * rows + 2 * batch
    pair = 2 if rows < h else 1  # cosets shorter than h are evaluated in pairs
    quotient = col * (nm + na) + pair * (8 * (nm + na) + 96) * rows + 36 * N  # half + high quotient
    fri_ = col * (nm + na) + 24 * N + 208 * N + 24 * L * 2
    total = max(commit_main, extend, lowering, commit_aux, quotient, fri_)
    main_part = col * nm if largest_alloc is None else min(col * nm, largest_alloc // col * col)
    largest = max(main_part, col * na, col * AUX_LOWERING_MAIN_COLUMNS, pair * 8 * nm * rows, tree)
    return largest, total


def _kept(d: ProverDomains, split: int, memory: int, keep: str, keep_memory: int) -> tuple[str, bool] | None:
    """(kept tables (KEEPS), rebuild) of a full or half layout: `keep` if forced and it fits the memory,
    else the first of KEEP_PREFERENCE whose peak fits keep_memory; each plainly if that fits, else (full
    mode) with its coefficients rebuilt after the quotient. None if the forced choice does not fit."""
    for choice in KEEP_PREFERENCE if keep == "auto" else (keep,):
        for rebuild in (False, True) if split == 1 and choice != "none" else (False,):
            total = device_bytes(d, split, choice, rebuild)[1]
            if total <= memory and (choice == "none" or keep != "auto" or total <= keep_memory):
                return choice, rebuild
    return None


def device_layout(d: ProverDomains, largest_alloc: int, memory: int, mode: str = "auto", keep: str = "auto",
                  keep_memory: int | None = None) -> Layout:
    """The layout of a proof on a device with this largest allocation and memory (bytes): "full" if it
    fits, else "half", else "lean" with the longest cosets that fit LEAN_HEADROOM of the memory; a mode
    other than "auto" forces it (lean still picks its rows). A full or half layout keeps the coset values
    of the tables that most save NTT work while the peak fits KEEP_HEADROOM of keep_memory (default: the
    memory); a keep other than "auto" forces that choice (never lean then). DeviceTooSmall if nothing (or
    the forced mode or keep) fits."""
    if mode not in ("auto",) + MODES:
        raise ValueError(f"memory mode must be auto, {', '.join(MODES)}; got {mode!r}")
    if keep != "auto":
        kept_widths(keep)  # ValueError for an unknown choice
    L, h = d.randomized_trace.length, d.trace.length
    need = None
    for name, split in (("full", 1), ("half", 2)):
        if mode in ("auto", name):
            largest, total = device_bytes(d, split)
            if largest <= largest_alloc and total <= memory:
                budget = int(KEEP_HEADROOM * (memory if keep_memory is None else min(memory, keep_memory)))
                kept = _kept(d, split, memory, keep, budget)
                if kept is not None:
                    return Layout(name, L // split, *kept)
                total = device_bytes(d, split, keep, split == 1)[1]
            need = (largest, total)
    if mode in ("auto", "lean") and keep in ("auto", "none") and L == 2 * h:
        rows = h
        while rows >= max(min(h, LEAN_MIN_ROWS), h // LEAN_MAX_SPLIT):
            largest, total = lean_bytes(d, rows, largest_alloc)
            if largest <= largest_alloc and total <= LEAN_HEADROOM * memory:
                return Layout("lean", rows)
            need = (largest, total)
            rows //= 2
    largest, total = need if need is not None else lean_bytes(d, h, largest_alloc)
    raise DeviceTooSmall(
        f"padded height 2^{h.bit_length() - 1} needs about {total / GIB:.1f} GiB of device memory (largest "
        f"buffer {largest / GIB:.1f} GiB)")


def layout_bytes(d: ProverDomains, layout: Layout, largest_alloc: int | None = None) -> tuple[int, int]:
    """(largest buffer, peak of all buffers) in bytes of a proof on domains d in this layout (the model of
    device_bytes or lean_bytes; largest_alloc: lean mode's part limit)."""
    if layout.mode == "lean":
        return lean_bytes(d, layout.rows, largest_alloc)
    return device_bytes(d, d.randomized_trace.length // layout.rows, layout.keep, layout.rebuild)


def planned_bytes(d: ProverDomains, memory: int, mode: str = "auto", keep: str = "auto",
                  keep_memory: int | None = None) -> int:
    """Peak device bytes of the layout device_layout picks on a device of `memory` bytes (buffer limit not
    considered; cosets kept within keep_memory included), or the least any layout needs when none fits:
    what a scheduler reserves for the proof."""
    try:
        layout = device_layout(d, memory, memory, mode, keep, keep_memory)
    except DeviceTooSmall:
        least = [device_bytes(d, 2, "none" if keep == "auto" else keep)[1]]
        if mode in ("auto", "lean") and keep in ("auto", "none"):
            least.append(lean_bytes(d, LEAN_MIN_ROWS)[1])
        return min(least)
    return layout_bytes(d, layout)[1]


KEEP_COSETS_SHARE = 0.5  # CPU devices keep coset values only while the peak fits this share of memory (the
# host's memory: the rest is for the host side of the proof and other processes)


def device_memory(rt) -> tuple[int, int]:
    """(largest allocation, global memory) of the runtime's device in bytes."""
    return int(rt.device.max_mem_alloc_size), int(rt.device.global_mem_size)


def _split_weights(weights: np.ndarray) -> np.ndarray:
    """Weights (m, 3) of extension columns -> (3m, 3) weights of their base components: w * X^j."""
    return xfield.mul(weights[:, np.newaxis, :], _BASIS[np.newaxis]).reshape(-1, 3)


def _base_poly_at(coefficients: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Values (m, 3) at an extension point z of m base polynomials, coefficients (m, k) lowest first."""
    k = coefficients.shape[1]
    zp = np.zeros((k, 3), dtype=np.uint64)
    zp[0] = [1, 0, 0]
    for t in range(1, k):
        zp[t] = xfield.mul(zp[t - 1], z)
    return np.stack([field.reduce_sum(field.mul(coefficients, zp[:, j][np.newaxis]), axis=1)
                     for j in range(3)], axis=-1)


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
        if tree.host is not None:
            return tree.host[1].copy()
        return dev.gather_rows(self.rt, tree.nodes, [1], 5)[0]

    def fold(self, codeword: DeviceCodeword, domain: Domain, challenge: np.ndarray) -> DeviceCodeword:
        buf = dev.fri_fold(self.rt, codeword.buf, codeword.n, challenge, domain.offset, domain.generator)
        return DeviceCodeword(buf, codeword.n // 2)

    def to_host(self, codeword: DeviceCodeword) -> np.ndarray:
        return self.rt.from_device(codeword.buf, (codeword.n, 3))

    def auth(self, tree: DeviceTree, indices: list[int]) -> np.ndarray:
        if tree.host is not None:
            return merkle.auth_structure(tree.host, indices)
        nodes = merkle.auth_structure_node_indices(tree.n_leaves, indices)
        return dev.gather_rows(self.rt, tree.nodes, nodes, 5)

    def values(self, codeword: DeviceCodeword, indices: list[int]) -> np.ndarray:
        return dev.gather_rows(self.rt, codeword.buf, indices, 3)


def device_split(rt, d: ProverDomains, mode: str = "auto", keep: str = "auto",
                 keep_memory: int | None = None) -> Layout:
    """The layout (device_layout) of a proof on this runtime's device, cosets kept within keep_memory (None:
    the device's memory) and KEEP_COSETS_SHARE of a CPU device's memory; DeviceTooSmall names the device."""
    largest_alloc, memory = device_memory(rt)
    budget = int(KEEP_COSETS_SHARE * memory) if rt.device.type & cl.device_type.CPU else memory
    keep_memory = budget if keep_memory is None else min(budget, keep_memory)
    try:
        return device_layout(d, largest_alloc, memory, mode, keep, keep_memory)
    except DeviceTooSmall as exc:
        raise DeviceTooSmall(f"{exc}; {rt.device.name.strip()} has {memory / GIB:.1f} GiB (largest buffer "
                             f"{largest_alloc / GIB:.1f} GiB)") from None


@functools.lru_cache(maxsize=32)
def _high_constraints(profile: ProofProfile, d: ProverDomains) -> HalfQuotient | None:
    """stages/half_quotient.py's plan for a profile's AIR on domains d (found once per padded height: it
    walks every constraint circuit)."""
    lowered = profile.lowered_air()
    return half_quotient(lowered, d, codegen.constraint_kernel_ranges(lowered))


def _runs_in_parts(parts: list, runs: list[tuple[int, int]]) -> list[tuple[object, int, int, list]]:
    """(buffer, first column, columns, [(start, end) of the runs inside it]) of each column part of a table
    that some run [start, end) of table columns reaches."""
    out = []
    for buf, c0, k in parts:
        pieces = [(max(a, c0), min(b, c0 + k)) for a, b in runs]
        pieces = [(a, b) for a, b in pieces if a < b]
        if pieces:
            out.append((buf, c0, k, pieces))
    return out


class DeviceBackend:
    """Backend on one OpenCL device ("platform:device" key of opencl.devices; None: the default device).
    commit_main sets the proof's geometry, so an object serves one proof at a time."""

    def __init__(self, device_key: str | None = None, memory_mode: str = "auto",
                 keep_cosets: str = "auto", keep_memory: int | None = None, cold: bool = False,
                 kernels_ready: Callable[..., None] | None = None) -> None:
        """cold: the device's kernels are still being compiled beside this proof (small tables then extend
        on the host: COLD_HOST_EXTEND_ROWS). kernels_ready(*tasks), if given, is called before the first
        launch of each group of kernels a prebuild helper may be compiling (opencl/prebuild.py's tasks), so
        that this proof waits for it instead of compiling the same kernels a second time."""
        if memory_mode not in ("auto",) + MODES:
            raise ValueError(f"memory mode must be auto, {', '.join(MODES)}; got {memory_mode!r}")
        if keep_cosets != "auto":
            kept_widths(keep_cosets)
        self.rt = get_runtime(device_key)
        self.device_key = self.rt.key
        self.memory_mode = memory_mode
        self.keep_cosets = keep_cosets  # the setting ("auto" or KEEPS); the proof's choice is layout.keep
        self.keep_memory = keep_memory  # bytes automatic keeping may plan for (None: the device's memory)
        self.layout: Layout | None = None  # of the proof under way (or the last one)
        self.cold = cold
        self._kernels_ready = kernels_ready

    def _ready(self, *tasks: str) -> None:
        """Wait until a prebuild helper has compiled these tasks' kernels (where one does: kernels_ready)."""
        if self._kernels_ready is not None:
            self._kernels_ready(*tasks)

    def _begin(self, d: ProverDomains, profile: ProofProfile) -> None:
        """A new proof: its generated AIR kernels and geometry, cosets of M rows (L or L / 2, or at most h
        in lean mode) as the device's memory needs."""
        self.layout = device_split(self.rt, d, self.memory_mode, self.keep_cosets, self.keep_memory)
        self.lean = self.layout.mode == "lean"
        self.kernels = profile.air_kernels()
        self.profile = profile
        self.d = d
        self.L = d.randomized_trace.length
        self.N = d.fri.length
        self.M = self.layout.rows  # rows of an evaluated coset
        self.E = self.N // self.M
        self.keep_main, self.keep_aux = (k > 0 for k in kept_widths(self.layout.keep))

    def _part_ranges(self, ncols: int, length: int | None = None) -> list[tuple[int, int]]:
        """Column ranges of a table's parts of `length` rows (default L): each within the largest buffer."""
        limit = int(self.rt.device.max_mem_alloc_size)
        if MAX_PART_BYTES is not None:
            limit = min(limit, MAX_PART_BYTES)
        per = max(1, limit // (8 * (length or self.L)))
        return [(c, min(c + per, ncols)) for c in range(0, ncols, per)]

    def _stored_lean(self, table: DeviceTable) -> bool:
        """Whether a table holds lean coefficients (the low h and a randomizer tail) rather than all L."""
        return table.tail is not None or table.length != self.L

    def _evaluate(self, table: DeviceTable, c: int, out, rows: np.ndarray | None = None) -> None:
        """out (table.ncols x M) <- the table's values on coset c (only `rows` of it if given)."""
        if not self._stored_lean(table):
            for buf, c0, k in table.parts:
                dev.evaluate_coset(self.rt, buf, k, self.L, self._offset(c), self.M, out, c0, rows)
        else:
            self._evaluate_lean(table, self._offset(c), self.M, out, 0, self.M)

    def _evaluate_lean(self, table: DeviceTable, offset: int, n: int, out, out_off: int, stride: int,
                       ncols: int | None = None, runs: list[tuple[int, int]] | None = None) -> None:
        """Columns 0 .. ncols - 1 (default all; runs: only these [start, end) runs of them) of a table at
        offset * w_n^i (n at most h, or n dividing h in general: X^h is one constant f there) into out at
        out_off + c * stride; a lean table's tail is folded in as f r for the evaluation and taken out
        again."""
        rt, h = self.rt, self.d.trace.length
        ncols = table.ncols if ncols is None else ncols
        f = pow(offset, h, P)
        runs = [(0, ncols)] if runs is None else [(a, min(b, ncols)) for a, b in runs]
        for buf, c0, k, pieces in _runs_in_parts(table.parts, runs):
            if table.tail is not None:
                lean.add_scaled_tail(rt, buf, k, h, table.tail, table.tail_host.shape[1], c0, f)
            for a, b in pieces:
                lean.evaluate(rt, buf, b - a, table.length, offset, n, out, out_off + a * stride, stride,
                              first=a - c0)
            if table.tail is not None:
                lean.add_scaled_tail(rt, buf, k, h, table.tail, table.tail_host.shape[1], c0, P - f)

    def _evaluate_at(self, table: DeviceTable, za: np.ndarray,
                     zb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # a full-length table's interpolants have h + (trace randomizers) coefficients, the rest of L are 0
        count = min(table.length, self.d.trace.length + self.d.num_trace_randomizers)
        values = [dev.evaluate_at(self.rt, buf, table.length, k, za, zb, count) for buf, _, k in table.parts]
        va, vb = np.concatenate([a for a, _ in values]), np.concatenate([b for _, b in values])
        if table.tail_host is not None:  # + z^h r(z)
            h = self.d.trace.length
            va = xfield.add(va, xfield.mul(_base_poly_at(table.tail_host, za), xfield.pow(za, h)))
            vb = xfield.add(vb, xfield.mul(_base_poly_at(table.tail_host, zb), xfield.pow(zb, h)))
        return va, vb

    def _weighted_sum(self, table: DeviceTable, weights: np.ndarray, out, accumulate: bool) -> None:
        """out (3 x L) (+)= the weighted sum of the table's columns' coefficients; a lean table's low part
        goes through a 3 x h buffer and its tail is summed on the host."""
        rt = self.rt
        if not self._stored_lean(table):
            for i, (buf, c0, k) in enumerate(table.parts):
                dev.weighted_sum(rt, buf, self.L, k, weights[c0:c0 + k], out, accumulate or i > 0)
            return
        h, L = table.length, self.L
        low, part = rt.empty(24 * L), rt.empty(24 * h)
        dev.fill_zero(rt, low, 24 * L)
        for i, (buf, c0, k) in enumerate(table.parts):
            dev.weighted_sum(rt, buf, h, k, weights[c0:c0 + k], part, i > 0)
        lean.copy_columns(rt, part, h, low, L, 3, h)
        if table.tail_host is not None:  # coefficients h .. h + k - 1: the weighted tails
            for j in range(3):
                tail = field.reduce_sum(field.mul(table.tail_host, weights[:, j:j + 1]), axis=0)
                cl.enqueue_copy(rt.queue, low, np.ascontiguousarray(tail), dst_offset=8 * (j * L + h))
        dev.weighted_sum(rt, low, L, 3, _BASIS, out, accumulate)
        rt.queue.finish()
        low.release()
        part.release()

    def _offset(self, c: int) -> int:
        return self.d.fri.value(c)

    def commit_main(self, trace: np.ndarray, randomizers: np.ndarray, d: ProverDomains,
                    profile: ProofProfile) -> DeviceTable:
        """Upload, fill the degree-lowering columns if only the 149 base columns came, interpolate +
        randomize, hash every coset's rows into the tree. The main trace stays on the device (in the
        handle) until the aux table is committed (its degree-lowering columns read the main table)."""
        self._begin(d, profile)
        if trace.shape[1] < NUM_MAIN_COLUMNS:  # the degree-lowering columns: the interpreter or its kernels
            self._ready("interpreter", "lowering_main")
        if self.lean:
            return self._commit_main_lean(trace, randomizers)
        rt, h = self.rt, trace.shape[0]
        ncols = NUM_MAIN_COLUMNS
        lower = trace.shape[1] < ncols
        columns = rt.empty(8 * ncols * h)
        dev.upload_columns(rt, trace[:, :ncols], columns)  # the base columns; lowering fills the others
        if lower:
            dev.fill_zero(rt, columns, 8 * (ncols - trace.shape[1]) * h, 8 * trace.shape[1] * h)
            air.fill_degree_lowering_main_device(rt, self.kernels, columns, h)
        table = self._commit_parts(self._interpolants(columns, ncols, h, randomizers), ncols, False,
                                   keep=self.keep_main)
        table.trace = columns
        return table

    def _commit_main_lean(self, trace: np.ndarray, randomizers: np.ndarray) -> DeviceTable:
        """Lean mode: the main table in column parts, filled in row chunks, turned into low coefficients in
        place and hashed coset by coset; no trace is kept (extend and commit_aux re-evaluate it)."""
        rt, h = self.rt, trace.shape[0]
        ranges = self._part_ranges(NUM_MAIN_COLUMNS, h)
        parts = [(rt.empty(8 * (c1 - c0) * h), c0, c1 - c0) for c0, c1 in ranges]
        lean.fill_main(rt, self.kernels, trace, NUM_MAIN_COLUMNS, parts)
        return self._lean_table(parts, NUM_MAIN_COLUMNS, False, randomizers)

    def _lean_table(self, parts: list, ncols: int, extension: bool, randomizers: np.ndarray) -> DeviceTable:
        """A lean table from trace column parts (consumed: they become its low coefficients) and the
        randomizers (ncols, k), committed."""
        rt, h = self.rt, self.d.trace.length
        tail_host = np.ascontiguousarray(randomizers, dtype=np.uint64)
        tail = rt.to_device(tail_host)
        for buf, c0, k in parts:
            lean.low_interpolants(rt, buf, k, h, tail, tail_host.shape[1], c0)
        return self._commit_parts(parts, ncols, extension, h, tail, tail_host)

    def _main_trace(self, main: DeviceTable, ncols: int):
        """Lean mode: main trace columns 0 .. ncols - 1 (ncols x h) re-evaluated from the coefficients (on
        the trace domain X^h = 1, so the randomizer term vanishes and the values are the trace's)."""
        h = self.d.trace.length
        out = self.rt.empty(8 * ncols * h)
        self._evaluate_lean(main, 1, h, out, 0, h, ncols)
        return out

    def extend(self, main: DeviceTable, challenges: np.ndarray):
        """The aux table (91 * 3 base columns x h) on the device with its extension columns 0..48 filled from
        the device's main table (opencl/air.py extend_device; on a cold device a small table's by numpy on
        the host, the same values); the host table is not needed."""
        rt, h = self.rt, self.d.trace.length
        ncols = 3 * NUM_AUX_COLUMNS
        columns = rt.empty(8 * ncols * h)
        dev.fill_zero(rt, columns, 8 * ncols * h)
        ch = np.ascontiguousarray(challenges, dtype=np.uint64)
        trace = main.trace if not self.lean else self._main_trace(main, air.NUM_MAIN_BASE)
        if self.cold and h <= COLD_HOST_EXTEND_ROWS:
            main_rows = dev.download_columns(rt, trace, air.NUM_MAIN_BASE, h)
            dev.upload_columns(rt, extend_tables(main_rows, ch).reshape(h, -1), columns)  # column 3c + j
        else:
            self._ready("extend", "extend_late")
            air.extend_device(rt, self.kernels, trace, ch, h, columns)
        rt.queue.finish()
        if self.lean:
            trace.release()
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
        self._ready("interpreter", "lowering_aux")
        if self.lean:
            trace = self._main_trace(main, AUX_LOWERING_MAIN_COLUMNS)
            air.fill_degree_lowering_aux_device(rt, self.kernels, trace, columns, ch, h)
            rt.queue.finish()
            trace.release()
            return self._lean_table([(columns, 0, ncols)], ncols, True, randomizers)
        air.fill_degree_lowering_aux_device(rt, self.kernels, main.trace, columns, ch, h)
        parts = self._interpolants(columns, ncols, h, randomizers)
        columns.release()  # both traces go before the cosets are evaluated: that is the peak of this step
        main.trace.release()
        main.trace = None
        return self._commit_parts(parts, ncols, True, keep=self.keep_aux)

    def _interpolants(self, columns, ncols: int, h: int, randomizers: np.ndarray) -> list:
        """Coefficient parts (buffer, first column, columns) of the randomized interpolants of the columns."""
        rt = self.rt
        return [(dev.randomized_interpolants(rt, columns, c1 - c0, h, randomizers[c0:c1], c0), c0, c1 - c0)
                for c0, c1 in self._part_ranges(ncols)]

    def _commit_parts(self, parts: list, ncols: int, extension: bool, length: int | None = None, tail=None,
                      tail_host: np.ndarray | None = None, keep: bool = False) -> DeviceTable:
        """The table of these coefficient parts, every coset's rows hashed into its tree; with keep, each
        coset's values stay in table.cosets for the quotient and the opened rows."""
        rt = self.rt
        table = DeviceTable(parts, ncols, extension, DeviceTree(dev.new_tree(rt, self.N), self.N),
                            length=length or self.L, tail=tail, tail_host=tail_host)
        kept = [rt.empty(8 * ncols * self.M) for _ in range(self.E)] if keep else None
        values = None if kept else rt.empty(8 * ncols * self.M)
        for c in range(self.E):
            out = kept[c] if kept else values
            self._evaluate(table, c, out)
            if c == 0:
                self._ready("hashing")
            dev.hash_rows_into_tree(rt, out, ncols, self.M, table.tree.nodes, self.N, c, self.E)
        dev.finish_tree(rt, table.tree.nodes, self.N)
        if self.lean:  # the tree waits for the authentication paths in host memory
            nodes = table.tree.nodes
            table.tree = DeviceTree(None, self.N, rt.from_device(nodes, (2 * self.N, 5)))
            nodes.release()
        if values is not None:
            values.release()
        table.cosets = kept
        if kept and self.layout.rebuild:  # the quotient reads the kept values; _rebuild restores these
            for buf, _, _ in table.parts:
                buf.release()
            table.parts = []
        return table

    def _rebuild(self, table: DeviceTable) -> None:
        """A kept table's coefficients again (Layout.rebuild dropped them after its commit), interpolated
        from its values on the first coset (full mode: L rows, so they determine the L coefficients)."""
        if table.parts or table.cosets is None:
            return
        rt, first, offset = self.rt, table.cosets[0], self._offset(0)
        table.parts = [(dev.interpolate_coset(rt, first, c1 - c0, self.L, offset, c0), c0, c1 - c0)
                       for c0, c1 in self._part_ranges(table.ncols)]

    def root(self, table: DeviceTable | DeviceSegments) -> np.ndarray:
        return DeviceRounds(self.rt).root(table.tree)

    def quotient(self, main: DeviceTable, aux: DeviceTable, challenges: np.ndarray, weights: np.ndarray,
                 clock: Clock) -> DeviceSegments:
        """Constraints coset by coset, then segments, their FRI-domain values and tree. Where the quotient's
        degree allows (stages/half_quotient.py), every constraint on the even cosets and the few high ones
        on every coset, the odd cosets evaluating only the columns those read."""
        rt, d, M, N, E = self.rt, self.d, self.M, self.N, self.E
        self._ready("constraints", "late_quotient", "late_open")  # hand-written kernels to the end
        h = d.trace.length
        ch = rt.to_device(np.ascontiguousarray(challenges, dtype=np.uint64))
        wt = rt.to_device(np.ascontiguousarray(weights, dtype=np.uint64))
        omega_inv = pow(d.trace.generator, P - 2, P)
        gen = pow(d.fri.generator, E, P)  # of the coset's subgroup, order M
        sign = pow(gen, h, P)  # -1 for M = 2h, 1 for M = h
        pairs = M < h  # lean cosets shorter than h: a row's next row lies in another coset
        rows = 2 * M if pairs else M
        half = self._half_quotient(pairs)
        quotient = rt.empty(8 * 3 * (N if half is None else N // 2))
        if half is not None:
            high = rt.empty(8 * 3 * N)
            wt_high = rt.to_device(np.where(np.isin(np.arange(len(weights)), half.high)[:, None],
                                            np.asarray(weights, dtype=np.uint64), np.uint64(0)))
        sums = rt.empty(8 * 12 * rows)
        # a table without kept values is evaluated coset by coset into a buffer of its own
        main_values = rt.empty(8 * main.ncols * rows) if main.cosets is None else None
        aux_values = rt.empty(8 * aux.ncols * rows) if aux.cosets is None else None
        scratch = [buf for buf in (main_values, aux_values) if buf is not None]
        for c in range(0 if pairs else E):
            offset = self._offset(c)
            every = half is None or c % 2 == 0  # all constraints on this coset
            if main.cosets is not None:
                main_values = main.cosets[c]
            elif every:
                self._evaluate(main, c, main_values)
            else:
                self._evaluate_columns(main, c, main_values, half.main_columns)
            if aux.cosets is not None:
                aux_values = aux.cosets[c]
            elif every:
                self._evaluate(aux, c, aux_values)
            else:
                self._evaluate_columns(aux, c, aux_values, half.aux_base_columns)
            x_h = pow(offset, h, P)  # x^h on this coset: x_h at even rows, x_h * sign at odd rows
            cons = (pow((x_h - 1) % P, P - 2, P), pow((x_h * sign - 1) % P, P - 2, P))
            values = (rt, self.kernels, main_values, aux_values, M, M // h, ch)
            if every:  # half domain: point c + E i of the FRI domain is its point c / 2 + (E / 2) i
                s = 1 if half is None else 2
                dev.quotient_coset(*values, wt, sums, quotient, N // s, c // s, E // s, offset, gen,
                                   omega_inv, *cons)
            if half is not None:
                dev.quotient_coset(*values, wt_high, sums, high, N, c, E, offset, gen, omega_inv, *cons,
                                   only=half.kernels)
        if pairs:
            self._quotient_pairs(main, aux, ch, wt, sums, main_values, aux_values, quotient, half,
                                 *((wt_high, high) if half is not None else ()))
        rt.queue.finish()
        sums.release()
        for buf in scratch:
            buf.release()
        clock.begin("quotient: segments + Merkle")
        if half is None:
            seg = dev.quotient_segment_coefficients(rt, quotient, N, d.quotient.offset)
            quotient.release()
        else:  # releases both
            seg = dev.quotient_segments_from_half(rt, quotient, high, N, d.quotient.offset)
        width = 3 * NUM_QUOTIENT_SEGMENTS
        if self.lean:  # values re-evaluated coset by coset, for the tree now and for opened rows later
            table = self._commit_parts([(seg, 0, width)], width, True)
            return DeviceSegments(seg, None, table.tree)
        values = rt.empty(8 * width * N)
        dev.evaluate_coset(rt, seg, width, self.L, d.fri.offset, N, values)
        nodes = dev.new_tree(rt, N)
        tip5.hash_rows_device(rt, values, N, width, nodes, out_offset=N)
        dev.finish_tree(rt, nodes, N)
        return DeviceSegments(seg, values, DeviceTree(nodes, N))

    def _half_quotient(self, pairs: bool) -> HalfQuotient | None:
        """The high constraints if this proof's quotient may be evaluated on half its domain (module
        stages/half_quotient.py): an even number of cosets (and of chains, for cosets in pairs), the
        quotient domain the FRI domain, HALF_QUOTIENT on."""
        if not HALF_QUOTIENT or self.E % 2 or (pairs and self.N // self.d.trace.length % 2) \
                or self.d.quotient.length != self.N:
            return None
        return _high_constraints(self.profile, self.d)

    def _evaluate_columns(self, table: DeviceTable, c: int, out, columns, offset: int | None = None) -> None:
        """These columns of out (table.ncols x M) <- the table's values on coset c (or at offset * w_M^i)."""
        offset = self._offset(c) if offset is None else offset
        if self._stored_lean(table):
            self._evaluate_lean(table, offset, self.M, out, 0, self.M, runs=column_runs(columns))
            return
        for buf, c0, _, pieces in _runs_in_parts(table.parts, column_runs(columns)):
            for a, b in pieces:
                dev.evaluate_coset(self.rt, buf, b - a, self.L, offset, self.M, out, a, first=a - c0)

    def _quotient_pairs(self, main: DeviceTable, aux: DeviceTable, ch, wt, sums, main_values, aux_values,
                        quotient, half: HalfQuotient | None = None, wt_high=None, high=None) -> None:
        """Lean cosets of M < h rows (FRI-domain rows c::E): the next row of a row of coset c is the same
        row of coset c + N/h, and of the last coset of the chain c, c + N/h, ..., c + (s - 1) N/h (s = h/M)
        the next row of coset c (its rows rotated by one, evaluated at offset * w_M). Each chain walks
        through value buffers of 2M rows, a coset in each half, the partner of the current half in the
        other one. With `half`, only the even chains (N/h is even, so their cosets are the even ones) do
        so, into the half-domain quotient; every coset adds its high constraints into `high`, the odd ones
        from their high constraints' columns alone (those read no next row)."""
        rt, d, M, N, E = self.rt, self.d, self.M, self.N, self.E
        h = d.trace.length
        chains, s = N // h, h // M
        gen = pow(d.fri.generator, E, P)  # order M
        omega_inv = pow(d.trace.generator, P - 2, P)
        split = 1 if half is None else 2

        def load(offset: int, part: int) -> None:
            self._evaluate_lean(main, offset, M, main_values, part * M, 2 * M)
            self._evaluate_lean(aux, offset, M, aux_values, part * M, 2 * M)

        for c0 in range(chains):
            cosets = [c0 + t * chains for t in range(s)]
            if half is not None and c0 % 2:
                for c in cosets:
                    offset = self._offset(c)
                    self._evaluate_columns(main, c, main_values, half.main_columns)
                    self._evaluate_columns(aux, c, aux_values, half.aux_base_columns)
                    cons_inv = pow((pow(offset, h, P) - 1) % P, P - 2, P)
                    lean.quotient_rows(rt, self.kernels, main_values, aux_values, M, 0, M, 1, ch, wt_high,
                                       sums, high, N, c, E, offset, gen, omega_inv, cons_inv,
                                       only=half.kernels)
                continue
            load(self._offset(c0), 0)
            for t, c in enumerate(cosets):
                following = self._offset(cosets[t + 1]) if t + 1 < s else self._offset(c0) * gen % P
                load(following, (t + 1) % 2)
                offset = self._offset(c)
                cons_inv = pow((pow(offset, h, P) - 1) % P, P - 2, P)
                rows = (rt, self.kernels, main_values, aux_values, 2 * M, (t % 2) * M, M, M, ch)
                lean.quotient_rows(*rows, wt, sums, quotient, N // split, c // split, E // split, offset, gen,
                                   omega_inv, cons_inv)
                if half is not None:
                    lean.quotient_rows(*rows, wt_high, sums, high, N, c, E, offset, gen, omega_inv, cons_inv,
                                       only=half.kernels)

    def out_of_domain(self, main: DeviceTable, aux: DeviceTable, segments: DeviceSegments,
                      points: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        rt, L = self.rt, self.L
        for table in (main, aux):
            self._rebuild(table)
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
        """FRI-domain rows at these indices: segments from their values, tables from their kept coset values
        or else by re-evaluating cosets."""
        rt = self.rt
        if isinstance(table, DeviceSegments) and table.values is not None:
            out = dev.gather_columns(rt, table.values, self.N, 3 * NUM_QUOTIENT_SEGMENTS, indices)
            return out.reshape(len(indices), NUM_QUOTIENT_SEGMENTS, 3)
        if isinstance(table, DeviceSegments):
            width = 3 * NUM_QUOTIENT_SEGMENTS
            table = DeviceTable([(table.coefficients, 0, width)], width, True, table.tree, length=self.L)
        idx = np.asarray(indices, dtype=np.int64)
        if table.cosets is None and self._stored_lean(table):
            out = self._open_by_folds(table, [int(i) for i in idx])  # lean: not a coset per opened row
            return out.reshape(len(idx), -1, 3) if table.extension else out
        out = np.zeros((len(idx), table.ncols), dtype=np.uint64)
        batch = dev.batch_width(self.M, table.ncols)  # columns re-evaluated at a time (the model's scratch)
        values = rt.empty(8 * batch * self.M) if table.cosets is None else None
        for c in sorted(set((idx % self.E).tolist())):
            sel = idx % self.E == c
            at = idx[sel] // self.E
            if values is None:
                out[sel] = dev.gather_columns(rt, table.cosets[c], self.M, table.ncols, at)
                continue
            for a in range(0, table.ncols, batch):
                b = min(table.ncols, a + batch)
                for buf, c0, _, pieces in _runs_in_parts(table.parts, [(a, b)]):
                    for x, y in pieces:
                        dev.evaluate_coset(rt, buf, y - x, self.L, self._offset(c), self.M, values, x - a, at,
                                           first=x - c0)
                out[np.flatnonzero(sel)[:, None], np.arange(a, b)] = dev.gather_columns(rt, values, self.M,
                                                                                        b - a, at)
        if values is not None:
            values.release()
        return out.reshape(len(idx), -1, 3) if table.extension else out

    def _open_by_folds(self, table: DeviceTable, indices: list[int]) -> np.ndarray:
        """(len(indices), ncols) FRI-domain rows of a lean table from its low coefficients (dev.open_by_folds)
        and its tail (on the host), within the scratch a coset re-evaluation took (8 ncols M bytes). A lean
        table's cosets are short (h / 4 rows at 2^23 on 80 GB: 32 per table), and each opened one cost a
        fold of all h coefficients and a transform; the folds serve every opened row at once (pocl, 2^14
        lean: 0.78 s against 1.67 s for the opened rows). Full-length tables keep the coset path, whose GPU
        passes skip most of their last pass for a few rows (as cheap as the folds there)."""
        points = [self.d.fri.value(i) for i in indices]
        budget = 8 * table.ncols * self.M
        out = np.concatenate([dev.open_by_folds(self.rt, buf, 0, k, table.length, points, budget)
                              for buf, _, k in table.parts], axis=1)
        if table.tail_host is not None:  # + x^h tail(x), tail (ncols, k) lowest first
            h = self.d.trace.length
            x = np.array(points, dtype=np.uint64)[:, None]
            tail = np.zeros_like(out)
            for t in range(table.tail_host.shape[1] - 1, -1, -1):  # Horner
                tail = field.add(field.mul(tail, x), table.tail_host[:, t][None, :])
            out = field.add(out, field.mul(tail, field.pow(x, h)))
        return out

    def auth(self, table: DeviceTable | DeviceSegments, indices: list[int]) -> np.ndarray:
        return DeviceRounds(self.rt).auth(table.tree, indices)

    def finish(self) -> None:
        self.rt.queue.finish()
