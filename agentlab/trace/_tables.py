"""Process lifetimes and restarts, as tables.

``processes(events)`` has one row per process lifetime (a restarted child is
a new process with a new pid, so it gets a new row):

=================  ========  ====================================================
column             dtype     from
=================  ========  ====================================================
``pid``            int64     ``spawn``/``exit`` pid
``name``           category  registered name
``kind``           category  ``spawn`` data ``kind``: agent, process, supervisor, task
``parent``         Int64     ``spawn`` peer (the spawning process; 0 or NA: outside)
``path``           category  the process's path
``supervisor``     category  the supervisor's path: ``child_start`` path, else the
                             parent part of ``path``
``supervisor_pid`` Int64     ``child_start`` pid
``child_id``       category  ``child_start`` data ``child_id``
``restart_type``   category  ``child_start`` data ``restart`` (permanent, ...)
``restart``        Int64     ``child_start`` data ``attempt`` (0: first start)
``init``           category  ``init`` data ``result`` (ok, ignore, stop, continue)
``start``          float64   ``spawn`` time (NaN if the spawn was not recorded)
``end``            float64   ``exit`` time (NaN: alive when the trace ends)
``lifetime``       float64   ``end - start``
``exit_reason``    category  ``exit`` reason
``crashed``        bool      the exit reason is abnormal (not normal/shutdown)
=================  ========  ====================================================

``restarts(events)`` has one row per ``restart`` event:

========================  ========  =============================================
column                    dtype     from
========================  ========  =============================================
``seq``, ``time``         int64,    the ``restart`` event
                          float64
``supervisor_pid``        int64     its pid
``supervisor``            category  its path (the supervisor's own path)
``child_id``              category  data ``child_id``: the child that exited
``pid``                   Int64     peer: the pid that exited
``reason``                category  why it exited
``strategy``              category  data ``strategy``
``affected``              object    data ``affected``: tuple of child ids restarted
``siblings_affected``     Int64     how many of those are not ``child_id``
``restarts_in_window``    Int64     data ``restarts_in_window``
``intensity``, ``period``  Int64,   data ``intensity``, ``period``
                          float64
``headroom``              Int64     ``intensity - restarts_in_window``: restarts
                                    left before the supervisor gives up
``crashed_at``            float64   the ``exit`` time of ``pid`` (else the restart's)
``new_pid``               Int64     the replacement's pid (first ``child_start`` of
                                    ``child_id`` by the supervisor after the restart)
``recovered_at``          float64   when the last affected child was started again
``time_to_recovery``      float64   ``recovered_at - crashed_at`` (NaN: never)
========================  ========  =============================================
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ._frame import parse_data
from ._schema import is_abnormal

__all__ = ["PROCESS_COLUMNS", "RESTART_COLUMNS", "as_events", "processes", "restarts"]

PROCESS_COLUMNS = (
    "pid",
    "name",
    "kind",
    "parent",
    "path",
    "supervisor",
    "supervisor_pid",
    "child_id",
    "restart_type",
    "restart",
    "init",
    "start",
    "end",
    "lifetime",
    "exit_reason",
    "crashed",
)

RESTART_COLUMNS = (
    "seq",
    "time",
    "supervisor_pid",
    "supervisor",
    "child_id",
    "pid",
    "reason",
    "strategy",
    "affected",
    "siblings_affected",
    "restarts_in_window",
    "intensity",
    "period",
    "headroom",
    "crashed_at",
    "new_pid",
    "recovered_at",
    "time_to_recovery",
)


def as_events(source: Any) -> pd.DataFrame:
    """The events DataFrame of a :class:`~agentlab.trace.Run` (or the frame itself)."""
    if isinstance(source, pd.DataFrame):
        return source
    events = getattr(source, "events", None)
    if callable(events):
        frame = events()
        assert isinstance(frame, pd.DataFrame)
        return frame
    raise TypeError(f"expected a Run, a Recorder or an events DataFrame, got {type(source).__name__}")


def of_kind(events: pd.DataFrame, *kinds: str) -> pd.DataFrame:
    """The rows of ``events`` whose kind is one of ``kinds``."""
    if len(kinds) == 1:
        return events[events["kind"] == kinds[0]]
    return events[events["kind"].isin(kinds)]


def field(dicts: list[dict[str, Any]], key: str) -> list[Any]:
    return [d.get(key) for d in dicts]


def category(values: Any) -> pd.Categorical:
    """Values as a Categorical with sorted categories (missing values stay missing)."""
    cat = pd.Categorical(pd.Series(values, dtype=object).where(pd.notna(values), None))
    cats = cat.categories
    return cat.reorder_categories(sorted(cats)) if len(cats) else cat


def trim(series: pd.Series) -> pd.Series:
    """A categorical column with only the categories it uses."""
    return series.cat.remove_unused_categories()


def processes(events: Any) -> pd.DataFrame:
    """One row per process lifetime (columns in this module's docstring), from a run
    or its events DataFrame."""
    events = as_events(events)
    spawn = of_kind(events, "spawn").drop_duplicates("pid")
    exits = of_kind(events, "exit").drop_duplicates("pid")
    starts = of_kind(events, "child_start").drop_duplicates("peer", keep="last")
    inits = of_kind(events, "init").drop_duplicates("pid", keep="last")

    ident = pd.concat(
        [spawn[["pid", "name", "path", "supervisor"]], exits[["pid", "name", "path", "supervisor"]]]
    ).drop_duplicates("pid")
    ident = ident.sort_values("pid", kind="stable").reset_index(drop=True)
    pids = ident["pid"].to_numpy(np.int64)

    spawn_data = parse_data(spawn["data"])
    s_index = pd.Index(spawn["pid"].to_numpy(np.int64))
    e_index = pd.Index(exits["pid"].to_numpy(np.int64))
    c_index = pd.Index(starts["peer"].astype("int64").to_numpy()) if len(starts) else pd.Index([])
    i_index = pd.Index(inits["pid"].to_numpy(np.int64))

    si = s_index.get_indexer(pids)
    ei = e_index.get_indexer(pids)
    ci = c_index.get_indexer(pids) if len(starts) else np.full(len(pids), -1)
    ii = i_index.get_indexer(pids)

    start = _take_float(spawn["time"].to_numpy(), si)
    end = _take_float(exits["time"].to_numpy(), ei)
    reasons = _take_cat(exits["reason"], ei)
    child_data = parse_data(starts["data"])
    init_data = parse_data(inits["data"])

    kind = _take_list([d.get("kind") for d in spawn_data], si)
    sup_path = _take_cat(starts["path"], ci)
    sup_fallback = ident["supervisor"]
    supervisor = category(
        np.where(pd.isna(np.asarray(sup_path, dtype=object)), sup_fallback.to_numpy(object),
                 np.asarray(sup_path, dtype=object))
    )
    frame = pd.DataFrame(
        {
            "pid": pids,
            "name": trim(ident["name"]),
            "kind": category(kind),
            "parent": pd.array(_take_list(spawn["peer"].tolist(), si), dtype="Int64"),
            "path": trim(ident["path"]),
            "supervisor": supervisor,
            "supervisor_pid": pd.array(_take_list(starts["pid"].tolist(), ci), dtype="Int64"),
            "child_id": category(_take_list(field(child_data, "child_id"), ci)),
            "restart_type": category(_take_list(field(child_data, "restart"), ci)),
            "restart": pd.array(_take_list(field(child_data, "attempt"), ci), dtype="Int64"),
            "init": category(_take_list(field(init_data, "result"), ii)),
            "start": start,
            "end": end,
            "lifetime": end - start,
            "exit_reason": trim(reasons),
            "crashed": _abnormal(reasons),
        }
    )
    return frame


def _take_float(values: np.ndarray, idx: np.ndarray) -> np.ndarray:
    out = np.full(len(idx), np.nan)
    ok = idx >= 0
    out[ok] = np.asarray(values, dtype=np.float64)[idx[ok]]
    return out


def _take_list(values: list[Any], idx: np.ndarray) -> list[Any]:
    return [values[i] if i >= 0 else None for i in idx]


def _take_cat(column: pd.Series, idx: np.ndarray) -> pd.Series:
    cat = column.array
    codes = np.asarray(cat.codes, dtype=np.int64)
    picked = np.where(idx >= 0, codes[np.maximum(idx, 0)] if len(codes) else -1, -1)
    return pd.Series(pd.Categorical.from_codes(picked, dtype=column.dtype))


def _abnormal(reasons: pd.Series) -> np.ndarray:
    cats = reasons.cat.categories
    flags = np.array([False] + [is_abnormal(c) for c in cats], dtype=bool)
    return flags[np.asarray(reasons.cat.codes, dtype=np.int64) + 1]


def restarts(events: Any) -> pd.DataFrame:
    """One row per restart (columns in this module's docstring), from a run or its
    events DataFrame."""
    events = as_events(events)
    rs = of_kind(events, "restart")
    data = parse_data(rs["data"])
    n = len(rs)
    child_id = field(data, "child_id")
    affected = [tuple(d.get("affected") or ([d["child_id"]] if "child_id" in d else [])) for d in data]
    in_window = pd.array(field(data, "restarts_in_window"), dtype="Int64")
    intensity = pd.array(field(data, "intensity"), dtype="Int64")
    period = np.array([np.nan if v is None else float(v) for v in field(data, "period")])
    crashed_pid = rs["peer"]

    exits = of_kind(events, "exit").drop_duplicates("pid")
    e_index = pd.Index(exits["pid"].to_numpy(np.int64))
    peer_ints = crashed_pid.fillna(-1).to_numpy(np.int64)
    crashed_at = _take_float(exits["time"].to_numpy(), e_index.get_indexer(peer_ints))
    crashed_at = np.where(np.isnan(crashed_at), rs["time"].to_numpy(), crashed_at)

    new_pid, recovered = _recoveries(events, rs, child_id, affected)
    frame = pd.DataFrame(
        {
            "seq": rs["seq"].to_numpy(np.int64),
            "time": rs["time"].to_numpy(np.float64),
            "supervisor_pid": rs["pid"].to_numpy(np.int64),
            "supervisor": trim(rs["path"]).array,
            "child_id": category(child_id),
            "pid": crashed_pid.array,
            "reason": trim(rs["reason"]).array,
            "strategy": category(field(data, "strategy")),
            "affected": pd.Series(affected, dtype=object).array if n else pd.array([], dtype=object),
            "siblings_affected": pd.array(
                [len([a for a in aff if a != c]) for aff, c in zip(affected, child_id, strict=True)],
                dtype="Int64",
            ),
            "restarts_in_window": in_window,
            "intensity": intensity,
            "period": period,
            "headroom": intensity - in_window,
            "crashed_at": crashed_at,
            "new_pid": pd.array(new_pid, dtype="Int64"),
            "recovered_at": recovered,
            "time_to_recovery": recovered - crashed_at,
        }
    )
    return frame.reset_index(drop=True)


def _recoveries(
    events: pd.DataFrame, rs: pd.DataFrame, child_id: list[Any], affected: list[tuple[Any, ...]]
) -> tuple[list[Any], np.ndarray]:
    """For each restart: the new pid of ``child_id``, and when the last affected child started."""
    n = len(rs)
    new_pid: list[Any] = [None] * n
    recovered = np.full(n, np.nan)
    if n == 0:
        return new_pid, recovered
    cs = of_kind(events, "child_start")
    cs_ids = field(parse_data(cs["data"]), "child_id")
    right = pd.DataFrame(
        {
            "seq": cs["seq"].to_numpy(np.int64),
            "sup": cs["pid"].to_numpy(np.int64),
            "child": [str(c) for c in cs_ids],
            "started": cs["time"].to_numpy(np.float64),
            "new_pid": cs["peer"].fillna(-1).to_numpy(np.int64),
        }
    )
    rows = [(i, c) for i, aff in enumerate(affected) for c in aff]
    if not rows or right.empty:
        return new_pid, recovered
    idx = np.array([i for i, _ in rows], dtype=np.int64)
    left = pd.DataFrame(
        {
            "row": idx,
            "seq": rs["seq"].to_numpy(np.int64)[idx],
            "sup": rs["pid"].to_numpy(np.int64)[idx],
            "child": [str(c) for _, c in rows],
        }
    )
    joined = pd.merge_asof(
        left.sort_values("seq", kind="stable"),
        right.sort_values("seq", kind="stable"),
        on="seq",
        by=["sup", "child"],
        direction="forward",
        allow_exact_matches=False,
    )
    rows_arr = joined["row"].to_numpy(np.int64)
    own = joined["child"].to_numpy(object) == np.array([str(c) for c in child_id], object)[rows_arr]
    pids = joined["new_pid"].to_numpy(np.float64)
    hit = own & ~np.isnan(pids) & (np.nan_to_num(pids, nan=-1) >= 0)
    for row, pid in zip(rows_arr[hit], pids[hit], strict=True):
        new_pid[row] = int(pid)
    started = joined["started"]
    latest = started.groupby(joined["row"]).max()
    missing = started.isna().groupby(joined["row"]).any()
    latest[missing] = np.nan
    recovered[latest.index.to_numpy(np.int64)] = latest.to_numpy(np.float64)
    return new_pid, recovered
