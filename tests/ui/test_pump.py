"""The coalescing pump: bounded rate, latest state wins, token text concatenated, nothing lost."""

from __future__ import annotations

import asyncio
import threading

import pytest

from agentlab.ui._pending import Pending, from_rows, merge_segment, to_rows
from agentlab.ui._pump import Pump


def make(sink, pending=None, state=None, **kw):
    pending = pending or Pending()
    state = state if state is not None else {}
    pump = Pump(pending, send=sink.send, publish=sink.publish, snapshot=lambda: dict(state), **kw)
    return pending, pump


def test_pending_rules():
    p = Pending()
    p.put("nodes", "a", {"v": 1})
    p.put("nodes", "b", {"v": 1})
    p.put("nodes", "a", {"v": 2})
    p.add("marks", 1)
    p.add("marks", 2)
    p.seg("segs", "w", {"t": "text", "s": "ab"})
    p.seg("segs", "w", {"t": "text", "s": "c"})
    p.seg("segs", "w", {"t": "error", "error": "x"})
    p.seg("segs", "w", {"t": "text", "s": "d"})
    out = p.take()
    assert out == {
        "nodes": {"a": {"v": 2}, "b": {"v": 1}},
        "marks": [1, 2],
        "segs": {"w": [{"t": "text", "s": "abc"}, {"t": "error", "error": "x"}, {"t": "text", "s": "d"}]},
    }
    assert p.take() is None and not p.dirty


def test_pending_dumps_live_objects_when_taken():
    class Obj:
        def __init__(self):
            self.v = 1

        def dump(self):
            return {"v": self.v}

    p = Pending()
    o = Obj()
    p.put("x", "k", o)
    o.v = 5  # changed after it was queued: the newest state goes out
    assert p.take() == {"x": {"k": {"v": 5}}}


def test_merge_segment_copies_and_joins_tool_arguments():
    segs: list = []
    first = {"t": "tool_call", "id": 1, "name": "f", "args": "{", "more": True}
    merge_segment(segs, first)
    merge_segment(segs, {"t": "tool_call", "id": 1, "args": "}", "more": True})
    merge_segment(segs, {"t": "tool_call", "id": 2, "args": "{}", "more": True})
    assert [g["args"] for g in segs] == ["{}", "{}"]
    assert first["args"] == "{"  # the caller's dict is untouched


def test_rate_is_bounded_and_the_last_state_arrives(run, sink):
    async def main():
        pending, pump = make(sink, rate=30)
        t0 = asyncio.get_running_loop().time()
        n = 0
        while asyncio.get_running_loop().time() - t0 < 1.0:
            for _ in range(50):  # 50 changes per millisecond-ish tick: far above the rate
                n += 1
                pending.put("nodes", "a", {"v": n})
                pending.seg("segs", "w", {"t": "text", "s": f"{n} "})
            await asyncio.sleep(0.001)
        await pump.flushed()
        return n

    n = run(main())
    deltas = [m for m in sink.messages if m["type"] == "delta"]
    assert len(deltas) <= 32, f"{len(deltas)} messages in ~1 s"
    assert [m["seq"] for m in deltas] == list(range(1, len(deltas) + 1))
    assert deltas[-1]["nodes"]["a"] == {"v": n}  # the latest wins, and it arrives
    text = "".join(g["s"] for m in deltas for g in m["segs"]["w"])
    assert text == "".join(f"{i} " for i in range(1, n + 1))  # token text concatenated, nothing lost
    gaps = [b - a for a, b in zip(sink.times, sink.times[1:], strict=False)]
    assert min(gaps) >= 1 / 30 - 0.005


def test_a_quiet_view_sends_nothing(run, sink):
    async def main():
        _, pump = make(sink)
        await asyncio.sleep(0.2)
        await pump.flushed()

    run(main())
    assert sink.messages == [] and sink.snapshots == []


def test_snapshot_trait_is_rewritten_at_a_bounded_rate_and_when_quiet(run, sink):
    state = {"n": 0}

    async def main():
        pending, pump = make(sink, state=state, rate=30, snapshot_every=0.25)
        for i in range(60):
            state["n"] = i
            pending.put("nodes", "a", i)
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.4)  # activity stopped: the final state is written
        return pump

    pump = run(main())
    assert 2 <= len(sink.snapshots) <= 6
    assert sink.snapshots[-1] == {"seq": pump.seq, "view": {"n": 59}}


def test_resync_sends_pending_first_so_seq_stays_gap_free(run, sink):
    state = {"n": 0}

    async def main():
        pending, pump = make(sink, state=state, rate=5)
        pending.put("nodes", "a", 1)
        await pump.flushed()
        state["n"] = 2
        pending.put("nodes", "a", 2)  # not sent yet (rate limit)
        snap = pump.resync()
        return snap

    snap = run(main())
    assert [m["seq"] for m in sink.messages] == [1, 2]
    assert snap == {"seq": 2, "view": {"n": 2}}


def test_reset_replaces_everything(run, sink):
    state = {"n": 7}

    async def main():
        pending, pump = make(sink, state=state)
        pending.put("nodes", "a", 1)
        pump.reset()
        await asyncio.sleep(0.1)

    run(main())
    assert sink.messages == [{"type": "reset", "seq": 1, "view": {"n": 7}}]  # the pending delta is dropped
    assert sink.snapshots == [{"seq": 1, "view": {"n": 7}}]


def test_pokes_from_another_thread_hop_to_the_loop(run, sink):
    async def main():
        pending, pump = make(sink)
        loop_thread = threading.get_ident()
        seen = []
        original = pump._send_delta

        def spy(now):
            seen.append(threading.get_ident())
            original(now)

        pump._send_delta = spy
        t = threading.Thread(target=lambda: pending.put("nodes", "a", 1))
        t.start()
        t.join()
        await asyncio.sleep(0.1)
        return loop_thread, seen

    loop_thread, seen = run(main())
    assert seen == [loop_thread]


def test_close_stops_sending(run, sink):
    async def main():
        pending, pump = make(sink)
        pending.put("nodes", "a", 1)
        pump.close()
        await pump.flushed()
        await asyncio.sleep(0.1)

    run(main())
    assert sink.messages == []


def test_rate_must_be_positive(run, sink):
    async def main():
        with pytest.raises(ValueError, match="rate"):
            make(sink, rate=0)

    run(main())


def test_an_expensive_snapshot_waits_for_quiet_even_before_its_first_write(run, sink, monkeypatch):
    monkeypatch.setattr(Pump, "QUIET", 0.3)
    state = {"n": 0}

    async def main():
        pending, pump = make(sink, state=state, rate=30, snapshot_every=0.05)
        pump.expect_cost(0.05)  # what the view measured building its first snapshot
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        for i in range(40):  # 0.4 s of activity
            state["n"] = i
            pending.put("nodes", "a", i)
            await asyncio.sleep(0.01)
        busy_until = loop.time()
        await asyncio.sleep(0.6)
        return pump, t0, busy_until

    pump, t0, busy_until = run(main())
    assert len([m for m in sink.messages if m["type"] == "delta"]) >= 5
    # not one write while deltas were flowing, then the final state once quiet
    assert sink.snapshot_times and min(sink.snapshot_times) >= busy_until
    assert sink.snapshots[-1] == {"seq": pump.seq, "view": {"n": 39}}


def test_a_cheap_snapshot_is_still_rewritten_while_busy(run, sink):
    async def main():
        pending, pump = make(sink, rate=30, snapshot_every=0.05)
        pump.expect_cost(0.001)
        loop = asyncio.get_running_loop()
        for i in range(40):
            pending.put("nodes", "a", i)
            await asyncio.sleep(0.01)
        return loop.time()

    busy_until = run(main())
    assert any(t < busy_until for t in sink.snapshot_times)


def test_row_form_names_the_fields_once_and_expands_back():
    spans = {"7": {"id": 7, "t1": 1.5}, "8": None, "9": {"id": 9, "t1": None}}
    marks = [{"t": 1.0, "kind": "killed"}, {"t": 2.0, "kind": "restart"}]
    msg = to_rows({"spans": dict(spans), "marks": list(marks), "other": [1, 2]}, ["spans", "marks", "other"])
    assert msg["spans"] == {"$rows": ["id", "t1"], "k": ["7", "8", "9"], "v": [[7, 1.5], None, [9, None]]}
    assert msg["marks"] == {"$rows": ["t", "kind"], "v": [[1.0, "killed"], [2.0, "restart"]]}
    assert msg["other"] == [1, 2]  # not dicts: as it was
    assert from_rows(msg) == {"spans": spans, "marks": marks, "other": [1, 2]}


def test_row_form_keeps_sections_whose_items_differ():
    mixed = [{"id": 1, "kind": "call"}, {"id": 2, "kind": "reply", "reply_to": 1}]
    assert to_rows({"arrows": list(mixed)}, ["arrows"]) == {"arrows": mixed}
    one = [{"id": 1}]  # a single item gains nothing
    assert to_rows({"arrows": list(one)}, ["arrows"]) == {"arrows": one}


def test_pump_sends_the_listed_sections_in_row_form(run, sink):
    async def main():
        pending, pump = make(sink, rows=("marks",))
        pending.add("marks", {"t": 1.0, "kind": "killed"})
        pending.add("marks", {"t": 2.0, "kind": "restart"})
        pending.put("nodes", "a", {"v": 1})
        pending.put("nodes", "b", {"v": 2})
        await pump.flushed()
        (msg,) = sink.messages
        assert msg["marks"] == {"$rows": ["t", "kind"], "v": [[1.0, "killed"], [2.0, "restart"]]}
        assert msg["nodes"] == {"a": {"v": 1}, "b": {"v": 2}}  # not listed

    run(main())


def test_a_snapshot_that_grew_waits_for_quiet_though_it_was_cheap(run, sink, monkeypatch):
    # a sequence diagram in a storm: cheap when the view opened, 100x the items a
    # second later. Its next rewrite must not happen while busy at the old cost.
    monkeypatch.setattr(Pump, "QUIET", 0.3)
    state = {"items": 10}

    async def main():
        pending, pump = make(sink, state=state, rate=30, snapshot_every=0.05,
                             size=lambda: state["items"])
        pump.expect_cost(0.001)  # measured with 10 items
        assert pump.expected_cost() == pytest.approx(0.001)
        state["items"] = 1000
        assert pump.expected_cost() == pytest.approx(0.1)  # grows with the state
        loop = asyncio.get_running_loop()
        for i in range(40):  # 0.4 s of activity
            pending.put("nodes", "a", i)
            await asyncio.sleep(0.01)
        busy_until = loop.time()
        await asyncio.sleep(0.6)
        return pump, busy_until

    pump, busy_until = run(main())
    assert sink.snapshot_times and min(sink.snapshot_times) >= busy_until
    assert sink.snapshots[-1]["seq"] == pump.seq


def test_a_snapshot_that_shrank_keeps_its_measured_cost(run, sink):
    state = {"items": 1000}

    async def main():
        _, pump = make(sink, state=state, size=lambda: state["items"])
        pump.expect_cost(0.004)
        state["items"] = 10
        return pump.expected_cost()

    assert run(main()) == pytest.approx(0.004)


def test_views_tell_the_pump_their_size():
    from agentlab.ui._sequence import SequenceModel
    from agentlab.ui._synthetic import team_run
    from agentlab.ui._timeline import TimelineModel
    from agentlab.ui._tree import TreeModel

    for model_cls in (TreeModel, TimelineModel, SequenceModel):
        m = model_cls(Pending())
        assert m.size() == 0
        for ev in team_run():
            m.apply(ev)
        snap = m.snapshot()
        items = sum(len(v) for v in snap.values() if isinstance(v, list))
        assert m.size() == items > 0, model_cls
