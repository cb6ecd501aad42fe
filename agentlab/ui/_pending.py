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

from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["Pending", "from_rows", "merge_segment", "to_rows", "trim_slack"]


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


def to_rows(msg: dict[str, Any], sections: Iterable[str]) -> dict[str, Any]:
    """``msg`` with ``sections`` in row form, for the wire: field names once, not per item.

    A section whose items are dicts with the same fields becomes
    ``{"$rows": [field, ...], "v": [[value, ...], ...]}`` (a list section), or the
    same plus ``"k": [key, ...]`` (a keyed section; a removed key's row is
    ``None``). Other sections stay as they are. At 1,000 restarts a second the
    timeline and the sequence diagram send thousands of small dicts a second;
    without the repeated field names there is a third less to encode, carry
    and parse. The browser expands them back (``expandRows`` in
    ``widgets/src/lib/store.js``); :func:`from_rows` is the inverse here.

    >>> to_rows({"marks": [{"t": 1.0, "kind": "killed"}, {"t": 2.0, "kind": "restart"}]}, ["marks"])
    {'marks': {'$rows': ['t', 'kind'], 'v': [[1.0, 'killed'], [2.0, 'restart']]}}
    """
    for section in sections:
        items = msg.get(section)
        if not items:
            continue
        keyed = isinstance(items, dict)
        values = items.values() if keyed else items
        cols: tuple[str, ...] | None = None
        rows: list[list[Any] | None] = []
        for v in values:
            if v is None and keyed:
                rows.append(None)
                continue
            if type(v) is not dict:
                break
            if cols is None:
                cols = tuple(v)
            elif len(v) != len(cols) or tuple(v) != cols:
                break
            rows.append(list(v.values()))
        else:
            if cols is not None and len(rows) > 1:
                out: dict[str, Any] = {"$rows": list(cols), "v": rows}
                if keyed:
                    out["k"] = list(items)
                msg[section] = out
    return msg


def from_rows(msg: dict[str, Any]) -> dict[str, Any]:
    """The inverse of :func:`to_rows` (what the browser does on receipt)."""
    for section, value in list(msg.items()):
        if isinstance(value, dict) and isinstance(value.get("$rows"), list):
            cols = value["$rows"]
            items = [None if r is None else dict(zip(cols, r, strict=True)) for r in value["v"]]
            msg[section] = dict(zip(value["k"], items, strict=True)) if "k" in value else items
    return msg


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

    def touch(self) -> None:
        """Make the next delta go out even with nothing in it (it still carries the
        view's extra fields: the timeline's ``now``)."""
        self._touch()

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


def trim_slack(keep: int) -> int:
    """How far a bounded section may grow past ``keep`` before it is trimmed back.

    Some slack makes trimming a batch job, not a per-item one; too much makes
    the batch a stall: with 20,000 spans an eighth is 2,500 deletions at once
    (a 50-100 ms pause in a storm of restarts, every 2.5 s), so at most 64.
    """
    return max(1, min(keep // 8, 64))
