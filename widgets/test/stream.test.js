import { describe, it, expect, beforeEach } from "vitest";
import stream from "../src/stream.js";
import { fakeModel, fakeKernel, frame, delta } from "./fake-model.js";

const meta = (key, extra = {}) => ({ key, label: key, pid: 5, order: 1, tokens: 0, tps: 0, cost: 0, requests: 1, retries: 0, errors: 0, status: "streaming", model: "m", ...extra });

async function mount(agents = []) {
  const model = fakeModel({ config: { view: "stream", live: true, title: "Token streams" }, snapshot: { seq: 0, view: { agents } } });
  const kernel = fakeKernel({ resync: () => ({ seq: 0, view: { agents } }) });
  const el = document.createElement("div");
  document.body.append(el);
  await stream.render({ model, el, experimental: kernel.experimental });
  await frame();
  return { model, el };
}

describe("token streams", () => {
  beforeEach(() => { document.body.innerHTML = ""; });

  it("appends streamed text to one text node, in one column per agent", async () => {
    const { el, model } = await mount();
    model.receive(delta(1, { meta: { writer: meta("writer"), critic: meta("critic", { order: 2 }) }, segs: { writer: [{ t: "req", rid: "r1", model: "m", attempt: 1 }, { t: "text", s: "Hello" }], critic: [{ t: "text", s: "Hm" }] } }));
    await frame();
    const body = el.querySelector('[data-agent="writer"] [data-role="transcript"]');
    const span = body.querySelector(".al-text");
    model.receive(delta(2, { meta: { writer: meta("writer", { tokens: 7, tps: 3.5, cost: 0.0012 }) }, segs: { writer: [{ t: "text", s: ", world" }] } }));
    await frame();
    expect(body.querySelectorAll(".al-text").length).toBe(1);
    expect(body.querySelector(".al-text")).toBe(span);
    expect(span.textContent).toBe("Hello, world");
    expect(el.querySelectorAll(".al-col").length).toBe(2);
    const head = el.querySelector('[data-agent="writer"] .al-col-head');
    expect(head.querySelector('[data-role="tokens"]').textContent).toBe("7 tok");
    expect(head.querySelector('[data-role="cost"]').textContent).toBe("$0.00120");
  });

  it("updates a column's header in place as its counts tick", async () => {
    const { el, model } = await mount([meta("w", { tokens: 5, tps: 1, cost: 0.001 })]);
    const head = el.querySelector('[data-agent="w"] .al-col-head');
    const parts = [...head.querySelectorAll("*")];
    const tokens = head.querySelector('[data-role="tokens"]');
    const tokensText = tokens.firstChild;
    const modelText = head.querySelector(".al-col-model").firstChild;
    const added = [];
    const watch = new MutationObserver((rs) => { for (const r of rs) for (const n of r.addedNodes) if (n.nodeType === 1) added.push(n); });
    watch.observe(head, { childList: true, subtree: true });
    let seq = 0;
    for (let i = 1; i <= 5; i++) { // tokens/s and cost change on every frame of a stream
      model.receive(delta(++seq, { meta: { w: meta("w", { tokens: 5 + i * 10, tps: 1 + i, cost: 0.001 * (i + 1) }) } }));
      await frame();
    }
    expect(tokens.textContent).toBe("55 tok");
    expect(head.querySelector('[data-role="tps"]').textContent).toBe("6.0/s");
    expect(head.querySelector('[data-role="cost"]').textContent).toBe("$0.00600");
    // the same elements, and the text that did not change is the same text node
    expect([...head.querySelectorAll("*")]).toEqual(parts);
    expect(head.querySelector(".al-col-model").firstChild).toBe(modelText);
    expect(tokens.firstChild).toBe(tokensText);
    expect(added).toEqual([]);
    // retries and errors show when there are some; the status in the column and its dot
    model.receive(delta(++seq, { meta: { w: meta("w", { tokens: 55, retries: 2, errors: 1, status: "error" }) } }));
    await frame();
    const retries = head.querySelector('[data-role="retries"]');
    expect(retries.hidden).toBe(false);
    expect(retries.textContent).toBe("⟳2");
    expect(head.querySelector('[data-role="errors"]').textContent).toBe("⚠1");
    expect(el.querySelector('[data-agent="w"]').getAttribute("data-status")).toBe("error");
    expect(head.querySelector(".al-dot").getAttribute("class")).toBe("al-dot al-dot-error");
    model.receive(delta(++seq, { meta: { w: meta("w", { tokens: 55 }) } }));
    await frame();
    expect(retries.hidden).toBe(true);
    expect(head.querySelector('[data-role="errors"]').hidden).toBe(true);
    expect([...head.querySelectorAll("*")]).toEqual(parts);
    watch.disconnect();
  });

  it("puts tool calls, retries and errors inline where they happened", async () => {
    const { el, model } = await mount([meta("w")]);
    model.receive(delta(1, { segs: { w: [
      { t: "text", s: "Let me check. " },
      { t: "tool_call", id: "c1", name: "search", args: '{"q":', more: true },
      { t: "tool_call", id: "c1", args: ' "otp"}', more: true },
      { t: "tool_result", id: "c1", name: "search", result: "3 hits", error: false },
      { t: "error", error: "rate_limit", message: "429" },
      { t: "retry", attempt: 2, error: "rate_limit", delay: 0.5 },
      { t: "text", s: "Found it." },
    ] } }));
    await frame();
    const kinds = [...el.querySelectorAll('[data-role="transcript"] > *')].map((e) => e.getAttribute("data-seg") || "text");
    expect(kinds).toEqual(["text", "tool_call", "tool_result", "error", "retry", "text"]);
    expect(el.querySelector('[data-seg="tool_call"] .al-args').textContent).toBe('{"q": "otp"}');
    // a later delta continues the same tool call
    model.receive(delta(2, { segs: { w: [{ t: "text", s: " Done." }] } }));
    await frame();
    expect(el.querySelector('[data-role="transcript"]').lastElementChild.textContent).toBe("Found it. Done.");
  });

  it("marks where a restart and where a new process in the column begin, each in its words", async () => {
    const { el, model } = await mount([meta("w")]);
    model.receive(delta(1, { segs: { w: [
      { t: "text", s: "one" },
      { t: "exit", reason: "killed", class: "killed" },
      { t: "restart", pid: 7 },
      { t: "text", s: "two" },
      { t: "new", pid: 9 },
      { t: "text", s: "three" },
    ] } }));
    await frame();
    const body = el.querySelector('[data-role="transcript"]');
    const kinds = [...body.children].map((e) => e.getAttribute("data-seg") || "text");
    expect(kinds).toEqual(["text", "exit", "restart", "text", "new", "text"]);
    expect(body.querySelector('[data-seg="restart"]').textContent).toContain("restarted");
    const fresh = body.querySelector('[data-seg="new"]');
    expect(fresh.textContent).toContain("new process <0.9.0>");
    expect(fresh.textContent).not.toContain("restarted");
  });
});

describe("token streams over a long live run", () => {
  beforeEach(() => { document.body.innerHTML = ""; });

  it("drops the oldest elements of a column that makes many calls with little text", async () => {
    const { el, model } = await mount();
    model.receive(delta(1, { meta: { w: meta("w") } }));
    let seq = 1;
    for (let b = 0; b < 20; b++) {
      const segs = [];
      for (let i = 0; i < 50; i++) {
        segs.push({ t: "req", rid: `r${b}-${i}`, model: "m", attempt: 2 }, { t: "retry", attempt: 2, error: "RateLimited", delay: 0.5 },
          { t: "error", error: "RateLimited", message: "429" });
      }
      model.receive(delta(++seq, { segs: { w: segs } }));
      await new Promise((r) => setTimeout(r, 20));
    }
    await frame();
    const body = el.querySelector('[data-agent="w"] [data-role="transcript"]');
    expect(body.childElementCount).toBeLessThanOrEqual(1500);
    expect(body.lastElementChild.getAttribute("data-seg")).toBe("error"); // the newest stay
  });
});
