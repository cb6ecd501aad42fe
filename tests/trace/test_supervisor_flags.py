"""A supervisor's flags in the tables, from its first report (``supervisor_flags``):
``processes()`` has them for every supervisor, and ``intensity_headroom()`` lists one
that never restarted a child, with its whole budget left. Trace files keep them."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow.parquet as pq

import agentlab
from agentlab import ChildSpec, DynamicSupervisor, Supervisor
from agentlab.trace import Recorder, load


class Worker(agentlab.Agent):
    def handle_info(self, msg):
        if msg == "crash":
            raise ValueError("injected")


async def _tree_run(*, record_from_start: bool = True) -> agentlab.trace.Run:
    """root (rest_for_one, 4 in 7 s) over inner (one_for_all, 2 in 3 s, whose worker
    crashes once) and a DynamicSupervisor pool (at most 4 children) that never restarts."""
    async with agentlab.Runtime(clock=agentlab.VirtualClock(), seed=3) as rt:
        rec = Recorder(rt) if record_from_start else None
        inner = ChildSpec("inner", (Supervisor, ([ChildSpec("w", Worker, name="w")],),
                                    {"strategy": "one_for_all", "intensity": 2, "period": 3}),
                          type="supervisor")
        pool = ChildSpec("pool", (DynamicSupervisor, (), {"max_children": 4}), type="supervisor")
        rt.start(Supervisor, [inner, pool], strategy="rest_for_one", intensity=4, period=7,
                 name="root")
        await rt.settled()
        if rec is None:
            rec = Recorder(rt)
        rt.send_after("w", "crash", 1.0)
        await rt.sleep(2.0)
        return rec.stop()


def _by_path(p: pd.DataFrame) -> pd.DataFrame:
    return p[p["kind"] == "supervisor"].set_index(p["path"].astype(object)[p["kind"] == "supervisor"])


async def test_a_supervisor_that_never_restarted_has_its_whole_budget() -> None:
    run = await _tree_run()
    head = run.intensity_headroom().set_index("supervisor")
    assert sorted(head.index) == ["root", "root/inner", "root/pool"]
    root = head.loc["root"]
    assert root["restarts"] == 0 and root["intensity"] == 4 and root["period"] == 7.0
    assert root["max_restarts_in_window"] == 0 and root["min_headroom"] == 4
    assert not root["gave_up"] and pd.isna(root["gave_up_at"])
    pool = head.loc["root/pool"]
    assert (pool["intensity"], pool["period"], pool["min_headroom"]) == (3, 5.0, 3)
    inner = head.loc["root/inner"]  # it restarted once: as before
    assert (inner["restarts"], inner["intensity"], inner["period"]) == (1, 2, 3.0)
    assert (inner["max_restarts_in_window"], inner["min_headroom"]) == (1, 1)


async def test_processes_has_each_supervisors_flags() -> None:
    run = await _tree_run()
    p = run.processes()
    sups = _by_path(p)
    assert sups.loc["root", "strategy"] == "rest_for_one"
    assert (sups.loc["root", "intensity"], sups.loc["root", "period"]) == (4, 7.0)
    assert pd.isna(sups.loc["root", "max_children"])  # a static supervisor has none
    assert sups.loc["root/inner", "strategy"] == "one_for_all"
    assert sups.loc["root/pool", "strategy"] == "one_for_one"
    assert (sups.loc["root/pool", "intensity"], sups.loc["root/pool", "max_children"]) == (3, 4)
    workers = p[p["kind"] != "supervisor"]
    assert len(workers) == 2  # w, and its replacement
    for col in ("strategy", "intensity", "period", "max_children"):
        assert workers[col].isna().all(), col


async def test_a_trace_file_keeps_the_flags_and_its_format_version(tmp_path) -> None:
    run = await _tree_run()
    path = run.save(tmp_path / "run.parquet")
    header = json.loads(pq.read_schema(path).metadata[b"agentlab.trace"])
    assert header["version"] == 2
    again = load(path)
    pd.testing.assert_frame_equal(run.processes(), again.processes())
    pd.testing.assert_frame_equal(run.intensity_headroom(), again.intensity_headroom())
    flags = [e for e in again.to_events() if e.kind == "supervisor_flags"]
    assert [e.data for e in flags if e.path == "root/pool"] == [
        {"strategy": "one_for_one", "intensity": 3, "period": 5, "max_children": 4}
    ]


async def test_without_the_first_reports_the_restart_reports_still_tell() -> None:
    # recording began after the supervisors started: no supervisor_flags in the run
    # (as in a trace written before supervisors made that report)
    run = await _tree_run(record_from_start=False)
    assert not (run.events()["kind"] == "supervisor_flags").any()
    head = run.intensity_headroom().set_index("supervisor")
    assert list(head.index) == ["root/inner"]  # no event names the others' flags
    assert (head.loc["root/inner", "intensity"], head.loc["root/inner", "period"]) == (2, 3.0)


async def test_a_supervisor_started_before_the_recording_gets_its_flags_from_its_restarts() -> None:
    async with agentlab.Runtime(clock=agentlab.VirtualClock(), seed=3) as rt:
        rt.start(Supervisor, [ChildSpec("w", Worker, name="w")], strategy="one_for_all",
                 intensity=6, period=9, name="sup")
        await rt.settled()
        rec = Recorder(rt)
        rt.send_after("w", "crash", 1.0)
        await rt.sleep(2.0)
        sup = rt.whereis("sup")
        await rt.stop(sup, "shutdown")  # its exit gives it a row in processes()
        run = rec.stop()
    p = run.processes()
    row = p[p["pid"] == sup.id].iloc[0]
    assert (row["strategy"], row["intensity"], row["period"]) == ("one_for_all", 6, 9.0)
    assert pd.isna(row["max_children"])
