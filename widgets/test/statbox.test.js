import { describe, it, expect, vi, beforeEach, afterEach } from "vitest";
import { h, statBox } from "../src/lib/dom.js";

/** A ResizeObserver the test drives: `resize(el, width)` reports a new width of `el`. */
function fakeResizeObserver() {
  /** @type {Set<any>} */
  const live = new Set();
  class FakeRO {
    constructor(cb) { this.cb = cb; this.els = new Set(); live.add(this); }
    observe(el) { this.els.add(el); }
    disconnect() { this.els.clear(); live.delete(this); }
  }
  const resize = (el, width) => {
    for (const ro of live) {
      if (ro.els.has(el)) ro.cb([{ target: el, contentRect: { width, height: 16 }, borderBoxSize: [{ inlineSize: width, blockSize: 16 }] }]);
    }
  };
  return { FakeRO, resize, live };
}

describe("the header's stat box", () => {
  let ro;
  beforeEach(() => {
    ro = fakeResizeObserver();
    vi.stubGlobal("ResizeObserver", ro.FakeRO);
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
    vi.unstubAllGlobals();
  });

  it("is contained and widens at once to its content", () => {
    const text = h("span", null, "12 messages");
    const box = statBox(text);
    expect(box.el.className).toBe("al-stat");
    expect(box.el.firstChild).toBe(text);
    ro.resize(text, 70.2);
    expect(box.el.style.width).toBe("71px");
    ro.resize(text, 90);
    expect(box.el.style.width).toBe("90px");
  });

  it("narrows only after a while, to the widest its content was meanwhile", () => {
    const text = h("span");
    const box = statBox(text, 2000);
    ro.resize(text, 120); // "990 running 8 restarting 2 crashed"
    ro.resize(text, 60); // the crashed count went away...
    ro.resize(text, 80);
    vi.advanceTimersByTime(1999);
    expect(box.el.style.width).toBe("120px");
    vi.advanceTimersByTime(1);
    expect(box.el.style.width).toBe("80px"); // the widest of the last 2 s
    // it is 80 wide now, the content 80: nothing more to do
    vi.advanceTimersByTime(10_000);
    expect(box.el.style.width).toBe("80px");
  });

  it("keeps its width when the content comes back before the wait is over", () => {
    const text = h("span");
    const box = statBox(text, 2000);
    ro.resize(text, 120);
    ro.resize(text, 60);
    vi.advanceTimersByTime(1000);
    ro.resize(text, 120);
    vi.advanceTimersByTime(5000);
    expect(box.el.style.width).toBe("120px");
  });

  it("stops observing when stopped", () => {
    const text = h("span");
    const box = statBox(text);
    expect(ro.live.size).toBe(1);
    box.stop();
    expect(ro.live.size).toBe(0);
  });

  it("is a plain box without ResizeObserver", () => {
    vi.stubGlobal("ResizeObserver", undefined);
    const box = statBox(h("span", null, "3 lanes"));
    expect(box.el.className).toBe("al-stat-free");
    expect(box.el.textContent).toBe("3 lanes");
  });
});
