"""Feeds: live runtimes, recorded runs in every shape, scrubbing."""

from __future__ import annotations

import pytest

from agentlab import Event, EventLog
from agentlab.ui._feed import LiveFeed, RecordedFeed, as_feed, events_from
from agentlab.ui._synthetic import team_run


def test_recorded_runs_in_every_shape():
    evs = team_run()
    log = EventLog()
    for e in evs:
        log.append(e)

    class Trace:
        def to_events(self):
            return evs

    class Holder:
        events = evs

    for src in (evs, tuple(evs), log, Trace(), Holder(), [tuple(e) for e in evs], [e.as_dict() for e in evs]):
        assert events_from(src) == evs


def test_a_dataframe_of_events():
    pd = pytest.importorskip("pandas")
    evs = team_run()
    df = pd.DataFrame([e.as_dict() for e in evs])
    back = events_from(df)
    assert [e.kind for e in back] == [e.kind for e in evs]
    assert back[0].peer is None  # NaN turned back into None


def test_bad_input_says_what_to_pass():
    with pytest.raises(TypeError, match="agentlab.Event"):
        events_from([1, 2])


def test_seek_rebuilds_views_backwards_and_advances_forwards():
    evs = team_run()
    feed = as_feed(evs)
    assert isinstance(feed, RecordedFeed) and feed.cursor == len(evs)
    calls = []

    class View:
        def _handlers(self):
            return {}

        def _rebuild(self, events):
            calls.append(("rebuild", len(events)))

        def _advance(self, events):
            calls.append(("advance", len(events)))

    feed.attach(View())
    feed.seek(10)
    feed.seek(25)
    feed.seek(25)
    feed.seek(10_000)
    assert calls == [("rebuild", len(evs)), ("rebuild", 10), ("advance", 15), ("advance", len(evs) - 25)]
    assert feed.now() == evs[-1].time
    assert feed.seek_time(evs[5].time) == 6


def test_live_feed_is_shared_per_runtime(run):
    import agentlab

    async def main():
        rt = agentlab.Runtime()
        try:
            a, b = as_feed(rt), as_feed(rt)
            assert a is b and isinstance(a, LiveFeed)
            assert as_feed(None) is a  # the current runtime
        finally:
            await rt.shutdown()

    run(main())


def test_a_broken_view_does_not_stop_the_others(run, caplog):
    import agentlab

    async def main():
        rt = agentlab.Runtime()
        feed = as_feed(rt)
        seen = []

        class Bad:
            def _handlers(self):
                return {"user": lambda ev: 1 / 0}

            def _rebuild(self, events):
                pass

        class Good(Bad):
            def _handlers(self):
                return {"user": seen.append}

        feed.attach(Bad())
        feed.attach(Good())
        rt.emit("user", note=1)
        await rt.shutdown()
        return seen

    seen = run(main())
    assert len(seen) == 1 and isinstance(seen[0], Event)
    assert "a view failed" in caplog.text


def test_a_recorded_trace_saved_and_loaded(run, tmp_path):
    trace = pytest.importorskip("agentlab.trace")
    import agentlab
    import agentlab.ui as ui

    class W(agentlab.Agent):
        pass

    async def main():
        rt = agentlab.Runtime()
        rec = trace.Recorder(rt)
        rt.start(agentlab.Supervisor, [agentlab.ChildSpec("a", W), agentlab.ChildSpec("b", W)],
                 name="sup", intensity=5)
        await rt.settled()
        rt.exit(next(p for p in rt.processes() if p.path and p.path.endswith("/a")), "kill")
        await rt.settled()
        recorded = rec.stop()
        await rt.shutdown()
        return recorded

    recorded = run(main())
    recorded.save(tmp_path / "run.parquet")
    for src in (recorded, trace.load(tmp_path / "run.parquet")):
        dash = ui.dashboard(src)
        nodes = {n["label"]: n for n in dash.tree.snapshot["view"]["nodes"]}
        assert nodes["a"]["restarts"] == 1 and nodes["a"]["exit"] == "killed"
        assert [m["kind"] for m in dash.timeline.snapshot["view"]["marks"]] == ["killed", "restart"]


def test_a_burst_reaches_the_views_over_several_loop_turns_in_order(run, monkeypatch):
    # A callback that makes thousands of events at once (a cell killing hundreds of
    # processes) hands the views BURST of them in that turn; the rest follow in later
    # turns, in order, so the views' work never stops the loop for long.
    import asyncio

    import agentlab

    monkeypatch.setattr(LiveFeed, "BURST", 10)

    class Counting:
        def __init__(self):
            self.seen = []
            self.rebuilt = []

        def _handlers(self):
            return {"user": lambda ev: self.seen.append(ev.data["n"])}

        def _rebuild(self, events):
            self.rebuilt = [e.data["n"] for e in events if e.kind == "user"]

    async def main():
        rt = agentlab.Runtime()
        feed = as_feed(rt)
        a = Counting()
        feed.attach(a)
        for i in range(35):
            rt.emit("user", n=i)
        assert a.seen == list(range(10)) and feed.behind == 25  # the rest waits, in order
        turns = 0
        while feed.behind:
            await asyncio.sleep(0)
            turns += 1
        assert a.seen == list(range(35)) and turns >= 3  # 10 a turn
        # a view attached while a burst waits replays the log once, then goes on with the others
        for i in range(35, 60):
            rt.emit("user", n=i)
        b = Counting()
        feed.attach(b)
        assert feed.behind == 0 and a.seen == list(range(60))
        assert b.rebuilt == list(range(60)) and b.seen == []
        rt.emit("user", n=60)  # this turn's share is used up: it waits for the next
        await asyncio.sleep(0)
        assert a.seen[-1] == 60 and b.seen == [60]
        # settle() waits for a burst too
        from agentlab.ui import settle

        view = agentlab.ui.TokenStream(rt)
        for i in range(61, 200):
            rt.emit("user", n=i)
        assert feed.behind > 0
        await settle(view)
        assert feed.behind == 0 and a.seen == list(range(200))
        await rt.shutdown()

    run(main())
