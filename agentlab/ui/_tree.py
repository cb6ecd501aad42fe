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

>>> from agentlab.ui._synthetic import tiny_tree_events
>>> snap = tree_view(tiny_tree_events())
>>> [(n["label"], n["status"], n.get("restarts", 0)) for n in snap["nodes"]]
[('team', 'running', 0), ('writer', 'running', 1), ('critic', 'waiting', 0)]
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Any

from ._fmt import Rate, exit_class, exit_detail, exit_text
from ._identity import Identity
from ._pending import Pending

__all__ = ["Node", "TreeModel", "tree_view"]


class Node:
    """One row of the tree. ``dump()`` is what the browser gets."""

    __slots__ = (
        "_ids",
        "alive",
        "budget",
        "child_id",
        "exit",
        "gave_up",
        "history",
        "key",
        "kind",
        "label",
        "llm",
        "mailbox",
        "name",
        "order",
        "path",
        "pid",
        "rate",
        "reason",
        "restart",
        "restarting",
        "restarts",
        "since",
        "strategy",
        "tokens",
        "tps",
    )

    def __init__(self, ids: Identity, key: str, pid: int, since: float) -> None:
        self._ids = ids
        self.key = key
        self.pid = pid
        self.alive = True
        self.since = since
        self.restarts = 0
        self.restarting = False
        self.mailbox = 0
        self.tps = 0.0
        self.tokens = 0
        self.llm = 0
        self.reason: Any = None
        self.exit: str | None = None
        self.strategy: str | None = None
        self.budget: list[Any] | None = None
        self.gave_up = False
        self.rate: Rate | None = None
        self.history: list[list[Any]] = []
        m = ids.meta.get(key)
        self.label = m.label if m else f"<0.{pid}.0>"
        self.kind = m.kind if m else "process"
        self.order = m.order if m else 0
        self.name = m.name if m else None
        self.path = m.path if m else None
        self.child_id = None
        self.restart = None

    @property
    def status(self) -> str:
        if self.alive:
            return "waiting" if self.llm > 0 else "running"
        if self.restarting:
            return "restarting"
        return "crashed" if self.exit in ("crash", "killed") else "stopped"

    def note(self, t: float, what: str, text: str = "") -> None:
        h = self.history
        h.append([t, what, text])
        if len(h) > 8:
            del h[0]

    def dump(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "key": self.key,
            "pid": self.pid,
            "label": self.label,
            "kind": self.kind,
            "status": self.status,
            "order": self.order,
        }
        parent = self._ids.parent(self.key)
        if parent is not None:
            d["parent"] = parent
        if self.restarts:
            d["restarts"] = self.restarts
        if self.mailbox:
            d["mailbox"] = self.mailbox
        if self.tps:
            d["tps"] = self.tps
        if self.tokens:
            d["tokens"] = self.tokens
        if self.child_id is not None:
            d["child_id"] = str(self.child_id)
        if self.restart:
            d["restart"] = self.restart
        if self.reason is not None:
            d["exit"] = exit_text(self.reason, 80)
            d["exit_class"] = self.exit
        if self.strategy:
            d["strategy"] = self.strategy
        if self.budget:
            d["budget"] = self.budget
        if self.gave_up:
            d["gave_up"] = True
        return d


class TreeModel:
    """Folds events into tree nodes and records each change in ``pending``.

    ``max_dead`` bounds how many dead nodes stay visible (oldest go first).
    """

    KINDS = (
        "spawn",
        "exit",
        "child_start",
        "child_terminated",
        "restart",
        "supervisor_gave_up",
        "llm_request",
        "llm_response",
        "llm_error",
        "llm_token",
    )

    def __init__(self, pending: Pending, *, max_dead: int = 2000) -> None:
        self.pending = pending
        self.ids = Identity()
        self.nodes: dict[str, Node] = {}
        self.max_dead = max_dead
        self._dead: deque[tuple[str, int]] = deque()
        self._active: set[str] = set()  # nodes with a non-zero token rate
        self.now = 0.0
        self.handlers = {k: getattr(self, "_on_" + k) for k in self.KINDS}

    # -- events ------------------------------------------------------------------
    def apply(self, ev: Any) -> None:
        h = self.handlers.get(ev[3])
        if h is not None:
            h(ev)

    def _node(self, pid: int) -> Node | None:
        k = self.ids.key_of.get(pid)
        return self.nodes.get(k) if k is not None else None

    def _put(self, node: Node) -> None:
        self.pending.put("nodes", node.key, node)

    def _on_spawn(self, ev: Any) -> None:
        key = self.ids.spawn(ev)
        node = self.nodes.get(key)
        if node is None:
            node = Node(self.ids, key, ev[4], ev[1])
            self.nodes[key] = node
        else:  # child_start came first
            m = self.ids.meta[key]
            node.kind, node.label, node.name, node.path = m.kind, m.label, m.name, m.path
        self.now = ev[1]
        node.note(ev[1], "spawn", f"<0.{ev[4]}.0>")
        self._put(node)

    def _on_child_start(self, ev: Any) -> None:
        slot, old, restarted = self.ids.child_start(ev)
        old_node = self.nodes.pop(old, None) if old is not None else None
        if old is not None:
            self.pending.put("nodes", old, None)
        pid = ev[7]
        node = self.nodes.get(slot)
        if node is None:
            node = old_node or Node(self.ids, slot, pid, ev[1])
            node.key = slot
            self.nodes[slot] = node
        elif restarted:
            node.restarts += 1
            node.note(ev[1], "restart", f"<0.{pid}.0>")
        m = self.ids.meta[slot]
        node.pid = pid
        node.alive = True
        node.restarting = False
        node.llm = 0
        node.mailbox = 0
        node.since = ev[1]
        node.label, node.kind, node.order = m.label, m.kind, m.order
        node.name, node.path = m.name, m.path
        node.child_id = m.child_id
        node.restart = m.restart
        self._put(node)

    def _on_exit(self, ev: Any) -> None:
        self.ids.exit(ev[4])
        node = self._node(ev[4])
        if node is None or node.pid != ev[4]:
            return
        reason = ev[8]
        node.alive = False
        node.reason = reason
        node.exit = exit_class(reason)
        node.llm = 0
        node.mailbox = 0
        node.tps = 0.0
        self._active.discard(node.key)
        node.note(ev[1], "exit", exit_text(reason, 200))
        self._put(node)
        self._dead.append((node.key, node.pid))
        if len(self._dead) > self.max_dead:
            self._prune()

    def _prune(self) -> None:
        while len(self._dead) > self.max_dead:
            key, pid = self._dead.popleft()
            node = self.nodes.get(key)
            if node is not None and not node.alive and node.pid == pid:
                del self.nodes[key]
                self.ids.forget(key)
                self.pending.put("nodes", key, None)

    def _on_child_terminated(self, ev: Any) -> None:
        node = self._node(ev[7])
        if node is not None and node.reason is None and ev[8] is not None:
            node.reason = ev[8]
            node.exit = exit_class(ev[8])
            self._put(node)

    def _on_restart(self, ev: Any) -> None:
        self.ids.restart(ev)
        sup = self._node(ev[4])
        d = ev[9] or {}
        if sup is not None:
            sup.strategy = d.get("strategy", sup.strategy)
            if d.get("intensity") is not None:
                sup.budget = [d.get("restarts_in_window", 0), d.get("intensity"), d.get("period")]
            sup.note(ev[1], "restart", f"{d.get('child_id')} ({d.get('strategy')})")
            self._put(sup)
            affected = d.get("affected") or [d.get("child_id")]
            for cid in affected:
                for key in self.ids.slots(ev, cid):
                    node = self.nodes.get(key)
                    if node is not None and not node.alive:
                        node.restarting = True
                        self._put(node)
        crashed = self._node(ev[7])
        if crashed is not None and not crashed.alive:
            crashed.restarting = True
            self._put(crashed)

    def _on_supervisor_gave_up(self, ev: Any) -> None:
        sup = self._node(ev[4])
        if sup is not None:
            sup.gave_up = True
            sup.note(ev[1], "gave up", "restart intensity exceeded")
            for node in self.nodes.values():
                if node.restarting and self.ids.parent(node.key) == sup.key:
                    node.restarting = False
                    self._put(node)
            self._put(sup)

    def _on_llm_request(self, ev: Any) -> None:
        node = self._node(ev[4])
        if node is not None and node.alive:
            node.llm += 1
            if node.llm == 1:
                self._put(node)

    def _on_llm_response(self, ev: Any) -> None:
        node = self._node(ev[4])
        if node is not None and node.llm > 0:
            node.llm -= 1
            if node.llm == 0:
                self._put(node)

    _on_llm_error = _on_llm_response

    def _on_llm_token(self, ev: Any) -> None:
        node = self._node(ev[4])
        if node is None:
            return
        r = node.rate
        if r is None:
            node.rate = r = Rate()
        r.add(ev[1])
        node.tokens += 1
        self._active.add(node.key)

    # -- periodic ----------------------------------------------------------------
    def tick(self, now: float, procs: Iterable[Any] | None = None) -> None:
        """Refresh token rates at time ``now`` and mailbox depths from live ``procs``."""
        self.now = now
        if self._active:
            done = []
            for key in self._active:
                node = self.nodes.get(key)
                if node is None or node.rate is None:
                    done.append(key)
                    continue
                tps = round(node.rate.value(now), 1)
                if tps != node.tps:
                    node.tps = tps
                    self._put(node)
                if tps == 0.0:
                    done.append(key)
            self._active.difference_update(done)
        if procs is not None:
            key_of = self.ids.key_of
            nodes = self.nodes
            for p in procs:
                k = key_of.get(p.id)
                if k is None:
                    continue
                node = nodes.get(k)
                if node is None or node.pid != p.id:
                    continue
                n = p.mailbox_size
                if n != node.mailbox:
                    node.mailbox = n
                    self._put(node)

    def adopt(self, procs: Iterable[Any]) -> None:
        """Add live processes the event backlog did not show being spawned."""
        for p in procs:
            if p.id in self.ids.key_of:
                continue
            key = self.ids.ensure(p.id, p.name, p.path)
            node = Node(self.ids, key, p.id, self.now)
            self.nodes[key] = node
            self._put(node)

    # -- outputs -----------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        return {"nodes": [n.dump() for n in self.nodes.values()], "now": self.now}

    def details(self, key: str) -> dict[str, Any] | None:
        """Everything the details panel shows about ``key`` (without the live state)."""
        node = self.nodes.get(key)
        if node is None:
            return None
        d = node.dump()
        d["pid_text"] = f"<0.{node.pid}.0>"
        d["path"] = node.path
        d["name"] = node.name
        d["since"] = node.since
        d["alive"] = node.alive
        d["exit_detail"] = exit_detail(node.reason)
        d["history"] = list(node.history)
        sup = self.ids.parent(key)
        d["supervisor"] = sup
        chain = []
        while sup is not None:
            chain.append(self.nodes[sup].label if sup in self.nodes else sup)
            sup = self.ids.parent(sup)
        d["supervisor_path"] = "/".join(reversed(chain))
        return d

    def live_pids(self, under: str | None = None, workers_only: bool = True) -> list[int]:
        """Pids of live nodes (in ``under``'s subtree when given), for "kill random"."""
        out = []
        for key, node in self.nodes.items():
            if not node.alive or (workers_only and node.kind == "supervisor"):
                continue
            if under is not None and key != under and not self._below(key, under):
                continue
            out.append(node.pid)
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
