"""Token-stream view model: per-agent transcripts with inline markers."""

from __future__ import annotations

import html
import re

import pytest
from wire_server import gemini_chunk

import agentlab
import agentlab.ui as ui
from agentlab.agents import LLMAgent, agent_ask
from agentlab.llm import Gemini, Reply, ScriptedModel, ToolCall
from agentlab.ui._pending import Pending, merge_segment
from agentlab.ui._stream import StreamModel, stream_view
from agentlab.ui._synthetic import Script, team_run


def test_transcripts_keep_order_of_text_tools_retries_and_errors():
    view = stream_view(team_run())
    writer = next(a for a in view["agents"] if a["label"] == "writer")
    kinds = [g["t"] for g in writer["segs"]]
    assert kinds == ["req", "text", "error", "retry", "req", "tool_call", "tool_start", "tool_result", "text", "end"]
    tool = writer["segs"][5]
    assert tool["name"] == "lookup" and tool["args"] == '{"topic": "one_for_one"}'
    assert writer["retries"] == 1 and writer["errors"] == 1 and writer["requests"] == 2
    assert writer["cost"] > 0 and writer["tokens"] == 5 + 15


def test_restart_marks_the_stream_and_keeps_it():
    view = stream_view(team_run())
    critic = next(a for a in view["agents"] if a["label"] == "critic")
    kinds = [g["t"] for g in critic["segs"]]
    assert kinds.index("exit") < kinds.index("restart") < len(kinds) - 1
    assert critic["segs"][kinds.index("exit")]["reason"] == "killed"
    assert critic["status"] == "idle"
    # a restart is marked as one, not as a new process
    assert "new" not in [g["t"] for a in view["agents"] for g in a["segs"]]


@pytest.mark.parametrize("talked_before_child_start", [False, True])
def test_a_new_process_in_the_row_of_one_that_exited_is_marked_as_new_not_restarted(talked_before_child_start):
    s = Script()
    pool = s.spawn("pool", kind="supervisor")
    first = s.child(pool, "w")
    s.answer(first, "first job done")
    s.exit(first, "normal")
    # a new child with the same id takes the free row (after its child_start, or talking before it)
    if talked_before_child_start:
        second = s.spawn(None, parent=pool)
        s.answer(second, "second job")
        s.child_start(pool, second, "w")
    else:
        second = s.child(pool, "w")
        s.answer(second, "second job")
    live, fresh = live_and_fresh(s.events)
    assert live == fresh  # the browser holds what a resync gives
    (w,) = fresh.values()
    assert [g["t"] for g in w["segs"]] == ["req", "text", "end", "new", "req", "text", "end"]
    assert w["segs"][3]["pid"] == second and w["meta"]["pid"] == second


def test_agent_filter():
    view = stream_view(team_run(), agents=["critic"])
    assert [a["label"] for a in view["agents"]] == ["critic"]


def test_long_transcripts_are_trimmed_from_the_front():
    s = Script()
    a = s.spawn("a")
    rid = s.llm_request(a)
    s.tokens(a, rid, [f"{i:04d}" for i in range(1000)])
    model = StreamModel(Pending(), max_chars=1000)
    for ev in s.events:
        model.apply(ev)
    text = model.text("a")
    assert len(text) <= 1000 and text.endswith("0999")
    assert model.snapshot()["agents"][0]["dropped"] == 4000 - len(text)


def test_deltas_concatenate_tokens_per_agent():
    s = Script()
    a = s.spawn("a")
    b = s.spawn("b")
    ra, rb = s.llm_request(a), s.llm_request(b)
    pending = Pending()
    model = StreamModel(pending)
    for ev in s.events:
        model.apply(ev)
    pending.take()
    s.tokens(a, ra, ["x", "y", "z"], first=False)
    s.tokens(b, rb, ["1", "2"], first=False)
    for ev in s.events[-5:]:
        model.apply(ev)
    out = pending.take()
    assert out["segs"] == {"#101": [{"t": "text", "s": "xyz"}], "#102": [{"t": "text", "s": "12"}]}
    assert out["meta"]["#101"]["tokens"] == 3


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def test_a_streamed_tool_call_is_one_segment_with_its_id_and_name(run):
    # only a call's first delta carries its id and name, the rest only its index
    # (OpenAI, Anthropic and the scripted model alike)
    async def main():
        rt = agentlab.Runtime(clock=agentlab.VirtualClock(), seed=1)
        try:
            calls = [ToolCall("c1", "add", {"a": 2, "b": 3}), ToolCall("c2", "add", {"a": 4, "b": 5})]
            model = ScriptedModel([Reply(tool_calls=calls), "5 and 9"], clock=rt, rng=rt.random)
            pid = rt.start(LLMAgent, tools=[add], model=model, name="adder")
            view = ui.TokenStream(rt)
            assert await agent_ask(rt, pid, "2+3 and 4+5?") == "5 and 9"
            await ui.settle(view)
            segs = view.snapshot["view"]["agents"][0]["segs"]
            assert [(g["id"], g["name"], g["args"]) for g in segs if g["t"] == "tool_call"] == [
                ("c1", "add", '{"a": 2, "b": 3}'), ("c2", "add", '{"a": 4, "b": 5}')]
            shown = [html.unescape(s) for s in re.findall(r"⚙[^<]*", view.to_html())]
            assert shown == ['⚙ add({"a": 2, "b": 3})', '⚙ add({"a": 4, "b": 5})']
            view.close()
        finally:
            await rt.shutdown()

    run(main())


def test_a_gemini_tool_call_is_linked_to_its_run_as_the_others_are(run, server):
    # Gemini's function calls carry no id on the wire: the Gemini model gives each one its
    # own id at its delta, so the streamed call, its run and its result share it
    root = server.root(body=[
        gemini_chunk({"functionCall": {"name": "add", "args": {"a": 2, "b": 3}}},
                     {"functionCall": {"name": "add", "args": {"a": 4, "b": 5}}}),
        gemini_chunk({"text": "5 and 9"}),
    ])

    async def main():
        rt = agentlab.Runtime(clock=agentlab.VirtualClock(), seed=1)
        model = Gemini("gemini-2.0-flash", api_key="test", base_url=root)
        try:
            pid = rt.start(LLMAgent, tools=[add], model=model, name="adder")
            view = ui.TokenStream(rt)
            assert await agent_ask(rt, pid, "2+3 and 4+5?") == "5 and 9"
            await ui.settle(view)
            segs = view.snapshot["view"]["agents"][0]["segs"]
            by_kind: dict[str, list] = {}
            for g in segs:
                if g["t"].startswith("tool"):
                    by_kind.setdefault(g["t"], []).append(g["id"])
            ids = by_kind["tool_call"]
            assert len(ids) == 2 and len(set(ids)) == 2 and all(isinstance(i, str) for i in ids)
            assert by_kind["tool_start"] == by_kind["tool_result"] == ids
            assert [(g["name"], g["args"]) for g in segs if g["t"] == "tool_call"] == [
                ("add", '{"a": 2, "b": 3}'), ("add", '{"a": 4, "b": 5}')]
            view.close()
        finally:
            await rt.shutdown()
            await model.aclose()

    run(main())
    assert len(server.requests(root)) == 2  # both answers went over loopback HTTP


def test_a_transcript_of_many_calls_with_little_text_keeps_max_segs():
    # an agent that retries all day streams little text, but each request, retry and
    # error is a segment: past max_segs the oldest quarter goes
    s = Script()
    a = s.spawn("a")
    for i in range(100):
        rid = s.llm_request(a)
        s.tokens(a, rid, [f"x{i}"])
        s.llm_error(a, rid)
        s.llm_retry(a, rid)
    model = StreamModel(Pending(), max_segs=40)
    for ev in s.events:
        model.apply(ev)
    (agent,) = model.snapshot()["agents"]
    segs = agent["segs"]
    assert [g["t"] for g in segs[-4:]] == ["req", "text", "error", "retry"]  # the newest stay
    assert segs[-3]["s"] == "x99"
    # 400 segments, cut to 30 each time they pass 40: at the 41st, then every 11 more
    assert len(segs) == 30 + (400 - 41) % 11
    assert agent["dropped"] == sum(len(f"x{i}") for i in range(100)) - len(model.text("a"))


def fold(view: dict, messages: list) -> dict:
    """What the browser holds after ``messages`` (``StreamState``): header and segments per key."""
    agents = {a["key"]: {"meta": {k: v for k, v in a.items() if k != "segs"}, "segs": list(a["segs"])}
              for a in view["agents"]}
    for msg in messages:
        if msg.get("type") == "reset":
            agents = fold(msg["view"], [])
            continue
        for key, meta in (msg.get("meta") or {}).items():
            if meta is None:
                agents.pop(key, None)
            else:
                agents.setdefault(key, {"segs": []})["meta"] = meta
        for key, segs in (msg.get("segs") or {}).items():
            if key in agents:  # (segments of a column that is gone are dropped)
                for g in segs:
                    merge_segment(agents[key]["segs"], g)
    return agents


def live_and_fresh(events, *, then: float | None = None, **options) -> tuple[dict, dict]:
    """A live view's state (a delta after each event, folded) and a fresh snapshot's
    (``then``: a last tick at that time, with no event)."""
    pending = Pending()
    model = StreamModel(pending, **options)
    first = model.snapshot()
    deltas = []
    for t, ev in [(ev.time, ev) for ev in events] + ([(then, None)] if then is not None else []):
        if ev is not None:
            model.apply(ev)
        model.tick(t)
        msg = pending.take()
        if msg is not None:
            deltas.append(msg)
    return fold(first, deltas), fold(model.snapshot(), [])


def crash_then_talk_before_started(s: Script, sup: int, first: int) -> int:
    """``first`` crashes; its replacement talks (in its init) before its ``child_start``."""
    s.crash(first)
    s._ev("child_terminated", sup, first, "boom", {"child_id": "w"})
    s._ev("restart", sup, first, "boom", {"child_id": "w", "strategy": "one_for_one",
                                          "affected": ["w"], "restarts_in_window": 1,
                                          "intensity": 3, "period": 5.0})
    second = s.spawn(None, parent=sup)
    s.answer(second, "second life in init")
    s.child_start(sup, second, "w", attempt=1)
    return second


def test_a_restarted_process_that_talked_before_its_child_start_follows_the_one_before():
    s = Script()
    sup = s.spawn("team", kind="supervisor")
    first = s.child(sup, "w")
    s.answer(first, "first life")
    second = crash_then_talk_before_started(s, sup, first)
    s.answer(second, "after start")
    live, fresh = live_and_fresh(s.events)
    assert live == fresh  # the browser holds what a resync gives
    (w,) = fresh.values()
    assert [g["t"] for g in w["segs"]] == ["req", "text", "end", "exit", "restart",
                                           "req", "text", "end", "req", "text", "end"]
    assert w["segs"][4]["pid"] == second and w["meta"]["pid"] == second
    assert [g["s"] for g in w["segs"] if g["t"] == "text"] == ["first life ", "second life in init ", "after start "]
    assert w["meta"]["requests"] == 3 and w["meta"]["tokens"] == 4 and w["meta"]["status"] == "idle"


def test_a_process_that_talked_before_its_child_start_keeps_its_transcript_in_a_new_row():
    s = Script()
    sup = s.spawn("team", kind="supervisor")
    w = s.spawn(None, parent=sup)
    s.answer(w, "talked in init")
    s.child_start(sup, w, "w")
    live, fresh = live_and_fresh(s.events, then=s.events[-1].time + 5)
    assert live == fresh  # the browser gets the segments under the slot's key too
    assert list(fresh) == ["team/w"]
    assert [g["t"] for g in fresh["team/w"]["segs"]] == ["req", "text", "end"]
    assert fresh["team/w"]["meta"]["tps"] == 0.0  # its rate is followed under the slot's key


def test_a_joined_transcript_keeps_max_segs():
    s = Script()
    sup = s.spawn("team", kind="supervisor")
    first = s.child(sup, "w")
    for i in range(10):
        s.answer(first, f"a{i}")
    second = s.spawn(None, parent=sup)
    s.crash(first)
    s._ev("restart", sup, first, "boom", {"child_id": "w", "strategy": "one_for_one",
                                          "affected": ["w"], "restarts_in_window": 1})
    for i in range(10):
        s.answer(second, f"b{i}")
    s.child_start(sup, second, "w", attempt=1)
    live, fresh = live_and_fresh(s.events, max_segs=40)
    (segs,) = [a["segs"] for a in fresh.values()]
    # 30 + 1 (exit) + 1 (restart) + 30 segments: cut to 30 at the 41st, then every 11 more
    assert len(segs) == 30 + (62 - 41) % 11
    assert [g["s"] for g in segs if g["t"] == "text"][-1] == "b9 "
    assert live["team/w"]["segs"][-len(segs):] == segs  # the newest, as the browser has them
    assert live["team/w"]["meta"] == fresh["team/w"]["meta"]


class Greeter(LLMAgent):
    """An agent that greets (a model call) in its init: before its supervisor reports it."""

    async def init(self, **config):
        super().init(**config)
        await self.handle_call(("ask", "introduce yourself"), None)


def test_a_supervised_agent_that_streams_in_init_keeps_each_lifes_transcript(run):
    async def main():
        rt = agentlab.Runtime(clock=agentlab.VirtualClock(), seed=1)
        try:
            model = ScriptedModel(["I am the first.", "I am the second."], clock=rt, rng=rt.random)
            view = ui.TokenStream(rt)
            start = view.snapshot["view"]
            sent = []
            view.send = sent.append
            rt.start(agentlab.Supervisor, [Greeter.child_spec("w", model=model)], name="team")
            await rt.settled()
            await ui.settle(view)
            (first,) = [p for p in rt.processes() if p.path == "team/w"]
            rt.exit(first, "kill")
            await rt.settled()
            await ui.settle(view)
            kinds = [ev.kind for ev in rt.events.list()]
            # the replacement streamed before its supervisor reported it started
            last_start = len(kinds) - 1 - kinds[::-1].index("child_start")
            assert "llm_token" in kinds[kinds.index("restart"):last_start]
            live = fold(start, sent)
            fresh = fold(view.view_state(), [])
            assert live == fresh
            (w,) = fresh.values()
            assert [g["t"] for g in w["segs"]] == ["req", "text", "end", "exit", "restart", "req", "text", "end"]
            assert view.text("w") == "I am the first.I am the second."
            view.close()
        finally:
            await rt.shutdown()

    run(main())
