"""messages(): sends, casts and calls joined to what became of them."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from trace_helpers import Worker

import agentlab
from agentlab.trace import Recorder, messages
from agentlab.trace._messages import MESSAGE_COLUMNS


class Slow(agentlab.Agent):
    """Answers each call 2 s later (NOREPLY, then a timer); crashes on "boom"."""

    def handle_call(self, request, caller):
        if request == "boom":
            raise RuntimeError("boom")
        self.send_after(self.pid, ("answer", caller, request), 2.0)
        return agentlab.NOREPLY

    def handle_info(self, msg):
        _, caller, request = msg
        caller.reply(request)


async def test_call_outcomes_and_latency() -> None:
    async with agentlab.Runtime(clock=agentlab.VirtualClock()) as rt:
        rec = Recorder(rt)
        rt.start(Worker, name="echo")
        rt.start(Slow, name="slow")
        assert await rt.call("echo", "hi") == "hi"  # t=0, instant
        assert await rt.call("slow", "later") == "later"  # t=0 -> 2
        with pytest.raises(agentlab.CallTimeout):
            await rt.call("slow", "too slow", timeout=1.0)  # t=2 -> 3
        await rt.sleep(2.0)  # the late reply (t=4) is dropped
        with pytest.raises(agentlab.CalleeExited):
            await rt.call("slow", "boom")  # t=5
        run = rec.stop()
    m = run.messages()
    assert list(m.columns) == list(MESSAGE_COLUMNS)
    calls = m[m["kind"] == "call"]
    assert list(calls["outcome"].astype(str)) == ["reply", "reply", "timeout", "callee_exited"]
    assert list(calls["time"]) == [0.0, 0.0, 2.0, 5.0]
    assert list(calls["latency"]) == [0.0, 2.0, 1.0, 0.0]
    assert list(calls["receiver_name"].astype(str)) == ["echo", "slow", "slow", "slow"]
    assert set(calls["sender"]) == {0}
    lat = run.message_latency().loc[("call", "latency")]
    assert lat["count"] == 4 and lat["max"] == 2.0


async def test_calls_between_processes_pair_by_caller() -> None:
    async def client(proc: agentlab.Process, n: int) -> None:
        for i in range(n):
            await proc.call("slow", i)

    async with agentlab.Runtime(clock=agentlab.VirtualClock()) as rt:
        rec = Recorder(rt)
        rt.start(Slow, name="slow")
        c1 = rt.spawn(client, 2, name="c1")
        c2 = rt.spawn(client, 1, name="c2")
        await rt.sleep(10.0)
        run = rec.stop()
    calls = run.messages()
    calls = calls[calls["kind"] == "call"]
    assert sorted(calls["sender"]) == sorted([c1.id, c1.id, c2.id])
    assert set(calls["outcome"].astype(str)) == {"reply"}
    assert list(calls["latency"]) == [2.0, 2.0, 2.0]
    assert list(calls["sender_name"].astype(str)) == ["c1", "c2", "c1"]


async def test_receive_queue_delay_and_handling_time() -> None:
    async def worker(proc: agentlab.Process) -> None:
        while True:
            await proc.receive()
            await proc.sleep(1.0)  # one second of "work" per message

    async with agentlab.Runtime(clock=agentlab.VirtualClock()) as rt:
        rec = Recorder(rt)
        pid = rt.spawn(worker, name="w")
        for i in range(3):
            rt.send(pid, i)
        await rt.sleep(5.0)
        rt.exit(pid, "kill")
        rt.send(pid, "too late")
        rt.cast(pid, "also late")  # a cast resolves the pid first: no receiver at all
        agent = rt.start(Worker, name="agent")
        rt.cast(agent, "noted")
        await rt.settled()
        run = rec.stop()
    m = run.messages()
    to_w = m[(m["receiver"] == pid.id)]
    live = to_w.iloc[:3]
    assert list(live["received"]) == [0.0, 1.0, 2.0]
    assert list(live["queue_delay"]) == [0.0, 1.0, 2.0]
    h = list(live["handling_time"])
    assert h[:2] == [1.0, 1.0] and math.isnan(h[2])
    assert list(live["outcome"].astype(str)) == ["received"] * 3
    assert list(to_w.iloc[3:]["outcome"].astype(str)) == ["dead"]
    late_cast = m[m["kind"] == "cast"].iloc[0]
    assert late_cast["outcome"] == "dead" and pd.isna(late_cast["receiver"])
    cast = m[m["receiver_name"] == "agent"].iloc[0]
    # agents emit a receive event when they take a message (message tracing on)
    assert cast["kind"] == "cast" and cast["outcome"] == "received"
    assert cast["queue_delay"] == 0.0
    q = run.message_latency().loc[("info", "queue_delay")]
    assert q["count"] == 3 and q["p50"] == 1.0


async def test_sampled_message_tracing_pairs_nothing() -> None:
    async with agentlab.Runtime(clock=agentlab.VirtualClock(), trace_messages=0.5) as rt:
        rec = Recorder(rt)
        rt.start(Worker, name="echo")
        for i in range(4):
            rt.cast("echo", i)  # every other cast is traced
        await rt.settled()
        run = rec.stop()
    assert run.info.trace_messages == 0.5
    m = run.messages()
    assert len(m) == 2
    assert m["outcome"].isna().all() and m["latency"].isna().all()
    assert messages(run.events(), sampled=False)["outcome"].notna().any()
