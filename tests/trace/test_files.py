"""Parquet files: identical frames back, no pickles, clear errors on wrong files."""

from __future__ import annotations

import json
import pickle

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_llm import _llm_run
from trace_helpers import ScriptedSupervisor

import agentlab
from agentlab.trace import Recorder, TraceFormatError, load, load_all

TABLES = ("events", "processes", "restarts", "messages", "llm_calls", "tool_calls")


async def _crashy_run() -> agentlab.trace.Run:
    async with agentlab.Runtime(clock=agentlab.VirtualClock(), seed=5) as rt:
        rec = Recorder(rt, chunk_size=4, metadata={"case": "files", "n": [1, 2]})
        rt.start(ScriptedSupervisor, ["a", "b"], name="sup")
        rt.send_after("a", "crash", 1.0)
        await rt.sleep(2.0)
        await rt.call("b", ("tuple", 1))
        rt.exit("b", ("shutdown", "reconfigured"))
        await rt.sleep(1.0)
        return rec.stop()


async def test_round_trip_gives_identical_frames(tmp_path, monkeypatch) -> None:
    run = await _crashy_run()
    path = run.save(tmp_path / "run.parquet")
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: pytest.fail("unpickled"))
    again = load(path)
    assert again.info == run.info
    for table in TABLES:
        pd.testing.assert_frame_equal(getattr(run, table)(), getattr(again, table)())
    assert again.mttr() == run.mttr() == 0.5


async def test_round_trip_of_llm_events(tmp_path) -> None:
    run = await _llm_run()
    again = load(run.save(tmp_path))  # a folder: <run_id>.parquet in it
    assert (tmp_path / f"{run.run_id}.parquet").exists()
    for table in TABLES:
        pd.testing.assert_frame_equal(getattr(run, table)(), getattr(again, table)())


async def test_the_file_is_plain_columns_and_json(tmp_path) -> None:
    run = await _crashy_run()
    path = run.save(tmp_path / "run.parquet")
    meta = pq.read_schema(path).metadata
    header = json.loads(meta[b"agentlab.trace"])
    assert header["format"] == "agentlab.trace" and header["version"] == 2
    assert header["run"]["metadata"] == {"case": "files", "n": [1, 2]}
    assert b"pandas" not in meta  # nothing for pandas to rebuild objects from
    table = pq.read_table(path)
    assert table.schema.field("data").type == pa.string()


_NESTED = ("ask", ["x", ("y", 1)], {"k": (1, [2, (3,)])})


async def _tuples_run() -> tuple[agentlab.trace.Run, list[agentlab.Event]]:
    """A run whose messages, call requests, exit reasons and event data hold tuples,
    lists and both nested; and the runtime's own events of it."""
    async with agentlab.Runtime(clock=agentlab.VirtualClock(), seed=3) as rt:
        rec = Recorder(rt, chunk_size=8)
        rt.start(ScriptedSupervisor, ["a", "b"], name="sup")
        rt.send_after("a", _NESTED, 0.5)  # timer_start / timer_fire carry the message
        rt.send_after("a", ["ask", ("x",)], 0.5)
        await rt.sleep(1.0)
        assert await rt.call("b", _NESTED) == _NESTED
        await rt.call("b", [("a", 1), ["b", 2]])
        rt.emit("note", pair=(1, 2), rows=[(1, "a"), (2, "b")], deep={"t": ((),)}, empty=())
        rt.exit("b", ("shutdown", ("reconfigured", [1, (2,)])))
        await rt.sleep(1.0)
        return rec.stop(), list(rt.events)


async def test_round_trip_keeps_tuples_and_lists(tmp_path, monkeypatch) -> None:
    run, live = await _tuples_run()
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: pytest.fail("unpickled"))
    again = load(run.save(tmp_path / "run.parquet"))
    for table in ("events", "messages"):
        pd.testing.assert_frame_equal(getattr(run, table)(), getattr(again, table)())
    # the data exactly as the runtime recorded it, tuples and lists as they were
    assert [e.data for e in again.to_events()] == [e.data for e in live]
    assert again.to_events() == run.to_events()
    calls = [e.data["request"] for e in again.to_events() if e.kind == "call"]
    assert calls == [_NESTED, [("a", 1), ["b", 2]]]
    assert type(calls[0][1][1]) is tuple and type(calls[1]) is list
    fired = [e.data["msg"] for e in again.to_events() if e.kind == "timer_fire"]
    assert fired[:2] == [_NESTED, ["ask", ("x",)]] and type(fired[1]) is list
    assert ("start", "b") in fired  # the supervisor's own restart timer
    note = next(e for e in again.to_events() if e.kind == "note")
    assert note.data == {"pair": (1, 2), "rows": [(1, "a"), (2, "b")], "deep": {"t": ((),)}, "empty": ()}
    # reasons: tuples come back as tuples, text stays text
    exits = [e.reason for e in again.to_events() if e.kind == "exit"]
    assert ("shutdown", ("reconfigured", [1, (2,)])) in exits
    assert [e.reason for e in again.to_events()] == [
        e.reason if e.reason is None or isinstance(e.reason, str | tuple) else str(e.reason)
        for e in live
    ]


async def test_files_of_format_version_1_still_load(tmp_path) -> None:
    run, _ = await _tuples_run()
    path = run.save(tmp_path / "v1.parquet")
    table = pq.read_table(path)  # as version 1 wrote it: no tuples column
    header = json.loads(table.schema.metadata[b"agentlab.trace"])
    header["version"] = header["run"]["version"] = 1
    old = table.drop_columns(["tuples"]).replace_schema_metadata(
        {b"agentlab.trace": json.dumps(header)}
    )
    pq.write_table(old, path)
    again = load(path)
    assert again.info.version == 1
    for table_name in TABLES[1:]:
        pd.testing.assert_frame_equal(getattr(run, table_name)(), getattr(again, table_name)())
    # the events too, but for the tuples column: that version did not say where they were
    assert again.events()["tuples"].isna().all() and run.events()["tuples"].notna().any()
    pd.testing.assert_frame_equal(run.events().drop(columns="tuples"),
                                  again.events().drop(columns="tuples"))
    request = next(e.data["request"] for e in again.to_events() if e.kind == "call")
    assert request == json.loads(json.dumps(_NESTED))  # that version kept tuples as lists
    assert load_all([path, run.save(tmp_path / "v2.parquet")])[0].to_events() == run.to_events()


def test_not_parquet(tmp_path) -> None:
    bad = tmp_path / "notes.parquet"
    bad.write_text("hello")
    with pytest.raises(TraceFormatError, match="not a Parquet file"):
        load(bad)


def test_parquet_but_not_a_trace(tmp_path) -> None:
    other = tmp_path / "other.parquet"
    pq.write_table(pa.table({"x": [1, 2]}), other)
    with pytest.raises(TraceFormatError, match="not an agentlab trace"):
        load(other)


def test_incompatible_version(tmp_path) -> None:
    run = Recorder().run()
    path = run.save(tmp_path / "old.parquet")
    table = pq.read_table(path)
    header = json.loads(table.schema.metadata[b"agentlab.trace"])
    header["version"] = 99
    pq.write_table(table.replace_schema_metadata({b"agentlab.trace": json.dumps(header)}), path)
    with pytest.raises(TraceFormatError, match="version 99"):
        load(path)
    assert issubclass(TraceFormatError, agentlab.AgentLabError)


def test_missing_file_and_folders(tmp_path) -> None:
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "nope.parquet")
    a = Recorder(run_id="a").run()
    b = Recorder(run_id="b").run()
    a.save(tmp_path)
    b.save(tmp_path)
    assert sorted(r.run_id for r in load_all(tmp_path)) == ["a", "b"]
    with pytest.raises(TraceFormatError, match="holds 2 runs"):
        load(tmp_path)
    with pytest.raises(FileNotFoundError, match="no trace at .*gone"):  # not "not Parquet"
        load_all([tmp_path, tmp_path / "gone"])


async def test_objects_and_crashes_in_tuples_read_back_as_they_showed(tmp_path) -> None:
    # a pid in a message is written as its repr; it reads back as text that shows as the
    # pid did; a reason holding a crash reads back as a tuple, the crash as its text
    async with agentlab.Runtime(clock=agentlab.VirtualClock(), seed=3) as rt:
        rec = Recorder(rt)
        rt.start(ScriptedSupervisor, ["a"], name="sup")
        a = rt.whereis("a")
        assert await rt.call("a", ("register", a, [a])) == ("register", a, [a])
        crash = agentlab.Crash("OSError", "disk")
        rt.exit("a", ("shutdown", ("failed_to_start_child", "db", crash)))
        await rt.sleep(1.0)
        run, live = rec.stop(), list(rt.events)
    again = load(run.save(tmp_path / "run.parquet"))
    for events in (run.to_events(), again.to_events()):
        request = next(e.data["request"] for e in events if e.kind == "call")
        assert repr(request) == repr(("register", a, [a])) == f"('register', {a!r}, [{a!r}])"
        assert request == ("register", repr(a), [repr(a)])  # text, equal to the pid's repr
        assert [repr(e.data) for e in events] == [repr(e.data) for e in live]
        reason = next(e.reason for e in events if e.kind == "exit" and e.pid == a.id)
        assert reason == ("shutdown", ("failed_to_start_child", "db", "OSError: disk"))
    assert not run.processes().set_index("pid").loc[a.id, "crashed"]


def test_a_shutdown_reason_written_by_an_earlier_version_is_a_shutdown() -> None:
    from agentlab.trace._schema import is_abnormal, reason_value

    # before a tuple's parts were made literals, a crash in one was written as Crash(...)
    old = "('shutdown', ('failed_to_start_child', 'db', Crash(OSError: disk)))"
    assert reason_value(old) == ("shutdown", "('failed_to_start_child', 'db', Crash(OSError: disk))")
    assert not is_abnormal(old)
    assert reason_value("(not, a tuple)") == "(not, a tuple)"
    assert reason_value("('shutdown', 'x')") == ("shutdown", "x")
