"""The API key never leaks; tokens and cost are accounted, failed attempts included."""

from __future__ import annotations

import asyncio
import logging
import random
import traceback

import httpx
import pytest
from llm_helpers import Events, FakeClock, make_model, model_name

from agentlab.llm import (
    DEFAULT_PRICES,
    Anthropic,
    AuthError,
    FaultTransport,
    FaultyModel,
    Gemini,
    LLMError,
    OpenAIChat,
    RateLimited,
    Recorder,
    ReplayModel,
    Reply,
    Retrying,
    RetryPolicy,
    ScriptedModel,
    ServerError,
    StreamInterrupted,
    UsageMeter,
    complete,
    cost_usd,
    estimate_tokens,
    tee,
)

KEY = "sk-PLANTED-secret-7f3a9c21e5b04d68"


def test_key_never_appears(server, transcripts, caplog, monkeypatch, tmp_path):
    caplog.set_level(logging.DEBUG)
    events = Events()
    texts: list[str] = []
    scenarios = [
        ("openai_chat_text_basic", {}),
        ("anthropic_tool_use_empty_input", {"mode": "chunks"}),
        ("gemini_text_sse", {}),
        ("openai_chat_text_basic", {"fault": "echo_key"}),
        ("anthropic_text_basic", {"fault": "echo_key"}),
        ("gemini_text_sse", {"fault": "echo_key"}),
        ("openai_chat_error_429", {}),
        ("anthropic_text_basic", {"fault": "reset", "cut": 40}),
        ("gemini_text_sse", {"fault": "error_event"}),
    ]
    for name, spec in scenarios:
        t = transcripts[name]
        root = server.root(name, **spec)

        async def main(t=t, root=root):
            async with make_model(t, root, api_key=KEY, emit=events, transport=None) as model:
                texts.append(repr(model))
                retrying = Retrying(model, RetryPolicy(max_retries=1), FakeClock(), random.Random(0))
                texts.append(repr(retrying))
                return await complete(retrying, "hi")

        try:
            texts.append(repr(asyncio.run(main())))
        except Exception as exc:
            texts.extend([str(exc), repr(exc), "".join(traceback.format_exception(exc)), repr(vars(exc))])

    # keys from the environment are kept just as quietly
    for cls, var in ((OpenAIChat, "OPENAI_API_KEY"), (Anthropic, "ANTHROPIC_API_KEY"), (Gemini, "GOOGLE_API_KEY")):
        monkeypatch.setenv(var, KEY)
        texts.append(repr(cls("m")))

    # a recording holds no headers
    path = tmp_path / "rec.jsonl"
    t = transcripts["anthropic_text_basic"]

    async def rec():
        async with make_model(t, server.root(t["name"]), api_key=KEY, transport=Recorder(path)) as model:
            await complete(model, "hi")

    asyncio.run(rec())
    texts.append(path.read_text())

    assert len(events.log) > 20
    texts.append(repr(events.log))
    texts.append(caplog.text)
    texts.extend(r.getMessage() for r in caplog.records)
    leaks = [s for s in texts if KEY in s]
    assert not leaks, leaks[0][:300]
    assert any("[redacted]" in s for s in texts), "the echoed key should show as [redacted]"


def test_missing_key_is_an_auth_error(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)

    async def main():
        async with OpenAIChat("gpt-4o-mini") as model:
            await complete(model, "hi")

    from agentlab.llm import AuthError

    with pytest.raises(AuthError, match="OPENAI_API_KEY"):
        asyncio.run(main())


def test_estimates_and_prices():
    assert estimate_tokens("") == 0 and estimate_tokens("abcd") == 1 and estimate_tokens("abcde") == 2
    assert cost_usd("gpt-4o-mini-2024-07-18", 1_000_000, 1_000_000) == pytest.approx(0.75)
    assert cost_usd("gpt-4o-2024-08-06", 1_000_000, 0) == pytest.approx(2.5)
    assert cost_usd("claude-sonnet-4-5", 1000, 1000) == pytest.approx(0.018)
    assert cost_usd("unknown-model", 10, 10) is None
    assert cost_usd("mine", 1_000_000, 0, {**DEFAULT_PRICES, "mine": (1.0, 2.0)}) == 1.0


def test_reported_usage_and_cost(server, transcripts):
    t = transcripts["openai_chat_tool_call_include_usage"]  # gpt-4o-mini, 53 in / 15 out
    meter = UsageMeter()
    events = Events()

    async def main():
        async with make_model(t, server.root(t["name"])) as model:
            await complete(model, "hi", emit=tee(meter, events))

    asyncio.run(main())
    (done,) = events.of("llm_response")
    assert (done["input_tokens"], done["output_tokens"]) == (53, 15)
    assert not done["input_estimated"] and not done["output_estimated"]
    assert done["cost_usd"] == pytest.approx((53 * 0.15 + 15 * 0.60) / 1e6)
    assert (meter.calls, meter.input_tokens, meter.output_tokens) == (1, 53, 15)
    assert meter.estimated_input_tokens == meter.estimated_output_tokens == 0
    assert meter.by_model["gpt-4o-mini"]["calls"] == 1


def test_estimated_when_the_provider_reports_nothing(server):
    body = (
        'data: {"choices":[{"index":0,"delta":{"content":"Twelve chars"},"finish_reason":null}]}\n\n'
        'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
        "data: [DONE]\n\n"
    )
    root = server.root(body=body)  # a 200 event stream over loopback HTTP
    meter = UsageMeter()

    async def main():
        async with OpenAIChat("local-llama", api_key="k", base_url=root + "/v1", emit=meter) as model:
            return await complete(model, "x" * 40)

    response = asyncio.run(main())
    assert response.usage is not None and not response.usage.reported
    assert (response.usage.input_tokens, response.usage.output_tokens) == (10, 3)
    assert meter.estimated_input_tokens == 10 and meter.estimated_output_tokens == 3
    assert meter.unpriced_calls == 1 and meter.cost_usd == 0.0


def test_failed_attempts_are_counted():
    clock = FakeClock()
    meter = UsageMeter()
    broken = Reply("one two three four", error=StreamInterrupted("cut"), fail_after=0)
    model = Retrying(
        ScriptedModel([broken, "fine answer"], model="gpt-4o", clock=clock),
        RetryPolicy(jitter=0.0),
        clock,
        emit=meter,
    )
    asyncio.run(complete(model, "x" * 400))
    assert (meter.calls, meter.failed, meter.retries) == (2, 1, 1)
    assert meter.input_tokens == 200  # both attempts sent the 100-token prompt
    assert meter.cost_usd == pytest.approx((200 * 2.5 + meter.output_tokens * 10) / 1e6)


ONE_COUNT = {
    # Gemini's answer to a blocked prompt: a prompt count and no candidates count.
    "gemini_text_sse": 'data: {"promptFeedback": {"blockReason": "SAFETY"}, '
    '"usageMetadata": {"promptTokenCount": 7, "totalTokenCount": 7}}\r\n\r\n',
    # A compatible server that reports prompt tokens only.
    "openai_chat_text_basic": 'data: {"choices":[{"index":0,"delta":{"content":"Hi"},'
    '"finish_reason":"stop"}]}\n\ndata: {"choices":[],"usage":{"prompt_tokens":7}}\n\n'
    "data: [DONE]\n\n",
}


@pytest.mark.parametrize("name", sorted(ONE_COUNT))
def test_a_reported_count_stays_reported_when_the_other_is_missing(server, transcripts, name):
    t = transcripts[name]
    meter = UsageMeter()
    events = Events()

    async def main():
        async with make_model(t, server.root(name, body=ONE_COUNT[name])) as model:
            return await complete(model, "hello", emit=tee(meter, events))

    response = asyncio.run(main())
    (done,) = events.of("llm_response")
    assert done["input_tokens"] == 7 and not done["input_estimated"]
    assert done["output_estimated"] and not done["usage_reported"]
    assert response.usage is not None and not response.usage.reported
    assert meter.estimated_input_tokens == 0
    assert meter.estimated_output_tokens == done["output_tokens"]


def test_a_gemini_models_prefix_is_priced(server, transcripts):
    t = transcripts["gemini_text_sse"]  # gemini-2.0-flash-exp
    events = Events()

    async def main():
        async with Gemini("models/" + model_name(t), api_key="k", base_url=server.root(t["name"])) as model:
            await complete(model, "hi", emit=events)

    asyncio.run(main())
    (done,) = events.of("llm_response")
    assert done["model"] == "models/gemini-2.0-flash-exp"
    assert done["cost_usd"] == cost_usd("gemini-2.0-flash-exp", done["input_tokens"], done["output_tokens"])
    assert done["cost_usd"] is not None
    assert cost_usd("models/mine", 1_000_000, 0, {"models/mine": (1.0, 2.0), "mine": (5.0, 5.0)}) == 1.0


# ------------------------------------------------------------------ refused attempts cost nothing

PER_PROVIDER = ["openai_chat_text_basic", "anthropic_text_basic", "gemini_text_sse"]
PROMPT = "a prompt of some length " * 20  # ~120 tokens: an estimate would show


def one_attempt(model, emit):
    """Run one call of ``model`` (closed after), return its one ending event's fields."""

    async def main():
        try:
            await complete(model, PROMPT, emit=emit)
        except LLMError:
            pass
        finally:
            if hasattr(model, "aclose"):
                await model.aclose()

    asyncio.run(main())


def assert_free(fields, meter):
    assert (fields["input_tokens"], fields["output_tokens"]) == (0, 0)
    assert fields["input_estimated"] is False and fields["output_estimated"] is False
    assert fields["usage_reported"] is False
    assert fields["cost_usd"] == 0.0
    assert (meter.calls, meter.failed, meter.input_tokens, meter.cost_usd) == (1, 1, 0, 0.0)


@pytest.mark.parametrize("fault", ["429", "500", "529", "echo_key", "quota"])
@pytest.mark.parametrize("name", PER_PROVIDER)
def test_an_error_answer_costs_nothing(server, transcripts, name, fault):
    t = transcripts[name]
    meter, events = UsageMeter(), Events()
    one_attempt(make_model(t, server.root(name, fault=fault)), tee(meter, events))
    (err,) = events.of("llm_error")
    assert err["status"] is not None
    assert_free(err, meter)


@pytest.mark.parametrize("params", [{"p_429": 1.0}, {"p_5xx": 1.0}])
def test_an_injected_error_answer_costs_nothing(server, transcripts, params):
    t = transcripts["anthropic_text_basic"]
    meter, events = UsageMeter(), Events()
    faults = FaultTransport(httpx.AsyncHTTPTransport(), random.Random(0), **params)
    root = server.root(t["name"])
    one_attempt(make_model(t, root, transport=faults), tee(meter, events))
    (err,) = events.of("llm_error")
    assert_free(err, meter)
    assert server.requests(root) == []  # the server never saw it


def test_an_unreachable_server_costs_nothing(transcripts):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    meter, events = UsageMeter(), Events()
    one_attempt(make_model(transcripts["openai_chat_text_basic"], f"http://127.0.0.1:{port}"),
                tee(meter, events))
    (err,) = events.of("llm_error")
    assert err["error_type"] == "server"
    assert_free(err, meter)


QUICK_READ = httpx.Timeout(5.0, read=0.3)  # a read that waits 0.3 s at most


@pytest.mark.parametrize("name", PER_PROVIDER)
def test_an_error_answer_whose_body_stops_coming_costs_nothing(server, transcripts, name):
    # a 429's headers, 20 bytes of its body, then nothing: the read times out, and the
    # status already said the model did not run
    root = server.root("openai_chat_error_429", fault="hang", cut=20)
    meter, events = UsageMeter(), Events()
    one_attempt(make_model(transcripts[name], root, timeout=QUICK_READ), tee(meter, events))
    (err,) = events.of("llm_error")
    assert err["error_type"] == "timeout" and err["status"] is None
    assert_free(err, meter)
    assert server.closed(root).wait(5)  # the client went away


@pytest.mark.parametrize("name", PER_PROVIDER)
def test_a_timeout_before_the_answer_is_charged_its_prompt_estimated(server, transcripts, name):
    # the request went out, and no headers came back in time: the provider may have run
    # the model (and bill it), so the attempt is not refused but charged its prompt,
    # estimated, as a stream that broke before its first token is
    t = transcripts[name]
    root = server.root(t["name"], fault="no_answer")
    meter, events = UsageMeter(), Events()
    one_attempt(make_model(t, root, timeout=QUICK_READ), tee(meter, events))
    (err,) = events.of("llm_error")
    assert err["error_type"] == "timeout" and err["retryable"]
    assert err["input_tokens"] == estimate_tokens(PROMPT) and err["input_estimated"]
    assert err["output_tokens"] == 0 and not err["usage_reported"]
    assert err["cost_usd"] == cost_usd(model_name(t), err["input_tokens"], 0) > 0
    assert len(server.requests(root)) == 1  # it was sent
    assert server.closed(root).wait(5)


def test_a_2xx_json_body_that_stops_coming_is_charged_its_prompt_estimated(server, transcripts):
    # a 200 that would be read whole (JSON, not a stream) whose body stops: the model may
    # have run, as for a stream cut before its first token
    t = transcripts["anthropic_text_basic"]
    root = server.root(t["name"], fault="hang", cut=30, headers={"content-type": "application/json"})
    meter, events = UsageMeter(), Events()
    one_attempt(make_model(t, root, timeout=QUICK_READ), tee(meter, events))
    (err,) = events.of("llm_error")
    assert err["error_type"] == "timeout"
    assert err["input_tokens"] == estimate_tokens(PROMPT) and err["input_estimated"]
    assert err["cost_usd"] > 0


def test_a_replayed_error_answer_costs_nothing(server, transcripts, tmp_path):
    t = transcripts["openai_chat_text_basic"]
    path = tmp_path / "429.jsonl"
    one_attempt(make_model(t, server.root(t["name"], fault="429"), transport=Recorder(path)), None)
    meter, events = UsageMeter(), Events()
    one_attempt(ReplayModel(path, clock=FakeClock(), speed=None), tee(meter, events))
    (err,) = events.of("llm_error")
    assert err["status"] == 429
    assert_free(err, meter)


@pytest.mark.parametrize(
    "error",
    [RateLimited("scripted", retry_after=1.0), ServerError("outage", provider="scripted", status=503),
     AuthError("bad key", provider="scripted", status=401)],
)
def test_a_scripted_error_answer_costs_nothing(error):
    for wrap in (lambda m: m, lambda m: FaultyModel(m, random.Random(0), p_empty=1.0)):
        meter, events = UsageMeter(), Events()
        model = ScriptedModel([error], model="gpt-4o", clock=FakeClock())
        one_attempt(wrap(model), tee(meter, events))
        (err,) = events.of("llm_error")
        assert_free(err, meter)


def test_an_unpriced_refused_attempt_has_no_price_and_no_tokens():
    meter, events = UsageMeter(), Events()
    one_attempt(ScriptedModel([RateLimited("scripted")], model="mine", clock=FakeClock()),
                tee(meter, events))
    (err,) = events.of("llm_error")
    assert (err["input_tokens"], err["output_tokens"], err["cost_usd"]) == (0, 0, None)


def test_a_stream_the_model_ran_is_still_charged(server, transcripts):
    # after output: the prompt and the output that came; before output, in a 200 stream
    # (an error event) or a scripted failure without a status: the prompt
    meter, events = UsageMeter(), Events()
    after = Reply("one two three four", error=ServerError("cut", provider="scripted", status=503),
                  fail_after=2)
    before = Reply(error=StreamInterrupted("cut"))
    for reply in (after, before):
        one_attempt(ScriptedModel([reply], model="gpt-4o", clock=FakeClock()), tee(meter, events))
    t = transcripts["gemini_text_sse"]
    one_attempt(make_model(t, server.root(t["name"], fault="error_event", cut=0)), tee(meter, events))
    cut, early, event = events.of("llm_error")
    assert cut["output_tokens"] == 2 and cut["input_tokens"] > 100 and cut["cost_usd"] > 0
    assert early["output_tokens"] == 0 and early["input_tokens"] > 100 and early["cost_usd"] > 0
    assert event["status"] is None and event["input_tokens"] > 100 and event["input_estimated"]
    assert meter.failed == 3 and meter.input_tokens > 300
