"""The recorder: the runtime's event stream into bounded columnar storage.

Recording costs the runtime no work per event: every 512 events, and whenever
anything is read, it hands its newest raw event tuples over in one list. They
are turned into Arrow columns in bulk (vectorised; reasons and data become
text, so nothing from the run is kept alive) at the next loop turn once
``chunk_size`` events are waiting (after the current burst of work, not in
the middle of it), and whenever the tables are read or the recording stops.
When more than ``capacity`` events are held, the oldest chunks either spill to Parquet files on disk (``overflow="spill"``) or
are dropped and counted (``overflow="drop"``, the default): never silently.

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
import tempfile
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

import agentlab

from ._files import header
from ._run import Run, RunInfo
from ._schema import FORMAT_VERSION, METADATA_KEY, SCHEMA, to_batch

__all__ = ["Recorder"]

_OVERFLOW = ("drop", "spill")


class Recorder(Run):
    """Record a runtime's events (subscribes at once when given a runtime).

    ``capacity`` bounds the events held in memory (``None``: no bound), rounded
    up to whole chunks of ``chunk_size``; ``overflow`` says what happens beyond
    it: ``"drop"`` the oldest chunk (counted in :attr:`dropped`) or ``"spill"``
    it to a Parquet file in ``spill_dir`` (a temporary folder by default).
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
        self.capacity = capacity
        self.overflow = overflow
        self.chunk_size = chunk_size = (
            min(chunk_size, capacity) if capacity is not None else chunk_size
        )
        self._spill_dir = Path(spill_dir) if spill_dir is not None else None
        self._spilled: list[Path] = []
        self._batches: list[pa.RecordBatch] = []
        self._held = 0  # events in self._batches
        self._raw: list[Any] = []  # event tuples not yet converted
        self._seal_pending = False
        self._total = 0  # events converted (self._raw holds the rest)
        self._dropped = 0
        self._extra_dropped = 0  # reported by a source (an EventLog's own count)
        self._unsubscribe: Callable[[], None] | None = None
        self._runtime = runtime
        self._loop: Any = None
        self._snapshot: tuple[object, pa.Table] | None = None
        trace_messages: float | None = None
        if runtime is not None:
            seed = runtime.seed if seed is None else seed
            clock = runtime.clock.kind if clock is None else clock
            trace_messages = float(runtime.trace_messages)
        self._info: dict[str, Any] = {
            "run_id": run_id or uuid.uuid4().hex[:12],
            "started": _dt.datetime.now(_dt.UTC).isoformat(),
            "seed": seed,
            "clock": clock or "unknown",
            "trace_messages": trace_messages,
            "metadata": dict(metadata or {}),
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
        raw = self._raw
        raw.append(event)
        if len(raw) >= self.chunk_size:
            self._seal(whole_chunks=True)

    def _sink(self, tail: list[tuple[Any, ...]]) -> None:
        """The runtime hands over its newest raw event tuples (a batched subscriber)."""
        raw = self._raw
        raw.extend(tail)
        if len(raw) >= self.chunk_size and not self._seal_pending:
            self._seal_pending = True  # convert after the current burst of work
            self._loop.call_soon(self._seal_soon)

    def _seal_soon(self) -> None:
        self._seal_pending = False
        self._seal(whole_chunks=True)

    def _seal(self, whole_chunks: bool = False) -> None:
        """Convert the waiting events into record batches of ``chunk_size`` rows
        (``whole_chunks``: leave a partial last chunk waiting; capacity counts
        whole chunks)."""
        raw = self._raw
        size = self.chunk_size
        n = len(raw) - len(raw) % size if whole_chunks else len(raw)
        if n == 0:
            return
        for i in range(0, n, size):
            batch = to_batch(raw[i : i + size])
            self._total += batch.num_rows
            self._batches.append(batch)
            self._held += batch.num_rows
        del raw[:n]
        cap = self.capacity
        while cap is not None and self._held > cap and len(self._batches) > 1:
            old = self._batches.pop(0)
            self._held -= old.num_rows
            if self.overflow == "spill":
                self._spill(old)
            else:
                self._dropped += old.num_rows

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
        return (self._total + len(self._raw), self._dropped)

    def _base_info(self) -> RunInfo:
        return RunInfo(**self._info, dropped=self.dropped)

    @property
    def info(self) -> RunInfo:
        table = self.table()
        gaps = 0
        if table.num_rows > 1:
            lo, hi = pc.min_max(table.column("seq")).values()
            gaps = max(0, int(hi.as_py()) - int(lo.as_py()) + 1 - table.num_rows)
        return RunInfo(
            **self._info,
            dropped=self.dropped + gaps,
            version=FORMAT_VERSION,
        )

    def table(self) -> pa.Table:
        version = self._version()
        if self._snapshot is not None and self._snapshot[0] == version:
            return self._snapshot[1]
        self._seal(whole_chunks=True)
        version = self._version()
        parts = [pq.read_table(p).to_batches() for p in self._spilled]
        batches = [b for part in parts for b in part] + list(self._batches)
        if self._raw:  # a partial chunk: converted for this read, kept waiting
            batches.append(to_batch(self._raw))
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
            f"<agentlab.trace.Recorder {self._info['run_id']}: {self._total + len(self._raw)} events "
            f"({state}), dropped={self.dropped}, spilled files={len(self._spilled)}>"
        )
