"""Anthropic Messages API over streaming SSE.

::

    model = Anthropic("claude-haiku-4-5")          # key from ANTHROPIC_API_KEY
    response = await complete(model, "Two names for a pet pelican", max_tokens=200)

The key travels in ``x-api-key``, with ``anthropic-version``. System messages
become the top-level ``system`` field; tool results become ``tool_result``
blocks of a user turn (parallel results share one turn). ``max_tokens`` is
required by the API and defaults to 4096.

Decoding: ``message_start`` gives input tokens, ``message_delta`` the stop
reason and the cumulative output tokens, ``message_stop`` ends the stream
(without it the stream was cut off). A ``tool_use`` block's ``input`` in
``content_block_start`` is a placeholder: the arguments are the joined
``input_json_delta.partial_json`` pieces, and an empty join means ``{}``.
Tool calls are numbered from 0 among tool calls (text blocks do not count).
Tolerated: ``ping``, unknown block and delta types (thinking, citations),
unknown fields, padding spaces inside the JSON, and ``event: error`` inside a
200 stream. Input tokens include cache reads and writes (their discounts are
not modelled in the cost). A whole ``message`` in JSON (a server that ignores
``stream``) is read as the events its stream would have carried.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ._base import CallState
from ._errors import StreamInterrupted
from ._http import NUMBER, HTTPModel, ProviderDecoder, call_delta, checked, wrong_type
from ._messages import Message, Tool
from ._protocol import Finish, StreamEvent, TextDelta, ToolCallDelta
from ._sse import SSEDecoder
from ._wire_errors import error_from_payload

__all__ = ["Anthropic"]

API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096


def _messages(messages: Sequence[Message]) -> tuple[str, list[dict[str, Any]]]:
    system: list[str] = []
    out: list[dict[str, Any]] = []
    for m in messages:
        if m.role == "system":
            system.append(m.content)
        elif m.role == "tool":
            block = {"type": "tool_result", "tool_use_id": m.tool_call_id, "content": m.content}
            last = out[-1] if out else None
            if (
                last is not None
                and last["role"] == "user"
                and isinstance(last["content"], list)
                and all(b.get("type") == "tool_result" for b in last["content"])
            ):
                last["content"].append(block)
            else:
                out.append({"role": "user", "content": [block]})
        elif m.role == "assistant" and m.tool_calls:
            blocks: list[dict[str, Any]] = [{"type": "text", "text": m.content}] if m.content else []
            blocks.extend(
                {"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments}
                for c in m.tool_calls
            )
            out.append({"role": "assistant", "content": blocks})
        else:
            out.append({"role": m.role, "content": m.content})
    return "\n\n".join(system), out


def _usage_sum(usage: dict[str, Any]) -> int | None:
    if usage.get("input_tokens") is None:
        return None
    return sum(
        int(usage.get(k) or 0)
        for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    )


class Anthropic(HTTPModel):
    """A Messages API model: ``Anthropic(model, api_key=None, base_url=...)``.

    Other keyword arguments as for :class:`OpenAIChat`. Per-call options go
    into the request body (``max_tokens``, ``temperature``, ``tool_choice``...).
    """

    provider = "anthropic"
    env_keys = ("ANTHROPIC_API_KEY",)
    default_base_url = "https://api.anthropic.com"

    def _request(
        self, messages: Sequence[Message], tools: Sequence[Tool], opts: dict[str, Any]
    ) -> tuple[str, dict[str, str], dict[str, Any]]:
        key = self._need_key()
        system, converted = _messages(messages)
        body: dict[str, Any] = {
            "model": self.model,
            "max_tokens": DEFAULT_MAX_TOKENS,
            "messages": converted,
            "stream": True,
        }
        if system:
            body["system"] = system
        if tools:
            body["tools"] = [
                {"name": t.name, "description": t.description, "input_schema": dict(t.parameters)}
                for t in tools
            ]
        body.update(opts)
        auth = {"anthropic-version": API_VERSION}
        if key:
            auth["x-api-key"] = key
        return f"{self.base_url}/v1/messages", self._headers(auth), body

    def _decoder(self, state: CallState) -> SSEDecoder:
        return _Decoder(self, state)

    def _records(self, payload: Any) -> list[Any]:
        """A whole ``message`` (a server that ignores ``stream``) as the events of its
        stream: ``message_start``, a start and a stop per content block (each carrying
        the block whole), ``message_delta`` with the usage, ``message_stop``; an error
        as it is; of anything else, only its ``usage``."""
        if not isinstance(payload, dict) or payload.get("type") == "error" or payload.get("error"):
            return [payload]
        usage = payload.get("usage")
        counts = [{"type": "message_delta", "delta": {}, "usage": usage}] if isinstance(usage, dict) else []
        content = payload.get("content")
        if payload.get("type") != "message" or not isinstance(content, list):
            return counts
        records: list[Any] = [{"type": "message_start", "message": {"usage": {}}}]
        for index, block in enumerate(content):
            records.append({"type": "content_block_start", "index": index, "content_block": block})
            records.append({"type": "content_block_stop", "index": index})
        records.extend(counts)
        records.append({"type": "message_delta", "delta": {"stop_reason": payload.get("stop_reason")}})
        records.append({"type": "message_stop"})
        return records


class _Decoder(ProviderDecoder):
    """The events of one Messages stream (see the module docstring)."""

    model: Anthropic

    def __init__(self, model: Anthropic, state: CallState) -> None:
        super().__init__(model, state)
        self.tools: dict[int, int] = {}  # content-block index -> tool-call number
        self.pending_input: dict[int, Any] = {}  # tool blocks whose input came whole
        self.stop_reason: str | None = None
        self.stopped = False

    def event(self, name: str, data: str, out: list[StreamEvent]) -> None:
        if self.stopped or not data.strip():
            return  # read to the end, so the connection can go back to the pool
        model, state, tools, pending_input = self.model, self.state, self.tools, self.pending_input
        payload = self.load(data)
        if not isinstance(payload, dict):
            return
        kind = payload.get("type") or name
        if kind == "error" or name == "error":
            raise error_from_payload(
                model.provider, payload, data, scrub=model.scrub, key_hint=model.key_hint
            )
        if kind == "content_block_delta":
            index = payload.get("index", 0)
            delta = payload.get("delta") or {}
            text = delta.get("text")
            if delta.get("type") == "text_delta" and text:
                if type(text) is not str:
                    raise wrong_type("delta.text", text)
                out.append(TextDelta(text))
            elif delta.get("type") == "input_json_delta" and index in tools:
                pending_input.pop(index, None)
                out.append(call_delta(tools[index], None, None, delta.get("partial_json")))
        elif kind == "message_start":
            usage = (payload.get("message") or {}).get("usage") or {}
            state.input_tokens = _usage_sum(usage)
            # its output_tokens is a placeholder (1 in the recordings), not read: the count
            # comes in message_delta. Taken from here, a stream cut before that was charged
            # one "reported" token instead of the estimate from its text
        elif kind == "content_block_start":
            index = payload.get("index", 0)
            block = payload.get("content_block") or {}
            if block.get("type") == "tool_use":
                number = tools[index] = len(tools)
                if block.get("input"):
                    pending_input[index] = block["input"]
                out.append(call_delta(number, block.get("id"), block.get("name"), ""))
            elif block.get("type") == "text" and block.get("text"):
                out.append(TextDelta(checked(block["text"], str, "content_block.text")))
        elif kind == "content_block_stop":
            index = payload.get("index", 0)
            if index in pending_input:
                whole = json.dumps(pending_input.pop(index))
                out.append(ToolCallDelta(tools[index], arguments_delta=whole))
        elif kind == "message_delta":
            self.stop_reason = (payload.get("delta") or {}).get("stop_reason") or self.stop_reason
            usage = payload.get("usage") or {}
            if usage.get("output_tokens") is not None:
                state.output_tokens = checked(usage["output_tokens"], NUMBER, "output_tokens")
            if state.input_tokens is None:
                state.input_tokens = _usage_sum(usage)
        elif kind == "message_stop":
            self.stopped = True

    def end(self, out: list[StreamEvent]) -> None:
        if not self.stopped:
            raise StreamInterrupted(
                "the stream ended before message_stop (truncated); retry the call.",
                provider=self.model.provider,
            )
        out.append(self.state.usage())
        out.append(Finish(self.stop_reason))
