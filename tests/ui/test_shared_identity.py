"""Views of one live runtime share one identity (pid -> stable key) when they know the same history."""

from __future__ import annotations

import asyncio
import copy
import random

import agentlab
import agentlab.ui as ui
from agentlab import ChildSpec, DynamicSupervisor, Supervisor
from agentlab.ui._feed import LiveFeed, as_feed
from agentlab.ui._identity import Identity, SharedIdentity
from agentlab.ui._synthetic import emit_into, team_run


class Worker(agentlab.Agent):
    def init(self, n=0):
        self.n = n

    def handle_call(self, request, caller):
        return request


class Job(agentlab.Agent):
    """A temporary child that finishes when told."""

    def handle_info(self, msg):
        return agentlab.Stop("normal")


class Temp(Job):
    """A temporary child that finishes on its own."""

    def init(self, n=0):
        self.send_after(self.pid, "done", 0.001 * (n % 3))


def _tree(rt):
    groups = [
        ChildSpec(f"g{i}", (Supervisor, ([ChildSpec(f"w{j}", Worker) for j in range(6)],),
                            {"strategy": strategy, "intensity": 10_000, "period": 1}))
        for i, strategy in enumerate(("one_for_one", "one_for_all", "rest_for_one"))
    ]
    rt.start(Supervisor, groups, name="root", intensity=10_000, period=1)
    return rt.start(DynamicSupervisor, name="pool", intensity=10_000, period=1)


async def _live_tree(seed, **options):
    rt = agentlab.Runtime(seed=seed, **options)
    pool = _tree(rt)
    await rt.settled()
    return rt, pool


async def _storm(rt, pool, rounds=40, seed=5):
    rng = random.Random(seed)
    synthetic = emit_into(rt, team_run())
    for r in range(rounds):
        workers = [p for p in rt.processes() if p.path and p.path.rsplit("/", 1)[-1][:1] == "w"]
        for p in rng.sample(workers, 3):
            if p.alive:
                rt.exit(p, rng.choice(["kill", "boom", "shutdown"]))
        await DynamicSupervisor.start_child(
            pool, ChildSpec("job", (Temp, r), restart="temporary"))
        await DynamicSupervisor.start_child(pool, ChildSpec("w", (Worker, r)))
        for _ in range(3):  # LLM, tool, call and message events of a recorded team
            next(synthetic, None)
        await asyncio.sleep(0.002)
    await rt.settled()


def _comparable(snap):
    """A view's snapshot without what may differ between a shared and an own identity.

    ``now`` is the clock at each view's last tick. ``order`` numbers may have gaps:
    a process only one view asked about (a peer of a message, say) took a number in
    the shared identity, so only the ranks must agree.
    """
    snap = copy.deepcopy(snap)
    snap.pop("now", None)
    ordered = []

    def walk(x):
        if isinstance(x, dict):
            if "order" in x:
                ordered.append(x)
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    walk(snap)
    ranks = {o: i for i, o in enumerate(sorted({d["order"] for d in ordered}))}
    for d in ordered:
        d["order"] = ranks[d["order"]]
    return snap


def test_a_dashboards_views_share_one_identity_and_show_what_their_own_would(run):
    async def main():
        rt, pool = await _live_tree(1)
        try:
            dash = ui.dashboard(rt)
            # the same four views, each with its own identity, as every view had before
            own_feed = LiveFeed(rt)
            own_feed._share_identity = lambda view: None
            own = ui.dashboard(own_feed)
            shared = dash.tree._model.ids
            assert type(shared) is SharedIdentity and as_feed(rt).ids is shared
            assert all(v._model.ids is shared for v in dash.views)
            assert all(type(v._model.ids) is Identity for v in own.views)
            await _storm(rt, pool)
            await ui.settle(dash)
            await ui.settle(own)
            assert len(shared.meta) > 30  # the storm went through it
            for a, b in zip(dash.views, own.views, strict=True):
                assert _comparable(a._model.snapshot()) == _comparable(b._model.snapshot()), a._view_kind
            dash.close()
            own.close()
        finally:
            await rt.shutdown()

    run(main())


def test_the_shared_identity_does_its_work_once_an_event(run, monkeypatch):
    calls = {"child_start": 0, "exit": 0}
    base_child_start, base_exit = Identity.child_start, Identity.exit

    def child_start(self, ev):
        calls["child_start"] += 1
        return base_child_start(self, ev)

    def exit_(self, pid):
        calls["exit"] += 1
        return base_exit(self, pid)

    monkeypatch.setattr(Identity, "child_start", child_start)
    monkeypatch.setattr(Identity, "exit", exit_)

    async def main():
        rt, pool = await _live_tree(2)
        try:
            dash = ui.dashboard(rt)
            calls.update(child_start=0, exit=0)
            n_before = len(rt.events)
            await _storm(rt, pool, rounds=10)
            await ui.settle(dash)
            new = list(rt.events)[n_before:]
            kinds = [e.kind for e in new]
            assert kinds.count("child_start") > 10
            assert calls["child_start"] == kinds.count("child_start")  # once, not four times
            assert calls["exit"] == kinds.count("exit")
            dash.close()
        finally:
            await rt.shutdown()

    run(main())


def test_a_view_that_knows_a_different_history_keeps_its_own_identity(run):
    async def main():
        rt, pool = await _live_tree(3, event_capacity=300)
        try:
            tree = ui.SupervisionTree(rt)
            shared = tree._model.ids
            assert type(shared) is SharedIdentity
            await _storm(rt, pool, rounds=20)  # the log drops what the tree saw first
            assert rt.events.dropped > 0
            late = ui.Timeline(rt)
            assert type(late._model.ids) is Identity and late._model.ids is not shared
            before = {p.id for p in rt.processes()}
            await _storm(rt, pool, rounds=5, seed=6)
            await ui.settle(tree)
            await ui.settle(late)
            # each still follows the live tree: every running worker is a running node, and
            # every worker started since the timeline opened is an open span in it
            running = {p.id for p in rt.processes() if p.path and p.path.rsplit("/", 1)[-1][:1] == "w"}
            nodes = {n["pid"] for n in tree.snapshot["view"]["nodes"] if n["status"] == "running"}
            assert running <= nodes
            spans = {s["id"] for s in late.snapshot["view"]["spans"] if s["t1"] is None}
            assert running - before and running - before <= spans
            # once every view is gone the shared identity goes too: a new one starts from a replay
            tree.close()
            late.close()
            assert as_feed(rt).ids is None
            again = ui.SupervisionTree(rt)
            assert type(again._model.ids) is SharedIdentity and again._model.ids is not shared
            again.close()
        finally:
            await rt.shutdown()

    run(main())


def test_the_tree_prunes_its_dead_nodes_without_taking_them_from_the_other_views(run):
    async def main():
        rt = agentlab.Runtime(seed=4)
        try:
            pool = rt.start(DynamicSupervisor, name="pool", intensity=10_000, period=1)
            dash = ui.dashboard(rt, max_dead=2)
            # all eight run at once, so none takes the slot of one that has finished
            started = [await DynamicSupervisor.start_child(pool, ChildSpec("job", Job, restart="temporary"))
                       for _ in range(8)]
            for job in started:
                rt.send(job, "done")
            await rt.settled()
            await ui.settle(dash)
            jobs = [n for n in dash.tree.snapshot["view"]["nodes"] if n["label"] == "job"]
            assert len(jobs) == 2  # the tree keeps only the last two dead ones
            lanes = {ln["key"]: ln for ln in dash.timeline.snapshot["view"]["lanes"]}
            job_lanes = [ln for ln in lanes.values() if ln["label"] == "job"]
            assert len(job_lanes) == 8 and len({ln["key"] for ln in job_lanes}) == 8
            spans = dash.timeline.snapshot["view"]["spans"]
            assert all(s["lane"] in lanes for s in spans)
            # the two views name the kept jobs alike (picking one in the tree finds its lane)
            assert {n["key"] for n in jobs} <= set(lanes)
            dash.close()
        finally:
            await rt.shutdown()

    run(main())


def test_processes_no_supervisor_reported_are_forgotten_long_after_they_die(run, monkeypatch):
    # a notebook that spawns millions of short processes (plain spawns, tasks) must not
    # keep a key for each in the views: one is forgotten KEEP_DEAD deaths after its own
    from agentlab.ui._pending import trim_slack

    monkeypatch.setattr(Identity, "KEEP_DEAD", 50)

    async def quick():
        return None

    async def main():
        rt = agentlab.Runtime()
        try:
            sup = rt.start(Supervisor, [ChildSpec("w", Worker)], name="sup")
            dash = ui.dashboard(rt)
            spawned = []
            for _ in range(400):
                spawned.append(rt.spawn(quick))
                await asyncio.sleep(0)
            await rt.settled()
            await ui.settle(dash)
            ids = dash.tree._model.ids
            provisional = [k for k in ids.meta if k[0] == "#"]
            assert len(provisional) <= 50 + trim_slack(50) + 1  # + the root supervisor
            assert all(p.id in ids.key_of for p in spawned[-50:])  # the newest dead still known
            assert spawned[0].id not in ids.key_of and f"#{spawned[0].id}" not in ids.meta
            # supervised children and their supervisor are kept, and every view still draws
            assert any(k.endswith("/w") for k in ids.meta) and sup.id in ids.key_of
            lanes = {ln["key"] for ln in dash.timeline.snapshot["view"]["lanes"]}
            assert f"#{spawned[-1].id}" in lanes and f"#{spawned[0].id}" not in lanes
            dash.close()
        finally:
            await rt.shutdown()

    run(main())
