"""Google Gemini ``streamGenerateContent`` over SSE.

::

    model = Gemini("gemini-2.0-flash")          # key from GEMINI_API_KEY or GOOGLE_API_KEY
    response = await complete(model, "Capital of France?", temperature=0)

The request goes to ``/v1beta/models/{model}:streamGenerateContent?alt=sse``
with the key in the ``x-goog-api-key`` header (never in the URL). System
messages become ``systemInstruction``; ``temperature``, ``max_tokens``,
``top_p`` and ``stop`` map to ``generationConfig`` (other options go there as
given, except ``safetySettings``, ``toolConfig`` and ``cachedContent``,
which are top-level).

Tools go out as ``functionDeclarations`` whose arguments are described by
``parametersJsonSchema``: the JSON Schema a tool has, as it is. (The older
``parameters`` field takes only Gemini's OpenAPI-subset ``Schema``, and the
API refuses there, with a 400 "Unknown name", what pydantic writes for a
model-typed, optional or ``dict``/``**kwargs`` parameter: ``$defs``/``$ref``,
``anyOf`` with ``{"type": "null"}``, ``additionalProperties``.) An output
schema is not sent (an agent's ``output=`` goes in its system prompt); to
constrain an answer, pass ``responseMimeType="application/json"`` and
``responseJsonSchema=...`` (JSON Schema; ``responseSchema`` takes the
OpenAPI subset), which go into ``generationConfig`` as given.

Decoding: events are ``data: {...}`` separated by CRLF, with no ``event:``
lines and no ``[DONE]``: the stream just ends, and a stream that ends before
any ``finishReason`` was cut off. Every chunk repeats a *cumulative*
``usageMetadata`` whose numbers may even shrink: the last one wins, never a
sum. Function calls arrive whole (``functionCall.args`` is an object) and
are emitted as one :class:`ToolCallDelta` each; ``thought`` parts are skipped.
A call sent without an ``id`` (Gemini's come without one) gets one from the
model as it is decoded, ``call_<n>`` (numbered per model, as a
``ScriptedModel`` numbers its calls): its ``llm_tool_call`` event, the
conversation and an agent's run of the tool all go by that id. An answer in
JSON instead of SSE (``streamGenerateContent`` without ``alt=sse``, through a
proxy that drops it: a JSON array of those chunks) is read chunk by chunk.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from ._base import CallState
from ._errors import StreamInterrupted
from ._http import NUMBER, HTTPModel, ProviderDecoder, call_delta, checked, wrong_type
from ._messages import Message, Tool
from ._protocol import Finish, StreamEvent, TextDelta
from ._sse import SSEDecoder
from ._wire_errors import error_from_payload

__all__ = ["Gemini"]

_CONFIG_NAMES = {"max_tokens": "maxOutputTokens", "top_p": "topP", "top_k": "topK", "stop": "stopSequences"}
_TOP_LEVEL = {"safetySettings", "toolConfig", "cachedContent"}


def _tool_response(content: str) -> dict[str, Any]:
    try:
        value = json.loads(content)
    except (json.JSONDecodeError, TypeError):
        value = None
    return value if isinstance(value, dict) else {"result": content}


def _contents(messages: Sequence[Message]) -> tuple[list[str], list[dict[str, Any]]]:
    system: list[str] = []
    out: list[dict[str, Any]] = []
    names: dict[str | None, str] = {}
    for m in messages:
        if m.role == "system":
            system.append(m.content)
        elif m.role == "assistant":
            parts: list[dict[str, Any]] = [{"text": m.content}] if m.content else []
            for c in m.tool_calls:
                names[c.id] = c.name
                fn: dict[str, Any] = {"name": c.name, "args": c.arguments}
                if c.id:
                    fn["id"] = c.id
                parts.append({"functionCall": fn})
            out.append({"role": "model", "parts": parts})
        elif m.role == "tool":
            response: dict[str, Any] = {
                "name": m.name or names.get(m.tool_call_id, ""),
                "response": _tool_response(m.content),
            }
            if m.tool_call_id:
                response["id"] = m.tool_call_id
            part = {"functionResponse": response}
            last = out[-1] if out else None
            if last is not None and last.get("_tool_results"):
                last["parts"].append(part)
            else:
                out.append({"role": "user", "parts": [part], "_tool_results": True})
        else:
            out.append({"role": "user", "parts": [{"text": m.content}]})
    for content in out:
        content.pop("_tool_results", None)
    return system, out


class Gemini(HTTPModel):
    """A Gemini model: ``Gemini(model, api_key=None, base_url=...)``.

    Other keyword arguments as for :class:`OpenAIChat`.
    """

    provider = "gemini"
    env_keys = ("GEMINI_API_KEY", "GOOGLE_API_KEY")
    default_base_url = "https://generativelanguage.googleapis.com"

    def _request(
        self, messages: Sequence[Message], tools: Sequence[Tool], opts: dict[str, Any]
    ) -> tuple[str, dict[str, str], dict[str, Any]]:
        key = self._need_key()
        system, contents = _contents(messages)
        body: dict[str, Any] = {"contents": contents}
        if system:
            body["systemInstruction"] = {"parts": [{"text": s} for s in system]}
        if tools:
            body["tools"] = [
                {
                    "functionDeclarations": [
                        # JSON Schema as the tools have it ($defs/$ref, anyOf with null,
                        # additionalProperties, default, title): see the module docstring
                        {
                            "name": t.name,
                            "description": t.description,
                            "parametersJsonSchema": dict(t.parameters),
                        }
                        for t in tools
                    ]
                }
            ]
        config: dict[str, Any] = {}
        for name, value in opts.items():
            if name in _TOP_LEVEL:
                body[name] = value
            elif name == "generationConfig":
                config.update(value)
            else:
                config[_CONFIG_NAMES.get(name, name)] = value
        if config:
            body["generationConfig"] = config
        model = self.model.removeprefix("models/")
        url = f"{self.base_url}/v1beta/models/{quote(model, safe='')}:streamGenerateContent?alt=sse"
        auth = {"x-goog-api-key": key} if key else {}
        return url, self._headers(auth), body

    def _decoder(self, state: CallState) -> SSEDecoder:
        return _Decoder(self, state)

    def _records(self, payload: Any) -> list[Any]:
        """``streamGenerateContent`` without ``alt=sse`` answers a JSON array of the
        chunks its stream would carry, and ``generateContent`` one of them."""
        return payload if isinstance(payload, list) else [payload]


class _Decoder(ProviderDecoder):
    """The chunks of one ``streamGenerateContent`` stream (see the module docstring)."""

    model: Gemini

    def __init__(self, model: Gemini, state: CallState) -> None:
        super().__init__(model, state)
        self.finish: str | None = None
        self.calls = 0
        self.usage_seen = False

    def event(self, name: str, data: str, out: list[StreamEvent]) -> None:
        if not data.strip():
            return
        model, state = self.model, self.state
        payload = self.load(data)
        if isinstance(payload, list) and len(payload) == 1:
            payload = payload[0]
        if not isinstance(payload, dict):
            return
        if payload.get("error") is not None:
            raise error_from_payload(
                model.provider, payload, data, scrub=model.scrub, key_hint=model.key_hint
            )
        meta = payload.get("usageMetadata")
        if isinstance(meta, dict):
            self.usage_seen = True
            state.input_tokens = checked(meta.get("promptTokenCount"), NUMBER, "promptTokenCount")
            output = checked(meta.get("candidatesTokenCount"), NUMBER, "candidatesTokenCount")
            thoughts = meta.get("thoughtsTokenCount")
            state.output_tokens = None if output is None else output + (thoughts or 0)
        candidates = payload.get("candidates") or ()
        if candidates and isinstance(candidates[0], dict):
            candidate = candidates[0]
            for part in (candidate.get("content") or {}).get("parts") or ():
                if not isinstance(part, dict) or part.get("thought"):
                    continue
                text = part.get("text")
                if text:
                    if type(text) is not str:
                        raise wrong_type("part.text", text)
                    out.append(TextDelta(text))
                call = part.get("functionCall")
                if isinstance(call, dict):
                    call_id = call.get("id")
                    out.append(
                        call_delta(
                            self.calls,
                            model._new_call_id() if call_id is None else call_id,
                            call.get("name"),
                            json.dumps(call.get("args") or {}),
                        )
                    )
                    self.calls += 1
            self.finish = candidate.get("finishReason") or self.finish
        feedback = payload.get("promptFeedback")
        if isinstance(feedback, dict) and feedback.get("blockReason"):
            self.finish = self.finish or f"BLOCKED_{feedback['blockReason']}"

    def end(self, out: list[StreamEvent]) -> None:
        if self.finish is None:
            raise StreamInterrupted(
                "the stream ended before any finishReason (truncated); retry the call.",
                provider=self.model.provider,
            )
        if self.usage_seen:
            out.append(self.state.usage())
        out.append(Finish(self.finish))
