#!/usr/bin/env python3
"""What CPython itself allows: the runtime workloads stripped to their bare bones.

Each workload of ``bench_runtime.py`` is run here side by side, alternating for
``--rounds`` rounds: once on agentlab, and once as the
least Python code that does the same thing, with nothing of a runtime in it
(no states, no links, no events, no scheduling rules). The bare version is a
floor: no design written in Python can do the work in less time on this
interpreter. A target below the floor is out of reach for pure Python.

- spawn: a process is two objects that point at each other (a pid record with
  ``__slots__`` and a behaviour instance), kept in a dict by id. Measured with
  the cyclic GC on (as a notebook runs) and off.
- send: append ``n`` messages to a deque, then pop each and call a one-line
  handler method.
- ping-pong: two objects bounce a message through a run queue (a deque of
  objects to run) and a one-message mailbox each, calling a handler per hop.

Every measurement runs in a fresh process. Run: ``python benchmarks/bench_floor.py``
(``--rounds 5``). Prints a table of medians, and agentlab's value as a fraction
of the bare one's.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import subprocess
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_runtime as br


class _Pid:
    __slots__ = ("beh", "id", "mbox", "name", "state")


class _Beh:
    __slots__ = ("count", "left", "peer", "pid")

    def handle(self, msg: Any) -> None:
        self.count += 1


def bare_spawn(n: int) -> float:
    table: dict[int, _Pid] = {}
    t0 = time.perf_counter()
    for i in range(n):
        p = _Pid()
        b = _Beh()
        p.id = i
        p.beh = b
        p.state = 0
        p.mbox = None
        p.name = None
        b.pid = p
        table[i] = p
    s = time.perf_counter() - t0
    assert len(table) == n
    return n / s


def bare_send(n: int) -> float:
    b = _Beh()
    b.count = 0
    mbox: deque[Any] = deque()
    put = mbox.append
    t0 = time.perf_counter()
    for _ in range(n):
        put("msg")
    take = mbox.popleft
    handle = b.handle
    while mbox:
        handle(take())
    s = time.perf_counter() - t0
    assert b.count == n
    return n / s


class _Node:
    __slots__ = ("left", "mail", "peer")

    def handle(self, msg: Any, runq: deque[Any]) -> None:
        if self.left:
            self.left -= 1
            peer = self.peer
            peer.mail = msg
            runq.append(peer)


def bare_ping_pong(n: int) -> float:
    a, b = _Node(), _Node()
    a.peer, b.peer = b, a
    a.left, b.left = n, n
    a.mail = b.mail = None
    runq: deque[_Node] = deque([a])
    a.mail = "go"
    t0 = time.perf_counter()
    while runq:
        p = runq.popleft()
        msg = p.mail
        p.mail = None
        p.handle(msg, runq)
    s = time.perf_counter() - t0
    assert a.left == 0
    return n / s


async def _agentlab(workload: str, n: int) -> float:
    # lifecycle events only, as in the README's table
    br.TRACE = "lifecycle"
    value, _unit, _extra = await getattr(br, f"w_{workload}")(n)
    return float(value)


def _one(workload: str, system: str, n: int) -> float:
    """One measurement, in this (fresh) process."""
    if system == "agentlab":
        return asyncio.run(_agentlab(workload, n))
    bare = {"spawn": bare_spawn, "send": bare_send, "ping_pong": bare_ping_pong}[workload]
    gc.collect()
    if system == "bare-gc-off":
        gc.disable()
    return bare(n)


SYSTEMS = ("bare", "bare-gc-off", "agentlab")
CASES = (("spawn", 1_000_000, "spawns/s"), ("send", 1_000_000, "msgs/s"), ("ping_pong", 200_000, "round trips/s"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--one", nargs=3, metavar=("WORKLOAD", "SYSTEM", "N"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one:
        workload, system, n = args.one
        print(_one(workload, system, int(n)))
        sys.stdout.flush()
        os._exit(0)  # tearing down a million objects is not part of any figure
    med = statistics.median
    print(f"| {'workload':<10} | {'n':>9} | {'bare Python':>12} | {'GC off':>12} | {'agentlab':>12} | {'agentlab / bare':>15} |")
    print(f"|{'-' * 12}|{'-' * 11}|{'-' * 14}|{'-' * 14}|{'-' * 14}|{'-' * 17}|")
    spawn_s = {}
    for workload, n, unit in CASES:
        got: dict[str, list[float]] = {s: [] for s in SYSTEMS}
        for _ in range(args.rounds):  # each measurement in a fresh process, alternating
            for system in SYSTEMS:
                out = subprocess.run(
                    [sys.executable, __file__, "--one", workload, system, str(n)],
                    check=True, capture_output=True, text=True,
                ).stdout
                got[system].append(float(out.split()[-1]))
        on, off, ours = (med(got[s]) for s in SYSTEMS)
        if workload == "spawn":
            spawn_s = {s: n / med(got[s]) for s in SYSTEMS}
        print(f"| {workload:<10} | {n:>9,} | {on:>12,.0f} | {off:>12,.0f} | {ours:>12,.0f} | {ours / on:>15.2f} |  ({unit})")
    if spawn_s:
        print(
            f"\n1M spawns: bare Python {spawn_s['bare']:.2f} s with the GC on, "
            f"{spawn_s['bare-gc-off']:.2f} s with it off; agentlab {spawn_s['agentlab']:.2f} s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
