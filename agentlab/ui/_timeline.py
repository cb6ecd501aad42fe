"""View model of the timeline: swimlanes of lifetimes, crashes, restarts and LLM calls.

What the browser gets (all times on the runtime clock, in seconds):

* ``lanes`` -- one per process slot: ``key``, ``parent``, ``label``, ``kind``, ``order``;
* ``spans`` -- one per incarnation (pid): ``lane``, ``t0``, ``t1`` (``None`` while
  alive), ``end`` (exit class), ``reason``;
* ``llm`` -- model calls and tool runs: ``lane``, ``t0``, ``tf`` (first token),
  ``t1``, ``status``, ``ttft``, ``model``, ``tokens``;
* ``marks`` -- crashes, kills, restarts, retries, errors, give-ups, loop lag;
* ``links`` -- restart arrows from a supervisor's lane to the restarted child;
* ``budget`` -- each supervisor's restarts-in-window against its intensity.

>>> from agentlab.ui._synthetic import tiny_tree_events
>>> v = timeline_view(tiny_tree_events())
>>> [s["end"] for s in v["spans"]], [m["kind"] for m in v["marks"]], len(v["links"])
([None, 'killed', None, None], ['killed', 'restart'], 1)
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Iterable
from typing import Any

from ._fmt import exit_class, exit_text
from ._identity import Identity
from ._llm import llm_fields
from ._pending import Pending, trim_slack

__all__ = ["TimelineModel", "timeline_view"]


def _span(pid: int, t0: float) -> dict[str, Any]:
    # plain dicts of numbers and strings: the garbage collector does not track them
    return {"id": pid, "t0": t0, "t1": None, "end": None, "reason": None}


def _call(rid: str, pid: int, t0: float, kind: str) -> dict[str, Any]:
    return {"id": rid, "kind": kind, "pid": pid, "t0": t0, "tf": None, "t1": None, "ttft": None,
            "status": "open", "model": None, "name": None, "tokens": None}


class TimelineModel:
    """Folds lifecycle, supervision and LLM events into timeline items.

    ``max_items`` bounds each collection (the oldest closed items go first).
    """

    #: sections sent in row form (:func:`~agentlab.ui._pending.to_rows`)
    ROWS = ("lanes", "spans", "llm", "marks", "links", "budget")
    #: runtime-clock seconds between deltas that only move ``now`` while something is
    #: open (a live lifetime, a model call): the browser runs on from the last ``now``
    #: for at most 1 s (timeline.js, FOLLOW_AHEAD_MS), so open bars keep growing on a
    #: quiet runtime; with nothing open, or a clock that stands still, none is sent
    BEAT = 0.75

    def __init__(self, pending: Pending, *, max_items: int = 20_000) -> None:
        self.pending = pending
        self.ids = Identity()
        self.max_items = max_items
        pending.dumpers["lanes"] = self._dump_lane
        pending.dumpers["spans"] = self._dump_span
        pending.dumpers["llm"] = self._dump_call
        #: key -> what the browser last got of it (parent, label, kind, order), set when a
        #: lane is dumped (a delta or a snapshot); insertion-ordered
        self.lanes: dict[str, tuple[Any, ...] | None] = {}
        self.spans: OrderedDict[int, dict[str, Any]] = OrderedDict()
        #: pids of closed spans, in the order they closed: the ones trimmed first (open
        #: spans stay; walking past them from the oldest span made each trim cost the
        #: number of long-lived processes, thousands in a big tree)
        self._closed: deque[int] = deque()
        self.calls: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.marks: deque[dict[str, Any]] = deque(maxlen=max_items)
        self.links: deque[dict[str, Any]] = deque(maxlen=max_items)
        self.budget: deque[dict[str, Any]] = deque(maxlen=max_items)
        self._restart_at: dict[str, float] = {}
        #: provisional parent key -> lanes sent under it (resent when it moves to its slot key)
        self._under: dict[str, list[str]] = {}
        self._open: dict[int, set[str]] = {}  # pid -> ids of its open calls
        self.t0: float | None = None
        self.now = 0.0
        self._beat = 0.0  # ``now`` when the last delta that moves it was asked for
        self.handlers = {
            "spawn": self._on_spawn,
            "child_start": self._on_child_start,
            "exit": self._on_exit,
            "restart": self._on_restart,
            "supervisor_gave_up": self._on_gave_up,
            "llm_request": self._on_llm_request,
            "llm_first_token": self._on_llm_first,
            "llm_response": self._on_llm_end,
            "llm_error": self._on_llm_end,
            "llm_retry": self._on_llm_retry,
            "tool_start": self._on_tool_start,
            "tool_result": self._on_tool_result,
            "loop_lag": self._on_lag,
        }

    def apply(self, ev: Any) -> None:
        h = self.handlers.get(ev[3])
        if h is not None:
            t = ev[1]
            if self.t0 is None:
                self.t0 = t
            if t > self.now:
                self.now = t
            h(ev)

    def _dump_lane(self, key: str) -> dict[str, Any] | None:
        sig = self._lane_sig(key)
        if sig is None:
            return None
        parent, label, kind, order = sig
        if key in self.lanes:  # what the browser has from now on (see _lane)
            self.lanes[key] = sig
            if parent is not None and parent[0] == "#":
                self._under.setdefault(parent, []).append(key)
        return {"key": key, "parent": parent, "label": label, "kind": kind, "order": order}

    def _lane_sig(self, key: str) -> tuple[Any, ...] | None:
        """What the browser draws of a lane: (parent, label, kind, order)."""
        m = self.ids.meta.get(key)
        return None if m is None else (self.ids.parent(key), m["label"], m["kind"], m["order"])

    def _dump_span(self, sp: dict[str, Any]) -> dict[str, Any]:
        return {**sp, "lane": self.ids.key(sp["id"])}

    def _dump_call(self, c: dict[str, Any]) -> dict[str, Any]:
        d = dict(c)
        d["lane"] = self.ids.key(d.pop("pid"))
        return d

    def _lane(self, key: str) -> None:
        # what the browser draws of a lane; a restart usually changes none of it, and
        # then the lane is not sent again (at 1,000 restarts a second that is 1,000 lanes).
        # Compared with what was last *sent*: a parent known by its provisional key when the
        # lane was made (a supervisor reported by its own supervisor after its children
        # started) went out under its final key, so it is no change
        sig = self._lane_sig(key)
        if key not in self.lanes:
            self.lanes[key] = sig
            self.pending.put_new("lanes", key, key)
        elif self.lanes[key] != sig:
            self.lanes[key] = sig
            self.pending.put("lanes", key, key)

    def _mark(self, key: str, t: float, kind: str, text: str = "") -> None:
        m = {"lane": key, "t": t, "kind": kind, "text": text}
        self.marks.append(m)
        self.pending.add("marks", m)

    def _span(self, pid: int, t: float) -> None:
        if pid in self.spans:
            return
        sp = _span(pid, t)
        self.spans[pid] = sp
        self.pending.put("spans", pid, sp)
        if len(self.spans) > self.max_items + trim_slack(self.max_items):
            self._trim_spans()

    def _trim_spans(self) -> None:
        """Drop the spans that closed first until ``max_items`` remain (open ones stay)."""
        spans, closed, put = self.spans, self._closed, self.pending.put
        excess = len(spans) - self.max_items
        while excess > 0 and closed:
            pid = closed.popleft()
            if spans.pop(pid, None) is not None:
                put("spans", pid, None)
                excess -= 1

    # -- processes ---------------------------------------------------------------
    def _on_spawn(self, ev: Any) -> None:
        key = self.ids.spawn(ev)
        self._lane(key)
        self._span(ev[4], ev[1])

    def _on_child_start(self, ev: Any) -> None:
        slot, old, restarted = self.ids.child_start(ev)
        if old is not None:
            self.lanes.pop(old, None)
            self.pending.drop("lanes", old)
            for key in self._under.pop(old, ()):  # lanes the browser has under the old key
                if key in self.lanes:
                    self.pending.put("lanes", key, key)
        self._lane(slot)
        self._span(ev[7], ev[1])
        sp = self.spans.get(ev[7])
        if sp is not None:
            self.pending.put("spans", ev[7], sp)
        if restarted:
            # (the slot's supervisor: a new incarnation of it is known by a provisional key
            # until its own supervisor reports it, and then takes this one)
            sup = self.ids.parent(slot) or self.ids.key(ev[4])
            t = self._restart_at.pop(slot, ev[1])
            link = {"from": sup, "to": slot, "t": t, "t2": ev[1], "pid": ev[7]}
            self.links.append(link)
            self.pending.add("links", link)

    def _on_exit(self, ev: Any) -> None:
        pid = ev[4]
        self.ids.exit(pid)
        sp = self.spans.get(pid)
        if sp is None:
            key = self.ids.ensure(pid, ev[5], ev[6])
            self._lane(key)
            self._span(pid, ev[1])
            sp = self.spans[pid]
        cls = exit_class(ev[8])
        if sp["t1"] is None:
            self._closed.append(pid)
        sp["t1"] = ev[1]
        sp["end"] = cls
        sp["reason"] = exit_text(ev[8], 120)
        self.pending.put("spans", pid, sp)
        if cls in ("crash", "killed"):
            self._mark(self.ids.key(pid), ev[1], "crash" if cls == "crash" else "killed", sp["reason"])
        for rid in self._open.pop(pid, ()):  # calls cut short by the exit
            c = self.calls.get(rid)
            if c is not None and c["status"] == "open":
                c["status"] = "cancelled"
                c["t1"] = ev[1]
                self.pending.put("llm", rid, c)

    def _on_restart(self, ev: Any) -> None:
        self.ids.restart(ev)
        d = ev[9] or {}
        sup = self.ids.key(ev[4])
        for cid in d.get("affected") or [d.get("child_id")]:
            for key in self.ids.slots(ev, cid):
                self._restart_at[key] = ev[1]
        self._mark(sup, ev[1], "restart", f"{d.get('child_id')} · {d.get('strategy', '')}")
        if d.get("intensity") is not None:
            self._budget(sup, ev[1], d.get("restarts_in_window", 0), d)

    def _budget(self, sup: str, t: float, n: Any, d: dict[str, Any]) -> None:
        b = {"lane": sup, "t": t, "n": n, "max": d.get("intensity"), "period": d.get("period")}
        self.budget.append(b)
        self.pending.add("budget", b)

    def _on_gave_up(self, ev: Any) -> None:
        sup = self.ids.key(ev[4])
        d = ev[9] or {}
        text = "restart intensity exceeded: giving up"
        if d.get("intensity") is not None:  # the restart that was one too many counts too
            self._budget(sup, ev[1], d.get("restarts", 0), d)
            text = (f"gave up: {d.get('restarts')} restarts in {d.get('period')} s, "
                    f"more than its intensity {d.get('intensity')}")
        self._mark(sup, ev[1], "gave_up", text)

    def _on_lag(self, ev: Any) -> None:
        lag = (ev[9] or {}).get("lag", 0.0)
        self._mark("outside", ev[1], "lag", f"event loop blocked {lag * 1000:.0f} ms")

    # -- LLM and tools -----------------------------------------------------------
    def _call(self, rid: str, pid: int, t: float, kind: str) -> dict[str, Any]:
        c = self.calls.get(rid)
        if c is None:
            c = _call(rid, pid, t, kind)
            self.calls[rid] = c
            self._open.setdefault(pid, set()).add(rid)
            if len(self.calls) > self.max_items + trim_slack(self.max_items):
                _trim(self.calls, self.max_items, lambda c: c["status"] != "open", self.pending, "llm")
        return c

    def _close(self, c: dict[str, Any]) -> None:
        s = self._open.get(c["pid"])
        if s is not None:
            s.discard(c["id"])
            if not s:
                del self._open[c["pid"]]

    def _on_llm_request(self, ev: Any) -> None:
        f = llm_fields(ev)
        c = self._call(str(f["rid"]), ev[4], ev[1], "llm")
        c["model"] = f.get("model")
        self.pending.put("llm", c["id"], c)

    def _on_llm_first(self, ev: Any) -> None:
        f = llm_fields(ev)
        c = self.calls.get(str(f["rid"]))
        if c is not None:
            c["tf"] = ev[1]
            c["ttft"] = f.get("ttft") if f.get("ttft") is not None else ev[1] - c["t0"]
            self.pending.put("llm", c["id"], c)

    def _on_llm_end(self, ev: Any) -> None:
        f = llm_fields(ev)
        c = self.calls.get(str(f["rid"]))
        if c is None:
            return
        c["t1"] = ev[1]
        self._close(c)
        c["tokens"] = f.get("tokens_out")
        if ev[3] == "llm_error":
            c["status"] = "error"
            self._mark(self.ids.key(ev[4]), ev[1], "error", f"{f.get('error')}: {f.get('message', '')}")
        else:
            c["status"] = "cancelled" if f.get("stop") == "cancelled" else "ok"
        self.pending.put("llm", c["id"], c)

    def _on_llm_retry(self, ev: Any) -> None:
        f = llm_fields(ev)
        delay = f.get("delay")
        text = f"retry #{f.get('attempt')} after {delay:.2f}s" if isinstance(delay, int | float) else "retry"
        self._mark(self.ids.key(ev[4]), ev[1], "retry", f"{text} ({f.get('error')})")

    def _on_tool_start(self, ev: Any) -> None:
        f = llm_fields(ev)
        c = self._call(f"tool:{ev[4]}:{f.get('call_id')}", ev[4], ev[1], "tool")
        c["name"] = f.get("tool")
        self.pending.put("llm", c["id"], c)

    def _on_tool_result(self, ev: Any) -> None:
        f = llm_fields(ev)
        c = self.calls.get(f"tool:{ev[4]}:{f.get('call_id')}")
        if c is not None:
            c["t1"] = ev[1]
            self._close(c)
            c["status"] = "error" if f.get("error") else "ok"
            self.pending.put("llm", c["id"], c)

    # -- outputs -----------------------------------------------------------------
    def tick(self, now: float, procs: Any = None) -> None:
        if now > self.now:
            self.now = now
            if now - self._beat >= self.BEAT and (self._open or len(self.spans) > len(self._closed)):
                self._beat = now
                self.pending.touch()

    def size(self) -> int:
        """How many items a snapshot holds (its cost grows with it: see Pump)."""
        return (len(self.lanes) + len(self.spans) + len(self.calls) + len(self.marks)
                + len(self.links) + len(self.budget))

    def snapshot(self) -> dict[str, Any]:
        lanes = [d for d in (self._dump_lane(k) for k in self.lanes) if d is not None]
        return {
            "lanes": lanes,
            "spans": [self._dump_span(s) for s in self.spans.values()],
            "llm": [self._dump_call(c) for c in self.calls.values()],
            "marks": list(self.marks),
            "links": list(self.links),
            "budget": list(self.budget),
            "t0": self.t0 if self.t0 is not None else 0.0,
            "now": self.now,
        }


def _trim(items: OrderedDict[Any, Any], keep: int, done: Any, pending: Pending, section: str) -> None:
    """Drop the oldest finished items until ``keep`` remain (open ones stay)."""
    excess = len(items) - keep
    drop = []
    for k, v in items.items():
        if excess <= 0:
            break
        if done(v):
            drop.append(k)
            excess -= 1
    for k in drop:
        del items[k]
        pending.put(section, k, None)


def timeline_view(events: Iterable[Any], **options: Any) -> dict[str, Any]:
    """The timeline snapshot after ``events``."""
    model = TimelineModel(Pending(), **options)
    for ev in events:
        model.apply(ev)
    return model.snapshot()
