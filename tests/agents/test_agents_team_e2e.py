"""End to end: a supervised team of LLM agents with seeded faults finishes its job.

::

    team (Supervisor, one_for_one)
    ├── workers (DynamicSupervisor)      workers start on demand, transient
    │   ├── w1   rate-limited, then a tool call; its model spoils tool names (seeded)
    │   └── w2   three 503s: retries exhausted, w2 crashes, workers restarts it
    └── planner  asks both in parallel (tool calls), re-asks w2 after the crash,
                 answers with a validated Report (first answer invalid: re-asked)

The restarts and retries are in the event stream and in the trace tables, and
the same seed gives the same event log.
"""

from __future__ import annotations

import random
from typing import Any

import pydantic
import pytest
from agents_helpers import normalized_log, of

from agentlab import (
    ChildSpec,
    Crash,
    DynamicSupervisor,
    Runtime,
    Supervisor,
    VirtualClock,
)
from agentlab.agents import LLMAgent, ToolContext, agent_ask, start_llm_agent
from agentlab.llm import (
    FaultyModel,
    Message,
    RateLimited,
    Reply,
    RetryPolicy,
    ScriptedModel,
    ServerError,
    ToolCall,
)


class Report(pydantic.BaseModel):
    topic: str
    findings: list[str]


def lookup(topic: str) -> str:
    """Look a topic up in the team's notes."""
    return {"solar": "solar +600 GW", "wind": "wind +117 GW"}[topic]


def planner_script(messages: list[Message]) -> Any:
    last = messages[-1]
    if last.role == "user" and last.content.startswith("Your answer did not validate"):
        found = [m.content for m in messages if m.role == "tool" and not m.content.startswith("Error")]
        findings = ", ".join(f'"{f}"' for f in found)
        return '{"topic": "renewables", "findings": [' + findings + "]}"
    if last.role == "user":
        return Reply(tool_calls=[
            ToolCall("p1", "ask_worker", {"worker": "w1", "question": "solar"}),
            ToolCall("p2", "ask_worker", {"worker": "w2", "question": "wind"}),
        ])
    if last.role == "tool" and last.content.startswith("Error"):
        return ToolCall("p3", "ask_worker", {"worker": "w2", "question": "wind"})
    return "renewables grew"  # not JSON: the output check re-asks


def build(rt: Runtime, seed: int) -> None:
    def model(script: Any) -> ScriptedModel:
        return ScriptedModel(script, clock=rt, rng=rt.random, prices={"scripted": (0.15, 0.6)})

    outage = ServerError("HTTP 503 (scripted)", provider="scripted", status=503)
    workers = {
        "w1": FaultyModel(
            model([RateLimited("scripted", retry_after=2.0),
                   ToolCall("w1-1", "lookup", {"topic": "solar"}), "solar +600 GW"]),
            random.Random(seed),
            p_bad_tool_name=0.5,
        ),
        "w2": model([outage, outage, outage, ToolCall("w2-1", "lookup", {"topic": "wind"}),
                     "wind +117 GW"]),
    }

    async def ask_worker(worker: str, question: str, ctx: ToolContext) -> str:
        """Ask a worker agent."""
        if ctx.runtime.whereis(worker) is None:
            await start_llm_agent("workers", name=worker, model=workers[worker], tools=[lookup],
                                  retry=RetryPolicy(max_retries=2, base=0.5))
        answer: str = await agent_ask(ctx.runtime, worker, question)
        return answer

    rt.start(Supervisor, [
        ChildSpec("workers", DynamicSupervisor, name="workers"),
        LLMAgent.child_spec("planner", name="planner", model=model(planner_script),
                            tools=[ask_worker], output=Report),
    ], strategy="one_for_one", name="team")


async def run_team(seed: int) -> tuple[Report, Runtime]:
    async with Runtime(clock=VirtualClock(), seed=seed) as rt:
        build(rt, seed)
        report = await agent_ask(rt, "planner", "Report on renewables")
    return report, rt


async def test_the_team_completes_its_job_through_faults():
    report, rt = await run_team(seed=11)
    assert report == Report(topic="renewables", findings=["solar +600 GW", "wind +117 GW"])

    # w2 crashed with the typed error once its retries ran out, and was restarted
    w2_exits = [e for e in of(rt, "exit", "w2") if isinstance(e.reason, Crash)]
    assert len(w2_exits) == 1 and w2_exits[0].reason.type == "ServerError"
    restarts = of(rt, "restart")
    assert [e.data["child_id"] for e in restarts] == ["w2"]
    assert restarts[0].path == "team/workers"
    # the retry layer retried w1's 429 (honouring Retry-After) and w2's 503s
    assert [e.data["error_type"] for e in of(rt, "llm_retry", "w1")] == ["rate_limit"]
    assert of(rt, "llm_retry", "w1")[0].data["delay"] == 2.0
    assert [e.data["error_type"] for e in of(rt, "llm_retry", "w2")] == ["server", "server"]
    # the planner saw w2's crash as a tool error, asked again, and was re-asked for valid output
    failed = [e for e in of(rt, "tool_result", "planner") if e.data["error"]]
    assert len(failed) == 1 and "CalleeExited" in failed[0].data["error"]
    assert len(of(rt, "output_invalid", "planner")) == 1
    # the workers' tool calls ran as tasks; every started tool got a result
    assert len(of(rt, "tool_start")) == len(of(rt, "tool_result"))


async def test_same_seed_same_event_log():
    _, a = await run_team(seed=5)
    _, b = await run_team(seed=5)
    assert normalized_log(list(a.events)) == normalized_log(list(b.events))
    _, c = await run_team(seed=6)
    assert normalized_log(list(c.events)) != normalized_log(list(a.events))


async def test_the_trace_tables_show_retries_restarts_and_tools():
    trace = pytest.importorskip("agentlab.trace")
    _, rt = await run_team(seed=11)
    run = trace.Recorder.from_events(rt.events).run()

    calls = run.llm_calls()
    w2 = calls[calls["agent"] == "w2"]
    assert list(w2["outcome"])[:3] == ["error", "error", "error"]
    assert list(w2["attempt"])[:3] == [1, 2, 3]
    assert (calls["outcome"] == "ok").sum() >= 5
    assert calls["cost"].sum() > 0
    assert set(calls["agent"]) == {"planner", "w1", "w2"}

    restarts = run.restarts()
    assert list(restarts["child_id"]) == ["w2"]
    assert restarts["time_to_recovery"].iloc[0] == 0

    tools = run.tool_calls()
    assert set(tools["tool"]) >= {"ask_worker", "lookup"}
    planner_tools = tools[tools["agent"] == "planner"]
    assert list(planner_tools["outcome"]).count("error") == 1
    assert (tools["outcome"] != "pending").all()
