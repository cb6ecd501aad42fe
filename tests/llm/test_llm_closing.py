"""Closing a model: a provider closes the httpx client it made (its connections: the
loopback server sees them go), and can be used again; the wrappers pass ``aclose`` on
to the model they wrap; an injected client stays its owner's."""

from __future__ import annotations

import asyncio
import json
import random
import time
from typing import Any

import httpx
import pytest

from agentlab.llm import (
    FaultyModel,
    OpenAIChat,
    Recorder,
    ReplayModel,
    Retrying,
    ScriptedModel,
    complete,
)
from agentlab.llm._protocol import aclose_model


def answer(text: str) -> str:
    chunks = [
        {"id": "c1", "object": "chat.completion.chunk", "model": "gpt-4o-mini",
         "choices": [{"index": 0, "delta": {"role": "assistant", "content": text},
                      "finish_reason": "stop"}]},
    ]
    return "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"


def open_from(server: Any, root: str) -> int:
    """How many of the connections the requests under ``root`` came on the server still
    has open from the client's side."""
    from wire_server import open_connections

    port = int(server.url.rsplit(":", 1)[1])
    n = open_connections(port, {r["client_port"] for r in server.requests(root)})
    if n is None:
        pytest.skip("counts the server's connections in Linux's /proc/net/tcp")
    return n


async def settles_at(server: Any, root: str, n: int) -> None:
    deadline = time.monotonic() + 5
    while open_from(server, root) != n:
        if time.monotonic() > deadline:
            raise AssertionError(f"{open_from(server, root)} connection(s) open, not {n}")
        await asyncio.sleep(0.01)


def openai(root: str, **kw: Any) -> OpenAIChat:
    return OpenAIChat("gpt-4o-mini", api_key="k", base_url=root, **kw)


WRAPS = {
    "Retrying": lambda m: Retrying(m),
    "FaultyModel": lambda m: FaultyModel(m, random.Random(1)),
    "Retrying(FaultyModel)": lambda m: Retrying(FaultyModel(m, random.Random(1))),
}


@pytest.mark.parametrize("wrap", list(WRAPS))
async def test_closing_a_wrapper_closes_the_model_inside(server, wrap):
    root = server.root(body=answer("hi"))
    inner = openai(root)
    async with WRAPS[wrap](inner) as model:
        assert (await complete(model, "hello")).text == "hi"
        client = inner.client
        await settles_at(server, root, 1)
    assert client.is_closed
    await settles_at(server, root, 0)
    # the same, by hand
    assert (await complete(model, "hello")).text == "hi"
    await settles_at(server, root, 1)
    await model.aclose()
    await settles_at(server, root, 0)


async def test_a_closed_model_opens_a_new_client_when_used_again(server):
    root = server.root(body=answer("hi"))
    async with openai(root) as model:
        await complete(model, "hello")
        first = model.client
        await model.aclose()
        assert first.is_closed
        assert (await complete(model, "again")).text == "hi"
        assert model.client is not first and not model.client.is_closed
        await settles_at(server, root, 1)
    await settles_at(server, root, 0)


async def test_an_injected_client_stays_open(server):
    root = server.root(body=answer("hi"))
    async with httpx.AsyncClient() as client:
        async with Retrying(openai(root, client=client)) as model:
            assert (await complete(model, "hello")).text == "hi"
        assert not client.is_closed  # its owner's: closed by the async with around it
        await settles_at(server, root, 1)
    await settles_at(server, root, 0)


async def test_recorded_and_replayed_models_close(server, tmp_path):
    root = server.root(body=answer("recorded"))
    recorder = Recorder(tmp_path / "run.jsonl")  # its own transport, closed with the model
    model = openai(root, transport=recorder)
    async with Retrying(model):
        assert (await complete(model, "hello")).text == "recorded"
        await settles_at(server, root, 1)
    await settles_at(server, root, 0)
    async with Retrying(ReplayModel(tmp_path / "run.jsonl", speed=None)) as replay:
        assert (await complete(replay, "hello")).text == "recorded"
        inner = replay.model._model._client  # the provider model inside the replay
        assert inner is not None and not inner.is_closed
    assert inner.is_closed


async def test_a_model_with_nothing_to_close():
    model = ScriptedModel(["hi"])
    await aclose_model(model)  # no aclose: nothing to do
    async with Retrying(model) as wrapped:
        assert (await complete(wrapped, "hello")).text == "hi"
