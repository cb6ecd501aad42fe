// @ts-check
/**
 * The receiving end of the coalescing pump (agentlab/ui/_pump.py).
 *
 * Deltas carry a sequence number; the store applies them in order, and when it
 * sees a gap it asks the kernel for a full snapshot (the `resync` command),
 * buffering what arrives meanwhile. A `reset` message replaces everything.
 * @module
 */

/** @typedef {{type: string, seq: number, view?: any, [k: string]: any}} Message */

/**
 * Expand the sections the kernel sent in row form (agentlab/ui/_pending.py `to_rows`):
 * `{"$rows": [field, ...], "v": [[value, ...], ...]}` becomes a list of objects, and with
 * `"k": [key, ...]` an object keyed by them (a `null` row stays `null`: removed). In place.
 * @param {Record<string, any>} msg
 */
export function expandRows(msg) {
  for (const [section, value] of Object.entries(msg)) {
    if (!value || typeof value !== "object" || !Array.isArray(value.$rows)) continue;
    const cols = /** @type {string[]} */ (value.$rows);
    const n = cols.length;
    const items = value.v.map((/** @type {any[] | null} */ r) => {
      if (r === null) return null;
      /** @type {Record<string, any>} */
      const o = {};
      for (let i = 0; i < n; i++) o[cols[i]] = r[i];
      return o;
    });
    if (Array.isArray(value.k)) {
      /** @type {Record<string, any>} */
      const keyed = {};
      value.k.forEach((/** @type {string} */ k, /** @type {number} */ i) => { keyed[k] = items[i]; });
      msg[section] = keyed;
    } else {
      msg[section] = items;
    }
  }
  return msg;
}
/**
 * A snapshot as the kernel sends it: JSON text in a binary buffer (a DataView, an
 * ArrayBuffer or a typed array; see agentlab/ui/_widgets.py `pack`), decoded here. A
 * plain object (an older kernel, a test's fake model) is returned as it is.
 * @param {any} value
 */
export function unpack(value) {
  if (value instanceof ArrayBuffer || ArrayBuffer.isView(value)) {
    return JSON.parse(new TextDecoder().decode(/** @type {any} */ (value)));
  }
  return value;
}

/** @typedef {(name: string, msg?: any) => Promise<any>} Invoke */

export class Store {
  /**
   * @param {object} handlers
   * @param {(delta: Message) => void} handlers.apply  fold one delta into the state
   * @param {(view: any) => void} handlers.reset  replace the whole state
   * @param {Invoke} [handlers.invoke]  call a kernel command (for resync)
   * @param {() => void} [handlers.changed]  the state changed (schedule a render)
   */
  constructor({ apply, reset, invoke, changed }) {
    this.apply = apply;
    this.resetState = reset;
    this.invoke = invoke;
    this.changed = changed || (() => {});
    this.seq = 0;
    this.resyncing = false;
    /** @type {Message[]} */
    this.buffer = [];
    this.gaps = 0;
    this.applied = 0;
    /** how many times a `reset` message (or a forced load) replaced the state: a resync
     * answer asked for before the latest one may hold an older state, and is dropped */
    this.epoch = 0;
  }

  /**
   * Start from a snapshot trait value `{seq, view}` (if it is newer than what we have).
   * @param {{seq?: number, view?: any} | null | undefined} snap
   * @param {boolean} [force]
   */
  load(snap, force = false) {
    if (!snap || !snap.view) return false;
    const seq = snap.seq || 0;
    if (!force && (seq <= this.seq && this.applied > 0)) return false;
    if (this.resyncing && !force) return false;
    if (force) this.epoch += 1;
    this.resetState(snap.view);
    this.seq = seq;
    this.applied += 1;
    this.changed();
    return true;
  }

  /**
   * A custom message from the kernel. Returns true if the state changed.
   * @param {Message} msg
   */
  receive(msg) {
    if (!msg || typeof msg !== "object") return false;
    if (msg.type === "reset") {
      this.epoch += 1;
      this.resetState(msg.view);
      this.seq = msg.seq;
      this.resyncing = false;
      this.buffer = this.buffer.filter((m) => m.seq > msg.seq);
      this.applied += 1;
      this.drain();
      this.changed();
      return true;
    }
    if (msg.type !== "delta") return false;
    expandRows(msg);
    if (this.resyncing) {
      this.buffer.push(msg);
      return false;
    }
    if (msg.seq <= this.seq) return false; // already in the snapshot we have
    if (msg.seq !== this.seq + 1) {
      this.gaps += 1;
      this.buffer.push(msg);
      this.resync();
      return false;
    }
    this.apply(msg);
    this.seq = msg.seq;
    this.applied += 1;
    this.changed();
    return true;
  }

  /** Apply buffered deltas that now follow on. */
  drain() {
    this.buffer.sort((a, b) => a.seq - b.seq);
    while (this.buffer.length) {
      const m = this.buffer[0];
      if (m.seq <= this.seq) { // in the state already (a message that came twice, too)
        this.buffer.shift();
        continue;
      }
      if (m.seq !== this.seq + 1) break;
      this.buffer.shift();
      this.apply(m);
      this.seq = m.seq;
    }
    if (this.buffer.length) {
      // still a hole: ask again (the kernel answers with everything up to now)
      this.resync();
    }
  }

  /** Ask the kernel for the full state; deltas wait in the buffer meanwhile. */
  async resync() {
    if (this.resyncing) return;
    this.resyncing = true;
    const epoch = this.epoch;
    try {
      // (with no command to call there is no wait: the failure below comes at once)
      const resp = this.invoke && (await this.invoke("resync", {}));
      // a reset came while this answer was on its way: the reset's state is the newer one
      // (the kernel sends a reset before it answers a later resync), what arrived after it
      // has been applied or waits for the resync it asked for itself, and `resyncing`
      // belongs to that one. An answer from before the reset could only show an older state
      if (epoch !== this.epoch) return;
      if (!resp || !resp.view) throw new Error("no state to resync from");
      this.resyncing = false;
      // the same seq is the same state: skip the (possibly large) redraw
      if (resp.seq > this.seq || this.applied === 0 || this.buffer.length) {
        this.resetState(resp.view);
        this.seq = resp.seq;
        this.applied += 1;
      }
      this.drain();
      this.changed();
    } catch (_err) {
      if (epoch !== this.epoch) return; // as above: the reset settled the state
      // no kernel (a static page, a closed notebook, a front end without commands), or
      // one that could not answer (its error is in its log): keep what we show. The deltas
      // that wait would only pile up, one per message from now on: a later resync answers
      // with a state that covers them, or a snapshot replaces it all
      this.resyncing = false;
      this.buffer = [];
    }
  }
}
