"""Waiting for the UI to catch up: ``await settle(view_or_dashboard, ...)``.

Tests and notebooks use it before they look at what a view shows::

    dash = agentlab.ui.dashboard(rt)
    ...                               # start agents, kill one
    await agentlab.ui.settle(dash)    # runtime quiet, every change sent, snapshots written
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

__all__ = ["settle", "views_of"]


def views_of(targets: Iterable[Any]) -> list[Any]:
    """The views inside ``targets`` (views, dashboards, or lists of them)."""
    out: list[Any] = []
    for t in targets:
        if hasattr(t, "_pump"):
            out.append(t)
        elif hasattr(t, "views"):
            out.extend(views_of(t.views))
        elif isinstance(t, list | tuple):
            out.extend(views_of(t))
        else:
            raise TypeError(f"settle() takes views or dashboards, not {t!r}")
    return out


async def settle(*targets: Any, within: float = 10.0) -> None:
    """Wait until the runtime behind ``targets`` is quiet and every change reached the browser.

    Then the snapshot traits are rewritten too, so ``view.snapshot`` is exact.
    Raises :class:`TimeoutError` after ``within`` seconds.
    """
    views = views_of(targets)

    async def run() -> None:
        for _ in range(1000):
            for rt in {id(v._feed.runtime): v._feed.runtime for v in views}.values():
                if rt is not None and not rt.closed:
                    await rt.settled()
            for v in views:
                if v._feed.live:
                    v._feed.catch_up()  # a burst's events still waiting for the views
            for v in views:
                rt = v._feed.runtime
                if v._feed.live and rt is not None:  # (a closed runtime: where its run ended)
                    v._model.tick(v._feed.now(), rt.processes() if v._wants_procs and not rt.closed else None)
                    if rt.closed:
                        v._ended()
            await asyncio.gather(*(v._pump.flushed() for v in views))
            await asyncio.sleep(0)
            if not any(v._pending.dirty for v in views):
                break
        for v in views:
            v._pump.publish_now()

    await asyncio.wait_for(run(), within)
