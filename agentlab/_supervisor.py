"""Supervisors, to the letter of Erlang/OTP's ``supervisor`` and Elixir's ``DynamicSupervisor``.

See :class:`Supervisor` for the rules table. The supervisor is an ordinary
agent that traps exits; its handlers are ``async def`` but run inline on the
runtime's scheduler whenever they do not have to wait (a one_for_one restart
of an agent with a plain ``init`` never leaves the run queue), and move to a
Task only while they wait for a child to stop or start.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from ._agent import IGNORE, Agent, Stop, start_agent
from ._errors import NameTakenError, NoProcessError, SupervisorError, describe
from ._events import EventKind as K
from ._events import _field_names
from ._reasons import KILL, KILLED, NOPROC, NORMAL, SHUTDOWN, Crash, is_shutdown_reason
from ._runtime import _DEAD, _LONE, Down, Exit, Pid, ReceiveTimeout, kind_data

__all__ = ["ChildSpec", "DynamicSupervisor", "Supervisor"]

PERMANENT = "permanent"
TRANSIENT = "transient"
TEMPORARY = "temporary"
_RESTART_TYPES = (PERMANENT, TRANSIENT, TEMPORARY)
_STRATEGIES = ("one_for_one", "one_for_all", "rest_for_one", "simple_one_for_one")
_AUTO = ("never", "any_significant", "all_significant")


# event kinds on the restart path, as module constants (read per restart)
_CHILD_TERMINATED = K.CHILD_TERMINATED
# the field names of the events a restart emits: Runtime._emit_lean takes these and the
# values in order, so no dict is built on the restart path
# (through _field_names: the one long-lived tuple per set of names that the dict path
# stores too, untracked by the collector from the start)
_START_KEYS = _field_names(("child_id", "restart", "type", "attempt"))
_RESTART_KEYS = _field_names(
    ("child_id", "strategy", "affected", "restarts_in_window", "intensity", "period", "retry")
)
_RESTART_DELAY_KEYS = _field_names((*_RESTART_KEYS, "delay"))
_CHILD_KEYS = _field_names(("child_id",))
# a simple_one_for_one pool's shutdown_error: the template's id and how many children
_POOL_KEYS = _field_names(("child_id", "nb_children"))
_RESTART = K.RESTART
_CHILD_START = K.CHILD_START
# a supervisor's flags, in its first report (supervisor_flags): a dynamic supervisor
# (simple_one_for_one, DynamicSupervisor) says its max_children too
_FLAGS_KEYS = _field_names(("strategy", "intensity", "period"))
_DYNAMIC_FLAGS_KEYS = _field_names((*_FLAGS_KEYS, "max_children"))


class ChildSpec:
    """How a supervisor starts, restarts and stops one child.

    ``start`` is an :class:`Agent` subclass, a tuple ``(AgentClass, *args)``, a
    tuple ``(AgentClass, args, kwargs)`` with a tuple and a dict, or an
    ``async def fn(proc, ...)`` body function (a plain process), alone or as
    ``(fn, *args)`` or ``(fn, args, kwargs)``.
    ``id`` names the child in its supervisor (:meth:`Supervisor.terminate_child`,
    :meth:`~Supervisor.which_children`, the events).
    ``restart`` says when it is started again after it exits (the table in
    :class:`Supervisor`): ``"permanent"`` (the default) always; ``"transient"``
    only after an abnormal exit (a reason other than ``normal``, ``shutdown``
    or ``("shutdown", term)``); ``"temporary"`` never, and its spec is dropped.
    ``type`` is ``"worker"`` or ``"supervisor"``; left out, it is
    ``"supervisor"`` when ``start`` is a :class:`Supervisor` class (a
    :class:`DynamicSupervisor` too), else ``"worker"``. It sets the default
    ``shutdown`` and what :meth:`~Supervisor.count_children` counts the child as.
    ``shutdown`` is in seconds, ``"brutal_kill"`` or ``"infinity"``
    (default 5 s for workers, ``"infinity"`` for supervisors). ``name``, if
    given, is registered for every incarnation of the child, so callers that
    use the name never see a restart.
    ``significant=True`` (default ``False``) marks a child whose exit stops its
    supervisor: with ``auto_shutdown="any_significant"`` when it exits by
    itself and is not restarted, with ``"all_significant"`` once every
    significant child has. It needs a ``transient`` or ``temporary`` child under
    one of those two ``auto_shutdown`` values; the supervisor refuses it
    otherwise (``("bad_combination", ...)``).

    >>> ChildSpec("writer", Agent).restart
    'permanent'
    >>> ChildSpec("team", Supervisor).type, ChildSpec("team", Supervisor).shutdown
    ('supervisor', 'infinity')
    """

    __slots__ = ("_agent", "_kind", "id", "name", "restart", "shutdown", "significant", "start", "type")

    def __init__(
        self,
        id: Any,
        start: Any,
        *,
        restart: str = PERMANENT,
        shutdown: float | str | None = None,
        type: str | None = None,
        significant: bool = False,
        name: str | None = None,
    ) -> None:
        # OTP's check order (do_check_childspec/2): start, restart, significant, type,
        # shutdown
        self.start = _normalize_start(id, start)
        _check_restart(id, restart)
        _check_significant_value(id, significant)
        self.id = id
        fn = self.start[0]
        self._agent = isinstance(fn, type_) and issubclass(fn, Agent)
        if type is None:
            type = "supervisor" if isinstance(fn, type_) and issubclass(fn, Supervisor) else "worker"
        _check_type(id, type)
        self.type = type
        self._kind = "supervisor" if type == "supervisor" else "agent"  # for the spawn event
        if shutdown is None:
            shutdown = "infinity" if type == "supervisor" else 5.0
        _check_shutdown(id, shutdown)
        self.shutdown = shutdown
        self.restart = restart
        self.significant = significant
        self.name = name

    def replace(self, **changes: Any) -> ChildSpec:
        kw: dict[str, Any] = {
            "restart": self.restart,
            "shutdown": self.shutdown,
            "type": self.type,
            "significant": self.significant,
            "name": self.name,
        }
        kw.update(changes)
        ident = kw.pop("id", self.id)
        start = kw.pop("start", self.start)
        return ChildSpec(ident, start, **kw)

    def __erl__(self) -> str:
        return "child_record"

    def __repr__(self) -> str:
        return f"ChildSpec({self.id!r}, restart={self.restart!r}, type={self.type!r})"


type_ = type


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _refusal(message: str, reason: Any, process: Any = None) -> SupervisorError:
    """A :class:`SupervisorError` whose ``.reason`` is OTP's: for a spec that OTP's
    ``check_childspec`` refuses (the admin API replies with it), or a start refused."""
    err = SupervisorError(message, process=process)
    err.reason = reason  # type: ignore[attr-defined]
    return err


def _reason(err: SupervisorError, child: Any) -> Any:
    return getattr(err, "reason", ("invalid_child_spec", child))


# the keys of a child spec dict: ChildSpec's arguments
_SPEC_KEYS = ("id", "start", "restart", "shutdown", "type", "significant", "name")


def _check_restart(ident: Any, restart: Any) -> None:
    if restart not in _RESTART_TYPES:
        raise _refusal(
            f"child {ident!r}: restart must be one of {_RESTART_TYPES}, got {restart!r}",
            ("invalid_restart_type", restart),
        )


def _check_significant_value(ident: Any, significant: Any) -> None:
    # True or False only, as OTP's validSignificant/3: bool() would read "false" as True
    if type(significant) is not bool:
        raise _refusal(
            f"child {ident!r}: significant must be True or False, got {significant!r}",
            ("invalid_significant", significant),
        )


def _check_type(ident: Any, type: Any) -> None:
    if type not in ("worker", "supervisor"):
        raise _refusal(
            f"child {ident!r}: type must be 'worker' or 'supervisor', got {type!r}",
            ("invalid_child_type", type),
        )


def _check_shutdown(ident: Any, shutdown: Any) -> None:
    if not (shutdown in ("brutal_kill", "infinity") or (_is_number(shutdown) and shutdown >= 0)):
        raise _refusal(
            f"child {ident!r}: shutdown must be seconds >= 0, 'brutal_kill' or 'infinity', "
            f"got {shutdown!r}",
            ("invalid_shutdown", shutdown),
        )


# what a child spec's start may be (the errors say so)
_START_FORMS = (
    "an Agent subclass, (AgentClass, *args), (AgentClass, args, kwargs) or an async function"
)


def _normalize_start(ident: Any, start: Any) -> tuple[Any, tuple[Any, ...], dict[str, Any]]:
    if isinstance(start, type_) and issubclass(start, Agent):
        return (start, (), {})
    if isinstance(start, tuple) and start:
        head = start[0]
        if isinstance(head, type_) and issubclass(head, Agent):
            if len(start) == 3 and isinstance(start[1], tuple) and isinstance(start[2], dict):
                return (head, start[1], start[2])
            return (head, tuple(start[1:]), {})
        if callable(head):
            if len(start) == 3 and isinstance(start[1], tuple) and isinstance(start[2], dict):
                return (head, start[1], start[2])  # (fn, args, kwargs), as for an agent
            return (head, tuple(start[1:]), {})
    if callable(start):
        return (start, (), {})
    raise _refusal(
        f"child {ident!r}: start must be {_START_FORMS}, got {start!r}",
        ("invalid_mfa", start),
    )


def _check_keys(child: dict[Any, Any]) -> None:
    unknown = [k for k in child if k not in _SPEC_KEYS]
    if unknown:
        raise _refusal(
            f"child spec {child!r} has unknown keys {unknown}: the keys are {_SPEC_KEYS} "
            "(ChildSpec's arguments)",
            ("invalid_child_spec", child),
        )


def _check_changes(child: dict[Any, Any]) -> None:
    """Check what a spec dict says, whether it is a whole spec or changes to a template.

    What does not depend on the supervisor, so callers check it before they call.
    """
    _check_keys(child)
    ident = child.get("id")
    if "start" in child:
        _normalize_start(ident, child["start"])
    if "restart" in child:
        _check_restart(ident, child["restart"])
    if "significant" in child:
        _check_significant_value(ident, child["significant"])
    if child.get("type") is not None:
        _check_type(ident, child["type"])
    if child.get("shutdown") is not None:
        _check_shutdown(ident, child["shutdown"])


def _as_spec(child: Any) -> ChildSpec:
    """A ChildSpec from what a user passed, or a SupervisorError with OTP's ``.reason``."""
    if isinstance(child, ChildSpec):
        return child
    if isinstance(child, dict):
        _check_keys(child)
        if "id" not in child:
            raise _refusal(f"child spec {child!r} has no 'id'", "missing_id")
        if "start" not in child:
            raise _refusal(f"child spec {child!r} has no 'start'", "missing_start")
        d = dict(child)
        return ChildSpec(d.pop("id"), d.pop("start"), **d)
    if isinstance(child, type_) and issubclass(child, Agent):
        return ChildSpec(child.__name__, child)
    raise _refusal(
        f"cannot make a child spec from {child!r}: pass a ChildSpec, a dict with 'id' and "
        "'start', or an Agent subclass",
        ("invalid_child_spec", child),
    )


class _Child:
    __slots__ = ("alone", "attempts", "last", "path", "pending", "pid", "restarting", "spec")

    def __init__(self, spec: ChildSpec) -> None:
        self.spec = spec
        # (spec.id,): the children a one_for_one restart affects, made once. A restart
        # event made with a new tuple each time stays tracked by the cyclic GC until a
        # full collection (see agentlab._events.shared_data).
        self.alone: tuple[Any, ...] = (spec.id,)
        self.path: str | None = None  # supervisor path of its processes, made on first start
        self.pid: Pid | None = None
        # the most recent incarnation's id (for events about its exit); not its Pid: a
        # dead Pid kept per child is one more object for every collection of the
        # cyclic GC to walk (a 10,000-child tree kept 10,000 of them)
        self.last: int | None = None
        self.restarting = False
        # the number of the delayed restart (backoff=) that is to start it, 0 if none; a
        # number, not the _Backoff, so that no reference cycle is made per restart
        self.pending = 0
        self.attempts = 0


class _TryAgain:
    __slots__ = ("child",)

    def __init__(self, child: _Child) -> None:
        self.child = child


class _Backoff:
    """Timer message: restart number ``n``, delayed by ``backoff=``, is due.

    It starts the children of ``group`` (``None``: just ``child``) whose
    ``pending`` is still ``n``.
    """

    __slots__ = ("child", "group", "n")

    def __init__(self, child: _Child, group: list[_Child] | None, n: int) -> None:
        self.child = child
        self.group = group
        self.n = n

    def __repr__(self) -> str:
        return f"<restart {self.child.spec.id!r} (backoff)>"


class _GetState:
    pass


GET_STATE = _GetState()


class Supervisor(Agent):
    """A process that starts children, watches them, and restarts them by a fixed policy.

    ::

        sup = rt.start(Supervisor, [
            ChildSpec("db", Database),
            ChildSpec("writer", (Writer, "gpt"), restart="transient"),
        ], strategy="one_for_one", intensity=3, period=5, name="team")

    The rules (OTP's, to the letter; checked against recordings of real OTP):

    ==========================  =======================================================
    rule                        behaviour
    ==========================  =======================================================
    start order                 children start one after another in list order; each
                                ``init`` finishes before the next starts
    start failure               the children already started are stopped in reverse
                                order and the supervisor fails to start with
                                ``("shutdown", ("failed_to_start_child", id, reason))``
    ``permanent``               always restarted
    ``transient``               restarted unless the reason is ``normal``,
                                ``shutdown`` or ``("shutdown", term)``
    ``temporary``               never restarted; its spec is dropped when it exits
    ``one_for_one``             only the child that exited is restarted
    ``one_for_all``             the others are stopped (reverse order), then all are
                                started again (in order)
    ``rest_for_one``            the children started after it are stopped (reverse
                                order), then it and they are started again (in order)
    ``simple_one_for_one``      starts with none; ``start_child`` makes each child
                                from one template spec; only the child that exited is
                                restarted; on stop, all are stopped at once, in no order
    intensity / period          default 1 restart in 5 s (``DynamicSupervisor``: 3 in
                                5 s). Each restart is counted first, then the count in
                                the window (whole seconds, inclusive) is compared with
                                ``<=``: restart number ``intensity + 1`` in the window
                                makes the supervisor give up
    giving up                   stop all children in reverse order, exit ``shutdown``;
                                the parent treats that like any child exit (so a
                                ``transient`` child supervisor is not restarted)
    failed restart              retried after messages already queued; every attempt
                                counts toward intensity
    ``IGNORE`` from init        the child is kept, not running (temporary: dropped)
    stop order                  reverse start order; each child is fully stopped before
                                the next: exit signal ``shutdown``, wait ``shutdown``
                                seconds, then ``kill`` (``brutal_kill``: kill at once)
    ``significant`` children    with ``auto_shutdown="any_significant"`` (or
                                ``"all_significant"``), a significant child exiting by
                                itself without restart stops the supervisor
    exit during a stop          a child that exits by itself while the supervisor stops
                                keeps its own reason; unless that reason is one a stop
                                expects, it is reported (``shutdown_error``)
    ``backoff=(base, max)``     extension, off by default: restart number ``n`` in the
                                window waits ``min(max, base * 2**(n-1))`` seconds times
                                a jitter in [0.5, 1] from the runtime's seeded
                                generator; it still counts at once, the child shows as
                                ``"restarting"``, and the supervisor keeps answering
    ==========================  =======================================================

    With ``backoff=``, a delayed restart that covers children of one still
    pending takes that one over (under rest_for_one a child earlier in start
    order crashes while the restart of the later ones waits; under any
    strategy a child started again by hand crashes again): their children join
    the newer restart, in start order, and are listed in its ``affected``; the
    older restart is dropped and its timer cancelled (a ``timer_cancel``
    event). So no child starts before the newer delay, nor ahead of a child it
    is to start after. A child stopped with :meth:`terminate_child` while its
    restart waits stays stopped; the rest of its group still starts.

    The fourth strategy, ``simple_one_for_one``, keeps a pool of children
    made from one template spec, given as ``child=`` (which then takes the
    place of the list) or as the list's only spec. It starts with none, and
    restarts as ``one_for_one`` does. :meth:`start_child` starts one from the
    template, given extra start arguments (a tuple or list, added after the
    template's), a dict of changes to the template, a whole
    :class:`ChildSpec`, or ``None`` (the template as it is). ``max_children``
    (default ``None``: no limit) caps how many it holds; a child being
    restarted keeps its place, and one more is refused with the reason
    ``max_children``. Its children are known by pid: :meth:`which_children`
    gives their id as ``None``, :meth:`count_children` counts one spec,
    :meth:`terminate_child` takes a pid, and :meth:`restart_child` and
    :meth:`delete_child` are refused (``simple_one_for_one``). A child that
    exits for good (``temporary``, or ``transient`` with a normal reason), or
    whose ``init`` returns ``IGNORE``, is forgotten. When the supervisor
    stops, it signals all its children at once, in no order, and kills each
    one still running after its ``shutdown``; as in OTP 25, an exit the stop
    did not expect is reported once per distinct reason for the whole pool (a
    ``shutdown_error`` event with the template's ``child_id``, the number of
    children in ``nb_children`` and no child pid), where a
    :class:`DynamicSupervisor`, as Elixir's, reports each child. The other
    strategies refuse ``child=`` and ``max_children=`` (a
    :class:`SupervisorError` that says what
    to use instead), and ``simple_one_for_one`` refuses a template given both
    as ``child=`` and in the list. :class:`DynamicSupervisor` has its own
    ``max_children=``::

        pool = rt.start(Supervisor, strategy="simple_one_for_one",
                        child=ChildSpec("worker", (Worker, "gpt")), max_children=10)
        pid = await Supervisor.start_child(pool, ["job-1"])  # Worker's init("gpt", "job-1")

    There is no start timeout (nor is there one in OTP): an ``init`` that never
    returns holds its supervisor, which can still be killed. A supervisor's own
    ``init`` waits whenever starting or stopping a child has to wait, so
    ``await rt.start_async(Supervisor, ...)`` to see a start failure as
    :class:`StartError`; flags it refuses raise :class:`SupervisorError`. A spec
    it refuses in its own list (or as its template: any that :meth:`start_child`
    would refuse, and a repeated id) stops it before any child starts, with the
    exit reason ``("start_spec", R)`` as in OTP (``R`` is the reason
    :meth:`start_child` gives): that is the ``.reason`` of the error
    ``rt.start`` raises, and :meth:`why` says what was wrong.

    Admin API (awaitable, OTP's results, refusals raise :class:`SupervisorError`
    with OTP's ``.reason``): :meth:`start_child`, :meth:`terminate_child`,
    :meth:`restart_child`, :meth:`delete_child`, :meth:`which_children`,
    :meth:`count_children`; :meth:`why` explains why a supervisor gave up.
    """

    trap_exits = True
    _inline_async = True
    _spawn_data = kind_data("supervisor")  # rt.start(Supervisor, ...) is one too
    _retain_after_exit = True  # why() reads a dead supervisor's give-up record
    #: why it refused its own child specs, if it did (see _refuse_start)
    _start_refusal: SupervisorError | None = None
    _default_intensity = 1

    # ------------------------------------------------------------------ init
    async def init(
        self,
        children: Iterable[Any] = (),
        *,
        strategy: str = "one_for_one",
        intensity: int | None = None,
        period: float = 5,
        auto_shutdown: str = "never",
        child: Any = None,
        max_children: int | None = None,
        backoff: tuple[float, float] | None = None,
    ) -> Any:
        # OTP's flags (Elixir's max_children too), checked in OTP's order: a refused one
        # stops it with ("supervisor_data", (invalid_<flag>, value)), as OTP's init does
        if strategy not in _STRATEGIES:
            return self._refuse_flag(
                f"strategy must be one of {_STRATEGIES}, got {strategy!r}",
                ("invalid_strategy", strategy),
            )
        if intensity is None:
            intensity = self._default_intensity
        if not isinstance(intensity, int) or isinstance(intensity, bool) or intensity < 0:
            return self._refuse_flag(
                f"intensity must be an integer >= 0, got {intensity!r}",
                ("invalid_intensity", intensity),
            )
        if not (_is_number(period) and math.isfinite(period) and period > 0):
            # NaN would pass a plain "<= 0" test and never let a restart age out
            return self._refuse_flag(
                f"period must be a finite number of seconds > 0, e.g. 5, got {period!r} (to "
                "count restarts over a supervisor's whole life, give a period longer than it "
                "runs)",
                ("invalid_period", period),
            )
        if auto_shutdown not in _AUTO:
            return self._refuse_flag(
                f"auto_shutdown must be one of {_AUTO}, got {auto_shutdown!r}",
                ("invalid_auto_shutdown", auto_shutdown),
            )
        if max_children is not None and (
            not isinstance(max_children, int) or isinstance(max_children, bool) or max_children < 0
        ):
            return self._refuse_flag(
                f"max_children must be an integer >= 0 or None (no limit), got {max_children!r}",
                ("invalid_max_children", max_children),
            )
        if backoff is not None and not (
            isinstance(backoff, tuple)
            and len(backoff) == 2
            and all(_is_number(x) and math.isfinite(x) for x in backoff)
            and 0 < backoff[0] <= backoff[1]
        ):
            # inf (or NaN) would make a restart that never comes: the child would show as
            # "restarting" for ever, and a crash would hide behind an endless wait
            raise SupervisorError(
                "backoff must be (base, max), finite seconds with 0 < base <= max, e.g. "
                f"(0.1, 30), got {backoff!r}. For a child that is never restarted, give its "
                "ChildSpec restart='temporary'; for no backoff, leave backoff out (None)"
            )
        if child is not None and strategy != "simple_one_for_one":
            raise SupervisorError(
                f"child= (a template) is only for strategy='simple_one_for_one', not "
                f"{strategy!r}: give a {strategy} supervisor its children as the list, "
                f"rt.start(Supervisor, [spec, ...], strategy={strategy!r}), or use "
                "strategy='simple_one_for_one' for a pool made from one template",
                process=self.pid,
            )
        if (
            max_children is not None
            and strategy != "simple_one_for_one"
            and not isinstance(self, DynamicSupervisor)
        ):
            raise SupervisorError(
                f"max_children= is only for strategy='simple_one_for_one' (or a "
                f"DynamicSupervisor), not {strategy!r}: a {strategy} supervisor has just the "
                "children of its list. To cap a pool, use strategy='simple_one_for_one' with "
                "child=<template>, or DynamicSupervisor(max_children=...)",
                process=self.pid,
            )
        self.strategy = strategy
        self.intensity = intensity
        self.period = period
        self.auto_shutdown = auto_shutdown
        self.max_children = max_children
        self.backoff = backoff
        # the restart window, oldest first: [whole second, restarts in it]; see _add_restart
        self._restarts: deque[list[int]] = deque()
        self._nrestarts = 0
        self._children: list[_Child] = []
        self._by_pid: dict[Pid, _Child] = {}
        self._gave_up: dict[str, Any] | None = None
        # backoff: the timers of the delayed restarts still pending, by number
        self._backoffs: dict[int, Any] = {}
        self._nbackoffs = 0
        self._dynamic = strategy == "simple_one_for_one"
        self._template: ChildSpec | None = None
        self._report_flags()
        self._on_started()
        children = list(children)
        if self._dynamic:
            if child is not None and children:
                raise SupervisorError(
                    "simple_one_for_one takes one template, as child= or as the list's only "
                    f"spec, not both: got child={child!r} and {len(children)} in the list",
                    process=self.pid,
                )
            if child is None:
                if len(children) != 1:  # OTP's init_dynamic/2: {stop, {bad_start_spec, L}}
                    reason = ("bad_start_spec", children)
                    return self._refuse(
                        "simple_one_for_one needs exactly one child spec (the template), as "
                        f"child= or as the list's only spec; got {len(children)}. It refused "
                        f"its child list and started none of its children (exit reason "
                        f"{reason!r}): fix that and start the supervisor again",
                        reason,
                    )
                child = children[0]
            # OTP's init_dynamic/2 checks the template as any spec (validSignificant/3 too)
            try:
                self._template = _as_spec(child)
                self._check_significant(self._template)
            except SupervisorError as e:
                return self._refuse_start(e, child)
            return None
        # OTP's check_startspec/2: each spec in list order is checked (its significance
        # against auto_shutdown too), then its id against the ones before it; the first
        # refusal ends the start before any child starts
        specs: list[ChildSpec] = []
        seen = set()
        for c in children:
            try:
                s = _as_spec(c)
                self._check_significant(s)
                if s.id in seen:
                    raise _refusal(
                        f"duplicate child id {s.id!r}: each child of a supervisor needs an id "
                        "of its own",
                        ("duplicate_child_name", s.id),
                    )
            except SupervisorError as e:
                return self._refuse_start(e, c)
            seen.add(s.id)
            specs.append(s)
        for s in specs:
            ch = _Child(s)
            res = await self._start(ch)
            if res[0] == "error":
                self._report(K.START_ERROR, ch, res[1])
                await self._terminate_list(list(reversed(self._children)))
                return Stop((SHUTDOWN, ("failed_to_start_child", s.id, res[1])))
            if res[0] == "ok" or s.restart != TEMPORARY:
                self._children.append(ch)
        return None

    def _report_flags(self) -> None:
        """Its first report, ``supervisor_flags``: the flags its init accepted, before any
        child starts. So what the event stream shows (the live tree, a recorded run's
        tables and views) knows a supervisor's strategy and restart budget from its
        start, also one that never restarts a child.

        Why an event of its own rather than its ``init`` event's data: the agent
        machinery emits every agent's ``init`` event (a worker's spawn and init are a
        hot path, and stay as they are), and a supervisor's ``init`` event comes only
        once its children have started, after their ``child_start`` reports.
        """
        if self._dynamic or isinstance(self, DynamicSupervisor):
            self.runtime._emit_lean(
                K.SUPERVISOR_FLAGS, self.pid, None, None,
                _DYNAMIC_FLAGS_KEYS, self.strategy, self.intensity, self.period, self.max_children,
            )
        else:
            self.runtime._emit_lean(
                K.SUPERVISOR_FLAGS, self.pid, None, None,
                _FLAGS_KEYS, self.strategy, self.intensity, self.period,
            )

    def _on_started(self) -> None:
        """Hook: the supervisor's own init succeeded (children start next)."""

    def _refuse_start(self, err: SupervisorError, child: Any) -> Stop:
        """Its own child list (or template) holds a spec it refuses: it starts no child
        and exits ``("start_spec", R)``, OTP's ``{start_spec, R}``, with ``R`` the reason
        :meth:`start_child` would give for that spec.

        ``_start_refusal`` keeps the readable error for whoever started it (and
        :meth:`why`): what was wrong and what to do.
        """
        reason = ("start_spec", _reason(err, child))
        return self._refuse(
            f"{err}. It refused its child list and started none of its children (exit "
            f"reason {reason!r}): fix that child spec and start the supervisor again",
            reason,
        )

    def _refuse_flag(self, problem: str, reason: Any) -> Stop:
        """A flag it refuses: it exits ``("supervisor_data", reason)``, as OTP's init stops."""
        reason = ("supervisor_data", reason)
        return self._refuse(
            f"{problem}. It refused a flag and started none of its children (exit reason "
            f"{reason!r}): fix that and start the supervisor again",
            reason,
        )

    def _refuse(self, message: str, reason: Any) -> Stop:
        """Its start refused: it starts nothing and exits ``reason``; ``_start_refusal``
        keeps the readable error (``message``) for whoever started it (and :meth:`why`)."""
        self._start_refusal = _refusal(message, reason, self.pid)
        return Stop(reason)

    def _check_significant(self, s: ChildSpec) -> None:
        if s.significant and (s.restart == PERMANENT or self.auto_shutdown == "never"):
            # OTP's validSignificant/3 names auto_shutdown first, then the restart type
            what = (
                ("auto_shutdown", "never")
                if self.auto_shutdown == "never"
                else ("restart", PERMANENT)
            )
            raise _refusal(
                f"child {s.id!r}: significant=True needs restart transient or temporary and "
                "auto_shutdown any_significant or all_significant (OTP: bad_combination)",
                ("bad_combination", [what, ("significant", True)]),
                process=self.pid,
            )

    # ------------------------------------------------------------------ starting
    def _spawn(self, ch: _Child) -> tuple[Pid | None, Any]:
        """Begin starting one child: ``(pid, outcome)``.

        ``outcome`` is ``"ok"``, ``"ignore"``, ``("error", reason)`` or, for an
        ``async def init``, a future of one of those. ``(None, ("error", reason))``
        when it could not even be spawned (a name already taken, a bad start).
        """
        rt = self.runtime
        spec = ch.spec
        fn, args, kwargs = spec.start
        path = ch.path or self._path_of(ch)
        try:
            if spec._agent:
                return start_agent(
                    rt, fn, args, kwargs, name=spec.name, parent=self.pid, link=True, path=path,
                    kind=spec._kind,
                )
            pid = rt.spawn(fn, *args, name=spec.name, link=True, **kwargs)
            pid._path = path
            return pid, "ok"
        except Exception as e:
            if isinstance(e, NameTakenError):
                return None, ("error", ("already_started", e.process))
            return None, ("error", Crash.from_exception(e))

    def _path_of(self, ch: _Child) -> str:
        ch.path = path = f"{self.pid._path or self.pid.id}/{ch.spec.id}"
        return path

    def _started(self, ch: _Child, pid: Pid, outcome: Any) -> tuple[Any, ...]:
        """Record how a start ended: ``("ok", pid)`` | ``("ignore",)`` | ``("error", reason)``."""
        attempt = ch.attempts
        ch.attempts += 1
        if outcome == "ok":
            ch.pid = pid
            ch.restarting = False
            self._by_pid[pid] = ch
            spec = ch.spec
            self.runtime._emit_lean(
                _CHILD_START,
                self.pid,
                pid.id,
                None,
                _START_KEYS, spec.id, spec.restart, spec.type, attempt,
            )
            return ("ok", pid)
        if outcome == "ignore":
            ch.pid = None
            ch.restarting = False
            return ("ignore",)
        return ("error", outcome[1])

    async def _start(self, ch: _Child) -> tuple[Any, ...]:
        """Start one child and wait for its ``init``: ``("ok", pid)`` | ``("ignore",)`` | ``("error", reason)``."""
        pid, outcome = self._spawn(ch)
        if pid is None:
            return outcome
        if not isinstance(outcome, str | tuple):
            outcome = await self.runtime._await(outcome, self.pid)
        return self._started(ch, pid, outcome)

    # ------------------------------------------------------------------ exits
    # These handlers are plain functions: a one_for_one restart of a child whose
    # init is a plain ``def`` completes inside the runtime's run queue. Where they
    # must wait (stopping siblings, an ``async def init``, a backoff) they return
    # a coroutine, which the agent machinery runs to completion before the next
    # message.
    def handle_info(self, msg: Any) -> Any:
        t = type(msg)
        if t is Exit:
            pid = msg.pid
            ch = self._by_pid.pop(pid, None) if type(pid) is Pid else None
            if ch is None or ch.pid is not pid:
                return None  # not (or no longer) a child: ignored, as OTP does
            assert pid is not None
            ch.pid = None
            ch.last = pid.id
            reason = msg.reason
            spec = ch.spec
            restart = spec.restart
            if restart == PERMANENT or (restart == TRANSIENT and not is_shutdown_reason(reason)):
                self.runtime._emit_lean(_CHILD_TERMINATED, self.pid, pid.id, reason, _CHILD_KEYS, spec.id)
                return self._restart(ch, reason)
            return self._child_exited(ch, reason)
        if t is _TryAgain:
            ch = msg.child
            if ch.restarting and (ch in self._children or self._dynamic_has(ch)):
                return self._restart(ch, None, retry=True)
            return None
        if t is _Backoff:
            n = msg.n
            self._backoffs.pop(n, None)
            ch = msg.child
            group = msg.group
            if group is None:
                if ch.pending != n or not (ch in self._children or self._dynamic_has(ch)):
                    return None  # stopped by terminate_child meanwhile, or restarted since
                ch.pending = 0
                return self._restart_one(ch)
            # not those stopped by terminate_child meanwhile: they stay stopped
            group = [c for c in group if c.pending == n]
            if not group:
                return None
            for c in group:
                c.pending = 0
            return self._restart_group(ch, group)
        return None

    def _dynamic_has(self, ch: _Child) -> bool:
        return self._dynamic and ch.spec is not None

    def _child_exited(self, ch: _Child, reason: Any) -> Any:
        spec = ch.spec
        if spec.restart == PERMANENT or (
            spec.restart == TRANSIENT and not is_shutdown_reason(reason)
        ):
            self._report(K.CHILD_TERMINATED, ch, reason)
            return self._restart(ch, reason)
        if spec.restart == TEMPORARY:
            if not is_shutdown_reason(reason):
                self._report(K.CHILD_TERMINATED, ch, reason)
            self._remove(ch)
        elif self._dynamic:
            self._remove(ch)
        return self._auto_shutdown(ch)

    def _remove(self, ch: _Child) -> None:
        try:
            self._children.remove(ch)
        except ValueError:
            pass
        if ch.pid is not None:
            self._by_pid.pop(ch.pid, None)

    def _auto_shutdown(self, ch: _Child) -> Any:
        if not ch.spec.significant or self.auto_shutdown == "never":
            return None
        if self.auto_shutdown == "all_significant":
            # OTP's children_any/2 skips only pid undefined: a child being restarted
            # ({restarting, Pid}: a failed restart to retry, or a backoff) still counts
            for other in self._children:
                if (
                    other is not ch
                    and other.spec.significant
                    and (other.pid is not None or other.restarting)
                ):
                    return None
        self.runtime._emit(K.AUTO_SHUTDOWN, self.pid, None, None, {"child_id": ch.spec.id})
        return Stop(SHUTDOWN)

    def _add_restart(self) -> bool:
        """Count a restart; ``False`` means the supervisor must give up.

        OTP's ``add_restart/3`` keeps one list entry per restart and drops those
        older than ``now - period`` (whole seconds, inclusive). The clock is
        monotonic, so the same count is kept here as ``[second, n]`` buckets
        with the oldest on the left: O(1) per restart instead of O(restarts in
        the window), with identical results.
        """
        now = math.floor(self.runtime._now())
        rs = self._restarts
        if rs and rs[-1][0] == now:
            rs[-1][1] += 1
        else:
            rs.append([now, 1])
        n = self._nrestarts + 1
        threshold = now - self.period
        while rs[0][0] < threshold:
            n -= rs.popleft()[1]
        self._nrestarts = n
        return n <= self.intensity

    def _restart(self, ch: _Child, reason: Any, retry: bool = False) -> Any:
        """Count the restart (give up past intensity), report it, apply the strategy."""
        rt = self.runtime
        last = ch.last
        if not self._add_restart():
            self._gave_up = {
                "child_id": ch.spec.id,
                "reason": reason,
                "restarts": self._nrestarts,
                "intensity": self.intensity,
                "period": self.period,
                "time": rt.now(),
                # started by a process (its supervisor, or whoever linked it) or from outside
                "started_by": (
                    None
                    if self.pid._parent in (None, rt.root)
                    else describe(self.pid._parent)
                ),
            }
            rt._emit(
                K.SUPERVISOR_GAVE_UP,
                self.pid,
                last,
                reason,
                {
                    "child_id": ch.spec.id,
                    "restarts": self._nrestarts,
                    "intensity": self.intensity,
                    "period": self.period,
                },
            )
            ch.restarting = False
            if self._dynamic or ch.spec.restart == TEMPORARY:
                self._remove(ch)
            return Stop(SHUTDOWN)
        strategy = self.strategy
        if strategy == "one_for_one" or strategy == "simple_one_for_one":
            group = None
            affected = ch.alone
        else:
            if strategy == "one_for_all":
                group = list(self._children)
            else:
                idx = self._children.index(ch) if ch in self._children else 0
                group = self._children[idx:]
            if self._backoffs:
                group = self._take_over(group)
            affected = tuple(c.spec.id for c in group)
        values = (ch.spec.id, strategy, affected, self._nrestarts, self.intensity, self.period, retry)
        if self.backoff is None:
            rt._emit_lean(
                _RESTART, self.pid, last, reason,
                _RESTART_KEYS, *values,
            )
            if group is None:
                return self._restart_one(ch)
            return self._restart_group(ch, group)
        base, cap = self.backoff
        try:
            grown = math.ldexp(base, self._nrestarts - 1)  # base * 2**(n-1), exactly
        except OverflowError:  # past any float (over 1000 restarts in the window): capped
            grown = cap
        delay = min(cap, grown) * (0.5 + rt.random.random() / 2)
        rt._emit_lean(
            _RESTART, self.pid, last, reason,
            _RESTART_DELAY_KEYS, *values, delay,
        )
        return self._restart_later(ch, group, delay)

    def _take_over(self, group: list[_Child]) -> list[_Child]:
        """Backoff: the group of a restart about to be delayed, with the pending ones it overlaps.

        Their children join it, in start order; :meth:`_restart_later` then
        cancels their timers. So no child starts before one it is to start after.
        """
        older = {c.pending for c in group if c.pending}
        if not older:
            return group
        members = set(group)
        return [c for c in self._children if c in members or c.pending in older]

    def _restart_one(self, ch: _Child) -> Any:
        """one_for_one: start the child again; inline unless its init is ``async def``."""
        pid, outcome = self._spawn(ch)
        if pid is not None:
            if outcome == "ok":  # the common case, as _started does it
                attempt = ch.attempts
                ch.attempts = attempt + 1
                ch.pid = pid
                ch.restarting = False
                self._by_pid[pid] = ch
                spec = ch.spec
                self.runtime._emit_lean(
                    _CHILD_START,
                    self.pid,
                    pid.id,
                    None,
                    _START_KEYS, spec.id, spec.restart, spec.type, attempt,
                )
                return None
            if not isinstance(outcome, str | tuple):
                return self._restart_one_async(ch, pid, outcome)
            outcome = self._started(ch, pid, outcome)
        self._restarted_one(ch, outcome)
        return None

    async def _restart_one_async(self, ch: _Child, pid: Pid, fut: Any) -> None:
        outcome = await self.runtime._await(fut, self.pid)
        self._restarted_one(ch, self._started(ch, pid, outcome))

    def _restarted_one(self, ch: _Child, res: tuple[Any, ...]) -> None:
        if res[0] == "error":
            self._restart_failed(ch, res[1])
        elif res[0] == "ignore" and (self._dynamic or ch.spec.restart == TEMPORARY):
            self._remove(ch)

    async def _restart_group(self, ch: _Child, group: list[_Child]) -> None:
        """one_for_all / rest_for_one: stop the others (reverse order), then start in order."""
        others = [c for c in group if c is not ch]
        await self._terminate_list(list(reversed(others)))
        for c in [c for c in group if c in self._children]:
            if c.pid is not None:
                continue  # started meanwhile (a delayed restart of an overlapping group)
            res = await self._start(c)
            if res[0] == "error":
                self._restart_failed(c, res[1])
                return
            if res[0] == "ignore" and c.spec.restart == TEMPORARY:
                self._remove(c)

    async def _restart_later(self, ch: _Child, group: list[_Child] | None, delay: float) -> None:
        """Backoff: stop what the strategy stops now, start again after ``delay`` seconds.

        The wait is a timer message, so the supervisor keeps answering calls and
        can be shut down meanwhile; the child shows as ``"restarting"``.
        """
        rt = self.runtime
        self._nbackoffs = n = self._nbackoffs + 1
        if group is not None:
            # the pending restarts this one took over (_take_over) are dropped: their
            # timers are cancelled, which the trace shows as timer_cancel events
            for older in dict.fromkeys(c.pending for c in group if c.pending):
                timer = self._backoffs.pop(older, None)
                if timer is not None:
                    rt.cancel_timer(timer)
            others = [c for c in group if c is not ch]
            await self._terminate_list(list(reversed(others)))
            for c in group:
                if c.spec.restart != TEMPORARY:
                    c.restarting = True
                    c.pending = n
        ch.restarting = True
        ch.pending = n
        self._backoffs[n] = rt.send_after(self.pid, _Backoff(ch, group, n), delay)

    def _restart_failed(self, ch: _Child, reason: Any) -> None:
        ch.restarting = True
        ch.pid = None
        self._report(K.START_ERROR, ch, reason)
        # retried after the messages already queued, like OTP's cast to itself
        self.runtime._deliver(self.pid, _TryAgain(ch))

    def _report(self, kind: str, ch: _Child, reason: Any) -> None:
        who = ch.pid.id if ch.pid is not None else ch.last
        self.runtime._emit_lean(kind, self.pid, who, reason, _CHILD_KEYS, ch.spec.id)

    # ------------------------------------------------------------------ stopping
    async def terminate(self, reason: Any) -> None:
        if not hasattr(self, "_children"):
            return
        if self._dynamic:
            await self._terminate_concurrently(list(self._children))
            self._children.clear()
            self._by_pid.clear()
        else:
            await self._terminate_list(list(reversed(self._children)))

    async def _terminate_list(self, children: list[_Child]) -> None:
        """Stop children one after another (the order given), as OTP's terminate_children."""
        for ch in children:
            if ch.pid is not None:
                # also when it already exited by itself and its Exit is still queued: as
                # in OTP, the reason then comes from that Exit and is checked (reported
                # as shutdown_error unless it is one a stop expects)
                await self._shutdown(ch)
            ch.pid = None
            ch.restarting = False
            ch.pending = 0
            if ch.spec.restart == TEMPORARY:
                self._remove(ch)

    async def _shutdown(self, ch: _Child) -> None:
        rt = self.runtime
        me = self.pid
        pid = ch.pid
        assert pid is not None
        self._by_pid.pop(pid, None)
        ref = rt._monitor(me, pid)
        sh = ch.spec.shutdown

        def is_down(m: Any) -> bool:
            return type(m) is Down and m.ref is ref

        if sh == "brutal_kill":
            rt._signal(pid, me, KILL, link=False)
            down = await self.receive(is_down)
        else:
            rt._signal(pid, me, SHUTDOWN, link=False)
            try:
                down = await self.receive(is_down, None if sh == "infinity" else float(sh))
            except ReceiveTimeout:
                rt._signal(pid, me, KILL, link=False)
                down = await self.receive(is_down)
        reason = self._unlink_flush(pid, down.reason)
        if self._shutdown_failed(ch, reason):
            self._report(K.SHUTDOWN_ERROR, ch, reason)

    def _unlink_flush(self, pid: Pid, reason: Any) -> Any:
        rt = self.runtime
        me = self.pid
        rt._unlink(me, pid)
        mb = rt._mailbox(me) if me._st == _LONE else me._mbox
        if mb:
            for m in list(mb):
                if type(m) is Exit and m.pid is pid:
                    mb.remove(m)
                    reason = m.reason
        return reason

    def _shutdown_failed(self, ch: _Child, reason: Any) -> bool:
        """Whether a stopped child's exit reason is one its stop does not expect (OTP
        reports it as ``shutdown_error``)."""
        sh = ch.spec.shutdown
        if reason == (KILLED if sh == "brutal_kill" else SHUTDOWN):
            return False
        if ch.spec.restart != PERMANENT:
            return not (is_shutdown_reason(reason) or (sh == "brutal_kill" and reason == NORMAL))
        return True

    async def _terminate_concurrently(self, children: list[_Child]) -> None:
        """Dynamic children: signal all at once, kill the ones left when their timer fires.

        The exits a stop does not expect are reported once all have ended
        (:meth:`_report_stop_failures`), as OTP and Elixir do.
        """
        rt = self.runtime
        me = self.pid
        pending: dict[Any, _Child] = {}
        timers = {}
        failed: list[tuple[_Child, Any]] = []
        for ch in children:
            pid = ch.pid
            if pid is None:
                continue
            self._by_pid.pop(pid, None)
            if pid._st == _DEAD:
                # exited by itself, its Exit still queued
                reason = self._unlink_flush(pid, NOPROC)
                if self._dead_at_stop_failed(ch, reason):
                    failed.append((ch, reason))
                continue
            ref = rt._monitor(me, pid)
            pending[ref] = ch
            sh = ch.spec.shutdown
            if sh == "brutal_kill":
                rt._signal(pid, me, KILL, link=False)
            else:
                rt._signal(pid, me, SHUTDOWN, link=False)
                if sh != "infinity" and sh not in timers:
                    timers[sh] = rt.send_after(me, ("$shutdown_timeout", sh), float(sh))
        while pending:
            m = await self.receive(
                lambda m: (type(m) is Down and m.ref in pending)
                or (type(m) is tuple and len(m) == 2 and m[0] == "$shutdown_timeout")
            )
            if type(m) is Down:
                ch = pending.pop(m.ref)
                gone = m.pid
                assert gone is not None  # monitored by pid, so Down names it
                reason = self._unlink_flush(gone, m.reason)
                if self._shutdown_failed(ch, reason):
                    failed.append((ch, reason))
            else:
                for ch in pending.values():
                    if ch.spec.shutdown == m[1] and ch.pid is not None:
                        rt._signal(ch.pid, me, KILL, link=False)
        for t in timers.values():
            rt.cancel_timer(t, quiet=True)
        if failed:
            self._report_stop_failures(failed)

    def _dead_at_stop_failed(self, ch: _Child, reason: Any) -> bool:
        """simple_one_for_one: whether a child that exited by itself before the stop
        reached it is reported.

        OTP 25's terminate_dynamic_children/1 monitors it like the others and takes
        the reason of its queued EXIT (unlink_flush/2), so the reason is checked as
        any stop checks it: ``shutdown`` is never reported (checked on OTP 25.2.3).
        """
        return self._shutdown_failed(ch, reason)

    def _report_stop_failures(self, failed: list[tuple[_Child, Any]]) -> None:
        """simple_one_for_one: one ``shutdown_error`` per distinct reason for the whole pool.

        As OTP 25's terminate_dynamic_children/1, which reports each reason once with
        the template as offender and ``{nb_children, N}`` in place of a pid: the
        event names the template's id (``child_id``), no child pid, and counts the
        children that exited with that reason (``nb_children``). The reasons come in
        the order they were first seen.
        """
        groups: list[list[Any]] = []  # [reason, count], first seen first
        by_reason: dict[Any, list[Any]] = {}
        for _ch, reason in failed:
            try:
                group = by_reason.get(reason)
            except TypeError:  # an unhashable reason (a list, a dict): compared by ==
                group = next((g for g in groups if g[0] == reason), None)
                if group is None:
                    groups.append(group := [reason, 0])
            else:
                if group is None:
                    groups.append(group := [reason, 0])
                    by_reason[reason] = group
            group[1] += 1
        template = self._template
        ident = template.id if template is not None else None
        for reason, n in groups:
            self.runtime._emit_lean(K.SHUTDOWN_ERROR, self.pid, None, reason, _POOL_KEYS, ident, n)

    # ------------------------------------------------------------------ admin API (in-process)
    async def handle_call(self, request: Any, caller: Any) -> Any:
        if request is GET_STATE:
            return "ok"
        op = request[0] if isinstance(request, tuple) else request
        if op == "which_children":
            return self._which()
        if op == "count_children":
            return self._count()
        if op == "start_child":
            return await self._api_start_child(request[1])
        if op == "terminate_child":
            return await self._api_terminate_child(request[1])
        if op == "restart_child":
            return await self._api_restart_child(request[1])
        if op == "delete_child":
            return self._api_delete_child(request[1])
        if op == "why":
            return self._gave_up
        raise SupervisorError(f"unknown supervisor request {request!r}", process=self.pid)

    def _find(self, ident: Any) -> _Child | None:
        for ch in self._children:
            if ch.spec.id == ident:
                return ch
        return None

    def _which(self) -> list[tuple[Any, Any, str]]:
        out = []
        for ch in reversed(self._children):
            state: Any = "restarting" if ch.restarting else ch.pid
            out.append((None if self._dynamic else ch.spec.id, state, ch.spec.type))
        return out

    def _count(self) -> dict[str, int]:
        sups = sum(1 for c in self._children if c.spec.type == "supervisor")
        if self._dynamic:
            active = sum(1 for c in self._children if c.pid is not None and not c.restarting)
        else:
            # OTP's count_child/2: a pid that is alive (one that exited and whose Exit
            # is still queued behind this call is not active)
            active = sum(1 for c in self._children if c.pid is not None and c.pid._st != _DEAD)
        return {
            "specs": 1 if self._dynamic else len(self._children),
            "active": active,
            "supervisors": sups,
            "workers": len(self._children) - sups,
        }

    async def _api_start_child(self, child: Any) -> Any:
        # OTP's handle_call({start_child, Spec}) runs check_childspec first and replies
        # {error, Reason} to a bad spec: the supervisor and its children are untouched
        if self._dynamic:
            assert self._template is not None
            spec = self._template
            if isinstance(child, dict | ChildSpec):  # changes to the template, or a spec
                try:
                    if isinstance(child, dict):
                        _check_keys(child)
                        spec = spec.replace(**child)
                    else:
                        spec = child
                    self._check_significant(spec)
                except SupervisorError as e:
                    return ("error", _reason(e, child))
            elif isinstance(child, tuple | list):  # extra start arguments (OTP: a list)
                fn, args, kw = spec.start
                spec = spec.replace(start=(fn, tuple(args) + tuple(child), kw))
            elif child is not None:
                return ("error", ("invalid_child_spec", child))
            if self.max_children is not None and len(self._children) >= self.max_children:
                return ("error", "max_children")
            ch = _Child(spec)
            res = await self._start(ch)
            if res[0] == "ok":
                self._children.append(ch)
                return res
            if res[0] == "ignore":
                return ("ok", None)
            return res
        try:
            spec = _as_spec(child)
            self._check_significant(spec)
        except SupervisorError as e:
            return ("error", _reason(e, child))
        existing = self._find(spec.id)
        if existing is not None:
            if existing.pid is not None:
                return ("error", ("already_started", existing.pid))
            return ("error", "already_present")
        ch = _Child(spec)
        res = await self._start(ch)
        if res[0] == "ok":
            self._children.append(ch)
            return res
        if res[0] == "ignore":
            if spec.restart != TEMPORARY:
                self._children.append(ch)
            return ("ok", None)
        return ("error", (res[1], spec))

    async def _api_terminate_child(self, ident: Any) -> Any:
        if self._dynamic:
            if type(ident) is not Pid:
                return ("error", "simple_one_for_one")
            ch = self._by_pid.get(ident)
            if ch is None:
                ch = self._restarting_child(ident)
                if ch is not None:
                    # its restart failed and waits for a retry (or a backoff): it is
                    # forgotten and never started again (OTP's find_child/2 finds
                    # {restarting, Pid} by the old pid; Elixir keys it by that pid too)
                    self._remove(ch)
                    ch.restarting = False
                    ch.pending = 0
                    return "ok"
                return "ok" if ident._st == _DEAD else ("error", "not_found")
            await self._shutdown(ch)
            self._remove(ch)
            ch.pid = None
            return "ok"
        ch = self._find(ident)
        if ch is None:
            return ("error", "not_found")
        if ch.pid is not None:
            await self._shutdown(ch)
        ch.pid = None
        ch.restarting = False
        ch.pending = 0
        if ch.spec.restart == TEMPORARY:
            self._remove(ch)
        return "ok"

    def _restarting_child(self, pid: Pid) -> _Child | None:
        """Dynamic: the child being restarted whose last incarnation was ``pid``, if any."""
        ident = pid.id
        for ch in self._children:
            if ch.restarting and ch.pid is None and ch.last == ident:
                return ch
        return None

    async def _api_restart_child(self, ident: Any) -> Any:
        if self._dynamic:
            return ("error", "simple_one_for_one")
        ch = self._find(ident)
        if ch is None:
            return ("error", "not_found")
        if ch.restarting:
            return ("error", "restarting")
        if ch.pid is not None:
            return ("error", "running")
        res = await self._start(ch)
        if res[0] == "ok":
            return res
        if res[0] == "ignore":
            return ("ok", None)
        return ("error", res[1])

    def _api_delete_child(self, ident: Any) -> Any:
        if self._dynamic:
            return ("error", "simple_one_for_one")
        ch = self._find(ident)
        if ch is None:
            return ("error", "not_found")
        if ch.restarting:
            return ("error", "restarting")
        if ch.pid is not None:
            return ("error", "running")
        self._children.remove(ch)
        return "ok"

    # ------------------------------------------------------------------ admin API (callers)
    @staticmethod
    async def start_child(sup: Pid | str, child: Any, *, runtime: Any = None) -> Pid | None:
        """Add and start a child (static: a spec; simple_one_for_one: a tuple or list
        of start arguments added to the template's, a dict of changes to the
        template, or ``None``).

        Returns the pid, or ``None`` if its init returned ``IGNORE``; raises
        :class:`SupervisorError` with OTP's reason (``already_present``,
        ``("already_started", pid)``, ``max_children``, the start error, or why
        the spec is invalid: ``missing_id``, ``missing_start``,
        ``("invalid_child_spec", spec)``, ``("invalid_mfa", start)``,
        ``("invalid_restart_type", r)``, ``("invalid_significant", v)``,
        ``("invalid_child_type", t)``, ``("invalid_shutdown", s)``,
        ``("bad_combination", [...])``). An invalid
        spec is refused here when it can be told without the supervisor, and by
        the supervisor otherwise; either way the supervisor and its children
        carry on.
        """
        if isinstance(child, dict):
            _check_before_call(sup, _check_changes, child)
        res = await _sup_call(sup, ("start_child", child), runtime)
        if res == "ignore":  # a DynamicSupervisor's child returned IGNORE
            return None
        if res[0] == "ok":
            return res[1]
        raise _api_error(sup, "start_child", res[1])

    @staticmethod
    async def terminate_child(sup: Pid | str, ident: Any, *, runtime: Any = None) -> None:
        """Stop a child (by id; by pid for dynamic supervisors). It is not restarted.

        A dynamic child that is being restarted (its restart failed and waits for a
        retry, or waits for its backoff) is addressed by the pid it last ran as, and
        is forgotten, as in OTP and Elixir.
        """
        res = await _sup_call(sup, ("terminate_child", ident), runtime)
        if res != "ok":
            raise _api_error(sup, "terminate_child", res[1])

    @staticmethod
    async def restart_child(sup: Pid | str, ident: Any, *, runtime: Any = None) -> Pid | None:
        """Start a stopped child again (static supervisors only)."""
        res = await _sup_call(sup, ("restart_child", ident), runtime)
        if res[0] == "ok":
            return res[1]
        raise _api_error(sup, "restart_child", res[1])

    @staticmethod
    async def delete_child(sup: Pid | str, ident: Any, *, runtime: Any = None) -> None:
        """Forget a stopped child's spec."""
        res = await _sup_call(sup, ("delete_child", ident), runtime)
        if res != "ok":
            raise _api_error(sup, "delete_child", res[1])

    @staticmethod
    async def which_children(sup: Pid | str, *, runtime: Any = None) -> list[tuple[Any, Any, str]]:
        """``[(id, pid | "restarting" | None, type)]``, most recently started first (OTP order)."""
        return await _sup_call(sup, ("which_children",), runtime)

    @staticmethod
    async def count_children(sup: Pid | str, *, runtime: Any = None) -> dict[str, int]:
        """``{"specs", "active", "supervisors", "workers"}``."""
        return await _sup_call(sup, ("count_children",), runtime)

    @staticmethod
    async def why(sup: Pid | str, *, runtime: Any = None) -> str:
        """A readable account of why this supervisor gave up (or that it has not).

        Works on a supervisor that is still running, on the pid of one that has
        exited, and on the name of one that gave up (found in the event log).
        """
        rt = _runtime_of(sup, runtime)
        if rt._resolve(sup) is not None:
            return explain_give_up(sup, await rt.call(sup, ("why",), timeout=None))
        if type(sup) is Pid:
            beh = sup._beh
            if isinstance(beh, Supervisor) and beh._start_refusal is not None:
                return f"supervisor {describe(sup)} did not start: {beh._start_refusal}."
            info = beh._gave_up if isinstance(beh, Supervisor) and hasattr(beh, "_gave_up") else None
            if info is None:
                return (
                    f"supervisor {describe(sup)} did not give up; it exited with "
                    f"{sup.exit_reason!r}."
                )
            return explain_give_up(sup, info)
        events = rt.events.list()
        for ev in reversed(events):
            if ev.kind == K.SUPERVISOR_GAVE_UP and ev.name == sup:
                d = ev.data or {}
                spawn = next((e for e in events if e.kind == K.SPAWN and e.pid == ev.pid), None)
                info = {
                    "child_id": d.get("child_id"),
                    "reason": ev.reason,
                    "restarts": d.get("restarts"),
                    "intensity": d.get("intensity"),
                    "period": d.get("period"),
                    "time": ev.time,
                }
                if spawn is not None:  # (its spawn may have left the log)
                    info["started_by"] = None if spawn.peer is None else f"<0.{spawn.peer}.0>"
                return explain_give_up(sup, info)
        raise NoProcessError(
            f"no supervisor is registered as {sup!r}, and the event log has no record of one "
            "by that name giving up. Check the name, or pass the supervisor's pid.",
            process=sup,
        )

    def describe_state(self) -> str:
        if not hasattr(self, "strategy"):
            return "starting"
        return (
            f"{self.strategy}, {len(self._children)} children, "
            f"{self._restarts_in_window()}/{self.intensity} restarts in {self.period}s"
        )

    def _restarts_in_window(self) -> int:
        """How many restarts the window holds now: those :meth:`_add_restart` would still count."""
        threshold = math.floor(self.runtime._now()) - self.period
        return sum(n for second, n in self._restarts if second >= threshold)


def _who(sup: Any) -> str:
    """``'name' <0.N.0>`` for a pid, the quoted name for a name."""
    return describe(sup) if isinstance(sup, Pid) else repr(sup)


def explain_give_up(sup: Any, info: dict[str, Any] | None) -> str:
    """Turn a supervisor's give-up record into a sentence a person can act on."""
    if info is None:
        return f"supervisor {_who(sup)} has not given up."
    return (
        f"supervisor {_who(sup)} gave up at "
        f"t={info['time']:.3f}s: child {info['child_id']!r} exited with {info['reason']!r}, and "
        f"that was restart number {info['restarts']} within {info['period']}s, more than its "
        f"intensity of {info['intensity']}. It stopped its other children in reverse start "
        f"order and exited with 'shutdown', {_next(info)}. Fix the child's crash, or raise "
        "intensity/period (or add backoff=) if the failures are transient."
    )


def _next(info: dict[str, Any]) -> str:
    """Who reacts to a supervisor's give-up: the process that started it (its own
    supervisor, which restarts it or gives up in turn), or nobody."""
    parent = info.get("started_by", ...)
    if parent is ...:  # a record from before started_by was kept
        return "which the processes linked to it (its own supervisor, if any) handle next"
    if parent is None:
        return (
            "and nothing restarts it: it was started from outside any process (a cell or a "
            "script), so no supervisor is above it; start it again"
        )
    return f"which {parent}, the process that started it, handles next"


def _runtime_of(sup: Pid | str, runtime: Any) -> Any:
    if runtime is not None:
        return runtime
    if type(sup) is Pid and sup._rt is not None:
        return sup._rt
    from ._runtime import current_runtime

    return current_runtime()


async def _sup_call(sup: Pid | str, request: tuple[Any, ...], runtime: Any) -> Any:
    return await _runtime_of(sup, runtime).call(sup, request, timeout=None)


def _check_before_call(sup: Any, check: Callable[[Any], Any], child: Any) -> None:
    """Refuse a bad spec in the caller, with the error the supervisor would reply."""
    try:
        check(child)
    except SupervisorError as e:
        raise _api_error(sup, "start_child", _reason(e, child)) from None


_SPEC_FORMS = (
    "a ChildSpec, an Agent subclass, or a dict with 'id', 'start' and any of 'restart', "
    "'shutdown', 'type', 'significant', 'name'"
)


_HINTS = {
    "already_present": "the id is known but not running: use restart_child, or delete_child first",
    "not_found": "no child has that id",
    "running": "it is running: terminate_child first",
    "restarting": "it is being restarted right now; try again later",
    "max_children": "the dynamic supervisor is full (max_children)",
    "simple_one_for_one": "dynamic supervisors address children by pid and cannot restart them",
    # the child spec is invalid (OTP's check_childspec): nothing was started or changed
    "missing_id": "the child spec has no 'id': give it one and call again",
    "missing_start": f"the child spec has no 'start': give it {_START_FORMS}",
    "invalid_child_spec": f"not a child spec: pass {_SPEC_FORMS}",
    "invalid_mfa": f"the child spec's 'start' must be {_START_FORMS}",
    "invalid_restart_type": "the child spec's 'restart' must be 'permanent', 'transient' or "
    "'temporary'",
    "invalid_significant": "the child spec's 'significant' must be True or False",
    "invalid_child_type": "the child spec's 'type' must be 'worker' or 'supervisor'",
    "invalid_shutdown": "the child spec's 'shutdown' must be seconds >= 0, 'brutal_kill' or "
    "'infinity'",
    "bad_combination": "significant=True needs restart 'transient' or 'temporary' and a "
    "supervisor with auto_shutdown 'any_significant' or 'all_significant'",
    "duplicate_child_name": "two children in one list have the same id: give each its own",
    # the child is a supervisor that refused its own flags, or a pool's list
    "supervisor_data": "the child is a supervisor that refused one of its flags (strategy, "
    "intensity, period, auto_shutdown, max_children): fix it in the child's start",
    "bad_start_spec": "the child is a simple_one_for_one supervisor whose list is not one "
    "template: give it exactly one spec",
}


def _hint(reason: Any) -> str:
    """What the user can do about an admin API refusal (OTP's reason)."""
    if (
        isinstance(reason, tuple)
        and len(reason) == 2
        and isinstance(reason[1], ChildSpec)
        and isinstance(reason[0], tuple)
        and reason[0][:1] in (("start_spec",), ("supervisor_data",), ("bad_start_spec",))
    ):
        reason = reason[0]  # a static supervisor's start error: (reason, the child's spec)
    key = reason[0] if isinstance(reason, tuple) and reason else reason
    if key == "start_spec" and len(reason) == 2:
        # the child is a supervisor whose own child list (or template) holds a bad spec
        return (
            "the child is a supervisor that refused a spec in its own child list, so it "
            f"started nothing: {_hint(reason[1])}. Fix that spec and call again"
        )
    return _HINTS.get(key, "see the reason") if isinstance(key, str) else "see the reason"


def _api_error(sup: Any, op: str, reason: Any) -> SupervisorError:
    err = SupervisorError(
        f"{op} on supervisor {describe(sup) if isinstance(sup, Pid) else repr(sup)} failed: "
        f"{reason!r} ({_hint(reason)}).",
        process=sup,
    )
    err.reason = reason  # type: ignore[attr-defined]
    return err


# Elixir's DynamicSupervisor options, by agentlab's (OTP's) names for them
_ELIXIR_NAMES = {"max_restarts": "intensity", "max_seconds": "period"}


class DynamicSupervisor(Supervisor):
    """Elixir's DynamicSupervisor: no children at start, ``start_child`` on demand.

    Always one_for_one; children are addressed by pid; ``max_children`` caps
    how many run (a child being restarted keeps its slot); default intensity is
    3 restarts in 5 s. Children are stopped concurrently.

    ::

        dsup = rt.start(DynamicSupervisor, max_children=100)
        pid = await DynamicSupervisor.start_child(dsup, ChildSpec("w", Worker))
    """

    _default_intensity = 3

    async def init(  # type: ignore[override]
        self,
        *,
        intensity: int | None = None,
        period: float = 5,
        max_children: int | None = None,
        backoff: tuple[float, float] | None = None,
        strategy: str = "one_for_one",
        auto_shutdown: str = "never",
        **_ignored: Any,
    ) -> Any:
        # Elixir: strategy is only :one_for_one and auto_shutdown only :never. An unknown
        # option is refused, as Supervisor refuses one: ignored, Elixir's names for these
        # options would leave the defaults in place without a word
        for given in ("children", "child"):
            if given in _ignored:
                raise SupervisorError(
                    f"a DynamicSupervisor starts with no children and has no template, so "
                    f"{given}= would be ignored: start each child with "
                    "DynamicSupervisor.start_child(sup, spec); for a fixed list, use "
                    "rt.start(Supervisor, [spec, ...]); for a pool made from one template, "
                    "Supervisor with strategy='simple_one_for_one' and child=<template>"
                )
        if _ignored:
            named = [f"{k}= (use {_ELIXIR_NAMES[k]}=)" if k in _ELIXIR_NAMES else f"{k}="
                     for k in sorted(_ignored)]
            raise SupervisorError(
                f"a DynamicSupervisor has no option {', '.join(named)}: it takes "
                "intensity=, period=, max_children= and backoff="
            )
        if strategy != "one_for_one":
            raise SupervisorError(
                f"a DynamicSupervisor's strategy is always 'one_for_one', got {strategy!r}"
            )
        if auto_shutdown != "never":
            raise SupervisorError(
                f"a DynamicSupervisor's auto_shutdown can only be 'never', got {auto_shutdown!r}"
            )
        res = await Supervisor.init(
            self,
            (),
            strategy="one_for_one",
            intensity=intensity,
            period=period,
            max_children=max_children,
            backoff=backoff,
        )
        self._dynamic = True
        self._template = None
        return res

    @staticmethod
    async def start_child(sup: Pid | str, child: Any, *, runtime: Any = None) -> Pid | None:
        """Start a child from a spec; see :meth:`Supervisor.start_child` for results and errors.

        The spec is checked before the call, as Elixir's ``start_child/2`` does.
        """
        if not isinstance(child, ChildSpec):
            _check_before_call(sup, _as_spec, child)
        return await Supervisor.start_child(sup, child, runtime=runtime)

    async def _api_start_child(self, child: Any) -> Any:
        try:
            spec = _as_spec(child)
        except SupervisorError as e:  # refused, as Elixir's validate_child/1 does
            return ("error", _reason(e, child))
        if self.max_children is not None and len(self._children) >= self.max_children:
            return ("error", "max_children")
        ch = _Child(spec)
        res = await self._start(ch)
        if res[0] == "ok":
            self._children.append(ch)
            return res
        if res[0] == "ignore":
            return "ignore"  # Elixir replies :ignore (OTP's static supervisors {ok, undefined})
        return res

    def _dead_at_stop_failed(self, ch: _Child, reason: Any) -> bool:
        # Elixir's monitor_children/2 (monitor_child/1 finds its EXIT before any signal):
        # any reason but normal of a non-permanent child is reported, even shutdown
        # (checked on Elixir 1.14), unlike simple_one_for_one
        return reason != NORMAL or ch.spec.restart == PERMANENT

    def _report_stop_failures(self, failed: list[tuple[_Child, Any]]) -> None:
        # Elixir's terminate_children/2: one report per child (naming its pid), unlike
        # OTP's simple_one_for_one, made once all of them have exited
        for ch, reason in failed:
            self._report(K.SHUTDOWN_ERROR, ch, reason)

    def _count(self) -> dict[str, int]:
        c = Supervisor._count(self)
        c["specs"] = len(self._children)
        return c

    async def _api_terminate_child(self, ident: Any) -> Any:
        # Elixir: a pid that is not (or no longer) a child is {:error, :not_found}; a
        # child being restarted is still known by its old pid
        if (
            type(ident) is Pid
            and ident not in self._by_pid
            and self._restarting_child(ident) is None
        ):
            return ("error", "not_found")
        ch = self._by_pid.get(ident) if type(ident) is Pid else None
        if ch is not None and ident._st == _DEAD:
            # it exited by itself and its Exit is queued behind this call: Elixir's
            # terminate_child/2 stops it as terminate_children/2 does, whose
            # monitor_child/1 takes that Exit, so it is checked as at a stop
            reason = self._unlink_flush(ident, NOPROC)
            if self._dead_at_stop_failed(ch, reason):
                self._report(K.SHUTDOWN_ERROR, ch, reason)
            self._remove(ch)  # (forgets its pid too)
            ch.pid = None
            return "ok"
        return await Supervisor._api_terminate_child(self, ident)


def spec_for(fn: Callable[..., Any]) -> ChildSpec:  # pragma: no cover - convenience
    return ChildSpec(getattr(fn, "__name__", "child"), fn)


_ = IGNORE
