"""Tools over real provider wire formats (loopback): the schema each provider is sent,
compared with recorded requests, and what goes back for each of several calls in one turn."""

from __future__ import annotations

import json

from agents_helpers import of

from agentlab import Runtime, VirtualClock
from agentlab.agents import LLMAgent, agent_ask
from agentlab.llm import Anthropic, OpenAIChat


def get_capital(country: str) -> str:  # no docstring: the recording's description is ""
    return {"UK": "London"}[country]


def fixed_version() -> str:
    """Return a fixed test version string"""
    return "1.2.3"


async def test_the_tool_schemas_sent_are_the_recorded_shapes(server, transcripts):
    cases = [
        ("openai_chat_tool_call_include_usage", "openai_chat_text_basic", get_capital,
         lambda root: OpenAIChat("gpt-4o-mini", api_key="k", base_url=root + "/v1")),
        ("anthropic_tool_use_empty_input", "anthropic_text_basic", fixed_version,
         lambda root: Anthropic("claude-3-5-haiku-latest", api_key="k", base_url=root)),
    ]
    for name, then, fn, model in cases:
        recorded = transcripts[name]
        root = server.root(name, body=[recorded["response"]["body"],
                                       transcripts[then]["response"]["body"]])
        async with model(root) as llm, Runtime(clock=VirtualClock()) as rt:
            pid = rt.start(LLMAgent, model=llm, tools=[fn])
            await agent_ask(rt, pid, "go")
            (result,) = [e.data for e in of(rt, "tool_result")]
        (call,) = recorded["expected"]["tool_calls"]
        assert (result["call_id"], result["error"]) == (call["id"], None)
        first, second = server.requests(root)
        (sent,) = first["body"]["tools"]
        (want,) = recorded["request"]["body"]["tools"]
        if "function" in want:  # recorded in OpenAI's strict mode, which agentlab does not ask for
            want = json.loads(json.dumps(want))
            want["function"].pop("strict")
            want["function"]["parameters"].pop("additionalProperties")
        assert sent == want, name
        answered = json.dumps(second["body"]["messages"])
        assert call["id"] in answered and result["result"] in answered


def _chunk(delta, finish=None):
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    body = {"id": "c", "object": "chat.completion.chunk", "model": "m", "choices": [choice]}
    return f"data: {json.dumps(body)}\n\n"


def _calls(*calls: tuple[str, str, str]) -> str:
    out = _chunk({"role": "assistant", "content": None})
    for i, (cid, name, args) in enumerate(calls):
        fn = {"name": name, "arguments": args}
        out += _chunk({"tool_calls": [{"index": i, "id": cid, "type": "function", "function": fn}]})
    return out + _chunk({}, "tool_calls") + "data: [DONE]\n\n"


async def test_each_of_several_calls_in_one_turn_gets_its_own_result(server):
    def add(a: int, b: int = 1) -> int:
        """Add two integers."""
        return a + b

    answer = _chunk({"role": "assistant", "content": "done"}) + _chunk({}, "stop") + "data: [DONE]\n\n"
    root = server.root(body=[_calls(
        ("c1", "add", '{"a": 2, "b": "3"}'),  # a string for an int: converted
        ("c2", "sub", '{"a": 1}'),  # no such tool
        ("c3", "add", '{"a": 1'),  # cut JSON
        ("c4", "add", '{"a": "two"}'),  # the wrong type
        ("c5", "add", '{"b": 1}'),  # a missing argument
        ("c6", "add", '{"a": 1, "c": 2}'),  # an extra one
    ), answer])
    async with OpenAIChat("m", api_key="k", base_url=root + "/v1") as llm, \
            Runtime(clock=VirtualClock()) as rt:
        pid = rt.start(LLMAgent, model=llm, tools=[add],
                       tool_errors="crash")  # the model's mistakes never crash it
        assert await agent_ask(rt, pid, "go") == "done"
    sent = [m for m in server.requests(root)[1]["body"]["messages"] if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in sent] == ["c1", "c2", "c3", "c4", "c5", "c6"]
    texts = [m["content"] for m in sent]
    assert texts[0] == "5"
    assert texts[1] == "Error: there is no tool named 'sub' (tools: add)"
    assert texts[2].startswith("Error: arguments for 'add': arguments are not valid JSON")
    assert texts[3].startswith("Error: arguments for 'add' do not fit its schema: a: Input should be a valid integer")
    assert texts[4] == "Error: arguments for 'add' do not fit its schema: a: Field required"
    assert texts[5] == "Error: arguments for 'add' do not fit its schema: c: Extra inputs are not permitted"
