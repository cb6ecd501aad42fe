"""Record a provider's raw stream once; replay it offline, byte for byte.

Recording wraps the HTTP transport, so what is kept is exactly what came off
the wire (still compressed if it was), with the time of every chunk::

    recorder = Recorder("run.jsonl")
    async with OpenAIChat("gpt-4o-mini", transport=recorder) as model:
        await complete(model, "hi")

Replaying serves the same bytes, with the same gaps on the injected clock
(``speed=2`` halves them; ``speed=None`` or ``float("inf")`` drops them),
through an httpx transport, so the provider's own decoder runs again,
failures included::

    async with ReplayModel("run.jsonl", clock=clock) as model:
        await complete(model, "hi")          # the recorded answer, offline

The file is JSON lines, one record per line, each with ``exchange`` (the
number of the request, from 0) and ``t`` (seconds since that request
started): ``request`` (``method``, ``url``, ``body``: never headers, so
never keys), ``response`` (``status``, ``headers``), ``chunk`` (``text`` or,
for bytes that are not UTF-8, ``b64``), then ``end``, ``error`` (``error``:
the httpx exception class, ``message``) or ``closed`` (the caller stopped
reading). Exchanges replay in order, one per request.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from ._accounting import Prices
from ._anthropic import Anthropic
from ._checks import Checked, check_number
from ._clock import AsyncioClock, Clock
from ._events import Emit
from ._gemini import Gemini
from ._http import HTTPModel
from ._openai import OpenAIChat
from ._protocol import AsyncClosing, Messages, StreamEvent, Tools

__all__ = ["Recorder", "ReplayModel", "ReplayTransport"]

_DROP_HEADERS = {"set-cookie", "authorization", "x-api-key", "x-goog-api-key"}
_SECRET_PARAMS = {"key", "api_key", "apikey"}


def _public_url(url: httpx.URL) -> str:
    params = [(k, v) for k, v in url.params.multi_items() if k.lower() not in _SECRET_PARAMS]
    return str(url.copy_with(params=params or None))


def _chunk_record(data: bytes) -> dict[str, Any]:
    try:
        return {"text": data.decode("utf-8")}
    except UnicodeDecodeError:
        return {"b64": base64.b64encode(data).decode("ascii")}


class Recorder(httpx.AsyncBaseTransport):
    """An httpx transport that records every exchange to ``path`` (see the module docstring).

    ``inner`` is the real transport (default: a new ``httpx.AsyncHTTPTransport``,
    closed with this one). The file is started afresh unless ``append=True``.
    """

    def __init__(
        self,
        path: str | Path,
        inner: httpx.AsyncBaseTransport | None = None,
        *,
        clock: Clock | None = None,
        append: bool = False,
    ) -> None:
        self.path = Path(path)
        self._inner = inner if inner is not None else httpx.AsyncHTTPTransport()
        self._owns_inner = inner is None
        self.clock: Clock = clock if clock is not None else AsyncioClock()
        self._exchanges = 0
        if append and self.path.exists():
            self._exchanges = 1 + max(
                (r["exchange"] for r in _read(self.path)), default=-1
            )
        else:
            self.path.write_text("")

    def _write(self, record: dict[str, Any]) -> None:
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        n = self._exchanges
        self._exchanges += 1
        start = self.clock.now()
        try:
            body: Any = json.loads(request.content) if request.content else None
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = request.content.decode("utf-8", "replace")
        self._write(
            {
                "type": "request",
                "exchange": n,
                "t": 0.0,
                "method": request.method,
                "url": _public_url(request.url),
                "body": body,
            }
        )
        try:
            response = await self._inner.handle_async_request(request)
        except httpx.TransportError as exc:
            self._write(
                {"type": "error", "exchange": n, "t": self.clock.now() - start,
                 "error": type(exc).__name__, "message": str(exc)}
            )
            raise
        headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in _DROP_HEADERS]
        self._write(
            {"type": "response", "exchange": n, "t": self.clock.now() - start,
             "status": response.status_code, "headers": headers}
        )
        assert isinstance(response.stream, httpx.AsyncByteStream)
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=_RecordingStream(self, response.stream, n, start),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        if self._owns_inner:
            await self._inner.aclose()


class _RecordingStream(httpx.AsyncByteStream):
    def __init__(self, recorder: Recorder, inner: httpx.AsyncByteStream, n: int, start: float) -> None:
        self._rec = recorder
        self._inner = inner
        self._n = n
        self._start = start
        self._finished = False

    def _record(self, kind: str, **fields: Any) -> None:
        self._rec._write(
            {"type": kind, "exchange": self._n, "t": self._rec.clock.now() - self._start, **fields}
        )

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._inner:
                self._record("chunk", **_chunk_record(chunk))
                yield chunk
        except httpx.TransportError as exc:
            self._finished = True
            self._record("error", error=type(exc).__name__, message=str(exc))
            raise
        self._finished = True
        self._record("end")

    async def aclose(self) -> None:
        if not self._finished:
            self._finished = True
            self._record("closed")
        await self._inner.aclose()


def _read(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _transport_error(name: str, message: str, request: httpx.Request) -> httpx.TransportError:
    cls = getattr(httpx, name, None)
    if not (isinstance(cls, type) and issubclass(cls, httpx.TransportError)):
        cls = httpx.ReadError
    return cls(message, request=request)


def _check_speed(owner: str, name: str, value: Any) -> float | None:
    if value is None:
        return None
    return check_number(
        name, value, "> 0", lambda v: v > 0, "2 replays twice as fast, None (or inf) without waiting"
    )


class ReplayTransport(httpx.AsyncBaseTransport):
    """Serves the exchanges of a recording in order, with their timing on ``clock``.

    ``speed`` divides the recorded gaps: ``1.0`` (the default) keeps them, ``2``
    halves them, ``0.5`` doubles them. ``None`` or ``float("inf")`` replays
    without waiting. It must be a number > 0 (``0`` would never deliver a
    byte): anything else (``0``, a negative number, NaN, a string) is refused
    when it is set, with a ``ValueError`` or ``TypeError`` naming it.
    """

    speed = Checked(_check_speed)  # what the recorded gaps are divided by (None: no waiting)

    def __init__(
        self, path: str | Path, *, clock: Clock | None = None, speed: float | None = 1.0
    ) -> None:
        self.path = Path(path)
        self.clock: Clock = clock if clock is not None else AsyncioClock()
        self.speed = speed
        records = _read(self.path)
        count = 1 + max((r["exchange"] for r in records), default=-1)
        self.exchanges: list[list[dict[str, Any]]] = [[] for _ in range(count)]
        for r in records:
            self.exchanges[r["exchange"]].append(r)
        self._next = 0

    async def _until(self, start: float, t: float) -> None:
        if self.speed is not None and self.speed != math.inf:
            await self.clock.sleep(start + t / self.speed - self.clock.now())

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._next >= len(self.exchanges):
            raise IndexError(
                f"the recording {self.path.name} has {len(self.exchanges)} exchanges and all "
                "were replayed; record a longer run."
            )
        records = self.exchanges[self._next]
        self._next += 1
        start = self.clock.now()
        head = next((r for r in records if r["type"] in ("response", "error")), None)
        if head is None or head["type"] == "error":
            if head is not None:
                await self._until(start, head["t"])
            message = head["message"] if head else "the recording ends before a response"
            raise _transport_error(head["error"] if head else "ReadError", message, request)
        await self._until(start, head["t"])
        body = [r for r in records if r["type"] in ("chunk", "end", "error", "closed")]
        return httpx.Response(
            head["status"],
            headers=[tuple(h) for h in head["headers"]],
            stream=_ReplayStream(self, body, start, request),
        )


class _ReplayStream(httpx.AsyncByteStream):
    def __init__(
        self, owner: ReplayTransport, records: list[dict[str, Any]], start: float, request: httpx.Request
    ) -> None:
        self._owner = owner
        self._records = records
        self._start = start
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for r in self._records:
            await self._owner._until(self._start, r["t"])
            if r["type"] == "chunk":
                yield r["text"].encode("utf-8") if "text" in r else base64.b64decode(r["b64"])
            elif r["type"] == "error":
                raise _transport_error(r["error"], r["message"], self._request)
            elif r["type"] == "closed":
                raise httpx.ReadError(
                    "the recording stops here: the recorded call was closed early", request=self._request
                )
            else:
                return


_PROVIDERS: dict[str, tuple[str, str]] = {
    # provider: (a path marker, what to strip from the URL to get base_url)
    "openai": ("/chat/completions", "/chat/completions"),
    "anthropic": ("/v1/messages", "/v1/messages"),
    "gemini": (":streamGenerateContent", "/v1beta/models/"),
}


class ReplayModel(AsyncClosing):
    """The provider model of a recording, replaying it offline (see the module docstring).

    The provider and model name are read from the first recorded request;
    ``provider=`` (``"openai"``, ``"anthropic"`` or ``"gemini"``) overrides,
    for a recording whose URL does not tell. ``clock`` (default: real time)
    paces the replay, and ``speed`` (default ``1.0``, a number > 0) divides
    the recorded gaps between chunks: ``2`` replays twice as fast, ``None``
    (or ``float("inf")``) at once; see :class:`ReplayTransport`.
    ``emit`` and ``prices`` go to the provider model that decodes the
    replayed stream, as for a live one: its events, and its cost accounting.
    Those are all the arguments: the key, base URL and transport are the
    replay's own.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        clock: Clock | None = None,
        speed: float | None = 1.0,
        provider: str | None = None,
        emit: Emit | None = None,
        prices: Prices | None = None,
    ) -> None:
        self.transport = ReplayTransport(path, clock=clock, speed=speed)
        first = next(
            (r for ex in self.transport.exchanges for r in ex if r["type"] == "request"), None
        )
        if first is None:
            raise ValueError(f"{path}: no recorded request to replay")
        if provider is not None and (not isinstance(provider, str) or provider not in _PROVIDERS):
            raise ValueError(
                f"provider={provider!r} is not a provider a recording replays through; "
                f"pass one of {', '.join(map(repr, _PROVIDERS))}, or leave it out to read "
                "it from the recorded URL."
            )
        url = httpx.URL(first["url"])
        if provider is None:
            provider = next((p for p, (mark, _) in _PROVIDERS.items() if mark in url.path), None)
            if provider is None:
                raise ValueError(f"{path}: cannot tell the provider from {url.path}; pass provider=")
        cut = _PROVIDERS[provider][1]
        base_url = str(url.copy_with(query=None)).split(cut)[0]
        body = first.get("body")
        if not isinstance(body, dict):
            body = {}
        if provider == "gemini":
            name = url.path.split("/models/")[-1].split(":")[0]
        else:
            name = str(body.get("model", "replay"))
        cls = {"openai": OpenAIChat, "anthropic": Anthropic, "gemini": Gemini}[provider]
        self._model: HTTPModel = cls(
            name,
            api_key="replay",
            base_url=base_url,
            transport=self.transport,
            clock=clock,
            emit=emit,
            prices=prices,
        )
        self.provider = self._model.provider
        self.model = self._model.model

    @property
    def emit(self) -> Emit | None:
        return self._model.emit

    def __repr__(self) -> str:
        return f"ReplayModel({str(self.transport.path)!r}, provider={self.provider!r})"

    def stream(
        self, messages: Messages, *, tools: Tools = None, **opts: Any
    ) -> AsyncIterator[StreamEvent]:
        """Stream the next recorded response (``messages`` are not checked against it)."""
        return self._model.stream(messages, tools=tools, **opts)

    async def aclose(self) -> None:
        await self._model.aclose()

