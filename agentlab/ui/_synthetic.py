"""Hand-made event streams for tests, demos and benchmarks of the views.

:class:`Script` writes :class:`agentlab.Event` records with the same fields
the runtime, the supervisor and ``agentlab.llm`` emit, so a view can be
exercised without running anything. :func:`emit_into` replays such a script
through a live runtime's real event path (``Runtime.emit``), which is how the
kernel tests produce a 10,000 events/s storm.

>>> s = Script()
>>> sup = s.spawn("team", kind="supervisor")
>>> w = s.spawn(None, parent=sup, kind="agent"); s.child_start(sup, w, "writer")
>>> [e.kind for e in s.events]
['spawn', 'spawn', 'child_start']
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from agentlab import Crash, Event

__all__ = ["Script", "emit_into", "team_run", "tiny_tree_events"]


class Script:
    """Builds an event list; each call appends events ``dt`` seconds apart."""

    def __init__(self, t0: float = 0.0, dt: float = 0.001, first_pid: int = 100) -> None:
        self.events: list[Event] = []
        self.t = t0
        self.dt = dt
        self._pid = first_pid
        self.names: dict[int, str | None] = {}
        self.paths: dict[int, str | None] = {}
        self._rid = 0

    def _ev(self, kind: str, pid: int, peer: int | None = None, reason: Any = None, data: Any = None) -> Event:
        self.t += self.dt
        ev = Event.make(
            len(self.events) + 1, round(self.t, 9), 1.7e9 + self.t, kind, pid,
            self.names.get(pid), self.paths.get(pid), peer, reason, data,
        )
        self.events.append(ev)
        return ev

    def wait(self, seconds: float) -> None:
        self.t += seconds

    # -- processes ---------------------------------------------------------------
    def spawn(self, name: str | None = None, *, parent: int | None = None, kind: str = "agent") -> int:
        self._pid += 1
        pid = self._pid
        self.names[pid] = name
        ppath = self.paths.get(parent) if parent else None
        self.paths[pid] = f"{ppath}/{name or pid}" if ppath else name
        self._ev("spawn", pid, parent, None, {"kind": kind})
        return pid

    def child_start(self, sup: int, child: int, child_id: str, *, restart: str = "permanent",
                    type: str = "worker", attempt: int = 0) -> None:
        sp = self.paths.get(sup)
        self.paths[child] = f"{sp}/{child_id}" if sp else child_id
        if self.names.get(child) is None and type == "supervisor":
            self.names[child] = child_id
        self._ev("child_start", sup, child, None,
                 {"child_id": child_id, "restart": restart, "type": type, "attempt": attempt})

    def child(self, sup: int, child_id: str, *, kind: str = "agent", name: str | None = None) -> int:
        """Spawn a child of ``sup`` and report it started as ``child_id``."""
        pid = self.spawn(name, parent=sup, kind=kind)
        self.child_start(sup, pid, child_id, type="supervisor" if kind == "supervisor" else "worker")
        return pid

    def exit(self, pid: int, reason: Any = "normal") -> None:
        self._ev("exit", pid, None, reason)

    def crash(self, pid: int, message: str = "boom", etype: str = "RuntimeError") -> Crash:
        c = Crash(etype, message, f'Traceback (most recent call last):\n  File "agent.py", line 12, in handle_call\n{etype}: {message}\n')
        self.exit(pid, c)
        return c

    def restart(self, sup: int, crashed: int, child_id: str, *, reason: Any = "killed", n: int = 1,
                intensity: int = 3, period: float = 5.0, strategy: str = "one_for_one",
                affected: list[str] | None = None) -> int:
        """The supervisor's reaction to ``crashed``: terminated, restart, a new child."""
        self._ev("child_terminated", sup, crashed, reason, {"child_id": child_id})
        self._ev("restart", sup, crashed, reason, {
            "child_id": child_id, "strategy": strategy, "affected": affected or [child_id],
            "restarts_in_window": n, "intensity": intensity, "period": period})
        new = self.spawn(None, parent=sup, kind="agent")
        self.child_start(sup, new, child_id, attempt=n)
        return new

    def signal(self, target: int, sender: int | None, reason: Any) -> None:
        self._ev("exit_signal", target, sender or 1, reason, {"trapped": False})

    # -- messages ----------------------------------------------------------------
    def call(self, caller: int | None, callee: int, request: Any) -> None:
        self._ev("call", caller or 0, callee, None, {"request": request})

    def reply(self, callee: int, caller: int | None) -> None:
        self._ev("reply", callee, caller, None, None)

    def cast(self, sender: int | None, receiver: int) -> None:
        self._ev("cast", sender or 0, receiver)

    def send(self, sender: int | None, receiver: int) -> None:
        self._ev("send", sender or 0, receiver)

    def down(self, watcher: int, dead: int, reason: Any) -> None:
        self._ev("down", watcher, dead, reason)

    # -- LLM -----------------------------------------------------------------------
    def llm_request(self, pid: int, model: str = "scripted-1", attempt: int = 1) -> str:
        self._rid += 1
        rid = f"llm-{self._rid}"
        self._ev("llm_request", pid, None, None, {
            "provider": "scripted", "model": model, "request_id": rid, "attempt": attempt,
            "messages": 2, "tools": 0, "input_tokens_estimate": 40})
        return rid

    def tokens(self, pid: int, rid: str, pieces: list[str], first: bool = True) -> None:
        for i, piece in enumerate(pieces):
            if i == 0 and first:
                self._ev("llm_first_token", pid, None, None, {"request_id": rid, "ttft": 0.2})
            self._ev("llm_token", pid, None, None, {"request_id": rid, "text": piece, "index": i})

    def llm_response(self, pid: int, rid: str, out_tokens: int, cost: float = 0.0001) -> None:
        self._ev("llm_response", pid, None, None, {
            "request_id": rid, "stop_reason": "stop", "input_tokens": 40, "output_tokens": out_tokens,
            "cost_usd": cost, "latency": 0.5, "ttft": 0.2, "model": "scripted-1"})

    def llm_error(self, pid: int, rid: str, error: str = "rate_limit", message: str = "429 Too Many Requests") -> None:
        self._ev("llm_error", pid, None, None, {
            "request_id": rid, "error_type": error, "message": message, "status": 429,
            "retryable": True, "partial": False, "output_tokens": 0, "cost_usd": 0.0})

    def llm_retry(self, pid: int, rid: str, attempt: int = 2, delay: float = 0.5) -> None:
        self._ev("llm_retry", pid, None, None, {
            "request_id": rid, "error_type": "rate_limit", "delay": delay, "attempt": attempt})

    def tool_call(self, pid: int, rid: str, call_id: str, name: str, args: list[str]) -> None:
        for i, a in enumerate(args):
            self._ev("llm_tool_call", pid, None, None, {
                "request_id": rid, "index": 0, "id": call_id, "name": name if i == 0 else None,
                "arguments_delta": a})

    def tool(self, pid: int, call_id: str, name: str, args: Any, result: Any) -> None:
        self._ev("tool_start", pid, None, None, {"call_id": call_id, "tool": name, "arguments": args})
        self._ev("tool_result", pid, None, None, {"call_id": call_id, "tool": name, "result": result})

    def answer(self, pid: int, text: str, *, chunk: int = 3) -> str:
        """A whole streamed LLM answer: request, tokens, response."""
        rid = self.llm_request(pid)
        words = text.split(" ")
        pieces = [" ".join(words[i : i + chunk]) + " " for i in range(0, len(words), chunk)]
        self.tokens(pid, rid, pieces)
        self.llm_response(pid, rid, len(pieces))
        return rid


def _words(text: str) -> list[str]:
    return [w + " " for w in text.split(" ")]


def tiny_tree_events() -> list[Event]:
    """A supervisor with two agents; ``writer`` was killed and restarted, ``critic`` waits on an LLM."""
    s = Script()
    sup = s.spawn("team", kind="supervisor")
    w = s.child(sup, "writer")
    c = s.child(sup, "critic")
    s.exit(w, "killed")
    s.restart(sup, w, "writer")
    s.llm_request(c)
    return s.events


def team_run(seed: int = 0) -> list[Event]:
    """A small, realistic recorded run: a research team with a crash, a kill, retries and tools."""
    import random

    rnd = random.Random(seed)
    s = Script(dt=0.004)
    root = s.spawn("root", kind="supervisor")
    team = s.child(root, "team", kind="supervisor", name="team")
    tools = s.child(root, "tools", kind="supervisor", name="tools")
    writer = s.child(team, "writer", name="writer")
    critic = s.child(team, "critic", name="critic")
    planner = s.child(team, "planner", name="planner")
    search = s.child(tools, "search", name="search")
    cache = s.child(tools, "cache", name="cache")
    s.call(None, planner, "plan: a post on supervision trees")
    rid = s.answer(planner, "Outline: 1. why processes crash 2. links and monitors 3. restart strategies 4. a demo")
    s.reply(planner, None)
    s.cast(planner, writer)
    s.call(writer, search, ("search", "OTP restart intensity"))
    s.tool(search, "t1", "web_search", {"q": "OTP restart intensity"}, ["intensity=3 period=5 (docs)"])
    s.reply(search, writer)
    rid = s.llm_request(writer)
    s.tokens(writer, rid, ["Supervision ", "trees ", "let ", "a ", "system "])
    s.llm_error(writer, rid)
    s.llm_retry(writer, rid, attempt=2, delay=0.5)
    s.wait(0.5)
    rid = s.llm_request(writer, attempt=2)
    s.tool_call(writer, rid, "c1", "lookup", ['{"topic": ', '"one_for_one"}'])
    s.tool(writer, "c1", "lookup", {"topic": "one_for_one"}, "restart only the failed child")
    s.tokens(writer, rid, _words("heal itself: when a worker crashes its supervisor restarts it, so the team keeps going."))
    s.llm_response(writer, rid, 20, 0.0004)
    s.call(writer, critic, "review draft v1")
    rid = s.llm_request(critic)
    s.tokens(critic, rid, ["The ", "draft ", "is ", "clear; ", "add ", "an ", "example ", "of ", "one_for_all."])
    s.llm_response(critic, rid, 9, 0.0002)
    s.reply(critic, writer)
    for _ in range(3):
        s.send(cache, search)
    s.crash(search, "connection reset by peer", "ConnectionError")
    s.down(writer, search, "crash")
    search = s.restart(tools, search, "search", reason=Crash("ConnectionError", "connection reset by peer"), n=1)
    s.wait(0.3)
    s.signal(critic, None, "kill")
    s.exit(critic, "killed")
    critic = s.restart(team, critic, "critic", n=1)
    s.wait(0.2)
    rid = s.llm_request(critic)
    s.tokens(critic, rid, _words("Second pass: the restart kept the conversation going."))
    s.llm_response(critic, rid, 8, 0.0002)
    rnd.random()
    return s.events


class _Stand:
    """Stands in for a :class:`agentlab.Pid` when replaying through ``Runtime.emit``."""

    __slots__ = ("_path", "id", "name")

    def __init__(self, pid: int, name: str | None, path: str | None) -> None:
        self.id, self.name, self._path = pid, name, path


def emit_into(rt: Any, events: list[Event]) -> Iterator[None]:
    """Replay ``events`` through ``rt.emit`` (the real event path), one at a time.

    A generator: each ``next()`` emits one event, so a driver can pace them.
    Pids are offset past the runtime's own so they never collide with real ones.
    """
    base = 1_000_000
    stands: dict[int, _Stand] = {}

    def stand(pid: int | None, name: Any, path: Any) -> _Stand | None:
        if not pid:
            return None
        s = stands.get(pid)
        if s is None:
            stands[pid] = s = _Stand(base + pid, name, path)
        else:
            s.name, s._path = name, path
        return s

    for ev in events:
        _seq, _t, _w, kind, pid, name, path, peer, reason, data = ev
        p = stand(pid, name, path)
        q = stand(peer, None, None) if peer and peer in stands else (_Stand(base + peer, None, None) if peer else None)
        rt.emit(kind, p, peer=q, reason=reason, **(data or {}))
        yield None
