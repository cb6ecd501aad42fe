"""A model that needs no key and no network: it plays a script.

::

    model = ScriptedModel([
        "Hello there!",                                        # a text answer
        Reply(tool_calls=[ToolCall("call_1", "get_capital", {"country": "UK"})]),
        RateLimited("scripted", retry_after=1.0),              # a failure
        Reply("Half an answ", error=StreamInterrupted("cut"), fail_after=3),
    ], tokens_per_second=40, ttft=0.4, seed=1)

Each call takes the next item (or, if ``script`` is a function, calls it
with the conversation as a list of :class:`Message`). Text streams in
token-sized pieces: ``ttft`` seconds before the first, then one piece every
``1 / tokens_per_second`` seconds, all on the injected clock, each wait
shortened or stretched by up to ``jitter`` (a fraction) drawn from a
``random.Random(seed)``: the same seed gives the same timings. Tool-call
arguments stream the same way. Usage is the model's own count (input
estimated from the prompt, output = pieces streamed), reported as such.

A scripted error that carries an HTTP status (a ``RateLimited``'s 429, a
``ServerError(..., status=503)``) and comes before any output stands for a
request the provider refused: like a real one, it reports no usage and
costs nothing. Any other failure (no status: a cut stream, a timeout, an
error event; or after output) was a stream the model ran: its prompt and
the pieces that streamed are charged.

The pacing is checked when the model is made: ``ttft`` is a finite number
>= 0, ``tokens_per_second`` a number >= 0 (``0`` or ``float("inf")``: no
wait between pieces), ``jitter`` a fraction in [0, 1]; NaN, a negative
number or a string is refused with a ``ValueError`` or ``TypeError`` naming
the option.

``calls`` keeps the conversation of every call, for assertions.
"""

from __future__ import annotations

import json
import math
import random
import re
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ._accounting import Prices, estimate_input_tokens
from ._base import BaseModel, CallState
from ._checks import check_number
from ._clock import Clock
from ._errors import LLMError
from ._events import Emit
from ._messages import Message, Tool, ToolCall
from ._protocol import Finish, StreamEvent, TextDelta, ToolCallDelta, Usage

__all__ = ["Reply", "ScriptedModel", "split_tokens"]

_TOKEN = re.compile(r"\s*\w{1,8}|\s*[^\w\s]|\s+")


def split_tokens(text: str) -> list[str]:
    """Split text into token-sized pieces that join back to it exactly.

    >>> split_tokens("Hello, wonderful world!")
    ['Hello', ',', ' wonderfu', 'l', ' world', '!']
    """
    return _TOKEN.findall(text)


@dataclass(frozen=True)
class Reply:
    """One scripted answer: text and/or tool calls, or a failure part-way.

    With ``error`` set, the reply streams ``fail_after`` text pieces (0 by
    default: it fails before any output) and then raises ``error``.
    ``stop_reason`` defaults to ``"tool_calls"`` with tool calls, else ``"stop"``.
    """

    text: str = ""
    tool_calls: Sequence[ToolCall] = ()
    stop_reason: str | None = None
    usage: Usage | None = None
    error: LLMError | None = None
    fail_after: int = 0


Item = str | Reply | ToolCall | LLMError
Script = Sequence[Item] | Callable[[list[Message]], Item]


def _as_reply(item: Item) -> Reply:
    if isinstance(item, Reply):
        return item
    if isinstance(item, str):
        return Reply(item)
    if isinstance(item, ToolCall):
        return Reply(tool_calls=[item])
    if isinstance(item, LLMError):
        return Reply(error=item)
    raise TypeError(f"a script item is a str, Reply, ToolCall or LLMError, not {type(item).__name__}")


class ScriptedModel(BaseModel):
    """Plays ``script`` with realistic token timing (see the module docstring)."""

    provider = "scripted"

    def __init__(
        self,
        script: Script,
        *,
        model: str = "scripted",
        tokens_per_second: float = 50.0,
        ttft: float = 0.3,
        jitter: float = 0.2,
        seed: int = 0,
        rng: random.Random | None = None,
        clock: Clock | None = None,
        emit: Emit | None = None,
        prices: Prices | None = None,
        first_token_timeout: float | None = None,
        total_timeout: float | None = None,
    ) -> None:
        super().__init__(
            model,
            emit=emit,
            clock=clock,
            prices=prices,
            first_token_timeout=first_token_timeout,
            total_timeout=total_timeout,
        )
        self._script = script
        self._position = 0
        self.tokens_per_second = check_number(
            "tokens_per_second", tokens_per_second, ">= 0 (0 or inf: no wait between pieces)",
            lambda v: v >= 0,
        )
        self.ttft = check_number(
            "ttft", ttft, ">= 0 and finite (seconds before the first piece)",
            lambda v: 0 <= v < math.inf,
        )
        self.jitter = check_number(
            "jitter", jitter, "in [0, 1] (the fraction each wait may vary by)",
            lambda v: 0 <= v <= 1,
        )
        self.rng = rng if rng is not None else random.Random(seed)
        self.calls: list[list[Message]] = []

    def _next(self, messages: list[Message]) -> Item:
        if callable(self._script):
            return self._script(messages)
        if self._position >= len(self._script):
            raise IndexError(
                f"ScriptedModel: all {len(self._script)} scripted replies were used; "
                "add more, or pass a function(messages) -> reply."
            )
        item = self._script[self._position]
        self._position += 1
        return item

    async def _wait(self, seconds: float) -> None:
        if seconds <= 0:
            return
        factor = 1.0 + self.jitter * (2.0 * self.rng.random() - 1.0) if self.jitter else 1.0
        await self.clock.sleep(seconds * factor)

    async def _events(
        self, messages: Sequence[Message], tools: Sequence[Tool], opts: dict[str, Any], state: CallState
    ) -> AsyncIterator[StreamEvent]:
        conversation = list(messages)
        self.calls.append(conversation)
        reply = _as_reply(self._next(conversation))
        gap = 1.0 / self.tokens_per_second if self.tokens_per_second > 0 else 0.0
        await self._wait(self.ttft)
        pieces = split_tokens(reply.text)
        out = 0
        for i, piece in enumerate(pieces):
            if reply.error is not None and i >= reply.fail_after:
                break
            if i:
                await self._wait(gap)
            out += 1
            yield TextDelta(piece)
        if reply.error is not None:
            status = reply.error.status
            if out == 0 and status is not None and not 200 <= status < 300:
                state.refused = True  # an error answer (429, 5xx...): the model never ran
            else:
                state.input_tokens = estimate_input_tokens(conversation, tools)
                state.output_tokens = out
            raise reply.error
        for index, call in enumerate(reply.tool_calls):
            call_id = call.id or self._new_call_id()
            args = split_tokens(json.dumps(call.arguments)) or [""]
            for j, piece in enumerate(args):
                if out:
                    await self._wait(gap)
                out += 1
                yield ToolCallDelta(index, call_id if j == 0 else None, call.name if j == 0 else None, piece)
        yield reply.usage or Usage(estimate_input_tokens(conversation, tools), out, reported=True)
        stop = reply.stop_reason or ("tool_calls" if reply.tool_calls else "stop")
        yield Finish(stop)
