#!/usr/bin/env python3
"""agentlab's supervisor restart benchmarks, side by side with the BEAM.

Same workloads, output format and percentile rule as
``benchmarks/beam/bench.escript`` and ``benchmarks/baseline_asyncio.py``.

Usage
    python benchmarks/bench_supervision.py WORKLOAD N [KEY=VALUE ...] [--recorder] [--no-gc]

    WORKLOAD            N (suggested)   value / unit
    restart_latency     1000            median crash -> restarted child's init ran   us
    restart_throughput  20000           restarts per second                          restarts/s

    python benchmarks/bench_supervision.py compare [ROUNDS]
        runs this script and the BEAM escript side by side, round-robin (ROUNDS,
        default 3: every round runs every configuration once, each in a fresh
        process), prints every JSON line to stderr and a table of medians
        (min-max) and ratios to stdout. Configurations: restart_latency 1000;
        restart_throughput 20000 with period 5 and with period=1; and 2000.

    Options (as the escript's):
      intensity=I   supervisor intensity (default 10*N + 10)
      period=P      supervisor period in seconds (default 5)
    --recorder      also record every event into an agentlab.trace.Recorder (columnar)
    --no-gc         gc.disable() for the measured part (default: GC on)
    --lifecycle-only  message-level events off (lifecycle events are always recorded)

Output: exactly one JSON object on stdout, for example
    {"system": "agentlab", "workload": "restart_latency", "n": 1000,
     "value": 12.3, "unit": "us", "extra": {...}}
Exit code 0 on success, 2 on bad usage.

What runs (the same as the BEAM's, with agentlab's full semantics):
- ``Runtime()`` with its defaults: the loop's real clock, every lifecycle event
  recorded in ``rt.events`` (spawn, link, init, exit, exit signals, the
  supervisor's child_terminated / restart / child_start reports), message
  tracing on, the loop-lag watchdog on.
- A real :class:`agentlab.Supervisor` (one_for_one, the OTP restart-intensity
  window, reports) over one permanent :class:`agentlab.Agent` worker with a
  plain ``def init`` and ``shutdown="brutal_kill"``, as the escript's child spec.
- Each round: t0, ``rt.exit(pid, "boom")`` from outside any process (OTP
  ``exit(Pid, boom)``), and the restarted worker's ``init`` stamps t1 and wakes
  the benchmark (the escript's worker sends it a message). Latency = t1 - t0.
- restart_latency: value = median in us (nearest rank); extra has p99, mean,
  min, max. restart_throughput: the same loop, N rounds back to back; value =
  N / elapsed seconds.

Intensity and period (restart_throughput). Both systems apply OTP's rule:
count restarts within ``period`` whole seconds, give up past ``intensity``. OTP
25 keeps one list entry per restart in the window and walks that list on every
restart (``supervisor:add_restart/3``: ``lists:takewhile`` + ``length``), so its
cost per restart grows with the restarts in the window: with N=20000 and the
default period of 5 s every restart of the run is in the window and the BEAM
spends most of its time there. agentlab keeps the same window as per-second
counts (O(1) per restart, identical decisions). For a like-for-like figure, run
both with the same small window too (``period=1``) and with a small N (2000),
where the list stays short; the README of a run should quote all three.
"""

from __future__ import annotations

import asyncio
import gc
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agentlab import Agent, ChildSpec, Runtime, Supervisor

_pc = time.perf_counter_ns


class _Round:
    """Shared between the benchmark and the worker's init."""

    __slots__ = ("pid", "t1", "waiter")

    def __init__(self) -> None:
        self.waiter: asyncio.Future[Any] | None = None
        self.t1 = 0
        self.pid: Any = None


class Worker(Agent):
    """The escript's worker: its init stamps t1 and tells the benchmark it runs."""

    def init(self, rnd: _Round) -> None:
        rnd.t1 = _pc()
        rnd.pid = self.pid
        w = rnd.waiter
        if w is not None and not w.done():
            w.set_result(None)


async def restart_loop(
    n: int, intensity: int, period: int, recorder: bool, messages: bool = True
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    Recorder = None
    if recorder:  # imported before the runtime exists: pyarrow's import stalls the loop
        from agentlab.trace import Recorder
    rt = Runtime(trace_messages=messages)
    rec = Recorder(rt) if Recorder is not None else None
    rnd = _Round()
    rnd.waiter = loop.create_future()
    sup = rt.start(
        Supervisor,
        [ChildSpec("w", (Worker, rnd), restart="permanent", shutdown="brutal_kill")],
        strategy="one_for_one",
        intensity=intensity,
        period=period,
    )
    await rnd.waiter
    lat = []
    exit_ = rt.exit
    new_future = loop.create_future
    t_start = _pc()
    for _ in range(n):
        old = rnd.pid
        rnd.waiter = waiter = new_future()
        t0 = _pc()
        exit_(old, "boom")
        await waiter
        lat.append(rnd.t1 - t0)
        assert rnd.pid is not old
    t_end = _pc()
    alive = sup.alive
    n_events = rt._seq
    dropped = rt.events.dropped
    await rt.shutdown()
    if rec is not None:
        rec.stop()
    return {
        "lat": lat,
        "elapsed": t_end - t_start,
        "alive": alive,
        "events": n_events,
        "events_dropped_from_memory_log": dropped,
        "leftover_tasks": len(rt._tasks),
    }


def percentile(sorted_vals: list[int], pct: float) -> int:
    # nearest rank, as bench.escript and baseline_asyncio.py
    k = max(1, min(len(sorted_vals), -(-pct * len(sorted_vals) // 100)))
    return sorted_vals[int(k) - 1]


COMPARE = [
    ("restart_latency", "1000"),
    ("restart_throughput", "20000"),
    ("restart_throughput", "20000", "period=1"),
    ("restart_throughput", "2000"),
]


def compare(rounds: int) -> int:
    import subprocess

    here = Path(__file__).resolve().parent
    cmds = {
        "agentlab": [sys.executable, str(here / "bench_supervision.py")],
        "beam": ["escript", str(here / "beam" / "bench.escript")],
    }
    results: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for _ in range(rounds):
        for cfg in COMPARE:
            for system, cmd in cmds.items():
                out = subprocess.run([*cmd, *cfg], capture_output=True, text=True, check=True)
                d = json.loads(out.stdout.strip().splitlines()[-1])
                sys.stderr.write(json.dumps(d) + "\n")
                results.setdefault((" ".join(cfg), system), []).append(d)
    print("| workload | agentlab | BEAM (+S 1:1) | agentlab / BEAM |")
    print("|---|---|---|---|")
    for cfg in COMPARE:
        key = " ".join(cfg)
        a, b = results[(key, "agentlab")], results[(key, "beam")]
        va, vb = [x["value"] for x in a], [x["value"] for x in b]
        ma, mb = statistics.median(va), statistics.median(vb)
        unit = a[0]["unit"]

        def cell(m: float, v: list[float], rows: list[dict[str, Any]]) -> str:
            text = f"{m:,.1f} ({min(v):,.1f}-{max(v):,.1f}) {unit}"
            if unit == "us":
                p99 = statistics.median(r["extra"]["p99_us"] for r in rows)
                text += f", p99 {p99:,.1f}"
            return text

        print(f"| {key} | {cell(ma, va, a)} | {cell(mb, vb, b)} | {ma / mb:.2f} |")
    return 0


def main(argv: list[str]) -> int:
    if argv and argv[0] == "compare":
        return compare(int(argv[1]) if len(argv) > 1 else 3)
    usage = (
        "usage: python bench_supervision.py WORKLOAD N [intensity=I] [period=P] "
        "[--recorder] [--no-gc] [--lifecycle-only]\nworkloads: restart_latency restart_throughput\n"
    )
    flags = {a for a in argv if a.startswith("--")}
    args = [a for a in argv if not a.startswith("--")]
    if len(args) < 2 or args[0] not in ("restart_latency", "restart_throughput"):
        sys.stderr.write(usage)
        return 2
    if not flags <= {"--recorder", "--no-gc", "--lifecycle-only"}:
        sys.stderr.write(usage)
        return 2
    workload = args[0]
    try:
        n = int(args[1])
        kv = dict(a.split("=", 1) for a in args[2:])
        intensity = int(kv.pop("intensity", 10 * n + 10))
        period = int(kv.pop("period", 5))
    except ValueError:
        sys.stderr.write(usage)
        return 2
    if kv:
        sys.stderr.write(f"unknown options {sorted(kv)}\n" + usage)
        return 2
    if "--no-gc" in flags:
        gc.disable()
    res = asyncio.run(
        restart_loop(n, intensity, period, "--recorder" in flags, "--lifecycle-only" not in flags)
    )
    extra: dict[str, Any] = {}
    if workload == "restart_latency":
        s = sorted(res["lat"])
        med = percentile(s, 50) / 1000.0
        value, unit = med, "us"
        extra.update(
            median_us=med,
            p99_us=percentile(s, 99) / 1000.0,
            mean_us=statistics.fmean(s) / 1000.0,
            min_us=s[0] / 1000.0,
            max_us=s[-1] / 1000.0,
        )
    else:
        sec = res["elapsed"] / 1e9
        value, unit = n / sec, "restarts/s"
        extra["total_seconds"] = sec
    extra.update(
        intensity=intensity,
        period=period,
        supervisor_alive=res["alive"],
        events_emitted=res["events"],
        events_dropped_from_memory_log=res["events_dropped_from_memory_log"],
        recorder=("--recorder" in flags),
        leftover_tasks_after_shutdown=res["leftover_tasks"],
        python=platform.python_version(),
        implementation=platform.python_implementation(),
        gc_enabled=("--no-gc" not in flags),
    )
    out = {
        "system": "agentlab",
        "workload": workload,
        "n": n,
        "value": float(value),
        "unit": unit,
        "extra": extra,
    }
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
