"""Agents (OTP's gen_server): init results, handlers, directives, and when terminate runs.

terminate runs on ``Stop``, on a crash, on ``runtime.stop`` and on an exit
signal from the parent while trapping exits; it does NOT run on ``kill`` nor
when a non-trapping agent is killed by any other exit signal (SEMANTICS.md §10).
"""

from __future__ import annotations

import asyncio

import pytest

from agentlab import (
    IGNORE,
    NOREPLY,
    Agent,
    CalleeExited,
    Continue,
    Crash,
    Exit,
    Reply,
    Runtime,
    StartError,
    Stop,
    VirtualClock,
)


class Recorder(Agent):
    """Logs every callback into a shared list."""

    def init(self, log, result=None):
        self.log = log
        log.append(("init",))
        return result

    def handle_call(self, req, caller):
        self.log.append(("call", req))
        if callable(req):
            return req(self)
        return ("ok", req)

    def handle_cast(self, msg):
        self.log.append(("cast", msg))
        if callable(msg):
            return msg(self)
        return None

    def handle_info(self, msg):
        self.log.append(("info", msg))
        if callable(msg):
            return msg(self)
        return None

    def handle_continue(self, term):
        self.log.append(("continue", term))

    def terminate(self, reason):
        self.log.append(("terminate", reason))


def boom(s):
    raise ValueError("bad input")


# ---------------------------------------------------------------------------- init


async def test_init_ok_passes_arguments(clock):
    async with Runtime(clock=clock) as rt:

        class A(Agent):
            def init(self, a, b=0, *, c):
                self.v = (a, b, c)

            def handle_call(self, req, caller):
                return self.v

        pid = rt.start(A, 1, c=3, name="a")
        assert pid.alive and pid.name == "a"
        assert await rt.call(pid, "v") == (1, 0, 3)
        assert rt.events.filter(kind="init")[-1].data == {"result": "ok"}


async def test_init_ignore_gives_a_dead_pid_and_no_error(clock):
    async with Runtime(clock=clock) as rt:
        log = []
        pid = rt.start(Recorder, log, IGNORE, name="ig")
        assert not pid.alive
        assert pid.exit_reason == "normal"
        assert rt.whereis("ig") is None
        assert log == [("init",)]  # terminate does not run
        assert rt.events.filter(kind="init")[-1].data == {"result": "ignore"}


async def test_init_stop_raises_start_error_with_the_reason(clock):
    async with Runtime(clock=clock) as rt:
        log = []
        with pytest.raises(StartError) as ei:
            rt.start(Recorder, log, Stop("no_config"), name="cfg")
        err = ei.value
        assert err.reason == "no_config"
        assert err.process.name == "cfg"
        assert "'cfg'" in str(err) and f"<0.{err.process.id}.0>" in str(err)
        assert "StartError" in str(err)  # says what to do
        assert err.process.exit_reason == "no_config"
        assert log == [("init",)]  # no terminate after a failed init (OTP)


async def test_init_raising_is_a_start_error_with_a_crash(clock):
    async with Runtime(clock=clock) as rt:

        class Bad(Agent):
            def init(self):
                raise OSError("disk on fire")

        with pytest.raises(StartError) as ei:
            rt.start(Bad)
        reason = ei.value.reason
        assert isinstance(reason, Crash)
        assert (reason.type, reason.message) == ("OSError", "disk on fire")
        assert "disk on fire" in reason.traceback


async def test_failed_start_is_reported_not_signalled_to_a_linked_starter(clock):
    async with Runtime(clock=clock) as rt:
        out = []

        async def starter(proc):
            try:
                proc.runtime.start(Recorder, [], Stop("nope"), link=True)
            except StartError as e:
                out.append(e.reason)
            out.append(proc.pid.alive)

        pid = rt.spawn(starter)
        assert await rt.wait(pid) == "normal"
        assert out == ["nope", True]


async def test_init_continue_runs_before_any_message(clock):
    async with Runtime(clock=clock) as rt:
        log = []
        pid = rt.start(Recorder, log, Continue("warmup"))
        rt.send(pid, "first")
        assert await rt.call(pid, "q") == ("ok", "q")
        assert log == [("init",), ("continue", "warmup"), ("info", "first"), ("call", "q")]
        assert rt.events.filter(kind="init")[-1].data == {"result": "continue"}


async def test_async_init_queues_messages_until_done(clock):
    async with Runtime(clock=clock) as rt:
        log = []

        class Slow(Agent):
            async def init(self):
                await self.sleep(0.05)
                log.append("init done")

            def handle_info(self, msg):
                log.append(msg)

            def handle_call(self, req, caller):
                return req

        pid = rt.start(Slow)
        rt.send(pid, "early")
        assert await rt.call(pid, "q") == "q"
        assert log == ["init done", "early"]

        pid2 = await rt.start_async(Slow)
        assert log[-1] == "init done" and pid2.alive


async def test_async_init_failure_is_raised_by_start_async(clock):
    async with Runtime(clock=clock) as rt:

        class Bad(Agent):
            async def init(self):
                await self.sleep(0.01)
                return Stop("later")

        with pytest.raises(StartError) as ei:
            await rt.start_async(Bad)
        assert ei.value.reason == "later"
        assert ei.value.process.exit_reason == "later"


async def test_start_rejects_non_agents(clock):
    async with Runtime(clock=clock) as rt:
        with pytest.raises(TypeError, match="not an agentlab.Agent subclass"):
            rt.start(int)
        inst = Recorder()
        rt.start(inst, [])
        with pytest.raises(Exception, match="already runs as"):
            rt.start(inst, [])


# ---------------------------------------------------------------------------- handlers


async def test_call_cast_info_continue(clock):
    async with Runtime(clock=clock) as rt:
        log = []
        pid = rt.start(Recorder, log)
        rt.cast(pid, "c1")
        rt.send(pid, "i1")
        rt.cast(pid, lambda s: Continue("after-cast"))
        rt.send(pid, lambda s: Continue("after-info"))
        assert await rt.call(pid, lambda s: Reply("r", cont="after-call")) == "r"
        await rt.call(pid, "sync")
        assert [e for e in log if e[0] != "cast" or isinstance(e[1], str)][:3] == [
            ("init",),
            ("cast", "c1"),
            ("info", "i1"),
        ]
        conts = [e[1] for e in log if e[0] == "continue"]
        assert conts == ["after-cast", "after-info", "after-call"]
        # a continue runs right after its handler, before the next message
        i = log.index(("continue", "after-call"))
        assert log[i + 1] == ("call", "sync")


async def test_async_handlers_run_one_message_at_a_time(clock):
    async with Runtime(clock=clock) as rt:
        log = []

        class A(Agent):
            async def handle_info(self, msg):
                log.append(("start", msg))
                await self.sleep(0.01)
                log.append(("end", msg))

            async def handle_call(self, req, caller):
                await self.sleep(0.01)
                return req * 2

        pid = rt.start(A)
        for i in range(3):
            rt.send(pid, i)
        assert await rt.call(pid, 21) == 42
        assert log == [(k, i) for i in range(3) for k in ("start", "end")]


async def test_stop_directive_runs_terminate_and_exits_with_the_reason(clock):
    async with Runtime(clock=clock) as rt:
        for via in ("cast", "info", "continue"):
            log = []
            pid = rt.start(Recorder, log)
            if via == "cast":
                rt.cast(pid, lambda s, v=via: Stop(("shutdown", v)))
            elif via == "info":
                rt.send(pid, lambda s, v=via: Stop(("shutdown", v)))
            else:

                class C(Recorder):
                    def handle_continue(self, term):
                        return Stop(("shutdown", term))

                log = []
                pid = rt.start(C, log, Continue(via))
            assert await rt.wait(pid) == ("shutdown", via)
            assert log[-1] == ("terminate", ("shutdown", via))


async def test_stop_with_reply_runs_terminate_before_replying(clock):
    async with Runtime(clock=clock) as rt:
        log = []
        pid = rt.start(Recorder, log)

        def stop(s):
            return Stop("normal", reply="bye")

        assert await rt.call(pid, stop) == "bye"
        assert log[-1] == ("terminate", "normal")
        assert await rt.wait(pid) == "normal"


async def test_stop_without_reply_fails_the_call_with_the_reason(clock):
    async with Runtime(clock=clock) as rt:
        log = []
        pid = rt.start(Recorder, log, name="quitter")
        with pytest.raises(CalleeExited) as ei:
            await rt.call(pid, lambda s: Stop("done"))
        assert ei.value.reason == "done"
        assert "'quitter'" in str(ei.value)
        assert log[-1] == ("terminate", "done")


async def test_a_crash_runs_terminate_and_keeps_the_exception(clock):
    async with Runtime(clock=clock) as rt:
        for send in ("cast", "info", "call"):
            log = []
            pid = rt.start(Recorder, log)
            if send == "cast":
                rt.cast(pid, boom)
            elif send == "info":
                rt.send(pid, boom)
            else:
                with pytest.raises(CalleeExited):
                    await rt.call(pid, boom)
            reason = await rt.wait(pid)
            assert isinstance(reason, Crash), send
            assert reason.type == "ValueError" and reason.message == "bad input"
            assert "in boom" in reason.traceback
            assert isinstance(reason.exception, ValueError)
            assert log[-1] == ("terminate", reason)
            assert rt.events.filter(kind="exit", pid=pid.id)[0].reason is reason


async def test_an_async_handler_crash(clock):
    async with Runtime(clock=clock) as rt:
        log = []

        class A(Agent):
            async def handle_info(self, msg):
                await self.sleep(0.01)
                raise LookupError(msg)

            def terminate(self, reason):
                log.append(reason)

        pid = rt.start(A)
        rt.send(pid, "nope")
        reason = await rt.wait(pid)
        assert (reason.type, reason.message) == ("LookupError", "nope")
        assert log == [reason]


async def test_a_crashing_terminate_replaces_the_reason(clock):
    async with Runtime(clock=clock) as rt:

        class A(Agent):
            def handle_cast(self, msg):
                return Stop("normal")

            def terminate(self, reason):
                raise RuntimeError("cleanup failed")

        pid = rt.start(A)
        rt.cast(pid, "stop")
        reason = await rt.wait(pid)
        assert isinstance(reason, Crash) and reason.message == "cleanup failed"


async def test_self_exit_in_a_handler(clock):
    async with Runtime(clock=clock) as rt:
        log = []
        pid = rt.start(Recorder, log)
        rt.cast(pid, lambda s: s.exit("bye"))
        assert await rt.wait(pid) == "bye"
        assert log[-1] == ("terminate", "bye")


async def test_messages_after_a_stop_are_not_handled(clock):
    async with Runtime(clock=clock) as rt:
        log = []
        pid = rt.start(Recorder, log)
        rt.cast(pid, lambda s: Stop("normal"))
        rt.cast(pid, "after")
        await rt.wait(pid)
        assert ("cast", "after") not in log


# ---------------------------------------------------------------------------- terminate rules


async def test_terminate_runs_on_runtime_stop(clock):
    async with Runtime(clock=clock) as rt:
        log = []
        pid = rt.start(Recorder, log)  # not trapping: stop is a request, not a signal
        assert await rt.stop(pid, "maintenance") == "maintenance"
        assert log[-1] == ("terminate", "maintenance")
        assert not pid.alive


async def test_runtime_stop_kills_an_agent_whose_terminate_hangs(clock):
    async with Runtime(clock=clock) as rt:

        class Hang(Agent):
            async def terminate(self, reason):
                await self.sleep(3600)  # a runtime wait, so a virtual clock can move on

        pid = rt.start(Hang)
        assert await rt.stop(pid, timeout=0.05) == "killed"


async def test_runtime_stop_kills_at_its_deadline_even_if_nobody_waits_any_more(clock):
    """The awaiting cell is interrupted (its awaiting task cancelled) while it waits for
    the stop: the kill after ``timeout`` used to go with the wait, so a process that
    ignores its stop (here: its handler never returns) ran on for ever. The deadline
    belongs to the stop request."""
    async with Runtime(clock=clock) as rt:

        class Busy(Agent):
            async def handle_cast(self, msg):
                await self.sleep(3600)  # the stop request waits behind this

        pid = rt.start(Busy)
        rt.cast(pid, "work")
        await rt.settled()
        waiting = asyncio.ensure_future(rt.stop(pid, timeout=0.05))
        await asyncio.sleep(0)  # the request is made; then the waiting is given up
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert pid.alive
        assert await rt.wait(pid, timeout=1.0) == "killed"


async def test_a_stop_that_ends_in_time_drops_its_deadline():
    """The deadline of a stop that ended in time is dropped: an idle virtual clock does
    not jump to it."""
    async with Runtime(clock=VirtualClock()) as rt:
        pid = rt.start(Agent)
        assert await rt.stop(pid, timeout=30.0) == "normal"
        for _ in range(10):  # idle: time would jump to a timer left behind
            await asyncio.sleep(0)
        assert rt.now() < 30.0


async def test_terminate_runs_on_exit_from_parent_when_trapping(clock):
    async with Runtime(clock=clock) as rt:
        log = []
        box = {}

        class Child(Recorder):
            trap_exits = True

        async def parent(proc):
            box["child"] = proc.runtime.start(Child, log, link=True)
            await proc.receive()
            proc.exit("parent_gone")

        p = rt.spawn(parent)
        await rt.settled()
        rt.send(p, "go")
        assert await rt.wait(box["child"]) == "parent_gone"
        assert log[-1] == ("terminate", "parent_gone")


async def test_a_trapping_agent_gets_non_parent_exits_as_info(clock):
    async with Runtime(clock=clock) as rt:
        log = []
        pid = rt.start(Recorder, log, trap_exit=True)
        rt.exit(pid, "boom")  # from outside: not the parent
        await rt.call(pid, "sync")
        assert pid.alive
        info = [e[1] for e in log if e[0] == "info"]
        assert len(info) == 1 and type(info[0]) is Exit and info[0].reason == "boom"
        assert not any(e[0] == "terminate" for e in log)


async def test_terminate_runs_on_shutdown_when_trapping(clock):
    log = []
    async with Runtime(clock=clock) as rt:
        rt.start(Recorder, log, trap_exit=True)
    assert log[-1] == ("terminate", "shutdown")


async def test_terminate_does_not_run_on_kill(clock):
    async with Runtime(clock=clock) as rt:
        log = []
        pid = rt.start(Recorder, log, trap_exit=True)
        rt.exit(pid, "kill")
        assert pid.exit_reason == "killed"
        assert not any(e[0] == "terminate" for e in log)


@pytest.mark.parametrize("reason", ["shutdown", "boom", ("shutdown", 1)])
async def test_terminate_does_not_run_on_untrapped_signals(clock, reason):
    async with Runtime(clock=clock) as rt:
        log = []
        pid = rt.start(Recorder, log)
        rt.exit(pid, reason)
        assert pid.exit_reason == reason
        other_log = []
        other = rt.start(Recorder, other_log)
        linked = rt.start(Recorder, [])
        await rt.call(other, lambda s: s.link(linked))
        rt.exit(linked, reason)
        assert other.exit_reason == reason  # killed through the link
        await rt.settled()
        assert not any(e[0] == "terminate" for e in log + other_log)


async def test_terminate_does_not_run_on_untrapped_signal_during_an_async_handler(clock):
    async with Runtime(clock=clock) as rt:
        log = []

        class A(Agent):
            async def handle_info(self, msg):
                log.append("working")
                await self.sleep(100)
                log.append("never")

            def terminate(self, reason):
                log.append(("terminate", reason))

        pid = rt.start(A)
        rt.send(pid, "go")
        await rt.sleep(0.01)
        rt.exit(pid, "boom")
        assert await rt.wait(pid) == "boom"
        await rt.sleep(0.01)
        assert log == ["working"]


async def test_killing_a_process_before_its_task_started_leaves_no_warnings(clock):
    """A task cancelled before its first step never ran its coroutine; nothing may leak."""
    async with Runtime(clock=clock) as rt:

        class Slow(Agent):
            async def handle_info(self, msg):
                await self.sleep(1)

        class Killer(Agent):
            def handle_info(self, victim):
                self.runtime.exit(victim, "kill")

        async def body(proc):
            await proc.receive()

        b = rt.spawn(body)
        rt.exit(b, "kill")  # its task has not run yet
        slow, killer = rt.start(Slow), rt.start(Killer)
        rt.send(slow, "x")  # slow's handler coroutine starts a task ...
        rt.send(killer, slow)  # ... that killer kills in the same scheduler round
        await rt.wait(slow)
        assert slow.exit_reason == "killed" and b.exit_reason == "killed"
    # arun fails the test on "never awaited" / "Task was destroyed" reports


async def test_describe_state_and_repr(clock):
    async with Runtime(clock=clock) as rt:

        class A(Agent):
            def init(self):
                self.count = 3

        inst = A()
        pid = rt.start(inst)
        assert "count=3" in inst.describe_state()
        assert repr(pid) in repr(inst)


async def test_noreply_without_reply_then_handler_reply_later(clock):
    async with Runtime(clock=clock) as rt:

        class Later(Agent):
            def handle_call(self, req, caller):
                self.send_after(self.pid, ("answer", caller, req), 0.01)
                return NOREPLY

            def handle_info(self, msg):
                _, caller, req = msg
                caller.reply(req + 1)

        pid = rt.start(Later)
        assert await rt.call(pid, 1) == 2


async def test_a_dead_agent_is_freed_by_reference_counting(clock):
    # the pid and its agent point at each other; the runtime breaks that at exit, so
    # a dead incarnation does not wait for a full collection (supervisors keep theirs)
    import gc
    import weakref

    from agentlab import Supervisor

    class Holder(Agent):
        pass

    async with Runtime(clock=clock) as rt:
        pid = rt.start(Holder)
        sup = rt.start(Supervisor, [], name="s")
        gc.disable()
        try:
            assert rt.describe_state(pid) == ""  # alive, with no public state
            ref = weakref.ref(rt._procs[pid.id]._beh)
            rt.exit(pid, "kill")
            assert not pid.alive and ref() is None
        finally:
            gc.enable()
        await rt.stop(sup)
        assert "did not give up" in await Supervisor.why(sup, runtime=rt)


async def test_describe_state_is_the_agents_own_summary(clock):
    class Counter(Agent):
        def init(self):
            self.count = 41

        def handle_info(self, msg):
            self.count += 1

    class Broken(Agent):
        def describe_state(self):
            raise ValueError("no summary today")

    async def body(proc):
        await proc.receive()

    async with Runtime(clock=clock) as rt:
        c = rt.start(Counter, name="c")
        rt.send(c, "tick")
        await rt.settled()
        assert rt.describe_state(c) == "count=42" and rt.describe_state("c") == "count=42"
        assert rt.describe_state(rt.spawn(body)) is None  # a plain process has none
        with pytest.raises(ValueError, match="no summary today"):
            rt.describe_state(rt.start(Broken))
        rt.exit(c, "kill")
        assert rt.describe_state(c) is None
