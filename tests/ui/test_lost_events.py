"""A run that lost events says so in every view, live and static, in every form it is given.

A recorder past its capacity drops its oldest events (``run.info.dropped`` counts
them); a runtime's log past its ``event_capacity`` too. The views of such a run
show a partial picture (a tree without the supervisor whose spawn was dropped, a
timeline that starts late): each says how many events were lost, and the time
none of them is later than.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

import agentlab
import agentlab.ui as ui
from agentlab import ChildSpec, Supervisor
from agentlab.ui._feed import RecordedFeed, as_feed

from .test_static import shown

trace = pytest.importorskip("agentlab.trace")

KINDS = (ui.SupervisionTree, ui.TokenStream, ui.Timeline, ui.SequenceDiagram)


class Worker(agentlab.Agent):
    def handle_call(self, request, caller):
        if request == "crash":
            raise ValueError("asked to")
        return request


async def _busy(rt: agentlab.Runtime) -> None:
    """A supervised team, then enough calls and crashes for a few hundred events."""
    rt.start(Supervisor, [ChildSpec("a", Worker, name="a"), ChildSpec("b", Worker, name="b")],
             strategy="one_for_one", intensity=100, period=5, name="team")
    for i in range(40):
        await rt.call("a", i)
        await rt.call("b", i)
        if i % 10 == 9:
            with pytest.raises(agentlab.CalleeExited):
                await rt.call("a", "crash")
            await rt.settled()
        await rt.sleep(0.01)


async def _lossy_run(tmp_path: Path) -> tuple[Any, Path]:
    """A run recorded with room for 64 events (it drops the oldest), and its saved trace."""
    rt = agentlab.Runtime(clock=agentlab.VirtualClock(), seed=3, lag_threshold=None)
    rec = trace.Recorder(rt, capacity=64)
    try:
        await _busy(rt)
        run = rec.stop()
    finally:
        await rt.shutdown()
    return run, run.save(tmp_path / "lossy.parquet")


def _note(view: Any) -> Any:
    return view._cfg.get("lost")


async def test_every_view_of_a_run_that_lost_events_says_how_many_and_until_when(tmp_path):
    run, path = await _lossy_run(tmp_path)
    dropped = run.info.dropped
    first = run.to_events()[0]
    assert dropped > 0 and first.seq == dropped + 1  # the oldest went: none after the first kept
    frame = run.events()
    text = (f"⚠ {dropped:,} events of this run were lost (none after "
            f"{math.ceil(first.time * 100 - 1e-9) / 100:.2f} s on the runtime's clock)")
    for source in (run, trace.load(path), str(path), path, frame, frame[frame["kind"] != "link"]):
        feed = RecordedFeed(source)
        assert feed.lost is not None and feed.lost["count"] == dropped, type(source).__name__
        assert feed.lost["before"] == first.time
        for kind in KINDS:
            view = kind(source)
            try:
                lost = _note(view)
                assert lost == feed.lost  # what goes to the browser (the config)
                assert lost["text"].startswith(text)
                html = view.to_html()
                assert text in "".join(shown(html).texts)  # the static picture says it too
                assert f'data-count="{dropped}"' in html
            finally:
                view.close()
    dash = ui.dashboard(path)
    try:
        assert all(_note(v)["count"] == dropped for v in dash.views)
        assert sum(t.startswith(text) for t in shown(dash.to_html()).texts) == 4
    finally:
        dash.close()


async def test_a_recorder_and_a_runtimes_own_log_say_what_they_dropped(tmp_path):
    rt = agentlab.Runtime(clock=agentlab.VirtualClock(), seed=3, lag_threshold=None, event_capacity=100)
    rec = trace.Recorder(rt, capacity=64)
    try:
        await _busy(rt)
        assert RecordedFeed(rec).lost["count"] == rec.info.dropped > 0  # the recorder itself, recording
        log = rt.events
        assert log.dropped > 0
        feed = RecordedFeed(log)  # the log, as a recorded run
        assert feed.lost["count"] == log.dropped and feed.lost["before"] == log[0].time
        # a live view opened now replays the log: it misses what the log dropped, and says so
        tree = ui.SupervisionTree(rt)
        try:
            live = _note(tree)
            assert live["count"] == log.dropped and live["before"] == log[0].time
            assert live["text"].startswith(f"⚠ the runtime's event log had dropped {log.dropped:,} events")
            assert "when this view opened" in "".join(shown(tree.to_html()).texts)
        finally:
            tree.close()
    finally:
        rec.stop()
        await rt.shutdown()


async def test_a_run_that_lost_nothing_says_nothing(tmp_path):
    rt = agentlab.Runtime(clock=agentlab.VirtualClock(), seed=3, lag_threshold=None)
    rec = trace.Recorder(rt)
    try:
        await _busy(rt)
        run = rec.stop()
        tree = ui.SupervisionTree(rt)  # live, with the whole log
        assert _note(tree) is None and "were lost" not in tree.to_html()
        tree.close()
    finally:
        await rt.shutdown()
    assert run.info.dropped == 0
    for source in (run, run.events(), run.save(tmp_path / "whole.parquet"), run.to_events()):
        view = ui.Timeline(source)
        assert _note(view) is None and "were lost" not in view.to_html()
        view.close()


async def test_a_plain_list_of_events_cannot_say_and_rows_of_the_frame_can(tmp_path):
    run, _ = await _lossy_run(tmp_path)
    # a list of events carries no count: the view cannot say (use the Run, its frame or its file)
    assert RecordedFeed(run.to_events()).lost is None
    # the frame carries its run's id, dropped count and the time none was later than; rows
    # of it keep them (the rows' own gaps in seq are no losses: the time is the run's)
    frame = run.events()
    first = run.to_events()[0]
    assert frame.attrs["agentlab.run"] == {"run_id": run.run_id, "dropped": run.info.dropped,
                                           "lost_before": first.time}
    rows = frame[frame["kind"] == "exit"]
    assert rows.attrs["agentlab.run"] == frame.attrs["agentlab.run"]
    assert as_feed(rows).lost == RecordedFeed(run).lost
    assert as_feed(rows).lost["before"] == first.time < rows["time"].min()
    # a frame made otherwise says nothing of its run
    made = rows.copy()
    made.attrs.clear()
    assert RecordedFeed(made).lost is None


def test_a_gap_in_the_run_puts_the_time_after_it():
    # a spill that failed drops a chunk between two kept ones: a gap in seq, counted in
    # info.dropped; no lost event is later than the first event after the gap
    ev = agentlab.Event.make
    events = [ev(seq, seq / 10, 0.0, "spawn", 100 + seq, None, None, None, None, {"kind": "agent"})
              for seq in (*range(5, 9), *range(20, 25))]
    run = trace.Recorder.from_events(events).run()
    assert run.info.dropped == 11  # the gap (before seq 5 nothing says anything was lost)
    lost = RecordedFeed(run).lost
    assert lost["count"] == 11 and lost["before"] == 2.0
    # nothing shows where: no time is said
    from agentlab.ui._feed import lost_note

    assert lost_note(3, None)["text"] == ("⚠ 3 events of this run were lost: what is shown may be "
                                          "incomplete")
    # the time is rounded up, never down (no lost event is later than it), and not past
    # a time that is already a whole hundredth
    assert "none after 0.62 s" in lost_note(1, 0.62)["text"]
    assert "none after 0.63 s" in lost_note(1, 0.6201)["text"]
    assert "none after 8.00 s" in lost_note(1, 7.9951)["text"]
