"""The recorder: what it keeps, how it is bounded, and where a run's identity lives."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
from trace_helpers import Script, Worker

import agentlab
from agentlab.trace import Recorder, _recorder, load
from agentlab.trace._schema import SCHEMA, to_batch


async def test_records_the_runtime_stream_as_it_happens() -> None:
    async with agentlab.Runtime(clock=agentlab.VirtualClock(), seed=11) as rt:
        rec = Recorder(rt, chunk_size=3, metadata={"experiment": "basic"})
        a = rt.start(Worker, name="a")
        rt.send_after(a, "crash", 2.0)
        await rt.sleep(3.0)
        run = rec.stop()
        expected = list(rt.events)
    ev = run.events()
    assert list(ev["seq"]) == [e.seq for e in expected]
    assert list(ev["kind"].astype(str)) == [e.kind for e in expected]
    assert list(ev["time"]) == [e.time for e in expected]
    exit_row = ev[ev["kind"] == "exit"].iloc[0]
    assert exit_row["reason"] == "ValueError: injected"
    assert exit_row["name"] == "a" and exit_row["time"] == 2.0
    spawn = ev[ev["kind"] == "spawn"].iloc[0]
    assert json.loads(spawn["data"]) == {"kind": "agent"}
    info = run.info
    assert (info.seed, info.clock, info.metadata) == (11, "virtual", {"experiment": "basic"})
    assert info.trace_messages == 1.0 and info.dropped == 0
    assert len(info.run_id) == 12


@pytest.fixture
def conversions(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The sizes of the batches the recorder converts to Arrow, in order."""
    sizes: list[int] = []
    real = _recorder.chunk_batch

    def counting(chunk: Any) -> Any:
        batch = real(chunk)
        sizes.append(batch.num_rows)
        return batch

    monkeypatch.setattr(_recorder, "chunk_batch", counting)
    return sizes


async def test_a_burst_is_recorded_whole_and_converted_when_read(conversions: list[int]) -> None:
    async with agentlab.Runtime(clock=agentlab.VirtualClock(), event_capacity=100) as rt:
        rec = Recorder(rt, chunk_size=1000)
        for _ in range(1000):  # one synchronous burst: 4,000 events, no loop turn
            pid = rt.start(Worker)
            rt.exit(pid, "kill")
        await asyncio.sleep(0)
        assert conversions == []  # recording converts nothing ...
        assert len(rec.events()) == 4000  # ... reading sees all of it, converted once
        assert conversions == [1000] * 4
        for _ in range(600):
            pid = rt.start(Worker)
            rt.exit(pid, "kill")
        await asyncio.sleep(0)
        assert len(rec) == 6400
        assert conversions == [1000] * 6 + [400]  # only the new chunks, and the partial one
        run = rec.stop()
    ev = run.events()
    assert list(ev["seq"]) == list(range(1, 6401)) and run.info.dropped == 0
    assert ev["kind"].value_counts().to_dict() == {
        "spawn": 1600, "init": 1600, "exit_signal": 1600, "exit": 1600,
    }


async def test_dropping_at_capacity_counts_every_event_and_converts_none_of_them(
    conversions: list[int],
) -> None:
    async with agentlab.Runtime(clock=agentlab.VirtualClock(), event_capacity=100) as rt:
        rec = Recorder(rt, capacity=2000, chunk_size=500)
        for i in range(1700):  # 6,800 events, with loop turns now and then
            pid = rt.start(Worker)
            rt.exit(pid, "kill")
            if i % 300 == 0:
                await asyncio.sleep(0)
        ev = rec.events()
        assert sum(conversions) == len(ev)  # dropped chunks were never converted
    assert rec.dropped + len(ev) == 6800
    assert rec.dropped == 4500 and len(ev) == 2300  # 4 whole chunks and a partial one
    assert list(ev["seq"]) == list(range(4501, 6801))
    assert rec.info.dropped == 4500


async def test_spilling_a_live_recording_keeps_every_event(tmp_path) -> None:
    async with agentlab.Runtime(clock=agentlab.VirtualClock(), event_capacity=100) as rt:
        rec = Recorder(rt, capacity=1000, chunk_size=500, overflow="spill", spill_dir=tmp_path)
        for _ in range(1000):  # 4,000 events in one burst: spilled at the next loop turn
            pid = rt.start(Worker)
            rt.exit(pid, "kill")
        assert rec.spilled == []
        await asyncio.sleep(0)
        assert len(rec.spilled) == 5  # 1,000 events held, the 2,500 before them on disk
        for _ in range(100):
            pid = rt.start(Worker)
            rt.exit(pid, "kill")
        run = rec.stop()
    assert run.info.dropped == 0
    assert list(run.events()["seq"]) == list(range(1, 4401))
    on_disk = load(tmp_path).events()
    assert list(on_disk["seq"]) == list(range(1, 1 + 500 * len(rec.spilled)))


async def test_text_is_made_when_converted_and_convert_after_makes_it_early() -> None:
    async with agentlab.Runtime(clock=agentlab.VirtualClock()) as rt:
        lazy = Recorder(rt, chunk_size=1)
        eager = Recorder(rt, chunk_size=1, convert_after=0)
        note = {"step": 1}
        rt.emit("user", None, note=note)
        rt.flush_events()
        await asyncio.sleep(0)  # eager converts at this loop turn
        note["step"] = 2
        texts = [rec.events().query("kind == 'user'")["data"].iloc[0] for rec in (lazy, eager)]
    assert [json.loads(t) for t in texts] == [{"note": {"step": 2}}, {"note": {"step": 1}}]


def test_conversion_gives_exact_columns() -> None:
    """Every column of a converted batch, checked against the events one by one."""
    crash = agentlab.Crash("KeyError", "'x'")

    class Loud(str):
        def __str__(self) -> str:
            return "loud"

    names = ("kind",)  # the runtime's stored form of {"kind": "agent"}: names, then values
    raw = [
        (1, 0.5, 1.7e9, "spawn", 7, "a", "root/a", None, None, names, "agent"),
        (2, 0.5, 1.7e9 + 1e-6, "spawn", 8, None, None, 7, None, names, "agent"),
        (3, 1.0, 1.7e9 + 2e-6, "exit", 7, "a", "root/a", None, crash, None),
        (4, 1.0, 1.7e9 + 3e-6, "exit", 8, None, None, None, Loud("x"), {"n": 1}),
        (5, 2.0, 1.7e9 + 4e-6, "user", 0, 5, None, 0, ("shutdown", "x"), {"n": True}),
        (6, 2.0, 1.7e9 + 5e-6, "user", 0, None, None, None, "x", {"n": 1.0}),
        (7, 3.0, 1.7e9 + 6e-6, "user", 0, None, None, None, None, {"n": 1}),
    ]
    table = pa.Table.from_batches([to_batch(raw)])
    assert table.schema == SCHEMA
    assert table.column("seq").to_pylist() == [e[0] for e in raw]
    assert table.column("time").to_pylist() == [e[1] for e in raw]
    walls = table.column("wall").cast(pa.int64()).to_pylist()
    assert walls == [int(e[2] * 1e9) for e in raw]
    assert table.column("kind").to_pylist() == [e[3] for e in raw]
    assert table.column("pid").to_pylist() == [e[4] for e in raw]
    assert table.column("name").to_pylist() == ["a", None, "a", None, "5", None, None]
    assert table.column("path").to_pylist() == [e[6] for e in raw]
    assert table.column("peer").to_pylist() == [e[7] for e in raw]
    assert table.column("reason").to_pylist() == [
        None, None, "KeyError: 'x'", "loud", "('shutdown', 'x')", "x", None,
    ]
    assert table.column("data").to_pylist() == [
        '{"kind":"agent"}', '{"kind":"agent"}', None, '{"n":1}', '{"n":true}', '{"n":1.0}',
        '{"n":1}',
    ]
    # records that share their field names keep their own values
    spawns = [(9, 0.0, 1.7e9, "spawn", i, None, None, None, None, names, f"k{i}") for i in range(3)]
    assert pa.Table.from_batches([to_batch(spawns)]).column("data").to_pylist() == [
        '{"kind":"k0"}', '{"kind":"k1"}', '{"kind":"k2"}',
    ]


async def test_stop_unsubscribes() -> None:
    async with agentlab.Runtime(clock=agentlab.VirtualClock()) as rt:
        rec = Recorder(rt)
        rt.start(Worker)
        n = len(rec)
        rec.stop()
        assert not rec.recording
        rt.start(Worker)
        assert len(rec) == n


async def test_from_events_matches_live_recording() -> None:
    async with agentlab.Runtime(clock=agentlab.VirtualClock()) as rt:
        live = Recorder(rt, chunk_size=2, run_id="same")
        pid = rt.start(Worker, name="w")
        await rt.call(pid, "ping")
        rt.exit(pid, "kill")
        live.stop()
        later = Recorder.from_events(rt.events, run_id="same", chunk_size=5)
    pd.testing.assert_frame_equal(live.events(), later.events())
    pd.testing.assert_frame_equal(live.processes(), later.processes())


async def test_backfill_copies_what_the_runtime_log_holds() -> None:
    async with agentlab.Runtime(clock=agentlab.VirtualClock()) as rt:
        rt.start(Worker, name="early")
        rec = Recorder(rt, backfill=True)
        rt.start(Worker, name="late")
        names = set(rec.processes()["name"].astype(str))
    assert names == {"early", "late"}


async def test_event_log_overflow_is_reported_not_hidden() -> None:
    async with agentlab.Runtime(clock=agentlab.VirtualClock(), event_capacity=5) as rt:
        for _ in range(4):
            rt.start(Worker)
        run = Recorder.from_events(rt.events).run()
        dropped = rt.events.dropped
    assert dropped > 0
    assert run.info.dropped == dropped
    assert "dropped" in run._repr_html_()


def _stream(n: int) -> list[agentlab.Event]:
    s = Script()
    for i in range(n):
        s.at(float(i)).emit("spawn", 100 + i, kind="process")
    return s.events


def test_capacity_drops_oldest_chunks_and_counts_them() -> None:
    rec = Recorder(capacity=10, chunk_size=5)
    for ev in _stream(23):
        rec.record(ev)
    assert rec.dropped == 10
    ev = rec.events()
    assert list(ev["seq"]) == list(range(11, 24))
    assert rec.info.dropped == 10


def test_gaps_in_sequence_numbers_count_as_dropped() -> None:
    events = [e for e in _stream(10) if e.seq not in (4, 5)]
    run = Recorder.from_events(events).run()
    assert run.info.dropped == 2


def test_spill_writes_parquet_chunks_and_keeps_everything(tmp_path) -> None:
    rec = Recorder(capacity=10, chunk_size=5, overflow="spill", spill_dir=tmp_path, run_id="sp")
    for ev in _stream(23):
        rec.record(ev)
    assert rec.dropped == 0
    assert len(rec.spilled) == 2 and all(p.exists() for p in rec.spilled)
    assert list(rec.events()["seq"]) == list(range(1, 24))
    spilled_part = load(tmp_path)  # the folder holds the spilled part of one run
    assert list(spilled_part.events()["seq"]) == list(range(1, 11))
    assert spilled_part.run_id == "sp"


def test_values_json_cannot_hold_become_text() -> None:
    class Thing:
        def __repr__(self) -> str:
            return "<thing>"

    crash = agentlab.Crash("KeyError", "'x'")
    s = Script()
    s.emit("user", 5, reason=("shutdown", "reconfigured"), value=Thing(), pair=(1, 2), tags={"b"})
    s.emit("user", 5, reason=crash, nested={1: "int key"})
    s.emit("user", 5, reason=Thing())
    ev = Recorder.from_events(s.events).events()
    assert list(ev["reason"].astype(str)) == ["('shutdown', 'reconfigured')", "KeyError: 'x'", "<thing>"]
    assert json.loads(ev["data"][0]) == {"value": "<thing>", "pair": [1, 2], "tags": ["'b'"]}
    assert json.loads(ev["data"][1]) == {"nested": {"1": "int key"}}
    assert pd.isna(ev["data"][2])


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="overflow"):
        Recorder(overflow="wrap")
    with pytest.raises(ValueError, match="capacity"):
        Recorder(capacity=0)


def test_events_dtypes_are_documented_ones() -> None:
    ev = Recorder.from_events(_stream(3)).events()
    assert {c: str(t) for c, t in ev.dtypes.items()} == {
        "seq": "int64",
        "time": "float64",
        "wall_time": "datetime64[ns, UTC]",
        "kind": "category",
        "pid": "int64",
        "name": "category",
        "path": "category",
        "supervisor": "category",
        "peer": "Int64",
        "reason": "category",
        "data": "string",
        "tuples": "string",
    }
    empty = Recorder().events()
    assert list(empty.columns) == list(ev.columns) and len(empty) == 0


@pytest.mark.parametrize("chunk_size", [1, 7, 500, 512, 513, 5000])
@pytest.mark.parametrize("clock", ["real", "virtual"])
async def test_chunks_cut_anywhere_keep_every_number_exact(chunk_size: int, clock: str) -> None:
    # The runtime hands the recorder its own chunks (512 events, numbers in columns);
    # the recorder cuts and joins them into chunks of chunk_size, mixed with events
    # recorded one by one. Every event's number and times must come out as the
    # runtime's log has them (real clock: walls are time + the runtime's offset).
    c = agentlab.VirtualClock() if clock == "virtual" else None
    async with agentlab.Runtime(clock=c, event_capacity=10_000) as rt:
        rec = Recorder(rt, chunk_size=chunk_size, capacity=None)
        for i in range(700):
            pid = rt.start(Worker)
            rt.exit(pid, "kill")
            if i % 250 == 0:
                await asyncio.sleep(0)  # the recorder tidies at loop turns
        rt.flush_events()
        expected = [*rt.events]
        extra = agentlab.Event.make(expected[-1].seq + 1, 9.0, 1.7e9, "user")
        rec.record(extra)  # one by one, after the runtime's chunks
        expected.append(extra)
        ev = rec.events()
        rec.stop()
    assert len(ev) == len(expected) == 2801
    assert list(ev["seq"]) == [e.seq for e in expected]
    assert list(ev["time"]) == [e.time for e in expected]
    walls = ev["wall_time"].astype("int64").tolist()
    assert walls == [int(e.wall * 1e9) for e in expected]
    assert list(ev["kind"].astype(str))[-3:] == ["exit_signal", "exit", "user"]
