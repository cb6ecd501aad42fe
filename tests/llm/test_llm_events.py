"""Event routing: a Routed emit gets the same events as a plain one, split by kind."""

from __future__ import annotations

import asyncio

from llm_helpers import Events, FakeClock

from agentlab.llm import (
    Finish,
    RateLimited,
    Retrying,
    RetryPolicy,
    ScriptedModel,
    TextDelta,
    ToolCall,
    complete,
)
from agentlab.llm._events import DELTA_KINDS, TOKEN_FIELDS, TOOL_CALL_FIELDS, Routed


def scripted(script, clock):
    return ScriptedModel(script, clock=clock, ttft=0.0, tokens_per_second=0, jitter=0.0)


def run_twice(make_emit):
    """The same retried call (a rate limit, then text, then a tool call), with this emit."""
    clock = FakeClock()
    model = Retrying(
        scripted([RateLimited("p", retry_after=1.0), "Hello there.", ToolCall("c1", "add", {"a": 1})], clock),
        RetryPolicy(),
        clock,
    )
    emit = make_emit()
    asyncio.run(complete(model, "hi", emit=emit))
    asyncio.run(complete(model, "again", emit=emit))


def routed(emit, deltas):
    """A Routed emit whose positional delta sinks record into ``deltas`` as keyword events."""

    def sink(kind, fields):
        def write(*values):
            deltas(kind, **dict(zip(fields, values, strict=True)))

        return write

    return Routed(emit, sink("llm_token", TOKEN_FIELDS), sink("llm_tool_call", TOOL_CALL_FIELDS))


def numbered(log, ids):
    """``log`` with each request id replaced by its number in ``ids`` (ids are process-unique)."""
    return [(k, {**f, "request_id": ids.index(f["request_id"])}) for k, f in log]


def test_routed_splits_the_same_events():
    plain = Events()
    run_twice(lambda: plain)
    other, deltas = Events(), Events()
    run_twice(lambda: routed(other, deltas))
    assert {k for k, _ in deltas.log} == DELTA_KINDS
    ids = [f["request_id"] for f in plain.of("llm_request")]
    routed_ids = [f["request_id"] for f in other.of("llm_request")]
    assert numbered([e for e in plain.log if e[0] in DELTA_KINDS], ids) == numbered(deltas.log, routed_ids)
    assert numbered([e for e in plain.log if e[0] not in DELTA_KINDS], ids) == numbered(other.log, routed_ids)
    assert {f["attempt"] for f in deltas.of("llm_token")} == {2}  # stamped by Retrying

    dropped = Events()
    run_twice(lambda: Routed(dropped))
    assert numbered(dropped.log, [f["request_id"] for f in dropped.of("llm_request")]) == numbered(
        other.log, routed_ids
    )


def test_routed_for_any_model():
    """A model that does not look through Routed just calls it."""

    class Custom:
        async def stream(self, messages, *, tools=None, emit=None, **opts):
            emit("llm_token", text="x", index=0)
            emit("llm_response", stop_reason="stop")
            yield TextDelta("x")
            yield Finish("stop")

    other, deltas = Events(), Events()
    asyncio.run(complete(Custom(), "hi", emit=routed(other, deltas)))
    assert deltas.kinds() == ["llm_token"] and other.kinds() == ["llm_response"]
    # fields the model left out arrive as None, in their places
    assert deltas.of("llm_token") == [{**dict.fromkeys(TOKEN_FIELDS), "text": "x", "index": 0}]
