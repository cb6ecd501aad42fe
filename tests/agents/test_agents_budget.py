"""Budgets: counted per attempt (failed ones too), enforced mid-stream, and what supervisors do."""

from __future__ import annotations

import asyncio
import math
import re

import pytest
from agents_helpers import fast, of

from agentlab import CalleeExited, Runtime, Supervisor, VirtualClock
from agentlab.agents import (
    Budget,
    BudgetExceeded,
    LLMAgent,
    agent_ask,
    budget_info,
    is_budget_exceeded,
)
from agentlab.agents._budget import budget_message
from agentlab.llm import Finish, RateLimited, RetryPolicy, StreamInterrupted, TextDelta, ToolCall

LONG = "word " * 200


async def test_a_turn_over_the_token_budget_fails_and_the_agent_exits():
    async with Runtime(clock=VirtualClock()) as rt:
        pid = rt.start(LLMAgent, model=fast(rt, ["short answer", "another answer"]), max_tokens=20,
                       name="thrifty")
        assert await agent_ask(rt, pid, "one") == "short answer"
        with pytest.raises(BudgetExceeded) as info:
            await agent_ask(rt, pid, "two")
        err = info.value
        assert err.info["limit"] == "tokens" and err.info["tokens"] > 20
        assert "spent its token budget" in str(err)
        assert not pid.alive
        assert pid.exit_reason == ("shutdown", ("budget_exceeded", err.info))
        assert is_budget_exceeded(pid.exit_reason) and budget_info(pid.exit_reason) == err.info
        event = of(rt, "budget_exceeded", "thrifty")[0]
        assert event.data == err.info


async def test_the_message_gives_the_token_limit_alone_when_there_is_no_cost_limit():
    async with Runtime(clock=VirtualClock()) as rt:
        pid = rt.start(LLMAgent, model=[LONG], max_tokens=20)
        with pytest.raises(BudgetExceeded) as info:
            await agent_ask(rt, pid, "talk")
    message, spent = str(info.value), info.value.info
    assert f"spent its token budget: {spent['tokens']} tokens of 20, over 1 call(s)" in message
    assert "raise max_tokens" in message
    assert "None" not in message and "$" not in message  # was "$0.000000 of None"


@pytest.mark.parametrize("shared", [False, True])
async def test_the_message_gives_the_cost_limit_alone_in_dollars(shared):
    async with Runtime(clock=VirtualClock()) as rt:
        model = fast(rt, ["word " * 2000], model="gpt-4o", prices={"gpt-4o": (2.5, 10.0)})
        # a token limit too, never reached: the message names only the one that was passed
        limit = {"budget": Budget(max_tokens=10**6, max_cost_usd=0.001)} if shared else {
            "max_tokens": 10**6, "max_cost_usd": 0.001}
        pid = rt.start(LLMAgent, model=model, **limit)
        with pytest.raises(BudgetExceeded) as info:
            await agent_ask(rt, pid, "talk")
    message, spent = str(info.value), info.value.info
    assert spent["limit"] == "cost" and spent["cost_usd"] > 0.001
    assert re.search(r"spent its cost budget( \(shared\))?: \$0\.001\d* of \$0\.001, over 1 call", message)
    assert ("(shared)" in message) is shared
    assert ("raise the shared Budget's max_cost_usd" if shared else "raise max_cost_usd") in message
    assert "tokens" not in message and "None" not in message


def test_the_message_figures():
    assert budget_message("agent 'a'", Budget(max_cost_usd=0.05, cost_usd=0.0561, calls=3).info()) == (
        "agent 'a' spent its cost budget: $0.0561 of $0.05, over 3 call(s). "
        "It stops here; raise max_cost_usd or give it less to do."
    )
    # a limit of $0 is passed by a fraction of a cent: the figure shows it
    assert "$0.00000025 of $0.00," in budget_message("x", Budget(max_cost_usd=0.0, cost_usd=2.5e-7).info())
    assert "$1.50 of $1.00," in budget_message("x", Budget(max_cost_usd=1, cost_usd=1.5).info())
    # the limit named is the one given (info's), though the other is passed too
    both = Budget(max_tokens=10, max_cost_usd=0.01, tokens=11, cost_usd=0.02, calls=1)
    assert "spent its token budget: 11 tokens of 10," in budget_message("x", both.info("tokens"))
    assert "spent its cost budget: $0.02 of $0.01," in budget_message("x", both.info("cost"))


def one_delta(rt: Runtime) -> int:
    """The tokens the last streamed delta is charged: how far past its limit a cut may land."""
    return math.ceil(len(of(rt, "llm_token")[-1].data["text"]) / 4)


async def test_the_stream_is_cut_when_the_budget_runs_out_mid_answer():
    async with Runtime(clock=VirtualClock()) as rt:
        pid = rt.start(LLMAgent, model=fast(rt, [LONG]), max_tokens=60)
        with pytest.raises(BudgetExceeded) as info:
            await agent_ask(rt, pid, "talk")
        assert len(of(rt, "llm_token")) < 200
        response = of(rt, "llm_response")[0].data
        assert response["stop_reason"] == "cancelled"
        # cut at the delta that passed the limit: past it by that one delta, not a quarter
        charged = response["input_tokens"] + response["output_tokens"]
        assert info.value.info["tokens"] == charged
        assert 60 < charged <= 60 + one_delta(rt)


async def test_a_streamed_tool_call_counts_toward_the_budget_by_its_size():
    async with Runtime(clock=VirtualClock()) as rt:
        call = ToolCall("c1", "write", {"text": "word " * 400})
        pid = rt.start(LLMAgent, model=fast(rt, [call]), max_tokens=100)
        with pytest.raises(BudgetExceeded):
            await agent_ask(rt, pid, "write it")
        response = of(rt, "llm_response")[0].data
        last = of(rt, "llm_tool_call")[-1].data  # the delta that passed the limit
        assert 100 < response["input_tokens"] + response["output_tokens"] <= (
            100 + math.ceil((len(last["arguments_delta"]) + len(last["name"] or "")) / 4)
        )


async def test_failed_attempts_count_and_no_retry_starts_over_budget():
    async with Runtime(clock=VirtualClock()) as rt:
        cut = [StreamInterrupted("the stream broke", provider="scripted")] * 10
        pid = rt.start(LLMAgent, system="x" * 200, model=fast(rt, cut),
                       retry=RetryPolicy(max_retries=9), max_tokens=120)
        with pytest.raises(BudgetExceeded) as info:
            await agent_ask(rt, pid, "hi")
        # each failed attempt was charged its prompt (~50 tokens): the third would pass 120
        assert len(of(rt, "llm_error")) == 3
        assert len(of(rt, "llm_request")) == 3
        assert info.value.info["calls"] == 3


async def test_refused_attempts_count_as_calls_and_cost_nothing():
    async with Runtime(clock=VirtualClock()) as rt:
        script = [RateLimited("scripted", retry_after=1.0)] * 9 + ["fine"]
        budget = Budget(max_tokens=120)
        pid = rt.start(LLMAgent, system="x" * 200, model=fast(rt, script, prices={"scripted": (1, 1)}),
                       retry=RetryPolicy(max_retries=9), budget=budget)
        # nine 429s of a ~50-token prompt would pass 120 if each were charged its prompt
        assert await agent_ask(rt, pid, "hi") == "fine"
        answer = of(rt, "llm_response")[0].data
        assert budget.calls == 10
        assert budget.tokens == answer["input_tokens"] + answer["output_tokens"] < 120
        assert budget.cost_usd == pytest.approx(answer["cost_usd"])


async def test_cost_budget():
    async with Runtime(clock=VirtualClock()) as rt:
        model = fast(rt, ["an answer of a few words"] * 5, prices={"scripted": (1000.0, 1000.0)})
        pid = rt.start(LLMAgent, model=model, max_cost_usd=0.05)
        with pytest.raises(BudgetExceeded) as info:
            for _ in range(5):
                await agent_ask(rt, pid, "q")
        assert info.value.info["limit"] == "cost" and info.value.info["cost_usd"] > 0.05


@pytest.mark.parametrize("shared", [False, True])
async def test_the_stream_is_cut_when_the_cost_budget_runs_out_mid_answer(shared):
    async with Runtime(clock=VirtualClock()) as rt:
        # $10 per million output tokens: the limit is worth about 100 of them
        model = fast(rt, ["word " * 2000], model="gpt-4o", prices={"gpt-4o": (2.5, 10.0)})
        limit = {"budget": Budget(max_cost_usd=0.001)} if shared else {"max_cost_usd": 0.001}
        pid = rt.start(LLMAgent, model=model, **limit)
        with pytest.raises(BudgetExceeded) as info:
            await agent_ask(rt, pid, "talk")
        assert info.value.info["limit"] == "cost"
        assert 70 <= len(of(rt, "llm_token")) <= 85  # ~98 tokens at 1.25 tokens per "word "
        response = of(rt, "llm_response")[0].data
        assert response["stop_reason"] == "cancelled"
        # past the limit by the one delta that passed it (not by a quarter, nor 20 times it)
        assert 0.001 < response["cost_usd"] <= 0.001 + one_delta(rt) * 10.0 / 1e6
        assert info.value.info["cost_usd"] == pytest.approx(response["cost_usd"])
        assert not pid.alive


async def test_an_unpriced_model_is_not_cut_for_cost():
    async with Runtime(clock=VirtualClock()) as rt:
        model = fast(rt, [LONG], model="my-local-model", prices={})
        pid = rt.start(LLMAgent, model=model, max_cost_usd=0.0)
        assert await agent_ask(rt, pid, "talk") == LONG
        assert of(rt, "llm_response")[0].data["cost_usd"] is None


@pytest.mark.parametrize(
    ("restart", "budget_exit", "restarted"),
    [
        ("transient", "shutdown", False),
        ("transient", "crash", True),
        ("permanent", "shutdown", True),
        ("temporary", "crash", False),
    ],
)
async def test_what_supervisors_do_with_a_spent_budget(restart, budget_exit, restarted):
    async with Runtime(clock=VirtualClock()) as rt:
        model = fast(rt, [LONG] * 3)
        rt.start(Supervisor, [LLMAgent.child_spec("w", name="w", restart=restart, model=model,
                                                  max_tokens=30, budget_exit=budget_exit)],
                 intensity=5)
        first = rt.whereis("w")
        with pytest.raises(BudgetExceeded):
            await agent_ask(rt, "w", "go")
        await rt.sleep(0.1)
        again = rt.whereis("w")
        assert (again is not None and again is not first) is restarted
        reason = first.exit_reason
        assert reason[0] == ("shutdown" if budget_exit == "shutdown" else "budget_exceeded")
        assert is_budget_exceeded(reason)


async def test_a_shared_budget_caps_a_team_across_restarts():
    async with Runtime(clock=VirtualClock()) as rt:
        team = Budget(max_tokens=100)
        rt.start(Supervisor, [
            LLMAgent.child_spec("a", name="a", model=fast(rt, [LONG] * 3), budget=team),
            LLMAgent.child_spec("b", name="b", model=fast(rt, ["tiny"] * 3), budget=team),
        ], intensity=5)
        with pytest.raises(BudgetExceeded):
            await agent_ask(rt, "a", "spend it all")
        assert team.exceeded == "tokens"
        # the sibling shares the spent budget: it refuses before calling the model
        requests = len(of(rt, "llm_request"))
        with pytest.raises(BudgetExceeded, match="shared"):
            await agent_ask(rt, "b", "anything")
        assert len(of(rt, "llm_request")) == requests
        # and the restarted "a" (permanent) starts with the same spent budget
        await rt.sleep(0.1)
        with pytest.raises(BudgetExceeded):
            await agent_ask(rt, "a", "again")
        assert (await rt.call(rt.whereis("b") or "a", "usage"))["budget"]["limit"] == "tokens"


@pytest.mark.parametrize("limit", ["tokens", "cost"])
async def test_agents_streaming_on_one_shared_budget_stop_together(clock, limit):
    # ten agents start at once on one budget, each answer alone worth ~5 times it: each
    # agent's stream goes into the budget as it grows, so all are cut soon after the limit
    # is passed (before: each saw only its own stream, and spent the limit on its own)
    async with Runtime(clock=clock, seed=3) as rt:
        budget = Budget(max_tokens=300) if limit == "tokens" else Budget(max_cost_usd=0.01)
        answer = " ".join(f"w{i}" for i in range(200))  # ~350 tokens of output
        pids = [
            rt.start(LLMAgent, name=f"a{i}", budget=budget, retry=None, model=fast(
                rt, [answer], prices={"scripted": (0.0, 50.0)}, jitter=0.5))  # $0.01: 200 tokens
            for i in range(10)
        ]
        results = await asyncio.gather(*(agent_ask(rt, p, "go") for p in pids), return_exceptions=True)
        assert all(isinstance(r, BudgetExceeded) for r in results), results
        ends = [e.data for e in rt.events if e.kind == "llm_response"]
        assert len(ends) == 10 and budget.calls == 10
        assert budget.tokens == sum(d["input_tokens"] + d["output_tokens"] for d in ends)
        assert budget.cost_usd == pytest.approx(sum(d["cost_usd"] for d in ends))
        # past the limit by at most one delta per agent (and, an agent cut at its first
        # delta, its prompt): here tokens and cost alike
        over = 0
        for pid in pids:
            deltas = [e.data["text"] for e in of(rt, "llm_token", pid.name)]
            prompt = of(rt, "llm_request", pid.name)[0].data["input_tokens_estimate"]
            over += math.ceil(len(deltas[-1]) / 4) + (prompt if len(deltas) == 1 else 0)
        if limit == "tokens":
            assert 300 < budget.tokens <= 300 + over
        else:
            assert 0.01 < budget.cost_usd <= 0.01 + over * 50.0 / 1e6
        assert all(not p.alive for p in pids)


def test_budget_accounting():
    b = Budget(max_tokens=10, max_cost_usd=1.0)
    b.charge(8, 0.5)
    assert b.exceeded is None and b.would_exceed(3) and not b.would_exceed(2)
    b.charge(1, 0.6)
    assert b.exceeded == "cost"
    assert b.info()["calls"] == 2


def test_a_stream_in_progress_counts_at_once_and_its_end_settles_it():
    b = Budget(max_tokens=100)
    b.start()  # a call from its start, under way
    assert (b.tokens, b.calls, b.in_flight) == (0, 1, 1)
    b.spend(60, 0.001)
    b.spend(50, 0.002)  # streaming: in the totals, for every holder to see
    assert (b.tokens, b.cost_usd, b.calls, b.exceeded) == (110, pytest.approx(0.003), 1, "tokens")
    assert (b.in_flight, b.in_flight_tokens, b.in_flight_cost_usd) == (1, 110, pytest.approx(0.003))
    b.settle(110, 0.003, 90, 0.0025)  # its end: the provider counted 20 fewer than the estimate
    assert (b.tokens, b.cost_usd, b.calls, b.exceeded) == (90, pytest.approx(0.0025), 1, None)
    assert (b.in_flight, b.in_flight_tokens, b.in_flight_cost_usd) == (0, 0, 0.0)


def test_two_streams_in_progress_settle_one_at_a_time():
    b = Budget()
    b.start()
    b.spend(40, 0.004)
    b.start()
    b.spend(30, 0.003)
    b.settle(40, 0.004, 45, 0.0045)  # the first ends: the second is still an estimate
    assert (b.tokens, b.calls, b.in_flight, b.in_flight_tokens) == (75, 2, 1, 30)
    assert b.in_flight_cost_usd == pytest.approx(0.003)
    assert b.tokens - b.in_flight_tokens == 45  # what the one ended attempt cost
    b.charge(5, None)  # an attempt added whole (an unpriced one): a call, not in flight
    assert (b.tokens, b.calls, b.in_flight) == (80, 3, 1)


def test_the_message_says_how_many_calls_are_still_under_way():
    ended = Budget(max_tokens=10, tokens=11, calls=2)
    assert "over 2 call(s). It stops" in budget_message("x", ended.info())
    running = Budget(max_tokens=10, tokens=11, calls=3, in_flight=2)
    assert "over 3 call(s) (2 still under way, counted so far). It stops" in budget_message(
        "x", running.info())


async def test_a_budget_read_mid_run_covers_the_same_attempts_in_every_figure(clock):
    # three agents on one budget (one refused once, then retried), the budget read at
    # every event of the run: calls, tokens and cost always cover the same attempts, and
    # the in-flight figures say which part is still streaming
    async with Runtime(clock=clock, seed=5) as rt:
        budget = Budget(max_tokens=10**6)
        prices = {"scripted": (1.0, 2.0)}
        scripts = [["word " * 40], [RateLimited("scripted", retry_after=0.01), "word " * 30],
                   ["word " * 20]]
        pids = [rt.start(LLMAgent, budget=budget, model=fast(rt, s, prices=prices,
                                                              tokens_per_second=400.0))
                for s in scripts]
        samples = []
        run = {"requests": 0, "ends": 0, "tokens": 0, "cost": 0.0}

        def read(event):
            if event.kind == "llm_request":
                run["requests"] += 1
            elif event.kind in ("llm_response", "llm_error"):
                run["ends"] += 1
                run["tokens"] += event.data["input_tokens"] + event.data["output_tokens"]
                run["cost"] += event.data["cost_usd"]
            samples.append((event.kind, dict(run), budget.calls, getattr(budget, "in_flight", None),
                            budget.tokens, getattr(budget, "in_flight_tokens", None),
                            budget.cost_usd, getattr(budget, "in_flight_cost_usd", None)))

        rt.subscribe(read)
        await asyncio.gather(*(agent_ask(rt, p, "go") for p in pids))
    assert run["requests"] == 4 and run["ends"] == 4
    mid_stream = 0
    for kind, seen, calls, in_flight, tokens, in_flight_tokens, cost, in_flight_cost in samples:
        where = (kind, seen)
        assert calls == seen["requests"], where  # every attempt started, ended or not
        assert in_flight == seen["requests"] - seen["ends"], where
        assert tokens - in_flight_tokens == seen["tokens"], where  # the ended ones, final
        assert cost - in_flight_cost == pytest.approx(seen["cost"]), where
        mid_stream += in_flight_tokens > 0
    assert mid_stream > 10  # read while streams were under way, not only between them
    assert (budget.calls, budget.in_flight, budget.in_flight_tokens) == (4, 0, 0)
    assert (budget.tokens, budget.cost_usd) == (run["tokens"], pytest.approx(run["cost"]))


async def test_an_agent_killed_mid_stream_leaves_nothing_in_flight():
    async with Runtime(clock=VirtualClock()) as rt:
        budget = Budget(max_tokens=10**6)
        pid = rt.start(LLMAgent, budget=budget, model=fast(rt, [LONG], tokens_per_second=100.0))
        asking = asyncio.ensure_future(agent_ask(rt, pid, "talk"))
        while not of(rt, "llm_token"):
            await rt.sleep(0.05)
        assert (budget.calls, budget.in_flight) == (1, 1) and budget.in_flight_tokens > 0
        rt.exit(pid, "kill")
        with pytest.raises(CalleeExited):
            await asking
        (end,) = of(rt, "llm_response")
        assert end.data["stop_reason"] == "cancelled"
        assert (budget.calls, budget.in_flight, budget.in_flight_tokens) == (1, 0, 0)
        assert budget.tokens == end.data["input_tokens"] + end.data["output_tokens"] > 0


class _Silent:
    """A custom model that announces its attempt but never reports its end."""

    provider, model = "custom", "silent"

    async def stream(self, messages, *, tools=None, emit=None, **opts):
        if emit is not None:
            emit("llm_request", provider="custom", model="silent", request_id="r1", attempt=1,
                 messages=len(messages), tools=0, input_tokens_estimate=7)
        yield TextDelta("twelve chars")
        yield Finish("stop")


async def test_an_attempt_that_sends_no_end_event_is_not_left_in_flight():
    async with Runtime(clock=VirtualClock()) as rt:
        budget = Budget(max_tokens=1000)
        pid = rt.start(LLMAgent, model=_Silent(), budget=budget, retry=None)
        assert await agent_ask(rt, pid, "hi") == "twelve chars"
        assert await agent_ask(rt, pid, "again") == "twelve chars"
        # what each stream put in stays as its count: the prompt's 7 and 3 for the text
        assert (budget.calls, budget.in_flight, budget.in_flight_tokens) == (2, 0, 0)
        assert budget.tokens == 2 * (7 + 3)


def test_a_stream_in_progress_can_pass_either_limit():
    b = Budget(max_tokens=100, max_cost_usd=0.01)
    assert b.would_exceed(50, 0.005) is None
    assert b.would_exceed(101, 0.0) == "tokens"
    assert b.would_exceed(50, 0.02) == "cost"


def test_budget_limits_are_checked():
    with pytest.raises(TypeError, match="max_tokens must be an int"):
        Budget(max_tokens="10")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_cost_usd must be a finite number >= 0"):
        Budget(max_cost_usd=-1)
    assert Budget(max_tokens=0, max_cost_usd=0).exceeded is None
