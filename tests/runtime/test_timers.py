"""Timers: send_after on the runtime clock, cancel_timer, and timers to dead processes."""

from __future__ import annotations

import asyncio
import gc
import math
import weakref

import pytest

from agentlab import (
    NOREPLY,
    Agent,
    ChildSpec,
    EventKind,
    ReceiveTimeout,
    Runtime,
    RuntimeStateError,
    Supervisor,
    TimerRef,
    VirtualClock,
)


class Inbox(Agent):
    def init(self):
        self.got = []

    def handle_info(self, msg):
        self.got.append((msg, self.runtime.now()))


async def test_send_after_delivers_after_the_delay(clock):
    async with Runtime(clock=clock) as rt:
        box = Inbox()
        pid = rt.start(box)
        t0 = rt.now()
        ref = rt.send_after(pid, "tick", 0.03)
        assert isinstance(ref, TimerRef)
        await rt.sleep(0.06)
        assert [m for m, _ in box.got] == ["tick"]
        assert box.got[0][1] - t0 >= 0.03 - 1e-3
        if clock.virtual:
            assert box.got[0][1] - t0 == pytest.approx(0.03)
        assert ref.fired and not ref.cancelled


async def test_timers_fire_in_deadline_order_and_ties_in_start_order(clock):
    async with Runtime(clock=clock) as rt:
        box = Inbox()
        pid = rt.start(box)
        rt.send_after(pid, "c", 0.03)
        rt.send_after(pid, "a", 0.01)
        rt.send_after(pid, "b1", 0.02)
        rt.send_after(pid, "b2", 0.02)
        rt.send_after(pid, "now", 0)
        await rt.sleep(0.05)
        assert [m for m, _ in box.got] == ["now", "a", "b1", "b2", "c"]


async def test_a_delay_that_is_not_a_number_of_seconds_is_refused(clock):
    async with Runtime(clock=clock) as rt:
        box = Inbox()
        pid = rt.start(box)
        with pytest.raises(TypeError, match=r"delay is a number of seconds, not '0.1'.*\(dest, msg, delay\)"):
            rt.send_after(pid, "tick", "0.1")
        with pytest.raises(TypeError, match=r"dest=0.1.*not float.*\(dest, msg, delay\)"):
            rt.send_after(0.1, "tick", pid)  # the arguments in the wrong order
        with pytest.raises(TypeError, match="dest is a Pid or a registered name"):
            rt.send_after(None, "tick", 0.1)  # used to be accepted, and dropped when due
        with pytest.raises(TypeError, match="not a bool"):
            rt.send_after(pid, "tick", True)  # used to be a delay of 1 s
        for bad in ("ref", None, 0.1):
            with pytest.raises(TypeError, match="the TimerRef that send_after returned"):
                rt.cancel_timer(bad)  # used to be an AttributeError
        with pytest.raises(ValueError, match="NaN"):
            rt.send_after(pid, "tick", float("nan"))
        rt.send_after(pid, "late", -1)  # a negative delay is a delay of 0
        await rt.sleep(0.01)
        assert [m for m, _ in box.got] == ["late"]


async def test_send_after_with_an_infinite_delay_never_fires(clock):
    """A timer with an infinite delay is one that never fires; an idle virtual clock
    moves to the next finite deadline and no further (it used to jump to infinity and
    fire it). A supervisor's ``shutdown=math.inf`` sets such a timer, and so waits
    for its child as ``"infinity"`` does (it killed the child at once on a virtual
    clock)."""
    async with Runtime(clock=clock) as rt:
        box = Inbox()
        pid = rt.start(box)
        ref = rt.send_after(pid, "never", math.inf)
        step = 2 if clock.virtual else 0.02
        await rt.sleep(step)
        for _ in range(20):  # idle: a virtual clock would move on here, if it did
            await asyncio.sleep(0)
        assert box.got == [] and not ref.fired
        assert math.isfinite(rt.now()) and rt.now() < step + 1
        assert ref.cancel() == math.inf

        started: list = []
        log: list = []

        class SlowToStop(Agent):
            trap_exits = True

            def init(self):
                started.append(self.pid)

            async def terminate(self, reason):
                await self.receive(lambda m: m == "go")  # no timer: only a message ends it
                log.append(reason)

        sup = rt.start(Supervisor, [ChildSpec("slow", SlowToStop, shutdown=math.inf)])
        stopping = asyncio.ensure_future(rt.stop(sup, timeout=None))
        await rt.sleep(step)  # the last finite deadline: then only the inf timer is left
        for _ in range(20):
            await asyncio.sleep(0)
        assert math.isfinite(rt.now()) and not stopping.done()
        assert started[0].alive and log == []  # waited for, not killed
        rt.send(started[0], "go")
        assert await stopping == "normal"
        assert log == ["shutdown"]


class Holder(Agent):
    """Never answers a call."""

    def handle_call(self, request, caller):
        return NOREPLY


INFINITE_WAITS = {
    "receive": lambda proc, server: proc.receive(timeout=math.inf),
    "selective receive": lambda proc, server: proc.receive(lambda m: m == "go", timeout=math.inf),
    "call": lambda proc, server: proc.call(server, "hold", timeout=math.inf),
    "sleep": lambda proc, server: proc.sleep(math.inf),
    "wait": lambda proc, server: proc.runtime.wait(server, math.inf),
    "Task.wait": lambda proc, server: proc.runtime.task(proc.runtime.sleep, math.inf).wait(
        math.inf
    ),
    "Task.yield_": lambda proc, server: proc.runtime.task(proc.runtime.sleep, math.inf).yield_(
        math.inf
    ),
}


async def test_an_infinite_timeout_waits_forever_and_time_never_jumps_to_it(clock):
    """``math.inf`` as a timeout (or a sleep) waits forever, as ``None`` does (OTP's
    ``infinity``), from a process or from outside. An idle virtual clock moves to the
    next finite deadline and no further: it used to jump to infinity, where every such
    wait timed out."""
    async with Runtime(clock=clock) as rt:
        server = rt.start(Holder)
        ended: list = []

        async def waiter(proc, what):
            try:
                await INFINITE_WAITS[what](proc, server)
            except BaseException as e:
                ended.append((what, type(e).__name__))
                raise
            ended.append((what, "returned"))

        pids = {what: rt.spawn(waiter, what) for what in INFINITE_WAITS}
        outside = [
            asyncio.ensure_future(rt.call(server, "hold", timeout=math.inf)),
            asyncio.ensure_future(rt.wait(server, math.inf)),
            asyncio.ensure_future(rt.sleep(math.inf)),
        ]
        t0 = rt.now()
        step = 2 if clock.virtual else 0.05
        await rt.sleep(step)  # a finite deadline: time moves to it
        for _ in range(20):  # idle now: a virtual clock would move on here, if it did
            await asyncio.sleep(0)
        assert math.isfinite(rt.now()) and rt.now() - t0 < step + 1
        if clock.virtual:
            assert rt.now() - t0 == step
        assert ended == []
        assert all(p.alive for p in pids.values())
        assert not any(f.done() for f in outside)
        rt.send(pids["receive"], "hi")  # what ends a wait still ends it
        rt.send(pids["selective receive"], "go")
        await rt.sleep(0.01)
        assert sorted(ended) == [("receive", "returned"), ("selective receive", "returned")]
        for f in outside:
            f.cancel()
        await asyncio.gather(*outside, return_exceptions=True)
        # stop and shutdown with an infinite timeout wait as long as it takes
        assert await rt.stop(pids["call"], timeout=math.inf) == "normal"
        await rt.shutdown(math.inf)
        assert not any(p.alive for p in pids.values())


async def test_cancel_timer_returns_the_time_left(clock):
    async with Runtime(clock=clock) as rt:
        box = Inbox()
        pid = rt.start(box)
        ref = rt.send_after(pid, "never", 10.0)
        await rt.sleep(0.02)
        left = rt.cancel_timer(ref)
        assert left is not None and 0 < left <= 10.0 - 0.02 + 1e-3
        if clock.virtual:
            assert left == pytest.approx(9.98)
        assert ref.cancelled
        assert rt.cancel_timer(ref) is None  # second cancel
        ref2 = rt.send_after(pid, "x", 0.01)
        await rt.sleep(0.03)
        assert ref2.cancel() is None  # already fired
        await rt.sleep(0.01 if not clock.virtual else 20)
        assert [m for m, _ in box.got] == ["x"]


async def test_cancel_from_inside_a_process(clock):
    async with Runtime(clock=clock) as rt:
        out = []

        async def body(proc):
            ref = proc.send_after(proc.pid, "t", 1.0)
            out.append(proc.cancel_timer(ref))
            with pytest.raises(ReceiveTimeout):
                await proc.receive(timeout=0)  # the cancelled timer sent nothing

        await rt.wait(rt.spawn(body))
        assert out[0] == pytest.approx(1.0, abs=0.05)


async def test_timers_to_a_dead_pid_are_dropped(clock):
    async with Runtime(clock=clock) as rt:
        box = Inbox()
        pid = rt.start(box)
        ref = rt.send_after(pid, "late", 0.02)
        rt.exit(pid, "kill")
        await rt.sleep(0.04)
        assert box.got == []
        assert not rt.events.filter(kind=EventKind.TIMER_FIRE)  # cancelled with its target
        assert ref.cancel() is None

        ref2 = rt.send_after(pid, "to the dead", 0.01)  # already dead when set
        await rt.sleep(0.03)
        assert not ref2.fired and box.got == []


async def test_timers_to_names_resolve_at_fire_time(clock):
    async with Runtime(clock=clock) as rt:
        rt.send_after("later", "hello", 0.02)  # nobody has the name yet
        rt.send_after("nobody", "lost", 0.02)  # never registered: dropped, no error
        box = Inbox()
        rt.start(box, name="later")
        await rt.sleep(0.04)
        assert [m for m, _ in box.got] == ["hello"]


async def test_timer_events(clock):
    async with Runtime(clock=clock) as rt:
        pid = rt.start(Inbox)
        r1 = rt.send_after(pid, "a", 0.01)
        r2 = rt.send_after(pid, "b", 1.0)
        rt.cancel_timer(r2)
        await rt.sleep(0.02)
        kinds = [e.kind for e in rt.events if e.kind.startswith("timer")]
        assert kinds == ["timer_start", "timer_start", "timer_cancel", "timer_fire"]
        start = rt.events.filter(kind="timer_start")[0]
        assert start.pid == pid.id and start.data["delay"] == 0.01 and start.data["msg"] == "a"
        assert r1.fired


async def test_periodic_timer_keeps_time(clock):
    async with Runtime(clock=clock) as rt:

        class Ticker(Agent):
            def init(self):
                self.ticks = 0
                self.send_after(self.pid, "tick", 0.01)

            def handle_info(self, msg):
                self.ticks += 1
                if self.ticks < 5:
                    self.send_after(self.pid, "tick", 0.01)

            def handle_call(self, req, caller):
                return self.ticks

        pid = rt.start(Ticker)
        await rt.sleep(0.2)
        assert await rt.call(pid, "ticks") == 5


async def test_send_after_on_a_closed_runtime_raises():
    from agentlab import VirtualClock

    rt = Runtime(clock=VirtualClock())
    await rt.shutdown()
    with pytest.raises(RuntimeStateError):
        rt.send_after("x", 1, 1.0)


class Msg:
    """A timer message that can be watched for being freed."""


class IdleTimer(Agent):
    """Re-arms an idle timer on every cast: cancel the old one, start a new one."""

    def init(self):
        self.t = None

    def handle_cast(self, msg):
        if self.t is not None:
            self.cancel_timer(self.t)
        self.t = self.send_after(self.pid, msg, 60)


async def test_a_cancelled_timer_is_not_kept_by_its_destination(clock):
    """Regression: send_after records the timer on its destination pid (to cancel it if
    the pid exits first) and only firing forgot it, so an agent re-arming an idle timer
    kept every cancelled timer and its message until it exited."""
    # a small event log: timer events hold their message too
    async with Runtime(clock=clock, trace_messages=False, event_capacity=16) as rt:
        pid = rt.start(IdleTimer)
        refs = []
        for _ in range(3000):
            m = Msg()
            refs.append(weakref.ref(m))
            rt.cast(pid, m)
            del m
        await rt.settled()
        gc.collect()
        alive = sum(r() is not None for r in refs)
        # the heap drops cancelled timers in batches, the event log's newest events
        # hold a few hundred; nothing else keeps them
        assert alive < 1000, alive
        rt.cancel_timer(rt.send_after(pid, "x", 1), quiet=True)  # quietly too
        quiet = Msg()
        rt.cancel_timer(rt.send_after(pid, quiet, 1), quiet=True)
        ref = weakref.ref(quiet)
        del quiet
        for _ in range(1000):  # enough cancelled timers and events for both to drop it
            rt.cancel_timer(rt.send_after(pid, "y", 1))
        gc.collect()
        assert ref() is None


async def sleeper(proc, seconds):
    await proc.sleep(seconds)


async def test_a_killed_sleeper_leaves_no_timer_behind(clock):
    """Regression: sleep left its timer in the heap when the sleeper was killed, and a
    virtual clock then jumped to it (an hour) once everything was idle."""
    async with Runtime(clock=clock) as rt:
        p = rt.spawn(sleeper, 3600)
        await rt.sleep(0.05)
        rt.exit(p, "kill")
        await asyncio.sleep(0.05)  # outside code busy elsewhere: the runtime is idle
        assert rt.now() < 1.0
        t0 = rt.now()
        q = rt.spawn(sleeper, 0.05)
        assert await rt.wait(q) == "normal"
        assert rt.now() - t0 == pytest.approx(0.05, abs=0.5 if not clock.virtual else 1e-9)
        assert rt.events.list()[-1].time < 1.0
        assert not [t for _, _, t in rt._heap if not t.cancelled]


async def test_waits_a_dead_process_tried_leave_shutdown_nothing_to_report(clock):
    """Regression: a killed process that caught its CancelledError and waited again made
    a timer its wait dropped at once; shutdown still set RuntimeStateError on that timer's
    future, which nobody awaits ("Future exception was never retrieved", failed by the
    test harness)."""
    tried = []

    async def deaf(proc):
        try:
            await proc.runtime.sleep(1000)
        except asyncio.CancelledError:  # killed: it carries on regardless
            for _ in range(2):
                try:
                    await proc.runtime.sleep(1)
                except asyncio.CancelledError:  # a dead process's waits end at once
                    tried.append("sleep")

    async with Runtime(clock=clock) as rt:
        p = rt.spawn(deaf)
        await rt.sleep(0.01)
        rt.exit(p, "kill")
        assert await rt.wait(p) == "killed"
        await asyncio.sleep(0.01)
    assert tried == ["sleep", "sleep"]


async def test_timers_cancelled_while_timers_fire_do_not_make_the_others_fire_twice(clock):
    """Cancelling many timers compacts the timer heap. When that happened inside a
    timer's own firing (here: an event subscriber kills a process that has 100 timers
    pending), the heap was replaced by a new list while the firing went on through the
    old one, and a timer due at the same moment fired twice."""
    async with Runtime(clock=clock) as rt:
        box = Inbox()
        pid = rt.start(box)
        victim = rt.spawn(lambda proc: proc.receive())
        for i in range(100):
            rt.send_after(victim, i, 50.0)

        def on_event(ev):
            if ev.kind == "timer_fire" and ev.data["msg"] == "first":
                rt.exit(victim, "kill")  # its 100 timers are cancelled, here

        rt.subscribe(on_event)
        rt.send_after(pid, "first", 0.01)
        rt.send_after(pid, "second", 0.01)  # due at the same moment, after it
        rt.send_after(pid, "third", 0.03)
        await rt.sleep(0.06)
        assert [m for m, _ in box.got] == ["first", "second", "third"]
        assert len(rt.events.filter(kind="timer_fire")) == 3


@pytest.mark.parametrize("kind", ["agent", "body", "supervisor_subclass"])
async def test_a_virtual_clock_stays_while_a_process_awaits_something_else(kind):
    """A process that awaits something other than the runtime (an ``asyncio.sleep``, I/O)
    is running, not parked: an idle virtual clock must not jump to the next timer
    meanwhile. A Supervisor subclass's own async handler did let it jump (its handlers
    are stepped inline, and every future they awaited was taken for a runtime wait)."""

    class Slow(Agent):
        async def handle_call(self, req, caller):
            t0 = self.runtime.now()
            await asyncio.sleep(0.02)
            return self.runtime.now() - t0

    class SlowSupervisor(Supervisor):
        async def handle_call(self, req, caller):
            if req != "slow":
                return await super().handle_call(req, caller)
            t0 = self.runtime.now()
            await asyncio.sleep(0.02)
            return self.runtime.now() - t0

    async def body(proc):
        t0 = proc.runtime.now()
        await asyncio.sleep(0.02)
        return proc.runtime.now() - t0

    async with Runtime(clock=VirtualClock()) as rt:
        rt.send_after(rt.start(Inbox), "due in an hour", 3600)
        if kind == "body":
            seen: list = []

            async def run(proc):
                seen.append(await body(proc))

            await rt.wait(rt.spawn(run))
            elapsed = seen[0]
        elif kind == "agent":
            elapsed = await rt.call(rt.start(Slow), "slow", timeout=None)
        else:
            elapsed = await rt.call(rt.start(SlowSupervisor, []), "slow", timeout=None)
        assert elapsed == 0.0
        assert rt.now() < 3600
