"""Benchmarks of agentlab.trace: export speed, table speed, files, recording overhead.

Run: ``python benchmarks/bench_trace.py`` (``--quick`` for a smaller, faster pass).

Targets (issue 4):
  * exporting 1M recorded events to ``events()``          < 1 s
    (a recorder converts to Arrow at its first read: reported on its own row)
  * ``processes()`` and ``restarts()`` for 100k processes  < 1 s
  * Parquet round trip (save + load) of 1M events          < 2 s
  * recording overhead on a runtime workload: spawn + exit of 100k agents
    (yielding to the event loop every 1,000, as a live system does) with and
    without a Recorder attached, interleaved in the same process, CPU time
    (``time.process_time``, less disturbed by other work on a shared machine);
    the ratio is reported (target: < 10 % more). A Recorder converts events to
    Arrow when read, so the CPU time of the first read after the run (its
    ``stop()``) is reported separately, and so is the run's cost with
    ``convert_after=0`` (conversion during the run, at the loop turns).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import agentlab
from agentlab.trace import Recorder, load

Event = agentlab.Event

_MIX = (
    ("spawn", {"kind": "agent"}),
    ("init", {"result": "ok"}),
    ("send", None),
    ("cast", None),
    ("call", {"request": "get"}),
    ("reply", None),
    ("timer_start", {"msg": "tick", "delay": 1.0, "dest": None}),
    ("timer_fire", {"msg": "tick"}),
    ("exit", None),
)


def mixed_events(n: int) -> list[Event]:
    """``n`` events in a plausible mix: lifecycle, messages, timers, some crashes."""
    out = []
    make = Event.make
    crash = agentlab.Crash("ValueError", "boom")
    for i in range(n):
        kind, data = _MIX[i % len(_MIX)]
        pid = 100 + i // len(_MIX)
        reason = None
        if kind == "exit":
            reason = crash if pid % 10 == 0 else "normal"
        name = f"worker-{pid % 1000}"
        path = f"root/pool-{pid % 10}/{name}"
        peer = pid + 1 if kind in ("send", "cast", "call", "reply") else None
        out.append(make(i + 1, i * 1e-4, 1.7e9 + i * 1e-4, kind, pid, name, path, peer, reason, data))
    return out


def supervised_events(n_processes: int) -> list[Event]:
    """``n_processes`` lifetimes under 10 supervisors: every child crashes once and is
    restarted once (so n/2 restarts), with the supervisor events a real supervisor emits."""
    out: list[Event] = []
    make = Event.make
    seq = 0
    t = 0.0
    crash = agentlab.Crash("RuntimeError", "injected")

    def emit(kind: str, pid: int, name: str | None, path: str | None, peer: Any = None,
             reason: Any = None, data: Any = None) -> None:
        nonlocal seq
        seq += 1
        out.append(make(seq, t, 1.7e9 + t, kind, pid, name, path, peer, reason, data))

    sups = [(10 + s, f"sup{s}", f"root/sup{s}") for s in range(10)]
    next_pid = 1000
    slots = n_processes // 2
    children: list[tuple[int, int, str, str]] = []
    for i in range(slots):
        spid, _sname, spath = sups[i % 10]
        cid = f"w{i}"
        next_pid += 1
        path = f"{spath}/{cid}"
        emit("spawn", next_pid, None, path, spid, None, {"kind": "agent"})
        emit("init", next_pid, None, path, None, None, {"result": "ok"})
        emit("child_start", spid, sups[i % 10][1], spath, next_pid, None,
             {"child_id": cid, "restart": "permanent", "type": "worker", "attempt": 0})
        children.append((next_pid, spid, cid, path))
        t += 1e-4
    for i, (pid, spid, cid, path) in enumerate(children):
        sname, spath = sups[i % 10][1], sups[i % 10][2]
        emit("exit", pid, None, path, None, crash, None)
        emit("restart", spid, sname, spath, pid, crash,
             {"child_id": cid, "strategy": "one_for_one", "affected": [cid],
              "restarts_in_window": 1, "intensity": 3, "period": 5.0})
        t += 2e-4
        next_pid += 1
        emit("spawn", next_pid, None, path, spid, None, {"kind": "agent"})
        emit("init", next_pid, None, path, None, None, {"result": "ok"})
        emit("child_start", spid, sname, spath, next_pid, None,
             {"child_id": cid, "restart": "permanent", "type": "worker", "attempt": 1})
    return out


def timed(fn: Callable[[], Any], repeat: int = 3) -> tuple[float, Any]:
    """Best of ``repeat`` wall-clock timings, and the last result."""
    best = float("inf")
    result = None
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def uncached(run: Any, table: str, everything: bool = False) -> Any:
    """Compute ``run.<table>()`` afresh (drop the run's cached tables first)."""
    if everything:
        run._cache.clear()
    else:
        run._cache.pop(table, None)
    return getattr(run, table)()


def fresh_recorder(events: list[Event]) -> Recorder:
    rec = Recorder(capacity=None)
    record = rec.record
    for ev in events:
        record(ev)
    return rec


class _Idle(agentlab.Agent):
    pass


async def _spawn_exit(n: int, record: bool, convert_after: int | None = None) -> tuple[float, float]:
    """CPU seconds of ``n`` spawn+kill rounds, and of the recorder's first read (at stop)."""
    rt = agentlab.Runtime(clock=agentlab.VirtualClock(), event_capacity=CAPACITY, lag_threshold=None)
    rec = Recorder(rt, capacity=None, convert_after=convert_after) if record else None
    t0 = time.process_time()
    for i in range(n):
        pid = rt.start(_Idle)
        rt.exit(pid, "kill")
        if i % 1000 == 999:
            await asyncio.sleep(0)  # a loop turn: where a recorder may do deferred work
    elapsed = time.process_time() - t0
    convert = 0.0
    if rec is not None:
        t0 = time.process_time()
        run = rec.stop()
        convert = time.process_time() - t0
        assert len(run.events()) == 4 * n  # spawn, init, exit_signal, exit
    await rt.shutdown()
    return elapsed, convert


CAPACITY = 100_000  # the runtime's default event log, as in bench_runtime.py


def overhead(n: int, rounds: int) -> tuple[float, float, float, float]:
    """Median CPU seconds for spawn+kill of ``n`` agents without and with a Recorder
    (interleaved), of its first read when it stops, and of the run with a Recorder
    that converts as it goes (``convert_after=0``)."""
    plain, recorded, convert, eager = [], [], [], []
    for _ in range(rounds):
        gc.collect()
        plain.append(asyncio.run(_spawn_exit(n, record=False))[0])
        gc.collect()
        t, c = asyncio.run(_spawn_exit(n, record=True))
        recorded.append(t)
        convert.append(c)
        gc.collect()
        eager.append(asyncio.run(_spawn_exit(n, record=True, convert_after=0))[0])
    med = statistics.median
    return med(plain), med(recorded), med(convert), med(eager)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a tenth of the sizes")
    args = parser.parse_args(argv)
    scale = 10 if args.quick else 1
    n_events = 1_000_000 // scale
    n_procs = 100_000 // scale
    n_agents = 100_000 // scale

    rows: list[tuple[str, str, str, str]] = []

    def add(what: str, size: str, seconds: float, target: str = "") -> None:
        rows.append((what, size, f"{seconds:.3f} s", target))
        print(f"  {what:<48} {size:>10} {seconds:8.3f} s  {target}", flush=True)

    print(f"agentlab.trace benchmarks (python {sys.version.split()[0]}, {os.cpu_count()} cpus)")
    events = mixed_events(n_events)
    t_rec, rec = timed(lambda: fresh_recorder(events), repeat=1)
    add("record() one by one (converted when read)", f"{n_events:,} ev", t_rec)
    t_first, _ = timed(lambda: rec.events(), repeat=1)
    add("first events(): conversion to Arrow + frame", f"{n_events:,} ev", t_first)
    t_ev, frame = timed(lambda: uncached(rec, "events", everything=True))
    add("events() from a recorder", f"{n_events:,} ev", t_ev, "target < 1 s")
    assert len(frame) == n_events
    t_fe, _ = timed(lambda: Recorder.from_events(events).events(), repeat=1)
    add("Recorder.from_events(list) + events()", f"{n_events:,} ev", t_fe)

    sup = supervised_events(n_procs)
    srec = fresh_recorder(sup)
    srec.events()
    t_all, _ = timed(lambda: (uncached(srec, "processes", everything=True), srec.restarts()))
    t_p, procs = timed(lambda: uncached(srec, "processes"))
    add("processes()", f"{n_procs:,} procs", t_p, "target < 1 s")
    assert len(procs) == n_procs
    t_r, rs = timed(lambda: uncached(srec, "restarts"))
    add("restarts()", f"{n_procs // 2:,} rst", t_r, "target < 1 s")
    assert len(rs) == n_procs // 2 and rs["time_to_recovery"].notna().all()
    add("processes() + restarts()", f"{n_procs:,} procs", t_p + t_r, "target < 1 s")
    add(f"  the same, incl. events() of their {len(sup) // 1000}k events", f"{n_procs:,} procs", t_all)

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "run.parquet"
        t_save, _ = timed(lambda: rec.save(path))
        add("save to Parquet", f"{n_events:,} ev", t_save)
        t_load, loaded = timed(lambda: load(path))
        add("load from Parquet", f"{n_events:,} ev", t_load)
        add("Parquet round trip (save + load)", f"{n_events:,} ev", t_save + t_load, "target < 2 s")
        t_lev, lframe = timed(lambda: loaded.events(), repeat=1)
        add("events() of the loaded run", f"{n_events:,} ev", t_lev)
        size = path.stat().st_size
        print(f"  file size: {size / 1e6:.1f} MB ({size / n_events:.1f} bytes/event)")
        import pandas as pd

        pd.testing.assert_frame_equal(frame, lframe)

    plain, recorded, convert, eager = overhead(n_agents, rounds=7)
    add("spawn+kill agents, no recorder (CPU, median of 7)", f"{n_agents:,} ag", plain)
    add("spawn+kill agents, recorder attached", f"{n_agents:,} ag", recorded, "< 10 % more")
    add("  then its first read, at stop(): conversion", f"{4 * n_agents:,} ev", convert)
    add("spawn+kill agents, recorder with convert_after=0", f"{n_agents:,} ag", eager)
    print(f"  recording overhead: x{recorded / plain:.3f} ({(recorded / plain - 1) * 100:+.1f} %)")
    print(f"  with the read at stop(): x{(recorded + convert) / plain:.3f}; "
          f"converting during the run (convert_after=0): x{eager / plain:.3f}")

    print()
    print(f"| {'what':<48} | {'size':>12} | {'time':>9} | {'target':<12} |")
    print(f"|{'-' * 50}|{'-' * 14}|{'-' * 11}|{'-' * 14}|")
    for what, size, secs, target in rows:
        print(f"| {what:<48} | {size:>12} | {secs:>9} | {target:<12} |")
    print(f"| {'recording overhead (with / without)':<48} | {'':>12} | {f'x{recorded / plain:.3f}':>9} | {'< x1.10':<12} |")
    print(f"| {'  the same, with the first read at stop()':<48} | {'':>12} | {f'x{(recorded + convert) / plain:.3f}':>9} | {'':<12} |")
    print(f"| {'  converting during the run (convert_after=0)':<48} | {'':>12} | {f'x{eager / plain:.3f}':>9} | {'':<12} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
