"""Fixtures for the LLM tests: the recorded transcripts and a loopback server serving them."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from llm_helpers import TRANSCRIPTS, WIRE_DIR


@pytest.fixture(scope="session")
def transcripts() -> dict[str, dict[str, Any]]:
    if not TRANSCRIPTS:
        pytest.skip(f"no LLM wire transcripts at {WIRE_DIR / 'transcripts'} (shared/llm-wire is not beside the repo)")
    return TRANSCRIPTS


class LoopbackServer:
    def __init__(self, url: str, state: Any) -> None:
        self.url = url
        self.state = state
        self._n = 0

    def root(self, t: str, body: str | None = None, **spec: Any) -> str:
        """The URL prefix for one scenario; a fresh ``key`` unless one is given.

        ``body`` replaces the transcript's body (its status and headers stay).
        """
        self._n += 1
        spec.setdefault("key", f"k{self._n}-{time.monotonic_ns()}")
        if body is not None:
            self.state.bodies[spec["key"]] = body
        parts = ",".join(f"{k}={v}" for k, v in {"t": t, **spec}.items())
        return f"{self.url}/s/{parts}"

    def requests(self, root: str) -> list[dict[str, Any]]:
        key = dict(p.split("=", 1) for p in root.rsplit("/s/", 1)[1].split(","))["key"]
        return self.state.requests[key]

    def closed(self, root: str) -> threading.Event:
        key = dict(p.split("=", 1) for p in root.rsplit("/s/", 1)[1].split(","))["key"]
        return self.state.closed[key]


@pytest.fixture(scope="session")
def server(transcripts: dict[str, dict[str, Any]]) -> Iterator[LoopbackServer]:
    import uvicorn
    from llm_wire_server import WireState, make_app

    state = WireState(transcripts)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        make_app(state),
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
        yield LoopbackServer(f"http://127.0.0.1:{port}", state)
    finally:
        uv.should_exit = True
        thread.join(timeout=10)
        sock.close()
