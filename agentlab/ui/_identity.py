"""Stable view keys for processes: a supervised child keeps its key across restarts.

Every view names things by *key*, not by pid: a worker restarted by its
supervisor gets a new pid but stays the same row in the tree, the same lane in
the timeline and the same lifeline in the sequence diagram.

* A process is first known by a provisional key ``"#<pid>"`` (from ``spawn``).
* When a supervisor reports ``child_start`` for it, it moves to the slot key
  ``"<supervisor path>/<child id>"`` (the path the supervisor gives the
  child, the same for every incarnation of both). If that slot already
  existed (a restart), the new pid joins the existing slot.

What is known per key is a plain dict of strings and numbers (``meta``):
Python's garbage collector does not track such dicts, so 10,000 processes
cost it nothing (objects would be walked by every full collection, and those
pauses stall the event loop).

>>> from agentlab import Event
>>> ids = Identity()
>>> ids.spawn(Event.make(1, 0.0, 0.0, "spawn", 100, "sup", "sup", None, None, {"kind": "supervisor"}))
'#100'
>>> ids.spawn(Event.make(2, 0.0, 0.0, "spawn", 101, None, None, 100, None, {"kind": "agent"}))
'#101'
>>> ids.child_start(Event.make(3, 0.0, 0.0, "child_start", 100, "sup", "sup", 101, None, {"child_id": "w"}))
('sup/w', '#101', False)
>>> ids.key(101), ids.meta["sup/w"]["label"], ids.parent("sup/w")
('sup/w', 'w', '#100')
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from ._pending import trim_slack

__all__ = ["OUTSIDE", "Identity", "SharedIdentity", "pid_label"]

OUTSIDE = "outside"
"""The key of everything that is not a process (cell code, the runtime itself)."""


def pid_label(pid: int | None) -> str:
    """OTP's spelling of a pid: ``<0.42.0>``."""
    return f"<0.{pid}.0>" if pid else "(outside)"


def _meta(pid: int, parent: str | None, label: str, kind: str, order: int,
          name: str | None = None, path: str | None = None) -> dict[str, Any]:
    return {"pid": pid, "alive": True, "parent": parent, "label": label, "kind": kind, "order": order,
            "name": name, "path": path, "child_id": None, "restart": None, "sup": None}


class Identity:
    """Maps pids to stable keys and remembers parent, label and kind per key (``meta``)."""

    __slots__ = ("_dead", "_hint", "_order", "_parents", "_restarting", "_slots", "key_of", "meta", "moved")

    #: how many dead pids stay resolvable (late events name them: DOWN, restart reports);
    #: a process no supervisor reported is forgotten altogether after as many deaths
    KEEP_DEAD = 20_000

    def __init__(self) -> None:
        self.key_of: dict[int, str] = {}
        #: key -> {"pid", "alive", "parent", "label", "kind", "order", "name", "path", "child_id", "restart",
        #: "sup"} (``sup``: the pid of the supervisor that last started the slot's child)
        self.meta: dict[str, dict[str, Any]] = {}
        self._order = 0
        self._parents: set[str] = set()  # provisional keys that have children
        #: provisional key -> slot key, for provisional parents that moved
        self.moved: dict[str, str] = {}
        self._slots: dict[str, tuple[str, ...]] = {}  # "<supervisor path>/<child id>" -> slot keys
        self._hint: dict[int, int] = {}  # supervisor pid -> pid of the child it is restarting
        #: supervisor pid -> the slots it reported restarting, not started yet (a supervisor
        #: that exits first, giving up, starts none of them: they must not make a later
        #: subtree in those rows a restart)
        self._restarting: dict[int, set[str]] = {}
        self._dead: deque[int] = deque()

    def parent(self, key: str) -> str | None:
        """The current key of ``key``'s parent (following provisional keys that moved)."""
        m = self.meta.get(key)
        if m is None:
            return None
        p = m["parent"]
        if p is None:
            return None
        moved = self.moved
        while p in moved:
            p = moved[p]
        return p

    def key(self, pid: int | None) -> str:
        """The key for ``pid`` (``"outside"`` for 0/1/None, ``"#pid"`` when unknown)."""
        if not pid or pid == 1:
            return OUTSIDE
        k = self.key_of.get(pid)
        return k if k is not None else f"#{pid}"

    def label(self, key: str) -> str:
        m = self.meta.get(key)
        return m["label"] if m is not None else ("(outside)" if key == OUTSIDE else key)

    def matches(self, key: str, pid: int | None, wanted: set[str]) -> bool:
        """Whether a user's filter (names, keys, pids, labels as strings) picks ``key``."""
        if key in wanted or str(pid) in wanted:
            return True
        m = self.meta.get(key)
        return m is not None and (m["label"] in wanted or str(m["name"]) in wanted)

    def spawn(self, ev: Any) -> str:
        """A ``spawn`` event: a provisional key under the parent's key."""
        pid = ev[4]
        known = self.key_of.get(pid)
        if known is not None:  # the supervisor reported child_start first
            m0 = self.meta[known]
            m0["kind"] = str((ev[9] or {}).get("kind", m0["kind"]))
            m0["name"], m0["path"] = ev[5], ev[6]
            if ev[5]:
                m0["label"] = ev[5]
            return known
        parent_pid = ev[7]
        parent = self.key_of.get(parent_pid) if parent_pid else None
        if parent is not None and parent[0] == "#":
            self._parents.add(parent)
        data = ev[9] or {}
        name = ev[5]
        key = f"#{pid}"
        self._order += 1
        self.meta[key] = _meta(pid, parent, name or f"<0.{pid}.0>", str(data.get("kind", "process")),
                               self._order, name, ev[6])
        self.key_of[pid] = key
        return key

    def ensure(self, pid: int, name: str | None = None, path: str | None = None) -> str:
        """The key for ``pid``, creating a parentless entry if it was never spawned here."""
        k = self.key_of.get(pid)
        if k is not None:
            return k
        k = f"#{pid}"
        self._order += 1
        self.meta[k] = _meta(pid, None, name or f"<0.{pid}.0>", "process", self._order, name, path)
        self.key_of[pid] = k
        return k

    def child_start(self, ev: Any) -> tuple[str, str | None, bool]:
        """A supervisor's ``child_start``: returns ``(slot_key, old_key, restarted)``.

        ``old_key`` is the provisional key the child had (now gone), or ``None``;
        ``restarted`` is true when the child is the slot's child started again: by
        its supervisor (a later ``attempt``), or by a new incarnation of its
        supervisor (restarted by its own).

        Dynamic supervisors give many children the same id, so a child id can
        have several slots (``sup/w``, ``sup/w~2`` ...): a restart (``attempt``
        > 0) goes to the slot of the child the supervisor just reported
        restarting; a new child takes a free (dead) slot of its id under the same
        supervisor (not a restart: ``restarted`` is false), or a new one. A
        supervisor started again from outside (a notebook cell run again, with
        ``replace=True`` or after a stop) is a new tree: its children get slots
        of their own, not those of the tree it replaced.
        """
        sup_pid, child_pid = ev[4], ev[7]
        data = ev[9] or {}
        child_id = data.get("child_id")
        sup_key = self.key_of.get(sup_pid) or self.ensure(sup_pid, ev[5], ev[6])
        base = self._base(ev, sup_key, child_id, child_pid)
        attempt = data.get("attempt") or 0
        slot = self._pick_slot(ev, base, sup_key, attempt)
        old_key = self.key_of.get(child_pid)
        old = self.meta.pop(old_key, None) if old_key is not None and old_key != slot else None
        existing = self.meta.get(slot)
        if existing is not None:
            # the same child again: its supervisor's next attempt, or the first of a new
            # incarnation of its supervisor, which its own supervisor is restarting (and which
            # takes the slot of the one before, see _owned). Otherwise a new child in the row
            # of one that exited (of a new supervisor in the row of one that exited)
            restarted = attempt > 0 or (existing["sup"] != sup_pid and self._is_restarting(self.parent(slot)))
            existing["pid"] = child_pid
            existing["alive"] = True
            if old is not None:
                existing["kind"] = old["kind"]
                existing["name"] = old["name"]
                existing["path"] = old["path"]
        else:
            restarted = False
            if old is None:
                self._order += 1
                old = _meta(child_pid, sup_key, "", "process", self._order)
            existing = old
            existing["parent"] = sup_key
            self.meta[slot] = existing
            self._slots[base] = (*self._slots.get(base, ()), slot)
        existing["child_id"] = child_id
        existing["restart"] = data.get("restart")
        existing["sup"] = sup_pid
        if self._restarting:
            by = self._restarting.get(sup_pid)
            if by is not None:
                by.discard(slot)
                if not by:
                    del self._restarting[sup_pid]
        if data.get("type") == "supervisor":
            existing["kind"] = "supervisor"
        existing["label"] = existing["name"] or (str(child_id) if child_id is not None else f"<0.{child_pid}.0>")
        self.key_of[child_pid] = slot
        if old_key is not None and old_key in self._parents:
            self._parents.discard(old_key)
            self.moved[old_key] = slot
        return slot, (old_key if old_key != slot else None), restarted

    @staticmethod
    def _base(ev: Any, sup_key: str, child_id: Any, child_pid: int) -> str:
        """A slot's stable name: the supervisor's path (the same for each of its
        incarnations) and the child id, as the supervisor names the child's path."""
        return f"{ev[6] or sup_key}/{child_id if child_id is not None else child_pid}"

    def _pick_slot(self, ev: Any, base: str, sup_key: str, attempt: int) -> str:
        slots = self._slots.get(base)
        if not slots:
            return base
        if attempt > 0:
            crashed = self._hint.pop(ev[4], None)
            k = self.key_of.get(crashed) if crashed is not None else None
            if k is not None and k in slots:
                return k
        for k in slots:  # a free slot of this id (its child is not running) in this tree
            m = self.meta.get(k)
            if m is not None and not m["alive"] and self._owned(k, sup_key):
                return k
        n = len(slots) + 1
        while f"{base}~{n}" in self.meta:  # (a slot forgotten in between frees a number)
            n += 1
        return f"{base}~{n}"

    def _owned(self, slot: str, sup_key: str) -> bool:
        """Whether ``slot`` is a child slot of supervisor ``sup_key``.

        It is when its parent is ``sup_key``, or when ``sup_key`` is the new
        incarnation of the parent: a supervised supervisor restarted by its own
        starts its children while it is known by its provisional key (its
        supervisor reports it afterwards, and then it takes the slot key of the
        one before). A provisional parent that is not ``sup_key`` is a process
        no supervisor started: a tree of its own.
        """
        p = self.parent(slot)
        if p == sup_key:
            return True
        if p is None or sup_key[0] != "#" or p[0] == "#":
            return False
        before, now = self.meta.get(p), self.meta.get(sup_key)
        return (before is not None and now is not None and not before["alive"]
                and self.parent(p) == self.parent(sup_key))

    def slots(self, ev: Any, child_id: Any) -> tuple[str, ...]:
        """The slot keys of ``child_id`` under the supervisor that emitted ``ev``."""
        return self._slots.get(self._base(ev, self.key(ev[4]), child_id, 0), ())

    def restart(self, ev: Any) -> None:
        """A supervisor's ``restart`` report: remember which children it is restarting."""
        if ev[7]:
            self._hint[ev[4]] = ev[7]
        d = ev[9] or {}
        slots: list[str] = []
        if d.get("strategy") in ("one_for_all", "rest_for_one"):  # its group (ids unique)
            for cid in d.get("affected") or [d.get("child_id")]:
                slots.extend(self.slots(ev, cid))
        elif ev[7]:  # the child that exited (a dynamic supervisor's id names many)
            k = self.key_of.get(ev[7])
            if k is not None:
                slots.append(k)
        if slots:
            self._restarting.setdefault(ev[4], set()).update(slots)

    def _is_restarting(self, slot: str | None) -> bool:
        """Whether a supervisor reported restarting ``slot`` and has not started it yet."""
        return any(slot in by for by in self._restarting.values())

    def exit(self, pid: int) -> None:
        """``pid`` exited: its slot is free; old pids are forgotten after a while.

        A supervisor that exits (it gave up, or was stopped) restarts none of the
        children it reported restarting: they are restarting no more.
        """
        self._restarting.pop(pid, None)
        self._hint.pop(pid, None)
        k = self.key_of.get(pid)
        if k is None:
            return
        m = self.meta.get(k)
        if m is not None and m["pid"] == pid:
            m["alive"] = False
        dead = self._dead
        dead.append(pid)
        if len(dead) > self.KEEP_DEAD + trim_slack(self.KEEP_DEAD):
            # a few at a time: forgetting half of 20,000 at once was a stall (times four
            # views) in a storm of restarts
            for _ in range(len(dead) - self.KEEP_DEAD):
                old = dead.popleft()
                k = self.key_of.get(old)
                m = self.meta.get(k) if k is not None else None
                if m is None or m["pid"] != old:
                    self.key_of.pop(old, None)
                elif k[0] == "#" and not m["alive"] and k not in self._parents:  # type: ignore[index]
                    # a process no supervisor reported (a plain spawn, a task), dead for
                    # KEEP_DEAD deaths: no view still shows it, and a notebook that spawns
                    # millions of them must not keep a key for each
                    del self.meta[k]  # type: ignore[arg-type]
                    del self.key_of[old]

    def forget(self, key: str) -> None:
        m = self.meta.pop(key, None)
        if m is None:
            return
        if self.key_of.get(m["pid"]) == key:
            del self.key_of[m["pid"]]
        base = key.split("~", 1)[0] if key[0] != "#" else None
        slots = self._slots.get(base) if base is not None else None
        if slots is not None and key in slots:
            self._slots[base] = tuple(s for s in slots if s != key)  # type: ignore[index]

    def same_state(self, other: Identity) -> bool:
        """Whether ``other`` knows exactly what this one knows (same keys, same meta)."""
        return all(getattr(self, name) == getattr(other, name) for name in Identity.__slots__)


class SharedIdentity(Identity):
    """One :class:`Identity` for every view of a live feed that knows the same history.

    The feed applies each event to it once (its :meth:`handlers`), before the views see
    the event; a view's own call for that event (``ids.child_start(ev)`` ...)
    then returns what the feed's call returned, so view code is the same whether
    its identity is shared or its own. Four views of a 10,000-process tree kept
    four copies of the same tables before (and in a storm of restarts grew them
    at the same moment); now they keep one, and do its work once.

    It forgets nothing on one view's behalf (:meth:`forget` is a no-op): a key
    the tree prunes may still be a lane in the timeline.
    """

    __slots__ = ("_last_exit", "_result", "_seen")

    def __init__(self) -> None:
        super().__init__()
        self._seen: Any = None  # seq of the last event applied
        self._result: Any = None  # what applying it returned
        self._last_exit: int | None = None

    @classmethod
    def taking(cls, ids: Identity) -> SharedIdentity:
        """A shared identity that takes over ``ids``'s state (``ids`` is not used after)."""
        shared = cls()
        for name in Identity.__slots__:  # all of an identity's state
            setattr(shared, name, getattr(ids, name))
        return shared

    def handlers(self) -> dict[str, Callable[[Any], Any]]:
        """What the feed routes to it, per event kind (no other kind changes an identity)."""
        return {"spawn": self.spawn, "child_start": self.child_start, "exit": self._on_exit,
                "restart": self.restart}

    def _on_exit(self, ev: Any) -> None:
        self._last_exit = None
        self.exit(ev[4])

    def spawn(self, ev: Any) -> str:
        if ev[0] != self._seen:
            self._seen, self._result = ev[0], Identity.spawn(self, ev)
        return self._result

    def child_start(self, ev: Any) -> tuple[str, str | None, bool]:
        if ev[0] != self._seen:
            self._seen, self._result = ev[0], Identity.child_start(self, ev)
        return self._result

    def restart(self, ev: Any) -> None:
        if ev[0] != self._seen:
            self._seen, self._result = ev[0], None
            Identity.restart(self, ev)

    def exit(self, pid: int) -> None:
        if pid != self._last_exit:
            self._last_exit = pid
            Identity.exit(self, pid)

    def forget(self, key: str) -> None:
        """Nothing: other views sharing this identity may still show ``key``."""
