"""Retrying on a fake clock: backoff, jitter, Retry-After, what is never retried."""

from __future__ import annotations

import asyncio
import random

import pytest
from llm_helpers import Events, FakeClock

from agentlab.llm import (
    AuthError,
    BadRequest,
    FaultyModel,
    Overloaded,
    RateLimited,
    Reply,
    Retrying,
    RetryPolicy,
    ScriptedModel,
    ServerError,
    StreamInterrupted,
    Timeout,
    complete,
)
from agentlab.llm._wire_errors import error_from_response, parse_retry_after


def run(coro):
    return asyncio.run(coro)


def scripted(script, clock):
    return ScriptedModel(script, clock=clock, ttft=0.0, tokens_per_second=0, jitter=0.0)


def test_backoff_is_exponential_and_capped():
    clock = FakeClock()
    errors = [ServerError("boom"), Timeout("slow"), Overloaded("busy"), ServerError("boom"), ServerError("x")]
    model = Retrying(
        scripted([*errors, "fine"], clock),
        RetryPolicy(max_retries=5, base=1.0, max_delay=5.0, jitter=0.0),
        clock,
    )
    assert run(complete(model, "hi")).text == "fine"
    assert clock.sleeps == [1.0, 2.0, 4.0, 5.0, 5.0]


def test_jitter_is_seeded_and_bounded():
    def sleeps(seed):
        clock = FakeClock()
        model = Retrying(
            scripted([ServerError("a")] * 4 + ["ok"], clock),
            RetryPolicy(max_retries=4, base=1.0, max_delay=100.0, jitter=0.5),
            clock,
            random.Random(seed),
        )
        run(complete(model, "hi"))
        return clock.sleeps

    first = sleeps(3)
    assert first == sleeps(3)
    assert first != sleeps(4)
    for n, s in enumerate(first):
        assert 0.5 * 2**n <= s <= 2**n


def test_retry_after_wins_over_backoff():
    clock = FakeClock()
    model = Retrying(scripted([RateLimited("p", retry_after=7.0), "ok"], clock), RetryPolicy(jitter=0.0), clock)
    run(complete(model, "hi"))
    assert clock.sleeps == [7.0]


def test_retry_after_too_long_gives_up():
    clock = FakeClock()
    model = Retrying(
        scripted([RateLimited("p", retry_after=3600.0), "ok"], clock),
        RetryPolicy(max_retry_after=60.0),
        clock,
    )
    with pytest.raises(RateLimited):
        run(complete(model, "hi"))
    assert clock.sleeps == []


@pytest.mark.parametrize(
    "error",
    [
        BadRequest("bad", status=400),
        AuthError("who are you", status=401),
        RateLimited("p", retryable=False, message="quota exhausted"),
    ],
)
def test_never_retried(error):
    clock = FakeClock()
    inner = scripted([error, "ok"], clock)
    with pytest.raises(type(error)):
        run(complete(Retrying(inner, RetryPolicy(), clock), "hi"))
    assert clock.sleeps == [] and len(inner.calls) == 1


def test_partial_stream_is_not_resent_unless_asked():
    broken = Reply("Hello there friend", error=StreamInterrupted("cut", partial=True), fail_after=2)
    clock = FakeClock()
    inner = scripted([broken, "again"], clock)
    with pytest.raises(StreamInterrupted):
        run(complete(Retrying(inner, RetryPolicy(), clock), "hi"))
    assert len(inner.calls) == 1

    inner = scripted([broken, "again"], clock)
    got = run(complete(Retrying(inner, RetryPolicy(jitter=0.0), clock, resend_partial=True), "hi"))
    assert got.text == "Hello thereagain"


def test_overloaded_after_output_is_not_resent():
    clock = FakeClock()
    inner = scripted([Reply("Some text", error=Overloaded("busy"), fail_after=1), "ok"], clock)
    with pytest.raises(Overloaded):
        run(complete(Retrying(inner, RetryPolicy(), clock), "hi"))


def test_events_of_a_retried_call():
    clock = FakeClock()
    events = Events()
    model = Retrying(scripted([RateLimited("p", retry_after=1.5), "ok"], clock), RetryPolicy(), clock)
    run(complete(model, "hi", emit=events))
    assert events.kinds() == [
        "llm_request", "llm_error", "llm_retry",
        "llm_request", "llm_first_token", "llm_token", "llm_response",
    ]
    req1, req2 = events.of("llm_request")
    assert (req1["attempt"], req2["attempt"]) == (1, 2)
    assert req1["request_id"] != req2["request_id"]
    (retry,) = events.of("llm_retry")
    assert retry == {
        "provider": "scripted", "model": "scripted", "request_id": req1["request_id"],
        "attempt": 2, "error_type": "rate_limit", "delay": 1.5, "retry_after": 1.5,
    }
    assert events.of("llm_response")[0]["attempt"] == 2


def test_attempt_stamp_through_wrappers():
    """The outermost retry layer's attempt wins; a wrapper's own events are stamped too."""
    clock = FakeClock()
    events = Events()
    inner = Retrying(scripted([RateLimited("p", retry_after=1.0), "ok"], clock), RetryPolicy(), clock)
    run(complete(Retrying(inner, RetryPolicy(), clock), "hi", emit=events))
    assert {f["attempt"] for _, f in events.log} == {1}
    req1, _ = events.of("llm_request")
    assert events.of("llm_retry")[0]["request_id"] == req1["request_id"]

    events = Events()
    faulty = FaultyModel(scripted(["hello"], clock), random.Random(0), p_empty=1.0)
    model = Retrying(scripted([ServerError("x"), "ok"], clock), RetryPolicy(), clock)
    run(complete(Retrying(faulty, RetryPolicy(), clock), "hi", emit=events))
    run(complete(model, "hi", emit=events))
    assert [(k, f["attempt"]) for k, f in events.log if k in ("llm_fault", "llm_request")] == [
        ("llm_fault", 1), ("llm_request", 1), ("llm_request", 1), ("llm_request", 2),
    ]


def test_cancel_during_backoff():
    clock_events = []

    class SlowClock(FakeClock):
        async def sleep(self, seconds):
            clock_events.append(seconds)
            self.sleeping.set()
            await asyncio.sleep(3600)

    clock = SlowClock()

    async def main():
        clock.sleeping = asyncio.Event()
        model = Retrying(scripted([ServerError("x"), "ok"], clock), RetryPolicy(jitter=0.0), clock)
        task = asyncio.create_task(complete(model, "hi"))
        await clock.sleeping.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run(main())
    assert clock_events == [0.5]


def test_parse_retry_after_variants():
    assert parse_retry_after({"Retry-After": "3"}) == 3.0
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None


def test_status_mapping():
    def err(status, body="", **headers):
        return error_from_response("p", status, headers, body)

    assert isinstance(err(400), BadRequest)
    assert isinstance(err(404), BadRequest)
    assert isinstance(err(401), AuthError) and isinstance(err(403), AuthError)
    assert isinstance(err(408), Timeout)
    limited = err(429, **{"retry-after": "4"})
    assert isinstance(limited, RateLimited) and limited.retry_after == 4.0 and limited.retryable
    quota = err(429, '{"error": {"type": "insufficient_quota", "message": "You exceeded your quota"}}')
    assert isinstance(quota, RateLimited) and not quota.retryable
    told_to_retry = err(429, quota.body or "", **{"x-should-retry": "true"})
    assert not told_to_retry.retryable and "waiting will not help" in str(told_to_retry)
    assert err(429, **{"x-should-retry": "true"}).retryable  # a plain rate limit stays retryable
    assert not err(400, **{"x-should-retry": "true"}).retryable
    assert isinstance(err(500), ServerError) and isinstance(err(502), ServerError)
    assert isinstance(err(503), Overloaded) and isinstance(err(529), Overloaded)
    assert not err(500, **{"x-should-retry": "false"}).retryable
    long = err(400, "x" * 5000)
    assert len(str(long)) < 1000 and "more characters" in str(long)
    assert [e.type for e in (err(400), err(401), err(408), err(429), err(500), err(529))] == [
        "bad_request", "auth", "timeout", "rate_limit", "server", "overloaded",
    ]


@pytest.mark.parametrize("status", [408, 429, 500, 503])
def test_should_retry_false_is_final_and_says_so(status):
    err = error_from_response("openai", status, {"x-should-retry": "false"}, "")
    assert not err.retryable
    assert "retry with backoff" not in str(err) and "retry after" not in str(err)
    assert "asked not to retry" in str(err)


def test_error_messages_say_what_to_do():
    assert "check the API key" in str(error_from_response("openai", 401, {}, "{}", key_hint="OPENAI_API_KEY"))
    assert "retry" in str(error_from_response("openai", 500, {}, "oops"))
    assert "check the model name" in str(error_from_response("openai", 400, {}, "{}"))
    assert "oops" in str(error_from_response("openai", 500, {}, "oops"))


@pytest.mark.parametrize(("field", "value", "error"), [
    ("max_retries", -1, ValueError), ("max_retries", 2.5, TypeError), ("max_retries", True, TypeError),
    ("max_retries", "3", TypeError),
    ("base", -1, ValueError), ("base", float("nan"), ValueError), ("base", float("inf"), ValueError),
    ("max_delay", -0.5, ValueError), ("max_delay", float("nan"), ValueError),
    ("jitter", 3, ValueError), ("jitter", -0.1, ValueError), ("jitter", None, TypeError),
    ("max_retry_after", -1, ValueError), ("max_retry_after", "300", TypeError),
])
def test_a_policy_that_makes_no_sense_is_refused_when_made(field, value, error):
    # NaN, a negative wait or a jitter past 1 were used as given: waits of -1 s, or of
    # max_delay for a NaN base, showed up in llm_retry events
    with pytest.raises(error, match=rf"^{field} must be "):
        RetryPolicy(**{field: value})


def test_no_cap_and_no_retries_are_policies():
    assert RetryPolicy(max_retries=0, base=0, jitter=0, max_delay=float("inf"),
                       max_retry_after=float("inf")).backoff(40, random.Random(0)) == 0.0
    assert RetryPolicy(base=1.0, jitter=1, max_delay=float("inf")).backoff(3, random.Random(0)) <= 4.0
