"""The model protocol: one method that streams typed events.

A model is anything with::

    def stream(messages, *, tools=None, **opts) -> AsyncIterator[StreamEvent]

(usually written as an ``async def`` generator). A stream yields, in order:

* any number of :class:`TextDelta` and :class:`ToolCallDelta`,
* at most one :class:`Usage`,
* exactly one :class:`Finish`, last,

or raises an :class:`~agentlab.llm.LLMError` part-way. Closing the iterator
early (``break`` inside ``aclosing``, or cancelling the task) releases the
HTTP stream. ``opts`` are provider options (``temperature``,
``max_tokens``, ...) plus one call option every model accepts: ``emit``, an
event callback for this call only (see :mod:`agentlab.llm._events`).

Consuming a stream by hand::

    from contextlib import aclosing

    async with aclosing(model.stream([Message.user("hi")])) as events:
        async for ev in events:
            if isinstance(ev, TextDelta):
                print(ev.text, end="", flush=True)

or let :func:`~agentlab.llm.complete` assemble a :class:`~agentlab.llm.Response`.

A model that holds resources also has ``async aclose()``: the HTTP providers
close the ``httpx`` client they made (its pooled connections), and ``async
with model:`` calls it on the way out. A closed provider model can be used
again: its next call opens a new client. Whoever made a model closes it: your
own with ``await model.aclose()`` (or ``async with``), and an
:class:`~agentlab.agents.LLMAgent` the ones it made itself (its docstring says
which). The wrappers (:class:`~agentlab.llm.Retrying`,
:class:`~agentlab.llm.FaultyModel`, :class:`~agentlab.llm.ReplayModel`) pass
``aclose`` on to the model they wrap; a model without ``aclose`` (a
:class:`~agentlab.llm.ScriptedModel`) has nothing to close.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, Self, TypeVar, runtime_checkable

from ._messages import Message, Tool

__all__ = [
    "AsyncClosing", "Finish", "Model", "StreamEvent", "TextDelta", "ToolCallDelta", "Usage",
    "aclose_model", "opened",
]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of the answer's text."""

    text: str


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """A piece of a tool call. ``index`` numbers the calls of one response from 0.

    The first delta of a call usually carries ``id`` and ``name``; the
    argument JSON arrives in ``arguments_delta`` pieces to be joined per index.
    """

    index: int
    id: str | None = None
    name: str | None = None
    arguments_delta: str = ""


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts for one response.

    ``reported`` is True when both numbers came from the provider; False when
    at least one was estimated (about four characters per token) or unknown
    (None). ``Usage(7, None, reported=False)`` means the provider reported 7
    input tokens and no output count.
    """

    input_tokens: int | None
    output_tokens: int | None
    reported: bool = True


@dataclass(frozen=True, slots=True)
class Finish:
    """The end of a response, with the provider's own stop reason (``stop``, ``end_turn``, ``STOP``...)."""

    stop_reason: str | None


StreamEvent = TextDelta | ToolCallDelta | Usage | Finish

Messages = str | Message | Mapping[str, Any] | Sequence[Message | Mapping[str, Any] | str]
Tools = Iterable[Tool | Mapping[str, Any]] | None


@runtime_checkable
class Model(Protocol):
    """Anything that streams a response for a conversation (see the module docstring)."""

    def stream(
        self, messages: Messages, *, tools: Tools = None, **opts: Any
    ) -> AsyncIterator[StreamEvent]: ...


class opened(Generic[T]):  # lower case: used like a function, as contextlib.aclosing
    """Like :func:`contextlib.aclosing`, for any async iterator (closes it if it can be closed).

    A plain class rather than an ``@asynccontextmanager``: it wraps every
    stream of every call, and this costs no generator.
    """

    __slots__ = ("_stream",)

    def __init__(self, stream: AsyncIterator[T]) -> None:
        self._stream = stream

    async def __aenter__(self) -> AsyncIterator[T]:
        return self._stream

    async def __aexit__(self, *exc_info: object) -> None:
        aclose = getattr(self._stream, "aclose", None)
        if aclose is not None:
            await aclose()


async def aclose_model(model: object) -> None:
    """Close ``model`` if it can be closed (``await model.aclose()``; nothing for a
    model without ``aclose``). A wrapper's ``aclose`` calls this on the model it wraps."""
    aclose = getattr(model, "aclose", None)
    if aclose is not None:
        await aclose()


class AsyncClosing:
    """``async with model:`` closes it on the way out (``aclose()``, defined by the class)."""

    async def aclose(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
