"""Every table and helper gives each column the same dtype with rows and without."""

from __future__ import annotations

from typing import Any

import pandas as pd

from agentlab.agents._demo import run_demo
from agentlab.trace import Recorder, Run, compare


def _kind(dtype: Any) -> str:
    """A dtype as text; a categorical's says what its categories are too."""
    if isinstance(dtype, pd.CategoricalDtype):
        return f"category[{dtype.categories.dtype}]"
    return str(dtype)


def _signature(frame: pd.DataFrame | pd.Series) -> dict[str, Any]:
    if isinstance(frame, pd.Series):
        frame = frame.to_frame()
    index = frame.index
    return {
        "columns": [(c, _kind(t)) for c, t in frame.dtypes.items()],
        "index": [(index.names[i], _kind(index.get_level_values(i).dtype))
                  for i in range(index.nlevels)],
    }


def _everything(run: Run) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for table in ("events", "processes", "restarts", "messages", "llm_calls", "tool_calls",
                  "availability", "intensity_headroom", "message_latency"):
        out[table] = _signature(getattr(run, table)())
    for by in ("agent", "model", "provider", "pid"):
        out[f"llm_usage(by={by})"] = _signature(run.llm_usage(by=by))
    for by in ("supervisor", "child_id", "strategy", "supervisor_pid"):
        out[f"mttr(by={by})"] = _signature(run.mttr(by=by))
    rate = run.restart_rate()
    out["restart_rate"] = {**_signature(rate[["total"]]), "names": rate.columns.name,
                           "labels": rate.columns.dtype}
    both = compare(run, run)
    out["compare"] = {"dtypes": sorted(set(map(str, both.dtypes))), "index": both.index.dtype}
    return out


async def test_empty_and_full_runs_have_the_same_dtypes() -> None:
    full = (await run_demo(seed=7, record=True)).run
    assert full is not None
    for table in ("restarts", "messages", "llm_calls", "tool_calls", "availability",
                  "intensity_headroom", "message_latency", "llm_usage"):
        assert len(getattr(full, table)()), f"the demo run has no {table} rows"
    empty = Recorder().run()
    assert empty.processes().empty and empty.llm_usage().empty
    have, want = _everything(empty), _everything(full)
    differ = [what for what in want if have[what] != want[what]]
    assert differ == [], {what: (have[what], want[what]) for what in differ}
    # text is object (None when missing), as a pandas 2 user gets it too
    av = full.availability()
    assert av["slot"].dtype == object and av["supervisor"].map(type).isin([str, type(None)]).all()
    assert full.llm_usage().index.dtype == object
