"""A recorded run: its events, what it was (id, seed, clock, metadata), and its tables.

A :class:`Run` is what a :class:`~agentlab.trace.Recorder` produces and what
:func:`~agentlab.trace.load` reads back. Every table is a projection of the
events table, so a run loaded from a file gives the same frames as the
recorder that wrote it::

    run = recorder.run()              # or agentlab.trace.load("run.parquet")
    run.processes()                   # one row per process lifetime
    run.restarts()                    # one row per restart
    run.mttr()                        # mean time to recovery, seconds
    run.plot_timeline()               # swimlanes with crash marks
    run.save("run.parquet")
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa

import agentlab

from ._frame import _loads_or_text, events_frame
from ._schema import FORMAT_VERSION, SCHEMA, reason_value, restore_tuples, with_tuples

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["RUN_ATTR", "Run", "RunInfo"]

#: the key of the run's id and dropped count in ``Run.events().attrs``
RUN_ATTR = "agentlab.run"


@dataclasses.dataclass(frozen=True)
class RunInfo:
    """What a run was: ``run_id``, when recording ``started`` (ISO 8601, UTC), the
    runtime's ``seed`` and ``clock`` kind (``"virtual"``, ``"real"`` or
    ``"unknown"``), the message-tracing rate, how many events were ``dropped``
    (never silently: capacity overflow and gaps in ``seq`` both count), and
    free-form JSON ``metadata``, and the runtime-clock times recording ``began``
    and ``ended`` (``None`` when not known, and ``ended`` while recording: a run
    lasts from ``began`` to ``ended`` even if nothing happened then)."""

    run_id: str
    started: str
    seed: int | None = None
    clock: str = "unknown"
    trace_messages: float | None = None
    dropped: int = 0
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)
    version: int = FORMAT_VERSION
    ended: float | None = None
    began: float | None = None

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True, default=str)

    @classmethod
    def from_json(cls, text: str | bytes) -> RunInfo:
        fields = {f.name for f in dataclasses.fields(cls)}
        raw = json.loads(text)
        return cls(**{k: v for k, v in raw.items() if k in fields})


class Run:
    """A recorded run. Tables come back as pandas DataFrames; treat them as read-only
    (they are cached; copy before changing values in place).

    >>> run = Recorder.from_events(rt.events).run()  # doctest: +SKIP
    >>> run.processes()[["name", "start", "end", "exit_reason"]]  # doctest: +SKIP
    """

    def __init__(self, table: pa.Table, info: RunInfo) -> None:
        if table.schema.remove_metadata() != SCHEMA:
            table = with_tuples(table).select(SCHEMA.names).cast(SCHEMA)
        self._fixed_table = table
        self._fixed_info = info
        self._cache: dict[str, Any] = {}
        self._cache_key: object = None

    # ------------------------------------------------------------------ identity

    @property
    def info(self) -> RunInfo:
        return self._fixed_info

    @property
    def run_id(self) -> str:
        return self.info.run_id

    def table(self) -> pa.Table:
        """The events as an Arrow table (the stored form)."""
        return self._fixed_table

    def _version(self) -> object:
        return None

    def _cached(self, key: str, make: Callable[[], Any]) -> Any:
        version = self._version()
        if version != self._cache_key:
            self._cache.clear()
            self._cache_key = version
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def __len__(self) -> int:
        return int(self.table().num_rows)

    # ------------------------------------------------------------------ tables

    def events(self) -> pd.DataFrame:
        """Every event, one row each (columns: see ``agentlab.trace._frame``).

        ``attrs["agentlab.run"]`` names the run and how many events it ``dropped``
        (``{"run_id": ..., "dropped": ...}``, and when it dropped some, the time none
        of them is later than, ``lost_before``), so the frame, or rows of it, given to
        a view (``agentlab.ui.dashboard(run.events())``) can say that it is partial.
        """
        frame = self._cached("events", lambda: events_frame(self.table())).copy(deep=False)
        frame.attrs[RUN_ATTR] = self._about()
        return frame

    def _about(self) -> dict[str, Any]:
        """What ``events().attrs["agentlab.run"]`` says: the run's id, how many events it
        ``dropped``, and if any, ``lost_before``: the time none of them is later than
        (that of the first event after the last gap in ``seq``; a recorder and a
        runtime's log drop their oldest events, a spill that failed leaves a gap), or
        ``None`` when nothing shows where."""
        info = self.info
        about: dict[str, Any] = {"run_id": info.run_id, "dropped": info.dropped}
        if info.dropped:
            about["lost_before"] = self._cached("lost_before", lambda: _lost_before(self.table()))
        return about

    def to_events(self) -> list[agentlab.Event]:
        """Every event as an :class:`agentlab.Event`, its data as recorded (JSON's
        values, tuples as tuples, an object JSON cannot hold as its repr text, a
        ``_schema.Repr`` that shows as the object did) and its reason as text, or
        as the tuple it was (``('shutdown', 'x')``; a part of it that was no
        literal, such as a crash, as its text); crashes stay ``"Type: message"`` text.

        This is how views read a recorded or loaded run::

            again = load("run.parquet")
            assert again.to_events()[5].data == {"request": ("ask", "x")}
        """
        table = self.table()
        if table.num_rows == 0:
            return []
        walls = table.column("wall").cast(pa.int64()).to_numpy() / 1e9
        reasons: dict[str | None, Any] = {}
        make = agentlab.Event.make
        out = []
        for seq, time, wall, kind, pid, name, path, peer, reason, data, tuples in zip(
            table.column("seq").to_pylist(),
            table.column("time").to_pylist(),
            walls.tolist(),
            table.column("kind").to_pylist(),
            table.column("pid").to_pylist(),
            table.column("name").to_pylist(),
            table.column("path").to_pylist(),
            table.column("peer").to_pylist(),
            table.column("reason").to_pylist(),
            table.column("data").to_pylist(),
            table.column("tuples").to_pylist(),
            strict=True,
        ):
            if reason not in reasons:
                reasons[reason] = reason_value(reason)
            value = restore_tuples(_loads_or_text(data), tuples)  # a fresh dict each
            out.append(make(seq, time, wall, kind, pid, name, path, peer, reasons[reason], value))
        return out

    def processes(self) -> pd.DataFrame:
        """One row per process lifetime (see :func:`agentlab.trace.processes`)."""
        from ._tables import processes

        return self._cached("processes", lambda: processes(self.events())).copy(deep=False)

    def restarts(self) -> pd.DataFrame:
        """One row per restart (see :func:`agentlab.trace.restarts`)."""
        from ._tables import restarts

        return self._cached("restarts", lambda: restarts(self.events())).copy(deep=False)

    def messages(self) -> pd.DataFrame:
        """Sends, casts and calls joined to receives and replies (see :func:`agentlab.trace.messages`)."""
        from ._messages import messages

        sampled = self.info.trace_messages is not None and 0 < self.info.trace_messages < 1
        return self._cached("messages", lambda: messages(self.events(), sampled=sampled)).copy(
            deep=False
        )

    def llm_calls(self) -> pd.DataFrame:
        """One row per LLM request attempt (see :func:`agentlab.trace.llm_calls`)."""
        from ._llm import llm_calls

        return self._cached("llm_calls", lambda: llm_calls(self.events())).copy(deep=False)

    def tool_calls(self) -> pd.DataFrame:
        """One row per tool call (see :func:`agentlab.trace.tool_calls`)."""
        from ._llm import tool_calls

        return self._cached("tool_calls", lambda: tool_calls(self.events())).copy(deep=False)

    # ------------------------------------------------------------------ analysis

    def mttr(self, by: str | None = None) -> Any:
        """Mean time to recovery in seconds (see :func:`agentlab.trace.mttr`)."""
        from ._analysis import mttr

        return mttr(self, by=by)

    def availability(self) -> pd.DataFrame:
        """Up and down time per child slot (see :func:`agentlab.trace.availability`)."""
        from ._analysis import availability

        return availability(self)

    def restart_rate(self, window: float = 1.0) -> pd.DataFrame:
        """Restarts per time window and supervisor (see :func:`agentlab.trace.restart_rate`)."""
        from ._analysis import restart_rate

        return restart_rate(self, window=window)

    def intensity_headroom(self) -> pd.DataFrame:
        """How close each supervisor came to giving up (see :func:`agentlab.trace.intensity_headroom`)."""
        from ._analysis import intensity_headroom

        return intensity_headroom(self)

    def message_latency(self, percentiles: tuple[float, ...] = (50, 90, 99)) -> pd.DataFrame:
        """Latency percentiles by message kind (see :func:`agentlab.trace.message_latency`)."""
        from ._analysis import message_latency

        return message_latency(self, percentiles=percentiles)

    def llm_usage(self, by: str = "agent") -> pd.DataFrame:
        """LLM latency, TTFT, tokens, throughput and cost per agent (see :func:`agentlab.trace.llm_usage`)."""
        from ._analysis import llm_usage

        return llm_usage(self, by=by)

    def summary(self) -> dict[str, Any]:
        """The headline numbers of the run, as a dict (see :func:`agentlab.trace.summary`)."""
        from ._analysis import summary

        return summary(self)

    # ------------------------------------------------------------------ plots

    def plot_timeline(self, ax: Axes | None = None, **kwargs: Any) -> Figure:
        """Swimlanes of process lifetimes (see :func:`agentlab.trace.plot_timeline`)."""
        from ._plots import plot_timeline

        return plot_timeline(self, ax=ax, **kwargs)

    def plot_restarts(self, ax: Axes | None = None, **kwargs: Any) -> Figure:
        """Restarts over time (see :func:`agentlab.trace.plot_restarts`)."""
        from ._plots import plot_restarts

        return plot_restarts(self, ax=ax, **kwargs)

    def plot_tokens(self, ax: Axes | None = None, **kwargs: Any) -> Figure:
        """Token throughput per agent (see :func:`agentlab.trace.plot_tokens`)."""
        from ._plots import plot_tokens

        return plot_tokens(self, ax=ax, **kwargs)

    # ------------------------------------------------------------------ files, display

    def save(self, path: str | Path) -> Path:
        """Write the run to a Parquet file (see :func:`agentlab.trace.save`)."""
        from ._files import save

        return save(self, path)

    def _repr_html_(self) -> str:
        from ._html import run_html

        return run_html(self)

    def __repr__(self) -> str:
        info = self.info
        return (
            f"<agentlab.trace.Run {info.run_id}: {len(self)} events, {info.clock} clock, "
            f"seed={info.seed}, dropped={info.dropped}>"
        )


def _lost_before(table: pa.Table) -> float | None:
    """See :meth:`Run._about`."""
    if table.num_rows == 0:
        return None
    seq = table.column("seq").to_numpy()
    time = table.column("time").to_numpy()
    order = np.argsort(seq, kind="stable")
    seq, time = seq[order], time[order]
    gaps = np.flatnonzero(np.diff(seq) > 1)
    if len(gaps):
        return float(time[gaps[-1] + 1])
    return float(time[0]) if seq[0] > 1 else None  # (a runtime numbers its events from 1)
