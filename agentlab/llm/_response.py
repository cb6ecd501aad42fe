"""Assembling a stream into one :class:`Response`.

::

    response = await complete(model, [Message.user("Capital of the UK?")], tools=[get_capital])
    for call in response.tool_calls:
        print(call.name, call.arguments)       # get_capital {'country': 'UK'}
    history.append(response.message())

Tool-call argument pieces are joined per index (so parallel calls stay
apart) and parsed as one JSON object; an empty string means ``{}`` (a tool
without parameters). Arguments that are not a JSON object do not raise:
the :class:`ToolCall` gets ``arguments={}`` and an ``error`` to send back to
the model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ._accounting import estimate_input_tokens, estimate_tokens
from ._messages import Message, ToolCall, as_messages, as_tools
from ._protocol import (
    Finish,
    Messages,
    Model,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    Tools,
    Usage,
    opened,
)

__all__ = ["Assembler", "Response", "complete", "parse_arguments"]


@dataclass
class Response:
    """A whole answer: text, tool calls, token usage and the provider's stop reason."""

    text: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    usage: Usage | None = None
    stop_reason: str | None = None

    def message(self) -> Message:
        """This answer as an assistant :class:`Message`, to append to the conversation."""
        return Message.assistant(self.text, self.tool_calls)


def parse_arguments(raw: str) -> tuple[dict[str, Any], str | None]:
    """Parse joined argument text: ``(arguments, None)`` or ``({}, why it failed)``.

    >>> parse_arguments(""), parse_arguments('{"a": 1}'), parse_arguments("[1]")[1]
    (({}, None), ({'a': 1}, None), 'arguments are a list, not a JSON object')
    """
    if not raw.strip():
        return {}, None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        return {}, f"arguments are not valid JSON ({exc.msg} at character {exc.pos})"
    if not isinstance(value, dict):
        return {}, f"arguments are a {type(value).__name__}, not a JSON object"
    return value, None


@dataclass
class _Call:
    id: str | None = None
    name: str | None = None
    pieces: list[str] = field(default_factory=list)


class Assembler:
    """Feed it stream events with :meth:`add`; :meth:`response` gives the result so far."""

    def __init__(self) -> None:
        self._text: list[str] = []
        self._calls: dict[int, _Call] = {}
        self.usage: Usage | None = None
        self.stop_reason: str | None = None
        self.finished = False

    def add(self, event: StreamEvent) -> None:
        if type(event) is TextDelta or isinstance(event, TextDelta):  # the common case first
            self._text.append(event.text)
        elif isinstance(event, ToolCallDelta):
            call = self._calls.setdefault(event.index, _Call())
            call.id = call.id or event.id
            call.name = call.name or event.name
            call.pieces.append(event.arguments_delta)
        elif isinstance(event, Usage):
            self.usage = event
        elif isinstance(event, Finish):
            self.stop_reason = event.stop_reason
            self.finished = True

    @property
    def text(self) -> str:
        return "".join(self._text)

    def response(self) -> Response:
        calls = []
        for index in sorted(self._calls):
            c = self._calls[index]
            raw = "".join(c.pieces)
            args, error = parse_arguments(raw)
            calls.append(ToolCall(c.id, c.name or "", args, raw, error))
        return Response(self.text, calls, self.usage, self.stop_reason)


async def complete(model: Model, messages: Messages, *, tools: Tools = None, **opts: Any) -> Response:
    """Run ``model`` to the end and return the assembled :class:`Response`.

    If the model reported no usage, usage is estimated (``reported=False``).
    Errors are raised as :class:`~agentlab.llm.LLMError`.
    """
    asm = Assembler()
    async with opened(model.stream(messages, tools=tools, **opts)) as events:
        async for event in events:
            asm.add(event)
    response = asm.response()
    if response.usage is None:
        inp = estimate_input_tokens(as_messages(messages), as_tools(tools))
        out = estimate_tokens(response.text + "".join(c.raw_arguments or "" for c in response.tool_calls))
        response.usage = Usage(inp, out, reported=False)
    return response
