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
from agentlab.llm import _events as llm_events
from agentlab.llm._events import (
    DELTA_KINDS,
    TOKEN_FIELDS,
    TOOL_CALL_FIELDS,
    Routed,
    default_scope,
    new_request_id,
    numbered_in,
)


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
    with numbered_in(clock):  # a scope of its own: every run numbers its requests from llm-1
        asyncio.run(complete(model, "hi", emit=emit))
        asyncio.run(complete(model, "again", emit=emit))


def routed(emit, deltas):
    """A Routed emit whose positional delta sinks record into ``deltas`` as keyword events."""

    def sink(kind, fields):
        def write(*values):
            deltas(kind, **dict(zip(fields, values, strict=True)))

        return write

    return Routed(emit, sink("llm_token", TOKEN_FIELDS), sink("llm_tool_call", TOOL_CALL_FIELDS))


def test_routed_splits_the_same_events():
    plain = Events()
    run_twice(lambda: plain)
    other, deltas = Events(), Events()
    run_twice(lambda: routed(other, deltas))
    assert {k for k, _ in deltas.log} == DELTA_KINDS
    assert [e for e in plain.log if e[0] in DELTA_KINDS] == deltas.log
    assert [e for e in plain.log if e[0] not in DELTA_KINDS] == other.log
    assert {f["attempt"] for f in deltas.of("llm_token")} == {2}  # stamped by Retrying
    assert [f["request_id"] for f in plain.of("llm_request")] == ["llm-1", "llm-2", "llm-3"]

    dropped = Events()
    run_twice(lambda: Routed(dropped))
    assert dropped.log == other.log


def test_request_ids_are_numbered_per_scope():
    class Scope:
        pass

    a, b = Scope(), Scope()
    with numbered_in(a):
        assert [new_request_id(), new_request_id()] == ["llm-1", "llm-2"]
        with numbered_in(b):
            assert new_request_id() == "llm-1"  # b's own sequence
        assert new_request_id() == "llm-3"  # a's again, where it was
    with numbered_in(a):
        assert new_request_id() == "llm-4"  # a scope's ids never repeat
    outside = new_request_id()  # the process-wide sequence, untouched by the scopes
    assert outside.startswith("llm-") and new_request_id() == f"llm-{int(outside[4:]) + 1}"
    with numbered_in(Scope()):
        assert new_request_id() == "llm-1"  # a new scope starts over


def test_a_default_scope_numbers_the_attempts_outside_any_scope():
    # the agents layer registers a finder naming the open runtime; here, a stand-in
    class Scope:
        pass

    scope, chosen = Scope(), [None]
    previous = llm_events._default_scope
    default_scope(lambda: chosen[-1])
    try:
        outside = new_request_id()  # the finder names none: the process-wide sequence
        chosen.append(scope)
        assert [new_request_id(), new_request_id()] == ["llm-1", "llm-2"]
        with numbered_in(Scope()):
            assert new_request_id() == "llm-1"  # an explicit scope comes first
        assert new_request_id() == "llm-3"
        chosen.append(None)
        assert new_request_id() == f"llm-{int(outside[4:]) + 1}"
    finally:
        default_scope(previous)


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
