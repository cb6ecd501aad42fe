"""Benchmark: the live views on a 10,000-process tree with 1,000 restarts a second.

Three claims, measured in the real stack (JupyterLab, ipykernel, Chromium):

1. A supervision tree of 10,000 processes first renders in under 1 s.
   *Browser render*: the view's own timing of its first full draw
   (``data-first-render-ms``: snapshot -> DOM, measured by the view with
   ``performance.now()``). *End to end*: from asking JupyterLab to run the cell
   that creates the view until the browser shows all nodes (kernel-side
   construction, the comm, anywidget loading the module, the draw).
2. The page stays interactive while 1,000 of the 10,000 restart every second:
   frame times sampled with ``requestAnimationFrame`` in the page for the
   whole load (p50/p95/p99/max and the share of frames over 50 ms), plus the
   latency of a click on a node until its details panel shows.
3. The kernel's event loop lag stays under 50 ms with all four views live
   under that load: a probe task in the kernel sleeps 5 ms in a loop and
   records how late it wakes up; the same load without any view is the
   baseline. The first live view freezes the kernel's heap (``gc.freeze``, see
   ``agentlab.ui._heap``), so that a full garbage collection does not stall the
   loop for 100-200 ms; ``dashboard-nofreeze`` is the dashboard without that.

The wall-clock figures above depend on what else runs on the machine (the
kernel, the server and Chromium share its cores, and so may other jobs).
Beside them: the kernel's CPU time per second of load (``kernel_cpu_ms_per_s``,
all its threads), and the page's main-thread time per second while frames are
sampled, from Chromium's own counters (``page_busy_ms_per_s`` in all, and
``page_script/style/layout_ms_per_s``). Those are task durations, not CPU time:
when the page cannot keep up, ``busy`` stays near 1,000 whatever changed, and
the parts show where the time went. For the loop lag, each probe sample also
records the loop thread's own CPU time (``thread_time``):
``kernel_lag_max_thread_cpu`` is that time in the worst sample, and
``kernel_lag_thread_cpu_max`` the most in any sample. A lag far above its thread
time was the thread not running: waiting for the GIL (the kernel's IOPub, heartbeat
and control threads), or descheduled by the machine. Compare runs made back to back.

The tree: a root supervisor, 50 supervisors under it, 200 workers under
each (10,051 processes). By default a supervisor with more than 50 children
is drawn as one group row with counts (``tree``); ``tree-chips`` opens all 50
groups (10,000 chips); ``tree-rows`` draws every process as a full row. The load: a kernel task sends the untrappable
``kill`` exit signal to 10 random workers every 10 ms; the supervisors restart
them (real OTP restarts: exit, link signal, restart report, new process).

Run (needs JupyterLab, Playwright and /usr/bin/chromium; takes ~2 min)::

    python benchmarks/bench_widgets.py                 # all scenarios
    python benchmarks/bench_widgets.py --seconds 5 --scenario dashboard
    python benchmarks/bench_widgets.py --kernel-prelude patch.py   # a proposed runtime change
    python benchmarks/bench_widgets.py --scenario dashboard --breakdown   # where the kernel's CPU goes
    python benchmarks/bench_widgets.py --scenario dashboard --page-trace 12   # where the page's time goes
    python benchmarks/bench_widgets.py --scenario dashboard --page-profile 20  # the page's JS by function

``--page-trace`` also writes Chromium's trace to ``benchmarks/results/page-trace-SCENARIO.json``
(open it in Perfetto or ``chrome://tracing``), and counts the page's layouts a second
(``page_layouts_per_s``) and those that started at the document (``page_document_layouts_per_s``:
something outside every contained box changed). With ``--trace-invalidations`` the trace also
names the node and the reason behind each style and layout invalidation
(``LayoutInvalidationTracking`` events); that costs the page time, so compare timings without it.

Results are printed and written to ``benchmarks/results/widgets.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
E2E = ROOT / "tests" / "e2e"  # its conftest starts JupyterLab and knows where Chromium is

SETUP = """
import asyncio, json, time, random
import agentlab, agentlab.ui as ui
from agentlab import ChildSpec, Supervisor
{prelude}
class Worker(agentlab.Agent):
    def handle_call(self, request, caller):
        return request

SUPS, PER = {sups}, {per}
rt = agentlab.Runtime(lag_threshold=None)
groups = [ChildSpec(f"g{{i}}", (Supervisor, ([ChildSpec(f"w{{j}}", Worker) for j in range(PER)],),
                               {{"intensity": 1_000_000, "period": 1}})) for i in range(SUPS)]
rt.start(Supervisor, groups, name="root", intensity=1_000_000, period=1)
await rt.settled()
if not {freeze}:  # the first live view freezes the heap unless told not to (agentlab.ui._heap)
    ui.freeze_heap(False)
N = len(rt.processes())
print(N)
"""

# --breakdown: the loop thread's CPU time in the views' parts, accumulated during the
# load (thread_time around each call; two clock reads per event, a few % of the load)
BREAKDOWN = """
import collections as _bc, time as _bt
import agentlab.ui._feed as _bfeed, agentlab.ui._pump as _bpump
BREAKDOWN = _bc.Counter()
def _account(cls, name, part):
    inner = getattr(cls, name)
    def timed(*a, **kw):
        t = _bt.thread_time()
        try:
            return inner(*a, **kw)
        finally:
            BREAKDOWN[part] += _bt.thread_time() - t
    setattr(cls, name, timed)
_account(_bfeed.Feed, "dispatch", "views")  # the view models, per event
_account(_bpump.Pump, "_send_delta", "deltas")  # build, pack and send a delta
_account(_bpump.Pump, "_publish_snapshot", "snapshots")  # rewrite the snapshot trait
import ipykernel.comm.comm as _bcomm
_account(_bcomm.BaseComm, "publish_msg", "comm_send")  # inside deltas/snapshots: the kernel's session
"""

VIEW = {
    "tree": "view = ui.SupervisionTree(rt, collapse={collapse}); view",
    "dashboard": "view = ui.dashboard(rt, collapse={collapse}); view",
    "none": "view = None",
}

LOAD = """
results = {{}}

import gc as _gc
GC = []
def _gc_watch(phase, info, _t=[0.0]):
    if phase == "start":
        _t[0] = time.perf_counter()
    else:
        GC.append((info["generation"], time.perf_counter() - _t[0]))
_gc.callbacks.append(_gc_watch)

LAG_AT = []  # (seconds into the load, lag) of every sample, to place the worst ones

LAG_CPU = []  # (lag, the loop thread's CPU time during that sample) of each sample

async def lag_probe(stop, out, step=0.005):
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    while not stop.is_set():
        t = loop.time()
        c = time.thread_time()
        await asyncio.sleep(step)
        lag = loop.time() - t - step
        out.append(lag)
        LAG_AT.append((round(t - t0, 3), lag))
        LAG_CPU.append((lag, time.thread_time() - c))

async def load(rate={rate}, seconds={seconds}):
    loop = asyncio.get_running_loop()
    rng = random.Random(1)
    stop = asyncio.Event()
    lags = []
    probe = loop.create_task(lag_probe(stop, lags))
    GC.clear()
    if "BREAKDOWN" in globals():
        BREAKDOWN.clear()
    LAG_AT.clear()
    LAG_CPU.clear()
    c0 = time.process_time()
    t0 = loop.time()
    killed = 0
    while (now := loop.time()) - t0 < seconds:
        due = int((now - t0) * rate)
        if killed < due:
            procs = rt.processes()
            for p in rng.sample(procs, min(3 * (due - killed), len(procs))):
                if killed < due and p.alive and p.path.rsplit("/", 1)[-1][0] == "w":  # workers only
                    rt.exit(p, "kill")
                    killed += 1
        await asyncio.sleep(0.01)
    elapsed = loop.time() - t0
    cpu = time.process_time() - c0
    stop.set()
    await probe
    lags.sort()
    results.update(killed=killed, seconds=elapsed, restarts_per_s=killed / elapsed,
                   cpu_ms_per_s=round(cpu / elapsed * 1000, 1),
                   lag_p50=lags[len(lags) // 2], lag_p99=lags[int(len(lags) * 0.99)], lag_max=lags[-1],
                   lag_samples=len(lags), processes=len(rt.processes()),
                   lag_worst=[[at, round(lag * 1000, 1)] for at, lag in sorted(LAG_AT, key=lambda x: -x[1])[:5]],
                   # while the page samples frames (the first 80% of the load), before the
                   # harness reads the page's counters and clicks
                   lag_max_while_sampling=max((lag for at, lag in LAG_AT if at < 0.8 * seconds), default=0.0),
                   gc_full_collections=sum(1 for g, _ in GC if g == 2),
                   gc_pause_max_ms=round(max((d for _, d in GC), default=0) * 1000, 1),
                   gc_ms_per_s=round(sum(d for _, d in GC) / elapsed * 1000, 1),
                   lag_p99_without_gc=_without_gc(lags, GC),
                   # the loop thread's own CPU time in the worst sample, and the most it
                   # used in any sample: how long the kernel's own work kept the loop
                   # busy, whatever the machine did to the thread meanwhile
                   lag_max_thread_cpu=max(LAG_CPU)[1] if LAG_CPU else 0.0,
                   lag_thread_cpu_max=max((cpu for _, cpu in LAG_CPU), default=0.0))
    if "BREAKDOWN" in globals():
        results["cpu_breakdown_ms_per_s"] = {{k: round(v / elapsed * 1000, 1) for k, v in BREAKDOWN.items()}}
    if view is not None:
        await ui.settle(view, within=60)
        views = getattr(view, "views", [view])
        results["messages"] = {{v._view_kind: v._pump.sent for v in views}}
    with open("results.json", "w") as f:
        json.dump(results, f)

def _without_gc(lags, gcs):
    # the p99 lag once the full collections' pauses are taken out (an estimate:
    # drop as many of the largest samples as there were full collections)
    big = sum(1 for g, _ in gcs if g == 2)
    rest = sorted(lags)[: max(1, len(lags) - big)]
    return rest[int(len(rest) * 0.99)]

task = asyncio.get_running_loop().create_task(load())
"""

FRAME_SAMPLER = """(seconds) => new Promise((resolve) => {
  const gaps = []; let last = performance.now(); const end = last + seconds * 1000;
  function tick(t) { gaps.push(t - last); last = t; if (t < end) requestAnimationFrame(tick); else resolve(gaps); }
  requestAnimationFrame(tick);
})"""


EXPAND_ALL = """(n) => new Promise((resolve, reject) => {
  const t0 = performance.now();
  for (const b of document.querySelectorAll('.al-tree button[data-action=expand]')) b.click();
  const check = () => {
    if (document.querySelectorAll('.al-tree .al-chip').length >= n)
      requestAnimationFrame(() => resolve(Math.round((performance.now() - t0) * 10) / 10));
    else if (performance.now() - t0 > 30000) reject(new Error('the chips did not all appear'));
    else requestAnimationFrame(check);
  };
  check();
})"""

CLICK = """() => new Promise((resolve) => {
  const rows = document.querySelectorAll('.al-tree .al-node');
  const row = rows[Math.min(3, rows.length - 1)];
  const panel = document.querySelector('.al-tree [data-role=details]');
  const t0 = performance.now();
  row.querySelector('.al-name').dispatchEvent(new MouseEvent('click', {bubbles: true}));
  // the panel is drawn in the click handler; wait for the frame that shows it
  requestAnimationFrame(() => resolve(Math.round((performance.now() - t0) * 10) / 10 + (panel.hidden ? 1e6 : 0)));
})"""


def run_cell(page: Any, index: int, wait: bool = True, timeout: float = 300_000) -> None:
    """Run cell ``index`` (through JupyterLab's command registry); wait until it finished."""
    before = page.evaluate(
        """(i) => { const nb = window.jupyterapp.shell.currentWidget.content; const n = nb.widgets[i].model.executionCount;
           nb.activeCellIndex = i; window.jupyterapp.commands.execute('notebook:run-cell'); return n; }""",
        index,
    )
    if wait:
        page.wait_for_function(
            """([i, before]) => { const w = window.jupyterapp.shell.currentWidget;
               const n = w.content.widgets[i].model.executionCount; const k = w.sessionContext.session?.kernel;
               return n !== null && n !== before && !!k && k.status === 'idle'; }""",
            arg=[index, before], timeout=timeout,
        )


def _page_metrics(cdp: Any) -> dict[str, float]:
    """Chromium's cumulative counters for the page (seconds of main-thread work, by kind)."""
    return {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}


def _profile_top(profile: dict[str, Any], top: int) -> dict[str, float]:
    """The page's CPU profile (CDP ``Profiler``) as self time per function, in ms per
    second of profile, the ``top`` largest (with ``(garbage collector)``, ``(program)``
    for the browser's own work on the main thread, and ``(idle)``)."""
    nodes = {n["id"]: n for n in profile["nodes"]}
    self_us: dict[str, float] = {}
    deltas = profile.get("timeDeltas", [])
    # timeDeltas[i] is the time from sample i - 1 to sample i: the time up to the next
    # sample is the sample's own
    for sample, dt in zip(profile.get("samples", [])[:-1], deltas[1:], strict=False):
        f = nodes[sample]["callFrame"]
        url = f.get("url", "").rsplit("/", 1)[-1].split("?")[0]
        key = f"{f['functionName'] or '(anonymous)'} {url}:{f.get('lineNumber', -1) + 1}" if url else f["functionName"]
        self_us[key] = self_us.get(key, 0.0) + dt
    return _ms_per_s(self_us, (profile["endTime"] - profile["startTime"]) / 1e6, top)


def _main_thread_events(trace: dict[str, Any]) -> list[dict[str, Any]]:
    """The trace's complete events (``ph`` X, with a duration) on renderer main threads."""
    all_events = trace.get("traceEvents", [])
    main = {(e["pid"], e["tid"]) for e in all_events
            if e.get("ph") == "M" and e.get("name") == "thread_name" and e["args"].get("name") == "CrRendererMain"}
    return [e for e in all_events if e.get("ph") == "X" and "dur" in e and (e["pid"], e["tid"]) in main]


def _trace_top(trace: dict[str, Any], top: int) -> dict[str, float]:
    """Chromium's timeline trace of the page as self time per event name on the
    renderer's main thread, in ms per second of trace, the ``top`` largest."""
    events = _main_thread_events(trace)
    if not events:
        return {}
    by_thread: dict[Any, list[dict[str, Any]]] = {}
    for e in events:
        by_thread.setdefault((e["pid"], e["tid"]), []).append(e)
    self_us: dict[str, float] = {}
    t0 = min(e["ts"] for e in events)
    t1 = max(e["ts"] + e["dur"] for e in events)
    for evs in by_thread.values():
        evs.sort(key=lambda e: (e["ts"], -e["dur"]))
        stack: list[dict[str, Any]] = []
        for e in evs:  # self time: an event's duration less its direct children's
            while stack and stack[-1]["ts"] + stack[-1]["dur"] <= e["ts"]:
                stack.pop()
            if stack:
                parent = stack[-1]["name"]
                self_us[parent] = self_us.get(parent, 0.0) - e["dur"]
            self_us[e["name"]] = self_us.get(e["name"], 0.0) + e["dur"]
            stack.append(e)
    return _ms_per_s(self_us, (t1 - t0) / 1e6, top)


def _layout_roots(trace: dict[str, Any]) -> dict[str, float]:
    """How often the page's main thread ran a layout, per second of trace, and how many of
    those started at the document (``#document``: something outside every relayout
    boundary, such as a contained view body, changed), with their time in ms per second.
    Chromium names each Layout's roots in ``args.endData.layoutRoots``."""
    events = _main_thread_events(trace)
    if not events:
        return {}
    seconds = (max(e["ts"] + e["dur"] for e in events) - min(e["ts"] for e in events)) / 1e6 or 1.0
    layouts = [e for e in events if e["name"] == "Layout"]
    whole = [e for e in layouts if any(r.get("nodeName") == "#document" for r in
                                       (e.get("args", {}).get("endData") or {}).get("layoutRoots", []))]
    return {"layouts_per_s": round(len(layouts) / seconds, 1),
            "document_layouts_per_s": round(len(whole) / seconds, 1),
            "document_layout_ms_per_s": round(sum(e["dur"] for e in whole) / 1000 / seconds, 1)}


def _ms_per_s(self_us: dict[str, float], seconds: float, top: int) -> dict[str, float]:
    """The ``top`` largest of ``self_us`` (µs each), as ms per second of ``seconds``."""
    ranked = sorted(self_us.items(), key=lambda kv: -kv[1])[:top]
    return {k: round(v / 1000 / (seconds or 1.0), 1) for k, v in ranked}


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * q))]


def scenario(browser: Any, lab: Any, name: str, view: str, collapse: int, args: argparse.Namespace,
             chips: bool = False, freeze: bool = True) -> dict[str, Any]:
    prelude = Path(args.kernel_prelude).read_text() if args.kernel_prelude else ""
    if args.breakdown:
        prelude += BREAKDOWN
    cells = [SETUP.format(sups=args.sups, per=args.per, freeze=freeze, prelude=prelude), VIEW[view].format(collapse=collapse),
             LOAD.format(rate=args.rate, seconds=args.seconds), "await task"]
    nb = {"cells": [{"cell_type": "code", "execution_count": None, "id": f"c{i}", "metadata": {}, "outputs": [],
                     "source": c} for i, c in enumerate(cells)],
          "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
          "nbformat": 4, "nbformat_minor": 5}
    (lab.root / f"{name}.ipynb").write_text(json.dumps(nb))
    results_file = lab.root / "results.json"
    results_file.unlink(missing_ok=True)
    page = browser.new_page(viewport={"width": 1440, "height": 1600})
    page.goto(f"{lab.base}/lab/tree/{name}.ipynb?reset")
    page.wait_for_function("() => window.jupyterapp?.shell.currentWidget?.sessionContext", timeout=60_000)
    page.wait_for_function("""async () => { const w = window.jupyterapp.shell.currentWidget; await w.sessionContext.ready;
        const k = w.sessionContext.session?.kernel; return !!k && k.status === 'idle'; }""", timeout=60_000)
    out: dict[str, Any] = {"scenario": name, "view": view, "collapse": collapse}

    t = time.monotonic()
    run_cell(page, 0)
    out["setup_s"] = round(time.monotonic() - t, 2)

    if view != "none":
        expected = args.sups * args.per + args.sups + 1
        t0 = page.evaluate("() => performance.now()")
        run_cell(page, 1, wait=False)
        page.wait_for_function(
            f"() => document.querySelector('.al-tree [data-role=tree]')?.getAttribute('data-count') === '{expected}'",
            timeout=120_000, polling="raf")
        t1 = page.evaluate("() => performance.now()")
        out["nodes"] = expected
        out["first_render_end_to_end_ms"] = round(t1 - t0, 1)
        out["first_render_browser_ms"] = float(page.locator(".al-tree").first.get_attribute("data-first-render-ms"))
        out["rows_in_dom"] = page.locator(".al-tree .al-node").count()
        page.wait_for_timeout(1000)
        if chips:  # open every group: 10,000 chips
            out["expand_all_ms"] = page.evaluate(EXPAND_ALL, args.sups * args.per)
        out["chips_in_dom"] = page.locator(".al-tree .al-chip").count()
    else:
        run_cell(page, 1)

    run_cell(page, 2)  # start the load (a background task)
    cdp = page.context.new_cdp_session(page)
    cdp.send("Performance.enable")
    if args.page_profile:
        cdp.send("Profiler.enable")
        cdp.send("Profiler.setSamplingInterval", {"interval": 500})
        cdp.send("Profiler.start")
    if args.page_trace:
        categories = ["devtools.timeline", "disabled-by-default-devtools.timeline"]
        if args.trace_invalidations:  # what invalidated style and layout, by node and reason
            categories.append("disabled-by-default-devtools.timeline.invalidationTracking")
        browser.start_tracing(page=page, categories=categories)
    m0 = _page_metrics(cdp)
    frames = page.evaluate(FRAME_SAMPLER, args.seconds * 0.8)
    m1 = _page_metrics(cdp)
    if args.page_trace:
        raw = browser.stop_tracing()
        (ROOT / "benchmarks" / "results").mkdir(exist_ok=True)
        (ROOT / "benchmarks" / "results" / f"page-trace-{name}.json").write_bytes(raw)  # for Perfetto
        trace = json.loads(raw)
        out["page_trace_ms_per_s"] = _trace_top(trace, args.page_trace)
        out.update({f"page_{k}": v for k, v in _layout_roots(trace).items()})
    if args.page_profile:
        out["page_profile_ms_per_s"] = _profile_top(cdp.send("Profiler.stop")["profile"], args.page_profile)
    wall = m1["Timestamp"] - m0["Timestamp"]
    for key, name in [("TaskDuration", "busy"), ("ScriptDuration", "script"), ("LayoutDuration", "layout"),
                      ("RecalcStyleDuration", "style")]:
        out[f"page_{name}_ms_per_s"] = round((m1[key] - m0[key]) / wall * 1000, 1)
    if view != "none":
        # a click during the load: how long until the details panel shows?
        out["click_to_details_ms"] = page.evaluate(CLICK)
    frames = frames[2:]
    out.update(frames=len(frames), frame_p50_ms=round(pct(frames, 0.5), 1), frame_p95_ms=round(pct(frames, 0.95), 1),
               frame_p99_ms=round(pct(frames, 0.99), 1), frame_max_ms=round(max(frames), 1),
               frames_over_50ms_pct=round(100 * sum(f > 50 for f in frames) / len(frames), 2))
    run_cell(page, 3, wait=False)
    deadline = time.monotonic() + 300
    while not results_file.exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    k = json.loads(results_file.read_text())
    out.update({f"kernel_{key}": (round(v * 1000, 1) if key.startswith(("lag_p", "lag_max", "lag_thread")) else v)
                for key, v in k.items()})
    out["iopub_rate_exceeded"] = "IOPub message rate exceeded" in lab.log.read_text(errors="replace")
    page.evaluate("() => window.jupyterapp.commands.execute('kernelmenu:shutdown')")
    page.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sups", type=int, default=50)
    ap.add_argument("--per", type=int, default=200)
    ap.add_argument("--rate", type=int, default=1000, help="restarts per second")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--kernel-prelude", metavar="FILE",
                    help="Python run in the kernel after importing agentlab, before the tree starts "
                         "(to measure a proposed change, e.g. a monkeypatch of the runtime)")
    ap.add_argument("--page-profile", type=int, metavar="TOP", default=0,
                    help="profile the page's main thread (CDP Profiler) while frames are sampled; "
                         "report the TOP functions by self time (page_profile_ms_per_s)")
    ap.add_argument("--page-trace", type=int, metavar="TOP", default=0,
                    help="record Chromium's timeline trace while frames are sampled; report the TOP "
                         "event kinds on the page's main thread by self time (page_trace_ms_per_s)")
    ap.add_argument("--trace-invalidations", action="store_true",
                    help="with --page-trace: also record which node invalidated style or layout, and why "
                         "(Chromium's invalidationTracking category; it costs the page time, so leave it "
                         "off when comparing timings)")
    ap.add_argument("--breakdown", action="store_true",
                    help="also account the kernel loop's CPU time to the views, delta and snapshot "
                         "sends and the comm layer during the load (cpu_breakdown_ms_per_s; costs a few %%)")
    names = ["baseline", "tree", "tree-chips", "tree-rows", "dashboard", "dashboard-nofreeze"]
    ap.add_argument("--scenario", action="append", choices=names)
    args = ap.parse_args()
    wanted = args.scenario or names
    from playwright.sync_api import sync_playwright

    sys.path.insert(0, str(E2E))  # imported here: the module's helpers load without it
    from conftest import CHROMIUM, CHROMIUM_ARGS, start_lab, stop_lab

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        lab = start_lab(Path(tmp))
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
                plan = {  # view, collapse threshold, expand every group, the first view freezes the heap
                    "baseline": ("none", 50, False, True),
                    "tree": ("tree", 50, False, True),
                    "tree-chips": ("tree", 50, True, True),
                    "tree-rows": ("tree", 1_000_000, False, True),
                    "dashboard": ("dashboard", 50, False, True),
                    "dashboard-nofreeze": ("dashboard", 50, False, False),
                }
                for name in wanted:
                    view, collapse, chips, freeze = plan[name]
                    r = scenario(browser, lab, name, view, collapse, args, chips=chips, freeze=freeze)
                    results.append(r)
                    print(json.dumps(r), flush=True)
                browser.close()
        finally:
            stop_lab(lab)
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    # a run with a prelude measures a proposal, not this code: it goes to its own file
    name = "widgets-prelude.json" if args.kernel_prelude else "widgets.json"
    for r in results:
        r["kernel_prelude"] = args.kernel_prelude
        r["breakdown"] = args.breakdown
    (out / name).write_text(json.dumps(results, indent=2))
    print()
    cols = ["scenario", "first_render_browser_ms", "first_render_end_to_end_ms", "expand_all_ms", "frame_p50_ms",
            "frame_p99_ms", "frame_max_ms", "frames_over_50ms_pct", "click_to_details_ms", "page_busy_ms_per_s",
            "kernel_restarts_per_s", "kernel_cpu_ms_per_s",
            "kernel_lag_p50", "kernel_lag_p99", "kernel_lag_max", "kernel_lag_max_while_sampling", "kernel_lag_p99_without_gc",
            "kernel_lag_max_thread_cpu", "kernel_lag_thread_cpu_max",
            "kernel_gc_pause_max_ms", "kernel_gc_full_collections"]
    print(" | ".join(cols))
    for r in results:
        print(" | ".join(str(r.get(c, "-")) for c in cols))


if __name__ == "__main__":
    main()
