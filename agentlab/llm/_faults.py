"""Seeded fault injection, at the HTTP level and at the model level.

:class:`FaultTransport` wraps an httpx transport and breaks what crosses it::

    faults = FaultTransport(httpx.AsyncHTTPTransport(), random.Random(42),
                            latency=(0.05, 0.4), p_429=0.1, retry_after=2.0,
                            p_5xx=0.05, p_reset=0.05, p_truncate=0.05, p_malformed=0.02)
    model = Retrying(OpenAIChat("gpt-4o-mini", transport=faults), clock=clock)

Per request, in this order: wait ``latency`` seconds on the clock (a number,
or a ``(low, high)`` range drawn uniformly); answer 429 with ``Retry-After``
(probability ``p_429``) or a 5xx from ``statuses_5xx`` (``p_5xx``) without
calling the server; otherwise forward, and on a 2xx answer maybe reset the
connection (``p_reset``: ``httpx.ReadError``), end the body early
(``p_truncate``) or insert a malformed event (``p_malformed``) at a byte
offset drawn below ``cut_within``. A cut past the end of the body does
nothing. Every request draws the same number of random values whatever
happens, so one seed gives one sequence of faults.

:class:`FaultyModel` wraps any model and spoils answers the way models do:
an unknown tool name, tool arguments that are not JSON, an empty answer.

The settings are checked when set (in the constructor, or assigned later):
a probability is a number in [0, 1]; ``latency`` a finite number >= 0 or a
``(low, high)`` pair with ``0 <= low <= high``; ``retry_after`` a finite
number >= 0 or None; ``statuses_5xx`` one or more ints in 500-599;
``cut_within`` an int >= 1; ``rng`` a :class:`random.Random`. NaN, infinity,
a negative number or a string is refused with a ``ValueError`` or
``TypeError`` naming the setting.

Both emit ``llm_fault`` events (``fault``: ``latency``, ``http_429``,
``http_5xx``, ``reset``, ``truncate``, ``malformed``, ``bad_tool_name``,
``invalid_json_args``, ``empty``) when given ``emit``.
"""

from __future__ import annotations

import math
import random
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx

from ._checks import Checked, check_count, check_number
from ._clock import AsyncioClock, Clock
from ._events import Emit
from ._protocol import (
    AsyncClosing,
    Finish,
    Messages,
    Model,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    Tools,
    Usage,
    aclose_model,
    opened,
)

__all__ = ["FaultTransport", "FaultyModel"]

MALFORMED = b'\n\ndata: {"injected": malformed\n\n'


def _no_emit(kind: str, **fields: Any) -> None:
    pass


def _check_probability(owner: str, name: str, value: Any) -> float:
    return check_number(
        f"{owner} {name}", value, "in [0, 1] (a probability)", lambda v: 0 <= v <= 1,
        "0 never injects the fault, 1 always does",
    )


def _check_latency(owner: str, name: str, value: Any) -> float | tuple[float, float]:
    rule = ">= 0 and finite (seconds)"
    if isinstance(value, tuple | list):
        if len(value) != 2:
            raise ValueError(
                f"{owner} {name} must be seconds or a (low, high) range, not {value!r}"
            )
        low, high = (
            check_number(f"{owner} {name}'s {end}", v, rule, lambda v: 0 <= v < math.inf)
            for end, v in zip(("low", "high"), value, strict=True)
        )
        if low > high:
            raise ValueError(
                f"{owner} {name} range {value!r} has low > high; give it as (low, high)"
            )
        return (low, high)
    return check_number(
        f"{owner} {name}", value, rule, lambda v: 0 <= v < math.inf,
        "or a (low, high) range drawn uniformly",
    )


def _check_retry_after(owner: str, name: str, value: Any) -> float | None:
    if value is None:
        return None
    return check_number(
        f"{owner} {name}", value, ">= 0 and finite (seconds), or None", lambda v: 0 <= v < math.inf,
        "None sends no Retry-After header",
    )


def _check_statuses(owner: str, name: str, value: Any) -> tuple[int, ...]:
    statuses = tuple(value) if isinstance(value, Sequence) and not isinstance(value, str) else None
    if not statuses or not all(
        isinstance(s, int) and not isinstance(s, bool) and 500 <= s <= 599 for s in statuses
    ):
        raise ValueError(
            f"{owner} {name} must be one or more HTTP statuses in 500-599, such as "
            f"(500, 503, 529), not {value!r}"
        )
    return statuses


def _check_cut_within(owner: str, name: str, value: Any) -> int:
    return check_count(f"{owner} {name}", value, 1, "bytes")


def _check_rng(owner: str, name: str, value: Any) -> random.Random:
    if not isinstance(value, random.Random):
        seed = value if isinstance(value, int) and not isinstance(value, bool) else "seed"
        raise TypeError(
            f"{owner} {name} must be a random.Random, not {value!r}; pass random.Random({seed})"
        )
    return value


class FaultTransport(httpx.AsyncBaseTransport):
    """An httpx transport wrapper that injects faults (see the module docstring)."""

    rng = Checked(_check_rng)
    latency = Checked(_check_latency)
    p_429 = Checked(_check_probability)
    retry_after = Checked(_check_retry_after)
    p_5xx = Checked(_check_probability)
    statuses_5xx = Checked(_check_statuses)
    p_reset = Checked(_check_probability)
    p_truncate = Checked(_check_probability)
    p_malformed = Checked(_check_probability)
    cut_within = Checked(_check_cut_within)

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        rng: random.Random,
        *,
        clock: Clock | None = None,
        latency: float | tuple[float, float] = 0.0,
        p_429: float = 0.0,
        retry_after: float | None = 1.0,
        p_5xx: float = 0.0,
        statuses_5xx: Sequence[int] = (500, 503, 529),
        p_reset: float = 0.0,
        p_truncate: float = 0.0,
        p_malformed: float = 0.0,
        cut_within: int = 512,
        emit: Emit | None = None,
    ) -> None:
        self._inner = inner
        self.rng = rng
        self.clock: Clock = clock if clock is not None else AsyncioClock()
        self.latency = latency
        self.p_429 = p_429
        self.retry_after = retry_after
        self.p_5xx = p_5xx
        self.statuses_5xx = statuses_5xx
        self.p_reset = p_reset
        self.p_truncate = p_truncate
        self.p_malformed = p_malformed
        self.cut_within = cut_within
        self.emit = emit or _no_emit

    def _delay(self) -> float:
        if isinstance(self.latency, tuple):
            return self.rng.uniform(*self.latency)
        self.rng.random()  # keep the draw count constant
        return self.latency

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        rng = self.rng
        delay = self._delay()
        r429, r5xx, status = rng.random(), rng.random(), rng.choice(self.statuses_5xx)
        rreset, rtrunc, rmal = rng.random(), rng.random(), rng.random()
        cut = rng.randrange(self.cut_within)
        where = {"url": str(request.url.copy_with(query=None))}
        if delay > 0:
            self.emit("llm_fault", fault="latency", delay=delay, **where)
            await self.clock.sleep(delay)
        if r429 < self.p_429:
            self.emit("llm_fault", fault="http_429", retry_after=self.retry_after, **where)
            headers = {"retry-after": f"{self.retry_after:g}"} if self.retry_after is not None else {}
            return httpx.Response(
                429,
                headers=headers,
                json={"error": {"type": "rate_limit_error", "message": "Rate limited (injected fault)."}},
                request=request,
            )
        if r5xx < self.p_5xx:
            self.emit("llm_fault", fault="http_5xx", status=status, **where)
            kind = "overloaded_error" if status in (503, 529) else "api_error"
            return httpx.Response(
                status,
                json={"error": {"type": kind, "message": f"HTTP {status} (injected fault)."}},
                request=request,
            )
        response = await self._inner.handle_async_request(request)
        mode = None
        if 200 <= response.status_code < 300:
            if rreset < self.p_reset:
                mode = "reset"
            elif rtrunc < self.p_truncate:
                mode = "truncate"
            elif rmal < self.p_malformed:
                mode = "malformed"
        if mode is None:
            return response
        self.emit("llm_fault", fault=mode, offset=cut, **where)
        assert isinstance(response.stream, httpx.AsyncByteStream)
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=_FaultyStream(response.stream, mode, cut, request),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._inner.aclose()


class _FaultyStream(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream, mode: str, cut: int, request: httpx.Request) -> None:
        self._inner = inner
        self._mode = mode
        self._cut = cut
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        seen = 0
        fired = False
        async for chunk in self._inner:
            if fired or seen + len(chunk) <= self._cut:
                seen += len(chunk)
                yield chunk
                continue
            head, tail = chunk[: self._cut - seen], chunk[self._cut - seen :]
            seen += len(chunk)
            fired = True
            if head:
                yield head
            if self._mode == "reset":
                raise httpx.ReadError("connection reset by peer (injected fault)", request=self._request)
            if self._mode == "truncate":
                return
            yield MALFORMED
            if tail:
                yield tail

    async def aclose(self) -> None:
        await self._inner.aclose()


class FaultyModel(AsyncClosing):
    """Wrap ``model`` and spoil some answers, drawing from ``rng`` once per fault kind per call.

    * ``p_bad_tool_name``: tool calls get a name no tool has (``<name>_unknown``);
    * ``p_invalid_json_args``: each tool call's arguments get a stray ``}``
      at the end, so they no longer parse;
    * ``p_empty``: the answer has no text and no tool calls (the wrapped
      stream still runs to the end, so its usage counts).

    Each probability is a number in [0, 1], checked when set. ``await
    faulty.aclose()`` (or ``async with faulty:``) closes the wrapped model.
    """

    rng = Checked(_check_rng)
    p_bad_tool_name = Checked(_check_probability)
    p_invalid_json_args = Checked(_check_probability)
    p_empty = Checked(_check_probability)

    def __init__(
        self,
        model: Model,
        rng: random.Random,
        *,
        p_bad_tool_name: float = 0.0,
        p_invalid_json_args: float = 0.0,
        p_empty: float = 0.0,
        emit: Emit | None = None,
    ) -> None:
        self.model = model
        self.rng = rng
        self.p_bad_tool_name = p_bad_tool_name
        self.p_invalid_json_args = p_invalid_json_args
        self.p_empty = p_empty
        self.emit = emit
        self.provider = getattr(model, "provider", None)

    def __repr__(self) -> str:
        return f"FaultyModel({self.model!r})"

    async def aclose(self) -> None:
        """Close the wrapped model (nothing to do for one without ``aclose``)."""
        await aclose_model(self.model)

    async def stream(
        self, messages: Messages, *, tools: Tools = None, emit: Emit | None = None, **opts: Any
    ) -> AsyncIterator[StreamEvent]:
        """Stream like the wrapped model, with the faults drawn for this call."""
        bad_name = self.rng.random() < self.p_bad_tool_name
        bad_json = self.rng.random() < self.p_invalid_json_args
        empty = self.rng.random() < self.p_empty
        report = emit or self.emit or _no_emit
        if emit is not None:
            opts["emit"] = emit
        if empty:
            report("llm_fault", fault="empty")
        seen: list[int] = []
        async with opened(self.model.stream(messages, tools=tools, **opts)) as events:
            async for event in events:
                if isinstance(event, TextDelta):
                    if not empty:
                        yield event
                elif isinstance(event, ToolCallDelta):
                    if empty:
                        continue
                    if event.index not in seen:
                        seen.append(event.index)
                    if bad_name and event.name:
                        report("llm_fault", fault="bad_tool_name", name=event.name)
                        event = ToolCallDelta(
                            event.index, event.id, f"{event.name}_unknown", event.arguments_delta
                        )
                    yield event
                elif isinstance(event, (Usage, Finish)):
                    if bad_json:  # the output ends here: deltas go before Usage and Finish
                        bad_json = False
                        for index in seen:
                            report("llm_fault", fault="invalid_json_args", index=index)
                            yield ToolCallDelta(index, arguments_delta="}")
                    yield event

