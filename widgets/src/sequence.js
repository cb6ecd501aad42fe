// @ts-check
/**
 * Message sequence diagram: a lifeline per process slot and one row per
 * message, newest at the bottom: call → (solid), reply ⇠ (dashed), cast and
 * send (teal), exit signals (red, thick) and DOWN notices (amber, dotted).
 * Click an arrow for its details and the LLM calls behind it (the dashboard
 * highlights them in the timeline); click a process name, or type in the
 * filter, to keep only the arrows that touch those processes.
 * @module
 */
import "./css/sequence.css";
import { h, svg, dur, usd, num, setAttr, setText, watchSize, refusal, failure } from "./lib/dom.js";
import { Layer } from "./lib/keyed.js";
import { mountView } from "./lib/view.js";

const ROW = 22;
const COL = 128;
const LEFT = 64;
const HEAD = 30;
/** Lifelines drawn at most; the rest share one "others" column. */
const MAX_COLS = 16;
const OTHERS = "…others";

/**
 * @typedef {{key: string, label: string, order: number, kind: string}} Part
 * @typedef {{id: number, kind: string, from: string, to: string, t: number, label: string, llm: string[],
 *   reply_to?: number, lat?: number}} Arrow
 */

let instances = 0;

/** @param {Part} a @param {Part} b */
const byOrder = (a, b) => a.order - b.order;

/** The diagram's data. Exported for tests. */
export class SequenceState {
  constructor() {
    /** @type {Map<string, Part>} */
    this.parts = new Map();
    /** @type {Map<number, Arrow>} */
    this.arrows = new Map();
    /** arrow ids in order @type {number[]} */
    this.order = [];
    /** @type {number | null} */
    this.t0 = null;
    this.dirty = true;
  }

  /** @param {any} v */
  reset(v) {
    this.parts.clear();
    this.arrows.clear();
    this.order = [];
    // where the shown times count from: the kernel's (its first arrow's time, kept when that
    // arrow is trimmed), so a resync or a view opened later shows the times this one shows
    this.t0 = typeof v.t0 === "number" ? v.t0 : null;
    this.apply({ parts: Object.fromEntries((v.parts || []).map((/** @type {Part} */ p) => [p.key, p])),
      arrows: Object.fromEntries((v.arrows || []).map((/** @type {Arrow} */ a) => [a.id, a])) });
  }

  /** @param {any} d */
  apply(d) {
    if (d.parts) {
      for (const [k, p] of Object.entries(d.parts)) {
        if (p === null) this.parts.delete(k);
        else this.parts.set(k, p);
      }
    }
    if (d.moved) {
      for (const [old, key] of Object.entries(d.moved)) {
        for (const a of this.arrows.values()) {
          if (a.from === old) a.from = /** @type {string} */ (key);
          if (a.to === old) a.to = /** @type {string} */ (key);
        }
      }
    }
    if (d.arrows) {
      let removed = false;
      for (const [sid, a] of Object.entries(d.arrows)) {
        const id = Number(sid);
        if (a === null) {
          if (this.arrows.delete(id)) removed = true;
          continue;
        }
        if (!this.arrows.has(id)) {
          const last = this.order.length ? this.order[this.order.length - 1] : -Infinity;
          this.order.push(id);
          if (id < last) this.order.sort((x, y) => x - y);
        }
        this.arrows.set(id, a);
        if (this.t0 === null || a.t < this.t0) this.t0 = a.t;
      }
      if (removed) this.order = this.order.filter((id) => this.arrows.has(id));
    }
    this.dirty = true;
  }
}

/**
 * @param {import("./lib/view.js").Ctx} ctx
 * @returns {import("./lib/view.js").ViewImpl}
 */
function makeSequence(ctx) {
  const uid = `al-seq-${++instances}`;
  const state = new SequenceState();
  /** @type {Set<string>} */
  const focus = new Set();
  let filterText = "";
  /** @type {number | null} */
  let selected = null;
  /** @type {any} */
  let details = null;
  let detailsError = ""; // why the kernel gave no details for the selected message
  let stick = true;
  /** @type {Part[]} */
  let cols = [];
  /** @type {Arrow[]} */
  let shown = [];

  const filter = /** @type {HTMLInputElement} */ (h("input", { class: "al-filter", "data-role": "filter", type: "search", placeholder: "filter processes…", title: "show only arrows that touch matching processes" }));
  const countText = h("span");
  const count = h("span", { class: "al-range", "data-role": "count" }, ctx.stat(countText));
  const clear = h("button", { class: "al-btn al-btn-small", "data-action": "clear-filter", title: "show every process" }, "all");
  ctx.toolbar.append(count, filter, clear);
  const heads = h("div", { class: "al-seq-heads", "data-role": "participants" });
  const svgEl = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svgEl.setAttribute("class", "al-seq-svg");
  svgEl.setAttribute("data-role", "sequence");
  const spacer = h("div", { class: "al-seq-spacer" });
  const scroll = h("div", { class: "al-seq-scroll" }, heads, svgEl, spacer);
  const panel = h("div", { class: "al-seq-details", "data-role": "details", hidden: true });
  ctx.body.append(scroll, panel);
  const size = watchSize(scroll);
  let top = 0; // the scroll position (kept by the scroll events and the follow-scroll)
  let drawnSpace = -1;
  let drawnW = -1;
  let drawnH = -1;
  let pinTo = -1; // a follow-scroll waiting for the next layout
  const pin = () => {
    if (pinTo >= 0) scroll.scrollTop = pinTo;
    pinTo = -1;
  };
  const pinner = typeof ResizeObserver === "function" ? new ResizeObserver(pin) : null;
  pinner?.observe(spacer);
  pinner?.observe(svgEl);

  /** At most MAX_COLS lifelines: the processes in the most recent messages; the rest share
   * one "others" column (a crash storm across 10,000 workers stays one readable diagram).
   * @param {Part[]} all @param {Arrow[]} arrows */
  function capColumns(all, arrows) {
    if (all.length <= MAX_COLS) return { parts: all, arrows };
    /** @type {Set<string>} */
    const keep = new Set();
    for (let i = arrows.length - 1; i >= 0 && keep.size < MAX_COLS - 1; i--) {
      keep.add(arrows[i].from);
      if (keep.size < MAX_COLS - 1) keep.add(arrows[i].to);
    }
    const parts = all.filter((p) => keep.has(p.key));
    parts.push({ key: OTHERS, label: `${all.length - parts.length} others`, order: Infinity, kind: "others" });
    return { parts, arrows }; // arrows to a folded process are drawn to "others" (see render)
  }

  /** No filter: what capColumns would pick, without sorting every participant (a crash
   * storm keeps thousands of them; only the newest arrows' few are drawn). */
  function newestColumns() {
    const arrows = state.order.map((id) => /** @type {Arrow} */ (state.arrows.get(id)));
    if (state.parts.size <= MAX_COLS) return { parts: [...state.parts.values()].sort(byOrder), arrows };
    /** @type {Set<string>} */
    const keep = new Set();
    for (let i = arrows.length - 1; i >= 0 && keep.size < MAX_COLS - 1; i--) {
      keep.add(arrows[i].from);
      if (keep.size < MAX_COLS - 1) keep.add(arrows[i].to);
    }
    /** @type {Part[]} */
    const parts = [];
    for (const k of keep) {
      const p = state.parts.get(k);
      if (p) parts.push(p);
    }
    parts.sort(byOrder);
    parts.push({ key: OTHERS, label: `${state.parts.size - parts.length} others`, order: Infinity, kind: "others" });
    return { parts, arrows };
  }

  function visibleParts() {
    const f = filterText.toLowerCase();
    if (!focus.size && !f) return newestColumns();
    const all = [...state.parts.values()].sort(byOrder);
    /** @type {Set<string>} */
    const want = new Set(focus);
    if (f) for (const p of all) if (p.label.toLowerCase().includes(f) || p.key.toLowerCase().includes(f)) want.add(p.key);
    if (!want.size) return capColumns(all, state.order.map((id) => /** @type {Arrow} */ (state.arrows.get(id))));
    const arrows = [];
    /** @type {Set<string>} */
    const used = new Set(want);
    for (const id of state.order) {
      const a = /** @type {Arrow} */ (state.arrows.get(id));
      if (want.has(a.from) || want.has(a.to)) {
        arrows.push(a);
        used.add(a.from);
        used.add(a.to);
      }
    }
    return capColumns(all.filter((p) => used.has(p.key)), arrows);
  }

  // The SVG's parts, made once; a draw updates them in place (see lib/keyed.js). Rows are
  // placed at their index in the list of shown messages, in a layer that the scroll
  // position moves with one transform: a new message or a follow-scroll leaves the rows
  // already drawn as they are.
  const defs = svg("defs");
  for (const k of ["call", "reply", "cast", "send", "exit", "down"]) {
    const m = svg("marker", { id: `${uid}-${k}`, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 9, markerHeight: 9,
      markerUnits: "userSpaceOnUse", orient: "auto-start-reverse", class: `al-head al-head-${k}` });
    m.append(svg("path", { d: k === "reply" || k === "cast" ? "M1 1 L9 5 L1 9" : "M0 0 L10 5 L0 10 z" }));
    defs.append(m);
  }
  svgEl.append(defs);
  const lifelines = new Layer(svgEl);
  const rowsLayer = new Layer(svgEl, {}, true);
  const empty = svg("text", { class: "al-t", x: 12, y: 24 });
  empty.textContent = "no messages yet (message tracing can be switched off: Runtime(trace_messages=...))";
  /** @type {Map<string, HTMLElement>} the lifelines' heads, by process key */
  const headOf = new Map();

  /** The heads of the lifelines: one button per column, kept between draws. */
  function drawHeads() {
    /** @type {HTMLElement[]} */
    const want = [];
    cols.forEach((p, i) => {
      let b = headOf.get(p.key);
      if (!b) {
        b = h("button", { "data-action": "toggle-part", "data-key": p.key });
        headOf.set(p.key, b);
      }
      // (keeps the flash a linked view's highlight started)
      setAttr(b, "class", `al-part${focus.has(p.key) ? " al-part-on" : ""}${b.classList.contains("al-hl") ? " al-hl" : ""}`);
      setAttr(b, "data-kind", p.kind);
      setAttr(b, "style", `left:${LEFT + i * COL + 4}px;width:${COL - 8}px`);
      setAttr(b, "title", `${p.label}: click to show only its messages`);
      setText(b, p.label);
      want.push(b);
    });
    // the heads are placed by their style, so the DOM order only has to follow the columns:
    // drop the heads of processes no longer shown, then insert (or move) the ones out of place
    const keep = new Set(cols.map((p) => p.key));
    for (const [k, b] of headOf) {
      if (keep.has(k)) continue;
      b.remove();
      headOf.delete(k);
    }
    const have = heads.children;
    want.forEach((b, i) => {
      if (have[i] !== b) heads.insertBefore(b, have[i] || null);
    });
    const w = `${LEFT + cols.length * COL + 8}px`;
    if (heads.style.width !== w) heads.style.width = w;
  }

  /** Draw message `a` in row `i` (its `<g>`: hover area, time, line, label). @param {Arrow} a @param {number} i
   * @param {number} x1 @param {number} x2 @param {number} t0 */
  function drawArrow(a, i, x1, x2, t0) {
    const y = i * ROW + ROW / 2 + 8;
    const llm = a.llm && a.llm.length ? " al-has-llm" : "";
    const g = rowsLayer.get(String(a.id), "g");
    if (!g.firstChild) g.append(svg("rect", { class: "al-hit", height: ROW }), svg("text", { class: "al-t", x: 6 }), svg("line", { class: "al-line" }), svg("text", { class: "al-label", "text-anchor": "middle" }));
    setAttr(g, "class", `al-arrow al-arrow-${a.kind}${a.id === selected ? " al-selected" : ""}${llm}`);
    setAttr(g, "data-arrow", String(a.id));
    setAttr(g, "data-kind", a.kind);
    const [hit, time, , label] = /** @type {Element[]} */ ([...g.children]);
    setAttr(hit, "x", String(Math.min(x1, x2) - 6));
    setAttr(hit, "y", String(y - ROW / 2));
    setAttr(hit, "width", String(Math.abs(x2 - x1) + 12 + (x1 === x2 ? 30 : 0)));
    setAttr(time, "y", String(y + 4));
    setText(time, `+${(a.t - t0).toFixed(3)}s`);
    // a message to itself (or within "others") is a loop: a path; any other a straight line
    const tag = x1 === x2 ? "path" : "line";
    let line = /** @type {Element} */ (g.children[2]);
    if (line.localName !== tag) {
      const fresh = svg(tag, { class: "al-line" });
      line.replaceWith(fresh);
      line = fresh;
    }
    if (x1 === x2) {
      setAttr(line, "d", `M${x1} ${y - 5} h24 v10 h-22`);
    } else {
      const dir = x2 > x1 ? 1 : -1;
      setAttr(line, "x1", String(x1 + dir * 3));
      setAttr(line, "y1", String(y));
      setAttr(line, "x2", String(x2 - dir * 4));
      setAttr(line, "y2", String(y));
    }
    setAttr(line, "marker-end", `url(#${uid}-${a.kind})`);
    const text = `${a.kind}${a.label ? ` ${a.label}` : ""}${llm ? " ◆" : ""}`;
    setAttr(label, "x", String((x1 + x2) / 2 + (x1 === x2 ? 40 : 0)));
    setAttr(label, "y", String(y - 4));
    setText(label, text.length > 34 ? `${text.slice(0, 33)}…` : text);
  }

  function render() {
    if (state.dirty) {
      const v = visibleParts();
      cols = v.parts;
      shown = v.arrows;
      state.dirty = false;
      drawHeads();
      setText(countText, `${num(shown.length)} messages`);
    }
    const colX = new Map(cols.map((p, i) => [p.key, LEFT + i * COL + COL / 2]));
    const W = LEFT + cols.length * COL + 8;
    const total = shown.length * ROW + 14;
    // no layout reads (see watchSize): the sizes are observed, the scroll position comes from
    // scroll events, and the content height is what this function sets
    const clientH = size.h || scroll.clientHeight || 300;
    const Hview = Math.max(40, Math.min(total, clientH - HEAD - 2));
    const spaceH = Math.max(0, total - Hview);
    if (spaceH !== drawnSpace || W !== drawnW || Hview !== drawnH) {
      drawnSpace = spaceH;
      drawnW = W;
      drawnH = Hview;
      spacer.style.height = `${spaceH}px`;
      spacer.style.width = `${W}px`;
      svgEl.setAttribute("width", String(W));
      svgEl.setAttribute("height", String(Hview));
    }
    if (pinTo >= 0) pin(); // the size observer did not run since the last draw: scroll now
    if (stick) {  // follow the newest messages until the user scrolls up
      const bottom = Math.max(0, HEAD + Hview + spaceH - clientH);
      if (Math.abs(top - bottom) > 1) {
        // scrolling now would make the browser lay the page out right here; the size
        // observer runs after this frame's layout, where it costs nothing
        pinTo = bottom;
        if (!pinner) pin();
        top = bottom; // the scroll event that follows corrects it if the browser clamped it
      }
    }
    lastTop = top;
    const first = Math.max(0, Math.floor(top / ROW));
    const n = Math.ceil(Hview / ROW) + 1;
    lifelines.begin();
    for (let i = 0; i < cols.length; i++) { // by column: a column's line stays when its process changes
      const x = LEFT + i * COL + COL / 2;
      const el = lifelines.get(String(i), "line");
      setAttr(el, "class", "al-lifeline");
      setAttr(el, "x1", String(x));
      setAttr(el, "x2", String(x));
      setAttr(el, "y1", "0");
      setAttr(el, "y2", String(Hview));
    }
    lifelines.end();
    setAttr(rowsLayer.g, "transform", `translate(0,${-top})`);
    rowsLayer.begin();
    const t0 = state.t0 ?? 0;
    for (let i = first; i < Math.min(shown.length, first + n); i++) {
      const a = shown[i];
      const x1 = colX.get(a.from) ?? colX.get(OTHERS);
      const x2 = colX.get(a.to) ?? colX.get(OTHERS);
      if (x1 === undefined || x2 === undefined) continue;
      drawArrow(a, i, x1, x2, t0);
    }
    rowsLayer.end();
    setAttr(svgEl, "data-count", String(shown.length));
    if (!cols.length) {
      if (empty.parentNode !== svgEl) svgEl.append(empty);
    } else {
      empty.remove();
    }
  }

  function renderDetails() {
    const a = selected !== null ? state.arrows.get(selected) : undefined;
    if (!a) {
      panel.hidden = true;
      return;
    }
    panel.hidden = false;
    const name = (/** @type {string} */ k) => state.parts.get(k)?.label || k;
    const d = details && details.id === a.id ? details : null;
    const calls = d ? d.llm_calls || [] : [];
    panel.replaceChildren(
      h("div", { class: "al-seq-dhead" },
        h("span", { class: `al-kind al-kind-${a.kind}` }, a.kind),
        h("b", null, `${name(a.from)} → ${name(a.to)}`),
        h("span", { class: "al-muted" }, ` at +${(a.t - (state.t0 ?? 0)).toFixed(3)} s`),
        h("button", { class: "al-btn al-btn-small", "data-action": "close-details" }, "×")),
      a.label ? h("div", { class: "al-seq-dline" }, a.kind === "reply" ? `replied after ${a.label}` : a.label) : null,
      a.llm && a.llm.length
        ? h("div", { class: "al-seq-dline" }, h("span", { class: "al-muted" }, "LLM calls behind it: "),
          ...(calls.length ? calls : a.llm.map((id) => ({ id }))).map((/** @type {any} */ c) => h("span", { class: "al-llm-ref", "data-llm": c.id },
            `${c.id}${c.model ? ` ${c.model}` : ""}${c.ttft != null ? ` · TTFT ${dur(c.ttft)}` : ""}${c.t1 != null ? ` · ${dur(c.t1 - c.t0)}` : ""}${c.tokens != null ? ` · ${c.tokens} tokens` : ""}${c.cost ? ` · ${usd(c.cost)}` : ""}${c.status && c.status !== "ok" ? ` · ${c.status}` : ""}`)))
        : h("div", { class: "al-seq-dline al-muted" }, "no LLM call behind this message"),
      detailsError ? h("div", { class: "al-seq-dline al-seq-derr", "data-role": "details-error" }, `details unavailable: ${detailsError}`) : null,
    );
  }

  /** @param {number} id */
  function select(id) {
    selected = id;
    details = null;
    detailsError = "";
    state.dirty = true;
    const a = state.arrows.get(id);
    renderDetails();
    render();
    if (!a) return;
    // what fails says so: in the header (the other views could not be told), and in the
    // details panel the click opened (its LLM calls could not be fetched)
    ctx.select({ key: a.to, llm: a.llm || [], view: "sequence" });
    ctx.invoke("cmd_details", { id }).then((r) => {
      if (selected !== id) return;
      if (r && r.ok) details = r.details;
      else detailsError = refusal(r);
      renderDetails();
    }, (e) => {
      if (selected !== id) return;
      detailsError = failure(e);
      renderDetails();
    });
  }

  ctx.root.addEventListener("click", (e) => {
    const t = /** @type {Element} */ (e.target);
    const act = t.closest("[data-action]");
    if (act) {
      const a = act.getAttribute("data-action");
      if (a === "toggle-part") {
        const k = act.getAttribute("data-key") || "";
        if (focus.has(k)) focus.delete(k);
        else focus.add(k);
        state.dirty = true;
        render();
      } else if (a === "clear-filter") {
        focus.clear();
        filterText = "";
        filter.value = "";
        state.dirty = true;
        render();
      } else if (a === "close-details") {
        selected = null;
        renderDetails();
        state.dirty = true;
        render();
      }
      return;
    }
    const g = t.closest("[data-arrow]");
    if (g) select(Number(g.getAttribute("data-arrow")));
  });
  filter.addEventListener("input", () => {
    filterText = filter.value.trim();
    state.dirty = true;
    ctx.invalidate();
  });
  let lastTop = -1;
  scroll.addEventListener("scroll", () => {
    top = scroll.scrollTop;
    if (top === lastTop) return; // our own follow-scroll
    stick = scroll.scrollHeight - top - scroll.clientHeight < ROW * 2;
    ctx.invalidate();
  });

  return {
    reset(v) {
      state.reset(v);
    },
    apply(d) {
      state.apply(d);
    },
    render,
    destroy() {
      size.stop();
      pinner?.disconnect();
    },
    highlight(msg) {
      if (!msg.key || !state.parts.has(msg.key)) return;
      const el = [...heads.children].find((c) => c.getAttribute("data-key") === msg.key);
      if (el) {
        el.classList.remove("al-hl");
        void (/** @type {HTMLElement} */ (el)).offsetWidth;
        el.classList.add("al-hl");
      }
    },
  };
}

/** @type {import("@anywidget/types").Render} */
function render(props) {
  return mountView(props, "sequence", makeSequence, 100); // at most 10 draws a second
}

export default { render };
