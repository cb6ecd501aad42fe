"""The seams fit the runtime: its clock and seeded generator drive the LLM layer in virtual time."""

from __future__ import annotations

import asyncio
import time

import pytest

from agentlab.llm import (
    RateLimited,
    Retrying,
    ScriptedModel,
    Timeout,
    UsageMeter,
    complete,
)

agentlab = pytest.importorskip("agentlab")
Runtime = getattr(agentlab, "Runtime", None)
VirtualClock = getattr(agentlab, "VirtualClock", None)
pytestmark = pytest.mark.skipif(Runtime is None or VirtualClock is None, reason="runtime not available")


def test_minutes_of_llm_time_in_milliseconds():
    async def main():
        async with Runtime(clock=VirtualClock()) as rt:
            meter = UsageMeter()
            flaky = ScriptedModel(
                [RateLimited("scripted", retry_after=120.0), "recovered"], clock=rt, rng=rt.random
            )
            start = rt.now()
            answer = await complete(Retrying(flaky, clock=rt, rng=rt.random), "hi", emit=meter)
            assert answer.text == "recovered"
            assert rt.now() - start >= 120.0
            assert (meter.calls, meter.retries) == (2, 1)

            stalled = ScriptedModel(["late"], clock=rt, ttft=100.0, first_token_timeout=10.0)
            before = rt.now()
            with pytest.raises(Timeout):
                await complete(stalled, "hi")
            assert rt.now() - before == pytest.approx(10.0)

    started = time.monotonic()
    asyncio.run(main())
    assert time.monotonic() - started < 5
