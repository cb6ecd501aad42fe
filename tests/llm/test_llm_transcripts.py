"""Every provider decodes every recorded transcript of its kind, over real loopback HTTP."""

from __future__ import annotations

import asyncio
import json

import pytest
from llm_helpers import TRANSCRIPTS, Events, check_response, make_model

from agentlab.llm import Gemini, RateLimited, Tool, complete

OK = sorted(n for n, t in TRANSCRIPTS.items() if t["response"]["status"] == 200)
ERRORS = sorted(n for n, t in TRANSCRIPTS.items() if t["response"]["status"] != 200)
MODES = [{"mode": "whole"}, *({"mode": "chunks", "seed": s} for s in range(3))]


def test_transcripts_cover_every_provider():
    kinds = {t["provider"] for t in TRANSCRIPTS.values()}
    assert not TRANSCRIPTS or kinds == {"openai.chat.completions", "anthropic.messages", "google.gemini"}


@pytest.mark.parametrize("mode", MODES, ids=lambda m: "-".join(str(v) for v in m.values()))
@pytest.mark.parametrize("name", OK)
def test_decodes_transcript(server, transcripts, name, mode):
    t = transcripts[name]
    root = server.root(name, **mode)
    events = Events()

    async def main():
        async with make_model(t, root, emit=events) as model:
            return await complete(model, "hi")

    check_response(t, asyncio.run(main()))
    (req,) = server.requests(root)
    assert req["path"] == t["request"]["path"].split("?")[0]
    if "?" in t["request"]["path"]:
        assert req["query"] == t["request"]["path"].split("?", 1)[1]
    kinds = events.kinds()
    assert kinds[0] == "llm_request" and kinds[-1] == "llm_response"
    (done,) = events.of("llm_response")
    assert done["usage_reported"] and done["ttft"] is not None


@pytest.mark.parametrize("name", ERRORS)
def test_error_transcript_is_typed(server, transcripts, name):
    t = transcripts[name]
    exp = t["expected"]["error"]
    root = server.root(name, mode="whole")

    async def main():
        async with make_model(t, root) as model:
            return await complete(model, "hi")

    with pytest.raises(RateLimited) as info:
        asyncio.run(main())
    err = info.value
    assert err.type == "rate_limit" and err.status == exp["status"] == 429
    assert err.retry_after == t["expected"]["retry_after_seconds"]
    assert exp["message"] in str(err)
    assert err.retryable


def test_request_shape(server, transcripts):
    """Stream flags and auth headers per provider; the key never rides in the URL."""
    seen = {}
    for name in ("openai_chat_tool_call_include_usage", "anthropic_text_basic", "gemini_text_sse"):
        t = transcripts[name]
        root = server.root(name)

        async def main(t=t, root=root):
            async with make_model(t, root, api_key="sk-shape-1234") as model:
                await complete(model, [{"role": "system", "content": "Be brief."}, "hi"], temperature=0)

        asyncio.run(main())
        (req,) = server.requests(root)
        assert "sk-shape-1234" not in req["path"] + req["query"]
        seen[t["provider"]] = req
    o = seen["openai.chat.completions"]
    assert o["headers"]["authorization"] == "Bearer sk-shape-1234"
    assert o["body"]["stream"] is True and o["body"]["stream_options"] == {"include_usage": True}
    assert o["body"]["messages"][0] == {"role": "system", "content": "Be brief."}
    assert o["body"]["temperature"] == 0
    a = seen["anthropic.messages"]
    assert a["headers"]["x-api-key"] == "sk-shape-1234"
    assert a["headers"]["anthropic-version"] == "2023-06-01"
    assert a["body"]["system"] == "Be brief." and a["body"]["stream"] is True
    assert a["body"]["messages"] == [{"role": "user", "content": "hi"}]
    g = seen["google.gemini"]
    assert g["headers"]["x-goog-api-key"] == "sk-shape-1234"
    assert g["query"] == "alt=sse"
    assert g["body"]["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert g["body"]["generationConfig"] == {"temperature": 0}


# what pydantic writes for f(p: P, d: dict[str, int], o: int | None = None), P a model
# (an agent's tool schema): JSON Schema that Gemini's OpenAPI-subset `parameters` refuses
# with a 400 "Invalid JSON payload received. Unknown name ..."
JSON_SCHEMA_TOOL = Tool("f", "F.", {
    "$defs": {"P": {"properties": {"x": {"title": "X", "type": "integer"}}, "required": ["x"],
                    "title": "P", "type": "object"}},
    "properties": {"p": {"$ref": "#/$defs/P"},
                   "d": {"additionalProperties": {"type": "integer"}, "type": "object"},
                   "o": {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": None}},
    "required": ["p", "d"], "type": "object",
})


def test_gemini_tools_go_out_as_parameters_json_schema(server):
    from wire_server import gemini_chunk

    root = server.root(body=gemini_chunk({"functionCall": {"name": "f", "args": {"p": {"x": 1}, "d": {}}}}))

    async def main():
        async with Gemini("gemini-2.0-flash", api_key="k", base_url=root) as model:
            return await complete(model, "call f", tools=[JSON_SCHEMA_TOOL, Tool("g", "G.")])

    response = asyncio.run(main())
    assert [(c.name, c.arguments) for c in response.tool_calls] == [("f", {"p": {"x": 1}, "d": {}})]
    (req,) = server.requests(root)
    (tools,) = req["body"]["tools"]
    assert tools == {"functionDeclarations": [
        {"name": "f", "description": "F.", "parametersJsonSchema": dict(JSON_SCHEMA_TOOL.parameters)},
        {"name": "g", "description": "G.", "parametersJsonSchema": {"type": "object", "properties": {}}},
    ]}


def test_one_pooled_connection_for_sequential_calls(server, transcripts):
    t = transcripts["anthropic_text_basic"]
    root = server.root(t["name"], mode="chunks", key="pool")

    async def main():
        async with make_model(t, root) as model:
            for _ in range(3):
                await complete(model, "hi")

    asyncio.run(main())
    ports = {r["client_port"] for r in server.requests(root)}
    assert len(server.requests(root)) == 3 and len(ports) == 1


def test_injected_client_is_shared_and_left_open(server, transcripts):
    import httpx

    t = transcripts["gemini_text_sse"]

    async def main():
        async with httpx.AsyncClient() as client:
            for _ in range(2):
                async with make_model(t, server.root(t["name"]), client=client) as model:
                    check_response(t, await complete(model, "hi"))
            assert not client.is_closed

    asyncio.run(main())


def test_a_gemini_call_sent_without_an_id_gets_one_from_the_model(server, transcripts):
    # Gemini's function calls carry no id: the model makes one at the call's (only) delta,
    # unique in the model across calls; an id the server does send is kept
    t = transcripts["gemini_text_sse"]
    parts = [{"functionCall": {"name": "add", "args": {"a": 2, "b": 3}}},
             {"functionCall": {"id": "sent-1", "name": "add", "args": {"a": 4, "b": 5}}},
             {"functionCall": {"name": "add", "args": {"a": 6, "b": 7}}}]
    chunk = {"candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP"}]}
    root = server.root(t["name"], body=f"data: {json.dumps(chunk)}\r\n\r\n", mode="chunks")
    events = Events()

    async def main():
        async with make_model(t, root, emit=events) as model:
            return [await complete(model, "add them") for _ in range(2)]

    first, second = asyncio.run(main())
    ids = [c.id for c in first.tool_calls + second.tool_calls]
    assert ids == ["call_1", "sent-1", "call_2", "call_3", "sent-1", "call_4"]
    assert [c.arguments for c in first.tool_calls] == [{"a": 2, "b": 3}, {"a": 4, "b": 5}, {"a": 6, "b": 7}]
    assert [f["id"] for f in events.of("llm_tool_call")] == ids
