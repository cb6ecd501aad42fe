"""Every error names the process concerned (name and pid) and says what the user can do."""

from __future__ import annotations

import asyncio

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
