"""The clock seam: every wait in the LLM layer goes through one of these.

A clock has two methods, ``now() -> float`` (seconds, monotonic) and
``async sleep(seconds)``. :class:`AsyncioClock` reads the running event loop;
the runtime's virtual clock satisfies the same protocol, so a backoff of ten
minutes can take no real time in a test::

    class FakeClock:
        def __init__(self) -> None:
            self.t = 0.0
        def now(self) -> float:
            return self.t
        async def sleep(self, seconds: float) -> None:
            self.t += seconds

    model = ScriptedModel(["hi"], clock=FakeClock())

The runtime has both methods, so inside a runtime pass it as the clock and
its seeded generator as the randomness: ``ScriptedModel(script, clock=rt,
rng=rt.random)``. Under its virtual clock, a two-minute Retry-After or a
stalled first token takes no real time.
"""

from __future__ import annotations

import asyncio
from typing import Protocol, runtime_checkable

__all__ = ["AsyncioClock", "Clock"]


@runtime_checkable
class Clock(Protocol):
    """What the LLM layer needs from time."""

    def now(self) -> float:
        """Seconds on a monotonic scale (only differences are meaningful)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` on this clock's scale."""
        ...


class AsyncioClock:
    """Real time: the running loop's ``time()`` and :func:`asyncio.sleep`."""

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    def __repr__(self) -> str:
        return "AsyncioClock()"
