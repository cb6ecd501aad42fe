"""Tasks (SEMANTICS.md §11): ``rt.task`` is Elixir's ``Task.async``; ``wait`` / ``yield_`` /
``shutdown`` are ``Task.await`` / ``Task.yield`` / ``Task.shutdown``.

Where Python differs from Elixir (documented in ``agentlab._task``): ``wait``
raises :class:`TaskError` instead of making the caller exit, and a result that
arrives after a timeout is kept on the Task until the next wait takes it.
"""

from __future__ import annotations

import asyncio

import pytest

from agentlab import (
    KILLED,
    NORMAL,
    SHUTDOWN,
    Agent,
    Crash,
    Exit,
    Runtime,
    Task,
    TaskError,
    TaskSupervisor,
    VirtualClock,
)
from agentlab._errors import describe

T = 0.05  # one "step" of time: small enough for the real clock, exact on the virtual one


def virtual(rt: Runtime) -> bool:
    return isinstance(rt.clock, VirtualClock)


async def value_after(rt, delay, value):
    await rt.sleep(delay)
    return value


async def crash_after(rt, delay, msg="boom"):
    await rt.sleep(delay)
    raise ValueError(msg)


async def forever(rt):
    await rt.sleep(3600)


class Keeper(Agent):
    """Runs ``fn(self)`` for a call, as this agent (``async def`` handlers allowed)."""

    def init(self) -> None:
        self.inbox: list = []

    async def handle_call(self, fn, caller):
        return await fn(self)

    def handle_info(self, msg):
        self.inbox.append(msg)


async def as_process(rt, fn, *, trap=False):
    """Run ``await fn(proc)`` inside a fresh process; return (result, pid)."""
    box: dict = {}

    async def body(proc):
        proc.trap_exit = trap
        box["value"] = await fn(proc)

    pid = rt.spawn(body)
    reason = await rt.wait(pid)
    if reason != NORMAL:
        raise AssertionError(f"helper process exited {reason!r}")
    return box["value"], pid


# ---------------------------------------------------------------------------- wait


async def test_wait_returns_the_value(clock):
    async with Runtime(clock=clock) as rt:
        task = rt.task(value_after, rt, T, 42)
        assert isinstance(task, Task)
        assert await task.wait() == 42
        assert task.pid.exit_reason == NORMAL
        if virtual(rt):
            assert rt.now() == T


async def test_fn_gets_args_and_kwargs_and_may_be_a_plain_function(clock):
    async with Runtime(clock=clock) as rt:
        assert await rt.task(lambda a, b=0: a + b, 1, b=2).wait() == 3

        async def kw(x, *, y):
            return (x, y)

        assert await rt.task(kw, 1, y=2).wait() == (1, 2)


async def test_await_task_is_wait(clock):
    async with Runtime(clock=clock) as rt:
        assert await rt.task(value_after, rt, T, "v") == "v"


async def test_wait_on_a_crashed_task_raises_task_error_with_the_reason(clock):
    async with Runtime(clock=clock) as rt:
        task = rt.task(crash_after, rt, T)
        with pytest.raises(TaskError) as ei:
            await task.wait()
        reason = ei.value.reason
        assert isinstance(reason, Crash) and reason.type == "ValueError"
        assert ei.value.process is task.pid
        assert isinstance(ei.value.__cause__, ValueError)
        assert reason == task.pid.exit_reason


async def test_a_task_that_exits_without_a_value_gives_its_reason(clock):
    from agentlab import ProcessExit

    async with Runtime(clock=clock) as rt:

        async def quits():
            raise ProcessExit(("shutdown", "done"))

        with pytest.raises(TaskError) as ei:
            await rt.task(quits).wait()
        assert ei.value.reason == ("shutdown", "done")


async def test_wait_timeout_raises_and_the_task_keeps_running(clock):
    async with Runtime(clock=clock) as rt:
        task = rt.task(value_after, rt, 4 * T, "late")
        with pytest.raises(TaskError) as ei:
            await task.wait(timeout=T)
        assert ei.value.reason == "timeout"
        assert task.pid.alive
        if virtual(rt):
            assert rt.now() == T
        # the late result is kept until the next wait takes it
        assert await task.wait(timeout=10 * T) == "late"
        if virtual(rt):
            assert rt.now() == 4 * T


async def test_a_result_that_arrives_between_waits_is_kept_for_the_next_one(clock):
    async with Runtime(clock=clock) as rt:
        task = rt.task(value_after, rt, 2 * T, "late")
        with pytest.raises(TaskError):
            await task.wait(timeout=T)
        await rt.sleep(3 * T)
        assert not task.pid.alive
        assert await task.wait(timeout=0) == "late"


async def test_wait_timeout_none_waits_as_long_as_it_takes(clock):
    async with Runtime(clock=clock) as rt:
        delay = 100.0 if virtual(rt) else 2 * T
        assert await rt.task(value_after, rt, delay, 1).wait(timeout=None) == 1


async def test_the_result_is_delivered_once(clock):
    async with Runtime(clock=clock) as rt:
        task = rt.task(value_after, rt, 0, 7)
        assert await task.wait() == 7
        with pytest.raises(TaskError) as ei:
            await task.wait()
        assert ei.value.reason == "awaited"
        with pytest.raises(TaskError):
            await task.yield_()
        assert await task.shutdown() is None


@pytest.mark.parametrize("brutal", [False, True])
async def test_waiting_after_a_shutdown_says_it_was_shut_down(clock, brutal):
    """Elixir 1.14 (checked): after ``Task.shutdown``, ``Task.await`` exits ``timeout``
    once its timeout has passed and ``Task.yield`` gives ``nil``; here both raise at
    once. The error used to say the task "was already awaited", which it never was."""
    async with Runtime(clock=clock) as rt:
        task = rt.task(value_after, rt, 0, 7)
        await rt.sleep(T)  # it has returned: shutdown takes its result
        assert await task.shutdown("brutal_kill" if brutal else 5) == ("ok", 7)
        for op in (task.wait, task.yield_):
            with pytest.raises(TaskError) as ei:
                await op(T)
            assert ei.value.reason == "awaited"
            assert "already shut down" in str(ei.value) and "awaited" not in str(ei.value)
        assert "shut down" in repr(task)
        assert await task.shutdown() is None  # Elixir: {:exit, :noproc} (see the docstring)


async def test_two_coroutines_cannot_wait_on_one_task(clock):
    import asyncio

    async with Runtime(clock=clock) as rt:
        task = rt.task(value_after, rt, 2 * T, 1)
        first = asyncio.ensure_future(task.wait())
        await asyncio.sleep(0)
        with pytest.raises(TaskError) as ei:
            await task.wait()
        assert ei.value.reason == "awaited"
        assert await first == 1


# ---------------------------------------------------------------------------- yield_


async def test_yield_returns_none_on_timeout_and_can_be_repeated(clock):
    async with Runtime(clock=clock) as rt:
        task = rt.task(value_after, rt, 3 * T, "v")
        assert await task.yield_(T) is None
        assert task.pid.alive
        assert await task.yield_(0) is None  # a poll
        assert await task.yield_(10 * T) == ("ok", "v")
        if virtual(rt):
            assert rt.now() == 3 * T


async def test_yield_reports_an_exit(clock):
    async with Runtime(clock=clock) as rt:
        task = rt.task(crash_after, rt, T, "bad")
        out = await task.yield_()
        assert out is not None and out[0] == "exit"
        assert out[1] == Crash("ValueError", "bad")


async def test_yield_of_a_killed_task(clock):
    async with Runtime(clock=clock) as rt:
        task = rt.task(forever, rt)
        rt.exit(task.pid, "kill")
        assert await task.yield_() == ("exit", KILLED)


# ---------------------------------------------------------------------------- links and owners


async def test_from_outside_a_task_is_monitored_not_linked(clock):
    async with Runtime(clock=clock) as rt:
        task = rt.task(forever, rt)
        assert task.owner is None
        assert rt.events.filter(kind="link") == []
        spawn = rt.events.filter(kind="spawn", pid=task.pid.id)
        assert spawn[0].data == {"kind": "task"}
        assert spawn[0].peer is None
        await task.shutdown()


async def test_from_a_process_the_task_is_linked_to_it(clock):
    async with Runtime(clock=clock) as rt:

        async def run(proc):
            task = rt.task(value_after, rt, T, 5)
            linked = [e.peer for e in rt.events.filter(kind="link", pid=proc.pid.id)]
            return task, linked, await task.wait()

        (task, linked, value), owner = await as_process(rt, run)
        assert task.owner is owner
        assert linked == [task.pid.id]
        assert value == 5
        spawn = rt.events.filter(kind="spawn", pid=task.pid.id)[0]
        assert spawn.data == {"kind": "task"} and spawn.peer == owner.id


async def test_a_crashing_task_takes_its_linked_owner_down(clock):
    async with Runtime(clock=clock) as rt:

        async def owner_body(proc):
            await rt.task(crash_after, rt, T).wait()

        owner = rt.spawn(owner_body)
        reason = await rt.wait(owner)
        assert isinstance(reason, Crash) and reason.type == "ValueError"


async def test_an_owner_that_traps_exits_gets_the_exit_and_a_task_error(clock):
    async with Runtime(clock=clock) as rt:

        async def run(proc):
            task = rt.task(crash_after, rt, T)
            with pytest.raises(TaskError) as ei:
                await task.wait()
            msg = await proc.receive(timeout=1)
            return ei.value.reason, msg, task

        (reason, msg, task), _ = await as_process(rt, run, trap=True)
        assert isinstance(msg, Exit) and msg.pid is task.pid and msg.reason == reason
        assert reason.type == "ValueError"


async def test_an_owner_crash_kills_the_task(clock):
    async with Runtime(clock=clock) as rt:
        box = {}

        async def owner_body(proc):
            box["task"] = rt.task(forever, rt)
            await proc.sleep(T)
            raise RuntimeError("owner fails")

        owner = rt.spawn(owner_body)
        await rt.wait(owner)
        assert box["task"].pid.exit_reason == owner.exit_reason


async def test_an_owner_that_exits_normally_leaves_the_task_running(clock):
    async with Runtime(clock=clock) as rt:
        box = {}

        async def owner_body(proc):
            box["task"] = rt.task(value_after, rt, 2 * T, 1)

        owner = rt.spawn(owner_body)
        assert await rt.wait(owner) == NORMAL
        task = box["task"]
        assert task.pid.alive
        assert await rt.wait(task.pid) == NORMAL


async def test_only_the_owner_may_wait(clock):
    async with Runtime(clock=clock) as rt:
        outside = rt.task(value_after, rt, T, 1)

        async def intruder(proc):
            with pytest.raises(TaskError) as ei:
                await outside.wait()
            return ei.value

        err, intruder_pid = await as_process(rt, intruder)
        assert err.reason == "not_owner"
        assert describe(intruder_pid) in str(err) and describe(outside.pid) in str(err)
        assert "outside any process" in str(err)
        assert await outside.wait() == 1

        async def owner_body(proc):
            box["task"] = rt.task(value_after, rt, 2 * T, 2)
            return await box["task"].wait()

        box: dict = {}
        owner = rt.spawn(owner_body)
        await rt.sleep(T / 2)
        with pytest.raises(TaskError) as ei:
            await box["task"].yield_(0)
        assert describe(owner) in str(ei.value)
        with pytest.raises(TaskError):
            await box["task"].shutdown()
        assert await rt.wait(owner) == NORMAL


async def test_an_agent_can_wait_for_a_task_in_an_async_handler(clock):
    async with Runtime(clock=clock) as rt:
        k = rt.start(Keeper)

        async def use(agent):
            t1 = agent.runtime.task(value_after, agent.runtime, 2 * T, "a")
            t2 = agent.runtime.task(value_after, agent.runtime, T, "b")
            return [await t1.wait(), await t2.wait()]

        assert await rt.call(k, use) == ["a", "b"]
        if virtual(rt):
            assert rt.now() == 2 * T


async def test_virtual_time_advances_while_a_process_waits_on_a_task():
    async with Runtime(clock=VirtualClock()) as rt:

        async def run(proc):
            return await rt.task(value_after, rt, 600.0, "ten minutes").wait(timeout=None)

        (value, _) = await as_process(rt, run)
        assert value == "ten minutes" and rt.now() == 600.0


async def test_tasks_can_start_tasks(clock):
    async with Runtime(clock=clock) as rt:

        async def outer():
            inner = rt.task(value_after, rt, T, 2)
            assert inner.owner is rt.self()
            return 1 + await inner.wait()

        assert await rt.task(outer).wait() == 3


# ---------------------------------------------------------------------------- shutdown


async def test_shutdown_of_a_running_task(clock):
    async with Runtime(clock=clock) as rt:
        task = rt.task(forever, rt)
        assert await task.shutdown() is None
        assert task.pid.exit_reason == SHUTDOWN
        assert await task.shutdown() is None  # again: nothing left


async def test_brutal_kill(clock):
    async with Runtime(clock=clock) as rt:
        task = rt.task(forever, rt)
        assert await task.shutdown("brutal_kill") is None
        assert task.pid.exit_reason == KILLED


async def test_shutdown_returns_a_result_that_raced_in(clock):
    async with Runtime(clock=clock) as rt:
        task = rt.task(value_after, rt, 0, "done")
        await rt.sleep(T)
        assert not task.pid.alive
        assert await task.shutdown() == ("ok", "done")


async def test_shutdown_reports_an_earlier_crash(clock):
    async with Runtime(clock=clock) as rt:
        task = rt.task(crash_after, rt, 0)
        await rt.sleep(T)
        out = await task.shutdown()
        assert out is not None and out[0] == "exit" and out[1].type == "ValueError"


async def test_shutdown_of_a_task_already_stopped_by_shutdown_gives_none(clock):
    async with Runtime(clock=clock) as rt:
        task = rt.task(forever, rt)
        rt.exit(task.pid, SHUTDOWN)
        assert await task.shutdown() is None
        task = rt.task(forever, rt)
        rt.exit(task.pid, "kill")
        assert await task.shutdown() == ("exit", KILLED)
        task = rt.task(forever, rt)
        rt.exit(task.pid, "kill")
        assert await task.shutdown("brutal_kill") is None


def trapping(body):
    async def fn(*args):
        rt = args[0]
        rt.self()._trap = True  # a task that traps exits (Process.flag(:trap_exit, true))
        return await body(*args)

    return fn


async def test_shutdown_kills_a_trapping_task_after_the_timeout(clock):
    async with Runtime(clock=clock) as rt:
        task = rt.task(trapping(forever), rt)
        await rt.sleep(0)
        t0 = rt.now()
        assert await task.shutdown(timeout=T) == ("exit", KILLED)
        assert task.pid.exit_reason == KILLED
        if virtual(rt):
            assert rt.now() - t0 == T
        else:
            assert rt.now() - t0 >= T * 0.9


async def test_a_cancelled_shutdown_still_kills_the_task_at_its_deadline(clock):
    """The code awaiting ``shutdown`` is cancelled (a notebook interrupt): the task,
    which traps exits and ignores the shutdown, used to run on for ever, unlinked from
    its owner by then. The kill at the deadline belongs to the shutdown request."""
    async with Runtime(clock=clock) as rt:
        task = rt.task(trapping(forever), rt)
        await rt.sleep(0)
        waiting = asyncio.ensure_future(task.shutdown(timeout=T))
        await asyncio.sleep(0)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert task.pid.alive
        assert await rt.wait(task.pid, timeout=20 * T) == KILLED


async def test_shutdown_returns_the_value_a_trapping_task_finishes_with(clock):
    async with Runtime(clock=clock) as rt:
        task = rt.task(trapping(value_after), rt, T, "finished")
        await rt.sleep(0)
        assert await task.shutdown(timeout=10 * T) == ("ok", "finished")


async def test_shutdown_unlinks_so_the_owner_survives(clock):
    async with Runtime(clock=clock) as rt:

        async def run(proc):
            task = rt.task(forever, rt)
            out = await task.shutdown("brutal_kill")
            return out, task

        (out, task), owner = await as_process(rt, run)
        assert out is None and task.pid.exit_reason == KILLED
        assert owner.exit_reason == NORMAL
        assert rt.events.filter(kind="unlink", pid=owner.id)


@pytest.mark.parametrize(
    ("bad", "error", "says"),
    [
        (float("nan"), ValueError, ">= 0"),
        (-1, ValueError, ">= 0"),
        (True, TypeError, "got bool"),
        ([1], TypeError, "got list"),
        ("soon", ValueError, "'brutal_kill'"),
    ],
    ids=repr,
)
async def test_a_bad_shutdown_timeout_is_refused_up_front_naming_task_shutdown(
    clock, bad, error, says
):
    """It used to name ``wait(...)`` (nan reached the runtime's wait after the task was
    signalled), to wait 1 s for ``True``, and to fail on a bare comparison for a list."""
    async with Runtime(clock=clock) as rt:
        task = rt.task(trapping(forever), rt)  # alive after the exit signal: shutdown waits
        await rt.sleep(0)
        with pytest.raises(error, match=rf"^Task\.shutdown\(timeout=.*{says}"):
            await task.shutdown(bad)
        # refused before anything was done: not unlinked, not signalled, still running
        assert task.pid.alive
        assert not rt.events.filter(kind="exit_signal", pid=task.pid.id)
        assert await task.shutdown("brutal_kill") is None


async def test_shutdown_timeout_none_waits_as_long_as_it_takes(clock):
    async with Runtime(clock=clock) as rt:
        task = rt.task(trapping(value_after), rt, 5 * T, "finished")
        await rt.sleep(0)
        assert await task.shutdown(timeout=None) == ("ok", "finished")


async def test_runtime_shutdown_stops_running_tasks(clock):
    rt = Runtime(clock=clock)
    task = rt.task(forever, rt)

    async def parent(proc):
        rt.task(forever, rt)
        await proc.receive()

    rt.spawn(parent)
    await rt.sleep(0)
    await rt.shutdown()
    assert not task.pid.alive
    assert rt.processes() == []


async def test_repr(clock):
    async with Runtime(clock=clock) as rt:
        task = rt.task(value_after, rt, T, 1)
        assert "running" in repr(task)
        await rt.sleep(2 * T)
        assert "done" in repr(task)
        await task.wait()
        assert "awaited" in repr(task)


# ---------------------------------------------------------------------------- task supervisor


async def test_async_nolink_returns_the_value(clock):
    async with Runtime(clock=clock) as rt:
        sup = rt.start(TaskSupervisor, name="tasks")
        task = await TaskSupervisor.async_nolink("tasks", value_after, rt, T, "v")
        assert task.owner is None
        assert await task.wait() == "v"
        spawn = rt.events.filter(kind="spawn", pid=task.pid.id)[0]
        assert spawn.data == {"kind": "task"} and spawn.peer == sup.id
        (start,) = rt.events.filter(kind="child_start")
        assert start.data["restart"] == "temporary" and start.data["child_id"] == "value_after"


async def test_async_nolink_crash_leaves_the_caller_alone(clock):
    async with Runtime(clock=clock) as rt:
        sup = rt.start(TaskSupervisor)

        async def run(proc):
            t1 = await TaskSupervisor.async_nolink(sup, crash_after, rt, T)
            t2 = await TaskSupervisor.async_nolink(sup, crash_after, rt, T, "again")
            with pytest.raises(TaskError) as ei:
                await t1.wait()
            return t1, ei.value.reason, await t2.yield_(), proc.pid.mailbox_size

        (t1, reason, out2, mailbox), owner = await as_process(rt, run)
        assert t1.owner is owner
        assert reason == Crash("ValueError", "boom")
        assert out2 == ("exit", Crash("ValueError", "again"))
        assert mailbox == 0  # no Exit, no Down: results live on the Task
        assert owner.exit_reason == NORMAL
        assert rt.events.filter(kind="link", pid=owner.id) == []
        assert sup.alive  # temporary children are not restarted, and never exhaust intensity
        assert await TaskSupervisor.children(sup) == []


async def test_async_nolink_of_a_task_that_finishes_at_once(clock):
    async with Runtime(clock=clock) as rt:
        sup = rt.start(TaskSupervisor)
        quick = await TaskSupervisor.async_nolink(sup, lambda: "now")
        # it may run to the end before we look at it: nothing is lost
        await rt.wait(quick.pid)
        assert not quick.pid.alive
        assert await quick.yield_(0) == ("ok", "now")

        def fails():
            raise KeyError("k")

        bad = await TaskSupervisor.async_nolink(sup, fails)
        await rt.wait(bad.pid)
        assert not bad.pid.alive
        out = await bad.yield_(0)
        assert out is not None and out[0] == "exit" and out[1].type == "KeyError"


async def test_max_children_is_enforced(clock):
    from agentlab import SupervisorError

    async with Runtime(clock=clock) as rt:
        sup = rt.start(TaskSupervisor, max_children=2)
        t1 = await TaskSupervisor.async_nolink(sup, value_after, rt, T, 1)
        t2 = await TaskSupervisor.async_nolink(sup, forever, rt)
        assert set(await TaskSupervisor.children(sup)) == {t1.pid, t2.pid}
        with pytest.raises(SupervisorError) as ei:
            await TaskSupervisor.async_nolink(sup, value_after, rt, 0, 3)
        assert ei.value.reason == "max_children"  # type: ignore[attr-defined]
        assert await t1.wait() == 1
        t3 = await TaskSupervisor.async_nolink(sup, value_after, rt, 0, 3)  # a slot is free
        assert await t3.wait() == 3
        assert await t2.shutdown() is None
        assert await TaskSupervisor.children(sup) == []


async def test_stopping_the_task_supervisor_stops_its_tasks(clock):
    async with Runtime(clock=clock) as rt:
        sup = rt.start(TaskSupervisor)
        tasks = [await TaskSupervisor.async_nolink(sup, forever, rt) for _ in range(3)]
        await rt.stop(sup, SHUTDOWN)
        for t in tasks:
            assert await t.yield_() == ("exit", SHUTDOWN)


async def test_only_the_caller_of_async_nolink_may_wait(clock):
    async with Runtime(clock=clock) as rt:
        sup = rt.start(TaskSupervisor)

        async def run(proc):
            return await TaskSupervisor.async_nolink(sup, value_after, rt, T, 1)

        task, owner = await as_process(rt, run)
        with pytest.raises(TaskError) as ei:
            await task.wait()
        assert ei.value.reason == "not_owner" and describe(owner) in str(ei.value)
