"""Delegation to sub-agents under a DynamicSupervisor, and agents on a PubSub."""

from __future__ import annotations

import asyncio

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
from agentlab.agents._demo import ASK_TIMEOUT, researcher_tool
from agentlab.llm import Reply, ServerError, ToolCall


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


# ---------------------------------------------------------------------------- the demo's tool


def researchers_team(rt, models, lead_script, **lead):
    """The demo's shape: researchers (a DynamicSupervisor) and a lead with the demo's tool."""
    rt.start(DynamicSupervisor, name="researchers")
    model = fast(rt, lead_script)
    return rt.start(LLMAgent, name="lead", model=model, tools=[researcher_tool(models)], **lead)


def ask_alice(call_id):
    return ToolCall(call_id, "ask_researcher", {"researcher": "alice", "question": "Solar?"})


@pytest.mark.parametrize(("ttft", "waited"), [
    (60.0, 60.0),  # a minute-long answer: the lead's tool_timeout (30 s) cut it
    (200.0, ASK_TIMEOUT),  # the tool's own limit, 120 s, not 30
])
async def test_the_demo_researcher_tool_waits_as_long_as_its_own_limit(ttft, waited):
    async with Runtime(clock=VirtualClock()) as rt:
        alice = fast(rt, ["Solar grew."], ttft=ttft)
        lead = researchers_team(rt, {"alice": alice}, [ask_alice("c1"), "done"])
        assert await agent_ask(rt, lead, "go") == "done"
        (result,) = [e.data for e in of(rt, "tool_result", "lead")]
        assert result["duration"] == pytest.approx(waited, abs=0.1)
        if waited == 60.0:
            assert result["error"] is None and result["result"] == "Solar grew."
        else:  # the ask's CallTimeout or the tool's limit: both are 120 s
            assert f"timed out after {ASK_TIMEOUT:g}" in result["error"]


@pytest.mark.parametrize("tool_errors", ["report", "crash"])
async def test_asks_for_a_researcher_not_started_yet_start_it_once(clock, tool_errors):
    # both asks found no alice and started one: the second start was refused
    # (already_started) and its ask failed (with tool_errors="crash", the lead crashed)
    async with Runtime(clock=clock) as rt:
        alice = fast(rt, ["first answer", "second answer"])
        lead = researchers_team(rt, {"alice": alice}, [
            Reply(tool_calls=[ask_alice("c1"), ask_alice("c2")]), "done"], tool_errors=tool_errors)
        assert await agent_ask(rt, lead, "go") == "done"
        results = [e.data for e in of(rt, "tool_result", "lead")]
        assert [r["error"] for r in results] == [None, None]
        assert sorted(r["result"] for r in results) == ["first answer", "second answer"]
        assert len(of(rt, "turn_start", "alice")) == 2
        assert await DynamicSupervisor.count_children("researchers") == {
            "specs": 1, "active": 1, "supervisors": 0, "workers": 1,
        }


async def test_two_leads_asking_at_once_share_one_researcher(clock):
    async with Runtime(clock=clock) as rt:
        rt.start(DynamicSupervisor, name="researchers")
        tool = researcher_tool({"alice": fast(rt, ["one", "two"])})
        leads = [rt.start(LLMAgent, model=fast(rt, [ask_alice("c1"), "done"]), tools=[tool])
                 for _ in range(2)]
        assert await asyncio.gather(*(agent_ask(rt, p, "go") for p in leads)) == ["done", "done"]
        assert all(e.data["error"] is None for e in of(rt, "tool_result"))
        assert (await DynamicSupervisor.count_children("researchers"))["active"] == 1
