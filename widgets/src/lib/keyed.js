// @ts-check
/**
 * Keyed layers of SVG elements that live from one draw to the next. A draw asks
 * the layer for the element of each key it shows; an element asked for in the
 * last draw is handed back as it is, so the draw only sets the attributes that
 * changed (`setAttr` in dom.js), and the browser restyles and repaints only those.
 * Elements not asked for are removed when the draw ends. Rebuilding an SVG with
 * `innerHTML` instead makes the browser parse, style and lay out every element
 * again on every draw, which is what a live view cannot afford ten times a second.
 *
 * `syncChildren` does the same for a list of HTML elements the view keeps by key (the
 * tree's rows and chips): it puts them in order with the fewest DOM operations.
 * @module
 */
import { svg } from "./dom.js";

/** A layer (an SVG `<g>`) whose children are keyed and kept between draws. */
export class Layer {
  /**
   * @param {Element} parent  the layer's `<g>` is appended to it
   * @param {Record<string, string>} [attrs]  the `<g>`'s attributes
   * @param {boolean} [ordered]  keep the elements in the order a draw asks for them (when
   *   a draw asks for a new element before older ones, e.g. a list scrolled up)
   */
  constructor(parent, attrs = {}, ordered = false) {
    this.ordered = ordered;
    this.g = svg("g", attrs);
    parent.append(this.g);
    /** @type {Map<string, Element>} the elements of the last draw */
    this.els = new Map();
    /** @type {Map<string, Element>} the elements of this draw */
    this.next = new Map();
    /** @type {Element[]} the elements made in this draw, put in the DOM when it ends */
    this.fresh = [];
  }

  /** Start a draw. */
  begin() {
    this.next = new Map();
  }

  /**
   * The element for `key` (of tag `tag`): the one from the last draw, or a new one. A new
   * one joins the DOM (last: elements keep their order of creation) when the draw ends,
   * so the attributes the draw gives it cost no style invalidation each.
   * @param {string} key @param {string} tag
   * @returns {Element}
   */
  get(key, tag) {
    let el = this.els.get(key);
    if (el === undefined || el.localName !== tag) {
      el?.remove();
      el = svg(tag);
      this.fresh.push(el);
      this.els.set(key, el);
    }
    this.next.set(key, el);
    return el;
  }

  /** Whether `key` was drawn already in this draw (keys must be unique per draw). @param {string} key */
  has(key) {
    return this.next.has(key);
  }

  /** End a draw: remove what it did not ask for, add what it made. */
  end() {
    for (const [k, el] of this.els) if (!this.next.has(k)) el.remove();
    this.els = this.next;
    if (this.fresh.length) {
      this.g.append(...this.fresh);
      this.fresh = [];
    }
    if (!this.ordered) return;
    let c = this.g.firstElementChild;
    for (const el of this.next.values()) {
      if (c !== el) {
        this.g.append(...this.next.values()); // moves them, in order
        return;
      }
      c = c.nextElementSibling;
    }
  }

  /** Remove every element. */
  clear() {
    this.begin();
    this.end();
  }

  get size() {
    return this.els.size;
  }
}

/**
 * Which entries of `seq` (each an element's position in its parent now, or -1 for a new
 * one) can stay where they are: a longest run of increasing positions. The others are the
 * fewest elements to move to put them all in order. O(n log n).
 * @param {number[]} seq
 * @returns {Uint8Array} 1 for the entries that stay
 */
export function staying(seq) {
  const n = seq.length;
  const prev = new Int32Array(n).fill(-1);
  /** index into seq of the smallest tail of an increasing run of each length @type {number[]} */
  const tails = [];
  for (let i = 0; i < n; i++) {
    const v = seq[i];
    if (v < 0) continue;
    let lo = 0;
    let hi = tails.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (seq[tails[mid]] < v) lo = mid + 1;
      else hi = mid;
    }
    if (lo > 0) prev[i] = tails[lo - 1];
    tails[lo] = i;
  }
  const out = new Uint8Array(n);
  for (let i = tails.length ? tails[tails.length - 1] : -1; i >= 0; i = prev[i]) out[i] = 1;
  return out;
}

/**
 * Make `items` the children of `box`, in this order, touching only what changed: elements
 * not in `items` are removed, new ones inserted, and of the ones already there only the
 * fewest are moved (see `staying`). A child that joins, leaves or changes in a box of
 * 10,000 is one DOM operation, not 10,000.
 * @param {Element} box @param {Element[]} items
 */
export function syncChildren(box, items) {
  const want = new Set(items);
  for (const c of Array.from(box.children)) if (!want.has(c)) c.remove();
  /** @type {Map<Element, number>} */
  const pos = new Map();
  let i = 0;
  for (let c = box.firstElementChild; c; c = c.nextElementSibling) pos.set(c, i++);
  const stay = staying(items.map((it) => pos.get(it) ?? -1));
  /** @type {Element | null} */
  let next = null;
  for (let j = items.length - 1; j >= 0; j--) {
    const it = items[j];
    if (!stay[j] && (it.parentNode !== box || it.nextElementSibling !== next)) box.insertBefore(it, next);
    next = it;
  }
}
