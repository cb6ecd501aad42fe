"""Events: what a model call tells the outside world while it runs.

Models, :class:`~agentlab.llm.Retrying` and the fault injectors call an
optional ``emit(kind, **fields)`` callback, given to the constructor or per
call (``model.stream(msgs, emit=...)``; the per-call one wins). The runtime
turns these into trace events; a :class:`~agentlab.llm.UsageMeter` adds them
up. An ``emit`` should be quick and must not raise.

Fields every event has: ``provider`` (``openai``, ``anthropic``, ``gemini``,
``scripted``...), ``model``, ``request_id`` (one per attempt: ``llm-1``,
``llm-2``... numbered per scope, see :func:`numbered_in`) and ``attempt`` (1
for the first try, 2 for the first retry...). Times are seconds on the
model's clock.

=================== ==============================================================
kind                extra fields
=================== ==============================================================
llm_request         ``messages`` (count), ``tools`` (count), ``input_tokens_estimate``
llm_first_token     ``ttft`` (request start to first text/tool-call delta)
llm_token           ``text`` (the delta), ``index`` (0-based delta number)
llm_tool_call       ``index``, ``id``, ``name``, ``arguments_delta`` (one per delta)
llm_response        ``stop_reason``, ``input_tokens``, ``output_tokens``,
                    ``input_estimated``, ``output_estimated`` (each True when the
                    provider did not report that count), ``usage_reported`` (it
                    reported both), ``cost_usd`` (None if unpriced), ``latency``,
                    ``ttft`` (None if no output), ``provider_request_id`` (from
                    response headers, or None). ``stop_reason`` is
                    ``"cancelled"`` when the caller stopped the stream early:
                    not a failure, but tokens count.
llm_error           ``error_type`` (an :class:`~agentlab.llm.LLMError` ``.type``),
                    ``message``, ``status``, ``retry_after``, ``partial`` (output
                    was already delivered), ``retryable``, plus the token, cost and
                    timing fields of ``llm_response`` (0 tokens and no cost for an
                    attempt that never reached the model: an error status, no
                    connection; see :mod:`agentlab.llm._accounting`)
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

import contextlib
import contextvars
import itertools
import weakref
from collections.abc import Callable, Iterator
from typing import Any

__all__ = [
    "DELTA_KINDS",
    "TOKEN_FIELDS",
    "TOOL_CALL_FIELDS",
    "Emit",
    "Routed",
    "Stamped",
    "default_scope",
    "numbered_in",
    "tee",
]

Emit = Callable[..., None]
"""``emit(kind: str, **fields) -> None``."""

DELTA_KINDS = frozenset({"llm_token", "llm_tool_call"})
"""The per-delta kinds: one event per piece of output, the bulk of a stream's events."""


class _RequestIds:
    """One sequence of request ids: ``llm-1``, ``llm-2``, ..."""

    __slots__ = ("_next",)

    def __init__(self) -> None:
        self._next = itertools.count(1).__next__

    def __call__(self) -> str:
        return f"llm-{self._next()}"


_process_ids = _RequestIds()
_scope_ids: weakref.WeakKeyDictionary[Any, _RequestIds] = weakref.WeakKeyDictionary()
_current_ids: contextvars.ContextVar[_RequestIds] = contextvars.ContextVar(
    "agentlab_llm_request_ids", default=_process_ids
)
_default_scope: Callable[[], Any] | None = None


def _ids_of(scope: Any) -> _RequestIds:
    ids = _scope_ids.get(scope)
    if ids is None:
        ids = _scope_ids[scope] = _RequestIds()
    return ids


def new_request_id() -> str:
    """The id of a new attempt, from the sequence of the current :func:`numbered_in`
    scope; outside any, of the scope the :func:`default_scope` finder names, and
    failing that, from one sequence for the whole process."""
    ids = _current_ids.get()
    if ids is _process_ids and _default_scope is not None:
        scope = _default_scope()
        if scope is not None:
            ids = _ids_of(scope)
    return ids()


def default_scope(finder: Callable[[], Any] | None) -> None:
    """Register ``finder`` (None: remove it), asked for the scope of an attempt that
    starts outside any :func:`numbered_in` block.

    ``finder()`` returns a scope (as :func:`numbered_in` takes) or None for the
    process-wide sequence; it is called once per attempt, must be quick and must
    not raise. This layer does not import the runtime: the agents layer
    registers a finder that names the open runtime of the running event loop,
    so a model called from a notebook cell numbers in that runtime's sequence,
    as its agents' calls do.
    """
    global _default_scope
    _default_scope = finder


@contextlib.contextmanager
def numbered_in(scope: Any) -> Iterator[None]:
    """Number the attempts started inside the ``with`` block (in this task) in
    ``scope``'s own sequence, ``llm-1`` first.

    An :class:`~agentlab.agents.LLMAgent` (and each of its tool calls) numbers
    its requests in its runtime: ids are unique within a runtime, and the same
    seed gives the same ids when a process runs several runtimes one after the
    other (a notebook kernel, a test session). So does any other call made on
    the event loop of an open runtime, once ``agentlab.agents`` is imported
    (see :func:`default_scope`). Attempts started with no scope at all share
    one sequence for the whole process, which never repeats an id but depends
    on what ran before; do not mix them with a scope's in one log. ``scope`` is
    any object that can be weakly referenced: its sequence lives as long as it
    does.
    """
    ids = _ids_of(scope)
    outer = _current_ids.get()
    _current_ids.set(ids)
    try:
        yield
    finally:
        # set, not reset(token): the block may end in another context than it began
        # (a coroutine stepped inline, then resumed in a task)
        _current_ids.set(outer)


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


TOKEN_FIELDS = ("provider", "model", "request_id", "attempt", "text", "index")
"""The fields of an ``llm_token`` event, in the order a :class:`Routed` ``token`` sink takes them."""

TOOL_CALL_FIELDS = (
    "provider", "model", "request_id", "attempt", "index", "id", "name", "arguments_delta"
)
"""The fields of an ``llm_tool_call`` event, in the order a ``tool_call`` sink takes them."""


class Routed:
    """An ``emit`` that sends the per-delta events (:data:`DELTA_KINDS`) to two
    positional sinks and every other event to ``emit``.

    ``token(*values)`` gets an ``llm_token``'s fields in :data:`TOKEN_FIELDS`
    order, ``tool_call(*values)`` an ``llm_tool_call``'s in
    :data:`TOOL_CALL_FIELDS` order; a sink that is None drops its events. An
    agent routes them straight into its runtime's stream
    (``runtime.emitter("llm_token", TOKEN_FIELDS, pid)``) while it accounts for
    requests and responses in ``emit``. The built-in models look through it and
    call the sinks themselves: no dict of fields is built per delta.
    """

    __slots__ = ("emit", "token", "tool_call")

    def __init__(
        self,
        emit: Emit,
        token: Callable[..., None] | None = None,
        tool_call: Callable[..., None] | None = None,
    ) -> None:
        self.emit = emit
        self.token = token
        self.tool_call = tool_call

    def __call__(self, kind: str, **fields: Any) -> None:
        if kind == "llm_token":
            if self.token is not None:
                self.token(*[fields.get(k) for k in TOKEN_FIELDS])
        elif kind == "llm_tool_call":
            if self.tool_call is not None:
                self.tool_call(*[fields.get(k) for k in TOOL_CALL_FIELDS])
        else:
            self.emit(kind, **fields)


def token_sink(emit: Emit) -> Callable[..., None]:
    """A positional ``llm_token`` sink that calls a keyword ``emit``."""

    def token(
        provider: str, model: str, request_id: str, attempt: int, text: str, index: int
    ) -> None:
        emit("llm_token", provider=provider, model=model, request_id=request_id,
             attempt=attempt, text=text, index=index)

    return token


def tool_call_sink(emit: Emit) -> Callable[..., None]:
    """A positional ``llm_tool_call`` sink that calls a keyword ``emit``."""

    def tool_call(
        provider: str, model: str, request_id: str, attempt: int, index: int,
        id: str | None, name: str | None, arguments_delta: str,
    ) -> None:
        emit("llm_tool_call", provider=provider, model=model, request_id=request_id,
             attempt=attempt, index=index, id=id, name=name, arguments_delta=arguments_delta)

    return tool_call
