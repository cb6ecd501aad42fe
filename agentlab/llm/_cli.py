"""``agentlab chat``: one prompt to one provider, from the shell.

::

    $ python -m agentlab chat --provider scripted "Hello"
    $ python -m agentlab chat --provider openai --model gpt-4o-mini --json "Capital of France?"
    {"text": "Paris.", "tool_calls": [], "usage": {"input_tokens": 13, "output_tokens": 2},
     "stop_reason": "stop", "error": null}

Text streams to stdout as it arrives. With ``--json``, exactly one JSON
object is printed at the end instead (also on failure, with ``error`` set).
The exit status is 0 on success, 1 when the call failed, 2 for bad usage.
Keys come from ``--api-key`` or the provider's environment variable;
``--base-url`` points at a compatible server (or a local test server).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
from collections.abc import Sequence
from typing import Any

from ._anthropic import Anthropic
from ._base import BaseModel
from ._errors import LLMError
from ._gemini import Gemini
from ._http import HTTPModel
from ._openai import OpenAIChat
from ._protocol import TextDelta, opened
from ._response import Assembler
from ._retry import Retrying, RetryPolicy
from ._scripted import ScriptedModel

__all__ = ["main"]

DEFAULT_MODELS = {
    "openai": "gpt-4o-mini",
    "anthropic": "claude-haiku-4-5",
    "gemini": "gemini-2.0-flash",
    "scripted": "scripted",
}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="agentlab chat", description="Send one prompt to a model.")
    p.add_argument(
        "--provider", required=True, choices=sorted(DEFAULT_MODELS),
        help="who answers: scripted (offline, no key: echoes the prompt), or the real API of "
             "openai (Chat Completions), anthropic (Messages) or gemini",
    )
    p.add_argument("--base-url", help="API base URL (a compatible or local server)")
    p.add_argument(
        "--api-key",
        help="API key (default: the provider's environment variable: "
             + "; ".join(f"{name}: {' or '.join(cls.env_keys)}" for name, cls in _HTTP.items()) + ")",
    )
    p.add_argument(
        "--model",
        help="model name (default: "
             + ", ".join(f"{DEFAULT_MODELS[name]} for {name}" for name in sorted(DEFAULT_MODELS)) + ")",
    )
    p.add_argument("--max-retries", type=int, default=2,
                   help="retries on transient errors (default: %(default)s)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of streaming")
    p.add_argument("prompt", help="what to ask")
    return p


def _model(args: argparse.Namespace) -> BaseModel:
    name = args.model or DEFAULT_MODELS[args.provider]
    if args.provider == "scripted":
        return ScriptedModel(
            lambda messages: f"(scripted) You said: {messages[-1].content}",
            model=name,
            tokens_per_second=200.0,
            ttft=0.05,
        )
    model = _HTTP[args.provider](name, api_key=args.api_key, base_url=args.base_url)
    # a missing or refused key is --api-key's business here, not the Python API's api_key=
    model.key_hint = f"--api-key or the {' or '.join(model.env_keys)} environment variable"
    return model


_HTTP: dict[str, type[HTTPModel]] = {"anthropic": Anthropic, "gemini": Gemini, "openai": OpenAIChat}


async def _chat(args: argparse.Namespace) -> dict[str, Any]:
    asm = Assembler()
    error: dict[str, Any] | None = None
    model: BaseModel | None = None
    try:
        model = _model(args)  # a bad --base-url is a BadRequest here
        retrying = Retrying(model, RetryPolicy(max_retries=max(0, args.max_retries)), rng=random.Random())
        async with opened(retrying.stream(args.prompt)) as events:
            async for event in events:
                asm.add(event)
                if isinstance(event, TextDelta) and not args.json:
                    sys.stdout.write(event.text)
                    sys.stdout.flush()
    except LLMError as err:
        error = {"type": err.type, "message": str(err), "retry_after": err.retry_after}
    finally:
        aclose = getattr(model, "aclose", None)
        if aclose is not None:
            await aclose()
    response = asm.response()
    return {
        "text": response.text,
        "tool_calls": [
            {"id": c.id, "name": c.name, "arguments": c.arguments} for c in response.tool_calls
        ],
        "usage": {
            "input_tokens": response.usage.input_tokens if response.usage else None,
            "output_tokens": response.usage.output_tokens if response.usage else None,
        },
        "stop_reason": response.stop_reason,
        "error": error,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``agentlab chat`` with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["chat"]:
        args_list = args_list[1:]
    try:
        args = _parser().parse_args(args_list)
    except SystemExit as exc:
        return int(exc.code or 0)
    try:
        result = asyncio.run(_chat(args))
    except KeyboardInterrupt:
        return 130
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        if result["text"] and not result["text"].endswith("\n"):
            print()
        for call in result["tool_calls"]:
            print(f"[tool call] {call['name']} {json.dumps(call['arguments'])}")
        if result["error"]:
            print(f"error: {result['error']['message']}", file=sys.stderr)
    return 1 if result["error"] else 0
