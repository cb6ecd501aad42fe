"""The views against the real supervisor: kill from the tree, watch the real restart."""

from __future__ import annotations

import contextlib

import pytest

import agentlab
import agentlab.ui as ui
from agentlab import ChildSpec, DynamicSupervisor, Supervisor


class Worker(agentlab.Agent):
    def init(self, n=0):
        self.n = n

    def handle_call(self, request, caller):
        return request


def cmd(view, name, msg=None):
    response, _ = type(view)._anywidget_commands[name](view, msg or {}, [])
    return response


def labels(view):
    return {n["label"]: n for n in view.snapshot["view"]["nodes"]}


def test_kill_button_and_the_supervisors_real_reaction(run):
    async def main():
        rt = agentlab.Runtime(lag_threshold=None)  # a loaded machine would add lag marks
        try:
            rt.start(Supervisor, [ChildSpec("writer", Worker), ChildSpec("critic", Worker)],
                     strategy="one_for_one", intensity=3, period=5, name="team")
            dash = ui.dashboard(rt)
            await ui.settle(dash)
            before = labels(dash.tree)
            assert before["writer"]["parent"] == before["team"]["key"]
            assert before["writer"]["status"] == "running"
            r = cmd(dash.tree, "cmd_kill", {"key": before["writer"]["key"]})
            assert r["ok"]
            await ui.settle(dash)
            after = labels(dash.tree)
            assert after["writer"]["key"] == before["writer"]["key"]  # same node
            assert after["writer"]["pid"] != before["writer"]["pid"]  # a new process
            assert after["writer"]["restarts"] == 1 and after["writer"]["status"] == "running"
            assert after["writer"]["exit"] == "killed"
            assert after["team"]["budget"] == [1, 3, 5]
            tl = dash.timeline.snapshot["view"]
            assert [link["to"] for link in tl["links"]] == [before["writer"]["key"]]
            assert {m["kind"] for m in tl["marks"]} == {"killed", "restart"}
            seq = dash.sequence.snapshot["view"]
            assert any(a["kind"] == "exit" and a["to"] == before["writer"]["key"] for a in seq["arrows"])
            details = cmd(dash.tree, "cmd_details", {"key": before["team"]["key"]})["details"]
            assert "one_for_one" in details["state"]
            dash.close()
        finally:
            await rt.shutdown()

    run(main())


def test_a_dynamic_supervisor_keeps_one_node_per_child(run):
    async def main():
        rt = agentlab.Runtime()
        try:
            dsup = rt.start(DynamicSupervisor, name="pool", intensity=100)
            for i in range(60):
                await DynamicSupervisor.start_child(dsup, ChildSpec("w", (Worker, i)))
            tree = ui.SupervisionTree(rt)
            await ui.settle(tree)
            nodes = tree.snapshot["view"]["nodes"]
            workers = [n for n in nodes if n["label"] == "w"]
            assert len(workers) == 60 and len({n["key"] for n in workers}) == 60
            for _ in range(10):
                assert cmd(tree, "cmd_kill_random")["ok"]
                await rt.settled()
            await ui.settle(tree)
            workers = [n for n in tree.snapshot["view"]["nodes"] if n["label"] == "w"]
            assert len(workers) == 60
            assert sum(n.get("restarts", 0) for n in workers) == 10
            assert all(n["status"] == "running" for n in workers)
            tree.close()
        finally:
            await rt.shutdown()

    run(main())


def test_nested_supervisors_keep_grandchildren_in_place_across_restarts(run):
    async def main():
        rt = agentlab.Runtime()
        try:
            team = [ChildSpec("writer", Worker, name="writer"), ChildSpec("critic", Worker)]
            rt.start(Supervisor, [
                ChildSpec("team", (Supervisor, (team,), {"intensity": 5})),
                ChildSpec("tools", (Supervisor, ([ChildSpec("search", Worker)],), {"strategy": "one_for_all"})),
            ], name="root", intensity=5)
            tree = ui.SupervisionTree(rt)
            await ui.settle(tree)
            before = labels(tree)
            assert before["writer"]["parent"] == before["team"]["key"]
            assert before["team"]["parent"] == before["root"]["key"]
            cmd(tree, "cmd_kill", {"key": before["writer"]["key"]})
            await ui.settle(tree)
            after = labels(tree)  # one writer node (a dict by label would hide a duplicate)
            assert sum(n["label"] == "writer" for n in tree.snapshot["view"]["nodes"]) == 1
            assert after["writer"]["restarts"] == 1 and after["writer"]["key"] == before["writer"]["key"]
            cmd(tree, "cmd_kill", {"key": before["team"]["key"]})  # the whole team restarts
            await ui.settle(tree)
            nodes = tree.snapshot["view"]["nodes"]
            assert sorted(n["label"] for n in nodes) == ["critic", "root", "search", "team", "tools", "writer"]
            again = labels(tree)
            assert again["team"]["restarts"] == 1 and again["writer"]["restarts"] == 2
            assert all(n["status"] == "running" for n in nodes)
            tree.close()
        finally:
            await rt.shutdown()

    run(main())


def test_a_restart_in_a_nested_tree_does_not_resend_the_lane(run):
    # a group supervisor is reported by the root only after its children started, so
    # their lanes are made while its key is provisional; what the browser got is the final key
    async def main():
        rt = agentlab.Runtime()
        try:
            group = ChildSpec("g", (Supervisor, ([ChildSpec("w", Worker)],), {}))
            rt.start(Supervisor, [group], name="root")
            await rt.settled()
            tl = ui.Timeline(rt)
            lanes = {lane["label"]: lane for lane in tl.snapshot["view"]["lanes"]}
            assert lanes["w"]["parent"] == lanes["g"]["key"]
            sent = []
            tl._pump._send = sent.append
            worker = next(p for p in rt.processes() if p.path.endswith("/w"))
            rt.exit(worker, "kill")
            await ui.settle(tl)
            deltas = [m for m in sent if m["type"] == "delta"]
            assert any(m.get("spans") for m in deltas)  # the restart went out
            assert not any(m.get("lanes") for m in deltas)  # its lane did not change
            tl.close()
        finally:
            await rt.shutdown()

    run(main())


class Failing(agentlab.Agent):
    def handle_call(self, request, caller):
        raise RuntimeError("boom")


async def crash(rt, name, *, times=1):
    """Crash the ``Failing`` agent ``name`` (a call it fails), ``times`` times, each one settled."""
    for _ in range(times):
        with contextlib.suppress(agentlab.CalleeExited):
            await rt.call(name, "x")
        await rt.settled()


def test_a_supervisor_restarted_after_giving_up_starts_with_a_fresh_budget(run):
    async def main():
        rt = agentlab.Runtime(clock=agentlab.VirtualClock(), seed=1)
        try:
            inner = ChildSpec("inner", (Supervisor, ([ChildSpec("w", Failing, name="w")],),
                                        {"intensity": 1, "period": 5}), type="supervisor")
            rt.start(Supervisor, [inner], intensity=10, period=5, name="root")
            tree = ui.SupervisionTree(rt)
            await crash(rt, "w", times=2)  # the second crash in 5 s: inner gives up, root restarts it
            await ui.settle(tree)
            n = labels(tree)["inner"]
            assert n["status"] == "running" and n["restarts"] == 1
            assert "gave_up" not in n  # that was the incarnation before
            assert n["budget"] == [0, 1, 5]  # none of the new one's restarts used
            tree.close()
        finally:
            await rt.shutdown()

    run(main())


@pytest.mark.parametrize(("strategy", "during"), [
    ("one_for_all", {"a": "restarting", "w": "restarting", "v": "restarting", "t": "stopped"}),
    ("rest_for_one", {"a": "running", "w": "restarting", "v": "restarting", "t": "stopped"}),
])
def test_children_a_group_restart_stops_show_as_restarting_during_the_backoff(run, strategy, during):
    # the supervisor reports the restart, then stops the crashed child's group; those
    # that exit after the report are restarting too (all but the temporary one)
    async def main():
        rt = agentlab.Runtime(clock=agentlab.VirtualClock(), seed=1)
        try:
            specs = [ChildSpec("a", Worker), ChildSpec("w", Failing, name="w"), ChildSpec("v", Worker),
                     ChildSpec("t", Worker, restart="temporary")]
            rt.start(Supervisor, specs, strategy=strategy, intensity=5, period=5, backoff=(0.5, 1.0),
                     name="team")
            tree = ui.SupervisionTree(rt)
            await ui.settle(tree)
            rt.hold_time()  # stop the clock inside the backoff
            await crash(rt, "w")
            await ui.settle(tree)
            n = labels(tree)
            assert {k: n[k]["status"] for k in during} == during
            rt.hold_time(False)
            await rt.sleep(2)
            await ui.settle(tree)
            n = labels(tree)
            restarted = [k for k, s in during.items() if s == "restarting"]
            assert all(n[k]["status"] == "running" and n[k]["restarts"] == 1 for k in restarted)
            assert n["t"]["status"] == "stopped"
            tree.close()
        finally:
            await rt.shutdown()

    run(main())


def test_a_dynamic_supervisors_stopped_child_does_not_show_as_restarting(run):
    async def main():
        rt = agentlab.Runtime(clock=agentlab.VirtualClock(), seed=1)
        try:
            dsup = rt.start(DynamicSupervisor, name="pool", intensity=100)
            pids = [await DynamicSupervisor.start_child(dsup, ChildSpec("w", Worker, restart="transient"))
                    for _ in range(3)]
            tree = ui.SupervisionTree(rt)
            await ui.settle(tree)
            rt.exit(pids[0], "shutdown")  # transient, stopped: not restarted
            await rt.settled()
            rt.exit(pids[1], "kill")  # restarted: the restart names child id "w"
            await rt.settled()
            await ui.settle(tree)
            status = {n["pid"]: n["status"] for n in tree.snapshot["view"]["nodes"] if n["label"] == "w"}
            assert status[pids[0].id] == "stopped"
            assert pids[1].id not in status  # its node shows the new process
            assert sorted(status.values()) == ["running", "running", "stopped"]
            tree.close()
        finally:
            await rt.shutdown()

    run(main())


def test_a_tree_started_again_from_a_cell_is_a_new_tree_not_a_restart(run):
    # re-running a notebook cell that starts a named tree (replace=True, or after a stop)
    # makes a new tree: its workers are not restarts of the old tree's, under the old root
    async def main():
        rt = agentlab.Runtime(clock=agentlab.VirtualClock(), seed=1)
        try:
            dash = ui.dashboard(rt)
            for _ in range(3):
                rt.start(Supervisor, [ChildSpec("w", Worker, name="w")], name="team", replace=True)
                await rt.settled()
            await rt.stop("team")
            rt.start(Supervisor, [ChildSpec("w", Worker, name="w")], name="team")
            await ui.settle(dash)
            nodes = dash.tree.snapshot["view"]["nodes"]
            teams = {n["key"]: n for n in nodes if n["label"] == "team"}
            workers = [n for n in nodes if n["label"] == "w"]
            assert len(teams) == len(workers) == 4
            assert sorted(teams[w["parent"]]["pid"] for w in workers) == sorted(t["pid"] for t in teams.values())
            live = [w for w in workers if w["status"] == "running"]
            assert [w["pid"] for w in live] == [rt.whereis("w").id]
            assert teams[live[0]["parent"]]["pid"] == rt.whereis("team").id
            assert all(w.get("restarts", 0) == 0 for w in workers)
            assert dash.timeline.snapshot["view"]["links"] == []  # no restart arrows
            dash.close()
        finally:
            await rt.shutdown()

    run(main())


def test_a_new_dynamic_child_in_the_row_of_one_that_exited_is_not_a_restart(run):
    async def main():
        rt = agentlab.Runtime(clock=agentlab.VirtualClock(), seed=1)
        try:
            dsup = rt.start(DynamicSupervisor, name="pool", intensity=100)
            dash = ui.dashboard(rt)
            first = await DynamicSupervisor.start_child(dsup, ChildSpec("w", Worker, restart="temporary"))
            rt.emit("llm_request", first, request_id="r1", model="m", provider="scripted", attempt=1)
            rt.emit("llm_token", first, request_id="r1", text="hello", index=0)
            rt.exit(first, "kill")  # temporary: not restarted
            await rt.settled()
            second = await DynamicSupervisor.start_child(dsup, ChildSpec("w", Worker, restart="temporary"))
            await ui.settle(dash)
            (node,) = [n for n in dash.tree.snapshot["view"]["nodes"] if n["label"] == "w"]
            assert node["pid"] == second.id and node["status"] == "running"  # the row is reused
            assert node.get("restarts", 0) == 0 and "exit" not in node  # with its own counts
            assert dash.timeline.snapshot["view"]["links"] == []
            (agent,) = dash.streams.snapshot["view"]["agents"]
            assert agent["status"] == "idle"
            kinds = [g["t"] for g in agent["segs"]]
            assert "restart" not in kinds
            # where the new process begins in the transcript of the row it took
            assert kinds[kinds.index("exit"):] == ["exit", "new"]
            assert agent["segs"][-1]["pid"] == second.id
            # a restart of a dynamic child still is one
            rt.exit(second, "kill")
            await rt.settled()
            third = await DynamicSupervisor.start_child(dsup, ChildSpec("w", Worker))
            rt.exit(third, "kill")
            await ui.settle(dash)
            w = [n for n in dash.tree.snapshot["view"]["nodes"] if n["label"] == "w"]
            assert [(n["status"], n.get("restarts", 0)) for n in w] == [("running", 1)]
            assert len(dash.timeline.snapshot["view"]["links"]) == 1
            dash.close()
        finally:
            await rt.shutdown()

    run(main())


def test_a_supervisor_that_gives_up_reports_the_restart_that_was_one_too_many(run):
    async def main():
        rt = agentlab.Runtime(clock=agentlab.VirtualClock(), seed=1)
        try:
            weak = ChildSpec("weak", (Supervisor, ([ChildSpec("f", Failing, name="f"), ChildSpec("g", Worker)],),
                                      {"intensity": 1, "period": 5}), restart="transient")
            rt.start(Supervisor, [weak, ChildSpec("ok", Worker)], name="root", intensity=5)
            dash = ui.dashboard(rt)
            await crash(rt, "f", times=2)  # the second crash in 5 s is one restart too many
            await ui.settle(dash)
            n = labels(dash.tree)
            assert n["weak"]["gave_up"] and n["weak"]["budget"] == [2, 1, 5]  # not [1, 1, 5]
            assert [n[k]["status"] for k in ("weak", "f", "g", "ok")] == ["stopped", "crashed", "stopped", "running"]
            tl = dash.timeline.snapshot["view"]
            budget = [(b["n"], b["max"]) for b in tl["budget"] if b["lane"] == n["weak"]["key"]]
            assert budget == [(1, 1), (2, 1)]
            (mark,) = [m for m in tl["marks"] if m["kind"] == "gave_up"]
            assert mark["lane"] == n["weak"]["key"] and "2 restarts in 5 s" in mark["text"]
            dash.close()
        finally:
            await rt.shutdown()

    run(main())


def test_grandchildren_under_a_dynamic_supervisors_subtrees(run):
    # a restarted subtree's workers are restarts (linked from their supervisor's lane, not
    # from the provisional key it has while it starts them); a new subtree in the row of
    # one that stopped starts afresh
    async def main():
        rt = agentlab.Runtime(clock=agentlab.VirtualClock(), seed=1)
        try:
            dyn = rt.start(DynamicSupervisor, name="dyn", intensity=100)
            sub = ChildSpec("sub", (Supervisor, ([ChildSpec("w", Worker)],), {"intensity": 10}), type="supervisor")
            subs = [await DynamicSupervisor.start_child(dyn, sub) for _ in range(3)]
            dash = ui.dashboard(rt)
            rt.exit(subs[1], "kill")  # dyn restarts it, and it starts its worker again
            await rt.settled()
            await DynamicSupervisor.terminate_child(dyn, subs[2])
            fresh = await DynamicSupervisor.start_child(dyn, sub)  # in the row of the one stopped
            await ui.settle(dash)
            nodes = {n["key"]: n for n in dash.tree.snapshot["view"]["nodes"]}
            by_sup = {nodes[n["parent"]]["pid"]: n for n in nodes.values() if n["label"] == "w"}
            (restarted,) = [p for p in rt.processes() if p.path == "dyn/sub" and p not in (subs[0], fresh)]
            assert by_sup[subs[0].id].get("restarts", 0) == 0
            assert by_sup[restarted.id]["restarts"] == 1  # its subtree was restarted
            assert by_sup[fresh.id].get("restarts", 0) == 0  # a new subtree, in a reused row
            assert all(n["status"] == "running" for n in by_sup.values())
            links = dash.timeline.snapshot["view"]["links"]
            lanes = {lane["key"] for lane in dash.timeline.snapshot["view"]["lanes"]}
            assert len(links) == 2 and all(link["from"] in lanes for link in links)
            dash.close()
        finally:
            await rt.shutdown()

    run(main())


def test_a_subtree_started_after_its_supervisor_gave_up_mid_restart_is_not_a_restart(run):
    # dyn reports restarting a subtree (delayed by its backoff), then gives up before it
    # starts it again; root restarts dyn. A subtree started in the new dyn, in the row of
    # the one that was to be restarted, starts afresh: its worker is no restart
    async def main():
        rt = agentlab.Runtime(clock=agentlab.VirtualClock(), seed=1)
        try:
            dyn = ChildSpec("dyn", (DynamicSupervisor, (), {"intensity": 1, "period": 5, "backoff": (1.0, 1.0)}),
                            type="supervisor")
            rt.start(Supervisor, [dyn], name="root", intensity=10, period=5)
            await rt.settled()
            sub = ChildSpec("sub", (Supervisor, ([ChildSpec("w", Worker)],), {"intensity": 10}), type="supervisor")
            (first_dyn,) = [p for p in rt.processes() if p.path == "root/dyn"]
            a = await DynamicSupervisor.start_child(first_dyn, sub)
            b = await DynamicSupervisor.start_child(first_dyn, sub)
            dash = ui.dashboard(rt)
            rt.exit(a, "kill")  # reported restarting, delayed by the backoff
            rt.exit(b, "kill")  # one restart too many: dyn gives up
            await rt.settled()
            (second_dyn,) = [p for p in rt.processes() if p.path == "root/dyn"]
            assert second_dyn is not first_dyn
            fresh = await DynamicSupervisor.start_child(second_dyn, sub)
            await ui.settle(dash)
            nodes = {n["key"]: n for n in dash.tree.snapshot["view"]["nodes"]}
            (w,) = [n for n in nodes.values() if n["label"] == "w" and nodes[n["parent"]]["pid"] == fresh.id]
            assert w["status"] == "running" and w.get("restarts", 0) == 0 and "exit" not in w
            assert nodes[w["parent"]].get("restarts", 0) == 0
            assert labels(dash.tree)["dyn"]["restarts"] == 1  # dyn's restart is one
            assert len(dash.timeline.snapshot["view"]["links"]) == 1
            dash.close()
        finally:
            await rt.shutdown()

    run(main())


def _labels_shown(html):
    from .test_static import shown

    return set(shown(html).texts)


def test_the_first_picture_of_a_tree_shows_each_supervisors_strategy_and_budget(run, monkeypatch):
    # a supervisor reports its strategy and budget with its first restart: before one, the
    # tree (and its static picture) showed neither; the live supervisor says what they are
    async def main():
        rt = agentlab.Runtime(clock=agentlab.VirtualClock(), seed=1)
        try:
            inner = ChildSpec("inner", (Supervisor, ([ChildSpec("w", Failing, name="w")],),
                                        {"strategy": "one_for_all", "intensity": 2, "period": 0.5}),
                              type="supervisor")
            rt.start(Supervisor, [ChildSpec("a", Worker), inner], strategy="rest_for_one", intensity=4,
                     period=7, name="root")
            rt.start(DynamicSupervisor, name="pool")
            await rt.settled()
            monkeypatch.setattr(ui._widgets, "STATIC", ui._widgets.STATIC / "missing")  # no bundle
            tree = ui.SupervisionTree(rt)
            n = labels(tree)  # the first snapshot, before any tick
            assert (n["root"]["strategy"], n["root"]["budget"]) == ("rest_for_one", [0, 4, 7])
            assert (n["inner"]["strategy"], n["inner"]["budget"]) == ("one_for_all", [0, 2, 0.5])
            assert (n["pool"]["strategy"], n["pool"]["budget"]) == ("one_for_one", [0, 3, 5])
            assert "strategy" not in n["a"] and "budget" not in n["w"]  # workers have none
            # the static pictures: the fallback the missing bundle shows, and the HTML a
            # notebook keeps for places where widgets cannot render
            for html in (tree.fallback, tree.to_html()):
                assert {"rest_for_one", "0/4 in 7s", "one_for_all", "0/2 in 0.5s", "one_for_one",
                        "0/3 in 5s"} <= _labels_shown(html)
            # a supervisor started later: the next tick asks it
            rt.start(Supervisor, [], strategy="one_for_all", intensity=9, period=2, name="late")
            await ui.settle(tree)
            assert labels(tree)["late"]["budget"] == [0, 9, 2]
            # its reports take over from there
            await crash(rt, "w")
            await ui.settle(tree)
            assert labels(tree)["inner"]["budget"] == [1, 2, 0.5]
            tree.close()
        finally:
            await rt.shutdown()

    run(main())


def test_a_recorded_tree_knows_a_supervisors_strategy_and_budget_from_its_reports(run):
    trace = pytest.importorskip("agentlab.trace")

    async def main():
        rt = agentlab.Runtime(clock=agentlab.VirtualClock(), seed=1)
        rec = trace.Recorder(rt)
        try:
            inner = ChildSpec("inner", (Supervisor, ([ChildSpec("w", Failing, name="w")],),
                                        {"strategy": "one_for_all", "intensity": 2, "period": 3}),
                              type="supervisor")
            rt.start(Supervisor, [inner], strategy="rest_for_one", intensity=4, period=7, name="root")
            await crash(rt, "w")
            run_ = rec.stop()
        finally:
            await rt.shutdown()
        tree = ui.SupervisionTree(run_)
        first_restart = next(i for i, ev in enumerate(tree._feed.events) if ev.kind == "restart")
        tree._feed.seek(first_restart)  # the run before its restart report
        n = labels(tree)
        assert (n["inner"]["strategy"], n["inner"]["budget"]) == ("one_for_all", [0, 2, 3])
        assert {"one_for_all", "0/2 in 3s"} <= _labels_shown(tree.to_html())
        # the root never restarted anything: its first report (supervisor_flags) says them
        assert (n["root"]["strategy"], n["root"]["budget"]) == ("rest_for_one", [0, 4, 7])
        assert {"rest_for_one", "0/4 in 7s"} <= _labels_shown(tree.to_html())
        tree._feed.seek(len(tree._feed.events))
        assert labels(tree)["inner"]["budget"] == [1, 2, 3]
        tree.close()

    run(main())


def test_the_tree_learns_each_supervisors_flags_from_its_first_report(run):
    # supervisor_flags, made when a supervisor starts, gives its strategy and budget: the
    # events alone tell them (no live process to ask), and a live tree asks no supervisor
    # whose first report it has seen
    from agentlab.ui._tree import tree_view

    async def main():
        rt = agentlab.Runtime(clock=agentlab.VirtualClock(), seed=1)
        try:
            inner = ChildSpec("inner", (Supervisor, ([ChildSpec("w", Worker)],),
                                        {"strategy": "one_for_all", "intensity": 2, "period": 0.5}),
                              type="supervisor")
            rt.start(Supervisor, [ChildSpec("a", Worker), inner], strategy="rest_for_one",
                     intensity=4, period=7, name="root")
            rt.start(DynamicSupervisor, name="pool", max_children=5)
            await rt.settled()
            n = {x["label"]: x for x in tree_view(list(rt.events))["nodes"]}
            assert (n["root"]["strategy"], n["root"]["budget"]) == ("rest_for_one", [0, 4, 7])
            assert (n["inner"]["strategy"], n["inner"]["budget"]) == ("one_for_all", [0, 2, 0.5])
            assert (n["pool"]["strategy"], n["pool"]["budget"]) == ("one_for_one", [0, 3, 5])
            asked = []
            rt.describe_state = lambda p: asked.append(p) or "starting"  # what a tree would ask
            tree = ui.SupervisionTree(rt)
            rt.start(Supervisor, [], strategy="one_for_all", intensity=9, period=2, name="late")
            await ui.settle(tree)
            shown = labels(tree)
            assert (shown["root"]["strategy"], shown["root"]["budget"]) == ("rest_for_one", [0, 4, 7])
            assert (shown["late"]["strategy"], shown["late"]["budget"]) == ("one_for_all", [0, 9, 2])
            assert asked == []
            tree.close()
        finally:
            await rt.shutdown()

    run(main())


def test_a_recorded_run_knows_the_flags_of_supervisors_that_never_restarted(run, tmp_path):
    trace = pytest.importorskip("agentlab.trace")
    from agentlab.ui._feed import RecordedFeed

    async def main():
        rt = agentlab.Runtime(clock=agentlab.VirtualClock(), seed=1)
        rec = trace.Recorder(rt)
        try:
            rt.start(Supervisor, [ChildSpec("a", Worker)], strategy="one_for_all", intensity=2,
                     period=9, name="root")
            pool = rt.start(DynamicSupervisor, name="pool", max_children=4)
            await rt.settled()
            return rec.stop(), rt.whereis("root"), pool
        finally:
            await rt.shutdown()

    run_, root, pool = run(main())
    path = run_.save(tmp_path / "run.parquet")
    for source in (run_, str(path)):
        known = RecordedFeed(source).supervisors()
        assert known == {root.id: ("one_for_all", 2, 9), pool.id: ("one_for_one", 3, 5)}
        tree = ui.SupervisionTree(source)
        tree._feed.seek(1)  # its spawn alone: what the run says of it shows from there
        n = labels(tree)
        assert (n["root"]["strategy"], n["root"]["budget"]) == ("one_for_all", [0, 2, 9])
        tree.close()


def test_a_new_supervisor_in_the_row_of_one_that_exited_shows_its_own_flags(run):
    from agentlab.ui._tree import tree_view

    async def main():
        rt = agentlab.Runtime(clock=agentlab.VirtualClock(), seed=1)
        try:
            pool = rt.start(DynamicSupervisor, name="pool")
            first = await DynamicSupervisor.start_child(pool, ChildSpec(
                "sub", (Supervisor, ([ChildSpec("w", Worker)],), {"intensity": 1}),
                type="supervisor", restart="temporary"))
            await DynamicSupervisor.terminate_child(pool, first)
            await DynamicSupervisor.start_child(pool, ChildSpec(
                "sub", (Supervisor, ([ChildSpec("w", Worker)],),
                        {"strategy": "one_for_all", "intensity": 7, "period": 2}),
                type="supervisor"))
            await rt.settled()
            (sub,) = [n for n in tree_view(list(rt.events))["nodes"] if n["label"] == "sub"]
            assert sub["status"] == "running" and sub.get("restarts", 0) == 0  # the same row
            assert (sub["strategy"], sub["budget"]) == ("one_for_all", [0, 7, 2])
        finally:
            await rt.shutdown()

    run(main())
