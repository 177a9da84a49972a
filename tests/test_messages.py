"""Supervisor <-> child messages: every kind survives the wire; unknown or malformed ones are refused."""

from __future__ import annotations

import dataclasses

import msgpack
import pytest

from tvmpd.supervisor import messages as m

SAMPLES = [
    m.ExecuteTask(3, 0, "tvmpd_1_3_", {"name": "x", "dtype": "<u1", "shape": [5]}, 1 << 30),
    m.ProveTask(3, 1, "tvmpd_1_3_", {"main_table": {"name": "t", "dtype": "<u8", "shape": [256, 149]}},
                {"padded_height": 256}, [["TVM_LDE_TRACE", "no_cache"]], '{"version":5}'),
    m.Stop(),
    m.AdmitReply(m.Admission.LATER),
    m.Hello(1234, "gpu0"),
    m.Progress(what="warm-up proof: FRI"),
    m.Progress(job=3, cycles=1 << 20),
    m.Ready(1.5, None),
    m.BootFailed("RuntimeError: no device"),
    m.Memory(1 << 34),
    m.Stage(3, "main: LDE + Merkle"),
    m.Admit(3, 21, False),
    m.Result(3, m.Outcome.EXECUTED, log2=8, blocks={"main_table": {"name": "t"}}, t_execute=0.1,
             stages={"main table": 0.02}),
    m.Result(3, m.Outcome.OK, proof={"name": "p"}, t_prove=1.0),
]


@pytest.mark.parametrize("msg", SAMPLES, ids=lambda msg: type(msg).__name__)
def test_round_trip(msg):
    back = m.decode(m.encode(msg))
    assert type(back) is type(msg) and back == msg
    for f in dataclasses.fields(back):
        if isinstance(getattr(msg, f.name), m.Outcome | m.Admission):
            assert type(getattr(back, f.name)) is type(getattr(msg, f.name))  # enums come back as enums


def test_unknown_or_malformed_messages_are_refused():
    with pytest.raises(ValueError, match="unknown message"):
        m.decode(msgpack.packb({"t": "nope"}))
    with pytest.raises(ValueError, match="unknown message"):
        m.decode(msgpack.packb([1, 2]))
    with pytest.raises(ValueError, match="bad Stage message"):
        m.decode(msgpack.packb({"t": "stage", "job": 1}))
    with pytest.raises(ValueError):
        m.decode(msgpack.packb({"t": "result", "job": 1, "outcome": "exploded"}))
