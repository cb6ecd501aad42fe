"""Golden delta streams shared by the Python and the front-end tests.

The kernel side folds events into deltas (``agentlab/ui``); the browser side
applies them (``widgets/src``). ``widgets/test/fixtures/*.json`` holds, per
view, the deltas a run produces and the state they must add up to; vitest
replays them through the real front-end state classes. Regenerate after a
change to the view models with::

    AGENTLAB_WRITE_FIXTURES=1 python -m pytest tests/ui/test_fixtures.py
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agentlab.ui._pending import Pending, to_rows
from agentlab.ui._sequence import SequenceModel
from agentlab.ui._stream import StreamModel
from agentlab.ui._synthetic import Script, team_run
from agentlab.ui._timeline import TimelineModel
from agentlab.ui._tree import TreeModel

FIXTURES = Path(__file__).resolve().parents[2] / "widgets" / "test" / "fixtures"
MODELS = {"tree": TreeModel, "stream": StreamModel, "timeline": TimelineModel, "sequence": SequenceModel}


def storm_run() -> list[Any]:
    """``team_run`` plus a burst: three agents streaming, two restarts, tool-call deltas."""
    events = team_run()
    s = Script(t0=events[-1].time + 0.01, first_pid=500)
    sup = s.spawn("burst", kind="supervisor")
    agents = [s.child(sup, f"a{i}", name=f"a{i}") for i in range(3)]
    rids = [s.llm_request(a) for a in agents]
    for k in range(60):
        for a, rid in zip(agents, rids, strict=True):
            s.tokens(a, rid, [f"t{k} "], first=(k == 0))
        if k == 20:
            s.tool_call(agents[0], rids[0], "c9", "calc", ['{"x":', " 1", "}"])
        if k in (30, 45):
            s.exit(agents[1], "killed")
            agents[1] = s.restart(sup, agents[1], "a1", n=1 if k == 30 else 2)
            rids[1] = s.llm_request(agents[1])
    for a, rid in zip(agents, rids, strict=True):
        s.llm_response(a, rid, 60)
    return _renumber(events, s.events)


def _renumber(a: list[Any], b: list[Any]) -> list[Any]:
    from agentlab import Event

    out = list(a)
    for ev in b:
        out.append(Event.make(len(out) + 1, *tuple(ev)[1:]))
    return out


def deltas_for(kind: str, events: list[Any], chunk: int = 37) -> dict[str, Any]:
    """Fold ``events`` ``chunk`` at a time, taking a delta after each chunk (as the pump does)."""
    pending = Pending()
    model = MODELS[kind](pending)
    first = model.snapshot()
    messages = []
    seq = 0
    for i in range(0, len(events), chunk):
        for ev in events[i : i + chunk]:
            model.apply(ev)
        model.tick(events[min(i + chunk, len(events)) - 1].time)
        msg = pending.take()
        if msg is not None:
            msg = to_rows(msg, getattr(model, "ROWS", ()))  # as the pump sends it
            seq += 1
            messages.append({"type": "delta", "seq": seq, **msg})
    return {"initial": {"seq": 0, "view": first}, "messages": messages,
            "final": json.loads(json.dumps(model.snapshot()))}


def render_all() -> dict[str, str]:
    events = storm_run()
    return {kind: json.dumps(deltas_for(kind, events), indent=None, sort_keys=True) for kind in MODELS}
