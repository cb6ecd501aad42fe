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
from collections.abc import Sequence
from itertools import islice
from typing import Any

import numpy as np
import pyarrow as pa

import agentlab

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "METADATA_KEY",
    "SCHEMA",
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


def data_json(data: dict[str, Any] | None) -> str | None:
    """An event's ``data`` as compact JSON text (``None`` stays ``None``).

    Values JSON cannot hold become their (shortened) ``repr``; tuples become
    lists. Small dicts of plain values are memoised, since most events repeat
    them (``{"kind": "agent"}``).
    """
    if data is None:
        return None
    try:
        key = tuple(data.items())
        text = _cache.get(key)
    except TypeError:  # an unhashable value: no memo
        key = None
        text = None
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
    """Turn a list of :class:`agentlab.Event` tuples into one record batch (columnar)."""
    n = len(events)
    if n == 0:
        return _empty()
    # Raw runtime tuples differ in length past the ninth field (see
    # agentlab.Event.data_of): transpose the first nine, read data per record.
    seq, time, wall, kind, pid, name, path, peer, reason = islice(zip(*events, strict=False), 9)
    wall_ns = (np.fromiter(wall, np.float64, n) * 1e9).astype(np.int64)
    text = reason_text
    reasons = [r if r is None or type(r) is str else text(r) for r in reason]
    arrays = [
        pa.array(np.fromiter(seq, np.int64, n)),
        pa.array(np.fromiter(time, np.float64, n)),
        pa.array(wall_ns, pa.timestamp("ns", tz="UTC")),
        _dictionary(kind),
        pa.array(np.fromiter(pid, np.int64, n)),
        _dictionary(name),
        _dictionary(path),
        pa.array(peer, pa.int64()),
        _dictionary(reasons),
        pa.array(_data_texts(events), pa.string()),
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=SCHEMA)


def _data_texts(events: Sequence[Any]) -> list[str | None]:
    """The data column as JSON text. A raw runtime tuple keeps a dict's values after
    a shared tuple of its field names (each is encoded on its own); data that events
    repeat (int codes, and an Event's dict) is encoded once per distinct object (the
    batch keeps the objects alive, so ids are not reused meanwhile)."""
    by_id: dict[int, str | None] = {id(None): None}
    out: list[str | None] = []
    put = out.append
    get = by_id.get
    dump = data_json
    data_of = agentlab.Event.data_of
    miss = _MISS
    for t in events:
        d = t[9]
        if d.__class__ is tuple:
            put(dump(dict(zip(d, t[10:], strict=True))))
            continue
        k = id(d)
        text = get(k, miss)
        if text is miss:
            text = by_id[k] = dump(data_of(t))
        put(text)
    return out


_MISS: Any = object()


def _dictionary(values: Sequence[Any]) -> pa.DictionaryArray:
    try:
        arr = pa.array(values, pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # a name that is not a str
        arr = pa.array([None if v is None else str(v) for v in values], pa.string())
    encoded = arr.dictionary_encode()
    return encoded.cast(_DICT) if encoded.type != _DICT else encoded


def _empty() -> pa.RecordBatch:
    return pa.RecordBatch.from_pylist([], schema=SCHEMA)
