"""Who closes an LLM agent's model, over real loopback HTTP.

A model the agent made (from a factory) belongs to that incarnation: it is closed when
the incarnation exits, whatever the reason (a stop, a crash, a kill mid-stream, a failed
start, the runtime's shutdown, which waits for the closes). A model passed in stays its
owner's. The server's side of each connection is read from the kernel's table
(``/proc/net/tcp``), so "closed" means the server saw the connection go; and a script
run with ``-X dev -W error::ResourceWarning`` must warn nothing at exit.

The runtime's part, :meth:`agentlab.Runtime.cleanup` (work run for a process that
exited, which ``shutdown`` waits for), is tested at the end.
"""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from agents_helpers import of

from agentlab import CalleeExited, Crash, Runtime, StartError, Supervisor
from agentlab.agents import LLMAgent, agent_ask
from agentlab.llm import OpenAIChat, Retrying, RetryPolicy, complete

TESTS = Path(__file__).resolve().parents[1]



# ---------------------------------------------------------------------------- the server

def make_app(gone: threading.Event | None = None) -> Any:
    """OpenAI Chat Completions under ``/<mode>/v1``: ``ok`` answers, ``auth`` is a 401 (the
    agent crashes), ``hang`` streams one delta and then waits for the client to go away
    (and sets ``gone``)."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response, StreamingResponse
    from starlette.routing import Route

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        data = {"id": "c1", "object": "chat.completion.chunk", "model": "gpt-4o-mini",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        return f"data: {json.dumps(data)}\n\n".encode()

    class Hang(Response):
        """One delta, then nothing until the client goes away."""

        def __init__(self) -> None:
            pass

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"text/event-stream")]})
            await send({"type": "http.response.body", "more_body": True,
                        "body": chunk({"role": "assistant", "content": "Hel"})})
            try:
                while (await receive())["type"] != "http.disconnect":
                    pass
            finally:
                if gone is not None:
                    gone.set()

    async def completions(request: Request) -> Response:
        mode = request.path_params["mode"]
        await request.body()
        if mode == "auth":
            return JSONResponse({"error": {"type": "invalid_request_error",
                                           "message": "Incorrect API key provided."}}, 401)
        if mode == "hang":
            return Hang()

        async def answer() -> Any:
            yield chunk({"role": "assistant", "content": "Hello"})
            yield chunk({"content": " there."}, "stop")
            yield b"data: [DONE]\n\n"

        return StreamingResponse(answer(), media_type="text/event-stream")

    return Starlette(routes=[Route("/{mode}/v1/chat/completions", completions, methods=["POST"])])


class Server:
    def __init__(self, url: str, gone: threading.Event) -> None:
        self.url = url
        self.port = int(url.rsplit(":", 1)[1])
        self.gone = gone  # set when a hanging answer's client went away

    def base(self, mode: str = "ok") -> str:
        return f"{self.url}/{mode}/v1"


@pytest.fixture(scope="module")
def local() -> Iterator[Server]:
    """This module's own server (:func:`make_app`): every connection to it is a test's here."""
    from wire_server import running

    gone = threading.Event()
    with running(make_app(gone)) as url:
        yield Server(url, gone)


def server_side_open(port: int) -> int:
    """How many connections the server on ``port`` has open that the client has not closed."""
    from wire_server import open_connections

    n = open_connections(port)
    if n is None:
        pytest.skip("counts the server's connections in Linux's /proc/net/tcp")
    return n


async def until(check: Callable[[], bool], what: str, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds} s: {what}")
        await asyncio.sleep(0.01)


async def open_connections(server: Server, n: int) -> None:
    await until(lambda: server_side_open(server.port) == n,
                f"{n} open connection(s) (there are {server_side_open(server.port)})")


class Factory:
    """``model=`` for an agent: makes an :class:`OpenAIChat` at every (re)start, and keeps
    each (``made``) and its httpx client (``clients``, opened at once: reading
    ``model.client`` later would open another if the first was closed)."""

    def __init__(self, base_url: str, wrap: Callable[[Any], Any] | None = None) -> None:
        self.base_url = base_url
        self.wrap = wrap
        self.made: list[OpenAIChat] = []
        self.clients: list[Any] = []

    def __call__(self, rt: Runtime) -> Any:
        m = OpenAIChat("gpt-4o-mini", api_key="k", base_url=self.base_url)
        self.made.append(m)
        self.clients.append(m.client)
        return m if self.wrap is None else self.wrap(m)


# ---------------------------------------------------------------------------- made by the agent

@pytest.mark.parametrize("how", ["stop", "crash", "kill", "shutdown", "failed_start"])
async def test_a_model_its_factory_made_is_closed_when_the_agent_exits(local, how):
    factory = Factory(local.base("auth" if how == "crash" else "ok"))
    if how == "failed_start":
        # the factory's Retrying disagrees with retry=: init fails after the model was made
        def make(rt: Runtime) -> Any:
            return Retrying(factory(rt), RetryPolicy(max_retries=7))

        async with Runtime() as rt:
            with pytest.raises(StartError, match="give its policy once"):
                rt.start(LLMAgent, model=make, retry=RetryPolicy(max_retries=1))
            (client,) = factory.clients
            await until(lambda: client.is_closed, "the model of the failed start closed")
        return
    rt = Runtime()
    try:
        pid = rt.start(LLMAgent, model=factory, name="a")
        if how == "crash":
            with pytest.raises(CalleeExited) as info:
                await agent_ask(rt, pid, "hi")
            assert isinstance(info.value.reason, Crash)
            assert info.value.reason.type == "AuthError"
        else:
            assert await agent_ask(rt, pid, "hi") == "Hello there."
        (model,) = factory.made
        (client,) = factory.clients
        if how != "crash":  # (a crash may have closed it already)
            assert not client.is_closed
            await open_connections(local, 1)  # the answered request's, kept in the pool
        if how == "stop":
            await rt.stop(pid)
        elif how == "kill":
            rt.exit(pid, "kill")
        if how != "shutdown":
            await until(lambda: client.is_closed, f"the model closed after the agent's {how}")
    finally:
        await rt.shutdown()
    # shutdown waits for the closes it started: closed when it returns, no waiting here
    assert client.is_closed
    assert model._client is None  # the model itself would open a new client if used again
    await open_connections(local, 0)


async def test_shutdown_returns_once_the_models_of_its_agents_are_closed(local):
    # a model with several pooled connections takes several turns of the loop to close
    factory = Factory(local.base())
    rt = Runtime()
    try:
        pid = rt.start(LLMAgent, model=factory)
        assert await agent_ask(rt, pid, "hi") == "Hello there."
        (model,) = factory.made
        answers = await asyncio.gather(*(complete(model, "hi") for _ in range(3)))
        assert [a.text for a in answers] == ["Hello there."] * 3
        await open_connections(local, 3)
    finally:
        await rt.shutdown()
    assert factory.clients[0].is_closed
    assert server_side_open(local.port) == 0  # each connection's close was sent


async def test_a_restart_gets_a_fresh_model_and_the_old_one_is_closed(local):
    factory = Factory(local.base())
    async with Runtime() as rt:
        rt.start(Supervisor, [LLMAgent.child_spec("a", name="a", model=factory)], intensity=5)
        assert await agent_ask(rt, "a", "hi") == "Hello there."
        for _ in range(3):
            old = rt.whereis("a")
            rt.exit(old, "kill")
            await until(lambda old=old: rt.whereis("a") not in (None, old), "the restart")
            assert await agent_ask(rt, "a", "again") == "Hello there."
        clients = factory.clients
        assert len(clients) == 4
        await until(lambda: all(c.is_closed for c in clients[:3]), "the old models closed")
        assert not clients[3].is_closed
        await open_connections(local, 1)  # the live incarnation's only: none leaked
    assert all(c.is_closed for c in clients)
    await open_connections(local, 0)


async def test_an_agent_killed_mid_stream_closes_its_connection_and_model(local):
    local.gone.clear()
    factory = Factory(local.base("hang"))
    async with Runtime() as rt:
        pid = rt.start(LLMAgent, model=factory, name="a")
        ask = asyncio.ensure_future(agent_ask(rt, pid, "hi"))
        await until(lambda: bool(of(rt, "llm_token", "a")), "the first delta")
        (client,) = factory.clients
        await open_connections(local, 1)
        rt.exit(pid, "kill")
        with pytest.raises(CalleeExited):
            await ask
        await until(lambda: client.is_closed, "the model closed")
        await open_connections(local, 0)
        assert await asyncio.to_thread(local.gone.wait, 5), "the server saw the client go"
        # the stream's end is in the log as a cancelled response
        (end,) = of(rt, "llm_response", "a")
        assert end.data["stop_reason"] == "cancelled"


ANTHROPIC_ANSWER = "".join(
    f"event: {kind}\ndata: {json.dumps({'type': kind, **data})}\n\n"
    for kind, data in [
        ("message_start", {"message": {"id": "m1", "type": "message", "role": "assistant",
                                       "content": [], "model": "claude-3-5-haiku-latest",
                                       "usage": {"input_tokens": 5, "output_tokens": 1}}}),
        ("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}),
        ("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": "Hello."}}),
        ("content_block_stop", {"index": 0}),
        ("message_delta", {"delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 2}}),
        ("message_stop", {}),
    ]
)


@pytest.mark.parametrize("provider", ["anthropic", "gemini"])
async def test_the_other_providers_models_are_closed_too(server, provider):
    from wire_server import gemini_chunk

    from agentlab.llm import Anthropic, Gemini

    clients: list[Any] = []

    def make(rt: Runtime) -> Any:
        if provider == "gemini":
            root = server.root(body=gemini_chunk({"text": "Hello."}))
            model: Any = Gemini("gemini-2.0-flash", api_key="k", base_url=root)
        else:
            model = Anthropic("claude-3-5-haiku-latest", api_key="k",
                              base_url=server.root(body=ANTHROPIC_ANSWER))
        clients.append(model.client)
        return model

    async with Runtime() as rt:
        rt.start(Supervisor, [LLMAgent.child_spec("a", name="a", model=make)])
        assert await agent_ask(rt, "a", "hi") == "Hello."
        old = rt.whereis("a")
        rt.exit(old, "kill")
        await until(lambda: clients[0].is_closed, "the killed incarnation's model closed")
        assert len(clients) == 2 and not clients[1].is_closed
    assert clients[1].is_closed


async def test_a_factory_made_retrying_is_closed_through_the_wrapper(local):
    factory = Factory(local.base(), wrap=lambda m: Retrying(m, RetryPolicy(max_retries=2)))
    async with Runtime() as rt:
        pid = rt.start(LLMAgent, model=factory)
        assert await agent_ask(rt, pid, "hi") == "Hello there."
        (client,) = factory.clients
        await rt.stop(pid)
        await until(lambda: client.is_closed, "the wrapped model closed")
    await open_connections(local, 0)


async def test_a_factory_that_returns_one_model_shares_it_until_the_last_agent_exits(local):
    shared = OpenAIChat("gpt-4o-mini", api_key="k", base_url=local.base())
    async with Runtime() as rt:
        a = rt.start(LLMAgent, model=lambda rt: shared)
        b = rt.start(LLMAgent, model=lambda rt: shared)
        assert await agent_ask(rt, a, "hi") == "Hello there."
        client = shared.client
        await rt.stop(a)
        for _ in range(5):
            await asyncio.sleep(0)
        assert not client.is_closed  # b still holds it
        assert await agent_ask(rt, b, "hi") == "Hello there."
        assert shared.client is client
        await rt.stop(b)
        await until(lambda: client.is_closed, "closed when the last holder exited")
        # used again, it opens a new client (and closing it is the user's business then)
        c = rt.start(LLMAgent, model=lambda rt: shared)
        assert await agent_ask(rt, c, "hi") == "Hello there."
        assert shared.client is not client
        again = shared.client
    assert again.is_closed  # c's exit at shutdown
    await open_connections(local, 0)


async def test_a_restart_that_takes_the_shared_model_again_keeps_it_open(local):
    # the kill's restart runs before the close the kill started: the close then leaves
    # the model to the new incarnation
    shared = OpenAIChat("gpt-4o-mini", api_key="k", base_url=local.base())
    async with Runtime() as rt:
        rt.start(Supervisor, [LLMAgent.child_spec("a", name="a", model=lambda rt: shared)])
        assert await agent_ask(rt, "a", "hi") == "Hello there."
        client = shared.client
        old = rt.whereis("a")
        rt.exit(old, "kill")
        assert rt.whereis("a") not in (None, old)  # restarted at once
        for _ in range(5):
            await asyncio.sleep(0)
        assert not client.is_closed
        assert await agent_ask(rt, "a", "again") == "Hello there."
        assert shared.client is client
    assert client.is_closed
    await open_connections(local, 0)


# ---------------------------------------------------------------------------- passed in

async def test_a_model_passed_in_stays_open_through_exits_restarts_and_shutdown(local):
    model = OpenAIChat("gpt-4o-mini", api_key="k", base_url=local.base())
    async with model:  # the user's: closed here, by its owner
        async with Runtime() as rt:
            rt.start(Supervisor, [LLMAgent.child_spec(n, name=n, model=model) for n in "ab"],
                     intensity=5)
            assert await agent_ask(rt, "a", "hi") == "Hello there."
            client = model.client
            old = rt.whereis("a")
            rt.exit(old, "kill")
            await until(lambda: rt.whereis("a") not in (None, old), "the restart")
            assert await agent_ask(rt, "a", "again") == "Hello there."
            assert await agent_ask(rt, "b", "hi") == "Hello there."
        assert model.client is client and not client.is_closed
        assert server_side_open(local.port) >= 1
        # still the user's to use after the runtime is gone
        async with Runtime() as rt2:
            pid = rt2.start(LLMAgent, model=model)
            assert await agent_ask(rt2, pid, "hi") == "Hello there."
        assert not client.is_closed
    assert client.is_closed
    await open_connections(local, 0)


# ---------------------------------------------------------------------------- bad input

@pytest.mark.parametrize(
    ("model", "says"),
    [
        (OpenAIChat, "model= got the class OpenAIChat, not a model; pass a model"),
        (42, "model= must be a model"),
        (lambda rt: 42, "returned 42, not a model"),
    ],
    ids=["a class", "no model", "a factory of no model"],
)
async def test_a_model_that_is_no_model_fails_the_start_saying_what_to_pass(model, says):
    async with Runtime() as rt:
        with pytest.raises(StartError, match=says):
            rt.start(LLMAgent, model=model)


# ---------------------------------------------------------------------------- a whole script

SCRIPT = r"""
import asyncio, gc, sys, threading
sys.path[:0] = [{tests!r}, {agents!r}]
import agentlab as al
from agentlab.agents import LLMAgent, agent_ask
from agentlab.llm import OpenAIChat
from wire_server import running
from test_agents_closing import make_app

clients = []

def factory(base):
    def make(rt):
        model = OpenAIChat("gpt-4o-mini", api_key="k", base_url=base)
        clients.append(model.client)
        return model
    return make

async def main(url):
    async with al.Runtime() as rt:
        rt.start(al.Supervisor, [
            LLMAgent.child_spec("a", name="a", model=factory(url + "/ok/v1")),
            LLMAgent.child_spec("bad", name="bad", model=factory(url + "/auth/v1")),
            LLMAgent.child_spec("slow", name="slow", model=factory(url + "/hang/v1")),
        ], intensity=10)
        print(await agent_ask(rt, "a", "hi"))
        old = rt.whereis("a")
        rt.exit(old, "kill")                                   # killed, restarted
        while rt.whereis("a") in (None, old):
            await asyncio.sleep(0.01)
        print(await agent_ask(rt, "a", "again"))
        try:
            await agent_ask(rt, "bad", "hi")                   # crashes, restarted
        except al.CalleeExited as e:
            print("crashed:", e.reason.type)
        slow = asyncio.ensure_future(agent_ask(rt, "slow", "hi"))
        while not any(e.kind == "llm_token" and e.name == "slow" for e in rt.events):
            await asyncio.sleep(0.01)
        rt.exit(rt.whereis("slow"), "kill")                    # killed mid-stream
        try:
            await slow
        except al.CalleeExited:
            print("killed mid-stream")
    print("open clients:", sum(not c.is_closed for c in clients), "of", len(clients))

with running(make_app()) as url:
    asyncio.run(main(url))
    gc.collect()
"""


def test_a_script_that_kills_crashes_and_restarts_agents_warns_nothing_at_exit():
    script = SCRIPT.format(tests=str(TESTS), agents=str(TESTS / "agents"))
    done = subprocess.run(
        [sys.executable, "-X", "dev", "-W", "error::ResourceWarning", "-c", script],
        capture_output=True, text=True, timeout=60, cwd=TESTS.parent, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "Hello there.", "Hello there.", "crashed: AuthError", "killed mid-stream",
        "open clients: 0 of 6",
    ], done.stderr
    assert "ResourceWarning" not in done.stderr and "unclosed" not in done.stderr, done.stderr


# ---------------------------------------------------------------------------- Runtime.cleanup

async def test_shutdown_waits_for_a_cleanup_and_does_not_cancel_it():
    steps: list[str] = []

    async def release(what: str) -> None:
        await asyncio.sleep(0.05)
        steps.append(what)

    async with Runtime() as rt:
        pid = rt.spawn(lambda proc: proc.receive())
        rt.watch(pid, lambda _pid, reason: rt.cleanup(release(f"after {reason}")))
    assert steps == ["after shutdown"]


async def test_a_failed_cleanup_is_logged_and_shutdown_goes_on(caplog):
    async def broken() -> None:
        raise OSError("the socket was already gone")

    async with Runtime() as rt:
        rt.cleanup(broken())
    assert any("a cleanup failed" in r.getMessage() and r.exc_info for r in caplog.records)


async def test_shutdown_waits_for_cleanups_at_most_its_timeout(caplog):
    caplog.set_level(logging.WARNING)
    rt = Runtime()
    stuck = rt.cleanup(asyncio.sleep(30))
    started = time.monotonic()
    await rt.shutdown(timeout=0.1)
    assert time.monotonic() - started < 5
    assert any("1 cleanup(s) still running" in r.getMessage() for r in caplog.records)
    stuck.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stuck


async def test_cleanup_takes_a_coroutine():
    async with Runtime() as rt:
        with pytest.raises(TypeError, match=r"takes a coroutine, such as client.aclose\(\)"):
            rt.cleanup(lambda: None)  # type: ignore[arg-type]
