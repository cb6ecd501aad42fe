// The deltas the kernel's view models produce (tests/ui/fixtures.py) add up, in
// the front end's state classes, to the state the kernel has.
import { describe, it, expect } from "vitest";
import { readFileSync } from "node:fs";
import path from "node:path";
import { TreeState } from "../src/tree.js";
import { StreamState } from "../src/stream.js";
import { TimelineState } from "../src/timeline.js";
import { SequenceState } from "../src/sequence.js";
import { expandRows } from "../src/lib/store.js";
import { appendSegment, joinText } from "../src/lib/segments.js";

const load = (name) => JSON.parse(readFileSync(path.join(process.cwd(), "test", "fixtures", `${name}.json`), "utf8"));

describe("golden delta streams", () => {
  it("tree", () => {
    const f = load("tree");
    const s = new TreeState();
    s.reset(f.initial.view.nodes);
    for (const m of f.messages) for (const [k, n] of Object.entries(m.nodes || {})) s.upsert(k, n);
    const want = Object.fromEntries(f.final.nodes.map((n) => [n.key, n]));
    expect(Object.fromEntries(s.nodes)).toEqual(want);
    const a1 = [...s.nodes.values()].find((n) => n.label === "a1");
    expect(a1.restarts).toBe(2);
  });

  it("stream", () => {
    const f = load("stream");
    const s = new StreamState();
    s.reset(f.initial.view.agents);
    for (const m of f.messages) s.apply(m);
    // what a column draws: the segments that came, joined by the kernel's rule
    const transcript = (key) => {
      const segs = [];
      for (const g of s.agents.get(key).pending) appendSegment(segs, g);
      return segs;
    };
    for (const a of f.final.agents) {
      expect(transcript(a.key)).toEqual(a.segs);
      const { segs, ...meta } = a;
      expect(s.agents.get(a.key).meta).toEqual(meta);
    }
    const a0 = f.final.agents.find((a) => a.label === "a0");
    expect(joinText(transcript(a0.key))).toBe(Array.from({ length: 60 }, (_, k) => `t${k} `).join(""));
  });

  it("timeline", () => {
    const f = load("timeline");
    const s = new TimelineState();
    s.reset(f.initial.view);
    expect(f.messages.some((m) => m.spans && m.spans.$rows)).toBe(true); // the wire form
    for (const m of f.messages) s.apply(expandRows(m));
    expect([...s.lanes.keys()].sort()).toEqual(f.final.lanes.map((l) => l.key).sort());
    expect(Object.fromEntries([...s.spans].map(([k, v]) => [String(k), v]))).toEqual(Object.fromEntries(f.final.spans.map((x) => [String(x.id), x])));
    expect(Object.fromEntries(s.calls)).toEqual(Object.fromEntries(f.final.llm.map((x) => [x.id, x])));
    expect(s.links).toEqual(f.final.links);
    expect(s.nMarks).toBe(f.final.marks.length);
  });

  it("sequence", () => {
    const f = load("sequence");
    const s = new SequenceState();
    s.reset(f.initial.view);
    // the wire form where a delta's arrows have the same fields (calls and replies differ)
    expect(f.messages.some((m) => m.parts && m.parts.$rows)).toBe(true);
    for (const m of f.messages) s.apply(expandRows(m));
    expect(s.order.map((id) => s.arrows.get(id))).toEqual(f.final.arrows);
    expect(Object.fromEntries(s.parts)).toEqual(Object.fromEntries(f.final.parts.map((p) => [p.key, p])));
    expect(s.t0).toBe(f.final.t0); // a view that followed from the start counts times from where the kernel does
  });
});
