"""Sequence-diagram view model: arrows, reply matching, LLM links, filters."""

from __future__ import annotations

import gc

import pytest

from agentlab.ui._sequence import sequence_view
from agentlab.ui._synthetic import Script, team_run


def test_team_run_arrows():
    v = sequence_view(team_run())
    label = {p["key"]: p["label"] for p in v["parts"]}
    arrows = [(a["kind"], label[a["from"]], label[a["to"]]) for a in v["arrows"]]
    assert arrows[:5] == [("call", "(outside)", "planner"), ("reply", "planner", "(outside)"),
                          ("cast", "planner", "writer"), ("call", "writer", "search"),
                          ("reply", "search", "writer")]
    assert ("down", "search", "writer") in arrows
    assert ("exit", "(outside)", "critic") in arrows
    review = next(a for a in v["arrows"] if a["kind"] == "call" and label[a["to"]] == "critic")
    reply = next(a for a in v["arrows"] if a.get("reply_to") == review["id"])
    assert review["llm"] == reply["llm"] and len(review["llm"]) == 1
    assert reply["lat"] > 0


def test_arrows_the_view_gets_are_not_tracked_by_the_garbage_collector():
    # the snapshot trait keeps up to max_arrows of them; in a restart storm every full
    # collection would walk each one (and a list in it) that the collector tracks
    v = sequence_view(team_run())
    plain = [a for a in v["arrows"] if not a["llm"]]
    linked = [a for a in v["arrows"] if a["llm"]]
    assert plain and linked
    assert not any(gc.is_tracked(a) for a in plain)
    gc.collect()  # a linked arrow's tuple of call ids is young until a collection sees it
    assert not any(gc.is_tracked(a) for a in linked)


def test_filter_by_process():
    v = sequence_view(team_run(), processes=["cache"])
    assert {a["kind"] for a in v["arrows"]} == {"send"}


def test_restarted_callee_keeps_its_lifeline():
    s = Script()
    sup = s.spawn("sup", kind="supervisor")
    w = s.child(sup, "w")
    s.call(None, w, "hi")
    s.exit(w, "killed")
    w2 = s.restart(sup, w, "w")
    s.call(None, w2, "again")
    v = sequence_view(s.events)
    assert len({a["to"] for a in v["arrows"] if a["kind"] == "call"}) == 1


def test_details_join_llm_calls():
    from agentlab.ui._pending import Pending
    from agentlab.ui._sequence import SequenceModel

    s = Script()
    a, b = s.spawn("a"), s.spawn("b")
    s.call(a, b, "q")
    s.answer(b, "some answer here")
    s.reply(b, a)
    m = SequenceModel(Pending())
    for ev in s.events:
        m.apply(ev)
    d = m.details(s.events[2].seq)
    assert d["kind"] == "call"
    assert d["llm_calls"][0]["status"] == "ok" and d["llm_calls"][0]["tokens"] == 1


def test_lifelines_go_with_their_last_arrow():
    from agentlab.ui._pending import Pending
    from agentlab.ui._sequence import SequenceModel

    s = Script()
    hub = s.spawn("hub")
    for i in range(50):
        p = s.spawn(f"p{i}")
        s.send(p, hub)
    m = SequenceModel(Pending(), max_arrows=8)
    for ev in s.events:
        m.apply(ev)
    v = m.snapshot()
    names = {p["label"] for p in v["parts"]}
    assert len(v["arrows"]) <= 9 and "hub" in names
    assert names <= {"hub"} | {f"p{i}" for i in range(40, 50)}  # old senders are gone


def test_arrows_are_trimmed_a_few_at_a_time():
    # an eighth of the arrows dropped at once was a stall in a storm; about 64 go
    # per trim, and the newest max_arrows stay
    from agentlab.ui._pending import Pending, trim_slack
    from agentlab.ui._sequence import SequenceModel

    assert trim_slack(100) == 12 and trim_slack(20_000) == 64 and trim_slack(3) == 1
    s = Script()
    w = s.spawn("w")
    for i in range(3000):
        s.call(None, w, i)  # an arrow each
    pending = Pending()
    model = SequenceModel(pending, max_arrows=2000)
    biggest = 0
    for ev in s.events:
        model.apply(ev)
        arrows = pending.take().get("arrows", {}) if pending.dirty else {}
        biggest = max(biggest, sum(1 for v in arrows.values() if v is None))
    assert 0 < biggest <= 64 + 1  # trimmed once past 2000 + 64, back to 2000
    assert 2000 <= len(model.arrows) <= 2000 + 64


def test_times_count_from_the_first_arrow_even_after_it_is_trimmed():
    # the browser shows each arrow's time from t0: a view opened late (or a resync after a
    # gap) must show the times a view that followed from the start shows
    s = Script(t0=5.0)
    a, b = s.spawn("a"), s.spawn("b")
    for _ in range(40):
        s.cast(a, b)
    full = sequence_view(s.events)
    trimmed = sequence_view(s.events, max_arrows=10)
    first = full["arrows"][0]["t"]
    assert full["t0"] == first
    assert trimmed["arrows"][0]["t"] > first  # the first arrows are gone
    assert trimmed["t0"] == first
    assert sequence_view([])["t0"] is None


def test_a_monitor_of_a_name_nobody_held_comes_from_that_name(run, tmp_path):
    # its Down has no process (Down.pid is None): the arrow comes from the name, not from
    # a placeholder pid (<0.-1.0>) nor from "outside"
    import agentlab
    import agentlab.ui as ui
    from agentlab.ui._static import render

    trace = pytest.importorskip("agentlab.trace")

    async def main():
        async with agentlab.Runtime(clock=agentlab.VirtualClock()) as rt:
            rec = trace.Recorder(rt)
            got = []

            async def watcher(proc):
                proc.monitor("nobody")
                got.append(await proc.receive())

            w = rt.spawn(watcher, name="watcher")
            await rt.wait(w)
            assert (got[0].object, got[0].pid, got[0].reason) == ("nobody", None, "noproc")
            return list(rt.events), rec.stop()

    events, recorded = run(main())
    path = recorded.save(tmp_path / "run.parquet")
    for source in (events, recorded.to_events(), ui.SequenceDiagram(path)):
        v = source.view_state() if hasattr(source, "view_state") else sequence_view(source)
        parts = {p["key"]: p for p in v["parts"]}
        (down,) = [a for a in v["arrows"] if a["kind"] == "down"]
        assert (parts[down["from"]]["label"], parts[down["from"]]["kind"]) == ("nobody", "name")
        assert parts[down["to"]]["label"] == "watcher" and down["label"] == "noproc"
        assert "0.-1.0" not in str(v) and "(outside)" not in str(v)
        if hasattr(source, "close"):
            source.close()
    html = render("sequence", sequence_view(events))
    assert "nobody" in html and "0.-1.0" not in html
    # a filter picks the name as it picks a process
    assert sequence_view(events, processes=["nobody"])["arrows"]
    assert not sequence_view(events, processes=["somebody"])["arrows"]
