// @ts-check
/**
 * Keyed layers of SVG elements that live from one draw to the next. A draw asks
 * the layer for the element of each key it shows; an element asked for in the
 * last draw is handed back as it is, so the draw only sets the attributes that
 * changed (`setAttr` in dom.js), and the browser restyles and repaints only those.
 * Elements not asked for are removed when the draw ends. Rebuilding an SVG with
 * `innerHTML` instead makes the browser parse, style and lay out every element
 * again on every draw, which is what a live view cannot afford ten times a second.
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
