"""Recorder and ReplayModel: live loopback once, then offline, byte for byte, failures included."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest
from llm_helpers import FakeClock, check_response, cut_after_first_output, make_model

from agentlab.llm import (
    OpenAIChat,
    RateLimited,
    Recorder,
    ReplayModel,
    ReplayTransport,
    StreamInterrupted,
    complete,
)

PER_PROVIDER = ["openai_chat_tool_call_include_usage", "anthropic_tool_use_empty_input", "gemini_text_sse"]


def records(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def record(t, root, path, n_calls=1):
    async def main():
        async with make_model(t, root, transport=Recorder(path)) as model:
            out = []
            for _ in range(n_calls):
                try:
                    out.append(await complete(model, "hi"))
                except Exception as exc:
                    out.append(exc)
            return out

    return asyncio.run(main())


@pytest.mark.parametrize("name", PER_PROVIDER)
def test_record_then_replay_offline(server, transcripts, name, tmp_path):
    t = transcripts[name]
    live = tmp_path / "live.jsonl"
    (response,) = record(t, server.root(name, mode="chunks", seed=5), live)
    check_response(t, response)
    recs = records(live)
    assert [r["type"] for r in recs][:2] == ["request", "response"] and recs[-1]["type"] == "end"
    assert "".join(r["text"] for r in recs if r["type"] == "chunk") == t["response"]["body"]
    assert "test-key-123" not in live.read_text()

    clock = FakeClock(start=0.0)
    again = tmp_path / "again.jsonl"

    async def replay():
        async with ReplayModel(live, clock=clock) as model:
            assert model.provider in ("openai", "anthropic", "gemini")
            return await complete(model, "anything")

    check_response(t, asyncio.run(replay()))
    assert clock.t == pytest.approx(recs[-1]["t"])  # the recorded timing, on the fake clock

    async def rerecord():
        transport = Recorder(again, ReplayTransport(live, speed=None))
        async with make_model(t, "http://replay.invalid", transport=transport) as model:
            await complete(model, "x")

    asyncio.run(rerecord())
    chunks = [r.get("text") for r in records(live) if r["type"] == "chunk"]
    assert chunks == [r.get("text") for r in records(again) if r["type"] == "chunk"]


def test_replays_failures(server, transcripts, tmp_path):
    t = transcripts["openai_chat_text_basic"]
    path = tmp_path / "faults.jsonl"
    root = server.root(t["name"], fault="reset", cut=cut_after_first_output(t), n=1)
    first, second = record(t, root, path, n_calls=2)
    assert isinstance(first, StreamInterrupted) and first.partial
    check_response(t, second)
    assert "error" in [r["type"] for r in records(path)]

    async def replay():
        async with ReplayModel(path, speed=None) as model:
            with pytest.raises(StreamInterrupted) as info:
                await complete(model, "hi")
            assert info.value.partial
            return await complete(model, "hi")

    check_response(t, asyncio.run(replay()))


def test_replays_http_errors(server, transcripts, tmp_path):
    t = transcripts["anthropic_text_basic"]
    path = tmp_path / "429.jsonl"
    (err,) = record(t, server.root(t["name"], fault="429", ra="3"), path)
    assert isinstance(err, RateLimited)

    async def replay():
        async with ReplayModel(path, speed=None) as model:
            await complete(model, "hi")

    with pytest.raises(RateLimited) as info:
        asyncio.run(replay())
    assert info.value.retry_after == 3.0


def test_replay_runs_out(tmp_path, server, transcripts):
    t = transcripts["gemini_text_sse"]
    path = tmp_path / "one.jsonl"
    record(t, server.root(t["name"]), path)

    async def replay():
        async with ReplayModel(path, speed=None) as model:
            await complete(model, "hi")
            await complete(model, "hi")

    with pytest.raises(IndexError, match="all were replayed"):
        asyncio.run(replay())


def test_closed_early_is_recorded(server, transcripts, tmp_path):
    t = transcripts["openai_chat_text_basic"]
    path = tmp_path / "closed.jsonl"

    async def main():
        async with make_model(t, server.root(t["name"], mode="chunks"), transport=Recorder(path)) as model:
            async for _ in model.stream("hi"):
                break

    asyncio.run(main())
    assert records(path)[-1]["type"] == "closed"


def test_binary_chunks_round_trip(server, transcripts, tmp_path):
    body = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"é\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n".encode()
    split = body.index("é".encode()) + 1  # cut inside the two-byte character
    # over loopback HTTP, in these two pieces (a 200 event stream, as the transcript's)
    root = server.root("openai_chat_text_basic", pieces=[body[:split], body[split:]])
    path = tmp_path / "bin.jsonl"

    async def main():
        async with OpenAIChat("m", api_key="k", base_url=root + "/v1", transport=Recorder(path)) as m:
            first = await complete(m, "hi")
        async with ReplayModel(path, speed=None) as m:
            return first, await complete(m, "hi")

    first, second = asyncio.run(main())
    assert first.text == second.text == "é"
    chunks = [r for r in records(path) if r["type"] == "chunk"]
    assert any("b64" in r for r in chunks)  # the piece that ends inside the character
    assert b"".join(base64.b64decode(r["b64"]) if "b64" in r else r["text"].encode()
                    for r in chunks) == body
    assert len(server.requests(root)) == 1


def handmade(path, gaps=(1.0, 2.0, 3.0)):
    """A recording of one OpenAI exchange: the response head, one chunk and the end at
    ``gaps`` seconds after the request."""
    body = 'data: {"choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n'
    head, chunk, end = gaps
    lines = [
        {"type": "request", "exchange": 0, "t": 0.0, "method": "POST",
         "url": "http://127.0.0.1:1/v1/chat/completions", "body": {"model": "gpt-4o-mini"}},
        {"type": "response", "exchange": 0, "t": head, "status": 200,
         "headers": [["content-type", "text/event-stream"]]},
        {"type": "chunk", "exchange": 0, "t": chunk, "text": body},
        {"type": "end", "exchange": 0, "t": end},
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


@pytest.mark.parametrize("provider", ["foo", "OpenAI", "", 3, OpenAIChat])
def test_an_unknown_provider_is_named_with_the_known_ones(tmp_path, provider):
    path = handmade(tmp_path / "one.jsonl")
    with pytest.raises(ValueError) as info:
        ReplayModel(path, provider=provider)
    message = str(info.value)
    assert f"provider={provider!r}" in message
    assert all(repr(p) in message for p in ("openai", "anthropic", "gemini"))


@pytest.mark.parametrize(("speed", "elapsed"), [(1.0, 3.0), (2, 1.5), (0.5, 6.0), (None, 0.0),
                                                 (float("inf"), 0.0)])
def test_speed_divides_the_recorded_gaps(tmp_path, speed, elapsed):
    clock = FakeClock(start=0.0)

    async def replay():
        async with ReplayModel(handmade(tmp_path / "one.jsonl"), clock=clock, speed=speed) as model:
            return await complete(model, "hi")

    assert asyncio.run(replay()).text == "hi"
    assert clock.t == pytest.approx(elapsed)
    if elapsed == 0.0:
        assert clock.sleeps == []  # no pacing at all, not waits of zero


@pytest.mark.parametrize(("speed", "error"), [
    (0, ValueError), (0.0, ValueError), (-1, ValueError), (float("-inf"), ValueError),
    (float("nan"), ValueError), ("fast", TypeError), (True, TypeError), ([2], TypeError),
])
def test_a_speed_that_makes_no_sense_is_refused_when_set(tmp_path, speed, error):
    path = handmade(tmp_path / "one.jsonl")
    with pytest.raises(error, match=r"speed must be a number > 0, not .*None \(or inf\) without waiting"):
        ReplayModel(path, speed=speed)
    transport = ReplayTransport(path, speed=2)
    with pytest.raises(error, match="speed must be a number > 0"):
        transport.speed = speed
    assert transport.speed == 2.0  # the refused value is not kept
