"""processes() and restarts() against scripted runs whose truth is known."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from trace_helpers import Script, ScriptedSupervisor, Worker

import agentlab
from agentlab.trace import Recorder, processes, restarts
from agentlab.trace._tables import PROCESS_COLUMNS, RESTART_COLUMNS


def _row(frame: pd.DataFrame, **match: object) -> pd.Series:
    mask = np.ones(len(frame), dtype=bool)
    for k, v in match.items():
        mask &= (frame[k] == v).to_numpy(dtype=bool, na_value=False)
    rows = frame[mask]
    assert len(rows) == 1, rows
    return rows.iloc[0]


async def test_process_lifetimes_on_a_plain_runtime() -> None:
    async def job(proc: agentlab.Process) -> None:
        await proc.sleep(0.5)

    async with agentlab.Runtime(clock=agentlab.VirtualClock()) as rt:
        rec = Recorder(rt)
        a = rt.start(Worker, name="a")
        b = rt.start(Worker, name="b")
        rt.start(Worker, name="c")
        rt.send_after(a, "crash", 2.0)
        await rt.sleep(1.0)
        body = rt.spawn(job, name="job")
        await rt.sleep(2.0)
        rt.exit(b, "kill")
        await rt.sleep(1.0)
        run = rec.run()  # before shutdown: "c" is still alive

    p = run.processes()
    assert list(p.columns) == list(PROCESS_COLUMNS)
    assert len(p) == 4
    ra = _row(p, name="a")
    assert (ra["start"], ra["end"], ra["lifetime"]) == (0.0, 2.0, 2.0)
    assert ra["exit_reason"] == "ValueError: injected" and ra["crashed"]
    assert ra["kind"] == "agent" and ra["init"] == "ok" and pd.isna(ra["child_id"])
    rb = _row(p, name="b")
    assert (rb["end"], rb["exit_reason"], rb["crashed"]) == (3.0, "killed", True)
    rj = _row(p, name="job")
    assert rj["pid"] == body.id
    assert (rj["kind"], rj["start"], rj["end"], rj["exit_reason"]) == ("process", 1.0, 1.5, "normal")
    assert not rj["crashed"] and pd.isna(rj["init"])
    rc = _row(p, name="c")
    assert math.isnan(rc["end"]) and math.isnan(rc["lifetime"]) and pd.isna(rc["exit_reason"])
    assert not rc["crashed"]


def test_process_dtypes() -> None:
    s = Script()
    s.emit("spawn", 101, name="w", path="w", kind="agent").at(1.0).emit("exit", 101, name="w", path="w", reason="normal")
    p = processes(Recorder.from_events(s.events).events())
    assert {c: str(t) for c, t in p.dtypes.items()} == {
        "pid": "int64", "name": "category", "kind": "category", "parent": "Int64",
        "path": "category", "supervisor": "category", "supervisor_pid": "Int64",
        "child_id": "category", "restart_type": "category", "restart": "Int64",
        "init": "category", "start": "float64", "ready": "float64", "end": "float64", "lifetime": "float64",
        "exit_reason": "category", "crashed": "bool", "strategy": "category", "intensity": "Int64",
        "period": "float64", "max_children": "Int64",
    }
    empty = Recorder().processes()
    assert list(empty.columns) == list(PROCESS_COLUMNS) and len(empty) == 0
    assert list(Recorder().restarts().columns) == list(RESTART_COLUMNS)


async def _supervised(crashes: list[tuple[float, str]], end: float, **sup: object):
    async with agentlab.Runtime(clock=agentlab.VirtualClock()) as rt:
        rec = Recorder(rt)
        rt.start(ScriptedSupervisor, ["a", "b"], name="sup", **sup)
        for t, who in crashes:
            rt.send_after(who, "crash", t)
        await rt.sleep(end)
        if rt.whereis("sup") is not None:
            await rt.stop("sup", "shutdown")
        return rec.stop()


async def test_one_for_one_restarts_and_recovery_times() -> None:
    # a crashes at 1 and 4, b at 2; each comes back 0.5 s later
    run = await _supervised([(1.0, "a"), (2.0, "b"), (4.0, "a")], end=6.0, delay=0.5)
    r = run.restarts()
    assert list(r.columns) == list(RESTART_COLUMNS)
    assert list(r["child_id"].astype(str)) == ["a", "b", "a"]
    assert list(r["crashed_at"]) == [1.0, 2.0, 4.0]
    assert list(r["recovered_at"]) == [1.5, 2.5, 4.5]
    assert list(r["time_to_recovery"]) == [0.5, 0.5, 0.5]
    assert list(r["restarts_in_window"]) == [1, 2, 3]
    assert list(r["headroom"]) == [2, 1, 0]
    assert list(r["siblings_affected"]) == [0, 0, 0]
    assert set(r["reason"].astype(str)) == {"ValueError: injected"}
    assert set(r["strategy"].astype(str)) == {"one_for_one"}
    assert set(r["supervisor"].astype(str)) == {"sup"}
    assert run.mttr() == 0.5

    p = run.processes()
    a = p[p["child_id"] == "a"].sort_values("start")
    assert list(a["restart"]) == [0, 1, 2]
    assert list(a["start"]) == [0.0, 1.5, 4.5]
    assert list(a["end"]) == [1.0, 4.0, 6.0]
    assert list(a["crashed"]) == [True, True, False]
    assert set(a["supervisor"].astype(str)) == {"sup"}
    assert set(a["restart_type"].astype(str)) == {"permanent"}
    sup_pid = int(_row(p, name="sup")["pid"])
    assert set(a["supervisor_pid"]) == {sup_pid} and set(a["parent"]) == {sup_pid}
    # each restart names the replacement
    assert list(r["new_pid"]) == list(
        p[p["restart"] > 0].sort_values("start")["pid"]
    )
    assert list(r["pid"]) == list(p[p["crashed"]].sort_values("end")["pid"])


async def test_availability_and_headroom_from_known_crashes() -> None:
    run = await _supervised([(1.0, "a"), (2.0, "b"), (4.0, "a")], end=6.0, delay=0.5)
    av = run.availability().set_index("slot")
    assert av.loc["sup/a", "instances"] == 3 and av.loc["sup/a", "crashes"] == 2
    assert av.loc["sup/a", "downtime"] == 1.0 and av.loc["sup/a", "uptime"] == 5.0
    assert av.loc["sup/a", "availability"] == 5.0 / 6.0
    assert av.loc["sup/b", "downtime"] == 0.5
    assert av.loc["sup", "availability"] == 1.0
    head = run.intensity_headroom().set_index("supervisor")
    assert head.loc["sup", "restarts"] == 3
    assert head.loc["sup", "min_headroom"] == 0
    assert head.loc["sup", "max_restarts_in_window"] == 3
    assert not head.loc["sup", "gave_up"]


async def test_a_supervisor_that_gives_up() -> None:
    run = await _supervised([(1.0, "a"), (2.0, "a")], end=3.0, delay=0.25, intensity=1)
    head = run.intensity_headroom().set_index("supervisor")
    assert head.loc["sup", "gave_up"] and head.loc["sup", "gave_up_at"] == 2.0
    assert head.loc["sup", "min_headroom"] == -1
    assert head.loc["sup", "max_restarts_in_window"] == 2
    r = run.restarts()
    assert len(r) == 1 and r["time_to_recovery"].tolist() == [0.25]
    p = run.processes()
    assert _row(p, name="sup")["end"] == 2.0
    summary = run.summary()
    assert summary["supervisors_gave_up"] == 1 and summary["restarts"] == 1


async def test_one_for_all_restarts_siblings() -> None:
    async with agentlab.Runtime(clock=agentlab.VirtualClock()) as rt:
        rec = Recorder(rt)
        rt.start(ScriptedSupervisor, ["a", "b", "c"], strategy="one_for_all", delay=0.5, name="sup")
        rt.send_after("b", "crash", 1.0)
        await rt.sleep(2.0)
        run = rec.run()
    r = run.restarts()
    assert len(r) == 1
    row = r.iloc[0]
    assert row["affected"] == ("a", "b", "c") and row["siblings_affected"] == 2
    assert (row["crashed_at"], row["recovered_at"], row["time_to_recovery"]) == (1.0, 1.5, 0.5)
    p = run.processes()
    first = p[p["restart"] == 0].set_index("child_id")
    assert first.loc["a", "exit_reason"] == "shutdown" and not first.loc["a", "crashed"]
    assert first.loc["b", "crashed"]
    assert (p["restart"] == 1).sum() == 3


def test_recovery_waits_for_the_last_restarted_sibling() -> None:
    s = Script()
    sup = {"name": "top", "path": "top"}
    s.emit("spawn", 10, kind="supervisor", **sup)
    for pid, cid in ((11, "a"), (12, "b")):
        s.emit("spawn", pid, path=f"top/{cid}", peer=10, kind="agent")
        s.emit("child_start", 10, peer=pid, child_id=cid, restart="permanent", type="worker", attempt=0, **sup)
    s.at(1.0).emit("exit", 11, path="top/a", reason=agentlab.Crash("OSError", "disk"))
    s.emit("restart", 10, peer=11, reason=agentlab.Crash("OSError", "disk"), child_id="a",
           strategy="rest_for_one", affected=["a", "b"], restarts_in_window=1, intensity=3, period=5)
    s.emit("exit", 12, path="top/b", reason="shutdown")
    s.at(1.2).emit("spawn", 13, path="top/a", peer=10, kind="agent")
    s.emit("child_start", 10, peer=13, child_id="a", restart="permanent", type="worker", attempt=1, **sup)
    s.at(1.7).emit("spawn", 14, path="top/b", peer=10, kind="agent")
    s.emit("child_start", 10, peer=14, child_id="b", restart="permanent", type="worker", attempt=1, **sup)
    r = restarts(Recorder.from_events(s.events).run())
    row = r.iloc[0]
    assert row["new_pid"] == 13 and row["recovered_at"] == 1.7
    assert math.isclose(row["time_to_recovery"], 0.7)
    assert row["reason"] == "OSError: disk" and row["period"] == 5.0


def test_restart_that_never_recovers() -> None:
    s = Script()
    s.emit("child_start", 10, name="top", path="top", peer=11, child_id="a", attempt=0)
    s.at(2.0).emit("exit", 11, reason="killed")
    s.emit("restart", 10, name="top", path="top", peer=11, reason="killed", child_id="a",
           strategy="one_for_one", affected=["a"], restarts_in_window=1, intensity=1, period=5)
    s.emit("start_error", 10, name="top", path="top", reason="boom", child_id="a")
    r = restarts(Recorder.from_events(s.events).events())
    assert pd.isna(r["new_pid"].iloc[0]) and math.isnan(r["recovered_at"].iloc[0])
    assert math.isnan(Recorder.from_events(s.events).mttr())
