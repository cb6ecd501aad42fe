"""An API key given to an LLM agent never shows up in events, exports, reprs, logs or views.

The agent talks real HTTP to a loopback server that speaks OpenAI's wire
format; two of its routes echo the credentials back in error bodies, as a
careless proxy might. The key is then searched for everywhere the run left
text behind.
"""

from __future__ import annotations

import json
import logging
import traceback
from typing import Any

import pytest
from agents_helpers import loopback_server

from agentlab import CalleeExited, Crash, Runtime, Supervisor, VirtualClock
from agentlab.agents import LLMAgent, agent_ask
from agentlab.llm import OpenAIChat, RetryPolicy

KEY = "sk-PLANTED-agent-secret-5c1e9b7a3d24"


@pytest.fixture(scope="module")
def server():
    with loopback_server() as url:
        yield url


def texts_of_events(events: list[Any]) -> list[str]:
    out = []
    for e in events:
        out.append(repr(e))
        out.append(json.dumps(e.as_dict(), default=repr))
        if isinstance(e.reason, Crash):
            out.append(e.reason.traceback)
            out.append(str(e.reason.exception))
            out.append(repr(e.reason.exception.__dict__))
    return out


async def test_the_key_never_leaks(server, caplog):
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    async with Runtime(clock=VirtualClock(), seed=1) as rt:
        models = {
            mode: OpenAIChat("gpt-4o-mini", api_key=KEY, base_url=f"{server}/{mode}/v1")
            for mode in ("ok", "echo401", "limited")
        }
        try:
            rt.start(Supervisor, [
                LLMAgent.child_spec(mode, name=mode, model=m, retry=RetryPolicy(max_retries=1),
                                    max_cost_usd=1.0)
                for mode, m in models.items()
            ], intensity=10, name="team")
            pids = {mode: rt.whereis(mode) for mode in models}
            texts += [repr(m) for m in models.values()] + [repr(p) for p in pids.values()]
            texts += [repr(LLMAgent.child_spec("x", model=models["ok"]))]

            answer = await agent_ask(rt, "ok", "hello")
            assert answer.startswith("Hello from the loopback server")
            texts.append(str(await rt.call("ok", "usage")))
            texts.append(repr(await rt.call("ok", "history")))
            texts.append(pids["ok"]._beh.describe_state())
            texts.append(repr(pids["ok"]._beh))

            for mode in ("echo401", "limited"):
                with pytest.raises(CalleeExited) as info:
                    await agent_ask(rt, mode, "hello")
                err = info.value
                texts += [str(err), repr(err.reason), "".join(traceback.format_exception(err))]
                assert isinstance(err.reason, Crash)
                assert err.reason.type == ("AuthError" if mode == "echo401" else "RateLimited")
            # the echoed body did reach the error, scrubbed
            auth_errors = [e for e in rt.events if e.kind == "llm_error" and e.name == "echo401"]
            assert "[redacted]" in auth_errors[0].data["message"]
            texts.append(_views(rt))
        finally:
            for m in models.values():
                await m.aclose()
        events = list(rt.events)
    texts += texts_of_events(events)
    texts += [r.getMessage() for r in caplog.records] + [caplog.text]
    texts += _trace_exports(events)

    leaks = [t for t in texts if KEY in t or KEY[8:] in t]
    assert not leaks, leaks[:3]
    assert any("llm_token" in t for t in texts)  # the scan really saw the run


def _trace_exports(events: list[Any]) -> list[str]:
    try:
        from agentlab import trace
    except ImportError:
        return []
    run = trace.Recorder.from_events(events).run()
    out = [run.table().to_pandas().to_csv()]
    for table in (run.llm_calls(), run.tool_calls(), run.processes(), run.restarts()):
        out.append(table.to_csv())
    return out


def _views(rt: Runtime) -> str:
    try:
        from agentlab.ui._stream import stream_view
        from agentlab.ui._timeline import timeline_view
        from agentlab.ui._tree import tree_view
    except ImportError:
        return ""
    events = list(rt.events)
    return json.dumps(
        [stream_view(events), tree_view(events), timeline_view(events)], default=repr
    )
