"""The kernel's long-lived objects out of the cyclic garbage collector's way.

A notebook kernel that has imported IPython, ipywidgets, pandas and pyarrow
holds some 100,000 objects that live as long as the kernel: modules, classes,
functions. CPython 3.11's collector is not incremental: every full collection
walks all of them, and while it does, nothing else runs. Measured with a live
dashboard on a 10,000-process tree under 1,000 restarts a second, a full
collection stalled the kernel's loop (every agent, every view) for 125-200 ms;
with the heap frozen after the dashboard's cell, 10-40 ms, growing as restarts
replace the frozen processes with new ones (``benchmarks/bench_widgets.py``
shows both: ``dashboard`` and ``dashboard-nofreeze``).

So when the first live view opens, agentlab collects once and then calls
:func:`gc.freeze`, once per kernel, at the event loop's next turn (after the
cell that opened it has built whatever else it builds, such as the other views
of a dashboard). Frozen objects are still freed by
reference counting as usual; what the collector no longer does is look for
reference cycles among them. The cost: a cycle of objects that were alive at
that moment and become garbage later is kept until the kernel restarts (or
:func:`gc.unfreeze`). Objects made afterwards are collected as before.

Switch it off before the first view with ``agentlab.ui.freeze_heap(False)``,
or with the environment variable ``AGENTLAB_FREEZE_HEAP=0``.
"""

from __future__ import annotations

import asyncio
import gc
import os

__all__ = ["freeze_heap"]

_enabled = os.environ.get("AGENTLAB_FREEZE_HEAP", "1").strip().lower() not in ("0", "false", "no", "off")
_frozen = False


def freeze_heap(enabled: bool = True) -> bool:
    """Whether the first live view freezes the kernel's heap (see the module docstring).

    Returns the previous setting. Once the heap is frozen, switching this off
    does not unfreeze it (call :func:`gc.unfreeze` for that).
    """
    global _enabled
    if not isinstance(enabled, bool):
        raise TypeError(f"freeze_heap takes True or False, not {enabled!r}")
    previous, _enabled = _enabled, enabled
    return previous


def _on_first_live_view() -> None:
    """Freeze the heap once, if enabled: at the loop's next turn when a loop runs, so
    that what the same cell builds next (the other views of a dashboard, with their
    projections of every process) is frozen too."""
    global _frozen
    if not _enabled or _frozen:
        return
    _frozen = True
    try:
        asyncio.get_running_loop().call_soon(_freeze)
    except RuntimeError:  # no loop running: now
        _freeze()


def _freeze() -> None:
    gc.collect()
    gc.freeze()
