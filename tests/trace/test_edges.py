"""Edges of the trace layer: files saved twice, spills that fail, damaged headers,
recordings that begin late, and the CLI's answers to bad input."""

from __future__ import annotations

import json
import logging

import pandas as pd
import pyarrow.parquet as pq
import pytest
from test_files import _crashy_run
from trace_helpers import Script, Worker

import agentlab
from agentlab.trace import Recorder, TraceFormatError, load, load_all
from agentlab.trace._cli import main
from agentlab.trace._html import format_value
from agentlab.trace._schema import METADATA_KEY


def _numbered(n: int) -> Script:
    s = Script()
    for i in range(n):
        s.at(float(i)).emit("user", 1, n=i)
    return s


def test_a_run_saved_next_to_its_spilled_parts_loads_each_event_once(tmp_path) -> None:
    rec = Recorder(capacity=10, chunk_size=5, overflow="spill", spill_dir=tmp_path, run_id="sp")
    for e in _numbered(23).events:
        rec.record(e)
    run = rec.run()
    assert rec.spilled and len(run) == 23
    run.save(tmp_path)  # a folder: <run_id>.parquet beside the spilled parts
    back = load(tmp_path)
    assert back.events()["seq"].tolist() == list(range(1, 24))
    assert back.info.dropped == 0


def test_the_same_run_saved_twice_in_a_folder_is_one_run(tmp_path) -> None:
    run = Recorder.from_events(_numbered(23).events, run_id="twice").run()
    run.save(tmp_path / "monday.parquet")
    run.save(tmp_path / "copy.parquet")
    (only,) = load_all(tmp_path)
    assert len(only) == 23 and only.summary()["events"] == 23
    pd.testing.assert_frame_equal(only.events(), run.events())


async def test_a_failing_spill_drops_and_counts_and_says_so(tmp_path, caplog) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    async with agentlab.Runtime(clock=agentlab.VirtualClock(), seed=3) as rt:
        rec = Recorder(rt, capacity=1000, chunk_size=500, overflow="spill",
                       spill_dir=blocker / "spill")
        with caplog.at_level(logging.ERROR, logger="agentlab.trace"):
            for _ in range(1000):  # spawn, init, exit, down...: 4 events each
                rt.exit(rt.start(Worker), "kill")
            run = rec.stop()
    recorded = rt.events.dropped + len(rt.events)  # everything the runtime emitted
    assert len(run) + run.info.dropped == recorded
    assert run.info.dropped >= 2000 and rec.dropped == run.info.dropped
    assert isinstance(rec.spill_error, OSError)
    errors = [r for r in caplog.records if "could not spill" in r.getMessage()]
    assert len(errors) == 1 and str(blocker / "spill") in errors[0].getMessage()


def test_a_full_recorder_holds_whole_chunks_as_documented() -> None:
    events = _numbered(3000).events
    for cap, chunk in [(1000, 300), (1000, 700), (1000, 1000)]:
        rec = Recorder(capacity=cap, chunk_size=chunk)
        for e in events:
            rec.record(e)
        held = len(rec.events())
        assert cap - chunk < held < cap + chunk, (cap, chunk, held)
        assert held + rec.dropped == 3000


def _rewrite(path, tmp_path, name, change) -> str:
    table = pq.read_table(path)
    meta = json.loads(table.schema.metadata[METADATA_KEY])
    change(meta)
    out = tmp_path / name
    pq.write_table(table.replace_schema_metadata({METADATA_KEY: json.dumps(meta).encode()}), out)
    return str(out)


@pytest.mark.parametrize(
    ("name", "change", "says"),
    [
        ("run_list.parquet", lambda m: m.update(run=[1, 2]), "'run' is list"),
        ("run_empty.parquet", lambda m: m.update(run={}), "lacks its run_id"),
        ("version_text.parquet", lambda m: m.update(version="1"), "format version is '1'"),
        ("meta_text.parquet", lambda m: m["run"].update(metadata="oops"), "metadata is str"),
        ("dropped_text.parquet", lambda m: m["run"].update(dropped="2"), "dropped count is '2'"),
        ("ended_text.parquet", lambda m: m["run"].update(ended="late"), "ended is 'late'"),
    ],
)
async def test_a_damaged_header_is_a_trace_format_error(tmp_path, name, change, says) -> None:
    good = (await _crashy_run()).save(tmp_path / "good.parquet")
    bad = _rewrite(good, tmp_path, name, change)
    with pytest.raises(TraceFormatError, match="damaged") as info:
        load(bad)
    assert says in str(info.value) and name in str(info.value)
    assert main(["summary", bad]) == 1  # one line, no traceback


async def test_damaged_rows_are_a_trace_format_error(tmp_path, capsys) -> None:
    good = (await _crashy_run()).save(tmp_path / "good.parquet")
    raw = bytearray(good.read_bytes())
    for i in range(200, 400):  # inside the data pages; the footer stays readable
        raw[i] ^= 0xFF
    bad = tmp_path / "damaged.parquet"
    bad.write_bytes(bytes(raw))
    with pytest.raises(TraceFormatError, match="damaged agentlab trace"):
        load(bad)
    assert main(["summary", str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err


async def _late_recording() -> agentlab.trace.Run:
    """'old' runs from t=0; recording covers t=1000..1006 with three restarts of 'w'
    at 1001, 1002 and 1003, and 'old' is killed at 1005."""
    async with agentlab.Runtime(clock=agentlab.VirtualClock(), seed=3) as rt:
        old = rt.start(Worker, name="old")
        await rt.sleep(1000)
        rec = Recorder(rt)
        await rt.start_async(agentlab.Supervisor, [agentlab.ChildSpec("w", Worker, name="w")],
                             intensity=5, period=5, name="sup")
        for t in (1, 2, 3):
            rt.send_after("w", "crash", t)
        await rt.sleep(5)
        rt.exit(old, "kill")
        await rt.sleep(1)
        return rec.stop()


async def test_a_late_recording_counts_from_when_it_began(tmp_path) -> None:
    run = await _late_recording()
    assert run.info.began == 1000.0 and run.info.ended == 1006.0
    assert run.summary()["duration"] == 6.0
    rate = run.restart_rate(window=1.0)
    assert rate.index.tolist() == [1000.0 + i for i in range(7)]
    assert rate["total"].tolist() == [0, 1, 1, 1, 0, 0, 0]
    old = run.availability().set_index("slot").loc["old"]
    assert (old["uptime"], old["downtime"]) == (5.0, 1.0)  # up since before t=1000
    left, right = run.plot_timeline().axes[0].get_xlim()
    assert left == 1000.0 and 1006.0 < right < 1006.5
    assert run.plot_restarts().axes[0].get_ylabel() == "restarts per 0.2 s"
    again = load(run.save(tmp_path / "late.parquet"))
    assert again.info.began == 1000.0
    pd.testing.assert_frame_equal(again.restart_rate(), run.restart_rate())


async def test_a_process_up_throughout_a_late_recording_is_available() -> None:
    async with agentlab.Runtime(clock=agentlab.VirtualClock(), seed=3) as rt:
        a = rt.start(Worker, name="a")
        await rt.sleep(1)
        rec = Recorder(rt)  # nothing is spawned while it records
        await rt.sleep(4)
        rt.exit(a, "kill")
        await rt.sleep(1)
        run = rec.stop()
    row = run.availability().set_index("slot").loc["a"]
    assert (row["uptime"], row["downtime"], row["availability"]) == (4.0, 1.0, 0.8)


async def test_duration_lasts_until_recording_ended() -> None:
    async with agentlab.Runtime(clock=agentlab.VirtualClock(), seed=3) as rt:
        rec = Recorder(rt)
        rt.start(Worker, name="a")
        await rt.sleep(10)
        run = rec.stop()
    assert run.summary()["duration"] == 10.0


async def test_infinite_metadata_is_shown(capsys, tmp_path) -> None:
    async with agentlab.Runtime(clock=agentlab.VirtualClock(), seed=3) as rt:
        rec = Recorder(rt, metadata={"budget": float("inf"), "floor": float("-inf")})
        rt.start(Worker)
        run = rec.stop()
    assert "∞" in run._repr_html_() and "-∞" in run._repr_html_()
    assert format_value(float("inf")) == "∞"
    assert main(["summary", str(run.save(tmp_path / "inf.parquet"))]) == 0
    assert "∞" in capsys.readouterr().out


async def test_plot_rejects_bad_options_and_says_where_it_wrote(tmp_path, capsys) -> None:
    path = str((await _crashy_run()).save(tmp_path / "run.parquet"))
    for bad in (["--dpi", "0"], ["--max-lanes", "0"], ["--max-lanes", "-3"], ["--dpi", "x"]):
        assert main(["plot", path, *bad]) == 2, bad
    assert "is not positive" in capsys.readouterr().err
    assert main(["plot", path, "-o", str(tmp_path / "t.xyz")]) == 2
    assert "cannot write a .xyz image" in capsys.readouterr().err
    assert main(["plot", path, "-o", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err
    assert main(["plot", path, "-o", str(tmp_path / "noext")]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {tmp_path / 'noext.png'}"
    assert (tmp_path / "noext.png").stat().st_size > 1000
    with pytest.raises(ValueError, match="max_lanes"):
        load(path).plot_timeline(max_lanes=0)


def test_an_empty_headroom_table_has_text_supervisors() -> None:
    run = Recorder.from_events(Script().events).run()
    assert run.intensity_headroom()["supervisor"].dtype == object
