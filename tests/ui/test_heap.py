"""The first live view freezes the kernel's heap once (agentlab.ui._heap).

Each case runs in a fresh interpreter: freezing is once per process, and this
test process switches it off (see conftest.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

SCRIPT = """
import asyncio, gc, json, sys
import agentlab, agentlab.ui as ui

class Worker(agentlab.Agent):
    pass

{setup}

async def main():
    rt = agentlab.Runtime()
    rt.start(Worker, name="w")
    before = gc.get_freeze_count()
    recorded = ui.Timeline(list(rt.events))  # a recorded run: not a live view
    after_recorded = gc.get_freeze_count()
    first = ui.SupervisionTree(rt)
    same_turn = gc.get_freeze_count()
    built_next = [[i] for i in range(100)]  # what the same cell builds after the view
    await asyncio.sleep(0)  # the freeze runs at the loop's next turn
    after_first = gc.get_freeze_count()
    gc_objects_after_first = len(gc.get_objects())
    built_next_frozen = not any(o is built_next for o in gc.get_objects())
    garbage = []  # a reference cycle made after the freeze is still collected
    garbage.append(garbage)
    import weakref
    class Box: pass
    box = Box(); box.me = box; alive = weakref.ref(box); del box
    keep = [[i] for i in range(5000)]  # a second freeze would take these in too
    ui.Timeline(rt)
    await asyncio.sleep(0)
    after_second = gc.get_freeze_count()
    gc.collect()
    print(json.dumps(dict(before=before, after_recorded=after_recorded, after_first=after_first,
                          same_turn=same_turn, built_next_frozen=built_next_frozen,
                          after_second=after_second, tracked_after_first=gc_objects_after_first,
                          cycle_collected=alive() is None)))
    await rt.shutdown()

asyncio.run(main())
"""


def run_case(setup: str = "", **env: str) -> dict[str, object]:
    environ = {k: v for k, v in os.environ.items() if k != "AGENTLAB_FREEZE_HEAP"}
    environ.update(env)
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(setup=setup)],
        capture_output=True, text=True, env=environ, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_first_live_view_freezes_the_heap_once():
    r = run_case()
    assert r["before"] == 0 and r["after_recorded"] == 0  # a recorded run's view does not
    assert r["same_turn"] == 0  # not while the cell runs: at the loop's next turn,
    assert r["built_next_frozen"] is True  # so what the cell built after the view is in
    assert r["after_first"] > 10_000  # the imported modules, classes, functions...
    # once per process (the count drifts a little as frozen objects are freed)
    assert abs(r["after_second"] - r["after_first"]) < 1000
    # frozen objects leave the collector's generations, and new cycles are still freed
    assert r["tracked_after_first"] < r["after_first"]
    assert r["cycle_collected"] is True


@pytest.mark.parametrize(
    ("setup", "env"),
    [
        ("", {"AGENTLAB_FREEZE_HEAP": "0"}),
        ("", {"AGENTLAB_FREEZE_HEAP": "off"}),
        ("assert ui.freeze_heap(False) is True", {}),
    ],
    ids=["env-0", "env-off", "freeze_heap(False)"],
)
def test_freezing_can_be_switched_off(setup, env):
    r = run_case(setup, **env)
    assert r["after_first"] == 0 and r["after_second"] == 0


def test_freeze_heap_takes_a_bool():
    import agentlab.ui as ui

    with pytest.raises(TypeError, match="True or False"):
        ui.freeze_heap("no")  # type: ignore[arg-type]
    assert ui.freeze_heap(False) is False  # the test process keeps it off (conftest.py)
