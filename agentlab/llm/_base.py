"""The shared half of every built-in model: events, timing and usage.

A concrete model implements ``_events(messages, tools, opts, state)``, an
async generator of raw :class:`StreamEvent` s (it may skip :class:`Usage`,
or report what it learns on ``state``). :meth:`BaseModel.stream` wraps it:
it emits the ``llm_*`` events of :mod:`agentlab.llm._events`, measures time
to first token and latency on the model's clock, fills in estimated usage
when the provider gave none, prices the call, and guarantees the stream
shape (output deltas, one Usage, one Finish).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ._accounting import (
    DEFAULT_PRICES,
    Prices,
    cost_usd,
    estimate_input_tokens,
    output_chars,
    tokens_for_chars,
)
from ._clock import AsyncioClock, Clock
from ._deadline import Deadline
from ._errors import LLMError, StreamInterrupted
from ._events import Emit, Routed, Stamped, new_request_id, token_sink, tool_call_sink
from ._messages import Message, Tool, as_messages, as_tools
from ._protocol import Finish, Messages, StreamEvent, TextDelta, ToolCallDelta, Tools, Usage, opened

__all__ = ["BaseModel", "CallState"]

_KINDS = frozenset({TextDelta, ToolCallDelta, Usage, Finish})


def _no_emit(kind: str, **fields: Any) -> None:
    pass


def _kind_of(ev: object) -> type | None:
    """Which of the stream event types ``ev`` is (for subclasses; None if none)."""
    return next((k for k in (TextDelta, ToolCallDelta, Usage, Finish) if isinstance(ev, k)), None)


class _Limited:
    """``source`` with each wait under ``deadline`` (an iterator, not a generator:
    nothing to close)."""

    __slots__ = ("_deadline", "_next")

    def __init__(self, source: AsyncIterator[StreamEvent], deadline: Deadline) -> None:
        self._next = source.__anext__
        self._deadline = deadline

    def __aiter__(self) -> _Limited:
        return self

    def __anext__(self) -> Awaitable[StreamEvent]:
        return self._deadline.step(self._next)


@dataclass
class CallState:
    """What a model learns during one attempt, beyond the events it yields.

    ``produced_output`` is set by :meth:`BaseModel.stream` as it hands a text or
    tool-call delta to the caller, and only there: a decoder that has built a
    delta but fails before it is yielded has delivered nothing, and its error
    is not ``partial`` (so :class:`~agentlab.llm.Retrying` re-sends it).

    ``refused`` is set by a model when it knows the model did not run: the
    provider turned the attempt away (an HTTP error status: 429, 5xx, 4xx, even
    if its body then stops coming), never got it (a server that could not be
    reached, a request that could not be sent or timed out going out), or
    answered 2xx with a body that is neither a stream nor an answer and
    reports no usage. Such an attempt reports no usage and costs nothing (its
    ``llm_error`` has 0 tokens, neither estimated, ``usage_reported`` False,
    ``cost_usd`` 0.0, or None for an unpriced model). An attempt whose request
    went out but got no answer (a timeout or a dropped connection before the
    response headers) is not refused: the provider may have run the model, and
    bill it, so it is charged its prompt, estimated.
    """

    provider_request_id: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    produced_output: bool = False
    refused: bool = False

    def usage(self) -> Usage:
        """The provider's token counts as a :class:`Usage` (reported only if both came)."""
        return Usage(
            self.input_tokens,
            self.output_tokens,
            reported=self.input_tokens is not None and self.output_tokens is not None,
        )


class BaseModel:
    """Base class of the built-in models (see the module docstring)."""

    provider: str = "model"

    def __init__(
        self,
        model: str,
        *,
        emit: Emit | None = None,
        clock: Clock | None = None,
        prices: Prices | None = None,
        first_token_timeout: float | None = None,
        total_timeout: float | None = None,
    ) -> None:
        self.model = model
        self.first_token_timeout = first_token_timeout
        self.total_timeout = total_timeout
        self.emit = emit
        self.clock: Clock = clock if clock is not None else AsyncioClock()
        self.prices: Prices = DEFAULT_PRICES if prices is None else prices
        self._call_ids = itertools.count(1)

    def _new_call_id(self) -> str:
        """An id for a tool call that comes without one: ``call_<n>``, unique in this model."""
        return f"call_{next(self._call_ids)}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.model!r})"

    def _events(
        self, messages: Sequence[Message], tools: Sequence[Tool], opts: dict[str, Any], state: CallState
    ) -> AsyncIterator[StreamEvent]:
        raise NotImplementedError

    def _totals(
        self,
        usage: Usage | None,
        state: CallState,
        est_in: int,
        out_chars: int,
        start: float,
        ttft: float | None,
    ) -> dict[str, Any]:
        """The token, cost and timing fields of an attempt's last event."""
        if state.refused and not state.produced_output:
            return {
                "input_tokens": 0,
                "output_tokens": 0,
                "input_estimated": False,
                "output_estimated": False,
                "usage_reported": False,
                "cost_usd": cost_usd(self.model, 0, 0, self.prices),
                "latency": self.clock.now() - start,
                "ttft": ttft,
                "provider_request_id": state.provider_request_id,
            }
        inp = usage.input_tokens if usage is not None else state.input_tokens
        out = usage.output_tokens if usage is not None else state.output_tokens
        # Each count is estimated on its own. A Usage not ``reported`` that lacks
        # a count blames the missing one; with both counts given, either may be a guess.
        trusted = usage is None or usage.reported or inp is None or out is None
        in_est = inp is None or not trusted
        out_est = out is None or not trusted
        inp = est_in if inp is None else inp
        out = tokens_for_chars(out_chars) if out is None else out
        return {
            "input_tokens": inp,
            "output_tokens": out,
            "input_estimated": in_est,
            "output_estimated": out_est,
            "usage_reported": not (in_est or out_est),
            "cost_usd": cost_usd(self.model, inp, out, self.prices),
            "latency": self.clock.now() - start,
            "ttft": ttft,
            "provider_request_id": state.provider_request_id,
        }

    async def stream(
        self, messages: Messages, *, tools: Tools = None, emit: Emit | None = None, **opts: Any
    ) -> AsyncIterator[StreamEvent]:
        """Stream a response to ``messages`` (see :class:`~agentlab.llm.Model`)."""
        msgs = as_messages(messages)
        tool_list = as_tools(tools)
        emit = emit or self.emit or _no_emit
        first_limit = opts.pop("first_token_timeout", self.first_token_timeout)
        total_limit = opts.pop("total_timeout", self.total_timeout)
        clock = self.clock
        request_id = new_request_id()
        base = {
            "provider": self.provider,
            "model": self.model,
            "request_id": request_id,
            "attempt": 1,
        }
        # Look through the retry layers' Stamped (stamp the attempt here, once) and an
        # agent's Routed (call its delta route directly): see agentlab.llm._events.
        token: Callable[..., None] | None
        tool_call: Callable[..., None] | None
        while True:
            if type(emit) is Stamped:
                base["attempt"] = emit.attempt
                emit.request_id = request_id
                emit = emit.target
            elif type(emit) is Routed:
                token, tool_call, emit = emit.token, emit.tool_call, emit.emit
                break  # emit may stamp again, for the other events only: call it as it is
            elif emit is _no_emit:
                token = tool_call = None
                break
            else:
                token, tool_call = token_sink(emit), tool_call_sink(emit)
                break
        provider, model, attempt = self.provider, self.model, base["attempt"]
        est_in = estimate_input_tokens(msgs, tool_list)
        emit(
            "llm_request",
            **base,
            messages=len(msgs),
            tools=len(tool_list),
            input_tokens_estimate=est_in,
        )
        start = clock.now()
        ttft: float | None = None
        out_chars = 0
        n_text = 0
        usage: Usage | None = None
        state = CallState()
        done = False

        try:
            async with (
                opened(self._events(msgs, tool_list, opts, state)) as source,
                Deadline(clock, self.provider, first_limit, total_limit) as deadline,
            ):
                events = _Limited(source, deadline) if deadline.active else source
                ev: Any  # told apart by exact type below (cheaper than isinstance)
                async for ev in events:
                    kind: type | None = type(ev)
                    if kind not in _KINDS:
                        kind = _kind_of(ev)
                    if kind is TextDelta or kind is ToolCallDelta:
                        if ttft is None:
                            deadline.first_token()
                            ttft = clock.now() - start
                            emit("llm_first_token", **base, ttft=ttft)
                        state.produced_output = True
                        out_chars += output_chars(ev)
                        if kind is TextDelta:
                            if token is not None:  # positional: no dict per delta
                                token(provider, model, request_id, attempt, ev.text, n_text)
                            n_text += 1
                        else:
                            if tool_call is not None:
                                tool_call(
                                    provider, model, request_id, attempt, ev.index, ev.id,
                                    ev.name, ev.arguments_delta,
                                )
                        yield ev
                    elif kind is Usage:
                        usage = ev
                    elif kind is Finish:
                        t = self._totals(usage, state, est_in, out_chars, start, ttft)
                        yield Usage(t["input_tokens"], t["output_tokens"], t["usage_reported"])
                        done = True
                        emit("llm_response", **base, stop_reason=ev.stop_reason, **t)
                        yield ev
                        return
            raise StreamInterrupted(
                "the stream ended without a finish event; retry the call.",
                provider=self.provider,
            )
        except LLMError as err:
            if isinstance(err, StreamInterrupted):
                # partial means output was delivered, which only this loop knows: a
                # decoder may build the error before the deltas of the same read go out
                # (see agentlab.llm._sse), and they may have been delivered since
                err.partial = state.produced_output
            if not done:
                done = True
                emit(
                    "llm_error",
                    **base,
                    error_type=err.type,
                    message=str(err),
                    status=err.status,
                    retry_after=err.retry_after,
                    partial=state.produced_output,
                    retryable=err.retryable,
                    **self._totals(usage, state, est_in, out_chars, start, ttft),
                )
            raise
        except Exception as exc:
            if not done:
                done = True
                emit(
                    "llm_error",
                    **base,
                    error_type=type(exc).__name__,
                    message=str(exc),
                    status=None,
                    retry_after=None,
                    partial=state.produced_output,
                    retryable=False,
                    **self._totals(usage, state, est_in, out_chars, start, ttft),
                )
            raise
        except (asyncio.CancelledError, GeneratorExit):
            if not done:
                done = True
                emit("llm_response", **base, stop_reason="cancelled", **self._totals(usage, state, est_in, out_chars, start, ttft))
            raise
