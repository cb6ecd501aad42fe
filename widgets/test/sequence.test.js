import { describe, it, expect, beforeEach } from "vitest";
import sequence from "../src/sequence.js";
import { fakeModel, fakeKernel, frame, delta } from "./fake-model.js";

const part = (key, order) => ({ key, label: key.replace("#", "p"), order, kind: "agent" });
const arrow = (id, kind, from, to, extra = {}) => ({ id, kind, from, to, t: id / 10, label: "", llm: [], ...extra });

async function mount(answers = {}) {
  const v = { parts: [part("#1", 0), part("#2", 1), part("#3", 2)],
    arrows: [arrow(1, "call", "#1", "#2", { label: "'plan'", llm: ["llm-4"] }), arrow(2, "reply", "#2", "#1", { label: "12 ms", reply_to: 1, lat: 0.012, llm: ["llm-4"] }), arrow(3, "exit", "#3", "#2", { label: "kill" })] };
  const model = fakeModel({ config: { view: "sequence", live: true, title: "Message sequence" }, snapshot: { seq: 1, view: v } });
  const kernel = fakeKernel({ resync: () => ({ seq: 1, view: v }), ...answers });
  const el = document.createElement("div");
  document.body.append(el);
  await sequence.render({ model, el, experimental: kernel.experimental });
  await frame();
  return { model, el, kernel };
}

describe("sequence diagram", () => {
  beforeEach(() => { document.body.innerHTML = ""; });

  it("draws one row per message with its kind", async () => {
    const { el, model } = await mount();
    const kinds = () => [...el.querySelectorAll("[data-arrow]")].map((g) => g.getAttribute("data-kind"));
    expect(kinds()).toEqual(["call", "reply", "exit"]);
    model.receive(delta(2, { arrows: { 4: arrow(4, "down", "#2", "#1", { label: "killed" }) } }));
    await frame();
    expect(kinds()).toEqual(["call", "reply", "exit", "down"]);
    expect(el.querySelector('[data-role="count"]').textContent).toBe("4 messages");
  });

  it("filters by process", async () => {
    const { el } = await mount();
    el.querySelector('[data-action="toggle-part"][data-key="#3"]').click();
    await frame();
    expect([...el.querySelectorAll("[data-arrow]")].map((g) => g.getAttribute("data-kind"))).toEqual(["exit"]);
    el.querySelector('[data-action="clear-filter"]').click();
    await frame();
    expect(el.querySelectorAll("[data-arrow]").length).toBe(3);
  });

  it("shows the LLM call behind an arrow and tells linked views", async () => {
    const { el, kernel } = await mount({
      select: () => ({ ok: true }),
      cmd_details: () => ({ ok: true, details: { id: 1, llm_calls: [{ id: "llm-4", model: "m", ttft: 0.2, t0: 1, t1: 2, tokens: 12, cost: 0.001, status: "ok" }] } }),
    });
    el.querySelector('[data-arrow="1"]').dispatchEvent(new MouseEvent("click", { bubbles: true }));
    await frame();
    const panel = el.querySelector('[data-role="details"]');
    expect(panel.hidden).toBe(false);
    expect(panel.querySelector("[data-llm='llm-4']").textContent).toContain("TTFT 200 ms");
    expect(kernel.calls.find((c) => c.name === "select").msg).toEqual({ key: "#2", llm: ["llm-4"], view: "sequence" });
    expect(panel.querySelector('[data-role="details-error"]')).toBeNull();
  });

  it("says so when the details or the link to the other views fail", async () => {
    // no kernel answer for either: the click must not look as if nothing happened
    const { el } = await mount();
    el.querySelector('[data-arrow="1"]').dispatchEvent(new MouseEvent("click", { bubbles: true }));
    await frame();
    const panel = el.querySelector('[data-role="details"]');
    expect(panel.hidden).toBe(false);
    expect(panel.querySelector('[data-role="details-error"]').textContent).toBe("details unavailable: no answer for cmd_details");
    expect(el.querySelector('[data-role="note"]').textContent).toBe("cannot show it in the other views: no answer for select");
    // the kernel answers, and says why it has nothing
    const { el: el2 } = await mount({
      select: () => ({ ok: true }),
      cmd_details: () => ({ ok: false, error: "message 3 is no longer kept" }),
    });
    el2.querySelector('[data-arrow="3"]').dispatchEvent(new MouseEvent("click", { bubbles: true }));
    await frame();
    expect(el2.querySelector('[data-role="details-error"]').textContent).toBe("details unavailable: message 3 is no longer kept");
    expect(el2.querySelector('[data-role="note"]').textContent).toBe("");
  });
});

describe("sequence diagram redraws in place", () => {
  beforeEach(() => { document.body.innerHTML = ""; });

  const rows = (el) => [...el.querySelectorAll("[data-arrow]")];

  it("keeps the rows and heads already drawn when a message arrives", async () => {
    const { el, model } = await mount();
    const before = rows(el);
    const heads = [...el.querySelectorAll('[data-action="toggle-part"]')];
    model.receive(delta(2, { arrows: { 4: arrow(4, "cast", "#1", "#3", { label: "'go'" }) } }));
    await frame();
    expect(el.querySelector('[data-role="count"]').textContent).toBe("4 messages");
    const after = rows(el);
    expect(after.slice(0, 3)).toEqual(before); // the same elements
    expect(after[3].getAttribute("data-kind")).toBe("cast");
    expect(after[3].querySelector(".al-label").textContent).toBe("cast 'go'");
    expect(after[3].getAttribute("class")).toContain("al-arrow-cast");
    expect([...el.querySelectorAll('[data-action="toggle-part"]')]).toEqual(heads);
    // a changed message is redrawn in its element
    model.receive(delta(3, { arrows: { 4: arrow(4, "cast", "#1", "#2", { label: "'again'" }) } }));
    await frame();
    expect(rows(el)[3]).toBe(after[3]);
    expect(after[3].querySelector(".al-label").textContent).toBe("cast 'again'");
  });

  it("draws a message to itself as a loop, and a filtered list in order", async () => {
    const { el, model } = await mount();
    model.receive(delta(2, { arrows: { 4: arrow(4, "send", "#2", "#2", { label: "tick" }) } }));
    await frame();
    const loop = el.querySelector('[data-arrow="4"] .al-line');
    expect(loop.localName).toBe("path");
    expect(el.querySelector('[data-arrow="1"] .al-line').localName).toBe("line");
    el.querySelector('[data-action="toggle-part"][data-key="#3"]').click();
    await frame();
    expect(rows(el).map((g) => g.getAttribute("data-arrow"))).toEqual(["3"]);
    el.querySelector('[data-action="clear-filter"]').click();
    await frame();
    expect(rows(el).map((g) => g.getAttribute("data-arrow"))).toEqual(["1", "2", "3", "4"]);
    // the selection is a class on the row, set and cleared in place
    const row1 = el.querySelector('[data-arrow="1"]');
    row1.dispatchEvent(new MouseEvent("click", { bubbles: true }));
    await frame();
    expect(el.querySelector('[data-arrow="1"]')).toBe(row1);
    expect(row1.getAttribute("class")).toContain("al-selected");
  });
});

describe("sequence diagram with many processes", () => {
  beforeEach(() => { document.body.innerHTML = ""; });

  /** 40 processes, the first killing each of them once, drawn. */
  async function forty() {
    const parts = Array.from({ length: 40 }, (_, i) => part(`#${i}`, i));
    const arrows = Array.from({ length: 40 }, (_, i) => arrow(i + 1, "exit", "#0", `#${i}`, { label: "kill" }));
    const model = fakeModel({ config: { view: "sequence", live: false, title: "m" }, snapshot: { seq: 1, view: { parts, arrows } } });
    const el = document.createElement("div");
    document.body.append(el);
    await sequence.render({ model, el, experimental: fakeKernel({}).experimental });
    await frame();
    return { model, el };
  }

  it("keeps the recent lifelines and folds the rest into one column", async () => {
    const { el } = await forty();
    const heads = [...el.querySelectorAll('[data-action="toggle-part"]')];
    expect(heads.length).toBe(16);
    expect(heads.at(-1).getAttribute("data-kind")).toBe("others");
    expect(heads.at(-1).textContent).toBe("25 others");
  });

  it("picks the newest arrows' lifelines in start order, and follows new arrows", async () => {
    const { model, el } = await forty();
    const keys = () => [...el.querySelectorAll('[data-action="toggle-part"]')].map((b) => b.getAttribute("data-key"));
    expect(keys()).toEqual(["#0", ...Array.from({ length: 14 }, (_, i) => `#${26 + i}`), "…others"]);
    model.receive(delta(2, { arrows: { 41: arrow(41, "exit", "#0", "#3", { label: "kill" }) } }));
    await frame();
    expect(keys()).toEqual(["#0", "#3", ...Array.from({ length: 13 }, (_, i) => `#${27 + i}`), "…others"]);
    expect(el.querySelector('[data-action="toggle-part"][data-kind="others"]').textContent).toBe("25 others");
    // a filter still looks at every participant (after the test below's check)
    el.querySelector('[data-action="toggle-part"][data-key="#3"]').click();
    await frame();
    expect(keys()).toEqual(["#0", "#3"]);
  });

  it("inserts the head of a new column and removes the dropped one, moving no other", async () => {
    const { model, el } = await forty();
    const parts = el.querySelector('[data-role="participants"]');
    const before = new Map([...parts.children].map((b) => [b.getAttribute("data-key"), b]));
    const added = [];
    const removed = [];
    const mo = new MutationObserver((recs) => {
      for (const r of recs) {
        added.push(...[...r.addedNodes].map((n) => n.getAttribute("data-key")));
        removed.push(...[...r.removedNodes].map((n) => n.getAttribute("data-key")));
      }
    });
    mo.observe(parts, { childList: true });
    model.receive(delta(2, { arrows: { 41: arrow(41, "exit", "#0", "#3", { label: "kill" }) } }));
    await frame();
    mo.disconnect();
    expect(added).toEqual(["#3"]);
    expect(removed).toEqual(["#26"]);
    for (const b of parts.children) {
      const k = b.getAttribute("data-key");
      if (k !== "#3") expect(b).toBe(before.get(k));
    }
  });
});

describe("sequence diagram times", () => {
  beforeEach(() => { document.body.innerHTML = ""; });

  it("shows the same time for a message after the kernel trims older ones and a resync", async () => {
    const parts = [part("#1", 0), part("#2", 1)];
    const first = { parts, arrows: [arrow(1, "cast", "#1", "#2"), arrow(2, "cast", "#2", "#1"), arrow(3, "cast", "#1", "#2")], t0: 0.1 };
    // the kernel kept only the newest arrows (max_arrows): the run's times still count from 0.1
    const later = { parts, arrows: [arrow(3, "cast", "#1", "#2"), arrow(4, "cast", "#2", "#1")], t0: 0.1 };
    const model = fakeModel({ config: { view: "sequence", live: true, title: "Message sequence" }, snapshot: { seq: 1, view: first } });
    let answer = { seq: 1, view: first };
    const kernel = fakeKernel({ resync: () => answer });
    const el = document.createElement("div");
    document.body.append(el);
    await sequence.render({ model, el, experimental: kernel.experimental });
    await frame();
    const timeOf = (id) => el.querySelector(`[data-arrow="${id}"] .al-t`).textContent;
    expect(timeOf(3)).toBe("+0.200s");
    model.receive(delta(2, { arrows: { 1: null, 2: null, 4: arrow(4, "cast", "#2", "#1") } }));
    await frame();
    expect(timeOf(3)).toBe("+0.200s");
    answer = { seq: 5, view: later };
    model.receive(delta(5, { arrows: {} })); // 3 and 4 were lost: a gap, so a resync
    await frame();
    expect(kernel.calls.filter((c) => c.name === "resync").length).toBe(2);
    expect(timeOf(3)).toBe("+0.200s");
    expect(timeOf(4)).toBe("+0.300s");
  });
});
