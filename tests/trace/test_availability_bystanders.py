"""Availability counts the downtime of bystanders that a strategy restarts."""

from __future__ import annotations

import asyncio

import pytest

import agentlab as al

trace = pytest.importorskip("agentlab.trace")


class Warm(al.Agent):
    async def init(self, crash_at=None):
        await self.sleep(1.0)  # ready one second after it starts
        if crash_at is not None and crash_at > self.runtime.now():
            self.send_after(self.pid, "crash", crash_at - self.runtime.now())

    def handle_info(self, msg):
        raise RuntimeError("scripted crash")


async def _run(strategy):
    async with al.Runtime(clock=al.VirtualClock()) as rt:
        rec = trace.Recorder(rt)
        rt.start(
            al.Supervisor,
            [al.ChildSpec("a", Warm), al.ChildSpec("b", (Warm, 10.0)), al.ChildSpec("c", Warm)],
            strategy=strategy, intensity=5, period=60, name="sup",
        )
        await rt.sleep(20)
        return rec.stop()


def test_one_for_all_bystanders_are_down_until_they_are_back():
    run = asyncio.run(_run("one_for_all"))
    a = trace.availability(run).set_index("child_id")
    # started in order: a ready at 1, b at 2, c at 3; b crashes at 10; a, c are stopped;
    # a, b, c start again in order: ready at 11, 12, 13; the run ends at 20.
    assert a.loc["a", "downtime"] == pytest.approx(1.0)
    assert a.loc["b", "downtime"] == pytest.approx(2.0)
    assert a.loc["c", "downtime"] == pytest.approx(3.0)
    assert a.loc["a", "uptime"] == pytest.approx(9.0 + 9.0)
    assert a.loc["c", "availability"] == pytest.approx((7.0 + 7.0) / (7.0 + 7.0 + 3.0))
    assert a.loc["b", "crashes"] == 1 and a.loc["a", "crashes"] == 0


def test_one_for_one_leaves_siblings_up():
    run = asyncio.run(_run("one_for_one"))
    a = trace.availability(run).set_index("child_id")
    assert a.loc["a", "downtime"] == 0.0 and a.loc["c", "downtime"] == 0.0
    assert a.loc["b", "downtime"] == pytest.approx(1.0)
