import { describe, it, expect, beforeEach, vi } from "vitest";
import timeline, { TimelineState, tickRuns, uniqueLinks, grownSpan, tickStep, trimSlack, tipPosition, FOLLOW_AHEAD_MS } from "../src/timeline.js";
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

  it("shows a budget of intensity 0 that was given up over as full", async () => {
    const v = view();
    v.budget = [{ lane: "#1", t: 1.0, n: 1, max: 0, period: 5 }];
    const { el } = await mount(v);
    expect(el.querySelector(".al-tl-meter-fill").getAttribute("class")).toContain("al-full");
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
    // marks are shapes placed by a transform (no SVG text to lay out again on every step)
    const killed = svg.querySelector('[data-kind="killed"]');
    expect(killed.localName).toBe("path");
    expect(killed.getAttribute("transform")).toMatch(/^translate\(/);
    expect(svg.querySelector('[data-kind="restart"]').getAttribute("class")).toBe("al-mark al-mark-restart");
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

describe("timeline redraws in place", () => {
  beforeEach(() => { document.body.innerHTML = ""; });

  const svgOf = (el) => el.querySelector('[data-role="timeline"]');
  const byTip = (el, key) => svgOf(el).querySelector(`[data-tip="${key}"]`);

  it("keeps the elements of unchanged items and adds, updates and removes the others", async () => {
    const { el, model } = await mount(view());
    const svg = svgOf(el);
    const span2 = byTip(el, "s2");
    const call = svg.querySelector('[data-call="llm-1"]');
    const stripes = [...svg.querySelectorAll(".al-tl-row")];
    expect(span2.getAttribute("class")).toContain("al-life-dead");
    model.receive(delta(2, {
      now: 3,
      spans: { 3: { id: 3, lane: "#1/w", t0: 1.01, t1: 2.5, end: "crash", reason: "boom" }, 4: { id: 4, lane: "#1/w", t0: 2.6, t1: null, end: null, reason: null } },
    }));
    await frame();
    // the same elements, not new ones
    expect(byTip(el, "s2")).toBe(span2);
    expect(svg.querySelector('[data-call="llm-1"]')).toBe(call);
    expect([...svg.querySelectorAll(".al-tl-row")]).toEqual(stripes);
    // the DOM shows the new state
    expect(byTip(el, "s3").getAttribute("class")).toContain("al-life-dead");
    expect(byTip(el, "s4").getAttribute("class")).toContain("al-life");
    expect(svg.querySelectorAll(".al-span").length).toBe(4);
    model.receive(delta(3, { spans: { 4: null } }));
    await frame();
    expect(byTip(el, "s4")).toBeNull();
    expect(svg.querySelectorAll(".al-span").length).toBe(3);
    expect(byTip(el, "s2")).toBe(span2);
  });

  it("shows each item's own tooltip on hover", async () => {
    const { el } = await mount(view());
    const tip = el.querySelector('[data-role="tooltip"]');
    byTip(el, "s2").dispatchEvent(new MouseEvent("pointermove", { bubbles: true, clientX: 300, clientY: 50 }));
    expect(tip.hidden).toBe(false);
    expect(tip.textContent).toContain("<0.2.0>");
    expect(tip.textContent).toContain("exit: killed");
    svgOf(el).querySelector('[data-call="llm-1"]').dispatchEvent(new MouseEvent("pointermove", { bubbles: true }));
    expect(tip.textContent).toContain("LLM call llm-1");
    svgOf(el).querySelector('[data-kind="restart-link"]').dispatchEvent(new MouseEvent("pointermove", { bubbles: true }));
    expect(tip.textContent).toBe("restart of w as <0.3.0>");
    svgOf(el).querySelector('[data-kind="restart"]').dispatchEvent(new MouseEvent("pointermove", { bubbles: true }));
    expect(tip.textContent).toBe("restart at 1.000s\nw\nrestart budget: 1 of 3 in 5s");
  });

  it("does not leave a tooltip over the place of an item a draw removed, and keeps one up to date", async () => {
    const v = view();
    v.spans.push({ id: 4, lane: "#1/w", t0: 1.5, t1: 1.7, end: "crash", reason: "" }); // no reason known
    v.llm.push({ id: "tool:9:c1", kind: "tool", lane: "#1", t0: 1.0, tf: null, t1: 1.5, ttft: null, status: "ok", model: null, name: null, tokens: null });
    v.marks.push({ lane: "#1/w", t: 1.6, kind: "killed", text: "" });
    const { el, model } = await mount(v);
    const tip = el.querySelector('[data-role="tooltip"]');
    const hover = (sel) => svgOf(el).querySelector(sel).dispatchEvent(new MouseEvent("pointermove", { bubbles: true }));
    // what the kernel leaves out, the tooltip says so, or leaves out the line
    hover('[data-call="tool:9:c1"]');
    expect(tip.textContent).toBe("tool (no name)\n500 ms · ok");
    hover('[data-tip="#1/w 1.6 killed"]');
    expect(tip.textContent).toBe("killed at 1.600s");
    hover('[data-tip="s4"]');
    expect(tip.hidden).toBe(false);
    expect(tip.textContent).toContain("exit: crash");
    // the item goes (trimmed by the kernel, a reset): so does its tooltip, at the next draw
    model.receive(delta(2, { spans: { 4: null } }));
    await frame();
    expect(byTip(el, "s4")).toBeNull();
    expect(tip.hidden).toBe(true);
    // an item that stays: its tooltip follows what it is now
    hover('[data-call="llm-1"]');
    expect(tip.textContent).toContain("\nok");
    model.receive(delta(3, { llm: { "llm-1": { ...v.llm[0], status: "error" } } }));
    await frame();
    expect(tip.hidden).toBe(false);
    expect(tip.textContent).toContain("\nerror");
  });

  it("follows live time by moving the plot, not its items", async () => {
    const { el, model } = await mount(view(), { live: true, window: 1.9 });
    const svg = svgOf(el);
    const span2 = byTip(el, "s2");
    const moving = span2.parentNode.parentNode; // the layer's <g>, in the plot's moving frame
    const x = span2.getAttribute("x");
    const mark = svg.querySelector('[data-kind="killed"]');
    const at = mark.getAttribute("transform");
    const before = moving.getAttribute("transform");
    const now = svg.querySelector(".al-now");
    const nowX = now.getAttribute("x1");
    model.receive(delta(2, { now: 2.2 }));
    await frame();
    expect(byTip(el, "s2")).toBe(span2);
    expect(span2.getAttribute("x")).toBe(x); // the closed bar did not change
    expect(svg.querySelector('[data-kind="killed"]')).toBe(mark);
    expect(mark.getAttribute("transform")).toBe(at);
    expect(moving.getAttribute("transform")).not.toBe(before);
    expect(Number(now.getAttribute("x1"))).toBeGreaterThan(Number(nowX));
    // showing the whole run changes the scale: the same elements get new coordinates
    const width = span2.getAttribute("width");
    el.querySelector('[data-action="fit"]').click();
    await frame();
    expect(byTip(el, "s2")).toBe(span2);
    expect(span2.getAttribute("width")).not.toBe(width);
    expect(svg.querySelector('[data-kind="killed"]')).toBe(mark);
    expect(mark.getAttribute("transform")).not.toBe(at);
    expect(mark.getAttribute("class")).toBe("al-mark al-mark-killed");
  });

  it("reuses the row elements when it scrolls, and relabels them", async () => {
    const v = view();
    v.lanes = [lane("#1", null, 1, "supervisor")];
    for (let i = 0; i < 30; i++) v.lanes.push(lane(`#1/c${i}`, "#1", i + 2));
    v.spans = [];
    v.llm = [];
    v.marks = [];
    v.links = [];
    const { el } = await mount(v);
    const svg = svgOf(el);
    const labels = () => [...svg.querySelectorAll(".al-tl-label")];
    const first = labels();
    expect(first[0].textContent).toBe("▣ #1");
    const scroll = el.querySelector(".al-tl-scroll");
    scroll.scrollTop = 5 * 20;
    scroll.dispatchEvent(new Event("scroll"));
    await frame();
    const after = labels();
    expect(after[0]).toBe(first[0]);
    expect(after[0].textContent).toBe("c4");
    expect(svg.querySelector(".al-tl-row").getAttribute("data-lane")).toBe("#1/c4");
  });
});

describe("the follow window of a young run", () => {
  beforeEach(() => { document.body.innerHTML = ""; });

  it("is the run so far for a recorded run, and grows in steps for a live one", async () => {
    const v = view(); // now 2.0; a window of 20 s
    v.now = 2.05;
    const shown = async (config) => (await mount(v, config)).el.querySelector('[data-role="range"]').textContent;
    expect(await shown({ live: false })).toBe("2.05 s shown");
    expect(await shown({ live: true })).toBe("2.50 s shown");
  });

  it("grows in steps from the run's start, up to the window", () => {
    expect(grownSpan(0.9, 20)).toBe(1);
    expect(grownSpan(1, 20)).toBe(1);
    expect(grownSpan(1.01, 20)).toBe(1.2);
    expect(grownSpan(4.2, 20)).toBe(5);
    expect(grownSpan(13, 20)).toBe(15);
    expect(grownSpan(16, 20)).toBe(20);
    expect(grownSpan(19, 15)).toBe(15);
    expect(grownSpan(0, 20)).toBeCloseTo(0.001);
    // never more than a quarter of the window ahead of the run's age
    for (let a = 0.01; a < 20; a *= 1.07) {
      const s = grownSpan(a, 20);
      expect(s).toBeGreaterThanOrEqual(a);
      expect(s).toBeLessThanOrEqual(a * 1.34);
    }
  });
});

describe("timeline memory over a long live run", () => {
  it("keeps the newest max_items marks, links and budget reports, as the kernel does", () => {
    const s = new TimelineState(50); // config.max_items
    s.reset({ t0: 0, now: 0, lanes: [lane("#1", null, 1, "supervisor"), lane("#1/a", "#1", 2), lane("#1/b", "#1", 3)] });
    /** everything sent; the kernel keeps the newest max_items of each (deque(maxlen=max_items)) */
    const sent = { marks: [], links: [], budget: [] };
    let t = 0;
    for (let batch = 0; batch < 40; batch++) {
      const d = { now: t, marks: [], links: [], budget: [] };
      for (let i = 0; i < 7; i++) {
        t += 0.01;
        const child = i % 3 ? "#1/a" : "#1/b";
        d.marks.push({ lane: child, t, kind: "killed", text: "killed" }, { lane: "#1", t, kind: "restart", text: "a" });
        d.links.push({ from: "#1", to: child, t, t2: t + 0.001, pid: batch * 10 + i });
        d.budget.push({ lane: "#1", t, n: 1, max: 3, period: 5 });
      }
      for (const k of ["marks", "links", "budget"]) sent[k].push(...d[k]);
      s.apply(d);
    }
    const byTime = (x, y) => x.t - y.t || x.kind.localeCompare(y.kind);
    const flat = (m) => [...m.values()].flat().sort(byTime);
    const budget = [...s.budget.values()].flat();
    // the browser trims in batches (the kernel's trim_slack): it keeps the newest max_items
    // of each and at most the slack more (this bound was exactly max_items before)
    const slack = trimSlack(50);
    expect(slack).toBe(6); // agentlab/ui/_pending.py trim_slack(50)
    for (const n of [s.nMarks, s.links.length, budget.length]) {
      expect(n).toBeGreaterThanOrEqual(50);
      expect(n).toBeLessThanOrEqual(50 + slack);
    }
    expect(flat(s.marks)).toEqual(sent.marks.slice(-s.nMarks).sort(byTime));
    expect(s.links).toEqual(sent.links.slice(-s.links.length));
    expect(budget).toEqual(sent.budget.slice(-budget.length));
    // each lane's marks stay in time order (the view finds the ones in view by bisection)
    for (const a of s.marks.values()) for (let i = 1; i < a.length; i++) expect(a[i].t).toBeGreaterThanOrEqual(a[i - 1].t);
  });

  it("takes max_items from the config", async () => {
    const v = view();
    v.marks = [];
    const { el, model } = await mount(v, { max_items: 80 });
    model.receive(delta(2, { marks: Array.from({ length: 150 }, (_, i) => ({ lane: "#1/w", t: 0.5 + i / 200, kind: "killed", text: "killed" })) }));
    await frame();
    // a dense row: its hover area counts the marks in view, all of them kept ones
    expect(el.querySelector('[data-kind="ticks"]').getAttribute("data-count")).toBe("80");
  });
});

describe("timeline zoom limits", () => {
  beforeEach(() => { document.body.innerHTML = ""; });

  it("keeps the axis to a few ticks however far it is zoomed out", async () => {
    const { el } = await mount(view());
    el.querySelector('[data-action="fit"]').click(); // (or a pan, or ctrl+wheel: no longer following)
    const out = el.querySelector('[data-action="zoom-out"]');
    for (let i = 0; i < 22; i++) out.click(); // a trackpad pinch sends dozens of ctrl+wheel steps
    await frame();
    const svg = el.querySelector('[data-role="timeline"]');
    expect(svg.querySelectorAll(".al-tick").length).toBeGreaterThan(0);
    expect(svg.querySelectorAll(".al-tick").length).toBeLessThanOrEqual(20);
    // and the range stays a finite, positive time
    expect(el.querySelector('[data-role="range"]').textContent).toMatch(/^\d/);
  });

  it("picks a tick step that gives about one tick per 90 px at any span", () => {
    for (const span of [0.01, 1, 100, 1e4, 1e6, 1e9]) {
      const step = tickStep(span, 600);
      expect(span / step).toBeLessThanOrEqual(7);
      expect(span / step).toBeGreaterThanOrEqual(1);
    }
  });
});

describe("a live timeline with nothing new", () => {
  beforeEach(() => { document.body.innerHTML = ""; });

  it("follows the clock for a moment after news, then does not redraw (draws/s idle: 7.9 before, 0 now)", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "requestAnimationFrame", "cancelAnimationFrame", "performance"] });
    try {
      const draws = vi.spyOn(globalThis, "requestAnimationFrame"); // one per draw (the view's frame scheduler)
      const v = view();
      v.now = 30;
      const model = fakeModel({ config: { view: "timeline", live: true, title: "T", window: 20, collapse: 50 }, snapshot: { seq: 1, view: v } });
      const el = document.createElement("div");
      document.body.append(el);
      timeline.render({ model, el, experimental: fakeKernel({ resync: () => ({ seq: 1, view: v }) }).experimental });
      const moving = () => el.querySelector(".al-now").parentNode.getAttribute("transform"); // the plot's time frame
      const rate = async (ms) => {
        const n = draws.mock.calls.length;
        await vi.advanceTimersByTimeAsync(ms);
        return (draws.mock.calls.length - n) / (ms / 1000);
      };
      // the first moments: the view runs on from the kernel's `now` with the clock
      const x0 = moving();
      const first = await rate(FOLLOW_AHEAD_MS);
      expect(first).toBeGreaterThanOrEqual(5);
      expect(moving()).not.toBe(x0);
      await rate(500); // (the last draw of that run)
      // idle: nothing new from the kernel for ten seconds, no draw
      const x1 = moving();
      expect(await rate(10_000)).toBe(0);
      expect(moving()).toBe(x1);
      // news: it draws it, and follows the clock again for a moment
      model.receive(delta(2, { now: 31 }));
      expect(await rate(FOLLOW_AHEAD_MS)).toBeGreaterThanOrEqual(5);
      await rate(500);
      expect(await rate(10_000)).toBe(0);
      // not following (the user panned or zoomed to a time range): nothing moves, no draw
      el.querySelector('[data-action="fit"]').click();
      model.receive(delta(3, { now: 32 }));
      await rate(500);
      expect(await rate(5000)).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });
});


describe("timeline tooltip", () => {
  beforeEach(() => { document.body.innerHTML = ""; });

  it("goes above or left of the pointer where below or right it would cross the view's edge", () => {
    // (600 x 300 box, a 200 x 50 tooltip)
    expect(tipPosition(100, 100, 200, 50, 600, 300)).toEqual([112, 114]); // room: below right
    expect(tipPosition(100, 290, 200, 50, 600, 300)).toEqual([112, 232]); // bottom row: above
    expect(tipPosition(590, 100, 200, 50, 600, 300)).toEqual([378, 114]); // right edge: left
    expect(tipPosition(590, 290, 200, 50, 600, 300)).toEqual([378, 232]);
    expect(tipPosition(20, 20, 200, 50, 150, 60)).toEqual([0, 0]); // bigger than the box: from its top left
  });

  it("is placed inside the view from the pointer and its own size", async () => {
    const { el } = await mount(view());
    const tip = el.querySelector('[data-role="tooltip"]');
    const wrap = el.querySelector(".al-tl-wrap");
    wrap.getBoundingClientRect = () => ({ left: 10, top: 40, right: 610, bottom: 340, width: 600, height: 300, x: 10, y: 40 });
    Object.defineProperty(tip, "offsetWidth", { value: 220 });
    Object.defineProperty(tip, "offsetHeight", { value: 44 });
    const span = el.querySelector('[data-tip="s2"]');
    span.dispatchEvent(new MouseEvent("pointermove", { bubbles: true, clientX: 110, clientY: 90 }));
    expect([tip.style.left, tip.style.top]).toEqual(["112px", "64px"]);
    span.dispatchEvent(new MouseEvent("pointermove", { bubbles: true, clientX: 600, clientY: 335 }));
    expect(tip.hidden).toBe(false);
    expect([tip.style.left, tip.style.top]).toEqual(["358px", "243px"]); // up and left: inside
  });
});
