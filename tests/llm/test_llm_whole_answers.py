"""A 2xx answer that is not an event stream, and what it costs: a whole answer in JSON is
decoded as the stream it would have been, anything else is an error naming its content type,
charged the usage it reports (nothing when it reports none)."""

from __future__ import annotations

import asyncio
import json

import pytest
from llm_helpers import Events, check_response, make_model

from agentlab.llm import (
    Anthropic,
    BadRequest,
    Gemini,
    LLMError,
    OpenAIChat,
    Overloaded,
    UsageMeter,
    complete,
    cost_usd,
    tee,
)

JSON = {"content-type": "application/json"}
PROMPT = "a prompt of some length " * 20  # ~120 tokens: an estimate would show

# whole (non-streaming) answers, shaped as the providers document them
OPENAI_COMPLETION = {
    "id": "chatcmpl-9x1", "object": "chat.completion", "created": 1711368332,
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [{
        "index": 0, "logprobs": None, "finish_reason": "tool_calls",
        "message": {"role": "assistant", "content": "Let me look.", "refusal": None, "tool_calls": [
            {"id": "call_7", "type": "function",
             "function": {"name": "get_capital", "arguments": "{\"country\": \"UK\"}"}}]},
    }],
    "usage": {"prompt_tokens": 31, "completion_tokens": 17, "total_tokens": 48,
              "prompt_tokens_details": {"cached_tokens": 0}},
    "system_fingerprint": "fp_0ba0d124f1",
}
ANTHROPIC_MESSAGE = {
    "id": "msg_01", "type": "message", "role": "assistant", "model": "claude-haiku-4-5",
    "content": [{"type": "text", "text": "Let me look."},
                {"type": "tool_use", "id": "toolu_01", "name": "get_capital", "input": {"country": "UK"}}],
    "stop_reason": "tool_use", "stop_sequence": None,
    "usage": {"input_tokens": 25, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 6,
              "output_tokens": 17},
}
GEMINI_RESPONSE = {
    "candidates": [{"content": {"role": "model", "parts": [
        {"text": "Let me look."}, {"functionCall": {"name": "get_capital", "args": {"country": "UK"}}}]},
        "finishReason": "STOP", "index": 0}],
    "usageMetadata": {"promptTokenCount": 31, "candidatesTokenCount": 17, "totalTokenCount": 48},
    "modelVersion": "gemini-2.0-flash",
}
WHOLE = {
    "openai": (OpenAIChat, "gpt-4o-mini", "/v1", OPENAI_COMPLETION, "tool_calls", "call_7"),
    "anthropic": (Anthropic, "claude-haiku-4-5", "", ANTHROPIC_MESSAGE, "tool_use", "toolu_01"),
    "gemini": (Gemini, "gemini-2.0-flash", "", GEMINI_RESPONSE, "STOP", "call_1"),
}


def one_call(model, emit):
    """One call of ``model`` (closed after): the response, or the error it raised."""

    async def main():
        try:
            return await complete(model, PROMPT, emit=emit)
        except LLMError as exc:
            return exc
        finally:
            await model.aclose()

    return asyncio.run(main())


@pytest.mark.parametrize("provider", sorted(WHOLE))
def test_a_whole_json_answer_is_decoded_and_charged_as_reported(server, provider):
    cls, name, suffix, answer, stop, call_id = WHOLE[provider]
    root = server.root(body=json.dumps(answer), headers=JSON)
    meter, events = UsageMeter(), Events()
    response = one_call(cls(name, api_key="k", base_url=root + suffix), tee(meter, events))
    assert not isinstance(response, Exception), response
    assert response.text == "Let me look."
    assert [(c.id, c.name, c.arguments, c.error) for c in response.tool_calls] == [
        (call_id, "get_capital", {"country": "UK"}, None)]
    assert response.stop_reason == stop
    (done,) = events.of("llm_response")
    assert (done["input_tokens"], done["output_tokens"]) == (31, 17)  # Anthropic's: 25 + 6 cached
    assert done["usage_reported"] and not done["input_estimated"] and not done["output_estimated"]
    assert done["cost_usd"] == cost_usd(name, 31, 17)
    assert (meter.calls, meter.failed, meter.input_tokens) == (1, 0, 31)


def test_gemini_without_alt_sse_answers_a_json_array_of_its_chunks(server, transcripts):
    # what streamGenerateContent sends without ?alt=sse (a proxy that drops it): the
    # recorded stream's chunks, as one JSON array
    t = transcripts["gemini_text_sse"]
    chunks = [json.loads(e.removeprefix("data: ")) for e in t["response"]["body"].split("\r\n\r\n") if e]
    root = server.root(t["name"], body=json.dumps(chunks), headers=JSON)
    events = Events()
    response = one_call(make_model(t, root), events)
    check_response(t, response)
    assert events.of("llm_response")[0]["usage_reported"]


def test_a_plain_json_answer_without_usage_is_estimated(server):
    answer = {**OPENAI_COMPLETION, "usage": None}
    answer["choices"] = [{"index": 0, "finish_reason": "stop",
                          "message": {"role": "assistant", "content": "Twelve chars"}}]
    events = Events()
    response = one_call(OpenAIChat("gpt-4o-mini", api_key="k",
                                   base_url=server.root(body=json.dumps(answer), headers=JSON) + "/v1"),
                        events)
    assert response.text == "Twelve chars"
    (done,) = events.of("llm_response")
    assert done["input_estimated"] and done["output_estimated"] and done["input_tokens"] > 100
    assert done["output_tokens"] == 3 and done["cost_usd"] > 0


NOT_ANSWERS = {
    # an OpenAI-compatible server's reply of another API, with its counts
    "openai": (OpenAIChat, "gpt-4o-mini", "/v1",
               {"object": "list", "data": [], "usage": {"prompt_tokens": 40, "completion_tokens": 0}}),
    "anthropic": (Anthropic, "claude-haiku-4-5", "",
                  {"type": "message_batch", "usage": {"input_tokens": 40, "output_tokens": 0}}),
    "gemini": (Gemini, "gemini-2.0-flash", "",
               {"usageMetadata": {"promptTokenCount": 40, "candidatesTokenCount": 0}}),
}


@pytest.mark.parametrize("provider", sorted(NOT_ANSWERS))
def test_json_that_is_no_answer_is_an_error_charged_the_usage_it_reports(server, provider):
    cls, name, suffix, body = NOT_ANSWERS[provider]
    root = server.root(body=json.dumps(body), headers=JSON)
    meter, events = UsageMeter(), Events()
    error = one_call(cls(name, api_key="k", base_url=root + suffix), tee(meter, events))
    assert isinstance(error, BadRequest) and not error.retryable
    assert "expected an event stream but got content-type 'application/json' (HTTP 200)" in str(error)
    assert f"not a whole {cls.provider} answer" in str(error) and "check base_url" in str(error)
    (err,) = events.of("llm_error")
    assert (err["input_tokens"], err["output_tokens"]) == (40, 0)
    assert err["usage_reported"] and not err["input_estimated"]
    assert err["cost_usd"] == cost_usd(name, 40, 0) > 0


@pytest.mark.parametrize(
    ("body", "ctype"),
    [("<html><body>Sign in to the Wi-Fi</body></html>", "text/html; charset=utf-8"),
     ('{"status": "ok"}', "application/json"),
     ("", None)],
)
@pytest.mark.parametrize("provider", sorted(WHOLE))
def test_a_body_that_is_no_answer_and_reports_no_usage_costs_nothing(server, provider, body, ctype):
    cls, name, suffix, *_ = WHOLE[provider]
    root = server.root(body=body, headers={"content-type": ctype} if ctype else {})
    meter, events = UsageMeter(), Events()
    error = one_call(cls(name, api_key="k", base_url=root + suffix), tee(meter, events))
    assert isinstance(error, BadRequest)
    shown = repr(ctype) if ctype else "none"
    assert f"expected an event stream but got content-type {shown} (HTTP 200)" in str(error)
    (err,) = events.of("llm_error")
    assert (err["input_tokens"], err["output_tokens"], err["cost_usd"]) == (0, 0, 0.0)
    assert not err["input_estimated"] and not err["usage_reported"]
    assert (meter.calls, meter.failed, meter.input_tokens) == (1, 1, 0)


ERRORS = {
    "openai": (OpenAIChat, "gpt-4o-mini", "/v1",
               {"error": {"message": "The engine is currently overloaded.", "type": "overloaded"}}),
    "anthropic": (Anthropic, "claude-haiku-4-5", "",
                  {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
    "gemini": (Gemini, "gemini-2.0-flash", "",
               [{"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}]),
}


@pytest.mark.parametrize("provider", sorted(ERRORS))
def test_an_error_object_in_a_2xx_json_body_is_the_typed_error_and_costs_nothing(server, provider):
    cls, name, suffix, body = ERRORS[provider]
    root = server.root(body=json.dumps(body), headers=JSON)
    meter, events = UsageMeter(), Events()
    error = one_call(cls(name, api_key="k", base_url=root + suffix), tee(meter, events))
    assert isinstance(error, Overloaded) and error.retryable
    (err,) = events.of("llm_error")
    assert (err["input_tokens"], err["output_tokens"], err["cost_usd"]) == (0, 0, 0.0)
