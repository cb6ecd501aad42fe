"""The recorder: the runtime's event stream into bounded columnar storage.

Recording costs the runtime no work per event: every 512 events, and whenever
anything is read, the runtime hands over its newest events as one
:class:`agentlab.EventBatch` (its own storage, which never changes), and the
recorder keeps them as they are, cut or joined into chunks of ``chunk_size``.
They become Arrow columns in bulk (vectorised; reasons and data become text)
when something reads the recorder, and only then: a run does not pay for the
conversion while it runs, and events dropped at capacity are never converted.
When more than ``capacity`` events are held, the oldest chunks either spill to
Parquet files on disk (``overflow="spill"``, converted at the next loop turn)
or are dropped and counted (``overflow="drop"``, the default): never silently.

Until it is read, a recorder keeps the runtime's own records, which hold the
events' reason and data objects (as the runtime's event log does): about 110
bytes an event plus those objects (the numbers are in columns), against about
70 once converted. Text is made from them when they are converted, so an object
changed in place after its event is recorded as it is then. ``convert_after``
bounds what waits: once more events than that wait unconverted, the oldest whole
chunks are converted at the next loop turn (the run then pays for it).

::

    rt = agentlab.Runtime(clock=agentlab.VirtualClock(), seed=7)
    rec = Recorder(rt, metadata={"experiment": "flaky-worker"})
    ...                                   # run things
    rec.processes()                       # a Recorder is a Run that keeps growing
    run = rec.stop()                      # unsubscribe, keep a frozen Run
    run.save("flaky.parquet")

    # or after the fact, from the runtime's in-memory log:
    run = Recorder.from_events(rt.events).run()
"""

from __future__ import annotations

import datetime as _dt
import logging
import tempfile
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

import agentlab
from agentlab._events import _H, _chunk_join, _chunk_of, _chunk_seqs, _chunk_slice

from ._files import header
from ._run import Run, RunInfo
from ._schema import FORMAT_VERSION, METADATA_KEY, SCHEMA, chunk_batch

__all__ = ["Recorder"]

log = logging.getLogger("agentlab.trace")

_OVERFLOW = ("drop", "spill")


class Recorder(Run):
    """Record a runtime's events (subscribes at once when given a runtime).

    ``capacity`` bounds the events held in memory (``None``: no bound). They are
    held in whole chunks of ``chunk_size`` events (at most ``capacity``), plus the
    chunk still filling: a full recorder holds between ``capacity - chunk_size``
    and ``capacity + chunk_size`` events. ``overflow`` says what happens to the
    oldest chunk beyond that: ``"drop"`` it (counted in :attr:`dropped`) or
    ``"spill"`` it to a Parquet file in ``spill_dir`` (a temporary folder by
    default; if writing fails, the chunk is dropped and counted, the error is
    logged once and kept in :attr:`spill_error`).
    Events are converted to Arrow columns when read (see the module docstring);
    ``convert_after`` (a number of events, or ``None``) converts the oldest
    chunks while recording once more than that many wait.
    ``backfill=True`` first copies what the runtime's own log still holds.
    ``metadata`` is free-form JSON-able data stored with the run.
    """

    def __init__(
        self,
        runtime: agentlab.Runtime | None = None,
        *,
        capacity: int | None = 1_000_000,
        overflow: str = "drop",
        spill_dir: str | Path | None = None,
        chunk_size: int = 16_384,
        convert_after: int | None = None,
        run_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        seed: int | None = None,
        clock: str | None = None,
        backfill: bool = False,
    ) -> None:
        if overflow not in _OVERFLOW:
            raise ValueError(f"overflow must be 'drop' or 'spill', not {overflow!r}")
        if capacity is not None and capacity < 1:
            raise ValueError("capacity must be a positive number of events, or None")
        if chunk_size < 1:
            raise ValueError("chunk_size must be positive")
        if convert_after is not None and convert_after < 0:
            raise ValueError("convert_after must be a number of events (0 or more), or None")
        self.capacity = capacity
        self.overflow = overflow
        self.convert_after = convert_after
        self.chunk_size = chunk_size = (
            min(chunk_size, capacity) if capacity is not None else chunk_size
        )
        self._spill_dir = Path(spill_dir) if spill_dir is not None else None
        self._spilled: list[Path] = []
        #: the last error that stopped a spill (its events were dropped and counted)
        self.spill_error: OSError | None = None
        # whole chunks, oldest first: the runtime's stored form until converted
        # (plain tuples: the garbage collector stops tracking them), then a batch
        self._parts: deque[tuple[Any, ...] | pa.RecordBatch] = deque()
        self._held = 0  # events in self._parts
        self._unconverted = 0  # events in self._parts not converted yet
        # the chunk filling up: the runtime's chunks, and events recorded one by one
        self._pending: list[tuple[Any, ...]] = []
        self._npending = 0  # events in self._pending
        self._loose: list[agentlab.Event] = []
        self._tidy_pending = False
        self._total = 0  # events moved into self._parts (self._pending and self._loose hold the rest)
        self._dropped = 0
        #: the events dropped here, as runs of seq: [first, last, count] each, adjacent
        #: ones joined (a full recorder's drops are one run, before what it holds)
        self._lost: list[list[int]] = []
        self._extra_dropped = 0  # reported by a source (an EventLog's own count)
        self._unsubscribe: Callable[[], None] | None = None
        self._runtime = runtime
        self._loop: Any = None
        self._snapshot: tuple[object, pa.Table] | None = None
        trace_messages: float | None = None
        began: float | None = None
        if runtime is not None:
            seed = runtime.seed if seed is None else seed
            clock = runtime.clock.kind if clock is None else clock
            trace_messages = float(runtime.trace_messages)
            began = float(runtime.now())
        self._info: dict[str, Any] = {
            "run_id": run_id or uuid.uuid4().hex[:12],
            "started": _dt.datetime.now(_dt.UTC).isoformat(),
            "seed": seed,
            "clock": clock or "unknown",
            "trace_messages": trace_messages,
            "metadata": dict(metadata or {}),
            "began": began,
        }
        super().__init__(SCHEMA.empty_table(), RunInfo(**self._info))
        if runtime is not None:
            if backfill:
                for ev in runtime.events:
                    self.record(ev)
                self._extra_dropped += runtime.events.dropped
            self._loop = runtime.loop
            self._unsubscribe = runtime.subscribe(self._sink, batched=True)

    # ------------------------------------------------------------------ recording

    def record(self, event: agentlab.Event) -> None:
        """Add one event (a runtime being recorded feeds its events without this)."""
        loose = self._loose
        loose.append(event)
        if len(loose) + self._npending >= self.chunk_size:
            self._cut()
            self._tidy()

    def _seal(self) -> None:
        """Events recorded one by one join the pending chunks (in order)."""
        loose = self._loose
        if loose:
            self._pending.append(_chunk_of(loose))
            self._npending += len(loose)
            loose.clear()

    def _sink(self, batch: agentlab.EventBatch) -> None:
        """The runtime hands over its newest events (a batched subscriber)."""
        self._seal()  # events recorded one by one before it come first
        chunk = batch.chunk  # never changes: kept as it is
        self._pending.append(chunk)
        self._npending += len(chunk) - _H
        if self._npending >= self.chunk_size:
            self._cut()
            if self.overflow == "drop":
                self._drop()  # cheap: no conversion, no I/O
            if self._work_waits() and not self._tidy_pending:
                self._tidy_pending = True  # spill or convert after the current burst of work
                self._loop.call_soon(self._tidy_soon)

    def _cut(self) -> None:
        """Move the whole chunks of the filling one into :attr:`_parts`, unconverted."""
        self._seal()
        total = self._npending
        size = self.chunk_size
        n = total - total % size
        if n == 0:
            return
        joined = _chunk_join(self._pending)
        parts = self._parts
        for i in range(0, n, size):
            parts.append(_chunk_slice(joined, i, i + size))
        self._pending = [_chunk_slice(joined, n, total)] if n < total else []
        self._npending = total - n
        self._held += n
        self._unconverted += n
        self._total += n

    def _work_waits(self) -> bool:
        cap, after = self.capacity, self.convert_after
        return (cap is not None and self._held > cap and len(self._parts) > 1) or (
            after is not None and self._unconverted > after
        )

    def _tidy_soon(self) -> None:
        self._tidy_pending = False
        self._tidy()

    def _tidy(self) -> None:
        """Drop or spill the oldest chunks beyond capacity, then convert the oldest
        beyond ``convert_after``."""
        if self.overflow == "drop":
            self._drop()
        else:
            cap = self.capacity
            while cap is not None and self._held > cap and len(self._parts) > 1:
                part = self._pop()
                try:
                    self._spill(self._batch(part))
                except OSError as e:  # dropped and counted instead, never silently
                    self._lose(part)
                    self._spill_failed(e)
        after = self.convert_after
        if after is not None and self._unconverted > after:
            self._convert(self._unconverted - after)

    def _drop(self) -> None:
        cap = self.capacity
        while cap is not None and self._held > cap and len(self._parts) > 1:
            self._lose(self._pop())

    def _lose(self, part: tuple[Any, ...] | pa.RecordBatch) -> None:
        """Count ``part``'s events as dropped, and remember which they were."""
        n = _count(part)
        if n == 0:
            return
        self._dropped += n
        first, last = _seq_span(part)
        lost = self._lost
        if lost and lost[-1][1] + 1 == first:
            lost[-1][1] = last
            lost[-1][2] += n
        else:
            lost.append([first, last, n])

    def _pop(self) -> tuple[Any, ...] | pa.RecordBatch:
        part = self._parts.popleft()
        n = _count(part)
        self._held -= n
        if type(part) is tuple:
            self._unconverted -= n
        return part

    @staticmethod
    def _batch(part: tuple[Any, ...] | pa.RecordBatch) -> pa.RecordBatch:
        return chunk_batch(part) if type(part) is tuple else part

    def _convert(self, at_least: int | None = None) -> None:
        """Convert the oldest unconverted chunks (``at_least`` that many events; all
        of them by default)."""
        parts = self._parts
        done = 0
        for i, part in enumerate(parts):
            if at_least is not None and done >= at_least:
                break
            if type(part) is tuple:
                parts[i] = chunk_batch(part)
                done += _count(part)
        self._unconverted -= done

    def _spill(self, batch: pa.RecordBatch) -> None:
        if self._spill_dir is None:
            self._spill_dir = Path(tempfile.mkdtemp(prefix="agentlab-trace-"))
        self._spill_dir.mkdir(parents=True, exist_ok=True)
        path = self._spill_dir / f"{self._info['run_id']}-{len(self._spilled):06d}.parquet"
        table = pa.Table.from_batches([batch]).replace_schema_metadata(
            {METADATA_KEY: header(self._base_info())}
        )
        pq.write_table(table, path)
        self._spilled.append(path)

    def _spill_failed(self, error: OSError) -> None:
        """Say once per recorder that spilling failed (the events are counted as dropped)."""
        if self.spill_error is None:
            log.error(
                "agentlab.trace: recorder %s could not spill events to %s (%s); it drops "
                "its oldest events instead and counts them in .dropped. Give it a "
                "writable spill_dir, or a larger capacity.",
                self._info["run_id"], self._spill_dir, error,
            )
        self.spill_error = error

    @property
    def recording(self) -> bool:
        """Whether it is still subscribed to a runtime."""
        return self._unsubscribe is not None

    @property
    def dropped(self) -> int:
        """Events lost so far: dropped at capacity, plus any the source reported."""
        return self._dropped + self._extra_dropped

    @property
    def spilled(self) -> list[Path]:
        """The Parquet files holding spilled chunks, oldest first."""
        return list(self._spilled)

    def stop(self) -> Run:
        """Unsubscribe from the runtime and return the recorded :class:`Run`."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
            if self._runtime is not None:
                self._info["ended"] = float(self._runtime.now())
        return self.run()

    def run(self) -> Run:
        """A frozen copy of what has been recorded so far."""
        return Run(self.table(), self.info)

    # ------------------------------------------------------------------ Run interface

    def _version(self) -> object:
        if self._runtime is not None and self._unsubscribe is not None:
            self._runtime.flush_events()  # the runtime's newest events, not yet handed over
        return (self._recorded(), self._dropped)

    def _recorded(self) -> int:
        """Every event recorded so far, dropped or not."""
        return self._total + self._npending + len(self._loose)

    def _base_info(self) -> RunInfo:
        return RunInfo(**self._info, dropped=self.dropped)

    @property
    def info(self) -> RunInfo:
        """What the run is; ``dropped`` counts the events dropped here and those its
        source reported, and the gaps in ``seq`` among the events held that neither
        explains (each event once: a chunk a failed spill dropped between two held
        ones is a gap too)."""
        table = self.table()
        gaps = 0
        if table.num_rows > 1:
            lo, hi = (int(v.as_py()) for v in pc.min_max(table.column("seq")).values())
            gaps = max(0, hi - lo + 1 - table.num_rows)
            gaps -= sum(n for first, last, n in self._lost if lo < first and last < hi)
        return RunInfo(
            **self._info,
            dropped=self.dropped + max(gaps, 0),
            version=FORMAT_VERSION,
        )

    def table(self) -> pa.Table:
        version = self._version()
        if self._snapshot is not None and self._snapshot[0] == version:
            return self._snapshot[1]
        self._cut()
        self._tidy()
        self._convert()
        version = self._version()
        parts = [pq.read_table(p).to_batches() for p in self._spilled]
        batches = [b for part in parts for b in part] + list(map(self._batch, self._parts))
        self._seal()
        if self._pending:  # a partial chunk: converted for this read, kept waiting
            batches.append(chunk_batch(_chunk_join(self._pending)))
        table = pa.Table.from_batches(batches, schema=SCHEMA)
        self._snapshot = (version, table)
        return table

    # ------------------------------------------------------------------ other sources

    @classmethod
    def from_events(
        cls,
        events: Iterable[agentlab.Event],
        *,
        run_id: str | None = None,
        seed: int | None = None,
        clock: str | None = None,
        metadata: dict[str, Any] | None = None,
        capacity: int | None = None,
        chunk_size: int = 65_536,
    ) -> Recorder:
        """Record events that already happened (a list, or ``runtime.events``).

        An :class:`agentlab.EventLog`'s own ``dropped`` count is carried over.

        >>> rec = Recorder.from_events(rt.events, seed=rt.seed, clock="virtual")  # doctest: +SKIP
        """
        rec = cls(
            capacity=capacity,
            chunk_size=chunk_size,
            run_id=run_id,
            metadata=metadata,
            seed=seed,
            clock=clock,
        )
        record = rec.record
        for ev in events:
            record(ev)
        rec._extra_dropped += int(getattr(events, "dropped", 0) or 0)
        return rec

    def __repr__(self) -> str:
        state = "recording" if self.recording else "stopped"
        return (
            f"<agentlab.trace.Recorder {self._info['run_id']}: {self._recorded()} events "
            f"({state}), dropped={self.dropped}, spilled files={len(self._spilled)}>"
        )


def _seq_span(part: tuple[Any, ...] | pa.RecordBatch) -> tuple[int, int]:
    """The first and last seq of a part that holds events."""
    if isinstance(part, pa.RecordBatch):
        seq = part.column("seq")
        return int(seq[0].as_py()), int(seq[-1].as_py())
    seqs = _chunk_seqs(part)
    return int(seqs[0]), int(seqs[-1])


def _count(part: tuple[Any, ...] | pa.RecordBatch) -> int:
    """Events in a part: a chunk in the runtime's stored form, or a converted batch."""
    if isinstance(part, pa.RecordBatch):
        return part.num_rows
    return len(part) - _H
