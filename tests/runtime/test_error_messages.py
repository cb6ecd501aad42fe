"""Every error names the process concerned (name and pid) and says what the user can do."""

from __future__ import annotations

import asyncio
from fractions import Fraction

import pytest

import agentlab
from agentlab import (
    NOREPLY,
    Agent,
    AgentLabError,
    CalleeExited,
    CallError,
    CallTimeout,
    NameTakenError,
    NoProcessError,
    ReceiveTimeout,
    Runtime,
    RuntimeStateError,
    StartError,
    Stop,
    VirtualClock,
)


class Mute(Agent):
    def handle_call(self, req, caller):
        return NOREPLY


def assert_names(err, pid):
    """The message has the name and the OTP-style pid; ``.process`` is the pid."""
    msg = str(err)
    assert f"'{pid.name}'" in msg, msg
    assert f"<0.{pid.id}.0>" in msg, msg
    assert err.process is pid
    assert isinstance(err, AgentLabError)


def test_the_error_tree():
    assert issubclass(CallTimeout, CallError) and issubclass(CalleeExited, CallError)
    for name in ("RuntimeStateError", "NameTakenError", "NoProcessError", "CallError",
                 "ReceiveTimeout", "TaskError", "StartError", "SupervisorError"):
        assert issubclass(getattr(agentlab, name), AgentLabError), name


async def test_error_messages(clock):
    async with Runtime(clock=clock) as rt:
        mute = rt.start(Mute, name="mute")

        with pytest.raises(NameTakenError) as ei:
            rt.start(Mute, name="mute")
        assert_names(ei.value, mute)
        assert "replace=True" in str(ei.value)

        with pytest.raises(CallTimeout) as ei:
            await rt.call("mute", "x", timeout=0.01)
        assert_names(ei.value, mute)
        assert "Raise the timeout" in str(ei.value)

        class Failing(Agent):
            def init(self):
                return Stop("bad")

        with pytest.raises(StartError) as ei:
            rt.start(Failing, name="failing")
        assert_names(ei.value, ei.value.process)
        assert "Fix init" in str(ei.value)

        rt.exit(mute, "boom")
        with pytest.raises(NoProcessError) as ei:
            await rt.call(mute, "x")
        assert_names(ei.value, mute)
        assert "'boom'" in str(ei.value)

        with pytest.raises(NoProcessError, match="Start it first"):
            await rt.call("mute", "x")  # the name is gone with the process

        m2 = rt.start(Mute, name="m2")

        async def hit(proc):
            proc.runtime.exit(m2, "crashed")

        t = asyncio.ensure_future(rt.call(m2, "x"))
        await rt.sleep(0.01)
        rt.spawn(hit)
        with pytest.raises(CalleeExited) as ei:
            await t
        assert_names(ei.value, m2)
        assert "'crashed'" in str(ei.value) and "retry the call" in str(ei.value)

        class Selfish(Agent):
            async def handle_call(self, req, caller):
                try:
                    await self.call("selfish", 1)
                except CallError as e:
                    return e
                return None

        s = rt.start(Selfish, name="selfish")
        err = await rt.call(s, "go")
        assert_names(err, s)
        assert "Handle the request directly" in str(err)

        out = []

        async def waiter(proc):
            try:
                await proc.receive(timeout=0.01)
            except ReceiveTimeout as e:
                out.append(e)

        w = rt.spawn(waiter, name="waiter")
        await rt.wait(w)
        assert_names(out[0], w)


async def test_runtime_state_errors_say_what_to_do(clock):
    rt = Runtime(clock=clock)
    await rt.shutdown()
    with pytest.raises(RuntimeStateError) as ei:
        rt.spawn(lambda proc: None)
    assert "create a new Runtime()" in str(ei.value)


async def test_the_root_pid_is_refused_as_a_destination_and_the_runtime_runs_on():
    """``runtime.root`` stands for code outside processes: a message to it would sit
    in a mailbox nobody reads (or, before, stop the scheduler), so every way of
    addressing it says so at once."""
    async with Runtime() as rt:
        root = rt.root
        attempts = {
            "send": lambda: rt.send(root, "hi"),
            "cast": lambda: rt.cast(root, "hi"),
            "exit": lambda: rt.exit(root, "kill"),
            "send_after": lambda: rt.send_after(root, "hi", 0.01),
        }
        for what, attempt in attempts.items():
            with pytest.raises(NoProcessError, match=r"root pid <0\.0\.0>.*runtime\.spawn"):
                attempt()
            assert root.mailbox_size == 0, what
        with pytest.raises(NoProcessError, match="root pid"):
            await rt.call(root, "hi", timeout=0.1)

        async def body(proc):
            with pytest.raises(NoProcessError, match="root pid"):
                proc.send(root, "from a process")
            with pytest.raises(NoProcessError, match="root pid"):
                proc.link(root)
            return "checked"

        p = rt.spawn(body)
        await rt.wait(p)
        assert p.exit_reason == "normal"
        await asyncio.sleep(0.02)
        pid = rt.start(Mute)
        assert pid.alive and root.alive and root.mailbox_size == 0


# ---------------------------------------------------------------------------- bad arguments


class Echo(Agent):
    def handle_call(self, req, caller):
        return req


BAD_TIMEOUTS = [
    ("5", TypeError, "got str"),
    (True, TypeError, "got bool"),
    ([1], TypeError, "got list"),
    (-1, ValueError, ">= 0"),
    (float("nan"), ValueError, ">= 0"),
]


@pytest.mark.parametrize(("bad", "error", "says"), BAD_TIMEOUTS, ids=lambda v: repr(v)[:8])
async def test_a_bad_timeout_is_refused_up_front_naming_the_function(clock, bad, error, says):
    """Each waiting API checks its timeout before it sets anything up, and says which
    function and argument was wrong (it used to be send_after's message, a format
    error, or a bare comparison error, and call left its caller registered)."""
    async with Runtime(clock=clock) as rt:
        pid = rt.start(Echo)
        attempts = {
            "call": lambda: rt.call(pid, "x", timeout=bad),
            "wait": lambda: rt.wait(pid, bad),
            "stop": lambda: rt.stop(pid, timeout=bad),
            "shutdown": lambda: rt.shutdown(bad),
            "Task.wait": lambda: rt.task(lambda: 1).wait(bad),
            "Task.yield_": lambda: rt.task(lambda: 1).yield_(bad),
        }
        for where, attempt in attempts.items():
            with pytest.raises(error, match=rf"^{where}\(timeout=.*{says}") as ei:
                await attempt()
            assert "send_after" not in str(ei.value)
        out = []

        async def receiver(proc):
            proc.send(proc.pid, "waiting")  # refused even with a message to take
            with pytest.raises(error, match=rf"^receive\(timeout=.*{says}") as ei:
                await proc.receive(timeout=bad)
            out.append(ei.value)

        assert await rt.wait(rt.spawn(receiver)) == "normal"
        assert len(out) == 1
        assert pid.alive and not rt.closed  # stop and shutdown did nothing
        # the refused call left nothing behind: the callee's exit wakes no caller (a
        # woken, never-awaited caller was "Future exception was never retrieved")
        assert await rt.stop(pid) == "normal"
        assert await rt.call(rt.start(Echo), "y", timeout=1) == "y"  # int timeouts are fine


async def test_a_timeout_that_is_a_fraction_times_out_with_a_readable_error(clock):
    """Any real number is a timeout. A ``Fraction`` reached the error messages as it
    was, and ``{timeout:g}`` cannot format one: the call's timeout raised inside the
    runtime's timer instead of failing the call, which then waited forever, and
    ``Task.wait`` raised a TypeError. An infinite timeout that is not a float waits
    forever, as ``math.inf`` does."""
    tenth = Fraction(1, 10)
    async with Runtime(clock=clock) as rt:
        mute = rt.start(Mute, name="mute")
        with pytest.raises(CallTimeout, match=r"timed out after 0\.1 s"):
            await asyncio.wait_for(rt.call(mute, "x", timeout=tenth), 5)

        async def receiver(proc):
            with pytest.raises(ReceiveTimeout):
                await proc.receive(timeout=tenth)

        assert await rt.wait(rt.spawn(receiver)) == "normal"
        task = rt.task(rt.sleep, 3600)
        with pytest.raises(agentlab.TaskError, match=r"did not return within 0\.1 s"):
            await asyncio.wait_for(task.wait(tenth), 5)
        assert await task.shutdown("brutal_kill") is None

        class Seconds(float):
            pass

        with pytest.raises(TimeoutError):  # it used to be refused as "a timer's delay"
            await asyncio.wait_for(rt.call(mute, "x", timeout=Seconds("inf")), 0.2)
        assert not mute._mons  # the abandoned call left nothing behind


@pytest.mark.parametrize(
    ("bad", "error"), [("1", TypeError), (None, TypeError), (True, TypeError), (float("nan"), ValueError)]
)
async def test_a_bad_sleep_is_refused_naming_sleep(clock, bad, error):
    async with Runtime(clock=clock) as rt:
        with pytest.raises(error, match=r"^sleep\(seconds=") as ei:
            await rt.sleep(bad)
        assert "send_after" not in str(ei.value)
        t0 = rt.now()
        await rt.sleep(-1)  # a negative delay is a delay of 0, as for send_after
        assert rt.now() - t0 < 0.05


async def test_names_are_strings(clock):
    async with Runtime(clock=clock) as rt:
        for bad in (5, ("a", 1), b"bytes"):
            with pytest.raises(TypeError, match=r"a process name is a str.*not"):
                rt.start(Echo, name=bad)
            with pytest.raises(TypeError, match=r"a process name is a str"):
                rt.spawn(idle, name=bad)
        assert rt.processes() == [] and rt.registered() == {}


async def idle(proc):
    await proc.receive()


async def test_link_unlink_and_exit_take_names_like_send(clock):
    async with Runtime(clock=clock) as rt:
        rt.start(Echo, name="a")
        rt.start(Echo, name="b")
        refused = {}

        async def body(proc):
            proc.link("a")  # by name, as send and monitor take it
            proc.link("b")
            proc.unlink("b")
            for what, attempt in {
                "link": lambda: proc.link("tpyo"),
                "unlink": lambda: proc.unlink("tpyo"),
                "exit": lambda: proc.exit("tpyo", "kill"),
            }.items():
                with pytest.raises(NoProcessError, match="'tpyo': no process is registered") as ei:
                    attempt()
                refused[what] = ei.value.process
            with pytest.raises(TypeError, match="expected a Pid or a registered name"):
                proc.link(5)
            await proc.receive()

        p = rt.spawn(body)
        await rt.sleep(0.01)
        assert refused == {"link": "tpyo", "unlink": "tpyo", "exit": "tpyo"}
        with pytest.raises(NoProcessError, match=r"cannot send an exit signal to 'tpyo'.*spelling"):
            rt.exit("tpyo", "kill")
        rt.exit("b", "boom")  # a registered name works as its pid does; unlinked from p
        await rt.sleep(0.01)
        assert p.alive
        rt.exit("a", "boom")  # linked: p goes down with it
        assert await rt.wait(p) == "boom"
        rt.exit(p, "kill")  # a dead pid: nothing happens, as in OTP


async def test_releasing_a_time_hold_that_was_never_taken_is_refused():
    async with Runtime(clock=VirtualClock()) as rt:
        with pytest.raises(RuntimeStateError, match=r"hold_time\(False\).*not held"):
            rt.hold_time(False)
        await rt.sleep(10)  # the clock still moves: the count did not go below zero
        assert rt.now() == 10
        rt.hold_time()
        rt.hold_time(False)
        with pytest.raises(RuntimeStateError):
            rt.hold_time(False)
        await rt.sleep(5)
        assert rt.now() == 15
