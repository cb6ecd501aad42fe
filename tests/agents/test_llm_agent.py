"""LLMAgent: turns, streaming events, tools as supervised tasks, output, retries, restarts."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Annotated, Literal

import pydantic
import pytest
from agents_helpers import fast, gemini, of

from agentlab import (
    Agent,
    CalleeExited,
    ChildSpec,
    Crash,
    PubSub,
    Runtime,
    StartError,
    Supervisor,
    VirtualClock,
)
from agentlab.agents import (
    LLMAgent,
    MaxStepsExceeded,
    OutputInvalid,
    ToolContext,
    agent_ask,
    publish,
    tool,
)
from agentlab.llm import (
    FaultyModel,
    RateLimited,
    Reply,
    Retrying,
    RetryPolicy,
    ScriptedModel,
    ServerError,
    StreamInterrupted,
    ToolCall,
    complete,
)


async def test_ask_streams_tokens_as_events_of_the_agent(clock):
    async with Runtime(clock=clock, seed=1) as rt:
        pid = rt.start(LLMAgent, system="Be brief.", model=fast(rt, ["Hello there, friend."]),
                       name="greeter")
        assert await agent_ask(rt, pid, "Hi") == "Hello there, friend."
        tokens = of(rt, "llm_token", "greeter")
        assert "".join(e.data["text"] for e in tokens) == "Hello there, friend."
        assert {e.pid for e in tokens} == {pid.id}
        (request,) = of(rt, "llm_request", "greeter")
        assert [e.data for e in tokens[:2]] == [
            {"provider": "scripted", "model": "scripted", "request_id": request.data["request_id"],
             "attempt": 1, "text": tokens[i].data["text"], "index": i}
            for i in range(2)
        ]
        assert [e.kind for e in rt.events if e.kind.startswith("turn_")] == ["turn_start", "turn_end"]
        end = of(rt, "turn_end")[0].data
        assert end["ok"] and end["steps"] == 1 and end["answer"] == "Hello there, friend."


async def test_raw_requests():
    async with Runtime(clock=VirtualClock()) as rt:
        pid = rt.start(LLMAgent, system="S", model=fast(rt, ["one", "two"]))
        assert await rt.call(pid, ("ask", "first")) == ("ok", "one")
        history = await rt.call(pid, "history")
        assert [(m.role, m.content) for m in history] == [
            ("system", "S"), ("user", "first"), ("assistant", "one"),
        ]
        usage = await rt.call(pid, "usage")
        assert usage["turns"] == 1 and usage["calls"] == 1 and usage["tokens"] > 0
        assert await rt.call(pid, "reset") == "ok"
        assert [m.role for m in await rt.call(pid, "history")] == ["system"]
        assert await rt.call(pid, ("ask", "again")) == ("ok", "two")


async def test_the_default_model_needs_no_key():
    async with Runtime(clock=VirtualClock()) as rt:
        pid = rt.start(LLMAgent)
        assert await agent_ask(rt, pid, "ping") == "(scripted) You said: ping"


async def test_model_factory_runs_per_incarnation_and_scripts_are_accepted():
    async with Runtime(clock=VirtualClock()) as rt:
        made = []

        def factory(runtime):
            made.append(runtime)
            return fast(runtime, ["from the factory"])

        a = rt.start(LLMAgent, model=factory)
        assert await agent_ask(rt, a, "x") == "from the factory"
        assert made == [rt]
        b = rt.start(LLMAgent, model=["scripted one"])
        assert await agent_ask(rt, b, "x") == "scripted one"


async def test_unknown_options_fail_the_start():
    async with Runtime(clock=VirtualClock()) as rt:
        with pytest.raises(StartError, match="unknown option"):
            rt.start(LLMAgent, temprature=0)
        with pytest.raises(StartError, match="tool_errors"):
            rt.start(LLMAgent, tool_errors="ignore")


def test_child_spec():
    spec = LLMAgent.child_spec("writer", name="writer", restart="transient", system="You write.")
    assert (spec.id, spec.restart, spec.name) == ("writer", "transient", "writer")
    assert spec.start == (LLMAgent, (), {"system": "You write."})


# ---------------------------------------------------------------------------- tools


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


async def test_a_tool_call_runs_in_a_supervised_task(clock):
    async with Runtime(clock=clock) as rt:
        model = fast(rt, [ToolCall("c1", "add", {"a": 2, "b": 3}), "It is 5."])
        pid = rt.start(LLMAgent, model=model, tools=[add], name="adder")
        assert await agent_ask(rt, pid, "2 + 3?") == "It is 5."
        task_spawns = [e for e in of(rt, "spawn") if e.data["kind"] == "task"]
        assert len(task_spawns) == 1
        assert task_spawns[0].path.startswith("adder/")  # under the agent's TaskSupervisor
        start, result = of(rt, "tool_start")[0].data, of(rt, "tool_result")[0].data
        assert start == {"call_id": "c1", "tool": "add", "arguments": {"a": 2, "b": 3}}
        assert result["result"] == "5" and result["error"] is None
        # the model saw the result, answering the call it made
        tool_msg = model.calls[-1][-1]
        assert (tool_msg.role, tool_msg.content, tool_msg.tool_call_id) == ("tool", "5", "c1")
        # the first call carried the tool's schema
        assert of(rt, "llm_request")[0].data["tools"] == 1


async def test_tool_calls_of_one_step_run_concurrently():
    async with Runtime(clock=VirtualClock()) as rt:

        async def slow(seconds: float, ctx: ToolContext) -> str:
            await ctx.runtime.sleep(seconds)
            return f"slept {seconds}"

        model = fast(rt, [
            Reply(tool_calls=[ToolCall("a", "slow", {"seconds": 10}), ToolCall("b", "slow", {"seconds": 10})]),
            "done",
        ])
        pid = rt.start(LLMAgent, model=model, tools=[slow])
        t0 = rt.now()
        assert await agent_ask(rt, pid, "go") == "done"
        assert 10 <= rt.now() - t0 < 12  # not 20
        assert [e.data["result"] for e in of(rt, "tool_result")] == ["slept 10.0", "slept 10.0"]


def boom(x: int) -> int:
    """Always fails."""
    raise ValueError(f"cannot handle {x}")


def quits(code: int) -> int:
    """Ends the program, as a script would."""
    sys.exit(code)


# a tool that calls sys.exit() fails as one that raises does (SystemExit is its error
# type), under either policy: a failed tool or a crashed agent, never the end of the loop
@pytest.mark.parametrize(
    ("fn", "arguments", "error_type", "detail"),
    [(boom, {"x": 1}, ValueError, "cannot handle 1"), (quits, {"code": 3}, SystemExit, "3")],
    ids=["raises", "sys_exit"],
)
async def test_tool_errors_report_gives_the_error_to_the_model(
    clock, fn, arguments, error_type, detail
):
    error = f"{error_type.__name__}: {detail}"
    async with Runtime(clock=clock) as rt:
        model = fast(rt, [ToolCall("c1", fn.__name__, arguments), "The tool failed, sorry."])
        pid = rt.start(LLMAgent, model=model, tools=[fn])
        assert await agent_ask(rt, pid, "try") == "The tool failed, sorry."
        assert pid.alive
        res = of(rt, "tool_result")[0].data
        assert (res["error_type"], res["error"]) == (error_type.__name__, f"the tool failed: {error}")
        assert model.calls[-1][-1].content == f"Error: the tool failed: {error}"


@pytest.mark.parametrize(
    ("fn", "arguments", "error_type"),
    [(boom, {"x": 7}, ValueError), (quits, {"code": 0}, SystemExit)],
    ids=["raises", "sys_exit"],
)
async def test_tool_errors_crash_crashes_the_agent_and_its_supervisor_restarts_it(
    fn, arguments, error_type
):
    async with Runtime(clock=VirtualClock()) as rt:
        model = fast(rt, [ToolCall("c1", fn.__name__, arguments), "after restart"])
        rt.start(Supervisor, [LLMAgent.child_spec("w", name="w", model=model, tools=[fn],
                                                  tool_errors="crash")], name="sup")
        first = rt.whereis("w")
        with pytest.raises(CalleeExited) as info:
            await agent_ask(rt, "w", "try")
        reason = info.value.reason
        assert isinstance(reason, Crash) and reason.type == error_type.__name__
        assert isinstance(reason.exception, error_type)
        assert first.exit_reason == reason  # the linked task's crash is the agent's
        assert of(rt, "restart")[0].data["child_id"] == "w"
        assert rt.whereis("w") is not first
        assert await agent_ask(rt, "w", "again") == "after restart"  # restarted, loop alive


@pytest.mark.parametrize("policy", ["report", "crash"])
def test_ctrl_c_in_a_tool_still_interrupts(policy):
    def interrupted() -> str:
        """Stands for the user pressing Ctrl-C while the tool runs."""
        raise KeyboardInterrupt

    async def main() -> None:
        async with Runtime(clock=VirtualClock()) as rt:
            model = fast(rt, [ToolCall("c1", "interrupted", {}), "never"])
            pid = rt.start(LLMAgent, model=model, tools=[interrupted], tool_errors=policy)
            await agent_ask(rt, pid, "go")

    with pytest.raises(KeyboardInterrupt):
        asyncio.run(main())


@pytest.mark.parametrize("policy", ["report", "crash"])
async def test_tool_timeout(policy):
    async with Runtime(clock=VirtualClock()) as rt:

        @tool(timeout=5)
        async def stuck(ctx: ToolContext) -> str:
            await ctx.runtime.sleep(1000)
            return "never"

        model = fast(rt, [ToolCall("c1", "stuck", {}), "gave up on it"])
        pid = rt.start(LLMAgent, model=model, tools=[stuck], tool_errors=policy)
        if policy == "report":
            assert await agent_ask(rt, pid, "go") == "gave up on it"
            res = of(rt, "tool_result")[0].data
            assert res["error_type"] == "timeout" and res["duration"] == pytest.approx(5, abs=0.5)
        else:
            with pytest.raises(CalleeExited) as info:
                await agent_ask(rt, pid, "go")
            assert info.value.reason.type == "ToolFailed"
        task_pid = next(e.pid for e in of(rt, "spawn") if e.data["kind"] == "task")
        assert all(p.id != task_pid for p in rt.processes())  # the stuck task was stopped


@pytest.mark.parametrize("policy", ["report", "crash"])
async def test_a_tool_that_ignores_cancellation_leaves_nothing_behind(policy):
    # the arun harness fails the test on "Future exception was never retrieved" (and any
    # other report to the loop's exception handler), after a gc.collect()
    async with Runtime(clock=VirtualClock()) as rt:
        went_on = []

        @tool(timeout=5)
        async def deaf(ctx: ToolContext) -> str:
            try:
                await ctx.runtime.sleep(1000)
            except asyncio.CancelledError:  # stopped at the timeout: it carries on regardless
                for _ in range(3):
                    try:
                        await ctx.runtime.sleep(1)
                    except asyncio.CancelledError:  # a dead process's waits end at once
                        went_on.append("sleep")
            return "late"

        model = fast(rt, [ToolCall("c1", "deaf", {}), "gave up on it"])
        pid = rt.start(LLMAgent, model=model, tools=[deaf], tool_errors=policy)
        if policy == "report":
            assert await agent_ask(rt, pid, "go") == "gave up on it"
            assert of(rt, "tool_result")[0].data["error_type"] == "timeout"
        else:
            with pytest.raises(CalleeExited):
                await agent_ask(rt, pid, "go")
        assert went_on == ["sleep"] * 3
        assert pid.alive is (policy == "report")


async def test_model_mistakes_are_reported_even_under_the_crash_policy():
    async with Runtime(clock=VirtualClock(), seed=3) as rt:
        import random

        inner = fast(rt, [ToolCall("c1", "add", {"a": 1, "b": 2}), "ok",
                          ToolCall("c2", "add", {"a": 1, "b": 2}), "ok again",
                          ToolCall("c3", "add", {"a": "x"}), "fine"])
        bad_names = FaultyModel(inner, random.Random(0), p_bad_tool_name=1.0)
        pid = rt.start(LLMAgent, model=bad_names, tools=[add], tool_errors="crash")
        assert await agent_ask(rt, pid, "1") == "ok"
        bad_names.p_bad_tool_name, bad_names.p_invalid_json_args = 0.0, 1.0
        assert await agent_ask(rt, pid, "2") == "ok again"
        bad_names.p_invalid_json_args = 0.0
        assert await agent_ask(rt, pid, "3") == "fine"
        errors = [e.data["error"] for e in of(rt, "tool_result")]
        assert "no tool named 'add_unknown'" in errors[0]
        assert "not valid JSON" in errors[1]
        assert "b: Field required" in errors[2] and "a: Input should be a valid integer" in errors[2]
        assert all(e.data["error_type"] == "invalid_call" for e in of(rt, "tool_result"))
        assert pid.alive


async def test_max_steps_fails_the_turn_and_takes_it_back():
    async with Runtime(clock=VirtualClock()) as rt:
        model = fast(rt, lambda msgs: ToolCall(None, "add", {"a": 1, "b": 1}))
        pid = rt.start(LLMAgent, model=model, tools=[add], max_steps=3)
        with pytest.raises(MaxStepsExceeded, match="max_steps"):
            await agent_ask(rt, pid, "loop forever")
        assert pid.alive
        assert [m.role for m in await rt.call(pid, "history")] == ["system"]
        assert len(of(rt, "llm_request")) == 3
        # generated call ids keep the conversation valid
        assert len({e.data["call_id"] for e in of(rt, "tool_start")}) == 3


@pytest.mark.parametrize("token_events", [True, False])
async def test_a_call_streamed_without_an_id_goes_by_one_id_everywhere(server, token_events):
    # Gemini sends no ids: the model's id is in the streamed event, the run and the history
    model = gemini(server, [{"functionCall": {"name": "add", "args": {"a": 1, "b": 2}}},
                            {"functionCall": {"name": "add", "args": {"a": 3, "b": 4}}}],
                   [{"text": "3 and 7"}])
    async with Runtime(clock=VirtualClock()) as rt, model:
        pid = rt.start(LLMAgent, model=model, tools=[add], token_events=token_events)
        assert await agent_ask(rt, pid, "1 + 2 and 3 + 4?") == "3 and 7"
        started = [e.data["call_id"] for e in of(rt, "tool_start")]
        assert len(set(started)) == 2 and all(started)
        streamed = [e.data["id"] for e in of(rt, "llm_tool_call") if e.data["id"] is not None]
        assert streamed == (started if token_events else [])
        _, _, asked, *results, _ = await rt.call(pid, "history")
        assert [c.id for c in asked.tool_calls] == [m.tool_call_id for m in results] == started
    # over HTTP: the second request carries the calls back, with their results
    first, second = (r["body"]["contents"] for r in server.requests(model.base_url))
    assert len(first) == 1 and [c["role"] for c in second] == ["user", "model", "user"]
    sent = [p["functionResponse"] for p in second[2]["parts"]]
    assert [(r["id"], r["name"], r["response"]) for r in sent] == [
        (started[0], "add", {"result": "3"}), (started[1], "add", {"result": "7"})]


class Point(pydantic.BaseModel):
    x: int
    tags: list[str] = []


def place(p: Point, weights: dict[str, int], note: int | None = None) -> str:
    """Place a point."""
    return f"placed {p.x} ({sum(weights.values())}, {note})"


def tally(start: int, **more: float) -> float:
    """Add up."""
    return start + sum(more.values())


async def test_gemini_gets_the_tools_json_schemas_as_parameters_json_schema(server):
    # sent as `parameters` (an OpenAPI-subset Schema), these schemas ($defs/$ref, anyOf
    # with null, additionalProperties, default, title) made the API answer 400
    model = gemini(server, [{"functionCall": {"name": "place", "args": {"p": {"x": 2}, "weights": {"a": 3}}}},
                            {"functionCall": {"name": "tally", "args": {"start": 1, "y": 2.5}}}],
                   [{"text": "done"}])
    async with Runtime(clock=VirtualClock()) as rt, model:
        pid = rt.start(LLMAgent, model=model, tools=[place, tally])
        assert await agent_ask(rt, pid, "place and tally") == "done"
        assert [e.data["result"] for e in of(rt, "tool_result")] == ["placed 2 (3, None)", "3.5"]
    for req in server.requests(model.base_url):
        (tools,) = req["body"]["tools"]
        declared = {d["name"]: d for d in tools["functionDeclarations"]}
        assert declared == {
            "place": {"name": "place", "description": "Place a point.",
                      "parametersJsonSchema": tool(place).parameters},
            "tally": {"name": "tally", "description": "Add up.",
                      "parametersJsonSchema": tool(tally).parameters},
        }
    schema = declared["place"]["parametersJsonSchema"]
    assert schema["properties"]["p"] == {"$ref": "#/$defs/Point"}
    assert schema["$defs"]["Point"]["title"] == "Point"
    assert schema["properties"]["note"]["anyOf"][1] == {"type": "null"}
    assert declared["tally"]["parametersJsonSchema"]["additionalProperties"] == {"type": "number"}


# ---------------------------------------------------------------------------- structured output


class Verdict(pydantic.BaseModel):
    label: Literal["spam", "ham"]
    confidence: float


async def test_structured_output_is_validated():
    async with Runtime(clock=VirtualClock()) as rt:
        model = fast(rt, ['```json\n{"label": "spam", "confidence": 0.9}\n```'])
        pid = rt.start(LLMAgent, model=model, output=Verdict)
        verdict = await agent_ask(rt, pid, "WIN A PRIZE")
        assert verdict == Verdict(label="spam", confidence=0.9)
        assert "JSON schema for Verdict" in model.calls[0][0].content


async def test_invalid_output_is_reasked_with_the_error():
    async with Runtime(clock=VirtualClock()) as rt:
        model = fast(rt, ['{"label": "eggs"}', '{"label": "ham", "confidence": 0.2}'])
        pid = rt.start(LLMAgent, model=model, output=Verdict)
        assert (await agent_ask(rt, pid, "hello")).label == "ham"
        feedback = model.calls[1][-1]
        assert feedback.role == "user" and "label: Input should be 'spam' or 'ham'" in feedback.content
        assert "confidence: Field required" in feedback.content
        assert [e.data["attempt"] for e in of(rt, "output_invalid")] == [1]


class Label(pydantic.BaseModel):
    label: str

    @pydantic.field_validator("label")
    @classmethod
    def known(cls, value: str) -> str:
        return {"spam": "SPAM", "ham": "HAM"}[value]  # a KeyError for anything else


async def test_an_answer_that_makes_a_validator_raise_is_reasked_not_a_crash():
    # as for a tool's arguments: whatever the check raises, it is the answer that is bad
    async with Runtime(clock=VirtualClock()) as rt:
        model = fast(rt, ['{"label": "eggs"}', '{"label": "ham"}'])
        pid = rt.start(LLMAgent, model=model, output=Label)
        assert await agent_ask(rt, pid, "classify") == Label.model_construct(label="HAM")
        assert "could not be checked: KeyError: 'eggs'" in model.calls[1][-1].content
        assert [e.data["attempt"] for e in of(rt, "output_invalid")] == [1] and pid.alive


async def test_output_retries_exhausted_fails_clearly_and_the_agent_stays():
    async with Runtime(clock=VirtualClock()) as rt:
        model = fast(rt, ["not json", "{}", "still no", "ham"])
        pid = rt.start(LLMAgent, model=model, output=Verdict, output_retries=2)
        with pytest.raises(OutputInvalid) as info:
            await agent_ask(rt, pid, "classify")
        err = info.value
        assert err.attempts == 3 and err.text == "still no" and "Verdict" in str(err)
        assert pid.alive and len(await rt.call(pid, "history")) == 1
        assert of(rt, "turn_end")[0].data["error_type"] == "OutputInvalid"


async def test_an_empty_answer_is_reasked():
    async with Runtime(clock=VirtualClock()) as rt:
        pid = rt.start(LLMAgent, model=fast(rt, ["", "something"]))
        assert await agent_ask(rt, pid, "say something") == "something"


async def test_empty_answers_without_a_schema_fail_with_a_sentence_about_empty_answers():
    # it read "gave no valid a non-empty answer ... simplify the schema", with no schema
    async with Runtime(clock=VirtualClock()) as rt:
        pid = rt.start(LLMAgent, model=fast(rt, ["", " "]), output_retries=1, name="quiet")
        with pytest.raises(OutputInvalid) as info:
            await agent_ask(rt, pid, "say something")
        assert str(info.value) == (
            "agent 'quiet' answered with empty text 2 time(s) in a row. Look at the model and "
            "its options (a max_tokens too small, a content filter), or raise output_retries."
        )
        assert info.value.attempts == 2 and info.value.errors == "the answer was empty"
        # an answer cut short says how it ended
        cut = rt.start(LLMAgent, model=fast(rt, [Reply("", stop_reason="MAX_TOKENS")]),
                       output_retries=0, name="cut")
        with pytest.raises(OutputInvalid, match=r"^agent 'cut' answered with empty text 1 "
                           r"time\(s\) in a row \(the last ended with stop reason 'MAX_TOKENS'\)\."):
            await agent_ask(rt, cut, "say something")
        assert pid.alive and cut.alive


class _Echo(Agent):
    """Not an LLMAgent: replies with the request itself, or ``("error", text)``."""

    def init(self, tag=None):
        self.tag = tag

    def handle_call(self, request, caller):
        return request if self.tag is None else (self.tag, request[1])


async def test_asking_a_process_that_is_no_llm_agent_says_so():
    # it raised "TypeError: exceptions must derive from BaseException"
    async with Runtime(clock=VirtualClock()) as rt:
        pid = rt.start(_Echo, name="echo")
        for target in (pid, "echo"):
            with pytest.raises(TypeError) as info:
                await agent_ask(rt, target, "hi")
            message = str(info.value)
            assert message.startswith("agent_ask asks an LLMAgent, but 'echo' <0.")
            assert "(it runs _Echo) replied ('ask', 'hi') to ('ask', text)" in message
            assert "it is not an LLMAgent" in message and "await rt.call(agent, request)" in message
        # ("error", x) with no exception in it is no LLMAgent's reply either
        odd = rt.start(_Echo, "error")
        with pytest.raises(TypeError, match=r"replied \('error', 'hi'\) to \('ask', text\)"):
            await agent_ask(rt, odd, "hi")
        assert pid.alive and odd.alive


# ---------------------------------------------------------------------------- retries and restarts


async def test_transient_errors_are_retried_once_by_the_retry_layer():
    async with Runtime(clock=VirtualClock()) as rt:
        model = fast(rt, [RateLimited("scripted", retry_after=30.0), "made it"])
        pid = rt.start(LLMAgent, model=model, name="patient")
        t0 = rt.now()
        assert await agent_ask(rt, pid, "hi") == "made it"
        assert rt.now() - t0 >= 30.0
        retry = of(rt, "llm_retry", "patient")[0].data
        assert (retry["attempt"], retry["delay"], retry["model"]) == (2, 30.0, "scripted")
        assert (await rt.call(pid, "usage"))["failed"] == 1


async def test_exhausted_retries_crash_the_agent_with_the_typed_error():
    async with Runtime(clock=VirtualClock()) as rt:
        outage = ServerError("down", provider="scripted", status=503)
        model = fast(rt, [outage, outage, outage, "back"])
        rt.start(Supervisor, [LLMAgent.child_spec("w", name="w", model=model,
                                                  retry=RetryPolicy(max_retries=2))])
        first = rt.whereis("w")
        with pytest.raises(CalleeExited) as info:
            await agent_ask(rt, "w", "hi")
        reason = info.value.reason
        assert isinstance(reason, Crash) and isinstance(reason.exception, ServerError)
        assert len(of(rt, "llm_request")) == 3  # 1 + max_retries: nothing else retried
        assert [e.data["child_id"] for e in of(rt, "restart")] == ["w"]
        assert not first.alive and rt.whereis("w").alive
        assert await agent_ask(rt, "w", "hi") == "back"


async def test_a_retrying_model_is_unwrapped_not_stacked():
    async with Runtime(clock=VirtualClock()) as rt:
        outage = ServerError("down", provider="scripted", status=503)
        inner = fast(rt, [outage, outage, outage, outage])
        pid = rt.start(LLMAgent, model=Retrying(inner, RetryPolicy(max_retries=1, base=0.1)))
        with pytest.raises(CalleeExited):
            await agent_ask(rt, pid, "hi")
        assert len(of(rt, "llm_request")) == 2


@pytest.mark.parametrize(
    ("retry", "given"),
    [(RetryPolicy(max_retries=5), "retry=RetryPolicy(max_retries=5"), (None, "retry=None (no retries)")],
)
async def test_retry_beside_a_retrying_model_with_another_policy_fails_the_start(retry, given):
    # two policies for one retry layer: neither silently wins (the model's did)
    async with Runtime(clock=VirtualClock()) as rt:
        model = Retrying(fast(rt, ["fine"]), RetryPolicy(max_retries=1, base=0.1))
        with pytest.raises(StartError) as info:
            rt.start(LLMAgent, model=model, retry=retry)
        message = str(info.value)
        assert given in message
        assert "a Retrying model whose policy is RetryPolicy(max_retries=1, base=0.1" in message
        assert "Leave retry= out" in message and "model=<the Retrying>.model" in message
        # also from a model factory, under a supervisor
        with pytest.raises(StartError, match="give its policy once"):
            rt.start(Supervisor, [LLMAgent.child_spec("w", model=lambda rt: model, retry=retry)])
        assert of(rt, "llm_request") == []


async def test_retry_equal_to_the_retrying_models_policy_is_accepted():
    async with Runtime(clock=VirtualClock()) as rt:
        outage = ServerError("down", provider="scripted", status=503)
        model = Retrying(fast(rt, [outage] * 4), RetryPolicy(max_retries=2, base=0.1))
        pid = rt.start(LLMAgent, model=model, retry=RetryPolicy(max_retries=2, base=0.1))
        with pytest.raises(CalleeExited):
            await agent_ask(rt, pid, "hi")
        assert len(of(rt, "llm_request")) == 3  # the one policy, once: not stacked


async def test_retry_none_disables_retrying():
    async with Runtime(clock=VirtualClock()) as rt:
        pid = rt.start(LLMAgent, model=fast(rt, [RateLimited("scripted", retry_after=1.0), "x"]),
                       retry=None)
        with pytest.raises(CalleeExited) as info:
            await agent_ask(rt, pid, "hi")
        assert info.value.reason.type == "RateLimited"
        assert of(rt, "llm_retry") == []


async def test_a_crash_in_a_supervised_team_keeps_the_siblings():
    async with Runtime(clock=VirtualClock()) as rt:
        a = fast(rt, ["a1", "a2"])
        b = fast(rt, [ServerError("down", provider="scripted")])
        rt.start(Supervisor, [
            LLMAgent.child_spec("a", name="a", model=a),
            LLMAgent.child_spec("b", name="b", model=b, retry=None),
        ], strategy="one_for_one", intensity=2)
        before = rt.whereis("a")
        assert await agent_ask(rt, "a", "x") == "a1"
        with pytest.raises(CalleeExited):
            await agent_ask(rt, "b", "x")
        assert rt.whereis("a") is before
        assert await agent_ask(rt, "a", "x") == "a2"
        assert [e.data["child_id"] for e in of(rt, "restart")] == ["b"]
        _ = ChildSpec


async def test_token_events_can_be_left_out():
    async with Runtime(clock=VirtualClock()) as rt:
        model = fast(rt, [ToolCall("c1", "add", {"a": 1, "b": 2}), "three"])
        pid = rt.start(LLMAgent, model=model, tools=[add], token_events=False, name="quiet")
        assert await agent_ask(rt, pid, "1 + 2?") == "three"
        assert of(rt, "llm_token") == [] and of(rt, "llm_tool_call") == []
        assert len(of(rt, "llm_response", "quiet")) == 2 and len(of(rt, "tool_result")) == 1


async def test_a_resent_partial_stream_is_assembled_from_the_last_attempt():
    async with Runtime(clock=VirtualClock(), seed=1) as rt:
        cut = Reply("Hello wonderful world", error=StreamInterrupted("cut"), fail_after=2)
        model = Retrying(fast(rt, [cut, "Hello wonderful world"]), resend_partial=True)
        pid = rt.start(LLMAgent, model=model)
        assert await agent_ask(rt, pid, "hi") == "Hello wonderful world"
        assert (await rt.call(pid, "history"))[-1].content == "Hello wonderful world"
        assert len(of(rt, "llm_retry")) == 1
        # the event log keeps what each attempt streamed
        streamed = {e.data["request_id"]: "" for e in of(rt, "llm_request")}
        for e in of(rt, "llm_token"):
            streamed[e.data["request_id"]] += e.data["text"]
        cut_short, whole = streamed.values()
        assert cut_short and "Hello wonderful world".startswith(cut_short) and cut_short != whole
        assert whole == "Hello wonderful world"


# ---------------------------------------------------------------------------- model mistakes


def picky(word: Annotated[str, pydantic.AfterValidator(lambda w: w.no_such_method())]) -> str:
    """A tool whose argument check raises something other than a validation error."""
    return word


raw_tool = tool(lambda q: q, name="raw", schema={"type": "object", "properties": {"q": {"type": "string"}}})


@pytest.mark.parametrize("policy", ["report", "crash"])
async def test_arguments_that_break_the_check_are_reported_not_a_crash(policy):
    async with Runtime(clock=VirtualClock()) as rt:
        model = fast(rt, [
            Reply(tool_calls=[ToolCall("c1", "picky", {"word": "x"}), ToolCall("c2", "raw", {"query": "x"})]),
            "sorry",
        ])
        pid = rt.start(LLMAgent, model=model, tools=[picky, raw_tool], tool_errors=policy)
        assert await agent_ask(rt, pid, "go") == "sorry"
        assert pid.alive
        picked, rawed = (e.data for e in of(rt, "tool_result"))
        assert picked["error_type"] == rawed["error_type"] == "invalid_call"
        assert "arguments for 'picky' could not be checked: AttributeError" in picked["error"]
        assert "arguments for 'raw' do not fit its parameters" in rawed["error"]
        assert [m.content[:6] for m in model.calls[-1][-2:]] == ["Error:", "Error:"]


# ---------------------------------------------------------------------------- options


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("max_steps", 0), ("max_steps", "3"), ("max_steps", True), ("max_steps", 2.0),
        ("output_retries", -1), ("output_retries", None),
        ("tool_timeout", 0), ("tool_timeout", -5.0), ("tool_timeout", "30"), ("tool_timeout", float("nan")),
        ("tool_timeout", None),
        ("max_tokens", -1), ("max_tokens", "100"), ("max_tokens", 1.5),
        ("max_cost_usd", -0.01), ("max_cost_usd", "0.5"), ("max_cost_usd", float("inf")),
        ("retry", 3), ("budget", 100), ("model_options", [("temperature", 0)]),
    ],
)
async def test_bad_options_fail_the_start_by_name(option, value):
    async with Runtime(clock=VirtualClock()) as rt:
        with pytest.raises(StartError, match=rf"{option} must be"):
            rt.start(LLMAgent, model=fast(rt, ["fine"]), **{option: value})
        assert of(rt, "llm_request") == []


async def test_good_numeric_options_are_accepted():
    async with Runtime(clock=VirtualClock()) as rt:
        pid = rt.start(LLMAgent, model=fast(rt, ["fine"]), max_steps=1, output_retries=0,
                       tool_timeout=0.5, max_tokens=10_000, max_cost_usd=0)
        assert await agent_ask(rt, pid, "hi") == "fine"


# ---------------------------------------------------------------------------- request ids


async def _one_run(seed: int) -> list[tuple[object, ...]]:
    async with Runtime(clock=VirtualClock(), seed=seed) as rt:

        async def ask_b(question: str, ctx: ToolContext) -> str:
            """Ask b; then call a model straight from the tool."""
            answer = await agent_ask(ctx.runtime, "b", question)
            direct = fast(ctx.runtime, ["direct"])
            await complete(direct, "x", emit=lambda kind, **f: ctx.runtime.emit(kind, ctx.agent, **f))
            return answer

        rt.start(LLMAgent, name="b", model=["b says hi"])
        rt.start(LLMAgent, name="a", model=[ToolCall("c1", "ask_b", {"question": "hi?"}), "done"],
                 tools=[ask_b])
        assert await agent_ask(rt, "a", "go") == "done"
        return [(e.seq, e.time, e.kind, e.name, json.dumps(e.data, sort_keys=True, default=repr))
                for e in rt.events]


async def test_request_ids_are_numbered_per_runtime():
    first = await _one_run(seed=3)
    second = await _one_run(seed=3)  # the same seed, later in the same process
    assert first == second
    ids = [json.loads(data)["request_id"] for _, _, kind, _, data in first if kind == "llm_request"]
    assert ids == ["llm-1", "llm-2", "llm-3", "llm-4"]  # a, b, the tool's own call, a again


async def _calls_outside_agents(seed: int) -> list[str]:
    """The request ids of calls made from the test itself (as a notebook cell makes them),
    from a task process, and by an agent, in that order, all into the runtime's log."""
    async with Runtime(clock=VirtualClock(), seed=seed) as rt:

        def emit(kind: str, **fields: object) -> None:
            rt.emit(kind, None, **fields)

        async def from_a_task() -> str:
            return (await complete(fast(rt, ["task"]), "x", emit=emit)).text

        assert (await complete(fast(rt, ["cell"]), "x", emit=emit)).text == "cell"
        assert await rt.task(from_a_task).wait() == "task"
        rt.start(LLMAgent, name="a", model=["agent"])
        assert await agent_ask(rt, "a", "go") == "agent"
        assert (await complete(fast(rt, ["cell again"]), "x", emit=emit)).text == "cell again"
        return [e.data["request_id"] for e in of(rt, "llm_request")]


async def test_calls_outside_agents_are_numbered_in_the_runtime_of_the_running_loop():
    # a second runtime in the same process numbers from the same start, whatever ran before
    first = await _calls_outside_agents(seed=5)
    second = await _calls_outside_agents(seed=5)
    assert first == second == ["llm-1", "llm-2", "llm-3", "llm-4"]
    # with no open runtime, a call numbers in the process-wide sequence, which goes on
    ids: list[str] = []
    for _ in range(2):
        await complete(ScriptedModel(["free"], ttft=0.0, jitter=0.0), "x",
                       emit=lambda kind, **f: ids.append(f["request_id"]) if kind == "llm_request" else None)
    assert int(ids[1][4:]) == int(ids[0][4:]) + 1


# ---------------------------------------------------------------------------- misconfiguration


@pytest.mark.parametrize(("config", "error"), [
    ({"tools": add}, r"tools must be a list of functions or tools, not .*; for one tool, pass tools=\[add\]"),
    ({"tools": tool(add)}, r"tools must be a list .*pass tools=\[add\]"),
    ({"tools": "add"}, r"tools must be a list of functions or tools, not 'add'"),
    ({"model_options": {"tools": []}}, r"model_options cannot set \['tools'\].*tools="),
    ({"model_options": {"emit": print, "temperature": 0}}, r"model_options cannot set \['emit'\]"),
    ({"topics": ["news"]}, r"topics given but no pubsub= to use them on"),
    ({"publish_to": "news"}, r"publish_to given but no pubsub="),
    ({"pubsub": "news", "topics": ["news"]}, r"pubsub must be an agentlab.PubSub"),
])
async def test_a_misconfigured_agent_fails_its_start_saying_what_to_pass(config, error):
    async with Runtime(clock=VirtualClock()) as rt:
        with pytest.raises(StartError, match=error):
            rt.start(LLMAgent, model=["fine"], **config)


async def test_one_topic_given_as_a_string_is_refused_not_split_into_letters():
    # a string is iterable: "findings" subscribed the agent to "f", "i", "n"... and the
    # posts on "findings" never reached it
    async with Runtime(clock=VirtualClock()) as rt:
        news = PubSub(rt, name="news")
        with pytest.raises(StartError, match=r"topics must be a list of topics, not 'findings'; "
                                             r"for one topic, pass topics=\['findings'\]"):
            rt.start(LLMAgent, model=["fine"], pubsub=news, topics="findings")
        assert news.topics() == []
        rt.start(LLMAgent, model=["fine"], pubsub=news, topics=["findings"], name="editor")
        assert publish(news, "findings", "Solar output rose.", sender="alice") == 1


@pytest.mark.parametrize("request_", ["ask", ("ask",), ("ask", "a", "b")])
async def test_an_ask_without_its_text_is_refused_not_guessed(request_):
    # "ask" alone used to ask the model "s" (its second letter)
    async with Runtime(clock=VirtualClock()) as rt:
        model = fast(rt, ["never"])
        pid = rt.start(LLMAgent, model=model)
        with pytest.raises(CalleeExited) as info:
            await rt.call(pid, request_)
        assert "an ask is ('ask', text)" in str(info.value.reason)
        assert model.calls == []
