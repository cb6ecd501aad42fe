"""The one place that knows the field names of LLM and tool events.

``agentlab.llm`` documents its event fields in ``agentlab/llm/_events.py``;
the runtime puts them in ``Event.data``. Views read them only through
:func:`llm_fields`, which returns the same normalised names whatever the
layer below calls them, so a rename there is a one-line change here.

>>> from agentlab import Event
>>> ev = Event.make(7, 1.0, 0.0, "llm_token", 101, "writer", None, None, None,
...                 {"text": "Hi", "request_id": "llm-1", "model": "m", "index": 0})
>>> llm_fields(ev)
{'rid': 'llm-1', 'text': 'Hi'}
"""

from __future__ import annotations

from typing import Any

__all__ = ["LLM_KINDS", "TOOL_KINDS", "llm_fields", "short"]

LLM_KINDS = frozenset(
    {
        "llm_request",
        "llm_first_token",
        "llm_token",
        "llm_tool_call",
        "llm_retry",
        "llm_error",
        "llm_response",
    }
)
TOOL_KINDS = frozenset({"tool_start", "tool_result"})


def short(value: Any, limit: int = 120) -> str:
    """``value`` as text, cut to ``limit`` characters (strings are not quoted)."""
    s = value if isinstance(value, str) else repr(value)
    return s if len(s) <= limit else s[: limit - 1] + "…"


def llm_fields(ev: Any) -> dict[str, Any]:
    """Normalised fields of an ``llm_*``/``tool_*`` event.

    Keys: ``rid`` (request id, one per attempt), ``text`` (token delta),
    ``model``, ``attempt``, ``ttft``, ``tokens_in``/``tokens_out``, ``cost``,
    ``stop``, ``error``, ``message``, ``delay``, ``status``, ``call_id``,
    ``index`` (which tool call of the response a delta belongs to), ``tool``,
    ``args`` (a tool-call arguments delta, or a tool's arguments), ``result``;
    only those that apply to the event's kind are present.
    """
    kind = ev[3]
    d = ev[9] or {}
    if kind == "llm_token":
        return {"rid": d.get("request_id"), "text": d.get("text") or ""}
    if kind == "llm_request":
        return {
            "rid": d.get("request_id"),
            "model": d.get("model"),
            "provider": d.get("provider"),
            "attempt": d.get("attempt", 1),
        }
    if kind == "llm_first_token":
        return {"rid": d.get("request_id"), "ttft": d.get("ttft")}
    if kind == "llm_tool_call":
        return {
            "rid": d.get("request_id"),
            "call_id": d.get("id"),  # on a call's first delta (as a rule), None on the rest
            "index": d.get("index"),
            "tool": d.get("name"),
            "args": d.get("arguments_delta") or "",
        }
    if kind in ("llm_response", "llm_error"):
        out = {
            "rid": d.get("request_id"),
            "tokens_in": d.get("input_tokens"),
            "tokens_out": d.get("output_tokens"),
            "cost": d.get("cost_usd"),
            "stop": d.get("stop_reason"),
            "ttft": d.get("ttft"),
            "latency": d.get("latency"),
            "model": d.get("model"),
        }
        if kind == "llm_error":
            out["error"] = d.get("error_type") or "error"
            out["message"] = d.get("message") or ""
            out["status"] = d.get("status")
            out["retryable"] = d.get("retryable")
        return out
    if kind == "llm_retry":
        return {
            "rid": d.get("request_id"),
            "attempt": d.get("attempt"),
            "error": d.get("error_type") or "error",
            "delay": d.get("delay"),
        }
    if kind == "tool_start":
        return {
            "call_id": d.get("call_id", d.get("id")),
            "tool": d.get("tool", d.get("name")),
            "args": d.get("arguments", d.get("args")),
        }
    if kind == "tool_result":
        return {
            "call_id": d.get("call_id", d.get("id")),
            "tool": d.get("tool", d.get("name")),
            "result": d.get("result"),
            "error": d.get("error"),
        }
    return {}
