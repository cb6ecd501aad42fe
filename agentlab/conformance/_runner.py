"""The scenario interpreter.

It plays the role of the Erlang runner: a collector that numbers every event
in one ordered log, workers that log ``start``/``init``/``terminate``/``info``,
a monitor on every process for ``down`` lines, and supervisor reports taken
from the runtime's event stream. Everything runs on a :class:`VirtualClock`,
so ``sleep_ms`` and shutdown timeouts cost no wall time.
"""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path
from typing import Any

from .._agent import IGNORE, Agent, Stop
from .._clock import VirtualClock
from .._events import EventKind as K
from .._reasons import KILL, SHUTDOWN, format_term
from .._runtime import _BUSY, Exit, Pid, Runtime, _SysStop
from .._supervisor import GET_STATE, DynamicSupervisor, Supervisor

__all__ = ["ScenarioError", "arun_scenario", "run_scenario", "run_scenario_file"]


class ScenarioError(ValueError):
    """The scenario file is not valid in the scenario language; the message says where."""


def reason_of(v: Any) -> Any:
    """JSON value -> exit reason: "boom" -> "boom", {"shutdown": x} -> ("shutdown", x), [a, b] -> (a, b)."""
    if isinstance(v, str):
        return v
    if isinstance(v, dict):
        if set(v) != {"shutdown"}:
            raise ScenarioError(f"a reason object must be {{'shutdown': R}}, got {v!r}")
        return (SHUTDOWN, reason_of(v["shutdown"]))
    if isinstance(v, list):
        return tuple(reason_of(x) for x in v)
    if isinstance(v, int | float) and not isinstance(v, bool):
        return v
    raise ScenarioError(f"cannot read {v!r} as an exit reason")


class _Log:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.ids: dict[str, Pid] = {}
        self.last: dict[str, Pid] = {}
        self.num2id: dict[int, str] = {}  # every pid ever registered, by Pid.id (as events name it)
        self.sups: dict[str, tuple[Pid, str]] = {}
        self.templates: dict[str, dict[str, Any]] = {}
        self.attempts: dict[str, int] = {}
        self.rt: Runtime | None = None

    def add(self, line: str) -> None:
        self.lines.append(line)

    def register(self, ident: str, pid: Pid, sup_kind: str | None = None) -> None:
        self.ids[ident] = pid
        self.last[ident] = pid
        self.num2id[pid.id] = ident
        if sup_kind is not None:
            self.sups[ident] = (pid, sup_kind)
        self.add(f"start {ident}")
        assert self.rt is not None
        self.rt.watch(pid, self._down)

    def _down(self, pid: Pid, reason: Any) -> None:
        ident = self.num2id.get(pid.id, "unknown")
        if self.ids.get(ident) is pid:
            del self.ids[ident]
        sup = self.sups.get(ident)
        if sup is not None and sup[0] is pid:
            del self.sups[ident]
        self.add(f"down {ident} {format_term(reason)}")

    def on_event(self, ev: Any) -> None:
        kind = ev.kind
        if kind == K.CHILD_TERMINATED:
            ctx, r = "child_terminated", format_term(ev.reason)
        elif kind == K.START_ERROR:
            ctx, r = "start_error", format_term(ev.reason)
        elif kind == K.SUPERVISOR_GAVE_UP:
            ctx, r = "shutdown", "reached_max_restart_intensity"
        elif kind == K.SHUTDOWN_ERROR:
            ctx, r = "shutdown_error", format_term(ev.reason)
        else:
            return
        sup = self.num2id.get(ev.pid, "unknown")
        # as the escript names the offender: its id, else the scenario id of its pid
        # (simple_one_for_one children have no id), else "?" (a simple_one_for_one
        # pool's shutdown_error names no pid: OTP's offender is {nb_children, N})
        child = ev.data["child_id"]
        if child is None:
            child = self.num2id.get(ev.peer, "?")
        self.add(f"report {sup} {ctx} {child} {r}")


def _init_action(cfg: dict[str, Any], n: int) -> Any:
    seq = cfg.get("init_seq")
    a = seq[min(n, len(seq)) - 1] if seq else cfg.get("init", "ok")
    if a == "ok":
        return "ok"
    if a == "ignore":
        return "ignore"
    if a == "error":
        return ("error", "init_failed")
    if isinstance(a, dict) and "error" in a:
        return ("error", reason_of(a["error"]))
    raise ScenarioError(f"child {cfg.get('id')!r}: unknown init value {a!r}")


class _Worker(Agent):
    """The scenario's gen_server worker."""

    log: _Log

    def init(self, cfg: dict[str, Any], log: _Log, extra: dict[str, Any] | None = None) -> Any:
        if extra is not None:  # simple_one_for_one: start_child's object over the template
            cfg = cfg | extra
        self.cfg = cfg
        self.ident = str(cfg["id"])
        self.log = log
        n = log.attempts[self.ident] = log.attempts.get(self.ident, 0) + 1
        self.trap_exit = bool(cfg.get("trap_exit", True))
        action = _init_action(cfg, n)
        if action == "ok":
            log.register(self.ident, self.pid)
            return None
        if action == "ignore":
            log.add(f"init {self.ident} ignore")
            return IGNORE
        log.add(f"init {self.ident} error {format_term(action[1])}")
        return Stop(action[1])

    def handle_cast(self, msg: Any) -> Any:
        return Stop(msg[1])

    def handle_call(self, request: Any, caller: Any) -> Any:
        return "pong"

    def handle_info(self, msg: Any) -> Any:
        if type(msg) is Exit:
            self.log.add(f"info {self.ident} exit_signal {format_term(msg.reason)}")
        return None

    def terminate(self, reason: Any) -> Any:
        self.log.add(f"terminate {self.ident} {format_term(reason)}")
        ms = self.cfg.get("terminate_ms", 0)
        if ms:
            return self.sleep(ms / 1000)
        return None


class _Token:
    """A runner-only message, told apart by identity."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


_SUSPEND = _Token("suspend")
_RESUME = _Token("resume")


class _Suspendable:
    """The ``suspend``/``resume`` steps: OTP's ``sys:suspend/2`` and ``sys:resume/2``.

    A suspended gen_server handles nothing but system messages and an exit signal
    from its parent, which stops it as usual; everything else (its children's
    exits too) waits in its mailbox until it is resumed. Here the supervisor
    sits in a selective receive for the resume token or its parent's exit.
    """

    pid: Pid

    def handle_cast(self, msg: Any) -> Any:
        if msg is _SUSPEND:
            return self._suspended()
        return super().handle_cast(msg)  # type: ignore[misc]

    async def _suspended(self) -> Any:
        parent = self.pid._parent

        def wakes(m: Any) -> bool:
            return m is _RESUME or type(m) is _SysStop or (type(m) is Exit and m.pid is parent)

        m = await self.receive(wakes)  # type: ignore[attr-defined]
        if m is _RESUME:
            return None
        return Stop(m.reason)


class _ScnSupervisor(_Suspendable, Supervisor):
    ident: str
    log: _Log
    kind: str

    def _on_started(self) -> None:
        self.log.register(self.ident, self.pid, self.kind)

    async def init(self, cfg: dict[str, Any], log: _Log) -> Any:  # type: ignore[override]
        self.ident = str(cfg["id"])
        self.log = log
        strategy = cfg.get("strategy", "one_for_one")
        self.kind = "simple" if strategy == "simple_one_for_one" else "static"
        log.templates[self.ident] = cfg.get("child", {})
        kw = _flags(cfg, "intensity", "period", "auto_shutdown")
        kw["strategy"] = strategy
        if strategy == "simple_one_for_one":
            kw["child"] = _spec(cfg.get("child", {}) | {"id": None}, log)
            return await Supervisor.init(self, (), **kw)
        children = [_spec(c, log) for c in cfg.get("children", [])]
        return await Supervisor.init(self, children, **kw)


class _ScnDynamic(_Suspendable, DynamicSupervisor):
    ident: str
    log: _Log

    def _on_started(self) -> None:
        self.log.register(self.ident, self.pid, "dynamic")

    async def init(self, cfg: dict[str, Any], log: _Log) -> Any:  # type: ignore[override]
        self.ident = str(cfg["id"])
        self.log = log
        log.templates[self.ident] = cfg.get("child", {})
        kw = _flags(cfg, "intensity", "period", "max_children")
        return await DynamicSupervisor.init(self, **kw)


def _flags(cfg: dict[str, Any], *names: str) -> dict[str, Any]:
    """The supervisor flags a scenario sets (the others keep their defaults)."""
    return {k: cfg[k] for k in names if k in cfg}


def _sup_class(cfg: dict[str, Any]) -> type[Agent]:
    return _ScnDynamic if cfg.get("strategy") == "dynamic" else _ScnSupervisor


def _shutdown_of(v: Any) -> Any:
    if isinstance(v, int) and not isinstance(v, bool):
        return v / 1000
    if v in ("brutal_kill", "infinity"):
        return v
    raise ScenarioError(f"shutdown must be milliseconds, 'brutal_kill' or 'infinity', got {v!r}")


def _spec(c: dict[str, Any], log: _Log) -> dict[str, Any]:
    """The child spec, as a dict the supervisor checks (OTP's map child spec), so a
    value it refuses comes back as the supervisor's reply, as in OTP. ``significant``
    is passed as given: only true and false are valid."""
    if "id" not in c:
        raise ScenarioError(f"child object without an id: {c!r}")
    kind = c.get("type", "worker")
    spec: dict[str, Any] = {"id": c["id"], "restart": c.get("restart", "permanent"), "type": kind}
    if "shutdown" in c:
        spec["shutdown"] = _shutdown_of(c["shutdown"])
    if "significant" in c:
        spec["significant"] = c["significant"]
    if kind == "supervisor":
        if "supervisor" not in c:
            raise ScenarioError(f"child {c['id']!r} has type supervisor but no 'supervisor' object")
        sub = dict(c["supervisor"])
        sub["id"] = c["id"]
        spec["start"] = (_sup_class(sub), (sub, log), {})
        return spec
    if kind != "worker":
        raise ScenarioError(f"child {c['id']!r}: unknown type {kind!r}")
    spec["start"] = (_Worker, (c, log), {})
    return spec


def _fmt_result(res: Any) -> str:
    return format_term(res)


_VERBS = frozenset(
    {
        "crash", "stop", "kill", "exit_signal", "stop_sup", "sleep_ms", "start_child",
        "terminate_child", "restart_child", "delete_child", "which_children", "count_children",
        "sleep_until_ms", "suspend", "resume",
    }
)


class _Player:
    def __init__(self, rt: Runtime, log: _Log, root_id: str) -> None:
        self.rt = rt
        self.log = log
        self.root_id = root_id
        self.suspended: set[Pid] = set()

    async def settle(self) -> None:
        """Wait for quiescence as the Erlang runner does: call every live supervisor,
        round after round, until a round adds no event. Virtual time is held while
        polling (in OTP this takes microseconds) and runs only while a supervisor
        is busy and the call has to wait for it."""
        rt = self.rt
        prev = -1
        rt.hold_time()
        try:
            for rnd in range(1000):
                for pid, _kind in list(self.log.sups.values()):
                    # a suspended supervisor answers sys:get_state in OTP but does nothing
                    # else, so there is nothing to wait for
                    if pid.alive and pid not in self.suspended:
                        busy = pid._st == _BUSY
                        if busy:
                            rt.hold_time(False)
                        try:
                            await rt.call(pid, GET_STATE, timeout=None)
                        except Exception:
                            pass
                        finally:
                            if busy:
                                rt.hold_time()
                await rt._settled()
                n = len(self.log.lines)
                if n == prev and rnd >= 2:
                    return
                prev = n
        finally:
            rt.hold_time(False)

    async def wait_dead(self, pid: Pid) -> None:
        await self.rt.wait(pid)

    def process(self, ident: str) -> Pid | None:
        """The live process for a scenario id, or None after logging ``result no_process``."""
        pid = self.log.ids.get(ident)
        if pid is None:
            self.log.add(f"result no_process {ident}")
        return pid

    def supervisor(self, sup_id: str) -> tuple[Pid, str] | None:
        """The live supervisor ``(pid, kind)``, or None after logging ``result no_process``."""
        sup = self.log.sups.get(sup_id)
        if sup is None:
            self.log.add(f"result no_process {sup_id}")
        elif sup[0] in self.suspended:
            # in OTP the call would wait for ever
            raise ScenarioError(f"{sup_id!r} is suspended: resume it before calling its API")
        return sup

    async def step(self, step: dict[str, Any]) -> None:
        rt, log = self.rt, self.log
        actions = [k for k in step if k in _VERBS]
        if len(actions) != 1:
            raise ScenarioError(
                f"a step needs exactly one action key out of {sorted(_VERBS)}, got {sorted(step)}"
            )
        verb = actions[0]
        arg = step[verb]
        if verb in ("crash", "stop"):
            ident = str(arg)
            r = reason_of(step.get("reason", "boom" if verb == "crash" else "normal"))
            log.add(f"step {verb} {ident} {format_term(r)}")
            pid = self.process(ident)
            if pid is None:
                return
            rt.cast(pid, ("crash", r))
            await self.wait_dead(pid)
            await self.settle()
        elif verb == "kill":
            ident = str(arg)
            log.add(f"step kill {ident}")
            pid = self.process(ident)
            if pid is None:
                return
            rt.exit(pid, KILL)
            await self.wait_dead(pid)
            await self.settle()
        elif verb == "exit_signal":
            ident = str(arg)
            r = reason_of(step.get("reason", "boom"))
            log.add(f"step exit_signal {ident} {format_term(r)}")
            pid = self.process(ident)
            if pid is None:
                return
            rt.exit(pid, r)
            await self.settle()
        elif verb == "stop_sup":
            ident = str(arg)
            r = reason_of(step.get("reason", "shutdown"))
            log.add(f"step stop_sup {ident} {format_term(r)}")
            if ident != self.root_id:
                raise ScenarioError(f"stop_sup works only on the root supervisor, not {ident!r}")
            pid = self.process(ident)
            if pid is None:
                return
            rt._signal(pid, rt.root, r, link=False)  # from its parent: an orderly stop
            await self.wait_dead(pid)
            await self.settle()
        elif verb == "sleep_ms":
            if not isinstance(arg, int | float):
                raise ScenarioError(f"sleep_ms needs a number, got {arg!r}")
            log.add(f"step sleep_ms {arg}")
            await rt.sleep(arg / 1000)
            await self.settle()
        elif verb == "sleep_until_ms":
            # until the clock is N ms past a whole second (the restart window's seconds)
            if not (isinstance(arg, int) and not isinstance(arg, bool) and 0 <= arg < 1000):
                raise ScenarioError(f"sleep_until_ms needs an integer 0..999, got {arg!r}")
            log.add(f"step sleep_until_ms {arg}")
            now_ms = math.floor(rt.now() * 1000)
            await rt.sleep(((arg - now_ms % 1000) % 1000) / 1000)
            await self.settle()
        elif verb in ("suspend", "resume"):
            sup_id = str(arg)
            log.add(f"step {verb} {sup_id}")
            found = self.log.sups.get(sup_id)
            if found is None:
                log.add(f"result no_process {sup_id}")
                return
            pid = found[0]
            if verb == "suspend" and pid not in self.suspended:
                self.suspended.add(pid)
                rt.cast(pid, _SUSPEND)
            elif verb == "resume" and pid in self.suspended:
                self.suspended.discard(pid)
                rt.send(pid, _RESUME)
            await self.settle()
        elif verb in ("which_children", "count_children"):
            sup_id = str(arg)
            log.add(f"step {verb} {sup_id}")
            await self.settle()
            sup = self.supervisor(sup_id)
            if sup is None:
                return
            pid, kind = sup
            res = await rt.call(pid, (verb,), timeout=None)
            if verb == "count_children":
                log.add(
                    f"result count_children {sup_id} specs={res['specs']} active={res['active']} "
                    f"supervisors={res['supervisors']} workers={res['workers']}"
                )
                return
            items = []
            for cid, state, _type in res:
                st = (
                    "running" if type(state) is Pid else "restarting" if state == "restarting"
                    else "undefined"
                )
                if kind == "static":
                    items.append(f"{cid}={st}")
                else:
                    name = log.num2id.get(state.id, "?") if type(state) is Pid else "?"
                    items.append(f"{name}={st}")
            if kind != "static":
                items.sort()
            log.add(f"result which_children {sup_id} {' '.join(items) if items else '(none)'}")
        elif verb == "start_child":
            if not isinstance(arg, dict) or "sup" not in arg or "child" not in arg:
                raise ScenarioError("start_child needs {'sup': S, 'child': C}")
            sup_id = str(arg["sup"])
            c = arg["child"]
            cid = str(c.get("id"))
            log.add(f"step start_child {sup_id} {cid}")
            sup = self.supervisor(sup_id)
            if sup is None:
                return
            pid, kind = sup
            if kind == "static":
                req: Any = _spec(c, log)
            elif kind == "simple":
                # OTP: start_child(Sup, [C]); C reaches the worker's arguments only,
                # the spec stays the template's
                req = [c]
            else:
                req = _spec(log.templates.get(sup_id, {}) | c, log)
            res = await rt.call(pid, ("start_child", req), timeout=None)
            await self.settle()
            log.add(f"result start_child {sup_id} {cid} {_fmt_result(res)}")
        elif verb == "terminate_child":
            sup_id, ident = str(arg["sup"]), str(arg["id"])
            log.add(f"step terminate_child {sup_id} {ident}")
            sup = self.supervisor(sup_id)
            if sup is None:
                return
            pid, kind = sup
            target: Any = ident
            if kind != "static":
                target = log.ids.get(ident) or log.last.get(ident)
                if target is None:
                    target = Pid(None, -1, None)
                    target._st = 3
            res = await rt.call(pid, ("terminate_child", target), timeout=None)
            await self.settle()
            log.add(f"result terminate_child {sup_id} {ident} {_fmt_result(res)}")
        elif verb in ("restart_child", "delete_child"):
            sup_id, ident = str(arg["sup"]), str(arg["id"])
            log.add(f"step {verb} {sup_id} {ident}")
            sup = self.supervisor(sup_id)
            if sup is None:
                return
            res = await rt.call(sup[0], (verb, ident), timeout=None)
            await self.settle()
            log.add(f"result {verb} {sup_id} {ident} {_fmt_result(res)}")
        else:
            raise ScenarioError(f"unknown step {verb!r}")


_STRATEGIES = ("one_for_one", "one_for_all", "rest_for_one", "simple_one_for_one", "dynamic")


def _validate_child(c: Any, where: str) -> None:
    if not isinstance(c, dict) or "id" not in c:
        raise ScenarioError(f"{where}: a child object needs an 'id', got {c!r}")
    where = f"{where} child {c['id']!r}"
    if c.get("restart", "permanent") not in ("permanent", "transient", "temporary"):
        raise ScenarioError(f"{where}: restart must be permanent, transient or temporary")
    if "shutdown" in c:
        _shutdown_of(c["shutdown"])
    for n, _ in enumerate(c.get("init_seq") or [c.get("init", "ok")]):
        _init_action({"init_seq": c.get("init_seq"), "init": c.get("init", "ok"), "id": c["id"]}, n + 1)
    if c.get("type", "worker") == "supervisor":
        if not isinstance(c.get("supervisor"), dict):
            raise ScenarioError(f"{where}: type supervisor needs a 'supervisor' object")
        _validate_sup(c["supervisor"], where)
    elif c.get("type", "worker") != "worker":
        raise ScenarioError(f"{where}: type must be worker or supervisor")


def _validate_sup(sup: Any, where: str) -> None:
    if not isinstance(sup, dict):
        raise ScenarioError(f"{where}: a supervisor must be an object")
    strategy = sup.get("strategy", "one_for_one")
    if strategy not in _STRATEGIES:
        raise ScenarioError(f"{where}: unknown strategy {strategy!r}; use one of {_STRATEGIES}")
    for c in sup.get("children", []):
        _validate_child(c, where)
    if "child" in sup:
        _validate_child(dict(sup["child"], id=sup["child"].get("id", "template")), where)


async def _run(scn: dict[str, Any]) -> list[str]:
    if not isinstance(scn, dict) or "supervisor" not in scn:
        raise ScenarioError("a scenario is a JSON object with a 'supervisor' key")
    _validate_sup(scn["supervisor"], "supervisor")
    for step in scn.get("steps", []):
        if not isinstance(step, dict) or sum(k in _VERBS for k in step) != 1:
            raise ScenarioError(
                f"a step needs exactly one action key out of {sorted(_VERBS)}, got {step!r}"
            )
    log = _Log()
    async with Runtime(clock=VirtualClock(), trace_messages=False, lag_threshold=None) as rt:
        log.rt = rt
        rt.subscribe(log.on_event)
        root = dict(scn["supervisor"])
        root.setdefault("id", "root")
        root_id = str(root["id"])
        player = _Player(rt, log, root_id)
        log.add(f"step start_link {root_id}")
        from .._agent import start_agent

        pid, outcome = start_agent(rt, _sup_class(root), (root, log), {}, name=None, kind="supervisor")
        if not isinstance(outcome, str | tuple):
            outcome = await outcome
        await player.settle()
        if outcome == "ok":
            res: Any = ("ok", pid)
        elif outcome == "ignore":
            res = "ignore"
        else:
            res = ("error", outcome[1])
        log.add(f"result start_link {root_id} {format_term(res)}")
        for step in scn.get("steps", []):
            if not isinstance(step, dict):
                raise ScenarioError(f"a step must be an object, got {step!r}")
            n0 = len(log.lines)
            await player.step(step)
            if step.get("unordered"):
                head, tail = log.lines[: n0 + 1], log.lines[n0 + 1 :]
                log.lines = head + sorted(tail)
        lines = list(log.lines)
    return lines


def run_scenario(scn: dict[str, Any] | str) -> list[str]:
    """Run a scenario (a dict, or JSON text) and return its event log lines."""
    if isinstance(scn, str):
        try:
            scn = json.loads(scn)
        except json.JSONDecodeError as e:
            raise ScenarioError(f"not valid JSON: {e}") from None
    assert isinstance(scn, dict)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_run(scn))
    raise ScenarioError("run_scenario() is synchronous; inside a running loop await arun_scenario()")


async def arun_scenario(scn: dict[str, Any] | str) -> list[str]:
    """Run a scenario on the current event loop (for notebooks)."""
    if isinstance(scn, str):
        try:
            scn = json.loads(scn)
        except json.JSONDecodeError as e:
            raise ScenarioError(f"not valid JSON: {e}") from None
    assert isinstance(scn, dict)
    return await _run(scn)


def run_scenario_file(path: str | Path) -> list[str]:
    """Run the scenario in a JSON file."""
    text = Path(path).read_text(encoding="utf-8")
    return run_scenario(text)
