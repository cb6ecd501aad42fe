"""Delegation to sub-agents under a DynamicSupervisor, and agents on a PubSub."""

from __future__ import annotations

import asyncio

import pytest
from agents_helpers import fast, of

from agentlab import CalleeExited, DynamicSupervisor, PubSub, Runtime, VirtualClock
from agentlab.agents import (
    LLMAgent,
    Post,
    ToolContext,
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


# ---------------------------------------------------------------------------- asks that lead back


def asker(rt, name, asks, *answers, **kw):
    """An agent named ``name`` whose model first asks ``asks`` (through its ask tool), then
    says each of ``answers``."""
    script = [ToolCall(f"{name}-1", f"ask_{asks}", {"question": f"{name} wants to know"}), *answers]
    return rt.start(LLMAgent, name=name, model=fast(rt, script),
                    tools=[ask_agent_tool(asks)], **kw)


async def test_two_agents_asking_each_other_back_are_refused_at_once(clock):
    # a asks b, b's tool asks a back: both waited 300 s, then a CallTimeout
    async with Runtime(clock=clock) as rt:
        a = asker(rt, "a", "b", "a's answer")
        asker(rt, "b", "a", "b's answer without a")
        t0 = rt.now()
        assert await agent_ask(rt, a, "go") == "a's answer"
        assert rt.now() - t0 < 5
        results = {e.name: e.data for e in of(rt, "tool_result")}
        assert results["a"]["result"] == "b's answer without a"
        assert results["b"]["error_type"] == "AskCycle"
        assert "agent 'b' <0." in results["b"]["error"]
        assert "asked 'a' <0." in results["b"]["error"]
        assert "(b -> a -> b)" in results["b"]["error"]
        assert len(of(rt, "turn_start", "a")) == 1  # a never got b's question


def custom_asker(rt, name, asks, *answers, **kw):
    """As :func:`asker`, with a tool of its own (no ask_agent_tool) that calls agent_ask."""

    async def ask_back(question: str, ctx: ToolContext) -> str:
        """Ask the other agent."""
        return await agent_ask(ctx.runtime, asks, question)

    script = [ToolCall(f"{name}-1", "ask_back", {"question": f"{name} wants to know"}), *answers]
    return rt.start(LLMAgent, name=name, model=fast(rt, script), tools=[ask_back], **kw)


@pytest.mark.parametrize("tool", ["ask_solo", "ask_back"])
async def test_an_agent_asking_itself_is_refused_at_once(clock, tool):
    # it waited for its own answer: through ask_agent_tool ("ask_solo"), a CallTimeout
    # after 300 s (five minutes of a real clock) whose message said to raise the
    # timeout; through a custom tool's agent_ask ("ask_back"), until the tool_timeout
    make = asker if tool == "ask_solo" else custom_asker
    async with Runtime(clock=clock) as rt:
        pid = make(rt, "solo", "solo", "I answer it myself.")
        t0 = rt.now()
        assert await agent_ask(rt, pid, "go") == "I answer it myself."
        assert rt.now() - t0 < 5
        (result,) = [e.data for e in of(rt, "tool_result")]
        assert result["error_type"] == "AskCycle"
        assert result["error"].startswith("the tool failed: AskCycle: agent 'solo' <0.")
        assert f"asked itself (tool '{tool}')" in result["error"]
        assert "Answer in this turn, or ask another agent." in result["error"]
        assert pid.alive and of(rt, "turn_start", "solo")[-1].data["text"] == "go"
        assert len(of(rt, "turn_start", "solo")) == 1  # it never got its own question


async def test_two_custom_tools_asking_each_other_back_are_refused_at_once(clock):
    from agentlab.agents import AskCycle

    async with Runtime(clock=clock) as rt:
        a = custom_asker(rt, "a", "b", "a's answer")
        custom_asker(rt, "b", "a", "b's answer without a")
        t0 = rt.now()
        assert await agent_ask(rt, a, "go") == "a's answer"
        assert rt.now() - t0 < 5
        results = {e.name: e.data for e in of(rt, "tool_result")}
        assert results["a"]["result"] == "b's answer without a"
        assert results["b"]["error_type"] == "AskCycle"
        assert "asked 'a' <0." in results["b"]["error"] and "(b -> a -> b)" in results["b"]["error"]
        assert len(of(rt, "turn_start", "a")) == 1  # a never got b's question
        # under tool_errors="crash" the AskCycle is b's exit reason, with the cycle in it
        c = custom_asker(rt, "c", "d", "c's answer")
        d = custom_asker(rt, "d", "c", "never", tool_errors="crash")
        assert await agent_ask(rt, c, "go") == "c's answer"
        (exit_,) = of(rt, "exit", "d")
        assert isinstance(exit_.reason.exception, AskCycle)
        assert exit_.reason.exception.chain == ("d", "c", "d") and not d.alive


async def test_asks_from_a_custom_tool_that_lead_nowhere_back_are_answered(clock):
    # the check is on the agents under way, not on the names: a asks b, whose tool asks c
    async with Runtime(clock=clock) as rt:
        a = custom_asker(rt, "a", "b", "a's answer", "a answers e")
        custom_asker(rt, "b", "c", "b's answer")
        rt.start(LLMAgent, name="c", model=fast(rt, ["c's answer"]))
        assert await agent_ask(rt, a, "go") == "a's answer"
        results = {e.name: e.data for e in of(rt, "tool_result")}
        assert results["a"]["result"] == "b's answer" and results["b"]["result"] == "c's answer"
        # after a's turn, another agent's tool may ask a: a waits for nobody any more
        e = custom_asker(rt, "e", "a", "e's answer")
        assert await agent_ask(rt, e, "go") == "e's answer"
        assert of(rt, "tool_result", "e")[0].data["result"] == "a answers e"


async def test_a_longer_cycle_is_named_whole_and_crashes_under_tool_errors_crash():
    from agentlab.agents import AskCycle

    async with Runtime(clock=VirtualClock()) as rt:
        a = asker(rt, "a", "b", "a's answer")
        asker(rt, "b", "c", "b's answer")
        asker(rt, "c", "a", "never", tool_errors="crash")
        assert await agent_ask(rt, a, "go") == "a's answer"
        (exit_,) = of(rt, "exit", "c")
        assert isinstance(exit_.reason.exception, AskCycle)
        assert exit_.reason.exception.chain == ("c", "a", "b", "c")
        results = {e.name: e.data for e in of(rt, "tool_result")}
        assert results["b"]["error_type"] == "CalleeExited"  # c crashed before answering


async def test_an_ask_that_timed_out_leaves_nothing_behind():
    # a's ask of b timed out; later, b may ask a (a waits for nobody any more)
    async with Runtime(clock=VirtualClock()) as rt:
        a = rt.start(LLMAgent, name="a", tools=[ask_agent_tool("b", timeout=10)],
                     model=fast(rt, [ToolCall("a-1", "ask_b", {"question": "q"}), "gave up on b",
                                     "a answers b"]))
        b = rt.start(LLMAgent, name="b", tools=[ask_agent_tool("a")],
                     model=fast(rt, ["late answer", ToolCall("b-1", "ask_a", {"question": "q"}),
                                     "b heard a"], ttft=60.0))
        assert await agent_ask(rt, a, "go") == "gave up on b"
        assert "timed out after 10" in of(rt, "tool_result", "a")[0].data["error"]
        await rt.sleep(120)  # b finishes a's old question (its late reply is dropped)
        assert await agent_ask(rt, b, "ask a") == "b heard a"
        assert of(rt, "tool_result", "b")[-1].data["result"] == "a answers b"


async def test_a_researcher_that_crashes_mid_ask_is_reported_and_restarted():
    async with Runtime(clock=VirtualClock()) as rt:
        dsup = rt.start(DynamicSupervisor, name="experts")
        await start_llm_agent(dsup, name="expert", retry=None, model=fast(rt, [
            ServerError("down", provider="scripted", status=503), "the expert's answer"]))
        lead = fast(rt, [ToolCall("c1", "ask_expert", {"question": "q"}),
                         ToolCall("c2", "ask_expert", {"question": "q again"}), "done"])
        pid = rt.start(LLMAgent, name="lead", model=lead, tools=[ask_agent_tool("expert")])
        assert await agent_ask(rt, pid, "go") == "done"
        first, second = [e.data for e in of(rt, "tool_result", "lead")]
        assert first["error_type"] == "CalleeExited" and "ServerError" in first["error"]
        assert second["result"] == "the expert's answer"
        assert [e.data["child_id"] for e in of(rt, "restart")] == ["expert"]


def test_ask_agent_tool_checks_its_target_and_makes_a_valid_name():
    with pytest.raises(TypeError, match=r"give its registered name .* or its pid, not 42"):
        ask_agent_tool(42)  # type: ignore[arg-type]
    assert ask_agent_tool("Dr. Who").name == "ask_Dr__Who"  # was refused: "pass name="
    assert ask_agent_tool("data-bot").name == "ask_data_bot"
    assert ask_agent_tool("x" * 80).name == "ask_" + "x" * 60


# ---------------------------------------------------------------------------- starting sub-agents


async def test_starting_an_agent_under_a_name_already_running_says_what_to_do():
    # a cell run again: "start_child ... failed: ('already_started', <pid>) (see the reason)"
    from agentlab import SupervisorError

    async with Runtime(clock=VirtualClock()) as rt:
        rt.start(DynamicSupervisor, name="workers")
        first = await start_llm_agent("workers", name="researcher", model=fast(rt, ["x"]))
        with pytest.raises(SupervisorError) as info:
            await start_llm_agent("workers", name="researcher", model=fast(rt, ["y"]))
        message = str(info.value)
        assert message.startswith(
            "cannot start an agent named 'researcher' under 'workers': 'researcher' <0."
        )
        assert "already runs under that name (a cell run again?)" in message
        assert "DynamicSupervisor.terminate_child('workers', rt.whereis('researcher'))" in message
        assert info.value.reason == ("already_started", first)  # as the supervisor said it
        assert rt.whereis("researcher") is first and first.alive


async def test_starting_an_agent_under_something_that_is_no_supervisor_is_refused():
    # under an LLMAgent: the start request crashed that agent (an unknown request);
    # under a plain process: the start waited forever for a reply
    async with Runtime(clock=VirtualClock()) as rt:
        lead = rt.start(LLMAgent, name="lead", model=fast(rt, ["x"]))

        async def inbox(proc):
            await proc.receive()

        plain = rt.spawn(inbox, name="inbox")
        for target, kind in ((lead, "LLMAgent"), ("lead", "LLMAgent"), ("inbox", "Process")):
            with pytest.raises(TypeError, match=rf"'{target if isinstance(target, str) else 'lead'}' "
                               rf"<0\.\d+\.0> is not a supervisor \(it runs {kind}\): agents start "
                               r"under a DynamicSupervisor"):
                await start_llm_agent(target, name="helper")
        assert lead.alive and plain.alive and rt.whereis("helper") is None
        with pytest.raises(TypeError, match="sup must be a DynamicSupervisor's pid or registered name"):
            await start_llm_agent(None, name="helper")  # type: ignore[arg-type]
