"""Events: what a model call tells the outside world while it runs.

Models, :class:`~agentlab.llm.Retrying` and the fault injectors call an
optional ``emit(kind, **fields)`` callback, given to the constructor or per
call (``model.stream(msgs, emit=...)``; the per-call one wins). The runtime
turns these into trace events; a :class:`~agentlab.llm.UsageMeter` adds them
up. An ``emit`` should be quick and must not raise.

Fields every event has: ``provider`` (``openai``, ``anthropic``, ``gemini``,
``scripted``...), ``model``, ``request_id`` (unique in the process, one per
attempt) and ``attempt`` (1 for the first try, 2 for the first retry...).
Times are seconds on the model's clock.

=================== ==============================================================
kind                extra fields
=================== ==============================================================
llm_request         ``messages`` (count), ``tools`` (count), ``input_tokens_estimate``
llm_first_token     ``ttft`` (request start to first text/tool-call delta)
llm_token           ``text`` (the delta), ``index`` (0-based delta number)
llm_tool_call       ``index``, ``id``, ``name``, ``arguments_delta`` (one per delta)
llm_response        ``stop_reason``, ``input_tokens``, ``output_tokens``,
                    ``input_estimated``, ``output_estimated``, ``usage_reported``,
                    ``cost_usd`` (None if unpriced), ``latency``, ``ttft`` (None if
                    no output), ``provider_request_id`` (from response headers, or
                    None). ``stop_reason`` is ``"cancelled"`` when the caller
                    stopped the stream early: not a failure, but tokens count.
llm_error           ``error_type`` (an :class:`~agentlab.llm.LLMError` ``.type``),
                    ``message``, ``status``, ``retry_after``, ``partial`` (output
                    was already produced), ``retryable``, plus the token, cost and
                    timing fields of ``llm_response``
llm_retry           ``error_type``, ``delay`` (the wait before the next attempt),
                    ``retry_after`` (what the provider asked for, or None);
                    ``attempt`` is the attempt about to start
=================== ==============================================================

No field ever holds an API key or a request header.

Example, printing a call as it happens::

    def show(kind, **f):
        print(kind, {k: f[k] for k in ("attempt", "request_id") })

    await complete(model, "hi", emit=show)
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

__all__ = ["DELTA_KINDS", "Emit", "Routed", "Stamped", "tee"]

Emit = Callable[..., None]
"""``emit(kind: str, **fields) -> None``."""

_request_ids = itertools.count(1)

DELTA_KINDS = frozenset({"llm_token", "llm_tool_call"})
"""The per-delta kinds: one event per piece of output, the bulk of a stream's events."""


def new_request_id() -> str:
    """A process-unique id for one attempt: ``llm-1``, ``llm-2``, ..."""
    return f"llm-{next(_request_ids)}"


def tee(*emits: Emit | None) -> Emit:
    """One callback that calls each of ``emits`` in order (None entries are skipped)."""
    targets = [e for e in emits if e is not None]

    def emit(kind: str, **fields: Any) -> None:
        for target in targets:
            target(kind, **fields)

    return emit


def with_fields(emit: Emit, **extra: Any) -> Emit:
    """A callback that overrides/adds ``extra`` fields on every event."""

    def bound(kind: str, **fields: Any) -> None:
        emit(kind, **{**fields, **extra})

    return bound


class Stamped:
    """An ``emit`` that sets ``attempt`` on every event it passes on to ``target``,
    and remembers the ``request_id`` of the attempt's ``llm_request``.

    :class:`~agentlab.llm.Retrying` hands one to each attempt. The built-in
    models look through it (see :meth:`BaseModel.stream`): they put
    ``attempt`` in their own events, set ``request_id``, and call ``target``
    directly, which saves a copy of every event's fields on the per-token
    path. Any other model just calls it.
    """

    __slots__ = ("attempt", "request_id", "target")

    def __init__(self, target: Emit, attempt: int) -> None:
        self.target = target
        self.attempt = attempt
        self.request_id: str | None = None

    def __call__(self, kind: str, **fields: Any) -> None:
        fields["attempt"] = self.attempt
        if kind == "llm_request":
            self.request_id = fields.get("request_id")
        self.target(kind, **fields)


class Routed:
    """An ``emit`` that sends the per-delta events (:data:`DELTA_KINDS`) to ``deltas``
    (or drops them, if it is None) and every other event to ``emit``.

    An agent uses it to put token events straight into its runtime's stream
    (``deltas=functools.partial(runtime.emit, pid=pid)``) while it accounts
    for requests and responses in ``emit``. The built-in models look through
    it and call ``deltas`` themselves, with keyword arguments: no call, and
    no copy of the fields, in between.
    """

    __slots__ = ("deltas", "emit")

    def __init__(self, emit: Emit, deltas: Emit | None) -> None:
        self.emit = emit
        self.deltas = deltas

    def __call__(self, kind: str, **fields: Any) -> None:
        if kind in DELTA_KINDS:
            if self.deltas is not None:
                self.deltas(kind, **fields)
        else:
            self.emit(kind, **fields)
