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


@pytest.mark.parametrize(("strategy", "brought_back"), [
    ("one_for_all", {"sup/a": 10.0, "sup/c": 12.0}),
    ("rest_for_one", {"sup/c": 11.0}),
    ("one_for_one", {}),
])
def test_the_timeline_marks_the_siblings_a_restart_brought_back(strategy, brought_back):
    # b crashes at 10 and each child starts when the one before it is ready: under
    # one_for_all a starts again at 10, b at 11, c at 12; under rest_for_one b at 10, c at 11
    run = asyncio.run(_run(strategy))
    ax = run.plot_timeline().axes[0]
    lanes = [t.get_text() for t in ax.get_yticklabels()]
    marks = {c.get_gid(): c.get_offsets() for c in ax.collections if c.get_gid()}
    (crashed,) = marks["restarts"]
    assert lanes[round(crashed[1] + 0.42)] == "sup/b"
    siblings = {lanes[round(y + 0.42)]: x for x, y in marks.get("bystander_restarts", [])}
    assert siblings == brought_back
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert ("sibling restarted" in legend) == bool(brought_back)
