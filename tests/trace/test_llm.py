"""llm_calls() and tool_calls() from synthetic LLM-layer events (emitted with runtime.emit)."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from trace_helpers import Worker

import agentlab
from agentlab.trace import Recorder, llm_calls, tool_calls
from agentlab.trace._llm import LLM_COLUMNS, TOOL_COLUMNS


async def _llm_run() -> agentlab.trace.Run:
    async with agentlab.Runtime(clock=agentlab.VirtualClock()) as rt:
        rec = Recorder(rt)
        writer = rt.start(Worker, name="writer")
        critic = rt.start(Worker, name="critic")
        common = {"provider": "openai", "model": "gpt-4o-mini"}
        # t=0: writer's first attempt is rate limited after 0.5 s, retried 1 s later
        rt.emit("llm_request", writer, request_id="llm-1", attempt=1, messages=2, tools=0,
                input_tokens_estimate=100, **common)
        await rt.sleep(0.5)
        rt.emit("llm_error", writer, request_id="llm-1", attempt=1, error_type="rate_limit",
                message="slow down", status=429, retry_after=1.0, partial=False, retryable=True,
                input_tokens=100, output_tokens=0, input_estimated=True, output_estimated=False,
                usage_reported=False, cost_usd=0.0, latency=0.5, ttft=None, **common)
        rt.emit("llm_retry", writer, request_id="llm-1", attempt=2, error_type="rate_limit",
                delay=1.0, retry_after=1.0, **common)
        # the critic's call has no request event (recording started late): response only
        await rt.sleep(0.5)
        rt.emit("llm_response", critic, request_id="llm-3", attempt=1, provider="scripted",
                model="scripted", stop_reason="end_turn", input_tokens=10, output_tokens=40,
                input_estimated=True, output_estimated=True, usage_reported=False,
                cost_usd=None, latency=1.0, ttft=0.2)
        await rt.sleep(0.5)  # t=1.5: the retry
        rt.emit("llm_request", writer, request_id="llm-2", attempt=2, messages=2, tools=0,
                input_tokens_estimate=100, **common)
        await rt.sleep(0.3)
        rt.emit("llm_first_token", writer, request_id="llm-2", attempt=2, ttft=0.3, **common)
        await rt.sleep(0.2)  # t=2.0: the critic asks again and never hears back
        rt.emit("llm_request", critic, request_id="llm-4", attempt=1, provider="scripted",
                model="scripted", messages=1, tools=0, input_tokens_estimate=7)
        await rt.sleep(1.8)  # t=3.8
        rt.emit("llm_response", writer, request_id="llm-2", attempt=2, stop_reason="end_turn",
                input_tokens=100, output_tokens=200, input_estimated=False,
                output_estimated=False, usage_reported=True, cost_usd=0.002, latency=2.3,
                ttft=0.3, provider_request_id="req_abc", **common)
        # tools
        await rt.sleep(0.2)  # t=4.0
        rt.emit("tool_start", writer, call_id="t1", name="search", arguments='{"q": "x"}')
        await rt.sleep(0.5)
        rt.emit("tool_result", writer, call_id="t1", name="search", ok=True)
        await rt.sleep(0.5)  # t=5.0
        rt.emit("tool_start", critic, call_id="t2", name="calc")
        await rt.sleep(0.1)
        rt.emit("tool_result", critic, call_id="t2", name="calc", error="division by zero",
                error_type="ZeroDivisionError")
        rt.emit("tool_start", critic, call_id="t3", name="calc")
        return rec.stop()


async def test_one_row_per_attempt_with_outcomes() -> None:
    run = await _llm_run()
    c = run.llm_calls()
    assert list(c.columns) == list(LLM_COLUMNS)
    assert list(c["request_id"]) == ["llm-1", "llm-3", "llm-2", "llm-4"]
    assert list(c["agent"].astype(str)) == ["writer", "critic", "writer", "critic"]
    assert list(c["outcome"].astype(str)) == ["error", "ok", "ok", "pending"]
    assert list(c["attempt"]) == [1, 1, 2, 1]
    assert list(c["retries"]) == [0, 0, 1, 0]
    assert list(c["final"]) == [False, True, True, True]
    assert list(c["start"]) == [0.0, 0.0, 1.5, 2.0]
    assert c["end"].tolist()[:3] == [0.5, 1.0, 3.8] and math.isnan(c["end"].iloc[3])
    assert c["latency"].tolist()[:3] == [0.5, 1.0, 2.3]
    assert math.isnan(c["ttft"].iloc[0]) and c["ttft"].tolist()[1:3] == [0.2, 0.3]
    assert list(c["output_tokens"].iloc[:3]) == [0, 40, 200]
    assert c["input_tokens"].tolist() == [100, 10, 100, 7]  # the pending one: the estimate
    assert c["usage_reported"].tolist()[:3] == [False, False, True]
    assert c["output_estimated"].tolist()[:3] == [False, True, False]
    assert c["cost"].iloc[0] == 0.0 and math.isnan(c["cost"].iloc[1]) and c["cost"].iloc[2] == 0.002
    assert list(c["error_type"].astype(object).fillna("")) == ["rate_limit", "", "", ""]
    # tokens after the first, over first token to end: 39 / 0.8 and 199 / 2.0
    assert c["tokens_per_s"].tolist()[1:3] == pytest.approx([48.75, 99.5])
    assert list(c["model"].astype(str)) == ["gpt-4o-mini", "scripted", "gpt-4o-mini", "scripted"]
    assert str(c["usage_reported"].dtype) == "boolean" and str(c["attempt"].dtype) == "Int64"


async def test_usage_per_agent() -> None:
    run = await _llm_run()
    u = run.llm_usage()
    w = u.loc["writer"]
    assert (w["requests"], w["attempts"], w["errors"], w["retries"]) == (1, 2, 1, 1)
    assert w["output_tokens"] == 200 and w["input_tokens"] == 200
    assert w["tokens_per_s"] == pytest.approx(99.5) and w["cost"] == 0.002 and w["reported_share"] == 0.5
    k = u.loc["critic"]
    assert (k["requests"], k["attempts"]) == (2, 2) and pd.isna(k["cost"])
    by_model = run.llm_usage(by="model")
    assert set(by_model.index) == {"gpt-4o-mini", "scripted"}
    s = run.summary()
    assert s["llm_attempts"] == 4 and s["output_tokens"] == 240 and s["llm_errors"] == 1


async def test_tool_calls() -> None:
    run = await _llm_run()
    t = run.tool_calls()
    assert list(t.columns) == list(TOOL_COLUMNS)
    assert list(t["call_id"]) == ["t1", "t2", "t3"]
    assert list(t["tool"].astype(str)) == ["search", "calc", "calc"]
    assert list(t["outcome"].astype(str)) == ["ok", "error", "pending"]
    assert t["duration"].tolist()[:2] == pytest.approx([0.5, 0.1]) and math.isnan(t["duration"].iloc[2])
    assert t["error_type"].iloc[1] == "ZeroDivisionError" and pd.isna(t["error_type"].iloc[0])
    assert list(t["agent"].astype(str)) == ["writer", "critic", "critic"]


def test_empty_tables_keep_their_columns() -> None:
    empty = Recorder().events()
    assert list(llm_calls(empty).columns) == list(LLM_COLUMNS)
    assert list(tool_calls(empty).columns) == list(TOOL_COLUMNS)
    assert Recorder().llm_usage().empty
