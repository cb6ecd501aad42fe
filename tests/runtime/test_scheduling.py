"""The run queue: fairness between agents, how a handled message ends, mailbox reuse.

The scheduler handles a lone plain message itself and a longer mailbox in the
agent's own loop; these tests hold both paths to the same rules, with message
tracing off (the fast paths) and on.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import tracemalloc

import pytest

from agentlab import Agent, Continue, Crash, Down, Pid, Runtime, Stop
from agentlab._agent import _BUDGET

TRACE = pytest.mark.parametrize("trace", [False, True], ids=["untraced", "traced"])


class Logger(Agent):
    def init(self, tag, log):
        self.tag = tag
        self.log = log

    def handle_info(self, msg):
        self.log.append((self.tag, msg))


@TRACE
async def test_an_agent_with_a_long_mailbox_yields_its_turn(clock, trace):
    # 1000 messages queued for `a` do not hold up the one message for `b`: `a` goes to
    # the back of the run queue after a bounded number of messages (BEAM reductions)
    async with Runtime(clock=clock, trace_messages=trace) as rt:
        log: list = []
        a, b = rt.start(Logger, "a", log), rt.start(Logger, "b", log)
        for i in range(1000):
            rt.send(a, i)
        rt.send(b, "hello")
        await rt.settled()
        assert len(log) == 1001
        assert [m for t, m in log if t == "a"] == list(range(1000))  # order kept
        assert log.index(("b", "hello")) <= min(_BUDGET, 500)


class Quitter(Agent):
    """Handles messages until the one named ``how``, which ends it in that way."""

    def init(self, log, partner=None):
        self.log = log
        self.partner = partner
        if partner is not None:
            self.link(partner)

    def handle_info(self, msg):
        self.log.append(msg)
        if msg == "stop":
            return Stop("done")
        if msg == "raise":
            raise ValueError("boom")
        if msg == "exit":
            self.exit("bye")
        if msg == "kill_self":
            self.exit(self.pid, "kill")
        if msg == "kill_partner":
            self.exit(self.partner, "kill")  # the link brings this one down at once
        return None

    def terminate(self, reason):
        self.log.append(("terminate", reason))


WAYS = {
    "stop": "done",
    "raise": Crash("ValueError", "boom"),
    "exit": "bye",
    "kill_self": "killed",
    "kill_partner": "killed",
}


@TRACE
@pytest.mark.parametrize("alone", [True, False], ids=["lone", "queued"])
@pytest.mark.parametrize("how", list(WAYS))
async def test_an_agent_that_exits_while_handling_handles_nothing_more(clock, trace, alone, how):
    async with Runtime(clock=clock, trace_messages=trace) as rt:
        log: list = []
        partner = rt.start(Logger, "p", [])
        q = rt.start(Quitter, log, partner)
        msgs = [how] if alone else [1, how, 2, 3]
        for m in msgs:
            rt.send(q, m)
        await rt.settled()
        assert not q.alive and q.exit_reason == WAYS[how]
        handled = [m for m in log if type(m) is not tuple]
        assert handled == msgs[: msgs.index(how) + 1]
        terminated = [m for m in log if type(m) is tuple]
        if how in ("stop", "raise", "exit"):
            assert terminated == [("terminate", WAYS[how])]
        else:  # an untrapped kill: no terminate
            assert terminated == []
        assert q.mailbox_size == 0
        # the runtime keeps only empty mailboxes for reuse, and the others work on
        assert all(len(m) == 0 for m in rt._mbox_pool)
        other: list = []
        o = rt.start(Logger, "o", other)
        rt.send(o, "still works")
        await rt.settled()
        assert other == [("o", "still works")]


class Versatile(Agent):
    """One handle_info that answers each kind of message in one of the ways OTP allows."""

    def init(self, log):
        self.log = log

    def handle_info(self, msg):
        self.log.append(msg)
        if msg == "continue":
            return Continue("more")
        if msg == "self":
            self.send(self.pid, "from myself")
            return None
        if msg == "async":
            return self._later()
        return None

    async def _later(self):
        await asyncio.sleep(0)
        self.log.append("async done")

    def handle_continue(self, term):
        self.log.append(("continue", term))


@TRACE
@pytest.mark.parametrize(
    ("msg", "expected"),
    [
        ("plain", ["plain"]),
        ("continue", ["continue", ("continue", "more")]),
        ("self", ["self", "from myself"]),
        ("async", ["async", "async done"]),
    ],
)
async def test_a_lone_message_is_handled_as_any_other(clock, trace, msg, expected):
    async with Runtime(clock=clock, trace_messages=trace) as rt:
        log: list = []
        v = rt.start(Versatile, log)
        rt.send(v, msg)
        await rt.settled()
        assert log == expected
        # afterwards the agent is idle again and holds no mailbox
        assert v.alive and v.mailbox_size == 0 and v._mbox is None
        rt.send(v, "again")
        await rt.settled()
        assert log == [*expected, "again"]


@TRACE
async def test_a_handled_lone_message_gives_its_mailbox_back(clock, trace):
    async with Runtime(clock=clock, trace_messages=trace) as rt:
        log: list = []
        a, b = rt.start(Logger, "a", log), rt.start(Logger, "b", log)
        rt.send(a, 1)
        rt.send(a, 2)
        assert a.mailbox_size == 2
        box = a._mbox
        await rt.settled()
        assert a._mbox is None and rt._mbox_pool[-1] is box and len(box) == 0
        rt.send(b, 3)
        rt.send(b, 4)
        assert b._mbox is box  # reused by the next idle process that gets mail
        await rt.settled()
        assert log == [("a", 1), ("a", 2), ("b", 3), ("b", 4)]


async def test_a_lone_message_travels_without_a_mailbox(clock):
    # with message tracing off, a message to an idle agent waits in its pid's slot:
    # no mailbox is taken from the pool or given back
    async with Runtime(clock=clock, trace_messages=False) as rt:
        log: list = []
        a = rt.start(Logger, "a", log)
        spare = len(rt._mbox_pool)
        rt.send(a, 1)
        assert a.mailbox_size == 1 and a._mbox is None and len(rt._mbox_pool) == spare
        await rt.settled()
        assert log == [("a", 1)] and a.mailbox_size == 0 and a._mbox is None
        assert len(rt._mbox_pool) == spare


class Relay(Agent):
    """Sends what it gets on to ``dest`` (from a handler: the process's own send)."""

    def init(self, dest):
        self.dest = dest

    def handle_info(self, msg):
        self.send(self.dest, msg)


@TRACE
async def test_a_send_from_a_handler_reaches_every_kind_of_process(clock, trace):
    async with Runtime(clock=clock, trace_messages=trace) as rt:
        got: list = []

        async def selective(proc):
            got.append(await proc.receive(lambda m: m == "wanted"))
            got.append(await proc.receive())

        body = rt.spawn(selective)
        await rt.settled()
        r = rt.start(Relay, body)
        rt.send(r, "other")  # waits in the mailbox: the receive does not match it
        rt.send(r, "wanted")
        await rt.wait(body, timeout=5)
        assert got == ["wanted", "other"]

        log: list = []
        rt.start(Logger, "n", log, name="named")
        r2 = rt.start(Relay, "named")  # by registered name
        for i in range(3):
            rt.send(r2, i)
        await rt.settled()
        assert log == [("n", 0), ("n", 1), ("n", 2)]

        dead = rt.start(Logger, "d", [])
        rt.exit(dead, "kill")
        r3 = rt.start(Relay, dead)  # to a dead pid: dropped, as in OTP
        rt.send(r3, "lost")
        await rt.settled()
        assert r3.alive


async def test_a_send_to_a_process_of_another_runtime_is_handled_there(clock):
    async with Runtime(clock=clock) as a, Runtime(clock=clock, trace_messages=False) as b:
        log: list = []
        target = b.start(Logger, "b", log)
        relay = a.start(Relay, target)
        a.send(relay, "across")
        await a.settled()
        await b.settled()
        assert log == [("b", "across")]
        assert target.alive and target._mbox is None


async def test_a_pid_made_for_a_start_is_the_pid_its_constructor_makes(clock):
    # Runtime._new_pid fills the record without calling Pid.__init__ (a hot path):
    # every field must be what the constructor gives
    async with Runtime(clock=clock) as rt:
        beh = object()
        made = rt._new_pid(beh, None, None, False, "x/y", 2, True)
        ref = Pid(rt, made.id, None, beh, rt.root, "x/y", 2, True)
        for slot in Pid.__slots__:
            assert getattr(made, slot) == getattr(ref, slot), slot
        rt._procs.pop(made.id)


class Parent(Agent):
    trap_exits = True

    def init(self, log, tag):
        self.log = log
        self.tag = tag
        if tag == "a":
            self.runtime.start(Parent, log, "child")  # not top-level: its parent is a

    def terminate(self, reason):
        self.log.append((self.tag, reason))


async def test_shutdown_stops_only_top_level_processes_in_reverse_start_order(clock):
    log: list = []
    rt = Runtime(clock=clock)
    rt.start(Parent, log, "a")
    rt.start(Parent, log, "b")
    await rt.shutdown()
    # b, then a; the child is not signalled as a top-level process: it is killed at the end
    assert log == [("b", "shutdown"), ("a", "shutdown")]
    assert rt.processes() == []


class Quiet(Agent):
    """No state; handle_info ignores what it gets."""


async def test_an_idle_agent_costs_at_most_500_bytes(clock):
    # the memory target for idle agents, with the registry's tables; the event log
    # is bounded and emptied first. Also after each agent handled a message (its
    # mailbox went back to the runtime).
    n = 5000
    async with Runtime(clock=clock, trace_messages=False) as rt:
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            pids = [rt.start(Quiet) for _ in range(n)]
            rt.events.clear()
            gc.collect()
            idle = (tracemalloc.get_traced_memory()[0] - before - sys.getsizeof(pids)) / n
            for p in pids:
                rt.send(p, "hi")
            await rt.settled()
            rt.events.clear()
            gc.collect()
            after = (tracemalloc.get_traced_memory()[0] - before - sys.getsizeof(pids)) / n
        finally:
            tracemalloc.stop()
        assert idle <= 500, idle
        assert after <= 500, after
        assert all(p.alive and p._mbox is None for p in pids)


class Flusher(Agent):
    """Monitors ``target``; on "flush" it demonitors with flush=True, taking the
    Down that is already queued out of its own mailbox."""

    def init(self, log, target):
        self.log = log
        self.ref = self.monitor(target)

    def handle_info(self, msg):
        self.log.append("down" if isinstance(msg, Down) else msg)
        if msg == "flush":
            self.demonitor(self.ref, flush=True)


class Dier(Agent):
    def handle_info(self, msg):
        return Stop("normal")


@TRACE
async def test_a_handler_that_takes_mail_out_of_its_own_mailbox(clock, trace):
    async with Runtime(clock=clock, trace_messages=trace) as rt:
        log: list = []
        b = rt.start(Dier)
        a = rt.start(Flusher, log, b)
        rt.send(b, "die")  # b runs first: its Down lands behind a's two messages
        rt.send(a, "flush")
        rt.send(a, "after")
        await rt.settled()
        assert not b.alive
        assert log == ["flush", "after"]
        assert a.alive and a.mailbox_size == 0 and a._mbox is None


@TRACE
async def test_the_runtime_keeps_a_bounded_number_of_spare_mailboxes(clock, trace):
    # a burst that filled 1000 mailboxes at once leaves at most 64 spare ones behind
    async with Runtime(clock=clock, trace_messages=trace) as rt:
        log: list = []
        pids = [rt.start(Logger, i, log) for i in range(1000)]
        for p in pids:
            rt.send(p, "x")
            rt.send(p, "y")  # two: a lone message needs no mailbox
        await rt.settled()
        assert len(log) == 2000
        assert 0 < len(rt._mbox_pool) <= 64
        assert all(len(m) == 0 for m in rt._mbox_pool)
        assert all(p._mbox is None for p in pids)


@TRACE
async def test_mail_to_itself_while_handling_a_batch(clock, trace):
    # the agent handles what it sent itself in the same turn, after what was queued
    # before; the run queue's next turn for it then finds no mail, and it goes idle
    async with Runtime(clock=clock, trace_messages=trace) as rt:
        log: list = []
        v = rt.start(Versatile, log)
        rt.send(v, "self")
        rt.send(v, "plain")
        await rt.settled()
        assert log == ["self", "plain", "from myself"]
        assert v.alive and v._mbox is None
        rt.send(v, "again")
        await rt.settled()
        assert log[-1] == "again" and v._mbox is None
