"""OpenAI Chat Completions (and compatible servers) over streaming SSE.

::

    model = OpenAIChat("gpt-4o-mini")                      # key from OPENAI_API_KEY
    local = OpenAIChat("llama3.2", base_url="http://localhost:11434/v1")  # no key needed
    response = await complete(model, "Say hi", temperature=0)

Requests ask for ``stream_options.include_usage``, so the last chunk before
``data: [DONE]`` carries usage and no choices. What the decoder tolerates:
unknown fields on every object (``obfuscation``, ``service_tier``...),
``"usage": null`` on every chunk, chunks with ``choices: []``, a first delta
with ``content: ""``, tool-call arguments split anywhere, several tool calls
in parallel (by ``index``), and an ``{"error": ...}`` chunk inside a 200
stream. A stream that ends with neither ``[DONE]`` nor a ``finish_reason``
was cut off: :class:`StreamInterrupted`. A server that ignores ``stream``
and answers a whole ``chat.completion`` in JSON is read as the one chunk
that would have carried it (its usage, if any, as reported).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ._base import CallState
from ._errors import StreamInterrupted
from ._http import NUMBER, HTTPModel, ProviderDecoder, call_delta, checked, wrong_type
from ._messages import Message, Tool
from ._protocol import Finish, StreamEvent, TextDelta
from ._sse import SSEDecoder
from ._wire_errors import error_from_payload

__all__ = ["OpenAIChat"]


def _message(m: Message) -> dict[str, Any]:
    if m.role == "tool":
        return {"role": "tool", "tool_call_id": m.tool_call_id, "content": m.content}
    out: dict[str, Any] = {"role": m.role, "content": m.content}
    if m.tool_calls:
        out["content"] = m.content or None
        out["tool_calls"] = [
            {
                "id": c.id,
                "type": "function",
                "function": {
                    "name": c.name,
                    "arguments": c.raw_arguments
                    if c.raw_arguments is not None and c.error is None and c.raw_arguments.strip()
                    else json.dumps(c.arguments),
                },
            }
            for c in m.tool_calls
        ]
    return out


def _tool(t: Tool) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {"name": t.name, "description": t.description, "parameters": dict(t.parameters)},
    }


class OpenAIChat(HTTPModel):
    """A Chat Completions model: ``OpenAIChat(model, api_key=None, base_url=...)``.

    Other keyword arguments: ``client``/``transport`` (httpx), ``timeout``
    (httpx's network timeouts, in real time), ``headers`` (extra request
    headers), ``emit``, ``clock``, ``prices``, and ``first_token_timeout`` /
    ``total_timeout`` (limits on ``clock``, also accepted per call).
    Options given per call (``temperature=0``, ``tool_choice="auto"``...) go
    into the request body as they are.

    The model opens its own ``httpx`` client (unless given ``client=``) at its
    first call; close it when done: ``await model.aclose()``, or ``async with
    OpenAIChat(...) as model:``. An :class:`~agentlab.agents.LLMAgent` closes a
    model its factory made (``model=lambda rt: OpenAIChat(...)``) when it exits;
    one passed as it is stays yours to close.
    """

    provider = "openai"
    env_keys = ("OPENAI_API_KEY",)
    default_base_url = "https://api.openai.com/v1"

    def _request(
        self, messages: Sequence[Message], tools: Sequence[Tool], opts: dict[str, Any]
    ) -> tuple[str, dict[str, str], dict[str, Any]]:
        key = self._need_key()
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [_message(m) for m in messages],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if tools:
            body["tools"] = [_tool(t) for t in tools]
        body.update(opts)
        auth = {"authorization": f"Bearer {key}"} if key else {}
        return f"{self.base_url}/chat/completions", self._headers(auth), body

    def _decoder(self, state: CallState) -> SSEDecoder:
        return _Decoder(self, state)

    def _records(self, payload: Any) -> list[Any]:
        """A whole ``chat.completion`` (a server that ignores ``stream``) as the one chunk
        that would have carried it, each choice's ``message`` as its ``delta``; an error
        object as it is; of anything else, only its ``usage``."""
        if type(payload) is not dict or payload.get("error") is not None:
            return [payload]
        choices = payload.get("choices")
        if type(choices) is list and choices and all(
            type(c) is dict and "message" in c for c in choices
        ):
            as_deltas = [{**c, "delta": c["message"]} for c in choices]
            return [{**payload, "choices": as_deltas}]
        usage = payload.get("usage")
        return [{"usage": usage}] if type(usage) is dict else []


class _Decoder(ProviderDecoder):
    """The chunks of one Chat Completions stream (see the module docstring)."""

    model: OpenAIChat

    def __init__(self, model: OpenAIChat, state: CallState) -> None:
        super().__init__(model, state)
        self.finish: str | None = None
        self.done = False
        self.usage_seen = False

    def event(self, name: str, data: str, out: list[StreamEvent]) -> None:
        if self.done:
            return  # read to the end, so the connection can go back to the pool
        text = data.strip()
        if not text:
            return
        if text == "[DONE]":
            self.done = True
            return
        model, state = self.model, self.state
        payload = self.load(data)
        if type(payload) is not dict:
            return
        if payload.get("error") is not None or name == "error":
            raise error_from_payload(
                model.provider, payload, data, scrub=model.scrub, key_hint=model.key_hint
            )
        usage = payload.get("usage")
        if type(usage) is dict:
            self.usage_seen = True
            state.input_tokens = checked(usage.get("prompt_tokens"), NUMBER, "prompt_tokens")
            state.output_tokens = checked(usage.get("completion_tokens"), NUMBER, "completion_tokens")
        for choice in payload.get("choices") or ():
            if type(choice) is not dict or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            content = delta.get("content")
            if content:
                if type(content) is not str:
                    raise wrong_type("delta.content", content)
                out.append(TextDelta(content))
            calls = delta.get("tool_calls")
            if calls:
                for position, call in enumerate(calls):
                    fn = call.get("function") or {}
                    index = call.get("index", position)
                    out.append(call_delta(index, call.get("id"), fn.get("name"), fn.get("arguments")))
            reason = choice.get("finish_reason")
            if reason:
                self.finish = reason

    def end(self, out: list[StreamEvent]) -> None:
        state = self.state
        if not self.done and self.finish is None:
            raise StreamInterrupted(
                "the stream ended before [DONE] (truncated); retry the call.",
                provider=self.model.provider,
            )
        if self.usage_seen:
            out.append(state.usage())
        out.append(Finish(self.finish))
