"""The events table: a recorded Arrow table as a pandas DataFrame with fixed dtypes.

==============  ========================  =============================================
column          dtype                     meaning
==============  ========================  =============================================
``seq``         int64                     the event's sequence number (1, 2, ...)
``time``        float64                   seconds on the runtime clock
``wall_time``   datetime64[ns, UTC]       wall-clock time of the event
``kind``        category                  :class:`agentlab.EventKind` value
``pid``         int64                     the process (0: the runtime, or outside code)
``name``        category                  its registered name (NaN when unnamed)
``path``        category                  its path, e.g. ``"root/team/writer"``
``supervisor``  category                  the path of its parent (its supervisor), the
                                          part of ``path`` before the last ``/``
``peer``        Int64                     the other process, if any
``reason``      category                  exit reason as text (``"normal"``,
                                          ``"killed"``, ``"ValueError: boom"``,
                                          ``"('shutdown', 'x')"``)
``data``        string                    the event's data as JSON text
``tuples``      string                    where ``data`` held tuples (JSON has none,
                                          so they are lists in ``data``) or objects
                                          (there as their repr): JSON paths into it,
                                          NA when it held neither (and for every
                                          event of a format version 1 file)
==============  ========================  =============================================

Categories are sorted, so the same events give the same frame however they
were chunked or stored. ``json.loads(df.data[i])`` gives the data back (tuples
as lists), :func:`agentlab.trace._schema.restore_tuples` with ``df.tuples[i]``
the data as recorded, and :func:`expand_data` turns it into columns for one kind
of event. A frame of these columns (the whole frame, or rows of it) is a
recorded run the live views accept (``agentlab.ui.dashboard(run.events())``):
they read ``tuples`` and show what the live run showed.
"""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

__all__ = [
    "EVENT_COLUMNS",
    "as_category",
    "as_floats",
    "as_ints",
    "as_objects",
    "data_fields",
    "events_frame",
    "expand_data",
    "parse_data",
]

EVENT_COLUMNS = (
    "seq",
    "time",
    "wall_time",
    "kind",
    "pid",
    "name",
    "path",
    "supervisor",
    "peer",
    "reason",
    "data",
    "tuples",
)

_STRING = pd.StringDtype()


def events_frame(table: pa.Table) -> pd.DataFrame:
    """Convert a recorded table (see ``_schema.SCHEMA``) into the events DataFrame."""
    n = table.num_rows
    path = _category(table.column("path"))
    frame = pd.DataFrame(
        {
            "seq": _ints(table.column("seq")),
            "time": _floats(table.column("time")),
            "wall_time": table.column("wall").to_pandas(),
            "kind": _category(table.column("kind")),
            "pid": _ints(table.column("pid")),
            "name": _category(table.column("name")),
            "path": path,
            "supervisor": parent_paths(path),
            "peer": table.column("peer").to_pandas(types_mapper=_INT_MAPPER.get),
            "reason": _category(table.column("reason")),
            "data": _texts(table.column("data")),
            "tuples": _texts(table.column("tuples")),
        },
        index=pd.RangeIndex(n),
    )
    return frame


_INT_MAPPER = {pa.int64(): pd.Int64Dtype()}
_STRING_MAPPER = {pa.string(): _STRING, pa.large_string(): _STRING}


def _texts(col: pa.ChunkedArray) -> Any:
    """A nullable text column as pandas' string dtype."""
    out = col.to_pandas(types_mapper=_STRING_MAPPER.get)
    return out.astype(_STRING) if out.dtype != _STRING else out


def _ints(col: pa.ChunkedArray) -> np.ndarray:
    if col.num_chunks == 0:
        return np.zeros(0, np.int64)
    return np.asarray(col.to_numpy(), dtype=np.int64)


def _floats(col: pa.ChunkedArray) -> np.ndarray:
    if col.num_chunks == 0:
        return np.zeros(0, np.float64)
    return np.asarray(col.to_numpy(), dtype=np.float64)


def _category(col: pa.ChunkedArray) -> pd.Categorical:
    """A dictionary column as a Categorical with sorted categories (canonical form)."""
    if col.num_chunks == 0:
        return pd.Categorical([], categories=pd.Index([], dtype=object))
    if pa.types.is_dictionary(col.type):
        if col.num_chunks > 1:
            col = col.unify_dictionaries()
        codes = np.concatenate(
            [c.indices.fill_null(-1).to_numpy().astype(np.int64) for c in col.chunks]
        )
        # a null entry may also sit behind a valid index (other writers); nulls win
        for_nulls = [np.asarray(c.is_null()) for c in col.chunks]
        codes[np.concatenate(for_nulls)] = -1
        words = col.chunk(0).dictionary.to_pylist()
    else:  # plain strings (a file written by another tool): encode here
        encoded = col.combine_chunks().dictionary_encode()
        codes = encoded.indices.fill_null(-1).to_numpy().astype(np.int64)
        words = encoded.dictionary.to_pylist()
    return _canonical(codes, words)


def _canonical(codes: np.ndarray, words: list[Any]) -> pd.Categorical:
    """Drop unused categories and sort the rest; recode ``codes`` (-1 is missing)."""
    used = np.zeros(len(words) + 1, dtype=bool)
    used[codes + 1] = True
    used = used[1:]
    keep = [i for i in range(len(words)) if used[i]]
    order = sorted(keep, key=lambda i: words[i])
    remap = np.full(len(words) + 1, -1, dtype=np.int64)
    for new, old in enumerate(order):
        remap[old + 1] = new
    cats = pd.Index([words[i] for i in order], dtype=object)
    return pd.Categorical.from_codes(remap[codes + 1], categories=cats)


def parent_paths(path: pd.Categorical) -> pd.Categorical:
    """``"root/team/w"`` -> ``"root/team"`` for each value; NaN for a path with no ``/``."""
    words = list(path.categories)
    parents = [w.rsplit("/", 1)[0] if "/" in w else None for w in words]
    cats = sorted({p for p in parents if p is not None})
    index = {c: i for i, c in enumerate(cats)}
    remap = np.array([-1] + [index[p] if p is not None else -1 for p in parents], np.int64)
    codes = np.asarray(path.codes, dtype=np.int64)
    return pd.Categorical.from_codes(remap[codes + 1], categories=pd.Index(cats, dtype=object))


def parse_data(values: pd.Series) -> list[dict[str, Any]]:
    """Parse a slice of the ``data`` column into dicts (``{}`` for a missing value).

    Each distinct text is parsed once (most events repeat a few payloads), in one
    call to the JSON decoder.
    """
    n = len(values)
    if n == 0:
        return []
    arr = pa.chunked_array([pa.array(values.array, type=pa.string())]) if not isinstance(
        values.array, pa.ChunkedArray
    ) else values.array
    uniq = pc.unique(arr)
    idx = pc.index_in(arr, value_set=uniq).fill_null(-1).to_numpy().astype(np.int64)
    texts = uniq.to_pylist()
    body = ",".join("null" if t is None else t for t in texts)
    try:
        parsed = json.loads("[" + body + "]")
    except ValueError:  # a foreign file with bad JSON in it: parse one by one
        parsed = [_loads_or_text(t) for t in texts]
    dicts = [d if isinstance(d, dict) else ({} if d is None else {"value": d}) for d in parsed]
    table = np.empty(len(dicts) + 1, dtype=object)
    table[:-1] = dicts
    table[-1] = {}
    return table[idx].tolist()


def _loads_or_text(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return {"text": text}


def data_fields(values: pd.Series, fields: dict[str, pa.DataType]) -> dict[str, Any]:
    """Some fields of a slice of the ``data`` column, one array per field (aligned
    with ``values``; null where an event lacks the field).

    ``fields`` maps each field to the Arrow type it should have. Arrays are Arrow
    arrays when every value fits that type (the fast path: each distinct text is
    parsed once, by Arrow's JSON reader), else object ndarrays. Convert them with :func:`as_category`, :func:`as_ints`,
    :func:`as_floats` or :func:`as_objects`.
    """
    n = len(values)
    names = tuple(fields)
    if n == 0:
        return {k: np.empty(0, dtype=object) for k in names}
    arr = pa.array(values.array, type=pa.string())
    uniq = pc.unique(arr)
    idx = pc.index_in(arr, value_set=uniq)
    texts = ["{}" if t is None else t for t in uniq.to_pylist()]
    try:
        table = pa_json.read_json(
            io.BytesIO("\n".join(texts).encode()),
            parse_options=pa_json.ParseOptions(
                explicit_schema=pa.schema(fields), unexpected_field_behavior="ignore"
            ),
        )
        if table.num_rows != len(texts):
            raise ValueError("row count")
        out: dict[str, Any] = {}
        for k in names:
            if k in table.column_names:
                out[k] = table.column(k).combine_chunks().take(idx)
            else:
                out[k] = pa.nulls(n)
        return out
    except (pa.ArrowInvalid, ValueError):
        dicts = parse_data(values)
        return {k: np.array([d.get(k) for d in dicts], dtype=object) for k in names}


def as_objects(values: Any) -> np.ndarray:
    """An object ndarray (None for missing) from a :func:`data_fields` array."""
    if isinstance(values, pa.Array | pa.ChunkedArray):
        out = np.empty(len(values), dtype=object)
        out[:] = values.to_pylist()
        return out
    return np.asarray(values, dtype=object)


def as_category(values: Any) -> pd.Categorical:
    """A Categorical with sorted categories from a :func:`data_fields` array (or any list)."""
    if isinstance(values, pa.Array) and pa.types.is_string(values.type):
        enc = values.dictionary_encode()
        codes = enc.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
        return _canonical(codes, enc.dictionary.to_pylist())
    objs = as_objects(values)
    texts = [None if v is None or (isinstance(v, float) and v != v) else str(v) for v in objs]
    codes_of: dict[str, int] = {}
    codes = np.array(
        [-1 if t is None else codes_of.setdefault(t, len(codes_of)) for t in texts], dtype=np.int64
    )
    return _canonical(codes, list(codes_of))


def as_ints(values: Any) -> pd.arrays.IntegerArray:
    """A nullable Int64 array from a :func:`data_fields` array."""
    if isinstance(values, pa.Array) and (
        pa.types.is_integer(values.type) or pa.types.is_null(values.type)
    ):
        data = values.cast(pa.int64())
        mask = np.asarray(data.is_null(), dtype=bool)
        ints = data.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
        return pd.arrays.IntegerArray(ints, mask)
    return pd.array([None if v is None else int(v) for v in as_objects(values)], dtype="Int64")


def as_floats(values: Any) -> np.ndarray:
    """A float64 ndarray (NaN for missing) from a :func:`data_fields` array."""
    if isinstance(values, pa.Array) and (
        pa.types.is_integer(values.type) or pa.types.is_floating(values.type)
        or pa.types.is_null(values.type)
    ):
        return np.asarray(values.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)
    return np.array([np.nan if v is None else float(v) for v in as_objects(values)], dtype=np.float64)


def expand_data(events: pd.DataFrame, kind: str) -> pd.DataFrame:
    """The events of one ``kind`` with their data fields as columns.

    >>> expand_data(run.events(), "restart")[["time", "child_id", "strategy"]]  # doctest: +SKIP
    """
    rows = events[events["kind"] == kind]
    fields = pd.DataFrame(parse_data(rows["data"]), index=rows.index)
    base = rows.drop(columns=[c for c in ("data", "tuples") if c in rows.columns])
    overlap = [c for c in fields.columns if c in base.columns]
    return base.join(fields.rename(columns={c: f"data_{c}" for c in overlap}))
