// @ts-check
/**
 * Timeline: one swimlane per process slot, with its lifetimes (one bar per
 * incarnation), crash marks, restart links from the supervisor's lane, LLM call
 * spans (the lighter head is the time to first token), tool runs and each
 * supervisor's restart budget. Follows live; zoom (buttons, ctrl+wheel), pan
 * (drag, shift+wheel), hover for details. Only the lanes and items in view are
 * drawn, so thousands of lanes stay cheap. Dense layers (a row with many marks,
 * many restart links: a crash storm) go on one canvas over the SVG instead of
 * into SVG paths, so a redraw costs no DOM, style or layout work for them.
 * @module
 */
import "./css/timeline.css";
import { h, svg, dur, pidText, setAttr, setText, watchSize, budgetUse } from "./lib/dom.js";
import { Layer } from "./lib/keyed.js";
import { mountView } from "./lib/view.js";

const ROW = 20;
const AXIS = 22;
const LABEL_W = 168;
/** Following live, the view runs on from the kernel's last `now` with the clock for at most
 * this many ms (open bars grow, the window slides), then waits for the kernel: the kernel
 * sends `now` with its deltas only, and a runtime that sends nothing may be paused or on a
 * virtual clock. So a live timeline redraws with the clock in that time only, and an idle
 * one (nothing new for longer) does not redraw at all. */
export const FOLLOW_AHEAD_MS = 1000;
/** A row with more marks than this in view, or more restart links than LINKS_DENSE, goes on the canvas. */
export const MARKS_DENSE = 60;
export const LINKS_DENSE = 40;

/** The marks' shapes, centred on (0, 0) in a row ROW px high: ✕ for an exit, ↻ for a
 * restart, a triangle for a retry or error, a bar for the rest (a lag, …). */
const MARK_SHAPE = /** @type {Record<string, string>} */ ({
  crash: "M-3.5 -3.5L3.5 3.5M3.5 -3.5L-3.5 3.5",
  killed: "M-3.5 -3.5L3.5 3.5M3.5 -3.5L-3.5 3.5",
  gave_up: "M-3.5 -3.5L3.5 3.5M3.5 -3.5L-3.5 3.5",
  restart: "M1.2 -4.3A4.5 4.5 0 1 1 -3.6 -2.7M1.2 -4.3L-1.3 -6.2M1.2 -4.3L-0.9 -2",
  retry: "M0 -8l4 6l-8 0z",
  error: "M0 -8l4 6l-8 0z",
  other: "M0 -8V8",
});

/**
 * The canvas rectangles of the dense ticks of `kind`: per row, the pixel columns that
 * hold at least one tick, merged into runs `[x0, x1, y]` (x0..x1 the first and last
 * column's centre). The union of the drawn pixels is that of one 1.5 px line per tick.
 * @param {{kind: string, y: number, xs: number[]}[]} ticks
 * @param {string} kind
 * @param {number} width  the canvas width (columns beyond it are dropped)
 * @returns {[number, number, number][]}
 */
export function tickRuns(ticks, kind, width) {
  /** @type {[number, number, number][]} */
  const out = [];
  const cols = new Uint8Array(Math.max(1, Math.ceil(width) + 2));
  for (const t of ticks) {
    if (t.kind !== kind) continue;
    cols.fill(0);
    let lo = cols.length;
    let hi = -1;
    for (const xx of t.xs) {
      const p = Math.round(xx);
      if (p < 0 || p >= cols.length) continue;
      cols[p] = 1;
      if (p < lo) lo = p;
      if (p > hi) hi = p;
    }
    for (let p = lo; p <= hi; p++) {
      if (!cols[p]) continue;
      let q = p;
      while (q + 1 <= hi && cols[q + 1]) q++;
      out.push([p, q, t.y]);
      p = q;
    }
  }
  return out;
}

/** Links with the same pixel route drawn once. @param {number[][]} links */
export function uniqueLinks(links) {
  const seen = new Set();
  const out = [];
  for (const l of links) {
    const k = `${Math.round(l[0])},${Math.round(l[1])},${Math.round(l[2])},${Math.round(l[3])}`;
    if (seen.has(k)) continue;
    seen.add(k);
    out.push(l);
  }
  return out;
}

/**
 * @typedef {{key: string, parent?: string | null, label: string, kind: string, order: number}} Lane
 * @typedef {{id: number, lane: string, t0: number, t1: number | null, end: string | null, reason: string | null}} Span
 * @typedef {{id: string, kind: string, lane: string, t0: number, tf: number | null, t1: number | null, ttft: number | null,
 *   status: string, model?: string | null, name?: string | null, tokens?: number | null}} Call
 * @typedef {{lane: string, t: number, kind: string, text: string}} Mark
 * @typedef {{from: string, to: string, t: number, t2: number, pid: number}} Link
 * @typedef {{lane: string, t: number, n: number, max: number, period: number}} Budget
 */

/** @template T @param {Map<string, T[]>} m @param {string} k @param {T} v */
function push(m, k, v) {
  let a = m.get(k);
  if (!a) m.set(k, (a = []));
  a.push(v);
}

/** Index of the first item with `.t >= t` in a time-sorted array. @param {{t: number}[]} a @param {number} t */
function lowerBound(a, t) {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (a[mid].t < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Keep the newest `max` items of `q` (in the order they came), dropping the others from the
 * front of their lane's list in `byLane` (a lane's list holds its items in the same order).
 * @template {{lane: string}} T @param {T[]} q @param {Map<string, T[]>} byLane @param {number} max
 * @returns {T[]}
 */
function keepNewest(q, byLane, max) {
  const excess = q.length - max;
  if (excess <= 0) return q;
  /** @type {Map<string, number>} */
  const drop = new Map();
  for (let i = 0; i < excess; i++) drop.set(q[i].lane, (drop.get(q[i].lane) || 0) + 1);
  for (const [lk, n] of drop) {
    const a = byLane.get(lk);
    if (!a) continue;
    if (n >= a.length) byLane.delete(lk);
    else a.splice(0, n);
  }
  return q.slice(excess);
}

/**
 * How far a bounded list may grow past `keep` before it is trimmed back to `keep`: the
 * kernel's rule (agentlab/ui/_pending.py `trim_slack`), so trimming is a batch job, not
 * a copy of the whole list on every delta once it is full. Exported for tests.
 * @param {number} keep
 */
export function trimSlack(keep) {
  return Math.max(1, Math.min(Math.floor(keep / 8), 64));
}

/**
 * Where a tooltip of size `w`×`h` goes for a pointer at (`x`, `y`), all in the pixels of
 * its box (`W`×`H`, which clips it): below and right of the pointer, or above and/or left
 * of it where that would cross the box's bottom or right edge; never past its top or left.
 * Exported for tests.
 * @param {number} x @param {number} y @param {number} w @param {number} h @param {number} W @param {number} H
 * @returns {[number, number]} left, top
 */
export function tipPosition(x, y, w, h, W, H) {
  let left = x + 12;
  if (left + w > W) left = x - 12 - w;
  let top = y + 14;
  if (top + h > H) top = y - 8 - h;
  return [Math.max(0, Math.min(left, W - w)), Math.max(0, Math.min(top, H - h))];
}

/** The timeline's data, indexed by lane. Exported for tests.
 *
 * Marks, restart links and budget reports are kept as the kernel keeps them (agentlab/ui/
 * _timeline.py): the newest `maxItems` of each, give or take `trimSlack(maxItems)` (the
 * browser trims in batches). A live view then holds what a view opened now (or a resync)
 * gets, and a long run does not grow the page without bound. */
export class TimelineState {
  /** @param {number} [maxItems]  the kernel's `max_items` (config.max_items) */
  constructor(maxItems = 20000) {
    this.maxItems = maxItems;
    /** every mark, in the order they came (per lane: `marks`) @type {Mark[]} */
    this.markQ = [];
    /** every budget report, in the order they came (per lane: `budget`) @type {Budget[]} */
    this.budgetQ = [];
    /** @type {Map<string, Lane>} */
    this.lanes = new Map();
    /** @type {Map<number, Span>} */
    this.spans = new Map();
    /** @type {Map<string, Call>} */
    this.calls = new Map();
    /** @type {Map<string, Mark[]>} */
    this.marks = new Map();
    /** @type {Link[]} */
    this.links = [];
    /** @type {Map<string, Budget[]>} */
    this.budget = new Map();
    /** @type {Map<string, Set<number>>} */
    this.spansByLane = new Map();
    /** @type {Map<string, Set<string>>} */
    this.callsByLane = new Map();
    this.t0 = 0;
    this.now = 0;
    this.laneDirty = true;
  }

  /** How many marks are kept. */
  get nMarks() {
    return this.markQ.length;
  }

  /** @param {any} v */
  reset(v) {
    this.lanes.clear();
    this.spans.clear();
    this.calls.clear();
    this.marks.clear();
    this.links = [];
    this.budget.clear();
    this.spansByLane.clear();
    this.callsByLane.clear();
    this.markQ = [];
    this.budgetQ = [];
    this.t0 = v.t0 || 0;
    this.now = v.now || 0;
    this.apply({ lanes: Object.fromEntries((v.lanes || []).map((/** @type {Lane} */ l) => [l.key, l])),
      spans: Object.fromEntries((v.spans || []).map((/** @type {Span} */ s) => [s.id, s])),
      llm: Object.fromEntries((v.llm || []).map((/** @type {Call} */ c) => [c.id, c])),
      marks: v.marks || [], links: v.links || [], budget: v.budget || [] });
    this.laneDirty = true;
  }

  /** @param {any} d */
  apply(d) {
    if (d.now !== undefined && d.now > this.now) this.now = d.now;
    if (d.lanes) {
      for (const [k, l] of Object.entries(d.lanes)) {
        const prev = this.lanes.get(k);
        if (l === null) {
          if (this.lanes.delete(k)) this.laneDirty = true;
        } else {
          this.lanes.set(k, l);
          if (!prev || prev.parent !== l.parent || prev.label !== l.label || prev.order !== l.order) this.laneDirty = true;
        }
      }
    }
    if (d.spans) {
      for (const [id, s] of Object.entries(d.spans)) {
        const prev = this.spans.get(Number(id));
        if (prev) this.spansByLane.get(prev.lane)?.delete(prev.id);
        if (s === null) {
          this.spans.delete(Number(id));
          continue;
        }
        this.spans.set(s.id, s);
        let set = this.spansByLane.get(s.lane);
        if (!set) this.spansByLane.set(s.lane, (set = new Set()));
        set.add(s.id);
      }
    }
    if (d.llm) {
      for (const [id, c] of Object.entries(d.llm)) {
        const prev = this.calls.get(id);
        if (prev) this.callsByLane.get(prev.lane)?.delete(prev.id);
        if (c === null) {
          this.calls.delete(id);
          continue;
        }
        this.calls.set(id, c);
        let set = this.callsByLane.get(c.lane);
        if (!set) this.callsByLane.set(c.lane, (set = new Set()));
        set.add(id);
      }
    }
    const max = this.maxItems;
    const limit = max + trimSlack(max);
    if (d.marks) {
      for (const m of d.marks) {
        push(this.marks, m.lane, m);
        this.markQ.push(m);
      }
      if (this.markQ.length > limit) this.markQ = keepNewest(this.markQ, this.marks, max);
    }
    if (d.links) {
      for (const l of d.links) this.links.push(l);
      if (this.links.length > limit) this.links = this.links.slice(this.links.length - max);
    }
    if (d.budget) {
      for (const b of d.budget) {
        push(this.budget, b.lane, b);
        this.budgetQ.push(b);
      }
      if (this.budgetQ.length > limit) this.budgetQ = keepNewest(this.budgetQ, this.budget, max);
    }
  }

  /** Lanes in tree order (depth-first, start order), with collapsing of big parents.
   * @param {number} collapse @param {Set<string>} expanded */
  rows(collapse, expanded) {
    /** @type {Map<string, Lane[]>} */
    const kids = new Map();
    /** @type {Lane[]} */
    const roots = [];
    for (const l of this.lanes.values()) {
      if (l.parent && this.lanes.has(l.parent)) push(kids, l.parent, l);
      else roots.push(l);
    }
    const byOrder = (/** @type {Lane} */ a, /** @type {Lane} */ b) => a.order - b.order;
    roots.sort(byOrder);
    /** @type {{key: string, label: string, depth: number, kind: string, agg?: string[], count?: number}[]} */
    const out = [];
    /** @param {Lane} l @param {number} depth */
    const walk = (l, depth) => {
      out.push({ key: l.key, label: l.label, depth, kind: l.kind });
      const ks = kids.get(l.key);
      if (!ks) return;
      ks.sort(byOrder);
      if (ks.length > collapse && !expanded.has(l.key)) {
        /** @type {string[]} */
        const all = [];
        const gather = (/** @type {Lane} */ x) => {
          all.push(x.key);
          for (const y of kids.get(x.key) || []) gather(y);
        };
        for (const k of ks) gather(k);
        out.push({ key: `agg:${l.key}`, label: `${ks.length} children`, depth: depth + 1, kind: "group", agg: all, count: ks.length });
        return;
      }
      for (const k of ks) walk(k, depth + 1);
    };
    for (const r of roots) walk(r, 0);
    return out;
  }
}

/**
 * The span of a follow window that shows a run `age` seconds old from its start: the
 * first of 1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 times a power of ten that holds it (at most
 * a quarter of the window lies ahead of now), and never more than `win`.
 * @param {number} age @param {number} win
 */
export function grownSpan(age, win) {
  const a = Math.max(age, 1e-3);
  const p = 10 ** Math.floor(Math.log10(a));
  for (const m of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) {
    if (m * p >= a * (1 - 1e-9)) return Math.min(win, m * p);
  }
  return win;
}

/** A "nice" tick step for `span` seconds over `px` pixels: about one tick per 90 px, at
 * any span (past an hour: 1, 2 or 5 times a power of ten hours). Exported for tests.
 * @param {number} span @param {number} px */
export function tickStep(span, px) {
  const want = span / Math.max(1, px / 90);
  const steps = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600];
  for (const s of steps) if (s >= want) return s;
  const p = 10 ** Math.floor(Math.log10(want / 3600));
  for (const m of [1, 2, 5]) if (m * p * 3600 >= want) return m * p * 3600;
  return 10 * p * 3600;
}

/** @param {number} s @param {number} step */
function tickLabel(s, step) {
  if (step < 1) return `${s.toFixed(step < 0.01 ? 3 : step < 0.1 ? 2 : 1)}s`;
  if (s < 120) return `${Math.round(s)}s`;
  if (step >= 3600) return `${Math.round(s / 3600)}h`;
  return `${Math.floor(s / 60)}m${Math.round(s % 60) ? `${Math.round(s % 60)}s` : ""}`;
}

/**
 * @param {import("./lib/view.js").Ctx} ctx
 * @returns {import("./lib/view.js").ViewImpl}
 */
function makeTimeline(ctx) {
  const { config } = ctx;
  const live = !!config.live;
  const collapse = config.collapse || 50;
  const state = new TimelineState(config.max_items || 20000);
  const expanded = new Set();
  let win = config.window || 20;
  let follow = true;
  /** @type {[number, number] | null} */
  let view = null; // [tStart, tEnd] when not following
  let nowAt = performance.now();
  let lastNow = 0;
  /** @type {ReturnType<TimelineState["rows"]>} */
  let rows = [];
  /** @type {Set<string>} */
  let hlCalls = new Set();
  let hlLane = "";
  /** the tooltip of each drawn item, by its key (its element's `data-tip`); a function is
   * called on hover (most items are never hovered) @type {Map<string, string | (() => string)>} */
  let tips = new Map();
  /** the element whose tooltip shows @type {Element | null} */
  let tipEl = null;

  function hideTip() {
    tipEl = null;
    tooltip.hidden = true;
    placed = "";
  }

  /** Show the tooltip of `tipEl` as the last draw left it; hide it when there is none to
   * show: the element is no longer drawn (a draw removed it from under the pointer: the
   * item went out of view or out of the state), or it has nothing to say. */
  function showTip() {
    const t = tipEl && tipEl.isConnected ? tips.get(tipEl.getAttribute("data-tip") || "") : undefined;
    const text = typeof t === "function" ? t() : t;
    if (!text) {
      hideTip();
      return false;
    }
    setText(tooltip, text);
    tooltip.hidden = false;
    placeTip(text);
    return true;
  }

  /** the pointer, in client pixels, where the tooltip shows (its text may change while it stays) */
  let pointer = { x: 0, y: 0 };
  let placed = ""; // the text and pointer the tooltip was placed for
  /** Keep the tooltip next to the pointer and inside the view: the view's body clips what
   * crosses its edges (the bottom rows', the right edge's tooltips). Measures the tooltip
   * (a layout), so only when its text or the pointer moved. @param {string} text */
  function placeTip(text) {
    const at = `${pointer.x},${pointer.y},${text}`;
    if (at === placed) return;
    placed = at;
    const box = wrap.getBoundingClientRect();
    const [left, top] = tipPosition(pointer.x - box.left, pointer.y - box.top,
      tooltip.offsetWidth, tooltip.offsetHeight, box.width, box.height);
    tooltip.style.left = `${left}px`;
    tooltip.style.top = `${top}px`;
  }

  /** The restart budget a supervisor reported at time `t`. @param {string} lane @param {number} t */
  function budgetAt(lane, t) {
    const b = state.budget.get(lane);
    if (!b) return undefined;
    const i = lowerBound(b, t);
    return b[i] && Math.abs(b[i].t - t) < 1e-9 ? b[i] : undefined;
  }

  const btn = (/** @type {string} */ action, /** @type {string} */ text, /** @type {string} */ title) => h("button", { class: "al-btn al-btn-small", "data-action": action, title }, text);
  const followBtn = btn("follow", "● follow", "follow the newest events");
  const rangeText = h("span");
  const range = h("span", { class: "al-range", "data-role": "range" }, ctx.stat(rangeText));
  ctx.toolbar.append(range, btn("zoom-out", "−", "zoom out"), btn("zoom-in", "+", "zoom in"), btn("fit", "fit", "show the whole run"), followBtn);
  const legend = h("div", { class: "al-legend" },
    h("span", { class: "al-lg al-lg-life" }, "alive"), h("span", { class: "al-lg al-lg-dead" }, "crashed"),
    h("span", { class: "al-lg al-lg-llm" }, "LLM call (light: to first token)"), h("span", { class: "al-lg al-lg-tool" }, "tool"),
    h("span", { class: "al-lg al-lg-crash" }, "✕ crash"), h("span", { class: "al-lg al-lg-restart" }, "↻ restart"),
    h("span", { class: "al-muted" }, "ctrl+wheel zoom · drag pan"));
  const svgEl = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svgEl.setAttribute("class", "al-tl-svg");
  svgEl.setAttribute("data-role", "timeline");
  const spacer = h("div", { class: "al-tl-spacer" });
  const scroll = h("div", { class: "al-tl-scroll" }, svgEl, spacer);
  const tooltip = h("div", { class: "al-tooltip", hidden: true, "data-role": "tooltip" });
  // the dense layers: drawn over the SVG, never hit by the pointer (the SVG keeps the tooltips)
  const canvas = /** @type {HTMLCanvasElement} */ (h("canvas", { class: "al-tl-canvas", "data-role": "dense" }));
  const wrap = h("div", { class: "al-tl-wrap" }, scroll, canvas, tooltip);
  ctx.body.append(wrap, legend);
  const size = watchSize(scroll);
  let drawnW = 0;
  let drawnH = 0;
  let lastTop = 0; // the scroll position, as the last scroll event saw it
  /** @type {Record<string, string> | null} */
  let colors = null;
  let canvasBlank = true;

  /** Stroke colours of the canvas layers, from the view's CSS variables (read once). */
  function canvasColors() {
    if (!colors) {
      const cs = getComputedStyle(ctx.root);
      const v = (/** @type {string} */ name, /** @type {string} */ dflt) => cs.getPropertyValue(name).trim() || dflt;
      const crashed = v("--al-crashed", "#d43c3c");
      colors = { killed: crashed, crash: crashed, restart: v("--al-restarting", "#d08a00"), other: v("--al-fg3", "#999"), link: v("--al-restarting", "#d08a00") };
    }
    return colors;
  }

  /**
   * Draw the dense layers: tick marks (x positions per row and kind) and restart links (bezier curves).
   * @param {number} W @param {number} H @param {number} plotW
   * @param {{kind: string, y: number, xs: number[]}[]} ticks
   * @param {number[][]} links  [xa, ya, xb, yb] each
   */
  function drawCanvas(W, H, plotW, ticks, links) {
    if (!ticks.length && !links.length) {
      if (!canvasBlank) {
        canvas.getContext("2d")?.clearRect(0, 0, canvas.width, canvas.height);
        canvasBlank = true;
      }
      return;
    }
    const dpr = (typeof window !== "undefined" && window.devicePixelRatio) || 1;
    const cw = Math.round(W * dpr);
    const ch = Math.round(H * dpr);
    if (canvas.width !== cw || canvas.height !== ch) {
      canvas.width = cw;
      canvas.height = ch;
      canvas.style.width = `${W}px`;
      canvas.style.height = `${H}px`;
    }
    const g = canvas.getContext("2d");
    if (!g) return; // no canvas support (a test DOM): the counts are still in the SVG's tooltips
    canvasBlank = false;
    const c = canvasColors();
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, W, H);
    g.save();
    g.beginPath();
    g.rect(LABEL_W, AXIS, plotW + 10, H - AXIS);
    g.clip();
    // Ticks are drawn per pixel column, and a run of filled columns is one rectangle: a
    // storm puts hundreds of marks on a row, most on the same few pixels, and software
    // rasterizing (it runs on the page's main thread) costs by the shape drawn, not by the
    // pixels that change. Links are drawn once per pixel route, solid (dashing thousands
    // of curves is the slowest thing a 2D canvas can be asked to do) and one device pixel
    // wide: such a line is drawn as a hairline, while a wider one is first turned into an
    // outline, and filling the outline of a path of thousands of overlapping curves was
    // most of the canvas's cost in a crash storm.
    for (const kind of ["other", "restart", "killed", "crash"]) {
      const rects = tickRuns(ticks, kind, W);
      if (!rects.length) continue;
      g.fillStyle = c[kind];
      g.beginPath();
      for (const [x0, x1, yy] of rects) g.rect(x0 - 0.75, yy + 3, x1 - x0 + 1.5, ROW - 6);
      g.fill();
    }
    if (links.length) {
      g.beginPath();
      for (const [xa, ya, xb, yb] of uniqueLinks(links)) {
        g.moveTo(xa, ya);
        g.bezierCurveTo(xa + 18, ya, xb - 18, yb, xb, yb);
      }
      g.lineWidth = 1 / dpr;
      g.setLineDash([]);
      g.globalAlpha = 0.9;
      g.strokeStyle = c.link;
      g.stroke();
    }
    g.restore();
  }

  function nowEst() {
    if (!live) return state.now;
    const extra = Math.min(FOLLOW_AHEAD_MS, performance.now() - nowAt) / 1000;
    return state.now + (follow ? extra : 0);
  }

  /** @returns {[number, number]} */
  function windowTimes() {
    if (follow || !view) {
      const end = nowEst();
      if (end - win >= state.t0) return [end - win, end];
      // a run younger than the window is shown from its start; live, in a window that grows
      // in steps (so the scale, and with it every item's x, changes a few times, not on every draw)
      return [state.t0, state.t0 + (live ? grownSpan(end - state.t0, win) : Math.max(end - state.t0, 1e-3))];
    }
    return view;
  }

  // The SVG's parts, made once. A draw updates them in place: it asks each layer for the
  // element of every item in view (keyed by the item, or by the row slot for what belongs
  // to a row) and sets only the attributes that changed, so an item that did not change
  // costs no style, layout or paint work (see lib/keyed.js).
  const bg = svg("rect", { class: "al-tl-bg", x: 0, y: 0 });
  svgEl.append(bg);
  const stripes = new Layer(svgEl);
  const labels = new Layer(svgEl);
  const meters = new Layer(svgEl);
  const divider = svg("line", { class: "al-tl-divider", y1: 0 });
  // the plot, clipped to its area: the dense rows' hover areas stay put; the items are
  // drawn in a time frame of their own that a pan or follow step moves with one transform
  const plot = svg("svg", { x: LABEL_W, y: 0, overflow: "hidden" });
  svgEl.append(divider, plot);
  const hitLayer = new Layer(plot, { transform: `translate(${-LABEL_W},0)` });
  const moving = svg("g");
  plot.append(moving);
  const spanLayer = new Layer(moving);
  const callLayer = new Layer(moving);
  const markLayer = new Layer(moving);
  const linkLayer = new Layer(moving);
  const nowLine = svg("line", { class: "al-now" });
  if (live) moving.append(nowLine);
  const axis = svg("rect", { class: "al-tl-axis", x: 0, y: 0, height: AXIS });
  svgEl.append(axis);
  const tickLayer = new Layer(svgEl);
  const countText = svg("text", { class: "al-tl-count", x: 8, y: 15 });
  svgEl.append(countText);
  // The time frame of the plot's items: x = LABEL_W + (t - origin) * scale. It is kept while
  // the scale and width stay and the view has moved less than a plot width from it, so a
  // follow step or a pan changes one transform and the items that did not change keep
  // their attributes.
  let origin = 0;
  let scale = 0;
  let frameW = 0;
  /** each mark's element key, made once @type {WeakMap<Mark, string>} */
  const markKey = new WeakMap();

  function render() {
    if (state.laneDirty) {
      rows = state.rows(collapse, expanded);
      state.laneDirty = false;
    }
    const total = AXIS + rows.length * ROW + 6;
    const maxH = config.height || 300;
    // no layout reads here (see watchSize): the width is observed, the height is the one we set
    const Hview = Math.max(90, Math.min(maxH, total));
    const wantH = `${Hview}px`;
    if (scroll.style.height !== wantH) scroll.style.height = wantH;
    const W = Math.max(300, size.w || scroll.clientWidth || 800);
    const spaceH = `${Math.max(0, total - Hview)}px`;
    if (spacer.style.height !== spaceH) spacer.style.height = spaceH;
    const plotW = W - LABEL_W - 10;
    if (W !== drawnW || Hview !== drawnH) {
      drawnW = W;
      drawnH = Hview;
      svgEl.setAttribute("width", String(W));
      svgEl.setAttribute("height", String(Hview));
      svgEl.setAttribute("viewBox", `0 0 ${W} ${Hview}`);
      for (const el of [bg, axis]) el.setAttribute("width", String(W));
      bg.setAttribute("height", String(Hview));
      divider.setAttribute("x1", String(LABEL_W - 4));
      divider.setAttribute("x2", String(LABEL_W - 4));
      divider.setAttribute("y2", String(Hview));
      plot.setAttribute("width", String(plotW + 10));
      plot.setAttribute("height", String(Hview));
    }
    const [ta, tb] = windowTimes();
    const k = plotW / (tb - ta);
    if (W !== frameW || Math.abs(k - scale) > 1e-9 * k || Math.abs((ta - origin) * scale) > plotW) {
      origin = ta;
      scale = k;
      frameW = W;
    }
    /** x of time `t` in the plot's frame */
    const x = (/** @type {number} */ t) => LABEL_W + (t - origin) * scale;
    /** x of time `t` on the screen (the canvas) */
    const sx = (/** @type {number} */ t) => LABEL_W + (t - ta) * scale;
    const shift = (origin - ta) * scale;
    setAttr(moving, "transform", `translate(${(shift - LABEL_W).toFixed(2)},0)`);
    setAttr(tickLayer.g, "transform", `translate(${shift.toFixed(2)},0)`);
    // items reach this far past the plot's edges, in its frame (a long bar is cut there)
    const xLo = LABEL_W - plotW - 2;
    const xHi = W + plotW + 2;
    const first = Math.max(0, Math.floor(lastTop / ROW));
    const count = Math.ceil((Hview - AXIS) / ROW) + 1;
    const visible = rows.slice(first, first + count);
    /** @type {Map<string, number>} row index of each visible lane (and lanes inside a group) */
    const rowOf = new Map();
    visible.forEach((r, i) => {
      rowOf.set(r.key, i);
      if (r.agg) for (const k of r.agg) rowOf.set(k, i);
    });
    const y = (/** @type {number} */ i) => AXIS + i * ROW;
    tips = new Map();
    /** Give `el` its tooltip (kept in `tips` under the element's key).
     * @param {Element} el @param {string} key @param {string | (() => string)} text */
    const tip = (el, key, text) => {
      tips.set(key, text);
      setAttr(el, "data-tip", key);
    };
    for (const l of [stripes, labels, meters, hitLayer, spanLayer, callLayer, markLayer, linkLayer, tickLayer]) l.begin();
    // lanes: stripes and labels
    visible.forEach((r, i) => {
      const yy = y(i);
      const slot = String(i);
      const stripe = stripes.get(slot, "rect");
      setAttr(stripe, "class", `al-tl-row${(first + i) % 2 ? " al-odd" : ""}${r.key === hlLane ? " al-tl-hl" : ""}`);
      setAttr(stripe, "x", "0");
      setAttr(stripe, "y", String(yy));
      setAttr(stripe, "width", String(W));
      setAttr(stripe, "height", String(ROW));
      setAttr(stripe, "data-lane", r.key);
      const label = labels.get(slot, "text");
      const glyph = r.kind === "supervisor" ? "▣ " : r.kind === "group" ? "▸ " : "";
      setAttr(label, "class", `al-tl-label${r.kind === "supervisor" ? " al-sup" : ""}${r.agg ? " al-agg" : ""}`);
      setAttr(label, "x", String(8 + r.depth * 10));
      setAttr(label, "y", String(yy + 14));
      setAttr(label, "data-action", r.agg ? "expand" : null);
      setAttr(label, "data-key", r.agg ? r.key.slice(4) : null);
      setText(label, (glyph + r.label).slice(0, 40));
      const b = state.budget.get(r.key);
      if (b && b.length) {
        const last = b[b.length - 1];
        const [frac, lvl] = budgetUse(last.n, last.max);
        const g = meters.get(slot, "g");
        if (!g.firstChild) g.append(svg("rect", { class: "al-tl-meter", width: 30, height: 6, rx: 3 }), svg("rect", { height: 6, rx: 3 }));
        const [box, fill] = /** @type {Element[]} */ ([...g.children]);
        for (const el of [box, fill]) {
          setAttr(el, "x", String(LABEL_W - 38));
          setAttr(el, "y", String(yy + 7));
        }
        setAttr(fill, "class", `al-tl-meter-fill al-${lvl}`);
        setAttr(fill, "width", String(Math.max(2, 30 * frac)));
        tip(g, `budget:${r.key}`, `restart budget of ${r.label}: ${last.n} of ${last.max} restarts in the last ${last.period}s`);
      }
    });
    /** @type {{kind: string, y: number, xs: number[]}[]} */
    const ticks = [];
    // lifetimes
    visible.forEach((r, i) => {
      if (r.agg) return;
      const ids = state.spansByLane.get(r.key);
      if (!ids) return;
      for (const id of ids) {
        const s = state.spans.get(id);
        if (!s) continue;
        const end = s.t1 ?? nowEst();
        if (end < ta || s.t0 > tb) continue;
        const x0 = Math.max(xLo, x(s.t0));
        const x1 = Math.min(xHi, x(end));
        const cls = s.end === null ? "al-life" : s.end === "crash" || s.end === "killed" ? "al-life-dead" : "al-life-stopped";
        const el = spanLayer.get(`s${id}`, "rect");
        setAttr(el, "class", `al-span ${cls}`);
        setAttr(el, "x", x0.toFixed(1));
        setAttr(el, "y", String(y(i) + 3));
        setAttr(el, "width", Math.max(1, x1 - x0).toFixed(1));
        setAttr(el, "height", String(ROW - 6));
        setAttr(el, "rx", "2");
        tip(el, `s${id}`, () => `${r.label} ${pidText(s.id)}\nstarted ${(s.t0 - state.t0).toFixed(3)}s${s.t1 !== null ? `, lived ${dur(s.t1 - s.t0)}\nexit: ${s.reason || s.end || "unknown"}` : " · alive"}`);
      }
    });
    // LLM calls and tools
    visible.forEach((r, i) => {
      if (r.agg) return;
      const ids = state.callsByLane.get(r.key);
      if (!ids) return;
      for (const id of ids) {
        const c = state.calls.get(id);
        if (!c) continue;
        const end = c.t1 ?? nowEst();
        if (end < ta || c.t0 > tb) continue;
        const x0 = Math.max(xLo, x(c.t0));
        const x1 = Math.min(xHi, x(end));
        const yy = String(y(i) + 6);
        const hl = hlCalls.has(c.id) ? " al-hl-span" : "";
        const key = `c${id}`;
        const t = c.kind === "tool"
          ? `tool ${c.name || "(no name)"}\n${dur(end - c.t0)} · ${c.status}`
          : `LLM call ${c.id}${c.model ? ` ${c.model}` : ""}\nTTFT ${dur(c.ttft)} · total ${dur(end - c.t0)}${c.tokens ? ` · ${c.tokens} tokens` : ""}\n${c.status}`;
        if (c.kind === "tool") {
          const el = callLayer.get(key, "rect");
          setAttr(el, "class", `al-call al-tool${hl}`);
          setAttr(el, "x", x0.toFixed(1));
          setAttr(el, "y", yy);
          setAttr(el, "width", Math.max(2, x1 - x0).toFixed(1));
          setAttr(el, "height", String(ROW - 12));
          setAttr(el, "rx", "2");
          setAttr(el, "data-call", c.id);
          tip(el, key, t);
          continue;
        }
        const xf = c.tf !== null ? Math.min(xHi, Math.max(xLo, x(c.tf))) : x1;
        const g = callLayer.get(key, "g");
        if (!g.firstChild) g.append(svg("rect", { class: "al-llm-wait", height: ROW - 12 }), svg("rect", { class: "al-llm-stream", height: ROW - 12 }));
        const [wait, stream] = /** @type {Element[]} */ ([...g.children]);
        setAttr(g, "class", `al-call al-call-${c.status}${hl}`);
        setAttr(g, "data-call", c.id);
        tip(g, key, t);
        setAttr(wait, "x", x0.toFixed(1));
        setAttr(wait, "y", yy);
        setAttr(wait, "width", Math.max(1, xf - x0).toFixed(1));
        setAttr(stream, "x", xf.toFixed(1));
        setAttr(stream, "y", yy);
        setAttr(stream, "width", Math.max(c.t1 === null && c.tf === null ? 0 : 1.5, x1 - xf).toFixed(1));
      }
    });
    // marks: one element each when few; on the canvas when many (a crash storm, or a
    // folded lane holding a big supervisor's children), so a frame stays cheap
    visible.forEach((r, i) => {
      const lanes = r.agg || [r.key];
      const yy = y(i);
      /** @type {Mark[]} */
      const inView = [];
      for (const lk of lanes) {
        const ms = state.marks.get(lk);
        if (!ms) continue;
        for (let j = lowerBound(ms, ta); j < ms.length && ms[j].t <= tb; j++) {
          if (!r.agg || ms[j].kind === "crash" || ms[j].kind === "killed" || ms[j].kind === "restart") inView.push(ms[j]);
        }
      }
      if (inView.length > MARKS_DENSE) {
        /** @type {Record<string, number[]>} */
        const xs = {};
        for (const m of inView) {
          const k = m.kind === "killed" || m.kind === "crash" ? m.kind : m.kind === "restart" ? "restart" : "other";
          (xs[k] ||= []).push(sx(m.t));
        }
        const summary = Object.entries(xs).map(([k, a]) => `${a.length} ${k}`).join(", ");
        for (const [k, a] of Object.entries(xs)) ticks.push({ kind: k, y: yy, xs: a });
        // the hover area of a dense row (under everything else; its tooltip is the row's summary)
        const hit = hitLayer.get(String(i), "rect");
        setAttr(hit, "class", "al-mark-ticks");
        setAttr(hit, "x", String(LABEL_W));
        setAttr(hit, "y", String(yy));
        setAttr(hit, "width", String(plotW + 10));
        setAttr(hit, "height", String(ROW));
        setAttr(hit, "data-kind", "ticks");
        setAttr(hit, "data-count", String(inView.length));
        setAttr(hit, "data-kinds", Object.keys(xs).join(" "));
        tip(hit, `ticks:${i}`, `${r.label}: ${summary} in view (zoom in for each one)`);
        return;
      }
      for (const m of inView) {
        let key = markKey.get(m);
        if (key === undefined) markKey.set(m, (key = `${m.lane} ${m.t} ${m.kind}`));
        for (let n = 1; markLayer.has(key); n++) key = `${m.lane} ${m.t} ${m.kind} ${n}`;
        // a shape placed by a transform (no text: an SVG text is laid out again whenever
        // its position or an ancestor's transform changes, and a follow step changes both)
        const el = markLayer.get(key, "path");
        if (!el.hasAttribute("d")) { // a new one (a key's kind, and so its shape, never changes)
          el.setAttribute("d", MARK_SHAPE[m.kind] || MARK_SHAPE.other);
          el.setAttribute("class", `al-mark al-mark-${m.kind}`);
          el.setAttribute("data-kind", m.kind);
        }
        setAttr(el, "transform", `translate(${x(m.t).toFixed(1)},${yy + ROW / 2})`);
        tip(el, key, () => {
          const t = `${m.kind} at ${(m.t - state.t0).toFixed(3)}s${m.text ? `\n${m.text}` : ""}`;
          const b = m.kind === "restart" ? budgetAt(r.key, m.t) : undefined;
          return b ? `${t}\nrestart budget: ${b.n} of ${b.max} in ${b.period}s` : t;
        });
      }
    });
    // restart links: supervisor lane -> restarted child (on the canvas when there are many)
    /** @type {number[][]} */
    const linkPts = [];
    /** @type {Link[]} */
    const linkOf = [];
    for (let j = state.links.length - 1; j >= 0 && linkPts.length < 2000; j--) {
      const l = state.links[j];
      if (l.t2 < ta) break;
      if (l.t > tb) continue;
      const a = rowOf.get(l.from);
      const b = rowOf.get(l.to);
      if (a === undefined && b === undefined) continue;
      const ya = a === undefined ? AXIS : y(a) + ROW / 2;
      const yb = b === undefined ? Hview : y(b) + ROW / 2;
      linkPts.push([sx(l.t), ya, sx(l.t2) + 2, yb]);
      if (linkOf.length < LINKS_DENSE + 1) linkOf.push(l);
    }
    const denseLinks = linkPts.length > LINKS_DENSE;
    if (!denseLinks) {
      linkPts.forEach(([, ya, , yb], j) => {
        const l = linkOf[j];
        const xa = x(l.t);
        const xb = x(l.t2) + 2;
        let key = `${l.from} ${l.to} ${l.t} ${l.pid}`;
        for (let n = 1; linkLayer.has(key); n++) key = `${l.from} ${l.to} ${l.t} ${l.pid} ${n}`;
        const el = linkLayer.get(key, "path");
        setAttr(el, "class", "al-link");
        setAttr(el, "d", `M${xa.toFixed(1)} ${ya} C${(xa + 18).toFixed(1)} ${ya} ${(xb - 18).toFixed(1)} ${yb} ${xb.toFixed(1)} ${yb}`);
        setAttr(el, "data-kind", "restart-link");
        tip(el, key, () => `restart of ${l.to.split("/").pop()} as ${pidText(l.pid)}`);
      });
    }
    // now line
    if (live) {
      const xn = x(state.now).toFixed(1);
      setAttr(nowLine, "x1", xn);
      setAttr(nowLine, "x2", xn);
      setAttr(nowLine, "y1", String(AXIS));
      setAttr(nowLine, "y2", String(Hview));
    }
    // axis: the ticks are in the plot's time frame too
    const step = tickStep(tb - ta, plotW);
    const n0 = Math.ceil((ta - state.t0) / step);
    for (let n = n0; n * step + state.t0 <= tb; n++) {
      const t = n * step;
      const xx = x(t + state.t0).toFixed(1);
      const g = tickLayer.get(String(n), "g");
      if (!g.firstChild) g.append(svg("line", { class: "al-tick", y1: AXIS - 5, y2: AXIS }), svg("text", { class: "al-tick-label", y: AXIS - 8, "text-anchor": "middle" }));
      const [line, label] = /** @type {Element[]} */ ([...g.children]);
      setAttr(line, "x1", xx);
      setAttr(line, "x2", xx);
      setAttr(label, "x", xx);
      setText(label, tickLabel(t, step));
    }
    for (const l of [stripes, labels, meters, hitLayer, spanLayer, callLayer, markLayer, linkLayer, tickLayer]) l.end();
    setText(countText, `${rows.length} lanes`);
    setAttr(svgEl, "data-lanes", String(rows.length));
    // how many links the canvas drew (0 when they are SVG paths)
    setAttr(svgEl, "data-dense-links", String(denseLinks ? linkPts.length : 0));
    drawCanvas(W, Hview, plotW, ticks, denseLinks ? linkPts : []);
    setText(rangeText, `${dur(tb - ta)} shown`);
    setAttr(followBtn, "aria-pressed", follow ? "true" : "false");
    // the tooltip shown says what its item is now (an open call's duration grows), or goes
    // with its item (it does not stay over the place the item was drawn)
    if (tipEl) showTip();
    // following live: draw again while the view still runs on with the clock (the last
    // of these draws is the one at FOLLOW_AHEAD_MS); after that only news (or the user) draws
    if (live && follow && performance.now() - nowAt < FOLLOW_AHEAD_MS) ticker();
  }

  // follow live: redraw ~8 times a second while the view runs on, so open bars grow
  let tickTimer = /** @type {any} */ (null);
  function ticker() {
    if (tickTimer) return;
    tickTimer = setTimeout(() => {
      tickTimer = null;
      if (follow && root.isConnected) ctx.invalidate();
    }, 120);
  }
  const root = ctx.root;

  /** @param {number} factor @param {number} [atX] */
  function zoom(factor, atX) {
    const [ta, tb] = windowTimes();
    const W = scroll.clientWidth || 800;
    const frac = atX === undefined ? (follow ? 1 : 0.5) : Math.min(1, Math.max(0, (atX - LABEL_W) / (W - LABEL_W - 10)));
    const pivot = ta + frac * (tb - ta);
    // from 2 ms up to a few times the run (or the follow window): past that there is
    // nothing more to see, and the numbers only lose precision
    const most = Math.max(60, 4 * (nowEst() - state.t0), 4 * (config.window || 20));
    const span = Math.min(most, Math.max(0.002, (tb - ta) * factor));
    if (follow && atX === undefined) {
      win = span;
    } else {
      follow = false;
      view = [pivot - frac * span, pivot + (1 - frac) * span];
    }
    ctx.invalidate();
  }

  /** @param {number} dtPx */
  function pan(dtPx) {
    const [ta, tb] = windowTimes();
    const W = scroll.clientWidth || 800;
    const dt = (dtPx / (W - LABEL_W - 10)) * (tb - ta);
    follow = false;
    view = [ta - dt, tb - dt];
    ctx.invalidate();
  }

  ctx.root.addEventListener("click", (e) => {
    const t = /** @type {Element} */ (e.target).closest("[data-action]");
    if (!t) return;
    const a = t.getAttribute("data-action");
    if (a === "zoom-in") zoom(0.5);
    else if (a === "zoom-out") zoom(2);
    else if (a === "fit") {
      follow = false;
      view = [state.t0, Math.max(nowEst(), state.t0 + 1e-3)];
      ctx.invalidate();
    } else if (a === "follow") {
      follow = !follow;
      if (!follow) view = windowTimes();
      ctx.invalidate();
    } else if (a === "expand") {
      const k = t.getAttribute("data-key") || "";
      if (expanded.has(k)) expanded.delete(k);
      else expanded.add(k);
      state.laneDirty = true;
      ctx.invalidate();
    }
  });
  scroll.addEventListener("wheel", (e) => {
    if (e.ctrlKey || e.metaKey) {
      e.preventDefault();
      const r = scroll.getBoundingClientRect();
      zoom(e.deltaY > 0 ? 1.25 : 0.8, e.clientX - r.left);
    } else if (e.shiftKey || Math.abs(e.deltaX) > Math.abs(e.deltaY)) {
      e.preventDefault();
      pan(-(e.deltaX || e.deltaY));
    }
  }, { passive: false });
  scroll.addEventListener("scroll", () => {
    if (scroll.scrollTop !== lastTop) {
      lastTop = scroll.scrollTop;
      ctx.invalidate();
    }
  });
  let drag = /** @type {{x: number} | null} */ (null);
  svgEl.addEventListener("pointerdown", (e) => {
    if (/** @type {Element} */ (e.target).closest("[data-action]") || e.offsetX < LABEL_W) return;
    drag = { x: e.clientX };
    svgEl.setPointerCapture?.(e.pointerId);
  });
  svgEl.addEventListener("pointermove", (e) => {
    if (drag) {
      pan(e.clientX - drag.x);
      drag = { x: e.clientX };
      hideTip();
      return;
    }
    tipEl = /** @type {Element} */ (e.target).closest("[data-tip]");
    pointer = { x: e.clientX, y: e.clientY };
    showTip();
  });
  const endDrag = () => { drag = null; };
  svgEl.addEventListener("pointerup", endDrag);
  svgEl.addEventListener("pointerleave", hideTip);

  return {
    reset(v) {
      state.reset(v);
      lastNow = state.now;
      nowAt = performance.now();
    },
    apply(d) {
      state.apply(d);
      if (state.now !== lastNow) {
        lastNow = state.now;
        nowAt = performance.now();
      }
    },
    render,
    highlight(msg) {
      hlCalls = new Set(msg.llm || []);
      hlLane = msg.key || "";
      ctx.invalidate();
    },
    destroy() {
      clearTimeout(tickTimer);
      size.stop();
    },
  };
}

/** @type {import("@anywidget/types").Render} */
function render(props) {
  return mountView(props, "timeline", makeTimeline, 100); // at most 10 draws a second
}

export default { render };
