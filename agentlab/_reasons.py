"""Exit reasons, as OTP spells them.

Atoms are plain strings (``"normal"``, ``"shutdown"``, ``"killed"``), tuples are
tuples (``("shutdown", "reconfigured")`` is OTP's ``{shutdown, reconfigured}``),
and an exception escaping a handler becomes a :class:`Crash`, which keeps the
exception's type, message and a short traceback summary (not the frames, so a
crashed agent's memory is released). ``SystemExit`` is one too (see ``CRASHES``).
"""

from __future__ import annotations

import traceback
from typing import Any

NORMAL = "normal"
SHUTDOWN = "shutdown"
KILL = "kill"
KILLED = "killed"
NOPROC = "noproc"

__all__ = ["KILL", "KILLED", "NOPROC", "NORMAL", "SHUTDOWN", "Crash", "is_shutdown_reason"]

#: What a process's own code may raise that is a crash of that process, caught
#: wherever such code runs: bodies, agent callbacks, tasks and receive predicates
#: (the process crashes), and event subscribers (one is logged and removed).
#: SystemExit too: ``sys.exit()`` in a handler (or in a library) escaping into
#: asyncio is re-raised out of the event loop, which ends ``asyncio.run`` and, in a
#: notebook, the kernel. KeyboardInterrupt, GeneratorExit and
#: ``asyncio.CancelledError`` keep their meaning: never caught here. (A
#: KeyboardInterrupt that goes through a process's code still ends that process, and
#: goes on propagating: see ``Runtime._interrupted``.) (An except clause costs nothing
#: in CPython 3.11 until something is raised.)
CRASHES = (Exception, SystemExit)


class Crash:
    """The exit reason of a process whose handler raised.

    >>> try:
    ...     1 / 0
    ... except ZeroDivisionError as e:
    ...     c = Crash.from_exception(e)
    >>> c.type, c.message
    ('ZeroDivisionError', 'division by zero')
    """

    __slots__ = ("exception", "message", "traceback", "type")

    def __init__(self, type: str, message: str, traceback: str = "", exception: Any = None):
        self.type = type
        self.message = message
        self.traceback = traceback
        #: the exception object itself, with its ``__traceback__`` cleared
        self.exception = exception

    @classmethod
    def from_exception(cls, exc: BaseException, *, propagating: bool = False) -> Crash:
        """The crash ``exc`` made. ``propagating=True``: ``exc`` goes on propagating (a
        ``KeyboardInterrupt`` that went through a process's code), so its traceback is
        left to whoever catches it and the Crash keeps only its text (``exception`` is
        ``None``)."""
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__, limit=8))
        if propagating:
            return cls(type(exc).__name__, str(exc), tb)
        exc.__traceback__ = None
        return cls(type(exc).__name__, str(exc), tb, exc)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Crash) and other.type == self.type and other.message == self.message
        )

    def __hash__(self) -> int:
        return hash((self.type, self.message))

    def __repr__(self) -> str:
        return f"Crash({self.type}: {self.message})"

    def __str__(self) -> str:
        return f"{self.type}: {self.message}" if self.message else self.type


def is_shutdown_reason(reason: Any) -> bool:
    """``normal``, ``shutdown`` or ``{shutdown, _}``: the reasons that are not crashes."""
    return (
        reason in (NORMAL, SHUTDOWN)
        or (type(reason) is tuple and len(reason) == 2 and reason[0] == SHUTDOWN)
    )


def format_term(term: Any) -> str:
    """Render a reason in Erlang ``~w`` syntax, as the OTP conformance logs print it."""
    if isinstance(term, str):
        return _atom(term)
    if isinstance(term, bool):
        return "true" if term else "false"
    if isinstance(term, int | float):
        return repr(term)
    if term is None:
        return "undefined"
    if isinstance(term, tuple):
        return "{" + ",".join(format_term(t) for t in term) + "}"
    if isinstance(term, list):
        return "[" + ",".join(format_term(t) for t in term) + "]"
    if isinstance(term, Crash):
        return "{" + _atom(term.type) + "," + _atom(term.message) + "}"
    fmt = getattr(term, "__erl__", None)
    if fmt is not None:
        return str(fmt())
    return _atom(str(term))


def _atom(s: str) -> str:
    if s and (s[0].islower() and s[0].isascii()) and all(c.isalnum() or c in "_@" for c in s):
        return s
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"
