import { describe, it, expect, beforeEach } from "vitest";
import tree from "../src/tree.js";
import { fakeModel, fakeKernel, frame, delta } from "./fake-model.js";

const node = (key, extra = {}) => ({ key, pid: Number(key.replace(/\D/g, "")) || 1, label: key.split("/").pop(), kind: "agent", status: "running", order: 1, ...extra });

function team() {
  return [
    node("#1", { label: "team", kind: "supervisor", strategy: "one_for_one", budget: [1, 3, 5] }),
    node("#1/writer", { pid: 11, parent: "#1", order: 2 }),
    node("#1/critic", { pid: 12, parent: "#1", order: 3, status: "waiting", tps: 12.5 }),
  ];
}

async function mount(nodes, config = {}, answers = {}) {
  const model = fakeModel({ config: { view: "tree", live: true, title: "Supervision tree", collapse: 50, ...config }, snapshot: { seq: 1, view: { nodes } } });
  const kernel = fakeKernel({ resync: () => ({ seq: 1, view: { nodes } }), ...answers });
  const el = document.createElement("div");
  document.body.append(el);
  const cleanup = await tree.render({ model, el, experimental: kernel.experimental });
  await frame();
  return { model, kernel, el, cleanup };
}

describe("supervision tree", () => {
  beforeEach(() => { document.body.innerHTML = ""; });

  it("draws supervisors and workers with status, badges and stable attributes", async () => {
    const { el } = await mount(team());
    const rows = el.querySelectorAll(".al-tree .al-node");
    expect([...rows].map((r) => r.getAttribute("data-key"))).toEqual(["#1", "#1/writer", "#1/critic"]);
    const critic = el.querySelector('.al-node[data-key="#1/critic"]');
    expect(critic.getAttribute("data-status")).toBe("waiting");
    expect(critic.querySelector(".al-shape-waiting")).not.toBeNull();
    expect(critic.querySelector(".al-tps").textContent).toContain("12.5 tok/s");
    expect(el.querySelector('.al-node[data-key="#1"] .al-budget').textContent).toContain("1/3");
    expect(el.querySelector('[data-role="tree"]').getAttribute("data-count")).toBe("3");
    // every class the view uses is prefixed
    for (const e of el.querySelectorAll("[class]")) for (const c of e.classList) expect(c.startsWith("al-")).toBe(true);
  });

  it("kill button calls the kernel's kill command with the node", async () => {
    const { el, kernel } = await mount(team(), {}, { cmd_kill: () => ({ ok: true, pid: 11, name: "writer" }) });
    el.querySelector('.al-node[data-key="#1/writer"] [data-action="kill"]').click();
    await frame();
    expect(kernel.calls.find((c) => c.name === "cmd_kill").msg).toEqual({ key: "#1/writer", pid: 11 });
    expect(el.querySelector('[data-role="note"]').textContent).toContain("writer");
  });

  it("says so in the header when kill random cannot be sent, or kills nothing", async () => {
    // no kernel (a saved notebook opened without one, a static page): the command cannot go
    const model = fakeModel({ config: { view: "tree", live: true, title: "t", collapse: 50 }, snapshot: { seq: 1, view: { nodes: team() } } });
    const el = document.createElement("div");
    document.body.append(el);
    tree.render({ model, el });
    await frame();
    const note = el.querySelector('[data-role="note"]');
    const button = el.querySelector('[data-action="kill-random"]');
    expect(button.disabled).toBe(false);
    button.click();
    await frame();
    expect(note.textContent).toBe("kill random failed: no kernel connection");
    expect(note.getAttribute("data-kind")).toBe("warn");
    expect(button.getAttribute("data-state")).toBe("failed");
    // a kernel that cannot answer the command, and one that answers it killed nothing
    for (const [answers, text] of [
      [{}, "kill random failed: no answer for cmd_kill_random"],
      [{ cmd_kill_random: () => ({ ok: false, error: "no live worker to kill" }) }, "nothing killed: no live worker to kill"],
      [{ cmd_kill_random: () => ({ ok: true, pid: 12, name: "critic" }) }, "killed critic"],
    ]) {
      document.body.innerHTML = "";
      const { el: el2 } = await mount(team(), {}, answers);
      el2.querySelector('[data-action="kill-random"]').click();
      await frame();
      expect(el2.querySelector('[data-role="note"]').textContent).toBe(text);
    }
  });

  it("shows a restart: new pid, restart count, a flash", async () => {
    const { el, model } = await mount(team());
    model.receive(delta(2, { nodes: { "#1/writer": node("#1/writer", { pid: 21, parent: "#1", order: 2, restarts: 1, exit: "killed", exit_class: "killed" }) } }));
    await frame();
    await frame(); // the flash class goes on one frame later
    const row = el.querySelector('.al-node[data-key="#1/writer"]');
    expect(row.getAttribute("data-restarts")).toBe("1");
    expect(row.getAttribute("data-pid")).toBe("21");
    expect(row.classList.contains("al-flash-restart")).toBe(true);
    expect(row.querySelector(".al-restarts").textContent).toContain("1");
  });

  it("collapses a large supervisor into one group until expanded", async () => {
    const nodes = [node("#1", { label: "pool", kind: "supervisor" })];
    for (let i = 0; i < 120; i++) nodes.push(node(`#1/w${i}`, { pid: 100 + i, parent: "#1", order: i + 2, status: i < 3 ? "crashed" : "running" }));
    const { el } = await mount(nodes, { collapse: 50 });
    const group = el.querySelector('.al-group[data-key="#1"]');
    expect(group.getAttribute("data-count")).toBe("120");
    expect(group.querySelector('[data-status="crashed"]').textContent).toContain("3");
    expect(el.querySelectorAll(".al-chip").length).toBe(0);
    group.querySelector('button[data-action="expand"]').click();
    await frame();
    expect(el.querySelectorAll(".al-chip").length).toBe(120);
    expect(el.querySelectorAll('.al-chip[data-status="crashed"]').length).toBe(3);
  });

  it("opens details with the exit reason and traceback from the kernel", async () => {
    const nodes = team();
    nodes[1] = { ...nodes[1], status: "crashed", exit: "ValueError: bad", exit_class: "crash" };
    const { el, kernel } = await mount(nodes, {}, {
      select: () => ({ ok: true }),
      cmd_details: () => ({ ok: true, details: { key: "#1/writer", supervisor_path: "team", exit_detail: { type: "ValueError", message: "bad", traceback: "Traceback ...\nValueError: bad" }, history: [[0.1, "exit", "ValueError: bad"]] } }),
    });
    el.querySelector('.al-node[data-key="#1/writer"] .al-name').click();
    await frame();
    const panel = el.querySelector('[data-role="details"]');
    expect(panel.hidden).toBe(false);
    expect(panel.querySelector('[data-role="exit-reason"]').textContent).toBe("ValueError: bad");
    expect(panel.querySelector('[data-role="traceback"]').textContent).toContain("Traceback");
    expect(panel.textContent).toContain("team");
    expect(kernel.calls.map((c) => c.name)).toContain("select");
    expect(panel.querySelector('[data-role="details-error"]')).toBeNull();
  });

  it("says so when the details or the link to the other views fail", async () => {
    const { el } = await mount(team(), {}, {}); // no answer from the kernel for either
    el.querySelector('.al-node[data-key="#1/writer"] .al-name').click();
    await frame();
    const panel = el.querySelector('[data-role="details"]');
    expect(panel.querySelector('[data-role="details-error"]').textContent).toBe("details unavailable: no answer for cmd_details");
    expect(el.querySelector('[data-role="note"]').textContent).toBe("cannot show it in the other views: no answer for select");
    const { el: el2 } = await mount(team(), {}, {
      select: () => ({ ok: true }),
      cmd_details: () => ({ ok: false, error: "no node '#1/writer'" }),
    });
    el2.querySelector('.al-node[data-key="#1/writer"] .al-name').click();
    await frame();
    expect(el2.querySelector('[data-role="details-error"]').textContent).toBe("details unavailable: no node '#1/writer'");
  });

  it("asks for a snapshot when a delta is missing", async () => {
    const fresh = [...team(), node("#1/extra", { pid: 30, parent: "#1", order: 9 })];
    const { el, model, kernel } = await mount(team(), {}, {});
    kernel.calls.length = 0;
    const answers = { resync: () => ({ seq: 7, view: { nodes: fresh } }) };
    Object.assign(kernel.experimental, fakeKernel(answers).experimental);
    model.receive(delta(5, { nodes: {} }));
    await frame();
    expect(el.querySelector('.al-node[data-key="#1/extra"]')).not.toBeNull();
  });

  it("shows the budget of a supervisor of intensity 0 that gave up as full", async () => {
    // intensity 0 allows no restart: the one it reports giving up over is all of its budget
    const nodes = team();
    nodes[0] = node("#1", { label: "team", kind: "supervisor", status: "stopped", strategy: "one_for_one", budget: [1, 0, 5], gave_up: true });
    const { el } = await mount(nodes);
    const budget = el.querySelector('.al-node[data-key="#1"] .al-budget');
    expect(budget.getAttribute("data-level")).toBe("full");
    expect(budget.textContent).toContain("1/0");
  });

  it("updates rows in place: the same elements, only what changed rewritten, badges added and removed", async () => {
    const { el, model } = await mount(team());
    const row = el.querySelector('.al-node[data-key="#1"]');
    const budget = row.querySelector(".al-budget");
    const pidText = row.querySelector(".al-pid").firstChild;
    const summary = el.querySelector('[data-role="summary"] .al-counts');
    model.receive(delta(2, { nodes: { "#1": node("#1", { label: "team", kind: "supervisor", strategy: "one_for_one", budget: [2, 3, 5] }) } }));
    await frame();
    // the row, its badge and its unchanged text node are the ones drawn first
    expect(el.querySelector('.al-node[data-key="#1"]')).toBe(row);
    expect(row.querySelector(".al-budget")).toBe(budget);
    expect(row.querySelector(".al-pid").firstChild).toBe(pidText);
    expect(budget.textContent).toContain("2/3");
    expect(budget.getAttribute("data-level")).toBe("high");
    expect(el.querySelector('[data-role="summary"] .al-counts')).toBe(summary);
    // a badge shows when it has something to say, in its place, and goes when it has not
    model.receive(delta(3, { nodes: { "#1/writer": node("#1/writer", { pid: 21, parent: "#1", order: 2, restarts: 1, mailbox: 4, status: "crashed", exit: "killed" }) } }));
    await frame();
    const writer = el.querySelector('.al-node[data-key="#1/writer"]');
    expect([...writer.querySelector(".al-meta").children].map((b) => b.classList[b.classList.length - 1])).toEqual(["al-restarts", "al-mailbox", "al-exit"]);
    expect(el.querySelector('[data-role="summary"] [data-status="crashed"]').textContent).toContain("1 crashed");
    model.receive(delta(4, { nodes: { "#1/writer": node("#1/writer", { pid: 21, parent: "#1", order: 2, restarts: 1 }) } }));
    await frame();
    expect(writer.querySelector(".al-mailbox")).toBeNull();
    expect(writer.querySelector(".al-exit")).toBeNull();
    expect(writer.querySelector(".al-restarts").textContent).toContain("1");
    expect(el.querySelector('[data-role="summary"] [data-status="crashed"]')).toBeNull();
    expect(el.querySelector('[data-role="summary"]').textContent).toContain("2 running");
  });

  it("keeps a group row and updates its counts in place when its children change", async () => {
    const kid = (i, extra = {}) => node(`#1/w${i}`, { pid: 100 + i, parent: "#1", order: i + 2, ...extra });
    const nodes = [node("#1", { label: "pool", kind: "supervisor" })];
    for (let i = 0; i < 120; i++) nodes.push(kid(i));
    const { el, model } = await mount(nodes, { collapse: 50 });
    const group = el.querySelector('.al-group[data-key="#1"]');
    expect(group.querySelector('[data-status="crashed"]')).toBeNull();
    model.receive(delta(2, { nodes: { "#1/w5": kid(5, { status: "crashed", exit: "killed" }), "#1/w6": kid(6, { status: "crashed", exit: "killed" }) } }));
    await frame();
    expect(el.querySelector('.al-group[data-key="#1"]')).toBe(group);
    expect(group.querySelector('.al-counts [data-status="crashed"]').textContent).toContain("2");
    expect(group.querySelector('.al-counts [data-status="running"]').textContent).toContain("118");
    expect(group.querySelector('.al-stack-part[data-status="crashed"]').style.flexGrow).toBe("2");
    // a restart storm: the workers come back; the counts follow, the row stays
    model.receive(delta(3, { nodes: { "#1/w5": kid(5, { restarts: 1 }), "#1/w6": kid(6, { restarts: 1 }), "#1/w120": kid(120) } }));
    await frame();
    expect(el.querySelector('.al-group[data-key="#1"]')).toBe(group);
    expect(group.getAttribute("data-count")).toBe("121");
    expect(group.querySelector('[data-status="crashed"]')).toBeNull();
    expect(group.textContent).toContain("121 children");
    // expanding still draws the chips, and the group row says collapse
    group.querySelector('button[data-action="expand"]').click();
    await frame();
    expect(el.querySelectorAll(".al-chip").length).toBe(121);
    expect(el.querySelector('.al-group[data-key="#1"] button[data-action="expand"]').textContent).toBe("collapse");
  });

  it("cleans up its listeners", async () => {
    const { model, cleanup } = await mount(team());
    expect(model.listeners("msg:custom")).toBe(1);
    expect(model.listeners("change:config")).toBe(1);
    cleanup();
    expect(model.listeners("msg:custom")).toBe(0);
    expect(model.listeners("change:config")).toBe(0);
  });

  it("says when the runtime it follows was shut down", async () => {
    const { el, model } = await mount(team(), { live: true });
    const live = el.querySelector('[data-role="live"]');
    expect([live.textContent, live.getAttribute("data-state")]).toEqual(["● live", "live"]);
    model.set("config", { ...model.get("config"), ended: true }); // the kernel saw it closed
    expect([live.textContent, live.getAttribute("data-state")]).toEqual(["◼ ended", "ended"]);
    expect(live.title).toContain("shut down");
  });
});

describe("supervision tree over a long live run", () => {
  beforeEach(() => { document.body.innerHTML = ""; });

  for (const expand of [false, true]) {
    it(`forgets the elements of nodes the kernel removed${expand ? " (chips)" : ""}`, async () => {
      const nodes = [node("#1", { label: "pool", kind: "supervisor" })];
      for (let i = 0; i < 60; i++) nodes.push(node(`#1/w${i}`, { pid: 100 + i, parent: "#1", order: i + 2 }));
      const { el, model } = await mount(expand ? nodes : nodes.slice(0, 11), { collapse: 50 });
      if (expand) {
        el.querySelector('.al-group[data-key="#1"] button[data-action="expand"]').click();
        await frame();
      }
      const list = el.querySelector('[data-role="tree"]');
      let seq = 1;
      let pid = 1000;
      // short-lived workers come and go (the kernel removes dead nodes past max_dead)
      for (let round = 0; round < 6; round++) {
        const born = {};
        for (let i = 0; i < 20; i++) born[`#1/t${pid}`] = node(`#1/t${pid}`, { pid: pid++, parent: "#1", order: 1000 + pid });
        model.receive(delta(++seq, { nodes: born }));
        await frame();
        model.receive(delta(++seq, { nodes: Object.fromEntries(Object.keys(born).map((k) => [k, null])) }));
        await frame();
      }
      expect(list.getAttribute("data-count")).toBe(String(expand ? 61 : 11));
      expect(list.getAttribute("data-elements")).toBe(String(expand ? 61 : 11)); // a row or chip each
    });
  }
});

describe("a node another view picks", () => {
  beforeEach(() => { document.body.innerHTML = ""; });

  function pools() {
    const nodes = [node("#1", { label: "team", kind: "supervisor" }), node("#1/pool", { pid: 2, parent: "#1", kind: "supervisor", order: 2 })];
    for (let i = 0; i < 60; i++) nodes.push(node(`#1/pool/w${i}`, { pid: 100 + i, parent: "#1/pool", order: i + 3 }));
    return nodes;
  }

  it("expands the collapsed group that holds it, and flashes its chip", async () => {
    const { el, model } = await mount(pools(), { collapse: 50 });
    expect(el.querySelector('.al-group[data-key="#1/pool"] button[data-action="expand"]').textContent).toBe("expand");
    expect(el.querySelector('[data-key="#1/pool/w42"]')).toBeNull();
    model.receive({ type: "highlight", key: "#1/pool/w42" });
    await frame();
    const chip = el.querySelector('.al-chip[data-key="#1/pool/w42"]');
    expect(chip).not.toBeNull();
    expect(chip.classList.contains("al-hl")).toBe(true);
    expect(el.querySelector('.al-group[data-key="#1/pool"] button[data-action="expand"]').textContent).toBe("collapse");
  });

  it("unfolds the ancestors the user folded", async () => {
    const { el, model } = await mount(team());
    el.querySelector('.al-node[data-key="#1"] [data-action="fold"]').click();
    await frame();
    expect(el.querySelector('.al-node[data-key="#1/critic"]')).toBeNull();
    model.receive({ type: "highlight", key: "#1/critic" });
    await frame();
    const row = el.querySelector('.al-node[data-key="#1/critic"]');
    expect(row.classList.contains("al-hl")).toBe(true);
    expect(el.querySelector('.al-node[data-key="#1"] .al-twisty').textContent).toBe("▾");
  });

  it("flashes the chip that holds it when rows below a chip are not drawn, and says which child", async () => {
    // a supervisor among 60 siblings is a chip: its own worker has no row to show
    const nodes = pools();
    nodes.push(node("#1/pool/w7/x", { pid: 900, label: "x", parent: "#1/pool/w7", order: 99 }));
    nodes[9] = { ...nodes[9], kind: "supervisor" };
    expect(nodes[9].key).toBe("#1/pool/w7");
    const { el, model } = await mount(nodes, { collapse: 50 });
    model.receive({ type: "highlight", key: "#1/pool/w7/x" });
    await frame();
    const chip = el.querySelector('.al-chip[data-key="#1/pool/w7"]');
    expect(chip.classList.contains("al-hl")).toBe(true);
    expect(chip.querySelector(".al-children")).toBeNull();
    expect(el.querySelector('[data-role="note"]').textContent).toBe("x <0.900.0> is inside w7 <0.107.0>");
  });
});

describe("folding", () => {
  beforeEach(() => { document.body.innerHTML = ""; });

  it("forgets the group rows of the subtree it folds away", async () => {
    const nodes = [node("#1", { label: "team", kind: "supervisor" }), node("#1/pool", { pid: 2, parent: "#1", kind: "supervisor", order: 2 })];
    for (let i = 0; i < 60; i++) nodes.push(node(`#1/pool/w${i}`, { pid: 100 + i, parent: "#1/pool", order: i + 3 }));
    const { el, model } = await mount(nodes, { collapse: 50 });
    const list = el.querySelector('[data-role="tree"]');
    expect(el.querySelector('.al-group[data-key="#1/pool"]')).not.toBeNull();
    expect(list.getAttribute("data-groups")).toBe("1");
    el.querySelector('.al-node[data-key="#1"] [data-action="fold"]').click();
    model.receive(delta(2, { nodes: { "#1": node("#1", { label: "team", kind: "supervisor", status: "restarting" }) } })); // a draw
    await frame();
    expect(el.querySelector('.al-group[data-key="#1/pool"]')).toBeNull();
    expect(list.getAttribute("data-groups")).toBe("0");
    expect(list.getAttribute("data-elements")).toBe("1");
  });
});

/**
 * A recorded run's tree, shown at event 40 of 100. `seek(model, msg)` answers the kernel's
 * `seek` command (none: the kernel cannot seek); `cursor`: where the run was when the widget
 * was made (its config).
 */
async function mountRecorded(seek, cursor = 40) {
  const model = fakeModel({
    config: { view: "tree", live: false, title: "t", collapse: 50, recorded: { count: 100, cursor, t0: 0, t1: 5 }, scrubber: true },
    snapshot: { seq: 3, view: { nodes: team(), cursor: 40 } },
  });
  const kernel = fakeKernel(seek ? { seek: (msg) => seek(model, msg) } : {});
  const el = document.createElement("div");
  document.body.append(el);
  tree.render({ model, el, experimental: kernel.experimental });
  await frame();
  const range = el.querySelector('[data-action="scrub"]');
  const label = el.querySelector(".al-scrub-label");
  const move = (v) => {
    range.value = String(v);
    range.dispatchEvent(new Event("input", { bubbles: true }));
  };
  return { model, kernel, el, range, label, move };
}

describe("a recorded run's scrub bar", () => {
  beforeEach(() => { document.body.innerHTML = ""; });

  it("shows where the run is, also in a view opened after it was scrubbed", async () => {
    // the config was written when the widget was made (at the end of the run); the run was
    // scrubbed back to event 40 before this view (a second output of the widget) opened
    const { model, range, label } = await mountRecorded(() => ({ ok: true }), 100);
    expect(range.value).toBe("40");
    expect(label.textContent).toContain("event 40 / 100");
    // scrubbed from Python (or another output): the bar and its label follow
    model.receive({ type: "reset", seq: 4, view: { nodes: team(), cursor: 70 } });
    await frame();
    expect(range.value).toBe("70");
    expect(label.textContent).toContain("event 70 / 100");
  });
});

describe("dragging the scrub bar's thumb", () => {
  beforeEach(() => { document.body.innerHTML = ""; });

  it("keeps the user's thumb while they drag, whatever state comes in meanwhile", async () => {
    let seq = 3;
    // the kernel: a seek replaces the state (a reset with the new cursor), then answers
    const { model, kernel, range, label, move } = await mountRecorded((m, msg) => {
      m.receive({ type: "reset", seq: ++seq, view: { nodes: team(), cursor: msg.index } });
      return { ok: true, cursor: msg.index };
    });
    range.dispatchEvent(new Event("pointerdown", { bubbles: true }));
    move(30);
    await frame(); // the seek of 30 is answered (its reset came first) while the user drags on
    move(20);
    // the state of the earlier move arrives, and a scrub from Python too: the thumb stays
    model.receive({ type: "reset", seq: ++seq, view: { nodes: team(), cursor: 70 } });
    await frame();
    expect(range.value).toBe("20");
    expect(label.textContent).toContain("event 20 / 100");
    document.dispatchEvent(new Event("pointerup", { bubbles: true }));
    await frame();
    expect(kernel.calls.filter((c) => c.name === "seek").map((c) => c.msg.index)).toEqual([30, 20]);
    expect(range.value).toBe("20");
    expect(label.textContent).toContain("event 20 / 100");
    // let go, the thumb follows the state again
    model.receive({ type: "reset", seq: ++seq, view: { nodes: team(), cursor: 55 } });
    await frame();
    expect(range.value).toBe("55");
  });

  it("shows where the state is when the drag ends without a move, or the seek fails", async () => {
    const { model, el, range, label, move } = await mountRecorded(null); // the kernel cannot seek
    range.dispatchEvent(new Event("pointerdown", { bubbles: true }));
    model.receive({ type: "reset", seq: 4, view: { nodes: team(), cursor: 70 } });
    await frame();
    expect(range.value).toBe("40");
    document.dispatchEvent(new Event("pointerup", { bubbles: true }));
    expect(range.value).toBe("70");
    expect(label.textContent).toContain("event 70 / 100");
    range.dispatchEvent(new Event("pointerdown", { bubbles: true }));
    move(10);
    document.dispatchEvent(new Event("pointerup", { bubbles: true }));
    await frame();
    expect(range.value).toBe("70"); // back where the state is
    expect(label.textContent).toContain("event 70 / 100");
    const note = el.querySelector('[data-role="note"]');
    expect(note.textContent).toContain("cannot scrub");
    expect(note.getAttribute("data-kind")).toBe("warn");
  });
});

describe("the details panel", () => {
  beforeEach(() => { document.body.innerHTML = ""; });

  it("shows the details of the node's last change, also one that came right after another", async () => {
    let calls = 0;
    const { el, model } = await mount(team(), {}, {
      select: () => ({ ok: true }),
      cmd_details: () => {
        calls += 1;
        return { ok: true, details: { key: "#1/writer", supervisor_path: "team", state: `state #${calls}` } };
      },
    });
    el.querySelector('.al-node[data-key="#1/writer"] .al-name').click();
    await frame();
    const panel = el.querySelector('[data-role="details"]');
    expect(panel.querySelector('[data-role="state"]').textContent).toBe("state #1");
    // the node crashes and is restarted a moment later (within the panel's 500 ms throttle)
    model.receive(delta(2, { nodes: { "#1/writer": node("#1/writer", { pid: 21, parent: "#1", order: 2, restarts: 1, status: "crashed", exit: "boom" }) } }));
    await frame();
    model.receive(delta(3, { nodes: { "#1/writer": node("#1/writer", { pid: 22, parent: "#1", order: 2, restarts: 1 }) } }));
    await new Promise((r) => setTimeout(r, 800));
    await frame();
    // the panel asked again once the throttle allowed it: it shows the newest state
    expect(calls).toBeGreaterThanOrEqual(2);
    expect(panel.querySelector('[data-role="state"]').textContent).toBe(`state #${calls}`);
    expect(panel.querySelector("td").textContent).toBe("<0.22.0>");
  });
});

describe("an expanded large supervisor", () => {
  beforeEach(() => { document.body.innerHTML = ""; });

  it("keeps the selected chip marked when its children change", async () => {
    const nodes = [node("#1", { label: "pool", kind: "supervisor" })];
    for (let i = 0; i < 60; i++) nodes.push(node(`#1/w${i}`, { pid: 100 + i, parent: "#1", order: i + 2 }));
    const { el, model } = await mount(nodes, { collapse: 50 }, { select: () => ({ ok: true }), cmd_details: () => ({ ok: true, details: { key: "#1/w7" } }) });
    el.querySelector('.al-group[data-key="#1"] button[data-action="expand"]').click();
    await frame();
    el.querySelector('.al-chip[data-key="#1/w7"]').click();
    await frame();
    expect(el.querySelector('.al-chip[data-key="#1/w7"]').classList.contains("al-selected")).toBe(true);
    // a dynamic supervisor starts another worker: the chips are drawn again
    model.receive(delta(2, { nodes: { "#1/w99": node("#1/w99", { pid: 999, parent: "#1", order: 999 }) } }));
    await frame();
    expect(el.querySelectorAll(".al-chip").length).toBe(61);
    expect(el.querySelector('.al-chip[data-key="#1/w7"]').classList.contains("al-selected")).toBe(true);
    expect(el.querySelector('[data-role="details"]').hidden).toBe(false);
  });
});

describe("an expanded dynamic supervisor of many children", () => {
  beforeEach(() => { document.body.innerHTML = ""; });

  const N = 3000;
  const kid = (i, extra = {}) => node(`#1/w${i}`, { pid: 100 + i, parent: "#1", order: i + 2, ...extra });

  it("updates only the chips whose children changed, and keeps them in order", async () => {
    const nodes = [node("#1", { label: "pool", kind: "supervisor" })];
    for (let i = 0; i < N; i++) nodes.push(kid(i));
    const { el, model } = await mount(nodes, { collapse: 50 });
    el.querySelector('.al-group[data-key="#1"] button[data-action="expand"]').click();
    await frame();
    const box = el.querySelector(".al-chips");
    const before = new Map([...box.children].map((c) => [c.getAttribute("data-key"), c]));
    expect(before.size).toBe(N);
    const changes = { added: 0, removed: 0 };
    const watch = new MutationObserver((records) => {
      for (const r of records) {
        changes.added += r.addedNodes.length;
        changes.removed += r.removedNodes.length;
      }
    });
    watch.observe(box, { childList: true });
    // one child restarts, one joins (a dynamic supervisor's new child), one leaves: the
    // parent's children changed
    model.receive(delta(2, { nodes: {
      "#1/w7": kid(7, { pid: 9007, restarts: 1 }),
      "#1/new": node("#1/new", { pid: 9999, parent: "#1", order: N + 10 }),
      "#1/w9": null,
    } }));
    await frame();
    watch.takeRecords();
    const keys = [...box.children].map((c) => c.getAttribute("data-key"));
    const want = nodes.slice(1).map((n) => n.key).filter((k) => k !== "#1/w9").concat("#1/new");
    expect(keys).toEqual(want);
    expect(el.querySelector(".al-chips")).toBe(box);
    // every chip of a child that did not change is the element drawn first
    for (const c of box.children) {
      const k = c.getAttribute("data-key");
      if (k !== "#1/new") expect(c).toBe(before.get(k));
    }
    expect(box.querySelector('[data-key="#1/w7"]').getAttribute("data-restarts")).toBe("1");
    expect(changes).toEqual({ added: 1, removed: 1 }); // the new chip; the gone one
    // a child that moves (a new order) and one that joins in the middle: in order, few moves
    changes.added = 0;
    changes.removed = 0;
    model.receive(delta(3, { nodes: {
      "#1/w0": kid(0, { order: N + 20 }),
      "#1/mid": node("#1/mid", { pid: 8888, parent: "#1", order: 1500.5 }),
    } }));
    await frame();
    watch.disconnect();
    const order = [...box.children].map((c) => c.getAttribute("data-key"));
    const at = order.indexOf("#1/mid");
    expect(order[at - 1]).toBe("#1/w1498");
    expect(order[at + 1]).toBe("#1/w1499");
    expect(order[order.length - 1]).toBe("#1/w0");
    expect(order.length).toBe(N + 1);
    expect(changes).toEqual({ added: 2, removed: 1 }); // the new chip; the moved one (out and in)
  });
});

