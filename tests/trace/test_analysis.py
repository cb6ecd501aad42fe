"""Analysis helpers, comparison, the notebook summary, and the package surface."""

from __future__ import annotations

import subprocess
import sys

from test_files import _crashy_run
from trace_helpers import many_processes

import agentlab.trace as trace
from agentlab.trace import Recorder, compare


async def test_restart_rate_windows() -> None:
    run = await _crashy_run()  # restarts at t=1.0 and t=2.0; recording stops at t=3.0
    rate = run.restart_rate(window=1.0)
    assert run.info.ended == 3.0
    assert list(rate.index) == [0.0, 1.0, 2.0, 3.0]
    assert list(rate["total"]) == [0, 1, 1, 0] and list(rate["sup"]) == [0, 1, 1, 0]
    assert list(run.restart_rate(window=5.0)["total"]) == [2]


def test_restart_rate_per_supervisor_at_scale() -> None:
    run = Recorder.from_events(many_processes(2_000, supervisors=4, crash_every=5)).run()
    rate = run.restart_rate(window=10.0)
    assert rate["total"].sum() == 400 == len(run.restarts())
    assert set(rate.columns) == {"root/pool0", "root/pool1", "root/pool2", "root/pool3", "total"}
    assert run.mttr() != run.mttr()  # never restarted in this stream: NaN


async def test_compare_two_runs_side_by_side() -> None:
    a = await _crashy_run()
    b = Recorder.from_events(many_processes(100, supervisors=2, crash_every=5)).run()
    table = compare(a, b, names=["small", "synthetic"])
    assert list(table.columns) == ["small", "synthetic", "change"]
    assert table.loc["restarts", "small"] == 2 and table.loc["restarts", "synthetic"] == 20
    assert table.loc["restarts", "change"] == 18
    assert table.loc["seed", "change"] is None


async def test_html_summary() -> None:
    run = await _crashy_run()
    html = run._repr_html_()
    assert run.run_id in html and "mttr" in html and "0.5 s" in html
    assert "dropped" in html
    rec = Recorder(capacity=2, chunk_size=1)
    for e in many_processes(5, supervisors=1):
        rec.record(e)
    assert "were dropped" in rec._repr_html_()


def test_public_surface_is_sorted_and_importable() -> None:
    assert trace.__all__ == sorted(trace.__all__)
    for name in trace.__all__:
        assert getattr(trace, name) is not None


def test_the_runtime_does_not_import_the_trace_stack() -> None:
    code = (
        "import sys, agentlab; "
        "bad = [m for m in ('pandas', 'pyarrow', 'matplotlib', 'agentlab.trace') if m in sys.modules]; "
        "print(bad); raise SystemExit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
