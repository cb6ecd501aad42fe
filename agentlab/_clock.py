"""Clocks: the real one, and a virtual one that jumps ahead when everything waits on time.

Every timeout, timer, restart window and backoff in agentlab reads the
runtime's clock. With :class:`VirtualClock`, the runtime advances time itself
whenever no process can run and somebody waits on a timer, so a scenario that
"takes" ten minutes runs in milliseconds and the same seed gives the same log.
"""

from __future__ import annotations

import asyncio

__all__ = ["Clock", "RealClock", "VirtualClock"]


class Clock:
    """Base class. ``now()`` is seconds on this clock; ``virtual`` tells which kind."""

    virtual = False
    kind = "clock"

    def now(self) -> float:
        raise NotImplementedError


class RealClock(Clock):
    """The event loop's monotonic clock (``loop.time()``)."""

    kind = "real"

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None

    def _bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._origin = loop.time()

    def now(self) -> float:
        assert self._loop is not None, "clock not bound to a runtime"
        return self._loop.time() - self._origin


class VirtualClock(Clock):
    """Time that only moves when the runtime is idle and waiting on a timer.

    "Waiting" means on the runtime's own waits (``receive``, ``call``, ``sleep``,
    timers). A process that awaits something else (I/O, ``asyncio.sleep``) holds
    the clock still meanwhile. One that awaits both at once, such as
    ``asyncio.gather(proc.receive(timeout=5), fetch())``, counts as waiting on
    the runtime: the clock may jump while ``fetch()`` is still under way. Await
    the outside work on its own, or use the real clock.

    >>> c = VirtualClock(start=0.0)
    >>> c.now()
    0.0
    """

    virtual = True
    kind = "virtual"

    def __init__(self, start: float = 0.0) -> None:
        self._now = float(start)

    def now(self) -> float:
        return self._now

    def _advance_to(self, t: float) -> None:
        if t > self._now:
            self._now = t
