"""Stable view keys for processes: a supervised child keeps its key across restarts.

Every view names things by *key*, not by pid: a worker restarted by its
supervisor gets a new pid but stays the same row in the tree, the same lane in
the timeline and the same lifeline in the sequence diagram.

* A process is first known by a provisional key ``"#<pid>"`` (from ``spawn``).
* When a supervisor reports ``child_start`` for it, it moves to the slot key
  ``"<supervisor key>/<child id>"``. If that slot already existed (a restart),
  the new pid joins the existing slot.

>>> from agentlab import Event
>>> ids = Identity()
>>> ids.spawn(Event.make(1, 0.0, 0.0, "spawn", 100, "sup", None, None, None, {"kind": "supervisor"}))
'#100'
>>> ids.spawn(Event.make(2, 0.0, 0.0, "spawn", 101, None, None, 100, None, {"kind": "agent"}))
'#101'
>>> ids.child_start(Event.make(3, 0.0, 0.0, "child_start", 100, "sup", None, 101, None, {"child_id": "w"}))
('#100/w', '#101', False)
>>> ids.key(101)
'#100/w'
"""

from __future__ import annotations

from typing import Any

__all__ = ["OUTSIDE", "Identity", "pid_label"]

OUTSIDE = "outside"
"""The key of everything that is not a process (cell code, the runtime itself)."""


def pid_label(pid: int | None) -> str:
    """OTP's spelling of a pid: ``<0.42.0>``."""
    return f"<0.{pid}.0>" if pid else "(outside)"


class Meta:
    """What every view knows about one key (slot)."""

    __slots__ = ("child_id", "kind", "label", "name", "order", "parent", "path", "pid", "restart")

    def __init__(self, pid: int, parent: str | None, label: str, kind: str, order: int) -> None:
        self.pid = pid
        self.parent = parent
        self.label = label
        self.kind = kind
        self.order = order
        self.name: str | None = None
        self.path: str | None = None
        self.child_id: Any = None
        self.restart: str | None = None


class Identity:
    """Maps pids to stable keys and remembers parent, label and kind per key."""

    __slots__ = ("_order", "_parents", "key_of", "meta", "moved")

    def __init__(self) -> None:
        self.key_of: dict[int, str] = {}
        self.meta: dict[str, Meta] = {}
        self._order = 0
        self._parents: set[str] = set()  # provisional keys that have children
        #: provisional key -> slot key, for provisional parents that moved
        self.moved: dict[str, str] = {}

    def parent(self, key: str) -> str | None:
        """The current key of ``key``'s parent (following provisional keys that moved)."""
        m = self.meta.get(key)
        if m is None or m.parent is None:
            return None
        p = m.parent
        while p in self.moved:
            p = self.moved[p]
        return p

    def key(self, pid: int | None) -> str:
        """The key for ``pid`` (``"outside"`` for 0/1/None, ``"#pid"`` when unknown)."""
        if not pid or pid == 1:
            return OUTSIDE
        k = self.key_of.get(pid)
        return k if k is not None else f"#{pid}"

    def known(self, pid: int | None) -> bool:
        return pid in self.key_of

    def spawn(self, ev: Any) -> str:
        """A ``spawn`` event: a provisional key under the parent's key."""
        pid = ev[4]
        known = self.key_of.get(pid)
        if known is not None:  # the supervisor reported child_start first
            m0 = self.meta[known]
            m0.kind = str((ev[9] or {}).get("kind", m0.kind))
            m0.name, m0.path = ev[5], ev[6]
            if ev[5]:
                m0.label = ev[5]
            return known
        parent_pid = ev[7]
        parent = self.key_of.get(parent_pid) if parent_pid else None
        if parent is not None and parent[0] == "#":
            self._parents.add(parent)
        data = ev[9] or {}
        name = ev[5]
        key = f"#{pid}"
        self._order += 1
        m = Meta(pid, parent, name or f"<0.{pid}.0>", str(data.get("kind", "process")), self._order)
        m.name = name
        m.path = ev[6]
        self.key_of[pid] = key
        self.meta[key] = m
        return key

    def ensure(self, pid: int, name: str | None = None, path: str | None = None) -> str:
        """The key for ``pid``, creating a parentless entry if it was never spawned here."""
        k = self.key_of.get(pid)
        if k is not None:
            return k
        k = f"#{pid}"
        self._order += 1
        m = Meta(pid, None, name or f"<0.{pid}.0>", "process", self._order)
        m.name, m.path = name, path
        self.key_of[pid] = k
        self.meta[k] = m
        return k

    def child_start(self, ev: Any) -> tuple[str, str | None, bool]:
        """A supervisor's ``child_start``: returns ``(slot_key, old_key, restarted)``.

        ``old_key`` is the provisional key the child had (now gone), or ``None``;
        ``restarted`` is true when the slot existed before (a restart).
        """
        sup_pid, child_pid = ev[4], ev[7]
        data = ev[9] or {}
        child_id = data.get("child_id")
        sup_key = self.key_of.get(sup_pid) or self.ensure(sup_pid, ev[5], ev[6])
        slot = f"{sup_key}/{child_id if child_id is not None else child_pid}"
        old_key = self.key_of.get(child_pid)
        old = self.meta.pop(old_key, None) if old_key is not None and old_key != slot else None
        existing = self.meta.get(slot)
        if existing is not None:
            restarted = True
            existing.pid = child_pid
            if old is not None:
                existing.kind = old.kind
                existing.name = old.name
                existing.path = old.path
        else:
            restarted = False
            if old is None:
                self._order += 1
                old = Meta(child_pid, sup_key, "", "process", self._order)
            existing = old
            existing.parent = sup_key
            self.meta[slot] = existing
        existing.child_id = child_id
        existing.restart = data.get("restart")
        if data.get("type") == "supervisor":
            existing.kind = "supervisor"
        existing.label = existing.name or (str(child_id) if child_id is not None else f"<0.{child_pid}.0>")
        self.key_of[child_pid] = slot
        if old_key is not None and old_key in self._parents:
            self._parents.discard(old_key)
            self.moved[old_key] = slot
        return slot, (old_key if old_key != slot else None), restarted

    def forget(self, key: str) -> None:
        m = self.meta.pop(key, None)
        if m is not None and self.key_of.get(m.pid) == key:
            del self.key_of[m.pid]
