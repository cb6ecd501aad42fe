"""A run that lost events says what it cannot know: an init outcome that may have been
lost is ``unknown``, not ``starting``, and availability counts it as neither up nor down."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import pytest

import agentlab as al
from agentlab.trace import Recorder, availability, load, processes


class Warm(al.Agent):
    """Ready half a second after it starts."""

    async def init(self) -> None:
        await self.sleep(0.5)

    def handle_call(self, request, caller):
        return request


def _pad(rt: al.Runtime, n: int) -> None:
    """``n`` events, handed to the recorder at once."""
    for i in range(n):
        rt.emit("note", n=i)
    rt.flush_events()


def _missing(run) -> int:
    seq = run.events()["seq"].to_numpy(np.int64)
    return int(seq.max() - seq.min() + 1 - len(seq))


async def _lost_init(tmp_path: Path, caplog) -> tuple[al.trace.Run, Recorder]:
    """A supervised child crashes at 1.0 and is started again; the chunk of events with
    the new child's init (at 1.5) is dropped, because the recorder cannot spill it (its
    spill folder is a file for a while); what came before and after it is kept."""
    spill = tmp_path / "spill"
    async with al.Runtime(clock=al.VirtualClock(), seed=2, lag_threshold=None) as rt:
        rec = Recorder(rt, capacity=8, chunk_size=4, overflow="spill", spill_dir=spill)
        rt.start(al.Supervisor, [al.ChildSpec("w", Warm)], name="sup", intensity=3, period=5)
        await rt.sleep(1.0)
        rt.exit(next(p for p in rt.processes() if p.path == "sup/w"), "kill")
        await rt.sleep(0.1)  # restarted: its spawn is recorded, its init is under way
        _pad(rt, 16)
        await rt.sleep(0.01)  # the recorder spills what is beyond its capacity
        assert rec.spilled and rec.spill_error is None
        spill.rename(tmp_path / "kept")
        spill.write_text("not a folder")  # spilling fails from here
        with caplog.at_level(logging.ERROR, logger="agentlab.trace"):
            await rt.sleep(1.0)  # the init returns (at 1.5)
            _pad(rt, 16)
            await rt.sleep(0.01)
        assert rec.spill_error is not None and "could not spill" in caplog.text
        spill.unlink()
        (tmp_path / "kept").rename(spill)
        _pad(rt, 16)
        await rt.sleep(2.0)
        run = rec.stop()
    return run, rec


async def test_an_init_lost_with_dropped_events_is_unknown(tmp_path, caplog) -> None:
    run, rec = await _lost_init(tmp_path, caplog)
    p = processes(run).set_index("path")
    assert list(p.index) == ["sup", "sup/w", "sup/w"]
    first, second = p.iloc[1], p.iloc[2]
    assert first["init"] == "ok" and first["ready"] == pytest.approx(0.5)
    assert first["end"] == pytest.approx(1.0) and first["crashed"]
    assert second["init"] == "unknown"  # not "starting": its init event was dropped
    assert second["start"] == pytest.approx(1.0) and math.isnan(second["ready"])
    # the recorder counts each lost event once (the dropped chunk is also a gap in seq)
    assert rec.dropped == run.info.dropped == _missing(run) > 0
    a = availability(run).set_index("slot").loc["sup/w"]
    assert a["uptime"] == pytest.approx(0.5)  # 0.5 to 1.0
    assert a["downtime"] == pytest.approx(0.0)  # the crash until its replacement started
    assert a["unknown"] == pytest.approx(run.info.ended - 1.0)  # not down for the rest of the run
    assert a["availability"] == pytest.approx(1.0)
    # the same from the events frame, and from the file the run was saved to
    for events in (run.events(), load(run.save(tmp_path / "run.parquet"))):
        assert processes(events)["init"].tolist() == processes(run)["init"].tolist()
    assert load(tmp_path / "run.parquet").info.dropped == rec.dropped


async def test_a_full_recorder_drops_only_what_came_before() -> None:
    # a full recorder drops its oldest events: nothing after a spawn it kept, so an
    # agent whose init had not returned when recording ended is still "starting"
    async with al.Runtime(clock=al.VirtualClock(), seed=2) as rt:
        rec = Recorder(rt, capacity=8, chunk_size=4)
        _pad(rt, 40)
        rt.start(Warm, name="late")
        await rt.sleep(0.1)
        run = rec.stop()
    assert run.info.dropped > 0 and _missing(run) == 0
    late = processes(run).set_index("name").loc["late"]
    assert late["init"] == "starting" and math.isnan(late["ready"])
    a = availability(run).set_index("slot").loc["late"]
    assert a["uptime"] == a["downtime"] == a["unknown"] == 0.0 and math.isnan(a["availability"])


def test_events_left_out_of_a_list_make_an_init_unknown() -> None:
    from trace_helpers import Script

    s = Script()
    s.at(0.0).emit("spawn", 101, name="a", kind="agent")
    s.at(0.5).emit("init", 101, result="ok")
    s.at(1.0).emit("note", 0)
    s.at(2.0).emit("spawn", 102, name="b", kind="agent")
    whole = processes(Recorder.from_events(s.events).events()).set_index("name")
    assert whole["init"].tolist() == ["ok", "starting"]
    holes = processes(Recorder.from_events([s.events[0], *s.events[2:]]).events())
    assert holes.set_index("name")["init"].tolist() == ["unknown", "starting"]
