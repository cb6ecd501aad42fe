"""Token and cost accounting: which numbers were reported, which were guessed.

Each model call ends with one ``llm_response`` or ``llm_error`` event that
carries ``input_tokens``/``output_tokens``, whether each was ``*_estimated``,
and ``cost_usd`` (None when the model has no price). When a provider reports
nothing, tokens are estimated at about four characters per token. Failed
attempts are counted too: the prompt was sent, and whatever streamed back
was generated. An attempt that never reached the model is the exception: a
429, a 5xx or another error answer, a server that could not be reached, a
request that could not be sent, a 2xx answer that is neither a stream nor an
answer and reports no usage. It is a call (and a failed one) with 0
tokens, neither estimated, ``usage_reported`` False, and ``cost_usd`` 0.0
(None for an unpriced model): the provider charges nothing for it. A request
that went out and got no answer in time (a timeout before the response
headers) is not one of them: the provider may have run it, so it is charged
its prompt, estimated.

A :class:`UsageMeter` is an event callback that adds those up, one per agent::

    meter = UsageMeter()
    await complete(model, "hi", emit=meter)
    meter.calls, meter.input_tokens, meter.cost_usd

Prices are USD per million tokens, matched by the longest model-name prefix
(``gpt-4o-mini-2024-07-18`` uses ``gpt-4o-mini``; ``models/gemini-2.0-flash``
uses ``gemini-2.0-flash``)::

    prices = {**DEFAULT_PRICES, "my-local-model": (0.0, 0.0)}
    OpenAIChat("my-local-model", base_url=..., prices=prices)
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ._messages import Message, Tool
from ._protocol import TextDelta, ToolCallDelta

__all__ = ["DEFAULT_PRICES", "UsageMeter", "cost_usd", "estimate_tokens"]

Prices = Mapping[str, tuple[float, float]]

DEFAULT_PRICES: dict[str, tuple[float, float]] = {
    # model-name prefix: (USD per 1M input tokens, USD per 1M output tokens).
    # Illustrative list prices (mid-2025); check your provider and override.
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "o4-mini": (1.10, 4.40),
    "claude-opus-4": (15.00, 75.00),
    "claude-opus-4-5": (5.00, 25.00),
    "claude-sonnet-4": (3.00, 15.00),
    "claude-3-7-sonnet": (3.00, 15.00),
    "claude-haiku-4-5": (1.00, 5.00),
    "claude-3-5-haiku": (0.80, 4.00),
    "gemini-2.0-flash": (0.10, 0.40),
    "gemini-2.5-flash": (0.30, 2.50),
    "gemini-2.5-flash-lite": (0.10, 0.40),
    "gemini-2.5-pro": (1.25, 10.00),
    "scripted": (0.0, 0.0),
}

CHARS_PER_TOKEN = 4


def estimate_tokens(text: str) -> int:
    """About one token per four characters; 0 for empty text.

    >>> estimate_tokens(""), estimate_tokens("hi"), estimate_tokens("x" * 40)
    (0, 1, 10)
    """
    return tokens_for_chars(len(text))


def tokens_for_chars(n: int) -> int:
    """The estimate for ``n`` characters of text."""
    return math.ceil(n / CHARS_PER_TOKEN) if n > 0 else 0


def output_chars(event: object) -> int:
    """The characters of output a stream event carries, as the output estimate counts
    them: a text delta's text, a tool-call delta's arguments and name; 0 for the rest.

    >>> output_chars(TextDelta("Hello")), output_chars(ToolCallDelta(0, "c1", "add", '{"a": 1}'))
    (5, 11)
    """
    if isinstance(event, TextDelta):
        return len(event.text)
    if isinstance(event, ToolCallDelta):
        return len(event.arguments_delta) + len(event.name or "")
    return 0


def estimate_input_tokens(messages: Iterable[Message], tools: Iterable[Tool] = ()) -> int:
    """Estimate the prompt size: message text, tool-call arguments and tool schemas."""
    parts: list[str] = []
    for m in messages:
        parts.append(m.content)
        parts.extend(json.dumps(c.arguments) + c.name for c in m.tool_calls)
    parts.extend(t.name + t.description + json.dumps(dict(t.parameters)) for t in tools)
    return estimate_tokens("".join(parts))


def price_of(model: str, prices: Prices) -> tuple[float, float] | None:
    """The (input, output) price of ``model``: the entry with the longest matching prefix.

    A Gemini-style ``models/`` prefix is dropped when the full name has no price:

    >>> price_of("models/gemini-2.0-flash", DEFAULT_PRICES)
    (0.1, 0.4)
    """
    for name in (model, model.removeprefix("models/")):
        best = max((k for k in prices if name.startswith(k)), key=len, default=None)
        if best is not None:
            return prices[best]
    return None


def cost_usd(
    model: str, input_tokens: int | None, output_tokens: int | None, prices: Prices = DEFAULT_PRICES
) -> float | None:
    """Cost in USD of one call, or None when the model has no price.

    >>> cost_usd("gpt-4o-mini-2024-07-18", 1_000_000, 0)
    0.15
    """
    price = price_of(model, prices)
    if price is None:
        return None
    return cost_at(price, input_tokens or 0, output_tokens or 0)


def cost_at(price: tuple[float, float], input_tokens: int, output_tokens: int) -> float:
    """Cost in USD of the tokens at ``price``, ``(input, output)`` USD per million tokens.

    >>> cost_at((0.15, 0.60), 1_000_000, 500_000)
    0.45
    """
    return (input_tokens * price[0] + output_tokens * price[1]) / 1_000_000


@dataclass
class UsageMeter:
    """Adds up ``llm_response``/``llm_error``/``llm_retry`` events; use it as ``emit``.

    ``calls`` counts attempts that ended (answered or failed), ``failed``
    those that failed, ``retries`` the re-sends. Token totals include
    estimates; ``estimated_*`` say how much of each total was estimated.
    ``cost_usd`` sums the priced calls; ``unpriced_calls`` counts the others.
    """

    calls: int = 0
    failed: int = 0
    retries: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    estimated_input_tokens: int = 0
    estimated_output_tokens: int = 0
    cost_usd: float = 0.0
    unpriced_calls: int = 0
    by_model: dict[str, dict[str, float]] = field(default_factory=dict)

    def __call__(self, kind: str, **fields: Any) -> None:
        if kind == "llm_retry":
            self.retries += 1
            return
        if kind not in ("llm_response", "llm_error"):
            return
        self.calls += 1
        self.failed += kind == "llm_error"
        inp = fields.get("input_tokens") or 0
        out = fields.get("output_tokens") or 0
        self.input_tokens += inp
        self.output_tokens += out
        if fields.get("input_estimated"):
            self.estimated_input_tokens += inp
        if fields.get("output_estimated"):
            self.estimated_output_tokens += out
        cost = fields.get("cost_usd")
        if cost is None:
            self.unpriced_calls += 1
        else:
            self.cost_usd += cost
        row = self.by_model.setdefault(
            str(fields.get("model")),
            {"calls": 0, "input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0},
        )
        row["calls"] += 1
        row["input_tokens"] += inp
        row["output_tokens"] += out
        row["cost_usd"] += cost or 0.0
