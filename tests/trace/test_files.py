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
    assert header["format"] == "agentlab.trace" and header["version"] == 1
    assert header["run"]["metadata"] == {"case": "files", "n": [1, 2]}
    assert b"pandas" not in meta  # nothing for pandas to rebuild objects from
    table = pq.read_table(path)
    assert table.schema.field("data").type == pa.string()


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
