"""Plain processes: spawn, send, receive (timeouts, selective receive), names, runtime state."""

from __future__ import annotations

import asyncio

import pytest

import agentlab
from agentlab import (
    Agent,
    Crash,
    NameTakenError,
    NoProcessError,
    ReceiveTimeout,
    Runtime,
    RuntimeStateError,
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
