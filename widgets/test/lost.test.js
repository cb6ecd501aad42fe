import { describe, it, expect, beforeEach } from "vitest";
import tree from "../src/tree.js";
import stream from "../src/stream.js";
import timeline from "../src/timeline.js";
import sequence from "../src/sequence.js";
import { fakeModel, fakeKernel, frame } from "./fake-model.js";

// what the kernel sends for a run recorded with a small capacity (agentlab/ui/_feed.py lost_note)
const LOST = {
  count: 320, before: 7.989,
  text: "⚠ 320 events of this run were lost (none after 7.99 s on the runtime's clock): what is shown may be incomplete",
  hint: "The recording dropped them (a Recorder past its capacity, ...)",
};
const VIEWS = {
  tree: [tree, { nodes: [], now: 10 }],
  stream: [stream, { agents: [], now: 10 }],
  timeline: [timeline, { lanes: [], spans: [], llm: [], marks: [], links: [], budget: [], t0: 7.989, now: 10 }],
  sequence: [sequence, { parts: [], arrows: [], t0: null, now: 10 }],
};

async function mount(kind, config) {
  const [view, v] = VIEWS[kind];
  const model = fakeModel({
    config: { view: kind, live: false, title: kind, collapse: 50, window: 20, recorded: { count: 77, cursor: 77, t0: 7.989, t1: 10 }, scrubber: true, ...config },
    snapshot: { seq: 0, view: { ...v, cursor: 77 } },
  });
  const el = document.createElement("div");
  document.body.append(el);
  const cleanup = await view.render({ model, el, experimental: fakeKernel({}).experimental });
  await frame();
  return { model, el, cleanup };
}

describe("a run that lost events", () => {
  beforeEach(() => { document.body.innerHTML = ""; });

  for (const kind of Object.keys(VIEWS)) {
    it(`says so in the ${kind} view, above what it shows`, async () => {
      const { el, cleanup } = await mount(kind, { lost: LOST });
      const note = el.querySelector('[data-role="lost"]');
      expect(note).not.toBeNull();
      expect(note.hidden).toBe(false);
      expect(note.textContent).toBe(LOST.text);
      expect(note.getAttribute("data-count")).toBe("320");
      expect(note.getAttribute("title")).toBe(LOST.hint);
      // between the header and the scrub bar / the body: seen before the picture
      const root = el.querySelector(".al-view");
      expect(note.parentElement).toBe(root);
      expect(note.previousElementSibling.classList.contains("al-header")).toBe(true);
      cleanup();
    });

    it(`says nothing in the ${kind} view of a run that lost none`, async () => {
      const { el } = await mount(kind, {});
      const note = el.querySelector('[data-role="lost"]');
      expect(note === null || note.hidden).toBe(true);
      expect(el.textContent).not.toContain("were lost");
    });
  }

  it("follows the config when it changes (the note comes and goes)", async () => {
    const { el, model } = await mount("tree", {});
    const note = () => el.querySelector('[data-role="lost"]');
    model.set("config", { ...model.get("config"), lost: LOST });
    expect(note().hidden).toBe(false);
    expect(note().textContent).toContain("320 events");
    model.set("config", { ...model.get("config"), lost: null });
    expect(note().hidden).toBe(true);
    expect(note().hasAttribute("data-count")).toBe(false);
  });
});
