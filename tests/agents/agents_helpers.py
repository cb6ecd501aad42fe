"""Helpers for the agents tests: fast scripted models, event queries, a loopback OpenAI server,
a Gemini model on the shared loopback wire server."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import Iterator
from typing import Any

from agentlab import Event, Runtime
from agentlab.llm import ScriptedModel


def fast(rt: Runtime, script: Any, **kw: Any) -> ScriptedModel:
    """A scripted model on the runtime clock, quick enough for the real clock too."""
    kw.setdefault("ttft", 0.01)
    kw.setdefault("tokens_per_second", 2000.0)
    kw.setdefault("jitter", 0.0)
    return ScriptedModel(script, clock=rt, rng=rt.random, **kw)


def gemini(server: Any, *answers: list[dict[str, Any]]) -> Any:
    """A :class:`agentlab.llm.Gemini` talking to the loopback ``server`` (the fixture),
    which answers its requests with ``answers`` in turn: each is the ``parts`` of one
    streamed chunk (``{"text": ...}``, ``{"functionCall": {"name": ..., "args": {...}}}``:
    no ids, as Gemini sends them). Close it (``async with``) when done."""
    from wire_server import gemini_chunk

    from agentlab.llm import Gemini

    root = server.root(body=[gemini_chunk(*parts) for parts in answers])
    return Gemini("gemini-2.0-flash", api_key="test", base_url=root)


def of(rt: Runtime, kind: str, name: str | None = None) -> list[Event]:
    return [e for e in rt.events if e.kind == kind and (name is None or e.name == name)]


def normalized_log(events: list[Event]) -> list[tuple[Any, ...]]:
    """Events without wall time (request ids are numbered per runtime: they must match too)."""
    out = []
    for e in events:
        data = json.dumps(e.data, sort_keys=True, default=repr) if e.data else ""
        out.append((e.seq, round(e.time, 9), e.kind, e.pid, e.name, e.path, e.peer, repr(e.reason), data))
    return out


# ---------------------------------------------------------------------------- loopback server


def _sse_chunks(text: str, model: str) -> list[bytes]:
    words = re.findall(r"\S+\s*", text)
    chunks = []
    for i, w in enumerate(words):
        delta = {"content": w} if i else {"role": "assistant", "content": w}
        chunks.append({"id": "c1", "object": "chat.completion.chunk", "model": model,
                       "choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
    chunks.append({"id": "c1", "object": "chat.completion.chunk", "model": model,
                   "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    chunks.append({"id": "c1", "object": "chat.completion.chunk", "model": model, "choices": [],
                   "usage": {"prompt_tokens": 12, "completion_tokens": len(words), "total_tokens": 12 + len(words)}})
    return [f"data: {json.dumps(c)}\n\n".encode() for c in chunks] + [b"data: [DONE]\n\n"]


def make_openai_app() -> Any:
    """A Starlette app speaking OpenAI Chat Completions SSE under ``/<mode>/v1``.

    ``mode`` is ``ok`` (a streamed answer), ``echo401`` (401 whose body echoes the
    credentials, like a careless proxy) or ``limited`` (429 echoing them too).
    """
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response, StreamingResponse
    from starlette.routing import Route

    async def completions(request: Request) -> Response:
        mode = request.path_params["mode"]
        auth = request.headers.get("authorization", "")
        body = await request.json()
        if mode == "echo401":
            return JSONResponse({"error": {"type": "invalid_request_error",
                                           "message": f"Incorrect API key provided: {auth}"}}, 401)
        if mode == "limited":
            return JSONResponse({"error": {"type": "requests", "message": f"Rate limit for {auth}"}},
                                429, headers={"retry-after": "0"})
        text = f"Hello from the loopback server, {len(body['messages'])} messages seen."

        async def gen() -> Any:
            for chunk in _sse_chunks(text, body["model"]):
                yield chunk

        return StreamingResponse(gen(), media_type="text/event-stream")

    return Starlette(routes=[Route("/{mode}/v1/chat/completions", completions, methods=["POST"])])


@contextlib.contextmanager
def loopback_server() -> Iterator[str]:
    """Run :func:`make_openai_app` on 127.0.0.1 in a uvicorn thread; yields its base URL."""
    from wire_server import running

    with running(make_openai_app()) as url:
        yield url


async def settle(rt: Runtime, rounds: int = 3) -> None:
    for _ in range(rounds):
        await rt.settled()
        await asyncio.sleep(0)
