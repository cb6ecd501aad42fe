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
==========  =============================  =========================================

Nothing is pickled: reasons and data become text when they are recorded, so a
trace file can be opened without trusting it. ``FORMAT_VERSION`` goes into the
Parquet metadata and changes whenever this table does.

>>> reason_text(("shutdown", "reconfigured"))
"('shutdown', 'reconfigured')"
>>> data_json({"kind": "agent"})
'{"kind":"agent"}'
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
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
    "SCHEMA",
    "chunk_batch",
    "data_json",
    "is_abnormal",
    "reason_text",
    "to_batch",
]

FORMAT = "agentlab.trace"
FORMAT_VERSION = 1
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
    lists. Dicts of plain values (text, numbers, ``None``) are memoised, since
    most events repeat them (``{"kind": "agent"}``).
    """
    if data is None:
        return None
    key: Any = None
    types = (*map(type, data), *map(type, data.values()))
    if _PLAIN.issuperset(types):
        key = (*data.items(), types)
        text = _cache.get(key)
        if text is not None:
            return text
    try:
        text = _encode(data)
    except (TypeError, ValueError):  # non-string keys, circular data
        try:
            text = _encode({str(k): v for k, v in data.items()})
        except (TypeError, ValueError):
            text = _encode({"repr": _short_repr(data)})
    if key is not None:
        if len(_cache) >= _CACHE_MAX:
            _cache.clear()
        _cache[key] = text
    return text


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
        _data_texts(recs, at, data_of),
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=SCHEMA)


_WHOLE = [itemgetter(i) for i in range(10)]  # a whole event's fields (a record's: 0-6)


def _data_texts(
    recs: Sequence[Any], at: int, data_of: Callable[[Any], dict[str, Any] | None]
) -> pa.Array:
    """The data column as JSON text. Records carry data in a stored form
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
    dump = data_json
    texts: dict[str | None, int] = {}  # distinct objects may have equal texts
    codes = [texts.setdefault(dump(data_of(recs[i])), len(texts)) for i in where.tolist()]
    words = pa.array(list(texts), pa.string())
    return words.take(pa.array(np.array(codes, np.int32)[idx]))


def _dictionary(values: Sequence[Any]) -> pa.DictionaryArray:
    try:
        arr = pa.array(values, pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # a name that is not a str
        arr = pa.array([None if v is None else str(v) for v in values], pa.string())
    encoded = arr.dictionary_encode()
    return encoded.cast(_DICT) if encoded.type != _DICT else encoded


def _empty() -> pa.RecordBatch:
    return pa.RecordBatch.from_pylist([], schema=SCHEMA)
