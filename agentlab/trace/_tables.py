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
``init``           category  ``init`` data ``result`` (ok, ignore, stop, continue);
                             for an agent or supervisor whose ``spawn`` was
                             recorded and whose ``init`` was not: ``starting``
                             when the trace holds every event from its spawn to
                             its exit (or to the end of the recording), so init
                             had not returned by then; ``unknown`` when events are
                             missing from that stretch (a gap in ``seq``: a
                             recorder that could not spill, or events left out),
                             so init may have returned in one of them
                             (``run.info.dropped`` counts them). Events dropped
                             before the first recorded one (a full recorder drops
                             its oldest) hide no init of a spawn after them.
                             NA: a process that has no ``init``, or whose spawn
                             was not recorded
``start``          float64   ``spawn`` time (NaN if the spawn was not recorded)
``ready``          float64   when ``init`` returned ok/continue (``spawn`` time for a
                             process without ``init``; NaN if init failed or was
                             still ``starting``: it never came up; NaN when
                             ``unknown``)
``end``            float64   ``exit`` time (NaN: alive when the trace ends)
``lifetime``       float64   ``end - start``
``exit_reason``    category  ``exit`` reason
``crashed``        bool      the exit reason is abnormal (not normal/shutdown)
``strategy``       category  a supervisor's flags, from its ``supervisor_flags``
                             data ``strategy`` (the report it makes when it starts,
                             before any child); for a supervisor whose report the
                             trace lacks (recording began later), its first
                             ``restart`` (or ``supervisor_gave_up``) data. NA for
                             other processes
``intensity``      Int64     likewise, data ``intensity`` (restarts allowed ...)
``period``         float64   ... in ``period`` seconds; NaN when not known
``max_children``   Int64     ``supervisor_flags`` data ``max_children`` of a
                             dynamic supervisor (``simple_one_for_one`` or a
                             ``DynamicSupervisor``); NA for no limit, a static
                             supervisor and other processes
=================  ========  ====================================================

``restarts(events)`` has one row per ``restart`` event:

========================  ========  =============================================
column                    dtype     from
========================  ========  =============================================
``seq``, ``time``         int64,    the ``restart`` event
                          float64
``supervisor_pid``        int64     its pid
``supervisor``            category  its path (the supervisor's own path; for one
                                    without a path, its pid as text, the prefix of
                                    its children's paths)
``child_id``              category  data ``child_id``: the child that exited
``pid``                   Int64     peer: the pid that exited (if the event lacks it,
                                    the child's pid from its latest ``child_start``)
``reason``                category  why it exited (NA for a retry)
``retry``                 bool      data ``retry``: the supervisor tries again after
                                    a failed start; not a new crash (its
                                    ``crashed_at`` is the crash it retries for)
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
import pyarrow as pa
import pyarrow.compute as pc

from ._frame import as_category, as_floats, as_ints, as_objects, data_fields
from ._schema import is_abnormal

__all__ = [
    "PROCESS_COLUMNS",
    "RESTART_COLUMNS",
    "as_events",
    "processes",
    "replacements",
    "restarts",
    "supervisor_flags",
]

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
    "ready",
    "end",
    "lifetime",
    "exit_reason",
    "crashed",
    "strategy",
    "intensity",
    "period",
    "max_children",
)

RESTART_COLUMNS = (
    "seq",
    "time",
    "supervisor_pid",
    "supervisor",
    "child_id",
    "pid",
    "reason",
    "retry",
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
    # object categories, as the events table has them, whether or not there are any
    # (a list would make them ``str`` under pandas 3, and only when there are rows)
    return cat.reorder_categories(pd.Index(sorted(cat.categories), dtype=object))


def trim(series: pd.Series) -> pd.Series:
    """A categorical column with only the categories it uses."""
    return series.cat.remove_unused_categories()


def rows_of(events: pd.DataFrame, kind: str, columns: list[str]) -> pd.DataFrame:
    """Some columns of the rows of one kind (cheaper than filtering every column)."""
    mask = (events["kind"] == kind).to_numpy()
    return events.loc[mask, columns]


_HAS_INIT = frozenset({"agent", "supervisor"})  # spawn kinds that run an init
_CHILD_FIELDS = {"child_id": pa.string(), "restart": pa.string(), "attempt": pa.int64()}


def processes(events: Any) -> pd.DataFrame:
    """One row per process lifetime (columns in this module's docstring), from a run
    or its events DataFrame."""
    events = as_events(events)
    ident_cols = ["pid", "time", "name", "path", "supervisor"]
    spawn = rows_of(events, "spawn", [*ident_cols, "seq", "peer", "data"]).drop_duplicates("pid")
    exits = rows_of(events, "exit", [*ident_cols, "seq", "reason"]).drop_duplicates("pid")
    starts = rows_of(events, "child_start", ["pid", "path", "peer", "data"])
    starts = starts[starts["peer"].notna()].drop_duplicates("peer", keep="last")
    inits = rows_of(events, "init", ["pid", "time", "data"]).drop_duplicates("pid", keep="last")

    ident = pd.concat([spawn[ident_cols], exits[ident_cols]]).drop_duplicates("pid")
    ident = ident.sort_values("pid", kind="stable").reset_index(drop=True)
    pids = ident["pid"].to_numpy(np.int64)

    si = pd.Index(spawn["pid"].to_numpy(np.int64)).get_indexer(pids)
    ei = pd.Index(exits["pid"].to_numpy(np.int64)).get_indexer(pids)
    ci = pd.Index(starts["peer"].to_numpy(np.int64)).get_indexer(pids)
    ii = pd.Index(inits["pid"].to_numpy(np.int64)).get_indexer(pids)

    start = _take_float(spawn["time"].to_numpy(), si)
    end = _take_float(exits["time"].to_numpy(), ei)
    reasons = _take_cat(exits["reason"], ei)
    kind = data_fields(spawn["data"], {"kind": pa.string()})["kind"]
    child = data_fields(starts["data"], _CHILD_FIELDS)
    result = data_fields(inits["data"], {"result": pa.string()})["result"]

    # an agent's (or supervisor's) spawn is followed by its init event once init
    # returns: without one, it was still starting when it exited or recording ended,
    # unless events are missing after its spawn (then its init may be one of them)
    kind_of = _take(kind, si)
    no_init = _is_in(kind_of, _HAS_INIT) & (ii < 0)
    unknown = no_init & _missing_after(events, spawn, exits, np.where(no_init, si, -1), ei)
    starting = no_init & ~unknown
    init_result = _with_text(_with_text(_take(result, ii), starting, "starting"), unknown, "unknown")
    init_time = _take_float(inits["time"].to_numpy(), ii)
    ok = _is_in(init_result, ("ok", "continue"))
    ready = np.where((ii < 0) & ~no_init, start, np.where(ok, init_time, np.nan))
    sup_path = _take_cat(starts["path"], ci).astype(object).to_numpy().copy()
    fallback = ident["supervisor"].astype(object).to_numpy()
    missing = pd.isna(sup_path)
    sup_path[missing] = fallback[missing]
    frame = pd.DataFrame(
        {
            "pid": pids,
            "name": trim(ident["name"]),
            "kind": as_category(kind_of),
            "parent": _take_ints(spawn["peer"], si),
            "path": trim(ident["path"]),
            "supervisor": as_category(sup_path),
            "supervisor_pid": _take_ints(starts["pid"], ci),
            "child_id": as_category(_take(child["child_id"], ci)),
            "restart_type": as_category(_take(child["restart"], ci)),
            "restart": as_ints(_take(child["attempt"], ci)),
            "init": as_category(init_result),
            "start": start,
            "ready": ready,
            "end": end,
            "lifetime": end - start,
            "exit_reason": trim(reasons),
            "crashed": _abnormal(reasons),
            **_supervisor_flags(events, pids),
        }
    )
    return frame


_FLAG_FIELDS = {
    "strategy": pa.string(),
    "intensity": pa.int64(),
    "period": pa.float64(),
    "max_children": pa.int64(),
}


def supervisor_flags(events: pd.DataFrame) -> pd.DataFrame:
    """Each supervisor's flags by pid (index), as far as the trace says them: columns
    ``strategy``, ``intensity``, ``period``, ``max_children`` (objects, None where not
    known). From its ``supervisor_flags`` report; where that is missing (it started
    before the recording), from its first ``restart`` report, then its
    ``supervisor_gave_up`` report (which have no ``max_children``)."""
    parts = []
    for kind in ("supervisor_flags", "restart", "supervisor_gave_up"):
        rows = rows_of(events, kind, ["pid", "data"])
        if rows.empty:
            continue
        rows = rows.drop_duplicates("pid", keep="last" if kind == "supervisor_flags" else "first")
        d = data_fields(rows["data"], _FLAG_FIELDS)
        part = {"pid": rows["pid"].to_numpy(np.int64)}
        for k in _FLAG_FIELDS:
            part[k] = as_objects(d[k]) if kind == "supervisor_flags" or k != "max_children" else None
        parts.append(pd.DataFrame(part))
    if not parts:
        return pd.DataFrame({k: np.zeros(0, dtype=object) for k in _FLAG_FIELDS},
                            index=pd.Index(np.zeros(0, np.int64), name="pid"))
    # per field, the first source that knows it (groupby's first skips missing values)
    joined = pd.concat(parts, ignore_index=True).astype(object)
    return joined.groupby("pid", sort=False).first().reindex(columns=list(_FLAG_FIELDS))


def _supervisor_flags(events: pd.DataFrame, pids: np.ndarray) -> dict[str, Any]:
    """The processes() columns of each process's supervisor flags (NA: not a supervisor,
    or not known)."""
    flags = supervisor_flags(events)
    at = pd.Index(flags.index.to_numpy(np.int64)).get_indexer(pids)
    return {
        "strategy": as_category(_take(flags["strategy"].to_numpy(object), at)),
        "intensity": as_ints(_take(flags["intensity"].to_numpy(object), at)),
        "period": as_floats(_take(flags["period"].to_numpy(object), at)),
        "max_children": as_ints(_take(flags["max_children"].to_numpy(object), at)),
    }


def _missing_after(
    events: pd.DataFrame, spawn: pd.DataFrame, exits: pd.DataFrame, si: np.ndarray, ei: np.ndarray
) -> np.ndarray:
    """For each process (``si``/``ei``: its rows in ``spawn``/``exits``, -1: none or
    not asked), whether events are missing from the trace after its spawn: a number
    in ``seq`` between its spawn and its exit (or the last event, if it did not exit)
    that no event has. False for a process whose spawn was not recorded."""
    out = np.zeros(len(si), dtype=bool)
    has = si >= 0
    if not has.any():
        return out
    seqs = events["seq"].to_numpy(np.int64)
    if len(seqs) and seqs[-1] - seqs[0] + 1 == len(seqs) and (np.diff(seqs) == 1).all():
        return out  # every number from the first to the last: nothing is missing
    seqs = np.unique(seqs)
    lo = spawn["seq"].to_numpy(np.int64)[si[has]]
    hi = np.full(len(lo), seqs[-1], dtype=np.int64)
    exited = ei[has] >= 0
    hi[exited] = exits["seq"].to_numpy(np.int64)[ei[has][exited]]
    held = np.searchsorted(seqs, hi, side="right") - np.searchsorted(seqs, lo, side="left")
    out[has] = (hi - lo + 1) > held
    return out


def _take(values: Any, idx: np.ndarray) -> Any:
    """``values[idx]`` with -1 giving a missing value (Arrow arrays stay Arrow)."""
    if isinstance(values, pa.Array):
        return values.take(pa.array(idx, mask=idx < 0))
    arr = np.asarray(values, dtype=object)
    out = np.full(len(idx), None, dtype=object)
    ok = idx >= 0
    out[ok] = arr[idx[ok]]
    return out


def _is_in(values: Any, words: Any) -> np.ndarray:
    """Which of ``values`` (an Arrow array or a sequence) are one of ``words``."""
    if isinstance(values, pa.Array):
        found = pc.is_in(values.cast(pa.string()), value_set=pa.array(list(words), pa.string()))
        return np.asarray(found.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)
    return np.isin(as_objects(values).astype(str), list(words))


def _with_text(values: Any, where: np.ndarray, text: str) -> Any:
    """``values`` (an Arrow array or a sequence) with ``text`` at ``where``."""
    if not where.any():
        return values
    if isinstance(values, pa.Array):
        return pc.if_else(pa.array(where), pa.scalar(text), values.cast(pa.string()))
    out = as_objects(values).copy()
    out[where] = text
    return out


def _take_ints(column: pd.Series, idx: np.ndarray) -> pd.arrays.IntegerArray:
    vals = pd.array(column, dtype="Int64")
    data = np.asarray(vals.to_numpy(dtype=np.int64, na_value=0))
    mask = np.asarray(vals.isna(), dtype=bool)
    ok = idx >= 0
    out = np.zeros(len(idx), dtype=np.int64)
    out_mask = np.ones(len(idx), dtype=bool)
    out[ok] = data[idx[ok]]
    out_mask[ok] = mask[idx[ok]]
    return pd.arrays.IntegerArray(out, out_mask)


def _take_float(values: np.ndarray, idx: np.ndarray) -> np.ndarray:
    out = np.full(len(idx), np.nan)
    ok = idx >= 0
    out[ok] = np.asarray(values, dtype=np.float64)[idx[ok]]
    return out


def _take_cat(column: pd.Series, idx: np.ndarray) -> pd.Series:
    cat = column.array
    codes = np.asarray(cat.codes, dtype=np.int64)
    picked = np.where(idx >= 0, codes[np.maximum(idx, 0)] if len(codes) else -1, -1)
    return pd.Series(pd.Categorical.from_codes(picked, dtype=column.dtype))


def _abnormal(reasons: pd.Series) -> np.ndarray:
    cats = reasons.cat.categories
    flags = np.array([False] + [is_abnormal(c) for c in cats], dtype=bool)
    return flags[np.asarray(reasons.cat.codes, dtype=np.int64) + 1]


_RESTART_FIELDS = {
    "child_id": pa.string(),
    "strategy": pa.string(),
    "affected": pa.list_(pa.string()),
    "restarts_in_window": pa.int64(),
    "intensity": pa.int64(),
    "period": pa.float64(),
    "retry": pa.bool_(),
}


def restarts(events: Any) -> pd.DataFrame:
    """One row per restart (columns in this module's docstring), from a run or its
    events DataFrame."""
    events = as_events(events)
    rs = rows_of(events, "restart", ["seq", "time", "pid", "path", "peer", "reason", "data"])
    d = data_fields(rs["data"], _RESTART_FIELDS)
    child_id = as_objects(d["child_id"])
    affected = [
        tuple(a) if a is not None else ((c,) if c is not None else ())
        for a, c in zip(as_objects(d["affected"]), child_id, strict=True)
    ]
    in_window = as_ints(d["restarts_in_window"])
    intensity = as_ints(d["intensity"])
    crashed_pid = _crashed_pids(events, rs, child_id)

    exits = rows_of(events, "exit", ["pid", "time"]).drop_duplicates("pid")
    e_index = pd.Index(exits["pid"].to_numpy(np.int64))
    peer_ints = crashed_pid.to_numpy(dtype=np.int64, na_value=-1)
    crashed_at = _take_float(exits["time"].to_numpy(), e_index.get_indexer(peer_ints))
    crashed_at = np.where(np.isnan(crashed_at), rs["time"].to_numpy(), crashed_at)

    new_pid, recovered = _recoveries(events, rs, child_id, affected)
    affected_col = np.empty(len(affected), dtype=object)
    affected_col[:] = affected
    retry = as_objects(d["retry"])
    frame = pd.DataFrame(
        {
            "seq": rs["seq"].to_numpy(np.int64),
            "time": rs["time"].to_numpy(np.float64),
            "supervisor_pid": rs["pid"].to_numpy(np.int64),
            "supervisor": as_category(supervisor_paths(rs)),
            "child_id": as_category(d["child_id"]),
            "pid": crashed_pid,
            "reason": trim(rs["reason"]).array,
            "retry": np.array([r is True for r in retry], dtype=bool),
            "strategy": as_category(d["strategy"]),
            "affected": affected_col,
            "siblings_affected": pd.array(
                [sum(1 for a in aff if a != c) for aff, c in zip(affected, child_id, strict=True)],
                dtype="Int64",
            ),
            "restarts_in_window": in_window,
            "intensity": intensity,
            "period": as_floats(d["period"]),
            "headroom": intensity - in_window,
            "crashed_at": crashed_at,
            "new_pid": new_pid,
            "recovered_at": recovered,
            "time_to_recovery": recovered - crashed_at,
        }
    )
    return frame.reset_index(drop=True)


def supervisor_paths(rows: pd.DataFrame) -> np.ndarray:
    """The paths of the supervisors whose events ``rows`` are; for one without a path
    (unnamed, started from outside), its pid as text, as its children's paths begin."""
    paths = rows["path"].astype(object).to_numpy().copy()
    missing = pd.isna(paths)
    paths[missing] = rows["pid"].to_numpy(np.int64)[missing].astype(str)
    return paths


def _crashed_pids(events: pd.DataFrame, rs: pd.DataFrame, child_id: np.ndarray) -> Any:
    """The restart events' peers; where one is missing, the pid of the child's latest
    ``child_start`` from the same supervisor before the restart."""
    peers = pd.array(rs["peer"], dtype="Int64")
    missing = np.asarray(peers.isna(), dtype=bool)
    if not missing.any():
        return peers
    cs = rows_of(events, "child_start", ["seq", "pid", "peer", "data"])
    if cs.empty:
        return peers
    right = pd.DataFrame(
        {
            "seq": cs["seq"].to_numpy(np.int64),
            "sup": cs["pid"].to_numpy(np.int64),
            "child": as_objects(data_fields(cs["data"], {"child_id": pa.string()})["child_id"]),
            "was": pd.array(cs["peer"], dtype="Int64").to_numpy(np.float64, na_value=np.nan),
        }
    )
    left = pd.DataFrame(
        {
            "row": np.flatnonzero(missing),
            "seq": rs["seq"].to_numpy(np.int64)[missing],
            "sup": rs["pid"].to_numpy(np.int64)[missing],
            "child": child_id[missing],
        }
    )
    found = pd.merge_asof(
        left.sort_values("seq"), right.sort_values("seq"), on="seq", by=["sup", "child"],
        direction="backward", allow_exact_matches=False,
    )
    data = peers.to_numpy(np.int64, na_value=0).copy()
    mask = missing.copy()
    was = found["was"].to_numpy(np.float64)
    hit = ~np.isnan(was)
    rows = found["row"].to_numpy(np.int64)
    data[rows[hit]] = was[hit].astype(np.int64)
    mask[rows[hit]] = False
    return pd.arrays.IntegerArray(data, mask)


def _recoveries(
    events: pd.DataFrame, rs: pd.DataFrame, child_id: np.ndarray, affected: list[tuple[Any, ...]]
) -> tuple[pd.arrays.IntegerArray, np.ndarray]:
    """For each restart: the new pid of ``child_id``, and when the last affected child started."""
    n = len(rs)
    new_pid = np.zeros(n, dtype=np.int64)
    no_pid = np.ones(n, dtype=bool)
    recovered = np.full(n, np.nan)
    joined = replacements(
        events, rs["seq"].to_numpy(np.int64), rs["pid"].to_numpy(np.int64), affected
    )
    if joined.empty:
        return pd.arrays.IntegerArray(new_pid, no_pid), recovered
    rows = joined["row"].to_numpy(np.int64)
    pids = joined["new_pid"].to_numpy(np.float64, na_value=np.nan)
    own = joined["child"].to_numpy(object) == child_id[rows]
    hit = own & (np.nan_to_num(pids, nan=-1.0) >= 0)
    new_pid[rows[hit]] = pids[hit].astype(np.int64)
    no_pid[rows[hit]] = False
    started = joined["started"]
    latest = started.groupby(rows).max()
    missing = started.isna().groupby(rows).any()
    latest[missing] = np.nan
    recovered[latest.index.to_numpy(np.int64)] = latest.to_numpy(np.float64)
    return pd.arrays.IntegerArray(new_pid, no_pid), recovered


def replacements(
    events: pd.DataFrame, seq: np.ndarray, supervisor_pid: np.ndarray,
    affected: list[tuple[Any, ...]],
) -> pd.DataFrame:
    """Each child each restart affected, and what started in its place: one row per
    (restart, affected child) with ``row`` (the restart's position), ``child``,
    ``started`` (the time of the supervisor's first ``child_start`` of that child
    after the restart; NaN: none) and ``new_pid`` (its pid; -1: none)."""
    n = len(seq)
    lens = np.fromiter((len(a) for a in affected), np.int64, n)
    cs = rows_of(events, "child_start", ["seq", "time", "pid", "peer", "data"])
    if n == 0 or lens.sum() == 0 or cs.empty:
        return pd.DataFrame(
            {"row": np.zeros(0, np.int64), "child": np.zeros(0, object),
             "started": np.zeros(0, np.float64), "new_pid": np.zeros(0, np.int64)}
        )
    cs_ids = as_objects(data_fields(cs["data"], {"child_id": pa.string()})["child_id"])
    right = pd.DataFrame(
        {
            "seq": cs["seq"].to_numpy(np.int64),
            "sup": cs["pid"].to_numpy(np.int64),
            "child": cs_ids,
            "started": cs["time"].to_numpy(np.float64),
            "new_pid": pd.array(cs["peer"], dtype="Int64").to_numpy(np.int64, na_value=-1),
        }
    )
    row = np.repeat(np.arange(n, dtype=np.int64), lens)
    flat = np.empty(int(lens.sum()), dtype=object)
    flat[:] = [c for aff in affected for c in aff]
    left = pd.DataFrame(
        {
            "row": row,
            "seq": np.asarray(seq, np.int64)[row],
            "sup": np.asarray(supervisor_pid, np.int64)[row],
            "child": flat,
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
    joined["new_pid"] = joined["new_pid"].fillna(-1).astype(np.int64)
    return joined[["row", "child", "started", "new_pid"]]
