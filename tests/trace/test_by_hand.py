"""The analysis numbers against truth worked out by hand, on the virtual clock.

Each test says its story in time order and the numbers that follow from it.
"""

from __future__ import annotations

import asyncio
import math

import numpy as np
import pytest
from trace_helpers import Script, Worker

import agentlab
from agentlab import ChildSpec, DynamicSupervisor, Supervisor
from agentlab.trace import Recorder, compare

WARMUP = 0.25  # every Flaky child's init takes this long


class Flaky(agentlab.Agent):
    """Ready WARMUP s after it starts; its init fails while ``fails`` says so."""

    fails = 0

    async def init(self) -> None:
        await self.sleep(WARMUP)
        if Flaky.fails:
            Flaky.fails -= 1
            raise RuntimeError("init fails")

    def handle_info(self, msg: object) -> None:
        raise ValueError("injected")


async def _failed_restart_run() -> agentlab.trace.Run:
    """a and b start at 0 (ready 0.25, 0.5). At 2.0 a crashes and its first restart
    fails (spawned 2.0, init fails 2.25); the retry is ready at 2.5. At 4.0 b
    crashes and is ready again at 4.25. Recording ends at 6.5."""
    Flaky.fails = 0
    async with agentlab.Runtime(clock=agentlab.VirtualClock(), seed=1) as rt:
        rec = Recorder(rt)
        await rt.start_async(Supervisor, [ChildSpec("a", Flaky, name="a"),
                                          ChildSpec("b", Flaky, name="b")],
                             intensity=5, period=5, name="team")
        await rt.sleep(1.5)
        Flaky.fails = 1
        rt.send("a", "crash")
        await rt.sleep(2.0)
        rt.send("b", "crash")
        await rt.sleep(2.5)
        return rec.stop()


async def test_a_failed_restart_is_downtime_and_one_crash_in_mttr() -> None:
    run = await _failed_restart_run()
    r = run.restarts()
    assert list(r["child_id"].astype(str)) == ["a", "a", "b"]
    assert list(r["retry"]) == [False, True, False]
    assert list(r["crashed_at"]) == [2.0, 2.0, 4.0]
    assert list(r["time_to_recovery"]) == [0.5, 0.5, 0.25]
    # two crashes, recovered in 0.5 and 0.25 s: the retry is not a third
    assert run.mttr() == 0.375
    assert run.mttr(by="child_id").to_dict() == {"a": 0.5, "b": 0.25}
    av = run.availability().set_index("slot")
    # a: up 0.25-2.0 and 2.5-6.5; down 2.0-2.5 (the failed start never came up)
    assert av.loc["team/a", "uptime"] == 5.75 and av.loc["team/a", "downtime"] == 0.5
    assert av.loc["team/a", "instances"] == 3 and av.loc["team/a", "crashes"] == 2
    assert av.loc["team/a", "availability"] == pytest.approx(5.75 / 6.25)
    # b: up 0.5-4.0 and 4.25-6.5, down 4.0-4.25
    assert (av.loc["team/b", "uptime"], av.loc["team/b", "downtime"]) == (5.75, 0.25)
    # the retry counts toward intensity, as the supervisor counted it: 3 in 5 s of 5
    head = run.intensity_headroom().set_index("supervisor").loc["team"]
    assert (head["restarts"], head["max_restarts_in_window"], head["min_headroom"]) == (3, 3, 2)


async def test_unnamed_supervisors_are_told_apart() -> None:
    """Two unnamed supervisors (intensity 2 in 1 s). The first restarts its child
    at 0.9 and 1.1 and gives up at 1.95 (the third restart in the window of
    whole seconds 0..1); the second restarts its own once, at 1.1."""
    async with agentlab.Runtime(clock=agentlab.VirtualClock(), seed=1) as rt:
        rec = Recorder(rt)
        one = await rt.start_async(Supervisor, [ChildSpec("a", Worker)], intensity=2, period=1)
        two = await rt.start_async(Supervisor, [ChildSpec("a", Worker)], intensity=2, period=1)

        async def kill_child(sup: agentlab.Pid) -> None:
            ((_, child, _),) = await Supervisor.which_children(sup)
            rt.exit(child, "kill")

        await rt.sleep(0.9)
        await kill_child(one)
        await rt.sleep(0.2)
        await kill_child(one)
        await kill_child(two)
        await rt.sleep(0.85)
        await kill_child(one)
        await rt.sleep(1.0)
        run = rec.stop()
    first, second = str(one.id), str(two.id)
    r = run.restarts()
    assert list(r["supervisor"].astype(str)) == [first, first, second]
    head = run.intensity_headroom().set_index("supervisor")
    assert list(head.index) == sorted([first, second])
    assert head.loc[first, "restarts"] == 2 and head.loc[first, "gave_up"]
    assert head.loc[first, "min_headroom"] == -1 and head.loc[first, "gave_up_at"] == pytest.approx(1.95)
    assert head.loc[first, "max_restarts_in_window"] == 3
    assert head.loc[second, "restarts"] == 1 and not head.loc[second, "gave_up"]
    assert head.loc[second, "min_headroom"] == 1
    rate = run.restart_rate(window=0.5)
    assert rate[first].tolist() == [0, 1, 1, 0, 0, 0]
    assert rate[second].tolist() == [0, 0, 1, 0, 0, 0]
    # the children's supervisor column names them the same way
    p = run.processes()
    assert set(p.loc[p["child_id"] == "a", "supervisor"].astype(str)) == {first, second}


def test_restart_rate_window_edges_survive_float_rounding() -> None:
    s = Script()
    s.at(0.0).emit("spawn", 10, name="sup", path="sup", kind="agent")
    for t in (0.3, 0.7, 1.0, 2.9):
        s.at(t).emit("restart", 10, name="sup", path="sup", peer=11, reason="killed",
                     child_id="a", strategy="one_for_one", affected=["a"],
                     restarts_in_window=1, intensity=3, period=5)
    run = Recorder.from_events(s.events).run()
    rate = run.restart_rate(window=0.1)  # 0.3 / 0.1 is 2.9999999999999996
    assert len(rate) == 30  # [0.0, 0.1) .. [2.9, 3.0): the run ends at 2.9
    hits = rate[rate["total"] > 0]
    assert hits.index.tolist() == [0.3, 0.7, 1.0, 2.9]
    assert rate.loc[0.3, "sup"] == 1 and rate.loc[0.2, "sup"] == 0
    assert run.restart_rate(window=0.3).index.tolist()[:4] == [0.0, 0.3, 0.6, 0.9]
    with pytest.raises(ValueError, match="positive number of seconds"):
        run.restart_rate(window=math.inf)


class Slow(agentlab.Agent):
    async def handle_call(self, request: object, caller: object) -> object:
        await self.sleep(1.0)
        return request

    async def handle_cast(self, msg: object) -> None:
        await self.sleep(0.5)


async def test_receives_never_take_a_message_sent_after_them() -> None:
    """At 1.0 a crashes and its restart fails once: the supervisor retries by a
    message to itself that has no event, and takes it at 1.25. At 2.0 a call to
    the supervisor is received at once. At 3.0 two casts and a call go to
    'slow', which handles a cast in 0.5 s and a call in 1 s."""
    Flaky.fails = 0
    async with agentlab.Runtime(clock=agentlab.VirtualClock(), seed=1) as rt:
        rec = Recorder(rt)
        await rt.start_async(Supervisor, [ChildSpec("a", Flaky, name="a")],
                             intensity=5, period=5, name="team")
        await rt.sleep(0.75)
        Flaky.fails = 1
        rt.send("a", "crash")
        await rt.sleep(1.0)
        await Supervisor.which_children("team")
        slow = rt.start(Slow, name="slow")
        await rt.sleep(1.0)
        rt.cast(slow, 1)
        rt.cast(slow, 2)
        await rt.call(slow, "x")
        run = rec.stop()
    m = run.messages()
    assert (m["queue_delay"].dropna() >= 0).all()
    to_team = m[m["receiver_name"] == "team"].iloc[0]
    assert (to_team["time"], to_team["received"], to_team["queue_delay"]) == (2.0, 2.0, 0.0)
    to_slow = m[m["receiver_name"] == "slow"]
    assert to_slow["kind"].astype(str).tolist() == ["cast", "cast", "call"]
    assert to_slow["received"].tolist() == [3.0, 3.5, 4.0]
    assert to_slow["queue_delay"].tolist() == [0.0, 0.5, 1.0]
    assert to_slow["handling_time"].tolist() == [0.5, 0.5, 1.0]  # the call: to its reply
    assert to_slow["latency"].iloc[2] == 2.0  # queued 1 s, handled 1 s
    lat = run.message_latency()
    # the two calls waited 0 and 1 s: percentiles by linear interpolation
    q = lat.loc[("call", "queue_delay")]
    assert (q["count"], q["p50"], q["p90"], q["max"]) == (2, 0.5, 0.9, 1.0)


async def test_a_message_left_in_a_dead_mailbox_is_unread() -> None:
    """'w' takes one message a second. Three are sent at 0: it takes the first at 0
    and the second at 1, and is killed at 1.5 with the third unread. 'idle' takes
    one message and then waits for a match that never comes: the second it is
    sent stays pending."""

    async def worker(proc: agentlab.Process) -> None:
        while True:
            await proc.receive()
            await proc.sleep(1.0)

    async def idle(proc: agentlab.Process) -> None:
        await proc.receive()
        await proc.receive(match=lambda m: m == "never sent")

    async with agentlab.Runtime(clock=agentlab.VirtualClock()) as rt:
        rec = Recorder(rt)
        w = rt.spawn(worker, name="w")
        i = rt.spawn(idle, name="idle")
        for n in range(3):
            rt.send(w, n)
        rt.send(i, "first")
        rt.send(i, "second")
        await rt.sleep(1.5)
        rt.exit(w, "kill")
        rt.send(w, "late")
        await rt.settled()
        run = rec.stop()
    m = run.messages()
    to_w = m[m["receiver"] == w.id]
    assert to_w["outcome"].astype(str).tolist() == ["received", "received", "unread", "dead"]
    assert to_w["received"].tolist()[:2] == [0.0, 1.0]
    to_idle = m[m["receiver"] == i.id]
    assert to_idle["outcome"].astype(str).tolist() == ["received", "pending"]


async def test_token_rate_is_the_models_streaming_rate() -> None:
    """A model streaming 10 tokens a second after a 0.5 s first token: a 429 at
    0.5 (no output), the retry's 4 tokens from 2.0 to 2.3, then a stream cut
    after its first token."""
    from agentlab.agents import LLMAgent, agent_ask
    from agentlab.llm import RateLimited, Reply, RetryPolicy, ScriptedModel, StreamInterrupted

    async with agentlab.Runtime(clock=agentlab.VirtualClock(), seed=1) as rt:
        rec = Recorder(rt)
        model = ScriptedModel(
            [RateLimited("slow down", retry_after=1.0), "one two three four",
             Reply("abc def", error=StreamInterrupted("cut"), fail_after=1)],
            clock=rt, rng=rt.random, ttft=0.5, tokens_per_second=10.0, jitter=0.0,
        )
        pid = rt.start(LLMAgent, model=model, name="w", retry=RetryPolicy(base=0.5, jitter=0.0))
        assert await agent_ask(rt, pid, "hi") == "one two three four"
        with pytest.raises(agentlab.CalleeExited):
            await agent_ask(rt, pid, "again")
        run = rec.stop()
    c = run.llm_calls()
    assert c["outcome"].astype(str).tolist() == ["error", "ok", "error"]
    assert c["output_tokens"].tolist() == [0, 4, 1]
    assert c["latency"].tolist() == pytest.approx([0.5, 0.8, 0.5])
    rate = c["tokens_per_s"].tolist()
    assert math.isnan(rate[0]) and rate[1] == pytest.approx(10.0) and math.isnan(rate[2])
    u = run.llm_usage().loc["w"]
    assert (u["requests"], u["attempts"], u["errors"], u["retries"]) == (2, 3, 2, 1)
    assert u["tokens_per_s"] == pytest.approx(10.0)


async def test_compare_counts_what_a_run_without_llm_calls_had() -> None:
    s = Script()
    s.at(0).emit("spawn", 5, name="w", path="w", kind="agent")
    s.at(1).emit("llm_request", 5, name="w", request_id="r1", attempt=1, model="m")
    s.at(2).emit("llm_response", 5, name="w", request_id="r1", attempt=1, model="m",
                 input_tokens=3, output_tokens=5, latency=1.0, ttft=0.5, cost_usd=0.25)
    with_llm = Recorder.from_events(s.events).run()
    without = Recorder.from_events(s.events[:1]).run()
    empty = Recorder().run()
    table = compare(without, with_llm, names=["without", "with"])
    assert table.loc["llm_attempts"].tolist() == [0, 1, 1]
    assert table.loc["output_tokens"].tolist() == [0, 5, 5]
    assert table.loc["cost_usd"].tolist() == [0.0, 0.25, 0.25]
    assert math.isnan(table.loc["llm_latency_mean", "without"])
    assert math.isnan(table.loc["llm_latency_mean", "change"])
    both = compare(empty, with_llm, names=["empty", "with"])
    assert both.loc["processes"].tolist() == [0, 1, 1] and both.loc["llm_errors", "empty"] == 0


async def test_a_dynamic_supervisors_children_each_have_a_slot() -> None:
    """Three workers start one after another (ready 0.25, 0.5, 0.75). At 1.75 the
    first crashes; its replacement is ready at 2.0. Recording ends at 3.75."""
    async with agentlab.Runtime(clock=agentlab.VirtualClock(), seed=1) as rt:
        rec = Recorder(rt)
        await rt.start_async(DynamicSupervisor, name="dyn", intensity=3, period=5)
        Flaky.fails = 0
        pids = [await DynamicSupervisor.start_child("dyn", ChildSpec("w", Flaky)) for _ in range(3)]
        await rt.sleep(1.0)
        rt.send(pids[0], "crash")
        await rt.sleep(2.0)
        run = rec.stop()
    av = run.availability().set_index("slot")
    slots = [f"dyn/w <0.{p.id}.0>" for p in pids]
    assert sorted(av.index) == sorted(["dyn", *slots])
    assert (av.loc[slots[0], "instances"], av.loc[slots[0], "crashes"]) == (2, 1)
    assert (av.loc[slots[0], "uptime"], av.loc[slots[0], "downtime"]) == (3.25, 0.25)
    assert av.loc[slots[1], "uptime"] == 3.25 and av.loc[slots[2], "uptime"] == 3.0
    assert np.allclose(av.loc[slots[1:], "downtime"], 0.0)
    lanes = [t.get_text() for t in run.plot_timeline().axes[0].get_yticklabels()]
    assert lanes == ["dyn", *slots]


async def test_restarts_show_on_the_timeline_when_the_child_starts_at_once() -> None:
    """'sup' (its spawn event says agent, as for any supervisor started from
    outside) restarts 'a' at 1.0 and 2.0; each replacement starts in the same
    instant, so the arc from the crash has no length."""
    async with agentlab.Runtime(clock=agentlab.VirtualClock(), seed=1) as rt:
        rec = Recorder(rt)
        await rt.start_async(Supervisor, [ChildSpec("a", Worker, name="a")],
                             intensity=5, period=5, name="sup")
        for t in (1.0, 2.0):
            rt.send_after("a", "crash", t)
        await rt.sleep(3.0)
        run = rec.stop()
    r = run.restarts()
    assert r["time_to_recovery"].tolist() == [0.0, 0.0]
    ax = run.plot_timeline().axes[0]
    (marks,) = [c for c in ax.collections if c.get_gid() == "restarts"]
    assert marks.get_offsets()[:, 0].tolist() == [1.0, 2.0]  # at the replacements' starts
    bars = ax.collections[0]
    lanes = [t.get_text() for t in ax.get_yticklabels()]
    assert lanes == ["sup", "sup/a"]
    grey = (0x7F / 255, 0x7F / 255, 0x7F / 255)
    assert tuple(bars.get_facecolors()[0][:3]) == pytest.approx(grey)  # drawn as a supervisor
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["supervisor", "agent", "alive at the end", "crash", "restart"]  # nothing exited normally


def test_a_bad_grouping_or_percentile_says_what_to_give() -> None:
    run = Recorder.from_events(Script().at(0).emit("spawn", 5, name="w", kind="agent").events).run()
    with pytest.raises(ValueError, match=r"mttr\(by='nope'\): group by one of 'supervisor'"):
        run.mttr(by="nope")
    with pytest.raises(ValueError, match=r"llm_usage\(by='agnet'\): group by one of 'agent'"):
        run.llm_usage(by="agnet")
    with pytest.raises(ValueError, match="percentiles are numbers from 0 to 100.*not 150, '50'"):
        run.message_latency(percentiles=(50, 150, "50"))


async def test_plot_windows_are_checked() -> None:
    run = await _failed_restart_run()
    for plot in (run.plot_restarts, run.plot_tokens):
        for bad in (0, -1.0, math.nan, math.inf, True, "1"):
            with pytest.raises(ValueError, match="window must be a positive number of seconds"):
                plot(window=bad)
    assert run.plot_restarts(window=0.5).axes[0].get_ylabel() == "restarts per 0.5 s"


class Warming(agentlab.Agent):
    """Ready ``Warming.warmup`` seconds after it starts (the value when it starts)."""

    warmup = 0.5

    async def init(self) -> None:
        await self.sleep(Warming.warmup)

    def handle_info(self, msg: object) -> None:
        raise ValueError("injected")


async def test_an_agent_still_starting_is_not_up() -> None:
    """one_for_all team of a and b (each ready 0.5 s after it starts): a ready at 0.5,
    b at 1.0. At 2.0 starting takes 10 s from then on, and a crashes: b is stopped,
    a's replacement is still starting at 4.0, when recording ends, and b has not
    been started again. 'late' starts at 3.0 and never gets ready either."""
    Warming.warmup = 0.5
    async with agentlab.Runtime(clock=agentlab.VirtualClock(), seed=1) as rt:
        rec = Recorder(rt)
        await rt.start_async(Supervisor, [ChildSpec("a", Warming, name="a"),
                                          ChildSpec("b", Warming, name="b")],
                             strategy="one_for_all", intensity=5, period=5, name="team")
        await rt.sleep(1.0)
        Warming.warmup = 10.0
        rt.send("a", "crash")
        await rt.sleep(1.0)
        rt.start(Warming, name="late")
        await rt.sleep(1.0)
        run = rec.stop()
    p = run.processes()
    assert p["init"].astype(str).tolist() == ["ok", "ok", "ok", "starting", "starting"]
    starting = p[p["init"] == "starting"]
    assert starting["start"].tolist() == [2.0, 3.0] and starting["ready"].isna().all()
    av = run.availability().set_index("slot")
    # a: up 0.5-2.0, down from its crash to the end (its replacement never came up)
    assert (av.loc["team/a", "uptime"], av.loc["team/a", "downtime"]) == (1.5, 2.0)
    assert av.loc["team/a", "instances"] == 2
    # b: up 1.0-2.0, stopped for the restart and not back by the end
    assert (av.loc["team/b", "uptime"], av.loc["team/b", "downtime"]) == (1.0, 2.0)
    # late: never up, never down
    assert (av.loc["late", "uptime"], av.loc["late", "downtime"]) == (0.0, 0.0)
    assert math.isnan(av.loc["late", "availability"])


async def test_what_a_supervisor_that_gave_up_stopped_is_down_to_the_end() -> None:
    """'team' (one_for_one, at most 1 restart in 5 s) runs worker 'a' and
    supervisor 'inner', which runs worker 'x'. 'a' crashes at 1.0 (restarted at
    once) and at 2.0: team gives up, stops inner (which stops x) and exits.
    Recording ends at 4.0: nothing ran team, a, inner or x from 2.0 on."""
    async with agentlab.Runtime(clock=agentlab.VirtualClock(), seed=1) as rt:
        rec = Recorder(rt)
        inner = ChildSpec("inner", (Supervisor, [ChildSpec("x", Worker, name="x")]))
        await rt.start_async(Supervisor, [ChildSpec("a", Worker, name="a"), inner],
                             intensity=1, period=5, name="team")
        for t in (1.0, 2.0):
            rt.send_after("a", "crash", t)
        await rt.sleep(4.0)
        run = rec.stop()
    p = run.processes().set_index("path")
    assert p.loc[["team", "team/inner", "team/inner/x"], "exit_reason"].astype(str).tolist() == [
        "shutdown"] * 3
    av = run.availability().set_index("slot")
    for slot in ("team", "team/inner", "team/inner/x"):
        assert (av.loc[slot, "uptime"], av.loc[slot, "downtime"]) == (2.0, 2.0), slot
        assert av.loc[slot, "crashes"] == 0
    assert (av.loc["team/a", "uptime"], av.loc["team/a", "downtime"]) == (2.0, 2.0)


class Deferred(agentlab.Agent):
    """Answers a call when it is told to ("answer"), not when the call comes."""

    def init(self) -> None:
        self.waiting: list[agentlab.Caller] = []

    def handle_call(self, request: object, caller: agentlab.Caller) -> object:
        if request == "now":
            return "now"
        self.waiting.append(caller)
        return agentlab.NOREPLY

    def handle_info(self, msg: object) -> None:
        for caller in self.waiting:
            caller.reply("later")
        self.waiting.clear()


async def test_a_calls_handling_ends_with_its_reply() -> None:
    """'slow' takes 1 s to answer a call; nothing waits behind it. 'deferred'
    answers "now" at once and puts a call off until it is told to answer, 1 s
    later: that call's handling ended when the next message was taken."""
    async with agentlab.Runtime(clock=agentlab.VirtualClock(), seed=1) as rt:
        rec = Recorder(rt)
        slow = rt.start(Slow, name="slow")
        d = rt.start(Deferred, name="deferred")
        await rt.call(slow, "x")
        await rt.call(d, "now")
        later = asyncio.ensure_future(rt.call(d, "later"))
        await rt.sleep(1.0)
        rt.send(d, "answer")
        assert await later == "later"
        run = rec.stop()
    m = run.messages()
    to_slow = m[m["receiver_name"] == "slow"].iloc[0]
    assert (to_slow["received"], to_slow["replied"], to_slow["handling_time"]) == (0.0, 1.0, 1.0)
    to_d = m[m["receiver_name"] == "deferred"]
    assert to_d["kind"].astype(str).tolist() == ["call", "call", "info"]
    assert to_d["latency"].tolist()[:2] == [0.0, 1.0]
    assert to_d["handling_time"].tolist()[0] == 0.0
    assert math.isnan(to_d["handling_time"].tolist()[1])  # answered after it took "answer"
    handling = run.message_latency().loc[("call", "handling_time")]
    assert (handling["count"], handling["max"]) == (2, 1.0)


async def test_a_temporary_child_that_crashed_is_gone_not_down() -> None:
    """'team' runs a permanent 'p' and a temporary 't'; both crash at 1.0 and the
    recording ends at 3.0. 'p' is restarted at once; 't' is never restarted, by
    design (a tool run, an ask), so its slot ends at its crash: no downtime."""
    async with agentlab.Runtime(clock=agentlab.VirtualClock(), seed=1) as rt:
        rec = Recorder(rt)
        await rt.start_async(Supervisor, [ChildSpec("p", Worker, name="p"),
                                          ChildSpec("t", Worker, name="t", restart="temporary")],
                             intensity=5, period=5, name="team")
        for name in ("p", "t"):
            rt.send_after(name, "crash", 1.0)
        await rt.sleep(3.0)
        run = rec.stop()
    av = run.availability().set_index("slot")
    assert (av.loc["team/t", "uptime"], av.loc["team/t", "downtime"]) == (1.0, 0.0)
    assert av.loc["team/t", "crashes"] == 1 and av.loc["team/t", "availability"] == 1.0
    assert (av.loc["team/p", "uptime"], av.loc["team/p", "downtime"]) == (3.0, 0.0)
    assert av.loc["team/p", "crashes"] == 1
