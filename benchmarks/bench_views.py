#!/usr/bin/env python3
"""The live views' own work, without a kernel or a browser: what they cost per event.

``bench_widgets.py`` measures the views in the real stack (JupyterLab, a kernel,
Chromium), where the machine's other work moves every figure. This one runs in one
process and measures only the view models, side by side in the same run:

- **replay**: a 10,051-process tree (50 supervisors of 200 workers) goes through a
  storm of restarts (``--restarts``, 20,000 by default); its events are then folded
  into the four models a dashboard has (tree, token streams, timeline, sequence
  diagram) through ``Feed.dispatch``, which hands each event only to the handlers
  of its kind, as a live feed does: once with one identity each (pid -> stable key,
  as views made apart have) and once with one shared identity applied by the feed
  (as a dashboard's four views have). CPU µs per event, best of ``--rounds``
  alternating rounds.
- **memory**: what the four models hold after the replay (tracemalloc), each way.
- **details**: a click on a node during a storm reads the node's recent history
  from the runtime's event log (100,000 events, full). Median and max ms of 20
  clicks on workers of the tree above.

Run: ``python benchmarks/bench_views.py`` (``--restarts 5000 --rounds 2`` for a
quick pass). Prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import statistics
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import agentlab
import agentlab.ui as ui
from agentlab import ChildSpec, Supervisor
from agentlab.ui._feed import Feed
from agentlab.ui._identity import SharedIdentity
from agentlab.ui._pending import Pending
from agentlab.ui._sequence import SequenceModel
from agentlab.ui._stream import StreamModel
from agentlab.ui._timeline import TimelineModel
from agentlab.ui._tree import TreeModel

MODELS = (TreeModel, StreamModel, TimelineModel, SequenceModel)


class Worker(agentlab.Agent):
    def handle_call(self, request: Any, caller: Any) -> Any:
        return request


def start_tree(rt: agentlab.Runtime, sups: int = 50, per: int = 200) -> None:
    groups = [ChildSpec(f"g{i}", (Supervisor, ([ChildSpec(f"w{j}", Worker) for j in range(per)],),
                                  {"intensity": 1_000_000, "period": 1})) for i in range(sups)]
    rt.start(Supervisor, groups, name="root", intensity=1_000_000, period=1)


async def storm(rt: agentlab.Runtime, restarts: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    killed = 0
    while killed < restarts:
        for p in rng.sample(rt.processes(), 30):
            if killed < restarts and p.alive and p.path.rsplit("/", 1)[-1][0] == "w":
                rt.exit(p, "kill")
                killed += 1
        await asyncio.sleep(0)
    await rt.settled()


class _View:
    """Just enough of a view for a Feed: the model's handlers (what a live widget gives)."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def _handlers(self) -> dict[str, Any]:
        return self.model.handlers


def build(events: list[Any], shared: bool) -> list[Any]:
    """The four models fed as a live dashboard's are: through ``Feed.dispatch``, which
    routes each event only to the handlers of its kind (after the shared identity)."""
    models = [M(Pending()) for M in MODELS]
    feed = Feed()
    feed.views = [_View(m) for m in models]
    if shared:
        feed.ids = SharedIdentity()
        for m in models:
            m.ids = feed.ids
    feed._reroute()
    dispatch = feed.dispatch
    for ev in events:
        dispatch(ev)
    return models


def replay_cpu(events: list[Any], shared: bool) -> float:
    gc.collect()
    t = time.process_time()
    build(events, shared)
    return time.process_time() - t


def held_bytes(events: list[Any], shared: bool) -> int:
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    models = build(events, shared)
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del models
    return after - before


async def details_ms(restarts: int) -> list[float]:
    rt = agentlab.Runtime(lag_threshold=None)
    try:
        start_tree(rt)
        await rt.settled()
        tree = ui.SupervisionTree(rt)
        tree._pump._send = lambda msg: None  # no comm: the model's work only
        await storm(rt, restarts)
        await ui.settle(tree)
        keys = [k for k, n in tree._model.nodes.items() if n["kind"] != "supervisor"]
        out = []
        for key in random.Random(2).sample(keys, 20):
            t = time.perf_counter()
            tree.details(key)
            out.append((time.perf_counter() - t) * 1000)
        tree.close()
        return out
    finally:
        await rt.shutdown()


async def storm_events(restarts: int) -> list[Any]:
    rt = agentlab.Runtime(lag_threshold=None, event_capacity=50 * restarts + 100_000)
    try:
        start_tree(rt)
        await rt.settled()
        await storm(rt, restarts)
        return list(rt.events)
    finally:
        await rt.shutdown()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--restarts", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    ui.freeze_heap(False)  # a benchmark process, not a kernel

    events = asyncio.run(storm_events(args.restarts))
    n = len(events)
    cpu: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(args.rounds):
        for shared in (False, True):
            cpu[shared].append(replay_cpu(events, shared))
    own_us, shared_us = (min(cpu[s]) / n * 1e6 for s in (False, True))
    own_mb, shared_mb = (held_bytes(events, s) / 2**20 for s in (False, True))
    clicks = asyncio.run(details_ms(max(args.restarts, 15_000)))

    print(f"agentlab views, python {sys.version.split()[0]}: {n:,} events of a 10,051-process tree "
          f"and {args.restarts:,} restarts")
    print("| measure | one identity per view | one shared identity | ratio |")
    print("|---|---|---|---|")
    spread = {s: f"{min(cpu[s]) / n * 1e6:.2f}-{max(cpu[s]) / n * 1e6:.2f}" for s in (False, True)}
    print(f"| four models, CPU per event (best of {args.rounds}; all rounds) | {own_us:.2f} µs ({spread[False]}) "
          f"| {shared_us:.2f} µs ({spread[True]}) | {shared_us / own_us:.2f}x |")
    print(f"| four models, memory held | {own_mb:.1f} MiB | {shared_mb:.1f} MiB | {shared_mb / own_mb:.2f}x |")
    print(f"\nA node's details on a full 100,000-event log: median {statistics.median(clicks):.1f} ms, "
          f"max {max(clicks):.1f} ms (20 clicks)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
