"""Retries, in one place: a model wrapper with exponential backoff on the clock.

::

    model = Retrying(OpenAIChat("gpt-4o-mini"), RetryPolicy(max_retries=3), clock, random.Random(7))
    response = await complete(model, "hi")

What is retried (by error ``.type``):

==================== ===================================================
rate_limit           yes; waits ``retry_after`` when the provider gave one
overloaded, server   yes, with backoff (or ``retry_after`` if given)
timeout              yes, with backoff
stream_interrupted   only if no output was produced yet
bad_request, auth    never
==================== ===================================================

A stream that already yielded output (text or tool-call deltas) is never
re-sent unless ``resend_partial=True``; with it, the consumer sees the
failed attempt's deltas and then the new answer from its start, so only
use it when the consumer can start over. Backoff before retry *n* (1-based)
is ``min(max_delay, base * 2**(n-1))``, shortened by up to ``jitter``
(a fraction) drawn from the injected ``random.Random``. A ``retry_after``
longer than ``max_retry_after`` is not waited for: the error is raised.

Each retry emits ``llm_retry``; the wrapped model's events carry ``attempt``.
Cancelling the consuming task stops everything, including a backoff sleep,
and closes the HTTP stream.
"""

from __future__ import annotations

import math
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from ._checks import check_count, check_number
from ._clock import AsyncioClock, Clock
from ._errors import LLMError
from ._events import Emit, Stamped
from ._protocol import (
    AsyncClosing,
    Messages,
    Model,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    Tools,
    aclose_model,
    opened,
)

__all__ = ["RetryPolicy", "Retrying"]


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to wait between attempts (see the module docstring).

    Checked when made: ``max_retries`` is an ``int`` >= 0, ``base`` a finite number
    of seconds >= 0, ``max_delay`` and ``max_retry_after`` numbers >= 0 (``inf``:
    no cap), ``jitter`` a fraction in [0, 1]; anything else (NaN, a negative
    wait, a string) is a ``ValueError`` or ``TypeError`` naming the field.
    """

    max_retries: int = 3
    base: float = 0.5
    max_delay: float = 30.0
    jitter: float = 0.25
    max_retry_after: float = 300.0

    def __post_init__(self) -> None:
        check_count("max_retries", self.max_retries, 0)
        check_number("base", self.base, ">= 0 and finite (seconds)", lambda v: 0 <= v < math.inf)
        check_number("max_delay", self.max_delay, ">= 0 (seconds; inf: no cap)", lambda v: v >= 0)
        check_number("jitter", self.jitter, "in [0, 1] (a fraction)", lambda v: 0 <= v <= 1)
        check_number(
            "max_retry_after", self.max_retry_after, ">= 0 (seconds; inf: always wait)",
            lambda v: v >= 0,
        )

    def backoff(self, retry: int, rng: random.Random) -> float:
        """The wait before retry number ``retry`` (1-based), jitter included.

        >>> RetryPolicy(base=1.0, jitter=0.0).backoff(3, random.Random(0))
        4.0
        """
        delay = min(self.max_delay, self.base * 2 ** (retry - 1))
        if self.jitter:
            delay *= 1.0 - self.jitter * rng.random()
        return delay

    def delay_for(self, error: LLMError, retry: int, rng: random.Random) -> float | None:
        """Seconds to wait before retrying after ``error``, or None to give up."""
        if error.retry_after is not None:
            return None if error.retry_after > self.max_retry_after else error.retry_after
        return self.backoff(retry, rng)


class Retrying(AsyncClosing):
    """Wrap ``model`` so retryable failures are retried per ``policy``.

    ``policy`` defaults to ``RetryPolicy()`` (3 retries); ``clock`` (default:
    real time) does the waiting; ``rng`` (default: ``random.Random(0)``) draws
    the jitter.

    ``resend_partial`` (default ``False``): whether an attempt that failed
    after its stream produced output (a text or tool-call delta, or an error
    marked ``partial``) is retried too. Left ``False``, such a failure is
    raised, since the consumer already has part of an answer; set it only if
    the consumer can start over, as it then gets the failed attempt's deltas
    followed by the whole new answer.

    ``emit`` (default: the wrapped model's own ``emit``, if it has one) gets the
    events: an ``llm_retry`` before each retry, and each attempt's events from
    the wrapped model, which then go here, each with its ``attempt`` number.
    An ``emit=`` given to :meth:`stream` takes its place for that call; with
    none anywhere, nothing is emitted.

    ``await retrying.aclose()`` (or ``async with retrying:``) closes the wrapped
    model (its HTTP client), as ``await model.aclose()`` would.
    """

    def __init__(
        self,
        model: Model,
        policy: RetryPolicy | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        *,
        resend_partial: bool = False,
        emit: Emit | None = None,
    ) -> None:
        self.model = model
        self.policy = policy or RetryPolicy()
        self.clock: Clock = clock if clock is not None else AsyncioClock()
        self.rng = rng if rng is not None else random.Random(0)
        self.resend_partial = resend_partial
        self.emit = emit

    def __repr__(self) -> str:
        return f"Retrying({self.model!r}, {self.policy!r})"

    async def aclose(self) -> None:
        """Close the wrapped model (nothing to do for one without ``aclose``)."""
        await aclose_model(self.model)

    def should_retry(self, error: LLMError, attempt: int, produced_output: bool) -> bool:
        """Whether attempt number ``attempt``, which failed with ``error``, gets another go."""
        if not error.retryable or attempt > self.policy.max_retries:
            return False
        partial = produced_output or bool(getattr(error, "partial", False))
        return not partial or self.resend_partial

    async def stream(
        self, messages: Messages, *, tools: Tools = None, emit: Emit | None = None, **opts: Any
    ) -> AsyncIterator[StreamEvent]:
        """Stream like the wrapped model, retrying failed attempts."""
        target = emit or self.emit or getattr(self.model, "emit", None)
        attempt = 1
        while True:
            stamp = None if target is None else Stamped(target, attempt)
            produced = False
            try:
                stream = (
                    self.model.stream(messages, tools=tools, **opts)
                    if stamp is None
                    else self.model.stream(messages, tools=tools, emit=stamp, **opts)
                )
                async with opened(stream) as events:
                    async for event in events:
                        if not produced and isinstance(event, TextDelta | ToolCallDelta):
                            produced = True
                        yield event
                return
            except LLMError as error:
                if not self.should_retry(error, attempt, produced):
                    raise
                delay = self.policy.delay_for(error, attempt, self.rng)
                if delay is None:
                    raise
                attempt += 1
                if target is not None:
                    target(
                        "llm_retry",
                        provider=through_wrappers(self.model, "provider"),
                        model=through_wrappers(self.model, "model"),
                        request_id=None if stamp is None else stamp.request_id,
                        attempt=attempt,
                        error_type=error.type,
                        delay=delay,
                        retry_after=error.retry_after,
                    )
                await self.clock.sleep(delay)


def through_wrappers(model: Any, attr: str, kind: type | tuple[type, ...] = str) -> Any:
    """A model's ``attr`` (its ``provider`` or ``model`` name, its ``prices``...) if it
    is a ``kind``, looking through wrappers (``FaultyModel``, ``Retrying``...) whose
    ``.model`` is the wrapped model; ``None`` if none has one."""
    for _ in range(16):
        value = getattr(model, attr, None)
        if isinstance(value, kind):
            return value
        inner = getattr(model, "model", None)
        if inner is None or isinstance(inner, str):
            return None
        model = inner
    return None
