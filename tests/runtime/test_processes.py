"""Plain processes: spawn, send, receive (timeouts, selective receive), names, runtime state."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

import agentlab
from agentlab import (
    Agent,
    CalleeExited,
    ChildSpec,
    Continue,
    Crash,
    Down,
    Exit,
    NameTakenError,
    NoProcessError,
    ReceiveTimeout,
    Registry,
    Runtime,
    RuntimeStateError,
    StartError,
    Stop,
    Supervisor,
    TaskError,
    VirtualClock,
)


async def test_spawn_runs_the_body_and_exits_normal(clock):
    async with Runtime(clock=clock) as rt:
        seen = []

        async def body(proc, x, *, y):
            seen.append((proc.pid, x, y))

        pid = rt.spawn(body, 1, y=2)
        assert isinstance(pid, agentlab.Pid)
        assert pid.alive
        assert await rt.wait(pid) == "normal"
        assert seen == [(pid, 1, 2)]
        assert not pid.alive
        assert pid.exit_reason == "normal"
        assert pid not in rt.processes()


async def test_a_sync_body_works_too(clock):
    async with Runtime(clock=clock) as rt:
        pid = rt.spawn(lambda proc: None)
        assert await rt.wait(pid) == "normal"


async def test_body_exception_becomes_a_crash_that_keeps_the_exception(clock):
    async with Runtime(clock=clock) as rt:

        async def body(proc):
            raise KeyError("missing")

        pid = rt.spawn(body)
        reason = await rt.wait(pid)
        assert isinstance(reason, Crash)
        assert reason.type == "KeyError"
        assert reason.message == "'missing'"
        assert "Traceback" in reason.traceback and "KeyError" in reason.traceback
        assert isinstance(reason.exception, KeyError)
        assert reason.exception.__traceback__ is None  # frames are released


async def test_exit_reason_from_proc_exit(clock):
    async with Runtime(clock=clock) as rt:

        async def body(proc):
            proc.exit(("shutdown", "done"))

        pid = rt.spawn(body)
        assert await rt.wait(pid) == ("shutdown", "done")


async def test_messages_arrive_in_order(clock):
    async with Runtime(clock=clock) as rt:
        got = []

        async def body(proc):
            for _ in range(5):
                got.append(await proc.receive())

        pid = rt.spawn(body)
        for i in range(5):
            rt.send(pid, i)
        await rt.wait(pid)
        assert got == [0, 1, 2, 3, 4]


async def test_receive_timeout_uses_the_runtime_clock(clock):
    async with Runtime(clock=clock) as rt:
        out = {}

        async def body(proc):
            t0 = proc.runtime.now()
            try:
                await proc.receive(timeout=0.05)
            except ReceiveTimeout as e:
                out["err"] = e
            out["elapsed"] = proc.runtime.now() - t0

        pid = rt.spawn(body)
        await rt.wait(pid)
        assert isinstance(out["err"], ReceiveTimeout)
        assert out["elapsed"] >= 0.05 - 1e-3
        if clock.virtual:
            assert out["elapsed"] == pytest.approx(0.05)
        assert repr(pid.id) in str(out["err"])  # names the process


async def test_receive_timeout_zero_polls(clock):
    async with Runtime(clock=clock) as rt:
        out = []

        async def body(proc):
            with pytest.raises(ReceiveTimeout):
                await proc.receive(timeout=0)
            await proc.receive()  # wait for "go"
            out.append(await proc.receive(timeout=0))

        pid = rt.spawn(body)
        await rt.settled()
        rt.send(pid, "go")
        rt.send(pid, "x")
        await rt.wait(pid)
        assert out == ["x"]


async def test_receive_returns_a_message_that_arrives_before_the_timeout(clock):
    async with Runtime(clock=clock) as rt:
        got = []

        async def body(proc):
            got.append(await proc.receive(timeout=5))

        pid = rt.spawn(body)
        rt.send_after(pid, "late", 0.02)
        await rt.wait(pid)
        assert got == ["late"]


async def test_selective_receive_leaves_other_messages_in_order(clock):
    async with Runtime(clock=clock) as rt:
        got = []

        async def body(proc):
            await proc.receive(lambda m: m == "go")
            got.append(await proc.receive(lambda m: m == "c"))
            for _ in range(3):
                got.append(await proc.receive())

        pid = rt.spawn(body)
        for m in ["a", "b", "c", "d", "go"]:
            rt.send(pid, m)
        await rt.wait(pid)
        assert got == ["c", "a", "b", "d"]


async def test_selective_receive_while_waiting_keeps_non_matching_arrivals(clock):
    async with Runtime(clock=clock) as rt:
        got = []

        async def body(proc):
            got.append(await proc.receive(lambda m: isinstance(m, int)))
            got.append(proc.pid.mailbox_size)
            got.append(await proc.receive())
            got.append(await proc.receive())

        pid = rt.spawn(body)
        await rt.settled()
        rt.send(pid, "x")
        rt.send(pid, "y")
        await rt.sleep(0.01)
        assert pid.mailbox_size == 2  # non-matching messages wait in the mailbox
        rt.send(pid, 7)
        await rt.wait(pid)
        assert got == [7, 2, "x", "y"]


async def test_selective_receive_timeout_keeps_the_mailbox(clock):
    async with Runtime(clock=clock) as rt:
        got = []

        async def body(proc):
            await proc.receive(lambda m: m == "go")
            with pytest.raises(ReceiveTimeout):
                await proc.receive(lambda m: m == "never", timeout=0.03)
            got.append(await proc.receive())
            got.append(await proc.receive())

        pid = rt.spawn(body)
        rt.send(pid, 1)
        rt.send(pid, 2)
        rt.send(pid, "go")
        await rt.wait(pid)
        assert got == [1, 2]


async def test_a_match_function_that_raises_crashes_the_receiver(clock):
    async with Runtime(clock=clock) as rt:

        async def body(proc):
            await proc.receive(lambda m: 1 / 0)

        pid = rt.spawn(body)
        await rt.settled()
        rt.send(pid, "x")
        reason = await rt.wait(pid)
        assert isinstance(reason, Crash) and reason.type == "ZeroDivisionError"


async def test_a_raising_match_fails_the_receiver_never_the_linked_sender(clock):
    """The predicate runs inside the sender's send, but its failure is the receiver's
    (OTP matches in the receiver, and a send never fails): send returns, the sender
    goes on alive, and only the receiver's own exit, later, reaches the sender through
    their link. It used to kill both inside send, and the dead sender ran on."""
    async with Runtime(clock=clock) as rt:
        seen: list = []
        got: list = []

        async def receiver(proc):
            await proc.receive(lambda m: 1 / 0)

        async def collector(proc):
            while True:
                got.append(await proc.receive())

        async def sender(proc, to, other):
            proc.link(to)
            proc.send(to, "x")  # the receiver's predicate raises on it, in this call
            seen.append(("sent", proc.pid.alive, to.alive))
            proc.send(other, "sent while alive")
            await proc.sleep(1)  # the receiver's exit comes through the link meanwhile
            seen.append("woke")
            proc.send(other, "sent after the link fired")

        rcv = rt.spawn(receiver)
        downs: list = []
        rt.watch(rcv, lambda _p, r: downs.append(r))
        other = rt.spawn(collector)
        await rt.settled()  # the receiver waits in its receive
        snd = rt.spawn(sender, rcv, other)
        reason = await rt.wait(rcv)
        assert isinstance(reason, Crash) and reason.type == "ZeroDivisionError"
        assert downs == [reason]
        assert await rt.wait(snd) == reason  # the link, after the receiver's own exit
        await rt.sleep(0.01)
        assert seen == [("sent", True, True)]
        assert got == ["sent while alive"]
        exits = [e.pid for e in rt.events.filter(kind="exit") if e.pid in (rcv.id, snd.id)]
        assert exits == [rcv.id, snd.id]
        assert other.alive


@pytest.mark.parametrize("via", ["send", "send_after", "down"])
async def test_a_raising_match_raises_in_the_receiver_and_leaves_the_message(clock, via):
    """Whoever delivers the message (a send, from an except block too; a timer; a
    monitor's Down, while another process exits), the predicate's exception comes
    out of the receiver's own receive, as it does for a message already in the
    mailbox: the receiver may catch it, and the message stays. The sender's own
    exception is not chained to it."""
    async with Runtime(clock=clock) as rt:
        got: list = []
        target = rt.spawn(lambda proc: proc.receive())

        async def receiver(proc):
            if via == "down":
                proc.monitor(target)
            try:
                await proc.receive(lambda m: m.nope)  # AttributeError on any of them
            except AttributeError as e:
                got.append(e)
            got.append(await proc.receive(timeout=0))

        pid = rt.spawn(receiver)
        await rt.settled()
        if via == "send":
            try:
                raise ValueError("the sender's own")
            except ValueError:
                rt.send(pid, "x")  # returns normally
        elif via == "send_after":
            rt.send_after(pid, "x", 0.01)
        else:
            rt.send(target, "go")  # it exits normal, and the receiver gets a Down
        assert await rt.wait(pid) == "normal"
        err, msg = got
        assert isinstance(err, AttributeError)
        assert err.__context__ is None
        if via == "down":
            assert isinstance(msg, agentlab.Down) and msg.pid is target
        else:
            assert msg == "x"


@pytest.mark.parametrize("inline", [False, True], ids=["task", "inline"])
async def test_an_agent_whose_match_raises_crashes_in_its_handler_and_terminates(clock, inline):
    """An agent waiting in a selective receive inside a handler (run in a Task, or
    stepped inline as supervisors are): the predicate's exception is a crash of that
    handler, so ``terminate`` runs with it, as for any handler that raises (it used to
    be killed from inside the sender's send, with no ``terminate``)."""
    async with Runtime(clock=clock) as rt:
        log: list = []

        class Waiter(Agent):
            _inline_async = inline

            async def handle_cast(self, msg):
                await self.receive(lambda m: m["missing"])

            def terminate(self, reason):
                log.append(reason)

        pid = rt.start(Waiter)
        rt.cast(pid, "wait")
        await rt.settled()
        rt.send(pid, {})  # returns normally
        reason = await rt.wait(pid)
        assert isinstance(reason, Crash) and reason.type == "KeyError"
        assert log == [reason]


@pytest.mark.parametrize("kind", ["body", "task_agent", "inline_agent"])
async def test_a_receiver_killed_before_its_raising_match_resumes(clock, kind):
    """Killed in the same breath as the send whose message its predicate raised on,
    the receiver exits ``killed``, and the exception meant for it goes with it: the
    loop reports no "Future exception was never retrieved" (the test harness fails
    on it)."""
    async with Runtime(clock=clock) as rt:

        class Waiter(Agent):
            _inline_async = kind == "inline_agent"

            async def handle_cast(self, msg):
                await self.receive(lambda m: 1 / 0)

        async def body(proc):
            await proc.receive(lambda m: 1 / 0)

        if kind == "body":
            pid = rt.spawn(body)
        else:
            pid = rt.start(Waiter)
            rt.cast(pid, "wait")
        await rt.settled()
        rt.send(pid, "x")
        rt.exit(pid, "kill")
        assert await rt.wait(pid) == "killed"


@pytest.mark.parametrize("via", ["process", "inline_agent", "outside", "send_after", "exit_signal"])
async def test_a_match_runs_as_the_receiver_whoever_delivers(clock, via):
    """A predicate that looks at a message arriving during the wait runs inside the
    code that delivers it, but as the receiver: ``rt.self()`` in it is the receiver
    (it used to be the sender, or ``None`` from outside processes), and the sender is
    itself again after its send."""
    async with Runtime(clock=clock) as rt:
        seen: list = []

        def match(msg):
            seen.append(("match", rt.self()))
            return True

        async def receiver(proc):
            proc.trap_exit = True
            await proc.receive(match)

        class Forwarder(Agent):
            def handle_info(self, msg):
                self.send(msg, "x")
                seen.append(("sender", rt.self()))

        async def sender_body(proc, dest):
            proc.send(dest, "x")
            seen.append(("sender", rt.self()))

        pid = rt.spawn(receiver, name="receiver")
        await rt.settled()
        sender = None
        if via == "process":
            sender = rt.spawn(sender_body, pid)
        elif via == "inline_agent":
            sender = rt.start(Forwarder)
            rt.send(sender, pid)
        elif via == "outside":
            rt.send(pid, "x")
            seen.append(("sender", rt.self()))
        elif via == "send_after":
            rt.send_after(pid, "x", 0.01)
        else:
            rt.exit(pid, "stop")  # trapped: an Exit message
        assert await rt.wait(pid) == "normal"
        assert seen[0] == ("match", pid)
        if via in ("process", "inline_agent", "outside"):
            assert seen[1] == ("sender", sender)


async def test_a_match_whose_own_call_kills_the_receiver_leaves_the_sender_alone(clock):
    """Run as the receiver, a predicate that kills the receiver stops the receiver's
    code (as any call that kills the calling process does), not the sender's send."""
    async with Runtime(clock=clock) as rt:

        async def receiver(proc):
            await proc.receive(lambda m: rt.exit(proc.pid, "kill"))

        async def sender(proc, dest):
            proc.send(dest, "x")
            proc.send(dest, "y")  # to a dead process: dropped
            return "sent"

        pid = rt.spawn(receiver)
        await rt.settled()
        s = rt.spawn(sender, pid)
        assert await rt.wait(pid) == "killed"
        assert await rt.wait(s) == "normal"
        assert pid.mailbox_size == 0


async def test_sleep_is_on_the_runtime_clock(clock):
    async with Runtime(clock=clock) as rt:
        t0 = rt.now()
        await rt.sleep(0.03)
        assert rt.now() - t0 >= 0.03 - 1e-3

        out = []

        async def body(proc):
            t = proc.runtime.now()
            await proc.sleep(0.02)
            out.append(proc.runtime.now() - t)

        await rt.wait(rt.spawn(body))
        assert out[0] >= 0.02 - 1e-3


async def test_send_to_a_dead_pid_is_silently_dropped(clock):
    async with Runtime(clock=clock) as rt:
        pid = rt.spawn(lambda proc: None)
        await rt.wait(pid)
        rt.send(pid, "hello")  # no error, like Erlang's `!`
        rt.cast(pid, "hello")
        rt.cast("nobody", "hello")  # cast never fails


async def test_send_to_an_unknown_name_raises_noprocess(clock):
    async with Runtime(clock=clock) as rt:
        with pytest.raises(NoProcessError) as ei:
            rt.send("ghost", 1)
        assert "'ghost'" in str(ei.value)
        assert "Start it first" in str(ei.value)


async def test_send_rejects_non_pid_targets(clock):
    async with Runtime(clock=clock) as rt:
        with pytest.raises(TypeError, match="Pid or a registered name"):
            rt.cast(42, "x")


async def test_self_inside_and_outside_processes(clock):
    async with Runtime(clock=clock) as rt:
        seen = []

        async def body(proc):
            seen.append(proc.runtime.self())
            seen.append(agentlab.current_runtime())

        pid = rt.spawn(body)
        await rt.wait(pid)
        assert seen == [pid, rt]
        assert rt.self() is None


# ---------------------------------------------------------------------------- names


async def test_name_registration_and_release(clock):
    async with Runtime(clock=clock) as rt:

        async def body(proc):
            await proc.receive()

        pid = rt.spawn(body, name="worker")
        assert pid.name == "worker"
        assert rt.whereis("worker") is pid
        assert rt.registered() == {"worker": pid}
        rt.send("worker", "stop")
        await rt.wait(pid)
        assert rt.whereis("worker") is None  # a dead process loses its name
        again = rt.spawn(body, name="worker")  # so the name can be reused
        assert rt.whereis("worker") is again


async def test_name_taken_error_names_the_holder_and_the_fix(clock):
    async with Runtime(clock=clock) as rt:

        async def body(proc):
            await proc.receive()

        holder = rt.spawn(body, name="db")
        with pytest.raises(NameTakenError) as ei:
            rt.spawn(body, name="db")
        msg = str(ei.value)
        assert "'db'" in msg and f"<0.{holder.id}.0>" in msg
        assert "replace=True" in msg
        assert ei.value.process is holder
        assert holder.alive
        assert len(rt.processes()) == 1  # the refused one was not created
        with pytest.raises(NameTakenError):
            rt.start(Agent, name="db")


async def test_replace_true_stops_the_old_holder_and_takes_the_name(clock):
    async with Runtime(clock=clock) as rt:
        log = []

        class Keeper(Agent):
            trap_exits = True

            def init(self, tag):
                self.tag = tag

            def handle_call(self, req, caller):
                return self.tag

            def terminate(self, reason):
                log.append((self.tag, reason))

        old = rt.start(Keeper, "old", name="k")
        new = rt.start(Keeper, "new", name="k", replace=True)
        assert rt.whereis("k") is new
        assert await rt.call("k", "who") == "new"
        assert await rt.wait(old) == "shutdown"
        assert log == [("old", "shutdown")]  # the trapping holder ran terminate
        assert new.alive

        # a non-trapping body process is replaced too
        async def body(proc):
            await proc.receive()

        b1 = rt.spawn(body, name="b")
        b2 = rt.spawn(body, name="b", replace=True)
        assert await rt.wait(b1) == "shutdown"
        assert rt.whereis("b") is b2 and b2.alive
        assert [p.name for p in rt.processes()].count("b") == 1


async def test_replace_true_kills_a_holder_that_ignores_shutdown_5_s_later_on_the_runtime_clock():
    """The old holder that does not stop is killed 5 s later, on the runtime's clock as
    every timeout is: on a virtual clock it used to take 5 s of real time."""
    async with Runtime(clock=VirtualClock()) as rt:

        async def stubborn(proc):
            while True:
                await proc.receive()  # an Exit("shutdown") among them: ignored

        old = rt.spawn(stubborn, name="s", trap_exit=True)
        await rt.settled()
        t0 = rt.now()
        rt.spawn(stubborn, name="s", replace=True)
        await rt.sleep(4.9)
        assert old.alive
        assert await rt.wait(old, timeout=1.0) == "killed"
        assert rt.now() == pytest.approx(t0 + 5.0)


async def test_replace_true_of_a_named_tree_takes_the_names_of_the_whole_tree(clock):
    """The notebook cell that starts a named supervision tree with named children, run
    again with ``replace=True``: the new tree starts, with the same names. It used to
    fail with ``already_started`` (the old children still held their names while the
    old supervisor shut down), leaving neither tree running. The old tree is still
    shut down in order, nameless; a process merely started from inside it, not linked,
    lives on and keeps its name."""
    async with Runtime(clock=clock) as rt:
        log = []

        class Worker(Agent):
            trap_exits = True

            def init(self, tag):
                self.tag = tag

            def handle_call(self, req, caller):
                if req == "start a helper":
                    return self.runtime.start(Agent, name=f"helper-{self.tag}")
                return self.tag

            async def terminate(self, reason):
                await self.sleep(0.01)
                log.append((self.tag, reason))

        def tree(tag):
            inner = [ChildSpec("w", (Worker, f"{tag}-inner"), name="inner")]
            return rt.start(
                Supervisor,
                [
                    ChildSpec("a", (Worker, f"{tag}-a"), name="a"),
                    ChildSpec("sub", (Supervisor, inner), name="sub"),
                ],
                name="team",
                replace=True,
            )

        old = tree("old")
        old_a, old_inner = rt.whereis("a"), rt.whereis("inner")
        helper = await rt.call("a", "start a helper")
        new = tree("new")  # the cell, run again
        assert new.alive and rt.whereis("team") is new
        assert await rt.call("a", "who") == "new-a"
        assert await rt.call("inner", "who") == "new-inner"
        assert await rt.wait(old) == "shutdown"
        assert old_a.exit_reason == old_inner.exit_reason == "shutdown"
        assert sorted(log) == [("old-a", "shutdown"), ("old-inner", "shutdown")]
        assert rt.whereis("helper-old-a") is helper and helper.alive
        replaced = {e.data["name"] for e in rt.events.filter(kind="unregister")}
        assert replaced == {"team", "a", "sub", "inner"}


# ---------------------------------------------------------------------------- runtime state


def test_runtime_outside_a_running_loop_raises_a_helpful_error():
    with pytest.raises(RuntimeStateError) as ei:
        Runtime()
    msg = str(ei.value)
    assert "running asyncio event loop" in msg
    assert "async with Runtime()" in msg
    assert "asyncio.run(main())" in msg
    assert "agentlab.run" not in msg  # there is no such function


async def test_a_closed_runtime_refuses_new_processes(clock):
    rt = Runtime(clock=clock)
    await rt.shutdown()
    assert rt.closed
    with pytest.raises(RuntimeStateError, match="shut down"):
        rt.spawn(lambda proc: None)
    with pytest.raises(RuntimeStateError, match="create a new Runtime"):
        rt.start(Agent)
    with pytest.raises(RuntimeStateError):
        agentlab.current_runtime()
    await rt.shutdown()  # twice is fine


async def test_current_runtime_is_the_latest_one(clock):
    async with Runtime(clock=clock) as rt:
        assert agentlab.current_runtime() is rt


async def test_current_runtime_after_the_newest_one_is_shut_down_is_the_one_still_running():
    """A notebook that made a second runtime and shut it down: code outside processes
    (``Supervisor.which_children("team")``, ``current_runtime()``) finds the first one,
    which still runs. It used to raise "no agentlab runtime is running"."""
    first = Runtime(lag_threshold=None)
    second = Runtime(lag_threshold=None)
    assert agentlab.current_runtime() is second
    await second.shutdown()
    assert agentlab.current_runtime() is first
    sup = first.start(Supervisor, [ChildSpec("w", Agent)], name="team")
    assert [c[0] for c in await Supervisor.which_children("team")] == ["w"] and sup.alive
    await first.shutdown()
    with pytest.raises(RuntimeStateError, match="no agentlab runtime is running"):
        agentlab.current_runtime()


async def test_repr_of_pids_and_runtime(clock):
    async with Runtime(clock=clock) as rt:
        pid = rt.spawn(lambda proc: asyncio.sleep(0), name="n")
        assert repr(pid) == f"<0.{pid.id}.0 n>"
        assert clock.kind in repr(rt)


async def test_mailboxes_exist_only_while_they_hold_mail_and_are_reused(clock):
    # an idle agent holds no mailbox (the memory target); one that got mail and
    # handled it gives its empty mailbox back, and the next mailbox reuses one (a
    # lone message needs none: it waits in the pid's slot)
    class Echo(Agent):
        def init(self, log):
            self.log = log

        def handle_info(self, msg):
            self.log.append(msg)

    async with Runtime(clock=clock, trace_messages=False) as rt:
        log: list = []
        a, b = rt.start(Echo, log), rt.start(Echo, log)
        assert a.mailbox_size == 0 and a._mbox is None
        for i in range(5):
            rt.send(a, i)
        assert a.mailbox_size == 5
        await rt.settled()
        assert log == [0, 1, 2, 3, 4] and a._mbox is None
        pooled = rt._mbox_pool[-1]
        assert len(pooled) == 0
        rt.send(b, "x")
        assert b._mbox is None and b.mailbox_size == 1
        rt.send(b, "y")
        assert b._mbox is pooled and b.mailbox_size == 2 and list(pooled) == ["x", "y"]
        rt.exit(b, "kill")  # a dead process's mail goes, its mailbox is not reused
        await rt.settled()
        assert all(len(m) == 0 for m in rt._mbox_pool) and log == [0, 1, 2, 3, 4]
        assert b.mailbox_size == 0


# ------------------------------------------------------ sys.exit() in a process's code
#
# SystemExit escaping into asyncio is re-raised out of the event loop: it would end
# asyncio.run, and in a notebook the kernel. In a process's code (a body, an agent's
# callback, a task, a receive predicate) it is a crash of that process like any
# exception: the exit reason is a Crash of it, links, monitors and supervisors react
# as to any crash, and the loop goes on (each test goes on after it).


def is_sys_exit(reason: Any, message: str | None = None) -> bool:
    """A Crash of a SystemExit (with ``message``, when given)."""
    return (
        isinstance(reason, Crash)
        and reason.type == "SystemExit"
        and isinstance(reason.exception, SystemExit)
        and (message is None or reason.message == message)
    )


async def watched(rt: Runtime, pid: agentlab.Pid) -> Callable[[], Awaitable[tuple[Any, Any]]]:
    """Link a trapping process to ``pid`` and monitor ``pid`` from another. Returns
    ``seen()``: after ``pid`` exits, what each got, ``(Exit reason, Down reason)``."""
    got: dict[str, Any] = {}

    async def linked(proc):
        proc.trap_exit = True
        proc.link(pid)
        got["link"] = (await proc.receive(lambda m: isinstance(m, Exit))).reason

    async def monitoring(proc):
        proc.monitor(pid)
        got["monitor"] = (await proc.receive(lambda m: isinstance(m, Down))).reason

    watchers = rt.spawn(linked), rt.spawn(monitoring)
    await rt.settled()  # both wait, linked and monitoring

    async def seen() -> tuple[Any, Any]:
        for w in watchers:
            assert await rt.wait(w) == "normal"
        return got["link"], got["monitor"]

    return seen


async def still_running(rt: Runtime) -> None:
    """The loop and the runtime go on: a new process runs, time passes."""
    assert await rt.task(lambda: "still here").wait() == "still here"
    await rt.sleep(0.01)


@pytest.mark.parametrize("code", [None, 3, "bye"])
@pytest.mark.parametrize("sync", [False, True], ids=["async_body", "sync_body"])
async def test_sys_exit_in_a_body_is_a_crash_not_the_end_of_the_loop(clock, sync, code):
    async def async_body(proc):
        await proc.receive()
        sys.exit(code)

    def sync_body(proc):
        sys.exit(code)

    async with Runtime(clock=clock) as rt:
        if sync:  # it has run by the time it is watched: wait() gives its reason
            pid = rt.spawn(sync_body)
            reason = await rt.wait(pid)
        else:
            pid = rt.spawn(async_body)
            seen = await watched(rt, pid)
            rt.send(pid, "go")
            reason = await rt.wait(pid)
            assert await seen() == (reason, reason)
        assert is_sys_exit(reason, "" if code is None else str(code))
        assert reason.exception.code == code
        assert "sys.exit(code)" in reason.traceback
        assert pid.exit_reason is reason
        assert rt.events.filter(kind="exit", pid=pid.id)[0].reason is reason
        await still_running(rt)


def quitter(where: str, mode: str) -> type[Agent]:
    """An agent whose callback ``where`` calls ``sys.exit(where)``.

    ``mode``: ``sync`` (a plain def), ``async`` (an async def that waits first: it
    goes on in the agent's Task), ``inline`` (stepped inline, as supervisors' handlers
    are, and never waits) or ``inline_then_task`` (stepped inline, then waits: it goes
    on in a Task). The other callbacks are plain: ``handle_info`` turns ``"continue"``
    into ``Continue("go")`` and ``"stop"`` into ``Stop("done")`` (terminate runs).
    """

    def quit_now(*_: Any) -> None:
        sys.exit(where)

    async def quit_later(self, *_: Any) -> None:
        if mode != "inline":
            await self.sleep(0.001)
        sys.exit(where)

    class Base(Agent):
        _inline_async = mode.startswith("inline")

        def handle_info(self, msg):
            if msg == "continue":
                return Continue("go")
            if msg == "stop":
                return Stop("done")
            return None

        def handle_cast(self, msg):
            return None

    return type("Quitter", (Base,), {where: quit_now if mode == "sync" else quit_later})


CALLBACKS = ["init", "handle_call", "handle_cast", "handle_info", "handle_continue", "terminate"]


@pytest.mark.parametrize("mode", ["sync", "async", "inline", "inline_then_task"])
@pytest.mark.parametrize("where", CALLBACKS)
async def test_sys_exit_in_an_agent_callback_is_a_crash_of_that_agent(clock, where, mode):
    async with Runtime(clock=clock) as rt:
        agent = quitter(where, mode)
        if where == "init":
            with pytest.raises(StartError) as ei:
                await rt.start_async(agent)
            reason = ei.value.reason
            assert ei.value.process.exit_reason is reason
        else:
            pid = rt.start(agent)
            seen = await watched(rt, pid)
            if where == "handle_call":
                with pytest.raises(CalleeExited) as ce:
                    await rt.call(pid, "go")
                assert ce.value.reason is pid.exit_reason
            elif where == "handle_cast":
                rt.cast(pid, "go")
            elif where == "handle_info":
                rt.send(pid, "go")
            else:
                rt.send(pid, "continue" if where == "handle_continue" else "stop")
            reason = await rt.wait(pid)
            assert await seen() == (reason, reason)
        assert is_sys_exit(reason, where)
        await still_running(rt)


@pytest.mark.parametrize("trace", [False, True], ids=["untraced", "traced"])
@pytest.mark.parametrize("path", ["lone", "by_name", "batch", "behind_an_async_handler"])
async def test_sys_exit_in_handle_info_on_every_delivery_path(clock, path, trace):
    """A lone message (handled by the run queue itself), one in a mailbox (by name),
    a batch (the agent's own loop), one queued while an async handler runs (handled
    in the agent's Task): each way to handle_info turns sys.exit() into a crash."""

    class Agent_(Agent):
        def init(self, log):
            self.log = log

        def handle_info(self, msg):
            self.log.append(msg)
            if msg == "quit":
                sys.exit("quit")

        async def handle_cast(self, msg):
            await self.sleep(0.01)

        def terminate(self, reason):
            self.log.append(reason)

    async with Runtime(clock=clock, trace_messages=trace) as rt:
        log: list = []
        pid = rt.start(Agent_, log, name="q")
        seen = await watched(rt, pid)
        if path == "lone":
            rt.send(pid, "quit")
        elif path == "by_name":
            rt.send("q", "quit")
        elif path == "batch":
            rt.send(pid, 1)
            rt.send(pid, "quit")
            rt.send(pid, 2)  # not handled: the agent has crashed
        else:
            rt.cast(pid, "busy")  # an async handler: the agent goes on in its Task
            rt.send(pid, "quit")  # handled there, after the cast
        reason = await rt.wait(pid)
        assert is_sys_exit(reason, "quit")
        assert log == ([1] if path == "batch" else []) + ["quit", reason]  # terminate ran
        assert await seen() == (reason, reason)
        await still_running(rt)


@pytest.mark.parametrize("child", ["body", "sync_handler", "async_handler", "inline_handler"])
async def test_a_supervisor_restarts_a_child_that_called_sys_exit(clock, child):
    async def body(proc):
        await proc.receive()
        sys.exit(1)

    start: Any = body if child == "body" else quitter(
        "handle_info", {"sync_handler": "sync", "async_handler": "async"}.get(child, "inline")
    )
    async with Runtime(clock=clock) as rt:
        sup = rt.start(Supervisor, [ChildSpec("w", start, name="w")])
        first = rt.whereis("w")
        rt.send("w", "go")
        reason = await rt.wait(first)
        assert is_sys_exit(reason)
        await rt.settled()
        second = rt.whereis("w")
        assert second is not None and second is not first and second.alive
        restarts = rt.events.filter(kind="restart")
        assert [e.data["child_id"] for e in restarts] == ["w"]
        assert sup.alive
        await still_running(rt)


@pytest.mark.parametrize("owner", ["outside", "process"])
async def test_sys_exit_in_a_task_is_a_crash_of_the_task(clock, owner):
    async def quits():
        await rt.sleep(0.001)
        sys.exit("task quit")

    async with Runtime(clock=clock) as rt:
        if owner == "outside":  # monitored by the caller
            task = rt.task(quits)
            with pytest.raises(TaskError) as ei:
                await task.wait()
            assert is_sys_exit(ei.value.reason, "task quit")
            assert task.pid.exit_reason is ei.value.reason
        else:  # linked to the process that started it: a trapping one gets the exit
            got: list = []

            async def starter(proc):
                proc.trap_exit = True
                task = rt.task(quits)
                msg = await proc.receive(lambda m: isinstance(m, Exit))
                got.append((msg.pid is task.pid, msg.reason))

            assert await rt.wait(rt.spawn(starter)) == "normal"
            ((same, reason),) = got
            assert same and is_sys_exit(reason, "task quit")
        await still_running(rt)


@pytest.mark.parametrize("arrives", ["before_the_receive", "during_the_receive"])
async def test_sys_exit_in_a_receive_predicate_crashes_the_receiver_not_the_sender(clock, arrives):
    """Run in the receiver's receive, or inside the sender's send when the message
    arrives while the receiver waits: either way it is the receiver's crash."""
    async with Runtime(clock=clock) as rt:

        async def receiver(proc):
            if arrives == "before_the_receive":
                await proc.receive(lambda m: m == "first")
            await proc.receive(lambda m: sys.exit("no match"))

        async def sender(proc, to):
            proc.send(to, "x")  # returns normally
            proc.send(to, "first")

        rcv = rt.spawn(receiver)
        seen = await watched(rt, rcv)
        snd = rt.spawn(sender, rcv)
        assert await rt.wait(snd) == "normal"
        reason = await rt.wait(rcv)
        assert is_sys_exit(reason, "no match")
        assert await seen() == (reason, reason)
        await still_running(rt)


@pytest.mark.parametrize("batched", [False, True], ids=["subscriber", "batched"])
async def test_a_subscriber_that_calls_sys_exit_is_removed_like_any_failing_one(
    clock, batched, caplog
):
    """A subscriber is user code run in whatever code emitted the event: its sys.exit()
    is its own failure (logged, and it is removed), never the emitting process's crash
    nor the end of the loop."""
    calls: list = []

    def quits(_events):
        calls.append(1)
        sys.exit("subscriber quit")

    async with Runtime(clock=clock) as rt:

        async def body(proc):
            rt.subscribe(quits, batched=batched)
            proc.spawn(lambda p: None)  # an event, emitted in this process's code
            rt.flush_events()  # a batch for the batched one, now
            proc.spawn(lambda p: None)
            rt.flush_events()

        pid = rt.spawn(body)
        assert await rt.wait(pid) == "normal"
        assert calls == [1]  # removed at its first failure
        assert "subscriber" in caplog.text and "it was removed" in caplog.text
        assert "subscriber quit" in caplog.text
        await still_running(rt)


# ------------------------------------------------- KeyboardInterrupt in a process's code
#
# Ctrl-C keeps its meaning: the KeyboardInterrupt is never caught as a crash, and
# goes on out of the event loop (ending asyncio.run), or out of the runtime call
# that ran the code (a notebook cell's rt.start or rt.exit). But it ended the code
# of the process it went through, so that process exits (its reason a Crash of the
# interrupt) instead of staying "alive" forever with nothing running it, holding its
# name. Nothing is logged: the interrupt itself, with its traceback, is the report
# (it used to be logged first as "internal error in a process task").


def run_through_interrupt(main: Callable[[], Awaitable[Any]]) -> tuple[Any, BaseException]:
    """Run ``main()`` on a new loop until a KeyboardInterrupt comes out of the loop (as
    asyncio.run would end), then let main go on to its end (as a driver that caught the
    interrupt and ran the loop again would). Returns main's value and the interrupt."""
    loop = asyncio.new_event_loop()
    try:
        task = loop.create_task(main())
        with pytest.raises(KeyboardInterrupt) as ei:
            loop.run_until_complete(task)
        return loop.run_until_complete(task), ei.value
    finally:
        loop.close()


def frames(exc: BaseException) -> list[str]:
    tb, names = exc.__traceback__, []
    while tb is not None:
        names.append(tb.tb_frame.f_code.co_name)
        tb = tb.tb_next
    return names


@pytest.mark.parametrize("where", ["body", "handle_info", "async_handle_info", "async_init"])
def test_ctrl_c_in_a_process_ends_it_and_still_interrupts_the_program(where, caplog):
    class Interrupted(Agent):
        def handle_info(self, msg):
            raise KeyboardInterrupt

    class AsyncInterrupted(Agent):
        async def handle_info(self, msg):
            await self.sleep(0.001)
            raise KeyboardInterrupt

    class AsyncInit(Agent):
        async def init(self):
            await self.sleep(0.001)
            raise KeyboardInterrupt

    async def body(proc):
        await proc.sleep(0.001)
        raise KeyboardInterrupt

    async def main() -> Any:
        rt = Runtime(clock=VirtualClock())
        if where == "body":
            pid = rt.spawn(body, name="victim")
        elif where == "async_init":
            pid = rt.start(AsyncInit, name="victim")
        else:
            pid = rt.start(Interrupted if where == "handle_info" else AsyncInterrupted, name="victim")
            rt.send(pid, "go")
        waiter = asyncio.ensure_future(rt.wait(pid))  # a monitor, set before the interrupt
        await asyncio.sleep(0.05)  # the interrupt comes out of the loop meanwhile
        await asyncio.sleep(0.05)  # then the loop runs again
        waited = waiter.result() if waiter.done() else "still waiting"
        out = (pid.alive, pid.exit_reason, waited, rt.whereis("victim"), rt.processes())
        await rt.shutdown()
        await waiter
        return out

    with caplog.at_level(logging.ERROR, logger="agentlab"):
        (alive, reason, waited, holder, procs), interrupt = run_through_interrupt(main)
    assert not caplog.records, caplog.text
    assert not alive and holder is None and procs == []
    assert isinstance(reason, Crash) and reason.type == "KeyboardInterrupt"
    assert reason.exception is None and "KeyboardInterrupt" in reason.traceback
    assert waited == reason
    # the interrupt goes on as it was raised, its traceback down to where it was raised
    assert frames(interrupt)[-1] in ("body", "handle_info", "init")


async def test_a_base_exception_that_asyncio_keeps_ends_the_process_and_is_logged(clock, caplog):
    """A BaseException that is neither an Exception nor KeyboardInterrupt or SystemExit
    (a test framework's failure, a library's own) is not a crash either, and asyncio
    does not raise it out of the loop: it stops at the process's task. The process
    exits with it, and the log says what it was (not "internal error")."""

    class Halt(BaseException):
        pass

    async def body(proc):
        await proc.sleep(0.001)
        raise Halt("stop here")

    async with Runtime(clock=clock) as rt:
        pid = rt.spawn(body, name="halting")
        with caplog.at_level(logging.ERROR, logger="agentlab"):
            reason = await asyncio.wait_for(rt.wait(pid), 5)
            await asyncio.sleep(0)  # the task's done callback
        assert isinstance(reason, Crash) and (reason.type, reason.message) == ("Halt", "stop here")
        assert rt.whereis("halting") is None
        [record] = caplog.records
        assert "Halt" in record.getMessage() and "internal error" not in record.getMessage()
        await still_running(rt)


@pytest.mark.parametrize("sender", ["cell", "handler", "timer"])
def test_ctrl_c_in_a_receive_predicate_ends_the_receiver(sender, clock, caplog):
    """A receive predicate runs in the code that delivers the message, as the receiver.
    A KeyboardInterrupt in it went through the receiver's code: the receiver exits (its
    reason a Crash of the interrupt), as it does when the predicate runs in its own
    receive, and the interrupt goes on out of the delivering code (a cell's send, or
    the loop). It used to leave the receiver waiting for ever on a message that was
    lost. A timer due at the same moment still fires once the loop runs again."""

    def picky(msg):
        if msg == "boom":
            raise KeyboardInterrupt
        return True

    async def receiver(proc):
        await proc.receive(picky)

    class Forwarder(Agent):
        def handle_info(self, msg):
            self.send("receiver", msg)

    async def main() -> Any:
        rt = Runtime(clock=clock)
        pid = rt.spawn(receiver, name="receiver")
        other = rt.spawn(lambda proc: proc.receive(), name="other")
        waiter = asyncio.ensure_future(rt.wait(pid))
        await asyncio.sleep(0)  # both wait in their receive
        interrupt: BaseException | None = None
        if sender == "cell":
            with pytest.raises(KeyboardInterrupt) as ei:
                rt.send(pid, "boom")
            interrupt = ei.value
        elif sender == "handler":
            rt.send(rt.start(Forwarder), "boom")
        else:
            rt.send_after(pid, "boom", 0.01)
            rt.send_after(other, "later", 0.01)
        for _ in range(20):  # the interrupt comes out of the loop meanwhile (not a cell)
            await asyncio.sleep(0.005)
        waited = await asyncio.wait_for(waiter, 5)
        out = (pid.exit_reason, rt.whereis("receiver"), waited, other.alive, interrupt)
        await rt.shutdown()
        return out

    with caplog.at_level(logging.ERROR, logger="agentlab"):
        if sender == "cell":
            (reason, holder, waited, other_alive, interrupt) = asyncio.run(main())
        else:
            (reason, holder, waited, other_alive, _), interrupt = run_through_interrupt(main)
    assert not caplog.records, caplog.text
    assert isinstance(reason, Crash) and reason.type == "KeyboardInterrupt"
    assert reason.exception is None and "picky" in reason.traceback
    assert holder is None and waited == reason
    assert frames(interrupt)[-1] == "picky"
    assert other_alive is (sender != "timer")  # the timer beside it fired: "later" came


def test_ctrl_c_in_a_watch_callback_finishes_the_exit_first(caplog):
    """A ``watch`` callback runs in the middle of the watched process's exit. A
    KeyboardInterrupt in it used to cut the exit short: later monitors never fired,
    trapping links got no Exit, registry entries and timers of the dead process stayed.
    Now the exit is completed, and then the interrupt goes on (out of the cell's
    ``rt.exit`` here)."""

    async def main() -> None:
        async with Runtime(clock=VirtualClock()) as rt:
            reg = Registry(rt, keys="unique")
            victim = rt.spawn(lambda proc: proc.receive(), name="victim")
            reg.register("key", pid=victim)
            seen: list[Any] = []

            def interrupted(pid, reason):
                raise KeyboardInterrupt

            async def trapper(proc):
                proc.link(victim)
                seen.append(("exit", (await proc.receive()).reason))

            async def watcher(proc):
                proc.monitor(victim)
                seen.append(("down", (await proc.receive()).reason))

            rt.spawn(trapper, trap_exit=True)
            rt.spawn(watcher)
            await asyncio.sleep(0)
            rt.watch(victim, interrupted)
            rt.watch(victim, lambda pid, reason: seen.append(("watch", reason)))
            timer = rt.send_after(victim, "tick", 10)
            with pytest.raises(KeyboardInterrupt) as ei:
                rt.exit(victim, "kill")
            assert frames(ei.value)[-1] == "interrupted"
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            assert sorted(seen) == [("down", "killed"), ("exit", "killed"), ("watch", "killed")]
            assert reg.lookup("key") == [] and rt.whereis("victim") is None
            assert timer.cancel() is None  # dropped with its process
            await still_running(rt)

    with caplog.at_level(logging.ERROR, logger="agentlab"):
        asyncio.run(main())
    assert not caplog.records, caplog.text


def test_ctrl_c_in_init_fails_the_start_and_frees_the_name():
    """A notebook's interrupt during a plain ``init`` (a cell running ``rt.start``) comes
    out of ``rt.start``. It used to leave the process half-started and alive forever:
    running the cell again said the name was taken."""

    class Slow(Agent):
        def init(self, stop):
            if stop:
                raise KeyboardInterrupt  # stands for Ctrl-C in a blocking init

        def handle_call(self, req, caller):
            return req

    async def main() -> None:
        async with Runtime(clock=VirtualClock()) as rt:
            bystander = rt.spawn(lambda proc: proc.receive())
            with pytest.raises(KeyboardInterrupt) as ei:
                rt.start(Slow, True, name="slow")
            assert frames(ei.value)[-1] == "init"
            assert rt.whereis("slow") is None and rt.processes() == [bystander]
            [exit_event] = rt.events.filter(kind="exit")
            assert exit_event.reason.type == "KeyboardInterrupt"
            pid = rt.start(Slow, False, name="slow")  # the cell, run again
            assert await rt.call("slow", "hi") == "hi" and rt.whereis("slow") is pid

    asyncio.run(main())
