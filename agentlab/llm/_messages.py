"""Messages, tool schemas and tool calls: the provider-neutral conversation.

A conversation is a list of :class:`Message`. Roles:

========== ==========================================================
system     instructions (providers that want them apart get them apart)
user       what the user said
assistant  what the model said: ``content`` and/or ``tool_calls``
tool       the result of one tool call: ``tool_call_id`` (and ``name``,
           which Gemini needs) say which call it answers
========== ==========================================================

::

    msgs = [
        Message.system("You are terse."),
        Message.user("Capital of the UK?"),
        Message.assistant(tool_calls=[ToolCall("call_1", "get_capital", {"country": "UK"})]),
        Message.tool("London", tool_call_id="call_1", name="get_capital"),
    ]

Plain dicts with the same keys work too (``{"role": "user", "content": "hi"}``),
and a bare string is one user message. Tools are :class:`Tool` (name,
description, JSON-schema ``parameters``) or dicts of that shape.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Message", "Tool", "ToolCall", "as_messages", "as_tools"]

Role = Literal["system", "user", "assistant", "tool"]
ROLES = ("system", "user", "assistant", "tool")


@dataclass(frozen=True)
class ToolCall:
    """One tool call the model asked for.

    ``arguments`` is the parsed JSON object. When the streamed argument text
    was not a JSON object, ``arguments`` is ``{}`` and ``error`` says why;
    ``raw_arguments`` keeps the exact text the model produced.
    """

    id: str | None
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    raw_arguments: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class Tool:
    """A tool the model may call: a name, what it does, and a JSON schema for its arguments."""

    name: str
    description: str = ""
    parameters: Mapping[str, Any] = field(
        default_factory=lambda: {"type": "object", "properties": {}}
    )


@dataclass(frozen=True)
class Message:
    """One turn of a conversation (see the module docstring for the roles)."""

    role: Role
    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}, not {self.role!r}")
        if not isinstance(self.tool_calls, tuple):
            object.__setattr__(self, "tool_calls", tuple(self.tool_calls))

    @classmethod
    def system(cls, content: str) -> Message:
        return cls("system", content)

    @classmethod
    def user(cls, content: str) -> Message:
        return cls("user", content)

    @classmethod
    def assistant(cls, content: str = "", tool_calls: Iterable[ToolCall] = ()) -> Message:
        return cls("assistant", content, tuple(tool_calls))

    @classmethod
    def tool(cls, content: str, *, tool_call_id: str | None, name: str | None = None) -> Message:
        return cls("tool", content, tool_call_id=tool_call_id, name=name)


def _tool_call(obj: ToolCall | Mapping[str, Any]) -> ToolCall:
    if isinstance(obj, ToolCall):
        return obj
    fn = obj.get("function")
    if isinstance(fn, Mapping):  # OpenAI's shape
        args = fn.get("arguments") or "{}"
        parsed = json.loads(args) if isinstance(args, str) else dict(args)
        return ToolCall(obj.get("id"), str(fn.get("name", "")), parsed)
    return ToolCall(obj.get("id"), str(obj.get("name", "")), dict(obj.get("arguments") or {}))


def as_message(obj: Message | Mapping[str, Any] | str) -> Message:
    """Normalise a message given as a :class:`Message`, a dict, or a string (a user turn)."""
    if isinstance(obj, Message):
        return obj
    if isinstance(obj, str):
        return Message.user(obj)
    content = obj.get("content")
    return Message(
        role=obj["role"],
        content="" if content is None else str(content),
        tool_calls=tuple(_tool_call(c) for c in obj.get("tool_calls") or ()),
        tool_call_id=obj.get("tool_call_id"),
        name=obj.get("name"),
    )


def as_messages(
    messages: str | Message | Mapping[str, Any] | Sequence[Message | Mapping[str, Any] | str],
) -> list[Message]:
    """Normalise a conversation: a string, one message, or a sequence of them."""
    if isinstance(messages, str | Message | Mapping):
        return [as_message(messages)]
    return [as_message(m) for m in messages]


def as_tools(tools: Iterable[Tool | Mapping[str, Any]] | None) -> list[Tool]:
    """Normalise tool schemas given as :class:`Tool` or dicts (``input_schema`` accepted)."""
    out: list[Tool] = []
    for t in tools or ():
        if isinstance(t, Tool):
            out.append(t)
            continue
        fn = t.get("function", t)  # accept OpenAI's {"type": "function", "function": {...}}
        params = fn.get("parameters") or fn.get("input_schema") or {"type": "object", "properties": {}}
        out.append(Tool(str(fn["name"]), str(fn.get("description") or ""), params))
    return out
