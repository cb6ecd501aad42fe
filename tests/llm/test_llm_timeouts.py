"""Time limits on the model's clock: first token, whole attempt, per call; HTTP streams close."""

from __future__ import annotations

import asyncio
import time

import pytest
from llm_helpers import Events, FakeClock, cut_after_first_output, make_model

from agentlab.llm import (
    AsyncioClock,
    Retrying,
    RetryPolicy,
    ScriptedModel,
    TextDelta,
    Timeout,
    complete,
)


def test_first_token_timeout():
    events = Events()
    model = ScriptedModel(["late"], ttft=30.0, clock=AsyncioClock(), first_token_timeout=0.05, emit=events)
    started = time.monotonic()
    with pytest.raises(Timeout, match="no first token within 0.05s"):
        asyncio.run(complete(model, "hi"))
    assert time.monotonic() - started < 5
    (err,) = events.of("llm_error")
    assert err["error_type"] == "timeout" and err["partial"] is False


def test_total_timeout_after_some_output():
    events = Events()
    model = ScriptedModel(["one two three four five six seven"], ttft=0.0, tokens_per_second=20,
                          jitter=0.0, clock=AsyncioClock(), total_timeout=0.12, emit=events)
    with pytest.raises(Timeout, match="longer than 0.12s"):
        asyncio.run(complete(model, "hi"))
    (err,) = events.of("llm_error")
    assert err["partial"] is True and err["output_tokens"] >= 1


def test_per_call_limit_and_retry():
    model = ScriptedModel(["slow", "fast"], ttft=30.0, clock=AsyncioClock())

    class Backoff(FakeClock):
        async def sleep(self, seconds):
            await super().sleep(seconds)
            model.ttft = 0.0  # the second attempt answers at once

    retrying = Retrying(model, RetryPolicy(base=0.5, jitter=0.0), Backoff())
    assert asyncio.run(complete(retrying, "hi", first_token_timeout=0.05)).text == "fast"
    assert retrying.clock.sleeps == [0.5]


def test_limit_expiring_while_consumer_is_busy():
    model = ScriptedModel(["a b c d"], ttft=0.0, tokens_per_second=0, clock=AsyncioClock(), total_timeout=0.05)

    async def main():
        seen = []
        with pytest.raises(Timeout):
            async for ev in model.stream("hi"):
                if isinstance(ev, TextDelta):
                    seen.append(ev.text)
                    await asyncio.sleep(0.1)
        return seen

    assert asyncio.run(main()) == ["a"]


def test_no_tasks_left_behind():
    async def main():
        model = ScriptedModel(["fine"], ttft=0.0, clock=AsyncioClock(), first_token_timeout=5, total_timeout=5)
        await complete(model, "hi")
        await asyncio.sleep(0)
        return {t for t in asyncio.all_tasks() if t is not asyncio.current_task()}

    assert asyncio.run(main()) == set()


def test_timeout_closes_the_http_stream(server, transcripts):
    t = transcripts["openai_chat_text_basic"]
    root = server.root(t["name"], fault="hang", cut=cut_after_first_output(t))

    async def main():
        async with make_model(t, root, total_timeout=0.3) as model:
            await complete(model, "hi")

    with pytest.raises(Timeout):
        asyncio.run(main())
    closed = server.closed(root)
    deadline = time.monotonic() + 10
    while not closed.is_set() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert closed.is_set()
