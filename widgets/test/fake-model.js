// A stand-in for the anywidget model (the AFM contract is small), plus a fake
// `experimental.invoke` that answers kernel commands from a table.

/** JSON in a DataView, as ipywidgets hands a binary buffer to a view. @param {any} value */
export function pack(value) {
  const bytes = new TextEncoder().encode(JSON.stringify(value));
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** @param {Record<string, any>} state */
export function fakeModel(state) {
  /** @type {Record<string, Function[]>} */
  const handlers = {};
  return {
    state,
    sent: /** @type {any[]} */ ([]),
    // the snapshot trait arrives as the kernel sends it: JSON in a binary buffer (a DataView)
    get(/** @type {string} */ k) { return k === "snapshot" && state[k] ? pack(state[k]) : state[k]; },
    set(/** @type {string} */ k, /** @type {any} */ v) {
      state[k] = v;
      for (const f of handlers[`change:${k}`] || []) f();
    },
    on(/** @type {string} */ ev, /** @type {Function} */ f) { (handlers[ev] ||= []).push(f); },
    off(/** @type {string} */ ev, /** @type {Function} */ f) {
      if (ev) handlers[ev] = (handlers[ev] || []).filter((g) => g !== f);
    },
    save_changes() {},
    send(/** @type {any} */ msg) { this.sent.push(msg); },
    /** the kernel sends a custom message */
    receive(/** @type {any} */ msg) { for (const f of handlers["msg:custom"] || []) f(msg, []); },
    listeners(/** @type {string} */ ev) { return (handlers[ev] || []).length; },
  };
}

/** @param {Record<string, (msg: any) => any>} answers */
export function fakeKernel(answers = {}) {
  const calls = /** @type {{name: string, msg: any}[]} */ ([]);
  return {
    calls,
    experimental: {
      async invoke(/** @type {string} */ name, /** @type {any} */ msg) {
        calls.push({ name, msg });
        const f = answers[name];
        if (!f) throw new Error(`no answer for ${name}`);
        const resp = await f(msg);
        // the kernel packs a resync's snapshot into a binary buffer (agentlab/ui/_widgets.py)
        if (name === "resync" && resp && resp.view) return [{ packed: true }, [pack(resp)]];
        return [resp, []];
      },
    },
  };
}

/** Wait for the views' next animation frame (and pending promises). */
export function frame() {
  return new Promise((r) => setTimeout(r, 130)); // the timeline and the sequence diagram draw at most every 100 ms
}

/** A delta message. @param {number} seq @param {Record<string, any>} body */
export const delta = (seq, body) => ({ type: "delta", seq, ...body });
