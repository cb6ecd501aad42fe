import { describe, it, expect, vi } from "vitest";
import { Store, unpack } from "../src/lib/store.js";
import { pack } from "./fake-model.js";
import { appendSegment, joinText } from "../src/lib/segments.js";

function counter(invoke) {
  const state = { n: 0, log: [] };
  const store = new Store({
    apply: (d) => { state.n += d.add; state.log.push(d.seq); },
    reset: (v) => { state.n = v.n; state.log.push(`reset@${v.n}`); },
    invoke,
  });
  return { state, store };
}

describe("Store", () => {
  it("expands sections sent in row form before a view applies them", () => {
    const got = [];
    const store = new Store({ apply: (d) => got.push(d), reset: () => {} });
    store.load({ seq: 0, view: {} }, true);
    store.receive({ type: "delta", seq: 1,
      marks: { $rows: ["t", "kind"], v: [[1, "killed"], [2, "restart"]] },
      spans: { $rows: ["id", "t1"], k: ["7", "8"], v: [[7, 1.5], null] },
      nodes: { a: { v: 1 } } });
    expect(got[0].marks).toEqual([{ t: 1, kind: "killed" }, { t: 2, kind: "restart" }]);
    expect(got[0].spans).toEqual({ 7: { id: 7, t1: 1.5 }, 8: null });
    expect(got[0].nodes).toEqual({ a: { v: 1 } });
  });

  it("applies deltas in order and ignores old ones", () => {
    const { state, store } = counter();
    store.load({ seq: 2, view: { n: 10 } }, true);
    expect(store.receive({ type: "delta", seq: 2, add: 5 })).toBe(false); // already in the snapshot
    store.receive({ type: "delta", seq: 3, add: 1 });
    store.receive({ type: "delta", seq: 4, add: 1 });
    expect(state.n).toBe(12);
    expect(store.seq).toBe(4);
  });

  it("asks for a snapshot on a gap and replays what arrived meanwhile, a message that came twice once", async () => {
    let release;
    const invoke = vi.fn(() => new Promise((r) => { release = r; }));
    const { state, store } = counter(invoke);
    store.load({ seq: 1, view: { n: 0 } }, true);
    store.receive({ type: "delta", seq: 3, add: 100 }); // 2 is missing
    expect(invoke).toHaveBeenCalledWith("resync", {});
    store.receive({ type: "delta", seq: 4, add: 1 });
    store.receive({ type: "delta", seq: 4, add: 1 }); // the same message again
    store.receive({ type: "delta", seq: 5, add: 1 });
    expect(state.n).toBe(0); // nothing applied while resyncing
    release({ seq: 3, view: { n: 50 } }); // the kernel's state after delta 3
    await new Promise((r) => setTimeout(r, 0));
    expect(state.n).toBe(52); // snapshot 50, then 4 and 5 once each
    expect(store.seq).toBe(5);
    expect(store.gaps).toBe(1);
    expect(invoke).toHaveBeenCalledTimes(1); // without asking for another snapshot
    expect(store.buffer).toEqual([]);
  });

  it("keeps what it shows when there is no kernel", async () => {
    const invoke = vi.fn(async () => { throw new Error("no kernel"); });
    const { state, store } = counter(invoke);
    store.load({ seq: 1, view: { n: 7 } }, true);
    store.receive({ type: "delta", seq: 9, add: 1 });
    await new Promise((r) => setTimeout(r, 0));
    expect(state.n).toBe(7);
    expect(store.resyncing).toBe(false);
  });

  it.each([
    ["throws (no kernel connection)", async () => { throw new Error("no kernel connection"); }, 2000],
    ["answers an error (the command failed in the kernel)", async () => ({ ok: false, error: "RuntimeError: boom" }), 500],
    ["is not there (a front end without commands)", undefined, 500],
  ])("does not pile up deltas while a resync %s", async (_, answer, last) => {
    const { state, store } = counter(answer && vi.fn(answer));
    store.load({ seq: 1, view: { n: 0 } }, true);
    for (let seq = 3; seq < last; seq++) { // 2 was lost; every later one waits for a resync
      store.receive({ type: "delta", seq, add: 1 });
      await Promise.resolve();
    }
    await new Promise((r) => setTimeout(r, 0));
    expect(store.buffer.length).toBeLessThan(10);
    // the snapshot trait (written when the kernel is quiet) brings the view up to date
    store.load({ seq: last, view: { n: last - 2 } });
    store.receive({ type: "delta", seq: last + 1, add: 1 });
    expect(state.n).toBe(last - 1);
  });

  it("replaces everything on reset", () => {
    const { state, store } = counter();
    store.load({ seq: 1, view: { n: 1 } }, true);
    store.receive({ type: "reset", seq: 8, view: { n: 99 } });
    store.receive({ type: "delta", seq: 9, add: 1 });
    expect(state.n).toBe(100);
  });

  it("drops a resync answer asked for before a reset (it holds an older state)", async () => {
    const asks = [];
    const invoke = vi.fn(() => new Promise((r) => asks.push(r)));
    const { state, store } = counter(invoke);
    store.load({ seq: 1, view: { n: 0 } }, true);
    store.receive({ type: "delta", seq: 3, add: 1 }); // 2 is missing: resync #1
    // the run is scrubbed: the kernel sends a reset; then one more gap: resync #2
    store.receive({ type: "reset", seq: 10, view: { n: 1000 } });
    store.receive({ type: "delta", seq: 12, add: 2 });
    expect(invoke).toHaveBeenCalledTimes(2);
    // the answer to #1 (the state at seq 3, before the reset) comes late
    asks[0]({ seq: 3, view: { n: 50 } });
    await new Promise((r) => setTimeout(r, 0));
    expect(state.n).toBe(1000); // not the older state, not even for a moment
    expect(state.log).not.toContain("reset@50");
    expect(store.seq).toBe(10);
    expect(store.resyncing).toBe(true); // #2 is still on its way
    asks[1]({ seq: 12, view: { n: 1012 } });
    await new Promise((r) => setTimeout(r, 0));
    expect(state.n).toBe(1012);
    expect(store.seq).toBe(12);
    expect(store.resyncing).toBe(false);
    // a failure that answers #1 after a reset does not cancel the resync that follows it
    const fails = [];
    const { state: s2, store: st2 } = counter(vi.fn(() => new Promise((_, rej) => fails.push(rej))));
    st2.load({ seq: 1, view: { n: 0 } }, true);
    st2.receive({ type: "delta", seq: 3, add: 1 });
    st2.receive({ type: "reset", seq: 10, view: { n: 7 } });
    st2.receive({ type: "delta", seq: 12, add: 1 }); // waits for resync #2
    fails[0](new Error("timed out"));
    await new Promise((r) => setTimeout(r, 0));
    expect(st2.resyncing).toBe(true);
    expect(st2.buffer.map((m) => m.seq)).toEqual([12]);
    expect(s2.n).toBe(7);
  });

  it("unpacks a snapshot sent as JSON in a binary buffer", () => {
    const snap = { seq: 4, view: { n: 4, label: "ünïcode ✓" } };
    const dv = pack(snap);
    expect(unpack(dv)).toEqual(snap);
    expect(unpack(new Uint8Array(dv.buffer, dv.byteOffset, dv.byteLength))).toEqual(snap);
    expect(unpack(dv.buffer.slice(dv.byteOffset, dv.byteOffset + dv.byteLength))).toEqual(snap);
    expect(unpack(snap)).toBe(snap); // already an object: as it is
    expect(unpack(null)).toBe(null);
    const { state, store } = counter();
    expect(store.load(unpack(dv), true)).toBe(true);
    expect(state.n).toBe(4);
  });

  it("takes a newer snapshot trait but not an older one", () => {
    const { state, store } = counter();
    store.load({ seq: 5, view: { n: 5 } }, true);
    expect(store.load({ seq: 3, view: { n: 3 } })).toBe(false);
    expect(store.load({ seq: 9, view: { n: 9 } })).toBe(true);
    expect(state.n).toBe(9);
  });
});

describe("segments", () => {
  it("joins text deltas and tool-call argument deltas", () => {
    const segs = [];
    appendSegment(segs, { t: "text", s: "Hel" });
    appendSegment(segs, { t: "text", s: "lo" });
    appendSegment(segs, { t: "tool_call", id: "c1", name: "f", args: '{"a"', more: true });
    appendSegment(segs, { t: "tool_call", id: "c1", args: ": 1}", more: true });
    appendSegment(segs, { t: "tool_call", id: "c2", name: "g", args: "{}", more: true });
    appendSegment(segs, { t: "text", s: "!" });
    expect(segs.map((g) => g.t)).toEqual(["text", "tool_call", "tool_call", "text"]);
    expect(segs[1].args).toBe('{"a": 1}');
    expect(joinText(segs)).toBe("Hello!");
  });

  it("does not alias the segment it was given", () => {
    const segs = [];
    const g = { t: "text", s: "a" };
    appendSegment(segs, g);
    appendSegment(segs, { t: "text", s: "b" });
    expect(g.s).toBe("a");
  });
});
