"""What a process's own code sees: :class:`Process` (for body functions) and the
base that :class:`agentlab.Agent` builds on.

Everything here acts *as* the process: ``send`` is sent by it, ``link`` links
it, ``receive`` takes from its mailbox, ``monitor`` makes it the watcher.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ._errors import NoProcessError, describe
from ._events import EventKind
from ._reasons import CRASHES, NORMAL, Crash
from ._runtime import _BUSY, _DEAD, _IDLE, _LONE, _QUEUED, _current_cv
from ._runtime import Pid as _Pid

if TYPE_CHECKING:
    from ._runtime import MonitorRef, Pid, Runtime, TimerRef

__all__ = ["Process", "ProcessExit"]

_SEND = EventKind.SEND


class ProcessExit(Exception):
    """Raised by :meth:`Process.exit` to end the calling process with ``reason``."""

    def __init__(self, reason: Any) -> None:
        super().__init__(reason)
        self.reason = reason


class Process:
    """The handle a process's own code uses to act as that process.

    A body function gets it as its first argument::

        async def echo(proc):
            while True:
                msg = await proc.receive()
                proc.send(msg["from"], msg["text"])

        pid = rt.spawn(echo)

    Agents inherit the same methods (``self.send(...)``, ``await self.call(...)``).
    """

    pid: Pid
    runtime: Runtime
    #: keep the pid -> behaviour link after exit (supervisors: ``Supervisor.why`` reads it)
    _retain_after_exit = False

    def _bind(self, rt: Runtime, pid: Pid) -> None:
        self.runtime = rt
        self.pid = pid

    # -- identity
    @property
    def name(self) -> str | None:
        return self.pid.name

    @property
    def trap_exit(self) -> bool:
        """Whether exit signals arrive as :class:`agentlab.Exit` messages instead of killing."""
        return self.pid._trap

    @trap_exit.setter
    def trap_exit(self, value: bool) -> None:
        self.pid._trap = bool(value)

    # -- messages
    async def receive(
        self, match: Callable[[Any], bool] | None = None, timeout: float | None = None
    ) -> Any:
        """Take the first message (the first that ``match(msg)`` accepts) from the mailbox.

        Waits if there is none; raises :class:`agentlab.ReceiveTimeout` after
        ``timeout`` seconds of runtime clock (``None`` or ``math.inf`` waits as long as
        it takes, ``0`` only looks at what is there). Messages that do not match stay
        in the mailbox, in order (OTP's selective receive).

        ``match`` runs when a message is looked at, which for a message arriving
        during the wait is inside the sender's ``send``, but always as this process:
        ``runtime.self()`` in it is this process, not the sender. If it raises, that
        is this process's error, not the sender's: ``receive`` raises the exception
        here (the message stays in the mailbox) and, uncaught, the process exits with
        it as its reason. Keep ``match`` a quick, pure test of the message.
        """
        return await self.runtime._receive(self.pid, match, timeout)

    def send(self, dest: Pid | str, msg: Any) -> None:
        if dest.__class__ is _Pid and (rt := dest._rt) is not None:
            # Runtime.send's fast path, repeated here: a process's own sends are the
            # hottest path of message passing (ping-pong, request and answer), and this
            # saves a call per message. Keep the two in step. (The runtime is read from
            # the pid: self.runtime is a lookup on whichever agent class is sending.)
            # The traced part too: handing a traced send to Runtime.send cost a
            # ping-pong round trip with message events ~13% more machine instructions
            # (callgrind: 23,806 against 21,010).
            # (the send event once the message is in: see there)
            st = dest._st
            if st == _QUEUED:
                dest._mbox.append(msg)  # type: ignore[union-attr]
                if rt._tm:
                    rt._msg_event(_SEND, rt._cur or _current_cv.get(), dest.id)
                return
            if st == _IDLE:
                mb = dest._mbox
                if mb is None:
                    dest._one = msg
                    dest._st = _LONE
                else:
                    mb.append(msg)
                    dest._st = _QUEUED
                rt._runq.append(dest)
                if not rt._drain_pending and not rt._eager:
                    rt._drain_pending = True
                    rt._loop.call_soon(rt._drain, context=rt._ctx)
                if rt._tm:
                    rt._msg_event(_SEND, rt._cur or _current_cv.get(), dest.id)
                return
            if st == _LONE:  # a second message: both go into a mailbox
                rt._mailbox(dest).append(msg)
                if rt._tm:
                    rt._msg_event(_SEND, rt._cur or _current_cv.get(), dest.id)
                return
            if st == _BUSY:
                if rt._tm:
                    try:
                        rt._msg_event(_SEND, rt._cur or _current_cv.get(), dest.id)
                    finally:
                        if dest._st != _DEAD:
                            rt._deliver(dest, msg)
                    return
                rt._deliver(dest, msg)
                return
        self.runtime.send(dest, msg)

    def cast(self, dest: Pid | str, msg: Any) -> None:
        self.runtime.cast(dest, msg)

    async def call(self, dest: Pid | str, request: Any, timeout: float | None = 5.0) -> Any:
        return await self.runtime.call(dest, request, timeout)

    def send_after(self, dest: Pid | str, msg: Any, delay: float) -> TimerRef:
        return self.runtime.send_after(dest, msg, delay)

    def cancel_timer(self, ref: TimerRef) -> float | None:
        return self.runtime.cancel_timer(ref)

    async def sleep(self, seconds: float) -> None:
        await self.runtime.sleep(seconds)

    # -- links and monitors
    def link(self, other: Pid | str) -> None:
        """Link this process with ``other`` (a pid or a registered name): when either
        exits, the other gets an exit signal.

        Linking to a dead pid, as OTP's ``link/1``: a process that traps exits gets
        ``Exit(pid, "noproc")`` at once; any other raises
        :class:`agentlab.NoProcessError` here (OTP's ``noproc`` error), which it may
        catch (uncaught, it crashes the process, as any exception does). A name nobody
        holds raises :class:`agentlab.NoProcessError` too.
        """
        rt = self.runtime
        # TypeError for what is neither a pid nor a name; None only for a dead pid
        target = rt._resolve_named(other, "link to")
        me = self.pid
        if target is None:
            dead: Pid = other  # type: ignore[assignment]
            if not me._trap:
                raise NoProcessError(
                    f"{describe(me)} cannot link to {describe(dead)}: it is not alive (it "
                    f"exited with {dead._exit!r}). Check alive first, or trap exits to get "
                    "Exit(pid, 'noproc') instead (OTP's link raises noproc too).",
                    process=dead,
                )
            target = dead
        rt._link(me, target)  # a live pid, or (trapping) the dead one: an Exit message

    def unlink(self, other: Pid | str) -> None:
        """Remove the link with ``other``, if there is one (a dead pid: nothing to do)."""
        rt = self.runtime
        target = rt._resolve_named(other, "unlink from")
        if target is not None:
            rt._unlink(self.pid, target)

    def monitor(self, other: Pid | str) -> MonitorRef:
        """Get a :class:`agentlab.Down` message when ``other`` exits (``noproc`` if already dead).

        ``other`` is a pid or a registered name. A monitor by name watches the process
        that holds the name now, and its ``Down`` names what was monitored as OTP's
        does (``{'DOWN', Ref, process, {Name, Node}, Reason}``): ``down.object`` is
        the name, ``down.pid`` that process. A name nobody holds gets a ``Down`` at
        once with reason ``noproc`` and ``pid`` ``None`` (OTP: no error either).
        """
        rt = self.runtime
        target = rt._resolve(other)
        if type(other) is _Pid:
            return rt._monitor(self.pid, other if target is None else target)
        name = str(other)  # a str: _resolve refused anything else
        return rt._monitor(self.pid, _dead_name(rt, name) if target is None else target, name)

    def demonitor(self, ref: MonitorRef, flush: bool = False) -> None:
        self.runtime._demonitor(ref, flush)

    def exit(self, *args: Any) -> None:
        """``exit(reason)`` ends this process; ``exit(pid, reason)`` sends ``pid`` an exit signal.

        As :meth:`agentlab.Runtime.exit`: a dead pid is ignored, an unknown name raises
        :class:`agentlab.NoProcessError`, and a signal that kills this process itself
        (to itself, or to a process it is linked to) stops its code here.
        """
        if len(args) == 1:
            raise ProcessExit(args[0])
        if len(args) != 2:
            raise TypeError("use exit(reason) or exit(pid, reason)")
        self.runtime._exit_signal(self.pid, args[0], args[1])

    # -- starting others
    def spawn(self, fn: Callable[..., Any], *args: Any, link: bool = False, **kw: Any) -> Pid:
        return self.runtime.spawn(fn, *args, link=link, **kw)

    def spawn_link(self, fn: Callable[..., Any], *args: Any, **kw: Any) -> Pid:
        return self.runtime.spawn(fn, *args, link=True, **kw)

    # -- the body of a plain process
    async def _body(self, fn: Callable[..., Any], args: tuple[Any, ...], kw: dict[str, Any]) -> None:
        rt = self.runtime
        try:
            res = fn(self, *args, **kw)
            if hasattr(res, "__await__"):
                await res
        except ProcessExit as e:
            reason: Any = e.reason
        except CRASHES as e:  # sys.exit() too: a crash, not the end of the loop
            reason = Crash.from_exception(e)
        else:
            reason = NORMAL
        rt._finish(self.pid, reason)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.pid!r}>"


def _dead_name(rt: Runtime, name: str) -> Pid:
    from ._runtime import _DEAD, Pid

    p = Pid(rt, -1, name)
    p._st = _DEAD
    return p
