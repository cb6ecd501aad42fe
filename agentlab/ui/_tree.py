"""View model of the supervision tree: runtime events -> the node dicts the view draws.

A node is a process slot (see :mod:`agentlab.ui._identity`): a supervised
child keeps its node across restarts, and the node counts them. Status:

============  ==============================================================
status        when
============  ==============================================================
running       alive
waiting       alive, with an LLM request in flight
restarting    dead, and its supervisor has decided to restart it
crashed       dead with an abnormal reason (``killed`` or an exception)
stopped       dead with ``normal``/``shutdown``/``{shutdown, _}``
============  ==============================================================

Nodes are plain dicts of strings and numbers, which Python's garbage
collector does not track: a 10,000-node tree adds nothing to the full
collections that would otherwise stall the kernel's event loop.

>>> from agentlab.ui._synthetic import tiny_tree_events
>>> snap = tree_view(tiny_tree_events())
>>> [(n["label"], n["status"], n.get("restarts", 0)) for n in snap["nodes"]]
[('team', 'running', 0), ('writer', 'running', 1), ('critic', 'waiting', 0)]
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import islice
from typing import Any

from ._fmt import Rate, exit_class, exit_detail, exit_text
from ._identity import Identity
from ._pending import Pending

__all__ = ["Config", "TreeModel", "node_status", "supervisor_state", "tree_view"]

#: lifecycle kinds shown in a node's "recent" list
_HISTORY = frozenset({"spawn", "exit", "child_start", "exit_signal", "init"})


def node_status(n: dict[str, Any]) -> str:
    if n["alive"]:
        return "waiting" if n["llm"] > 0 else "running"
    if n["restarting"]:
        return "restarting"
    return "crashed" if n["exit"] in ("crash", "killed") else "stopped"


def _new_node(ids: Identity, key: str, pid: int, since: float) -> dict[str, Any]:
    m = ids.meta.get(key)
    return {
        "key": key, "pid": pid, "alive": True, "since": since, "restarts": 0, "restarting": False,
        "mailbox": 0, "tps": 0.0, "tokens": 0, "llm": 0, "exit": None, "exit_text": None,
        "strategy": None, "budget": None, "gave_up": False,
        "label": m["label"] if m else f"<0.{pid}.0>", "kind": m["kind"] if m else "process",
        "order": m["order"] if m else 0, "name": m["name"] if m else None,
        "path": m["path"] if m else None, "child_id": None, "restart": None,
    }


#: a supervisor's configuration: strategy, intensity, period (``None``: not known)
Config = tuple[str | None, int | None, float | None]

#: what a supervisor's ``describe_state`` says (``Supervisor.describe_state``)
_SUP_STATE = re.compile(
    r"(one_for_one|one_for_all|rest_for_one|simple_one_for_one), \d+ children?, "
    r"(\d+)/(\d+) restarts in (\d+(?:\.\d*)?(?:e[-+]?\d+)?)s"
)


def supervisor_state(text: str | None) -> tuple[str, int, int, float] | None:
    """Strategy, restarts used, intensity and period from a supervisor's one-line state.

    >>> supervisor_state("rest_for_one, 3 children, 1/5 restarts in 10s")
    ('rest_for_one', 1, 5, 10)
    >>> supervisor_state("starting") is None
    True
    """
    m = _SUP_STATE.fullmatch(text) if text else None
    if m is None:
        return None
    period = m[4]
    return m[1], int(m[2]), int(m[3]), int(period) if period.isdigit() else float(period)


class TreeModel:
    """Folds events into tree nodes and records each change in ``pending``.

    ``max_dead`` bounds how many dead nodes stay visible (oldest go first).

    A supervisor's strategy and restart budget come with its first report,
    ``supervisor_flags``, which it makes when it starts (before any child), and
    its restart reports keep the budget up to date. For a supervisor whose first
    report the events do not hold, they are shown if known otherwise: ``known``
    maps the pid of a supervisor of a recorded run to its :data:`Config` (what the
    run's reports say of it: see ``RecordedFeed.supervisors``), and ``describe``
    reads the one-line state of a live process
    (:meth:`agentlab.Runtime.describe_state`), which :meth:`tick` asks of live
    supervisors that have not reported yet (one whose report left the runtime's
    bounded log before the view opened).
    """

    KINDS = (
        "spawn",
        "exit",
        "supervisor_flags",
        "child_start",
        "child_terminated",
        "restart",
        "supervisor_gave_up",
        "llm_request",
        "llm_response",
        "llm_error",
        "llm_token",
    )

    def __init__(self, pending: Pending, *, max_dead: int = 2000, known: Mapping[int, Config] | None = None,
                 describe: Callable[[Any], str | None] | None = None) -> None:
        self.pending = pending
        self.known = known
        self.describe = describe
        #: keys of live supervisors whose strategy and budget ``describe`` may tell
        self._unknown: set[str] = set()
        pending.dumpers["nodes"] = self._dump
        self.ids = Identity()
        self.nodes: dict[str, dict[str, Any]] = {}
        self.exits: dict[str, Any] = {}  # key -> the last abnormal exit (type, message, traceback)
        self.rates: dict[str, Rate] = {}  # key -> token rate, for nodes that stream
        self.max_dead = max_dead
        self._dead: deque[tuple[str, int]] = deque()
        self._active: set[str] = set()  # nodes with a non-zero token rate
        #: key -> its supervisor's pid: alive when the supervisor decided to restart it
        #: with its group (one_for_all, rest_for_one); restarting once it has stopped
        self._stopping: dict[str, int] = {}
        self.now = 0.0
        self.handlers = {k: getattr(self, "_on_" + k) for k in self.KINDS}

    # -- events ------------------------------------------------------------------
    def apply(self, ev: Any) -> None:
        h = self.handlers.get(ev[3])
        if h is not None:
            h(ev)

    def _node(self, pid: int) -> dict[str, Any] | None:
        k = self.ids.key_of.get(pid)
        return self.nodes.get(k) if k is not None else None

    def _put(self, node: dict[str, Any]) -> None:
        self.pending.put("nodes", node["key"], node)

    def _dump(self, n: dict[str, Any]) -> dict[str, Any]:
        d: dict[str, Any] = {"key": n["key"], "pid": n["pid"], "label": n["label"], "kind": n["kind"],
                             "status": node_status(n), "order": n["order"]}
        parent = self.ids.parent(n["key"])
        if parent is not None:
            d["parent"] = parent
        for k in ("restarts", "mailbox", "tps", "tokens", "restart", "strategy", "budget"):
            v = n[k]
            if v:
                d[k] = list(v) if k == "budget" else v
        if n["child_id"] is not None:
            d["child_id"] = str(n["child_id"])
        if n["exit_text"] is not None:
            d["exit"] = n["exit_text"]
            d["exit_class"] = n["exit"]
        if n["gave_up"]:
            d["gave_up"] = True
        return d

    def _on_spawn(self, ev: Any) -> None:
        key = self.ids.spawn(ev)
        node = self.nodes.get(key)
        self.now = ev[1]
        if node is None:
            node = _new_node(self.ids, key, ev[4], ev[1])
            self.nodes[key] = node
            self._configure(node)
            self.pending.put_new("nodes", key, node)
            return
        m = self.ids.meta[key]  # child_start came first
        node["kind"], node["label"], node["name"], node["path"] = m["kind"], m["label"], m["name"], m["path"]
        self._configure(node)
        self._put(node)

    def _configure(self, node: dict[str, Any]) -> None:
        """A supervisor starts: its strategy and budget, if known before it reports a restart."""
        if node["kind"] != "supervisor" or (node["strategy"] is not None and node["budget"] is not None):
            return
        known = self.known.get(node["pid"]) if self.known else None
        if known is not None:
            self._learn(node, *known)
        elif self.describe is not None:
            self._unknown.add(node["key"])

    @staticmethod
    def _learn(node: dict[str, Any], strategy: str | None, intensity: int | None, period: float | None,
               used: int = 0) -> None:
        if node["strategy"] is None:
            node["strategy"] = strategy
        if node["budget"] is None and intensity is not None:
            node["budget"] = (used, intensity, period)

    def _on_supervisor_flags(self, ev: Any) -> None:
        """A supervisor starts: its strategy and restart budget, none of it used yet."""
        node = self._node(ev[4])
        if node is None or node["pid"] != ev[4]:
            return
        d = ev[9] or {}
        if d.get("strategy") is not None:
            node["strategy"] = d["strategy"]
        if d.get("intensity") is not None:
            node["budget"] = (0, d["intensity"], d.get("period"))
        if self._unknown:
            self._unknown.discard(node["key"])
        self._put(node)

    def _on_child_start(self, ev: Any) -> None:
        slot, old, restarted = self.ids.child_start(ev)
        old_node = self.nodes.pop(old, None) if old is not None else None
        if old is not None:
            self.pending.drop("nodes", old)  # a provisional node the browser may never see
        pid = ev[7]
        node = self.nodes.get(slot)
        if node is None:
            node = old_node or _new_node(self.ids, slot, pid, ev[1])
            node["key"] = slot
            self.nodes[slot] = node
        elif restarted:
            node["restarts"] += 1
        else:  # a new child in the row of one that exited (a dynamic supervisor's): its own counts
            node["restarts"] = node["tokens"] = 0
            node["tps"] = 0.0
            node["exit"] = node["exit_text"] = node["strategy"] = node["budget"] = None
            self.exits.pop(slot, None)
            self.rates.pop(slot, None)
        if old_node is not None and old_node is not node and old_node["budget"] is not None:
            # a supervisor that reported its flags under its provisional key: this
            # incarnation's own
            node["strategy"], node["budget"] = old_node["strategy"], old_node["budget"]
        m = self.ids.meta[slot]
        if self._stopping:
            self._stopping.pop(slot, None)
        node["pid"] = pid
        node["alive"] = True
        node["restarting"] = False
        node["llm"] = 0
        node["mailbox"] = 0
        node["since"] = ev[1]
        node["gave_up"] = False  # a new incarnation of a supervisor has used none of its budget
        b = node["budget"]
        if b is not None:
            node["budget"] = (0, b[1], b[2])
        node["label"], node["kind"], node["order"] = m["label"], m["kind"], m["order"]
        node["name"], node["path"] = m["name"], m["path"]
        node["child_id"] = m["child_id"]
        node["restart"] = m["restart"]
        self._configure(node)
        self._put(node)

    def _on_exit(self, ev: Any) -> None:
        self.ids.exit(ev[4])
        node = self._node(ev[4])
        if node is None or node["pid"] != ev[4]:
            return
        if self._unknown:
            self._unknown.discard(node["key"])
        self._exited(node, ev[8])
        if self._stopping:
            key = node["key"]
            if self._stopping.pop(key, None) is not None:
                node["restarting"] = True
            if node["kind"] == "supervisor":
                self._cancel_restarts(ev[4])
        self._active.discard(node["key"])
        self._put(node)
        self._dead.append((node["key"], node["pid"]))
        if len(self._dead) > self.max_dead:
            self._prune()

    def _exited(self, node: dict[str, Any], reason: Any) -> None:
        cls = exit_class(reason)
        node["alive"] = False
        node["exit"] = cls
        node["exit_text"] = exit_text(reason, 80)
        node["llm"] = 0
        node["mailbox"] = 0
        node["tps"] = 0.0
        if cls != "normal":
            self.exits[node["key"]] = exit_detail(reason)  # strings only: nothing for the GC

    def _prune(self) -> None:
        while len(self._dead) > self.max_dead:
            key, pid = self._dead.popleft()
            node = self.nodes.get(key)
            if node is not None and not node["alive"] and node["pid"] == pid:
                del self.nodes[key]
                self.exits.pop(key, None)
                self.rates.pop(key, None)
                self.ids.forget(key)
                self.pending.put("nodes", key, None)

    def _on_child_terminated(self, ev: Any) -> None:
        node = self._node(ev[7])
        if node is not None and node["exit_text"] is None and ev[8] is not None:
            cls = exit_class(ev[8])
            node["exit"], node["exit_text"] = cls, exit_text(ev[8], 80)
            if cls != "normal":
                self.exits[node["key"]] = exit_detail(ev[8])
            self._put(node)

    def _on_restart(self, ev: Any) -> None:
        self.ids.restart(ev)
        sup = self._node(ev[4])
        d = ev[9] or {}
        if sup is not None:
            sup["strategy"] = d.get("strategy", sup["strategy"])
            if d.get("intensity") is not None:
                sup["budget"] = (d.get("restarts_in_window", 0), d.get("intensity"), d.get("period"))
                if self._unknown:
                    self._unknown.discard(sup["key"])
            self._put(sup)
            group = sup["strategy"] in ("one_for_all", "rest_for_one")
            # a one_for_one restart is of the crashed child only (below, by pid): the
            # child id alone would also name a dynamic supervisor's stopped children
            affected = (d.get("affected") or [d.get("child_id")]) if group or not ev[7] else ()
            for cid in affected:
                for key in self.ids.slots(ev, cid):
                    node = self.nodes.get(key)
                    if node is None:
                        continue
                    if not node["alive"]:
                        node["restarting"] = True
                        self._put(node)
                    elif group and node["restart"] != "temporary":  # the supervisor stops it first
                        self._stopping[key] = ev[4]
        crashed = self._node(ev[7])
        if crashed is not None and not crashed["alive"]:
            crashed["restarting"] = True
            self._put(crashed)

    def _on_supervisor_gave_up(self, ev: Any) -> None:
        sup = self._node(ev[4])
        if sup is not None:
            sup["gave_up"] = True
            d = ev[9] or {}
            if d.get("intensity") is not None:  # the restart that was one too many counts too
                sup["budget"] = (d.get("restarts", 0), d["intensity"], d.get("period"))
                if self._unknown:
                    self._unknown.discard(sup["key"])
            if self._stopping:
                self._cancel_restarts(ev[4])
            for node in self.nodes.values():
                if node["restarting"] and self.ids.parent(node["key"]) == sup["key"]:
                    node["restarting"] = False
                    self._put(node)
            self._put(sup)

    def _cancel_restarts(self, sup: int) -> None:
        """Supervisor ``sup`` (a pid) will not restart the children it was stopping
        (it gave up, or stopped)."""
        for key in [k for k, s in self._stopping.items() if s == sup]:
            del self._stopping[key]

    def _on_llm_request(self, ev: Any) -> None:
        node = self._node(ev[4])
        if node is not None and node["alive"]:
            node["llm"] += 1
            if node["llm"] == 1:
                self._put(node)

    def _on_llm_response(self, ev: Any) -> None:
        node = self._node(ev[4])
        if node is not None and node["llm"] > 0:
            node["llm"] -= 1
            if node["llm"] == 0:
                self._put(node)

    _on_llm_error = _on_llm_response

    def _on_llm_token(self, ev: Any) -> None:
        node = self._node(ev[4])
        if node is None:
            return
        key = node["key"]
        r = self.rates.get(key)
        if r is None:
            self.rates[key] = r = Rate()
        r.add(ev[1])
        node["tokens"] += 1
        self._active.add(key)

    # -- periodic ----------------------------------------------------------------
    def tick(self, now: float, procs: Iterable[Any] | None = None) -> None:
        """Refresh token rates at time ``now`` and mailbox depths from live ``procs``."""
        self.now = now
        if self._active:
            done = []
            for key in self._active:
                node = self.nodes.get(key)
                r = self.rates.get(key)
                if node is None or r is None:
                    done.append(key)
                    continue
                tps = round(r.value(now), 1)
                if tps != node["tps"]:
                    node["tps"] = tps
                    self._put(node)
                if tps == 0.0:
                    done.append(key)
            self._active.difference_update(done)
        if procs is not None:
            key_of = self.ids.key_of
            nodes = self.nodes
            unknown = self._unknown
            for p in procs:
                n = p.mailbox_size
                k = key_of.get(p.id)
                if k is None:
                    continue
                node = nodes.get(k)
                if unknown and k in unknown and node is not None and node["pid"] == p.id:
                    self._ask(node, p)
                if node is None or node["mailbox"] == n or node["pid"] != p.id:
                    continue
                node["mailbox"] = n
                self._put(node)

    def _ask(self, node: dict[str, Any], proc: Any) -> None:
        """What a live supervisor says of its strategy and budget (once it has started)."""
        try:
            text = self.describe(proc) if self.describe is not None else None
        except Exception:  # a supervisor's own describe_state may fail: the view goes on
            text = None
        if text == "starting":  # not initialised yet: the next tick asks again
            return
        self._unknown.discard(node["key"])
        state = supervisor_state(text)
        if state is not None:
            strategy, used, intensity, period = state
            self._learn(node, strategy, intensity, period, used)
            self._put(node)

    def adopt(self, procs: Iterable[Any]) -> None:
        """Add live processes the event backlog did not show being spawned."""
        for p in procs:
            if p.id in self.ids.key_of:
                continue
            key = self.ids.ensure(p.id, p.name, p.path)
            node = _new_node(self.ids, key, p.id, self.now)
            self.nodes[key] = node
            self._put(node)

    # -- outputs -----------------------------------------------------------------
    def size(self) -> int:
        """How many items a snapshot holds (its cost grows with it: see Pump)."""
        return len(self.nodes)

    def snapshot(self) -> dict[str, Any]:
        dump = self._dump
        return {"nodes": [dump(n) for n in self.nodes.values()], "now": self.now}

    def details(
        self, key: str, events: Iterable[Any] = (), *, newest_first: bool = False
    ) -> dict[str, Any] | None:
        """What the details panel shows about ``key`` (without the live state).

        ``events`` (newest last, or newest first with ``newest_first``) gives the
        node's recent lifecycle history.
        """
        node = self.nodes.get(key)
        if node is None:
            return None
        d = self._dump(node)
        d["pid_text"] = f"<0.{node['pid']}.0>"
        d["path"] = node["path"]
        d["name"] = node["name"]
        d["since"] = node["since"]
        d["alive"] = node["alive"]
        d["exit_detail"] = self.exits.get(key) or (exit_detail(node["exit_text"]) if node["exit_text"] else None)
        d["history"] = self._history(node, events, newest_first=newest_first)
        sup = self.ids.parent(key)
        d["supervisor"] = sup
        chain = []
        while sup is not None:
            chain.append(self.nodes[sup]["label"] if sup in self.nodes else sup)
            sup = self.ids.parent(sup)
        d["supervisor_path"] = "/".join(reversed(chain))
        return d

    def _history(self, node: dict[str, Any], events: Iterable[Any], limit: int = 8,
                 scan: int = 50_000, *, newest_first: bool = False) -> list[list[Any]]:
        """The newest ``limit`` lifecycle rows of ``node``, oldest first: ``events`` is
        read backwards in time (the last ``scan`` events at most), and the read stops
        at ``limit`` rows. Events or the runtime's raw records (the same fields).

        One tight loop: a click on a node in a storm reads up to ``scan`` events with
        the kernel's loop waiting (~1.3 µs an event through Event objects and a call
        per event, 60-70 ms for a full scan; see ``EventLog._raw_newest``)."""
        if not newest_first:
            events = reversed(events if isinstance(events, Sequence) else list(events))
        key, path, key_of, wanted = node["key"], node["path"], self.ids.key_of, _HISTORY
        out: list[list[Any]] = []
        for ev in islice(events, scan):
            kind = ev[3]
            if kind not in wanted:
                continue
            if kind == "child_start":
                if key_of.get(ev[7]) != key:
                    continue
                text = f"<0.{ev[7]}.0>"
                kind = "start"
            elif (path is None or ev[6] != path) and key_of.get(ev[4]) != key:
                continue
            elif kind == "exit" or kind == "exit_signal":
                text = exit_text(ev[8], 120)
            else:
                text = f"<0.{ev[4]}.0>"
            out.append([ev[1], kind, text])
            if len(out) >= limit:
                break
        out.reverse()
        return out

    def live_pids(self, under: str | None = None, workers_only: bool = True) -> list[int]:
        """Pids of live nodes (in ``under``'s subtree when given), for "kill random"."""
        out = []
        for key, node in self.nodes.items():
            if not node["alive"] or (workers_only and node["kind"] == "supervisor"):
                continue
            if under is not None and key != under and not self._below(key, under):
                continue
            out.append(node["pid"])
        return out

    def _below(self, key: str, ancestor: str) -> bool:
        p = self.ids.parent(key)
        while p is not None:
            if p == ancestor:
                return True
            p = self.ids.parent(p)
        return False


def tree_view(events: Iterable[Any], *, max_dead: int = 2000) -> dict[str, Any]:
    """The tree snapshot after ``events`` (a list of :class:`agentlab.Event`)."""
    model = TreeModel(Pending(), max_dead=max_dead)
    apply = model.apply
    last = 0.0
    for ev in events:
        apply(ev)
        last = ev[1]
    model.tick(last)
    return model.snapshot()
