"""Tree view model: events -> node dicts (statuses, restarts, budgets, rates, details)."""

from __future__ import annotations

from agentlab import Crash, Event
from agentlab.ui._pending import Pending
from agentlab.ui._synthetic import Script, tiny_tree_events
from agentlab.ui._tree import TreeModel, tree_view


def nodes_by_label(events):
    return {n["label"]: n for n in tree_view(events)["nodes"]}


def test_supervised_child_keeps_its_node_across_restarts():
    n = nodes_by_label(tiny_tree_events())
    assert set(n) == {"team", "writer", "critic"}
    w = n["writer"]
    assert w["key"] == "team/writer"  # the path the supervisor gives it: stable across restarts
    assert w["parent"] == n["team"]["key"]
    assert w["restarts"] == 1 and w["status"] == "running"
    assert w["exit"] == "killed"  # the last exit stays visible in details
    assert n["team"]["budget"] == [1, 3, 5.0]
    assert n["critic"]["status"] == "waiting"


def test_statuses():
    s = Script()
    sup = s.spawn("sup", kind="supervisor")
    a = s.child(sup, "a")
    b = s.child(sup, "b")
    c = s.child(sup, "c")
    d = s.child(sup, "d")
    s.crash(a, "bad input", "ValueError")
    s.exit(b, "normal")
    s.exit(c, ("shutdown", "bye"))
    s.exit(d, "killed")
    s._ev("restart", sup, d, "killed", {"child_id": "d", "strategy": "one_for_one", "affected": ["d"],
                                        "restarts_in_window": 1, "intensity": 3, "period": 5})
    n = nodes_by_label(s.events)
    assert n["a"]["status"] == "crashed" and n["a"]["exit"] == "ValueError: bad input"
    assert n["b"]["status"] == "stopped" and n["c"]["status"] == "stopped"
    assert n["d"]["status"] == "restarting"


def test_a_supervisor_that_gives_up():
    s = Script()
    sup = s.spawn("sup", kind="supervisor")
    a = s.child(sup, "a")
    s.exit(a, "killed")
    s._ev("supervisor_gave_up", sup, None, None, {"restarts": 4, "window": 5})
    s.exit(sup, "shutdown")
    n = nodes_by_label(s.events)
    assert n["sup"]["gave_up"] is True and n["sup"]["status"] == "stopped"
    assert n["a"]["status"] == "crashed"


def test_parents_come_from_spawn_without_a_supervisor():
    s = Script()
    root = s.spawn("root", kind="process")
    kid = s.spawn("kid", parent=root)
    s.spawn("grandkid", parent=kid)
    n = nodes_by_label(s.events)
    assert n["kid"]["parent"] == n["root"]["key"]
    assert n["grandkid"]["parent"] == n["kid"]["key"]
    assert "parent" not in n["root"]


def test_child_spawned_before_its_supervisor_reports_it_moves_with_it():
    s = Script()
    sup = s.spawn("sup", kind="supervisor")
    w = s.spawn("w", parent=sup)
    helper = s.spawn("helper", parent=w)  # w's init spawns a helper before child_start
    s.child_start(sup, w, "w")
    n = nodes_by_label(s.events)
    assert n["w"]["key"] == "sup/w" and n["w"]["parent"] == n["sup"]["key"]
    assert n["helper"]["parent"] == n["w"]["key"]
    assert helper


def test_token_rate_and_waiting():
    s = Script(dt=0.01)
    a = s.spawn("a")
    rid = s.llm_request(a)
    s.tokens(a, rid, ["x"] * 50)  # 50 tokens over 0.5 s
    model = TreeModel(Pending())
    for ev in s.events:
        model.apply(ev)
    model.tick(s.t)
    node = model._dump(model.nodes["#101"])
    assert node["status"] == "waiting" and node["tokens"] == 50
    assert 40 <= node["tps"] <= 60
    model.tick(s.t + 5)
    assert "tps" not in model._dump(model.nodes["#101"])


def test_dead_nodes_are_bounded():
    s = Script()
    for i in range(30):
        p = s.spawn(f"p{i}")
        s.exit(p, "normal")
    model = TreeModel(Pending(), max_dead=10)
    for ev in s.events:
        model.apply(ev)
    assert len(model.nodes) == 10
    assert [n["label"] for n in model.nodes.values()][0] == "p20"


def test_details_carry_the_exception_and_the_supervisor_path():
    s = Script()
    root = s.spawn("root", kind="supervisor")
    team = s.child(root, "team", kind="supervisor", name="team")
    w = s.child(team, "w")
    s.crash(w, "division by zero", "ZeroDivisionError")
    model = TreeModel(Pending())
    for ev in s.events:
        model.apply(ev)
    key = next(k for k, n in model.nodes.items() if n["label"] == "w")
    d = model.details(key, s.events)
    assert d["supervisor_path"] == "root/team"
    assert d["exit_detail"]["type"] == "ZeroDivisionError"
    assert "Traceback" in d["exit_detail"]["traceback"]
    assert [h[1] for h in d["history"]] == ["spawn", "start", "exit"]
    assert model.details("nope") is None


def test_details_read_a_live_log_newest_first_and_only_as_far_as_they_need():
    # a live log is read newest first: a busy node's history is found near the end,
    # without reading (and making Events of) the whole log on every click
    s = Script()
    root = s.spawn("root", kind="supervisor")
    w = s.child(root, "w")
    for _ in range(10):
        s.crash(w, "boom", "RuntimeError")
        w = s.child(root, "w")
    model = TreeModel(Pending())
    for ev in s.events:
        model.apply(ev)
    key = next(k for k, n in model.nodes.items() if n["label"] == "w" and n["alive"])
    read = []

    def newest_first():
        for ev in reversed(s.events):
            read.append(ev)
            yield ev

    d = model.details(key, newest_first(), newest_first=True)
    assert d["history"] == model.details(key, s.events)["history"]  # the same rows, oldest first
    assert len(read) < len(s.events)  # it stopped once it had what it shows


def test_pending_gets_only_what_changed():
    pending = Pending()
    model = TreeModel(pending)
    s = Script()
    sup = s.spawn("sup", kind="supervisor")
    a = s.child(sup, "a")
    for ev in s.events:
        model.apply(ev)
    pending.take()
    model.apply(Event.make(99, 1.0, 0, "exit", a, None, None, None, Crash("E", "m"), None))
    out = pending.take()
    assert list(out["nodes"]) == ["sup/a"]
    assert out["nodes"]["sup/a"]["status"] == "crashed"
    assert sup


def test_dead_pids_are_forgotten_a_few_at_a_time(monkeypatch):
    # forgetting half of the remembered dead pids at once stalled every view in a
    # storm; they go about 64 at a time, and the newest KEEP_DEAD stay resolvable
    from agentlab.ui._identity import Identity

    monkeypatch.setattr(Identity, "KEEP_DEAD", 1000)
    s = Script()
    sup = s.spawn("team", kind="supervisor")
    w = s.child(sup, "worker")
    pids = [w]
    for _ in range(1500):
        s.exit(w, "killed")
        w = s.restart(sup, w, "worker")
        pids.append(w)
    model = TreeModel(Pending())
    sizes = []
    for ev in s.events:
        model.apply(ev)
        sizes.append(len(model.ids.key_of))
    drops = [a - b for a, b in zip(sizes, sizes[1:], strict=False) if a > b]
    assert drops and max(drops) <= 64 + 1
    assert all(p in model.ids.key_of for p in pids[-1000:])


def test_a_live_supervisor_is_asked_for_its_strategy_and_budget_until_it_can_say():
    # what TreeModel.tick does with a supervisor that has not reported a restart: it asks
    # the live process (Runtime.describe_state) while it is starting, once it answers, and
    # not again when it answers something else (a describe_state of its own) or fails
    from types import SimpleNamespace

    s = Script()
    sups = {name: s.spawn(name, kind="supervisor") for name in ("ok", "own", "broken")}
    answers = {"ok": ["starting", "one_for_all, 2 children, 1/4 restarts in 2.5s"],
               "own": ["my own state"], "broken": [RuntimeError("no")]}
    asked: list[str] = []

    def describe(proc):
        asked.append(proc.name)
        a = answers[proc.name].pop(0)
        if isinstance(a, Exception):
            raise a
        return a

    model = TreeModel(Pending(), describe=describe)
    for ev in s.events:
        model.apply(ev)
    procs = [SimpleNamespace(id=pid, name=name, mailbox_size=0) for name, pid in sups.items()]
    for _ in range(3):
        model.tick(1.0, procs)
    assert asked == ["ok", "own", "broken", "ok"]  # "starting": asked again; the others once
    n = {x["label"]: x for x in model.snapshot()["nodes"]}
    assert (n["ok"]["strategy"], n["ok"]["budget"]) == ("one_for_all", [1, 4, 2.5])
    assert "strategy" not in n["own"] and "budget" not in n["broken"]
