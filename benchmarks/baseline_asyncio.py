#!/usr/bin/env python3
"""Plain-asyncio baseline ("idiomatic" actor design) for agentlab's benchmarks.

Reference figures to compare the agentlab runtime against. This script does
not use the ``agentlab`` package: it is what you get with the obvious asyncio
design. Each process is one ``asyncio.Task`` blocked on its own
``asyncio.Queue`` mailbox. A call puts ``(request, Future)`` into the mailbox
and awaits the Future. A supervisor is a ``while True: await task`` loop.

Usage
    python benchmarks/baseline_asyncio.py WORKLOAD N [--uvloop] [--no-gc]

    WORKLOAD            N (suggested)   value / unit
    idle_memory         100000          bytes per idle process (tracemalloc)  bytes/process
    spawn               100000          spawns per second                     spawns/s
    send                1000000         messages per second                   msgs/s
    ping_pong           200000          round trips per second                round_trips/s
    call                200000          call round trips per second           calls/s
    restart_latency     1000            median crash -> restarted, in us      us
    restart_throughput  20000           restarts per second                   restarts/s

    --uvloop   run on uvloop instead of the default asyncio loop (needs uvloop)
    --no-gc    gc.disable() for the measured part (default: GC on)

Output: exactly one JSON object on stdout, for example
    {"system": "asyncio", "workload": "ping_pong", "n": 200000,
     "value": 112000.0, "unit": "round_trips/s", "extra": {...}}
("system" is "asyncio" or "uvloop"). Exit code 0 on success, 2 on bad usage.
The process exits with os._exit(0) right after printing, so the teardown of
up to N live tasks is not part of the run time.

Workload definitions (the same as /work/shared/perf/RESULTS.md and
benchmarks/beam/bench.escript):
- idle_memory: create N processes (Task + Queue + a small handle object) and
  let each run until it blocks in ``await mailbox.get()``. value = tracemalloc
  growth / N (measured in a second round). extra.rss_bytes_per_process is
  the RSS growth / N of a first round run without tracemalloc.
- spawn: create N processes and run the loop until every one has reached its
  ``await mailbox.get()``. extra has the total seconds and the RSS growth.
- send: one sender task puts N messages (``put_nowait``) into a receiver's
  mailbox. The receiver counts them, and the clock stops when it has counted
  all N.
- ping_pong: two processes exchange ping/pong through their mailboxes N
  times.
- call: an ``async def`` caller does ``put_nowait((req, fut))`` and then
  ``await fut``, N times. The server task resolves the Future.
- restart_latency: a supervisor task runs ``while True: task =
  create_task(worker()); await task``, with a restart-intensity check (deque
  of timestamps). The crash is a ``"crash"`` message to the worker, which
  raises. t1 is taken in the new worker's first step (its "init"), before it
  blocks on its mailbox. Latency = t1 - t0, where t0 is taken just before the
  crash message is sent. value = median in us. extra has p99, mean, min and max.
- restart_throughput: the same loop, N rounds back to back. value = N / elapsed
  seconds.
"""

from __future__ import annotations

import asyncio
import collections
import gc
import json
import os
import platform
import statistics
import sys
import time
import tracemalloc

# ---------------------------------------------------------------------------
# The "process": a Task blocked on a Queue, plus a small handle object.


class Proc:
    __slots__ = ("mailbox", "task")

    def __init__(self) -> None:
        self.mailbox: asyncio.Queue = asyncio.Queue()
        self.task: asyncio.Task | None = None


def spawn(body, *args) -> Proc:
    proc = Proc()
    proc.task = asyncio.get_running_loop().create_task(body(proc, *args))
    return proc


class Counter:
    """Counts processes that reached their first await; resolves `all_ready`."""

    __slots__ = ("all_ready", "n", "target")

    def __init__(self, target: int) -> None:
        self.n = 0
        self.target = target
        self.all_ready: asyncio.Future = asyncio.get_running_loop().create_future()


async def idle_proc(proc: Proc, ready: Counter) -> None:
    ready.n += 1
    if ready.n == ready.target:
        ready.all_ready.set_result(None)
    while True:
        msg = await proc.mailbox.get()
        if msg == "stop":
            return


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def settle_spawned(ready: Counter, n: int) -> None:
    # A created Task runs its first step on the next loop iteration; wait
    # until all n have reached their first await.
    assert ready.target == n
    await ready.all_ready


async def stop_all(procs: list[Proc]) -> None:
    for p in procs:
        p.mailbox.put_nowait("stop")
    await asyncio.gather(*(p.task for p in procs))


# ---------------------------------------------------------------------------
# Workloads. Each returns (value, unit, extra).


async def w_idle_memory(n: int):
    # Round 1: RSS growth on a fresh heap (cross-check only: includes
    # allocator slack and page granularity).
    gc.collect()
    r0 = rss_bytes()
    ready = Counter(n)
    procs = [spawn(idle_proc, ready) for _ in range(n)]
    await settle_spawned(ready, n)
    r1 = rss_bytes()
    await stop_all(procs)
    del procs
    gc.collect()
    # Round 2: tracemalloc (exact live Python allocations) = the value.
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    ready = Counter(n)
    procs = [spawn(idle_proc, ready) for _ in range(n)]
    await settle_spawned(ready, n)
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    await stop_all(procs)
    return (
        (after - before) / n,
        "bytes/process",
        {
            "tracemalloc_delta_bytes": after - before,
            "rss_bytes_per_process": (r1 - r0) / n,
            "note": "per process: Task + coroutine + Queue + handle + list slot",
        },
    )


async def w_spawn(n: int):
    gc.collect()
    r0 = rss_bytes()
    ready = Counter(n)
    t0 = time.perf_counter()
    procs = [spawn(idle_proc, ready) for _ in range(n)]
    await settle_spawned(ready, n)
    t1 = time.perf_counter()
    r1 = rss_bytes()
    assert all(not p.task.done() for p in procs)
    s = t1 - t0
    return n / s, "spawns/s", {"total_seconds": s, "total_memory_bytes": r1 - r0}


async def w_send(n: int):
    loop = asyncio.get_running_loop()
    done = loop.create_future()

    async def receiver(proc: Proc, n: int) -> None:
        get = proc.mailbox.get
        count = 0
        while count < n:
            await get()
            count += 1
        done.set_result(count)

    async def sender(proc: Proc, target: Proc, n: int) -> None:
        put = target.mailbox.put_nowait
        for _ in range(n):
            put("msg")

    recv = spawn(receiver, n)
    await asyncio.sleep(0)  # receiver blocks in get()
    t0 = time.perf_counter()
    spawn(sender, recv, n)
    counted = await done
    t1 = time.perf_counter()
    assert counted == n
    s = t1 - t0
    return n / s, "msgs/s", {"total_seconds": s}


async def w_ping_pong(n: int):
    loop = asyncio.get_running_loop()
    done = loop.create_future()

    async def ponger(proc: Proc) -> None:
        get = proc.mailbox.get
        while True:
            msg, sender = await get()
            if msg == "stop":
                return
            sender.mailbox.put_nowait(("pong", proc))

    async def pinger(proc: Proc, peer: Proc, n: int) -> None:
        get = proc.mailbox.get
        put = peer.mailbox.put_nowait
        for _ in range(n):
            put(("ping", proc))
            await get()
        put(("stop", proc))
        done.set_result(None)

    pong = spawn(ponger)
    await asyncio.sleep(0)
    t0 = time.perf_counter()
    spawn(pinger, pong, n)
    await done
    t1 = time.perf_counter()
    s = t1 - t0
    return n / s, "round_trips/s", {"total_seconds": s}


async def w_call(n: int):
    loop = asyncio.get_running_loop()

    async def server(proc: Proc) -> None:
        get = proc.mailbox.get
        while True:
            req, fut = await get()
            if req == "stop":
                return
            if not fut.cancelled():
                fut.set_result("pong")

    async def call(proc: Proc, req):
        fut = loop.create_future()
        proc.mailbox.put_nowait((req, fut))
        return await fut

    srv = spawn(server)
    await asyncio.sleep(0)
    t0 = time.perf_counter()
    for _ in range(n):
        r = await call(srv, "ping")
    t1 = time.perf_counter()
    assert r == "pong"
    srv.mailbox.put_nowait(("stop", None))
    s = t1 - t0
    return n / s, "calls/s", {"total_seconds": s}


class Restarts:
    """Shared state between the benchmark driver and the worker's init."""

    __slots__ = ("proc", "t_init", "waiter")

    def __init__(self) -> None:
        self.waiter: asyncio.Future | None = None
        self.proc: Proc | None = None
        self.t_init = 0


async def worker(proc: Proc, st: Restarts) -> None:
    # "init": runs in the Task's first step
    st.t_init = time.perf_counter_ns()
    st.proc = proc
    w = st.waiter
    if w is not None and not w.done():
        w.set_result(proc)
    get = proc.mailbox.get
    while True:
        msg = await get()
        if msg == "crash":
            raise RuntimeError("boom")


async def supervisor(st: Restarts, intensity: int, period: float) -> None:
    """one_for_one over a single permanent child: while True: await task."""
    history: collections.deque = collections.deque()
    clock = time.monotonic
    while True:
        proc = spawn(worker, st)
        try:
            await proc.task
        except asyncio.CancelledError:
            proc.task.cancel()
            raise
        except Exception:
            pass
        now = clock()
        history.append(now)
        while history and history[0] < now - period:
            history.popleft()
        if len(history) > intensity:
            raise RuntimeError("reached_max_restart_intensity")


async def restart_loop(n: int):
    loop = asyncio.get_running_loop()
    st = Restarts()
    st.waiter = loop.create_future()
    sup = loop.create_task(supervisor(st, intensity=10 * n + 10, period=5.0))
    proc = await st.waiter
    lat = []
    t_start = time.perf_counter_ns()
    for _ in range(n):
        st.waiter = loop.create_future()
        t0 = time.perf_counter_ns()
        proc.mailbox.put_nowait("crash")
        new = await st.waiter
        assert new is not proc
        lat.append(st.t_init - t0)
        proc = new
    t_end = time.perf_counter_ns()
    alive = not sup.done()
    sup.cancel()
    try:
        await sup
    except asyncio.CancelledError:
        pass
    return lat, t_end - t_start, alive


def percentile(sorted_vals, pct):
    # nearest rank, same as bench.escript
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


WORKLOADS = {
    "idle_memory": w_idle_memory,
    "spawn": w_spawn,
    "send": w_send,
    "ping_pong": w_ping_pong,
    "call": w_call,
    "restart_latency": w_restart_latency,
    "restart_throughput": w_restart_throughput,
}

USAGE = (
    "usage: python baseline_asyncio.py WORKLOAD N [--uvloop] [--no-gc]\n"
    "workloads: " + " ".join(WORKLOADS) + "\n"
)


def main(argv: list[str]) -> int:
    flags = {a for a in argv if a.startswith("--")}
    args = [a for a in argv if not a.startswith("--")]
    if len(args) != 2 or args[0] not in WORKLOADS or not flags <= {"--uvloop", "--no-gc"}:
        sys.stderr.write(USAGE)
        return 2
    workload = args[0]
    try:
        n = int(args[1])
    except ValueError:
        sys.stderr.write(USAGE)
        return 2
    system = "asyncio"
    if "--uvloop" in flags:
        try:
            import uvloop
        except ImportError:
            sys.stderr.write("--uvloop: uvloop is not installed\n")
            return 2

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
        system = "uvloop"
    if "--no-gc" in flags:
        gc.disable()

    async def run_and_report() -> None:
        value, unit, extra = await WORKLOADS[workload](n)
        extra.update(
            python=platform.python_version(),
            implementation=platform.python_implementation(),
            gc_enabled=gc.isenabled(),
        )
        out = {
            "system": system,
            "workload": workload,
            "n": n,
            "value": float(value),
            "unit": unit,
            "extra": extra,
        }
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()
        # Skip the teardown (asyncio.run would cancel up to N idle tasks one
        # by one, which takes longer than the measurement itself).
        os._exit(0)

    asyncio.run(run_and_report())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
