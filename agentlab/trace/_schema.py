"""The on-disk and in-memory layout of a recorded run, and how values become text.

A recorded event is one row of an Arrow table with these columns:

==========  =============================  =========================================
column      Arrow type                     from the :class:`agentlab.Event` field
==========  =============================  =========================================
``seq``     int64                          ``seq``
``time``    float64                        ``time`` (seconds on the runtime clock)
``wall``    timestamp[ns, UTC]             ``wall`` (``time.time()``)
``kind``    dictionary<int32, string>      ``kind``
``pid``     int64                          ``pid`` (0: the runtime / outside)
``name``    dictionary<int32, string>      ``name``
``path``    dictionary<int32, string>      ``path``
``peer``    int64 (nullable)               ``peer``
``reason``  dictionary<int32, string>      ``reason`` as text (:func:`reason_text`)
``data``    string (nullable)              ``data`` as JSON text (:func:`data_json`)
``tuples``  string (nullable)              where ``data`` held tuples (:func:`data_tuples`)
==========  =============================  =========================================

Nothing is pickled: reasons and data become text when they are recorded, so a
trace file can be opened without trusting it. ``FORMAT_VERSION`` goes into the
Parquet metadata and changes whenever this table does (version 1 had no
``tuples`` column; its files are still read, their tuples as lists).

JSON has no tuples, so ``data`` holds them as lists (``json.loads`` gives lists,
and every table reads it so). ``tuples`` says which of those lists were tuples,
as JSON paths into the data (null when none were), and :func:`restore_tuples`
turns them back, so ``Run.to_events()`` gives the data exactly as recorded:

>>> data_json({"request": ("ask", [1, (2,)])}), data_tuples({"request": ("ask", [1, (2,)])})
('{"request":["ask",[1,[2]]]}', '[["request"],["request",1,1]]')
>>> restore_tuples({"request": ["ask", [1, [2]]]}, '[["request"],["request",1,1]]')
{'request': ('ask', [1, (2,)])}

>>> reason_text(("shutdown", "reconfigured"))
"('shutdown', 'reconfigured')"
>>> data_json({"kind": "agent"})
'{"kind":"agent"}'
"""

from __future__ import annotations

import ast
import json
from collections.abc import Callable, Iterable, Sequence
from operator import itemgetter
from typing import Any

import numpy as np
import pyarrow as pa

import agentlab
from agentlab._events import _H, _chunk_of, record_data

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "METADATA_KEY",
    "READABLE_VERSIONS",
    "SCHEMA",
    "chunk_batch",
    "data_json",
    "data_tuples",
    "is_abnormal",
    "reason_text",
    "reason_value",
    "restore_tuples",
    "to_batch",
    "with_tuples",
]

FORMAT = "agentlab.trace"
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)  # version 1: no ``tuples`` column
METADATA_KEY = b"agentlab.trace"

_DICT = pa.dictionary(pa.int32(), pa.string())

SCHEMA = pa.schema(
    [
        ("seq", pa.int64()),
        ("time", pa.float64()),
        ("wall", pa.timestamp("ns", tz="UTC")),
        ("kind", _DICT),
        ("pid", pa.int64()),
        ("name", _DICT),
        ("path", _DICT),
        ("peer", pa.int64()),
        ("reason", _DICT),
        ("data", pa.string()),
        ("tuples", pa.string()),
    ]
)

_MAX_REPR = 500  # longest text kept for a value JSON cannot hold (a message, an object)


def reason_text(reason: Any) -> str | None:
    """An exit reason as text: atoms as they are, a :class:`agentlab.Crash` as
    ``"Type: message"``, anything else as its ``repr``."""
    if reason is None or type(reason) is str:
        return reason
    if isinstance(reason, agentlab.Crash):
        return str(reason)
    if isinstance(reason, str):
        return str(reason)
    return _short_repr(reason)


def is_abnormal(reason: str | None) -> bool:
    """Whether a reason (as text) is a crash in OTP's sense.

    ``normal``, ``shutdown`` and ``('shutdown', ...)`` are not; everything else
    (``killed`` included) is.
    """
    if reason is None or reason in ("normal", "shutdown"):
        return False
    return not reason.startswith("('shutdown',")


def _short_repr(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:  # a broken __repr__ must not break recording
        text = f"<{type(value).__name__}>"
    return text if len(text) <= _MAX_REPR else text[: _MAX_REPR - 3] + "..."


def _jsonable(value: Any) -> Any:
    """JSON's fallback: text for what JSON cannot hold (never an error)."""
    if isinstance(value, agentlab.Crash):
        return str(value)
    if isinstance(value, set | frozenset):
        return sorted(map(_short_repr, value))
    return _short_repr(value)


_encode = json.JSONEncoder(
    separators=(",", ":"), ensure_ascii=False, default=_jsonable, check_circular=True
).encode

_cache: dict[Any, str] = {}
_CACHE_MAX = 4096
# Equal is not the same text (1 == 1.0 == True): the memo is keyed by values and
# their types, and only for dicts of these plain types (a tuple holding 1 equals
# one holding True).
_PLAIN = frozenset({str, int, float, bool, type(None)})


def data_json(data: dict[str, Any] | None) -> str | None:
    """An event's ``data`` as compact JSON text (``None`` stays ``None``).

    Values JSON cannot hold become their (shortened) ``repr``; tuples become
    lists (:func:`data_tuples` says where). Dicts of plain values (text, numbers,
    ``None``) are memoised, since most events repeat them (``{"kind": "agent"}``).
    """
    return _encoded(data)[0]


def data_tuples(data: dict[str, Any] | None) -> str | None:
    """Where ``data`` holds tuples, as JSON text: the path (keys and list indexes)
    to each, outermost first; ``None`` when it holds none (or when
    :func:`data_json` could not encode it as it is)."""
    return _encoded(data)[1]


def _encoded(data: dict[str, Any] | None) -> tuple[str | None, str | None]:
    """:func:`data_json` and :func:`data_tuples` of ``data``, in one pass."""
    if data is None:
        return None, None
    types = (*map(type, data), *map(type, data.values()))
    if _PLAIN.issuperset(types):  # no containers: no tuples
        key = (*data.items(), types)
        text = _cache.get(key)
        if text is None:
            text = _encode(data)
            if len(_cache) >= _CACHE_MAX:
                _cache.clear()
            _cache[key] = text
        return text, None
    try:
        text = _encode(data)
    except (TypeError, ValueError):  # non-string keys, circular data
        try:
            return _encode({str(k): v for k, v in data.items()}), None
        except (TypeError, ValueError):
            return _encode({"repr": _short_repr(data)}), None
    if "[" not in text:  # no lists in it, so no tuples
        return text, None
    paths: list[list[Any]] = []
    _tuple_paths(data, [], paths)
    return text, (_encode(paths) if paths else None)


def _tuple_paths(value: Any, path: list[Any], out: list[list[Any]]) -> None:
    """Append the path of each tuple in ``value`` (JSON-encodable: no cycles) to ``out``."""
    is_dict = isinstance(value, dict)
    if is_dict:
        items: Iterable[tuple[Any, Any]] = value.items()
    else:
        if isinstance(value, tuple):
            out.append(path)
        items = enumerate(value)
    for k, v in items:
        t = type(v)
        if t in _SCALAR:
            continue
        if t is tuple or t is list or t is dict or isinstance(v, list | tuple | dict):
            if is_dict and type(k) is not str:
                k = _key_text(k)
            _tuple_paths(v, [*path, k], out)


_SCALAR = frozenset({str, int, float, bool, type(None)})


def _key_text(key: Any) -> str:
    """A dict key as JSON writes it (``1`` -> ``"1"``, ``True`` -> ``"true"``)."""
    text = _encode(key)
    return text[1:-1] if text.startswith('"') else text


def restore_tuples(value: Any, tuples: str | None) -> Any:
    """``value`` (data parsed from :func:`data_json` text) with the lists that were
    tuples (``tuples``: :func:`data_tuples` text) made tuples again, in place.

    Paths that do not fit (a file changed by hand) are skipped.
    """
    if tuples is None:
        return value
    try:
        paths = json.loads(tuples)
    except ValueError:
        return value
    if not isinstance(paths, list):
        return value
    # innermost first, so each tuple's container is still a list or dict when it changes
    for path in sorted((p for p in paths if isinstance(p, list) and p), key=len, reverse=True):
        try:
            parent = value
            for step in path[:-1]:
                parent = parent[step]
            last = path[-1]
            if isinstance(parent[last], list):
                parent[last] = tuple(parent[last])
        except (LookupError, TypeError):
            continue
    return value


def reason_value(text: str | None) -> Any:
    """An exit reason as :func:`reason_text` wrote it, back as the value when it was
    a tuple of literals (``"('shutdown', 'x')"`` -> ``('shutdown', 'x')``, read by
    ``ast.literal_eval``: nothing runs); any other text as it is."""
    if text is None or not text.startswith("(") or not text.endswith(")"):
        return text
    try:
        value = ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return text
    return value if type(value) is tuple else text


def with_tuples(table: pa.Table) -> pa.Table:
    """``table`` with a ``tuples`` column (all null when it lacks one: version 1)."""
    if "tuples" in table.column_names:
        return table
    return table.append_column("tuples", pa.nulls(table.num_rows, pa.string()))


def to_batch(events: Sequence[Any]) -> pa.RecordBatch:
    """Turn a list of :class:`agentlab.Event` tuples (or full raw tuples, with data
    in a stored form) into one record batch (columnar)."""
    return chunk_batch(_chunk_of(events))


def chunk_batch(chunk: tuple[Any, ...]) -> pa.RecordBatch:
    """Turn events in the runtime's stored form (a chunk: see ``agentlab._events``,
    or an :class:`agentlab.EventBatch`'s ``chunk``) into one record batch.

    The numbers are columns already (C doubles and int64s, read as NumPy arrays);
    each of the other columns is read out of the records in one C-level pass
    (``map`` with an ``itemgetter``): transposing them all at once
    (``zip(*records)``) allocates an iterator per event, and the garbage collector
    runs over those.
    """
    recs = chunk[_H:]
    n = len(recs)
    if n == 0:
        return _empty()
    seq0, seqs, times, walls, offset = chunk[:_H]
    data_of: Callable[[Any], dict[str, Any] | None]
    if times is None:  # whole events: the numbers are in them, the fields after them
        seq = np.fromiter(map(_WHOLE[0], recs), np.int64, n)
        time = np.fromiter(map(_WHOLE[1], recs), np.float64, n)
        wall = np.fromiter(map(_WHOLE[2], recs), np.float64, n)
        at, data_of = 9, agentlab.Event.data_of
    else:
        if seqs is None:
            seq = np.arange(seq0, seq0 + n, dtype=np.int64)
        else:
            seq = np.frombuffer(seqs, np.int64).copy()
        time = np.frombuffer(times, np.float64).copy()
        wall = np.frombuffer(walls, np.float64) if walls is not None else time + offset
        at, data_of = 6, record_data
    wall_ns = (wall * 1e9).astype(np.int64)
    kind, pid, name, path, peer, reason = _WHOLE[at - 6 : at]
    text = reason_text
    reasons = [r if r is None or type(r) is str else text(r) for r in map(reason, recs)]
    arrays = [
        pa.array(seq),
        pa.array(time),
        pa.array(wall_ns, pa.timestamp("ns", tz="UTC")),
        _dictionary(list(map(kind, recs))),
        pa.array(np.fromiter(map(pid, recs), np.int64, n)),
        _dictionary(list(map(name, recs))),
        _dictionary(list(map(path, recs))),
        pa.array(list(map(peer, recs)), pa.int64()),
        _dictionary(reasons),
        *_data_texts(recs, at, data_of),
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=SCHEMA)


_WHOLE = [itemgetter(i) for i in range(10)]  # a whole event's fields (a record's: 0-6)


def _data_texts(
    recs: Sequence[Any], at: int, data_of: Callable[[Any], dict[str, Any] | None]
) -> tuple[pa.Array, pa.Array]:
    """The data column as JSON text, and the tuples column. Records carry data in a stored form
    (``agentlab.record_data``, ``agentlab.Event.data_of``): repeated data as one
    shared object (a small int code, or an Event's dict), each of which is encoded
    once; a dict as its values after a shared tuple of field names (records longer
    than their data field, at ``at``), each encoded on its own. Objects are told apart by
    ``id`` (``recs`` holds them all, so no id is reused meanwhile), grouped in bulk
    by Arrow."""
    n = len(recs)
    ids = np.fromiter(map(id, map(_WHOLE[at], recs)), np.int64, n)
    own = np.fromiter(map(len, recs), np.int64, n) > at + 1  # values after field names
    if own.any():
        ids[own] = np.fromiter(map(id, recs), np.int64, n)[own]
    found = pa.array(ids).dictionary_encode()
    idx = found.indices.to_numpy()
    where = np.empty(len(found.dictionary), np.int64)
    where[idx] = np.arange(n)  # a position of each distinct object (any one will do)
    dump = _encoded
    texts: dict[tuple[str | None, str | None], int] = {}  # distinct objects, equal texts
    codes = [texts.setdefault(dump(data_of(recs[i])), len(texts)) for i in where.tolist()]
    at_row = pa.array(np.array(codes, np.int32)[idx])
    words = pa.array([t for t, _ in texts], pa.string())
    if not any(tuples for _, tuples in texts):
        return words.take(at_row), pa.nulls(n, pa.string())
    shapes = pa.array([tuples for _, tuples in texts], pa.string())
    return words.take(at_row), shapes.take(at_row)


def _dictionary(values: Sequence[Any]) -> pa.DictionaryArray:
    try:
        arr = pa.array(values, pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # a name that is not a str
        arr = pa.array([None if v is None else str(v) for v in values], pa.string())
    encoded = arr.dictionary_encode()
    return encoded.cast(_DICT) if encoded.type != _DICT else encoded


def _empty() -> pa.RecordBatch:
    return pa.RecordBatch.from_pylist([], schema=SCHEMA)
