// @ts-check
/**
 * Tiny DOM and formatting helpers (no framework).
 * @module
 */

/**
 * Create an element: `h("div", {class: "al-x", "data-key": k}, child, "text")`.
 * Attributes set to null/undefined/false are skipped; `on*` functions become listeners.
 * @param {string} tag
 * @param {Record<string, any> | null} [attrs]
 * @param {...(Node | string | number | null | undefined | false)} children
 * @returns {HTMLElement}
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
      else if (k === "text") el.textContent = String(v);
      else el.setAttribute(k, v === true ? "" : String(v));
    }
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === "object" ? c : String(c));
  }
  return el;
}

/**
 * Set `el`'s text only when it differs: writing the same text again still replaces the
 * text node, and the browser then lays out and repaints it.
 * @param {Node} el @param {string} text
 */
export function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

/**
 * Set (or, with null, remove) an attribute only when it differs.
 * @param {Element} el @param {string} name @param {string | null} value
 */
export function setAttr(el, name, value) {
  if (value === null) {
    if (el.hasAttribute(name)) el.removeAttribute(name);
  } else if (el.getAttribute(name) !== value) {
    el.setAttribute(name, value);
  }
}

/** @param {string} ns @param {string} tag @param {Record<string, any>} [attrs] */
export function svg(tag, attrs = {}, ns = "http://www.w3.org/2000/svg") {
  const el = document.createElementNS(ns, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== null && v !== undefined) el.setAttribute(k, String(v));
  return el;
}

/** Escape text for innerHTML. @param {any} s */
export function esc(s) {
  return String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] || c);
}

/** `<0.42.0>` @param {number | null | undefined} pid */
export function pidText(pid) {
  return pid ? `<0.${pid}.0>` : "(outside)";
}

/** 1234 -> "1,234" @param {number} n */
export function num(n) {
  return Math.round(n).toLocaleString("en-US");
}

/** Seconds as "850 ms", "1.24 s", "2 min 3 s". @param {number | null | undefined} s */
export function dur(s) {
  if (s === null || s === undefined || Number.isNaN(s)) return "–";
  if (s < 1) return `${Math.round(s * 1000)} ms`;
  if (s < 60) return `${s.toFixed(2)} s`;
  return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}

/** Dollars, with enough digits for fractions of a cent. @param {number | null | undefined} c */
export function usd(c) {
  if (!c) return "$0";
  return c < 0.01 ? `$${c.toFixed(5)}` : `$${c.toFixed(3)}`;
}

/** Why a kernel command did nothing: the error of its answer (`r`, one that is not ok), or
 * "no answer from the kernel". @param {any} r */
export function refusal(r) {
  return (r && r.error) || "no answer from the kernel";
}

/** Why a kernel command could not be called or answered (`e`, what its promise rejected with). @param {any} e */
export function failure(e) {
  return e && e.message ? e.message : String(e);
}

/** How much of a restart budget is used, 0 to 1, and its level (`ok`, `high` from 60 %,
 * `full`): `used` restarts of `max` allowed (an intensity of 0 allows none, so one is all of it).
 * @param {number} used @param {number} max @returns {[number, "ok" | "high" | "full"]} */
export function budgetUse(used, max) {
  const frac = max > 0 ? Math.min(1, used / max) : used > 0 ? 1 : 0;
  return [frac, frac >= 1 ? "full" : frac >= 0.6 ? "high" : "ok"];
}

export const STATUSES = /** @type {const} */ (["running", "waiting", "restarting", "crashed", "stopped"]);

/** Human words for statuses. */
export const STATUS_TEXT = {
  running: "running",
  waiting: "waiting on an LLM",
  restarting: "restarting",
  crashed: "crashed",
  stopped: "stopped",
};

/**
 * Call `fn` at most once per animation frame, and at most once per `minInterval` ms
 * (views that redraw a lot at once, like the timeline, draw at ~10 frames a second).
 * @param {() => void} fn
 * @param {number} [minInterval]
 * @returns {{schedule: () => void, cancel: () => void, now: () => void}}
 */
export function frameScheduler(fn, minInterval = 0) {
  /** @type {any} */
  let handle = null;
  /** @type {any} */
  let timer = null;
  let last = -Infinity;
  const raf = typeof requestAnimationFrame === "function" ? requestAnimationFrame : (/** @type {any} */ cb) => setTimeout(cb, 16);
  const caf = typeof cancelAnimationFrame === "function" ? cancelAnimationFrame : clearTimeout;
  const run = () => {
    handle = null;
    last = performance.now();
    fn();
  };
  return {
    schedule() {
      if (handle !== null || timer !== null) return;
      const wait = last + minInterval - performance.now();
      if (wait > 0) {
        timer = setTimeout(() => {
          timer = null;
          if (handle === null) handle = raf(run);
        }, wait);
      } else {
        handle = raf(run);
      }
    },
    cancel() {
      if (handle !== null) caf(handle);
      clearTimeout(timer);
      handle = null;
      timer = null;
    },
    now() {
      if (handle !== null) caf(handle);
      clearTimeout(timer);
      timer = null;
      run();
    },
  };
}

/**
 * The size of `el`'s content box, kept by a ResizeObserver, so that a render never reads
 * layout: a read after DOM writes (this view's, or another view's in the same frame) makes
 * the browser lay the whole page out right there, once more per view and frame.
 * `w`/`h` are 0 until the first observation (or without ResizeObserver): read the element then.
 * @param {Element} el
 * @returns {{w: number, h: number, border: number, stop: () => void}}
 */
export function watchSize(el) {
  const box = { w: 0, h: 0, border: 0, stop: () => {} };
  if (typeof ResizeObserver !== "function") return box;
  const ro = new ResizeObserver((entries) => {
    for (const e of entries) {
      box.w = e.contentRect.width;
      box.h = e.contentRect.height;
      const b = e.borderBoxSize && e.borderBoxSize[0];
      box.border = b ? b.blockSize : e.contentRect.height;
    }
  });
  ro.observe(el);
  box.stop = () => ro.disconnect();
  return box;
}

/**
 * A box in a view's header for content that changes at frame rate (the tree's status
 * counts, the time range shown, the number of messages). The header is outside the
 * views' contained bodies, and its width depends on its text: a changed count there
 * made the browser lay out the whole notebook, several times a second under load.
 * The box is contained (`.al-stat`: contain: strict, one line high, sized here), so the
 * browser lays out a change of its content inside it only. It widens at once when its
 * content grows, and narrows to the widest its content has been over the last
 * `shrinkAfter` ms (the counts of a storm come and go: the box, and with it the page,
 * does not follow every one). Without ResizeObserver the box is not contained.
 * @param {HTMLElement} content
 * @param {number} [shrinkAfter]  ms
 * @returns {{el: HTMLElement, stop: () => void}}
 */
export function statBox(content, shrinkAfter = 2000) {
  const el = h("span", { class: "al-stat-free" }, content);
  if (typeof ResizeObserver !== "function") return { el, stop: () => {} };
  el.className = "al-stat";
  let w = -1; // the box's width
  let want = 0; // the content's width
  let peak = 0; // the widest the content was since it got narrower than the box
  /** @type {any} */
  let timer = null;
  const setWidth = (/** @type {number} */ px) => {
    w = px;
    el.style.width = `${px}px`;
  };
  const shrink = () => {
    timer = null;
    if (peak < w) setWidth(peak);
    if (want < w) {
      peak = want;
      timer = setTimeout(shrink, shrinkAfter);
    }
  };
  const ro = new ResizeObserver((entries) => {
    const e = entries[entries.length - 1];
    const b = e.borderBoxSize && e.borderBoxSize[0];
    want = Math.ceil(b ? b.inlineSize : e.contentRect.width);
    if (want >= w) {
      clearTimeout(timer);
      timer = null;
      if (want > w) setWidth(want);
    } else if (timer === null) {
      peak = want;
      timer = setTimeout(shrink, shrinkAfter);
    } else {
      peak = Math.max(peak, want);
    }
  });
  ro.observe(content);
  return { el, stop: () => { ro.disconnect(); clearTimeout(timer); } };
}
