"""llm_retry events name the model and provider even through wrappers."""

from __future__ import annotations

import asyncio
import random

from agentlab.llm import (
    FaultyModel,
    Message,
    RateLimited,
    Retrying,
    RetryPolicy,
    ScriptedModel,
    complete,
)


class _Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def now(self) -> float:
        return self.t

    async def sleep(self, s: float) -> None:
        self.t += s


def test_retry_event_names_the_wrapped_model() -> None:
    events: list[tuple[str, dict]] = []
    inner = ScriptedModel([RateLimited(retry_after=1.0), "hello"])
    model = Retrying(
        FaultyModel(inner, random.Random(1)),
        RetryPolicy(max_retries=2),
        clock=_Clock(),
        rng=random.Random(1),
        emit=lambda kind, **f: events.append((kind, f)),
    )
    resp = asyncio.run(complete(model, [Message("user", "hi")]))
    assert resp.text == "hello"
    retries = [f for k, f in events if k == "llm_retry"]
    assert retries, events
    assert all(isinstance(f["model"], str) for f in retries), retries
    assert retries[0]["model"] == inner.model
