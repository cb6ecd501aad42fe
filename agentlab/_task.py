"""Tasks: run one function in its own process and collect its result (Elixir's ``Task``).

::

    task = rt.task(fetch, url)          # starts a process running `await fetch(url)`
    ...                                 # do other work meanwhile
    page = await task.wait(timeout=10)  # its return value (or TaskError)

The rules, and where they differ from Elixir
--------------------------------------------
==========================  ===========================================================
``rt.task(fn, *a, **kw)``   starts a process running ``fn(*a, **kw)`` (``async def``
                            or plain). From inside a process the task is **linked** to
                            the caller (a crash in the task kills the caller unless it
                            traps exits, and the caller's crash kills the task) and
                            monitored; from outside (a notebook cell) only monitored.
``await task.wait(t)``      the value. The task died: :class:`TaskError` with the exit
                            ``reason``. No result within ``t`` seconds of runtime
                            clock: ``TaskError(reason="timeout")`` and the task
                            **keeps running**. (Elixir makes the *caller* exit in both
                            cases; in Python an exception is the catchable equivalent.)
``await task.yield_(t)``    ``("ok", value)``, ``("exit", reason)``, or ``None`` on
                            timeout; the task keeps running and can be yielded or
                            waited again.
``await task.shutdown()``   unlinks, sends ``shutdown`` (or kills, with
                            ``"brutal_kill"``), kills after the timeout, and returns
                            ``("ok", v)`` if the result raced in, ``("exit", reason)``
                            if it died of something else, else ``None``.
``TaskSupervisor.``         (awaited) starts a temporary child of a
``async_nolink(sup, fn)``   :class:`TaskSupervisor`; the caller only monitors it, so
                            its crash comes back as ``("exit", reason)`` /
                            ``TaskError`` and touches nothing else.
==========================  ===========================================================

* **Only the owner** (the process that started the task, or the outside world
  if a notebook started it) may ``wait``/``yield_``/``shutdown``; anyone else
  gets :class:`TaskError` naming both processes (``reason="not_owner"``; Elixir
  raises ``ArgumentError``).
* **The result is delivered once.** It is kept on the :class:`Task` object, not
  sent to the owner's mailbox: a result that arrives after a timeout stays
  there until the next ``wait``/``yield_``/``shutdown`` takes it, and calling
  ``wait``/``yield_`` again after that raises ``TaskError(reason="awaited")``.
  An agent that must not block on a task can have ``fn`` send it a message, or
  ``monitor(task.pid)`` and handle the :class:`agentlab.Down` in ``handle_info``.
* A task process spawns with event data ``{"kind": "task"}``.

Where Elixir 1.14 does otherwise, on purpose:

* After a ``Task.await`` timeout that the caller catches, Elixir drops the result
  (the await removed its monitor), so awaiting again times out again; here the
  result is kept, and the next ``wait``/``yield_`` gets it: an exception that can
  be caught should leave something to retry.
* Awaiting a task whose result was taken: Elixir's ``await`` waits out its timeout
  and exits ``timeout`` (``yield`` waits and gives ``nil``); here ``TaskError(
  reason="awaited")`` at once, saying so: it can only be a mistake, and waiting the
  whole timeout to learn that helps nobody.
* ``shutdown`` after the result was taken, or a second ``shutdown``: Elixir
  returns ``{:exit, :noproc}``; here ``None`` (nothing more to report), so that
  ``finally: await task.shutdown()`` after a ``wait`` is quiet cleanup.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

from ._errors import TaskError, describe
from ._events import EventKind
from ._process import Process, ProcessExit
from ._reasons import CRASHES, KILL, KILLED, NORMAL, SHUTDOWN, Crash
from ._runtime import _check_timeout, kind_data
from ._supervisor import ChildSpec, DynamicSupervisor

if TYPE_CHECKING:
    from ._runtime import Pid, Runtime

__all__ = ["Task", "TaskSupervisor", "start_task"]

_OK = "ok"
_EXIT = "exit"


class Task:
    """A running (or finished) task: its :attr:`pid`, its :attr:`owner`, and its result.

    Create one with :meth:`Runtime.task` (linked to the calling process) or
    :meth:`TaskSupervisor.async_nolink` (monitored only); the module docstring
    of ``agentlab._task`` has the full rules. ``await task`` is ``await task.wait()``.
    """

    __slots__ = ("_consumed", "_result", "_rt", "_waiter", "owner", "pid")

    def __init__(self, rt: Runtime, pid: Pid, owner: Pid | None) -> None:
        self._rt = rt
        #: the task's process
        self.pid = pid
        #: the process that started it and alone may await it (``None``: outside any process)
        self.owner = owner
        self._result: tuple[str, Any] | None = None
        #: how its result was taken: "" (not yet), "awaited" or "shut down"
        self._consumed = ""
        self._waiter: asyncio.Future[Any] | None = None

    # ------------------------------------------------------------------ awaiting

    async def wait(self, timeout: float | None = 5.0) -> Any:
        """Wait for the task's return value (Elixir ``Task.await``).

        Raises :class:`TaskError` with ``.reason`` the exit reason if the task
        exited without returning, or ``reason="timeout"`` after ``timeout``
        seconds of runtime clock (``None`` or ``math.inf`` waits forever); the
        task keeps running after a timeout and may be waited for again.
        """
        out = await self._take("wait", timeout)
        if out is None:  # timed out, so timeout is a number (_take checked it)
            secs = float(timeout)  # type: ignore[arg-type]  # a Fraction formats only so
            raise TaskError(
                f"task {describe(self.pid)} did not return within {secs:g} s (runtime clock). "
                "It is still running: wait again, use yield_() to poll, or shutdown() to stop it.",
                process=self.pid,
                reason="timeout",
            )
        if out[0] == _OK:
            return out[1]
        reason = out[1]
        cause = reason.exception if isinstance(reason, Crash) else None
        raise TaskError(
            f"task {describe(self.pid)} exited with {reason!r} before returning a value. "
            "The exit reason is in .reason (a Crash keeps the exception); use yield_() to get "
            "('exit', reason) without raising.",
            process=self.pid,
            reason=reason,
        ) from cause

    async def yield_(self, timeout: float | None = 5.0) -> tuple[str, Any] | None:
        """``("ok", value)``, ``("exit", reason)``, or ``None`` if nothing came within ``timeout``.

        Elixir's ``Task.yield`` (``yield`` is a Python keyword). On ``None`` the
        task keeps running; yield or wait again later.
        """
        return await self._take("yield_", timeout)

    def __await__(self) -> Generator[Any, None, Any]:
        return self.wait().__await__()

    async def shutdown(self, timeout: float | str | None = 5.0) -> tuple[str, Any] | None:
        """Stop the task (Elixir ``Task.shutdown``) and return its result if it had one.

        Unlinks the task from the owner, sends it the exit signal ``shutdown``
        (``timeout="brutal_kill"``: ``kill`` at once), waits ``timeout`` seconds
        (``None`` or ``math.inf``: as long as it takes), then kills it. Returns
        ``("ok", value)`` if the result arrived first, ``("exit", reason)`` if the
        task died of something other than this shutdown (a kill after the timeout
        gives ``("exit", "killed")``, as in Elixir), else ``None``. Calling it
        again, or after the result was taken, returns ``None`` (Elixir:
        ``{:exit, :noproc}``; see the module docstring), and a ``wait``/``yield_``
        after it raises ``TaskError(reason="awaited")``. Cancelling the
        awaiting code stops only the waiting: the task is still killed at the
        deadline if it has not exited.
        """
        rt = self._rt
        brutal = timeout == "brutal_kill"
        if not brutal:
            if isinstance(timeout, str):
                raise ValueError(
                    f"Task.shutdown(timeout={timeout!r}): a timeout is a number of seconds "
                    ">= 0, None to wait forever, or 'brutal_kill' to kill the task at once."
                )
            timeout = _check_timeout(timeout, "Task.shutdown")
        self._check_owner("shut down")
        if self._consumed:
            return None
        p = self.pid
        if self.owner is not None:
            rt._unlink(self.owner, p)
        how = "brutal_kill" if brutal else "shutdown"
        if p.alive:
            rt.exit(p, KILL if brutal else SHUTDOWN)
            if p.alive:  # it traps exits (a kill is never trapped: not brutal)
                kill = None
                if timeout is not None and not isinstance(timeout, str):
                    # cancelling this shutdown stops the waiting, not the kill: a task
                    # that ignores it would run on (unlinked by now) for ever
                    kill = rt._kill_after(p, timeout)
                await rt.wait(p)
                if kill is not None and kill.fired:
                    how = "timeout_kill"
        out = self._result
        self._result = None
        self._consumed = "shut down"
        if out is None or out[0] == _OK:
            return out
        reason = out[1]
        if (reason == SHUTDOWN and how != "brutal_kill") or (
            reason == KILLED and how == "brutal_kill"
        ):
            return None  # it died of this shutdown
        return out

    async def _take(self, op: str, timeout: float | None) -> tuple[str, Any] | None:
        rt = self._rt
        timeout = _check_timeout(timeout, f"Task.{op}")
        me = self._check_owner(op)
        if self._consumed:
            raise TaskError(
                f"task {describe(self.pid)} was already awaited: its result is delivered once. "
                "Keep the value the first wait()/yield_() returned."
                if self._consumed == "awaited"
                else f"task {describe(self.pid)} was already shut down: shutdown() took its "
                "result, if it had one, and returned it. Keep what shutdown() returned.",
                process=self.pid,
                reason="awaited",
            )
        if self._waiter is not None:
            raise TaskError(
                f"task {describe(self.pid)} is already being awaited by another coroutine of "
                f"{describe(me)}. Await it in one place only.",
                process=self.pid,
                reason="awaited",
            )
        if self._result is None and (timeout is None or timeout > 0):
            fut = rt._loop.create_future()
            self._waiter = fut
            timer = rt._add_timer(timeout, rt._wake_future, fut) if timeout is not None else None
            try:
                await rt._await(fut, me)
            finally:
                self._waiter = None
                if timer is not None:
                    rt.cancel_timer(timer, quiet=True)
        out = self._result
        if out is not None:
            self._result = None
            self._consumed = "awaited"
        return out

    def _check_owner(self, op: str) -> Pid | None:
        me = self._rt.self()
        if me is not self.owner:
            raise TaskError(
                f"{describe(me)} cannot {op} task {describe(self.pid)}: only its owner "
                f"{describe(self.owner)} may. Await it where it was started, or have the "
                "owner pass the result on in a message.",
                process=self.pid,
                reason="not_owner",
            )
        return me

    # ------------------------------------------------------------------ results

    def _set(self, out: tuple[str, Any]) -> None:
        if self._result is None and not self._consumed:
            self._result = out
            w = self._waiter
            if w is not None:
                self._rt._wake_future(w, True)

    def _on_exit(self, pid: Pid, reason: Any) -> None:
        # the process exited; if it returned, _set already holds ("ok", value)
        self._set((_EXIT, reason))

    def __repr__(self) -> str:
        if self._consumed:
            state = self._consumed
        elif self._result is not None:
            state = "done"
        else:
            state = "running" if self.pid.alive else "exited"
        return f"<Task {self.pid!r} owner={self.owner!r} {state}>"


def start_task(
    rt: Runtime,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    *,
    owner: Pid | None,
    parent: Pid | None,
    link: bool,
    path: str | None = None,
) -> Task:
    """Spawn the task process under ``parent`` and return its :class:`Task` for ``owner``."""
    ctx = Process()
    p = rt._new_pid(ctx, None, parent, path=path)
    ctx._bind(rt, p)
    task = Task(rt, p, owner)
    rt._hook(p, task, task._on_exit)
    try:
        rt._emit(EventKind.SPAWN, p, parent.id if parent is not None else None, data=kind_data("task"))
        if link and owner is not None:
            rt._link(owner, p)
    except BaseException as e:  # a subscriber's interrupt: the start fails (Runtime.spawn)
        rt._start_failed(p, owner, e)
        raise
    rt._start_task(p, _run(rt, task, fn, args, kwargs))
    return task


async def _run(
    rt: Runtime, task: Task, fn: Callable[..., Any], args: tuple[Any, ...], kw: dict[str, Any]
) -> None:
    reason: Any = NORMAL
    try:
        value = fn(*args, **kw)
        if inspect.isawaitable(value):
            value = await value
    except ProcessExit as e:
        reason = e.reason
    except CRASHES as e:  # sys.exit() too: the task crashed, the loop goes on
        reason = Crash.from_exception(e)
    else:
        task._set((_OK, value))  # the reply comes before the exit, as in OTP
    rt._finish(task.pid, reason)


# ---------------------------------------------------------------------------- task supervisor


class TaskSupervisor(DynamicSupervisor):
    """Elixir's ``Task.Supervisor``: a :class:`DynamicSupervisor` whose children are tasks.

    ::

        tasks = rt.start(TaskSupervisor, name="tasks", max_children=10)
        task = await TaskSupervisor.async_nolink("tasks", fetch, url)
        match await task.yield_(timeout=30):
            case ("ok", page): ...
            case ("exit", reason): ...   # it crashed; the caller is unaffected
            case None: await task.shutdown()

    Every task is a ``temporary`` child (never restarted) with a 5 s
    ``shutdown``; ``max_children`` caps how many run at once (one more raises
    :class:`SupervisorError` with ``reason == "max_children"``, as Elixir
    raises). Shutting the supervisor down stops its tasks; their owners then see
    ``("exit", "shutdown")``.
    """

    @staticmethod
    async def async_nolink(
        sup: Pid | str, fn: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> Task:
        """Start ``fn(*args, **kwargs)`` as a task under ``sup``; the caller only monitors it.

        Not linked: a crash does not touch the caller and comes back as
        ``("exit", reason)`` from :meth:`Task.yield_` (or :class:`TaskError` from
        :meth:`Task.wait`). The caller is the task's owner.
        """
        from ._runtime import Pid as _Pid
        from ._runtime import current_runtime

        rt = sup._rt if type(sup) is _Pid and sup._rt is not None else current_runtime()
        owner = rt.self()
        task = Task(rt, None, owner)  # type: ignore[arg-type]  # the pid comes with the start
        spec = ChildSpec(
            getattr(fn, "__name__", "task"),
            (_supervised, task, fn, args, kwargs),
            restart="temporary",
            shutdown=5.0,
        )
        pid = await DynamicSupervisor.start_child(sup, spec, runtime=rt)
        assert pid is not None
        task.pid = pid
        if pid.alive:
            rt._hook(pid, task, task._on_exit)
        else:  # it already finished (or crashed) before the start reply reached us
            task._on_exit(pid, pid.exit_reason)
        return task

    @staticmethod
    async def children(sup: Pid | str) -> list[Pid]:
        """The tasks running under ``sup`` (Elixir ``Task.Supervisor.children``)."""
        out = await DynamicSupervisor.which_children(sup)
        return [pid for _, pid, _ in out if pid is not None and pid != "restarting"]


async def _supervised(
    proc: Process, task: Task, fn: Callable[..., Any], args: tuple[Any, ...], kw: dict[str, Any]
) -> None:
    value = fn(*args, **kw)
    if inspect.isawaitable(value):
        value = await value
    task._set((_OK, value))  # an exception instead ends the process with a Crash


_supervised._agentlab_kind = "task"  # type: ignore[attr-defined]  # its spawn event says "task"
