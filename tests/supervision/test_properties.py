"""Property tests: random supervision trees under random crash schedules, on a VirtualClock.

Each example builds a tree (one_for_one / one_for_all / rest_for_one, every
restart type, 1-6 children per supervisor, nested up to 3 levels, some
``auto_shutdown`` with significant children, workers that trap exits and take
their time in ``terminate``), plays a schedule of crashes (a child or a
sub-supervisor, at a time, with ``normal``, ``shutdown``, ``("shutdown", x)``,
``boom`` or ``kill``), lets the tree settle, then shuts the runtime down. It
checks, from the event stream and the admin API:

* **intensity**: rebuilt from ``restart`` and ``supervisor_gave_up`` events, a
  supervisor never restarts more than ``intensity`` times within a window of
  ``period`` whole seconds (OTP's inclusive, floored window), and it gives up
  exactly on attempt ``intensity + 1``; the counts it reports agree;
* **quiescence**: every permanent child of every live supervisor is running
  (``Supervisor.which_children``), and no listed pid is dead;
* **stop order**: whenever a supervisor stops in order (gave up, auto-shutdown,
  its parent's stop, runtime shutdown), its running children exit one by one
  in the reverse of their start order, all before the supervisor itself;
* **nothing outlives the runtime**: after ``await rt.shutdown()`` there is no
  task, no timer, and no live process.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from agentlab import (
    KILL,
    Agent,
    ChildSpec,
    Event,
    Pid,
    Runtime,
    Stop,
    Supervisor,
    VirtualClock,
)

REASONS: list[Any] = ["normal", "shutdown", ("shutdown", "x"), "boom", "kill"]
STRATEGIES = ["one_for_one", "one_for_all", "rest_for_one"]
RESTARTS = ["permanent", "transient", "temporary"]

# ---------------------------------------------------------------------------- the tree


@dataclass
class WorkerCfg:
    id: str
    restart: str
    significant: bool
    trap: bool
    terminate_delay: float  # seconds of runtime clock spent in terminate (when trapping)
    shutdown: Any


@dataclass
class SupCfg:
    id: str
    restart: str
    significant: bool
    strategy: str
    intensity: int
    period: int
    auto_shutdown: str
    children: list[Any] = field(default_factory=list)


def _child(depth: int, auto: str) -> st.SearchStrategy[Any]:
    significant = st.just(False) if auto == "never" else st.booleans()
    worker = st.builds(
        WorkerCfg,
        id=st.just(""),
        restart=st.sampled_from([*RESTARTS, "permanent"]),
        significant=significant,
        trap=st.booleans(),
        terminate_delay=st.sampled_from([0.0, 0.0, 0.01, 0.3]),
        shutdown=st.sampled_from([0.1, 1, "brutal_kill", "infinity"]),
    )
    if depth >= 3:
        return worker
    return st.one_of(worker, worker, _sup(depth + 1))


@st.composite
def _sup(draw: st.DrawFn, depth: int = 1) -> SupCfg:
    auto = draw(st.sampled_from(["never", "never", "any_significant", "all_significant"]))
    cfg = SupCfg(
        id="",
        restart=draw(st.sampled_from(RESTARTS)),
        significant=False,
        strategy=draw(st.sampled_from(STRATEGIES)),
        intensity=draw(st.sampled_from([0, 1, 2, 3, 5, 10])),
        period=draw(st.integers(1, 5)),
        auto_shutdown=auto,
        children=draw(st.lists(_child(depth, auto), min_size=1, max_size=6 if depth == 1 else 3)),
    )
    return cfg


def _name(cfg: SupCfg, prefix: str, parent_auto: str | None) -> None:
    """Give every node a unique id (its path) and drop impossible significant flags."""
    cfg.id = prefix
    if parent_auto in (None, "never") or cfg.restart == "permanent":
        cfg.significant = False
    for i, c in enumerate(cfg.children):
        if isinstance(c, SupCfg):
            _name(c, f"{prefix}.{i}", cfg.auto_shutdown)
        else:
            c.id = f"{prefix}.{i}"
            if cfg.auto_shutdown == "never" or c.restart == "permanent":
                c.significant = False


def _restart_types(cfg: SupCfg, out: dict[str, str]) -> dict[str, str]:
    for c in cfg.children:
        out[c.id] = c.restart
        if isinstance(c, SupCfg):
            _restart_types(c, out)
    return out


crash = st.tuples(
    st.floats(0.0, 2.5, allow_nan=False),  # seconds after the previous crash
    st.integers(0, 10_000),  # which live process of the tree (modulo their number)
    st.sampled_from([*REASONS, "boom", "boom", "kill"]),  # crashes more often than not
)
scenario = st.tuples(_sup(), st.lists(crash, min_size=1, max_size=12))

# ---------------------------------------------------------------------------- the processes


class Worker(Agent):
    def init(self, cfg: WorkerCfg) -> None:
        self.cfg = cfg
        self.trap_exit = cfg.trap

    def handle_cast(self, msg: Any) -> Any:
        return Stop(msg[1])  # ("stop", reason): exit with that reason

    def terminate(self, reason: Any) -> Any:
        if self.cfg.terminate_delay:
            return self.sleep(self.cfg.terminate_delay)
        return None


class MarkedSupervisor(Supervisor):
    """A Supervisor that marks in the event stream the moment its orderly stop begins."""

    async def terminate(self, reason: Any) -> None:
        self.runtime.emit("user", self.pid, mark="terminate_begin")
        await super().terminate(reason)


def _spec(c: Any) -> ChildSpec:
    if isinstance(c, SupCfg):
        return ChildSpec(
            c.id,
            (MarkedSupervisor, ([_spec(x) for x in c.children],), _flags(c)),
            restart=c.restart,
            significant=c.significant,
        )
    return ChildSpec(
        c.id, (Worker, c), restart=c.restart, significant=c.significant, shutdown=c.shutdown
    )


def _flags(c: SupCfg) -> dict[str, Any]:
    return {
        "strategy": c.strategy,
        "intensity": c.intensity,
        "period": c.period,
        "auto_shutdown": c.auto_shutdown,
    }


# ---------------------------------------------------------------------------- driving


async def _tree(rt: Runtime, root: Pid) -> list[tuple[Pid, str, Pid]]:
    """Every live process below ``root`` as ``(pid, type, its supervisor)``, depth first."""
    out: list[tuple[Pid, str, Pid]] = []
    stack = [root]
    while stack:
        sup = stack.pop()
        if not sup.alive:
            continue
        try:
            children = await Supervisor.which_children(sup, runtime=rt)
        except Exception:  # it stopped while we asked
            continue
        for _id, state, kind in reversed(children):  # start order
            if isinstance(state, Pid) and state.alive:
                out.append((state, kind, sup))
                if kind == "supervisor":
                    stack.append(state)
    return out


async def _settle(rt: Runtime) -> None:
    """Until nothing happens any more: no process busy (a worker still in its
    ``terminate``, a supervisor stopping children), and a round of calls to every
    supervisor (each answers only after the work queued before the call) adds no event."""
    prev = -1
    for _ in range(1000):
        await rt.settled()
        if any(p._task is not None for p in rt.processes()):
            await rt.sleep(0.005)  # a virtual clock moves on while they wait
            continue
        for pid in rt.processes():
            if isinstance(pid._beh, Supervisor):
                try:
                    await Supervisor.count_children(pid, runtime=rt)
                except Exception:  # it stopped meanwhile
                    pass
        await rt.settled()
        if rt._seq == prev:
            return
        prev = rt._seq
    raise AssertionError("the tree did not settle")


async def run(cfg: SupCfg, crashes: list[tuple[float, int, Any]]) -> None:
    _name(cfg, "r", None)
    restart_of = _restart_types(cfg, {})
    events: list[Event] = []
    rt = Runtime(clock=VirtualClock(), trace_messages=False, lag_threshold=None)
    rt.subscribe(events.append)
    try:
        root = await rt.start_async(
            MarkedSupervisor, [_spec(c) for c in cfg.children], **_flags(cfg)
        )
        await _settle(rt)
        for delay, which, reason in crashes:
            await rt.sleep(delay)
            procs = await _tree(rt, root)
            if not procs:
                break
            pid, kind, _sup = procs[which % len(procs)]
            if kind == "supervisor" or reason == "kill":
                rt.exit(pid, KILL if reason == "kill" else reason)  # strangers' signals: ignored
            else:
                rt.cast(pid, ("stop", reason))
            await _settle(rt)
        # quiescence: permanent children of live supervisors run
        for sup in [root] + [p for p, kind, _ in await _tree(rt, root) if kind == "supervisor"]:
            if not sup.alive:
                continue
            for cid, state, _kind in await Supervisor.which_children(sup, runtime=rt):
                if isinstance(state, Pid):
                    assert state.alive, f"{cid}: which_children lists a dead pid"
                if restart_of[cid] == "permanent":
                    assert isinstance(state, Pid) and state.alive, (
                        f"permanent child {cid} of a live supervisor is not running: {state!r}"
                    )
    finally:
        await rt.shutdown()
    assert not rt._tasks, f"tasks outlived the runtime: {rt._tasks}"
    assert not rt._heap, f"timers outlived the runtime: {rt._heap}"
    assert not rt._procs, f"processes outlived the runtime: {list(rt._procs.values())}"
    check_intensity(events)
    check_stop_order(events)
    kinds = {e.kind for e in events}
    for k in ("restart", "supervisor_gave_up", "auto_shutdown", "shutdown_error"):
        if k in kinds:
            event(k)  # Hypothesis statistics: pytest --hypothesis-show-statistics


# ---------------------------------------------------------------------------- the checks


def check_intensity(events: list[Event]) -> None:
    attempts: dict[int, list[Event]] = {}
    for ev in events:
        if ev.kind in ("restart", "supervisor_gave_up"):
            attempts.setdefault(ev.pid, []).append(ev)
    for sup, evs in attempts.items():
        for i, ev in enumerate(evs):
            d = ev.data
            intensity, period = d["intensity"], d["period"]
            now = math.floor(ev.time)
            n = sum(1 for e in evs[: i + 1] if math.floor(e.time) >= now - period)
            if ev.kind == "restart":
                assert n <= intensity, (
                    f"supervisor <0.{sup}.0> restarted {d['child_id']} as restart {n} in "
                    f"{period}s, over its intensity {intensity}"
                )
                assert d["restarts_in_window"] == n
                assert d["strategy"] in STRATEGIES and d["child_id"]
            else:
                assert n == intensity + 1, (
                    f"supervisor <0.{sup}.0> gave up at restart {n}, intensity {intensity}"
                )
                assert d["restarts"] == n
                assert i == len(evs) - 1, "a supervisor restarted after giving up"


def check_stop_order(events: list[Event]) -> None:
    """Per supervisor: from its ``terminate_begin`` mark, the children it had running exit
    in the reverse of their start order (the spec order), then the supervisor exits."""
    first_start: dict[int, dict[Any, int]] = {}  # sup -> child_id -> position in start order
    live: dict[int, dict[int, Any]] = {}  # sup -> {child pid: child_id}
    owner: dict[int, int] = {}  # child pid -> sup
    expecting: dict[int, list[int]] = {}  # sup -> pids still to exit, in the expected order
    for ev in events:
        if ev.kind == "child_start":
            order = first_start.setdefault(ev.pid, {})
            order.setdefault(ev.data["child_id"], len(order))
            live.setdefault(ev.pid, {})[ev.peer] = ev.data["child_id"]
            owner[ev.peer] = ev.pid
        elif ev.kind == "user" and ev.data.get("mark") == "terminate_begin":
            sup = ev.pid
            running = live.get(sup, {})
            order = first_start.get(sup, {})
            expecting[sup] = sorted(running, key=lambda p: -order[running[p]])
        elif ev.kind == "exit":
            sup = owner.pop(ev.pid, None)
            if sup is not None:
                live[sup].pop(ev.pid, None)
                todo = expecting.get(sup)
                if todo:
                    assert todo[0] == ev.pid, (
                        f"supervisor <0.{sup}.0> stopping: <0.{ev.pid}.0> exited before "
                        f"<0.{todo[0]}.0> (expected reverse start order {todo})"
                    )
                    todo.pop(0)
            todo = expecting.pop(ev.pid, None)
            assert not todo, f"supervisor <0.{ev.pid}.0> exited before its children {todo}"


# ---------------------------------------------------------------------------- the tests


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(scenario)
def test_random_trees_keep_intensity_order_and_cleanliness(arun: Any, case: Any) -> None:
    arun(run(*case), timeout=30, collect=False)


@settings(max_examples=40, deadline=None)
@given(
    st.sampled_from(STRATEGIES),
    st.integers(0, 3),
    st.integers(1, 3),
    st.lists(st.floats(0.0, 1.6, allow_nan=False), min_size=1, max_size=12),
)
def test_crash_storms_on_one_child_respect_the_window(
    arun: Any, strategy: str, intensity: int, period: int, gaps: list[float]
) -> None:
    """A single permanent worker crashed repeatedly: the supervisor survives exactly as
    long as OTP's floored, inclusive window allows (a model computed from the gaps)."""

    async def main() -> None:
        rt = Runtime(clock=VirtualClock(), trace_messages=False, lag_threshold=None)
        try:
            sup = await rt.start_async(
                Supervisor,
                [ChildSpec("w", (Worker, WorkerCfg("w", "permanent", False, False, 0.0, 1)))],
                strategy=strategy,
                intensity=intensity,
                period=period,
            )
            window: list[int] = []
            expect_alive = True
            for gap in gaps:
                await rt.sleep(gap)
                ((_, pid, _),) = await Supervisor.which_children(sup, runtime=rt)
                rt.exit(pid, "boom")
                await rt.wait(pid)
                await rt.settled()
                now = math.floor(rt.now())
                window = [now] + [t for t in window if t >= now - period]
                if len(window) > intensity:
                    expect_alive = False
                    break
            await rt.settled()
            assert sup.alive is expect_alive
            if not expect_alive:
                assert sup.exit_reason == "shutdown"
        finally:
            await rt.shutdown()
        assert not rt._tasks and not rt._heap and not rt._procs

    arun(main(), collect=False)
