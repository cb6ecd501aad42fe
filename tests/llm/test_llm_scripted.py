"""ScriptedModel: token timing on the clock, tool calls, failures, determinism; complete()."""

from __future__ import annotations

import asyncio

import pytest
from llm_helpers import Events, FakeClock

from agentlab.llm import (
    Finish,
    Message,
    Model,
    RateLimited,
    Reply,
    ScriptedModel,
    StreamInterrupted,
    TextDelta,
    Tool,
    ToolCall,
    ToolCallDelta,
    Usage,
    complete,
)
from agentlab.llm._response import Assembler
from agentlab.llm._scripted import split_tokens


def run(coro):
    return asyncio.run(coro)


async def collect(model, messages="hi", **kw):
    return [ev async for ev in model.stream(messages, **kw)]


def test_text_streams_in_token_pieces_with_timing():
    clock = FakeClock(start=0.0)
    model = ScriptedModel(["Hello, wonderful world!"], clock=clock, ttft=0.5, tokens_per_second=10, jitter=0.0)
    events = run(collect(model))
    texts = [e.text for e in events if isinstance(e, TextDelta)]
    assert texts == split_tokens("Hello, wonderful world!") and "".join(texts) == "Hello, wonderful world!"
    assert clock.sleeps == [0.5] + [0.1] * (len(texts) - 1)
    assert isinstance(events[-2], Usage) and events[-2].reported
    assert events[-1] == Finish("stop")


def test_same_seed_same_timing():
    def timings(seed):
        clock = FakeClock()
        run(collect(ScriptedModel(["a b c d e f g"], clock=clock, seed=seed, jitter=0.3)))
        return clock.sleeps

    assert timings(1) == timings(1) != timings(2)


def test_tool_calls_and_complete():
    clock = FakeClock()
    call = ToolCall("call_9", "get_capital", {"country": "UK"})
    second = ToolCall(None, "get_time", {})
    model = ScriptedModel([Reply("Let me look.", tool_calls=[call, second])], clock=clock)
    response = run(complete(model, [Message.user("Capital of the UK?")], tools=[Tool("get_capital")]))
    assert response.text == "Let me look."
    assert [(c.id, c.name, c.arguments) for c in response.tool_calls] == [
        ("call_9", "get_capital", {"country": "UK"}),
        ("call_1", "get_time", {}),
    ]
    assert response.stop_reason == "tool_calls"
    assert response.message() == Message.assistant("Let me look.", response.tool_calls)


def test_function_script_sees_the_conversation():
    model = ScriptedModel(lambda msgs: f"echo: {msgs[-1].content}", clock=FakeClock())
    assert run(complete(model, "ping")).text == "echo: ping"
    assert model.calls[0] == [Message.user("ping")]


def test_failures_before_and_after_output():
    clock = FakeClock()
    model = ScriptedModel(
        [RateLimited("scripted", retry_after=2.0), Reply("one two three", error=StreamInterrupted("cut"), fail_after=2)],
        clock=clock,
    )
    with pytest.raises(RateLimited):
        run(complete(model, "hi"))
    seen = []

    async def partial():
        async for ev in model.stream("hi"):
            seen.append(ev)

    with pytest.raises(StreamInterrupted):
        run(partial())
    assert [e.text for e in seen] == ["one", " two"]


def test_exhausted_script_says_so():
    model = ScriptedModel(["only"], clock=FakeClock())
    run(complete(model, "hi"))
    with pytest.raises(IndexError, match="all 1 scripted replies were used"):
        run(complete(model, "hi"))


def test_events_of_a_scripted_call():
    clock = FakeClock(start=0.0)
    events = Events()
    model = ScriptedModel(["a b"], clock=clock, ttft=1.0, tokens_per_second=4, jitter=0.0, emit=events)
    run(complete(model, "hi"))
    assert events.kinds() == ["llm_request", "llm_first_token", "llm_token", "llm_token", "llm_response"]
    assert events.of("llm_first_token")[0]["ttft"] == 1.0
    done = events.of("llm_response")[0]
    assert done["latency"] == 1.25 and done["stop_reason"] == "stop"
    assert done["output_tokens"] == 2 and done["cost_usd"] == 0.0 and done["usage_reported"]
    assert [f["text"] for f in events.of("llm_token")] == ["a", " b"]


def test_model_protocol_and_custom_models():
    assert isinstance(ScriptedModel(["x"]), Model)

    class Minimal:
        async def stream(self, messages, *, tools=None, **opts):
            yield TextDelta("hi")
            yield ToolCallDelta(0, "c1", "f", '{"a"')
            yield ToolCallDelta(0, arguments_delta=": 1}")
            yield Finish("stop")

    response = run(complete(Minimal(), "x"))
    assert response.text == "hi" and response.tool_calls[0].arguments == {"a": 1}
    assert response.usage is not None and not response.usage.reported  # estimated


def test_assembler_parallel_calls_and_bad_json():
    asm = Assembler()
    for ev in [
        ToolCallDelta(1, "b", "second", '{"y":'),
        ToolCallDelta(0, "a", "first", ""),
        ToolCallDelta(1, arguments_delta=" 2}"),
        ToolCallDelta(2, "c", "third", '{"z": '),
        Finish("tool_calls"),
    ]:
        asm.add(ev)
    calls = asm.response().tool_calls
    assert [(c.name, c.arguments, c.error is None) for c in calls] == [
        ("first", {}, True),
        ("second", {"y": 2}, True),
        ("third", {}, False),
    ]
    assert calls[2].raw_arguments == '{"z": ' and "not valid JSON" in (calls[2].error or "")


def test_messages_from_dicts():
    from agentlab.llm._messages import as_messages

    msgs = as_messages([
        {"role": "system", "content": "s"},
        "u",
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}]},
        {"role": "tool", "tool_call_id": "c", "content": "42"},
    ])
    assert [m.role for m in msgs] == ["system", "user", "assistant", "tool"]
    assert msgs[2].tool_calls[0] == ToolCall("c", "f", {"a": 1})
    with pytest.raises(ValueError):
        Message("robot", "x")  # type: ignore[arg-type]


@pytest.mark.parametrize(("option", "value", "error"), [
    ("tokens_per_second", -1, ValueError), ("tokens_per_second", float("nan"), ValueError),
    ("tokens_per_second", "fast", TypeError), ("tokens_per_second", True, TypeError),
    ("ttft", -0.1, ValueError), ("ttft", float("inf"), ValueError), ("ttft", float("nan"), ValueError),
    ("ttft", None, TypeError),
    ("jitter", -0.1, ValueError), ("jitter", 1.5, ValueError), ("jitter", float("nan"), ValueError),
    ("jitter", "0.2", TypeError),
])
def test_pacing_that_makes_no_sense_is_refused_when_the_model_is_made(option, value, error):
    with pytest.raises(error, match=rf"^{option} must be a number .*, not {value!r}$"):
        ScriptedModel(["hi"], **{option: value})


@pytest.mark.parametrize("rate", [0, float("inf")])
def test_a_rate_of_zero_or_inf_streams_without_gaps(rate):
    clock = FakeClock(start=0.0)
    model = ScriptedModel(["one two three"], clock=clock, ttft=0.5, tokens_per_second=rate, jitter=0.0)
    assert run(complete(model, "hi")).text == "one two three"
    assert clock.sleeps == [0.5]
