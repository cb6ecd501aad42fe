"""The exception tree. Every error names the process it concerns and says what to do.

::

    AgentLabError
    ├── RuntimeStateError      the runtime is not running, already stopped, or used off its loop
    ├── NameTakenError         a registered name is held by a live process
    ├── NoProcessError         the target process does not exist (dead pid or unknown name)
    ├── CallError              a call did not get its reply
    │   ├── CallTimeout        ... within its timeout (the callee keeps working)
    │   └── CalleeExited       ... because the callee exited during the call
    ├── ReceiveTimeout         receive(timeout=...) found no matching message in time
    ├── TaskError              a Task awaited/yielded from the wrong process, or it exited
    ├── StartError             an agent or child failed to start (init returned stop or raised)
    └── SupervisorError        a supervisor API call was refused (bad spec, bad flags, ...)
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AgentLabError",
    "CallError",
    "CallTimeout",
    "CalleeExited",
    "NameTakenError",
    "NoProcessError",
    "ReceiveTimeout",
    "RuntimeStateError",
    "StartError",
    "SupervisorError",
    "TaskError",
]


def describe(proc: Any) -> str:
    """``name <0.N.0>`` for a Pid, the repr for anything else."""
    if proc is None:
        return "(outside any process)"
    name = getattr(proc, "name", None)
    ident = getattr(proc, "id", None)
    if ident is None:
        return repr(proc)
    return f"{name!r} <0.{ident}.0>" if name else f"<0.{ident}.0>"


class AgentLabError(Exception):
    """Base of every agentlab error. ``process`` is the Pid (or name) concerned, if any."""

    process: Any = None

    def __init__(self, message: str, *, process: Any = None) -> None:
        super().__init__(message)
        self.process = process


class RuntimeStateError(AgentLabError):
    """The runtime cannot do this now (not started, shut down, or wrong event loop)."""


class NameTakenError(AgentLabError):
    """A name is already registered to a live process."""


class NoProcessError(AgentLabError):
    """The target does not exist: a dead pid, or a name nobody holds (OTP's ``noproc``)."""


class CallError(AgentLabError):
    """A call ended without a reply. ``reason`` is OTP's exit reason for the caller."""

    reason: Any = None

    def __init__(self, message: str, *, process: Any = None, reason: Any = None) -> None:
        super().__init__(message, process=process)
        self.reason = reason


class CallTimeout(CallError):
    """No reply within the timeout. The callee was not stopped and may still reply (dropped)."""


class CalleeExited(CallError):
    """The callee exited before replying; ``reason`` is its exit reason."""


class ReceiveTimeout(AgentLabError):
    """``receive(timeout=...)`` expired with no matching message."""


class TaskError(AgentLabError):
    """A Task was used wrongly (awaited from another process) or exited; ``reason`` says why."""

    reason: Any = None

    def __init__(self, message: str, *, process: Any = None, reason: Any = None) -> None:
        super().__init__(message, process=process)
        self.reason = reason


class StartError(AgentLabError):
    """Start failed; ``reason`` is OTP's ``{error, Reason}`` payload."""

    reason: Any = None

    def __init__(self, message: str, *, process: Any = None, reason: Any = None) -> None:
        super().__init__(message, process=process)
        self.reason = reason


class SupervisorError(AgentLabError):
    """A supervisor refused a request or a specification."""
