import { describe, it, expect } from "vitest";
import { Layer, syncChildren, staying } from "../src/lib/keyed.js";

const keys = (layer) => [...layer.g.children].map((el) => el.getAttribute("data-k"));

/** One draw of `layer` asking for `items` ([key, tag]). */
function draw(layer, items) {
  layer.begin();
  const got = items.map(([k, tag]) => {
    const el = layer.get(k, tag);
    el.setAttribute("data-k", k);
    return el;
  });
  layer.end();
  return got;
}

describe("keyed layers", () => {
  it("hands back the element of a key from the last draw, and removes the keys not asked for", () => {
    const root = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    const layer = new Layer(root, { class: "x" });
    expect(layer.g.parentNode).toBe(root);
    expect(layer.g.getAttribute("class")).toBe("x");
    const [a, b] = draw(layer, [["a", "rect"], ["b", "line"]]);
    expect(keys(layer)).toEqual(["a", "b"]);
    const [a2, c] = draw(layer, [["a", "rect"], ["c", "path"]]);
    expect(a2).toBe(a);
    expect(b.parentNode).toBeNull();
    expect(c.localName).toBe("path");
    expect(keys(layer)).toEqual(["a", "c"]);
    // a key asked for with another tag gets a new element
    const [a3] = draw(layer, [["a", "text"]]);
    expect(a3).not.toBe(a);
    expect(a3.localName).toBe("text");
    expect(keys(layer)).toEqual(["a"]);
    layer.clear();
    expect(layer.g.children.length).toBe(0);
    expect(layer.size).toBe(0);
  });

  it("puts new elements in the DOM when the draw ends", () => {
    const root = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    const layer = new Layer(root);
    layer.begin();
    const el = layer.get("a", "rect");
    expect(el.isConnected || el.parentNode !== null).toBe(false);
    expect(layer.has("a")).toBe(true);
    expect(layer.has("b")).toBe(false);
    layer.end();
    expect(el.parentNode).toBe(layer.g);
  });

  it("keeps the order a draw asks for when ordered", () => {
    const root = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    const plain = new Layer(root);
    const ordered = new Layer(root, {}, true);
    for (const l of [plain, ordered]) {
      draw(l, [["2", "g"], ["3", "g"]]);
      draw(l, [["1", "g"], ["2", "g"], ["3", "g"]]);
    }
    expect(keys(plain)).toEqual(["2", "3", "1"]);
    expect(keys(ordered)).toEqual(["1", "2", "3"]);
  });
});

describe("keyed children", () => {
  const make = (n) => Array.from({ length: n }, (_, i) => {
    const el = document.createElement("span");
    el.setAttribute("data-k", String(i));
    return el;
  });
  const keysOf = (box) => [...box.children].map((el) => el.getAttribute("data-k"));

  /** Children (re)inserted by `syncChildren(box, items)`. */
  function moves(box, items) {
    let n = 0;
    const watch = new MutationObserver((rs) => { for (const r of rs) n += r.addedNodes.length; });
    watch.observe(box, { childList: true });
    syncChildren(box, items);
    watch.takeRecords().forEach((r) => { n += r.addedNodes.length; });
    watch.disconnect();
    return n;
  }

  it("puts the children in order, moving the fewest", () => {
    const box = document.createElement("div");
    const els = make(1000);
    expect(moves(box, els)).toBe(1000);
    expect(moves(box, els)).toBe(0); // nothing changed: nothing touched
    // the first one goes last (a child that got a new start order): one move, not 999
    const rotated = [...els.slice(1), els[0]];
    expect(moves(box, rotated)).toBe(1);
    expect(keysOf(box)).toEqual(rotated.map((el) => el.getAttribute("data-k")));
    // one joins in the middle, one leaves, two swap places
    const extra = make(1)[0];
    extra.setAttribute("data-k", "new");
    const next = rotated.filter((el) => el !== rotated[10]);
    next.splice(500, 0, extra);
    [next[20], next[700]] = [next[700], next[20]];
    expect(moves(box, next)).toBe(3);
    expect(keysOf(box)).toEqual(next.map((el) => el.getAttribute("data-k")));
    // reversed: every one but one moves, and the order is right
    const back = [...next].reverse();
    expect(moves(box, back)).toBe(back.length - 1);
    expect(keysOf(box)).toEqual(back.map((el) => el.getAttribute("data-k")));
  });

  it("keeps the longest run of positions already in order", () => {
    expect([...staying([0, 1, 2, 3])]).toEqual([1, 1, 1, 1]);
    expect([...staying([1, 2, 3, 0])]).toEqual([1, 1, 1, 0]);
    expect([...staying([3, 0, 1, 2])]).toEqual([0, 1, 1, 1]);
    expect([...staying([0, -1, 1, -1, 2])]).toEqual([1, 0, 1, 0, 1]);
    expect([...staying([])]).toEqual([]);
    expect([...staying([2, 1, 0])].reduce((a, b) => a + b)).toBe(1);
  });
});

