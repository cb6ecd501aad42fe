"""A loopback server that speaks the providers' wire formats: recorded transcripts, or
answers a test scripts.

The ``server`` fixture (``tests/conftest.py``) runs one, in a uvicorn thread,
for the whole session; the ``transcripts`` fixture gives the recordings of
``shared/llm-wire`` (it skips a test when they are not beside the repo).
``server.root(t, **spec)`` is the URL prefix of one scenario; point a
provider's ``base_url`` at it (``llm_helpers.base_url_for`` adds OpenAI's
``/v1``). Every request path starts with ``/s/<spec>/``, followed by whatever
path the provider client appends. ``<spec>`` is ``name=value`` pairs joined by
commas:

=========== ================================================================
t           transcript name: its status, headers and body are served.
            Without one, a scripted answer (``body=``) is served with status
            200 and ``content-type: text/event-stream``
mode        ``whole`` (content-length, default) or ``chunks`` (chunked
            encoding, 1-7 byte pieces drawn from ``random.Random(seed)``)
seed        seed for the chunk sizes (default 0)
fault       ``429``, ``500``, ``529``, ``reset`` (connection dropped
            mid-body), ``truncate`` (body ends early, cleanly),
            ``error_event`` (the provider's error event mid-stream),
            ``hang`` (send ``cut`` bytes, then wait for the client to go
            away), ``echo_key`` (401 whose body echoes the credentials),
            ``quota`` (OpenAI's 429 ``insufficient_quota``, sent with
            ``x-should-retry: true``), ``redirect`` (307 to
            ``ftp://127.0.0.1/elsewhere``), ``no_answer`` (read the
            request, send nothing, wait for the client to go away)
n           the fault hits only the first ``n`` requests with this ``key``
key         groups requests for ``n`` and for the request log (default: a
            fresh one per ``root()``)
ra          Retry-After value for 429 (``2.5``, or ``date:30`` for an HTTP
            date 30 s ahead)
cut         byte offset for reset/truncate/hang (default: half the body);
            for error_event, the number of events sent first (default: half)
=========== ================================================================

``body=`` (to ``root``) replaces the transcript's body (its status and
headers stay): one string for every request, or a list, one per request in
turn (a request past its end gets a 500 saying so). A Gemini model that calls
a tool, then answers::

    root = server.root(body=[gemini_chunk({"functionCall": {"name": "add", "args": {"a": 1}}}),
                             gemini_chunk({"text": "done"})])
    model = Gemini("gemini-2.0-flash", api_key="k", base_url=root)

``headers=`` (to ``root``) replaces the answer's headers (a JSON answer where a
stream was asked: ``{"content-type": "application/json"}``). ``pieces=`` (bytes,
to ``root``, with a transcript for the status and headers) is the body, sent as
one chunk of the chunked encoding each, so the client reads each piece on its
own (or in smaller parts, never two joined).

``server.requests(root)`` lists what the server received for that root.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from email.utils import formatdate
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

WIRE_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "llm-wire"


def load_transcripts() -> dict[str, dict[str, Any]]:
    """Every recorded transcript by name; empty when shared/llm-wire is not beside the repo."""
    folder = WIRE_DIR / "transcripts"
    if not folder.is_dir():
        return {}
    return {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))}


TRANSCRIPTS = load_transcripts()

def gemini_chunk(*parts: dict[str, Any]) -> str:
    """One Gemini ``streamGenerateContent`` event whose candidate has ``parts``
    (``{"text": ...}``, ``{"functionCall": {"name": ..., "args": {...}}}``: no ids, as
    Gemini sends them) and finishes (``STOP``)."""
    chunk = {"candidates": [{"content": {"role": "model", "parts": list(parts)}, "finishReason": "STOP"}]}
    return f"data: {json.dumps(chunk)}\r\n\r\n"


SSE_HEADERS = {"content-type": "text/event-stream"}
"""The headers of a scripted answer (no transcript)."""

REDIRECT_TO = "ftp://127.0.0.1/elsewhere"
"""Where ``fault=redirect`` sends the client."""

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
        self.bodies: dict[str, str | list[str]] = {}
        self.headers: dict[str, dict[str, str]] = {}
        self.pieces: dict[str, list[bytes]] = {}
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


class Unanswered(Response):
    """No answer at all: wait (30 s at most) for the client to go away, send nothing."""

    def __init__(self, on_close: threading.Event) -> None:
        self.on_close = on_close

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await asyncio.wait_for(_until_disconnect(receive), timeout=30)
        finally:
            self.on_close.set()


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
        t = state.transcripts[spec["t"]] if "t" in spec else None
        resp = t["response"] if t is not None else {"status": 200, "headers": SSE_HEADERS}
        scripted = state.bodies.get(key)
        if isinstance(scripted, list):
            if count > len(scripted):
                return Response(
                    f"the test scripted {len(scripted)} answer(s); this is request {count}",
                    status_code=500,
                    media_type="text/plain",
                )
            body = scripted[count - 1]
        elif scripted is not None:
            body = scripted
        elif t is not None:
            body = t["response"]["body"]
        else:
            return Response("no transcript (t=) and no body= for this root", status_code=500)
        headers = {k: v for k, v in resp["headers"].items() if k.lower() != "content-length"}
        headers = state.headers.get(key, headers)
        fault = spec.get("fault")
        if fault and "n" in spec and count > int(spec["n"]):
            fault = None
        if key in state.pieces and fault is None:
            return WireResponse(resp["status"], headers, state.pieces[key], "end", state.closed[key])
        if fault == "no_answer":
            return Unanswered(state.closed[key])
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
        if fault == "redirect":
            return Response(status_code=307, headers={"location": REDIRECT_TO})
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
            assert t is not None, "fault=error_event needs a transcript (t=): its provider's event"
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


class LoopbackServer:
    """The running server, as the tests see it (see the module docstring)."""

    def __init__(self, url: str, state: WireState) -> None:
        self.url = url
        self.state = state
        self._n = 0

    def root(
        self,
        t: str | None = None,
        body: str | list[str] | None = None,
        *,
        headers: dict[str, str] | None = None,
        pieces: list[bytes] | None = None,
        **spec: Any,
    ) -> str:
        """The URL prefix for one scenario; a fresh ``key`` unless one is given.

        ``t`` names a transcript (None: a scripted answer, which needs ``body``);
        ``body`` replaces the transcript's body (its status and headers stay): a
        string for every request, or a list served one per request in turn.
        ``headers`` replaces the answer's headers; ``pieces`` (with ``t``) is the
        body, one chunk each.
        """
        if t is None and body is None:
            raise ValueError("root() needs a transcript name, a body=, or both")
        if pieces is not None and t is None:
            raise ValueError("root(pieces=) needs a transcript (t=) for the status and headers")
        self._n += 1
        spec.setdefault("key", f"k{self._n}-{time.monotonic_ns()}")
        if body is not None:
            self.state.bodies[spec["key"]] = body if isinstance(body, str) else list(body)
        if headers is not None:
            self.state.headers[spec["key"]] = dict(headers)
        if pieces is not None:
            self.state.pieces[spec["key"]] = list(pieces)
        fields = {"t": t, **spec} if t is not None else spec
        parts = ",".join(f"{k}={v}" for k, v in fields.items())
        return f"{self.url}/s/{parts}"

    def _key(self, root: str) -> str:
        return dict(p.split("=", 1) for p in root.rsplit("/s/", 1)[1].split(","))["key"]

    def requests(self, root: str) -> list[dict[str, Any]]:
        """What the server received under ``root``, in order."""
        return self.state.requests[self._key(root)]

    def closed(self, root: str) -> threading.Event:
        """Set when a ``hang`` response under ``root`` saw its client go away."""
        return self.state.closed[self._key(root)]


@contextlib.contextmanager
def serving(transcripts: dict[str, dict[str, Any]] | None = None) -> Iterator[LoopbackServer]:
    """Run the server on 127.0.0.1 (an ephemeral port) in a uvicorn thread until the
    block ends."""
    state = WireState(TRANSCRIPTS if transcripts is None else transcripts)
    with running(make_app(state)) as url:
        yield LoopbackServer(url, state)


def open_connections(port: int, peers: set[int] | None = None) -> int | None:
    """How many connections the server on ``port`` has open that the client has not
    closed (its side ESTABLISHED; a client's close turns it to CLOSE_WAIT at once),
    from Linux's ``/proc/net/tcp``; only those from the client ports ``peers``, if
    given. ``None`` where that file does not exist."""
    if not Path("/proc/net/tcp").exists():
        return None
    n = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not Path(table).exists():
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, remote = (int(a.rsplit(":", 1)[1], 16) for a in fields[1:3])
            if local == port and fields[3] == "01" and (peers is None or remote in peers):
                n += 1
    return n


@contextlib.contextmanager
def running(app: Any) -> Iterator[str]:
    """Run the ASGI ``app`` on 127.0.0.1 (an ephemeral port) in a uvicorn thread until
    the block ends; yields its base URL."""
    import uvicorn

    # IPPROTO_TCP: asyncio turns Nagle off only for a socket made with it, and with
    # Nagle on each answer waited ~40 ms for the client's delayed ack
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_config=None,
        log_level="warning",
        access_log=False,
        lifespan="off",
        ws="none",
        http="h11",
        timeout_graceful_shutdown=2,
    )
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not uv.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the loopback server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        uv.should_exit = True
        thread.join(timeout=10)
        sock.close()
