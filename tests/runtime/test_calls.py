"""call: replies, the 5 s default timeout, dead callees, deferred and late replies, calling self.

A call never hangs: the caller gets the reply, or an error naming the callee
(CallTimeout, NoProcessError, CalleeExited). Late replies are dropped without
leaving a message anywhere (OTP 24+ aliases).
"""

from __future__ import annotations

import asyncio
import inspect

import pytest

from agentlab import (
    NOREPLY,
    Agent,
    CalleeExited,
    CallError,
    CallTimeout,
    EventKind,
    NoProcessError,
    ReceiveTimeout,
    Runtime,
)


class Server(Agent):
    """``("hold", ...)`` keeps the caller; ``("release", v)`` answers every held caller."""

    def init(self):
        self.held = []

    def handle_call(self, req, caller):
        if req == "hold":
            self.held.append(caller)
            return NOREPLY
        if req == "held":
            return len(self.held)
        if isinstance(req, tuple) and req[0] == "release":
            for c in self.held:
                c.reply(req[1])
            self.held = []
            return "released"
        return ("echo", req)

    def handle_cast(self, msg):
        if msg == "release-all":
            for c in self.held:
                c.reply("late")
            self.held = []


async def test_call_gets_the_reply(clock):
    async with Runtime(clock=clock) as rt:
        pid = rt.start(Server, name="srv")
        assert await rt.call(pid, 1) == ("echo", 1)
        assert await rt.call("srv", 2) == ("echo", 2)


def test_the_default_timeout_is_five_seconds():
    assert inspect.signature(Runtime.call).parameters["timeout"].default == 5.0
    assert inspect.signature(Agent.call).parameters["timeout"].default == 5.0


async def test_default_timeout_raises_call_timeout_after_five_seconds_virtual():
    from agentlab import VirtualClock

    async with Runtime(clock=VirtualClock()) as rt:
        pid = rt.start(Server, name="slow")
        t0 = rt.now()
        with pytest.raises(CallTimeout) as ei:
            await rt.call(pid, "hold")
        assert rt.now() - t0 == pytest.approx(5.0)
        err = ei.value
        assert err.process is pid and err.reason == "timeout"
        msg = str(err)
        assert "'slow'" in msg and f"<0.{pid.id}.0>" in msg and "5 s" in msg
        assert "Raise the timeout" in msg
        assert pid.alive  # the callee is not stopped
        assert await rt.call(pid, "held") == 1  # and still has the request


async def test_call_timeout_on_the_runtime_clock(clock):
    async with Runtime(clock=clock) as rt:
        pid = rt.start(Server)
        t0 = rt.now()
        with pytest.raises(CallTimeout):
            await rt.call(pid, "hold", timeout=0.05)
        assert rt.now() - t0 >= 0.05 - 1e-3
        assert rt.events.filter(kind=EventKind.CALL_TIMEOUT)[-1].peer == pid.id


async def test_call_to_a_dead_pid_raises_noprocess(clock):
    async with Runtime(clock=clock) as rt:
        pid = rt.start(Server, name="gone")
        await rt.stop(pid, "normal")
        with pytest.raises(NoProcessError) as ei:
            await rt.call(pid, "x")
        assert ei.value.process is pid
        msg = str(ei.value)
        assert "'gone'" in msg and f"<0.{pid.id}.0>" in msg and "'normal'" in msg
        assert "registered name" in msg  # what to do


async def test_call_to_an_unknown_name_raises_noprocess(clock):
    async with Runtime(clock=clock) as rt:
        with pytest.raises(NoProcessError) as ei:
            await rt.call("nobody", "x")
        assert "'nobody'" in str(ei.value) and "Start it first" in str(ei.value)


async def test_callee_exiting_mid_call_raises_callee_exited(clock):
    async with Runtime(clock=clock) as rt:
        pid = rt.start(Server, name="fragile")

        async def caller():
            return await rt.call(pid, "hold", timeout=None)

        task = asyncio.ensure_future(caller())
        await rt.sleep(0.01)
        rt.exit(pid, "boom")
        with pytest.raises(CalleeExited) as ei:
            await task
        err = ei.value
        assert err.reason == "boom" and err.process is pid
        assert "'fragile'" in str(err) and "'boom'" in str(err)
        assert isinstance(err, CallError)


async def test_callee_killed_mid_call_reports_killed(clock):
    async with Runtime(clock=clock) as rt:
        pid = rt.start(Server)
        task = asyncio.ensure_future(rt.call(pid, "hold"))
        await rt.sleep(0.01)
        rt.exit(pid, "kill")
        with pytest.raises(CalleeExited) as ei:
            await task
        assert ei.value.reason == "killed"


async def test_a_process_caller_gets_callee_exited_and_survives(clock):
    async with Runtime(clock=clock) as rt:
        pid = rt.start(Server)
        out = []

        async def body(proc):
            try:
                await proc.call(pid, "hold")
            except CalleeExited as e:
                out.append(e.reason)
            out.append(proc.pid.mailbox_size)

        b = rt.spawn(body)
        await rt.sleep(0.01)
        rt.exit(pid, "boom")
        assert await rt.wait(b) == "normal"
        assert out == ["boom", 0]  # no Down message left behind


async def test_deferred_reply_from_the_callee_later(clock):
    async with Runtime(clock=clock) as rt:
        pid = rt.start(Server)
        tasks = [asyncio.ensure_future(rt.call(pid, "hold")) for _ in range(3)]
        await rt.sleep(0.01)
        assert await rt.call(pid, "held") == 3
        assert await rt.call(pid, ("release", "v")) == "released"
        assert [await t for t in tasks] == ["v", "v", "v"]


async def test_deferred_reply_from_another_process(clock):
    async with Runtime(clock=clock) as rt:

        class Front(Agent):
            def init(self, back):
                self.back = back

            def handle_call(self, req, caller):
                self.cast(self.back, (req, caller))  # hand the caller over
                return NOREPLY

        class Back(Agent):
            def handle_cast(self, msg):
                req, caller = msg
                assert caller.pending
                caller.reply(("from back", req))

        back = rt.start(Back)
        front = rt.start(Front, back)
        assert await rt.call(front, 7) == ("from back", 7)

        async def worker(proc, caller):
            await proc.sleep(0.02)
            caller.reply("from a body process")

        class Delegator(Agent):
            def handle_call(self, req, caller):
                self.spawn(worker, caller)
                return NOREPLY

        assert await rt.call(rt.start(Delegator), "x") == "from a body process"


async def test_late_replies_are_dropped_silently(clock):
    async with Runtime(clock=clock) as rt:
        pid = rt.start(Server)
        leftovers = []

        async def caller(proc):
            with pytest.raises(CallTimeout):
                await proc.call(pid, "hold", timeout=0.02)
            await proc.receive(lambda m: m == "check")
            leftovers.append(proc.pid.mailbox_size)
            with pytest.raises(ReceiveTimeout):
                await proc.receive(timeout=0)

        c = rt.spawn(caller)
        await rt.sleep(0.05)  # the call timed out
        n_before = len(rt.events)
        rt.cast(pid, "release-all")  # now the callee answers: too late
        await rt.settled()
        rt.send(c, "check")
        assert await rt.wait(c) == "normal"
        # the caller found nothing in its mailbox ...
        assert leftovers == [0]
        # ... no reply event was recorded after the timeout ...
        assert not [e for e in rt.events.list()[n_before:] if e.kind == EventKind.REPLY]
        # ... and the callee is fine
        assert pid.alive and await rt.call(pid, "held") == 0


async def test_late_reply_to_an_outside_caller_is_dropped(clock):
    async with Runtime(clock=clock) as rt:
        pid = rt.start(Server)
        with pytest.raises(CallTimeout):
            await rt.call(pid, "hold", timeout=0.01)
        inst_callers = await rt.call(pid, "held")
        assert inst_callers == 1
        rt.cast(pid, "release-all")
        await rt.settled()
        assert pid.alive
        assert all(p.mailbox_size == 0 for p in rt.processes())


async def test_replying_twice_is_harmless(clock):
    async with Runtime(clock=clock) as rt:

        class Twice(Agent):
            def handle_call(self, req, caller):
                caller.reply(1)
                caller.reply(2)
                assert not caller.pending
                return NOREPLY

        assert await rt.call(rt.start(Twice), "x") == 1


async def test_calling_self_raises_call_error(clock):
    async with Runtime(clock=clock) as rt:

        class Selfish(Agent):
            async def handle_call(self, req, caller):
                try:
                    await self.call(self.pid, "again")
                except CallError as e:
                    return e.reason, str(e)
                return "no error"

        pid = rt.start(Selfish, name="me")
        reason, msg = await rt.call(pid, "x")
        assert reason == "calling_self"
        assert "'me'" in msg and "called itself" in msg

        out = []

        async def body(proc):
            try:
                await proc.call(proc.pid, "x")
            except CallError as e:
                out.append(e.reason)

        await rt.wait(rt.spawn(body))
        assert out == ["calling_self"]


async def test_stopping_itself_raises_calling_self_at_once(clock):
    """``runtime.stop`` on the calling process would wait for its own exit: it raises
    CallError ``calling_self`` before doing anything, as OTP's ``gen_server:stop(self())``
    exits ``calling_self``, and says what to do instead. (An agent used to wait out the
    5 s timeout and then be killed.)"""
    async with Runtime(clock=clock) as rt:

        class SelfStopper(Agent):
            async def handle_call(self, how, caller):
                t0 = self.runtime.now()
                try:
                    await self.runtime.stop(self.pid if how == "pid" else "me", "bye")
                except CallError as e:
                    return e.reason, e.process, str(e), self.runtime.now() - t0
                return "no error"

        pid = rt.start(SelfStopper, name="me")
        for how in ("pid", "name"):
            reason, process, msg, waited = await rt.call(pid, how, timeout=1)
            assert reason == "calling_self" and process is pid
            assert "'me'" in msg and "stop itself" in msg and "Stop(reason)" in msg
            assert waited < 0.5
        assert pid.alive  # nothing was done to it

        out = []

        async def body(proc):  # a body function too (OTP: proc_lib:stop(self()) likewise)
            try:
                await proc.runtime.stop(proc.pid, "bye")
            except CallError as e:
                out.append(e.reason)

        assert await rt.wait(rt.spawn(body)) == "normal"
        assert out == ["calling_self"]


async def test_timeout_none_waits_as_long_as_it_takes(clock):
    async with Runtime(clock=clock) as rt:
        pid = rt.start(Server)
        task = asyncio.ensure_future(rt.call(pid, "hold", timeout=None))
        await rt.sleep(0.05 if not clock.virtual else 3600)
        assert not task.done()
        await rt.call(pid, ("release", "finally"))
        assert await task == "finally"


async def test_cancelling_the_caller_abandons_the_call_only(clock):
    async with Runtime(clock=clock) as rt:
        pid = rt.start(Server)
        task = asyncio.ensure_future(rt.call(pid, "hold", timeout=None))
        await rt.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert pid.alive
        assert await rt.call(pid, ("release", "late")) == "released"  # reply dropped
        assert await rt.call(pid, 1) == ("echo", 1)


async def test_calls_between_agents(clock):
    async with Runtime(clock=clock) as rt:
        srv = rt.start(Server)

        class Client(Agent):
            async def handle_call(self, req, caller):
                return await self.call(srv, req)

        client = rt.start(Client)
        assert await rt.call(client, 5) == ("echo", 5)


async def test_many_concurrent_calls_each_get_their_own_reply(clock):
    async with Runtime(clock=clock) as rt:
        pid = rt.start(Server)
        results = await asyncio.gather(*(rt.call(pid, i) for i in range(200)))
        assert results == [("echo", i) for i in range(200)]


async def test_exit_from_a_timer_callback_does_not_run_processes_inside_the_timer_loop(clock):
    """An exit signal sent from a timer callback (outside any process) is processed
    after the timers that are due, not in the middle of firing them."""
    from agentlab import Runtime

    order: list[str] = []

    class Noter(Agent):
        trap_exits = True

        def handle_info(self, msg):
            order.append(f"got {type(msg).__name__}")

    async with Runtime(clock=clock) as rt:
        pid = rt.start(Noter)
        rt._add_timer(0.01, lambda: (rt.exit(pid, "boom"), order.append("timer 1")))
        rt._add_timer(0.01, lambda: order.append("timer 2"))
        await rt.sleep(0.05)
        assert order == ["timer 1", "timer 2", "got Exit"]


# ---------------------------------------------------------------------------- several waits at once


class Quick(Agent):
    def handle_call(self, req, caller):
        return ("quick", req)


class Slow(Agent):
    async def handle_call(self, delay, caller):
        await self.sleep(delay)
        return ("slow", delay)


class FanOut(Agent):
    """Runs several runtime waits at once (``asyncio.gather``) inside one handler."""

    async def handle_call(self, waits, caller):
        async def one(what, arg):
            if what == "sleep":
                await self.sleep(arg)
                return ("slept", arg)
            return await self.call(what, arg)

        out = await asyncio.gather(*(one(w, a) for w, a in waits))
        return out, self.runtime.now()


FANS = {  # what the fan-out waits on; "slow" and "slow2" are two agents
    "two calls": [("quick", 1), ("slow", 0.05)],
    "three calls, the first ends last": [("slow", 0.1), ("quick", 2), ("slow2", 0.05)],
    "three calls, the first ends first": [("quick", 1), ("slow", 0.05), ("slow2", 0.1)],
    "a sleep and a call": [("sleep", 0.1), ("slow", 0.05)],
}


@pytest.mark.parametrize("waits", list(FANS.values()), ids=list(FANS))
async def test_a_process_waiting_on_several_calls_at_once_gets_every_reply(clock, waits):
    """Regression: when the first of several concurrent waits ended, the process counted
    as running although it still waited on the others, so a virtual clock never moved
    again (no reply, not even the call timeout)."""
    async with Runtime(clock=clock) as rt:
        rt.start(Quick, name="quick")
        rt.start(Slow, name="slow")
        rt.start(Slow, name="slow2")
        fan = rt.start(FanOut)
        t0 = rt.now()
        out, t1 = await asyncio.wait_for(rt.call(fan, waits, timeout=10), 5)
        expected = [
            ("quick", a) if w == "quick" else ("slept", a) if w == "sleep" else ("slow", a)
            for w, a in waits
        ]
        assert out == expected
        longest = max(a for w, a in waits if w != "quick")
        if clock.virtual:
            assert t1 - t0 == pytest.approx(longest)
        else:
            assert longest - 1e-3 <= t1 - t0 < longest + 1.0
        # it counts as parked again once its next wait starts: time still moves
        await asyncio.wait_for(rt.call(fan, [("sleep", 0.05)], timeout=10), 5)


async def test_a_process_killed_while_waiting_on_several_calls_leaves_the_clock_free(clock):
    async with Runtime(clock=clock) as rt:
        rt.start(Slow, name="slow")
        rt.start(Slow, name="slow2")
        fan = rt.start(FanOut)
        caller = asyncio.ensure_future(rt.call(fan, [("slow", 10), ("slow2", 20)], timeout=None))
        await rt.sleep(0.01)
        rt.exit(fan, "kill")
        with pytest.raises(CalleeExited):
            await caller
        t0 = rt.now()
        await asyncio.wait_for(rt.sleep(0.05), 5)  # nothing counts as running any more
        assert rt.now() - t0 >= 0.05 - 1e-3
