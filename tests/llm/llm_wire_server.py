"""A loopback server that speaks the providers' wire formats, from recorded transcripts.

Run by uvicorn in a background thread (see ``conftest.py``). Every request
path starts with ``/s/<spec>/``, followed by whatever path the provider
client appends. ``<spec>`` is ``name=value`` pairs joined by commas:

=========== ================================================================
t           transcript name (required)
mode        ``whole`` (content-length, default) or ``chunks`` (chunked
            encoding, 1-7 byte pieces drawn from ``random.Random(seed)``)
seed        seed for the chunk sizes (default 0)
fault       ``429``, ``500``, ``529``, ``reset`` (connection dropped
            mid-body), ``truncate`` (body ends early, cleanly),
            ``error_event`` (the provider's error event mid-stream),
            ``hang`` (send ``cut`` bytes, then wait for the client to go
            away), ``echo_key`` (401 whose body echoes the credentials),
            ``quota`` (OpenAI's 429 ``insufficient_quota``, sent with
            ``x-should-retry: true``)
n           the fault hits only the first ``n`` requests with this ``key``
key         groups requests for ``n`` and for the request log (default: spec)
ra          Retry-After value for 429 (``2.5``, or ``date:30`` for an HTTP
            date 30 s ahead)
cut         byte offset for reset/truncate/hang (default: half the body);
            for error_event, the number of events sent first (default: half)
=========== ================================================================

A test can serve its own body in place of the transcript's (same status and
headers) by putting it in ``WireState.bodies`` under the request ``key``.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from collections import defaultdict
from email.utils import formatdate
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

ERROR_EVENTS = {
    "openai.chat.completions": 'data: {"error": {"message": "The server had an error while processing your request.", "type": "server_error", "param": null, "code": null}}\n\n',
    "anthropic.messages": 'event: error\ndata: {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}\n\n',
    "google.gemini": 'data: {"error": {"code": 503, "message": "The model is overloaded. Please try again later.", "status": "UNAVAILABLE"}}\r\n\r\n',
}


class WireState:
    """What the server saw, shared with the tests (thread-safe enough: appends and Events)."""

    def __init__(self, transcripts: dict[str, dict[str, Any]]) -> None:
        self.transcripts = transcripts
        self.counts: dict[str, int] = defaultdict(int)
        self.requests: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.closed: dict[str, threading.Event] = defaultdict(threading.Event)
        self.bodies: dict[str, str] = {}
        self.lock = threading.Lock()


def parse_spec(spec: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in spec.split(",") if part)


def split_pieces(data: bytes, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    pieces, i = [], 0
    while i < len(data):
        n = rng.randint(1, 7)
        pieces.append(data[i : i + n])
        i += n
    return pieces


class WireResponse(Response):
    """Raw control over the body: pieces, then end / reset / hang-until-disconnect."""

    def __init__(
        self,
        status: int,
        headers: dict[str, str],
        pieces: list[bytes],
        then: str,
        on_close: threading.Event | None = None,
    ) -> None:
        self.status_code = status
        self.pieces = pieces
        self.then = then
        self.on_close = on_close
        self.init_headers(headers)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        for piece in self.pieces:
            await send({"type": "http.response.body", "body": piece, "more_body": True})
            await asyncio.sleep(0)
        if self.then == "reset":
            raise ConnectionResetError("injected connection reset")
        if self.then == "hang":
            try:
                await asyncio.wait_for(_until_disconnect(receive), timeout=30)
            finally:
                if self.on_close is not None:
                    self.on_close.set()
            return
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _until_disconnect(receive: Any) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def _events(body: str) -> list[str]:
    sep = "\r\n\r\n" if "\r\n\r\n" in body else "\n\n"
    return [e + sep for e in body.split(sep) if e]


def make_app(state: WireState) -> Starlette:
    async def handle(request: Request) -> Response:
        spec = parse_spec(request.path_params["spec"])
        key = spec.get("key", request.path_params["spec"])
        raw = await request.body()
        with state.lock:
            state.counts[key] += 1
            count = state.counts[key]
            state.requests[key].append(
                {
                    "method": request.method,
                    "path": "/" + request.path_params["rest"],
                    "query": request.url.query,
                    "client_port": request.client.port if request.client else None,
                    "headers": dict(request.headers),
                    "body": json.loads(raw) if raw else None,
                }
            )
        t = state.transcripts[spec["t"]]
        resp = t["response"]
        body: str = state.bodies.get(key, resp["body"])
        headers = {k: v for k, v in resp["headers"].items() if k.lower() != "content-length"}
        fault = spec.get("fault")
        if fault and "n" in spec and count > int(spec["n"]):
            fault = None
        data = body.encode("utf-8")
        cut = int(spec["cut"]) if "cut" in spec else len(data) // 2

        if fault == "429":
            ra = spec.get("ra", "1")
            if ra.startswith("date:"):
                ra = formatdate(time.time() + float(ra[5:]), usegmt=True)
            return JSONResponse(
                {"error": {"type": "rate_limit_error", "message": "Too many requests (test)."}},
                status_code=429,
                headers={"retry-after": ra},
            )
        if fault == "quota":
            return JSONResponse(
                {
                    "error": {
                        "message": "You exceeded your current quota, please check your plan and billing details.",
                        "type": "insufficient_quota",
                        "param": None,
                        "code": "insufficient_quota",
                    }
                },
                status_code=429,
                headers={"x-should-retry": "true"},
            )
        if fault == "500":
            return Response("upstream exploded (test)", status_code=500, media_type="text/plain")
        if fault == "529":
            return JSONResponse(
                {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
                status_code=529,
            )
        if fault == "echo_key":
            seen = " ".join(
                request.headers.get(h, "") for h in ("authorization", "x-api-key", "x-goog-api-key")
            )
            return JSONResponse(
                {"error": {"type": "authentication_error", "message": f"Incorrect API key provided: {seen.strip()}"}},
                status_code=401,
            )
        if fault == "error_event":
            events = _events(body)
            k = int(spec["cut"]) if "cut" in spec else len(events) // 2
            data = ("".join(events[:k]) + ERROR_EVENTS[t["provider"]]).encode("utf-8")
        elif fault in ("reset", "truncate", "hang"):
            data = data[:cut]

        status = resp["status"]
        if spec.get("mode") == "chunks" or fault in ("reset", "truncate", "hang"):
            pieces = split_pieces(data, int(spec.get("seed", "0")))
            then = {"reset": "reset", "hang": "hang"}.get(fault or "", "end")
            return WireResponse(status, headers, pieces, then, state.closed[key])
        return Response(data, status_code=status, headers=headers)

    return Starlette(routes=[Route("/s/{spec}/{rest:path}", handle, methods=["POST"])])
