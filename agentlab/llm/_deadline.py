"""Time limits on the model's clock: for the first token, and for the whole attempt.

``asyncio.timeout`` reads the event loop's time; these limits read the
injected clock instead, so under a virtual clock a stalled model times out
in virtual seconds. One watchdog task per limited call sleeps on the clock
until the nearest limit (re-armed for the total limit at the first token); if it expires while the stream is waiting for its
next event, that wait is cancelled (closing the HTTP stream) and
:class:`~agentlab.llm.Timeout` is raised in its place. If it expires while
the consumer is busy elsewhere, the stream raises at its next step::

    model = OpenAIChat("gpt-4o-mini", first_token_timeout=20, total_timeout=120)
    await complete(model, "hi", first_token_timeout=5)   # per call, too
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import TypeVar

from ._clock import Clock
from ._errors import Timeout

__all__ = ["Deadline"]

T = TypeVar("T")


class Deadline:
    """Watches one attempt (see the module docstring). Use as ``async with``, mark
    the first token with :meth:`first_token`, and wrap each wait in :meth:`step`.

    The clock must really wait (real time, or a virtual clock driven by a
    scheduler such as the runtime's): a clock whose ``sleep`` returns at
    once makes every limit expire at once.
    """

    def __init__(
        self, clock: Clock, provider: str, first_token: float | None, total: float | None
    ) -> None:
        self.clock = clock
        self.provider = provider
        start = clock.now()
        self._first_at = None if first_token is None else start + first_token
        self._total_at = None if total is None else start + total
        self._limits = (first_token, total)
        self.expired: str | None = None
        self._inside = False
        self._task: asyncio.Task[object] | None = None
        self._watch: asyncio.Task[None] | None = None

    @property
    def active(self) -> bool:
        return self._first_at is not None or self._total_at is not None

    async def __aenter__(self) -> Deadline:
        if self.active:
            self._task = asyncio.current_task()
            self._arm()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        watch, self._watch = self._watch, None
        if watch is not None:
            watch.cancel()
            try:
                await watch
            except asyncio.CancelledError:
                pass

    def _arm(self) -> None:
        # One task sleeping straight on the clock, so a virtual clock sees the
        # timer as soon as the task first runs.
        limits = ((self._first_at, "first_token"), (self._total_at, "total"))
        options = [(t, k) for t, k in limits if t is not None]
        if options:
            at, kind = min(options)
            self._watch = asyncio.create_task(self._fire_at(at, kind))

    async def _fire_at(self, at: float, kind: str) -> None:
        await self.clock.sleep(at - self.clock.now())
        self.expired = kind
        if self._inside and self._task is not None:
            self._task.cancel()

    def first_token(self) -> None:
        """The first output arrived: the first-token limit no longer applies."""
        if self._first_at is not None:
            self._first_at = None
            if self._watch is not None:
                self._watch.cancel()
                self._watch = None
            self._arm()

    def error(self) -> Timeout:
        first, total = self._limits
        if self.expired == "first_token":
            what = f"no first token within {first:g}s"
        else:
            what = f"the response took longer than {total:g}s"
        return Timeout(f"{what}; retry, or raise the limit.", provider=self.provider)

    def check(self) -> None:
        """Raise if a limit expired while the consumer was away."""
        if self.expired is not None:
            raise self.error()

    async def step(self, start: Callable[[], Awaitable[T]]) -> T:
        """Await ``start()`` under the limits (not even started if one already expired)."""
        self.check()
        self._inside = True
        try:
            return await start()
        except asyncio.CancelledError:
            task = self._task
            if self.expired is not None and task is not None and task.uncancel() == 0:
                raise self.error() from None
            raise
        finally:
            self._inside = False
