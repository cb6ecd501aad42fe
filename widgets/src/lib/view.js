// @ts-check
/**
 * What every view shares: the frame (header, body), the store wired to the
 * model, scheduling renders once per animation frame, kernel commands, and
 * the scrub bar of recorded runs.
 * @module
 */
import { h, frameScheduler, dur, statBox, refusal, failure } from "./dom.js";
import { Store, unpack } from "./store.js";

/**
 * @typedef {object} ViewImpl
 * @property {(view: any) => void} reset  replace the whole state
 * @property {(delta: any) => void} apply  fold one delta in
 * @property {() => void} render  draw what changed
 * @property {(msg: any) => void} [highlight]  a linked view picked something
 * @property {() => void} [destroy]
 */

/**
 * @typedef {object} Ctx
 * @property {import("@anywidget/types").AnyModel} model
 * @property {HTMLElement} root  the view's outer element (`.al-view`)
 * @property {HTMLElement} toolbar  right side of the header
 * @property {HTMLElement} body
 * @property {any} config
 * @property {(name: string, msg?: any) => Promise<any>} invoke
 * @property {() => void} invalidate  schedule a render
 * @property {() => void} renderNow
 * @property {Store} store
 * @property {(text: string, kind?: string) => void} notify  a short message in the header
 * @property {(msg: any) => void} select  show `msg.key` in the other views (the kernel's
 *   `select`); the header says so when that cannot be done
 * @property {(content: HTMLElement) => HTMLElement} stat  put header content that changes at
 *   frame rate (counts, the range shown) in a box of its own: see `statBox`
 */

/**
 * Build a view into `el`. `make(ctx)` returns the view's implementation.
 * @param {{model: import("@anywidget/types").AnyModel, el: HTMLElement, experimental?: any}} props
 * @param {string} kind
 * @param {(ctx: Ctx) => ViewImpl} make
 * @param {number} [minInterval]  least ms between two draws
 * @returns {() => void} cleanup
 */
export function mountView({ model, el, experimental }, kind, make, minInterval = 0) {
  const config = model.get("config") || {};
  const title = h("span", { class: "al-title" }, config.title || kind);
  const live = h("span", { class: "al-live", "data-role": "live" });
  /** What the view follows: a live runtime, one that was shut down since, or a recorded run. */
  const showLive = (/** @type {any} */ cfg) => {
    const [text, tip, st] = !cfg.live ? ["◼ recorded", "a recorded run", "recorded"]
      : cfg.ended ? ["◼ ended", "the runtime was shut down: this is where its run ended", "ended"]
        : ["● live", "following a live runtime", "live"];
    live.textContent = text;
    live.title = tip;
    live.setAttribute("data-state", st);
  };
  showLive(config);
  const note = h("span", { class: "al-note", "data-role": "note" });
  const toolbar = h("span", { class: "al-toolbar" });
  const header = h("div", { class: "al-header" }, title, live, note, toolbar);
  const body = h("div", { class: "al-body" });
  // the run lost events (a recorder past its capacity, a runtime's log past its
  // event_capacity): the kernel says how many and until when; the view says so for as long
  // as it shows the run, so no one takes a partial picture for the whole
  const lost = h("div", { class: "al-lost", "data-role": "lost", role: "status" });
  /** @param {any} cfg */
  const showLost = (cfg) => {
    const l = cfg.lost;
    lost.hidden = !(l && l.count > 0);
    lost.textContent = lost.hidden ? "" : String(l.text || `⚠ ${l.count} events of this run were lost`);
    if (lost.hidden) {
      lost.removeAttribute("title");
      lost.removeAttribute("data-count");
    } else {
      lost.setAttribute("data-count", String(l.count));
      if (l.hint) lost.setAttribute("title", String(l.hint));
    }
  };
  showLost(config);
  const root = h("div", { class: `al-view al-${kind}`, "data-view": kind }, header, lost, body);
  if (config.height) root.style.setProperty("--al-height", `${config.height}px`);
  el.append(root);

  /** @type {(name: string, msg?: any) => Promise<any>} */
  const invoke = async (name, msg = {}) => {
    if (!experimental || typeof experimental.invoke !== "function") throw new Error("no kernel connection");
    const signal = typeof AbortSignal !== "undefined" && "timeout" in AbortSignal ? AbortSignal.timeout(15000) : undefined;
    const [resp, buffers] = await experimental.invoke(name, msg, { signal });
    // a large answer (a resync's snapshot) comes packed in a binary buffer
    if (resp && resp.packed && buffers && buffers.length) return unpack(buffers[0]);
    return resp;
  };

  /** @type {ViewImpl} */
  let impl;
  let noteTimer = /** @type {any} */ (null);
  const notify = (/** @type {string} */ text, kind = "info") => {
    note.textContent = text;
    note.setAttribute("data-kind", kind);
    clearTimeout(noteTimer);
    noteTimer = setTimeout(() => { note.textContent = ""; }, 4000);
  };
  /** @type {(() => void)[]} */
  const stops = [];
  const stat = (/** @type {HTMLElement} */ content) => {
    const box = statBox(content);
    stops.push(box.stop);
    return box.el;
  };
  const frames = frameScheduler(() => impl && impl.render(), minInterval);
  /** Show where a recorded run is (the cursor of the state shown) on the scrub bar. */
  let showCursor = (/** @type {number} */ _i) => {};
  const store = new Store({
    apply: (d) => impl.apply(d),
    // every state shown (a snapshot, a reset message, a resync's answer) comes through here
    reset: (v) => {
      impl.reset(v);
      if (typeof v.cursor === "number") showCursor(v.cursor);
    },
    invoke,
    changed: () => frames.schedule(),
  });
  /** @type {Ctx} */
  const ctx = {
    model, root, toolbar, body, config, invoke, store, notify, stat,
    select: (msg) => {
      const cannot = (/** @type {string} */ why) => notify(`cannot show it in the other views: ${why}`, "warn");
      invoke("select", msg).then((r) => { if (!(r && r.ok)) cannot(refusal(r)); }, (e) => cannot(failure(e)));
    },
    invalidate: () => frames.schedule(),
    renderNow: () => frames.now(),
  };
  impl = make(ctx);

  // recorded runs: one scrub bar (it seeks every view attached to the same run)
  if (config.recorded && config.scrubber !== false) {
    const rec = config.recorded;
    const label = h("span", { class: "al-scrub-label" });
    const range = /** @type {HTMLInputElement} */ (h("input", {
      type: "range", class: "al-scrub", "data-action": "scrub", min: 0, max: rec.count, step: 1, value: rec.cursor,
      title: "scrub through the recorded run",
    }));
    let pending = /** @type {any} */ (null); // a seek put off until the thumb rests 60 ms
    let seeking = 0; // seeks sent and not answered yet
    let held = false; // the user holds the thumb (a drag)
    let cursor = rec.cursor; // where the state shown is
    const show = (/** @type {number} */ i) => { label.textContent = `event ${i} / ${rec.count} · ${dur(rec.t1 - rec.t0)} run`; };
    show(rec.cursor);
    /** Put the thumb where the state is, unless the user is moving it: while they drag, and
     * until the seeks of their moves are answered, the states that come in are those of
     * moves they already made (or a scrub from Python), and the thumb stays theirs. */
    const place = () => {
      if (held || pending !== null || seeking) return;
      if (range.value !== String(cursor)) range.value = String(cursor);
      show(cursor);
    };
    // the config says where the run was when the widget was made; the state shown (a
    // snapshot, a reset) says where it is now: the run may have been scrubbed since
    showCursor = (i) => {
      cursor = i;
      place();
    };
    const seek = () => {
      pending = null;
      seeking += 1;
      invoke("seek", { index: Number(range.value) }).then((r) => {
        if (r && r.ok && typeof r.cursor === "number") cursor = r.cursor; // (a seek forward comes as deltas)
        else notify(`cannot scrub: ${refusal(r)}`, "warn");
      }, (e) => notify(`cannot scrub: ${failure(e)}`, "warn")).finally(() => {
        seeking -= 1;
        place(); // where the state is now (the thumb goes back if the seek failed)
      });
    };
    const release = () => {
      if (!held) return;
      held = false;
      document.removeEventListener("pointerup", release, true);
      document.removeEventListener("pointercancel", release, true);
      place();
    };
    range.addEventListener("pointerdown", () => {
      if (held) return;
      held = true;
      // (on the document: the pointer may be let go anywhere)
      document.addEventListener("pointerup", release, true);
      document.addEventListener("pointercancel", release, true);
    });
    range.addEventListener("change", release); // the value is committed: the drag is over
    range.addEventListener("input", () => {
      show(Number(range.value));
      clearTimeout(pending);
      pending = setTimeout(seek, 60);
    });
    stops.push(() => {
      clearTimeout(pending);
      document.removeEventListener("pointerup", release, true);
      document.removeEventListener("pointercancel", release, true);
    });
    root.insertBefore(h("div", { class: "al-scrubber" }, range, label), body);
  }

  const onMsg = (/** @type {any} */ msg) => {
    if (msg && msg.type === "highlight") {
      if (impl.highlight) impl.highlight(msg);
      return;
    }
    if (msg && (msg.type === "delta" || msg.type === "reset")) store.receive(msg);
  };
  /** @param {boolean} [force] */
  const loadSnap = (force = false) => store.load(unpack(model.get("snapshot")), force);
  const onSnap = () => loadSnap();
  const onConfig = () => {
    const cfg = model.get("config") || {};
    showLive(cfg);
    showLost(cfg);
  };
  model.on("msg:custom", onMsg);
  model.on("change:snapshot", onSnap);
  model.on("change:config", onConfig);
  const t0 = performance.now();
  loadSnap(true);
  frames.now();
  // how long the first full draw took (read by the benchmarks)
  root.setAttribute("data-first-render-ms", (performance.now() - t0).toFixed(1));
  if (config.live) store.resync(); // the trait may be a little behind: get the latest

  return () => {
    frames.cancel();
    model.off("msg:custom", onMsg);
    model.off("change:snapshot", onSnap);
    model.off("change:config", onConfig);
    if (impl.destroy) impl.destroy();
    for (const stop of stops) stop();
    root.remove();
  };
}
