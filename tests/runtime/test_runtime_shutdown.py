"""Shutdown: every process terminated, every task awaited, nothing left to warn about."""

from __future__ import annotations

import asyncio
import gc
import logging
import time
import warnings

import pytest

from agentlab import NOREPLY, Agent, CalleeExited, Runtime, RuntimeStateError, VirtualClock


class Held(Agent):
    """Never answers calls; optionally traps exits and logs terminate."""

    def init(self, log=None, tag=None):
        self.log = log
        self.tag = tag

    def handle_call(self, req, caller):
        return NOREPLY

    def terminate(self, reason):
        if self.log is not None:
            self.log.append((self.tag, reason))


class Sleeper(Agent):
    async def handle_info(self, msg):
        await self.sleep(3600)


async def busy_world(rt):
    """Processes in every state a shutdown can find them in."""
    pids = [rt.start(Held), rt.start(Sleeper)]
    rt.send(pids[1], "sleep")  # parked inside an async handler

    async def receiver(proc):
        await proc.receive()

    async def caller(proc):
        await proc.call(pids[0], "wait", timeout=None)

    async def spawner(proc):
        proc.spawn(receiver)  # not top-level
        await proc.sleep(3600)

    pids += [rt.spawn(receiver), rt.spawn(caller), rt.spawn(spawner)]
    rt.send_after(pids[0], "timer", 100)
    await rt.settled()
    await rt.sleep(0.01)
    return pids


def test_shutdown_stops_everything_and_leaves_no_warnings(arun, caplog):
    out = {}

    async def scenario(clock):
        rt = Runtime(clock=clock)
        pids = await busy_world(rt)
        out["all"] = list(rt.processes())
        assert len(out["all"]) == 6
        running = [t for t in asyncio.all_tasks() if "_task_main" in repr(t.get_coro())]
        assert len(running) >= 4  # the sleeper, receivers, caller and spawner hold tasks
        await rt.shutdown()
        out["left"] = rt.processes()
        out["tasks"] = [t for t in asyncio.all_tasks() if "_task_main" in repr(t.get_coro())]
        out["pids"] = pids

    for clock in (None, VirtualClock()):
        with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.WARNING):
            warnings.simplefilter("always")
            arun(scenario(clock))
            gc.collect()
        assert out["left"] == []
        assert all(not p.alive for p in out["all"])
        assert out["tasks"] == []  # every process task was awaited
        assert [str(w.message) for w in caught] == []
        bad = [r.getMessage() for r in caplog.records if "destroyed" in r.getMessage()
               or "never retrieved" in r.getMessage()]
        assert bad == []


async def test_shutdown_terminates_trapping_agents_in_reverse_start_order(clock):
    log = []
    rt = Runtime(clock=clock)
    for tag in "abc":
        rt.start(Held, log, tag, trap_exit=True)
    rt.start(Held, log, "plain")  # not trapping: killed by the signal, no terminate
    await rt.shutdown()
    assert log == [("c", "shutdown"), ("b", "shutdown"), ("a", "shutdown")]


async def test_an_outside_call_in_flight_fails_instead_of_hanging(clock):
    rt = Runtime(clock=clock)
    pid = rt.start(Held, name="srv")
    task = asyncio.ensure_future(rt.call(pid, "x", timeout=None))
    await rt.sleep(0.01)
    await rt.shutdown()
    with pytest.raises(CalleeExited) as ei:
        await task
    assert ei.value.reason == "shutdown"


async def test_shutdown_kills_what_does_not_stop_in_time(clock):
    rt = Runtime(clock=clock)

    class Stubborn(Agent):
        trap_exits = True

        async def terminate(self, reason):
            await self.sleep(3600)

    pid = rt.start(Stubborn)
    await rt.shutdown(timeout=0.05)
    assert pid.exit_reason == "killed"


async def test_shutdown_kills_a_process_stuck_outside_the_runtime():
    """Real clock only: on a virtual clock, a task awaiting foreign I/O holds time still."""
    rt = Runtime()

    class Stuck(Agent):
        trap_exits = True

        async def terminate(self, reason):
            await asyncio.Event().wait()

    pid = rt.start(Stuck)
    await rt.shutdown(timeout=0.05)
    assert pid.exit_reason == "killed"


async def test_shutdown_twice_and_a_new_runtime_after(clock):
    rt = Runtime(clock=clock)
    rt.start(Held)
    await rt.shutdown()
    await rt.shutdown()
    assert rt.closed and "closed" in repr(rt)
    async with Runtime(clock=type(clock)()) as rt2:
        pid = rt2.start(Held)
        assert pid.alive


async def test_async_with_shuts_down_on_error(clock):
    with pytest.raises(ZeroDivisionError):
        async with Runtime(clock=clock) as rt:
            pid = rt.start(Sleeper)
            rt.send(pid, "x")
            raise ZeroDivisionError
    assert rt.closed and not pid.alive


async def test_shutdown_of_many_top_level_processes_is_fast():
    """Regression: removing an exiting top-level process scanned a list (quadratic)."""
    rt = Runtime(clock=VirtualClock())
    pids = [rt.start(Agent) for _ in range(20_000)]
    t0 = time.perf_counter()
    rt.exit(pids[0], "kill")  # one exit among many
    await rt.shutdown()
    assert time.perf_counter() - t0 < 2.0
    assert not any(p.alive for p in pids)


class Boss(Agent):
    """A "stop everything" command: shuts the runtime down from inside a handler."""

    def init(self, log):
        self.log = log

    async def handle_cast(self, msg):
        await self.runtime.shutdown()
        self.log.append(("returned", self.runtime.closed))

    def terminate(self, reason):
        self.log.append(("terminate", reason))


@pytest.mark.parametrize("trap", [False, True], ids=["plain", "trapping"])
async def test_shutdown_from_inside_a_process_starts_it_and_returns(clock, trap):
    """Regression: the shutdown awaited the caller's own task: RecursionError, a task left
    pending, and nothing stopped. From inside a process it starts the shutdown and
    returns at once (OTP's init:stop()); the caller is stopped in its turn."""
    rt = Runtime(clock=clock)
    log: list = []
    held = rt.start(Held, log, "held", trap_exit=True)
    boss = rt.start(Boss, log, trap_exit=trap)
    worker = rt.spawn(idle)
    rt.cast(boss, "stop everything")
    await asyncio.wait_for(rt.wait(boss), 5)
    await rt.shutdown()  # from outside: waits for the one under way
    assert rt.closed and not rt._tasks
    assert not any(p.alive for p in (held, boss, worker))
    assert log[0] == ("returned", False)  # it returned before the shutdown reached it
    assert ("held", "shutdown") in log
    assert boss.exit_reason == "shutdown"
    if trap:  # stopped in order like any trapping agent
        assert ("terminate", "shutdown") in log
    with pytest.raises(RuntimeStateError):
        rt.start(Held)


async def idle(proc):
    await proc.receive()


async def test_shutdown_wakes_code_sleeping_on_the_runtime_clock(clock):
    """Regression: shutdown dropped the timers of outside code in ``rt.sleep`` without
    waking it, so that code waited forever; a sleep after shutdown hung on a virtual
    clock. Both raise RuntimeStateError, as a start or send_after after shutdown does."""
    rt = Runtime(clock=clock)
    rt.start(Held)
    sleeper = asyncio.ensure_future(rt.sleep(3600))
    await asyncio.sleep(0)
    await rt.shutdown()
    with pytest.raises(RuntimeStateError, match="shut down while this code waited"):
        await asyncio.wait_for(sleeper, 5)
    with pytest.raises(RuntimeStateError, match="shut down"):
        await asyncio.wait_for(rt.sleep(0.01), 5)
