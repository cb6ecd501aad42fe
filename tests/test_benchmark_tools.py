"""The benchmarks' own arithmetic: the ratios and breakdowns they print (no timing here)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def run_all() -> ModuleType:
    return _load("run_all")


@pytest.fixture(scope="module")
def bench_widgets() -> ModuleType:
    return _load("bench_widgets")


def _runs(unit: str, *values: float) -> list[dict]:
    return [{"unit": unit, "value": v, "round": i, "n": 1000} for i, v in enumerate(values)]


def test_a_slowdown_is_time_with_over_time_without_for_rates(run_all: ModuleType) -> None:
    # half the rate is twice the time; per round: 4/2, 6/2, 4/4
    text = run_all.slowdown(_runs("msgs/s", 2.0, 2.0, 4.0), _runs("msgs/s", 4.0, 6.0, 4.0))
    assert text == "2.00x (1.00-3.00)"


def test_a_slowdown_is_with_over_without_for_bytes_and_microseconds(run_all: ModuleType) -> None:
    assert run_all.slowdown(_runs("bytes/process", 756.0), _runs("bytes/process", 340.0)) == "2.22x"
    # medians 8.5 / 9.5; per round 9/9 and 8/10
    assert run_all.slowdown(_runs("us", 9.0, 8.0), _runs("us", 9.0, 10.0)) == "0.89x (0.80-1.00)"
    assert run_all.slowdown([], _runs("us", 1.0)) == "-"


def test_the_overhead_table_compares_events_with_none_and_a_recorder_with_events(
    run_all: ModuleType,
) -> None:
    res = {
        ("agentlab-untraced", "spawn"): _runs("spawns/s", 300.0),
        ("agentlab", "spawn"): _runs("spawns/s", 200.0),
        ("agentlab-recorded", "spawn"): _runs("spawns/s", 100.0),
        ("agentlab", "tracing"): _runs("ratio", 7.0),
    }
    rows = run_all.overhead_table(res, ["spawn", "tracing"]).splitlines()
    assert len(rows) == 3  # header, rule, spawn (tracing is a ratio already: not a row)
    cells = [c.strip() for c in rows[2].strip("|").split("|")]
    assert cells[0].startswith("spawn (n=1,000;")
    assert cells[1:] == ["300", "200", "1.50x", "100", "2.00x"]


def test_the_variants_run_agentlab_with_no_events_and_with_a_recorder(
    run_all: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(run_all, "AGENTLAB_TRACE", "lifecycle")
    assert run_all.command("agentlab", "send", 10)[-3:] == ["send", "10", "--trace=lifecycle"]
    assert run_all.command("agentlab-untraced", "send", 10)[-3:] == ["send", "10", "--trace=off"]
    recorded = run_all.command("agentlab-recorded", "send", 10)
    assert recorded[-4:] == ["send", "10", "--trace=lifecycle", "--record"]


def test_the_page_trace_gives_self_time_on_the_renderer_main_thread(
    bench_widgets: ModuleType,
) -> None:
    meta = [
        {"ph": "M", "name": "thread_name", "pid": 1, "tid": 10, "args": {"name": "CrRendererMain"}},
        {"ph": "M", "name": "thread_name", "pid": 1, "tid": 11, "args": {"name": "Compositor"}},
    ]
    us = 1_000
    events = [  # one second of trace: a task of 300 ms holding a 100 ms layout holding 40 ms of paint
        {"ph": "X", "pid": 1, "tid": 10, "name": "RunTask", "ts": 0, "dur": 300 * us},
        {"ph": "X", "pid": 1, "tid": 10, "name": "Layout", "ts": 50 * us, "dur": 100 * us},
        {"ph": "X", "pid": 1, "tid": 10, "name": "Paint", "ts": 60 * us, "dur": 40 * us},
        {"ph": "X", "pid": 1, "tid": 10, "name": "Paint", "ts": 200 * us, "dur": 20 * us},
        {"ph": "X", "pid": 1, "tid": 10, "name": "RunTask", "ts": 980 * us, "dur": 20 * us},
        {
            "ph": "X",
            "pid": 1,
            "tid": 11,
            "name": "Raster",
            "ts": 0,
            "dur": 900 * us,
        },  # another thread
    ]
    top = bench_widgets._trace_top({"traceEvents": meta + events}, 10)
    assert top == {"RunTask": 200.0, "Layout": 60.0, "Paint": 60.0}
    assert bench_widgets._trace_top({"traceEvents": meta + events}, 1) == {"RunTask": 200.0}
    assert bench_widgets._trace_top({"traceEvents": events}, 5) == {}  # no main thread named


def test_the_page_trace_counts_the_layouts_that_started_at_the_document(
    bench_widgets: ModuleType,
) -> None:
    meta = [{"ph": "M", "name": "thread_name", "pid": 1, "tid": 10, "args": {"name": "CrRendererMain"}}]
    us = 1_000

    def layout(ts: int, dur: int, *roots: str, tid: int = 10) -> dict:
        end = {"layoutRoots": [{"nodeName": r, "depth": 1} for r in roots]}
        return {"ph": "X", "pid": 1, "tid": tid, "name": "Layout", "ts": ts * us, "dur": dur * us,
                "args": {"beginData": {}, "endData": end}}

    events = [  # two seconds of trace: four layouts, two of them from the document
        {"ph": "X", "pid": 1, "tid": 10, "name": "RunTask", "ts": 0, "dur": 2000 * us},
        layout(100, 4, "#document"),
        layout(300, 2, "DIV class='al-body'"),
        layout(500, 6, "svg class='al-tl-svg'", "#document"),
        layout(700, 1, "DIV class='al-body'", "DIV class='al-seq-scroll'"),
        layout(900, 50, "#document", tid=11),  # another thread
    ]
    roots = bench_widgets._layout_roots({"traceEvents": meta + events})
    assert roots == {"layouts_per_s": 2.0, "document_layouts_per_s": 1.0, "document_layout_ms_per_s": 5.0}
    assert bench_widgets._layout_roots({"traceEvents": events}) == {}  # no main thread named


def test_the_page_profile_gives_self_time_per_function(bench_widgets: ModuleType) -> None:
    def node(i: int, fn: str, url: str = "", line: int = -1) -> dict:
        return {"id": i, "callFrame": {"functionName": fn, "url": url, "lineNumber": line}}

    profile = {
        "nodes": [
            node(1, "(root)"),
            node(2, "(program)"),
            node(3, "render", "http://x/lab/tree.js?v=1", 9),
            node(4, "", "http://x/a.js", 0),
        ],
        "startTime": 0,
        "endTime": 2_000_000,  # two seconds
        # a sample lasts until the next: 200 ms of (program), 3 x 100 ms in render, 50 ms in a.js
        # (the last sample has no next: no time)
        "samples": [2, 3, 3, 3, 4, 2],
        "timeDeltas": [0, 200_000, 100_000, 100_000, 100_000, 50_000],
    }
    top = bench_widgets._profile_top(profile, 5)
    assert top == {"render tree.js:10": 150.0, "(program)": 100.0, "(anonymous) a.js:1": 25.0}
    assert list(top) == ["render tree.js:10", "(program)", "(anonymous) a.js:1"]  # largest first
