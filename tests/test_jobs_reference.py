"""jobs.execute with reference_cycles (a cold `tvmpd prove`, stages/vm/warmup.compile_in_background): the
plain interpreter and the numpy AET run the job up to that many cycles and give what the compiled loops
give; a longer run goes on to the compiled loop; the job's own cycle limit still fails the job."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import VECTORS
from tvmpd.supervisor import jobs


def _job(name: str) -> jobs.ParsedJob:
    return jobs.parse_request((VECTORS / "requests" / f"{name}.req").read_text().split("\n")[:5])


@pytest.mark.parametrize("name", ["all_tables", "control_flow"])
def test_reference_run_equals_the_compiled_run(name, monkeypatch):
    from tvmpd.stages.vm import interpreter

    compiled = jobs.execute(_job(name))
    assert compiled.kind == "executed"
    calls = []
    plain = interpreter.execute_reference
    monkeypatch.setattr(interpreter, "execute_reference", lambda *a: calls.append(a[3]) or plain(*a))
    for reference_cycles in (1 << 20, 7):  # the whole run on the plain interpreter; 7: past it, compiled
        done = jobs.execute(_job(name), reference_cycles=reference_cycles)
        assert calls.pop() == reference_cycles  # the plain interpreter ran first, with that many cycles
        assert (done.kind, done.log2, done.output) == (compiled.kind, compiled.log2, compiled.output)
        ours, theirs = jobs.aet_arrays(done.aet), jobs.aet_arrays(compiled.aet)
        assert ours.keys() == theirs.keys()
        for key in ours:
            np.testing.assert_array_equal(ours[key], theirs[key], err_msg=key)


def test_the_jobs_cycle_limit_still_applies():
    done = jobs.execute(_job("all_tables"), max_cycles=5, reference_cycles=1 << 20)
    assert done.kind == "error" and "CycleLimitExceeded" in done.message


def test_a_cold_process_leaves_the_compile_to_the_background(monkeypatch):
    from tvmpd.stages.vm import warmup

    started, compiled = [], []
    monkeypatch.setattr(warmup.subprocess, "Popen", lambda args, **kw: started.append((args, kw)))
    monkeypatch.setattr(warmup, "_warm_rest", lambda: compiled.append("rest"))
    monkeypatch.setattr(warmup, "_warm_loop", lambda: compiled.append("loop"))
    monkeypatch.setattr(warmup, "loop_cached", lambda: True)
    warmup.compile_in_background()
    assert not started  # cached: nothing to do
    monkeypatch.setattr(warmup, "loop_cached", lambda: False)
    warmup.compile_in_background()
    (args, kw), = started
    assert kw["start_new_session"] and "os.nice(19)" in args[-1] and "_warm_all_locked" in args[-1]
    assert not compiled  # nothing compiles in the calling process
    warmup._warm_all_locked()  # what the helper runs: everything, the loop last
    assert compiled == ["rest", "loop"]
