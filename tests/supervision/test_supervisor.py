"""Supervisor behaviour that the JSON scenarios cannot express.

Races (a child exiting by itself while its supervisor stops), calls that meet
a restart, names that follow restarts, starts that hang or raise, the admin
API as Python sees it, DynamicSupervisor's ``max_children``, the ``backoff``
extension, ``Supervisor.why``, the rules table, validation errors,
TaskSupervisor, and the performance property of the inline restart path.
Tests that take the ``clock`` fixture run twice: on the loop's real clock and
on a VirtualClock.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest

from agentlab import (
    KILL,
    Agent,
    AgentLabError,
    CalleeExited,
    CallTimeout,
    ChildSpec,
    Crash,
    DynamicSupervisor,
    NoProcessError,
    Pid,
    Runtime,
    StartError,
    Stop,
    Supervisor,
    SupervisorError,
    TaskSupervisor,
    VirtualClock,
)

# ---------------------------------------------------------------------------- helpers


class Worker(Agent):
    """Answers ``"ping"`` with its pid; ``("stop", r)`` makes it exit with ``r``;
    ``("exit_after", s, r)`` makes it exit with ``r`` after ``s`` seconds."""

    def init(self, log: list[Any] | None = None, trap: bool = False, slow: float = 0.0) -> None:
        self.log = log
        self.slow = slow
        self.trap_exit = trap
        if log is not None:
            log.append(("start", self.pid))

    def handle_call(self, request: Any, caller: Any) -> Any:
        if request == "ping":
            return ("pong", self.pid)
        if request == "crash":
            raise RuntimeError("crashed while answering")
        return None

    def handle_cast(self, msg: Any) -> Any:
        if msg[0] == "stop":
            return Stop(msg[1])
        if msg[0] == "exit_after":
            self.send_after(self.pid, ("exit_now", msg[2]), msg[1])
        return None

    def handle_info(self, msg: Any) -> Any:
        if isinstance(msg, tuple) and msg[0] == "exit_now":
            return Stop(msg[1])
        return None

    def terminate(self, reason: Any) -> Any:
        if self.log is not None:
            self.log.append(("terminate", self.pid, reason))
        if self.slow:
            return self.sleep(self.slow)
        return None


class SlowInit(Agent):
    """``async def init`` that takes ``delay`` seconds of runtime clock."""

    async def init(self, delay: float, log: list[Any] | None = None) -> None:  # type: ignore[override]
        await self.sleep(delay)
        if log is not None:
            log.append(("started", self.pid))

    def handle_call(self, request: Any, caller: Any) -> Any:
        return ("pong", self.pid)


class HangingInit(Agent):
    """An ``async def init`` that never returns."""

    async def init(self) -> None:  # type: ignore[override]
        await self.receive()  # nobody ever sends it anything


class FailingInit(Agent):
    def init(self) -> None:
        raise ValueError("cannot connect")


async def child_of(sup: Pid, ident: Any, rt: Runtime) -> Pid:
    for cid, state, _type in await Supervisor.which_children(sup, runtime=rt):
        if cid == ident:
            assert isinstance(state, Pid), f"{ident} is not running: {state!r}"
            return state
    raise AssertionError(f"no child {ident!r}")


def kinds(rt: Runtime, kind: str, pid: Pid | None = None) -> list[Any]:
    return [e for e in rt.events if e.kind == kind and (pid is None or e.pid == pid.id)]


def assert_clean(rt: Runtime) -> None:
    assert not rt._tasks, rt._tasks
    assert not rt._heap, rt._heap
    assert not rt._procs, list(rt._procs.values())


# ---------------------------------------------------------------------------- races (SUITE sup_stop_race)

RACE_REASONS: list[Any] = ["normal", "shutdown", ("shutdown", "x"), "boom"]


def otp_reports_shutdown_error(restart: str, reason: Any) -> bool:
    """OTP's shutdown/1 + do_terminate/2: which exit reasons of a child that died by itself
    before the supervisor got to it are reported as shutdown_error (integer shutdown)."""
    if reason == "shutdown":
        return False
    if restart != "permanent" and (reason == "normal" or isinstance(reason, tuple)):
        return False
    return True


@pytest.mark.parametrize("restart", ["permanent", "transient", "temporary"])
async def test_children_exiting_while_their_supervisor_stops_keep_their_reason(
    clock: Any, restart: str
) -> None:
    async with Runtime(clock=clock) as rt:
        log: list[Any] = []
        racers = [
            ChildSpec(f"r{i}", (Worker, log), restart=restart) for i in range(len(RACE_REASONS))
        ]
        # stopped first (it is last in start order), and slowly: the racers exit meanwhile
        slow = ChildSpec("slow", (Worker, log, True, 0.05), restart=restart, shutdown=1.0)
        sup = rt.start(Supervisor, [*racers, slow], intensity=100)
        pids = {c.id: await child_of(sup, c.id, rt) for c in [*racers, slow]}
        for i, reason in enumerate(RACE_REASONS):
            rt.cast(pids[f"r{i}"], ("exit_after", 0.02, reason))
        assert await rt.stop(sup, "shutdown") == "shutdown"
        for i, reason in enumerate(RACE_REASONS):
            assert pids[f"r{i}"].exit_reason == reason
        assert pids["slow"].exit_reason == "shutdown"
        # nobody was restarted during the stop
        assert len(kinds(rt, "child_start", sup)) == len(racers) + 1
        assert not kinds(rt, "restart", sup)
        reported = {e.data["child_id"]: e.reason for e in kinds(rt, "shutdown_error", sup)}
        expected = {
            f"r{i}": r for i, r in enumerate(RACE_REASONS) if otp_reports_shutdown_error(restart, r)
        }
        assert reported == expected
    assert_clean(rt)


async def test_a_crash_and_a_stop_at_the_same_instant(clock: Any) -> None:
    """The crash's Exit is queued behind the stop: the supervisor stops, nothing restarts."""
    async with Runtime(clock=clock) as rt:
        sup = rt.start(Supervisor, [ChildSpec("a", Worker), ChildSpec("b", Worker)], intensity=5)
        a = await child_of(sup, "a", rt)
        b = await child_of(sup, "b", rt)
        rt.exit(sup, "shutdown")  # from a stranger: ignored, as OTP does
        stopping = asyncio.ensure_future(rt.stop(sup, "shutdown"))
        await asyncio.sleep(0)  # the stop request is queued first ...
        rt.exit(a, "boom")  # ... then the crash
        assert await stopping == "shutdown"
        assert a.exit_reason == "boom" and b.exit_reason == "shutdown"
        assert not kinds(rt, "restart", sup)
        assert [e.data["child_id"] for e in kinds(rt, "shutdown_error", sup)] == ["a"]
    assert_clean(rt)


async def busy(rt: Runtime, sup: Pid, spec: Any = None) -> asyncio.Future[Any]:
    """Make ``sup`` busy in a start_child of a SlowInit child until time is released
    (``rt.hold_time(False)``); returns that start_child's future."""
    rt.hold_time()  # a virtual clock must not finish the slow init meanwhile
    if spec is None:
        spec = ChildSpec("slow", (SlowInit, 0.02))
    adding = asyncio.ensure_future(Supervisor.start_child(sup, spec))
    for _ in range(1000):  # until the supervisor is inside that start_child
        if any(isinstance(p._beh, SlowInit) for p in rt.processes()):
            break
        await asyncio.sleep(0)
    return adding


async def queued(aw: Any) -> asyncio.Future[Any]:
    """Send a call (``aw``) now; its reply comes when the supervisor gets to it."""
    fut = asyncio.ensure_future(aw)
    for _ in range(3):
        await asyncio.sleep(0)
    return fut


async def _stop_while_dynamic_children_exit(rt: Runtime, sup: Pid, restart: str) -> list[Any]:
    """While ``sup`` is busy (an admin call waiting for a slow init), queue a stop, then
    make its children exit by themselves with RACE_REASONS; return the reasons it
    reported as ``shutdown_error``, sorted by repr."""
    pids = []
    for _ in RACE_REASONS:
        pid = await Supervisor.start_child(sup, ChildSpec("w", Worker, restart=restart))
        assert pid is not None
        pids.append(pid)
    adding = await busy(rt, sup, ChildSpec("slow", (SlowInit, 0.02), restart=restart))
    stopping = await queued(rt.stop(sup, "shutdown"))  # the stop request is queued first ...
    for pid, reason in zip(pids, RACE_REASONS, strict=True):
        rt.cast(pid, ("stop", reason))  # ... then each child exits by itself
    await rt.settled()
    assert all(not p.alive for p in pids)
    rt.hold_time(False)
    slow = await adding
    assert await stopping == "shutdown"
    assert [p.exit_reason for p in pids] == RACE_REASONS
    assert slow is not None and slow.exit_reason == "shutdown"
    assert not kinds(rt, "restart", sup)
    return sorted(repr(e.reason) for e in kinds(rt, "shutdown_error", sup))


@pytest.mark.parametrize("restart", ["permanent", "transient", "temporary"])
async def test_dynamic_children_exiting_as_their_supervisor_stops(clock: Any, restart: str) -> None:
    """SUITE sup_stop_non_shutdown_exit_dynamic: the stop completes; each child keeps its
    reason; as Elixir's monitor_child/1 does (checked on Elixir 1.14), every such reason
    but ``normal`` of a non-permanent child is reported, even shutdown."""
    async with Runtime(clock=clock) as rt:
        dsup = rt.start(DynamicSupervisor, intensity=100)
        reported = await _stop_while_dynamic_children_exit(rt, dsup, restart)
        expected = sorted(repr(r) for r in RACE_REASONS if r != "normal" or restart == "permanent")
        assert reported == expected
    assert_clean(rt)


@pytest.mark.parametrize("restart", ["permanent", "transient", "temporary"])
async def test_simple_one_for_one_children_exiting_as_their_supervisor_stops(
    clock: Any, restart: str
) -> None:
    """The same race under simple_one_for_one: OTP 25's terminate_dynamic_children/1
    takes each reason from the queued EXIT and checks it as any stop does, so
    ``shutdown`` is never reported (checked with an escript on OTP 25.2.3)."""
    async with Runtime(clock=clock) as rt:
        sup = rt.start(
            Supervisor,
            strategy="simple_one_for_one",
            child=ChildSpec("w", Worker, restart=restart),
            intensity=100,
        )
        reported = await _stop_while_dynamic_children_exit(rt, sup, restart)
        expected = sorted(repr(r) for r in RACE_REASONS if otp_reports_shutdown_error(restart, r))
        assert reported == expected
    assert_clean(rt)


@pytest.mark.parametrize("kind", ["simple_one_for_one", "DynamicSupervisor"])
async def test_a_pool_reports_each_reason_its_stop_did_not_expect_once(
    clock: Any, kind: str
) -> None:
    """OTP 25's terminate_dynamic_children/1 reports a reason once for the whole
    simple_one_for_one pool: the template as offender with {nb_children, N} and no pid
    (recorded: simple_one_for_one_shutdown_timeout_grouped_reports). Elixir's
    DynamicSupervisor reports each child (dynamic_supervisor_children_dead_at_stop)."""
    async with Runtime(clock=clock) as rt:
        slow = ChildSpec("w", (Worker, None, True, 5.0), shutdown=0.05)  # outlasts shutdown
        quick = ChildSpec("w", Worker, shutdown=0.05)
        if kind == "simple_one_for_one":
            sup = rt.start(Supervisor, strategy="simple_one_for_one", child=slow, intensity=100)
        else:
            sup = rt.start(DynamicSupervisor, intensity=100)
        slows = [await Supervisor.start_child(sup, slow) for _ in range(3)]
        quicks = [await Supervisor.start_child(sup, quick) for _ in range(3)]
        adding = await busy(rt, sup)
        stopping = await queued(rt.stop(sup, "shutdown"))  # the stop is queued first ...
        for q in quicks[:2]:
            rt.cast(q, ("stop", "boom"))  # ... then two children crash by themselves
        await rt.settled()
        rt.hold_time(False)
        await adding
        assert await stopping == "shutdown"
        assert [p.exit_reason for p in slows] == ["killed"] * 3  # type: ignore[union-attr]
        assert quicks[2] is not None and quicks[2].exit_reason == "shutdown"  # expected
        reports = kinds(rt, "shutdown_error", sup)
        if kind == "simple_one_for_one":
            assert [(e.reason, e.peer, e.data) for e in reports] == [
                ("boom", None, {"child_id": "w", "nb_children": 2}),
                ("killed", None, {"child_id": "w", "nb_children": 3}),
            ]
        else:
            assert sorted((e.reason, e.peer) for e in reports) == sorted(
                [("boom", q.id) for q in quicks[:2] if q is not None]
                + [("killed", p.id) for p in slows if p is not None]
            )
            assert all(e.data == {"child_id": "w"} for e in reports)
    assert_clean(rt)


async def test_a_pool_groups_unhashable_reasons_too() -> None:
    """Reasons are grouped by equality, also those that cannot be hashed."""
    async with Runtime(clock=VirtualClock()) as rt:
        sup = rt.start(
            Supervisor, strategy="simple_one_for_one", child=ChildSpec("w", Worker), intensity=100
        )
        pids = [await Supervisor.start_child(sup, ()) for _ in range(4)]
        adding = await busy(rt, sup)
        stopping = await queued(rt.stop(sup, "shutdown"))
        for pid, reason in zip(pids, [["a"], {"b": 1}, ["a"], {"b": 1}], strict=True):
            rt.cast(pid, ("stop", reason))  # type: ignore[arg-type]
        await rt.settled()
        rt.hold_time(False)
        await adding
        assert await stopping == "shutdown"
        assert [(e.reason, e.data["nb_children"]) for e in kinds(rt, "shutdown_error", sup)] == [
            (["a"], 2), ({"b": 1}, 2),
        ]


@pytest.mark.parametrize("kind", ["DynamicSupervisor", "simple_one_for_one"])
@pytest.mark.parametrize("restart", ["permanent", "transient", "temporary"])
async def test_terminate_child_of_a_dynamic_child_that_has_just_exited(
    clock: Any, restart: str, kind: str
) -> None:
    """terminate_child is queued (the supervisor is busy), then the child exits by itself.
    The call takes the reason of the queued exit, so the child is not restarted. Whether
    that reason is reported follows the supervisor's stop: Elixir's terminate_child/2
    (monitor_child/1) reports any reason but ``normal`` of a non-permanent child, even
    shutdown (checked on Elixir 1.14); OTP's shutdown/1 checks it as any stop does
    (checked on OTP 25.2.3)."""
    for reason in RACE_REASONS:
        async with Runtime(clock=clock) as rt:
            if kind == "DynamicSupervisor":
                sup = rt.start(DynamicSupervisor, intensity=100)
            else:
                sup = rt.start(
                    Supervisor,
                    strategy="simple_one_for_one",
                    child=ChildSpec("w", Worker),
                    intensity=100,
                )
            pid = await Supervisor.start_child(sup, ChildSpec("w", Worker, restart=restart))
            assert pid is not None
            adding = await busy(rt, sup, ChildSpec("slow", (SlowInit, 0.02), restart=restart))
            # the call is queued first ...
            terminating = await queued(Supervisor.terminate_child(sup, pid))
            rt.cast(pid, ("stop", reason))  # ... then the child exits by itself
            await rt.settled()
            assert not pid.alive and pid.exit_reason == reason
            rt.hold_time(False)
            slow = await adding
            assert await terminating is None
            assert await Supervisor.which_children(sup) == [(None, slow, "worker")]
            assert not kinds(rt, "restart", sup) and not kinds(rt, "child_terminated", sup)
            if kind == "DynamicSupervisor":
                expected = reason != "normal" or restart == "permanent"
            else:
                expected = otp_reports_shutdown_error(restart, reason)
            reported = [e.reason for e in kinds(rt, "shutdown_error", sup)]
            assert reported == ([reason] if expected else []), reason
            await rt.stop(sup)
        assert_clean(rt)


# ---------------------------------------------------------------------------- calls meet restarts


async def test_a_call_to_a_child_that_crashes_gets_callee_exited_then_the_name_works(
    clock: Any,
) -> None:
    async with Runtime(clock=clock) as rt:
        sup = rt.start(Supervisor, [ChildSpec("svc", Worker, name="svc")], intensity=5)
        old = rt.whereis("svc")
        with pytest.raises(CalleeExited) as ei:
            await rt.call("svc", "crash")
        assert ei.value.process is old
        assert isinstance(ei.value.reason, Crash) and ei.value.reason.type == "RuntimeError"
        assert "retry the call" in str(ei.value)
        tag, new = await rt.call("svc", "ping")
        assert tag == "pong" and new is not old and new is rt.whereis("svc")
        assert (await child_of(sup, "svc", rt)) is new


async def test_calls_by_name_during_a_slow_restart_reach_the_new_incarnation(clock: Any) -> None:
    """The name is registered when the new process exists, before its ``async def init``
    ends; calls queue until init is done and the new incarnation answers them."""
    async with Runtime(clock=clock) as rt:
        log: list[Any] = []
        sup = await rt.start_async(
            Supervisor, [ChildSpec("svc", (SlowInit, 0.05, log), name="svc")], intensity=5
        )
        old = rt.whereis("svc")
        assert old is not None
        rt.exit(old, "boom")
        await rt.wait(old)
        await asyncio.sleep(0)
        new = rt.whereis("svc")
        assert new is not None and new is not old
        assert ("started", new) not in log  # still in init
        tag, who = await rt.call("svc", "ping", timeout=5)
        assert tag == "pong" and who is new
        assert ("started", new) in log
        assert (await child_of(sup, "svc", rt)) is new


async def test_a_call_that_times_out_during_a_restart_says_so(clock: Any) -> None:
    async with Runtime(clock=clock) as rt:
        await rt.start_async(
            Supervisor, [ChildSpec("svc", (SlowInit, 0.2), name="svc")], intensity=5
        )
        old = rt.whereis("svc")
        assert old is not None
        rt.exit(old, "boom")
        await rt.wait(old)
        await asyncio.sleep(0)
        with pytest.raises(CallTimeout) as ei:
            await rt.call("svc", "ping", timeout=0.01)
        assert ei.value.process is rt.whereis("svc")
        assert "timed out" in str(ei.value)
        # the late reply is dropped; the next call is answered normally
        tag, who = await rt.call("svc", "ping", timeout=5)
        assert tag == "pong" and who is rt.whereis("svc")


async def test_a_call_to_a_dead_name_between_exit_and_restart_is_a_clear_error() -> None:
    """With an ``async def init`` the name comes back only when the new process exists;
    a call by name in the gap (not possible here: the restart is synchronous) or by the
    old pid says what happened."""
    async with Runtime(clock=VirtualClock()) as rt:
        rt.start(Supervisor, [ChildSpec("svc", Worker, name="svc")], intensity=5)
        old = rt.whereis("svc")
        assert old is not None
        rt.exit(old, KILL)
        with pytest.raises(NoProcessError) as ei:
            await rt.call(old, "ping")
        assert "registered name" in str(ei.value)
        await rt.settled()
        assert (await rt.call("svc", "ping"))[1] is rt.whereis("svc") is not old


async def test_named_children_are_re_registered_under_the_same_name(clock: Any) -> None:
    async with Runtime(clock=clock) as rt:
        sup = rt.start(
            Supervisor,
            [ChildSpec("a", Worker, name="alpha"), ChildSpec("b", Worker, name="beta")],
            strategy="one_for_all",
            intensity=50,
        )
        seen = []
        for i in range(6):
            victim = rt.whereis("alpha" if i % 2 else "beta")
            assert victim is not None
            rt.exit(victim, "boom")
            await rt.wait(victim)
            await rt.settled()
            a, b = rt.whereis("alpha"), rt.whereis("beta")
            assert a is not None and b is not None and a.alive and b.alive
            assert (await rt.call("alpha", "ping"))[1] is a
            assert (await rt.call("beta", "ping"))[1] is b
            seen += [a, b]
        assert len(set(seen)) == len(seen)  # a fresh pair each time (one_for_all)
        assert [e.data["name"] for e in kinds(rt, "register") if e.data["name"] == "alpha"]
        assert (await child_of(sup, "a", rt)) is rt.whereis("alpha")


# ---------------------------------------------------------------------------- starts that hang or fail


async def test_a_start_that_hangs_blocks_the_supervisor_but_not_shutdown(clock: Any) -> None:
    """There is no start timeout (OTP has none either: a child's start_link is called with
    ``infinity``). The supervisor stays in its init; ``rt.shutdown`` kills it after its
    timeout, the kill takes the linked child down, and nothing is left behind."""
    rt = Runtime(clock=clock)
    sup = rt.start(Supervisor, [ChildSpec("ok", Worker), ChildSpec("hang", HangingInit)])
    await asyncio.sleep(0.01)
    assert sup.alive
    hang = next(p for p in rt.processes() if isinstance(p._beh, HangingInit))
    ok = next(p for p in rt.processes() if isinstance(p._beh, Worker))
    t0 = rt.now()
    await rt.shutdown(timeout=0.2)
    assert rt.now() - t0 < 2.0
    assert sup.exit_reason == "killed" and hang.exit_reason == "killed"
    assert ok.exit_reason == "killed"  # its supervisor was killed, so no orderly stop
    assert_clean(rt)


async def test_start_child_that_hangs_holds_the_caller_until_the_supervisor_dies(
    clock: Any,
) -> None:
    rt = Runtime(clock=clock)
    sup = rt.start(Supervisor, [ChildSpec("ok", Worker)])
    call = asyncio.ensure_future(Supervisor.start_child(sup, ChildSpec("hang", HangingInit)))
    await asyncio.sleep(0.01)
    assert not call.done()
    await rt.shutdown(timeout=0.1)
    with pytest.raises(CalleeExited) as ei:
        await call
    assert ei.value.reason == "killed"
    assert_clean(rt)


async def test_a_start_that_raises_fails_the_supervisor_start_with_the_crash() -> None:
    async with Runtime(clock=VirtualClock()) as rt:
        log: list[Any] = []
        with pytest.raises(StartError) as ei:
            # start_async: stopping "a" (it traps exits) makes the supervisor's init wait
            await rt.start_async(
                Supervisor,
                [
                    ChildSpec("a", (Worker, log, True)),  # traps exits: its terminate runs
                    ChildSpec("db", FailingInit),
                    ChildSpec("c", Worker),
                ],
            )
        tag, (what, ident, crash) = ei.value.reason
        assert (tag, what, ident) == ("shutdown", "failed_to_start_child", "db")
        assert isinstance(crash, Crash) and crash.type == "ValueError"
        assert crash.message == "cannot connect"
        started = [e[1] for e in log if e[0] == "start"]
        assert [e for e in log if e[0] == "terminate"] == [("terminate", started[0], "shutdown")]
        assert [e.data["child_id"] for e in kinds(rt, "start_error")] == ["db"]
        assert not rt.processes()


async def test_start_child_that_raises_is_a_supervisor_error_with_otp_reason() -> None:
    async with Runtime(clock=VirtualClock()) as rt:
        sup = rt.start(Supervisor, [])
        with pytest.raises(SupervisorError) as ei:
            await Supervisor.start_child(sup, ChildSpec("db", FailingInit))
        crash, spec = ei.value.reason  # type: ignore[attr-defined]
        assert isinstance(crash, Crash) and crash.type == "ValueError"
        assert spec.id == "db"
        assert "start_child" in str(ei.value)
        assert await Supervisor.which_children(sup) == []  # the spec is not kept


# ---------------------------------------------------------------------------- admin API


async def test_admin_api_results_and_errors() -> None:
    async with Runtime(clock=VirtualClock()) as rt:
        sup = rt.start(Supervisor, [ChildSpec("a", Worker)], name="team", intensity=3)
        b = await Supervisor.start_child("team", ChildSpec("b", Worker, restart="transient"))
        assert isinstance(b, Pid) and b.alive
        assert await Supervisor.which_children(sup) == [
            ("b", b, "worker"),
            ("a", await child_of(sup, "a", rt), "worker"),
        ]
        assert await Supervisor.count_children("team") == {
            "specs": 2,
            "active": 2,
            "supervisors": 0,
            "workers": 2,
        }

        def reason(ei: Any) -> Any:
            return ei.value.reason

        with pytest.raises(SupervisorError) as ei:
            await Supervisor.start_child(sup, ChildSpec("b", Worker))
        assert reason(ei) == ("already_started", b)
        with pytest.raises(SupervisorError) as ei:
            await Supervisor.restart_child(sup, "b")
        assert reason(ei) == "running" and "terminate_child first" in str(ei.value)
        with pytest.raises(SupervisorError) as ei:
            await Supervisor.delete_child(sup, "b")
        assert reason(ei) == "running"

        assert await Supervisor.terminate_child(sup, "b") is None
        assert b.exit_reason == "shutdown"
        assert await Supervisor.terminate_child(sup, "b") is None  # already stopped: ok
        assert ("b", None, "worker") in await Supervisor.which_children(sup)
        assert (await Supervisor.count_children(sup))["active"] == 1
        with pytest.raises(SupervisorError) as ei:
            await Supervisor.start_child(sup, ChildSpec("b", Worker))
        assert reason(ei) == "already_present"

        b2 = await Supervisor.restart_child(sup, "b")
        assert isinstance(b2, Pid) and b2.alive and b2 is not b
        await Supervisor.terminate_child(sup, "b")
        assert await Supervisor.delete_child(sup, "b") is None
        assert [c[0] for c in await Supervisor.which_children(sup)] == ["a"]

        for op in (Supervisor.restart_child, Supervisor.delete_child, Supervisor.terminate_child):
            with pytest.raises(SupervisorError) as ei:
                await op(sup, "nope")
            assert reason(ei) == "not_found" and "no child has that id" in str(ei.value)

        # a nested supervisor counts as a supervisor
        sub = await Supervisor.start_child(
            sup, ChildSpec("sub", (Supervisor, [ChildSpec("w", Worker)]))
        )
        assert isinstance(sub, Pid)
        kinds_ = {cid: t for cid, _, t in await Supervisor.which_children(sup)}
        assert kinds_ == {"a": "worker", "sub": "supervisor"}
        assert await Supervisor.count_children(sup) == {
            "specs": 2,
            "active": 2,
            "supervisors": 1,
            "workers": 1,
        }
        # a temporary child's spec goes when it stops, so its id can be reused
        t = await Supervisor.start_child(sup, ChildSpec("t", Worker, restart="temporary"))
        assert t is not None
        rt.cast(t, ("stop", "normal"))
        await rt.wait(t)
        assert "t" not in [c[0] for c in await Supervisor.which_children(sup)]
        assert await Supervisor.start_child(sup, ChildSpec("t", Worker, restart="temporary"))

        with pytest.raises(NoProcessError):
            await Supervisor.which_children("no-such-team", runtime=rt)


async def test_admin_api_from_inside_a_process() -> None:
    """An agent adds children to its own subtree through the same API (awaited)."""

    class Manager(Agent):
        async def handle_call(self, request: Any, caller: Any) -> Any:  # type: ignore[override]
            sup, spec = request
            return await Supervisor.start_child(sup, spec)

    async with Runtime(clock=VirtualClock()) as rt:
        sup = rt.start(Supervisor, [])
        mgr = rt.start(Manager)
        pid = await rt.call(mgr, (sup, ChildSpec("w", Worker)))
        assert isinstance(pid, Pid) and (await child_of(sup, "w", rt)) is pid


async def test_ignore_from_init_keeps_the_spec_without_a_process() -> None:
    from agentlab import IGNORE

    class Ignorer(Agent):
        def init(self) -> Any:
            return IGNORE

    async with Runtime(clock=VirtualClock()) as rt:
        sup = rt.start(
            Supervisor, [ChildSpec("i", Ignorer), ChildSpec("t", Ignorer, restart="temporary")]
        )
        assert await Supervisor.which_children(sup) == [("i", None, "worker")]
        assert await Supervisor.start_child(sup, ChildSpec("j", Ignorer)) is None
        assert await Supervisor.count_children(sup) == {
            "specs": 2,
            "active": 0,
            "supervisors": 0,
            "workers": 2,
        }


# ---------------------------------------------------------------------------- DynamicSupervisor


async def test_dynamic_supervisor_max_children() -> None:
    async with Runtime(clock=VirtualClock()) as rt:
        dsup = rt.start(DynamicSupervisor, max_children=2, intensity=10)
        a = await DynamicSupervisor.start_child(dsup, ChildSpec("w", Worker))
        b = await DynamicSupervisor.start_child(dsup, ChildSpec("w", Worker, restart="temporary"))
        assert a is not None and b is not None
        with pytest.raises(SupervisorError) as ei:
            await DynamicSupervisor.start_child(dsup, ChildSpec("w", Worker))
        assert ei.value.reason == "max_children"  # type: ignore[attr-defined]
        assert "max_children" in str(ei.value)
        # a restarted child keeps its slot
        rt.exit(a, "boom")
        await rt.wait(a)
        await rt.settled()
        assert (await DynamicSupervisor.count_children(dsup))["active"] == 2
        with pytest.raises(SupervisorError):
            await DynamicSupervisor.start_child(dsup, ChildSpec("w", Worker))
        # a temporary child that exits frees its slot
        rt.cast(b, ("stop", "normal"))
        await rt.wait(b)
        c = await DynamicSupervisor.start_child(dsup, ChildSpec("w", Worker))
        assert c is not None
        # so does terminate_child (by pid); an unknown pid is not_found
        await DynamicSupervisor.terminate_child(dsup, c)
        assert c.exit_reason == "shutdown"
        with pytest.raises(SupervisorError) as ei:
            await DynamicSupervisor.terminate_child(dsup, c)
        assert ei.value.reason == "not_found"  # type: ignore[attr-defined]
        assert await DynamicSupervisor.start_child(dsup, ChildSpec("w", Worker)) is not None
        children = await DynamicSupervisor.which_children(dsup)
        assert len(children) == 2 and all(isinstance(p, Pid) and p.alive for _, p, _ in children)
        assert (await DynamicSupervisor.count_children(dsup))["specs"] == 2


async def test_dynamic_supervisor_defaults_to_three_restarts_in_five_seconds() -> None:
    async with Runtime(clock=VirtualClock()) as rt:
        dsup = rt.start(DynamicSupervisor)
        pid = await DynamicSupervisor.start_child(dsup, ChildSpec("w", Worker))
        for _ in range(3):
            assert pid is not None
            rt.exit(pid, "boom")
            await rt.wait(pid)
            await rt.settled()
            ((_, pid, _),) = await DynamicSupervisor.which_children(dsup)
        assert isinstance(pid, Pid)
        rt.exit(pid, "boom")
        await rt.wait(dsup)
        assert dsup.exit_reason == "shutdown"


# ---------------------------------------------------------------------------- backoff (extension)


async def _restart_delays(seed: int, backoff: Any, crashes: int = 6) -> list[float]:
    """Crash a child repeatedly; return how long each restart took on the runtime clock."""
    async with Runtime(clock=VirtualClock(), seed=seed) as rt:
        sup = rt.start(Supervisor, [ChildSpec("w", Worker)], intensity=100, backoff=backoff)
        delays = []
        for _ in range(crashes):
            pid = await child_of(sup, "w", rt)
            t0 = rt.now()
            rt.exit(pid, "boom")
            await rt.wait(pid)
            while True:
                ((_, state, _),) = await Supervisor.which_children(sup)
                if isinstance(state, Pid):
                    break
                await rt.sleep(0.001)
            starts = kinds(rt, "child_start", sup)
            delays.append(starts[-1].time - t0)
    return delays


async def test_backoff_delays_grow_with_jitter_and_are_deterministic_per_seed() -> None:
    base, cap = 0.1, 1.0
    d1 = await _restart_delays(7, (base, cap))
    d2 = await _restart_delays(7, (base, cap))
    d3 = await _restart_delays(8, (base, cap))
    assert d1 == d2  # same seed, same delays
    assert d1 != d3
    for n, d in enumerate(
        d1, start=1
    ):  # restart n in the window: base * 2**(n-1), capped, x[0.5, 1]
        nominal = min(cap, base * 2 ** (n - 1))
        assert 0.5 * nominal - 1e-9 <= d <= nominal + 0.002, (n, d)
    assert d1[-1] > d1[0] * 2


async def test_no_backoff_by_default_restarts_at_once() -> None:
    assert await _restart_delays(7, None) == [0.0] * 6


async def test_during_a_backoff_the_supervisor_answers_and_can_stop() -> None:
    async with Runtime(clock=VirtualClock()) as rt:
        sup = rt.start(Supervisor, [ChildSpec("w", Worker)], intensity=10, backoff=(30.0, 60.0))
        pid = await child_of(sup, "w", rt)
        rt.exit(pid, "boom")
        await rt.wait(pid)
        assert await Supervisor.which_children(sup) == [("w", "restarting", "worker")]
        assert (await Supervisor.count_children(sup))["active"] == 0
        with pytest.raises(SupervisorError) as ei:
            await Supervisor.restart_child(sup, "w")
        assert ei.value.reason == "restarting"  # type: ignore[attr-defined]
        (restart,) = kinds(rt, "restart", sup)
        assert 15.0 <= restart.data["delay"] <= 30.0
        t0 = rt.now()
        assert await rt.stop(sup, "shutdown") == "shutdown"
        assert rt.now() - t0 < 1.0  # did not wait for the backoff
    assert_clean(rt)


async def test_backoff_also_applies_to_one_for_all(clock: Any) -> None:
    async with Runtime(clock=clock) as rt:
        sup = rt.start(
            Supervisor,
            [ChildSpec("a", Worker), ChildSpec("b", Worker)],
            strategy="one_for_all",
            intensity=10,
            backoff=(0.02, 0.05),
        )
        a, b = await child_of(sup, "a", rt), await child_of(sup, "b", rt)
        rt.exit(a, "boom")
        await rt.wait(b)  # stopped at once, restarted after the delay
        assert b.exit_reason == "shutdown"
        assert {s for _, s, _ in await Supervisor.which_children(sup)} == {"restarting"}
        await rt.sleep(0.06)
        a2, b2 = await child_of(sup, "a", rt), await child_of(sup, "b", rt)
        assert a2.alive and b2.alive and a2 is not a and b2 is not b


async def _all_running(sup: Pid, rt: Runtime) -> None:
    while not all(isinstance(s, Pid) for _, s, _ in await Supervisor.which_children(sup)):
        await rt.sleep(0.005)


def _backoff_cancels(rt: Runtime, sup: Pid) -> list[str]:
    return [
        repr(e.data["msg"])
        for e in kinds(rt, "timer_cancel", sup)
        if "backoff" in repr(e.data["msg"])
    ]


def _rest_for_one_abc(rt: Runtime) -> Pid:
    """A rest_for_one supervisor of a, b, c that restarts after a delay of 0.05 s or less."""
    return rt.start(
        Supervisor, [ChildSpec(x, Worker) for x in "abc"], strategy="rest_for_one",
        intensity=10, backoff=(0.05, 1.0),
    )


def _started_in_order_after(rt: Runtime, sup: Pid, restart: Any, skip: int, order: list[str]) -> None:
    """The children started after the first ``skip`` starts are ``order``, none before
    ``restart``'s delay was over."""
    starts = kinds(rt, "child_start", sup)[skip:]
    assert [e.data["child_id"] for e in starts] == order
    due = restart.time + restart.data["delay"]
    assert all(e.time >= due - 1e-9 for e in starts), [(e.time, due) for e in starts]


async def test_backoff_a_newer_rest_for_one_restart_takes_over_a_pending_one(clock: Any) -> None:
    """b's delayed restart (of b and c) is pending when a crashes; a's restart covers b and c,
    so b's is dropped: a, b, c start together after a's delay, in start order."""
    async with Runtime(clock=clock, seed=1) as rt:
        sup = _rest_for_one_abc(rt)
        a, b = await child_of(sup, "a", rt), await child_of(sup, "b", rt)
        rt.exit(b, "boom")
        await rt.wait(b)
        rt.exit(a, "boom")  # before b's delay (at most 0.05 s) is over
        await rt.wait(a)
        await _all_running(sup, rt)
        first, second = kinds(rt, "restart", sup)
        assert (first.data["child_id"], first.data["affected"]) == ("b", ("b", "c"))
        assert (second.data["child_id"], second.data["affected"]) == ("a", ("a", "b", "c"))
        _started_in_order_after(rt, sup, second, skip=3, order=["a", "b", "c"])
        assert _backoff_cancels(rt, sup) == ["<restart 'b' (backoff)>"]


async def test_backoff_a_newer_one_for_all_restart_takes_over_a_pending_one(clock: Any) -> None:
    """one_for_all: while a's delayed restart of a and b is pending, only a child added since
    can crash. Its restart covers a and b too, so a's is dropped: a and b do not start before
    the newer delay, and all three start in order."""
    async with Runtime(clock=clock, seed=1) as rt:
        sup = rt.start(
            Supervisor,
            [ChildSpec("a", Worker), ChildSpec("b", Worker)],
            strategy="one_for_all",
            intensity=10,
            backoff=(0.05, 1.0),
        )
        a = await child_of(sup, "a", rt)
        rt.exit(a, "boom")
        await rt.wait(a)
        c = await Supervisor.start_child(sup, ChildSpec("c", Worker))
        assert isinstance(c, Pid)
        rt.exit(c, "boom")
        await rt.wait(c)
        await _all_running(sup, rt)
        first, second = kinds(rt, "restart", sup)
        assert first.data["affected"] == ("a", "b")
        assert (second.data["child_id"], second.data["affected"]) == ("c", ("a", "b", "c"))
        _started_in_order_after(rt, sup, second, skip=3, order=["a", "b", "c"])
        assert _backoff_cancels(rt, sup) == ["<restart 'a' (backoff)>"]


async def test_backoff_a_restart_superseded_through_the_admin_api_does_not_fire(clock: Any) -> None:
    """one_for_one: w's delayed restart is pending; it is stopped, started by hand and crashes
    again. Only the newer delayed restart starts it, after its own delay."""
    async with Runtime(clock=clock, seed=1) as rt:
        sup = rt.start(Supervisor, [ChildSpec("w", Worker)], intensity=10, backoff=(0.05, 1.0))
        w = await child_of(sup, "w", rt)
        rt.exit(w, "boom")
        await rt.wait(w)
        await Supervisor.terminate_child(sup, "w")
        w2 = await Supervisor.restart_child(sup, "w")
        assert isinstance(w2, Pid)
        rt.exit(w2, "boom")
        await rt.wait(w2)
        await _all_running(sup, rt)
        await rt.sleep(0.1)  # past both delays
        _, second = kinds(rt, "restart", sup)
        starts = kinds(rt, "child_start", sup)[2:]  # the first start, then restart_child's
        assert len(starts) == 1
        assert starts[0].time >= second.time + second.data["delay"] - 1e-9


async def test_backoff_the_rest_of_a_pending_group_starts_when_its_first_is_terminated(
    clock: Any,
) -> None:
    """rest_for_one: a's delayed restart of a, b, c is pending and a is stopped with
    terminate_child: a stays stopped, b and c start when the delay is over."""
    async with Runtime(clock=clock, seed=1) as rt:
        sup = _rest_for_one_abc(rt)
        a = await child_of(sup, "a", rt)
        rt.exit(a, "boom")
        await rt.wait(a)
        await Supervisor.terminate_child(sup, "a")
        await rt.sleep(0.1)
        states = {cid: s for cid, s, _ in await Supervisor.which_children(sup)}
        assert states["a"] is None
        assert isinstance(states["b"], Pid) and isinstance(states["c"], Pid)
        assert [e.data["child_id"] for e in kinds(rt, "child_start", sup)[3:]] == ["b", "c"]


async def test_backoff_is_validated() -> None:
    inf, nan = math.inf, math.nan
    async with Runtime(clock=VirtualClock()) as rt:
        for bad in [
            (0, 1),
            (-1, 1),
            (2, 1),
            (1,),
            "fast",
            (1, "x"),
            (inf, inf),  # not "never restart": that is restart="temporary"
            (1, inf),
            (-inf, 1),
            (nan, 1),
            (1, nan),
            (nan, nan),
        ]:
            with pytest.raises(SupervisorError, match="backoff") as ei:
                rt.start(Supervisor, [ChildSpec("w", Worker)], backoff=bad)
            assert "finite" in str(ei.value) and "restart='temporary'" in str(ei.value), bad
            with pytest.raises(SupervisorError, match="backoff"):
                rt.start(DynamicSupervisor, backoff=bad)
        assert not rt.processes()


async def test_backoff_stays_capped_past_a_thousand_restarts_in_the_window() -> None:
    """base * 2**(n-1) is past any float from restart 1025 on; the delay is then max."""

    class Crasher(Agent):
        def init(self) -> None:
            self.cast(self.pid, "crash")

        def handle_cast(self, msg: Any) -> Any:
            return Stop("boom")

    async with Runtime(clock=VirtualClock()) as rt:
        sup = rt.start(
            Supervisor,
            [ChildSpec("w", Crasher)],
            intensity=10**6,
            period=10**6,
            backoff=(0.001, 0.001),
        )
        await rt.sleep(2.5)  # at most 1 ms a restart: over 2,500 restarts
        assert sup.alive, sup.exit_reason
        restarts = kinds(rt, "restart", sup)
        assert len(restarts) > 1100
        assert all(0.0005 <= ev.data["delay"] <= 0.001 for ev in restarts)
        await rt.stop(sup)


# ---------------------------------------------------------------------------- why, docs, validation


async def test_why_explains_a_give_up() -> None:
    async with Runtime(clock=VirtualClock()) as rt:
        sup = rt.start(Supervisor, [ChildSpec("db", Worker)], name="team", intensity=1, period=5)
        assert await Supervisor.why(sup) == f"supervisor 'team' <0.{sup.id}.0> has not given up."
        assert await Supervisor.why("team") == "supervisor 'team' has not given up."
        for _ in range(2):
            pid = await child_of(sup, "db", rt)
            rt.exit(pid, "boom")
            await rt.wait(pid)
            await rt.settled()
        assert sup.exit_reason == "shutdown"
        for who in (sup, "team"):
            text = await Supervisor.why(who, runtime=rt)
            start = f"supervisor 'team' <0.{sup.id}.0>" if who is sup else "supervisor 'team'"
            assert text.startswith(start + " gave up at t=")
            assert "gave up" in text and "'db'" in text and "'boom'" in text
            assert "restart number 2 within 5s" in text and "intensity of 1" in text
            assert "raise intensity" in text
            # started from a cell: nobody above it restarts it (not "its own supervisor")
            assert "nothing restarts it: it was started from outside any process" in text
            assert "its own supervisor" not in text
        with pytest.raises(NoProcessError):
            await Supervisor.why("nobody", runtime=rt)


async def test_why_of_a_nested_supervisor_names_the_one_that_handles_its_give_up() -> None:
    async with Runtime(clock=VirtualClock()) as rt:
        inner = ChildSpec("inner", (Supervisor, ([ChildSpec("db", Worker)],), {"intensity": 0}))
        top = rt.start(Supervisor, [inner], name="top", intensity=0)
        sub = await child_of(top, "inner", rt)
        rt.exit(await child_of(sub, "db", rt), "boom")
        await rt.wait(sub)
        await rt.settled()
        text = await Supervisor.why(sub, runtime=rt)
        assert f"which 'top' <0.{top.id}.0>, the process that started it, handles next" in text


def test_the_supervisor_docstring_carries_the_rules_table() -> None:
    doc = Supervisor.__doc__ or ""
    assert "=====" in doc
    for word in [
        "one_for_one",
        "one_for_all",
        "rest_for_one",
        "permanent",
        "transient",
        "temporary",
        "normal",
        "shutdown",
        "intensity",
        "period",
        "1 restart in 5 s",
        "3 in",
        "start order",
        "stop order",
        "reverse",
        "brutal_kill",
        "significant",
        "backoff",
    ]:
        assert word in doc, word
    assert "DynamicSupervisor" in doc


@pytest.mark.parametrize(
    ("flags", "needle"),
    [
        ({"strategy": "one_for_some"}, "strategy"),
        ({"intensity": -1}, "intensity"),
        ({"intensity": 1.5}, "intensity"),
        ({"intensity": True}, "intensity"),
        ({"period": 0}, "period"),
        ({"period": "5"}, "period"),
        ({"period": math.nan}, "period must be a finite"),  # never lets a restart age out
        ({"period": math.inf}, "period must be a finite"),
        ({"period": -math.inf}, "period"),
        ({"auto_shutdown": "sometimes"}, "auto_shutdown"),
        ({"max_children": -2}, "max_children"),
    ],
)
async def test_bad_flags_are_supervisor_errors(flags: dict[str, Any], needle: str) -> None:
    async with Runtime(clock=VirtualClock()) as rt:
        with pytest.raises(SupervisorError, match=needle) as ei:
            rt.start(Supervisor, [ChildSpec("a", Worker)], **flags)
        assert ei.value.process is not None
        with pytest.raises(SupervisorError, match=needle):
            await rt.start_async(Supervisor, [ChildSpec("a", Worker)], **flags)
        assert not rt.processes()


def test_bad_child_specs_are_supervisor_errors() -> None:
    with pytest.raises(SupervisorError, match="restart must be one of"):
        ChildSpec("a", Worker, restart="sometimes")
    for bad in (-1, "soon", True):
        with pytest.raises(SupervisorError, match="shutdown must be"):
            ChildSpec("a", Worker, shutdown=bad)
    with pytest.raises(SupervisorError, match="type must be"):
        ChildSpec("a", Worker, type="manager")
    for bad in ("false", 1, None):
        with pytest.raises(SupervisorError, match="significant must be True or False") as ei:
            ChildSpec("a", Worker, significant=bad)
        assert ei.value.reason == ("invalid_significant", bad)  # type: ignore[attr-defined]
    with pytest.raises(SupervisorError, match="start must be"):
        ChildSpec("a", 42)
    assert ChildSpec("a", Worker).shutdown == 5.0
    assert ChildSpec("s", Supervisor).shutdown == "infinity"
    assert ChildSpec("s", Supervisor).type == "supervisor"


# a supervisor's own list (or template) with a spec it refuses, and OTP 25's exit reason
# (checked with erl: supervisor:start_link/2 returns {error, Reason} and the process exits
# with Reason); the text the refusal says
_NEVER = ("bad_combination", [("auto_shutdown", "never"), ("significant", True)])
_PERMANENT = ("bad_combination", [("restart", "permanent"), ("significant", True)])
REFUSED_LISTS: list[tuple[list[Any], dict[str, Any], Any, str]] = [
    ([ChildSpec("a", Worker), ChildSpec("a", Worker)], {},
     ("start_spec", ("duplicate_child_name", "a")), "duplicate child id 'a'"),
    ([ChildSpec("a", Worker, significant=True, restart="transient")], {},
     ("start_spec", _NEVER), "significant=True needs"),
    ([ChildSpec("a", Worker, significant=True)], {"auto_shutdown": "any_significant"},
     ("start_spec", _PERMANENT), "significant=True needs"),
    ([ChildSpec("a", Worker), 42], {}, ("start_spec", ("invalid_child_spec", 42)),
     "cannot make a child spec from 42"),
    ([ChildSpec("a", Worker), {"id": "b", "start": Worker, "significant": "maybe"}],
     {"auto_shutdown": "all_significant"},
     ("start_spec", ("invalid_significant", "maybe")), "significant must be True or False"),
    # OTP's check_startspec/2 goes through the list in order: the first refusal is given
    ([ChildSpec("a", Worker), {"id": "b", "start": 42}, ChildSpec("a", Worker)], {},
     ("start_spec", ("invalid_mfa", 42)), "start must be"),
    ([ChildSpec("a", Worker), ChildSpec("a", Worker), {"start": Worker}], {},
     ("start_spec", ("duplicate_child_name", "a")), "duplicate child id 'a'"),
    # OTP's init_dynamic/2 checks a simple_one_for_one template the same way
    ([ChildSpec("w", Worker, significant=True, restart="transient")],
     {"strategy": "simple_one_for_one"}, ("start_spec", _NEVER), "significant=True needs"),
    ([], {"strategy": "simple_one_for_one", "child": {"id": "w", "start": Worker, "restart": 1}},
     ("start_spec", ("invalid_restart_type", 1)), "restart must be one of"),
]


@pytest.mark.parametrize(
    ("children", "flags", "reason", "says"),
    REFUSED_LISTS,
    ids=[
        "duplicate_id", "significant_never", "significant_permanent", "not_a_spec",
        "bad_significant", "first_refusal_wins", "duplicate_before_a_later_refusal",
        "template_significant", "template_bad_restart",
    ],
)
async def test_a_spec_refused_in_its_own_list_stops_the_supervisor_with_start_spec(
    children: list[Any], flags: dict[str, Any], reason: Any, says: str
) -> None:
    """OTP: the supervisor starts no child and exits {start_spec, R}, and start_link
    returns {error, {start_spec, R}}; R is what start_child would reply for that spec."""
    async with Runtime(clock=VirtualClock()) as rt:
        for wait in (False, True):
            with pytest.raises(AgentLabError) as ei:
                if wait:
                    await rt.start_async(Supervisor, children, **flags)
                else:
                    rt.start(Supervisor, children, **flags)
            assert ei.value.reason == reason  # type: ignore[attr-defined]
            sup = ei.value.process
            assert isinstance(sup, Pid) and sup.exit_reason == reason
            # what was wrong, and what to do
            why = await Supervisor.why(sup)
            assert says in why and "fix that child spec" in why, why
            assert not kinds(rt, "child_start")
            assert not rt.processes()


async def test_rt_start_of_a_supervisor_whose_list_is_refused_says_what_to_fix() -> None:
    async with Runtime(clock=VirtualClock()) as rt:
        with pytest.raises(SupervisorError) as ei:
            rt.start(Supervisor, [ChildSpec("a", Worker), ChildSpec("a", Worker)])
        assert "duplicate child id 'a'" in str(ei.value)
        assert "fix that child spec" in str(ei.value)
        assert ei.value.reason == ("start_spec", ("duplicate_child_name", "a"))  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("cls", "args", "flags", "reason"),
    [  # the reasons OTP 25 / Elixir 1.14 give (checked with erl and elixir)
        (Supervisor, ([],), {"strategy": "bogus"}, ("invalid_strategy", "bogus")),
        (Supervisor, ([],), {"intensity": -1}, ("invalid_intensity", -1)),
        (Supervisor, ([],), {"intensity": "a", "period": 0}, ("invalid_intensity", "a")),
        (Supervisor, ([],), {"period": 0}, ("invalid_period", 0)),
        (Supervisor, ([],), {"auto_shutdown": "bogus"}, ("invalid_auto_shutdown", "bogus")),
        (DynamicSupervisor, (), {"intensity": -1}, ("invalid_intensity", -1)),
        (DynamicSupervisor, (), {"period": 0}, ("invalid_period", 0)),
        (DynamicSupervisor, (), {"max_children": -2}, ("invalid_max_children", -2)),
    ],
)
async def test_a_refused_flag_stops_the_supervisor_with_supervisor_data(cls, args, flags, reason) -> None:
    """OTP's init stops with {supervisor_data, {invalid_<flag>, V}} (start_link returns
    {error, that}); rt.start raises the readable SupervisorError with that .reason."""
    async with Runtime(clock=VirtualClock()) as rt:
        with pytest.raises(SupervisorError) as ei:
            rt.start(cls, *args, **flags)
        assert ei.value.reason == ("supervisor_data", reason)  # type: ignore[attr-defined]
        assert "fix that and start the supervisor again" in str(ei.value)
        sup = ei.value.process
        assert sup.exit_reason == ("supervisor_data", reason)
        assert "did not start" in await Supervisor.why(sup)
        assert not rt.events.filter(kind="supervisor_flags")


async def test_a_simple_one_for_one_list_that_is_no_single_template_is_a_bad_start_spec() -> None:
    specs = [ChildSpec("a", Worker), ChildSpec("b", Worker)]
    async with Runtime(clock=VirtualClock()) as rt:
        for given in ([], specs):
            with pytest.raises(SupervisorError) as ei:
                rt.start(Supervisor, given, strategy="simple_one_for_one")
            assert ei.value.reason == ("bad_start_spec", given)  # type: ignore[attr-defined]
            assert f"got {len(given)}" in str(ei.value)
        # as a child: the parent's start_child says why
        sup = rt.start(Supervisor, [])
        bad = ChildSpec("pool", (Supervisor, (specs,), {"strategy": "simple_one_for_one"}))
        with pytest.raises(SupervisorError) as ei:
            await Supervisor.start_child(sup, bad)
        assert ei.value.reason[0] == ("bad_start_spec", specs)  # type: ignore[attr-defined]
        assert "give it exactly one spec" in str(ei.value)


async def test_a_child_supervisor_whose_list_is_refused_fails_its_start() -> None:
    """The parent's start_child returns {error, {{start_spec, R}, ChildRecord}} (a
    DynamicSupervisor's {error, {start_spec, R}}), and the parent carries on; in the
    parent's own list, the parent fails to start with failed_to_start_child."""
    bad_sub = ChildSpec(
        "sub", (Supervisor, [ChildSpec("x", Worker, significant=True, restart="transient")])
    )
    inner = ("start_spec", _NEVER)
    async with Runtime(clock=VirtualClock()) as rt:
        sup = rt.start(Supervisor, [ChildSpec("a", Worker)])
        a = await child_of(sup, "a", rt)
        dsup = rt.start(DynamicSupervisor)
        for target, start_child, reason in (
            (sup, Supervisor.start_child, (inner, bad_sub)),
            (dsup, DynamicSupervisor.start_child, inner),
        ):
            with pytest.raises(SupervisorError) as ei:
                await start_child(target, bad_sub)
            assert ei.value.reason == reason  # type: ignore[attr-defined]
            msg = str(ei.value)
            assert "refused a spec in its own child list" in msg and "significant=True needs" in msg
        assert sup.alive and dsup.alive and a.alive
        assert await Supervisor.which_children(sup) == [("a", a, "worker")]
        assert await DynamicSupervisor.which_children(dsup) == []
        subs = [e for e in kinds(rt, "exit") if e.reason == inner]
        assert len(subs) == 2
        with pytest.raises(StartError) as se:
            rt.start(Supervisor, [ChildSpec("a", Worker), bad_sub])
        assert se.value.reason == ("shutdown", ("failed_to_start_child", "sub", inner))


async def test_no_child_of_a_refused_list_starts_and_start_child_refusals_keep_the_supervisor() -> None:
    """A refused spec later in the list: not even the valid children before it start.
    Refused by start_child instead, the same spec leaves the supervisor running."""
    log: list[Any] = []
    async with Runtime(clock=VirtualClock()) as rt:
        with pytest.raises(AgentLabError):
            rt.start(Supervisor, [ChildSpec("a", (Worker, log)), ChildSpec("a", (Worker, log))])
        assert log == []
        # through the admin API the refusal is returned, the supervisor lives on
        sup = rt.start(Supervisor, [])
        with pytest.raises(SupervisorError, match="significant") as ei:
            await Supervisor.start_child(
                sup, ChildSpec("a", Worker, significant=True, restart="temporary")
            )
        assert ei.value.reason == _NEVER  # type: ignore[attr-defined]
        assert sup.alive
        sig = rt.start(Supervisor, [], auto_shutdown="any_significant")
        with pytest.raises(SupervisorError, match="significant") as ei:
            await Supervisor.start_child(sig, ChildSpec("a", Worker, significant=True))
        assert ei.value.reason == _PERMANENT  # type: ignore[attr-defined]
        await rt.stop(sig)
        assert not [p for p in rt.processes() if p is not sup]


# what OTP's check_childspec replies (checked on OTP 25.2.3), and ours
BAD_SPECS: list[tuple[Any, Any]] = [
    ({"id": "x"}, "missing_start"),
    ({"start": Worker}, "missing_id"),
    ("not a spec", ("invalid_child_spec", "not a spec")),
    ({"id": "x", "start": 42}, ("invalid_mfa", 42)),
    ({"id": "x", "start": Worker, "restart": "sometimes"}, ("invalid_restart_type", "sometimes")),
    # OTP's validSignificant/3: a boolean, not any value Python finds true
    ({"id": "x", "start": Worker, "significant": "false"}, ("invalid_significant", "false")),
    ({"id": "x", "start": Worker, "type": "manager"}, ("invalid_child_type", "manager")),
    ({"id": "x", "start": Worker, "shutdown": -1}, ("invalid_shutdown", -1)),
    # OTP ignores unknown keys; a dict spec is ChildSpec's arguments, so a typo is refused
    ({"id": "x", "start": Worker, "restrat": "temporary"}, "invalid_child_spec"),
]


@pytest.mark.parametrize(
    ("bad", "reason"),
    BAD_SPECS,
    ids=[
        "no_start",
        "no_id",
        "not_a_spec",
        "bad_start",
        "bad_restart",
        "bad_significant",
        "bad_type",
        "bad_shutdown",
        "unknown_key",
    ],
)
async def test_a_bad_spec_given_to_start_child_is_refused_and_the_supervisor_carries_on(
    bad: Any, reason: Any
) -> None:
    if reason == "invalid_child_spec":
        reason = ("invalid_child_spec", bad)
    async with Runtime(clock=VirtualClock()) as rt:
        sup = rt.start(Supervisor, [ChildSpec("w", Worker)])
        dsup = rt.start(DynamicSupervisor)
        w = await child_of(sup, "w", rt)
        d = await DynamicSupervisor.start_child(dsup, ChildSpec("w", Worker))
        for target, start_child in (
            (sup, Supervisor.start_child),
            (dsup, DynamicSupervisor.start_child),
            (dsup, Supervisor.start_child),
        ):
            with pytest.raises(SupervisorError) as ei:
                await start_child(target, bad)
            assert ei.value.reason == reason  # type: ignore[attr-defined]
            assert "start_child" in str(ei.value) and "child spec" in str(ei.value)
            # a call that does not go through start_child gets OTP's reply
            assert await rt.call(target, ("start_child", bad), timeout=None) == ("error", reason)
        assert sup.alive and dsup.alive and w.alive and d is not None and d.alive
        assert await Supervisor.which_children(sup) == [("w", w, "worker")]
        assert await DynamicSupervisor.which_children(dsup) == [(None, d, "worker")]
        assert len(kinds(rt, "child_start")) == 2


async def test_bad_changes_to_a_simple_one_for_one_template_are_refused() -> None:
    async with Runtime(clock=VirtualClock()) as rt:
        sup = rt.start(Supervisor, [ChildSpec("w", Worker)], strategy="simple_one_for_one")
        w = await Supervisor.start_child(sup, ())
        for bad, reason in [
            ({"restart": "sometimes"}, ("invalid_restart_type", "sometimes")),
            ({"start": 42}, ("invalid_mfa", 42)),
            ({"type": "manager"}, ("invalid_child_type", "manager")),
            ({"significant": 1}, ("invalid_significant", 1)),
            ({"shutdown": "later"}, ("invalid_shutdown", "later")),
            ({"restrat": "temporary"}, ("invalid_child_spec", {"restrat": "temporary"})),
            ({1: 2}, ("invalid_child_spec", {1: 2})),
        ]:
            with pytest.raises(SupervisorError) as ei:
                await Supervisor.start_child(sup, bad)
            assert ei.value.reason == reason  # type: ignore[attr-defined]
            assert await rt.call(sup, ("start_child", bad), timeout=None) == ("error", reason)
        assert sup.alive and w is not None and w.alive
        assert await Supervisor.which_children(sup) == [(None, w, "worker")]
        temp = await Supervisor.start_child(sup, {"restart": "temporary"})
        assert isinstance(temp, Pid) and temp.alive


@pytest.mark.parametrize("strategy", ["one_for_one", "one_for_all", "rest_for_one"])
async def test_child_and_max_children_are_refused_outside_simple_one_for_one(
    strategy: str,
) -> None:
    async with Runtime(clock=VirtualClock()) as rt:
        for flags, option in (
            ({"child": ChildSpec("t", Worker)}, "child="),
            ({"max_children": 3}, "max_children="),
            ({"max_children": 0}, "max_children="),
        ):
            with pytest.raises(SupervisorError) as ei:
                rt.start(Supervisor, [ChildSpec("a", Worker)], strategy=strategy, **flags)
            text = str(ei.value)
            assert option in text and repr(strategy) in text, text
            assert "strategy='simple_one_for_one'" in text, text
            with pytest.raises(SupervisorError, match=option):
                await rt.start_async(
                    Supervisor, [ChildSpec("a", Worker)], strategy=strategy, **flags
                )
            # nested: the parent fails to start, naming the child supervisor
            with pytest.raises(StartError) as si:
                await rt.start_async(
                    Supervisor,
                    [ChildSpec("sub", (Supervisor, ([],), {"strategy": strategy, **flags}))],
                )
            assert "failed_to_start_child" in repr(si.value.reason) and option in repr(
                si.value.reason
            )
        assert not rt.processes()


async def test_child_and_max_children_are_taken_where_they_belong() -> None:
    async with Runtime(clock=VirtualClock()) as rt:
        pool = rt.start(
            Supervisor, strategy="simple_one_for_one", child=ChildSpec("t", Worker), max_children=1
        )
        dsup = rt.start(DynamicSupervisor, max_children=1)
        assert await Supervisor.start_child(pool, None) is not None
        assert await DynamicSupervisor.start_child(dsup, ChildSpec("t", Worker)) is not None
        for sup in (pool, dsup):
            with pytest.raises(SupervisorError) as ei:
                await Supervisor.start_child(sup, None if sup is pool else ChildSpec("t", Worker))
            assert ei.value.reason == "max_children"  # type: ignore[attr-defined]


async def test_a_template_is_given_once_and_a_dynamic_supervisor_takes_none() -> None:
    async with Runtime(clock=VirtualClock()) as rt:
        with pytest.raises(SupervisorError, match="not both") as ei:
            rt.start(
                Supervisor,
                [ChildSpec("a", Worker)],
                strategy="simple_one_for_one",
                child=ChildSpec("b", Worker),
            )
        assert "child=" in str(ei.value)
        for option in ("child", "children"):
            with pytest.raises(SupervisorError) as ei:
                rt.start(DynamicSupervisor, **{option: [ChildSpec("a", Worker)]})
            text = str(ei.value)
            assert f"{option}=" in text and "DynamicSupervisor.start_child" in text, text
        # Elixir's names for intensity and period, or any other unknown option, would
        # leave the defaults in place without a word
        with pytest.raises(SupervisorError) as ei:
            rt.start(DynamicSupervisor, max_restarts=10, max_seconds=1, extra=2)
        text = str(ei.value)
        assert "max_restarts= (use intensity=)" in text, text
        assert "max_seconds= (use period=)" in text and "extra=" in text, text
        assert not rt.processes()


async def test_describe_state_counts_the_restarts_in_the_window_now() -> None:
    """As OTP's add_restart/3 would count them: restarts in whole seconds >= now - period."""

    async def crash(rt: Runtime, sup: Pid) -> None:
        pid = await child_of(sup, "w", rt)
        rt.exit(pid, "boom")
        await rt.wait(pid)
        await rt.settled()

    async with Runtime(clock=VirtualClock()) as rt:
        sup = rt.start(Supervisor, [ChildSpec("w", Worker)], intensity=5, period=5)
        assert rt.describe_state(sup) == "one_for_one, 1 children, 0/5 restarts in 5s"
        for _ in range(3):
            await crash(rt, sup)  # t=0: three restarts
        assert rt.describe_state(sup) == "one_for_one, 1 children, 3/5 restarts in 5s"
        await rt.sleep(3.5)
        await crash(rt, sup)  # t=3.5: a fourth
        assert rt.describe_state(sup) == "one_for_one, 1 children, 4/5 restarts in 5s"
        await rt.sleep(2.0)  # t=5.5: the window is seconds 0 to 5, all four still in it
        assert rt.describe_state(sup) == "one_for_one, 1 children, 4/5 restarts in 5s"
        await rt.sleep(1.0)  # t=6.5: the three of second 0 have left the window
        assert rt.describe_state(sup) == "one_for_one, 1 children, 1/5 restarts in 5s"
        await rt.sleep(2.0)  # t=8.5: window 3 to 8 (inclusive), the one of second 3 stays
        assert rt.describe_state(sup) == "one_for_one, 1 children, 1/5 restarts in 5s"
        await rt.sleep(1.0)  # t=9.5: it has left too
        assert rt.describe_state(sup) == "one_for_one, 1 children, 0/5 restarts in 5s"
        await crash(rt, sup)
        assert rt.describe_state(sup) == "one_for_one, 1 children, 1/5 restarts in 5s"
        assert sup.alive


async def test_dynamic_supervisor_flags_are_validated() -> None:
    async with Runtime(clock=VirtualClock()) as rt:
        with pytest.raises(SupervisorError, match="one_for_one"):
            rt.start(DynamicSupervisor, strategy="one_for_all")
        with pytest.raises(SupervisorError, match="auto_shutdown"):
            rt.start(DynamicSupervisor, auto_shutdown="any_significant")
        with pytest.raises(SupervisorError, match="max_children"):
            rt.start(DynamicSupervisor, max_children="many")


# ---------------------------------------------------------------------------- TaskSupervisor


async def test_task_supervisor_children_are_temporary_and_capped() -> None:
    async with Runtime(clock=VirtualClock()) as rt:
        tasks = rt.start(TaskSupervisor, name="tasks", max_children=2)

        async def ok() -> str:
            await rt.sleep(1)
            return "done"

        async def bad() -> None:
            await rt.sleep(0.5)
            raise KeyError("missing")

        t1 = await TaskSupervisor.async_nolink("tasks", ok)
        t2 = await TaskSupervisor.async_nolink("tasks", bad)
        with pytest.raises(SupervisorError) as ei:
            await TaskSupervisor.async_nolink("tasks", ok)
        assert ei.value.reason == "max_children"  # type: ignore[attr-defined]
        assert await t2.yield_(5) == ("exit", Crash("KeyError", "'missing'"))
        assert await t1.wait(5) == "done"
        await rt.settled()
        assert await TaskSupervisor.children(tasks) == []
        assert not kinds(rt, "restart", tasks)  # temporary: never restarted
        assert tasks.alive


# ---------------------------------------------------------------------------- the inline restart path


async def test_a_one_for_one_restart_with_a_plain_init_creates_no_task() -> None:
    rt = Runtime()
    try:
        started: list[Any] = []
        real_start_task = rt._start_task

        def counting_start_task(p: Pid, coro: Any) -> Any:
            started.append(p)
            return real_start_task(p, coro)

        rt._start_task = counting_start_task  # type: ignore[method-assign]
        sup = rt.start(Supervisor, [ChildSpec("w", Worker), ChildSpec("v", Worker)], intensity=100)
        before = asyncio.all_tasks()
        for _ in range(20):
            pid = await child_of(sup, "w", rt)
            rt.exit(pid, "boom")
            assert not rt._tasks
            await rt.settled()
            assert not rt._tasks
            assert (await child_of(sup, "w", rt)) is not pid
        assert started == []
        assert asyncio.all_tasks() == before
        assert len(kinds(rt, "restart", sup)) == 20
    finally:
        await rt.shutdown()


async def test_a_restarted_childs_old_pid_is_not_kept() -> None:
    # A supervisor remembers its child's last incarnation by id only: a dead Pid kept
    # per child would be one more object for every garbage collection to walk (a
    # 10,000-child tree in a restart storm kept 10,000 of them). The events still
    # name the dead incarnation.
    import gc

    async with Runtime() as rt:
        sup = rt.start(Supervisor, [ChildSpec("w", Worker)], intensity=100)
        olds = []
        for _ in range(3):
            pid = await child_of(sup, "w", rt)
            olds.append(pid.id)
            rt.exit(pid, "boom")
            await rt.settled()
            del pid
        gc.collect()
        kept = [o for o in gc.get_objects() if type(o) is Pid and o.id in olds]
        assert kept == []
        restarts = kinds(rt, "restart", sup)
        assert [ev.data.get("child_id") for ev in restarts] == ["w"] * 3
        assert [ev.peer for ev in restarts] == olds  # the incarnation that exited
        terminated = kinds(rt, "child_terminated", sup)
        assert [ev.peer for ev in terminated] == olds


async def test_intensity_window_uses_whole_seconds_inclusive() -> None:
    """OTP's add_restart/3 on a VirtualClock: intensity 2, period 2. Restarts at t=0.9
    and t=1.0 fill the window; at t=2.99 (floor 2, window [0, 2]) the third gives up,
    but at t=3.0 (floor 3) the one from floor 0 has aged out."""
    for t3, survives in ((2.99, False), (3.0, True)):
        async with Runtime(clock=VirtualClock()) as rt:
            sup = rt.start(Supervisor, [ChildSpec("w", Worker)], intensity=2, period=2)
            for t in (0.9, 1.0, t3):
                await rt.sleep(t - rt.now())
                pid = await child_of(sup, "w", rt)
                rt.exit(pid, "boom")
                await rt.wait(pid)
                await rt.settled()
            assert sup.alive is survives, t3
            if not survives:
                (gave_up,) = kinds(rt, "supervisor_gave_up", sup)
                assert gave_up.data["restarts"] == 3 and math.floor(gave_up.time) == 2


async def test_simple_one_for_one_adds_extra_arguments_to_a_body_function_template() -> None:
    seen: list[tuple[Any, ...]] = []

    async def body(proc: Any, *args: Any) -> None:
        seen.append(args)
        await proc.receive()

    async with Runtime(clock=VirtualClock()) as rt:
        sup = rt.start(Supervisor, [ChildSpec("w", (body, 1))], strategy="simple_one_for_one")
        await Supervisor.start_child(sup, (2,))
        await Supervisor.start_child(sup, [3, 4])  # OTP's form: a list
        await Supervisor.start_child(sup, None)
        await rt.settled()
        assert seen == [(1, 2), (1, 3, 4), (1,)]
        for bad in ("not a spec", 42):
            with pytest.raises(SupervisorError) as ei:
                await Supervisor.start_child(sup, bad)
            assert ei.value.reason == ("invalid_child_spec", bad)  # type: ignore[attr-defined]
        assert len(await Supervisor.which_children(sup)) == 3


# ---------------------------------------------------------------------------- while busy
# The supervisor is made busy (a start_child waiting for a slow init) so that exits and
# calls queue up behind it in a chosen order, as sys:suspend/1 does in the escripts
# these tests were checked with (OTP 25.2.3, Elixir 1.14).


class Flaky(Agent):
    """Starts the first time; ``fails`` lists which later attempts (1, 2, ...) raise."""

    def init(self, attempts: list[int], fails: Any = None) -> None:
        n = len(attempts)
        attempts.append(n)
        if n and (fails is None or n in fails):
            raise RuntimeError(f"start attempt {n} failed")


async def test_all_significant_counts_a_significant_child_being_restarted() -> None:
    """OTP's do_auto_shutdown/2 skips only children with pid undefined: a significant
    child whose restart failed ({restarting, Pid}, retry pending) still counts, so
    another significant child exiting meanwhile does not stop the supervisor."""
    async with Runtime(clock=VirtualClock()) as rt:
        attempts: list[int] = []
        sup = rt.start(
            Supervisor,
            [
                ChildSpec("a", (Flaky, attempts, {1}), restart="transient", significant=True),
                ChildSpec("b", Worker, restart="transient", significant=True),
            ],
            intensity=10,
            auto_shutdown="all_significant",
        )
        a = await child_of(sup, "a", rt)
        b = await child_of(sup, "b", rt)

        async def both(proc: Any) -> None:  # both Exits are queued before either is handled
            rt.exit(a, "boom")  # restarted: the first attempt fails, a retry is queued
            rt.exit(b, "shutdown")  # not restarted: the auto_shutdown check runs

        rt.spawn(both)
        await rt.settled()
        assert sup.alive
        assert not kinds(rt, "auto_shutdown", sup)
        assert [e.data["child_id"] for e in kinds(rt, "start_error", sup)] == ["a"]
        a2 = await child_of(sup, "a", rt)
        assert a2 is not a and attempts == [0, 1, 2]
        assert (await Supervisor.which_children(sup))[0] == ("b", None, "worker")
        # with a, b's siblings are all gone only when a exits by itself too
        rt.exit(a2, "shutdown")
        assert await rt.wait(sup) == "shutdown"


async def test_all_significant_counts_a_significant_child_waiting_for_its_backoff() -> None:
    async with Runtime(clock=VirtualClock()) as rt:
        sup = rt.start(
            Supervisor,
            [
                ChildSpec("a", Worker, restart="transient", significant=True),
                ChildSpec("b", Worker, restart="transient", significant=True),
            ],
            intensity=10,
            auto_shutdown="all_significant",
            backoff=(1.0, 1.0),
        )
        a = await child_of(sup, "a", rt)
        b = await child_of(sup, "b", rt)
        rt.exit(a, "boom")
        await rt.settled()
        assert (await Supervisor.which_children(sup))[1] == ("a", "restarting", "worker")
        rt.cast(b, ("stop", "normal"))
        await rt.wait(b)
        await rt.settled()
        assert sup.alive
        await rt.sleep(1.0)
        assert (await child_of(sup, "a", rt)).alive
        await rt.stop(sup)
    assert_clean(rt)


@pytest.mark.parametrize("kind", ["simple_one_for_one", "DynamicSupervisor"])
async def test_terminate_child_by_the_old_pid_of_a_dynamic_child_being_restarted(
    kind: str,
) -> None:
    """OTP's find_child/2 finds {restarting, Pid} by the old pid, Elixir keys a restarting
    child by it: terminate_child(sup, old_pid) forgets the child and its retries stop
    (escripts: ``ok``, 2 start attempts, the supervisor lives, no children)."""
    async with Runtime(clock=VirtualClock()) as rt:
        attempts: list[int] = []
        if kind == "DynamicSupervisor":
            sup = rt.start(DynamicSupervisor, intensity=10)
            w = await DynamicSupervisor.start_child(sup, ChildSpec("w", (Flaky, attempts)))
            slow: Any = ChildSpec("slow", (SlowInit, 0.02))
        else:
            sup = rt.start(
                Supervisor,
                [ChildSpec("w", (Flaky, attempts))],
                strategy="simple_one_for_one",
                intensity=10,
            )
            w = await Supervisor.start_child(sup, ())
            slow = {"start": (SlowInit, 0.02)}
        assert isinstance(w, Pid)
        adding = await busy(rt, sup, slow)
        rt.exit(w, "boom")  # handled first: the restart fails, its retry queued behind ...
        terminating = await queued(Supervisor.terminate_child(sup, w))  # ... this call
        rt.hold_time(False)
        slow_pid = await adding
        assert await terminating is None
        await rt.settled()
        assert sup.alive
        assert attempts == [0, 1]
        assert await Supervisor.which_children(sup) == [(None, slow_pid, "worker")]
        assert (await Supervisor.count_children(sup))["active"] == 1
        assert len(kinds(rt, "restart", sup)) == 1
        # the old pid is no child any more
        if kind == "DynamicSupervisor":
            with pytest.raises(SupervisorError) as ei:
                await Supervisor.terminate_child(sup, w)
            assert ei.value.reason == "not_found"  # type: ignore[attr-defined]
        else:
            assert await Supervisor.terminate_child(sup, w) is None  # a dead pid: ok
        await rt.stop(sup)
    assert_clean(rt)


async def test_terminate_child_by_the_old_pid_of_a_dynamic_child_waiting_for_its_backoff() -> None:
    async with Runtime(clock=VirtualClock()) as rt:
        dsup = rt.start(DynamicSupervisor, intensity=10, backoff=(1.0, 1.0))
        w = await DynamicSupervisor.start_child(dsup, ChildSpec("w", Worker))
        assert w is not None
        rt.exit(w, "boom")
        await rt.settled()
        assert await DynamicSupervisor.which_children(dsup) == [(None, "restarting", "worker")]
        await DynamicSupervisor.terminate_child(dsup, w)
        assert await DynamicSupervisor.which_children(dsup) == []
        await rt.sleep(2.0)
        assert await DynamicSupervisor.which_children(dsup) == []
        assert len(kinds(rt, "child_start", dsup)) == 1
        await rt.stop(dsup)
    assert_clean(rt)


async def test_count_children_does_not_count_a_child_that_died_as_active() -> None:
    """OTP's count_child/2 counts a static child as active only if its pid is alive: a
    child that exited, its Exit still queued behind the call, is not active (escript:
    active=1 of 2)."""
    async with Runtime(clock=VirtualClock()) as rt:
        sup = rt.start(Supervisor, [ChildSpec("a", Worker), ChildSpec("b", Worker)], intensity=5)
        a = await child_of(sup, "a", rt)
        adding = await busy(rt, sup)
        counting = await queued(Supervisor.count_children(sup))
        rt.exit(a, "boom")  # after the call was queued
        rt.hold_time(False)
        await adding
        assert await counting == {"specs": 3, "active": 2, "supervisors": 0, "workers": 3}
        await rt.settled()
        assert (await Supervisor.count_children(sup))["active"] == 3  # a was restarted


async def test_a_simple_one_for_one_template_is_checked_for_significance() -> None:
    """OTP's init_dynamic/2 checks the template like any spec: significant with
    auto_shutdown never is {start_spec, {bad_combination, ...}}."""
    async with Runtime(clock=VirtualClock()) as rt:
        sig = ChildSpec("w", Worker, restart="transient", significant=True)
        with pytest.raises(AgentLabError) as refused:
            rt.start(Supervisor, [sig], strategy="simple_one_for_one")
        assert refused.value.reason == ("start_spec", _NEVER)  # type: ignore[attr-defined]
        sup = rt.start(Supervisor, [ChildSpec("w", Worker)], strategy="simple_one_for_one")
        bad = ("bad_combination", [("auto_shutdown", "never"), ("significant", True)])
        for changes in ({"restart": "transient", "significant": True}, sig):
            with pytest.raises(SupervisorError) as ei:
                await Supervisor.start_child(sup, changes)
            assert ei.value.reason == bad  # type: ignore[attr-defined]
        assert await Supervisor.which_children(sup) == []
        # OTP 25: all_significant on simple_one_for_one stops when no child is left
        allsig = rt.start(
            Supervisor, [sig], strategy="simple_one_for_one", auto_shutdown="all_significant"
        )
        p1 = await Supervisor.start_child(allsig, ())
        p2 = await Supervisor.start_child(allsig, ())
        assert p1 is not None and p2 is not None
        rt.cast(p1, ("stop", "normal"))
        await rt.wait(p1)
        await rt.settled()
        assert allsig.alive
        rt.cast(p2, ("stop", "normal"))
        assert await rt.wait(allsig) == "shutdown"


async def test_a_dynamic_supervisor_replies_ignore_to_a_child_that_ignores() -> None:
    """Elixir's DynamicSupervisor.start_child returns :ignore (OTP's static and
    simple_one_for_one supervisors {ok, undefined}); the Python API returns None."""
    from agentlab import IGNORE

    class Ignorer(Agent):
        def init(self) -> Any:
            return IGNORE

    async with Runtime(clock=VirtualClock()) as rt:
        dsup = rt.start(DynamicSupervisor)
        reply = await rt.call(dsup, ("start_child", ChildSpec("i", Ignorer)), timeout=None)
        assert reply == "ignore"
        assert await DynamicSupervisor.start_child(dsup, ChildSpec("i", Ignorer)) is None
        sofo = rt.start(Supervisor, [ChildSpec("i", Ignorer)], strategy="simple_one_for_one")
        assert await rt.call(sofo, ("start_child", ()), timeout=None) == ("ok", None)
        assert await Supervisor.start_child(sofo, ()) is None
        assert await DynamicSupervisor.which_children(dsup) == []


async def test_a_supervisor_started_directly_spawns_as_a_supervisor() -> None:
    # the spawn event's kind is what traces and views call a process: a top-level
    # supervisor used to be an "agent" (only a child spec's type= said "supervisor")
    class Trapper(Agent):
        trap_exits = True

    async with Runtime() as rt:
        rt.start(Supervisor, [ChildSpec("w", Trapper)], name="top")
        rt.start(DynamicSupervisor, name="dyn")
        rt.start(Trapper, name="plain")
        rt.start(Agent, name="other", trap_exit=True)
        spawned = {e.name: e.data["kind"] for e in rt.events if e.kind == "spawn"}
    assert spawned == {"top": "supervisor", "dyn": "supervisor", None: "agent", "plain": "agent",
                     "other": "agent"}
