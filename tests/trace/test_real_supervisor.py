"""The tables against the real agentlab.Supervisor on a virtual clock.

Children take 0.25 s to start (an ``async def init`` that sleeps), so every
restart recovers exactly 0.25 s after the crash: MTTR is known by hand.
"""

from __future__ import annotations

import pytest

import agentlab
from agentlab.trace import Recorder

Supervisor = getattr(agentlab, "Supervisor", None)
ChildSpec = getattr(agentlab, "ChildSpec", None)
pytestmark = pytest.mark.skipif(Supervisor is None, reason="agentlab.Supervisor not available")


class SlowStart(agentlab.Agent):
    async def init(self) -> None:
        await self.sleep(0.25)

    def handle_info(self, msg):
        if msg == "crash":
            raise ValueError("injected")


async def _run(crashes, *, intensity, end, strategy="one_for_one"):
    async with agentlab.Runtime(clock=agentlab.VirtualClock(), seed=1) as rt:
        rec = Recorder(rt)
        await rt.start_async(
            Supervisor,
            [ChildSpec("a", SlowStart, name="a"), ChildSpec("b", SlowStart, name="b")],
            strategy=strategy, intensity=intensity, period=5, name="team",
        )
        start = rt.now()
        for t, who in crashes:
            rt.send_after(who, "crash", t)
        await rt.sleep(end)
        return rec.stop(), start


async def test_restarts_and_mttr_by_hand() -> None:
    # ready at 0.5 (a, then b, 0.25 s each); crashes 1, 2, 3 s later and once at +10
    run, t0 = await _run([(1.0, "a"), (2.0, "b"), (3.0, "a"), (10.0, "a")], intensity=3, end=12.0)
    assert t0 == 0.5
    r = run.restarts()
    assert list(r["child_id"].astype(str)) == ["a", "b", "a", "a"]
    assert list(r["crashed_at"]) == [1.5, 2.5, 3.5, 10.5]
    assert list(r["time_to_recovery"]) == [0.25] * 4
    assert run.mttr() == 0.25
    assert list(r["restarts_in_window"]) == [1, 2, 3, 1]
    assert list(r["headroom"]) == [2, 1, 0, 2]
    assert set(r["strategy"].astype(str)) == {"one_for_one"}
    assert set(r["supervisor"].astype(str)) == {"team"}
    p = run.processes()
    a = p[p["child_id"] == "a"].sort_values("start")
    assert list(a["restart"]) == [0, 1, 2, 3]
    assert list(a["start"]) == [0.0, 1.5, 3.5, 10.5]
    assert list(a["crashed"]) == [True, True, True, False]
    assert list(a["ready"]) == [0.25, 1.75, 3.75, 10.75]
    # the restart rows name the pid that crashed
    assert list(r["pid"]) == list(p[p["crashed"]].sort_values("end")["pid"])
    assert list(r["new_pid"]) == list(p[p["restart"] > 0].sort_values("start")["pid"])
    av = run.availability().set_index("slot")
    assert av.loc["team/a", "downtime"] == 0.75 and av.loc["team/a", "crashes"] == 3
    head = run.intensity_headroom().set_index("supervisor")
    assert head.loc["team", "min_headroom"] == 0 and not head.loc["team", "gave_up"]


async def test_one_for_all_recovers_when_the_last_child_is_back() -> None:
    run, _ = await _run([(1.0, "a")], intensity=3, end=3.0, strategy="one_for_all")
    r = run.restarts()
    assert len(r) == 1
    row = r.iloc[0]
    assert set(row["affected"]) == {"a", "b"} and row["siblings_affected"] == 1
    # a crashed at 1.5; a and b start again one after the other: back at 2.0
    assert row["crashed_at"] == 1.5 and row["recovered_at"] == 2.0
    assert row["time_to_recovery"] == 0.5


async def test_giving_up_is_visible() -> None:
    run, _ = await _run([(1.0, "a"), (1.5, "a")], intensity=1, end=3.0)
    head = run.intensity_headroom().set_index("supervisor")
    assert head.loc["team", "gave_up"] and head.loc["team", "gave_up_at"] == 2.0
    assert run.summary()["supervisors_gave_up"] == 1
    p = run.processes()
    team = p[p["name"] == "team"].iloc[0]
    assert team["end"] == 2.0 and team["exit_reason"] == "shutdown"
