"""The runtime: processes, mailboxes, links, monitors, exit signals, timers, events.

This is the inner core (it imports only the standard library) and the largest
module, on purpose: message delivery, scheduling and exit propagation share
the process record and are the hot paths, so they live together.

How it runs
-----------
* A process is one slotted :class:`Pid` object. An idle process holds no
  asyncio Task; its mailbox (a deque) and link/monitor tables exist only while
  needed.
* Agents whose handlers are plain functions run *inline*: a delivery puts the
  process on the runtime's run queue, which one ``loop.call_soon`` callback
  drains (a BEAM-like scheduler inside asyncio).
* When a handler is ``async def`` (or a process is a body function), the
  process runs in an asyncio Task until its mailbox is empty, so any asyncio
  library (httpx, anyio) works inside it; it then goes back to holding no Task.
* Every wait (receive, call, sleep, timers) goes through the runtime's own
  timer heap on the runtime's clock, so a :class:`VirtualClock` can jump ahead
  whenever nothing can run.
"""

from __future__ import annotations

import asyncio
import contextvars
import heapq
import itertools
import logging
import numbers
import random
import sys
import time as _time
import weakref
from collections import deque
from collections.abc import Callable, Coroutine, Iterable
from functools import partial
from types import CoroutineType
from typing import TYPE_CHECKING, Any

from ._clock import Clock, RealClock, VirtualClock
from ._errors import (
    AgentLabError,
    CalleeExited,
    CallError,
    CallTimeout,
    NameTakenError,
    NoProcessError,
    ReceiveTimeout,
    RuntimeStateError,
    describe,
)
from ._events import (
    _H,
    MESSAGE_KINDS,
    Event,
    EventBatch,
    EventKind,
    EventLog,
    _as_event,
    _field_names,
    pace_young_collections,
    shared_data,
)
from ._reasons import CRASHES, KILL, KILLED, NOPROC, NORMAL, SHUTDOWN, Crash

if TYPE_CHECKING:
    from ._task import Task

__all__ = ["Down", "Exit", "Pid", "Runtime", "TimerRef", "current_runtime"]

log = logging.getLogger("agentlab")

# process states
_IDLE = 0
_QUEUED = 1
_BUSY = 2  # running in (or parked inside) an asyncio Task
_DEAD = 3
_ROOT = 4  # the runtime's root pid: stands for code outside processes, never runs
# queued with one message, held in the pid's ``_one`` slot: no mailbox deque (see Pid)
_LONE = 5

_tnew = tuple.__new__
_new_obj = object.__new__
_wall = _time.time
_mono = _time.monotonic
_CORO = CoroutineType

K = EventKind
_FLUSH_EVERY = 512  # events between moves of the log's tail (see Runtime._flush)
_POOL_MAX = 64  # empty mailboxes kept for reuse (Runtime._mbox_pool)
_DRAIN_BUDGET = range(4000)  # process runs per pass of the run queue (Runtime._drain)
_INF = float("inf")  # a deadline that never comes: the timer heap never acts on it


# Event data the runtime repeats is stored as a shared code (see _events.shared_data).
_UNTRAPPED = shared_data(trapped=False)
_TRAPPED = shared_data(trapped=True)
_REQUEST = _field_names(("request",))  # a call event's data
_NAME = _field_names(("name",))  # the data of a monitor's events when taken by name
_KIND_DATA: dict[str, int] = {}


def kind_data(kind: str) -> int:
    """The shared ``{"kind": kind}`` data of spawn events."""
    d = _KIND_DATA.get(kind)
    if d is None:
        d = _KIND_DATA[kind] = shared_data(kind=kind)
    return d


class Pid:
    """A process identifier, and the process record behind it.

    Printed as OTP prints pids: ``<0.42.0>``. ``name`` is its registered name
    (or ``None``), ``alive`` whether it still runs, ``exit_reason`` why it
    stopped. Send it messages with ``runtime.send(pid, msg)``.

    The runtime keeps two invariants the send fast paths rely on: a queued process
    (``_QUEUED``) has a mailbox, and an idle or queued process waits in no receive
    (a receive waits only in a process's Task, whose process is ``_BUSY``).

    A message to an idle process that holds no mailbox travels without one: it
    waits in the ``_one`` slot and the process is ``_LONE`` (queued with that one
    message; ``_mbox`` is ``None``). A lone message is the common case (ping-pong,
    a request and its answer), and a deque taken from the pool and given back
    costs more than the rest of its delivery. Whatever reads or changes the
    mailbox otherwise first moves the lone message into a deque
    (``Runtime._mailbox``), so it sees the same messages in the same order.
    """

    __slots__ = (
        "_beh",
        "_exit",
        "_hooks",
        "_links",
        "_mbox",
        "_mons",
        "_one",
        "_parent",
        "_path",
        "_rt",
        "_run",
        "_st",
        "_task",
        "_trap",
        "_wait",
        "id",
        "name",
    )

    def __init__(
        self,
        rt: Runtime | None,
        ident: int,
        name: str | None,
        beh: Any = None,
        parent: Pid | None = None,
        path: str | None = None,
        st: int = _IDLE,
        trap: bool = False,
    ) -> None:
        self.id = ident
        self.name = name
        self._rt = rt
        self._mbox: deque[Any] | None = None
        self._one: Any = None  # the lone message of a _LONE process
        self._links: Pid | set[Pid] | None = None  # one link is the Pid itself (see _add_link)
        self._mons: dict[Any, Any] | None = None
        self._trap = trap
        self._st = st
        self._beh: Any = beh
        self._task: asyncio.Task[Any] | None = None
        self._wait: Any = None
        self._parent: Pid | None = parent
        self._path: str | None = path
        self._exit: Any = None
        self._hooks: dict[Any, Callable[[Pid, Any], Any]] | None = None
        self._run = False  # counted as runnable for the virtual clock's idle check

    @property
    def alive(self) -> bool:
        return self._st != _DEAD

    @property
    def exit_reason(self) -> Any:
        """The reason it exited with, or ``None`` while it is alive."""
        return self._exit

    @property
    def path(self) -> str | None:
        """Supervisor path, e.g. ``"root/team/writer"`` (``None`` when unsupervised)."""
        return self._path

    @property
    def trap_exit(self) -> bool:
        return self._trap

    @property
    def mailbox_size(self) -> int:
        if self._st == _LONE:
            return 1
        mb = self._mbox
        return len(mb) if mb else 0

    def __repr__(self) -> str:
        if self.name:
            return f"<0.{self.id}.0 {self.name}>"
        return f"<0.{self.id}.0>"

    def __lt__(self, other: Pid) -> bool:
        return self.id < other.id

    def __erl__(self) -> str:
        return "pid"


# A process's links: None, the one linked Pid, or a set of two or more. Most processes
# have one link (a supervised worker, to its supervisor), and a set per process was over
# a quarter of the objects a garbage collection walked in a 10,000-process tree.


def _linked(a: Pid, b: Pid) -> bool:
    links = a._links
    if links is None:
        return False
    if isinstance(links, Pid):
        return links is b
    return b in links


def _add_link(a: Pid, b: Pid) -> None:
    """Record ``b`` among ``a``'s links (the caller checked that it is not there yet)."""
    links = a._links
    if links is None:
        a._links = b
    elif isinstance(links, Pid):
        a._links = {links, b}
    else:
        links.add(b)


def _drop_link(a: Pid, b: Pid) -> None:
    """Forget ``b`` among ``a``'s links, if it is there."""
    links = a._links
    if links is None:
        return
    if isinstance(links, Pid):
        if links is b:
            a._links = None
        return
    links.discard(b)
    if not links:
        a._links = None


class Exit:
    """The message a process that traps exits gets for an exit signal (OTP ``{'EXIT', Pid, Reason}``)."""

    __slots__ = ("pid", "reason")

    def __init__(self, pid: Pid | None, reason: Any) -> None:
        self.pid = pid
        self.reason = reason

    def __repr__(self) -> str:
        return f"Exit({self.pid!r}, {self.reason!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Exit) and other.pid is self.pid and other.reason == self.reason

    __hash__ = object.__hash__


_SAME: Any = object()  # Down's object: the pid


class Down:
    """A monitor fired (OTP ``{'DOWN', Ref, process, Object, Reason}``).

    ``ref`` is the :class:`MonitorRef`, ``reason`` the exit reason (``noproc`` when
    there was no process to monitor), and ``object`` what was monitored, as OTP's
    message says it: the pid, or for a monitor taken by registered name
    (``proc.monitor("worker")``) that name. (OTP says ``{Name, Node}``; a runtime is
    one node, and agentlab names are plain strings.) ``pid`` is the process that
    exited: for a monitor by name, the one that held the name when the monitor was
    taken (a monitor stays with that process, as in OTP, whoever takes the name
    later), or ``None`` when nobody held it (the reason is then ``noproc``)::

        ref = proc.monitor("worker")
        down = await proc.receive(lambda m: isinstance(m, Down) and m.ref is ref)
        down.object, down.pid, down.reason   # "worker", <0.105.0 worker>, "boom"
    """

    __slots__ = ("object", "pid", "reason", "ref")

    def __init__(self, ref: Any, pid: Pid | None, reason: Any, object: Any = _SAME) -> None:
        self.ref = ref
        self.pid = pid
        self.reason = reason
        #: what was monitored: the pid, or the registered name it was monitored by
        self.object = pid if object is _SAME else object

    def __repr__(self) -> str:
        return f"Down({self.object!r}, {self.reason!r})"


class MonitorRef:
    """A monitor: ``watcher`` gets a :class:`Down` when ``target`` exits.

    ``name`` is the registered name it was taken by (``monitor("worker")``), or
    ``None`` for a monitor of a pid.
    """

    __slots__ = ("name", "target", "watcher")

    def __init__(self, watcher: Pid, target: Pid, name: str | None = None) -> None:
        self.watcher = watcher
        self.target = target
        self.name = name

    def _down(self, rt: Runtime, dead: Pid, reason: Any) -> None:
        w = self.watcher
        if w._st != _DEAD:
            name = self.name
            if name is None:
                down = Down(self, dead, reason)
            else:  # by name: OTP's {Name, Node}; a name nobody held has no pid (noproc)
                down = Down(self, dead if dead.id >= 0 else None, reason, name)
            try:
                if name is None:
                    rt._emit_lean(K.DOWN, w, dead.id, reason, None)
                else:  # what was monitored, and no peer when nobody held the name
                    rt._emit_lean(K.DOWN, w, dead.id if dead.id >= 0 else None, reason, _NAME, name)
            finally:  # also when a subscriber raised (an interrupt: see Runtime.subscribe)
                if w._st != _DEAD:
                    rt._deliver(w, down)

    def __repr__(self) -> str:
        target = self.target if self.name is None else self.name
        return f"#Ref<monitor {self.watcher!r} -> {target!r}>"


class _Watch:
    """An internal monitor that calls a function instead of sending a message."""

    __slots__ = ("fn",)

    def __init__(self, fn: Callable[[Pid, Any], Any]) -> None:
        self.fn = fn

    def _down(self, rt: Runtime, dead: Pid, reason: Any) -> None:
        # user code, run in the middle of dead's exit (Runtime._finish): a crash is logged
        # here; a KeyboardInterrupt goes on once the rest of the exit is done (_finish)
        try:
            self.fn(dead, reason)
        except CRASHES:
            log.exception("agentlab: watch callback %r failed for %r", self.fn, dead)


class TimerRef:
    """A timer on the runtime clock. ``cancel()`` returns the time it had left, or ``None``."""

    __slots__ = ("_rt", "args", "cancelled", "fired", "fn", "when")

    def __init__(self, rt: Runtime, when: float, fn: Callable[..., Any], args: tuple[Any, ...]):
        self._rt = rt
        self.when = when
        self.fn = fn
        self.args = args
        self.cancelled = False
        self.fired = False

    def cancel(self) -> float | None:
        return self._rt.cancel_timer(self)

    def __lt__(self, other: TimerRef) -> bool:  # heap ties are broken by sequence number
        return False


class _Call:
    __slots__ = ("caller", "request")

    def __init__(self, request: Any, caller: Caller) -> None:
        self.request = request
        self.caller = caller

    def __repr__(self) -> str:
        return f"Call({self.request!r})"


class _Cast:
    __slots__ = ("msg",)

    def __init__(self, msg: Any) -> None:
        self.msg = msg

    def __repr__(self) -> str:
        return f"Cast({self.msg!r})"


class _SysStop:
    """Stop an agent in order (``runtime.stop``): ``terminate`` runs, then it exits."""

    __slots__ = ("reason",)

    def __init__(self, reason: Any) -> None:
        self.reason = reason


class _ContinueMsg:
    """``Continue(term)`` from ``init``: ``handle_continue(term)`` runs before any message."""

    __slots__ = ("term",)

    def __init__(self, term: Any) -> None:
        self.term = term


# The messages an agent handles itself (gen_server's system messages, calls, casts,
# trapped exits); every other message goes to its handle_info.
_SYSTEM = frozenset({_Call, _Cast, Exit, _SysStop, _ContinueMsg})


class Caller:
    """Who is waiting for a call's reply (OTP's ``From``). ``reply(value)`` answers it.

    A handler that returns :data:`agentlab.NOREPLY` keeps the caller and replies
    later, from anywhere in the runtime. Replies after the caller gave up
    (timeout, callee... ) are dropped silently, as OTP 24+ does.
    """

    __slots__ = ("_callee", "_fut", "_rt", "_timer", "pid")

    def __init__(self, rt: Runtime, pid: Pid | None, callee: Pid, fut: asyncio.Future[Any]):
        self._rt = rt
        self.pid = pid
        self._callee = callee
        self._fut = fut
        self._timer: TimerRef | None = None

    def reply(self, value: Any) -> None:
        self._rt._reply(self, value)

    @property
    def pending(self) -> bool:
        return not self._fut.done()

    def _down(self, rt: Runtime, dead: Pid, reason: Any) -> None:
        fut = self._fut
        if fut.done():
            return
        if self._timer is not None:
            rt._drop_timer(self._timer)
        rt._wake_future(fut, exc=_callee_exited(dead, reason))

    def __repr__(self) -> str:
        return f"Caller({self.pid!r})"


def _callee_exited(dead: Pid, reason: Any) -> CalleeExited:
    if reason == NOPROC:
        return CalleeExited(
            f"call to {describe(dead)} failed: no such process (it had already exited). "
            "Check that it is running, or call it by its registered name.",
            process=dead,
            reason=reason,
        )
    return CalleeExited(
        f"call to {describe(dead)} failed: it exited with reason {reason!r} before replying. "
        "Its supervisor may restart it; retry the call, or look at the exit reason.",
        process=dead,
        reason=reason,
    )


def _check_timeout(value: Any, where: str) -> float | None:
    """``value`` as a timeout: ``None`` (wait forever) or a float number of seconds >= 0.

    An infinite timeout (``math.inf``) is ``None``: it waits forever, as OTP's
    ``infinity`` does, and sets no timer. Any other real number (an int, a
    ``Fraction``, a NumPy float) comes back as a float, which the timer heap adds to
    the clock and error messages format. Anything else is refused before the wait
    is set up, with an error naming ``where`` (the function: ``"call"``,
    ``"receive"`` ...). The per-call paths (``call``, ``receive``) let a float >= 0
    through without calling this, ``inf`` too: its timer is due never, and the
    timer heap neither moves a virtual clock to it nor sets an alarm for it
    (``_INF`` in ``_probe`` and ``_fire_due``), so it waits forever there as well.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"{where}(timeout={value!r}): a timeout is a number of seconds, or None to wait "
            f"forever; got {type(value).__name__}."
        )
    f = float(value)
    if not f >= 0:  # negative, or NaN
        raise ValueError(
            f"{where}(timeout={value!r}): a timeout is a number of seconds >= 0, or None to "
            "wait forever."
        )
    if f == _INF:
        return None
    return f


def _stopped(me: Pid) -> asyncio.CancelledError:
    """What unwinds the code of a process that is dead while that code still runs.

    A process's own call can kill it: an exit signal to itself or to a process
    it is linked to. The call then raises this, and so
    does any runtime wait of a dead process, so that its code stops at once (no
    later send is delivered). The runtime takes it as the end of a process that
    has already exited: no second exit, no ``terminate``, no crash report. It is
    a ``CancelledError``, like the cancellation that stops a process killed
    while it waits; re-raise it if you catch it.
    """
    return asyncio.CancelledError(
        f"{describe(me)} has exited (reason {me._exit!r}); a dead process runs no more code."
    )


def _unknown_name(name: Any, doing: str) -> NoProcessError:
    return NoProcessError(
        f"cannot {doing} {name!r}: no process is registered under that name. "
        "Start it first, or check the spelling.",
        process=name,
    )


_current_cv: contextvars.ContextVar[Pid | None] = contextvars.ContextVar(
    "agentlab_current_process", default=None
)
_runtime_cv: contextvars.ContextVar[Runtime | None] = contextvars.ContextVar(
    "agentlab_runtime", default=None
)


def current_runtime() -> Runtime:
    """The runtime of the calling process; outside processes, the most recently created
    one, or once that one is shut down, the newest one still running on its loop."""
    rt = _runtime_cv.get() or Runtime._latest
    if rt is None or rt._closed:
        raise RuntimeStateError("no agentlab runtime is running: create one with Runtime().")
    return rt


class Runtime:
    """An OTP-style process runtime living on the running asyncio event loop.

    In a notebook cell, create it and use it directly (no ``await`` needed to
    spawn or send); in a script, use ``async with Runtime() as rt:``::

        rt = Runtime()                      # attaches to the running loop
        pid = rt.start(Counter, 0, name="counter")
        await rt.call("counter", "get")     # -> 0
        await rt.shutdown()                 # stops every process, awaits every task

    Options (all keyword-only):

    ``clock``           :class:`RealClock` (the default) or :class:`VirtualClock`
    ``seed``            of the runtime's :attr:`random` generator (default 0; ``None``
                        seeds it from the system)
    ``trace_messages``  message-level events: ``True`` (the default), ``False``, or a
                        sampling fraction; lifecycle events are always recorded
    ``event_capacity``  size of the in-memory :attr:`events` log (default 100,000)
    ``lag_threshold``   seconds of event-loop stall reported as ``loop_lag`` (default
                        0.25; ``None``: not measured)
    ``lag_interval``    seconds between the lag probe's checks (default 0.1)
    ``loop``            the event loop to live on (default: the running one)
    """

    _latest: Runtime | None = None

    # The attributes the message and start paths read on every operation are slots
    # (the fastest attribute reads CPython 3.11 has: a runtime has more attributes
    # than an instance dict shares keys for); the rest live in the instance dict,
    # where every read is an unspecialised lookup (a call of an appender held there,
    # such as the event log's, cost ~440 more machine instructions an event: callgrind).
    # Attributes added later are slots too, hot or not: the instance dict is at the size
    # up to which CPython 3.11 still specialises method calls on the runtime (one more key
    # made a call between two processes ~3,300 machine instructions dearer: callgrind).
    __slots__ = (
        "__dict__",
        "__weakref__",
        "_cleanups",
        "_closed",
        "_cur",
        "_drain_pending",
        "_eager",
        "_flush_at",
        "_log_append",
        "_mbox_pool",
        "_mono_origin",
        "_msg_rate",
        "_next_id",
        "_procs",
        "_runq",
        "_seq",
        "_stopping",
        "_subs",
        "_sync_depth",
        "_time_append",
        "_tm",
        "_waits",
        "_wall_offset",
        "root",
    )

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        seed: int | None = 0,
        trace_messages: bool | float = True,
        event_capacity: int = 100_000,
        lag_threshold: float | None = 0.25,
        lag_interval: float = 0.1,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        if loop is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                raise RuntimeStateError(
                    "Runtime() needs a running asyncio event loop. In a notebook just call "
                    "Runtime() in a cell; in a script write `async with Runtime() as rt:` "
                    "inside a coroutine that asyncio.run() runs: `async def main(): async "
                    "with Runtime() as rt: ...`, then `asyncio.run(main())`."
                ) from None
        self._loop = loop
        self.clock: Clock = clock if clock is not None else RealClock()
        if isinstance(self.clock, RealClock):
            self.clock._bind(loop)
        self._virtual = isinstance(self.clock, VirtualClock)
        self._now = self.clock.now
        # Every event reads the clock, and clock reads cost ~0.2 us in some VMs. On a
        # real clock the event's wall time is derived from the same reading (one read
        # per event instead of two), and on asyncio's own loops, whose time() is
        # time.monotonic(), the runtime reads that directly.
        self._wall_offset: float | None = None
        self._mono_origin: float | None = None  # set: _emit reads time.monotonic() itself
        if isinstance(self.clock, RealClock):
            if type(loop).time is asyncio.BaseEventLoop.time:
                self._now = _monotonic_since(self.clock._origin)
                self._mono_origin = self.clock._origin
            self._wall_offset = _wall() - self._now()
        self.seed = seed
        #: the runtime's seeded random generator: fault injection, jitter, scripted models
        self.random = random.Random(seed)
        self._procs: dict[int, Pid] = {}
        self._names: dict[str, Pid] = {}
        self._next_id = 100
        self._runq: deque[Pid] = deque()
        # empty mailboxes for reuse: an idle process holds none, and a message to an
        # idle process needs one (allocating a deque costs more than the rest of a send)
        # (a deque: a list would resize at every 0 <-> 1 step; bounded by maxlen, so a
        # burst that emptied many mailboxes at once does not keep them all)
        self._mbox_pool: deque[deque[Any]] = deque(maxlen=_POOL_MAX)
        self._graveyard: list[Any] = []  # behaviours of processes that just exited (_finish)
        self._drain_pending = False
        self._cur: Pid | None = None  # the process running inline right now
        self._ctx = contextvars.Context()
        self._ctx.run(_runtime_cv.set, self)
        # events
        self.events = EventLog(event_capacity)
        self._subs: list[Callable[[Event], Any]] = []
        self._seq = 0
        # Events go to a short tail list first (one C-level append each); every
        # _FLUSH_EVERY events, and whenever the log is read, the tail moves into the
        # bounded log and to the batched subscribers (see subscribe) in one go.
        self._sinks: tuple[Callable[[EventBatch], Any], ...] = ()
        self._flush_at = _FLUSH_EVERY
        self._log_append, self._time_append, self._wall_append = self.events._direct_append(
            lambda: self._seq, self._flush, self._wall_offset
        )
        self._msg_rate = 1.0
        self._msg_acc = 0.0
        self.trace_messages = trace_messages
        # timers
        self._heap: list[tuple[float, int, TimerRef]] = []
        self._tseq = 0
        self._ncancelled = 0
        self._armed: asyncio.TimerHandle | None = None
        self._armed_when = float("inf")
        # virtual clock bookkeeping: process tasks that are running (not parked on a runtime wait)
        self._running = 0
        # processes with two or more runtime waits at once (asyncio.gather): how many (see _await)
        self._waits: dict[Pid, int] = {}
        self._probe_pending = False
        self._probe_gen = self._probe_seen = 0  # see _maybe_probe
        self._time_holds = 0  # > 0: a virtual clock must not move (see hold_time)
        self._sync_depth = 0  # > 0 while the scheduler or a timer runs (no eager drains)
        self._eager = False  # an eager drain follows at once: _enqueue need not schedule one
        # tasks
        self._tasks: set[asyncio.Task[Any]] = set()
        self._cleanups: set[asyncio.Task[Any]] = set()  # see cleanup: shutdown waits for them
        self._closed = False
        self._stopping: asyncio.Future[Any] | None = None  # a shutdown under way (see shutdown)
        self.root = Pid(None, 0, None)  # the parent of top-level processes
        self.root._rt = self
        self.root._st = _ROOT  # off the send fast path: see send and exit
        # loop health
        self.lag_threshold = lag_threshold
        self._lag_interval = lag_interval
        self._lag_handle: asyncio.TimerHandle | None = None
        self.max_lag = 0.0
        if lag_threshold is not None:
            self._lag_expected = loop.time() + lag_interval
            # in the runtime's context, not the creating cell's: a notebook shows the
            # warning under the cell that runs now (the one that blocked), not this one
            self._lag_handle = loop.call_at(self._lag_expected, self._lag_tick, context=self._ctx)
        _warn_if_another_runs(loop)
        _LIVE[next(_MADE)] = self
        Runtime._latest = self

    # ------------------------------------------------------------------ basics

    @property
    def trace_messages(self) -> bool | float:
        return self._msg_rate if 0 < self._msg_rate < 1 else self._msg_rate >= 1

    @trace_messages.setter
    def trace_messages(self, value: bool | float) -> None:
        rate = float(value)
        if not 0.0 <= rate <= 1.0:
            raise ValueError("trace_messages must be True, False or a fraction in [0, 1]")
        self._msg_rate = rate
        self._tm = rate > 0

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def now(self) -> float:
        """Seconds on the runtime clock."""
        return self._now()

    @property
    def closed(self) -> bool:
        return self._closed

    def processes(self) -> list[Pid]:
        """Every live process, in spawn order."""
        return list(self._procs.values())

    def whereis(self, name: str) -> Pid | None:
        """The live process registered under ``name``, or ``None``."""
        return self._names.get(name)

    def registered(self) -> dict[str, Pid]:
        return dict(self._names)

    def self(self) -> Pid | None:
        """The calling process, or ``None`` outside any process."""
        return self._cur or _current_cv.get()

    def _live_self(self) -> Pid | None:
        """The calling process if it is alive: give it to :meth:`_stop_if_killed` after an
        operation that may kill it (an exit signal, a link)."""
        me = self._cur or _current_cv.get()
        return me if me is not None and me._st != _DEAD else None

    @staticmethod
    def _stop_if_killed(me: Pid | None) -> None:
        """``me`` (from :meth:`_live_self`) died in the operation just done: stop its code."""
        if me is not None and me._st == _DEAD:
            raise _stopped(me)

    def _resolve(self, dest: Pid | str) -> Pid | None:
        if type(dest) is Pid:
            if dest._st == _ROOT:
                _refuse_root()
            return dest if dest._st != _DEAD else None
        if isinstance(dest, str):
            return self._names.get(dest)
        raise TypeError(
            f"expected a Pid or a registered name (str), got {type(dest).__name__}: {dest!r}"
        )

    def _resolve_named(self, dest: Pid | str, doing: str) -> Pid | None:
        """:meth:`_resolve`, and a name nobody holds is an error (OTP's ``badarg``):
        ``None`` only for a dead pid. ``doing`` names the operation for the error
        (``"send to"``)."""
        p = self._resolve(dest)
        if p is None and type(dest) is not Pid:
            raise _unknown_name(dest, doing)
        return p

    def _lookup(self, dest: Pid | str) -> Pid:
        p = self._resolve(dest)
        if p is None:
            if isinstance(dest, str):
                raise NoProcessError(
                    f"no process is registered as {dest!r}. Registered names: "
                    f"{sorted(self._names)[:10]}. Start it first, or check the spelling.",
                    process=dest,
                )
            raise NoProcessError(
                f"process {describe(dest)} is not alive (it exited with {dest._exit!r}).",
                process=dest,
            )
        return p

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeStateError(
                "this runtime has been shut down; create a new Runtime() to start processes."
            )

    # ------------------------------------------------------------------ events

    def subscribe(self, fn: Callable[..., Any], *, batched: bool = False) -> Callable[[], None]:
        """Call ``fn(event)`` for every event from now on. Returns an unsubscribe function.

        Subscribers run synchronously on the loop and must be quick; an exception
        in one is logged and the subscriber removed (``sys.exit()`` too).

        A ``KeyboardInterrupt`` in one (Ctrl-C while it runs; any ``BaseException``
        that is not a crash) is not the subscriber's failure, and it is not caught: the
        other subscribers still get the event, the runtime completes the operation
        that emitted it (the message is delivered, the exit is carried through to
        every link, monitor and registry entry, the timer cancelled), and then the
        interrupt goes on out of the code that made the event: a notebook cell's
        ``send``, or a process's code, which it ends as any interrupt there does
        (the process exits with it as a :class:`Crash`). One that comes while a
        process is being started, before its ``init`` returned, fails that start,
        as an interrupted ``init`` does: the new process exits with it, holding no
        name. A batched subscriber's interrupt comes once the log has the batch.

        ``batched=True`` is the bulk path for recorders: ``fn(batch)`` gets an
        :class:`EventBatch` of up to 512 consecutive events at a time, the runtime's
        own storage (it never changes, so keep it as it is). There is no per-event
        call and no per-event object, so recording costs the runtime next to
        nothing. Iterate a batch for :class:`Event` objects, or read its columns
        (``seqs()``, ``times()``, ``walls()``, and ``records``: each event's fields
        from ``kind`` on, with its data in a stored form that ``record_data`` turns
        into a dict). Batches come every 512 events and whenever the event log is
        read or :meth:`flush_events` is called, so nothing waits for long.
        """
        if batched:
            self._flush()  # (another one's interrupt here: this one is not subscribed)
            self._sinks = (*self._sinks, fn)

            def remove_sink() -> None:
                try:
                    self._flush()  # it gets what came before
                finally:  # also when another one was interrupted meanwhile
                    self._sinks = tuple(a for a in self._sinks if a is not fn)

            return remove_sink
        # copy-on-write: _emit iterates the current list without copying it per event
        self._subs = [*self._subs, fn]

        def unsubscribe() -> None:
            self._drop_subscriber(fn)

        return unsubscribe

    def flush_events(self) -> None:
        """Hand the newest events to batched subscribers now (see :meth:`subscribe`)."""
        self._flush()

    def _flush(self) -> None:
        """Move the tail of new events into the log, and hand them to the sinks."""
        self._flush_at = self._seq + _FLUSH_EVERY
        chunk = self.events._cut_tail()
        if chunk is None:
            return
        pace_young_collections(len(chunk) - _H)  # _H: its header fields
        held: BaseException | None = None
        if self._sinks:
            batch = EventBatch(chunk)
            for sink in self._sinks:
                try:
                    sink(batch)
                except CRASHES:  # user code: its sys.exit() must not end the loop either
                    log.exception("agentlab: batched subscriber %r failed; it was removed", sink)
                    self._sinks = tuple(a for a in self._sinks if a is not sink)
                except BaseException as e:  # an interrupt: as a per-event subscriber's (_emit)
                    if held is None:
                        held = e
        self.events._store(chunk)
        if held is not None:
            raise held

    def _drop_subscriber(self, fn: Callable[[Event], Any]) -> None:
        if fn in self._subs:
            subs = list(self._subs)
            subs.remove(fn)
            self._subs = subs

    def _emit(
        self,
        kind: str,
        p: Pid | None,
        peer: int | None = None,
        reason: Any = None,
        data: dict[str, Any] | int | tuple[str, ...] | None = None,
        *values: Any,
    ) -> None:
        """Record an event. ``data``: a dict, a shared-data code (``_events.shared_data``),
        or, with ``values``, a tuple of field names (a constant, see below) whose
        values follow in order: ``_emit(kind, p, None, None, ("a", "b"), 1, 2)``."""
        if data.__class__ is tuple and len(values) != len(data):
            raise TypeError(
                f"{kind!r} events take {len(data)} values ({', '.join(data)}), "
                f"got {len(values)}"
            )
        self._seq = seq = self._seq + 1
        origin = self._mono_origin
        wall = None
        if origin is not None:  # _now() without its Python frame
            now = _mono() - origin
        else:
            now = self._now()
            if self._wall_offset is None:  # a wall time per event (else time + offset)
                wall = _wall()
                self._wall_append(wall)
        self._time_append(now)
        # The log keeps the event's number and times in columns, and the rest as a
        # plain tuple of atomic values, which the cyclic GC stops tracking at the
        # first collection that sees it (see _events: why columns, and
        # shared_data): a data dict's values go into the record itself after a tuple
        # of its field names, one long-lived tuple per set of names, so a record holds
        # no young tuple (a nested young one would keep the record tracked for a
        # further collection). Subscribers get an Event.
        r: tuple[Any, ...]
        if data.__class__ is dict:
            keys = _field_names(tuple(data))
            if p is None:
                r = (kind, 0, None, None, peer, reason, keys, *data.values())
            else:
                r = (kind, p.id, p.name, p._path, peer, reason, keys, *data.values())
        elif values:
            if p is None:
                r = (kind, 0, None, None, peer, reason, data, *values)
            else:
                r = (kind, p.id, p.name, p._path, peer, reason, data, *values)
        elif p is None:  # no star: a star builds a list first (~65 ns an event)
            r = (kind, 0, None, None, peer, reason, data)
        else:
            r = (kind, p.id, p.name, p._path, peer, reason, data)
        self._log_append(r)
        if self._subs:
            if wall is None:
                wall = now + self._wall_offset  # type: ignore[operator]
            if data is None:
                ev = _tnew(Event, (seq, now, wall, *r))
            elif data.__class__ is dict:
                ev = _tnew(Event, (seq, now, wall, *r[:6], data))
            else:  # a shared-data code, or field names and values
                ev = _as_event((seq, now, wall, *r))
            held: BaseException | None = None
            for fn in self._subs:  # never mutated in place (see subscribe)
                try:
                    fn(ev)
                except CRASHES:  # as a batched subscriber's (_flush)
                    log.exception("agentlab: event subscriber %r failed; it was removed", fn)
                    self._drop_subscriber(fn)
                except BaseException as e:  # an interrupt: the others get the event first
                    if held is None:
                        held = e
            if held is not None:
                # it goes on from here, out of the operation that emitted the event, which
                # completes it first (see subscribe); the tail moves at the next event
                raise held
        if seq >= self._flush_at:
            self._flush()

    def _emit_lean(
        self,
        kind: str,
        p: Pid,
        peer: int | None,
        reason: Any,
        data: int | tuple[str, ...] | None,
        *values: Any,
    ) -> None:
        """:meth:`_emit` for the runtime's own events of a process (spawn, init, links,
        monitors, down, exit signal, exit, a supervisor's reports, message-level events
        without a dict): their data is a shared-data code, None, or constant field
        names followed by as many values.
        With no per-event subscriber it skips what those never need: a dict, checking
        the values against the names, an Event (the README's performance notes have
        what that saves). Keep its record and times in step with :meth:`_emit`."""
        if self._subs:
            self._emit(kind, p, peer, reason, data, *values)
            return
        self._seq = seq = self._seq + 1
        origin = self._mono_origin
        if origin is not None:  # as in _emit
            self._time_append(_mono() - origin)
        else:
            self._time_append(self._now())
            if self._wall_offset is None:
                self._wall_append(_wall())
        if values:
            self._log_append((kind, p.id, p.name, p._path, peer, reason, data, *values))
        else:
            self._log_append((kind, p.id, p.name, p._path, peer, reason, data))
        if seq >= self._flush_at:
            self._flush()

    def _emit_msg(
        self,
        kind: str,
        p: Pid | None,
        peer: int | None,
        data: dict[str, Any] | int | None = None,
        reason: Any = None,
    ) -> None:
        """Message-level event: recorded when message tracing is on (or sampled in).
        Events with no data (or one named field) go through :meth:`_msg_event`, which
        comes here when messages are sampled or someone subscribes per event."""
        rate = self._msg_rate
        if rate < 1.0:
            acc = self._msg_acc + rate
            if acc < 1.0:
                self._msg_acc = acc
                return
            self._msg_acc = acc - 1.0
        if p is None or isinstance(data, dict):
            self._emit(kind, p, peer, reason, data)
        else:
            self._emit_lean(kind, p, peer, reason, data)

    def _msg_event(
        self,
        kind: str,
        p: Pid | None,
        peer: int | None,
        names: tuple[str, ...] | None = None,
        value: Any = None,
    ) -> None:
        """A message-level event (send, receive, cast, call, reply), called only while
        message tracing is on: :meth:`_emit_msg` and :meth:`_emit_lean` in one frame
        for the common case (every message recorded, no per-event subscriber). Its data
        is none, or one field: ``names`` (from ``_field_names``) and its ``value``. Keep
        its record and times in step with :meth:`_emit`."""
        if self._msg_rate < 1.0 or self._subs:
            self._emit_msg(kind, p, peer, None if names is None else {names[0]: value})
            return
        self._seq = seq = self._seq + 1
        origin = self._mono_origin
        if origin is not None:
            self._time_append(_mono() - origin)
        else:
            self._time_append(self._now())
            if self._wall_offset is None:
                self._wall_append(_wall())
        if names is not None:
            if p is None:
                self._log_append((kind, 0, None, None, peer, None, names, value))
            else:
                self._log_append((kind, p.id, p.name, p._path, peer, None, names, value))
        elif p is None:  # sent from outside any process
            self._log_append((kind, 0, None, None, peer, None, None))
        else:
            self._log_append((kind, p.id, p.name, p._path, peer, None, None))
        if seq >= self._flush_at:
            self._flush()

    def emit(
        self,
        kind: str,
        pid: Pid | None = None,
        /,
        *,
        peer: Pid | None = None,
        reason: Any = None,
        **data: Any,
    ) -> None:
        """Put an event of your own (or a library's, such as the LLM layer's) in the stream.

        ``kind`` and ``pid`` are positional, so the data may have fields of those names
        (a ``spawn`` event's ``kind``, say)."""
        if kind in MESSAGE_KINDS and not self._tm:
            return
        self._emit(
            kind, pid if pid is not None else self.self(), peer.id if peer else None, reason,
            data or None,
        )

    def emitter(
        self, kind: str, fields: Iterable[str], pid: Pid | None = None
    ) -> Callable[..., None]:
        """A writer for many events of one kind, with the same fields each time.

        ``write = runtime.emitter("llm_token", ("text", "index"), pid)``, then
        ``write("Hel", 0)`` records what ``runtime.emit("llm_token", pid,
        text="Hel", index=0)`` records, without building a dict per event (the
        LLM agents' per-token path). ``write`` takes exactly one value per field,
        in order. A message-level kind is recorded only while message tracing is on.
        """
        keys = tuple(fields)
        if not keys or not all(isinstance(k, str) for k in keys):
            raise TypeError(f"emitter fields must be a non-empty sequence of names, got {fields!r}")
        keys = _field_names(keys)
        if kind not in MESSAGE_KINDS:
            return partial(self._emit, kind, pid, None, None, keys)  # C-level: no Python frame

        def write(*values: Any) -> None:
            if self._tm:
                self._emit(kind, pid, None, None, keys, *values)

        return write

    # ------------------------------------------------------------------ scheduling

    def _enqueue(self, p: Pid) -> None:
        p._st = _QUEUED
        self._runq.append(p)
        if not self._drain_pending and not self._eager:
            self._drain_pending = True
            self._loop.call_soon(self._drain, context=self._ctx)

    def _drain_now(self) -> None:
        """Run queued processes right away, for a call or exit signal from outside code.

        The caller (a notebook cell, a test, a widget button) would otherwise wait
        a loop turn for the run queue's callback; when the callee is an inline
        agent its reply is then ready before the caller awaits it. Never nested:
        not inside the scheduler, a timer, or another eager drain.
        """
        self._eager = False
        if not self._runq:
            if self._graveyard and not self._sync_depth:
                self._graveyard.clear()
            return
        if self._sync_depth or self._cur is not None:
            if not self._drain_pending:
                self._drain_pending = True
                self._loop.call_soon(self._drain, context=self._ctx)
            return
        self._drain()

    def _drain(self) -> None:
        q = self._runq
        pool = self._mbox_pool
        system = _SYSTEM  # locals: read once per message below
        tp = type
        receive = K.RECEIVE
        self._sync_depth += 1
        try:
            for _ in _DRAIN_BUDGET:  # runs per pass, then the loop's other callbacks go
                if not q:
                    break
                p = q.popleft()
                st = p._st
                if st == _LONE:
                    # One message, in the pid's slot (see Pid): the common case (ping-pong,
                    # a request and its answer). Run handle_info right here, without a
                    # mailbox. What Agent._activate does for it, without its frame and loop
                    # set-up.
                    p._st = _IDLE
                    self._cur = p
                    beh = p._beh  # an Agent: only agents are put on the run queue
                    msg = p._one
                    p._one = None
                    if tp(msg) in system:
                        self._mailbox(p).append(msg)
                        beh._activate(p)
                        continue
                    if self._tm:  # message tracing: a receive event, as _activate_traced
                        self._msg_event(receive, p, None)
                    try:
                        r = beh.handle_info(msg)
                    except CRASHES as e:  # a crash (sys.exit() too) or ProcessExit
                        beh._info_raised(e)
                    else:
                        if r is not None:
                            beh._info_returned(r)
                    continue
                if st != _QUEUED:
                    continue
                p._st = _IDLE
                self._cur = p
                beh = p._beh
                mb = p._mbox
                try:
                    msg = mb.popleft()  # type: ignore[union-attr]
                except IndexError:  # no mail after all (a handler took it out): _activate
                    beh._activate(p)
                    continue
                if mb or tp(msg) in system:
                    mb.appendleft(msg)  # type: ignore[union-attr]
                    beh._activate(p)
                    continue
                if self._tm:
                    self._msg_event(receive, p, None)
                # one plain message in a mailbox: as for a lone one, then the mailbox
                # goes back to the pool (the two are spelled out, not merged: one
                # shared tail costs a ping-pong round trip 2% more instructions)
                try:
                    r = beh.handle_info(msg)
                except CRASHES as e:  # as above
                    beh._info_raised(e)
                else:
                    if r is not None:
                        beh._info_returned(r)
                if p._st == _IDLE:  # alive, not in a task, no new mail
                    p._mbox = None
                    pool.append(mb)  # type: ignore[arg-type]
        except asyncio.CancelledError:
            # An inline handler's own call killed its process, and _stopped unwound the
            # handler: the process has already exited. The rest of the run queue runs
            # at the next loop turn (below).
            if p._st != _DEAD:
                raise
        except BaseException as e:  # a KeyboardInterrupt in a handler: it goes on
            self._interrupted(self._cur, e)
            raise
        finally:
            self._cur = None
            self._sync_depth -= 1
            if self._graveyard:
                self._graveyard.clear()
            if q:  # out of budget: continue on the next loop turn
                self._drain_pending = True
                self._loop.call_soon(self._drain, context=self._ctx)
            else:
                self._drain_pending = False
                if self._virtual:
                    self._maybe_probe()

    def _start_task(self, p: Pid, coro: Any) -> asyncio.Task[Any]:
        """Run ``coro`` as ``p``'s asyncio Task (the process is busy until it ends)."""
        if p._st == _LONE:  # a message to itself from an inline handler: the Task reads _mbox
            self._mailbox(p)
        p._st = _BUSY
        self._set_running(p, True)
        task = self._loop.create_task(self._task_main(p, coro), context=self._ctx.copy())
        p._task = task
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        task.add_done_callback(lambda t: _discard_unstarted(coro))
        return task

    async def _task_main(self, p: Pid, coro: Any) -> None:
        _current_cv.set(p)
        try:
            await coro
        except asyncio.CancelledError:
            if p._st != _DEAD:
                # cancelled from outside the runtime (not by an exit signal): that is a kill
                self._finish(p, KILLED)
            raise
        except BaseException as e:  # a KeyboardInterrupt: it goes on, out of the loop
            self._interrupted(p, e)
            raise
        finally:
            if p._task is asyncio.current_task():
                p._task = None
                if p._st != _DEAD:
                    p._st = _IDLE
                    mb = p._mbox
                    if mb:
                        self._enqueue(p)
                    elif mb is not None:  # an idle process holds no mailbox
                        p._mbox = None
                        self._mbox_pool.append(mb)
            self._set_running(p, False)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()  # read, even when it is not logged: it was retrieved
        if exc is None or isinstance(exc, KeyboardInterrupt | SystemExit):
            # asyncio raised it out of the loop, to the code that runs the loop (asyncio.run,
            # the notebook's kernel): that is its report (see _interrupted)
            return
        if isinstance(exc, Exception):  # pragma: no cover - bug net
            log.error("agentlab: internal error in a process task", exc_info=exc)
        else:  # asyncio takes it no further: say it here
            log.error(
                "agentlab: a process's code raised %s, which is a BaseException but not an "
                "Exception (not a crash); the process exited with it as its reason",
                type(exc).__name__,
                exc_info=exc,
            )

    def _interrupted(self, p: Pid | None, e: BaseException) -> None:
        """``e`` went through ``p``'s code and goes on propagating: ``p`` exits.

        A ``KeyboardInterrupt`` is not a crash (``CRASHES``) and is never caught: it
        stops the program (``asyncio.run``), the cell, or the driver of a loop that
        asyncio raises it out of. But it ended the code of the process it went
        through, which would otherwise be left "alive" forever with nothing running
        it (holding its name, its caller waiting). So the process exits, with the
        interrupt as a :class:`Crash` (the trace says what ended it; links, monitors
        and supervisors react as to a crash), and nothing is logged: the exception
        itself, with its traceback, reaches whoever catches it. Cancellation is not
        this (the process was killed), nor is a coroutine closed (``GeneratorExit``).
        """
        if p is None or p._st == _DEAD or isinstance(e, asyncio.CancelledError | GeneratorExit):
            return
        self._finish(p, Crash.from_exception(e, propagating=True))

    def _set_running(self, p: Pid, flag: bool) -> None:
        if p._run is not flag:
            p._run = flag
            if flag:
                self._running += 1
            else:
                self._running -= 1
                if self._virtual and self._running == 0:
                    self._maybe_probe()

    # ------------------------------------------------------------------ virtual time

    def _maybe_probe(self) -> None:
        if self._heap:
            # Work just ended. A probe already pending restarts its count of quiet loop
            # iterations: a process parked on a runtime future wakes two iterations after
            # the future is resolved, and a chain of them (a supervisor stopping a
            # sub-supervisor that waits for its worker) must not see time jump meanwhile.
            self._probe_gen += 1
            if not self._probe_pending:
                self._probe_pending = True
                self._loop.call_soon(self._probe, 0, context=self._ctx)

    def _idle(self) -> bool:
        return not self._runq and self._running == 0 and self._time_holds == 0

    def _probe(self, hops: int) -> None:
        if not self._idle() or self._closed:
            self._probe_pending = False
            return
        if self._probe_seen != self._probe_gen:
            self._probe_seen = self._probe_gen
            hops = 0
        if hops < 2:  # let callbacks that are already due run first
            self._loop.call_soon(self._probe, hops + 1, context=self._ctx)
            return
        self._probe_pending = False
        heap = self._heap
        while heap and heap[0][2].cancelled:
            heapq.heappop(heap)
            self._ncancelled -= 1
        if not heap or heap[0][0] == _INF:  # nothing due, or only what is due never
            return
        clock = self.clock
        assert isinstance(clock, VirtualClock)
        clock._advance_to(heap[0][0])
        self._fire_due()  # and the next probe

    def hold_time(self, hold: bool = True) -> None:
        """Keep a virtual clock from jumping ahead (``hold_time(False)`` releases one hold).

        For drivers that poll the system between steps: while held, idleness does
        not advance time, as it would not in real time during a quick check. A
        release without a hold raises :class:`RuntimeStateError`.
        """
        if hold:
            self._time_holds += 1
        else:
            if self._time_holds <= 0:
                raise RuntimeStateError(
                    "hold_time(False) releases a hold, but the clock is not held: each "
                    "hold_time() takes exactly one hold_time(False)."
                )
            self._time_holds -= 1
            if self._virtual and self._time_holds == 0 and self._idle():
                self._maybe_probe()

    # ------------------------------------------------------------------ timers

    def _add_timer(self, delay: float, fn: Callable[..., Any], *args: Any) -> TimerRef:
        try:
            late = not delay >= 0  # negative (runs at once, as a delay of 0), or NaN
        except TypeError:
            raise TypeError(
                f"a timer's delay is a number of seconds, not {delay!r}; "
                "send_after takes (dest, msg, delay)"
            ) from None
        if late:
            if delay != delay:
                raise ValueError("a timer's delay is NaN; pass a number of seconds")
            delay = 0.0
        when = self._now() + delay
        t = TimerRef(self, when, fn, args)
        self._tseq += 1
        heapq.heappush(self._heap, (when, self._tseq, t))
        if self._virtual:
            if self._idle():
                self._maybe_probe()
        elif when < self._armed_when:
            self._arm(when)
        return t

    def _arm(self, when: float) -> None:
        if self._armed is not None:
            self._armed.cancel()
        self._armed_when = when
        clock = self.clock
        assert isinstance(clock, RealClock)
        self._armed = self._loop.call_at(when + clock._origin, self._on_alarm, context=self._ctx)

    def _on_alarm(self) -> None:
        self._armed = None
        self._armed_when = float("inf")
        self._fire_due()

    def _fire_due(self) -> None:
        heap = self._heap
        now = self._now()
        if not self._virtual:
            now += 1e-6  # the loop may wake a hair early
        self._sync_depth += 1  # timer callbacks never drain the run queue re-entrantly
        try:
            while heap and heap[0][0] <= now:
                t = heapq.heappop(heap)[2]
                if t.cancelled:
                    self._ncancelled -= 1
                    continue
                t.fired = True
                t.fn(*t.args)
        finally:
            # also when a callback let a KeyboardInterrupt through (a receive predicate,
            # a watch callback): the timers after it still fire, at the next loop turn
            self._sync_depth -= 1
            if self._runq and not self._drain_pending:
                self._drain_pending = True
                self._loop.call_soon(self._drain, context=self._ctx)
            if not self._virtual:
                while heap and heap[0][2].cancelled:
                    heapq.heappop(heap)
                    self._ncancelled -= 1
                if heap and heap[0][0] != _INF:  # no alarm for what is due never
                    self._arm(heap[0][0])
            elif self._idle():  # the next due time, when nothing else runs (_probe)
                self._maybe_probe()

    def cancel_timer(self, t: TimerRef, *, quiet: bool = False) -> float | None:
        """Cancel a timer; returns the seconds it had left, or ``None`` if it already fired
        or was cancelled (OTP's ``erlang:cancel_timer`` returns ``false`` then; a timer to
        a pid that exited was cancelled with it)."""
        if type(t) is not TimerRef:
            raise TypeError(
                f"cancel_timer takes the TimerRef that send_after returned, not "
                f"{type(t).__name__}: {t!r}"
            )
        if t.cancelled or t.fired:
            return None
        args = t.args
        if args and args[0] is t:  # a send_after timer: its args are (itself, dest, msg)
            dest = args[1]
            if type(dest) is Pid:
                hooks = dest._hooks  # where send_after recorded it (see _finish)
                if hooks:
                    hooks.pop(t, None)
            self._drop_timer(t)
            left = max(0.0, t.when - self._now())
            if not quiet:  # last: a subscriber's interrupt (see subscribe) finds it cancelled
                self._emit(K.TIMER_CANCEL, dest if type(dest) is Pid else None, data={"msg": args[2]})
            return left
        self._drop_timer(t)
        return max(0.0, t.when - self._now())

    def _drop_timer(self, t: TimerRef) -> None:
        """Cancel a timer of the runtime's own (a call's, a receive's, a sleep's timeout):
        :meth:`cancel_timer` without what only ``send_after`` timers need, nor the time left."""
        if t.cancelled or t.fired:
            return
        t.cancelled = True
        self._ncancelled += 1
        if self._ncancelled > 64 and self._ncancelled * 2 > len(self._heap):
            self._compact_timers()

    def _compact_timers(self) -> None:
        """Drop the cancelled timers from the heap, in place: :meth:`_fire_due` may be
        going through this very list (a timer's callback cancelled many timers), and
        with a new list it fired again the timers it had yet to pop."""
        heap = self._heap
        heap[:] = [e for e in heap if not e[2].cancelled]
        heapq.heapify(heap)
        self._ncancelled = 0

    def send_after(self, dest: Pid | str, msg: Any, delay: float) -> TimerRef:
        """Send ``msg`` to ``dest`` after ``delay`` seconds of runtime clock (OTP ``send_after``).

        The timer is cancelled automatically if ``dest`` is a pid that exits first.
        A delay of ``math.inf`` makes a timer that never fires (``cancel()`` returns
        ``inf``), as every infinite wait in the runtime never ends: a virtual clock
        does not move to infinity for it. (A supervisor's child spec with
        ``shutdown=math.inf`` relies on this: it waits for the child as
        ``"infinity"`` does.)
        """
        self._check_open()
        if type(dest) is Pid:
            if dest._st == _ROOT:
                _refuse_root()
        elif not isinstance(dest, str):
            raise TypeError(
                f"send_after(dest={dest!r}, ...): dest is a Pid or a registered name (str), "
                f"not {type(dest).__name__}; send_after takes (dest, msg, delay)"
            )
        if isinstance(delay, bool):
            raise TypeError(
                f"send_after(..., delay={delay!r}): a delay is a number of seconds, not a bool"
            )
        t = self._add_timer(delay, self._timer_send)
        t.args = (t, dest, msg)
        if type(dest) is Pid:
            if dest._st == _DEAD:
                t.cancelled = True
                self._ncancelled += 1
            else:
                self._hook(dest, t, _no_hook)
        self._emit(
            K.TIMER_START,
            dest if type(dest) is Pid else None,
            data={"msg": msg, "delay": delay, "dest": dest if isinstance(dest, str) else None},
        )
        return t

    def _timer_send(self, t: TimerRef, dest: Pid | str, msg: Any) -> None:
        if type(dest) is Pid:
            if dest._hooks:
                dest._hooks.pop(t, None)
            p: Pid | None = dest if dest._st != _DEAD else None
        else:
            p = self._names.get(dest)  # type: ignore[arg-type]
        try:
            self._emit(K.TIMER_FIRE, p, data={"msg": msg})
        finally:  # also when a subscriber raised (see subscribe)
            if p is not None and p._st != _DEAD:
                self._deliver(p, msg)

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` on the runtime clock (from a process or from outside).

        A negative delay is a delay of 0. ``math.inf`` sleeps forever (OTP's
        ``timer:sleep(infinity)``): until the process is killed or the awaiting code
        cancelled; a virtual clock does not move to infinity for it. On a runtime that
        is shut down (or shuts down meanwhile) it raises :class:`RuntimeStateError`:
        no more time passes.
        """
        self._check_open()
        if isinstance(seconds, bool) or not isinstance(seconds, numbers.Real):
            raise TypeError(
                f"sleep(seconds={seconds!r}): seconds is a number; got {type(seconds).__name__}."
            )
        if seconds != seconds:
            raise ValueError("sleep(seconds=nan): seconds is a number of seconds, not NaN.")
        fut = self._loop.create_future()
        timer = self._add_timer(seconds, self._wake_future, fut)
        try:
            await self._await(fut, self.self())
        finally:
            # woken early (killed, cancelled): the timer must not move a virtual clock
            self._drop_timer(timer)

    # ------------------------------------------------------------------ waiting

    @staticmethod
    def _wake_future(fut: asyncio.Future[Any], value: Any = None, exc: Any = None) -> None:
        if fut.done():
            return
        if exc is not None:
            fut.set_exception(exc)
        else:
            fut.set_result(value)

    async def _await(self, fut: asyncio.Future[Any], me: Pid | None) -> Any:
        """Await a runtime future as process ``me`` (or from outside, ``me=None``).

        A process parked here does not count as runnable, so a virtual clock may
        jump ahead; with several waits at once it counts again when the last one
        ends. Wakers just resolve the future: the probe that moves virtual time
        waits two loop iterations, so the woken code runs first.
        """
        if me is None:
            return await fut
        if me._run:  # its only wait (the common case): it is parked until fut is done
            self._set_running(me, False)
            try:
                return await fut
            finally:
                if self._waits:  # more waits of some process began meanwhile (see _await_more)
                    self._end_wait(me)
                elif me._st != _DEAD:
                    self._set_running(me, True)
        return await self._await_more(fut, me)

    async def _await_more(self, fut: asyncio.Future[Any], me: Pid) -> Any:
        """:meth:`_await` for a process that is not counted as running.

        If it is dead, it raises: a dead process runs no more code (:func:`_stopped`).
        If it is stepped inline and has no Task yet, the Task that takes it over parks
        it (``_agent._resume``). Otherwise it already waits on another runtime future,
        in another asyncio task of its own (``asyncio.gather(self.call(a),
        self.call(b))``), and stays parked until the last of its waits ends, in
        whatever order they end. ``_waits`` counts the waits of such a process (two or
        more; a single one is not recorded).
        """
        if me._st == _DEAD:
            raise _stopped(me)
        if me._task is None:
            # Stepped inline: the Task that takes the process over parks it while this
            # future is pending, and for no other future the process awaits (an
            # asyncio.sleep, I/O: it runs meanwhile, and a virtual clock must not move).
            fut._agentlab_parks = True  # type: ignore[attr-defined]
            return await fut
        waits = self._waits
        waits[me] = waits.get(me, 1) + 1
        try:
            return await fut
        finally:
            self._end_wait(me)

    def _end_wait(self, me: Pid) -> None:
        """One runtime wait of ``me`` ended: the last one makes it runnable again."""
        waits = self._waits
        n = waits.pop(me, 1) - 1  # its waits still going on
        if n > 1:
            waits[me] = n
        elif n == 0 and me._st != _DEAD:
            self._set_running(me, True)

    # ------------------------------------------------------------------ spawning

    def _new_pid(
        self,
        beh: Any,
        name: str | None,
        parent: Pid | None,
        replace: bool = False,
        path: str | None = None,
        st: int = _IDLE,
        trap: bool = False,
    ) -> Pid:
        if self._closed:
            self._check_open()
        if name is not None:
            if not isinstance(name, str):
                raise TypeError(
                    f"a process name is a str (send, call and whereis look it up), not "
                    f"{type(name).__name__}: {name!r}"
                )
            holder = self._names.get(name)
            if holder is not None:
                if not replace:
                    raise NameTakenError(
                        f"the name {name!r} is already registered to {describe(holder)}. "
                        "Stop it first, pick another name, or pass replace=True to stop the "
                        "old process and take over its name.",
                        process=holder,
                    )
                self._displace(holder)
        self._next_id = ident = self._next_id + 1
        if parent is None or parent is self.root:
            parent = self.root  # a top-level process
            if path is None:
                path = name
        elif path is None:
            ppath = parent._path
            path = name if ppath is None else f"{ppath}/{name or ident}"
        # Pid(self, ident, name, beh, parent, path, st, trap) without the __init__ call
        # (a third of the cost of making one); keep in step with Pid.__init__
        p = _new_obj(Pid)
        p.id = ident
        p.name = name
        p._rt = self
        p._mbox = None
        p._one = None
        p._links = None
        p._mons = None
        p._trap = trap
        p._st = st
        p._beh = beh
        p._task = None
        p._wait = None
        p._parent = parent
        p._path = path
        p._exit = None
        p._hooks = None
        p._run = False
        self._procs[ident] = p
        if name is not None:
            self._names[name] = p
        return p

    def _displace(self, holder: Pid) -> None:
        """``replace=True``: the old holder loses the name at once and is shut down.

        So do the processes under it that go down with it (linked to their parent, as
        a supervisor's children are): they lose their names at once too, and a new
        tree started in the same breath (the notebook cell that started a named
        supervision tree, run again) registers the same names while the old one shuts
        down in order, nameless. Its unlinked descendants keep theirs: they live on.
        """
        # A subscriber's interrupt (see subscribe) is held until all of it is done; the
        # start that asked for it then fails (the new process is not made).
        held: BaseException | None = None
        for p in self._linked_tree(holder):
            name = p.name
            if name is not None and self._names.get(name) is p:
                del self._names[name]
                try:
                    self._emit(K.UNREGISTER, p, data={"name": name, "replaced": True})
                except BaseException as e:
                    held = held or e
        me = self._live_self()
        sender = holder._parent if holder._parent is not None else self.root
        try:
            self._signal(holder, sender, SHUTDOWN, link=False)
        except BaseException as e:
            held = held or e
        if holder._st != _DEAD:  # killed if still alive 5 s later
            self._kill_after(holder, 5.0)
        if held is not None:
            raise held
        self._stop_if_killed(me)  # the holder was the caller, or took it down with it

    def _linked_tree(self, top: Pid) -> list[Pid]:
        """``top`` and the live processes under it that are linked to their parent."""
        tree = [top]
        if top._links is None:  # no link: nothing goes down with it
            return tree
        members = {top}
        for p in self._procs.values():  # in spawn order: a parent before its children
            parent = p._parent
            if parent is not None and parent in members and _linked(p, parent):
                members.add(p)
                tree.append(p)
        return tree

    def _kill_after(self, p: Pid, delay: float) -> TimerRef:
        """Kill ``p`` if it is still alive ``delay`` seconds from now, on the runtime's
        clock: the deadline of a request to stop (``replace=True``, :meth:`stop`,
        ``Task.shutdown``). It is set with the request, not when a wait for the exit
        times out: cancelling the code that waits (a notebook interrupt) must not
        leave a process that ignores the request running. Dropped if ``p`` exits
        first (:meth:`_finish`)."""
        t = self._add_timer(delay, self._kill_if_alive, p)
        self._hook(p, t, _no_hook)
        return t

    def _kill_if_alive(self, p: Pid) -> None:
        if p._st != _DEAD:
            self._signal(p, self.root, KILL, link=False)

    def spawn(
        self,
        fn: Callable[..., Any],
        *args: Any,
        name: str | None = None,
        link: bool = False,
        trap_exit: bool = False,
        replace: bool = False,
        **kwargs: Any,
    ) -> Pid:
        """Start a process running ``async def fn(proc, *args)``; returns its pid at once.

        ``proc`` is a :class:`agentlab.Process` with ``receive``, ``send``,
        ``link``, ``monitor``, ``sleep`` ... The process exits ``normal`` when
        ``fn`` returns and with a :class:`Crash` when it raises. ``link=True``
        links it to the calling process.
        """
        from ._process import Process

        ctx = Process()
        me = self.self()
        p = self._new_pid(ctx, name, me, replace=replace)
        ctx._bind(self, p)
        p._trap = trap_exit
        # a body function may say what it is for the trace (task supervisors: "task")
        kind = getattr(fn, "_agentlab_kind", "process")
        try:
            self._emit_lean(K.SPAWN, p, me.id if me else None, None, kind_data(kind))
            if name is not None:
                self._emit(K.REGISTER, p, data={"name": name})
            if link and me is not None:
                self._link(me, p)
        except BaseException as e:  # a subscriber's interrupt: the start fails
            self._start_failed(p, me, e)
            raise
        self._start_task(p, ctx._body(fn, args, kwargs))
        return p

    def _start_failed(self, p: Pid, parent: Pid | None, e: BaseException) -> None:
        """A subscriber of ``p``'s start events (spawn, register, link) raised ``e``,
        which goes on (an interrupt: see :meth:`subscribe`). The start fails, as it does
        when an ``init`` is interrupted: ``p`` never ran, and exits with ``e`` as a
        :class:`Crash`, holding no name; unlinked from ``parent`` first (a failed start is
        the starter's to hear of, as the interrupt, not an exit signal: OTP 26)."""
        try:
            if parent is not None and _linked(p, parent):
                self._unlink(p, parent)
        finally:
            if p._st != _DEAD:
                self._finish(p, Crash.from_exception(e, propagating=True))

    def task(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Task:
        """Run ``fn(*args, **kwargs)`` in a new process; ``await task.wait()`` for its value.

        Elixir's ``Task.async``: linked to the calling process (monitored only
        when called from outside processes). See :class:`agentlab.Task`.
        """
        from ._task import start_task

        me = self.self()
        return start_task(self, fn, args, kwargs, owner=me, parent=me, link=True)

    # ------------------------------------------------------------------ messages

    def send(self, dest: Pid | str, msg: Any) -> None:
        """Send ``msg`` to a pid or registered name. Sending to a dead pid does nothing (OTP).

        Raises :class:`NoProcessError` for a name nobody holds (OTP's ``badarg``).
        """
        if dest.__class__ is Pid:
            # the hot path: _deliver and _enqueue inlined (Process.send repeats it). With
            # message tracing, the send event comes once the message is in the mailbox
            # (nothing runs the receiver meanwhile): a subscriber of the event (user code)
            # may kill the receiver or send to it, and a state read before would be stale
            # (it put a message into a dead process, or overwrote a lone one); and if it
            # raises (an interrupt, which goes on: see subscribe) the message is there.
            st = dest._st
            if st == _QUEUED:  # it has a mailbox and waits in no receive (see Pid)
                dest._mbox.append(msg)  # type: ignore[union-attr]
                if self._tm:
                    self._msg_event(K.SEND, self._cur or _current_cv.get(), dest.id)
                return
            if st == _IDLE:  # nor does an idle one (see Pid)
                mb = dest._mbox
                if mb is None:  # the message waits in the pid's slot (see Pid)
                    dest._one = msg
                    dest._st = _LONE
                else:  # a mailbox in use: the process is handling its mail inline
                    mb.append(msg)
                    dest._st = _QUEUED
                self._runq.append(dest)
                if not self._drain_pending and not self._eager:
                    self._drain_pending = True
                    self._loop.call_soon(self._drain, context=self._ctx)
                if self._tm:
                    self._msg_event(K.SEND, self._cur or _current_cv.get(), dest.id)
                return
            if st == _LONE:  # a second message: both go into a mailbox
                self._mailbox(dest).append(msg)
                if self._tm:
                    self._msg_event(K.SEND, self._cur or _current_cv.get(), dest.id)
                return
            if st == _BUSY:  # in its Task, maybe in a receive: _deliver runs its predicate
                if self._tm:  # as in _traced_deliver, without its frame
                    try:
                        self._msg_event(K.SEND, self._cur or _current_cv.get(), dest.id)
                    finally:
                        if dest._st != _DEAD:
                            self._deliver(dest, msg)
                    return
                self._deliver(dest, msg)
                return
        p = self._resolve(dest)  # None for a dead pid; refuses the root pid
        if p is None and type(dest) is not Pid:  # _resolve_named, without its call per send
            raise _unknown_name(dest, "send to")
        if self._tm:
            self._traced_deliver(p, msg, dest)
        elif p is not None:
            self._deliver(p, msg)

    def _traced_deliver(self, p: Pid | None, msg: Any, dest: Pid | str) -> None:
        """A traced send to ``p`` (``None``: a dead pid, nothing to deliver) that
        :meth:`send`'s fast path does not finish: the send event first, then the
        delivery, which may run the receiver's predicate in its receive (whose receive
        event comes after this one). A subscriber of the event may kill the receiver
        (then there is no one to deliver to) or raise (an interrupt: the message still
        goes, then the interrupt goes on: see :meth:`subscribe`)."""
        me = self._cur or _current_cv.get()
        try:
            self._msg_event(K.SEND, me, dest.id if type(dest) is Pid else (p.id if p else None))
        finally:
            if p is not None and p._st != _DEAD:
                self._deliver(p, msg)

    def _deliver(self, p: Pid, msg: Any) -> None:
        w = p._wait
        if w is not None:
            match = w[0]
            try:
                # the receiver's selective-receive predicate, run here in the sender's
                # call but as the receiver (see _as_receiver): a failure is the
                # receiver's too (see _match_raised), after the try
                ok = match is None or self._as_receiver(p, match, msg)
            except CRASHES as e:  # sys.exit() in it too: the receiver's crash
                failed: BaseException | None = e
            except asyncio.CancelledError:  # its own call killed the receiver (_stopped)
                if p._st != _DEAD:
                    raise
                return  # the message goes with it, as to any dead process
            else:
                if ok:
                    p._wait = None
                    if w[2] is not None:
                        self._drop_timer(w[2])
                    self._wake_future(w[1], msg)
                    return
                failed = None
            if failed is not None:
                self._match_raised(p, w, failed)  # out of the except block: see there
        # no match (or the match raised): it waits in the mailbox; after a lone
        # message, if the process has one
        self._mailbox(p).append(msg)
        if p._st == _IDLE:
            self._enqueue(p)

    def _as_receiver(self, p: Pid, match: Callable[[Any], bool], msg: Any) -> bool:
        """``match(msg)``, run as ``p`` (``self()`` in it is ``p``, not the sender).

        ``p``'s receive predicate runs in the code that delivers the message: a send,
        a timer, an exit signal. A method of its own, not lines in ``_deliver``: a
        local variable more there costs every delivery (callgrind: ~9 machine
        instructions a call), and only a selective receive comes here.

        A ``KeyboardInterrupt`` in ``match`` went through ``p``'s code: ``p`` exits
        (:meth:`_interrupted`), as it would had ``match`` run in its own ``receive``,
        and the interrupt goes on out of the code that delivered the message (a
        notebook cell's ``send`` ends with it). The message goes with ``p``, as any
        message to a dead process does."""
        cur = self._cur
        self._cur = p
        try:
            return match(msg)
        except CRASHES:  # the receiver's crash: _deliver hands it to _match_raised
            raise
        except BaseException as e:
            self._cur = cur
            self._interrupted(p, e)
            raise
        finally:
            self._cur = cur

    def _match_raised(self, p: Pid, w: Any, e: BaseException) -> None:
        """``p``'s receive predicate raised ``e`` on a message, in the code that delivered it.

        That is ``p``'s failure, never the sender's (OTP matches in the receiver, and a
        send never fails): the message stays in ``p``'s mailbox (``_deliver`` puts it
        there), not taken, and ``p``'s
        ``receive`` raises ``e``, in ``p``'s own code, as it does when the predicate
        raises on a message that was already there. Uncaught, ``p`` exits with it as
        its reason and its links and monitors fire from there. The sender's send returns
        normally, and the sender is not touched: it is not killed through a link to
        ``p`` here, and its own exceptions stay its own (below).
        """
        p._wait = None
        if w[2] is not None:
            self._drop_timer(w[2])
        tb = e.__traceback__
        while tb is not None and tb.tb_frame.f_code in _DELIVERY_CODE:
            tb = tb.tb_next  # the report starts in the predicate, not in _deliver
        e.__traceback__ = tb
        # Sent from an except block, the predicate's exception was chained to the
        # sender's (Python sets __context__ to the exception being handled): unchain
        # it, or the receiver's crash report would show the sender's exception. Out of
        # _deliver's except block, sys.exception() is the sender's again.
        sender_exc = sys.exception()
        if sender_exc is not None:
            link: BaseException = e
            for _ in range(100):  # a chain made into a loop by hand ends too
                cause = link.__context__
                if cause is None:
                    break
                if cause is sender_exc:
                    link.__context__ = None
                    break
                link = cause
        fut = w[1]
        if not fut.done():
            fut.set_exception(e)
            # Marked as retrieved: if p is killed before it resumes, the exception dies
            # with it, not as "Future exception was never retrieved" (an inline-stepped
            # handler, _agent._resume, is unwound without reading its future).
            fut.exception()

    def _mailbox(self, p: Pid) -> deque[Any]:
        """``p``'s mailbox deque, made now if it has none; a lone message moves into it
        (the process is then ``_QUEUED``, still on the run queue)."""
        mb = p._mbox
        if mb is None:
            pool = self._mbox_pool
            p._mbox = mb = pool.pop() if pool else deque()
            if p._st == _LONE:
                mb.append(p._one)
                p._one = None
                p._st = _QUEUED
        return mb

    async def _receive(
        self, p: Pid, match: Callable[[Any], bool] | None, timeout: float | None
    ) -> Any:
        if timeout is not None and (timeout.__class__ is not float or not timeout >= 0):
            timeout = _check_timeout(timeout, "receive")
        mb = p._mbox
        if mb is None and p._st == _LONE:  # a handler run inline, receiving its own mail
            mb = self._mailbox(p)
        if mb:
            if match is None:
                msg = mb.popleft()
                if self._tm:
                    self._msg_event(K.RECEIVE, p, None)
                return msg
            for i, m in enumerate(mb):
                if match(m):
                    del mb[i]
                    if self._tm:
                        self._msg_event(K.RECEIVE, p, None)
                    return m
        if timeout is not None and timeout <= 0:
            raise ReceiveTimeout(f"{describe(p)}: no matching message (timeout=0).", process=p)
        fut = self._loop.create_future()
        timer = self._add_timer(timeout, self._receive_timeout, p, fut) if timeout is not None else None
        p._wait = (match, fut, timer)
        try:
            msg = await self._await(fut, p)
        finally:
            if p._wait is not None and p._wait[1] is fut:
                p._wait = None
                if timer is not None:
                    self._drop_timer(timer)
        if self._tm:
            self._msg_event(K.RECEIVE, p, None)
        return msg

    def _receive_timeout(self, p: Pid, fut: asyncio.Future[Any]) -> None:
        w = p._wait
        if w is not None and w[1] is fut:
            p._wait = None
            self._wake_future(
                fut,
                exc=ReceiveTimeout(
                    f"{describe(p)}: no matching message arrived within the receive timeout.",
                    process=p,
                ),
            )

    # ------------------------------------------------------------------ calls

    def cast(self, dest: Pid | str, msg: Any) -> None:
        """Asynchronous request to an agent's ``handle_cast``; never fails (OTP ``cast``)."""
        p = self._resolve(dest)
        if self._tm:
            try:
                self._msg_event(K.CAST, self._cur or _current_cv.get(), p.id if p else None)
            except BaseException:  # a subscriber's interrupt: the cast still goes (see subscribe)
                if p is not None and p._st != _DEAD:
                    self._deliver(p, _Cast(msg))
                raise
        if p is not None:
            self._deliver(p, _Cast(msg))

    async def call(self, dest: Pid | str, request: Any, timeout: float | None = 5.0) -> Any:
        """Send ``request`` to an agent's ``handle_call`` and wait for the reply.

        Raises :class:`NoProcessError` if ``dest`` is not alive, :class:`CallTimeout`
        after ``timeout`` seconds (runtime clock; ``None`` or ``math.inf`` waits
        forever, as OTP's ``infinity``; anything but ``None`` or a number >= 0 is
        refused before the call is made), and
        :class:`CalleeExited` if the callee exits first. Cancelling the awaiting
        code (a notebook interrupt) abandons the call; the callee is untouched.
        """
        me = self._cur or _current_cv.get()
        p = self._resolve(dest)
        if p is None:
            if isinstance(dest, str):
                raise NoProcessError(
                    f"call to {dest!r} failed: no process is registered under that name. "
                    "Start it first, or check the spelling.",
                    process=dest,
                )
            raise NoProcessError(
                f"call to {describe(dest)} failed: no such process (it exited with "
                f"{dest._exit!r}). Call it by its registered name to reach a restarted "
                "process, or start it again.",
                process=dest,
            )
        if p is me:
            raise CallError(
                f"{describe(p)} called itself; that would wait forever (OTP: calling_self). "
                "Handle the request directly instead.",
                process=p,
                reason="calling_self",
            )
        fut = self._loop.create_future()
        caller = Caller(self, me, p, fut)
        if timeout is not None:  # first: a bad timeout leaves nothing behind
            if timeout.__class__ is not float or not timeout >= 0:
                timeout = _check_timeout(timeout, "call")
                if timeout is None:  # an infinite one that is not a float: due never
                    timeout = _INF
            caller._timer = self._add_timer(timeout, self._call_timeout, caller, timeout)
        mons = p._mons
        if mons is None:
            p._mons = mons = {}
        mons[caller] = caller
        if self._tm:
            try:
                self._msg_event(K.CALL, me, p.id, _REQUEST, request)
            except BaseException:
                self._call_interrupted(p, caller, request)
                raise
        if me is None:
            self._eager = True
            try:
                self._deliver(p, _Call(request, caller))
            finally:
                self._drain_now()
            if fut.done():  # an inline callee already replied: no loop turn at all
                if caller._timer is not None and not caller._timer.cancelled:
                    self._drop_timer(caller._timer)
                return fut.result()
        else:
            self._deliver(p, _Call(request, caller))
        try:
            return await self._await(fut, me)
        finally:
            if caller._timer is not None and not fut.done():
                self._drop_timer(caller._timer)
            mons = p._mons
            if mons is not None:
                mons.pop(caller, None)

    def _call_interrupted(self, p: Pid, caller: Caller, request: Any) -> None:
        """A subscriber of a call's event raised (an interrupt, which goes on: see
        :meth:`subscribe`). The request still goes to ``p``, as the event says, and the
        caller stops waiting, as when its await is cancelled; a reply is dropped."""
        try:
            if p._st != _DEAD:
                self._deliver(p, _Call(request, caller))
        finally:
            if caller._timer is not None:
                self._drop_timer(caller._timer)
            if p._mons is not None:
                p._mons.pop(caller, None)
            fut = caller._fut
            if not fut.cancel() and not fut.cancelled():  # done: the callee exited
                fut.exception()  # meanwhile; nobody reads it

    def _call_timeout(self, caller: Caller, timeout: float) -> None:
        fut = caller._fut
        if fut.done():
            return
        callee = caller._callee
        if callee._mons is not None:
            callee._mons.pop(caller, None)
        self._wake_future(
            fut,
            exc=CallTimeout(
                f"call to {describe(callee)} timed out after {timeout:g} s "
                f"(runtime clock). The callee is still working on it; a late reply will be "
                "dropped. Raise the timeout, or reply sooner (return NOREPLY and reply later "
                "from a task).",
                process=callee,
                reason="timeout",
            ),
        )
        # last: a subscriber's interrupt (see subscribe) finds the caller told
        self._emit(K.CALL_TIMEOUT, caller.pid, callee.id, data={"timeout": timeout})

    def _reply(self, caller: Caller, value: Any) -> None:
        fut = caller._fut
        if fut.done():
            return  # late reply: dropped, as OTP 24+ does
        if caller._timer is not None:
            self._drop_timer(caller._timer)
        mons = caller._callee._mons
        if mons is not None:
            mons.pop(caller, None)
        fut.set_result(value)  # (not done: checked above)
        if self._tm:  # "reply delivered", and a subscriber's interrupt (see subscribe) finds it so
            self._msg_event(K.REPLY, caller._callee, caller.pid.id if caller.pid else None)

    # ------------------------------------------------------------------ links, monitors

    def _link(self, a: Pid, b: Pid) -> None:
        if a is b:
            return
        st = b._st
        if st == _ROOT:
            _refuse_root()
        if st == _DEAD:
            # OTP: a process that traps exits and links to a dead one gets the exit
            # signal noproc (Process.link raises noproc in any other: OTP's link/1)
            try:
                self._emit_lean(K.LINK, a, b.id, None, None)
            finally:  # also when a subscriber raised (see subscribe)
                self._signal(a, b, NOPROC, link=True)
            return
        if _linked(a, b):
            return
        _add_link(a, b)
        _add_link(b, a)
        self._emit_lean(K.LINK, a, b.id, None, None)

    def _unlink(self, a: Pid, b: Pid) -> None:
        if _linked(a, b):
            _drop_link(a, b)
            _drop_link(b, a)
            self._emit_lean(K.UNLINK, a, b.id, None, None)

    def _monitor(self, watcher: Pid, target: Pid, name: str | None = None) -> MonitorRef:
        """``watcher`` monitors ``target`` (taken by registered ``name``, if given; a
        name nobody holds comes as a dead pid of that name, whose Down says noproc)."""
        ref = MonitorRef(watcher, target, name)
        if target._st == _DEAD:
            try:
                if name is None:
                    self._emit_lean(K.MONITOR, watcher, target.id, None, None)
                else:
                    self._emit_named_monitor(watcher, target, name)
            finally:  # also when a subscriber raised (see subscribe): the Down still comes
                ref._down(self, target, NOPROC)
            return ref
        mons = target._mons
        if mons is None:
            target._mons = mons = {}
        mons[ref] = ref
        if name is None:
            self._emit_lean(K.MONITOR, watcher, target.id, None, None)
        else:
            self._emit_named_monitor(watcher, target, name)
        return ref

    def _emit_named_monitor(self, watcher: Pid, target: Pid, name: str) -> None:
        """The ``monitor`` event of a monitor taken by registered name: the name in its
        data, and no peer when nobody held the name (not the placeholder pid that
        stands for it in the runtime: see ``_dead_name``)."""
        self._emit_lean(K.MONITOR, watcher, target.id if target.id >= 0 else None, None, _NAME, name)

    def _demonitor(self, ref: MonitorRef, flush: bool = False) -> None:
        t = ref.target
        if t._mons is not None and t._mons.pop(ref, None) is not None:
            self._emit_lean(K.DEMONITOR, ref.watcher, t.id, None, None)
        if flush:
            mb = self._mailbox(ref.watcher) if ref.watcher._st == _LONE else ref.watcher._mbox
            if mb:
                for m in list(mb):
                    if type(m) is Down and m.ref is ref:
                        mb.remove(m)

    def watch(self, target: Pid | str, fn: Callable[[Pid, Any], Any]) -> Callable[[], None]:
        """Call ``fn(pid, reason)`` when ``target`` (a pid, or a registered name) exits;
        at once, with its exit reason, if it already has.

        A monitor for code outside processes (widgets, tests, the trace recorder).
        Returns a function that removes it. A name nobody holds raises
        :class:`NoProcessError`, as :meth:`send` does.
        """
        if not callable(fn):
            raise TypeError(f"watch(target, fn): fn is called as fn(pid, reason), not {fn!r}")
        p = self._resolve_named(target, "watch")  # TypeError for what is neither
        if p is None:  # a pid that already exited
            dead: Pid = target  # type: ignore[assignment]
            fn(dead, dead._exit if dead._exit is not None else NOPROC)
            return _no_remove
        target = p
        w = _Watch(fn)
        mons = target._mons
        if mons is None:
            target._mons = mons = {}
        mons[w] = w

        def remove() -> None:
            if target._mons is not None:
                target._mons.pop(w, None)

        return remove

    async def wait(self, target: Pid | str, timeout: float | None = None) -> Any:
        """Wait until ``target`` exits and return its exit reason (``noproc`` if unknown).

        :class:`ReceiveTimeout` after ``timeout`` seconds of runtime clock (``None`` or
        ``math.inf``: wait as long as it takes).
        """
        timeout = _check_timeout(timeout, "wait")
        p = self._resolve(target)
        if p is None:
            return target._exit if type(target) is Pid and target._exit is not None else NOPROC
        fut = self._loop.create_future()
        me = self.self()
        remove = self.watch(p, lambda _p, r: self._wake_future(fut, r))
        timer = None
        if timeout is not None:
            timer = self._add_timer(
                timeout,
                self._wake_future,
                fut,
                None,
                ReceiveTimeout(f"{describe(p)} did not exit within {timeout:g} s.", process=p),
            )
        try:
            return await self._await(fut, me)
        finally:
            remove()
            if timer is not None:
                self._drop_timer(timer)

    def cleanup(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run ``coro``, work that releases what a process held, in a task of its own.

        For what must be released after a process exits, whatever the reason (a
        killed process runs no code of its own): call it from a :meth:`watch`
        callback, which cannot await. The task is no process's: no exit signal
        cancels it, and :meth:`shutdown` waits for it (for every cleanup still
        under way when the processes have stopped, up to its ``timeout`` in real
        time) before it returns. An exception in it is logged. ::

            rt.watch(pid, lambda _pid, _reason: rt.cleanup(client.aclose()))

        An :class:`agentlab.agents.LLMAgent` closes the models it made this way.
        """
        if not asyncio.iscoroutine(coro):
            raise TypeError(
                f"cleanup(coro) takes a coroutine, such as client.aclose(), not {coro!r}"
            )
        task = self._loop.create_task(coro, context=self._ctx.copy())
        self._cleanups.add(task)
        task.add_done_callback(self._cleanup_done)
        return task

    def _cleanup_done(self, task: asyncio.Task[Any]) -> None:
        self._cleanups.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("agentlab: a cleanup failed", exc_info=task.exception())

    def _hook(self, p: Pid, key: Any, fn: Callable[[Pid, Any], Any]) -> None:
        hooks = p._hooks
        if hooks is None:
            p._hooks = hooks = {}
        hooks[key] = fn

    # ------------------------------------------------------------------ exit signals

    def exit(self, dest: Pid | str, reason: Any) -> None:
        """Send an exit signal to ``dest`` from outside any of its links (OTP ``exit/2``).

        ``"kill"`` cannot be trapped (the target exits ``killed``); ``"normal"`` is
        ignored unless the target traps exits; a process that traps exits gets an
        :class:`Exit` message instead. This is what a "kill" button uses, so the
        supervisor's reaction is the real one.

        A dead pid is ignored (OTP); a name nobody holds raises
        :class:`NoProcessError`, as :meth:`send` does. When the signal kills the
        calling process itself (sent to itself, or to a process it is linked
        to), its code stops here: the call raises ``CancelledError``.
        """
        self._exit_signal(self._cur or _current_cv.get(), dest, reason)

    def _exit_signal(self, sender: Pid | None, dest: Pid | str, reason: Any) -> None:
        """:meth:`exit` from ``sender`` (``None``: from outside processes)."""
        p = self._resolve_named(dest, "send an exit signal to")
        if p is None:  # a dead pid: ignored (OTP)
            return
        if sender is not None:
            me = self._live_self()
            self._signal(p, sender, reason, link=False)
            self._stop_if_killed(me)
            return
        self._sync_depth += 1
        self._eager = True
        try:
            self._signal(p, _OUTSIDER, reason, link=False)
        finally:
            self._sync_depth -= 1
            self._drain_now()

    def _signal(self, target: Pid, sender: Pid, reason: Any, *, link: bool) -> None:
        """Deliver an exit signal, following ERTS's rules."""
        if target._st == _DEAD:
            return
        # The event first, then what the signal does: also when a subscriber of the event
        # raised (an interrupt, which then goes on: see subscribe), hence the finally.
        if reason == KILL and not link:
            try:
                self._emit_lean(K.EXIT_SIGNAL, target, sender.id, reason, _UNTRAPPED)
            finally:
                self._finish(target, KILLED)
            return
        if target._trap:
            # a trapped signal is only a message put in the mailbox: message-level event
            try:
                if self._tm:
                    self._emit_msg(K.EXIT_SIGNAL, target, sender.id, _TRAPPED, reason)
            finally:
                if target._st != _DEAD:  # (a subscriber may have killed it meanwhile)
                    self._deliver(target, Exit(sender, reason))
            return
        if reason == NORMAL and sender is not target:
            return
        try:
            self._emit_lean(K.EXIT_SIGNAL, target, sender.id, reason, _UNTRAPPED)
        finally:
            self._finish(target, reason)

    def _finish(self, p: Pid, reason: Any) -> None:
        """The process is dead: free it and tell its links, monitors and hooks."""
        if p._st == _DEAD:
            return
        p._st = _DEAD
        p._exit = reason
        self._procs.pop(p.id, None)
        name = p.name
        if name is not None and self._names.get(name) is p:
            del self._names[name]
        w = p._wait
        if w is not None:
            p._wait = None
            if w[2] is not None:
                self._drop_timer(w[2])
        task = p._task
        if task is not None and task is not asyncio.current_task() and not task.done():
            task.cancel()
        if p._run:
            self._set_running(p, False)
        p._one = None  # a lone message goes with it
        mb = p._mbox
        if mb is not None:
            # emptied, not only dropped: a handler loop that holds it (Agent._activate)
            # stops at once, with no per-message "still alive?" check
            p._mbox = None
            mb.clear()
        beh = p._beh
        if beh is not None and not beh._retain_after_exit:
            # The agent and its pid point at each other: breaking the cycle frees a dead
            # incarnation by reference counting, not at the next full collection. It is
            # freed when the scheduler pass ends, so freeing it does not delay a restart.
            p._beh = None
            grave = self._graveyard
            grave.append(beh)
            if len(grave) > 256:
                grave.clear()
        # What follows runs user code: event subscribers, receive predicates (of trapping
        # links, of monitors' owners), watch callbacks. A crash there is handled where it
        # runs; a KeyboardInterrupt is not (see _interrupted), and must not leave the exit
        # half done (monitors that never fire, registry entries of a dead process): it is
        # held, the exit is completed, and then it goes on.
        held: BaseException | None = None
        hooks = p._hooks
        if hooks:
            # First, as its name is freed above: the code that links and monitors run
            # (a watch callback, a receive predicate, a subscriber) sees no registry entry
            # of the dead process, and may register its key at once (a restart).
            p._hooks = None
            for key, fn in list(hooks.items()):
                if type(key) is TimerRef:
                    if not key.fired:
                        self._drop_timer(key)
                    continue
                try:
                    fn(p, reason)
                except Exception:  # pragma: no cover - hooks are internal
                    log.exception("agentlab: exit hook failed for %r", p)
                except BaseException as e:  # an event subscriber's interrupt (Registry)
                    held = held or e
        try:
            self._emit_lean(K.EXIT, p, None, reason, None)
        except BaseException as e:
            held = held or e
        links = p._links
        if links is not None:
            p._links = None
            for other in (links,) if isinstance(links, Pid) else sorted(links):
                _drop_link(other, p)
                try:
                    self._signal(other, p, reason, link=True)
                except BaseException as e:
                    held = held or e
        mons = p._mons
        if mons:
            p._mons = None
            for m in list(mons.values()):
                try:
                    m._down(self, p, reason)
                except BaseException as e:
                    held = held or e
        if held is not None:
            raise held

    # ------------------------------------------------------------------ agents (thin wrappers)

    def start(
        self,
        agent: Any,
        *args: Any,
        name: str | None = None,
        replace: bool = False,
        link: bool = False,
        trap_exit: bool | None = None,
        **kwargs: Any,
    ) -> Pid:
        """Start an agent (a :class:`agentlab.Agent` subclass or instance) and return its pid.

        ``args`` and ``kwargs`` go to the agent's ``init``. ``name``: register it
        under this name (:class:`NameTakenError` if taken); ``replace=True`` takes
        the name over instead: the old holder loses it at once and gets the exit
        signal ``shutdown`` (it is killed if still alive 5 s later). The processes
        under it that go down with it (a supervisor's tree) lose their names at once
        too, so a cell that starts a named tree can be run again. ``link=True``
        links it to the calling process. ``trap_exit`` overrides the agent's
        ``trap_exits`` class attribute.

        A plain ``def init`` runs before this returns: if it raises or returns
        ``Stop(reason)``, :class:`StartError` is raised here; ``IGNORE`` gives a pid
        that is already dead with reason ``normal``. An ``async def init`` runs in
        the background and messages wait until it is done; use
        ``await runtime.start_async(...)`` to wait for it.
        """
        start_agent = _start_agent or _load_start_agent()
        pid, outcome = start_agent(
            self, agent, args, kwargs, name, self._cur or _current_cv.get(), link, replace,
            trap_exit, None, "agent",
        )
        if outcome == "ok":
            return pid
        if isinstance(outcome, asyncio.Future):
            outcome.add_done_callback(_consume)
            return pid
        _raise_start(pid, outcome)
        return pid

    async def start_async(
        self,
        agent: Any,
        *args: Any,
        name: str | None = None,
        replace: bool = False,
        link: bool = False,
        trap_exit: bool | None = None,
        **kwargs: Any,
    ) -> Pid:
        """Like :meth:`start`, and waits for an ``async def init`` to finish."""
        start_agent = _start_agent or _load_start_agent()
        me = self.self()
        pid, outcome = start_agent(
            self, agent, args, kwargs, name, me, link, replace, trap_exit, None, "agent"
        )
        if isinstance(outcome, asyncio.Future):
            outcome = await self._await(outcome, me)
        _raise_start(pid, outcome)
        return pid

    def describe_state(self, dest: Pid | str) -> str | None:
        """A live agent's one-line state (its ``describe_state()``), for views and reprs.

        ``None`` for a plain process, or one that is not alive. An exception raised
        by a user's ``describe_state`` propagates.
        """
        p = self._resolve(dest)
        describe = getattr(p._beh, "describe_state", None) if p is not None else None
        return None if describe is None else str(describe())

    async def stop(self, dest: Pid | str, reason: Any = NORMAL, timeout: float | None = 5.0) -> Any:
        """Stop a process in order and wait for it (OTP ``gen_server:stop`` / ``proc_lib:stop``).

        An agent runs ``terminate(reason)`` and exits with ``reason``; a supervisor
        shuts its children down first. Returns the exit reason. After ``timeout``
        seconds the process is killed (``None`` or ``math.inf``: it is waited for as
        long as it takes), as a supervisor kills a child that does not shut down in
        time (OTP's ``gen_server:stop`` instead exits ``timeout`` and leaves it running).

        The deadline belongs to the request, not to the wait: cancelling the awaiting
        code (a notebook interrupt, an enclosing ``asyncio.timeout``) stops only the
        waiting. The process still gets its stop request and is still killed if it
        has not exited ``timeout`` seconds after it (in OTP the stop request, once
        sent, likewise outlives a caller that dies).

        A process cannot stop itself this way (it would wait for its own exit):
        that raises :class:`CallError` with ``reason="calling_self"`` at once, as
        OTP's ``gen_server:stop(self())`` exits ``calling_self``. To end the calling
        process, return ``Stop(reason)`` from an agent's handler, call
        ``self.exit(reason)`` (``proc.exit(reason)`` in a body function), or raise.
        """
        timeout = _check_timeout(timeout, "stop")
        p = self._lookup(dest)
        me = self._live_self()
        if p is me:
            raise CallError(
                f"{describe(p)} tried to stop itself; it would wait for its own exit "
                "(OTP: calling_self). To end the calling process, return Stop(reason) "
                "from the handler, call self.exit(reason) (proc.exit(reason) in a body "
                "function), or raise.",
                process=p,
                reason="calling_self",
            )
        beh = p._beh
        stopper = getattr(beh, "_request_stop", None)
        if stopper is not None:
            stopper(reason)
        else:
            self._finish(p, reason)
        if timeout is not None and p._st != _DEAD:
            self._kill_after(p, timeout)
        r = await self.wait(p)
        self._stop_if_killed(me)  # it stopped the calling process itself
        return r

    # ------------------------------------------------------------------ loop health

    def _lag_tick(self) -> None:
        """The loop-lag probe, run every ``lag_interval`` seconds.

        A probe that runs more than ``lag_threshold`` late saw a stall. The stall
        began after the previous probe ran (an interval before this one was due) and
        lasted until now: that span is the lag reported. It is never below the real
        stall and at most one interval above it, where how late the probe ran is up to
        one interval below (a 1 s sleep read as 0.91 s). Nothing closer is known
        without work on every loop turn.
        """
        now = self._loop.time()
        lag = now - self._lag_expected  # how late this probe ran
        if self._closed:
            return
        # the next probe first: a subscriber of the event below, or the log's handler,
        # that raises (an interrupt) must not end the probing
        self._lag_expected = now + self._lag_interval
        self._lag_handle = self._loop.call_at(self._lag_expected, self._lag_tick, context=self._ctx)
        if self.lag_threshold is None or lag <= self.lag_threshold:
            if lag > self.max_lag:
                self.max_lag = lag
            return
        lag += self._lag_interval  # since the previous probe ran
        if lag > self.max_lag:
            self.max_lag = lag
        self._emit(K.LOOP_LAG, None, data={"lag": lag})
        # Every runtime on the loop sees the same stall: the first one with processes
        # to see it says it (a notebook that made a second Runtime() got each warning
        # twice). With none, no agent stalled: the event above is all (a slow import
        # in a cell warned "every agent stalled" of a runtime that ran none).
        if self._procs and _LAG_WARNED.get(self._loop, -_INF) < now - lag:
            _LAG_WARNED[self._loop] = now
            log.warning(
                "agentlab: the event loop was blocked for %.2f s; every agent stalled "
                "meanwhile. A synchronous cell or a blocking call in a handler does this: "
                "await instead, or move blocking work to a thread (asyncio.to_thread).",
                lag,
            )

    # ------------------------------------------------------------------ shutdown

    async def shutdown(self, timeout: float | None = 5.0) -> None:
        """Stop every process (top-level ones in reverse start order, like a supervisor),
        wait for them, cancel timers, await every task and then the cleanups their exits
        started (:meth:`cleanup`: an LLM agent closing the model it made). Safe to call
        twice.

        Each top-level process gets the exit signal ``shutdown`` and ``timeout``
        seconds to stop before it is killed (``None`` or ``math.inf``: as long as it
        takes). Code outside processes that still waits on the runtime's clock when it
        closes (``await rt.sleep(...)``) gets :class:`RuntimeStateError`, as every
        later ``sleep`` or start does.

        From inside a process (an agent's "stop everything" command) it starts the
        shutdown and returns at once, as OTP's ``init:stop()`` does: it cannot wait
        for every process to stop, the calling one among them, which is stopped in
        its turn like the others. Code outside processes that calls ``shutdown()``
        meanwhile (``async with`` ending) waits for that same shutdown to finish.
        """
        timeout = _check_timeout(timeout, "shutdown")
        if self._closed:
            return
        stopping = self._stopping
        if self.self() is not None:  # inside a process: it cannot wait for itself
            if stopping is None:
                task = self._loop.create_task(self._shutdown(timeout), context=self._ctx.copy())
                task.add_done_callback(self._shutdown_done)
                self._stopping = task
            return
        if stopping is not None:  # under way
            await asyncio.shield(stopping)
            return
        self._stopping = done = self._loop.create_future()
        try:
            await self._shutdown(timeout)
        finally:
            self._stopping = None  # closed, or interrupted (a later call starts again)
            done.set_result(None)

    def _shutdown_done(self, task: asyncio.Task[Any]) -> None:
        """A shutdown started from inside a process ended."""
        if self._stopping is task:
            self._stopping = None
        if not task.cancelled() and task.exception() is not None:
            log.error("agentlab: the runtime's shutdown failed", exc_info=task.exception())

    async def _shutdown(self, timeout: float | None) -> None:
        root = self.root
        top = [p for p in self._procs.values() if p._parent is root]  # in start order
        for p in reversed(top):
            if p._st == _DEAD:
                continue
            self._signal(p, self.root, SHUTDOWN, link=False)
            if p._st != _DEAD:
                try:
                    await self.wait(p, timeout)
                except ReceiveTimeout:
                    self._signal(p, self.root, KILL, link=False)
        for p in list(self._procs.values()):
            self._signal(p, self.root, KILL, link=False)
        self._closed = True
        if self._lag_handle is not None:
            self._lag_handle.cancel()
        if self._armed is not None:
            self._armed.cancel()
            self._armed = None
        for _, _, timer in self._heap:
            if timer.cancelled:  # dropped by its waiter, left in the heap: nobody awaits it
                continue
            timer.cancelled = True
            if timer.fn is Runtime._wake_future and not timer.args[0].done():
                # code outside processes waiting on the clock (sleep): no more time passes
                timer.args[0].set_exception(
                    RuntimeStateError(
                        "the runtime was shut down while this code waited on its clock "
                        "(sleep or a timeout); create a new Runtime() to go on."
                    )
                )
        self._heap.clear()
        while self._tasks:
            tasks = list(self._tasks)
            for task in tasks:
                if not task.done():
                    task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._tasks.difference_update(tasks)
        # what the stopped processes left to release (see cleanup): waited for, not
        # cancelled, up to timeout seconds of real time (it is I/O, not the clock's)
        until = None if timeout is None else self._loop.time() + timeout
        while self._cleanups:
            cleanups = list(self._cleanups)
            left = None if until is None else max(0.0, until - self._loop.time())
            _, late = await asyncio.wait(cleanups, timeout=left)
            self._cleanups.difference_update(cleanups)
            if late:
                log.warning(
                    "agentlab: %d cleanup(s) still running %g s after shutdown began "
                    "waiting for them; shutdown returns without them",
                    len(late),
                    timeout,
                )
                break
        if Runtime._latest is self:  # the newest one still running here, if any
            others = _live_on(self._loop)
            Runtime._latest = others[-1] if others else None

    async def __aenter__(self) -> Runtime:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.shutdown()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{len(self._procs)} processes"
        return f"<agentlab.Runtime {self.clock.kind} clock, {state}, {self._seq} events>"

    def settled(self) -> Any:
        """Awaitable: returns once the run queue is empty and no process task is running."""
        return self._settled()

    async def _settled(self, max_rounds: int = 10_000) -> None:
        for _ in range(max_rounds):
            if not self._runq and self._running == 0:
                await asyncio.sleep(0)
                if not self._runq and self._running == 0:
                    return
            await asyncio.sleep(0)


# the runtime's frames above a receive predicate that raised (see _match_raised)
_DELIVERY_CODE = (Runtime._deliver.__code__, Runtime._as_receiver.__code__)

_OUTSIDER = Pid(None, 1, None)  # the sender of exit signals that come from outside processes


# per event loop, the loop time at which a loop-lag warning was last logged (_lag_tick)
_LAG_WARNED: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, float] = (
    weakref.WeakKeyDictionary()
)
# the runtimes made, oldest first, as long as something else holds them (_live_on
# leaves out the ones shut down): current_runtime() after the newest one is shut
# down; the warning below
_LIVE: weakref.WeakValueDictionary[int, Runtime] = weakref.WeakValueDictionary()
_MADE = itertools.count()


def _live_on(loop: asyncio.AbstractEventLoop) -> list[Runtime]:
    """The runtimes on ``loop`` that are not shut down, oldest first."""
    return [rt for rt in list(_LIVE.values()) if rt._loop is loop and not rt._closed]


def _warn_if_another_runs(loop: asyncio.AbstractEventLoop) -> None:
    """A new runtime is made while another one still runs processes on ``loop``.

    In a notebook, the cell that made the runtime was run again: the old runtime's
    processes go on (timers fire, agents call their models) beside the new one's,
    out of reach once its name points at the new runtime.
    """
    busy = [rt for rt in _live_on(loop) if rt._procs]
    if not busy:
        return
    n = len(busy[-1]._procs)
    log.warning(
        "agentlab: a new Runtime was made while another one still runs %d process%s on "
        "this event loop (%r); they go on beside the new runtime's. To replace a runtime, "
        "shut it down first (await rt.shutdown()) or keep using it; restarting the kernel "
        "stops processes you can no longer reach.",
        n,
        "" if n == 1 else "es",
        busy[-1],
    )


def _monotonic_since(origin: float) -> Callable[[], float]:
    mono = _time.monotonic

    def now() -> float:
        return mono() - origin

    return now


def _refuse_root() -> None:
    raise NoProcessError(
        "the runtime's root pid <0.0.0> stands for code outside processes: it has no "
        "mailbox and cannot be called, linked, monitored or sent exit signals. To get "
        "messages in a notebook cell, start a process (runtime.spawn) and receive "
        "there, or ask an agent with runtime.call.",
        process=None,
    )


def _no_hook(p: Pid, reason: Any) -> None:
    pass


def _no_remove() -> None:
    """What :meth:`Runtime.watch` of a process that already exited returns."""


def _discard_unstarted(coro: Any) -> None:
    """Close a process coroutine whose task was cancelled before its first step.

    Killing a process right after it was spawned cancels its task before it
    ran, so ``coro`` (and a handler coroutine passed to it) was never awaited;
    closing them quietly avoids "coroutine ... was never awaited" warnings.
    """
    if type(coro) is not _CORO or coro.cr_frame is None or coro.cr_suspended or coro.cr_running:
        return  # finished, or already started (cancellation went through it)
    for v in coro.cr_frame.f_locals.values():
        _discard_unstarted(v)
    coro.close()


# agentlab._agent._start (start_agent's positional twin), looked up once: _agent imports
# this module, so it cannot be imported at the top, and a function-level import costs
# ~2 us on every start.
_start_agent: Callable[..., Any] | None = None


def _load_start_agent() -> Callable[..., Any]:
    global _start_agent
    from ._agent import _start

    _start_agent = _start
    return _start


def _consume(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled():
        fut.exception()


def _raise_start(pid: Pid, outcome: Any) -> None:
    if outcome == "ok" or outcome == "ignore":
        return
    from ._errors import StartError, SupervisorError

    reason = outcome[1]
    # a supervisor that refused its own child specs exits ("start_spec", R), as in OTP,
    # and keeps the readable error beside it (Supervisor._refuse_start)
    exc = reason.exception if type(reason) is Crash else getattr(pid._beh, "_start_refusal", None)
    if isinstance(exc, SupervisorError):
        # a supervisor refused its own flags or child specs: the caller's mistake, said as such
        err = SupervisorError(f"{describe(pid)} did not start: {exc}", process=pid)
        err.reason = reason  # type: ignore[attr-defined]
        raise err
    raise StartError(
        f"{describe(pid)} failed to start: init gave {reason!r}. Fix init, or catch "
        "StartError; its .reason is the exit reason.",
        process=pid,
        reason=reason,
    )


def _iter_sorted(pids: Iterable[Pid]) -> list[Pid]:
    return sorted(pids, key=lambda p: p.id)



_ = AgentLabError  # re-exported names used by sibling modules
