"""View model of the token streams: each agent's live output as a list of segments.

Segments, in the order things happened:

===============  ===========================================================
``t``            fields
===============  ===========================================================
``req``          ``rid``, ``model``, ``attempt`` -- a model call started
``text``         ``s`` -- streamed text (adjacent deltas are concatenated)
``tool_call``    ``id``, ``name``, ``args`` -- the model asks for a tool
``tool_start``   ``id``, ``name``, ``args`` -- a tool began running
``tool_result``  ``id``, ``name``, ``result``, ``error``
``retry``        ``attempt``, ``error``, ``delay`` -- where a retry happened
``error``        ``error``, ``message`` -- a failed call
``end``          ``stop``, ``tokens``, ``cost`` -- a call finished
``exit``         ``reason``, ``class`` -- the agent's process exited abnormally
``restart``      ``pid`` -- its supervisor started it again
``new``          ``pid`` -- a new process took the row of one that exited
                 (a dynamic supervisor's new child with the same id)
===============  ===========================================================

>>> from agentlab.ui._synthetic import Script
>>> s = Script(); a = s.spawn("writer"); _ = s.answer(a, "Hello there, world")
>>> view = stream_view(s.events)
>>> [g["t"] for g in view["agents"][0]["segs"]], view["agents"][0]["tokens"]
(['req', 'text', 'end'], 1)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ._fmt import Rate, exit_class, exit_text
from ._identity import OUTSIDE, Identity
from ._llm import LLM_KINDS, TOOL_KINDS, llm_fields, short
from ._pending import Pending, merge_segment

__all__ = ["StreamModel", "Transcript", "stream_view"]


class Transcript:
    """One agent's output. ``dump()`` gives the header fields (not the segments)."""

    __slots__ = (
        "calls",
        "chars",
        "cost",
        "dropped",
        "errors",
        "key",
        "label",
        "model",
        "order",
        "pid",
        "rate",
        "requests",
        "retries",
        "segs",
        "status",
        "tokens",
        "tps",
        "ttft",
    )

    def __init__(self, key: str, label: str, pid: int, order: int) -> None:
        self.key, self.label, self.pid, self.order = key, label, pid, order
        self.segs: list[dict[str, Any]] = []
        #: (request id, index) -> (id, name) of the tool calls being streamed
        self.calls: dict[tuple[Any, Any], tuple[Any, Any]] = {}
        self.chars = 0
        self.dropped = 0
        self.tokens = 0
        self.tps = 0.0
        self.rate = Rate()
        self.cost = 0.0
        self.requests = 0
        self.retries = 0
        self.errors = 0
        self.status = "idle"
        self.model: str | None = None
        self.ttft: float | None = None

    def dump(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "pid": self.pid,
            "order": self.order,
            "tokens": self.tokens,
            "tps": self.tps,
            "cost": round(self.cost, 6),
            "requests": self.requests,
            "retries": self.retries,
            "errors": self.errors,
            "status": self.status,
            "model": self.model,
            "ttft": self.ttft,
            "dropped": self.dropped,
        }


class StreamModel:
    """Folds LLM and tool events into per-agent transcripts.

    ``agents``: names, keys or pids to show (``None``: every agent that talks
    to a model). ``max_chars``: text kept per agent in the snapshot.
    ``max_segs``: segments kept per agent (an agent that calls tools or retries
    all day streams little text, but every call, result and retry is one): past
    it, the oldest quarter goes.
    """

    def __init__(
        self,
        pending: Pending,
        *,
        agents: Iterable[Any] | None = None,
        max_chars: int = 200_000,
        max_segs: int = 10_000,
    ) -> None:
        self.pending = pending
        self.ids = Identity()
        self.by_key: dict[str, Transcript] = {}
        self.want = {str(a) for a in agents} if agents is not None else None
        self.max_chars = max_chars
        self.max_segs = max_segs
        self._active: set[str] = set()
        self._order = 0
        self.now = 0.0
        self.handlers: dict[str, Any] = {
            "spawn": self._on_spawn,
            "child_start": self._on_child_start,
            "exit": self._on_exit,
            "restart": lambda ev: self.ids.restart(ev),
            "llm_token": self._on_token,
        }
        for k in (LLM_KINDS | TOOL_KINDS) - {"llm_token"}:
            self.handlers[k] = self._on_llm

    def apply(self, ev: Any) -> None:
        h = self.handlers.get(ev[3])
        if h is not None:
            h(ev)

    # -- identity ----------------------------------------------------------------
    def _on_spawn(self, ev: Any) -> None:
        self.ids.spawn(ev)

    def _on_child_start(self, ev: Any) -> None:
        slot, old, restarted = self.ids.child_start(ev)
        moved = self.by_key.pop(old, None) if old is not None else None
        tr = self.by_key.get(slot)
        if moved is not None:  # it talked to a model before its supervisor reported it
            self.pending.put("meta", old, None)  # (its column goes: what it holds moves to the slot's)
            if old in self._active:
                self._active.add(slot)
            if tr is None:
                moved.key = slot
                self.by_key[slot] = tr = moved
                for g in moved.segs:  # the browser has them under the old key only
                    self.pending.seg("segs", slot, g)
            else:  # the slot's column holds an earlier process's transcript: the new one follows it
                self._join(tr, moved, {"t": "restart" if restarted else "new", "pid": ev[7]})
        if tr is not None:
            before, tr.pid = tr.pid, ev[7]
            tr.label = self.ids.meta[slot]["label"]
            if moved is None:  # the slot's column: its child started again, or a new child took it
                if restarted:
                    self._seg(tr, {"t": "restart", "pid": ev[7]})
                elif before != ev[7]:
                    # not the one that talked before, started again: a process of its own
                    self._seg(tr, {"t": "new", "pid": ev[7]})
                tr.status = "idle"
            self.pending.put("meta", slot, tr)

    def _join(self, tr: Transcript, moved: Transcript, marker: dict[str, Any]) -> None:
        """Append ``moved`` (a process's transcript before its supervisor reported it) to
        ``tr`` (its slot's, of the processes before it), after ``marker``, as deltas too:
        the browser's column then holds what a resync would give."""
        self._seg(tr, marker)
        for g in moved.segs:
            self._seg(tr, g)
        tr.dropped += moved.dropped
        tr.tokens += moved.tokens
        tr.cost += moved.cost
        tr.requests += moved.requests
        tr.retries += moved.retries
        tr.errors += moved.errors
        # what goes on is the new process's: its calls, rate, state and model
        tr.calls, tr.rate, tr.tps, tr.status = moved.calls, moved.rate, moved.tps, moved.status
        tr.model = moved.model or tr.model
        tr.ttft = moved.ttft if moved.ttft is not None else tr.ttft

    def _wanted(self, key: str, pid: int) -> bool:
        w = self.want
        if w is None:
            return True
        return self.ids.matches(key, pid, w)

    def _transcript(self, pid: int) -> Transcript | None:
        if not pid:  # a model called from a cell, outside any process
            tr = self.by_key.get(OUTSIDE)
            if tr is None and self._wanted(OUTSIDE, 0):
                self._order += 1
                self.by_key[OUTSIDE] = tr = Transcript(OUTSIDE, "(outside)", 0, self._order)
            return tr
        key = self.ids.key_of.get(pid)
        if key is None:
            key = self.ids.ensure(pid)
        tr = self.by_key.get(key)
        if tr is None:
            if not self._wanted(key, pid):
                return None
            self._order += 1
            tr = Transcript(key, self.ids.meta[key]["label"], pid, self._order)
            self.by_key[key] = tr
        return tr

    def _seg(self, tr: Transcript, seg: dict[str, Any]) -> None:
        merge_segment(tr.segs, seg)
        self.pending.seg("segs", tr.key, seg)
        if seg["t"] == "text":
            tr.chars += len(seg["s"])
            if tr.chars > self.max_chars:
                self._trim(tr)
        if len(tr.segs) > self.max_segs:
            self._drop_segs(tr)

    def _trim(self, tr: Transcript) -> None:
        """Drop the oldest output until a quarter of the budget is free."""
        target = self.max_chars * 3 // 4
        segs = tr.segs
        i = 0
        while tr.chars > target and i < len(segs):
            g = segs[i]
            if g["t"] == "text":
                cut = min(len(g["s"]), tr.chars - target)
                g["s"] = g["s"][cut:]
                tr.chars -= cut
                tr.dropped += cut
                if g["s"]:
                    break
            i += 1
        del segs[:i]

    def _drop_segs(self, tr: Transcript) -> None:
        """Drop the oldest segments until a quarter of ``max_segs`` is free."""
        segs = tr.segs
        n = len(segs) - self.max_segs * 3 // 4
        for g in segs[:n]:
            if g["t"] == "text":
                tr.chars -= len(g["s"])
                tr.dropped += len(g["s"])
        del segs[:n]

    # -- events ------------------------------------------------------------------
    def _on_exit(self, ev: Any) -> None:
        self.ids.exit(ev[4])
        key = self.ids.key_of.get(ev[4])
        tr = self.by_key.get(key) if key is not None else None
        if tr is None or tr.pid != ev[4]:
            return
        tr.calls.clear()  # calls cut short by the exit
        cls = exit_class(ev[8])
        if cls in ("crash", "killed"):
            self._seg(tr, {"t": "exit", "reason": exit_text(ev[8], 200), "class": cls})
            tr.status = "crashed"
        else:
            tr.status = "stopped"
        self.pending.put("meta", tr.key, tr)

    def _on_token(self, ev: Any) -> None:
        tr = self._transcript(ev[4])
        if tr is None:
            return
        text = llm_fields(ev)["text"]
        tr.tokens += 1
        tr.rate.add(ev[1])
        tr.status = "streaming"
        self._active.add(tr.key)
        if text:
            self._seg(tr, {"t": "text", "s": text})
        self.pending.put("meta", tr.key, tr)

    def _on_llm(self, ev: Any) -> None:
        tr = self._transcript(ev[4])
        if tr is None:
            return
        kind = ev[3]
        f = llm_fields(ev)
        if kind == "llm_request":
            tr.requests += 1
            tr.model = f.get("model") or tr.model
            tr.status = "waiting"
            self._seg(tr, {"t": "req", "rid": f["rid"], "model": f.get("model"), "attempt": f.get("attempt")})
        elif kind == "llm_first_token":
            tr.ttft = f.get("ttft")
            tr.status = "streaming"
        elif kind == "llm_tool_call":
            # the id and name come on a call's first delta; the rest carry only its index
            call = tr.calls.get((f["rid"], f["index"]))
            if call is None:
                cid = f["call_id"] if f["call_id"] is not None else f["index"]
                tr.calls[f["rid"], f["index"]] = call = (cid, f["tool"])
            self._seg(tr, {"t": "tool_call", "id": call[0], "name": call[1], "args": f["args"], "more": True})
        elif kind == "tool_start":
            self._seg(tr, {"t": "tool_start", "id": f.get("call_id"), "name": f.get("tool"), "args": short(f.get("args"), 300)})
        elif kind == "tool_result":
            err = f.get("error")
            self._seg(tr, {"t": "tool_result", "id": f.get("call_id"), "name": f.get("tool"),
                           "result": short(err if err else f.get("result"), 500), "error": bool(err)})
        elif kind == "llm_retry":
            tr.retries += 1
            self._seg(tr, {"t": "retry", "attempt": f.get("attempt"), "error": f.get("error"), "delay": f.get("delay")})
        elif kind == "llm_error":
            self._done(tr, f["rid"])
            tr.errors += 1
            tr.cost += f.get("cost") or 0.0
            tr.status = "error"
            self._seg(tr, {"t": "error", "error": f.get("error"), "message": short(f.get("message"), 300)})
        elif kind == "llm_response":
            self._done(tr, f["rid"])
            tr.cost += f.get("cost") or 0.0
            tr.status = "idle"
            self._seg(tr, {"t": "end", "stop": f.get("stop"), "tokens": f.get("tokens_out"), "cost": f.get("cost")})
        self.pending.put("meta", tr.key, tr)

    @staticmethod
    def _done(tr: Transcript, rid: Any) -> None:
        """Model call ``rid`` ended: forget its tool calls."""
        if tr.calls:
            for k in [k for k in tr.calls if k[0] == rid]:
                del tr.calls[k]

    # -- periodic and outputs ----------------------------------------------------
    def tick(self, now: float, procs: Any = None) -> None:
        self.now = now
        if not self._active:
            return
        done = []
        for key in self._active:
            tr = self.by_key.get(key)
            if tr is None:
                done.append(key)
                continue
            tps = round(tr.rate.value(now), 1)
            if tps != tr.tps:
                tr.tps = tps
                self.pending.put("meta", key, tr)
            if tps == 0.0:
                done.append(key)
        self._active.difference_update(done)

    def snapshot(self) -> dict[str, Any]:
        agents = []
        for tr in self.by_key.values():
            d = tr.dump()
            d["segs"] = [dict(g) for g in tr.segs]
            agents.append(d)
        return {"agents": agents, "now": self.now}

    def text(self, agent: str) -> str:
        """The streamed text of ``agent`` (a key or label), joined."""
        for tr in self.by_key.values():
            if agent in (tr.key, tr.label):
                return "".join(g["s"] for g in tr.segs if g["t"] == "text")
        known = sorted(tr.label for tr in self.by_key.values())
        raise KeyError(f"no agent {agent!r} has streamed yet; agents so far: {known}")


def stream_view(events: Iterable[Any], **options: Any) -> dict[str, Any]:
    """The token-stream snapshot after ``events``."""
    model = StreamModel(Pending(), **options)
    last = 0.0
    for ev in events:
        model.apply(ev)
        last = ev[1]
    model.tick(last)
    return model.snapshot()
