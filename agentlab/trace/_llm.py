"""LLM requests and tool calls, as tables.

The LLM layer puts its events in the stream with ``runtime.emit(kind, pid,
**fields)``: the event's pid/name is the agent, its data holds the fields.
``llm_calls(events)`` has one row per request attempt (``request_id``), built
from these events and data fields (anything missing is left empty):

=====================  =====================================================================
event kind             data fields read
=====================  =====================================================================
``llm_request``        ``request_id``, ``provider``, ``model``, ``attempt``,
                       ``input_tokens_estimate``
``llm_first_token``    ``request_id``, ``ttft``
``llm_response``,      ``request_id``, ``provider``, ``model``, ``attempt``,
``llm_error``          ``input_tokens``, ``output_tokens``, ``input_estimated``,
                       ``output_estimated``, ``usage_reported``, ``cost_usd`` (or
                       ``cost``), ``latency``, ``ttft``, ``stop_reason``;
                       ``llm_error`` also ``error_type``, ``status``
=====================  =====================================================================

======================  ========  ==================================================
column                  dtype     meaning
======================  ========  ==================================================
``request_id``          string    one attempt
``pid``                 int64     the agent's process
``agent``               category  its name (or ``"<0.N.0>"`` when unnamed)
``provider``, ``model`` category
``attempt``             Int64     1 for the first try, 2 for the first retry...
``retries``             Int64     ``attempt - 1``
``final``               bool      no later attempt followed (same agent, attempt 1
                                  starts a new request)
``start``, ``end``      float64   runtime-clock seconds (``start`` is ``end -
                                  latency`` when the request event is missing)
``latency``             float64   ``latency`` field, else ``end - start``
``ttft``                float64   time to first token
``input_tokens``,       Int64     as reported, or estimated
``output_tokens``
``usage_reported``      boolean   the provider reported the token counts
``input_estimated``,    boolean   which counts were estimated
``output_estimated``
``cost``                float64   USD (NaN: unpriced model)
``tokens_per_s``        float64   ``(output_tokens - 1) / (latency - ttft)``: the
                                  streaming rate after the first token (``ttft``
                                  covers that one); NaN with fewer than two
                                  output tokens or no ``ttft``
``outcome``             category  ``ok``, ``cancelled``, ``error``, ``pending``
``stop_reason``         category
``error_type``          category  ``llm_error``'s ``error_type``
======================  ========  ==================================================

``tool_calls(events)`` has one row per tool call, from ``tool_start`` and
``tool_result`` events matched by ``call_id`` (or ``id``); fields read:
``call_id``/``id``, ``name``/``tool``, ``error``/``error_type``/``is_error``
and ``duration``/``latency``. Columns: ``call_id`` (string), ``pid``,
``agent``, ``tool`` (category), ``start``, ``end``, ``duration`` (float64),
``outcome`` (``ok``, ``error``, ``pending``), ``error_type`` (category).
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pandas as pd

from ._frame import parse_data
from ._tables import as_events, category, of_kind

__all__ = ["LLM_COLUMNS", "TOOL_COLUMNS", "llm_calls", "tool_calls"]

LLM_COLUMNS = (
    "request_id",
    "pid",
    "agent",
    "provider",
    "model",
    "attempt",
    "retries",
    "final",
    "start",
    "end",
    "latency",
    "ttft",
    "input_tokens",
    "output_tokens",
    "usage_reported",
    "input_estimated",
    "output_estimated",
    "cost",
    "tokens_per_s",
    "outcome",
    "stop_reason",
    "error_type",
)

_RAW = (
    "request_id", "pid", "agent", "provider", "model", "attempt", "start", "end", "latency",
    "ttft", "input_tokens", "output_tokens", "usage_reported", "input_estimated",
    "output_estimated", "cost", "outcome", "stop_reason", "error_type",
)

TOOL_COLUMNS = ("call_id", "pid", "agent", "tool", "start", "end", "duration", "outcome", "error_type")


def _agent_names(rows: pd.DataFrame) -> list[str]:
    names = rows["name"].astype(object).to_numpy()
    pids = rows["pid"].to_numpy(np.int64)
    return [n if isinstance(n, str) else f"<0.{p}.0>" for n, p in zip(names, pids, strict=True)]


def _floats(values: list[Any]) -> np.ndarray:
    return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)


def _bools(values: list[Any]) -> pd.arrays.BooleanArray:
    return pd.array([None if v is None else bool(v) for v in values], dtype="boolean")


def llm_calls(events: Any) -> pd.DataFrame:
    """One row per LLM request attempt (columns in this module's docstring)."""
    events = as_events(events)
    req = of_kind(events, "llm_request")
    first = of_kind(events, "llm_first_token")
    done = of_kind(events, "llm_response", "llm_error")
    req_d = parse_data(req["data"])
    first_d = parse_data(first["data"])
    done_d = parse_data(done["data"])

    req_at = {d.get("request_id"): i for i, d in enumerate(req_d)}
    done_at = {d.get("request_id"): i for i, d in enumerate(done_d)}
    ttft_of = {d.get("request_id"): d.get("ttft") for d in first_d}
    ids: list[Any] = list(req_at)
    ids += [r for r in done_at if r not in req_at]
    ids = [r for r in ids if r is not None]

    req_t = req["time"].to_numpy(np.float64)
    done_t = done["time"].to_numpy(np.float64)
    req_names = _agent_names(req)
    done_names = _agent_names(done)
    done_kinds = done["kind"].astype(object).to_numpy()
    req_pid = req["pid"].to_numpy(np.int64)
    done_pid = done["pid"].to_numpy(np.int64)

    col: dict[str, list[Any]] = {k: [] for k in _RAW}
    for rid in ids:
        i = req_at.get(rid)
        j = done_at.get(rid)
        rd = req_d[i] if i is not None else {}
        dd = done_d[j] if j is not None else {}
        merged = {**rd, **dd}
        end = float(done_t[j]) if j is not None else np.nan
        latency = dd.get("latency")
        if i is not None:
            start = float(req_t[i])
        elif latency is not None:
            start = end - float(latency)
        else:
            start = np.nan
        if latency is None:
            latency = end - start
        ttft = dd.get("ttft")
        if ttft is None:
            ttft = ttft_of.get(rid)
        if j is None:
            outcome = "pending"
        elif done_kinds[j] == "llm_error":
            outcome = "error"
        elif dd.get("stop_reason") == "cancelled":
            outcome = "cancelled"
        else:
            outcome = "ok"
        if i is not None:
            pid, agent = int(req_pid[i]), req_names[i]
        else:
            assert j is not None
            pid, agent = int(done_pid[j]), done_names[j]
        values = {
            "request_id": str(rid),
            "pid": pid,
            "agent": agent,
            "provider": merged.get("provider"),
            "model": merged.get("model"),
            "attempt": merged.get("attempt"),
            "start": start,
            "end": end,
            "latency": latency,
            "ttft": ttft,
            "input_tokens": dd.get("input_tokens", rd.get("input_tokens_estimate")),
            "output_tokens": dd.get("output_tokens"),
            "usage_reported": dd.get("usage_reported"),
            "input_estimated": dd.get("input_estimated", True if not dd and rd else None),
            "output_estimated": dd.get("output_estimated"),
            "cost": dd.get("cost_usd", dd.get("cost")),
            "outcome": outcome,
            "stop_reason": dd.get("stop_reason"),
            "error_type": dd.get("error_type"),
        }
        for k, v in values.items():
            col[k].append(v)
    start_a = _floats(col["start"])
    end_a = _floats(col["end"])
    lat_a = _floats(col["latency"])
    ttft_a = _floats(col["ttft"])
    out_a = pd.array(col["output_tokens"], dtype="Int64")
    attempt = pd.array(col["attempt"], dtype="Int64")
    gen = lat_a - ttft_a  # first token to end: NaN without a first token
    after_first = out_a.to_numpy(np.float64, na_value=np.nan) - 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where((gen > 0) & (after_first >= 1), after_first / gen, np.nan)
    frame = pd.DataFrame(
        {
            "request_id": pd.array(col["request_id"], dtype="string"),
            "pid": np.array(col["pid"], dtype=np.int64),
            "agent": category(col["agent"]),
            "provider": category(col["provider"]),
            "model": category(col["model"]),
            "attempt": attempt,
            "retries": attempt - 1,
            "final": np.zeros(len(ids), dtype=bool),
            "start": start_a,
            "end": end_a,
            "latency": lat_a,
            "ttft": ttft_a,
            "input_tokens": pd.array(col["input_tokens"], dtype="Int64"),
            "output_tokens": out_a,
            "usage_reported": _bools(col["usage_reported"]),
            "input_estimated": _bools(col["input_estimated"]),
            "output_estimated": _bools(col["output_estimated"]),
            "cost": _floats(col["cost"]),
            "tokens_per_s": rate,
            "outcome": category(col["outcome"]),
            "stop_reason": category(col["stop_reason"]),
            "error_type": category(col["error_type"]),
        }
    )
    frame = frame.sort_values(["start", "request_id"], kind="stable", na_position="last")
    frame = frame.reset_index(drop=True)
    frame["final"] = _final(frame)
    return frame


def _final(frame: pd.DataFrame) -> np.ndarray:
    """True for the last attempt of each request (per agent, attempt 1 opens a request)."""
    if frame.empty:
        return np.zeros(0, dtype=bool)
    attempt = frame["attempt"].fillna(1).to_numpy(np.int64)
    pid = frame["pid"].to_numpy(np.int64)
    order = np.lexsort((frame["start"].fillna(np.inf).to_numpy(), pid))
    final = np.ones(len(frame), dtype=bool)
    for a, b in itertools.pairwise(order):
        if pid[a] == pid[b] and attempt[b] > attempt[a]:
            final[a] = False
    return final


def tool_calls(events: Any) -> pd.DataFrame:
    """One row per tool call (columns in this module's docstring)."""
    events = as_events(events)
    start = of_kind(events, "tool_start")
    end = of_kind(events, "tool_result")
    sd = parse_data(start["data"])
    ed = parse_data(end["data"])

    def key(d: dict[str, Any]) -> Any:
        return d.get("call_id", d.get("id"))

    s_at = {key(d): i for i, d in enumerate(sd)}
    e_at = {key(d): i for i, d in enumerate(ed)}
    ids = list(s_at) + [k for k in e_at if k not in s_at]
    s_t = start["time"].to_numpy(np.float64)
    e_t = end["time"].to_numpy(np.float64)
    s_names, e_names = _agent_names(start), _agent_names(end)
    s_pid, e_pid = start["pid"].to_numpy(np.int64), end["pid"].to_numpy(np.int64)
    rows = []
    for k in ids:
        i, j = s_at.get(k), e_at.get(k)
        a = sd[i] if i is not None else {}
        b = ed[j] if j is not None else {}
        t0 = s_t[i] if i is not None else np.nan
        t1 = e_t[j] if j is not None else np.nan
        dur = b.get("duration", b.get("latency"))
        if dur is None:
            dur = t1 - t0
        elif i is None:
            t0 = t1 - float(dur)
        failed = bool(b.get("error") or b.get("is_error") or b.get("error_type"))
        err = b.get("error_type") or "error"
        rows.append(
            (
                None if k is None else str(k),
                int(s_pid[i]) if i is not None else int(e_pid[j]),
                s_names[i] if i is not None else e_names[j],  # type: ignore[index]
                a.get("name", a.get("tool", b.get("name", b.get("tool")))),
                t0,
                t1,
                dur,
                "pending" if j is None else ("error" if failed else "ok"),
                err if failed else None,
            )
        )
    cols: list[Any] = list(zip(*rows, strict=True)) if rows else [[] for _ in range(9)]
    return pd.DataFrame(
        {
            "call_id": pd.array(list(cols[0]), dtype="string"),
            "pid": np.array(list(cols[1]), dtype=np.int64),
            "agent": category(list(cols[2])),
            "tool": category(list(cols[3])),
            "start": _floats(list(cols[4])),
            "end": _floats(list(cols[5])),
            "duration": _floats(list(cols[6])),
            "outcome": category(list(cols[7])),
            "error_type": category(list(cols[8])),
        }
    )

