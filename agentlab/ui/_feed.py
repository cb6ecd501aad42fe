"""Where views get their events: a live :class:`~agentlab.Runtime`, or a recorded run.

A :class:`Feed` hands each attached view the events it wants, on the loop
the runtime runs on. A live feed replays the runtime's event log first, so a
view opened late still shows the history; a recorded feed can be scrubbed
(:meth:`RecordedFeed.seek`), which rebuilds every attached view at that point.

Views attach through :func:`as_feed`, which accepts a runtime, a feed, a list
of events, an :class:`~agentlab.EventLog`, or a recorded run in any of the forms
``agentlab.trace`` gives it: a :class:`~agentlab.trace.Run` (or a recorder),
its ``events()`` frame (or rows of it), or the path of a trace saved with
``Run.save``. All of them show what the live views showed: the data and reasons
as recorded, tuples as tuples (a call ``('ask', x)``, an exit
``('shutdown', x)``), read as :meth:`agentlab.trace.Run.to_events` reads them.

>>> from agentlab.ui._synthetic import tiny_tree_events
>>> feed = as_feed(tiny_tree_events())
>>> feed.live, len(feed.events), feed.cursor
(False, 11, 11)
"""

from __future__ import annotations

import logging
import math
import os
import warnings
import weakref
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from agentlab import Event, Runtime

from ._identity import Identity, SharedIdentity

__all__ = ["Feed", "LiveFeed", "RecordedFeed", "as_feed", "events_from", "lost_note"]

log = logging.getLogger("agentlab.ui")


class Attached(Protocol):
    """What a feed needs from a view."""

    def _handlers(self) -> dict[str, Callable[[Any], Any]]: ...

    def _rebuild(self, events: Iterable[Any]) -> None: ...

    def _advance(self, events: Iterable[Any]) -> None: ...


class Feed:
    """Base class: a set of attached views and a route table ``kind -> handlers``."""

    live = False
    runtime: Runtime | None = None
    #: the identity the views share (live feeds): its handlers come first in the routes,
    #: so each event of its kinds is applied to it once, before the views see it
    ids: SharedIdentity | None = None

    def __init__(self) -> None:
        self.views: list[Attached] = []
        self._routes: dict[str, tuple[Callable[[Any], Any], ...]] = {}
        self._lost: dict[str, Any] | None = None

    @property
    def lost(self) -> dict[str, Any] | None:
        """The events of the run a view opened now cannot show, as :func:`lost_note`
        says them, or ``None`` when none were lost (as far as the source can say)."""
        return self._lost

    def _reroute(self) -> None:
        routes: dict[str, list[Callable[[Any], Any]]] = {}
        if self.ids is not None:  # first: the views read what it made of the event
            for kind, h in self.ids.handlers().items():
                routes[kind] = [h]
        for v in self.views:
            for kind, h in v._handlers().items():
                routes.setdefault(kind, []).append(h)
        self._routes = {k: tuple(hs) for k, hs in routes.items()}

    def attach(self, view: Attached) -> None:
        raise NotImplementedError

    def detach(self, view: Attached) -> None:
        if view in self.views:
            self.views.remove(view)
            self._reroute()

    def dispatch(self, ev: Any) -> None:
        hs = self._routes.get(ev[3])
        if hs is None:
            return
        for h in hs:
            try:
                h(ev)
            except Exception:  # one broken view must not take the others down
                log.exception("agentlab.ui: a view failed on %r", ev)

    def now(self) -> float:
        raise NotImplementedError


class LiveFeed(Feed):
    """Events of a running runtime (one subscription, shared by every view).

    Views take events as they happen, up to ``BURST`` in one turn of the event loop.
    A burst beyond that (a cell or a callback that kills and restarts hundreds of
    processes at once) waits in a backlog, in order, and later loop turns hand it
    to the views ``BURST`` events at a time: the views' work then never stops the
    loop for long (at ~110 µs per restart for the four views of a dashboard, a burst
    of 100 restarts was an 11 ms callback, then more while the load caught up). The
    views show the burst a few milliseconds later; :func:`agentlab.ui.settle` waits
    for the backlog too.
    """

    live = True
    #: events handed to the views synchronously per turn of the event loop
    BURST = 256

    def __init__(self, runtime: Runtime) -> None:
        super().__init__()
        self.runtime = runtime
        self._unsubscribe: Callable[[], None] | None = None
        self._in_turn = 0  # events handed over since the loop last came back to us
        self._backlog: deque[Any] = deque()  # events of a burst, not handed over yet
        self._end: float | None = None  # the time of the last event, once the runtime is closed

    def dispatch(self, ev: Any) -> None:
        if self._backlog:  # a burst is being worked through: keep the order
            self._backlog.append(ev)
            return
        n = self._in_turn
        if n >= self.BURST:
            self._backlog.append(ev)
            return
        if n == 0:  # the first event of this turn: count from here until the next
            self.runtime.loop.call_soon(self._next_turn)  # type: ignore[union-attr]
        self._in_turn = n + 1
        Feed.dispatch(self, ev)

    def _next_turn(self) -> None:
        """The loop came back: hand over the next part of a burst, if there is one."""
        backlog = self._backlog
        n = 0
        while backlog and n < self.BURST:
            Feed.dispatch(self, backlog.popleft())
            n += 1
        self._in_turn = n
        if n:  # count this turn's events; the rest of the burst, if any, next turn
            self.runtime.loop.call_soon(self._next_turn)  # type: ignore[union-attr]

    def catch_up(self) -> None:
        """Hand the views every event of a burst that is still waiting, now."""
        backlog = self._backlog
        while backlog:
            Feed.dispatch(self, backlog.popleft())

    @property
    def behind(self) -> int:
        """How many events wait for the views (a burst being worked through)."""
        return len(self._backlog)

    def attach(self, view: Attached) -> None:
        self.catch_up()  # the log holds the backlog too: the new view replays it once
        # the backlog is read lazily, one event at a time: a list of the whole log
        # (100,000 Event objects, which the collector always tracks) would outlive a
        # dozen young collections, land in the oldest generation and make the next
        # full collections walk it -- hundreds of milliseconds each under load
        view._rebuild(iter(self.runtime.events) if self.runtime is not None else [])
        self._share_identity(view)
        self.views.append(view)
        self._reroute()
        if self._unsubscribe is None and self.runtime is not None:
            self._unsubscribe = self.runtime.subscribe(self.dispatch)

    def _share_identity(self, view: Attached) -> None:
        """Give a view that has just replayed the log the identity the others share.

        The first view's identity becomes the shared one. A later view takes it
        only if its own replay came to exactly the same state (views made
        together, such as a dashboard's four); otherwise (the log has dropped
        events since, say) it keeps its own, as every view used to.
        """
        model = getattr(view, "_model", None)
        own = getattr(model, "ids", None)
        if type(own) is not Identity:
            return
        shared = self.ids
        if shared is None:
            self.ids = SharedIdentity.taking(own)
            model.ids = self.ids  # type: ignore[union-attr]
        elif own.same_state(shared):
            model.ids = shared  # type: ignore[union-attr]

    def detach(self, view: Attached) -> None:
        self.catch_up()
        super().detach(view)
        if not self.views:
            self.ids = None  # events stop coming: a later view starts from its own replay
            self._reroute()
            if self._unsubscribe is not None:
                self._unsubscribe()
                self._unsubscribe = None

    @property
    def lost(self) -> dict[str, Any] | None:
        """The events a view opened now does not replay: those the runtime's log has
        dropped (it keeps the newest ``event_capacity``), all from before its oldest."""
        rt = self.runtime
        if rt is None:
            return None
        log = rt.events
        dropped = log.dropped
        if not dropped:
            return None
        try:
            before: float | None = float(log[0].time)
        except IndexError:  # it keeps none
            before = None
        return lost_note(dropped, before, live=True)

    def now(self) -> float:
        """The runtime's clock; once it is shut down, the time of its last event (the run
        is over: its views stop there, not at zero nor where a real clock has got to)."""
        rt = self.runtime
        if rt is None:
            return 0.0
        if not rt.closed:
            return rt.now()
        if self._end is None:
            try:
                self._end = float(rt.events[-1].time)
            except IndexError:  # no event kept (event_capacity=0): where its clock stopped
                self._end = rt.now()
        return self._end


class RecordedFeed(Feed):
    """A recorded run (any form :func:`events_from` reads). ``cursor`` is how many
    events the views show (all, at first).

    ``lost`` says how many events the run lost (a recorder past its capacity, a
    runtime's log past ``event_capacity``), as far as the source can say: a
    :class:`~agentlab.trace.Run` (``info.dropped``), a saved trace, its ``events()``
    frame (which carries the count in ``attrs``) and an :class:`~agentlab.EventLog`
    can; a plain list of events cannot.
    """

    def __init__(self, events: Any) -> None:
        super().__init__()
        self.events: list[Any]
        self.events, (dropped, before) = _recorded(events)
        self.cursor = len(self.events)
        self._lost = lost_note(dropped, before) if dropped > 0 else None
        self._supervisors: dict[int, Any] | None = None

    def supervisors(self) -> dict[int, tuple[str | None, int | None, float | None]]:
        """Each supervisor's strategy, intensity and period (by pid), as its reports in
        the run give them: its ``supervisor_flags`` (the report it makes when it
        starts), else its first restart or give-up reports (a supervisor that started
        before the recording did). So the views know a supervisor's configuration
        wherever the scrub bar is, also before it reports; only supervisors that made
        one of those reports are here."""
        if self._supervisors is None:
            flags: dict[int, tuple[Any, Any, Any]] = {}
            out: dict[int, tuple[Any, Any, Any]] = {}
            for ev in self.events:
                kind = ev[3]
                if kind != "supervisor_flags" and kind != "restart" and kind != "supervisor_gave_up":
                    continue
                d = ev[9]
                if not isinstance(d, dict):
                    continue
                if kind == "supervisor_flags":
                    flags[ev[4]] = (d.get("strategy"), d.get("intensity"), d.get("period"))
                    continue
                s, i, p = out.get(ev[4], (None, None, None))
                out[ev[4]] = (s if s is not None else d.get("strategy"),
                              i if i is not None else d.get("intensity"),
                              p if p is not None else d.get("period"))
            for pid, (s, i, p) in flags.items():  # what it said first, where it said it
                s0, i0, p0 = out.get(pid, (None, None, None))
                out[pid] = (s if s is not None else s0, i if i is not None else i0,
                            p if p is not None else p0)
            self._supervisors = out
        return self._supervisors

    def attach(self, view: Attached) -> None:
        view._rebuild(self.events[: self.cursor])
        self.views.append(view)
        self._reroute()

    def seek(self, index: int) -> int:
        """Show the run up to (not including) event ``index``; returns the clamped index."""
        index = max(0, min(int(index), len(self.events)))
        if index == self.cursor:
            return index
        if index > self.cursor:  # forward: fold in only the new events
            more = self.events[self.cursor : index]
            self.cursor = index
            for v in self.views:
                v._advance(more)
            return index
        self.cursor = index
        shown = self.events[:index]
        for v in self.views:
            v._rebuild(shown)
        self._reroute()  # the views have new models
        return index

    def seek_time(self, t: float) -> int:
        """Seek to the first event after time ``t`` (runtime clock)."""
        i = 0
        for i, ev in enumerate(self.events):  # noqa: B007 - the index is the result
            if ev[1] > t:
                break
        else:
            i = len(self.events)
        return self.seek(i)

    def now(self) -> float:
        if self.cursor == 0:
            return self.events[0][1] if self.events else 0.0
        return self.events[self.cursor - 1][1]

    def info(self) -> dict[str, Any]:
        ev = self.events
        return {"count": len(ev), "t0": ev[0][1] if ev else 0.0, "t1": ev[-1][1] if ev else 0.0,
                "cursor": self.cursor}


#: the live feed of each runtime that has views, by ``id(runtime)``: views share it while
#: any of them holds it, and then it goes (with its hold on the runtime: a feed refers to its
#: runtime, so a map keyed by the runtime itself would keep every runtime ever viewed)
_live: weakref.WeakValueDictionary[int, LiveFeed] = weakref.WeakValueDictionary()


def as_feed(source: Any = None) -> Feed:
    """A feed for ``source``: a runtime (``None``: the current one), a feed, or a recorded
    run (events, a :class:`~agentlab.trace.Run`, its events frame, a saved trace's path)."""
    if isinstance(source, Feed):
        return source
    if source is None:
        from agentlab import current_runtime

        source = current_runtime()
    if isinstance(source, Runtime):
        feed = _live.get(id(source))
        if feed is None or feed.runtime is not source:
            _live[id(source)] = feed = LiveFeed(source)
        return feed
    return RecordedFeed(source)


def lost_note(count: int, before: float | None, *, live: bool = False) -> dict[str, Any]:
    """What the views say of ``count`` lost events, none of them after time ``before``
    (``None``: not known): ``{"count", "before", "text", "hint"}``.

    >>> lost_note(320, 7.9892)["text"]
    "⚠ 320 events of this run were lost (none after 7.99 s on the runtime's clock): what is shown may be incomplete"
    """
    # rounded up (0.62 * 100 is 62.00000000000001: not 0.63), so that no lost event is after
    # the time said; the runtime's clock: the views count their times from the first they show
    up = math.ceil(before * 100 - 1e-9) / 100 if before is not None else None
    when = f" (none after {up:.2f} s on the runtime's clock)" if up is not None else ""
    if live:
        text = (f"⚠ the runtime's event log had dropped {count:,} events{when} when this view "
                "opened: what is shown may be incomplete")
        hint = ("The runtime keeps its newest event_capacity events, and a view opened later "
                "replays those: processes started and messages sent before then may be missing, "
                "or shown as they were not. Open the views first, or give the Runtime a larger "
                "event_capacity.")
    else:
        text = f"⚠ {count:,} events of this run were lost{when}: what is shown may be incomplete"
        hint = ("The recording dropped them (a Recorder past its capacity, a runtime's log past its "
                "event_capacity, a spill that failed): processes started and messages sent before "
                "then may be missing, or shown as they were not. Record with a larger capacity, or "
                "overflow='spill', to keep every event.")
    return {"count": count, "before": before, "text": text, "hint": hint}


def events_from(obj: Any) -> list[Any]:
    """Recorded events from a list/log of events, an object holding them (a
    :class:`~agentlab.trace.Run`), an events DataFrame, or the path of a saved trace."""
    return _recorded(obj)[0]


#: what a source says of the events its run lost: how many, and the time none is later than
Lost = tuple[int, float | None]


def _recorded(obj: Any) -> tuple[list[Any], Lost]:
    """:func:`events_from`, and what the run lost, as far as ``obj`` says."""
    if isinstance(obj, str | os.PathLike):
        obj = _from_file(obj)
    if hasattr(obj, "to_events"):  # a Run: its frame says what it lost, if it lost any
        lost = getattr(getattr(obj, "info", None), "dropped", 0) and callable(getattr(obj, "events", None))
        return events_from(obj.to_events()), _lost_of(obj.events()) if lost else (0, None)
    columns = getattr(obj, "columns", None)
    if columns is not None and "kind" in columns and hasattr(obj, "itertuples"):
        return _from_frame(obj), _lost_of(obj)
    ev = getattr(obj, "events", None)
    if ev is not None and not isinstance(obj, list | tuple):
        return _recorded(ev() if callable(ev) else ev)
    out = []
    for e in obj:
        if isinstance(e, Event):
            out.append(e)
        elif isinstance(e, tuple) and len(e) == 10:
            out.append(Event.make(*e))
        elif isinstance(e, dict):
            fields: dict[str, Any] = {k: e.get(k) for k in _FIELDS if k in e}
            out.append(Event.make(**fields))
        else:
            raise TypeError(
                f"cannot read an event from {e!r}: pass agentlab.Event records, "
                "10-field tuples, dicts with the Event fields, a recorded run "
                "(agentlab.trace.Run, or its events() frame), the path of a saved "
                "trace, or a runtime."
            )
    # an EventLog counts what fell off its front, all before the oldest event it keeps
    dropped = _count(getattr(obj, "dropped", 0))
    return out, (dropped, float(out[0][1]) if dropped and out else None)


#: where an events frame of ``agentlab.trace`` keeps its run's id, dropped count and the
#: time no dropped event is later than (``frame.attrs``; see ``agentlab.trace.Run.events``)
RUN_ATTR = "agentlab.run"


def _lost_of(frame: Any) -> Lost:
    """What a frame's ``attrs`` say its run lost (nothing, for a frame made otherwise)."""
    about = getattr(frame, "attrs", {}).get(RUN_ATTR)
    if not isinstance(about, dict):
        return 0, None
    before = about.get("lost_before")
    if not isinstance(before, int | float) or isinstance(before, bool) or not math.isfinite(before):
        return _count(about.get("dropped", 0)), None
    return _count(about.get("dropped", 0)), float(before)


def _count(n: Any) -> int:
    """A dropped count as a number of events (0 for anything that is not one)."""
    return int(n) if isinstance(n, int | float) and not isinstance(n, bool) and n == n and n > 0 else 0


_FIELDS = ("seq", "time", "wall", "kind", "pid", "name", "path", "peer", "reason", "data")


def _from_file(path: str | os.PathLike[str]) -> Any:
    """The run of a trace saved by ``Run.save`` (a file, or a spilling recorder's folder)."""
    from pathlib import Path

    from agentlab import trace  # (the error names the trace extra when it is missing)

    return trace.load(Path(path))


#: a frame without a ``tuples`` column was given (warned once per process)
_warned_tuples = False


def _from_frame(df: Any) -> list[Any]:
    """Events from a frame with the event columns: ``agentlab.trace``'s events table
    (``wall_time`` for ``wall``, reasons as text, ``data`` as JSON text and ``tuples``
    saying which of its lists were tuples), or a frame of :meth:`Event.as_dict` rows.

    Read as :meth:`agentlab.trace.Run.to_events` reads a run: tuples in the data and
    tuple reasons (``"('shutdown', 'x')"``) come back as tuples, so the views show
    what the live run showed. A frame of JSON text without the ``tuples`` column
    (made by hand, or some of the columns only) cannot say which lists were tuples:
    they stay lists, and a warning says so, once.
    """
    import json

    if "wall" not in df.columns and "wall_time" in df.columns:
        df = df.rename(columns={"wall_time": "wall"})
    cols = [c for c in _FIELDS if c in df.columns]
    has_tuples = "tuples" in df.columns
    if has_tuples:
        cols.append("tuples")
    trace_helpers: Any = None
    lost_tuples = False
    out = []
    for row in df[cols].astype(object).itertuples(index=False, name=None):
        d = dict(zip(cols, row, strict=True))
        for k, v in d.items():
            if v is not None and (type(v).__name__ == "NAType" or (isinstance(v, float) and v != v)):
                d[k] = None  # NaN/NA: missing
        tuples = d.pop("tuples", None)
        data = d.get("data")
        if isinstance(data, str):
            try:
                d["data"] = json.loads(data)
            except ValueError:
                d["data"] = {"text": data}
            if tuples is not None:
                if trace_helpers is None:
                    trace_helpers = _trace_helpers()
                d["data"] = trace_helpers[1](d["data"], tuples)
            elif not has_tuples and "[" in data:
                lost_tuples = True
        reason = d.get("reason")
        if isinstance(reason, str) and reason.startswith("(") and reason.endswith(")"):
            if trace_helpers is None:
                trace_helpers = _trace_helpers()
            d["reason"] = trace_helpers[0](reason)  # as the trace wrote a tuple reason
        for k in ("seq", "pid", "peer"):
            if d.get(k) is not None:
                d[k] = int(d[k])
        for k in ("kind", "name", "path"):
            if d.get(k) is not None:
                d[k] = str(d[k])
        if d.get("wall") is not None and not isinstance(d["wall"], float):
            w = d["wall"]
            ns = getattr(w, "value", None)  # a pandas Timestamp: its nanoseconds, as
            # Run.to_events reads them (``timestamp()`` rounds to microseconds)
            d["wall"] = ns / 1e9 if type(ns) is int else (
                w.timestamp() if hasattr(w, "timestamp") else float(w))
        d.setdefault("wall", 0.0)
        if d.get("pid") is None:
            d["pid"] = 0
        fields: dict[str, Any] = d
        out.append(Event.make(**fields))
    if lost_tuples:
        _warn_lost_tuples()
    return out


def _trace_helpers() -> tuple[Callable[[str], Any], Callable[[Any, str], Any]]:
    """``reason_value`` and ``restore_tuples``: a frame of JSON text comes from
    ``agentlab.trace`` (and the error names its extra when it is missing)."""
    from agentlab.trace._schema import reason_value, restore_tuples

    return reason_value, restore_tuples


def _warn_lost_tuples() -> None:
    global _warned_tuples
    if _warned_tuples:
        return
    _warned_tuples = True
    warnings.warn(
        "agentlab.ui: this events frame has no 'tuples' column, so the tuples in its "
        "data come back as lists (a message ('ask', x) shows as ['ask', x]). Give the "
        "view the Run itself, the path of its saved trace, or run.events() with all "
        "its columns (rows of it are fine). This warning is shown once.",
        UserWarning,
        stacklevel=4,
    )
