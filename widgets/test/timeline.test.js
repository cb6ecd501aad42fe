import { describe, it, expect, beforeEach } from "vitest";
import timeline, { TimelineState, tickRuns, uniqueLinks } from "../src/timeline.js";
import { fakeModel, fakeKernel, frame, delta } from "./fake-model.js";

const lane = (key, parent, order, kind = "agent") => ({ key, parent, label: key.split("/").pop(), kind, order });

function view() {
  return {
    t0: 0, now: 2,
    lanes: [lane("#1", null, 1, "supervisor"), lane("#1/w", "#1", 2)],
    spans: [{ id: 1, lane: "#1", t0: 0, t1: null, end: null, reason: null },
      { id: 2, lane: "#1/w", t0: 0.1, t1: 1.0, end: "killed", reason: "killed" },
      { id: 3, lane: "#1/w", t0: 1.01, t1: null, end: null, reason: null }],
    llm: [{ id: "llm-1", kind: "llm", lane: "#1/w", t0: 1.2, tf: 1.4, t1: 1.9, ttft: 0.2, status: "ok", model: "m", name: null, tokens: 30 }],
    marks: [{ lane: "#1/w", t: 1.0, kind: "killed", text: "killed" }, { lane: "#1", t: 1.0, kind: "restart", text: "w" }],
    links: [{ from: "#1", to: "#1/w", t: 1.0, t2: 1.01, pid: 3 }],
    budget: [{ lane: "#1", t: 1.0, n: 1, max: 3, period: 5 }],
  };
}

async function mount(v, config = {}) {
  const model = fakeModel({ config: { view: "timeline", live: false, title: "Timeline", window: 20, collapse: 50, ...config }, snapshot: { seq: 1, view: v } });
  const kernel = fakeKernel({});
  const el = document.createElement("div");
  document.body.append(el);
  await timeline.render({ model, el, experimental: kernel.experimental });
  await frame();
  return { model, el };
}

describe("timeline", () => {
  beforeEach(() => { document.body.innerHTML = ""; });

  it("draws lifetimes, the crash, the restart link, the LLM span and the budget", async () => {
    const { el } = await mount(view());
    const svg = el.querySelector('[data-role="timeline"]');
    expect(svg.getAttribute("data-lanes")).toBe("2");
    expect(svg.querySelectorAll(".al-span").length).toBe(3);
    expect(svg.querySelectorAll(".al-life-dead").length).toBe(1);
    expect(svg.querySelector('[data-kind="killed"]')).not.toBeNull();
    expect(svg.querySelector('[data-kind="restart-link"]')).not.toBeNull();
    expect(svg.querySelector('[data-call="llm-1"]')).not.toBeNull();
    expect(svg.querySelector(".al-tl-meter-fill")).not.toBeNull();
  });

  it("zooms and pans with its buttons", async () => {
    const { el } = await mount(view());
    const range = el.querySelector('[data-role="range"]');
    const before = range.textContent;
    el.querySelector('[data-action="zoom-in"]').click();
    await frame();
    expect(range.textContent).not.toBe(before);
    el.querySelector('[data-action="fit"]').click();
    await frame();
    expect(el.querySelector('[data-action="follow"]').getAttribute("aria-pressed")).toBe("false");
  });

  it("takes new items from deltas and highlights linked LLM calls", async () => {
    const { el, model } = await mount(view());
    model.receive(delta(2, { now: 3, llm: { "llm-2": { id: "llm-2", kind: "llm", lane: "#1/w", t0: 2.1, tf: null, t1: null, ttft: null, status: "open", model: "m", name: null, tokens: null } } }));
    model.receive({ type: "highlight", llm: ["llm-2"] });
    await frame();
    expect(el.querySelector('[data-call="llm-2"]').getAttribute("class")).toContain("al-hl-span");
  });

  it("folds the children of a big supervisor into one lane", () => {
    const s = new TimelineState();
    const lanes = [lane("#1", null, 1, "supervisor")];
    for (let i = 0; i < 80; i++) lanes.push(lane(`#1/c${i}`, "#1", i + 2));
    s.reset({ t0: 0, now: 1, lanes });
    const rows = s.rows(50, new Set());
    expect(rows.map((r) => r.key)).toEqual(["#1", "agg:#1"]);
    expect(rows[1].count).toBe(80);
    expect(s.rows(50, new Set(["#1"])).length).toBe(81);
  });

  it("puts a crash storm's dense marks and links on the canvas, with one hover area per row", async () => {
    const v = view();
    v.lanes = [lane("#1", null, 1, "supervisor"), lane("#1/w", "#1", 2)];
    v.marks = [];
    v.links = [];
    for (let i = 0; i < 100; i++) {
      v.marks.push({ lane: "#1/w", t: 0.5 + i * 0.01, kind: "killed", text: "killed" });
      v.links.push({ from: "#1", to: "#1/w", t: 0.5 + i * 0.01, t2: 0.505 + i * 0.01, pid: 10 + i });
    }
    const { el } = await mount(v);
    const svg = el.querySelector('[data-role="timeline"]');
    expect(svg.querySelectorAll('[data-kind="restart-link"]').length).toBe(0);
    expect(svg.getAttribute("data-dense-links")).toBe("100");
    const hit = svg.querySelector('[data-kind="ticks"]');
    expect(hit.getAttribute("data-count")).toBe("100");
    expect(hit.getAttribute("data-kinds")).toBe("killed");
    expect(svg.querySelectorAll('[data-kind="killed"]').length).toBe(0); // no element per mark
    expect(el.querySelector('canvas[data-role="dense"]')).not.toBeNull();
  });

  it("draws a few marks and links as elements (each with its tooltip)", async () => {
    const { el } = await mount(view());
    const svg = el.querySelector('[data-role="timeline"]');
    expect(svg.getAttribute("data-dense-links")).toBe("0");
    expect(svg.querySelector('[data-kind="ticks"]')).toBeNull();
  });

  it("draws dense ticks as runs of pixel columns that cover every tick, and each link route once", () => {
    const ticks = [
      { kind: "restart", y: 30, xs: [200.2, 200.4, 201.3, 202, 250, 250.4, 399.6] },
      { kind: "killed", y: 30, xs: [210] },
      { kind: "restart", y: 50, xs: [] },
    ];
    const runs = tickRuns(ticks, "restart", 400);
    expect(runs).toEqual([[200, 202, 30], [250, 250, 30], [400, 400, 30]]);
    // every tick's column is inside a run of its row
    for (const x of ticks[0].xs) expect(runs.some(([a, b, y]) => y === 30 && Math.round(x) >= a && Math.round(x) <= b)).toBe(true);
    expect(tickRuns(ticks, "killed", 400)).toEqual([[210, 210, 30]]);
    expect(tickRuns(ticks, "crash", 400)).toEqual([]);
    const links = [[10.1, 20, 12, 40], [10.2, 20, 12.3, 40], [11, 20, 13, 40], [10, 40, 12, 60]];
    expect(uniqueLinks(links)).toEqual([links[0], links[2], links[3]]);
  });
});
