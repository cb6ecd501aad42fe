"""A supervisor's first report, ``supervisor_flags``: its strategy, intensity and period
(and a dynamic one's max_children), from its start, whether or not it ever restarts.
Workers make no such report: their spawn and init events stay as they were."""

from __future__ import annotations

import pytest

from agentlab import (
    Agent,
    ChildSpec,
    DynamicSupervisor,
    EventKind,
    Runtime,
    Supervisor,
    SupervisorError,
)


class Worker(Agent):
    pass


def _flags(rt: Runtime) -> dict[str | None, dict]:
    return {e.name: e.data for e in rt.events.filter(kind=EventKind.SUPERVISOR_FLAGS)}


async def test_each_supervisor_reports_its_flags_before_its_first_child(clock) -> None:
    async with Runtime(clock=clock) as rt:
        rt.start(Supervisor, [ChildSpec("a", Worker), ChildSpec("b", Worker)],
                 strategy="rest_for_one", intensity=4, period=2.5, name="team")
        rt.start(Supervisor, strategy="simple_one_for_one", child=ChildSpec("w", Worker),
                 max_children=7, name="pool")
        rt.start(Supervisor, strategy="simple_one_for_one", child=ChildSpec("w", Worker),
                 name="open_pool")
        rt.start(DynamicSupervisor, max_children=3, name="dyn")
        rt.start(Supervisor, [], name="empty")  # the defaults: one_for_one, 1 in 5 s
        await rt.settled()
        assert _flags(rt) == {
            "team": {"strategy": "rest_for_one", "intensity": 4, "period": 2.5},
            "pool": {"strategy": "simple_one_for_one", "intensity": 1, "period": 5,
                     "max_children": 7},
            "open_pool": {"strategy": "simple_one_for_one", "intensity": 1, "period": 5,
                          "max_children": None},
            "dyn": {"strategy": "one_for_one", "intensity": 3, "period": 5, "max_children": 3},
            "empty": {"strategy": "one_for_one", "intensity": 1, "period": 5},
        }
        # the first report of "team": after its spawn, before the children start
        team = [e.kind for e in rt.events if e.name == "team"]
        assert team[:3] == ["spawn", "register", "supervisor_flags"]
        assert team.index("supervisor_flags") < team.index("child_start")
        # only supervisors report it: a worker's own events are its spawn and init
        workers = {e.peer for e in rt.events.filter(kind="child_start")}
        assert len(workers) == 2
        assert [e.kind for e in rt.events if e.pid in workers] == ["spawn", "init"] * 2


async def test_a_child_supervisor_reports_its_flags_on_each_start(clock) -> None:
    async with Runtime(clock=clock) as rt:
        inner = ChildSpec("inner", (Supervisor, ([ChildSpec("w", Worker)],),
                                    {"strategy": "one_for_all", "intensity": 2, "period": 3}),
                          type="supervisor")
        rt.start(Supervisor, [inner], name="root", intensity=5)
        await rt.settled()
        (first,) = [p for p in rt.processes() if p.path == "root/inner"]
        rt.exit(first, "kill")
        await rt.settled()
        reports = [e for e in rt.events.filter(kind="supervisor_flags") if e.path == "root/inner"]
        assert [e.data for e in reports] == [{"strategy": "one_for_all", "intensity": 2,
                                              "period": 3}] * 2
        assert reports[0].pid == first.id and reports[1].pid != first.id


async def test_flags_it_refuses_are_not_reported(clock) -> None:
    async with Runtime(clock=clock) as rt:
        with pytest.raises(SupervisorError):
            await rt.start_async(Supervisor, [], intensity=-1)
        assert rt.events.filter(kind="supervisor_flags") == []
