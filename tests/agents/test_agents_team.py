"""Delegation to sub-agents under a DynamicSupervisor, and agents on a PubSub."""

from __future__ import annotations

import pytest
from agents_helpers import fast, of

from agentlab import CalleeExited, DynamicSupervisor, PubSub, Runtime, VirtualClock
from agentlab.agents import (
    LLMAgent,
    Post,
    agent_ask,
    ask_agent_tool,
    delegate,
    publish,
    publish_tool,
    start_llm_agent,
)
from agentlab.llm import ServerError, ToolCall


async def test_delegate_runs_a_throwaway_sub_agent(clock):
    async with Runtime(clock=clock) as rt:
        dsup = rt.start(DynamicSupervisor, name="subs")
        answer = await delegate(dsup, "summarise X", model=fast(rt, ["X in one line."]))
        assert answer == "X in one line."
        assert await DynamicSupervisor.count_children(dsup) == {
            "specs": 0, "active": 0, "supervisors": 0, "workers": 0,
        }
        exits = [e for e in of(rt, "exit") if e.pid != dsup.id]
        assert exits and exits[-1].reason == "shutdown"


async def test_a_crashed_throwaway_sub_agent_is_not_restarted():
    async with Runtime(clock=VirtualClock()) as rt:
        dsup = rt.start(DynamicSupervisor, name="subs")
        with pytest.raises(CalleeExited):
            await delegate(dsup, "x", model=fast(rt, [ServerError("down", provider="scripted")]),
                           retry=None)
        assert of(rt, "restart") == []


async def test_an_agent_asks_another_through_a_tool():
    async with Runtime(clock=VirtualClock()) as rt:
        dsup = rt.start(DynamicSupervisor, name="experts")
        expert = await start_llm_agent(dsup, name="expert", model=fast(rt, ["Paris."]))
        assert expert is rt.whereis("expert")
        lead_model = fast(rt, [ToolCall("c1", "ask_expert", {"question": "Capital of France?"}),
                               "The expert says Paris."])
        lead = rt.start(LLMAgent, model=lead_model, tools=[ask_agent_tool("expert")], name="lead")
        assert await agent_ask(rt, lead, "Capital of France?") == "The expert says Paris."
        assert lead_model.calls[-1][-1].content == "Paris."
        assert [e.data["text"] for e in of(rt, "turn_start", "expert")] == ["Capital of France?"]


async def test_posts_become_notes():
    async with Runtime(clock=VirtualClock()) as rt:
        news = PubSub(rt, name="news")
        pid = rt.start(LLMAgent, pubsub=news, topics=["findings"], model=fast(rt, ["noted"]))
        assert news.subscribers("findings") == [pid]
        assert publish(news, "findings", "Solar grew 12%.", sender="alice") == 1
        await rt.sleep(0)
        history = await rt.call(pid, "history")
        assert history[-1].content == "[findings] alice: Solar grew 12%."


async def test_posts_can_be_answered_and_published():
    async with Runtime(clock=VirtualClock()) as rt:
        news = PubSub(rt, name="news")
        rt.start(LLMAgent, pubsub=news, topics=["questions"], on_post="ask", publish_to="answers",
                 model=fast(rt, ["42"]), name="oracle")
        got = []

        async def listener(proc):
            news.subscribe("answers")
            got.append(await proc.receive(timeout=10))

        rt.spawn(listener)
        await rt.sleep(0)
        publish(news, "questions", "What is the answer?", sender="me")
        await rt.sleep(5)
        assert got == [Post("answers", "42", "oracle")]


async def test_a_model_publishes_through_a_tool():
    async with Runtime(clock=VirtualClock()) as rt:
        news = PubSub(rt, name="news")
        reader = rt.start(LLMAgent, pubsub=news, topics=["t"], model=fast(rt, ["-"]))
        writer_model = fast(rt, [ToolCall("c1", "publish", {"text": "hello team"}), "posted"])
        writer = rt.start(LLMAgent, pubsub=news, topics=["t"], model=writer_model,
                          tools=[publish_tool(news, "t")], name="writer")
        assert await agent_ask(rt, writer, "tell them") == "posted"
        assert of(rt, "tool_result")[0].data["result"] == "published to 1 subscriber(s) of 't'"
        assert (await rt.call(reader, "history"))[-1].content == "[t] writer: hello team"
        assert all(m.role != "user" or "hello team" not in m.content
                   for m in await rt.call(writer, "history"))


@pytest.mark.parametrize(("timeout", "waited"), [
    (300.0, 60.0),  # the expert's minute-long turn fits the ask's timeout
    (45.0, 45.0),  # the ask's own limit, not tool_timeout's 30 s
    (None, 30.0),  # no limit of its own: the asking agent's tool_timeout
    (float("inf"), 30.0),
])
async def test_ask_agent_tool_waits_as_long_as_its_timeout_says(timeout, waited):
    # its timeout was only the call's: the asking agent's tool_timeout (30 s) cut every
    # longer answer, whatever timeout= said
    async with Runtime(clock=VirtualClock()) as rt:
        rt.start(LLMAgent, name="expert", model=fast(rt, ["the expert's answer"], ttft=60.0))
        lead = fast(rt, [ToolCall("c1", "ask_expert", {"question": "q"}), "done"])
        pid = rt.start(LLMAgent, name="lead", model=lead,
                       tools=[ask_agent_tool("expert", timeout=timeout)])
        assert await agent_ask(rt, pid, "go") == "done"
        (result,) = [e.data for e in of(rt, "tool_result")]
        assert result["duration"] == pytest.approx(waited, abs=0.1)
        if waited == 60.0:
            assert result["error"] is None and result["result"] == "the expert's answer"
        else:  # the ask's CallTimeout or the tool's own limit, whichever fires first
            assert f"timed out after {waited:g}" in result["error"]
