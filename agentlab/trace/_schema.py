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
``tuples``  string (nullable)              where ``data`` held tuples, or objects
                                           written as their repr (:func:`data_tuples`)
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

An object JSON cannot hold (a pid, a ChildSpec) is written as its ``repr``, and
``tuples`` has a path to it too: the text it reads back as is a :class:`Repr`,
whose ``repr`` is that text, as the object's was (a view shows the message
``('register', <0.7.0>)`` as it did live). Readers that know only tuples skip
those paths, so the format version stays 2:

>>> class Pid:
...     def __repr__(self): return "<0.7.0>"
>>> data_json({"msg": ("register", Pid())}), data_tuples({"msg": ("register", Pid())})
('{"msg":["register","<0.7.0>"]}', '[["msg"],["msg",1]]')
>>> restore_tuples({"msg": ["register", "<0.7.0>"]}, '[["msg"],["msg",1]]')
{'msg': ('register', <0.7.0>)}

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
    "Repr",
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
    ``"Type: message"``, anything else as its ``repr``. A tuple's parts that are not
    literals (a crash, a pid, an object) are written as their text, so that it reads
    back as a tuple (:func:`reason_value`) whatever it holds:

    >>> reason_text(("shutdown", ("failed_to_start_child", "db", agentlab.Crash("OSError", "disk"))))
    "('shutdown', ('failed_to_start_child', 'db', 'OSError: disk'))"
    """
    if reason is None or type(reason) is str:
        return reason
    if isinstance(reason, agentlab.Crash):
        return str(reason)
    if isinstance(reason, str):
        return str(reason)
    if type(reason) is tuple:
        return _short_repr(_literal(reason, 0))
    return _short_repr(reason)


_ATOMS = frozenset({int, bool, type(None), bytes})


def _literal(value: Any, depth: int) -> Any:
    """``value`` with every part that ``repr`` would not write as a literal
    (``ast.literal_eval`` reads it back) replaced by its text: a crash as
    ``"Type: message"``, a str subclass as its str, anything else as its ``repr``,
    which is what the views show of it live (``agentlab.ui._fmt.exit_text``)."""
    t = type(value)
    if t is str or t in _ATOMS:
        return value
    if t is float:
        return value if value - value == 0 else repr(value)  # nan and inf: no literal
    if depth < 32:
        if t is tuple:
            return tuple(_literal(v, depth + 1) for v in value)
        if t is list:
            return [_literal(v, depth + 1) for v in value]
    if isinstance(value, agentlab.Crash | str):
        return str(value)
    return _short_repr(value)


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
    global _objects
    _objects += 1  # (so :func:`_encoded` knows to look for where it was)
    return _short_repr(value)


_objects = 0  # objects written as their repr so far


class Repr(str):
    """An object a trace kept as its ``repr`` (JSON cannot hold it): that text, and
    its own ``repr`` is the text itself, as the object's was. So a message
    ``("register", <0.101.0>)`` (a pid in it) reads back as a tuple whose ``repr``
    is ``('register', <0.101.0>)``, not ``('register', '<0.101.0>')``; it equals
    the text, and JSON writes it as the text.

    >>> ("start_child", Repr("ChildSpec('w')"))
    ('start_child', ChildSpec('w'))
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return str.__str__(self)


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
    :func:`data_json` could not encode it as it is). A path to a value that is
    text in ``data_json`` (not a list) is an object JSON could not hold, written
    as its ``repr`` (:class:`Repr`); a crash (as ``"Type: message"``) and a set
    (as a list of reprs) are not marked. Readers that know only tuples skip
    those paths (the value there is no list)."""
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
    seen = _objects
    try:
        text = _encode(data)
    except (TypeError, ValueError):  # non-string keys, circular data
        try:
            return _encode({str(k): v for k, v in data.items()}), None
        except (TypeError, ValueError):
            return _encode({"repr": _short_repr(data)}), None
    if "[" not in text and _objects == seen:  # no lists in it and no objects: nothing to mark
        return text, None
    paths: list[list[Any]] = []
    _tuple_paths(data, [], paths)
    return text, (_encode(paths) if paths else None)


def _tuple_paths(value: Any, path: list[Any], out: list[list[Any]]) -> None:
    """Append the path of each tuple in ``value`` (JSON-encodable: no cycles) to
    ``out``, and of each object JSON writes as its repr."""
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
        elif v is not None and not isinstance(v, _NATIVE):  # what _jsonable writes as its repr
            if is_dict and type(k) is not str:
                k = _key_text(k)
            out.append([*path, k])


_SCALAR = frozenset({str, int, float, bool, type(None)})
#: what JSON writes as it is (subclasses too), or :func:`_jsonable` as other than a repr
_NATIVE = (str, int, float, agentlab.Crash, set, frozenset)


def _key_text(key: Any) -> str:
    """A dict key as JSON writes it (``1`` -> ``"1"``, ``True`` -> ``"true"``)."""
    text = _encode(key)
    return text[1:-1] if text.startswith('"') else text


def restore_tuples(value: Any, tuples: str | None) -> Any:
    """``value`` (data parsed from :func:`data_json` text) with the lists that were
    tuples (``tuples``: :func:`data_tuples` text) made tuples again, and the texts
    that were objects made :class:`Repr`, in place.

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
            here = parent[last]
            if isinstance(here, list):
                parent[last] = tuple(here)
            elif type(here) is str:
                parent[last] = Repr(here)
        except (LookupError, TypeError):
            continue
    return value


def reason_value(text: str | None) -> Any:
    """An exit reason as :func:`reason_text` wrote it, back as the value when it was
    a tuple (``"('shutdown', 'x')"`` -> ``('shutdown', 'x')``, read by
    ``ast.literal_eval``: nothing runs); any other text as it is.

    A ``{shutdown, Term}`` reason that does not read back (written before tuples'
    parts were made literals, with ``Crash(...)`` in it) comes back as
    ``("shutdown", "<Term as text>")``: a shutdown still, as :func:`is_abnormal`
    says, not a crash.

    >>> reason_value("('shutdown', ('failed_to_start_child', 'db', Crash(OSError: disk)))")
    ('shutdown', "('failed_to_start_child', 'db', Crash(OSError: disk))")
    """
    if text is None or not text.startswith("(") or not text.endswith(")"):
        return text
    try:
        value = ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        value = None
    if type(value) is tuple:
        return value
    if text.startswith(_SHUTDOWN) and len(text) > len(_SHUTDOWN) + 1:
        return ("shutdown", text[len(_SHUTDOWN) : -1])
    return text


_SHUTDOWN = "('shutdown', "


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
