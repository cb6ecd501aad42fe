"""Questions a run answers: how fast it recovers, how available each child was,
how close supervisors came to giving up, how slow messages and models were.

Each function takes a :class:`~agentlab.trace.Run` (a Recorder works too)::

    mttr(run)                     # 0.25: mean seconds from a crash until it runs again
    availability(run)             # per child slot: uptime, downtime, availability
    restart_rate(run, window=10)  # restarts per 10 s window, per supervisor
    intensity_headroom(run)       # restarts left before each supervisor gives up
    message_latency(run)          # call latency and queue delay percentiles
    llm_usage(run)                # per agent: latency, TTFT, tokens/s, cost
    compare(run_a, run_b)         # the summaries side by side
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ._frame import as_objects
from ._tables import of_kind

if TYPE_CHECKING:
    from ._run import Run

__all__ = [
    "availability",
    "compare",
    "intensity_headroom",
    "llm_usage",
    "message_latency",
    "mttr",
    "restart_rate",
    "summary",
]


def _run_start(run: Run) -> float:
    """When the run began on its clock: when recording began (``RunInfo.began``) or
    its first event, whichever is earlier; 0.0 for an empty run of unknown start."""
    ev = run.events()
    first = float(ev["time"].min()) if len(ev) else None
    began = getattr(run.info, "began", None)
    if began is None:
        return first if first is not None else 0.0
    return float(began) if first is None else min(first, float(began))


def _run_end(run: Run) -> float:
    """When the run ended on its clock: when recording stopped, or the last event."""
    ev = run.events()
    last = float(ev["time"].max()) if len(ev) else 0.0
    ended = getattr(run.info, "ended", None)
    return max(last, float(ended)) if ended is not None else last


def mttr(run: Run, by: str | None = None) -> Any:
    """Mean time to recovery: seconds from a child's crash until every child its
    supervisor restarted for it runs again (``restarts().time_to_recovery``).

    Each crash counts once: a supervisor's retries after a failed start
    (``restarts().retry``) are part of recovering from the crash before them.
    ``by="supervisor"`` (or ``"child_id"``, ``"strategy"``, ``"supervisor_pid"``)
    gives a Series; restarts that never recovered (the supervisor gave up) are
    left out. NaN when nothing restarted.
    """
    r = run.restarts()
    r = r[~r["retry"].to_numpy(bool)]
    if by is None:
        ttr = r["time_to_recovery"].dropna()
        return float(ttr.mean()) if len(ttr) else math.nan
    _check_by("mttr", by, ("supervisor", "child_id", "strategy", "supervisor_pid"))
    return r.groupby(by, observed=True)["time_to_recovery"].mean()


def _check_by(what: str, by: str, choices: tuple[str, ...]) -> None:
    if by not in choices:
        raise ValueError(
            f"{what}(by={by!r}): group by one of " + ", ".join(map(repr, choices)) + "."
        )


def _slots(p: pd.DataFrame, restarts: pd.DataFrame | None = None) -> np.ndarray:
    """A stable name for the role a process plays: ``supervisor/child_id``, its path,
    or its pid.

    Given the run's ``restarts``, a name that processes alive at the same time
    share (a dynamic supervisor's children share their spec's id) is split by
    restart chains: each child and the replacements that followed it get
    ``"<name> <0.N.0>"``, N the chain's first pid.
    """
    child = p["child_id"].astype(object).to_numpy()
    sup = p["supervisor"].astype(object).to_numpy()
    path = p["path"].astype(object).to_numpy()
    pid = p["pid"].to_numpy(np.int64)
    out = np.empty(len(p), dtype=object)
    for i in range(len(p)):
        c = child[i]
        if isinstance(c, str):
            s = sup[i]
            out[i] = f"{s}/{c}" if isinstance(s, str) else c
        elif isinstance(path[i], str):
            out[i] = path[i]
        else:
            out[i] = f"<0.{pid[i]}.0>"
    if restarts is None or len(p) < 2:
        return out
    lives = pd.DataFrame(
        {
            "slot": out,
            "start": p["start"].fillna(-np.inf).to_numpy(np.float64),
            "end": p["end"].fillna(np.inf).to_numpy(np.float64),
        }
    ).sort_values(["slot", "start"], kind="stable")
    ended_before = lives.groupby("slot", sort=False)["end"].cummax()
    ended_before = ended_before.groupby(lives["slot"], sort=False).shift(1)
    overlaps = (lives["start"] < ended_before).to_numpy(bool)
    shared = set(lives["slot"].to_numpy(object)[overlaps])
    if not shared:
        return out
    links = restarts[restarts["pid"].notna() & restarts["new_pid"].notna()]
    # each chain's first pid, in one pass: restarts come in order, so the one that
    # started a replacement's predecessor has been seen before it
    root: dict[int, int] = {}
    for old, new in zip(links["pid"].astype(int).tolist(), links["new_pid"].astype(int).tolist(),
                        strict=True):
        root[new] = root.get(old, old)
    for k in np.flatnonzero(np.isin(out, list(shared))):
        out[k] = f"{out[k]} <0.{root.get(int(pid[k]), int(pid[k]))}.0>"
    return out


def availability(run: Run) -> pd.DataFrame:
    """Uptime and downtime per child slot (a supervised child across its restarts;
    an unsupervised process by its path, or pid; a dynamic supervisor's child by
    ``"<supervisor>/<child_id> <0.N.0>"``, N its first pid, since its children
    share their spec's id).

    A process is up from when it is ready (its ``init`` returned) to its exit.
    After an exit its slot is down until the next process in it is ready (or
    the end of the run if none came) when the exit was

    * a crash (an abnormal reason);
    * a stop for a restart (a bystander that one_for_all or rest_for_one
      stopped is down until it is back), or followed by another process in
      the slot;
    * because a supervisor gave up: a supervisor that gave up, and everything
      below it that it stopped, is down from then on (nothing restarts them,
      unless the supervisor's own supervisor does).

    Any other exit (normal, or a shutdown that nothing followed), and any exit of
    a ``temporary`` child (never restarted, by design: a tool run, an ask), ends
    the slot without downtime. A process whose ``init`` failed or had not finished
    (``processes().init`` is ``stop``, ``ignore`` or ``starting``) never came
    up: it adds no uptime and no downtime of its own (a slot whose only
    process is still starting has neither, and NaN availability), but counts
    in ``instances`` and ``crashes``.

    A process whose init outcome is not in the trace (``processes().init`` is
    ``unknown``: events after its spawn were dropped) may have come up or not:
    from its spawn to its exit (or the end of the run) its slot is neither up nor
    down but ``unknown``, and the slot's downtime before it (a crash it replaced)
    ends at its spawn. Its exit counts as any other.

    Columns: ``slot``, ``supervisor``, ``child_id`` (object: text, None when
    there is none), ``instances``, ``crashes`` (int64), ``uptime``,
    ``downtime``, ``unknown`` (float64, seconds; ``unknown`` is 0.0 unless
    events were dropped) and ``availability`` (float64:
    ``uptime / (uptime + downtime)``, NaN without either: the unknown time is
    left out of it).
    """
    p = run.processes()
    end_of_run = _run_end(run)
    # a process alive before the recording began is up from its beginning
    up_from = p["ready"].fillna(p["start"]).fillna(_run_start(run))
    unknown = (p["init"] == "unknown").to_numpy(bool)
    never_up = (p["init"].notna() & p["ready"].isna()).to_numpy(bool) & ~unknown
    r = run.restarts()
    slots = _slots(p, r)
    last_pid = pd.Series(p["pid"].to_numpy(np.int64)).groupby(slots).transform("max")
    followed = p["pid"].to_numpy(np.int64) < last_pid.to_numpy(np.int64)
    ev = run.events()
    exits = of_kind(ev, "exit").drop_duplicates("pid")
    exit_seq = pd.Series(exits["seq"].to_numpy(np.float64), index=exits["pid"].to_numpy(np.int64))
    exit_seq_of = exit_seq.reindex(p["pid"].to_numpy(np.int64)).to_numpy(np.float64)
    # a temporary child is never restarted, by design: its exit ends its slot
    final = (p["restart_type"].astype(object) == "temporary").to_numpy(bool)
    down_after = followed | (~final & (
        p["crashed"].to_numpy(bool)
        | _stopped_for_restart(ev, r, p, exit_seq_of)
        | _given_up_on(ev, p, exit_seq_of)
    ))
    p = p.assign(slot=slots, start=up_from, down_after=down_after, unknown=unknown)
    up_rows = p[~never_up].sort_values(["slot", "start", "pid"], kind="stable")
    ends = up_rows["end"].fillna(end_of_run).to_numpy(np.float64)
    nxt = up_rows.groupby("slot", sort=False)["start"].shift(-1).fillna(end_of_run)
    down_after = up_rows["down_after"].to_numpy(bool)
    down = np.where(down_after, np.maximum(nxt.to_numpy(np.float64) - ends, 0.0), 0.0)
    lived = np.maximum(ends - up_rows["start"].to_numpy(np.float64), 0.0)
    not_known = up_rows["unknown"].to_numpy(bool)
    up = np.where(not_known, 0.0, lived)
    rows = pd.concat([up_rows, p[never_up]])
    zeros = np.zeros(int(never_up.sum()))
    work = pd.DataFrame(
        {
            "slot": rows["slot"].to_numpy(object),
            "supervisor": rows["supervisor"].astype(object).to_numpy(),
            "child_id": rows["child_id"].astype(object).to_numpy(),
            "up": np.concatenate([up, zeros]),
            "down": np.concatenate([down, zeros]),
            "unknown": np.concatenate([np.where(not_known, lived, 0.0), zeros]),
            "crashed": rows["crashed"].to_numpy(bool),
        }
    )
    g = work.groupby("slot", sort=True)
    out = pd.DataFrame(
        {
            "supervisor": g["supervisor"].first(),
            "child_id": g["child_id"].first(),
            "instances": g.size(),
            "crashes": g["crashed"].sum(),
            "uptime": g["up"].sum(),
            "downtime": g["down"].sum(),
            "unknown": g["unknown"].sum(),
        }
    )
    total = out["uptime"] + out["downtime"]
    out["availability"] = np.where(total > 0, out["uptime"] / total.where(total > 0, 1.0), np.nan)
    out.index.name = "slot"
    return _typed(out.reset_index(), _AVAILABILITY)


_AVAILABILITY = {"slot": object, "supervisor": object, "child_id": object, "instances": np.int64,
                 "crashes": np.int64, "uptime": np.float64, "downtime": np.float64,
                 "unknown": np.float64, "availability": np.float64}


def _typed(frame: pd.DataFrame, dtypes: dict[str, Any]) -> pd.DataFrame:
    """``frame`` with these columns in this order and of these dtypes, whether or not
    it has rows (pandas infers other dtypes for an empty frame, and under pandas 3
    ``str`` for text it was given as objects). Missing text is ``None``."""
    out = frame.reindex(columns=list(dtypes)).astype(dtypes)
    for col, dtype in dtypes.items():
        if dtype is object:
            out[col] = out[col].where(out[col].notna(), None)
    return out


def _given_up_on(ev: pd.DataFrame, p: pd.DataFrame, exit_seq: np.ndarray) -> np.ndarray:
    """Which processes exited (``exit_seq``: the seqs of their exits) after a
    supervisor gave up that is the process itself or above it
    (``processes().supervisor_pid``, and so on up): the ones its giving up stopped."""
    gave = of_kind(ev, "supervisor_gave_up")
    out = np.zeros(len(p), dtype=bool)
    if gave.empty or p.empty:
        return out
    gave_seq = gave.groupby("pid")["seq"].min().astype(np.float64)
    pids = p["pid"].to_numpy(np.int64)
    sup_of = pd.Series(p["supervisor_pid"].to_numpy(np.float64, na_value=np.nan), index=pids)
    cur = pids.astype(np.float64)
    for _ in range(len(p)):  # up the tree, a level a turn (bounded, should pids loop)
        out |= gave_seq.reindex(cur).to_numpy(np.float64) < exit_seq
        cur = sup_of.reindex(cur).to_numpy(np.float64)
        if np.isnan(cur).all():
            break
    return out


def _stopped_for_restart(
    ev: pd.DataFrame, r: pd.DataFrame, p: pd.DataFrame, exit_seq: np.ndarray
) -> np.ndarray:
    """Which processes a restart stopped: a supervisor's restart that named their
    child id among the ``affected`` came after they started and before they exited
    (a supervisor stops the bystanders after its ``restart`` event)."""
    out = np.zeros(len(p), dtype=bool)
    if r.empty or not r["siblings_affected"].fillna(0).astype(bool).any():
        return out
    lens = r["affected"].map(len).to_numpy(np.int64)
    rows = np.repeat(np.arange(len(r)), lens)
    restart_seq = r["seq"].to_numpy(np.float64)[rows]
    by_restart = pd.DataFrame(
        {
            "seq": restart_seq,  # the join key: merge_asof keeps the left side's
            "sup": r["supervisor_pid"].to_numpy(np.float64)[rows],
            "child": [c for aff in r["affected"] for c in aff],
            "restart_seq": restart_seq,
        }
    )
    starts = of_kind(ev, "child_start").drop_duplicates("peer", keep="last")
    start_seq = pd.Series(starts["seq"].to_numpy(np.float64),
                          index=starts["peer"].to_numpy(np.float64, na_value=-1.0))
    procs = pd.DataFrame(
        {
            "at": np.arange(len(p)),
            "seq": exit_seq,
            "sup": p["supervisor_pid"].to_numpy(np.float64, na_value=np.nan),
            "child": p["child_id"].astype(object).to_numpy(),
            "started": start_seq.reindex(p["pid"].to_numpy(np.float64)).to_numpy(np.float64),
        }
    )
    procs = procs[procs["seq"].notna() & procs["sup"].notna() & procs["child"].notna()]
    if procs.empty:
        return out
    found = pd.merge_asof(
        procs.sort_values("seq"), by_restart.sort_values("seq"), on="seq", by=["sup", "child"],
        direction="backward",
    )
    hit = (found["restart_seq"] > found["started"]).to_numpy(bool)
    out[found["at"].to_numpy(np.int64)[hit]] = True
    return out


def restart_rate(run: Run, window: float = 1.0) -> pd.DataFrame:
    """Restarts per ``window`` seconds: one row per window (index: its start time, a
    multiple of ``window``, from the window holding the run's beginning to the one
    holding its end), one column per supervisor (named as ``restarts().supervisor``
    names it), and ``total``. A window holds its start and not its end: with
    ``window=0.1`` a restart at 0.3 s is counted from 0.3, whatever the float
    arithmetic says (0.3 / 0.1 is 2.9999999999999996). Divide by ``window`` for
    a rate."""
    if not window > 0 or not math.isfinite(window):
        raise ValueError(f"window must be a positive number of seconds, not {window!r}")
    r = run.restarts()
    first, last = _window_of(np.array([_run_start(run), _run_end(run)]), window).tolist()
    n = last - first + 1
    index = pd.Index(_window_starts(first, n, window), name="window_start")
    if r.empty:
        table = pd.DataFrame({"total": np.zeros(n, dtype=np.int64)}, index=index)
    else:
        bins = _window_of(r["time"].to_numpy(np.float64), window) - first
        sup = r["supervisor"].astype(object).fillna("?").to_numpy(object)
        table = pd.crosstab(bins, sup)
        table = table.reindex(range(n), fill_value=0)
        table.index = index
        table.columns = [str(c) for c in table.columns]
        table = table.astype(np.int64)
        table["total"] = table.sum(axis=1)
    table.columns = pd.Index(table.columns, dtype=object, name="supervisor")
    return table


_EDGE = 1e-9  # relative: a time this close below a window's start is at its start


def _window_of(times: np.ndarray, window: float) -> np.ndarray:
    """The number of the window each time falls in (``k`` for ``[k*window,
    (k+1)*window)``), counting a time that float rounding put a hair before a
    window's start as inside it."""
    q = times / window
    k = np.floor(q)
    k += (k + 1 - q) <= _EDGE * np.maximum(1.0, np.abs(q))
    return k.astype(np.int64)


def _window_starts(first: int, n: int, window: float) -> np.ndarray:
    """The start times of windows ``first .. first+n-1``, as written (0.3, not
    0.30000000000000004)."""
    starts = (np.arange(n, dtype=np.float64) + first) * window
    digits = 12 - math.floor(math.log10(window))
    return np.round(starts, digits)


def intensity_headroom(run: Run) -> pd.DataFrame:
    """How close each supervisor (by path, as ``restarts().supervisor`` names it)
    came to giving up.

    A supervisor counts each restart, then gives up when more than ``intensity``
    restarts fall in ``period`` seconds (see :class:`agentlab.Supervisor`); each
    ``restart`` event carries its count. Columns: ``supervisor``, ``restarts``
    (restart events, retries after a failed start included: they count too),
    ``intensity``, ``period``, ``max_restarts_in_window`` (the highest count,
    the one that made it give up included), ``min_headroom`` (``intensity`` minus
    that count: 0 means one more restart in the window would have made it give
    up; -1 once it gave up), ``gave_up``, ``gave_up_at`` (the first time).

    A supervisor that never restarted a child is listed with its whole budget
    (0 restarts, ``max_restarts_in_window`` 0, ``min_headroom`` = ``intensity``):
    the ``supervisor_flags`` report it makes when it starts gives its intensity
    and period (``processes()`` has them too). One that started before the
    recording began and never restarted is not listed: no recorded event names
    its flags. Dtypes: ``supervisor`` object (text), ``restarts`` int64,
    ``intensity``, ``max_restarts_in_window``, ``min_headroom`` Int64,
    ``period``, ``gave_up_at`` float64, ``gave_up`` bool.
    """
    from ._frame import data_fields, parse_data
    from ._tables import _FLAG_FIELDS, supervisor_paths

    ev = run.events()
    r = run.restarts()
    gave = of_kind(ev, "supervisor_gave_up")
    gd = parse_data(gave["data"])
    rows: dict[str, dict[str, Any]] = {}
    # each supervisor's flags as it reported them at its start (the latest incarnation's)
    flags = of_kind(ev, "supervisor_flags")
    fd = data_fields(flags["data"], _FLAG_FIELDS)
    known: dict[str, tuple[Any, float]] = {}
    for path, i, p in zip(supervisor_paths(flags), as_objects(fd["intensity"]),
                          as_objects(fd["period"]), strict=True):
        known[str(path)] = (pd.NA if i is None else int(i), np.nan if p is None else float(p))
    for path, (i, p) in known.items():
        rows[path] = {
            "restarts": 0,
            "intensity": i,
            "period": p,
            "max_restarts_in_window": 0,
            "min_headroom": i,  # none used: the whole budget left
            "gave_up": False,
            "gave_up_at": np.nan,
        }
    for sup, g in r.groupby(r["supervisor"].astype(object).fillna("?"), sort=True):
        i, p = known.get(str(sup), (pd.NA, np.nan))
        rows[str(sup)] = {
            "restarts": len(g),
            "intensity": g["intensity"].dropna().iloc[-1] if g["intensity"].notna().any() else i,
            "period": float(g["period"].dropna().iloc[-1]) if g["period"].notna().any() else p,
            "max_restarts_in_window": g["restarts_in_window"].max(),
            "min_headroom": g["headroom"].min(),
            "gave_up": False,
            "gave_up_at": np.nan,
        }
    paths = supervisor_paths(gave)
    for path, t, d in zip(paths, gave["time"].to_numpy(np.float64), gd, strict=True):
        row = rows.setdefault(
            str(path),
            {
                "restarts": 0,
                "intensity": d.get("intensity", pd.NA),
                "period": float(d.get("period", np.nan) or np.nan),
                "max_restarts_in_window": pd.NA,
                "min_headroom": pd.NA,
                "gave_up": False,
                "gave_up_at": np.nan,
            },
        )
        row["gave_up"] = True
        row["gave_up_at"] = t if np.isnan(row["gave_up_at"]) else min(row["gave_up_at"], t)
        row["min_headroom"] = -1
        if d.get("restarts") is not None:
            row["max_restarts_in_window"] = d["restarts"]
    out = pd.DataFrame.from_dict(rows, orient="index").rename_axis("supervisor")
    return _typed(out.sort_index().reset_index(), _HEADROOM)


_HEADROOM = {"supervisor": object, "restarts": np.int64, "intensity": "Int64", "period": np.float64,
             "max_restarts_in_window": "Int64", "min_headroom": "Int64", "gave_up": bool,
             "gave_up_at": np.float64}


def _stats(values: pd.Series, percentiles: tuple[float, ...]) -> dict[str, float]:
    v = values.dropna().to_numpy(np.float64)
    row: dict[str, float] = {"count": float(len(v)), "mean": float(v.mean()) if len(v) else np.nan}
    for q in percentiles:
        row[f"p{q:g}"] = float(np.percentile(v, q)) if len(v) else np.nan
    row["max"] = float(v.max()) if len(v) else np.nan
    return row


def message_latency(run: Run, percentiles: tuple[float, ...] = (50, 90, 99)) -> pd.DataFrame:
    """Percentiles of call latency (round trip), queue delay and handling time, by
    message kind (only what the trace could measure; see ``messages()``).

    Index: (``kind``, ``metric``), both text (object); columns ``count`` (int64:
    how many were measured; a message never received has no queue delay), then,
    float64, ``mean``, one ``p<q>`` per percentile (interpolated linearly, as
    ``numpy.percentile``) and ``max``."""
    bad = [q for q in percentiles if not (_number(q) and 0 <= q <= 100)]
    if bad:
        raise ValueError(
            f"message_latency: percentiles are numbers from 0 to 100 (50 is the median), "
            f"not {', '.join(map(repr, bad))}."
        )
    m = run.messages()
    rows = {}
    for kind, g in m.groupby("kind", observed=True, sort=True):
        for metric in ("latency", "queue_delay", "handling_time"):
            if g[metric].notna().any():
                rows[(str(kind), metric)] = _stats(g[metric], percentiles)
    cols = ["count", "mean", *[f"p{q:g}" for q in percentiles], "max"]
    out = pd.DataFrame.from_dict(rows, orient="index", columns=cols)
    keys = list(rows)
    out.index = pd.MultiIndex.from_arrays(
        [pd.Index([k for k, _ in keys], dtype=object), pd.Index([m for _, m in keys], dtype=object)],
        names=["kind", "metric"],
    )
    return out.astype({c: np.int64 if c == "count" else np.float64 for c in cols})


def llm_usage(run: Run, by: str = "agent") -> pd.DataFrame:
    """Per agent (or ``by="model"``, ``"provider"``, ``"pid"``): ``requests`` (first attempts),
    ``attempts``, ``errors``, ``retries``, ``input_tokens``, ``output_tokens``,
    ``reported_share`` (attempts whose usage the provider reported), ``cost``
    (USD of the priced attempts; NaN when none was priced), ``latency_mean``,
    ``latency_p95``, ``ttft_mean``, ``ttft_p50`` and ``tokens_per_s`` (the
    streaming rate of all its attempts together, as ``llm_calls().tokens_per_s``
    has it for one: output tokens after each first token, over the seconds from
    first token to end). Failed attempts and retries count in every column.

    Indexed by the ``by`` column's values: text (object; an unnamed agent is
    ``"<0.N.0>"``), or int64 pids. Counts are int64, tokens Int64, the rest float64."""
    _check_by("llm_usage", by, ("agent", "model", "provider", "pid"))
    c = run.llm_calls()
    if c.empty:
        return _typed(pd.DataFrame(index=pd.Index([], dtype=_USAGE_INDEX[by], name=by)), _USAGE)
    streamed = c["tokens_per_s"].notna()  # the attempts whose rate is known
    work = c.assign(
        gen=(c["latency"] - c["ttft"]).where(streamed),
        after_first=(c["output_tokens"].astype(np.float64) - 1.0).where(streamed),
        first=(c["attempt"].fillna(1) == 1),
        err=(c["outcome"] == "error"),
        retry=(c["attempt"].fillna(1) > 1),
        rep=c["usage_reported"].fillna(False).astype(bool),
    )
    g = work.groupby(by, observed=True, sort=True)
    out = pd.DataFrame(
        {
            "requests": g["first"].sum().astype(np.int64),
            "attempts": g.size().astype(np.int64),
            "errors": g["err"].sum().astype(np.int64),
            "retries": g["retry"].sum().astype(np.int64),
            "input_tokens": g["input_tokens"].sum().astype("Int64"),
            "output_tokens": g["output_tokens"].sum().astype("Int64"),
            "reported_share": g["rep"].mean(),
            "cost": g["cost"].sum(min_count=1),
            "latency_mean": g["latency"].mean(),
            "latency_p95": g["latency"].quantile(0.95),
            "ttft_mean": g["ttft"].mean(),
            "ttft_p50": g["ttft"].median(),
        }
    )
    gen_sum = g["gen"].sum()
    out["tokens_per_s"] = (g["after_first"].sum() / gen_sum.where(gen_sum > 0)).astype(np.float64)
    # the values of the ``by`` column, not its categories: text (or pids) as elsewhere
    out.index = pd.Index(out.index.to_numpy(), dtype=_USAGE_INDEX[by], name=by)
    return _typed(out, _USAGE)


_USAGE = {"requests": np.int64, "attempts": np.int64, "errors": np.int64, "retries": np.int64,
          "input_tokens": "Int64", "output_tokens": "Int64", "reported_share": np.float64,
          "cost": np.float64, "latency_mean": np.float64, "latency_p95": np.float64,
          "ttft_mean": np.float64, "ttft_p50": np.float64, "tokens_per_s": np.float64}
_USAGE_INDEX = {"agent": object, "model": object, "provider": object, "pid": np.int64}


def summary(run: Run) -> dict[str, Any]:
    """The headline numbers of a run (what ``trace summary`` prints), as a dict.

    Always: ``run_id``, ``started``, ``clock``, ``seed``, ``events``,
    ``dropped``, ``duration`` (runtime-clock seconds recorded), ``processes``,
    ``crashes`` (processes of any kind, tool tasks included, that exited with an
    abnormal reason), ``restarts`` (restart events, a retry after a failed
    start included), ``supervisors_gave_up``, ``mttr`` and
    ``max_time_to_recovery`` (NaN without restarts), ``messages`` (sends, casts
    and calls). With calls: ``call_latency_p50``, ``call_latency_p99``. With LLM
    requests: ``llm_attempts``, ``llm_errors``, ``input_tokens``,
    ``output_tokens``, ``cost_usd``, ``llm_latency_mean``, ``ttft_mean``. Then
    each metadata entry as ``meta.<key>``.
    """
    info = run.info
    ev = run.events()
    p = run.processes()
    r = run.restarts()
    out: dict[str, Any] = {
        "run_id": info.run_id,
        "started": info.started,
        "clock": info.clock,
        "seed": info.seed,
        "events": len(ev),
        "dropped": info.dropped,
        "duration": _run_end(run) - _run_start(run),  # until recording ended
        "processes": len(p),
        "crashes": int(p["crashed"].sum()),
        "restarts": len(r),
        "supervisors_gave_up": int((ev["kind"] == "supervisor_gave_up").sum()),
        "mttr": mttr(run),
        "max_time_to_recovery": float(r["time_to_recovery"].max()) if len(r) else math.nan,
    }
    kinds = ev["kind"]
    n_msgs = int(kinds.isin(["send", "cast", "call"]).sum())
    out["messages"] = n_msgs
    if (kinds == "call").any():
        lat = run.messages()
        lat = lat.loc[lat["kind"] == "call", "latency"].dropna()
        out["call_latency_p50"] = float(lat.median()) if len(lat) else math.nan
        out["call_latency_p99"] = float(lat.quantile(0.99)) if len(lat) else math.nan
    if kinds.isin(["llm_request", "llm_response", "llm_error"]).any():
        c = run.llm_calls()
        out["llm_attempts"] = len(c)
        out["llm_errors"] = int((c["outcome"] == "error").sum())
        out["input_tokens"] = int(c["input_tokens"].sum())
        out["output_tokens"] = int(c["output_tokens"].sum())
        out["cost_usd"] = float(c["cost"].sum(min_count=1))
        out["llm_latency_mean"] = float(c["latency"].mean())
        out["ttft_mean"] = float(c["ttft"].mean())
    for k, v in info.metadata.items():
        out.setdefault(f"meta.{k}", v)
    return out


# summary() leaves these out of a run without calls or LLM requests: compare() shows
# what they are there (none of them), so the change is known
_NONE_COUNTED = {"llm_attempts": 0, "llm_errors": 0, "input_tokens": 0, "output_tokens": 0,
                 "cost_usd": 0.0}
_NOT_MEASURED = ("call_latency_p50", "call_latency_p99", "llm_latency_mean", "ttft_mean")


def compare(*runs: Run, names: list[str] | None = None) -> pd.DataFrame:
    """Summaries side by side: one column per run (named by ``names`` or run id),
    one row per metric; with two runs, a ``change`` column (second minus first).

    A run without the LLM requests or calls another run has shows 0 requests,
    errors, tokens and cost, and NaN latencies; a metadata key it lacks is
    ``None``."""
    if not runs:
        raise ValueError("compare() needs at least one run")
    labels = names or [r.run_id for r in runs]
    if len(labels) != len(runs):
        raise ValueError("give one name per run")
    seen: dict[str, int] = {}
    unique = []
    for lab in labels:
        seen[lab] = seen.get(lab, 0) + 1
        unique.append(lab if seen[lab] == 1 else f"{lab} #{seen[lab]}")
    labels = unique
    sums = [summary(r) for r in runs]
    keys: list[str] = []
    for s in sums:
        keys.extend(k for k in s if k not in keys)
    for s in sums:
        for k in keys:
            if k not in s and (k in _NONE_COUNTED or k in _NOT_MEASURED):
                s[k] = _NONE_COUNTED.get(k, math.nan)
    table = pd.DataFrame({lab: [s.get(k) for k in keys] for lab, s in zip(labels, sums, strict=True)},
                         index=pd.Index(keys, name="metric"), dtype=object)
    if len(runs) == 2:
        a, b = table.columns
        change = []
        for key, x, y in zip(table.index, table[a], table[b], strict=True):
            ok = _number(x) and _number(y) and key != "seed" and not key.startswith("meta.")
            change.append(y - x if ok else None)
        table["change"] = pd.Series(change, index=table.index, dtype=object)
    return table


def _number(x: Any) -> bool:
    return isinstance(x, int | float | np.integer | np.floating) and not isinstance(x, bool)
