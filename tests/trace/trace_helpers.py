"""Helpers for the trace tests: a scripted supervisor, and synthetic event streams.

``ScriptedSupervisor`` is a small agent that does what a one_for_one or
one_for_all supervisor does (trap exits, restart children after a delay, give
up past its intensity) and emits the supervisor events with the documented
schema, so the trace tables can be checked against known crash and restart
times on a virtual clock without depending on the real Supervisor.
"""

from __future__ import annotations

from typing import Any

import matplotlib

matplotlib.use("Agg")

import agentlab  # noqa: E402


class Worker(agentlab.Agent):
    """Crashes on "crash", answers calls with the request, stops on "stop"."""

    def handle_info(self, msg: Any) -> Any:
        if msg == "crash":
            raise ValueError("injected")
        if msg == "stop":
            return agentlab.Stop("normal")
        return None

    def handle_call(self, request: Any, caller: Any) -> Any:
        return request


class ScriptedSupervisor(agentlab.Agent):
    """Restarts crashed children ``delay`` seconds later and emits supervisor events."""

    trap_exits = True

    def init(
        self,
        ids: list[str],
        strategy: str = "one_for_one",
        delay: float = 0.5,
        intensity: int = 3,
        period: float = 5.0,
    ) -> None:
        self.ids = ids
        self.strategy = strategy
        self.delay = delay
        self.intensity = intensity
        self.period = period
        self.by_pid: dict[Any, str] = {}
        self.by_id: dict[str, Any] = {}
        self.attempts = dict.fromkeys(ids, -1)
        self.history: list[float] = []
        for cid in ids:
            self._start(cid)

    def _start(self, cid: str) -> None:
        rt = self.runtime
        self.attempts[cid] += 1
        pid = rt.start(Worker, name=cid, link=True)
        self.by_pid[pid] = cid
        self.by_id[cid] = pid
        rt.emit(
            "child_start", self.pid, peer=pid, child_id=cid, restart="permanent",
            type="worker", attempt=self.attempts[cid],
        )

    def handle_info(self, msg: Any) -> Any:
        rt = self.runtime
        if isinstance(msg, agentlab.Exit) and msg.pid in self.by_pid:
            cid = self.by_pid.pop(msg.pid)
            if msg.reason == "shutdown":
                return None
            now = rt.now()
            self.history = [t for t in self.history if t > now - self.period] + [now]
            if len(self.history) > self.intensity:
                rt.emit(
                    "supervisor_gave_up", self.pid, reason=msg.reason, child_id=cid,
                    restarts=len(self.history), intensity=self.intensity, period=self.period,
                )
                return agentlab.Stop("shutdown")
            affected = [cid]
            if self.strategy == "one_for_all":
                affected = list(self.ids)
                for other in self.ids:
                    pid = self.by_id.get(other)
                    if other != cid and pid is not None and pid in self.by_pid:
                        self.by_pid.pop(pid)
                        rt.exit(pid, "shutdown")
                        rt.emit("child_terminated", self.pid, peer=pid, reason="shutdown",
                                child_id=other)
            rt.emit(
                "restart", self.pid, peer=msg.pid, reason=msg.reason, child_id=cid,
                strategy=self.strategy, affected=affected,
                restarts_in_window=len(self.history), intensity=self.intensity,
                period=self.period,
            )
            for other in affected:
                rt.send_after(self.pid, ("start", other), self.delay)
        elif isinstance(msg, tuple) and msg[0] == "start":
            self._start(msg[1])
        return None


def event(seq: int, time: float, kind: str, pid: int = 0, /, *, name: str | None = None,
          path: str | None = None, peer: int | None = None, reason: Any = None,
          **data: Any) -> agentlab.Event:
    """A synthetic event (wall time = 1.7e9 + time)."""
    return agentlab.Event.make(seq, time, 1.7e9 + time, kind, pid, name, path, peer, reason,
                               data or None)


class Script:
    """Build a synthetic stream: ``s.at(1.0).emit("spawn", 101, ...)``; ``s.events``."""

    def __init__(self) -> None:
        self.events: list[agentlab.Event] = []
        self.now = 0.0

    def at(self, t: float) -> Script:
        self.now = t
        return self

    def emit(self, kind: str, pid: int = 0, /, **kw: Any) -> Script:
        self.events.append(event(len(self.events) + 1, self.now, kind, pid, **kw))
        return self


def many_processes(n: int, supervisors: int = 20, crash_every: int = 7) -> list[agentlab.Event]:
    """``n`` child lifetimes under ``supervisors`` supervisors over 100 s; every
    ``crash_every``-th child crashes and is restarted 0.5 s later."""
    s = Script()
    seq_pid = 1000
    for k in range(supervisors):
        s.emit("spawn", 10 + k, name=f"pool{k}", path=f"root/pool{k}", kind="supervisor")
    live = []
    for i in range(n):
        k = i % supervisors
        sup = {"name": f"pool{k}", "path": f"root/pool{k}"}
        seq_pid += 1
        t = 100.0 * i / n
        s.at(t).emit("spawn", seq_pid, path=f"root/pool{k}/w{i}", peer=10 + k, kind="agent")
        s.emit("child_start", 10 + k, peer=seq_pid, child_id=f"w{i}", restart="transient",
               type="worker", attempt=0, **sup)
        live.append((seq_pid, k, i, t))
    for pid, k, i, t in live:
        if i % crash_every:
            continue
        sup = {"name": f"pool{k}", "path": f"root/pool{k}"}
        s.at(t + 0.2).emit("exit", pid, path=f"root/pool{k}/w{i}", reason=agentlab.Crash("IOError", "lost"))
        s.emit("restart", 10 + k, peer=pid, reason=agentlab.Crash("IOError", "lost"),
               child_id=f"w{i}", strategy="one_for_one", affected=[f"w{i}"],
               restarts_in_window=1, intensity=10, period=1.0, **sup)
    s.events.sort(key=lambda e: (e.time, e.seq))
    return [agentlab.Event.make(j + 1, *e[1:]) for j, e in enumerate(s.events)]
