"""The event stream: one ordered sequence of typed events for everything that happens.

Every lifecycle moment is an :class:`Event` with a sequence number, the time on
the runtime's clock, the wall-clock time, the process (pid, name) and its
supervisor path. Widgets, exports and analysis are all projections of this
stream; user code subscribes with :meth:`Runtime.subscribe`.

Lifecycle kinds are always recorded. Message-level kinds (``send``,
``receive``, ``call``, ``reply``, ``cast``, and trapped ``exit_signal``s,
which only put an :class:`Exit` message in a mailbox) can be switched off or sampled
(``Runtime(trace_messages=False)`` or ``trace_messages=0.01``).
"""

from __future__ import annotations

import builtins
import gc
from array import array
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from itertools import chain, islice
from operator import add, itemgetter
from struct import pack as _pack
from typing import Any

__all__ = ["MESSAGE_KINDS", "Event", "EventBatch", "EventKind", "EventLog", "record_data"]


class EventKind:
    """The event kinds the runtime emits (string constants, stable across versions)."""

    # processes
    SPAWN = "spawn"  # a process exists (data: kind=agent|body|supervisor|task, parent)
    INIT = "init"  # an agent's init returned (data: result=ok|ignore|stop|continue)
    EXIT = "exit"  # a process is dead (reason)
    LINK = "link"
    UNLINK = "unlink"
    # a monitor was taken (peer=watched process). One taken by registered name has the
    # name in its data (data: name); peer None when nobody held that name
    MONITOR = "monitor"
    DEMONITOR = "demonitor"
    # a monitor fired (peer=dead process, reason; data: name for a monitor taken by
    # name). A name nobody held: peer None, reason noproc, as Down.pid is None
    DOWN = "down"
    # an exit signal reached a process (peer=sender, data: trapped). One that kills is a
    # lifecycle event; a trapped one only becomes a message, so it is message-level.
    EXIT_SIGNAL = "exit_signal"
    # messages (switchable)
    SEND = "send"  # peer=receiver
    RECEIVE = "receive"  # a message was taken out of the mailbox
    CAST = "cast"
    CALL = "call"  # call started (peer=callee, data: ref)
    REPLY = "reply"  # reply delivered (peer=caller, data: ref)
    CALL_TIMEOUT = "call_timeout"
    # timers
    TIMER_START = "timer_start"
    TIMER_FIRE = "timer_fire"
    TIMER_CANCEL = "timer_cancel"
    # names, registry, pub/sub
    REGISTER = "register"
    UNREGISTER = "unregister"
    SUBSCRIBE = "subscribe"
    UNSUBSCRIBE = "unsubscribe"
    BROADCAST = "broadcast"
    # supervision (the supervisor's reports: pid = the supervisor)
    # its first report: its init accepted its flags, and no child has started yet (data:
    # strategy, intensity, period; for a dynamic one, simple_one_for_one or a
    # DynamicSupervisor, also max_children, None for no limit). Only supervisors emit it,
    # once per start: what a supervisor is, before and whether or not it ever restarts
    SUPERVISOR_FLAGS = "supervisor_flags"
    # it started a child (peer=the child; data: child_id, restart, type, attempt)
    CHILD_START = "child_start"
    CHILD_TERMINATED = "child_terminated"  # OTP report: a child exited abnormally/was restarted
    # it restarts child(ren) (peer=the child that exited; data: child_id, strategy,
    # affected, restarts_in_window, intensity, period, retry, and delay with backoff=)
    RESTART = "restart"
    START_ERROR = "start_error"
    SHUTDOWN_ERROR = "shutdown_error"
    # intensity exceeded (data: child_id, restarts, intensity, period)
    SUPERVISOR_GAVE_UP = "supervisor_gave_up"
    AUTO_SHUTDOWN = "auto_shutdown"
    # health
    LOOP_LAG = "loop_lag"
    # LLM layer (emitted by agentlab.llm through Runtime.emit)
    LLM_REQUEST = "llm_request"
    LLM_FIRST_TOKEN = "llm_first_token"
    LLM_TOKEN = "llm_token"
    LLM_TOOL_CALL = "llm_tool_call"
    LLM_RETRY = "llm_retry"
    LLM_ERROR = "llm_error"
    LLM_RESPONSE = "llm_response"
    TOOL_START = "tool_start"
    TOOL_RESULT = "tool_result"
    BUDGET_EXCEEDED = "budget_exceeded"
    USER = "user"


MESSAGE_KINDS = frozenset(
    {EventKind.SEND, EventKind.RECEIVE, EventKind.CAST, EventKind.CALL, EventKind.REPLY}
)


_FIELDS = ("seq", "time", "wall", "kind", "pid", "name", "path", "peer", "reason", "data")


class Event(tuple):
    """One thing that happened (an immutable tuple with named fields).

    Fields: ``seq`` (1, 2, ...), ``time`` (runtime clock, s), ``wall``
    (``time.time()``), ``kind`` (:class:`EventKind`), ``pid`` (int, 0 for the
    runtime itself), ``name``, ``path`` (supervisor path such as
    ``"root/team/worker"``, or ``None``), ``peer`` (the other process's pid, if
    any), ``reason`` (exit reason, as the runtime has it), ``data`` (dict or None).

    The runtime builds these with ``tuple.__new__`` on its hot path; a tuple is
    the cheapest record CPython makes.
    """

    __slots__ = ()

    seq = property(itemgetter(0))
    time = property(itemgetter(1))
    wall = property(itemgetter(2))
    kind = property(itemgetter(3))
    pid = property(itemgetter(4))
    name = property(itemgetter(5))
    path = property(itemgetter(6))
    peer = property(itemgetter(7))
    reason = property(itemgetter(8))
    data = property(itemgetter(9))

    @classmethod
    def make(
        cls,
        seq: int,
        time: float,
        wall: float,
        kind: str,
        pid: int = 0,
        name: str | None = None,
        path: str | None = None,
        peer: int | None = None,
        reason: Any = None,
        data: dict[str, Any] | None = None,
    ) -> Event:
        return tuple.__new__(cls, (seq, time, wall, kind, pid, name, path, peer, reason, data))

    @classmethod
    def of(cls, t: tuple[Any, ...]) -> Event:
        """The event a raw tuple stands for (see ``Runtime.subscribe(batched=True)``)."""
        return _as_event(t)

    @staticmethod
    def data_of(t: tuple[Any, ...]) -> dict[str, Any] | None:
        """A raw tuple's data as a dict (a fresh one), or None.

        The runtime stores data compactly: data that lifecycle events repeat as a
        small int code in the tenth field; a dict as a tuple of its field names in
        the tenth field with the values after it (so raw tuples differ in length).
        An :class:`Event`'s data is returned as it is.
        """
        return _stored_data(t, 9)

    def as_dict(self) -> dict[str, Any]:
        return dict(zip(_FIELDS, self, strict=True))

    def __repr__(self) -> str:
        seq, time, _wall, kind, pid, name, _path, peer, reason, data = self
        who = f"{name}<0.{pid}.0>" if name else f"<0.{pid}.0>"
        extra = []
        if peer is not None:
            extra.append(f"peer=<0.{peer}.0>")
        if reason is not None:
            extra.append(f"reason={reason!r}")
        if data:
            extra.append(", ".join(f"{k}={v!r}" for k, v in data.items()))
        return f"#{seq} {time:.6f} {kind} {who} " + " ".join(extra)


# How the runtime stores event data. A tuple holding a dict stays tracked by the
# cyclic garbage collector for as long as it lives, and a log of 100,000 tracked
# records makes every full collection walk them all (loop-lag spikes). So the
# log's records hold a data dict's values in the record itself, after one shared
# tuple of its field names, and the few small data dicts that lifecycle events
# repeat ({"result": "ok"}, {"kind": "agent"}) as a small int code: records of
# atomic values, which the collector stops tracking at the first collection that
# sees them. (A young tuple nested in a record would not do: the collector looks
# at the record before the tuple inside it, so the record would stay tracked for
# one more collection and often be promoted to the oldest generation.) Every way
# of reading an event gives a dict back (a fresh one).
_SHARED: list[dict[str, Any]] = []
_CODES: dict[tuple[tuple[str, Any], ...], int] = {}


def shared_data(**data: Any) -> int:
    """The code of ``data`` (hashable values only) in the runtime's raw event tuples."""
    key = tuple(data.items())
    code = _CODES.get(key)
    if code is None:
        code = _CODES[key] = len(_SHARED)
        _SHARED.append(data)
    return code


def _field_names(keys: tuple[str, ...]) -> tuple[str, ...]:
    """One long-lived tuple per set of field names (see ``Runtime._emit``)."""
    got = _NAMES.get(keys)
    if got is None:
        if len(_NAMES) >= 4096:  # names are fixed per call site; this bounds odd callers
            _NAMES.clear()
        got = _NAMES[keys] = keys
        # A young collection now untracks it (it holds only strings). A record holding
        # a still-tracked tuple stays tracked through the collection that first sees
        # it whenever the collector happens to reach the record first, which depends
        # on the object graph's shape; once per set of names, a few microseconds.
        _collect(0)
    return got


_NAMES: dict[tuple[str, ...], tuple[str, ...]] = {}


def _as_event(t: tuple[Any, ...]) -> Event:
    if type(t) is Event:
        return t
    d = t[9]
    if d.__class__ is int or d.__class__ is tuple:  # data in the runtime's stored forms
        return tuple.__new__(Event, (*t[:9], Event.data_of(t)))
    return tuple.__new__(Event, t)


# How the log stores events: in chunks of consecutive events, each a plain tuple
#
#     (seq0, seqs, times, walls, offset, *records)
#
# with one record per event after the five header fields: the event's fields from
# ``kind`` on, ``(kind, pid, name, path, peer, reason, data, *values)`` (data in the
# stored forms above). The numbers are columns, as ``bytes`` of C doubles and
# int64s: ``times``; ``walls``, or None when every wall time is ``time + offset``
# (a runtime on the real clock); ``seqs``, or None when the events are numbered
# ``seq0, seq0 + 1, ...`` (a runtime's own log). A chunk of events that came as
# whole tuples (appended one by one, or recorded from a list) keeps them whole:
# ``times`` is None and the records are the events themselves.
#
# Why columns: a record that held its own sequence number and times held three new
# number objects per event, and keeping 100,000 of them alive, freed and replaced
# as the log turns over, made every garbage collection of the live processes
# slower (measured: 1M spawns with lifecycle events spent 2.6-3.3 s in full
# collections against 1.7-2.1 s with no events, with the same objects tracked and
# as many collections; with the numbers in columns, 1.8-1.9 s). A chunk and its
# records hold only atomic values and shared objects, so the collector stops
# tracking them (``bytes`` are never tracked) and a full collection does not visit
# them. (The records are in the chunk itself, not in a tuple of their own: each
# level of nesting can keep the level above tracked for one more collection.)
_SEQ0, _SEQS, _TIMES, _WALLS, _OFFSET = range(5)
_H = 5  # header fields before a chunk's records

_SEQ, _TIME, _WALL = itemgetter(0), itemgetter(1), itemgetter(2)
_rest = itemgetter(slice(3, None))  # a whole event's record part


def _chunk_seqs(c: tuple[Any, ...]) -> Sequence[int]:
    if c[_TIMES] is None:
        return builtins.list(map(_SEQ, c[_H:]))
    s = c[_SEQS]
    if s is None:
        return range(c[_SEQ0], c[_SEQ0] + (len(c) - _H))
    return memoryview(s).cast("q")


def _chunk_times(c: tuple[Any, ...]) -> Sequence[float]:
    if c[_TIMES] is None:
        return builtins.list(map(_TIME, c[_H:]))
    return memoryview(c[_TIMES]).cast("d")


def _chunk_walls(c: tuple[Any, ...]) -> Sequence[float]:
    if c[_TIMES] is None:
        return builtins.list(map(_WALL, c[_H:]))
    w = c[_WALLS]
    if w is None:  # the real clock: time + the runtime's offset, the sum _emit made
        return array("d", map(c[_OFFSET].__add__, memoryview(c[_TIMES]).cast("d")))
    return memoryview(w).cast("d")


def _chunk_records(c: tuple[Any, ...]) -> tuple[tuple[Any, ...], ...]:
    """The records (fields from ``kind`` on), made from whole events if need be."""
    if c[_TIMES] is None:
        return tuple(map(_rest, c[_H:]))
    return c[_H:]


def _chunk_full(c: tuple[Any, ...]) -> Iterator[tuple[Any, ...]]:
    """A chunk's events as whole tuples (an Event's fields, data stored), in order."""
    if c[_TIMES] is None:
        return iter(c[_H:])
    heads = zip(_chunk_seqs(c), _chunk_times(c), _chunk_walls(c), strict=True)
    return map(add, heads, c[_H:])


def _chunk_full_reversed(c: tuple[Any, ...]) -> Iterator[tuple[Any, ...]]:
    if c[_TIMES] is None:
        return reversed(c[_H:])
    heads = zip(
        reversed(_chunk_seqs(c)), reversed(_chunk_times(c)), reversed(_chunk_walls(c)),
        strict=True,
    )
    return map(add, heads, reversed(c[_H:]))


def _chunk_at(c: tuple[Any, ...], i: int) -> tuple[Any, ...]:
    if c[_TIMES] is None:
        return c[_H + i]
    head = (_chunk_seqs(c)[i], _chunk_times(c)[i], _chunk_walls(c)[i])
    return head + c[_H + i]


def _chunk_slice(c: tuple[Any, ...], i: int, j: int) -> tuple[Any, ...]:
    """Events ``i`` to ``j`` of a chunk, as a chunk."""
    seqs, times, walls = c[_SEQS], c[_TIMES], c[_WALLS]
    return (
        c[_SEQ0] + i,
        None if seqs is None else seqs[8 * i : 8 * j],
        None if times is None else times[8 * i : 8 * j],
        None if walls is None else walls[8 * i : 8 * j],
        c[_OFFSET],
        *c[_H + i : _H + j],
    )


def _chunk_join(cs: Sequence[tuple[Any, ...]]) -> tuple[Any, ...]:
    """One chunk of several, in order (whole events stay whole if all are)."""
    if len(cs) == 1:
        return cs[0]
    if all(c[_TIMES] is None for c in cs):
        return (cs[0][_SEQ0], None, None, None, 0.0, *chain.from_iterable(c[_H:] for c in cs))
    first = cs[0]
    consecutive = True
    nxt = first[_SEQ0]
    for c in cs:
        if c[_SEQS] is not None or c[_TIMES] is None or c[_SEQ0] != nxt:
            consecutive = False
            break
        nxt += len(c) - _H
    offset = first[_OFFSET]
    same_offset = all(
        c[_TIMES] is not None and c[_WALLS] is None and c[_OFFSET] == offset for c in cs
    )
    return (
        first[_SEQ0],
        None if consecutive else b"".join(array("q", _chunk_seqs(c)).tobytes() for c in cs),
        b"".join(array("d", _chunk_times(c)).tobytes() for c in cs),
        None if same_offset else b"".join(array("d", _chunk_walls(c)).tobytes() for c in cs),
        offset,
        *chain.from_iterable(_chunk_records(c) for c in cs),
    )


def _chunk_of(events: Sequence[tuple[Any, ...]]) -> tuple[Any, ...]:
    """A chunk holding ``events`` (Events, or whole raw tuples) as they are."""
    return (events[0][0] if events else 1, None, None, None, 0.0, *events)


def record_data(rec: tuple[Any, ...]) -> dict[str, Any] | None:
    """A stored record's data as a dict (a fresh one for the stored forms), or None."""
    return _stored_data(rec, 6)


def _stored_data(t: tuple[Any, ...], at: int) -> dict[str, Any] | None:
    """The data stored at ``t[at]`` (a shared-data code, field names with the values
    after them, a dict or None) as a dict."""
    d = t[at]
    if d.__class__ is int:
        return dict(_SHARED[d])
    if d.__class__ is tuple:
        return dict(zip(d, t[at + 1 :], strict=True))
    return d


class EventBatch:
    """Consecutive events, as the runtime stores them: what a batched subscriber gets
    (``Runtime.subscribe(fn, batched=True)``).

    Iterate it for :class:`Event` objects. The columns, without an object per event:
    :meth:`seqs`, :meth:`times` and :meth:`walls` (sequences of numbers), and
    :meth:`records`, one tuple per event holding its fields from ``kind`` on:
    ``(kind, pid, name, path, peer, reason, data, *values)``, where the data is in a
    stored form (:func:`record_data` gives the dict). A batch never changes, so a
    subscriber may keep it as it is.
    """

    __slots__ = ("chunk",)

    def __init__(self, chunk: tuple[Any, ...]) -> None:
        self.chunk = chunk  # the runtime's stored form (see _chunk_full)

    def records(self) -> tuple[tuple[Any, ...], ...]:
        return _chunk_records(self.chunk)

    def seqs(self) -> Sequence[int]:
        return _chunk_seqs(self.chunk)

    def times(self) -> Sequence[float]:
        return _chunk_times(self.chunk)

    def walls(self) -> Sequence[float]:
        return _chunk_walls(self.chunk)

    def raw(self) -> Iterator[tuple[Any, ...]]:
        """The events as full raw tuples (an :class:`Event`'s fields, data stored)."""
        return _chunk_full(self.chunk)

    def __len__(self) -> int:
        return len(self.chunk) - _H

    def __iter__(self) -> Iterator[Event]:
        return map(_as_event, _chunk_full(self.chunk))

    def __repr__(self) -> str:
        return f"<agentlab.EventBatch of {len(self)} events from #{self.chunk[_SEQ0]}>"


class EventLog:
    """A bounded in-memory record of the stream (the newest ``capacity`` events).

    ``dropped`` counts events that fell off the front. Iterate it, index it, or
    call :meth:`kinds` for a quick look; ``agentlab.trace`` turns it into tables.

    The events are kept in chunks of a few hundred consecutive events each, with
    their numbers in columns (see the comment above ``_chunk_full``): the garbage
    collector stops tracking a chunk whose records it no longer tracks, so a full
    collection visits no record. (A log of 100,000 records held one by one added
    about 40 ms to every full collection, one cache miss per record: a loop-lag
    spike in a busy notebook.) Every way of reading the log gives
    :class:`Event` objects.
    """

    def __init__(self, capacity: int = 100_000) -> None:
        if capacity < 0:
            raise ValueError(f"capacity must be 0 or more events, not {capacity!r}")
        self.capacity = capacity
        self._chunks: deque[tuple[Any, ...]] = deque()
        self._skip = 0  # records at the front of _chunks[0] that fell off
        self._held = 0  # records in _chunks, less _skip
        self._appended = 0
        self._counter: Callable[[], int] | None = None
        self._base = 0
        # the newest events, not yet moved into _chunks: Events appended one by one, or
        # a writer's records and times (see _direct_append)
        self._tail: list[tuple[Any, ...]] = []
        # (times in plain lists: a list append is a fifth of an array("d") append, which
        # parses its argument; they become C doubles when the tail moves in, _pack_doubles)
        self._ttimes: list[float] = []
        self._twalls: list[float] = []
        self._offset = 0.0
        self._flush: Callable[[], None] = self._move_tail

    def append(self, ev: Event) -> None:
        self._appended += 1
        if self._counter is None:  # nobody else writes the tail: it is moved when read
            self._tail.append(ev)
            if len(self._tail) >= _CHUNK:
                self._move_tail()
        else:  # a runtime's log: its tail goes to its batched subscribers, this does not
            self._flush()
            self._store(_chunk_of((ev,)))

    def _direct_append(
        self, counter: Callable[[], int], flush: Callable[[], None], offset: float | None
    ) -> tuple[
        Callable[[tuple[Any, ...]], None], Callable[[float], None], Callable[[float], None]
    ]:
        """The appends of the log's tail, for one writer that numbers its events
        (``counter()`` is the newest one's number) and moves the tail in with
        ``flush()`` (which ends by calling :meth:`_cut_tail` and :meth:`_store`).
        For each event it appends a record (its fields from ``kind`` on) and its
        time, and its wall time unless ``offset`` is given (every wall time is then
        ``time + offset``). Reading the log flushes first."""
        self._counter = counter
        self._base = counter()
        self._flush = flush
        if offset is not None:
            self._offset = offset
        return self._tail.append, self._ttimes.append, self._twalls.append

    def _cut_tail(self) -> tuple[Any, ...] | None:
        """The tail as a chunk (emptying it), or None when it is empty."""
        tail = self._tail
        if not tail:
            return None
        if self._counter is None:
            chunk = _chunk_of(tail)
        else:
            walls = self._twalls
            chunk = (
                self._counter() - len(tail) + 1,
                None,
                _pack_doubles(self._ttimes),
                _pack_doubles(walls) if walls else None,
                self._offset,
                *tail,
            )
            self._ttimes.clear()
            walls.clear()
        tail.clear()
        return chunk

    def _move_tail(self) -> None:
        chunk = self._cut_tail()
        if chunk is not None:
            self._store(chunk)

    def _store(self, chunk: tuple[Any, ...]) -> None:
        chunks = self._chunks
        n = len(chunk) - _H
        if chunks and n < _SMALL and len(chunks[-1]) - _H < _SMALL and not (
            len(chunks) == 1 and self._skip
        ):  # a log read after every few events: keep its chunks from staying tiny
            chunks[-1] = _chunk_join((chunks[-1], chunk))
        else:
            chunks.append(chunk)
        self._held += n
        over = self._held - self.capacity
        while over > 0:  # the oldest records fall off, whole chunks where they can
            avail = len(self._chunks[0]) - _H - self._skip
            if over >= avail:
                self._chunks.popleft()
                self._skip = 0
                self._held -= avail
                over -= avail
            else:
                self._skip += over
                self._held -= over
                over = 0

    def _raw(self) -> Iterator[tuple[Any, ...]]:
        """The events as full raw tuples (an :class:`Event`'s fields, with data in a
        stored form: see ``Event.of``), oldest first."""
        if self._tail:
            self._flush()
        it: Iterator[tuple[Any, ...]] = chain.from_iterable(map(_chunk_full, self._chunks))
        return islice(it, self._skip, None) if self._skip else it

    def _records(self) -> Iterator[tuple[Any, ...]]:
        """The stored records themselves (fields from ``kind`` on), oldest first."""
        if self._tail:
            self._flush()
        it: Iterator[tuple[Any, ...]] = chain.from_iterable(map(_chunk_records, self._chunks))
        return islice(it, self._skip, None) if self._skip else it

    @property
    def dropped(self) -> int:
        """How many events fell off the front (the log keeps the newest ``capacity``)."""
        held = len(self)
        n = self._appended
        if self._counter is not None:
            n += self._counter() - self._base
        return max(0, n - held)

    def __len__(self) -> int:
        if self._tail:
            self._flush()
        return self._held

    def __iter__(self) -> Iterator[Event]:
        return map(_as_event, self._raw())

    def __reversed__(self) -> Iterator[Event]:
        """Newest first, lazily (a view that wants recent history reads only that)."""
        return map(_as_event, self._raw_newest())

    def _raw_newest(self) -> Iterator[tuple[Any, ...]]:
        """The events as full raw tuples, newest first, lazily. Fields 0-8 are an
        :class:`Event`'s; a record's data may be stored as a shared code or as
        field names and values (see ``Event.of``)."""
        n = len(self)
        return islice(
            chain.from_iterable(map(_chunk_full_reversed, reversed(self._chunks))), n
        )

    def __getitem__(self, i: int) -> Event:
        n = len(self)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"event log index out of range (it holds {n} events)")
        if i >= n // 2:  # count from the newest end
            j = n - 1 - i
            for c in reversed(self._chunks):
                k = len(c) - _H
                if j < k:
                    return _as_event(_chunk_at(c, k - 1 - j))
                j -= k
        else:
            i += self._skip
            for c in self._chunks:
                k = len(c) - _H
                if i < k:
                    return _as_event(_chunk_at(c, i))
                i -= k
        raise AssertionError("unreachable: the chunks hold fewer records than counted")

    def list(self) -> builtins.list[Event]:
        return builtins.list(map(_as_event, self._raw()))

    def filter(
        self, kind: str | None = None, pid: Any = None, name: str | None = None
    ) -> builtins.list[Event]:
        """The events of ``kind``, of the process ``pid`` (a pid, or its number as in
        :attr:`Event.pid`) and of ``name``, whichever are given."""
        if pid is not None and type(pid) is not int:
            number = getattr(pid, "id", None)
            if type(number) is not int:
                raise TypeError(
                    f"filter(pid=...) takes a pid or its number (pid.id), not {pid!r}; "
                    "to filter by registered name, use name=..."
                )
            pid = number
        return [
            e
            for e in map(_as_event, self._raw())
            if (kind is None or e.kind == kind)
            and (pid is None or e.pid == pid)
            and (name is None or e.name == name)
        ]

    def kinds(self) -> builtins.list[str]:
        return [e[3] for e in self._raw()]

    def clear(self) -> None:
        self._flush()
        self._chunks.clear()
        self._skip = 0
        self._held = 0
        self._appended = 0
        if self._counter is not None:
            self._base = self._counter()


def _pack_doubles(xs: list[float]) -> bytes:
    """``xs`` as C doubles (``array("d", xs).tobytes()``, in a third of the time)."""
    return _pack(f"{len(xs)}d", *xs)


_CHUNK = 512  # records per chunk when events are appended one by one
_SMALL = 64  # chunks shorter than this are joined (see EventLog._store)


# Young collections the event log would otherwise hide from the garbage collector.
#
# CPython starts a young collection when allocations of tracked objects outnumber
# deallocations by 700. Each event record is a tracked tuple until the first
# collection that sees it; but a full log frees its oldest records as new ones
# arrive (a chunk of 512 at a time), and a restart storm frees old processes as it
# makes new ones, so that difference stays small and the young generation grows
# unexamined: tens of thousands of records and new processes, then one young
# collection as long as a full one (up to 48 ms, measured in a kernel with four
# live views on a 10,000-process tree in a storm of 1,000 restarts/s). So the
# runtime calls pace_young_collections(n) each time it moves n new events into its
# log (Runtime._flush, every 512 events): when no young collection has run for
# _YOUNG_EVERY events, it runs the one CPython's own trigger would have run (the
# older of the two young generations if that one's count is past its threshold).
# Full collections stay CPython's decision, and nothing runs while the collector is
# disabled (gc.disable(), or threshold 0).
_YOUNG_EVERY = 2048
_young = [-1, 0]  # young collections seen at the last check; events since they changed


def pace_young_collections(events: int) -> None:
    """``events`` new events were logged: run a young collection if one is overdue."""
    seen = gc.get_stats()[0]["collections"]
    if seen != _young[0]:
        _young[0] = seen
        _young[1] = 0
        return
    _young[1] += events
    if _young[1] < _YOUNG_EVERY or not gc.isenabled():
        return
    threshold = gc.get_threshold()
    if threshold[0]:
        _collect(1 if gc.get_count()[1] > threshold[1] else 0)
    _young[0] = gc.get_stats()[0]["collections"]
    _young[1] = 0


_collect = gc.collect


Subscriber = Callable[[Event], Any]
