"""A recorded run shows in the views what the live run showed, in every form it is given.

A run reaches a view as a ``trace.Run`` (or a recorder), as its ``events()`` frame
(or rows of it), or as the path of a trace saved with ``Run.save``. Each test
records a real run while a live dashboard follows it, keeps what the live views
showed at some moments, and compares the recorded views scrubbed to those moments.
"""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path
from typing import Any

import pytest

import agentlab
import agentlab.ui as ui
from agentlab import ChildSpec, DynamicSupervisor, Supervisor
from agentlab.ui import _feed
from agentlab.ui._feed import RecordedFeed, events_from
from agentlab.ui._pending import Pending
from agentlab.ui._sequence import SequenceModel
from agentlab.ui._stream import StreamModel
from agentlab.ui._timeline import TimelineModel
from agentlab.ui._tree import TreeModel

trace = pytest.importorskip("agentlab.trace")

VIEWS = ("tree", "stream", "timeline", "sequence")
#: what only a live view has: the clock it ticks on, token rates and mailbox depths
#: read from running processes, a scrub bar's position
LIVE_ONLY = {"now", "tps", "mailbox", "cursor"}


def _plain(value: Any) -> Any:
    """A view's state as the browser gets it (JSON), without the live-only fields."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if k not in LIVE_ONLY}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _state(dash: Any) -> list[Any]:
    return [_plain(json.loads(json.dumps(v.view_state(), default=str))) for v in dash.views]


def _exits(dash: Any) -> dict[str, Any]:
    """What the tree's details panel says about each node's last exit (live: with the
    traceback, which a trace does not keep)."""
    out = {}
    for node in dash.tree.view_state()["nodes"]:
        d = dash.tree.details(node["key"])
        ex = d["exit_detail"]
        out[node["key"]] = None if ex is None else (ex["type"], ex["message"])
    return out


class Worker(agentlab.Agent):
    def init(self, n=0):
        self.n = n

    def handle_call(self, request, caller):
        if request == ("crash", "now"):
            raise ValueError("bad request " + "x" * 120)  # longer than a node's exit line
        return ("ok", request)

    def handle_cast(self, msg):
        if msg == ("stop", "please"):
            return agentlab.Stop(("shutdown", ("asked", [1, (2,)])))
        return None


class Broken(agentlab.Agent):
    def init(self):
        raise OSError("no config")


_NESTED = ("ask", ["x", ("y", 1)], {"k": (1, [2, (3,)])})


async def _record(tmp_path: Path) -> tuple[Any, list[tuple[int, list[Any], dict[str, Any]]], Path]:
    """A real run with tuple messages and tuple exit reasons, recorded while a live
    dashboard follows it; what the live views showed after each step, by the seq of
    the last event they had; and the run saved to a file."""
    rt = agentlab.Runtime(clock=agentlab.VirtualClock(), seed=11, lag_threshold=None)
    rec = trace.Recorder(rt)
    live = ui.dashboard(rt)
    moments: list[tuple[int, list[Any], dict[str, Any]]] = []

    async def keep() -> None:
        await ui.settle(live)
        moments.append((rt.events[-1].seq, _state(live), _exits(live)))

    try:
        rt.start(Supervisor, [ChildSpec("a", Worker, name="a"),
                              ChildSpec("b", Worker, name="b", restart="transient"),
                              ChildSpec("c", Worker, name="c")],
                 strategy="rest_for_one", intensity=5, period=5, name="sup")
        await keep()
        assert await rt.call("a", _NESTED) == ("ok", _NESTED)
        rt.cast("b", ("note", (1, 2)))
        rt.send("c", ["a", "list"])
        await keep()
        with pytest.raises(agentlab.CalleeExited):
            await rt.call("a", ("crash", "now"))
        await keep()
        rt.cast("b", ("stop", "please"))  # a transient child stops with {shutdown, _}
        await rt.settled()
        rt.exit(rt.whereis("c"), ("shutdown", "reconfigured"))
        await keep()
        pool = rt.start(DynamicSupervisor, name="pool", intensity=10)
        for i in range(3):
            await DynamicSupervisor.start_child(pool, ChildSpec("w", (Worker, i)))
        rt.exit(next(p for p in rt.processes() if p.path and p.path.startswith("pool/")), "kill")
        await keep()
        # a supervisor whose child fails to start exits with
        # ("shutdown", ("failed_to_start_child", id, <a crash>)): a shutdown, not a crash
        with pytest.raises(agentlab.AgentLabError):
            rt.start(Supervisor, [ChildSpec("ok", Worker), ChildSpec("bad", Broken)], name="team")
        await keep()
        run = rec.stop()
    finally:
        live.close()
        await rt.shutdown()
    return run, moments, run.save(tmp_path / "run.parquet")


def _compare(dash: Any, moments: list[tuple[int, list[Any], dict[str, Any]]]) -> None:
    """Scrub ``dash`` to each moment (forwards, then backwards) and compare with what
    the live views showed then."""
    seqs = [ev.seq for ev in dash.feed.events]
    for seq, shown, exits in [*moments, *reversed(moments)]:
        dash.feed.seek(seqs.index(seq) + 1)
        for name, want, have in zip(VIEWS, shown, _state(dash), strict=True):
            assert have == want, f"the {name} view at event {seq}"
        assert _exits(dash) == exits, f"the tree's details at event {seq}"


async def test_every_form_of_a_recorded_run_shows_what_the_live_views_showed(tmp_path):
    run, moments, path = await _record(tmp_path)
    # the run has what this test is about: tuples in messages and exit reasons
    exits = [ev.reason for ev in run.to_events() if ev.kind == "exit"]
    assert ("shutdown", "reconfigured") in exits and ("shutdown", ("asked", [1, (2,)])) in exits
    assert ("shutdown", ("failed_to_start_child", "bad", "OSError: no config")) in exits
    final = moments[-1][1]
    nodes = {n["label"]: n for n in final[0]["nodes"]}
    assert nodes["b"]["status"] == "stopped" and nodes["b"]["exit"] == "{shutdown, {asked, [1, (2,)]}}"
    assert nodes["c"]["status"] == "running" and nodes["c"]["exit"] == "{shutdown, reconfigured}"
    assert nodes["team"]["status"] == "stopped"
    assert [m["kind"] for m in final[2]["marks"]].count("crash") == 2  # a's and bad's, no shutdown
    labels = [a["label"] for a in final[3]["arrows"]]
    assert labels[0] == "('ask', ['x', ('y', 1)], {'k': (1, [2, (3,)])})"
    assert any(x.startswith("('start_child', ChildSpec('w',") for x in labels)  # an object in it
    frame = run.events()
    for source in (run, trace.load(path), frame, frame[frame["seq"] > 0], str(path), path):
        dash = ui.dashboard(source)
        try:
            _compare(dash, moments)
        finally:
            dash.close()


async def test_each_view_alone_and_a_feed_take_every_form(tmp_path):
    run, moments, path = await _record(tmp_path)
    want = moments[-1][1]
    kinds = (ui.SupervisionTree, ui.TokenStream, ui.Timeline, ui.SequenceDiagram)
    for source in (run, run.events(), str(path), path):
        for i, kind in enumerate(kinds):
            view = kind(source)
            assert _plain(json.loads(json.dumps(view.view_state(), default=str))) == want[i]
            view.close()
        assert RecordedFeed(source).events == run.to_events()
        assert events_from(source) == run.to_events()


def test_a_path_that_is_no_trace_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="no trace at"):
        ui.Timeline(tmp_path / "missing.parquet")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(trace.TraceFormatError, match="not an agentlab trace"):
        ui.dashboard(str(tmp_path / "notes.txt"))


async def test_a_frame_without_the_tuples_column_warns_once(tmp_path, monkeypatch):
    run, _, _ = await _record(tmp_path)
    monkeypatch.setattr(_feed, "_warned_tuples", False)
    bare = run.events().drop(columns="tuples")
    with pytest.warns(UserWarning, match="no 'tuples' column") as caught:
        evs = events_from(bare)
    assert len(caught) == 1
    call = next(ev for ev in evs if ev.kind == "call")
    assert call.data["request"] == ["ask", ["x", ["y", 1]], {"k": [1, [2, [3]]]}]  # lists, as said
    # reasons are text the frame reads back: a tuple reason is a tuple all the same
    assert ("shutdown", "reconfigured") in [ev.reason for ev in evs if ev.kind == "exit"]
    events_from(bare)  # once: no second warning (filterwarnings = error would raise)
    # a frame with nothing that could have been a tuple has nothing to warn about
    monkeypatch.setattr(_feed, "_warned_tuples", False)
    plain = bare[~bare["data"].fillna("").str.contains("[", regex=False)]
    events_from(plain)


def test_a_frame_of_event_dicts_keeps_its_reason_objects():
    pd = pytest.importorskip("pandas")
    crash = agentlab.Crash("ValueError", "bad", "Traceback ...")
    evs = [agentlab.Event.make(1, 0.0, 0.0, "spawn", 101, "a", "sup/a", 100, None, {"kind": "agent"}),
           agentlab.Event.make(2, 1.0, 0.0, "exit", 101, "a", "sup/a", None, crash, None),
           agentlab.Event.make(3, 2.0, 0.0, "exit", 102, "b", "sup/b", None, ("shutdown", "x"), None)]
    back = events_from(pd.DataFrame([e.as_dict() for e in evs]))
    assert [e.reason for e in back] == [None, crash, ("shutdown", "x")]
    assert back[1].reason.traceback == "Traceback ..."


_MODELS = {"tree": TreeModel, "stream": StreamModel, "timeline": TimelineModel,
           "sequence": SequenceModel}


def _live_at(events: list[Any], cut: int) -> list[Any]:
    """What the four live views showed once they had folded ``events[:cut]`` (the tree
    knew each supervisor's strategy and budget from the start, asking it: here, those
    its restart reports give)."""
    known = RecordedFeed(events).supervisors()
    out = []
    for name in VIEWS:
        model = TreeModel(Pending(), known=known) if name == "tree" else _MODELS[name](Pending())
        for ev in events[:cut]:
            model.apply(ev)
        model.tick(events[cut - 1].time if cut else events[0].time)
        out.append(_plain(json.loads(json.dumps(model.snapshot(), default=str))))
    return out


def test_the_demo_saved_and_scrubbed_shows_what_it_showed_live(tmp_path):
    from agentlab.agents._demo import run_demo

    result = asyncio.run(run_demo(seed=7, record=True))
    live = result.events
    path = result.save(tmp_path)
    assert path is not None and path.exists()
    assert [ev.seq for ev in live] == [ev.seq for ev in result.run.to_events()]
    rng = random.Random(7)
    cuts = [len(live), 0, 1, *(rng.randrange(len(live) + 1) for _ in range(30)), len(live)]
    for source in (path, trace.load(path).events(), result.run):
        dash = ui.dashboard(source)
        try:
            for cut in cuts:
                dash.feed.seek(cut)
                want = _live_at(live, cut)
                have = _state(dash)
                for name, w, h in zip(VIEWS, want, have, strict=True):
                    assert h == w, f"the {name} view at event {cut} of {type(source).__name__}"
        finally:
            dash.close()
