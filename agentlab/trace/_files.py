"""Runs on disk: one Parquet file per run, self-describing, never pickled.

The file holds the events table (``_schema.SCHEMA``: reasons and data are
text) and, in the Parquet key-value metadata under ``agentlab.trace``, a JSON
object ``{"format": "agentlab.trace", "version": 2, "run": {...RunInfo...}}``.
Loading checks both before reading a row, so a stray file or one from an
incompatible agentlab says so clearly. Version 1 files (no ``tuples`` column)
still load, with the tuples in their data as lists::

    path = run.save("runs/flaky.parquet")
    again = load(path)
    pd.testing.assert_frame_equal(run.processes(), again.processes())

A folder written by a spilling recorder (``Recorder(overflow="spill")``) holds
the parts of one run; :func:`load` reads such a folder as that run, and
:func:`load_all` reads a folder of different runs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

import agentlab

from ._run import Run, RunInfo
from ._schema import (
    FORMAT,
    FORMAT_VERSION,
    METADATA_KEY,
    READABLE_VERSIONS,
    SCHEMA,
    with_tuples,
)

__all__ = ["TraceFormatError", "gather", "header", "load", "load_all", "save"]


class TraceFormatError(agentlab.AgentLabError, ValueError):
    """A file is not an agentlab trace, or was written by an incompatible version."""


def header(info: RunInfo) -> bytes:
    return json.dumps(
        {"format": FORMAT, "version": FORMAT_VERSION, "run": json.loads(info.to_json())},
        sort_keys=True,
    ).encode()


def save(run: Run, path: str | Path) -> Path:
    """Write ``run`` to ``path`` (a ``.parquet`` file, or a folder: ``<run_id>.parquet`` in it).

    Returns the path written.
    """
    target = Path(path)
    if target.is_dir():
        target = target / f"{run.run_id}.parquet"
    target.parent.mkdir(parents=True, exist_ok=True)
    table = run.table().replace_schema_metadata({METADATA_KEY: header(run.info)})
    pq.write_table(table, target)
    return target


def _read_header(path: Path) -> tuple[pq.ParquetFile, RunInfo, int]:
    """The file opened, its run's info and its format version, all checked."""
    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as e:
        raise TraceFormatError(
            f"{path} is not an agentlab trace: it is not a Parquet file ({e}). "
            "Traces are written by Run.save() or agentlab.trace.save()."
        ) from None
    meta = pf.schema_arrow.metadata or {}
    raw = meta.get(METADATA_KEY)
    if raw is None:
        raise TraceFormatError(
            f"{path} is a Parquet file but not an agentlab trace (it has no "
            f"{METADATA_KEY.decode()!r} metadata). Traces are written by Run.save()."
        )
    try:
        header = json.loads(raw)
        fmt, version, run = header["format"], header["version"], header["run"]
    except (ValueError, KeyError, TypeError):
        raise TraceFormatError(f"{path}: the agentlab trace metadata is unreadable.") from None
    if fmt != FORMAT:
        raise TraceFormatError(f"{path} is not an agentlab trace (format {fmt!r}).")
    if type(version) is not int:
        raise TraceFormatError(
            f"{path}: the agentlab trace metadata is damaged (its format version is "
            f"{version!r}, not a whole number)."
        )
    if version not in READABLE_VERSIONS:
        raise TraceFormatError(
            f"{path} was written with trace format version {version}; this agentlab "
            f"({agentlab.__version__}) reads versions {', '.join(map(str, READABLE_VERSIONS))}. "
            "Open it with the agentlab version that wrote it, or re-record the run."
        )
    missing = [n for n in _columns(version) if n not in pf.schema_arrow.names]
    if missing:
        raise TraceFormatError(f"{path}: the trace lacks the columns {missing}.")
    return pf, _run_info(path, run), version


def _columns(version: int) -> list[str]:
    """The columns a file of this format version has."""
    return SCHEMA.names if version >= 2 else [n for n in SCHEMA.names if n != "tuples"]


def _run_info(path: Path, run: object) -> RunInfo:
    """The header's ``run`` object as a RunInfo, checked field by field."""
    problem = None
    if not isinstance(run, dict):
        problem = f"'run' is {type(run).__name__}, not an object"
    elif not isinstance(run.get("run_id"), str) or not isinstance(run.get("started"), str):
        problem = "'run' lacks its run_id or started text"
    elif not isinstance(run.get("metadata", {}), dict):
        problem = f"the run's metadata is {type(run['metadata']).__name__}, not an object"
    else:
        if type(run.get("dropped", 0)) is not int:
            problem = f"the run's dropped count is {run['dropped']!r}, not a whole number"
        for name in ("began", "ended", "trace_messages"):
            value = run.get(name)
            if value is not None and type(value) not in (int, float):
                problem = f"the run's {name} is {value!r}, not a number"
    if problem is not None:
        raise TraceFormatError(
            f"{path}: the agentlab trace metadata is damaged ({problem}). Only files "
            "as Run.save() wrote them can be read; this one was changed or made elsewhere."
        )
    return RunInfo.from_json(json.dumps(run))


def _read(path: Path) -> Run:
    pf, info, version = _read_header(path)
    try:
        table = with_tuples(pf.read(columns=_columns(version)))
    except (pa.ArrowException, OSError) as e:
        raise TraceFormatError(
            f"{path} is a damaged agentlab trace: its rows could not be read "
            f"({' '.join(str(e).split())})."
        ) from None
    try:
        table = table.cast(SCHEMA.with_metadata(table.schema.metadata))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, TypeError) as e:
        raise TraceFormatError(f"{path}: a column has an unexpected type ({e}).") from None
    return Run(table.replace_schema_metadata(None), info)


def _parts(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix == ".parquet" and p.is_file())


def load(path: str | Path) -> Run:
    """Read a run written by :func:`save` (or the folder of a spilling recorder).

    Raises :class:`TraceFormatError` for a file that is not an agentlab trace or
    has an incompatible format version.
    """
    target = Path(path)
    if not target.exists():
        raise FileNotFoundError(f"no trace at {target}")
    if not target.is_dir():
        return _read(target)
    runs = load_all(target)
    if len(runs) != 1:
        raise TraceFormatError(
            f"{target} holds {len(runs)} runs; load one file, or use load_all() for all of them."
        )
    return runs[0]


def load_all(paths: str | Path | Iterable[str | Path]) -> list[Run]:
    """Read every run in a folder (or a list of files and folders), one :class:`Run` each.

    Files of the same run (the parts a spilling recorder wrote) are joined, each
    event once: a run saved next to its own spilled parts, or saved twice, does not
    count its events twice.
    """
    runs, problems = gather(paths)
    if problems:
        raise problems[0]
    return [run for run, _ in runs]


def gather(
    paths: str | Path | Iterable[str | Path],
) -> tuple[list[tuple[Run, list[Path]]], list[TraceFormatError]]:
    """:func:`load_all`, telling which files each run came from, and collecting the
    errors of the files that could not be read instead of stopping at the first."""
    if isinstance(paths, str | Path):
        paths = [paths]
    files: list[Path] = []
    for p in map(Path, paths):
        if not p.exists():
            raise FileNotFoundError(f"no trace at {p}")
        files.extend(_parts(p) if p.is_dir() else [p])
    groups: dict[str, list[tuple[Run, Path]]] = {}
    problems: list[TraceFormatError] = []
    for f in files:
        try:
            run = _read(f)
        except TraceFormatError as e:
            problems.append(e)
            continue
        groups.setdefault(run.run_id, []).append((run, f))
    out = []
    for found in groups.values():
        where = list(dict.fromkeys(f for _, f in found))
        # newest format first: of two rows of one event, the first is kept
        parts = sorted((run for run, _ in found), key=lambda r: -r.info.version)
        if len(parts) == 1:
            out.append((parts[0], where))
            continue
        table = pa.concat_tables([r.table() for r in parts])
        table = _unique_seq(table.sort_by("seq"))
        info = max((r.info for r in parts), key=lambda i: i.dropped)
        out.append((Run(table, info), where))
    return out, problems


def _unique_seq(table: pa.Table) -> pa.Table:
    """``table`` (sorted by seq) with one row per seq: a run's events are numbered
    once, so two rows with one number are the same event from two files."""
    seq = table.column("seq")
    if len(seq) < 2:
        return table
    same = pc.equal(seq.slice(1), seq.slice(0, len(seq) - 1))
    if not pc.any(same).as_py():
        return table
    keep = pa.concat_arrays([pa.array([True]), pc.invert(same).combine_chunks()])
    return table.filter(keep)
