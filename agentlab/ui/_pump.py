"""The coalescing pump: everything a view sends to the browser goes through one.

Why: every widget ``comm_msg`` counts toward Jupyter's IOPub rate limit
(1000 messages/s averaged over 3 s). Past it the server *drops* messages and
the view silently freezes on a stale state. So a view never sends per event:
events fold into a :class:`~agentlab.ui._pending.Pending` buffer, and the pump
sends at most ``rate`` messages per second (30 by default), each carrying
everything that changed since the last one.

Protocol (kernel -> browser):

* ``{"type": "delta", "seq": n, ...changes}`` -- custom message; ``seq`` counts
  1, 2, 3 ... per widget. A view that sees a gap asks for a full snapshot
  (the ``resync`` command).
* ``{"type": "reset", "seq": n, "view": {...}}`` -- the whole state changed
  (a recorded run was scrubbed): replace everything.
* the ``snapshot`` trait ``{"seq": n, "view": {...}}`` -- what a freshly opened
  view starts from; rewritten at most every ``snapshot_every`` seconds, and
  when activity stops. A snapshot that is expensive to write (a 10,000-node
  tree: tens of milliseconds) is written less often, and only once the view
  has been quiet for a moment; meanwhile a newly opened view asks for it with
  ``resync``. Either way the event loop never stalls on it while busy. The
  cost is known before the first write: the view measures building its first
  snapshot and tells the pump (:meth:`Pump.expect_cost`; otherwise the first write
  during a storm of restarts would be a stall of a hundred milliseconds).

Example with a fake sink (no kernel needed)::

    sent = []
    pending = Pending()
    pump = Pump(pending, send=sent.append, publish=lambda snap: None,
                snapshot=lambda: {}, rate=30)
    pending.put("nodes", "a", {"status": "running"})
    await pump.flushed()        # sent == [{"nodes": {...}, "type": "delta", "seq": 1}]
"""

from __future__ import annotations

import asyncio
import threading
import time as _time
from collections.abc import Callable, Iterable
from typing import Any

from ._pending import Pending, to_rows

__all__ = ["Pump"]


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class Pump:
    """Sends one view's pending changes at most ``rate`` times a second.

    ``send(msg)`` delivers a custom message, ``publish(snap)`` writes the
    snapshot trait, ``snapshot()`` builds the full view state and ``extra()``
    (optional) adds fields to every delta (the timeline's ``now``). ``size()``
    (optional) says how many items the state holds, so that the cost of a
    snapshot is expected to grow with it (see :meth:`expected_cost`).
    All of it runs on the event loop the pump was created on.
    """

    #: a snapshot that took longer than this (seconds) to write is only rewritten once
    #: the view has been QUIET for a while: while busy, views resync on demand instead
    BIG = 0.010
    QUIET = 1.5

    def __init__(
        self,
        pending: Pending,
        *,
        send: Callable[[dict[str, Any]], Any],
        publish: Callable[[dict[str, Any]], Any],
        snapshot: Callable[[], dict[str, Any]],
        extra: Callable[[], dict[str, Any]] | None = None,
        rows: Iterable[str] = (),
        rate: float = 30.0,
        snapshot_every: float = 1.0,
        size: Callable[[], int] | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive (messages per second)")
        self.pending = pending
        pending.notify = self.poke
        self._send = send
        self._publish = publish
        self._snapshot = snapshot
        self._extra = extra
        #: sections sent in row form (see :func:`~agentlab.ui._pending.to_rows`)
        self.rows = tuple(rows)
        self.interval = 1.0 / rate
        self.snapshot_every = snapshot_every
        self._snapshot_gap = snapshot_every
        self._loop: asyncio.AbstractEventLoop | None = loop or _running_loop()
        self._thread = threading.get_ident()
        self.seq = 0
        #: messages sent (deltas + resets) and snapshot trait writes, for tests and benchmarks
        self.sent = 0
        self.published = 0
        #: seconds the last snapshot took to write (an estimate until the first write)
        self.snapshot_cost = 0.0
        # how many items the snapshot held when its cost was measured (see expected_cost)
        self._size = size
        self._cost_size = 0
        self._last = -1e9
        self._last_snap = -1e9
        self._snap_dirty = False
        self._handle: asyncio.TimerHandle | None = None
        self._due = 0.0
        self._waiters: list[asyncio.Future[None]] = []
        self.closed = False

    # -- scheduling ------------------------------------------------------------
    def poke(self) -> None:
        """Something is pending: make sure a flush is scheduled (thread-safe)."""
        if self.closed:
            return
        loop = self._loop
        if loop is None:  # made outside any event loop (a script): adopt the first one we see
            loop = self._loop = _running_loop()
            if loop is None:
                return  # nothing can be scheduled; resync/reset/publish_now still work
            self._thread = threading.get_ident()
        if threading.get_ident() != self._thread:
            loop.call_soon_threadsafe(self.poke)
            return
        due = self._last + self.interval
        if not self.pending.dirty:
            due = max(due, self._last_snap + self._snapshot_gap)
            if self.expected_cost() >= self.BIG:
                due = max(due, self._last + self.QUIET)
        if self._handle is not None:
            if self._due <= due:
                return
            self._handle.cancel()  # a snapshot timer, but a delta is due sooner
        self._due = due
        self._handle = loop.call_at(max(due, loop.time()), self._tick)

    def _now(self) -> float:
        return self._loop.time() if self._loop is not None else _time.monotonic()

    def _tick(self) -> None:
        self._handle = None
        if self.closed:
            return
        now = self._now()
        if self.pending.dirty:
            self._send_delta(now)
        if self._snap_dirty and now >= self._last_snap + self._snapshot_gap and (
            now - self._last >= self.QUIET or self.expected_cost() < self.BIG
        ):
            self._publish_snapshot(now)
        if not self.pending.dirty:
            self._wake()
        if self.pending.dirty or self._snap_dirty:
            self.poke()

    def _send_delta(self, now: float) -> None:
        msg = self.pending.take()
        if msg is None:
            return
        if msg:  # an empty delta only moves the view's extras (the timeline's ``now``),
            self._snap_dirty = True  # which a new view need not start from
        if self.rows:
            msg = to_rows(msg, self.rows)
        self.seq += 1
        msg["type"] = "delta"
        msg["seq"] = self.seq
        if self._extra is not None:
            msg.update(self._extra())
        self._last = now
        self.sent += 1
        self._send(msg)

    def _publish_snapshot(self, now: float) -> None:
        t0 = _time.perf_counter()
        self._publish({"seq": self.seq, "view": self._snapshot()})
        self.expect_cost(_time.perf_counter() - t0)  # now measured
        self._last_snap = now
        self._snap_dirty = False
        self.published += 1

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for w in waiters:
            if not w.done():
                w.set_result(None)

    # -- public ----------------------------------------------------------------
    def expect_cost(self, seconds: float) -> None:
        """What writing the snapshot is expected to cost, until a write measures it."""
        self.snapshot_cost = seconds
        self._cost_size = self._size() if self._size is not None else 0
        # an expensive snapshot (a 10,000-node tree) is rewritten less often
        self._snapshot_gap = max(self.snapshot_every, 40.0 * seconds)

    def expected_cost(self) -> float:
        """What writing the snapshot would cost now: the last measured cost, scaled by
        how much the state grew since (when the view says how many items it holds).

        A view whose state grows under load (a sequence diagram in a storm of
        restarts) would otherwise be rewritten while busy at its old, cheap cost
        once, and stall the loop for tens of milliseconds that one time.
        """
        cost = self.snapshot_cost
        if self._size is not None and self._cost_size > 0:
            grown = self._size() / self._cost_size
            if grown > 1.0:
                cost *= grown
        return cost

    def flushed(self) -> asyncio.Future[None]:
        """Awaitable: done once every pending change has been sent to the browser."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if not self.pending.dirty or self.closed:
            fut.set_result(None)
        else:
            self._waiters.append(fut)
            self.poke()
        return fut

    def publish_now(self) -> None:
        """Send what is pending and rewrite the snapshot trait now (for ``settle``)."""
        now = self._now()
        if self.pending.dirty:
            self._send_delta(now)
        if self._snap_dirty:
            self._publish_snapshot(now)
        self._wake()

    def resync(self) -> dict[str, Any]:
        """The full state and its ``seq``, for a view that saw a gap.

        Pending changes are sent first, so every view of this widget keeps a
        gap-free sequence and the snapshot is exactly the state after ``seq``.
        """
        if self.pending.dirty:
            self._send_delta(self._now())
            self._wake()
        return {"seq": self.seq, "view": self._snapshot()}

    def reset(self) -> None:
        """The whole state changed (a recorded run was scrubbed): send it all at once."""
        self.pending.clear()
        self.seq += 1
        view = self._snapshot()
        self._last = self._now()
        self.sent += 1
        self._send({"type": "reset", "seq": self.seq, "view": view})
        self._publish({"seq": self.seq, "view": view})
        self._snap_dirty = False
        self._wake()

    def close(self) -> None:
        self.closed = True
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._wake()
