"""Agents: OTP's GenServer in Python.

An agent's state lives on ``self``; the runtime calls its handlers one message
at a time. Handlers may be plain functions (run inline by the runtime's
scheduler, the fast path) or ``async def`` (run in an asyncio Task while busy,
so they can await models, tools and other agents).

Return values
-------------
=================  ==========================================================
handler            returns
=================  ==========================================================
``init``           ``None`` (ok), ``IGNORE``, ``Stop(reason)``, ``Continue(term)``
``handle_call``    the reply value; ``NOREPLY`` (reply later with
                   ``caller.reply(x)``); ``Reply(x, cont=term)``;
                   ``Stop(reason, reply=x)`` (``terminate`` runs, then the reply)
``handle_cast``,   ``None``; ``Stop(reason)``; ``Continue(term)``
``handle_info``,
``handle_continue``
``terminate``      ignored; runs on ``Stop``, on a crash, on ``runtime.stop``,
                   and on an exit signal from the parent when trapping exits
=================  ==========================================================

An exception escaping a handler is a crash: ``terminate`` runs with a
:class:`agentlab.Crash` reason that keeps the exception, and the agent exits
with it. ``sys.exit()`` in a handler is such a crash too (``SystemExit``), not
the end of the event loop; ``KeyboardInterrupt`` and cancellation keep their
meaning.
"""

from __future__ import annotations

import asyncio
from types import CoroutineType
from typing import TYPE_CHECKING, Any

from ._errors import AgentLabError
from ._events import EventKind, shared_data
from ._process import Process, ProcessExit
from ._reasons import CRASHES, NORMAL, Crash
from ._runtime import (
    _BUSY,
    _DEAD,
    _IDLE,
    _SYSTEM,
    Exit,
    Pid,
    _Call,
    _Cast,
    _ContinueMsg,
    _linked,
    _SysStop,
    kind_data,
)

if TYPE_CHECKING:
    from ._runtime import Caller, Runtime

__all__ = ["IGNORE", "NOREPLY", "Agent", "Continue", "Reply", "Stop", "start_agent"]

_CORO = CoroutineType
_RECEIVE = EventKind.RECEIVE


class _Directive:
    __slots__ = ()


class Reply(_Directive):
    """``return Reply(value, cont=term)``: reply, then run ``handle_continue(term)``."""

    __slots__ = ("cont", "value")

    def __init__(self, value: Any, cont: Any = None) -> None:
        self.value = value
        self.cont = cont


class _NoReply(_Directive):
    __slots__ = ()

    def __repr__(self) -> str:
        return "NOREPLY"


#: ``return NOREPLY`` from ``handle_call`` to reply later with ``caller.reply(value)``.
NOREPLY = _NoReply()

_NO_VALUE = object()


class Stop(_Directive):
    """``return Stop(reason)`` to stop the agent (``terminate(reason)`` runs first).

    From ``handle_call``, ``Stop(reason, reply=value)`` replies after ``terminate``.
    From ``init``, the start fails with ``reason``.
    """

    __slots__ = ("reason", "reply")

    def __init__(self, reason: Any = NORMAL, reply: Any = _NO_VALUE) -> None:
        self.reason = reason
        self.reply = reply

    def __repr__(self) -> str:
        return f"Stop({self.reason!r})"


class Continue(_Directive):
    """``return Continue(term)``: run ``handle_continue(term)`` before the next message."""

    __slots__ = ("term",)

    def __init__(self, term: Any) -> None:
        self.term = term


class _Ignore(_Directive):
    __slots__ = ()

    def __repr__(self) -> str:
        return "IGNORE"


#: ``return IGNORE`` from ``init``: the agent does not start (its supervisor keeps the spec).
IGNORE = _Ignore()



# messages one activation handles at most before the process yields its turn
_BUDGET = 200

# init events' data, as shared codes (see _events.shared_data)
_R_OK = shared_data(result="ok")
_KIND_AGENT = kind_data("agent")
_R_IGNORE = shared_data(result="ignore")
_R_STOP = shared_data(result="stop")
_R_CONTINUE = shared_data(result="continue")


class Agent(Process):
    """Base class for agents (OTP's GenServer). Override the handlers you need::

        class Counter(Agent):
            def init(self, start=0):
                self.count = start

            def handle_call(self, request, caller):
                if request == "get":
                    return self.count

            def handle_cast(self, msg):
                self.count += msg

        pid = rt.start(Counter, 10, name="counter")
        rt.cast("counter", 5)
        assert await rt.call("counter", "get") == 15

    Set the class attribute ``trap_exits = True`` to receive exit signals as
    :class:`agentlab.Exit` messages in ``handle_info`` (and to run ``terminate``
    when the supervisor shuts the agent down).
    """

    trap_exits: bool = False
    #: runtime-internal agents (supervisors) whose async handlers only await runtime
    #: primitives are stepped inline and moved to a Task only when they really wait
    _inline_async: bool = False
    #: the spawn event's ``{"kind": ...}`` when started as an agent (a supervisor says so)
    _spawn_data: int = _KIND_AGENT

    # -- callbacks (override) -------------------------------------------------
    def init(self, *args: Any, **kwargs: Any) -> Any:
        return None

    def handle_call(self, request: Any, caller: Caller) -> Any:
        raise NotImplementedError(
            f"{type(self).__name__} got a call {request!r} but defines no handle_call"
        )

    def handle_cast(self, msg: Any) -> Any:
        raise NotImplementedError(
            f"{type(self).__name__} got a cast {msg!r} but defines no handle_cast"
        )

    def handle_info(self, msg: Any) -> Any:
        return None

    def handle_continue(self, term: Any) -> Any:
        raise NotImplementedError(
            f"{type(self).__name__} returned Continue({term!r}) but defines no handle_continue"
        )

    def terminate(self, reason: Any) -> Any:
        return None

    def describe_state(self) -> str:
        """A one-line summary of the state for widgets and reprs (override to customise)."""
        items = [f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_")]
        text = ", ".join(k for k in items if not k.startswith(("runtime=", "pid=")))
        return text[:200]

    # -- machinery --------------------------------------------------------------
    def _activate(self, p: Pid) -> None:
        """Handle queued messages inline (called by the runtime's run queue).

        This is the hot path of message handling: a plain message goes straight
        to ``handle_info``; calls, casts and system messages go through ``_handle``.
        At most ``_BUDGET`` messages are handled per activation; with more queued,
        the process goes to the back of the run queue (fairness).
        """
        mb = p._mbox
        rt = self.runtime
        if not mb:
            if p._st == _IDLE:
                p._mbox = None
                if mb is not None:
                    rt._mbox_pool.append(mb)
            return
        if rt._tm:
            self._activate_traced(p, mb)
            return
        budget = _BUDGET
        system = _SYSTEM  # locals: read once per message below
        tp = type
        try:
            while True:
                k = len(mb)
                if k > budget:
                    k = budget
                budget -= k
                for _ in range(k):
                    msg = mb.popleft()  # IndexError: see below
                    if tp(msg) in system:
                        r = self._handle(msg)
                        if r is not None:
                            self._go_async(r)
                            if p._st == _BUSY:  # it went on in a Task, which does the rest
                                return
                        continue
                    try:
                        r = self.handle_info(msg)
                    except CRASHES as e:  # sys.exit() too (see CRASHES)
                        self._info_raised(e)
                        if p._st == _BUSY:
                            return
                    else:
                        if r is not None:
                            self._info_returned(r)
                            if p._st == _BUSY:
                                return
                if not mb:
                    break
                if not budget:
                    rt._enqueue(p)  # out of budget with mail left: to the back of the run queue
                    return
        except IndexError:
            # The mailbox ran out before the count taken: the process exited (the
            # runtime empties a dead process's mailbox) or a handler took mail out.
            pass
        if p._st == _IDLE:  # not dead, and not queued again by a message to itself
            p._mbox = None
            rt._mbox_pool.append(mb)  # empty: the next message to an idle process reuses it

    def _activate_traced(self, p: Pid, mb: Any) -> None:
        """``_activate`` with message tracing on: a ``receive`` event per message.

        Spelled out apart from ``_activate``: a tracing check per message there costs
        a send ~1.3% more machine instructions with tracing off (callgrind,
        ``bench_runtime.py send 20000|60000 --trace=lifecycle --no-gc``: 2,721 against
        2,686). Keep the two in step."""
        rt = self.runtime
        n = _BUDGET
        system = _SYSTEM
        tp = type
        while mb:  # emptied if the process exits
            if not n:
                rt._enqueue(p)
                return
            n -= 1
            msg = mb.popleft()
            rt._msg_event(_RECEIVE, p, None)
            if tp(msg) in system:
                r = self._handle(msg)
                if r is not None:
                    self._go_async(r)
                    if p._st == _BUSY:
                        return
                continue
            try:  # a plain message: as _activate
                r = self.handle_info(msg)
            except CRASHES as e:
                self._info_raised(e)
                if p._st == _BUSY:
                    return
            else:
                if r is not None:
                    self._info_returned(r)
                    if p._st == _BUSY:
                        return
        if p._st == _IDLE:
            p._mbox = None
            rt._mbox_pool.append(mb)

    # The runtime's run queue handles a lone plain message itself (Runtime._drain) and
    # calls these two for what is not the common case.
    def _info_raised(self, e: BaseException) -> None:
        """``handle_info`` raised ``e``: exit (``ProcessExit``) or crash, after ``terminate``."""
        r = self._stop(e.reason if isinstance(e, ProcessExit) else Crash.from_exception(e))
        if r is not None:
            self._go_async(r)

    def _info_returned(self, r: Any) -> None:
        """``handle_info`` returned ``r`` (not ``None``): a directive, or a coroutine to run."""
        r = self._anoreply(r) if type(r) is _CORO else self._after(r)
        if r is not None:
            self._go_async(r)

    def _go_async(self, r: Any) -> None:
        """Finish a message's handling with coroutine ``r``: in a Task, or stepped inline
        (``_inline_async`` agents) until it really waits."""
        p = self.pid
        if not self._inline_async:
            self.runtime._start_task(p, self._drive(r))
            return
        done, y = _step(r)
        if not done:
            self.runtime._start_task(p, self._drive(_resume(r, y, p)))

    async def _drive(self, coro: Any) -> None:
        await coro
        await self._drain_in_task()

    async def _drain_in_task(self) -> None:
        """Handle what is queued, inside this agent's Task (the async twin of ``_activate``)."""
        p = self.pid
        rt = self.runtime
        while p._st != _DEAD:
            mb = p._mbox
            if not mb:
                break
            msg = mb.popleft()
            if rt._tm:
                rt._msg_event(_RECEIVE, p, None)
            r = self._handle(msg)
            if r is not None:
                await r

    def _request_stop(self, reason: Any) -> None:
        self.runtime._deliver(self.pid, _SysStop(reason))

    def _handle(self, msg: Any) -> Any:
        """Handle one message. Returns ``None`` when done, or a coroutine that finishes it."""
        t = type(msg)
        try:
            if t is _Call:
                caller = msg.caller
                r = self.handle_call(msg.request, caller)
                if type(r) is _CORO:
                    return self._acall(r, caller)
                return self._after_call(r, caller)
            if t is _Cast:
                r = self.handle_cast(msg.msg)
            elif (t is Exit and msg.pid is self.pid._parent and self.pid._trap) or t is _SysStop:
                return self._stop(msg.reason)
            elif t is _ContinueMsg:
                r = self.handle_continue(msg.term)
            else:
                r = self.handle_info(msg)
            if r is None:  # the common case: nothing to follow up
                return None
            if type(r) is _CORO:
                return self._anoreply(r)
            return self._after(r)
        except ProcessExit as e:
            return self._stop(e.reason)
        except CRASHES as e:  # sys.exit() too: a crash, not the end of the loop
            return self._stop(Crash.from_exception(e))

    def _after(self, r: Any) -> Any:
        while r is not None:
            if type(r) is Stop:
                return self._stop(r.reason)
            if type(r) is Continue:
                try:
                    r = self.handle_continue(r.term)
                except ProcessExit as e:
                    return self._stop(e.reason)
                except CRASHES as e:
                    return self._stop(Crash.from_exception(e))
                if type(r) is _CORO:
                    return self._anoreply(r)
                continue
            return None
        return None

    def _after_call(self, r: Any, caller: Caller) -> Any:
        if isinstance(r, _Directive):
            if r is NOREPLY:
                return None
            if type(r) is Reply:
                caller.reply(r.value)
                if r.cont is not None:
                    return self._after(Continue(r.cont))
                return None
            if type(r) is Stop:
                return self._stop(r.reason, caller, r.reply)
            if type(r) is Continue:
                return self._after(r)
        caller.reply(r)
        return None

    async def _acall(self, coro: Any, caller: Caller) -> None:
        nxt = self._after_call(await _outcome(coro), caller)
        if nxt is not None:
            await nxt

    async def _anoreply(self, coro: Any) -> None:
        nxt = self._after(await _outcome(coro))
        if nxt is not None:
            await nxt

    def _stop(self, reason: Any, caller: Caller | None = None, reply: Any = _NO_VALUE) -> Any:
        """Run ``terminate(reason)``, send a pending reply, exit with ``reason``."""
        try:
            r = self.terminate(reason)
        except CRASHES as e:
            reason = Crash.from_exception(e)
            r = None
        if type(r) is _CORO:
            return self._astop(r, reason, caller, reply)
        if caller is not None and reply is not _NO_VALUE:
            caller.reply(reply)
        self.runtime._finish(self.pid, reason)
        return None

    async def _astop(self, coro: Any, reason: Any, caller: Caller | None, reply: Any) -> None:
        try:
            await coro
        except CRASHES as e:
            reason = Crash.from_exception(e)
        if caller is not None and reply is not _NO_VALUE:
            caller.reply(reply)
        self.runtime._finish(self.pid, reason)

    def __repr__(self) -> str:
        pid = getattr(self, "pid", None)
        return f"<{type(self).__name__} {pid!r}>"


def _init_outcome(inst: Agent, r: Any) -> Any:
    """Turn init's return value into ``"ok"``, ``"ignore"`` or ``("error", reason)``."""
    # The start is completed even when a subscriber of the init event raises (an
    # interrupt, which then goes on out of the start: see Runtime.subscribe): a
    # process that started is ready when it does, one that did not has exited.
    rt = inst.runtime
    p = inst.pid
    if isinstance(r, _Directive):
        if r is IGNORE:
            try:
                rt._emit("init", p, data=_R_IGNORE)
            finally:
                _fail(inst, NORMAL)
            return "ignore"
        if type(r) is Stop:
            try:
                rt._emit("init", p, reason=r.reason, data=_R_STOP)
            finally:
                _fail(inst, r.reason)
            return ("error", r.reason)
        if type(r) is Continue:
            mb = p._mbox
            if mb is None:
                from collections import deque

                p._mbox = mb = deque()
            mb.appendleft(_ContinueMsg(r.term))
            _ready(inst)
            rt._emit("init", p, data=_R_CONTINUE)
            return "ok"
    _ready(inst)
    rt._emit_lean("init", p, None, None, _R_OK)
    return "ok"


def _ready(inst: Agent) -> None:
    p = inst.pid
    if p._st == _DEAD:
        return
    if p._task is None:
        p._st = _IDLE
        if p._mbox:
            inst.runtime._enqueue(p)


def _fail(inst: Agent, reason: Any) -> None:
    rt = inst.runtime
    p = inst.pid
    parent = p._parent
    try:
        if parent is not None and _linked(p, parent):
            rt._unlink(p, parent)  # OTP 26+: a failed start is reported to the starter, not signalled
    finally:  # also when a subscriber of the unlink raised (see Runtime.subscribe)
        rt._finish(p, reason)


def start_agent(
    rt: Runtime,
    agent: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    *,
    name: str | None = None,
    parent: Pid | None = None,
    link: bool = False,
    replace: bool = False,
    trap_exit: bool | None = None,
    path: str | None = None,
    kind: str = "agent",
) -> tuple[Pid, Any]:
    """Spawn an agent and run its ``init``. Returns ``(pid, outcome)``.

    ``outcome`` is ``"ok"``, ``"ignore"``, ``("error", reason)``, or, for an
    ``async def init``, a future that resolves to one of those.
    """
    return _start(rt, agent, args, kwargs, name, parent, link, replace, trap_exit, path, kind)


def _start(
    rt: Runtime,
    agent: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    name: str | None,
    parent: Pid | None,
    link: bool,
    replace: bool,
    trap_exit: bool | None,
    path: str | None,
    kind: str,
) -> tuple[Pid, Any]:
    """:func:`start_agent` with positional arguments only (``Runtime.start`` calls this:
    CPython 3.11 binds keyword arguments by name on every call)."""
    if isinstance(agent, type):
        if not issubclass(agent, Agent):
            raise TypeError(
                f"{agent.__name__} is not an agentlab.Agent subclass; subclass Agent, or use "
                "runtime.spawn(fn) for a plain process."
            )
        inst = agent()
    elif isinstance(agent, Agent):
        if getattr(agent, "pid", None) is not None:
            raise AgentLabError(
                f"this {type(agent).__name__} instance already runs as {agent.pid!r}; "
                "pass the class (or a fresh instance) to start another one."
            )
        inst = agent
    else:
        raise TypeError(f"expected an Agent subclass or instance, got {agent!r}")
    # messages queue until init is done (_BUSY)
    trap = inst.trap_exits if trap_exit is None else trap_exit
    p = rt._new_pid(inst, name, parent, replace, path, _BUSY, trap)
    inst.runtime = rt  # Process._bind, inlined
    inst.pid = p
    if kind == "agent":  # a supervisor traps exits: only then is its class's kind read
        data = _KIND_AGENT if trap is False else inst._spawn_data
    else:
        data = kind_data(kind)
    try:
        rt._emit_lean("spawn", p, None if parent is None else parent.id, None, data)
        if name is not None:
            rt._emit("register", p, data={"name": name})
        if link and parent is not None and parent is not rt.root:
            rt._link(parent, p)
    except BaseException as e:  # a subscriber's interrupt: the start fails, as in init below
        rt._start_failed(p, parent, e)
        raise
    prev = rt._cur
    rt._cur = p
    try:
        if kwargs:
            r = inst.init(*args, **kwargs)
        elif args:
            r = inst.init(*args)
        else:
            r = inst.init()
        if type(r) is _CORO and inst._inline_async:
            done, y = _step(r)
            r = y if done else _resume(r, y, p)
    except ProcessExit as e:
        r = Stop(e.reason)
    except CRASHES as e:  # sys.exit() in init too: a failed start, not the end of the loop
        r = Stop(Crash.from_exception(e))
    except asyncio.CancelledError:
        if p._st != _DEAD:
            raise
        r = Stop(p._exit)  # init's own call killed it (an exit signal, a link): it failed
    except BaseException as e:  # a KeyboardInterrupt (a notebook's interrupt) in init
        if p._st != _DEAD:  # the start failed (see Runtime._interrupted); it goes on
            _fail(inst, Crash.from_exception(e, propagating=True))
        raise
    finally:
        rt._cur = prev
    if r is None:  # the common case, _init_outcome's last lines and _ready inlined
        if p._st != _DEAD and p._task is None:
            p._st = _IDLE
            if p._mbox:
                rt._enqueue(p)
        rt._emit_lean("init", p, None, None, _R_OK)  # (after: see _init_outcome)
        return p, "ok"
    if type(r) is _CORO:
        fut: asyncio.Future[Any] = rt._loop.create_future()
        rt._start_task(p, _ainit(inst, r, fut))
        return p, fut
    return p, _init_outcome(inst, r)


async def _outcome(coro: Any) -> Any:
    """Await a handler's coroutine; an escaping exception becomes ``Stop`` (a crash)."""
    try:
        return await coro
    except ProcessExit as e:
        return Stop(e.reason)
    except CRASHES as e:  # sys.exit() too (see CRASHES)
        return Stop(Crash.from_exception(e))


async def _ainit(inst: Agent, coro: Any, fut: asyncio.Future[Any]) -> None:
    try:
        r = await _outcome(coro)
    except BaseException as e:  # killed; or a KeyboardInterrupt, which goes on
        if not isinstance(e, asyncio.CancelledError | GeneratorExit) and inst.pid._st != _DEAD:
            _fail(inst, Crash.from_exception(e, propagating=True))
        if not fut.done():  # start_async does not wait for ever
            fut.set_result(("error", inst.pid._exit))
        raise
    try:
        out = _init_outcome(inst, r)
    except BaseException:
        # A subscriber of the init event raised (an interrupt): the start is done (see
        # _init_outcome), the interrupt goes on through this process, which it ends
        # (Runtime._interrupted). start_async hears how the start went.
        p = inst.pid
        out = "ignore" if r is IGNORE else "ok" if p._st != _DEAD else ("error", p._exit)
        inst.runtime._wake_future(fut, out)
        raise
    inst.runtime._wake_future(fut, out)
    await inst._drain_in_task()  # messages that queued up during init


def _step(coro: Any) -> tuple[bool, Any]:
    """Run a coroutine until it first waits: ``(True, value)`` or ``(False, what it awaits)``."""
    try:
        y = coro.send(None)
    except StopIteration as e:
        return True, e.value
    return False, y


async def _resume(coro: Any, y: Any, p: Pid) -> Any:
    """Continue, inside ``p``'s Task, a coroutine that :func:`_step` started inline.

    While it waits here on the runtime future it was stepped to (``_await_more`` marks
    it), the process counts as parked, so a virtual clock may move on. Runtime waits
    inside the Task do their own counting (``Runtime._await``); any other future (an
    ``asyncio.sleep`` or I/O in a handler of a Supervisor subclass) leaves the process
    running, or a virtual clock would jump ahead while it waits on real time.
    """
    rt = p._rt
    assert rt is not None
    while True:
        try:
            if y is None:
                await asyncio.sleep(0)
            else:
                y._asyncio_future_blocking = False
                if not y.done():
                    w = asyncio.get_running_loop().create_future()

                    def _wake(_f: Any, w: asyncio.Future[Any] = w) -> None:
                        if not w.done():
                            w.set_result(None)

                    y.add_done_callback(_wake)
                    parks = getattr(y, "_agentlab_parks", False)
                    if parks:
                        rt._set_running(p, False)
                    try:
                        await w
                    finally:
                        if parks and p._st != _DEAD:
                            rt._set_running(p, True)
        except asyncio.CancelledError:
            try:
                y = coro.throw(asyncio.CancelledError())
            except StopIteration as e:
                return e.value
            continue
        try:
            y = coro.send(None)
        except StopIteration as e:
            return e.value
