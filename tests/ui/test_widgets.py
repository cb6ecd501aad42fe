"""The anywidget views without a kernel: traits, commands, settle, static fallback."""

from __future__ import annotations

import asyncio
import json

import pytest

import agentlab
import agentlab.ui as ui
from agentlab.ui._synthetic import team_run, tiny_tree_events


class Idle(agentlab.Agent):
    def init(self, label="x"):
        self.label = label

    def handle_call(self, request, caller):
        return request


def cmd(view, name, msg=None):
    """Call a command the way the browser does (through anywidget's command table)."""
    table = type(view)._anywidget_commands
    response, buffers = table[name](view, msg or {}, [])
    if response == {"packed": True}:  # a snapshot: JSON in one binary buffer
        assert len(buffers) == 1 and isinstance(buffers[0], bytes)
        return json.loads(buffers[0])
    assert buffers == []
    return response


def test_recorded_views_start_with_a_snapshot_and_scrub():
    evs = team_run()
    dash = ui.dashboard(evs)
    tree, stream = dash.tree, dash.streams
    assert tree.config["recorded"]["count"] == len(evs) and not tree.config["live"]
    assert tree.snapshot["seq"] == 0 and len(tree.snapshot["view"]["nodes"]) == 8
    sent = []
    stream.send = sent.append  # the browser side of the comm
    assert cmd(tree, "seek", {"index": 12}) == {"ok": True, "cursor": 12}
    assert sent[-1]["type"] == "reset" and sent[-1]["view"]["cursor"] == 12
    assert len(tree.view_state()["nodes"]) < 8  # the tree at event 12
    with pytest.raises(KeyError, match="has streamed yet"):
        stream.text("writer")  # not yet: no model call by event 12
    cmd(stream, "seek", {"index": len(evs)})  # any view's scrub bar moves them all
    assert "heal itself" in stream.text("writer")
    assert cmd(tree, "cmd_kill", {"pid": 101})["ok"] is False


def test_resync_answers_the_current_state_and_seq():
    tree = ui.SupervisionTree(tiny_tree_events())
    r = cmd(tree, "resync")
    assert r["seq"] == tree.seq and [n["label"] for n in r["view"]["nodes"]] == ["team", "writer", "critic"]


def test_the_snapshot_trait_goes_to_the_browser_as_json_in_a_binary_buffer():
    # as a JSON trait, a 20,000-span timeline cost ipywidgets' buffer walk and the
    # session's json encoder half a second of a stopped event loop
    from ipywidgets.widgets.widget import _remove_buffers

    tree = ui.SupervisionTree(tiny_tree_events())
    state, paths, buffers = _remove_buffers(tree.get_state())
    assert "snapshot" not in state and paths == [["snapshot"]]
    assert json.loads(bytes(buffers[0])) == tree.snapshot
    assert [n["label"] for n in tree.snapshot["view"]["nodes"]] == ["team", "writer", "critic"]
    # anything that is not JSON in a snapshot is written as its text
    assert json.loads(ui._widgets.pack({"reason": agentlab.Crash("ValueError", "bad", "")})) == {
        "reason": str(agentlab.Crash("ValueError", "bad", ""))
    }


def test_mimebundle_has_the_widget_and_static_html():
    tree = ui.SupervisionTree(tiny_tree_events())
    data, _meta = tree._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in data
    assert "al-static-tree" in data["text/html"] and "writer" in data["text/html"]
    dash = ui.dashboard(team_run())
    data, _ = dash._repr_mimebundle_()
    for kind in ("tree", "stream", "timeline", "sequence"):
        assert f"al-static-{kind}" in data["text/html"]
    assert "<svg" in dash.timeline._repr_html_()


def test_live_tree_kill_uses_the_real_exit_signal(run):
    async def main():
        rt = agentlab.Runtime()
        try:
            pids = [rt.start(Idle, name=f"w{i}") for i in range(3)]
            tree = ui.SupervisionTree(rt)
            await ui.settle(tree)
            assert tree.snapshot["view"]["nodes"][0]["status"] == "running"
            r = cmd(tree, "cmd_kill", {"pid": pids[1].id})
            assert r == {"ok": True, "pid": pids[1].id, "name": "w1"}
            await ui.settle(tree)
            statuses = {n["label"]: n["status"] for n in tree.snapshot["view"]["nodes"]}
            assert statuses == {"w0": "running", "w1": "crashed", "w2": "running"}
            assert pids[1].exit_reason == "killed"
            assert cmd(tree, "cmd_kill", {"pid": pids[1].id})["ok"] is False  # already dead
            key = next(n["key"] for n in tree.snapshot["view"]["nodes"] if n["label"] == "w0")
            d = cmd(tree, "cmd_details", {"key": key})["details"]
            assert d["state"] == "label='x'" and d["alive"]
            r = cmd(tree, "cmd_kill_random")
            assert r["ok"] and r["name"] in ("w0", "w2")
            tree.close()
        finally:
            await rt.shutdown()

    run(main())


def test_live_views_follow_and_settle(run):
    async def main():
        rt = agentlab.Runtime()
        try:
            rt.start(Idle, name="early")
            dash = ui.dashboard(rt)
            sent = {v._view_kind: [] for v in dash.views}
            for v in dash.views:
                v.send = sent[v._view_kind].append
            p = rt.start(Idle, name="late")
            await rt.call(p, "ping")
            rt.emit("llm_request", p, request_id="r1", model="m", provider="scripted", attempt=1)
            for i in range(200):
                rt.emit("llm_token", p, request_id="r1", text=f"{i} ", index=i)
            await dash.settled()
            assert {n["label"] for n in dash.tree.snapshot["view"]["nodes"]} == {"early", "late"}
            assert dash.streams.text("late") == "".join(f"{i} " for i in range(200))
            kinds = {a["kind"] for a in dash.sequence.snapshot["view"]["arrows"]}
            assert {"call", "reply"} <= kinds
            # everything went out as a few coalesced deltas, in order
            for msgs in sent.values():
                assert [m["seq"] for m in msgs] == list(range(1, len(msgs) + 1))
            assert 1 <= len(sent["stream"]) <= 3
            assert dash.streams.seq == len(sent["stream"])
            dash.close()
        finally:
            await rt.shutdown()

    run(main())


def test_dashboard_relays_a_selection_to_the_other_views():
    dash = ui.dashboard(team_run())
    got = {v._view_kind: [] for v in dash.views}
    for v in dash.views:
        v.send = got[v._view_kind].append
    assert cmd(dash.sequence, "select", {"key": "#101/team/critic", "llm": ["llm-3"]}) == {"ok": True}
    assert got["sequence"] == []
    assert got["timeline"] == [{"type": "highlight", "key": "#101/team/critic", "llm": ["llm-3"]}]


def test_command_errors_come_back_as_messages(caplog):
    seq = ui.SequenceDiagram(team_run())
    r = cmd(seq, "cmd_details", {"id": "not a number"})
    assert r["ok"] is False and "ValueError" in r["error"]


def test_settle_rejects_things_that_are_not_views(run):
    with pytest.raises(TypeError, match="views or dashboards"):
        run(ui.settle(object()))


def test_views_need_a_runtime_or_a_run(run):
    async def main():
        with pytest.raises(agentlab.RuntimeStateError):
            ui.Timeline()

    run(main())
    assert asyncio  # the module is used by the helpers above


def test_mailbox_depths_are_scanned_in_slices(run, monkeypatch):
    async def deaf(proc):  # never receives: what is sent piles up in its mailbox
        await proc.sleep(60)

    async def main():
        rt = agentlab.Runtime()
        try:
            pids = [rt.spawn(deaf, name=f"w{i}") for i in range(7)]
            monkeypatch.setattr(ui.SupervisionTree, "SCAN", 3)  # 7 processes: 3 ticks a pass
            tree = ui.SupervisionTree(rt, tick=0.01)
            for i, p in enumerate(pids):
                for _ in range(i + 1):
                    rt.send(p, "hello")
            seen = []
            for _ in range(100):
                await asyncio.sleep(0.01)
                depth = {n["label"]: n["mailbox"] for n in tree._model.nodes.values()}
                seen.append(sum(1 for d in depth.values() if d))
                if all(depth[f"w{i}"] == i + 1 for i in range(7)):
                    break
            tree.close()
            return depth, seen
        finally:
            await rt.shutdown()

    depth, seen = run(main())
    assert depth == {f"w{i}": i + 1 for i in range(7)}
    assert 3 in seen or 6 in seen  # the depths came in slices of three, not all at once


def test_views_read_the_event_log_lazily(run):
    """Attaching and the details panel never hold the whole log as Event objects: such a
    list outlives young collections and makes the full ones walk it under load."""
    import gc

    from agentlab import Event

    async def main():
        rt = agentlab.Runtime()
        try:
            pids = [rt.start(Idle, name=f"w{i}") for i in range(300)]
            for p in pids[:100]:
                rt.exit(p, "kill")
            await rt.settled()
            assert len(rt.events) > 700
            peak = []

            def watch(phase, info):
                if phase == "start":
                    peak.append(sum(1 for o in gc.get_objects() if type(o) is Event))

            gc.collect()
            before = sum(1 for o in gc.get_objects() if type(o) is Event)  # other tests' runs
            threshold = gc.get_threshold()
            gc.set_threshold(200)  # collect often, so a transient list would be seen
            gc.callbacks.append(watch)
            try:
                tree = ui.SupervisionTree(rt)
                key = next(k for k, n in tree._model.nodes.items() if n["label"] == "w0")
                lazy = tree.details(key)
            finally:
                gc.callbacks.remove(watch)
                gc.set_threshold(*threshold)
            eager = tree._model.details(key, rt.events.list())
            tree.close()
            return [n - before for n in peak], lazy, eager
        finally:
            await rt.shutdown()

    peak, lazy, eager = run(main())
    assert peak and max(peak) < 50, max(peak)
    assert lazy["history"] == eager["history"] and [h[1] for h in lazy["history"]][-1] == "exit"


@pytest.mark.parametrize("window", [0, -5, float("nan"), float("inf")])
def test_timeline_window_must_be_a_positive_time(window):
    # the browser took 0 for "unset" (20 s) and drew a negative window reversed; a NaN
    # does not even go through JSON
    with pytest.raises(ValueError, match="window must be a positive number of seconds"):
        ui.Timeline(tiny_tree_events(), window=window)
    assert ui.Timeline(tiny_tree_events(), window=0.5).config["window"] == 0.5


def test_views_tell_the_browser_the_bounds_of_what_they_keep():
    # the browser keeps as many marks/links/budget reports (timeline) as the kernel does
    # (past it by at most trim_slack), so a live view holds what a resync would give
    assert ui.Timeline(team_run(), max_items=300).config["max_items"] == 300
    assert ui.Timeline(team_run()).config["max_items"] == 20_000


def test_a_quiet_live_timeline_still_moves_now_while_something_is_open(run):
    # the browser runs on from the last `now` it got for at most a second; a runtime
    # that emits nothing must still move it while a lifetime is open, and stop once
    # nothing is
    async def main():
        rt = agentlab.Runtime()
        try:
            p = rt.start(Idle, name="quiet")
            view = ui.Timeline(rt, tick=0.02)
            view._model.BEAT = 0.1
            sent = []
            view.send = sent.append
            await view.settled()
            start = len(sent)
            await asyncio.sleep(0.6)  # no events at all meanwhile
            beats = [m for m in sent[start:] if m["type"] == "delta"]
            assert len(beats) >= 2, sent[start:]
            assert all(set(m) == {"type", "seq", "now"} for m in beats), beats
            assert beats[-1]["now"] - beats[0]["now"] >= 0.2
            await rt.stop(p)
            await view.settled()
            await asyncio.sleep(0.3)
            after = len(sent)
            await asyncio.sleep(0.5)
            assert sent[after:] == []  # every lifetime closed: nothing to follow
            view.close()
        finally:
            await rt.shutdown()

    run(main())


def test_views_of_a_runtime_shut_down_stop_where_its_run_ended(run):
    # a virtual-clock run can start, go on for minutes of its time and shut down between two
    # of the views' ticks: the timeline's `now` is then where the run ended, not 0 (following
    # it, the browser would show an empty window before the start)
    async def main():
        rt = agentlab.Runtime(clock=agentlab.VirtualClock(), seed=1)
        dash = ui.dashboard(rt, tick=0.05)
        slow = ui.Timeline(rt, tick=60)  # settled before its first tick
        sent = []
        dash.timeline.send = sent.append
        p = rt.start(Idle, name="w")
        await rt.sleep(90)
        await rt.call(p, "ping")
        await rt.shutdown()
        end = rt.events[-1].time
        assert end >= 90
        await ui.settle(slow)
        assert slow.snapshot["view"]["now"] == end
        await asyncio.sleep(0.3)  # the views' last tick, and the pump's flush
        assert dash.timeline.view_state()["now"] == end
        assert sent[-1]["now"] == end  # what the open view was told last
        await ui.settle(dash)
        assert dash.timeline.snapshot["view"]["now"] == end  # what a view opened now starts from
        late = ui.Timeline(rt)  # a view made on the closed runtime
        assert late.snapshot["view"]["now"] == end
        # and they say the run has ended (the browser shows "ended", not "live")
        assert [v.config.get("ended") for v in (*dash.views, slow, late)] == [True] * 6
        assert ui.Timeline(team_run()).config.get("ended") is None  # (a recorded run is not live)
        for v in (dash, slow, late):
            v.close()

    run(main())


def test_closed_views_let_go_of_their_runtime(run):
    # a kernel makes runtime after runtime; closing a runtime's views must let it be freed
    # (anywidget keeps every widget made from a file, closed or not: manzt/anywidget#929)
    import gc
    import weakref

    async def main():
        rt = agentlab.Runtime()
        rt.start(Idle, name="w")
        dash = ui.dashboard(rt)
        tree = ui.SupervisionTree(rt)
        assert tree._feed is dash.feed  # the views of one runtime share its feed
        await ui.settle(dash, tree)
        await rt.shutdown()
        dash.close()
        tree.close()
        assert tree.kill("w") == {"ok": False, "error": "this view is closed; kill from a view that is open"}
        return weakref.ref(rt)

    gone = run(main())  # (the loop, and the timers the runtime had on it, are gone too)
    gc.collect()
    assert gone() is None  # (nor does a feed of it stay behind, in agentlab.ui._feed._live)


def test_details_of_something_no_longer_kept_say_why():
    # the browser shows the error in the details panel the click opened
    tree = ui.SupervisionTree(team_run(), max_dead=5)
    r = cmd(tree, "cmd_details", {"key": "#999"})
    assert r["ok"] is False and "no node '#999'" in r["error"] and "newest 5 that exited" in r["error"]
    seq = ui.SequenceDiagram(team_run(), max_arrows=3)
    r = cmd(seq, "cmd_details", {"id": 1})
    assert r == {"ok": False, "error": "no message 1: the diagram keeps the newest 3 (max_arrows)"}
    newest = seq.view_state()["arrows"][-1]["id"]
    assert cmd(seq, "cmd_details", {"id": newest})["ok"] is True
