"""FaultTransport and FaultyModel: seeded, and each fault surfaces as the right error."""

from __future__ import annotations

import asyncio
import random
import re

import httpx
import pytest
from llm_helpers import Events, FakeClock, check_response, make_model

from agentlab.llm import (
    FaultTransport,
    FaultyModel,
    Overloaded,
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


def run_with(server, t, transport, clock=None, retry=None):
    """One call of a model for ``t`` through ``transport``, to the loopback server's answer
    for it (the transcript, whole)."""

    async def main():
        async with make_model(t, server.root(t["name"]), transport=transport, clock=clock) as model:
            target = Retrying(model, retry, clock, random.Random(0)) if retry else model
            return await complete(target, "hi")

    return asyncio.run(main())


def body_transport():
    """The transport under the faults: real HTTP."""
    return httpx.AsyncHTTPTransport()


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"p_429": 1.0, "retry_after": 4.0}, RateLimited),
        ({"p_5xx": 1.0, "statuses_5xx": (500,)}, ServerError),
        ({"p_5xx": 1.0, "statuses_5xx": (529,)}, Overloaded),
        ({"p_reset": 1.0, "cut_within": 100}, StreamInterrupted),
        ({"p_truncate": 1.0, "cut_within": 100}, StreamInterrupted),
        ({"p_malformed": 1.0, "cut_within": 300}, StreamInterrupted),
    ],
)
@pytest.mark.parametrize("name", ["openai_chat_text_basic", "anthropic_text_basic", "gemini_text_sse"])
def test_each_fault_surfaces_typed(server, transcripts, name, params, error):
    t = transcripts[name]
    events = Events()
    transport = FaultTransport(body_transport(), random.Random(1), emit=events, **params)
    with pytest.raises(error) as info:
        run_with(server, t, transport)
    if error is RateLimited:
        assert info.value.retry_after == 4.0
    assert len(events.of("llm_fault")) == 1


def test_latency_on_the_clock(server, transcripts):
    t = transcripts["gemini_text_sse"]
    clock = FakeClock()
    transport = FaultTransport(body_transport(), random.Random(2), clock=clock, latency=(0.5, 1.5))
    check_response(t, run_with(server, t, transport, clock))
    (delay,) = clock.sleeps
    assert 0.5 <= delay <= 1.5


def test_same_seed_same_faults(server, transcripts):
    t = transcripts["openai_chat_text_basic"]

    def outcomes(seed):
        transport = FaultTransport(
            body_transport(), random.Random(seed), p_429=0.3, p_5xx=0.2, p_reset=0.2, p_truncate=0.1,
            p_malformed=0.1, cut_within=2000,
        )
        out = []
        for _ in range(15):
            try:
                out.append(run_with(server, t, transport).text[:10])
            except Exception as exc:
                out.append(type(exc).__name__)
        return out

    first = outcomes(11)
    assert first == outcomes(11)
    assert len(set(first)) > 2


def test_retrying_rides_out_random_faults(server, transcripts):
    """A chaos run over real loopback HTTP: every call ends as an answer or a typed error."""
    t = transcripts["anthropic_text_basic"]
    clock = FakeClock()
    transport = FaultTransport(
        httpx.AsyncHTTPTransport(), random.Random(5), clock=clock, latency=(0.0, 0.2),
        p_429=0.2, p_5xx=0.2, p_reset=0.1, p_truncate=0.1, p_malformed=0.1, cut_within=1700,
    )
    answers = errors = 0

    async def main():
        nonlocal answers, errors
        async with make_model(t, server.root(t["name"], mode="chunks"), transport=transport, clock=clock) as m:
            model = Retrying(m, RetryPolicy(max_retries=4), clock, random.Random(5))
            for _ in range(20):
                try:
                    check_response(t, await complete(model, "hi"))
                    answers += 1
                except StreamInterrupted as exc:
                    assert exc.partial
                    errors += 1

    asyncio.run(main())
    assert answers + errors == 20 and answers >= 10


def test_faulty_model_spoils_tool_calls():
    call = ToolCall("c1", "get_capital", {"country": "UK"})
    clock = FakeClock()
    inner = ScriptedModel([Reply(tool_calls=[call])] * 3, clock=clock)
    bad_name = FaultyModel(inner, random.Random(0), p_bad_tool_name=1.0)
    assert asyncio.run(complete(bad_name, "hi")).tool_calls[0].name == "get_capital_unknown"
    bad_json = FaultyModel(inner, random.Random(0), p_invalid_json_args=1.0)
    spoiled = asyncio.run(complete(bad_json, "hi")).tool_calls[0]
    assert spoiled.arguments == {} and spoiled.error and spoiled.raw_arguments.endswith("}}")
    empty = FaultyModel(inner, random.Random(0), p_empty=1.0)
    response = asyncio.run(complete(empty, "hi"))
    assert response.text == "" and response.tool_calls == [] and response.usage is not None


def test_faulty_model_keeps_the_stream_order():
    """Deltas, then one Usage, then Finish: the stray ``}`` comes before the Usage."""
    inner = ScriptedModel([ToolCall("c1", "add", {"a": 1})], clock=FakeClock())
    model = FaultyModel(inner, random.Random(0), p_invalid_json_args=1.0)

    async def kinds():
        return [type(e).__name__ async for e in model.stream("hi")]

    got = asyncio.run(kinds())
    assert got[-2:] == ["Usage", "Finish"] and set(got[:-2]) == {"ToolCallDelta"}


def test_faulty_model_is_seeded():
    def names(seed):
        inner = ScriptedModel([Reply(tool_calls=[ToolCall("c", "f", {})])] * 20, clock=FakeClock())
        model = FaultyModel(inner, random.Random(seed), p_bad_tool_name=0.5)
        return [asyncio.run(complete(model, "hi")).tool_calls[0].name for _ in range(20)]

    assert names(3) == names(3)
    assert {"f", "f_unknown"} == set(names(3))


NAN, INF = float("nan"), float("inf")
BAD_TRANSPORT = [
    ({"p_429": NAN}, ValueError, "p_429 must be a number in [0, 1]"),
    ({"p_5xx": -0.1}, ValueError, "p_5xx must be a number in [0, 1]"),
    ({"p_reset": 1.5}, ValueError, "p_reset must be a number in [0, 1]"),
    ({"p_truncate": "0.1"}, TypeError, "p_truncate must be a number in [0, 1]"),
    ({"p_malformed": True}, TypeError, "p_malformed must be a number in [0, 1]"),
    ({"latency": -1}, ValueError, "latency must be a number >= 0 and finite"),
    ({"latency": INF}, ValueError, "latency must be a number >= 0 and finite"),
    ({"latency": NAN}, ValueError, "latency must be a number >= 0 and finite"),
    ({"latency": (0.0, INF)}, ValueError, "latency's high must be a number >= 0 and finite"),
    ({"latency": (-1, 1)}, ValueError, "latency's low must be a number >= 0"),
    ({"latency": (2, 1)}, ValueError, "latency range (2, 1) has low > high"),
    ({"latency": (1, 2, 3)}, ValueError, "latency must be seconds or a (low, high) range"),
    ({"retry_after": NAN}, ValueError, "retry_after must be a number >= 0 and finite"),
    ({"retry_after": -2}, ValueError, "retry_after must be a number >= 0 and finite"),
    ({"statuses_5xx": ()}, ValueError, "statuses_5xx must be one or more HTTP statuses in 500-599"),
    ({"statuses_5xx": (429,)}, ValueError, "statuses_5xx must be one or more HTTP statuses in 500-599"),
    ({"cut_within": 0}, ValueError, "cut_within must be an int >= 1"),
    ({"cut_within": 1.5}, TypeError, "cut_within must be an int >= 1"),
]


@pytest.mark.parametrize(("params", "error", "message"), BAD_TRANSPORT)
def test_fault_transport_refuses_settings_that_make_no_sense(params, error, message):
    inner = httpx.MockTransport(lambda r: httpx.Response(200))
    with pytest.raises(error, match=re.escape(f"FaultTransport {message}")):
        FaultTransport(inner, random.Random(0), **params)
    faults = FaultTransport(inner, random.Random(0))  # and when set later
    (name, value), = params.items()
    with pytest.raises(error, match=re.escape(message)):
        setattr(faults, name, value)
    assert getattr(faults, name) == getattr(FaultTransport(inner, random.Random(0)), name)  # unchanged


@pytest.mark.parametrize("name", ["p_bad_tool_name", "p_invalid_json_args", "p_empty"])
@pytest.mark.parametrize(("value", "error"), [(NAN, ValueError), (-0.5, ValueError), (1.01, ValueError),
                                              (INF, ValueError), ("1", TypeError), (None, TypeError)])
def test_faulty_model_refuses_a_probability_outside_0_1(name, value, error):
    inner = ScriptedModel(["hi"], clock=FakeClock())
    with pytest.raises(error, match=re.escape(f"FaultyModel {name} must be a number in [0, 1]")):
        FaultyModel(inner, random.Random(0), **{name: value})
    model = FaultyModel(inner, random.Random(0))
    with pytest.raises(error, match=re.escape(name)):
        setattr(model, name, value)


def test_a_seed_is_not_a_random_generator():
    inner = ScriptedModel(["hi"], clock=FakeClock())
    with pytest.raises(TypeError, match=re.escape("rng must be a random.Random, not 42; pass random.Random(42)")):
        FaultyModel(inner, 42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="FaultTransport rng must be a random.Random"):
        FaultTransport(httpx.MockTransport(lambda r: httpx.Response(200)), None)  # type: ignore[arg-type]


def test_the_edges_of_the_ranges_are_accepted(server, transcripts):
    t = transcripts["openai_chat_text_basic"]
    clock = FakeClock()
    transport = FaultTransport(
        body_transport(), random.Random(0), clock=clock, latency=(1, 1), p_429=0, p_5xx=0.0,
        p_reset=1, p_truncate=0, p_malformed=0, retry_after=0, statuses_5xx=[599], cut_within=1,
    )
    with pytest.raises(StreamInterrupted):
        run_with(server, t, transport, clock)
    assert clock.sleeps == [1.0] and transport.latency == (1.0, 1.0)
    transport.latency = 0  # plain seconds
    transport.p_reset = 0.0
    check_response(t, run_with(server, t, transport, clock))
