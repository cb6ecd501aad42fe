// @ts-check
/**
 * Token streams: one column per agent, text as it streams, with tool calls,
 * tool results, retries, errors and restarts inline where they happened (and
 * where a new process took the column of one that exited).
 * Text deltas are appended to the last text node (no re-render per token).
 * @module
 */
import "./css/stream.css";
import { h, num, usd, dur, setText, setAttr } from "./lib/dom.js";
import { mountView } from "./lib/view.js";

/** Characters a column keeps in the page (older output is dropped from view). */
const DISPLAY_CHARS = 60000;
/** Segment elements a column keeps in the page (an agent that makes many tool calls or
 * retries streams little text, but each call adds a few elements). */
const DISPLAY_SEGS = 1500;

/**
 * @typedef {import("./lib/segments.js").Segment} Segment
 * @typedef {{key: string, label: string, pid: number, order: number, tokens: number, tps: number, cost: number,
 *   requests: number, retries: number, errors: number, status: string, model?: string, ttft?: number, dropped?: number}} Meta
 * @typedef {{meta: Meta, col?: HTMLElement, bodyEl?: HTMLElement, head?: HTMLElement,
 *   lastText?: Text | null, lastTool?: HTMLElement | null, pending: Segment[], fresh: boolean, chars: number}} Agent
 */

/**
 * The state: agents by key, each with the segments not drawn yet (`pending`). The
 * transcript itself lives only in its column, bounded by DISPLAY_CHARS and DISPLAY_SEGS.
 * Exported for tests.
 */
export class StreamState {
  constructor() {
    /** @type {Map<string, Agent>} */
    this.agents = new Map();
    /** agents whose header changed @type {Set<string>} */
    this.dirty = new Set();
    this.structDirty = false;
  }

  /** @param {any[]} agents */
  reset(agents) {
    this.agents.clear();
    for (const a of agents) {
      const { segs, ...meta } = a;
      this.agents.set(a.key, { meta, pending: [...(segs || [])], fresh: true, chars: 0 });
    }
    this.structDirty = true;
  }

  /** @param {any} delta */
  apply(delta) {
    if (delta.meta) {
      for (const [key, meta] of Object.entries(delta.meta)) {
        if (meta === null) {
          this.agents.delete(key);
          this.structDirty = true;
          continue;
        }
        let a = this.agents.get(key);
        if (!a) {
          a = { meta, pending: [], fresh: true, chars: 0 };
          this.agents.set(key, a);
          this.structDirty = true;
        } else {
          a.meta = meta;
        }
        this.dirty.add(key);
      }
    }
    if (delta.segs) {
      for (const [key, segs] of Object.entries(delta.segs)) {
        const a = this.agents.get(key);
        if (!a) continue;
        for (const g of /** @type {Segment[]} */ (segs)) a.pending.push(g);
        this.dirty.add(key);
      }
    }
  }
}

/** @param {Segment} g */
function segEl(g) {
  switch (g.t) {
    case "req":
      return h("div", { class: "al-seg al-seg-req", "data-seg": "req", title: g.rid },
        `${g.model || "model"}${g.attempt && g.attempt > 1 ? ` · attempt ${g.attempt}` : ""}`);
    case "tool_call":
      return h("div", { class: "al-seg al-seg-tool", "data-seg": "tool_call" },
        h("span", { class: "al-seg-icon" }, "⚙"), h("b", null, g.name || "tool"), "(", h("span", { class: "al-args" }, g.args || ""), ")");
    case "tool_start":
      return h("div", { class: "al-seg al-seg-tool al-seg-run", "data-seg": "tool_start" },
        h("span", { class: "al-seg-icon" }, "▶"), h("b", null, g.name || "tool"), " ", h("span", { class: "al-args" }, g.args || ""));
    case "tool_result":
      return h("div", { class: `al-seg al-seg-result${g.error ? " al-seg-bad" : ""}`, "data-seg": "tool_result" },
        h("span", { class: "al-seg-icon" }, g.error ? "✖" : "↳"), h("b", null, g.name || "result"), " ", String(g.result ?? ""));
    case "retry":
      return h("div", { class: "al-seg al-seg-retry", "data-seg": "retry" },
        h("span", { class: "al-seg-icon" }, "⟳"), `retry ${g.attempt ?? ""} after ${dur(g.delay)} · ${g.error || ""}`);
    case "error":
      return h("div", { class: "al-seg al-seg-error", "data-seg": "error" },
        h("span", { class: "al-seg-icon" }, "⚠"), h("b", null, g.error || "error"), ` ${g.message || ""}`);
    case "end":
      return h("div", { class: "al-seg al-seg-end", "data-seg": "end" },
        `■ ${g.stop || "done"} · ${g.tokens ?? "?"} tokens${g.cost ? ` · ${usd(g.cost)}` : ""}`);
    case "exit":
      return h("div", { class: "al-seg al-seg-error al-seg-exit", "data-seg": "exit" },
        h("span", { class: "al-seg-icon" }, "✖"), `process exited: ${g.reason}`);
    case "restart":
      return h("div", { class: "al-seg al-seg-restart", "data-seg": "restart" },
        h("span", { class: "al-seg-icon" }, "↻"), `restarted by its supervisor as <0.${g.pid}.0>`);
    case "new":
      return h("div", { class: "al-seg al-seg-new", "data-seg": "new" },
        h("span", { class: "al-seg-icon" }, "+"), `new process <0.${g.pid}.0> (not a restart)`);
    default:
      return h("div", { class: "al-seg", "data-seg": g.t }, g.t);
  }
}

/**
 * @param {import("./lib/view.js").Ctx} ctx
 * @returns {import("./lib/view.js").ViewImpl}
 */
function makeStream(ctx) {
  const state = new StreamState();
  const hidden = new Set();
  const totalsText = h("span");
  const totals = h("span", { class: "al-summary", "data-role": "totals" }, ctx.stat(totalsText));
  const chips = h("span", { class: "al-agent-chips" });
  ctx.toolbar.append(chips, totals);
  const cols = h("div", { class: "al-cols", "data-role": "columns" });
  const empty = h("div", { class: "al-empty" }, "no agent has called a model yet");
  ctx.body.append(cols);

  /** @param {Agent} a */
  function makeCol(a) {
    const head = h("div", { class: "al-col-head" },
      h("div", { class: "al-col-title" },
        h("span", { class: "al-dot" }),
        h("span", { class: "al-col-name" }, document.createTextNode("")),
        h("span", { class: "al-col-model" }, document.createTextNode(""))),
      h("div", { class: "al-col-stats" },
        h("span", { "data-role": "tokens", title: "tokens streamed" }, document.createTextNode("")),
        h("span", { "data-role": "tps", title: "tokens per second" }, document.createTextNode("")),
        h("span", { "data-role": "cost", title: "cost so far" }, document.createTextNode("")),
        h("span", { class: "al-warn", "data-role": "retries", title: "retries", hidden: true }, document.createTextNode("")),
        h("span", { class: "al-bad", "data-role": "errors", title: "errors", hidden: true }, document.createTextNode(""))));
    const bodyEl = h("div", { class: "al-col-body", "data-role": "transcript" });
    a.col = h("section", { class: "al-col", "data-agent": a.meta.key }, head, bodyEl);
    a.head = head;
    a.bodyEl = bodyEl;
    a.lastText = null;
    a.lastTool = null;
    a.chars = 0;
  }

  /** Write what the header shows, in place: its elements are made once (makeCol), and a
   * frame that changes the counts (tokens/s and cost tick at frame rate while an agent
   * streams) rewrites only the texts and attributes that changed, not the header.
   * @param {Agent} a */
  function fillHead(a) {
    const m = a.meta;
    const col = /** @type {HTMLElement} */ (a.col);
    const [title, stats] = /** @type {HTMLElement[]} */ (Array.from(/** @type {HTMLElement} */ (a.head).children));
    const [dot, name, model] = /** @type {HTMLElement[]} */ (Array.from(title.children));
    const [tokens, tps, cost, retries, errors] = /** @type {HTMLElement[]} */ (Array.from(stats.children));
    setAttr(col, "data-status", m.status);
    setAttr(dot, "class", `al-dot al-dot-${m.status}`);
    setAttr(dot, "title", m.status);
    setAttr(name, "title", `${m.label} <0.${m.pid}.0>`);
    setText(/** @type {Node} */ (name.firstChild), m.label);
    setText(/** @type {Node} */ (model.firstChild), m.model || "");
    setText(/** @type {Node} */ (tokens.firstChild), `${num(m.tokens)} tok`);
    setText(/** @type {Node} */ (tps.firstChild), `${(m.tps || 0).toFixed(1)}/s`);
    setText(/** @type {Node} */ (cost.firstChild), usd(m.cost));
    for (const [el, n, sign] of /** @type {[HTMLElement, number, string][]} */ ([[retries, m.retries, "⟳"], [errors, m.errors, "⚠"]])) {
      if (!!n === el.hidden) el.hidden = !n;
      if (n) setText(/** @type {Node} */ (el.firstChild), `${sign}${n}`);
    }
  }

  /** Append the agent's pending segments to its column. @param {Agent} a */
  function flushSegs(a) {
    const body = /** @type {HTMLElement} */ (a.bodyEl);
    const atBottom = body.scrollHeight - body.scrollTop - body.clientHeight < 24;
    for (const g of a.pending) {
      if (g.t === "text") {
        if (a.lastText) a.lastText.appendData(g.s || "");
        else {
          a.lastText = document.createTextNode(g.s || "");
          body.append(h("span", { class: "al-text" }, a.lastText));
        }
        a.lastTool = null;
        a.chars += (g.s || "").length;
        continue;
      }
      if (g.t === "tool_call" && g.more && a.lastTool && a.lastTool.getAttribute("data-call") === String(g.id)) {
        const args = a.lastTool.querySelector(".al-args");
        if (args) args.textContent += g.args || "";
        a.chars += (g.args || "").length;
        continue;
      }
      a.lastText = null;
      const el = segEl(g);
      if (g.t === "tool_call") {
        el.setAttribute("data-call", String(g.id));
        a.lastTool = el;
      } else a.lastTool = null;
      a.chars += (el.textContent || "").length;
      body.append(el);
    }
    a.pending = [];
    if (a.chars > DISPLAY_CHARS || body.childElementCount > DISPLAY_SEGS) trim(a);
    if (atBottom) body.scrollTop = body.scrollHeight;
  }

  /** Drop the oldest elements of a long column. @param {Agent} a */
  function trim(a) {
    const body = /** @type {HTMLElement} */ (a.bodyEl);
    while ((a.chars > DISPLAY_CHARS * 0.8 || body.childElementCount > DISPLAY_SEGS * 0.8)
      && body.firstChild && body.firstChild !== body.lastChild) {
      const first = /** @type {HTMLElement} */ (body.firstChild);
      a.chars -= (first.textContent || "").length;
      first.remove();
    }
  }

  function renderChips() {
    chips.replaceChildren();
    if (state.agents.size < 2) return;
    for (const a of sorted()) {
      const on = !hidden.has(a.meta.key);
      chips.append(h("button", { class: "al-btn al-btn-small al-agent-chip", "data-action": "toggle-agent", "data-agent": a.meta.key, "aria-pressed": on ? "true" : "false", title: on ? "hide" : "show" }, a.meta.label));
    }
  }

  function sorted() {
    return [...state.agents.values()].sort((x, y) => x.meta.order - y.meta.order);
  }

  function render() {
    if (state.structDirty) {
      state.structDirty = false;
      const list = sorted();
      for (const a of list) {
        if (!a.col || a.fresh) {
          makeCol(a);
          a.fresh = false;
          fillHead(a);
        }
      }
      cols.replaceChildren(...(list.length ? list.filter((a) => !hidden.has(a.meta.key)).map((a) => /** @type {HTMLElement} */ (a.col)) : [empty]));
      cols.setAttribute("data-count", String(list.length));
      renderChips();
    }
    for (const key of state.dirty) {
      const a = state.agents.get(key);
      if (!a || !a.col) continue;
      fillHead(a);
      if (a.pending.length) flushSegs(a);
    }
    state.dirty.clear();
    for (const a of state.agents.values()) if (a.pending.length && a.col) flushSegs(a);
    let tok = 0;
    let cost = 0;
    for (const a of state.agents.values()) {
      tok += a.meta.tokens || 0;
      cost += a.meta.cost || 0;
    }
    setText(totalsText, `${num(tok)} tokens · ${usd(cost)}`);
  }

  ctx.root.addEventListener("click", (e) => {
    const t = /** @type {HTMLElement} */ (e.target).closest("[data-action='toggle-agent']");
    if (!t) return;
    const key = t.getAttribute("data-agent") || "";
    if (hidden.has(key)) hidden.delete(key);
    else hidden.add(key);
    state.structDirty = true;
    render();
  });

  return {
    reset(view) {
      state.reset(view.agents || []);
    },
    apply(delta) {
      state.apply(delta);
    },
    render,
    highlight(msg) {
      const a = msg.key && state.agents.get(msg.key);
      if (a && a.col) {
        a.col.scrollIntoView?.({ block: "nearest", inline: "nearest" });
        a.col.classList.remove("al-hl");
        void a.col.offsetWidth;
        a.col.classList.add("al-hl");
      }
    },
  };
}

/** @type {import("@anywidget/types").Render} */
function render(props) {
  return mountView(props, "stream", makeStream);
}

export default { render };
