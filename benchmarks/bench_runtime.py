#!/usr/bin/env python3
"""agentlab's side of the runtime benchmarks (the same workloads as the baselines).

Usage
    python benchmarks/bench_runtime.py WORKLOAD N [--trace=default|lifecycle|off] [--no-gc] [--record]

    WORKLOAD            N (suggested)   value / unit
    idle_memory         100000          bytes per idle agent (tracemalloc)      bytes/process
    spawn               1000000         agents started per second               spawns/s
    send                1000000         messages per second                     msgs/s
    ping_pong           200000          round trips per second                  round_trips/s
    call                200000          call round trips per second             calls/s
    restart_latency     1000            median crash -> restarted init, in us   us
    restart_throughput  20000           restarts per second                     restarts/s
    tracing             200000          message-level tracing cost (ratio)      ratio
    breakdown           20000           CPU µs per operation (see extra)         us

    --trace=default    Runtime() defaults: lifecycle events and message-level events
    --trace=lifecycle  Runtime(trace_messages=False): lifecycle events only
    --trace=off        no events at all (a measurement device: the runtime's emit is
                       replaced by a no-op; there is no such user setting)
    --no-gc            gc.disable() for the measured part (default: GC on)
    --record           attach an ``agentlab.trace.Recorder`` (its defaults) to every
                       runtime the workload makes; extra then has the events it
                       recorded and the CPU seconds of turning them into its table
                       afterwards (``record_read_cpu_seconds``, not in the value)

Output: exactly one JSON object on stdout, for example
    {"system": "agentlab", "workload": "ping_pong", "n": 200000,
     "value": 1000000.0, "unit": "round_trips/s", "extra": {...}}
the protocol of ``baseline_asyncio.py`` and ``beam/bench.escript``, whose
workload definitions these follow. The process ends with ``os._exit(0)``
right after printing, so tearing down N live agents is not timed.

Workloads, as agentlab runs them:
- idle_memory: start N agents (an ``Agent`` subclass with a plain ``init``; the
  benchmark keeps no pid list). value = tracemalloc growth / N with the event
  log emptied first (the log is bounded, 100k events by default, so it does not
  grow with N); extra.with_event_log_bytes counts it too, and
  extra.rss_bytes_per_process is the RSS growth / N of a first round.
- spawn: start N agents; each ``init`` has run when ``start`` returns. extra
  has the total seconds and the RSS growth.
- send: N ``rt.send`` calls from outside any process to one agent whose plain
  ``handle_info`` counts; the clock stops when it has counted N.
- ping_pong: two agents with plain ``handle_info`` exchange ping/pong N times.
- call: an ``async def`` caller outside the runtime awaits ``rt.call`` N times;
  the agent's plain ``handle_call`` replies at once.
- restart_latency: an ``agentlab.Supervisor`` (one_for_one, intensity 10N+10 in
  5 s) with one worker. Each round: t0, ``rt.exit(worker, "boom")``, and the
  restarted worker's ``init`` takes t1. value = median of t1 - t0.
- restart_throughput: the same, N rounds back to back; value = N / seconds.
- tracing: ping_pong and spawn+exit, each with tracing off, lifecycle-only and
  default; value = ping-pong time with message tracing on / off. extra has
  every time and ratio.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import platform
import statistics
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import agentlab
from agentlab import Agent, Runtime

TRACE = "default"
RECORD = False
RECORDERS: list[Any] = []  # with --record: one agentlab.trace.Recorder per runtime made


def make_runtime(trace: str | None = None, **kw: Any) -> Runtime:
    trace = trace or TRACE
    rt = Runtime(trace_messages=(trace == "default"), lag_threshold=None, **kw)
    if trace == "off":
        rt._emit = rt._emit_lean = _no_emit  # type: ignore[method-assign]
    if RECORD:
        from agentlab.trace import Recorder  # imported before the workload (see main)

        RECORDERS.append(Recorder(rt))
    return rt


def _no_emit(
    kind: str, p: Any, peer: Any = None, reason: Any = None, data: Any = None, *values: Any
) -> None:
    """The runtime's emit with nothing recorded: the signature of ``Runtime._emit``, so a
    call costs what the call itself costs (``*args, **kwargs`` would build a tuple and a
    dict per event, and make "off" look slower than a runtime with no events)."""


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


# ---------------------------------------------------------------------------- agents


class Idle(Agent):
    """An idle agent: no state, a plain init."""


class Counter(Agent):
    def init(self, n: int, done: asyncio.Future) -> None:
        self.n = n
        self.count = 0
        self.done = done

    def handle_info(self, msg: Any) -> None:
        self.count += 1
        if self.count == self.n:
            self.done.set_result(self.count)


class Ponger(Agent):
    def handle_info(self, msg: Any) -> None:
        self.send(msg, "pong")


class Pinger(Agent):
    def init(self, peer: Any, n: int, done: asyncio.Future) -> None:
        self.peer = peer
        self.left = n
        self.done = done

    def handle_info(self, msg: Any) -> None:
        if msg == "go" or msg == "pong":
            if self.left == 0:
                self.done.set_result(None)
                return
            self.left -= 1
            self.send(self.peer, self.pid)


class Server(Agent):
    def handle_call(self, request: Any, caller: Any) -> Any:
        return "pong"


# ---------------------------------------------------------------------------- workloads


async def w_idle_memory(n: int):
    # Round 1: RSS growth (cross-check only: allocator slack, page granularity).
    rt = make_runtime()
    gc.collect()
    r0 = rss_bytes()
    start = rt.start
    for _ in range(n):
        start(Idle)
    r1 = rss_bytes()
    for p in rt.processes():
        rt._finish(p, "kill")  # fast teardown of round 1, not measured
    rt.events.clear()
    await rt.shutdown()
    del rt
    gc.collect()
    # Round 2: tracemalloc (exact live Python allocations) = the value.
    tracemalloc.start()
    gc.collect()
    before = tracemalloc.get_traced_memory()[0]
    rt = make_runtime()
    start = rt.start
    for _ in range(n):
        start(Idle)
    gc.collect()
    with_log = tracemalloc.get_traced_memory()[0]
    events = len(rt.events)
    rt.events.clear()
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert len(rt.processes()) == n
    return (
        (after - before) / n,
        "bytes/process",
        {
            "tracemalloc_delta_bytes": after - before,
            "with_event_log_bytes": (with_log - before) / n,
            "events_in_log": events,
            "rss_bytes_per_process": (r1 - r0) / n,
            "note": "per agent: Pid record + Agent instance + runtime tables (event log excluded)",
        },
    )


async def w_spawn(n: int):
    rt = make_runtime()
    gc.collect()
    r0 = rss_bytes()
    start = rt.start
    t0 = time.perf_counter()
    for _ in range(n):
        start(Idle)
    t1 = time.perf_counter()
    r1 = rss_bytes()
    assert len(rt.processes()) == n
    s = t1 - t0
    return n / s, "spawns/s", {"total_seconds": s, "total_memory_bytes": r1 - r0}


async def w_send(n: int):
    rt = make_runtime()
    done = rt.loop.create_future()
    pid = rt.start(Counter, n, done)
    send = rt.send
    t0 = time.perf_counter()
    for _ in range(n):
        send(pid, "msg")
    counted = await done
    t1 = time.perf_counter()
    assert counted == n
    s = t1 - t0
    return n / s, "msgs/s", {"total_seconds": s}


async def ping_pong_once(n: int, trace: str | None = None) -> float:
    rt = make_runtime(trace)
    done = rt.loop.create_future()
    pong = rt.start(Ponger)
    ping = rt.start(Pinger, pong, n, done)
    t0 = time.perf_counter()
    rt.send(ping, "go")
    await done
    t1 = time.perf_counter()
    await rt.shutdown()
    return t1 - t0


async def w_ping_pong(n: int):
    s = await ping_pong_once(n)
    return n / s, "round_trips/s", {"total_seconds": s}


async def w_call(n: int):
    rt = make_runtime()
    srv = rt.start(Server)
    call = rt.call
    await call(srv, "ping")
    t0 = time.perf_counter()
    for _ in range(n):
        r = await call(srv, "ping")
    t1 = time.perf_counter()
    assert r == "pong"
    s = t1 - t0
    return n / s, "calls/s", {"total_seconds": s}


class Worker(Agent):
    """Stamps the time its init ran and hands its pid to the benchmark."""

    def init(self, st: dict) -> None:
        st["t"] = time.perf_counter_ns()
        st["pid"] = self.pid
        w = st.get("waiter")
        if w is not None and not w.done():
            w.set_result(self.pid)


async def restart_loop(n: int):
    if not hasattr(agentlab, "Supervisor"):
        raise SystemExit("restart workloads need agentlab.Supervisor")
    from agentlab import ChildSpec, Supervisor

    rt = make_runtime()
    loop = rt.loop
    st: dict = {}
    sup = await rt.start_async(
        Supervisor,
        [ChildSpec("w", (Worker, st), restart="permanent", shutdown="brutal_kill")],
        strategy="one_for_one",
        intensity=10 * n + 10,
        period=5,
    )
    pid = st["pid"]
    lat = []
    t_start = time.perf_counter_ns()
    for _ in range(n):
        st["waiter"] = w = loop.create_future()
        t0 = time.perf_counter_ns()
        rt.exit(pid, "boom")
        new = await w
        assert new is not pid
        lat.append(st["t"] - t0)
        pid = new
    t_end = time.perf_counter_ns()
    return lat, t_end - t_start, sup.alive


def percentile(sorted_vals: list[int], pct: float) -> int:
    # nearest rank, as bench.escript and baseline_asyncio.py
    k = max(1, min(len(sorted_vals), -(-pct * len(sorted_vals) // 100)))
    return sorted_vals[int(k) - 1]


async def w_restart_latency(n: int):
    lat, _elapsed, alive = await restart_loop(n)
    s = sorted(lat)
    med = percentile(s, 50) / 1000.0
    return (
        med,
        "us",
        {
            "median_us": med,
            "p99_us": percentile(s, 99) / 1000.0,
            "mean_us": statistics.fmean(s) / 1000.0,
            "min_us": s[0] / 1000.0,
            "max_us": s[-1] / 1000.0,
            "supervisor_alive": alive,
        },
    )


async def w_restart_throughput(n: int):
    _lat, elapsed, alive = await restart_loop(n)
    sec = elapsed / 1e9
    return n / sec, "restarts/s", {"total_seconds": sec, "supervisor_alive": alive}


async def spawn_exit_once(n: int, trace: str) -> float:
    rt = make_runtime(trace)
    start, finish = rt.start, rt._finish
    t0 = time.perf_counter()
    for _ in range(n):
        finish(start(Idle), "normal")
    t1 = time.perf_counter()
    await rt.shutdown()
    return t1 - t0


async def w_tracing(n: int):
    modes = ("off", "lifecycle", "default")
    times: dict[str, dict[str, list[float]]] = {"ping_pong": {}, "spawn_exit": {}}
    for _ in range(3):  # interleaved repeats; the best of 3 of each
        for m in modes:
            times["ping_pong"].setdefault(m, []).append(await ping_pong_once(n, m))
            times["spawn_exit"].setdefault(m, []).append(await spawn_exit_once(n // 2, m))
            gc.collect()
    best = {w: {m: min(v) for m, v in d.items()} for w, d in times.items()}
    extra: dict[str, Any] = {"seconds_best_of_3": best}
    for w, d in best.items():
        extra[f"{w}_lifecycle_vs_off"] = d["lifecycle"] / d["off"]
        extra[f"{w}_default_vs_off"] = d["default"] / d["off"]
    value = best["ping_pong"]["default"] / best["ping_pong"]["lifecycle"]
    extra["note"] = (
        "value = ping-pong time with message events / without; "
        "spawn_exit_lifecycle_vs_off is the cost of lifecycle events on a spawn-heavy load"
    )
    return value, "ratio", extra


async def w_breakdown(n: int):
    """Where the time goes: CPU µs per operation (process_time, best of 5 interleaved
    repeats, so other processes on a shared machine disturb it less than wall time)."""
    loop = asyncio.get_running_loop()
    cpu = time.process_time
    res: dict[str, list[float]] = {}

    def note(key: str, t0: float, count: int) -> None:
        res.setdefault(key, []).append((cpu() - t0) / count * 1e6)

    for _ in range(5):
        t0 = cpu()
        for _ in range(n):
            f = loop.create_future()
            loop.call_soon(loop.call_soon, f.set_result, None)
            await f
        note("floor: a future resolved two loop iterations later", t0, n)
        for trace in ("off", "lifecycle", "default"):
            rt = make_runtime(trace)
            done = loop.create_future()
            pid = rt.start(Counter, n, done)
            t0 = cpu()
            for _ in range(n):
                rt.send(pid, "msg")
            note(f"send from outside [{trace}]", t0, n)
            t0 = cpu()
            await done
            note(f"handle one message inline [{trace}]", t0, n)
            srv = rt.start(Server)
            for timeout in (5.0, None):
                t0 = cpu()
                for _ in range(n):
                    await rt.call(srv, "ping", timeout)
                note(f"call, timeout={timeout} [{trace}]", t0, n)
            t0 = cpu()
            for _ in range(n):
                rt.start(Idle)
            note(f"start an idle agent [{trace}]", t0, n)
            await rt.shutdown()
            gc.collect()
        for trace in ("off", "default"):
            t0 = cpu()
            await ping_pong_once(n, trace)
            note(f"ping-pong round trip [{trace}]", t0, n)
    best = {k: round(min(v), 3) for k, v in res.items()}
    return best["call, timeout=5.0 [default]"], "us", {"cpu_us_per_op_best_of_5": best}


WORKLOADS = {
    "breakdown": w_breakdown,
    "idle_memory": w_idle_memory,
    "spawn": w_spawn,
    "send": w_send,
    "ping_pong": w_ping_pong,
    "call": w_call,
    "restart_latency": w_restart_latency,
    "restart_throughput": w_restart_throughput,
    "tracing": w_tracing,
}

USAGE = (
    "usage: python bench_runtime.py WORKLOAD N [--trace=default|lifecycle|off] [--no-gc] [--record]\n"
    "workloads: " + " ".join(WORKLOADS) + "\n"
)


def main(argv: list[str]) -> int:
    global TRACE, RECORD
    flags = [a for a in argv if a.startswith("--")]
    args = [a for a in argv if not a.startswith("--")]
    if len(args) != 2 or args[0] not in WORKLOADS:
        sys.stderr.write(USAGE)
        return 2
    for f in flags:
        if f.startswith("--trace=") and f.split("=", 1)[1] in ("default", "lifecycle", "off"):
            TRACE = f.split("=", 1)[1]
        elif f == "--record":
            RECORD = True
            import agentlab.trace  # noqa: F401  (pandas and pyarrow load here, not timed)
        elif f != "--no-gc":
            sys.stderr.write(USAGE)
            return 2
    workload = args[0]
    try:
        n = int(args[1])
    except ValueError:
        sys.stderr.write(USAGE)
        return 2
    if "--no-gc" in flags:
        gc.disable()

    async def run_and_report() -> None:
        cpu0 = time.process_time()
        value, unit, extra = await WORKLOADS[workload](n)
        extra["cpu_seconds"] = time.process_time() - cpu0  # the whole workload, setup included
        if RECORD:
            cpu0 = time.process_time()
            extra["recorded_events"] = sum(len(rec.table()) for rec in RECORDERS)
            extra["record_read_cpu_seconds"] = time.process_time() - cpu0
        extra.update(
            python=platform.python_version(),
            implementation=platform.python_implementation(),
            gc_enabled=gc.isenabled(),
            trace=TRACE,
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
        os._exit(0)

    asyncio.run(run_and_report())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
