"""View model of the message sequence diagram: who sent what to whom, in order.

Arrows (``kind``): ``call`` (pid = caller, peer = callee), ``reply`` (pid =
callee, peer = caller), ``cast``, ``send``, ``exit`` (an exit signal: pid =
target, peer = sender) and ``down`` (a monitor fired: pid = watcher, peer =
the dead process). Participants are process slots, so a restarted agent
keeps its lifeline; a monitor taken by a name nobody held has no process, and
its ``down`` comes from a participant for that name (key ``"name:<name>"``,
kind ``name``, labelled with the name). An arrow lists the LLM requests ``llm`` made by the
callee while it handled the call, which is what links the diagram to the
timeline's LLM spans.

>>> from agentlab.ui._synthetic import Script
>>> s = Script(); a = s.spawn("a"); b = s.spawn("b")
>>> s.call(a, b, "hi"); rid = s.answer(b, "hello"); s.reply(b, a)
>>> v = sequence_view(s.events)
>>> [(x["kind"], x["from"], x["to"], x["llm"]) for x in v["arrows"]]
[('call', '#101', '#102', ('llm-1',)), ('reply', '#102', '#101', ('llm-1',))]
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Iterable
from typing import Any

from ._fmt import exit_text
from ._identity import Identity
from ._llm import llm_fields, short
from ._pending import Pending, trim_slack

__all__ = ["SequenceModel", "sequence_view"]


#: the key prefix of a participant that is a registered name, not a process (the name
#: of a monitor nobody held)
NAMED = "name:"


def _arrow(seq: int, kind: str, src: int | str | None, dst: int | None, t: float,
           label: str) -> dict[str, Any]:
    # a plain dict of numbers, strings and a tuple: the garbage collector does not track it
    return {"id": seq, "kind": kind, "src": src, "dst": dst, "t": t, "label": label, "llm": (),
            "reply_to": None, "lat": None}


class SequenceModel:
    """Folds message, exit-signal and monitor events into arrows.

    ``processes``: only arrows touching these names/keys/pids (``None``: all).
    ``max_arrows``: how many recent arrows are kept.
    """

    #: sections sent in row form (:func:`~agentlab.ui._pending.to_rows`)
    ROWS = ("arrows", "parts")

    def __init__(self, pending: Pending, *, processes: Iterable[Any] | None = None,
                 max_arrows: int = 5000) -> None:
        self.pending = pending
        self.ids = Identity()
        self.only = {str(p) for p in processes} if processes is not None else None
        pending.dumpers["arrows"] = self._dump_arrow
        self.arrows: OrderedDict[int, dict[str, Any]] = OrderedDict()
        self.max_arrows = max_arrows
        pending.dumpers["parts"] = self._dump_part
        #: participants still drawn by some kept arrow: key -> {"key", "order", "refs"}
        self.parts: dict[str, dict[str, Any]] = {}
        self._order = 0
        self._calls: dict[tuple[int | None, int | None], deque[dict[str, Any]]] = {}
        self._serving: dict[int, list[dict[str, Any]]] = {}  # callee pid -> calls it is handling
        self._into: dict[int, set[int | None]] = {}  # callee pid -> callers with open calls
        self.llm: OrderedDict[str, dict[str, Any]] = OrderedDict()
        #: the time of the first arrow: the diagram's times are shown from it. It stays when
        #: that arrow is trimmed, so a view opened later (or a resync) shows the same times
        #: as one that followed from the start
        self.t0: float | None = None
        self.now = 0.0
        self.handlers = {
            "spawn": lambda ev: self.ids.spawn(ev),
            "exit": self._on_exit,
            "restart": lambda ev: self.ids.restart(ev),
            "child_start": self._on_child_start,
            "call": self._on_call,
            "reply": self._on_reply,
            "cast": self._on_plain,
            "send": self._on_plain,
            "exit_signal": self._on_signal,
            "down": self._on_down,
            "llm_request": self._on_llm_request,
            "llm_first_token": self._on_llm_update,
            "llm_response": self._on_llm_update,
            "llm_error": self._on_llm_update,
        }

    def apply(self, ev: Any) -> None:
        h = self.handlers.get(ev[3])
        if h is not None:
            self.now = ev[1]
            h(ev)

    def _on_child_start(self, ev: Any) -> None:
        slot, old, _ = self.ids.child_start(ev)
        if old is not None and old in self.parts:
            p = self.parts.pop(old)
            self.pending.put("parts", old, None)
            self.pending.put("moved", old, slot)
            q = self.parts.get(slot)
            if q is None:
                p["key"] = slot
                self.parts[slot] = p
                self.pending.put("parts", slot, p)
            else:
                q["refs"] += p["refs"]

    def _on_exit(self, ev: Any) -> None:
        pid = ev[4]
        self.ids.exit(pid)
        self._serving.pop(pid, None)
        for caller in self._into.pop(pid, ()):
            self._calls.pop((caller, pid), None)

    def _key(self, who: int | str | None) -> str:
        """The participant key of a pid, or of a name participant's key (as it is)."""
        return who if isinstance(who, str) else self.ids.key(who)

    def _keep(self, src: int | str | None, dst: int | None) -> bool:
        only = self.only
        if only is None:
            return True
        for who in (src, dst):
            if isinstance(who, str):  # a name participant: picked by its name or key
                if who in only or who[len(NAMED):] in only:
                    return True
            elif self.ids.matches(self.ids.key(who), who, only):
                return True
        return False

    def _dump_part(self, p: dict[str, Any]) -> dict[str, Any]:
        key = p["key"]
        if key.startswith(NAMED) and key not in self.ids.meta:
            return {"key": key, "order": p["order"], "label": key[len(NAMED):], "kind": "name"}
        m = self.ids.meta.get(key)
        return {"key": key, "order": p["order"], "label": self.ids.label(key),
                "kind": m["kind"] if m else "outside"}

    def _part(self, pid: int | str | None) -> None:
        k = self._key(pid)
        p = self.parts.get(k)
        if p is not None:
            p["refs"] += 1
            return
        if pid and not isinstance(pid, str) and pid != 1 and pid not in self.ids.key_of:
            k = self.ids.ensure(pid)
        self._order += 1
        self.parts[k] = p = {"key": k, "order": self._order, "refs": 1}
        self.pending.put("parts", k, p)

    def _unref(self, pid: int | str | None) -> None:
        k = self._key(pid)
        p = self.parts.get(k)
        if p is not None:
            p["refs"] -= 1
            if p["refs"] <= 0:
                del self.parts[k]
                self.pending.put("parts", k, None)

    def _dump_arrow(self, a: dict[str, Any]) -> dict[str, Any]:
        # "llm" stays the model's tuple (JSON writes it as a list): with numbers and
        # strings only, the dict is never tracked by the garbage collector, and the
        # sequence view's snapshot trait keeps up to max_arrows of them for a second
        # or more at a time (a list in each was two tracked objects an arrow to walk
        # in every full collection of a restart storm)
        key = self._key
        d = {"id": a["id"], "kind": a["kind"], "from": key(a["src"]), "to": key(a["dst"]), "t": a["t"],
             "label": a["label"], "llm": a["llm"]}
        if a["reply_to"] is not None:
            d["reply_to"] = a["reply_to"]
            d["lat"] = a["lat"]
        return d

    def _arrow(self, ev: Any, kind: str, src: int | str | None, dst: int | None,
               label: str) -> dict[str, Any] | None:
        if not self._keep(src, dst):
            return None
        self._part(src)
        self._part(dst)
        if self.t0 is None:
            self.t0 = ev[1]
        a = _arrow(ev[0], kind, src, dst, ev[1], label)
        self.arrows[ev[0]] = a
        self.pending.put("arrows", ev[0], a)
        if len(self.arrows) > self.max_arrows + trim_slack(self.max_arrows):
            while len(self.arrows) > self.max_arrows:
                old, gone = self.arrows.popitem(last=False)
                self.pending.put("arrows", old, None)
                self._unref(gone["src"])  # a lifeline goes when its last arrow does
                self._unref(gone["dst"])
        return a

    def _on_call(self, ev: Any) -> None:
        d = ev[9] or {}
        a = self._arrow(ev, "call", ev[4], ev[7], short(d.get("request"), 48) if "request" in d else "")
        if a is None:
            return
        self._calls.setdefault((ev[4], ev[7]), deque()).append(a)
        self._into.setdefault(ev[7], set()).add(ev[4])
        self._serving.setdefault(ev[7], []).append(a)

    def _on_reply(self, ev: Any) -> None:
        callee, caller = ev[4], ev[7]
        q = self._calls.get((caller, callee))
        call = q.popleft() if q else None
        if q is not None and not q:
            del self._calls[(caller, callee)]
        a = self._arrow(ev, "reply", callee, caller, "")
        if call is not None:
            serving = self._serving.get(callee)
            if serving is not None:
                try:
                    serving.remove(call)
                except ValueError:
                    pass
                if not serving:
                    del self._serving[callee]
            if a is not None:
                a["reply_to"] = call["id"]
                a["lat"] = lat = round(ev[1] - call["t"], 6)
                a["llm"] = call["llm"]
                a["label"] = f"{lat * 1000:.0f} ms"

    def _on_plain(self, ev: Any) -> None:
        self._arrow(ev, ev[3], ev[4], ev[7], "")

    def _on_signal(self, ev: Any) -> None:
        self._arrow(ev, "exit", ev[7], ev[4], exit_text(ev[8], 40))

    def _on_down(self, ev: Any) -> None:
        src: int | str | None = ev[7]
        if src is None:  # a monitor by a name nobody held: the Down is about that name
            name = (ev[9] or {}).get("name")
            if name is not None:
                src = f"{NAMED}{name}"
        self._arrow(ev, "down", src, ev[4], exit_text(ev[8], 40))

    def _on_llm_request(self, ev: Any) -> None:
        f = llm_fields(ev)
        rid = str(f["rid"])
        self.llm[rid] = {"id": rid, "pid": ev[4], "t0": ev[1], "model": f.get("model"),
                         "status": "open", "ttft": None, "t1": None, "tokens": None, "cost": None}
        if len(self.llm) > self.max_arrows:
            self.llm.popitem(last=False)
        serving = self._serving.get(ev[4])
        if serving:
            a = serving[-1]
            a["llm"] = (*a["llm"], rid)
            if a["id"] in self.arrows:
                self.pending.put("arrows", a["id"], a)

    def _on_llm_update(self, ev: Any) -> None:
        f = llm_fields(ev)
        info = self.llm.get(str(f["rid"]))
        if info is None:
            return
        if ev[3] == "llm_first_token":
            info["ttft"] = f.get("ttft")
        else:
            info["t1"] = ev[1]
            info["tokens"] = f.get("tokens_out")
            info["cost"] = f.get("cost")
            info["status"] = "error" if ev[3] == "llm_error" else "ok"

    # -- outputs -----------------------------------------------------------------
    def tick(self, now: float, procs: Any = None) -> None:
        self.now = max(self.now, now)

    def size(self) -> int:
        """How many items a snapshot holds (its cost grows with it: see Pump)."""
        return len(self.parts) + len(self.arrows)

    def snapshot(self) -> dict[str, Any]:
        return {"parts": [self._dump_part(p) for p in self.parts.values()],
                "arrows": [self._dump_arrow(a) for a in self.arrows.values()], "t0": self.t0,
                "now": self.now}

    def details(self, arrow_id: int) -> dict[str, Any] | None:
        a = self.arrows.get(arrow_id)
        if a is None:
            return None
        d = self._dump_arrow(a)
        d["llm_calls"] = [dict(self.llm[r]) for r in a["llm"] if r in self.llm]
        return d


def sequence_view(events: Iterable[Any], **options: Any) -> dict[str, Any]:
    """The sequence-diagram snapshot after ``events``."""
    model = SequenceModel(Pending(), **options)
    for ev in events:
        model.apply(ev)
    return model.snapshot()
