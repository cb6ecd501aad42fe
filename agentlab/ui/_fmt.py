"""Small pure helpers shared by the view models: exit reasons and rates.

>>> exit_class("normal"), exit_class(("shutdown", "bye")), exit_class("killed")
('normal', 'shutdown', 'killed')
>>> r = Rate(); r.add(0.0, 5); r.add(0.5, 5); round(r.value(1.0), 1)
10.0
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["Rate", "exit_class", "exit_detail", "exit_text", "is_crash"]


def exit_class(reason: Any) -> str:
    """``normal``, ``shutdown``, ``killed`` or ``crash`` (everything else abnormal)."""
    if reason == "normal":
        return "normal"
    if reason == "shutdown" or (type(reason) is tuple and len(reason) == 2 and reason[0] == "shutdown"):
        return "shutdown"
    if reason == "killed" or reason == "kill":
        return "killed"
    return "crash"


def is_crash(reason: Any) -> bool:
    """True for the reasons a supervisor treats as abnormal (``killed`` included)."""
    return exit_class(reason) in ("crash", "killed")


def exit_text(reason: Any, limit: int = 160) -> str:
    """One line for a reason: ``ValueError: bad input``, ``killed``, ``{shutdown,bye}``."""
    if reason is None:
        return ""
    t = getattr(reason, "type", None)
    if t is not None and hasattr(reason, "message"):
        s = f"{t}: {reason.message}" if reason.message else str(t)
    elif isinstance(reason, str):
        s = reason
    elif isinstance(reason, tuple):
        s = "{" + ", ".join(exit_text(x, limit) for x in reason) + "}"
    else:
        s = repr(reason)
    return s if len(s) <= limit else s[: limit - 1] + "…"


def exit_detail(reason: Any) -> dict[str, Any] | None:
    """The exception behind a crash (type, message, traceback), or ``None``.

    A recorded run has a crash as its text, ``"Type: message"`` (no traceback): it
    is split the same way, so the details panel shows the whole message, as it
    did live (a reason without a type shows as the node's one-line exit text).

    >>> exit_detail("ValueError: bad input")
    {'type': 'ValueError', 'message': 'bad input', 'traceback': ''}
    """
    if reason is None:
        return None
    t = getattr(reason, "type", None)
    if t is not None and hasattr(reason, "message"):
        return {
            "type": str(t),
            "message": str(reason.message),
            "traceback": str(getattr(reason, "traceback", "") or ""),
        }
    if isinstance(reason, str):
        m = _CRASH_TEXT.fullmatch(reason)
        if m is not None:
            return {"type": m[1], "message": m[2][:2000], "traceback": ""}
    return {"type": None, "message": exit_text(reason, 2000), "traceback": ""}


#: a crash as a recorded run has it (``str(Crash)``): an exception's name, ": ", its message
_CRASH_TEXT = re.compile(r"([A-Za-z_]\w*): (.*)", re.DOTALL)


class Rate:
    """Events per second over the last second (a sliding two-bucket counter, O(1))."""

    __slots__ = ("_bucket", "_cur", "_prev", "total")

    def __init__(self) -> None:
        self._bucket = 0
        self._cur = 0
        self._prev = 0
        self.total = 0

    def add(self, t: float, n: int = 1) -> None:
        b = int(t)
        if b != self._bucket:
            self._prev = self._cur if b == self._bucket + 1 else 0
            self._cur = 0
            self._bucket = b
        self._cur += n
        self.total += n

    def value(self, now: float) -> float:
        b = int(now)
        if b == self._bucket:
            frac = now - b
            return self._prev * (1.0 - frac) + self._cur
        if b == self._bucket + 1:
            frac = now - b
            return self._cur * (1.0 - frac)
        return 0.0
