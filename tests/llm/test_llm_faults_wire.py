"""Faults served by the loopback server: typed errors, retries on a fake clock, cancellation."""

from __future__ import annotations

import asyncio
import random
import re
import time

import pytest
from llm_helpers import Events, FakeClock, base_url_for, cut_after_first_output, make_model

from agentlab.llm import (
    Anthropic,
    BadRequest,
    Gemini,
    OpenAIChat,
    Overloaded,
    RateLimited,
    Retrying,
    RetryPolicy,
    ServerError,
    StreamInterrupted,
    TextDelta,
    complete,
)

NO_JITTER = RetryPolicy(max_retries=3, base=1.0, max_delay=30.0, jitter=0.0)
PER_PROVIDER = ["openai_chat_text_basic", "anthropic_text_basic", "gemini_text_sse"]


def run_retrying(server, t, root, clock, policy=NO_JITTER, **kw):
    events = Events()

    async def main():
        async with make_model(t, root, clock=clock) as model:
            return await complete(Retrying(model, policy, clock, random.Random(1), **kw), "hi", emit=events)

    return asyncio.run(main()), events


@pytest.mark.parametrize("name", PER_PROVIDER)
def test_429_with_retry_after_is_honoured(server, transcripts, name):
    t = transcripts[name]
    clock = FakeClock()
    root = server.root(name, mode="chunks", fault="429", n=2, ra="2.5")
    response, events = run_retrying(server, t, root, clock)
    assert response.text == t["expected"]["text"]
    assert clock.sleeps == [2.5, 2.5]
    assert len(server.requests(root)) == 3
    retries = events.of("llm_retry")
    assert [(r["attempt"], r["error_type"], r["delay"], r["retry_after"]) for r in retries] == [
        (2, "rate_limit", 2.5, 2.5),
        (3, "rate_limit", 2.5, 2.5),
    ]
    assert [f["attempt"] for f in events.of("llm_request")] == [1, 2, 3]
    assert [f["error_type"] for f in events.of("llm_error")] == ["rate_limit", "rate_limit"]


def test_retry_after_http_date(server, transcripts):
    t = transcripts["openai_chat_text_basic"]
    clock = FakeClock()
    root = server.root(t["name"], fault="429", n=1, ra="date:30")
    run_retrying(server, t, root, clock)
    (slept,) = clock.sleeps
    assert 27 <= slept <= 31


@pytest.mark.parametrize(("fault", "error_type"), [("500", "server"), ("529", "overloaded")])
@pytest.mark.parametrize("name", PER_PROVIDER)
def test_5xx_backs_off_exponentially(server, transcripts, name, fault, error_type):
    t = transcripts[name]
    clock = FakeClock()
    root = server.root(name, fault=fault, n=3)
    response, events = run_retrying(server, t, root, clock)
    assert response.text == t["expected"]["text"]
    assert clock.sleeps == [1.0, 2.0, 4.0]
    assert {r["error_type"] for r in events.of("llm_retry")} == {error_type}


@pytest.mark.parametrize(("fault", "cls"), [("500", ServerError), ("529", Overloaded), ("429", RateLimited)])
def test_gives_up_after_max_retries(server, transcripts, fault, cls):
    t = transcripts["anthropic_text_basic"]
    clock = FakeClock()
    root = server.root(t["name"], fault=fault)
    with pytest.raises(cls) as info:
        run_retrying(server, t, root, clock, RetryPolicy(max_retries=2, base=0.5, jitter=0.0))
    assert len(server.requests(root)) == 3
    assert info.value.status == int(fault)
    assert len(clock.sleeps) == 2


def test_exhausted_quota_is_final_even_if_the_server_says_retry(server, transcripts):
    """OpenAI's insufficient_quota 429 comes with ``x-should-retry: true``; the quota wins."""
    t = transcripts["openai_chat_text_basic"]
    clock = FakeClock()
    root = server.root(t["name"], fault="quota")
    with pytest.raises(RateLimited) as info:
        run_retrying(server, t, root, clock)
    err = info.value
    assert not err.retryable and err.status == 429
    assert "waiting will not help" in str(err) and "check the plan and billing" in str(err)
    assert len(server.requests(root)) == 1 and clock.sleeps == []


@pytest.mark.parametrize("name", PER_PROVIDER)
@pytest.mark.parametrize("fault", ["reset", "truncate"])
def test_broken_stream_after_output_is_not_resent(server, transcripts, name, fault):
    t = transcripts[name]
    clock = FakeClock()
    root = server.root(name, fault=fault, n=1, cut=cut_after_first_output(t))
    with pytest.raises(StreamInterrupted) as info:
        run_retrying(server, t, root, clock)
    assert info.value.partial is True
    assert len(server.requests(root)) == 1 and clock.sleeps == []


def test_an_anthropic_stream_cut_before_its_count_estimates_the_output(server, transcripts):
    # message_start's usage carries output_tokens 1, a placeholder: the count comes in
    # message_delta. A stream cut before it is charged its input as reported and its
    # output estimated from the text that came, not one "reported" token
    t = transcripts["anthropic_text_basic"]
    root = server.root("anthropic_text_basic", fault="reset", n=1, cut=cut_after_first_output(t))
    events = Events()

    async def main():
        async with make_model(t, root, clock=FakeClock()) as model:
            await complete(model, "hi", emit=events)

    with pytest.raises(StreamInterrupted):
        asyncio.run(main())
    (err,) = events.of("llm_error")
    assert err["input_tokens"] == t["expected"]["usage"]["input_tokens"]
    assert err["input_estimated"] is False
    assert err["output_estimated"] is True and err["usage_reported"] is False
    assert err["output_tokens"] >= 1


@pytest.mark.parametrize("name", PER_PROVIDER)
@pytest.mark.parametrize("fault", ["reset", "truncate"])
def test_broken_stream_before_output_is_retried(server, transcripts, name, fault):
    t = transcripts[name]
    clock = FakeClock()
    root = server.root(name, fault=fault, n=1, cut=12)
    response, events = run_retrying(server, t, root, clock)
    assert response.text == t["expected"]["text"]
    assert len(server.requests(root)) == 2
    (err,) = events.of("llm_error")
    assert err["error_type"] == "stream_interrupted" and err["partial"] is False


@pytest.mark.parametrize("name", PER_PROVIDER)
def test_resend_partial_opt_in(server, transcripts, name):
    t = transcripts[name]
    root = server.root(name, fault="reset", n=1, cut=cut_after_first_output(t))
    response, _ = run_retrying(server, t, root, FakeClock(), resend_partial=True)
    # The consumer saw the broken attempt's text, then the whole answer again.
    assert response.text.endswith(t["expected"]["text"])
    assert len(server.requests(root)) == 2


@pytest.mark.parametrize("mode", ["chunks", "whole"])  # whole: output and error in one read
@pytest.mark.parametrize("name", PER_PROVIDER)
def test_error_event_inside_200_stream(server, transcripts, name, mode):
    t = transcripts[name]
    root = server.root(name, fault="error_event", mode=mode)
    events = Events()

    async def main():
        async with make_model(t, root, emit=events) as model:
            return await complete(Retrying(model, NO_JITTER, FakeClock()), "hi")

    with pytest.raises((Overloaded, ServerError)) as info:
        asyncio.run(main())
    assert info.value.status is None  # it came inside a 200 stream
    assert len(server.requests(root)) == 1  # output was produced first: not re-sent
    (err,) = events.of("llm_error")
    assert err["partial"] is True
    assert events.of("llm_token")  # the output before the error reached the consumer


@pytest.mark.parametrize("name", PER_PROVIDER)
def test_error_event_before_output_is_retried(server, transcripts, name):
    t = transcripts[name]
    clock = FakeClock()
    root = server.root(name, fault="error_event", cut=0, n=1)
    response, _ = run_retrying(server, t, root, clock)
    assert response.text == t["expected"]["text"]
    assert clock.sleeps == [1.0]


@pytest.mark.parametrize("name", PER_PROVIDER)
def test_cancelling_closes_the_http_stream(server, transcripts, name):
    t = transcripts[name]
    root = server.root(name, fault="hang", cut=cut_after_first_output(t))
    events = Events()

    async def main():
        async with make_model(t, root, emit=events) as model:
            first = asyncio.Event()

            async def consume():
                async for ev in model.stream("hi"):
                    if isinstance(ev, TextDelta):
                        first.set()

            task = asyncio.create_task(consume())
            await asyncio.wait_for(first.wait(), 10)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    asyncio.run(main())
    closed = server.closed(root)
    deadline = time.monotonic() + 10
    while not closed.is_set() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert closed.is_set(), "the server never saw the connection close"
    (done,) = events.of("llm_response")
    assert done["stop_reason"] == "cancelled" and done["output_tokens"] > 0


def test_connection_refused_is_a_retryable_server_error(transcripts):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t = transcripts["openai_chat_text_basic"]
    clock = FakeClock()

    async def main():
        async with make_model(t, f"http://127.0.0.1:{port}") as model:
            await complete(Retrying(model, RetryPolicy(max_retries=1, jitter=0.0, base=1.0), clock), "hi")

    with pytest.raises(ServerError) as info:
        asyncio.run(main())
    assert "could not connect" in str(info.value)
    assert clock.sleeps == [1.0]


WRONG_SHAPE = [
    ("openai_chat_text_basic", 'data: {"choices":[{"index":0,"delta":{"tool_calls":[null]}}]}\n\n'),
    ("openai_chat_text_basic", 'data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":"0"}]}}]}\n\n'),
    ("openai_chat_text_basic", 'data: {"choices":[{"index":0,"delta":"oops"}]}\n\n'),
    ("openai_chat_text_basic", 'data: {"choices":[{"index":0,"delta":{"content":5}}]}\n\n'),
    ("anthropic_text_basic", 'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":"oops"}\n\n'),
    ("anthropic_text_basic", 'event: message_start\ndata: {"type":"message_start","message":[1]}\n\n'),
    ("anthropic_text_basic", 'event: content_block_start\ndata: {"type":"content_block_start","index":0,'
                             '"content_block":{"type":"tool_use","id":5,"name":"f","input":{}}}\n\n'),
    ("anthropic_text_basic", 'event: content_block_start\ndata: {"type":"content_block_start","index":0,'
                             '"content_block":{"type":"text","text":["x"]}}\n\n'),
    ("gemini_text_sse", 'data: {"candidates":[{"content":"oops"}]}\r\n\r\n'),
    ("gemini_text_sse", 'data: {"candidates":[{"content":{"parts":[{"text":["x"]}]}}]}\r\n\r\n'),
    ("gemini_text_sse", 'data: {"candidates":[{"content":{"parts":[{"functionCall":{"name":5}}]}}]}\r\n\r\n'),
]


@pytest.mark.parametrize(("name", "event"), WRONG_SHAPE)
def test_an_event_of_the_wrong_shape_is_a_stream_interrupted(server, transcripts, name, event):
    t = transcripts[name]
    root = server.root(name, body=event)
    clock = FakeClock()
    with pytest.raises(StreamInterrupted) as info:
        run_retrying(server, t, root, clock, RetryPolicy(max_retries=1, jitter=0.0))
    err = info.value
    assert str(err).startswith(f"{err.provider}: malformed event") and err.provider in name
    assert err.body and err.body in event  # the message shows the event's data
    # nothing reached the caller before it: not partial, so it was sent again
    assert err.partial is False and len(server.requests(root)) == 2


@pytest.mark.parametrize("name", PER_PROVIDER)
def test_a_wrong_shape_after_delivered_output_is_partial(server, transcripts, name):
    """Text and a bad event in one read: the text goes out first, then the error, which
    is partial (though the decoder found it before the text was delivered)."""
    t = transcripts[name]
    cut = cut_after_first_output(t) - 5  # the end of the first event with text
    bad = next(event for n, event in WRONG_SHAPE if n == name)
    root = server.root(name, body=t["response"]["body"].encode()[:cut].decode() + bad)
    with pytest.raises(StreamInterrupted) as info:
        run_retrying(server, t, root, FakeClock(), RetryPolicy(max_retries=1, jitter=0.0))
    assert info.value.partial is True and len(server.requests(root)) == 1


BAD_BASE_URLS = {  # base_url: the problem its message names
    "localhost:8000/v1": "no http:// or https://",
    "ftp://127.0.0.1:1/v1": "no http:// or https://",
    "http://127.0.0.1:x/v1": "not a valid URL",
    "http://127.0.0.1:99999/v1": "port 99999 is out of range",  # httpx takes it; the socket layer would not
    "http:///v1": "no host",
}


def test_a_header_that_cannot_be_sent_is_a_bad_request(server, transcripts):
    t = transcripts["openai_chat_text_basic"]
    root = server.root(t["name"])
    clock = FakeClock()

    async def main():
        async with make_model(t, root, headers={"x-note": "two\nlines"}) as model:
            await complete(Retrying(model, NO_JITTER, clock), "hi")

    with pytest.raises(BadRequest, match="check headers="):
        asyncio.run(main())
    assert clock.sleeps == [] and server.requests(root) == []


@pytest.mark.parametrize("cls", [OpenAIChat, Anthropic, Gemini])
@pytest.mark.parametrize("base_url", list(BAD_BASE_URLS))
def test_a_bad_base_url_is_refused_when_the_model_is_made(cls, base_url):
    # a final BadRequest, before any request: there is nothing for a retry layer to retry
    with pytest.raises(BadRequest) as info:
        cls("some-model", api_key="k", base_url=base_url)
    message = str(info.value)
    assert repr(base_url) in message and "check base_url" in message
    assert not info.value.retryable and info.value.provider == cls.provider


@pytest.mark.parametrize(("base_url", "problem"), BAD_BASE_URLS.items())
def test_a_base_url_changed_later_is_checked_before_sending(server, transcripts, base_url, problem):
    # checked as it is set: the model keeps the URL it had, and a call through the retry
    # layer goes there, once
    t = transcripts["openai_chat_text_basic"]
    root = server.root(t["name"])
    clock = FakeClock()

    async def main():
        async with make_model(t, root) as model:
            with pytest.raises(BadRequest) as info:
                model.base_url = base_url
            return info.value, model.base_url, await complete(Retrying(model, NO_JITTER, clock), "hi")

    err, kept, response = asyncio.run(main())
    assert re.search(rf"{re.escape(problem)}.*check base_url", str(err))
    assert not err.retryable and repr(base_url) in str(err)
    assert kept == base_url_for(t, root) and response.text
    assert clock.sleeps == [] and len(server.requests(root)) == 1


def test_a_url_too_long_with_the_model_name_is_a_bad_request_not_retried(server):
    # base_url passed its check when set; the whole URL fails only as the request is built,
    # with the model's name in its path (Gemini): a final BadRequest, and nothing is sent
    root = server.root(body="unused")
    clock = FakeClock()

    async def main():
        async with Gemini("g" * 70_000, api_key="k", base_url=root) as model:
            await complete(Retrying(model, NO_JITTER, clock), "hi")

    with pytest.raises(BadRequest) as info:
        asyncio.run(main())
    message = str(info.value)
    assert "URL too long" in message and "shorten base_url or the model name" in message
    assert len(message) < 600 and "characters)" in message  # the URL is shown cut, with its length
    assert not info.value.retryable and clock.sleeps == [] and server.requests(root) == []


def test_a_base_url_too_long_with_the_path_is_a_bad_request_not_retried(server):
    # as long as httpx takes a URL: the base_url passes, "/chat/completions" does not
    root = server.root(body="unused")
    base_url = root + "/" + "a" * (65_536 - len(root) - 10)
    clock = FakeClock()

    async def main():
        async with OpenAIChat("m", api_key="k", base_url=base_url) as model:
            await complete(Retrying(model, NO_JITTER, clock), "hi")

    with pytest.raises(BadRequest, match="URL too long.*shorten base_url") as info:
        asyncio.run(main())
    assert not info.value.retryable and clock.sleeps == [] and server.requests(root) == []


def test_a_redirect_is_a_bad_request_naming_where_it_points(server, transcripts):
    # the client does not follow redirects (a POST would lose its body): a 3xx means
    # base_url is not the API's address, which no retry changes
    t = transcripts["openai_chat_text_basic"]
    root = server.root(t["name"], fault="redirect")
    clock = FakeClock()
    with pytest.raises(BadRequest) as info:
        run_retrying(server, t, root, clock)
    err = info.value
    assert err.status == 307 and not err.retryable
    assert "redirected the request to 'ftp://127.0.0.1/elsewhere'" in str(err)
    assert "set base_url" in str(err)
    assert clock.sleeps == [] and len(server.requests(root)) == 1


def test_a_redirect_followed_to_another_scheme_is_a_bad_request(server, transcripts):
    # an injected client that follows redirects meets a scheme httpx cannot fetch: the
    # request is refused before it is sent, and the message names both addresses
    import httpx

    t = transcripts["openai_chat_text_basic"]
    root = server.root(t["name"], fault="redirect")
    clock = FakeClock()

    async def main():
        async with httpx.AsyncClient(follow_redirects=True) as client:
            model = make_model(t, root, client=client)
            await complete(Retrying(model, NO_JITTER, clock), "hi")

    with pytest.raises(BadRequest) as info:
        asyncio.run(main())
    message = str(info.value)
    assert "cannot send a request to 'ftp://127.0.0.1/elsewhere'" in message
    assert f"where the request to '{base_url_for(t, root)}/chat/completions' was redirected" in message
    assert "unsupported protocol" in message and "point base_url" in message
    assert not info.value.retryable and clock.sleeps == [] and len(server.requests(root)) == 1
