import { describe, it, expect } from "vitest";
import { Layer } from "../src/lib/keyed.js";

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
