"""The job pipeline as plain functions: parse the five JSON texts, run the VM, check the claim, prove.

Children call these; they never touch sockets. Every refusal is a JobError whose text goes to the client
as the ERROR message. The VM (`stages.vm`) and the STARK prover (`stages.prover`) are imported lazily so
the daemon still starts, and answers a clear ERROR, while either is missing.
"""

from __future__ import annotations

import importlib
import inspect
import json
import logging
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np

from tvmpd.supervisor.protocol import encode_proof_bincode

PROVING_MISSING = "proving is not implemented yet (STARK stage missing)"
FORCE_CPU_KEYS = ("force_cpu", "tvmpd_force_cpu", "triton_force_cpu")
# Job env var keys that change how tvmpd proves (besides FORCE_CPU_KEYS); a node may send others (e.g.
# RAYON_NUM_THREADS for its own prover): they are accepted, logged once per process, and ignored.
USED_ENV_KEYS = ("TVM_LDE_TRACE",)
_ignored_keys_logged: set[str] = set()
TRUTHY = ("1", "true", "yes", "on")

# AET arrays (see the team contract) that travel to the proving child through shared memory.
AET_ARRAYS = (
    "program_words", "processor_trace", "instruction_multiplicities", "op_stack_underflow_trace",
    "ram_trace", "program_hash_trace", "sponge_trace", "hash_trace", "cascade_limbs",
    "cascade_multiplicities", "lookup_multiplicities", "u32_entries",
)


class JobError(Exception):
    """A job that cannot be proved; the message is what the client receives."""


class JobCancelled(Exception):
    """Raised inside a child's work loop (stage boundary, VM progress) when the supervisor asked it to
    stop its job because the client went away; the child answers "cancelled" and stays up."""


@dataclass
class ParsedJob:
    """The request after parsing: VM objects plus the two small settings."""

    claim: object
    program: object
    non_determinism: object
    max_log2: int | None
    env_vars: dict[int, list[tuple[str, str]]] = field(default_factory=dict)


@dataclass
class Executed:
    """Outcome of the execute step: "executed" (aet set), "too_big" (log2 set) or "error" (message set)."""

    kind: str
    log2: int = 0
    message: str = ""
    aet: object = None
    output: list[int] = field(default_factory=list)
    force_cpu: bool = False


def vm_module():
    """The VM package, or a JobError saying it is missing."""
    try:
        vm = importlib.import_module("tvmpd.stages.vm")
    except ImportError as exc:
        raise JobError(f"cannot execute the program: the Triton VM module (stages.vm) is not available "
                       f"({exc})") from None
    needed = ("Program", "Claim", "NonDeterminism", "VMError", "run", "unsupported_version_message")
    missing = [n for n in needed if not hasattr(vm, n)]
    if missing:
        raise JobError(f"cannot execute the program: the Triton VM module (stages.vm) is incomplete "
                       f"(missing {', '.join(missing)})")
    return vm


def _json(text: str, what: str):
    try:
        return json.loads(text)
    except (ValueError, TypeError) as exc:
        raise JobError(f"invalid {what} JSON: {exc}") from None


def parse_max_log2(text: str) -> int | None:
    """Line 4: `null` or an integer 0..255 (the seed reads an Option<u8>)."""
    value = _json(text, "max_log2_padded_height")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 255:
        raise JobError(f"invalid max_log2_padded_height: expected null or an integer 0..255, "
                       f"got {text[:80]!r}")
    return value


def parse_env_vars(text: str) -> dict[int, list[tuple[str, str]]]:
    """Line 5: {"<log2>": [[key, value], ...]} as the node's TritonVmEnvVars serialises it."""
    value = _json(text, "env vars")
    if not isinstance(value, dict):
        raise JobError("invalid env vars: expected a JSON object keyed by log2 padded height")
    out: dict[int, list[tuple[str, str]]] = {}
    for key, pairs in value.items():
        try:
            log2 = int(key)
        except ValueError:
            raise JobError(f"invalid env vars: key {key!r} is not a log2 padded height") from None
        if not isinstance(pairs, list) or not all(
            isinstance(p, list) and len(p) == 2 and all(isinstance(s, str) for s in p) for p in pairs
        ):
            raise JobError(f"invalid env vars for log2 {log2}: expected a list of [key, value] string pairs")
        out[log2] = [(k, v) for k, v in pairs]
    return out


def supported_proof_versions() -> tuple[int, ...]:
    """The claim versions this build proves (empty while the VM module is missing)."""
    try:
        return tuple(vm_module().SUPPORTED_PROOF_VERSIONS)
    except (JobError, AttributeError):
        return ()


def version_refusal(claim_text: str) -> str | None:
    """The reason to refuse a request whose claim asks for a proof version this build does not prove, from
    the claim's JSON alone (checked before any work); None when the version is fine or the claim is not
    even readable (parse_request then names that problem)."""
    try:
        claim = json.loads(claim_text)
    except (ValueError, TypeError):
        return None
    if not isinstance(claim, dict) or "version" not in claim:
        return None
    return vm_module().unsupported_version_message(claim["version"])


def parse_request(fields: list[str]) -> ParsedJob:
    """Parse the five JSON texts into VM objects; JobError names the first bad field or an unsupported
    claim version."""
    if len(fields) != 5:
        raise JobError(f"a request has 5 fields, got {len(fields)}")
    for text, what in zip(fields[:3], ("claim", "program", "non-determinism"), strict=True):
        _json(text, what)
    refusal = version_refusal(fields[0])
    if refusal:
        raise JobError(refusal)
    max_log2 = parse_max_log2(fields[3])
    env_vars = parse_env_vars(fields[4])
    vm = vm_module()
    parts = []
    for text, what, cls in ((fields[0], "claim", vm.Claim), (fields[1], "program", vm.Program),
                            (fields[2], "non-determinism", vm.NonDeterminism)):
        try:
            parts.append(cls.from_json(text))
        except Exception as exc:  # the VM module raises ValueError; anything else is just as invalid
            raise JobError(f"invalid {what}: {exc}") from None
    return ParsedJob(parts[0], parts[1], parts[2], max_log2, env_vars)


def digest_values(digest) -> list[int]:
    """Five u64 from a digest given as 5 ints or as the claim's 80-hex-character form (LE bytes per word)."""
    if isinstance(digest, str):
        raw = bytes.fromhex(digest)
        if len(raw) != 40:
            raise ValueError(f"a digest is 40 bytes, got {len(raw)}")
        return [int.from_bytes(raw[8 * i:8 * i + 8], "little") for i in range(5)]
    values = [int(v) for v in np.asarray(digest, dtype=object).reshape(-1)]
    if len(values) != 5:
        raise ValueError(f"a digest has 5 elements, got {len(values)}")
    return values


def digest_hex(values: list[int]) -> str:
    """The claim's hex form of a digest."""
    return b"".join(int(v).to_bytes(8, "little") for v in values).hex()


def _short(values: list[int], limit: int = 16) -> str:
    text = ", ".join(str(v) for v in values[:limit])
    return f"[{text}{', ...' if len(values) > limit else ''}] ({len(values)} elements)"


def force_cpu(env_vars: dict[int, list[tuple[str, str]]], log2: int) -> bool:
    """True if the env vars for this log2 padded height ask for CPU proving (the seed's `force_cpu`)."""
    return any(k.lower() in FORCE_CPU_KEYS and v.strip().lower() in TRUTHY for k, v in env_vars.get(log2, []))


# A run past 2^25 cycles has a padded height no device can prove, and its trace alone needs ~5 GB of
# host memory: stop it there (--max-cycles) rather than let it grow until the memory guard acts.
DEFAULT_MAX_CYCLES = 1 << 25


def _run_vm(vm, job: ParsedJob, public_input: list[int], max_cycles: int, progress,
            reference_cycles: int | None):
    """vm.run of the job; with reference_cycles, first on the plain interpreter up to that many cycles
    (a process whose compiled loop is not built yet), then, for a longer run, on the compiled loop."""
    if reference_cycles is not None:
        cap = min(max_cycles, reference_cycles)
        opts = _keywords(vm.run, max_cycles=cap, progress=progress, reference=True)
        if "reference" in opts:  # a vm.run without the plain interpreter goes straight to the compiled loop
            try:
                return vm.run(job.program, public_input, job.non_determinism, **opts)
            except vm.VMError as exc:
                if getattr(exc, "kind", "") != "CycleLimitExceeded" or cap >= max_cycles:
                    raise
    opts = _keywords(vm.run, max_cycles=max_cycles, progress=progress)
    return vm.run(job.program, public_input, job.non_determinism, **opts)


def execute(job: ParsedJob, max_cycles: int = DEFAULT_MAX_CYCLES, progress=None,
            reference_cycles: int | None = None) -> Executed:
    """Check the program digest, run the VM (at most `max_cycles`, so a runaway program cannot hold a
    worker forever), check the output, then the padded-height limit. `progress(cycles)` is called now and
    then during the run; it may raise (JobCancelled) to stop it. reference_cycles: run on the plain
    interpreter first, up to that many cycles (_run_vm)."""
    vm = vm_module()
    claimed = digest_values(job.claim.program_digest)
    actual = digest_values(job.program.digest())
    if claimed != actual:
        return Executed("error", message=f"claimed program digest does not match actual program digest: "
                                         f"claim has {digest_hex(claimed)}, program hashes to "
                                         f"{digest_hex(actual)}")
    public_input = [int(x) for x in job.claim.input]
    try:
        output, aet = _run_vm(vm, job, public_input, max_cycles, progress, reference_cycles)
    except vm.VMError as exc:
        kind = getattr(exc, "kind", type(exc).__name__)
        message = getattr(exc, "message", str(exc))
        where = f"instruction pointer {getattr(exc, 'instruction_pointer', '?')}, " \
                f"cycle {getattr(exc, 'cycle_count', '?')}"
        return Executed("error", message=f"VM execution failed: {kind}: {message} ({where})")
    output = [int(x) for x in output]
    claimed_output = [int(x) for x in job.claim.output]
    if output != claimed_output:
        return Executed("error", message=f"claimed public output does not match actual public output: "
                                         f"claim has {_short(claimed_output)}, execution produced "
                                         f"{_short(output)}")
    padded = int(aet.padded_height)
    if padded <= 0 or padded & (padded - 1):
        return Executed("error", message=f"VM reported a padded height {padded} that is not a power of two")
    log2 = padded.bit_length() - 1
    if job.max_log2 is not None and log2 > job.max_log2:
        return Executed("too_big", log2=log2)
    return Executed("executed", log2=log2, aet=aet, output=output, force_cpu=force_cpu(job.env_vars, log2))


def aet_arrays(aet) -> dict[str, np.ndarray]:
    """The AET's arrays that exist, by attribute name (what goes into shared memory)."""
    out = {}
    for name in AET_ARRAYS:
        value = getattr(aet, name, None)
        if value is not None:
            out[name] = np.asarray(value)
    return out


def aet_scalars(aet) -> dict:
    """The AET's small values: padded height and unpadded table heights."""
    heights = getattr(aet, "table_heights", {}) or {}
    return {"padded_height": int(aet.padded_height),
            "table_heights": {str(k): int(v) for k, v in heights.items()}}


def aet_view(arrays: dict[str, np.ndarray], scalars: dict) -> SimpleNamespace:
    """An object with the AET contract's attributes, rebuilt in the proving child from shared memory."""
    return SimpleNamespace(**arrays, padded_height=scalars["padded_height"],
                           table_heights=dict(scalars.get("table_heights", {})))


@contextmanager
def job_environment(pairs: list[tuple[str, str]]):
    """Set the request's env vars for this log2 that tvmpd uses (USED_ENV_KEYS) while proving, then
    restore; other keys are ignored, each logged once."""
    saved = {}
    for key, value in pairs:
        if key.lower() in FORCE_CPU_KEYS:
            continue
        if key not in USED_ENV_KEYS:
            if key not in _ignored_keys_logged:
                _ignored_keys_logged.add(key)
                logging.getLogger("tvmpd").info("job env var %s is not used by tvmpd: ignored (logged once "
                                                "per process)", key)
            continue
        saved[key] = os.environ.get(key)
        os.environ[key] = value
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def _prover():
    try:
        return importlib.import_module("tvmpd.stages.prover")
    except ImportError as exc:
        raise JobError(f"{PROVING_MISSING}: {exc}") from None


def _stark_failure(exc: Exception, what: str) -> JobError:
    if isinstance(exc, ImportError):
        return JobError(f"{PROVING_MISSING}: {exc}")
    return JobError(f"{what} failed: {type(exc).__name__}: {exc}")


STARK_ERRORS = (ImportError, ValueError, ArithmeticError, TypeError, AttributeError, IndexError, KeyError)


def build_main_table(aet, allocate=None) -> np.ndarray | None:
    """The padded master main table (h, 149 base columns) when stages.prover offers main_table/prove_table
    (the CPU pool builds it, devices prove from it), written into allocate(shape) when given and the
    prover takes it; None when the prover only takes an AET, or is absent (the prove step then answers
    why)."""
    try:
        prover = importlib.import_module("tvmpd.stages.prover")
    except ImportError:
        return None
    if not (hasattr(prover, "main_table") and hasattr(prover, "prove_table")):
        return None
    try:
        # The degree-lowering columns are left to the prover: a device child fills them on its GPU.
        opts = _keywords(prover.main_table, degree_lowered=False, allocate=allocate)
        return np.ascontiguousarray(prover.main_table(aet, **opts), dtype=np.uint64)
    except STARK_ERRORS as exc:
        raise _stark_failure(exc, "building the main table") from exc


def _keywords(fn, **candidates) -> dict:
    params = inspect.signature(fn).parameters
    return {k: v for k, v in candidates.items() if k in params and v is not None}


def prove_job(claim_json: str, device_key: str, env_pairs: list[tuple[str, str]], aet=None,
              table: np.ndarray | None = None, on_stage=None, on_timing=None, memory_mode: str | None = None,
              keep_cosets: str | None = None, keep_memory: int | None = None,
              report: dict | None = None) -> bytes:
    """bincode(Proof) for an executed job, from its main table or else its AET; JobError while the STARK
    prover (stages.prover) is missing or fails.

    Uses `stages.prover.prove_table(claim, table, backend=backend_for(device_key, memory_mode=...,
    keep_cosets=..., keep_memory=...), ...)`
    or `stages.prover.prove(claim, aet, device_key=..., ...)`, passing on_stage(name) (a stage starts) and
    progress=on_timing(name, seconds) (it ended) where accepted. report (a dict) gets "memory_mode", the
    device memory mode the proof used with its kept cosets ("full+aux"), when the backend has one.
    """
    prover = _prover()
    claim = vm_module().Claim.from_json(claim_json)
    with job_environment(env_pairs):
        try:
            if table is not None:
                backend = None
                if hasattr(prover, "backend_for"):
                    backend = prover.backend_for(device_key, **_keywords(prover.backend_for,
                                                                         memory_mode=memory_mode,
                                                                         keep_cosets=keep_cosets,
                                                                         keep_memory=keep_memory))
                opts = _keywords(prover.prove_table, backend=backend, on_stage=on_stage, progress=on_timing)
                if "degree_lowered" in inspect.signature(prover.main_table).parameters:
                    opts["degree_lowered"] = False  # build_main_table left those columns to the prover
                proof = prover.prove_table(claim, table, **opts)
                layout = getattr(backend, "layout", None)
                if report is not None and layout is not None:
                    report["memory_mode"] = layout.label
            else:
                prove = getattr(prover, "prove", None)
                if prove is None:
                    raise JobError(f"{PROVING_MISSING}: stages.prover has no prove()")
                opts = _keywords(prove, device_key=device_key, on_stage=on_stage, progress=on_timing)
                proof = prove(claim, aet, **opts)
        except STARK_ERRORS as exc:
            raise _stark_failure(exc, "proving") from exc
    if isinstance(proof, bytes | bytearray):
        return bytes(proof)
    return encode_proof_bincode(getattr(proof, "elements", proof))
