"""A KeyboardInterrupt in an event subscriber: the runtime finishes what it was doing.

A subscriber runs inside the operation that emitted the event (a send, a start, an
exit being carried through). Ctrl-C while it runs raises KeyboardInterrupt there. That
is not the subscriber's failure (a crash is logged and the subscriber removed), and it
is not caught: the other subscribers still get the event, the operation is completed,
and then the interrupt goes on out of the code that made the event (a cell's call
here), or through the process whose code it was (which exits, as with any interrupt
in its code). A start it cuts short fails, as an interrupted ``init`` does. It used to
stop the operation half way: a message lost, a process half started and holding its
name for ever, a monitor that never fired, a timer that was never cancelled.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import pytest
from test_processes import frames, run_through_interrupt  # (the same drivers as Ctrl-C there)

from agentlab import (
    IGNORE,
    NOREPLY,
    Agent,
    CallTimeout,
    ChildSpec,
    Continue,
    Crash,
    Down,
    EventKind,
    Exit,
    PubSub,
    Registry,
    Runtime,
    Stop,
    Supervisor,
    VirtualClock,
)

K = EventKind


def interrupt_on(rt: Runtime, kind: str, when: Callable[[Any], bool] = lambda ev: True):
    """Subscribe a subscriber that raises KeyboardInterrupt on every ``kind`` event for
    which ``when(ev)``, and a second one that records every event after it (so it shows
    whether the others still get the event). Returns (the recorded events, unsubscribe)."""
    seen: list[Any] = []

    def interrupter(ev):
        if ev.kind == kind and when(ev):
            raise KeyboardInterrupt

    stop1 = rt.subscribe(interrupter)
    stop2 = rt.subscribe(seen.append)

    def stop() -> None:
        stop1()
        stop2()

    return seen, stop


class Inbox(Agent):
    """Records what it gets."""

    def init(self, how=None):
        self.got: list[Any] = []
        if how == "ignore":
            return IGNORE
        if how == "stop":
            return Stop("no")
        if how == "continue":
            return Continue("warm up")
        return None

    def handle_continue(self, term):
        self.got.append(("continue", term))

    def handle_info(self, msg):
        self.got.append(("info", msg))

    def handle_cast(self, msg):
        self.got.append(("cast", msg))

    def handle_call(self, req, caller):
        self.got.append(("call", req))
        return ("answer", req)


async def wait_in_receive(proc):
    while True:
        await proc.receive()


def no_process_is_left_half_done(rt: Runtime) -> None:
    """Every name is held by a live process, and every live agent answers."""
    assert all(p.alive for p in rt.registered().values()), rt.registered()


async def all_answer(rt: Runtime, agents: list[Inbox]) -> None:
    for a in agents:
        assert await rt.call(a.pid, "still there?", timeout=5) == ("answer", "still there?")


# ------------------------------------------------------------------ messages from a cell


@pytest.mark.parametrize("receiver", ["idle_agent", "queued_agent", "lone_agent", "busy_body"])
async def test_a_send_is_delivered_when_a_subscriber_of_its_event_is_interrupted(
    clock, receiver
):
    async with Runtime(clock=clock) as rt:
        agent = Inbox()
        rt.start(agent)
        body_got: list[Any] = []

        async def body(proc):
            while True:
                body_got.append(await proc.receive())

        target = agent.pid
        if receiver == "busy_body":
            target = rt.spawn(body)
            await asyncio.sleep(0)  # in its receive
        elif receiver == "lone_agent":
            rt.send(target, "first")  # one message waits in the pid's slot
        elif receiver == "queued_agent":
            rt.send(target, "first")
            rt.send(target, "second")  # a mailbox
        seen, stop = interrupt_on(rt, K.SEND, lambda ev: ev.peer == target.id)
        with pytest.raises(KeyboardInterrupt) as ei:
            rt.send(target, "hi")
        stop()
        assert frames(ei.value)[-1] == "interrupter"
        assert [ev.kind for ev in seen] == [K.SEND]  # the other subscriber got it too
        await rt.sleep(0.01)
        got = body_got if receiver == "busy_body" else [m for _, m in agent.got]
        assert got[-1] == "hi"
        assert len(rt.events.filter(kind=K.SEND, pid=0)) == len(got)


async def test_a_cast_is_delivered_when_a_subscriber_of_its_event_is_interrupted(clock):
    async with Runtime(clock=clock) as rt:
        agent = Inbox()
        rt.start(agent)
        _, stop = interrupt_on(rt, K.CAST)
        with pytest.raises(KeyboardInterrupt):
            rt.cast(agent.pid, "hi")
        stop()
        await rt.sleep(0.01)
        assert agent.got == [("cast", "hi")]


async def test_a_call_whose_event_is_interrupted_still_asks_and_leaves_no_waiter(caplog):
    """The request goes out, as the call event says, and the caller stops waiting, as
    when its await is cancelled; its timer does not fire a call_timeout later."""
    async with Runtime(clock=VirtualClock()) as rt:
        agent = Inbox()
        rt.start(agent)
        _, stop = interrupt_on(rt, K.CALL)
        with caplog.at_level(logging.ERROR):
            with pytest.raises(KeyboardInterrupt):
                await rt.call(agent.pid, "ping", timeout=1)
            stop()
            for _ in range(10):
                await asyncio.sleep(0)
            assert rt.now() == 0  # no timer of the call is left to move the virtual clock
            await rt.sleep(5)  # past the call's timeout
            assert agent.got == [("call", "ping")]
            assert rt.events.filter(kind=K.CALL_TIMEOUT) == []
            rt.exit(agent.pid, "kill")  # no caller is left on it to be told
            await rt.sleep(0.01)
        assert not caplog.records, caplog.text


async def test_a_timer_cancelled_while_a_subscriber_is_interrupted_stays_cancelled():
    async with Runtime(clock=VirtualClock()) as rt:
        agent = Inbox()
        rt.start(agent)
        t = rt.send_after(agent.pid, "tick", 1)
        _, stop = interrupt_on(rt, K.TIMER_CANCEL)
        with pytest.raises(KeyboardInterrupt):
            t.cancel()
        stop()
        assert t.cancel() is None  # it was cancelled the first time
        await rt.sleep(2)
        assert agent.got == []


async def test_a_broadcast_reaches_every_subscription_when_its_event_is_interrupted():
    async with Runtime(clock=VirtualClock()) as rt:
        news = PubSub(rt, name="news")
        a, b = Inbox(), Inbox()
        for agent in (a, b):
            news.subscribe("t", pid=rt.start(agent))
        _, stop = interrupt_on(rt, K.BROADCAST)
        with pytest.raises(KeyboardInterrupt):
            news.broadcast("t", "hello")
        stop()
        await rt.sleep(0.01)
        assert a.got == b.got == [("info", "hello")]


def test_a_timer_fires_its_message_when_a_subscriber_is_interrupted():
    """A timer fires in the loop's callback: the interrupt goes on out of the loop, and
    the message is there."""

    async def main() -> Any:
        async with Runtime(clock=VirtualClock()) as rt:
            agent = Inbox()
            rt.start(agent)
            _, stop = interrupt_on(rt, K.TIMER_FIRE)
            rt.send_after(agent.pid, "tick", 1)
            for _ in range(10):  # the interrupt comes out of the loop meanwhile
                await asyncio.sleep(0)
            stop()
            await rt.sleep(2)
            return agent.got

    got, interrupt = run_through_interrupt(main)
    assert got == [("info", "tick")]
    assert frames(interrupt)[-1] == "interrupter"


# ------------------------------------------------------------------ exits


@pytest.mark.parametrize("reason", ["boom", "kill"])
@pytest.mark.parametrize("kind", [K.EXIT_SIGNAL, K.EXIT, K.DOWN, K.UNREGISTER])
async def test_an_exit_is_carried_through_to_everyone_when_a_subscriber_is_interrupted(
    clock, kind, reason
):
    """Every event of ``kind`` raises: the victim, a process linked to it, a trapping
    link, a monitor, its registry keys and its name all see the exit through. A
    KeyboardInterrupt in the first exit_signal event used to leave the victim alive; in
    the next ones, the linked process alive; in the down event, the monitor never
    fired; in the first unregister event, the other key's event was never made."""
    async with Runtime(clock=clock) as rt:
        reg = Registry(rt, keys="duplicate", name="roles")
        victim = rt.spawn(wait_in_receive, name="victim")
        reg.register("writer", pid=victim)
        reg.register("critic", pid=victim)
        got: dict[str, Any] = {}

        async def linked(proc):
            proc.link(victim)
            await proc.receive()

        async def trapper(proc):
            proc.link(victim)
            got["exit"] = await proc.receive()

        async def watcher(proc):
            proc.monitor(victim)
            got["down"] = await proc.receive()

        others = [rt.spawn(linked), rt.spawn(trapper, trap_exit=True), rt.spawn(watcher)]
        await asyncio.sleep(0)
        seen, stop = interrupt_on(rt, kind)
        with pytest.raises(KeyboardInterrupt):
            rt.exit(victim, reason)
        stop()
        await asyncio.wait_for(asyncio.gather(*(rt.wait(p) for p in others)), 5)
        reason = "killed" if reason == "kill" else reason
        assert victim.exit_reason == reason and others[0].exit_reason == reason
        assert type(got["exit"]) is Exit and got["exit"].reason == reason
        assert type(got["down"]) is Down and got["down"].reason == reason
        assert reg.lookup("writer") == reg.lookup("critic") == [] and rt.whereis("victim") is None
        unregistered = [ev.data["key"] for ev in seen if ev.kind == K.UNREGISTER]
        assert unregistered == ["writer", "critic"]
        assert rt.processes() == []


@pytest.mark.parametrize("how", ["monitor", "link"])
async def test_watching_a_dead_process_says_noproc_when_a_subscriber_is_interrupted(how):
    """The monitor's Down (a trapping link's Exit) still comes. The body here catches the
    interrupt, so it lives on to show what it got; it used to get nothing."""
    async with Runtime(clock=VirtualClock()) as rt:
        dead = rt.spawn(lambda proc: None)
        await rt.wait(dead)
        _, stop = interrupt_on(rt, K.MONITOR if how == "monitor" else K.LINK)
        got: list[Any] = []

        async def watcher(proc):
            try:
                if how == "monitor":
                    proc.monitor(dead)
                else:
                    proc.link(dead)
            except KeyboardInterrupt:
                stop()
                got.append("interrupted")
            got.append(await proc.receive(timeout=1))

        w = rt.spawn(watcher, trap_exit=True)
        assert await rt.wait(w) == "normal"
        assert got[0] == "interrupted"
        assert type(got[1]) is (Down if how == "monitor" else Exit)
        assert got[1].reason == "noproc" and got[1].pid is dead


def test_a_call_timeout_whose_event_is_interrupted_still_tells_the_caller():
    """The timer fires in the loop's callback: the interrupt goes on out of the loop;
    the caller used to wait for ever."""

    class Mute(Agent):
        def handle_call(self, req, caller):
            return NOREPLY

    async def main() -> Any:
        async with Runtime(clock=VirtualClock()) as rt:
            mute = rt.start(Mute)
            _, stop = interrupt_on(rt, K.CALL_TIMEOUT)
            calling = asyncio.ensure_future(rt.call(mute, "x", timeout=1))
            for _ in range(50):  # the interrupt comes out of the loop meanwhile
                await asyncio.sleep(0)
            stop()
            with pytest.raises(CallTimeout):
                await asyncio.wait_for(calling, 5)
            return mute.alive

    alive, _ = run_through_interrupt(main)
    assert alive


def test_a_reply_whose_event_is_interrupted_still_reaches_the_caller():
    """The reply event is made in the callee's handler: the interrupt goes on through
    it (the callee exits, as with any interrupt in its code, here out of its task and
    the loop), and the caller has its reply. It used to be left waiting for it."""

    class Slow(Agent):
        async def handle_call(self, req, caller):
            await self.sleep(0.01)
            return ("answer", req)

    async def main() -> Any:
        async with Runtime(clock=VirtualClock()) as rt:
            slow = rt.start(Slow)
            _, stop = interrupt_on(rt, K.REPLY)
            calling = asyncio.ensure_future(rt.call(slow, "x", timeout=1))
            for _ in range(50):  # the interrupt comes out of the loop meanwhile
                await asyncio.sleep(0)
            stop()
            return await asyncio.wait_for(calling, 5), slow.exit_reason

    (answer, reason), _ = run_through_interrupt(main)
    assert answer == ("answer", "x")
    assert isinstance(reason, Crash) and reason.type == "KeyboardInterrupt"


# ------------------------------------------------------------------ starts


@pytest.mark.parametrize(
    ("how", "kind"),
    [
        ("spawn", K.SPAWN),
        ("spawn", K.REGISTER),
        ("start", K.SPAWN),
        ("start", K.REGISTER),
        ("task", K.SPAWN),
    ],
)
async def test_an_interrupted_start_event_fails_the_start_and_frees_the_name(clock, how, kind):
    """Before its init returned, a start that a subscriber's interrupt cuts short fails
    as an interrupted init does: the new process exits with the interrupt as its
    reason and holds no name. It used to stay alive for ever, never run, holding its
    name: the cell that started it could not be run again."""
    async with Runtime(clock=clock) as rt:
        bystander = Inbox()
        rt.start(bystander, name="bystander")
        _, stop = interrupt_on(rt, kind, lambda ev: ev.pid != bystander.pid.id)

        def start():
            if how == "spawn":
                return rt.spawn(wait_in_receive, name="new")
            if how == "start":
                return rt.start(Inbox, name="new")
            return rt.task(lambda: "done")

        with pytest.raises(KeyboardInterrupt) as ei:
            start()
        stop()
        assert frames(ei.value)[-1] == "interrupter"
        [exit_event] = rt.events.filter(kind=K.EXIT)
        assert isinstance(exit_event.reason, Crash) and exit_event.reason.type == "KeyboardInterrupt"
        assert rt.whereis("new") is None and rt.processes() == [bystander.pid]
        no_process_is_left_half_done(rt)
        again = start()  # the cell, run again
        if how == "task":
            assert await again.wait() == "done"
        else:
            assert rt.whereis("new") is again and again.alive
        await all_answer(rt, [bystander])


@pytest.mark.parametrize("how", ["spawn_link", "start_link", "failed_start_link"])
async def test_an_interrupted_link_event_leaves_no_half_started_child(how):
    """A linked start from a process, whose link event raises (an agent whose init
    fails is unlinked before it exits: its unlink event). The body here catches the
    interrupt, so it lives on: the child's start failed, it holds no name, and being
    a failed start, it sent the starter no exit signal. It used to be left alive for
    ever, never run, holding its name."""

    class Failing(Inbox):
        def init(self):
            return Stop("no")

    async with Runtime(clock=VirtualClock()) as rt:
        got: list[Any] = []

        async def parent(proc):
            await proc.receive()
            try:
                if how == "spawn_link":
                    proc.spawn_link(wait_in_receive, name="child")
                else:
                    rt.start(Inbox if how == "start_link" else Failing, name="child", link=True)
            except KeyboardInterrupt:
                got.append("interrupted")
            await proc.sleep(0.1)  # an exit signal from the child would end it meanwhile

        par = rt.spawn(parent, name="parent")
        _, stop = interrupt_on(rt, K.UNLINK if how == "failed_start_link" else K.LINK)
        rt.send(par, "go")
        assert await rt.wait(par) == "normal"
        stop()
        assert got == ["interrupted"]
        [child] = [ev for ev in rt.events.filter(kind=K.EXIT) if ev.name == "child"]
        if how == "failed_start_link":
            assert child.reason == "no"
        else:
            assert isinstance(child.reason, Crash) and child.reason.type == "KeyboardInterrupt"
        assert rt.registered() == {} and rt.processes() == []


@pytest.mark.parametrize("how", [None, "continue", "ignore", "stop"])
async def test_a_start_whose_init_event_is_interrupted_is_completed(clock, how):
    """Once init returned, the start stands: the agent runs (it used to stay busy for
    ever, never handling a message), or, if its init said so, has exited."""
    async with Runtime(clock=clock) as rt:
        _, stop = interrupt_on(rt, K.INIT)
        agent = Inbox()
        with pytest.raises(KeyboardInterrupt):
            rt.start(agent, how, name="new")
        stop()
        pid = agent.pid
        if how in ("ignore", "stop"):
            assert not pid.alive and pid.exit_reason == ("normal" if how == "ignore" else "no")
            assert rt.whereis("new") is None
        else:
            assert rt.whereis("new") is pid
            await all_answer(rt, [agent])
            if how == "continue":
                assert agent.got[0] == ("continue", "warm up")
        no_process_is_left_half_done(rt)


def test_an_async_init_whose_init_event_is_interrupted_does_not_leave_start_async_waiting():
    """An ``async def init`` runs in the process's task: the interrupt goes on through
    it, out of the loop, and ends the process; ``start_async`` used to wait for ever."""

    class AsyncInit(Agent):
        async def init(self):
            await self.sleep(0.01)

    async def main() -> Any:
        async with Runtime(clock=VirtualClock()) as rt:
            _, stop = interrupt_on(rt, K.INIT)
            starting = asyncio.ensure_future(rt.start_async(AsyncInit, name="slow"))
            for _ in range(50):  # the interrupt comes out of the loop meanwhile
                await asyncio.sleep(0)
                if starting.done():
                    break
            stop()
            pid = await asyncio.wait_for(starting, 5)
            await rt.wait(pid)
            return pid.exit_reason, rt.whereis("slow"), rt.processes()

    (reason, holder, procs), _ = run_through_interrupt(main)
    assert isinstance(reason, Crash) and reason.type == "KeyboardInterrupt"
    assert holder is None and procs == []


async def test_replace_true_interrupted_by_a_subscriber_still_takes_the_whole_tree_down():
    """The old tree loses every name and is shut down, then the interrupt goes on (the
    new start, not made, fails); the cell run again starts the tree."""
    async with Runtime(clock=VirtualClock()) as rt:
        spec = [ChildSpec("a", Inbox, name="team_a"), ChildSpec("b", Inbox, name="team_b")]
        old = rt.start(Supervisor, spec, name="team")
        members = [rt.whereis("team_a"), rt.whereis("team_b")]
        _, stop = interrupt_on(rt, K.UNREGISTER)
        with pytest.raises(KeyboardInterrupt):
            rt.start(Supervisor, spec, name="team", replace=True)
        stop()
        assert rt.registered() == {}
        await rt.wait(old)
        assert [p.alive for p in members] == [False, False]
        new = rt.start(Supervisor, spec, name="team", replace=True)
        assert rt.whereis("team") is new and len(rt.registered()) == 3


@pytest.mark.parametrize("to", ["name", "idle_pid", "busy_pid"])
def test_a_subscriber_interrupted_in_a_handler_s_send_delivers_and_ends_the_sender(to):
    """An agent's own send: the message is delivered, and the interrupt goes on through
    the agent's handler, which it ends as any interrupt in its code does."""

    class Forwarder(Agent):
        def init(self, dest):
            self.dest = dest

        def handle_info(self, msg):
            self.send(self.dest, msg)

    async def main() -> Any:
        async with Runtime(clock=VirtualClock()) as rt:
            inbox = Inbox()
            body_got: list[Any] = []

            async def body(proc):
                while True:
                    body_got.append(("info", await proc.receive()))

            dest: Any = rt.start(inbox, name="inbox")
            if to == "name":
                dest = "inbox"
            elif to == "busy_pid":
                dest = rt.spawn(body)
                await asyncio.sleep(0)  # in its receive
            fwd = rt.start(Forwarder, dest, name="fwd")
            _, stop = interrupt_on(rt, K.SEND, lambda ev: ev.pid == fwd.id)
            rt.send(fwd, "hello")
            for _ in range(10):  # the interrupt comes out of the loop meanwhile
                await asyncio.sleep(0)
            stop()
            await rt.sleep(0.01)
            got = body_got if to == "busy_pid" else inbox.got
            return got, fwd.exit_reason, rt.whereis("fwd")

    (got, reason, holder), interrupt = run_through_interrupt(main)
    assert got == [("info", "hello")]
    assert isinstance(reason, Crash) and reason.type == "KeyboardInterrupt" and holder is None
    assert frames(interrupt)[-1] == "interrupter"


# ------------------------------------------------------------------ batched subscribers


async def test_a_batched_subscriber_s_interrupt_loses_no_event():
    async with Runtime(clock=VirtualClock(), trace_messages=False) as rt:
        batches: list[list[int]] = []
        armed: list[bool] = [True]

        def interrupter(batch):
            if armed[0]:
                armed[0] = False
                raise KeyboardInterrupt

        rt.subscribe(interrupter, batched=True)
        rt.subscribe(lambda b: batches.append([e.seq for e in b]), batched=True)
        for _ in range(5):
            rt.start(Inbox)  # spawn and init: 10 events
        with pytest.raises(KeyboardInterrupt):
            rt.flush_events()
        assert batches == [list(range(1, 11))]  # the next one got them
        assert [e.seq for e in rt.events] == list(range(1, 11))  # and the log has them
        # unsubscribing hands over what is pending first; an interrupt there comes once
        # that is done, and the subscriber is gone
        late: list[int] = []
        stop_late = rt.subscribe(lambda b: late.extend(e.seq for e in b), batched=True)
        rt.start(Inbox)
        armed[0] = True
        with pytest.raises(KeyboardInterrupt):
            stop_late()
        assert late == [11, 12]
        rt.start(Inbox)
        rt.flush_events()
        assert late == [11, 12] and batches[-1] == [13, 14]


# ------------------------------------------------------------------ subscribers that act


async def test_a_subscriber_that_kills_the_receiver_of_a_send_leaves_it_dead(caplog):
    """A subscriber may act on what it sees (chaos testing: kill whoever gets a
    message). The send used to go on with what it read before the event: it put the
    message into the now dead process and queued it, which brought it back "alive"
    and crashed the scheduler."""
    async with Runtime(clock=VirtualClock()) as rt:
        victim = Inbox()
        rt.start(victim, name="victim")
        other = Inbox()
        rt.start(other)

        def chaos(ev):
            if ev.kind == K.SEND and ev.peer == victim.pid.id and victim.pid.alive:
                rt.exit(victim.pid, "kill")

        rt.subscribe(chaos)
        with caplog.at_level(logging.ERROR):
            rt.send(victim.pid, "hi")
            assert not victim.pid.alive and victim.pid.exit_reason == "killed"
            await rt.sleep(0.01)
            assert not victim.pid.alive and victim.got == []
            assert rt.whereis("victim") is None
            await all_answer(rt, [other])
        assert not caplog.records, caplog.text
