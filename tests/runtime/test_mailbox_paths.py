"""Every way into and out of a mailbox sees the same messages in the same order.

The fast paths keep a lone message to an idle agent in its pid's slot (no
mailbox), handle a plain message without looking at it twice, and handle
system messages (calls, casts, trapped exits, stops) wherever they sit among
plain ones. These tests put each kind of message in each place: alone, behind
a lone one, in the middle of a batch, sent by hand or forwarded by another
process, and read back by each reader (selective receive, a Task, a flush,
an exit, the mailbox depth).
"""

from __future__ import annotations

import asyncio
import gc
import weakref

import pytest

from agentlab import Agent, Down, Exit, Runtime

TRACE = pytest.mark.parametrize("trace", [False, True], ids=["untraced", "traced"])


class Log(Agent):
    """Logs every message with how it came: info, cast, call; traps exits if asked."""

    def init(self, log, trap=False):
        self.log = log
        self.pid._trap = trap

    def handle_info(self, msg):
        self.log.append(("info", msg))
        if isinstance(msg, tuple) and msg[0] == "then":
            return msg[1](self)
        return None

    def handle_cast(self, msg):
        self.log.append(("cast", msg))

    def handle_call(self, request, caller):
        self.log.append(("call", request))
        return ("ok", request)

    def terminate(self, reason):
        self.log.append(("terminate", reason))


@TRACE
async def test_a_cast_behind_a_lone_message_comes_after_it(clock, trace):
    async with Runtime(clock=clock, trace_messages=trace) as rt:
        log: list = []
        a = rt.start(Log, log)
        rt.send(a, 1)
        rt.cast(a, 2)
        rt.send(a, 3)
        assert a.mailbox_size == 3
        await rt.settled()
        assert log == [("info", 1), ("cast", 2), ("info", 3)]
        assert a.mailbox_size == 0 and a._mbox is None


@TRACE
async def test_a_call_behind_a_lone_message_comes_after_it(clock, trace):
    async with Runtime(clock=clock, trace_messages=trace) as rt:
        log: list = []
        a = rt.start(Log, log)
        rt.send(a, 1)
        assert await rt.call(a, "q") == ("ok", "q")
        assert log == [("info", 1), ("call", "q")]


@TRACE
async def test_system_messages_in_the_middle_of_a_plain_batch(clock, trace):
    # a cast, a call, a trapped exit signal and a stop arrive while the agent handles
    # a run of plain messages: each is handled as what it is, in arrival order
    async with Runtime(clock=clock, trace_messages=trace) as rt:
        log: list = []
        other = rt.start(Log, [])
        a = rt.start(Log, log, True)
        rt._link(a, other)
        replies: list = []

        def mid(agent):
            rt.cast(agent.pid, "c")
            rt.exit(other, "boom")  # linked: a trapped exit signal for a
            # a call from a task: delivered when the task runs, after this batch
            replies.append(asyncio.ensure_future(rt.call(agent.pid, "k")))

        for i in range(5):
            rt.send(a, i)
        rt.send(a, ("then", mid))
        for i in range(5, 8):
            rt.send(a, i)
        await rt.settled()
        assert await replies[0] == ("ok", "k")
        kinds = [(k, m if k != "info" or not isinstance(m, tuple) else "then") for k, m in log]
        assert kinds == [
            *[("info", i) for i in range(5)],
            ("info", "then"),
            *[("info", i) for i in range(5, 8)],
            ("cast", "c"),
            ("info", Exit(other, "boom")),
            ("call", "k"),
        ]
        await rt.stop(a, "done")
        assert log[-1] == ("terminate", "done")


@TRACE
@pytest.mark.parametrize("where", ["lone", "batch"])
async def test_an_exit_from_the_parent_sent_by_hand_stops_a_trapping_agent(clock, trace, where):
    # OTP's gen_server ends on {'EXIT', Parent, Reason} whoever sent it: an Exit made
    # by hand and sent as a plain message is an exit from the parent all the same
    async with Runtime(clock=clock, trace_messages=trace) as rt:
        log: list = []

        class Parent(Agent):
            def init(self):
                self.child = self.runtime.start(Log, log, True, link=True)

        parent = rt.start(Parent)
        child = rt._procs[max(rt._procs)]
        assert child._parent is parent
        if where == "batch":
            rt.send(child, "before")
        rt.send(child, Exit(parent, "by hand"))
        rt.send(child, "after")
        await rt.settled()
        assert not child.alive and child.exit_reason == "by hand"
        before = [("info", "before")] if where == "batch" else []
        assert log == [*before, ("terminate", "by hand")]


@TRACE
@pytest.mark.parametrize("where", ["lone", "batch"])
async def test_an_exit_from_anyone_else_sent_by_hand_is_a_plain_message(clock, trace, where):
    async with Runtime(clock=clock, trace_messages=trace) as rt:
        log: list = []
        a = rt.start(Log, log, True)
        stranger = rt.start(Log, [])
        if where == "batch":
            rt.send(a, "before")
        rt.send(a, Exit(stranger, "by hand"))
        await rt.settled()
        assert a.alive
        assert log[-1] == ("info", Exit(stranger, "by hand"))


@TRACE
@pytest.mark.parametrize("where", ["lone", "batch"])
async def test_a_cast_and_a_call_forwarded_by_another_process(clock, trace, where):
    # a process that receives a cast or a call raw and sends it on as a plain message
    # (a proxy): the agent still handles a cast and answers the original caller
    async with Runtime(clock=clock, trace_messages=trace) as rt:
        log: list = []
        a = rt.start(Log, log)

        async def proxy(proc):
            while True:
                msg = await proc.receive()
                if where == "batch":
                    proc.send(a, "before")
                proc.send(a, msg)

        px = rt.spawn(proxy)
        rt.cast(px, "fwd-cast")
        await rt.settled()
        assert await rt.call(px, "fwd-call") == ("ok", "fwd-call")
        assert [m for m in log if m[0] != "info"] == [("cast", "fwd-cast"), ("call", "fwd-call")]
        assert all(m == ("info", "before") for m in log if m[0] == "info")


class Receiver(Agent):
    """A handler run inline that then waits for a message it sent itself."""

    _inline_async = True  # stepped inline until it really waits, as supervisors are

    def init(self, log):
        self.log = log

    def handle_info(self, msg):
        if msg == "go":
            self.send(self.pid, "mine")  # waits in the slot: the process is idle
            return self._take()
        self.log.append(("info", msg))
        return None

    async def _take(self):
        self.log.append(("received", await self.receive(lambda m: m == "mine", timeout=1)))


async def test_a_receive_in_an_inline_handler_sees_a_lone_message(clock):
    async with Runtime(clock=clock, trace_messages=False) as rt:
        log: list = []
        a = rt.start(Receiver, log)
        rt.send(a, "go")
        await rt.settled()
        assert log == [("received", "mine")]
        assert a.alive and a.mailbox_size == 0


class GoesAsync(Agent):
    def init(self, log):
        self.log = log

    def handle_info(self, msg):
        self.log.append(msg)
        if msg == "go":
            self.send(self.pid, "next")  # to itself, then the handler moves to a Task
            return self._later()
        return None

    async def _later(self):
        await asyncio.sleep(0)
        self.log.append("async done")


@TRACE
async def test_mail_to_itself_before_a_handler_moves_to_a_task(clock, trace):
    async with Runtime(clock=clock, trace_messages=trace) as rt:
        log: list = []
        a = rt.start(GoesAsync, log)
        rt.send(a, "go")
        await rt.settled()
        assert log == ["go", "async done", "next"]
        assert a.alive and a.mailbox_size == 0 and a._mbox is None


class Flusher(Agent):
    def init(self, log, target):
        self.log = log
        self.target = target
        self.ref = self.monitor(target)

    def handle_info(self, msg):
        self.log.append("down" if isinstance(msg, Down) else msg)
        if msg == "flush":
            # a Down for this monitor sent by hand is flushed like the runtime's own
            self.send(self.pid, Down(self.ref, self.target, "by hand"))
            self.demonitor(self.ref, flush=True)


@TRACE
async def test_a_flush_removes_a_down_that_waits_alone(clock, trace):
    async with Runtime(clock=clock, trace_messages=trace) as rt:
        log: list = []
        t = rt.start(Log, [])
        a = rt.start(Flusher, log, t)
        rt.send(a, "flush")
        await rt.settled()
        rt.send(a, "after")
        await rt.settled()
        assert log == ["flush", "after"]
        assert a.mailbox_size == 0


class Payload:
    pass


async def test_an_exit_drops_a_lone_message(clock):
    async with Runtime(clock=clock, trace_messages=False) as rt:
        log: list = []
        a = rt.start(Log, log)
        m = Payload()
        ref = weakref.ref(m)
        rt.send(a, m)
        del m
        assert a.mailbox_size == 1
        rt.exit(a, "kill")
        gc.collect()
        assert ref() is None  # not kept by the dead process
        assert a.mailbox_size == 0 and log == []
        await rt.settled()
        assert log == []


async def test_a_lone_message_queued_untraced_is_traced_when_tracing_turns_on(clock):
    async with Runtime(clock=clock, trace_messages=False) as rt:
        log: list = []
        a = rt.start(Log, log)
        rt.send(a, 1)
        rt.trace_messages = True
        await rt.settled()
        assert log == [("info", 1)]
        assert any(e.kind == "receive" and e.pid == a.id for e in rt.events)


class Pair(Agent):
    def init(self, dest):
        self.dest = dest

    def handle_info(self, msg):
        for i in range(3):
            self.send(self.dest, (msg, i))  # the first waits alone, the next join it


@TRACE
async def test_messages_from_a_handler_to_an_idle_agent_keep_their_order(clock, trace):
    async with Runtime(clock=clock, trace_messages=trace) as rt:
        log: list = []
        dest = rt.start(Log, log)
        src = rt.start(Pair, dest)
        rt.send(src, "a")
        rt.send(src, "b")
        await rt.settled()
        assert log == [("info", (m, i)) for m in "ab" for i in range(3)]
