"""Timeline view model: lanes, incarnations, marks, restart links, LLM spans, budgets."""

from __future__ import annotations

from agentlab.ui._pending import Pending
from agentlab.ui._synthetic import Script, team_run
from agentlab.ui._timeline import TimelineModel, timeline_view


def test_team_run():
    v = timeline_view(team_run())
    labels = {lane["key"]: lane["label"] for lane in v["lanes"]}
    assert sorted(labels.values()) == ["cache", "critic", "planner", "root", "search", "team", "tools", "writer"]
    by_lane: dict = {}
    for sp in v["spans"]:
        by_lane.setdefault(labels[sp["lane"]], []).append(sp)
    assert [sp["end"] for sp in by_lane["critic"]] == ["killed", None]
    assert [sp["end"] for sp in by_lane["search"]] == ["crash", None]
    assert {labels[link["to"]] for link in v["links"]} == {"critic", "search"}
    assert all(link["t2"] >= link["t"] for link in v["links"])
    kinds = sorted(m["kind"] for m in v["marks"])
    assert kinds == ["crash", "error", "killed", "restart", "restart", "retry"]
    llm = [c for c in v["llm"] if c["kind"] == "llm"]
    assert all(c["t1"] is not None and c["t0"] <= (c["tf"] or c["t0"]) <= c["t1"] for c in llm)
    assert sorted(c["status"] for c in llm) == ["error"] + ["ok"] * (len(llm) - 1)
    assert {b["n"] for b in v["budget"]} == {1}
    tools = [c for c in v["llm"] if c["kind"] == "tool"]
    assert {t["name"] for t in tools} == {"web_search", "lookup"}


def test_an_exit_cancels_open_llm_calls():
    s = Script()
    a = s.spawn("a")
    s.llm_request(a)
    s.exit(a, "killed")
    v = timeline_view(s.events)
    assert v["llm"][0]["status"] == "cancelled" and v["llm"][0]["t1"] == v["spans"][0]["t1"]


def test_items_are_bounded():
    s = Script()
    for i in range(300):
        p = s.spawn(f"p{i}")
        s.exit(p, "killed")
    model = TimelineModel(Pending(), max_items=100)
    for ev in s.events:
        model.apply(ev)
    assert len(model.spans) <= 100 + 100 // 8
    assert len(model.marks) == 100


def test_a_restart_sends_the_new_span_but_not_the_unchanged_lane():
    s = Script()
    sup = s.spawn("team", kind="supervisor")
    w = s.child(sup, "writer")
    pending = Pending()
    model = TimelineModel(pending)
    for ev in s.events:
        model.apply(ev)
    first = pending.take()
    slot = next(k for k, lane in first["lanes"].items() if lane["label"] == "writer")
    n = len(s.events)
    s.exit(w, "killed")
    s.restart(sup, w, "writer")
    for ev in s.events[n:]:
        model.apply(ev)
    delta = pending.take()
    assert [sp["lane"] for sp in delta["spans"].values()] == [slot, slot]  # closed and new
    assert [sp["t1"] is None for sp in delta["spans"].values()] == [False, True]
    assert slot not in delta.get("lanes", {})
    assert [m["kind"] for m in delta["marks"]] == ["killed", "restart"]
    assert [link["to"] for link in delta["links"]] == [slot]


def test_lanes_sent_under_a_provisional_parent_follow_it_to_its_slot():
    # a group's children go out while the group is known by its pid only; when its
    # own supervisor reports it, the browser gets the children again under the new key
    s = Script()
    root = s.spawn("root", kind="supervisor")
    group = s.spawn(None, parent=root, kind="supervisor")
    s.child(group, "w")
    pending = Pending()
    model = TimelineModel(pending)
    for ev in s.events:
        model.apply(ev)
    first = pending.take()
    (w,) = [k for k, lane in first["lanes"].items() if lane["label"] == "w"]
    assert first["lanes"][w]["parent"] == f"#{group}"
    n = len(s.events)
    s.child_start(root, group, "g", type="supervisor")
    for ev in s.events[n:]:
        model.apply(ev)
    second = pending.take()
    assert second["lanes"][w]["parent"] == "root/g"


def test_a_trim_drops_the_spans_that_closed_first_without_walking_the_open_ones():
    # a big tree's long-lived processes are open spans at the front: a trim that walked
    # past them from the oldest span cost thousands of steps every 64 restarts
    from collections import OrderedDict

    class NoWalk(OrderedDict):
        def items(self):
            raise AssertionError("a trim walked the spans")

        def values(self):
            raise AssertionError("a trim walked the spans")

        def __iter__(self):
            raise AssertionError("a trim walked the spans")

    s = Script()
    for i in range(500):
        s.spawn(f"keep{i}")
    for i in range(300):
        p = s.spawn(f"p{i}")
        s.exit(p, "killed")
    model = TimelineModel(Pending(), max_items=200)
    model.spans = NoWalk()
    for ev in s.events:
        model.apply(ev)
    kept = list(OrderedDict.values(model.spans))
    open_ = [sp for sp in kept if sp["t1"] is None]
    closed = [sp["id"] for sp in kept if sp["t1"] is not None]
    assert len(open_) == 500  # open spans stay
    assert 0 < len(closed) <= 200 // 8  # the closed ones past the bound went, oldest first
    last = [ev.pid for ev in s.events if ev.kind == "exit"][-len(closed):]
    assert closed == last


def test_spans_are_trimmed_a_few_at_a_time_not_in_one_big_batch():
    # an eighth of 20,000 spans dropped at once was a 50-100 ms stall every 2.5 s
    # under 1,000 restarts a second; about 64 go per trim
    s = Script()
    for i in range(3000):
        p = s.spawn(f"p{i}")
        s.exit(p, "killed")
    pending = Pending()
    model = TimelineModel(pending, max_items=2000)
    biggest = 0
    for ev in s.events:
        model.apply(ev)
        if ev.kind == "spawn":
            spans = pending.take().get("spans", {})
            biggest = max(biggest, sum(1 for v in spans.values() if v is None))
    assert 0 < biggest <= 64 + 1  # trimmed once past 2000 + 64, back to 2000
    assert len(model.spans) <= 2000 + 64
