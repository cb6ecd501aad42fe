"""Token-stream view model: per-agent transcripts with inline markers."""

from __future__ import annotations

import html
import re

from wire_server import gemini_chunk

import agentlab
import agentlab.ui as ui
from agentlab.agents import LLMAgent, agent_ask
from agentlab.llm import Gemini, Reply, ScriptedModel, ToolCall
from agentlab.ui._pending import Pending
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


def test_a_new_process_in_the_row_of_one_that_exited_is_marked_as_new_not_restarted():
    s = Script()
    pool = s.spawn("pool", kind="supervisor")
    first = s.child(pool, "w")
    s.answer(first, "first job done")
    s.exit(first, "normal")
    second = s.child(pool, "w")  # a new child with the same id takes the free row
    s.answer(second, "second job")
    (w,) = stream_view(s.events)["agents"]
    kinds = [g["t"] for g in w["segs"]]
    assert kinds == ["req", "text", "end", "new", "req", "text", "end"]
    assert w["segs"][3]["pid"] == second and w["pid"] == second
    # a restart is marked as one, not as a new process
    assert "new" not in [g["t"] for a in stream_view(team_run())["agents"] for g in a["segs"]]


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
