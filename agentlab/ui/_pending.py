"""Changes waiting for the next flush, merged by the coalescing rules.

Three rules, one per kind of change:

* **latest wins** (:meth:`Pending.put`): a keyed value (a tree node, a timeline
  span) is sent once per flush with its newest state. Values may be live
  objects with a ``dump()`` method, or live dicts with a section dumper
  (``pending.dumpers[section]``); either way they are serialised only when taken.
* **append** (:meth:`Pending.add`): list items (timeline marks) keep order.
* **concatenate** (:meth:`Pending.seg`): transcript segments per agent; adjacent
  text deltas join into one string (:func:`merge_segment`).

>>> p = Pending()
>>> p.put("nodes", "a", {"status": "running"}); p.put("nodes", "a", {"status": "crashed"})
>>> p.seg("agents", "w", {"t": "text", "s": "Hel"}); p.seg("agents", "w", {"t": "text", "s": "lo"})
>>> p.take()
{'nodes': {'a': {'status': 'crashed'}}, 'agents': {'w': [{'t': 'text', 's': 'Hello'}]}}
>>> p.take() is None
True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["Pending", "merge_segment"]


def merge_segment(segs: list[dict[str, Any]], seg: dict[str, Any]) -> None:
    """Append ``seg`` to ``segs``, joining it to the last segment where the rules say so.

    * text after text: the strings are concatenated;
    * a tool call delta after the same call (same ``id``): its ``args`` are concatenated.

    The front end applies the same rules (``widgets/src/lib/segments.js``), so
    the transcript it shows is exactly the one kept here. ``seg`` is copied.
    """
    if segs:
        last = segs[-1]
        t = seg["t"]
        if t == last["t"]:
            if t == "text":
                last["s"] += seg["s"]
                return
            if t == "tool_call" and seg.get("id") == last.get("id") and seg.get("more"):
                last["args"] = last.get("args", "") + seg.get("args", "")
                return
    segs.append(dict(seg))


def _dump(v: Any) -> Any:
    d = getattr(v, "dump", None)
    return d() if d is not None else v


class Pending:
    """An outbound buffer for one view. ``notify`` is called when it becomes non-empty."""

    __slots__ = ("_fresh", "_lists", "_maps", "_segs", "dirty", "dumpers", "notify")

    def __init__(self, notify: Callable[[], None] | None = None) -> None:
        #: section -> function that turns a queued value into what is sent (when taken)
        self.dumpers: dict[str, Callable[[Any], Any]] = {}
        self._maps: dict[str, dict[Any, Any]] = {}
        self._fresh: set[tuple[str, Any]] = set()  # keys first put (as new) in this window
        self._lists: dict[str, list[Any]] = {}
        self._segs: dict[str, dict[Any, list[dict[str, Any]]]] = {}
        self.dirty = False
        self.notify = notify

    def _touch(self) -> None:
        if not self.dirty:
            self.dirty = True
            if self.notify is not None:
                self.notify()

    def put(self, section: str, key: Any, value: Any) -> None:
        """Keyed value, latest wins (``None`` means "removed")."""
        m = self._maps.get(section)
        if m is None:
            self._maps[section] = m = {}
        m[key] = value
        if not self.dirty:
            self._touch()

    def put_new(self, section: str, key: Any, value: Any) -> None:
        """Like :meth:`put`, for a key the browser has never seen (see :meth:`drop`)."""
        self.put(section, key, value)
        self._fresh.add((section, key))

    def drop(self, section: str, key: Any) -> None:
        """``key`` is gone. If it was new in this window, the browser never hears of it."""
        if (section, key) in self._fresh:
            self._fresh.discard((section, key))
            m = self._maps.get(section)
            if m is not None:
                m.pop(key, None)
            return
        self.put(section, key, None)

    def add(self, section: str, item: Any) -> None:
        """List item, kept in order."""
        lst = self._lists.get(section)
        if lst is None:
            self._lists[section] = lst = []
        lst.append(item)
        if not self.dirty:
            self._touch()

    def seg(self, section: str, key: Any, seg: dict[str, Any]) -> None:
        """Transcript segment for ``key``, merged with :func:`merge_segment`."""
        d = self._segs.get(section)
        if d is None:
            self._segs[section] = d = {}
        lst = d.get(key)
        if lst is None:
            d[key] = lst = []
        merge_segment(lst, seg)
        if not self.dirty:
            self._touch()

    def take(self) -> dict[str, Any] | None:
        """Everything pending, serialised, and clear; ``None`` when there is nothing."""
        if not self.dirty:
            return None
        out: dict[str, Any] = {}
        for section, m in self._maps.items():
            fn = self.dumpers.get(section, _dump)
            # string keys: JSON has nothing else, and the kernel's fast encoder (orjson)
            # falls back to the slow one for any other key type
            out[section] = {k if type(k) is str else str(k): (None if v is None else fn(v))
                            for k, v in m.items()}
        for section, lst in self._lists.items():
            out[section] = [_dump(v) for v in lst]
        out.update(self._segs)
        self._maps = {}
        self._lists = {}
        self._segs = {}
        self._fresh = set()
        self.dirty = False
        return out

    def clear(self) -> None:
        self._maps, self._lists, self._segs, self._fresh = {}, {}, {}, set()
        self.dirty = False
