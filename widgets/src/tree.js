// @ts-check
/**
 * Supervision tree view: supervisors and workers, live.
 *
 * Status is shown by colour *and* shape (running ●, waiting on an LLM ◆,
 * restarting ◌ spinning, crashed ■, stopped □). A supervisor with more than
 * `config.collapse` children is one group row with counts until expanded;
 * expanded, its children are compact chips. Click a node for details; the
 * kill buttons call the kernel's `cmd_kill` (`rt.exit(pid, "kill")`). A node
 * another view picks is brought into view: its group expanded, its folded
 * ancestors unfolded.
 * @module
 */
import "./css/tree.css";
import { h, pidText, num, setText, setAttr, budgetUse, refusal, failure, STATUSES, STATUS_TEXT } from "./lib/dom.js";
import { mountView } from "./lib/view.js";
import { syncChildren } from "./lib/keyed.js";

/**
 * @typedef {{key: string, parent?: string, pid: number, label: string, kind: string, status: string,
 *   order: number, restarts?: number, mailbox?: number, tps?: number, tokens?: number, child_id?: string,
 *   restart?: string, exit?: string, exit_class?: string, strategy?: string, budget?: [number, number, number],
 *   gave_up?: boolean}} TreeNode
 */

const ROOT = "";
/** At most this many crash/restart animations start per second. */
const MAX_FLASHES = 30;

/** The tree's state: nodes by key, and children per parent key. */
export class TreeState {
  constructor() {
    /** @type {Map<string, TreeNode>} */
    this.nodes = new Map();
    /** @type {Map<string, Set<string>>} */
    this.kids = new Map();
    /** parents whose child set changed since the last render @type {Set<string>} */
    this.structDirty = new Set();
    /** nodes whose fields changed since the last render @type {Map<string, TreeNode | undefined>} */
    this.dirty = new Map();
    /** how many nodes have each status @type {Record<string, number>} */
    this.statusCounts = {};
  }

  /** @param {TreeNode | undefined} prev @param {TreeNode | null} node */
  count(prev, node) {
    const c = this.statusCounts;
    if (prev) c[prev.status] = (c[prev.status] || 0) - 1;
    if (node) c[node.status] = (c[node.status] || 0) + 1;
  }

  /** @param {string | undefined} p */
  parentKey(p) {
    return p === undefined || p === null ? ROOT : p;
  }

  /** @param {TreeNode[]} nodes */
  reset(nodes) {
    this.nodes.clear();
    this.kids.clear();
    this.statusCounts = {};
    for (const n of nodes) this.upsert(n.key, n, false);
    this.structDirty.add("*");
  }

  /**
   * @param {string} key
   * @param {TreeNode | null} node
   * @param {boolean} [track]
   */
  upsert(key, node, track = true) {
    const prev = this.nodes.get(key);
    if (node === null) {
      if (!prev) return;
      this.count(prev, null);
      this.nodes.delete(key);
      const pk = this.parentKey(prev.parent);
      this.kids.get(pk)?.delete(key);
      if (track) {
        this.structDirty.add(pk);
        this.dirty.set(key, prev);
      }
      return;
    }
    const pk = this.parentKey(node.parent);
    if (!prev || this.parentKey(prev.parent) !== pk) {
      if (prev) {
        const old = this.parentKey(prev.parent);
        this.kids.get(old)?.delete(key);
        if (track) this.structDirty.add(old);
      }
      let set = this.kids.get(pk);
      if (!set) this.kids.set(pk, (set = new Set()));
      set.add(key);
      if (track) this.structDirty.add(pk);
    }
    this.count(prev, node);
    this.nodes.set(key, node);
    if (track && !this.dirty.has(key)) this.dirty.set(key, prev);
  }

  /** Children of `key`, in start order. @param {string} key */
  children(key) {
    const set = this.kids.get(key);
    if (!set || !set.size) return [];
    const out = [];
    for (const k of set) {
      const n = this.nodes.get(k);
      if (n) out.push(n);
    }
    out.sort((a, b) => a.order - b.order);
    return out;
  }

  /** Nodes without a (known) parent. */
  roots() {
    const out = [];
    for (const n of this.nodes.values()) {
      if (n.parent === undefined || n.parent === null || !this.nodes.has(n.parent)) out.push(n);
    }
    out.sort((a, b) => a.order - b.order);
    return out;
  }

  /** Status counts of `key`'s children. @param {string} key */
  counts(key) {
    /** @type {Record<string, number>} */
    const c = {};
    const set = this.kids.get(key);
    if (set) {
      for (const k of set) {
        const n = this.nodes.get(k);
        if (n) c[n.status] = (c[n.status] || 0) + 1;
      }
    }
    return c;
  }
}

/** @param {string} status */
function shape(status) {
  return h("span", { class: `al-shape al-shape-${status}`, "aria-label": STATUS_TEXT[/** @type {keyof STATUS_TEXT} */ (status)] || status });
}

/**
 * Parts kept in a fixed order and updated in place: `make(key)` builds a part when its
 * value first shows, `fill(el, key)` updates it (writing only what changed), and a part
 * whose value is gone is removed. A row, a group or the header that is rebuilt from new
 * elements every frame makes the browser restyle, lay out, repaint and re-layerize it
 * (and, with many such rows, the whole page) each time.
 * @param {HTMLElement} box
 * @param {Map<string, HTMLElement>} have  the parts in `box`, by key
 * @param {readonly string[]} order
 * @param {(key: string) => boolean} shown
 * @param {(key: string) => HTMLElement} make
 * @param {(el: HTMLElement, key: string) => void} fill
 */
export function syncParts(box, have, order, shown, make, fill) {
  /** @type {HTMLElement | null} */
  let next = null;
  for (let i = order.length - 1; i >= 0; i--) {
    const key = order[i];
    let el = have.get(key);
    if (!shown(key)) {
      if (el) {
        el.remove();
        have.delete(key);
      }
      continue;
    }
    if (!el) {
      el = make(key);
      have.set(key, el);
      box.insertBefore(el, next);
    }
    fill(el, key);
    next = el;
  }
}

/** The counts strip of a group (or the header): ● 990 ■ 3 ... (with words when `words`),
 * updated in place by `update(counts)`. @param {boolean} [words] */
function countsStrip(words = false) {
  const el = h("span", { class: "al-counts" });
  /** @type {Map<string, HTMLElement>} */
  const have = new Map();
  /** @type {Record<string, number>} */
  let counts = {};
  const make = (/** @type {string} */ st) =>
    h("span", { class: "al-count", "data-status": st, title: STATUS_TEXT[/** @type {keyof STATUS_TEXT} */ (st)] }, shape(st), document.createTextNode(""));
  const fill = (/** @type {HTMLElement} */ part, /** @type {string} */ st) =>
    setText(/** @type {Node} */ (part.lastChild), words ? `${num(counts[st])} ${st}` : num(counts[st]));
  return {
    el,
    /** @param {Record<string, number>} c */
    update(c) {
      counts = c;
      syncParts(el, have, STATUSES, (st) => !!counts[st], make, fill);
    },
  };
}

/** The stacked status bar of a group, updated in place. */
function stackBar() {
  const el = h("span", { class: "al-stack" });
  /** @type {Map<string, HTMLElement>} */
  const have = new Map();
  /** @type {Record<string, number>} */
  let counts = {};
  const make = (/** @type {string} */ st) => h("span", { class: "al-stack-part", "data-status": st });
  const fill = (/** @type {HTMLElement} */ part, /** @type {string} */ st) => {
    const g = String(counts[st]);
    if (part.style.flexGrow !== g) part.style.flexGrow = g;
  };
  return {
    el,
    /** @param {Record<string, number>} c */
    update(c) {
      counts = c;
      syncParts(el, have, STATUSES, (st) => !!counts[st], make, fill);
    },
  };
}

/** The badges of a row, in this order. */
const BADGES = ["strategy", "budget", "gave_up", "restarts", "mailbox", "tps", "exit"];

/** Does `n`'s row show the badge `kind`? @param {TreeNode} n @param {string} kind */
function badgeShown(n, kind) {
  switch (kind) {
    case "strategy": return n.kind === "supervisor" && !!n.strategy;
    case "budget": return !!n.budget;
    case "gave_up": return !!n.gave_up;
    case "restarts": return !!n.restarts;
    case "mailbox": return !!n.mailbox;
    case "tps": return !!n.tps;
    default: return (n.status === "crashed" || n.status === "restarting") && !!n.exit;
  }
}

/** @param {string} kind */
function makeBadge(kind) {
  switch (kind) {
    case "strategy": return h("span", { class: "al-badge al-strategy" }, document.createTextNode(""));
    case "budget": return h("span", { class: "al-badge al-budget" },
      h("span", { class: "al-meter" }, h("span", { class: "al-meter-fill" })), document.createTextNode(""));
    case "gave_up": return h("span", { class: "al-badge al-gave-up" }, "gave up");
    case "restarts": return h("span", { class: "al-badge al-restarts", title: "restarts" }, document.createTextNode(""));
    case "mailbox": return h("span", { class: "al-badge al-mailbox", title: "messages waiting in the mailbox" }, document.createTextNode(""));
    case "tps": return h("span", { class: "al-badge al-tps", title: "tokens per second" }, document.createTextNode(""));
    default: return h("span", { class: "al-exit" }, document.createTextNode(""));
  }
}

/** Update the badge `kind` of `n` in place. @param {HTMLElement} el @param {TreeNode} n @param {string} kind */
function fillBadge(el, n, kind) {
  const text = /** @type {Node} */ (el.lastChild);
  switch (kind) {
    case "strategy": setText(text, String(n.strategy)); break;
    case "budget": {
      const [used, max, period] = /** @type {[number, number, number]} */ (n.budget);
      const [frac, level] = budgetUse(used, max);
      setAttr(el, "data-level", level);
      setAttr(el, "title", `restart budget: ${used} of ${max} restarts used in the last ${period} s`);
      const fill = /** @type {HTMLElement} */ (/** @type {HTMLElement} */ (el.firstChild).firstChild);
      const width = `${Math.round(frac * 100)}%`;
      if (fill.style.width !== width) fill.style.width = width;
      setText(text, `${used}/${max}`);
      break;
    }
    case "gave_up": break;
    case "restarts":
      setAttr(el, "data-restarts", String(n.restarts));
      setText(text, `↻ ${n.restarts}`);
      break;
    case "mailbox": setText(text, `✉ ${num(n.mailbox || 0)}`); break;
    case "tps": setText(text, `${(n.tps || 0).toFixed(1)} tok/s`); break;
    default:
      setAttr(el, "title", String(n.exit));
      setText(text, String(n.exit));
  }
}

/**
 * @param {import("./lib/view.js").Ctx} ctx
 * @returns {import("./lib/view.js").ViewImpl}
 */
function makeTree(ctx) {
  const { body, toolbar, config } = ctx;
  const collapse = config.collapse || 50;
  const canKill = !!config.live;
  const state = new TreeState();
  /** supervisors opened past the collapse threshold @type {Set<string>} */
  const expanded = new Set();
  /** supervisors folded by the user @type {Set<string>} */
  const folded = new Set();
  /** @type {Map<string, HTMLElement>} row element per node key (li or chip) */
  const els = new Map();
  /** @type {Map<string, HTMLElement>} children container per parent key */
  const boxes = new Map();
  /** @type {string | null} */
  let selected = null;
  /** @type {any} */
  let details = null;
  let detailsError = ""; // why the kernel gave no details for the selected node
  let detailsAt = 0;

  const summaryCounts = countsStrip(true);
  const summary = h("span", { class: "al-summary", "data-role": "summary" }, ctx.stat(summaryCounts.el));
  const killRandom = h("button", { class: "al-btn al-btn-danger", "data-action": "kill-random", title: "kill a random live worker (the runtime's seeded RNG picks it)", disabled: !canKill }, "⚡ kill random");
  toolbar.append(summary, killRandom);
  const list = h("ul", { class: "al-tree-list", role: "tree", "data-role": "tree" });
  const main = h("div", { class: "al-tree-main" }, list);
  const panel = h("aside", { class: "al-details", "data-role": "details", hidden: true });
  body.append(h("div", { class: "al-tree-body" }, main, panel));

  // ---------------------------------------------------------------- rows
  /** badge elements per row's meta box @type {WeakMap<HTMLElement, Map<string, HTMLElement>>} */
  const badgeEls = new WeakMap();

  /** @param {HTMLElement} meta @param {TreeNode} n */
  function fillBadges(meta, n) {
    let have = badgeEls.get(meta);
    if (!have) badgeEls.set(meta, (have = new Map()));
    syncParts(meta, have, BADGES, (k) => badgeShown(n, k), makeBadge, (el, k) => fillBadge(el, n, k));
  }

  /** Build a row's parts once; `fillRow` updates them in place (buttons stay clickable). @param {HTMLElement} row */
  function buildRow(row) {
    row.append(
      h("span", { class: "al-twisty" }),
      h("span", { class: "al-shape" }),
      h("span", { class: "al-name" }),
      h("span", { class: "al-pid" }),
      h("span", { class: "al-meta" }),
    );
    if (canKill) row.append(h("button", { class: "al-kill", "data-action": "kill" }, "✕"));
  }

  /** Fill the row `el` (a .al-node) for `n`; flash on crash/restart. @param {HTMLElement} row @param {TreeNode} n @param {TreeNode | undefined} prev */
  function fillRow(row, n, prev) {
    if (!row.firstChild) buildRow(row);
    const [twisty, shapeEl, name, pid, meta, killBtn] = /** @type {HTMLElement[]} */ (Array.from(row.children));
    // write only what changed (see syncParts)
    const hasKids = n.kind === "supervisor" || (state.kids.get(n.key)?.size || 0) > 0;
    const open = !folded.has(n.key);
    setAttr(twisty, "class", hasKids ? "al-twisty" : "al-twisty al-twisty-leaf");
    setText(twisty, hasKids ? (open ? "▾" : "▸") : "");
    if (hasKids) {
      setAttr(twisty, "data-action", "fold");
      setAttr(twisty, "data-key", n.key);
      setAttr(twisty, "title", open ? "fold" : "unfold");
    }
    setAttr(shapeEl, "class", `al-shape al-shape-${n.status}`);
    setAttr(shapeEl, "aria-label", STATUS_TEXT[/** @type {keyof STATUS_TEXT} */ (n.status)] || n.status);
    if (name.textContent !== n.label) {
      name.textContent = n.label;
      name.title = n.label;
    }
    setText(pid, pidText(n.pid));
    fillBadges(meta, n);
    if (killBtn) {
      setAttr(killBtn, "data-key", n.key);
      setAttr(killBtn, "data-pid", String(n.pid));
      setAttr(killBtn, "title", `kill ${n.label} (exit signal kill)`);
      setAttr(killBtn, "disabled", n.status !== "running" && n.status !== "waiting" ? "" : null);
    }
    setAttr(row, "data-status", n.status);
    setAttr(row, "data-kind", n.kind);
    setAttr(row, "data-pid", String(n.pid));
    setAttr(row, "data-restarts", String(n.restarts || 0));
    if (row.classList.contains("al-selected") !== (n.key === selected)) row.classList.toggle("al-selected", n.key === selected);
    if (prev) flash(row, n, prev);
  }

  /** Elements to flash, and with what, on the next frame. @type {Map<HTMLElement, string>} */
  const flashes = new Map();
  let flashFrame = 0;

  /** Animate a crash or a restart. The class is (re)added on the next frame, so the
   * animation restarts without forcing a layout (no offsetWidth reads: with hundreds of
   * restarts a second, forced layouts of the whole notebook would stall every frame).
   * @param {HTMLElement} el @param {TreeNode} n @param {TreeNode} prev */
  function flash(el, n, prev) {
    let cls = "";
    if ((n.restarts || 0) > (prev.restarts || 0)) cls = "al-flash-restart";
    else if (n.status === "crashed" && prev.status !== "crashed") cls = "al-flash-crash";
    if (!cls) return;
    el.classList.remove("al-flash-restart", "al-flash-crash");
    flashes.set(el, cls);
    if (!flashFrame) flashFrame = requestAnimationFrame(applyFlashes);
  }

  let flashWindow = 0;
  let flashesInWindow = 0;

  function applyFlashes() {
    flashFrame = 0;
    // a storm of restarts: animate a few a second, the counters and colours show all
    // (every running animation costs a repaint each frame, and software rendering is slow)
    const now = performance.now();
    if (now - flashWindow > 1000) {
      flashWindow = now;
      flashesInWindow = 0;
    }
    for (const [el, cls] of flashes) {
      if (flashesInWindow >= MAX_FLASHES) break;
      flashesInWindow += 1;
      el.classList.add(cls);
      el.addEventListener("animationend", () => el.classList.remove(cls), { once: true });
    }
    flashes.clear();
  }

  /** @param {TreeNode} n */
  function makeItem(n) {
    const row = h("div", { class: "al-node", "data-key": n.key, role: "treeitem", tabindex: 0 });
    fillRow(row, n, undefined);
    const li = h("li", { class: "al-item", "data-key": n.key }, row);
    els.set(n.key, li);
    return li;
  }

  /** @param {TreeNode} n */
  function makeChip(n) {
    const chip = h("span", { class: n.key === selected ? "al-chip al-selected" : "al-chip", "data-key": n.key, "data-status": n.status, "data-restarts": n.restarts || 0 });
    els.set(n.key, chip);
    return chip;
  }

  /** A chip's tooltip, made when the pointer reaches it. @param {Event} e */
  function chipTitle(e) {
    const t = /** @type {HTMLElement} */ (e.target);
    if (!t.classList || !t.classList.contains("al-chip")) return;
    const n = state.nodes.get(t.getAttribute("data-key") || "");
    if (n) t.title = `${n.label} ${pidText(n.pid)} · ${n.status}${n.restarts ? ` · ↻${n.restarts}` : ""}`;
  }

  /** The children container of `key`'s item: rows, a group, or chips. @param {string} key */
  function renderChildren(key) {
    const li = key === ROOT ? null : els.get(key);
    if (key !== ROOT && !li) return; // parent not drawn (inside a group)
    const kids = key === ROOT ? state.roots() : state.children(key);
    let box = boxes.get(key);
    if (key === ROOT) box = list;
    if (!kids.length || folded.has(key)) {
      if (box && key !== ROOT) {
        box.remove();
        boxes.delete(key);
      }
      if (key === ROOT) list.replaceChildren(h("li", { class: "al-empty" }, "no processes yet"));
      // the children's elements are gone with the box
      forgetBelow(kids);
      return;
    }
    if (!box) {
      box = h("ul", { class: "al-children", role: "group", "data-parent": key });
      boxes.set(key, box);
      /** @type {HTMLElement} */ (li).append(box);
    }
    if (key !== ROOT && kids.length > collapse) {
      renderLarge(key, box, kids);
      return;
    }
    box.removeAttribute("data-mode");
    /** @type {HTMLElement[]} */
    const items = [];
    for (const n of kids) {
      let item = els.get(n.key);
      if (!item || item.tagName !== "LI") item = makeItem(n);
      items.push(item);
    }
    syncChildren(box, items);
    for (const n of kids) {
      if (!boxes.has(n.key) && (state.kids.get(n.key)?.size || 0) > 0) renderChildren(n.key);
    }
  }

  /** Forget the elements drawn for `key` (its row or chip, children box, group row). @param {string} key */
  function forget(key) {
    els.delete(key);
    boxes.delete(key);
    groups.delete(key);
  }

  /** @param {TreeNode[]} kids */
  function forgetBelow(kids) {
    for (const n of kids) {
      forget(n.key);
      const sub = state.children(n.key);
      if (sub.length) forgetBelow(sub);
    }
  }

  /**
   * @typedef {{box: HTMLElement, li: HTMLElement, row: HTMLElement, twisty: HTMLElement, name: HTMLElement,
   *   btn: HTMLElement, counts: ReturnType<typeof countsStrip>, bar: ReturnType<typeof stackBar>,
   *   chips?: HTMLElement, chipsRow?: HTMLElement}} Group  (`chips`: the chips' container, in `chipsRow`)
   */
  /** the group row of each large supervisor @type {Map<string, Group>} */
  const groups = new Map();

  /** The group row of `key` in `box` (made once, then updated in place). @param {string} key @param {HTMLElement} box */
  function groupOf(key, box) {
    let g = groups.get(key);
    if (g && g.box === box) return g;
    const counts = countsStrip();
    const bar = stackBar();
    const twisty = h("span", { class: "al-twisty" });
    const name = h("span", { class: "al-group-name" });
    const btn = h("button", { class: "al-btn al-btn-small", "data-action": "expand", "data-key": key });
    const row = h("div", { class: "al-group-row", "data-action": "expand", "data-key": key }, twisty, name, counts.el, bar.el, btn);
    g = { box, li: h("li", { class: "al-group", "data-key": key }, row), row, twisty, name, btn, counts, bar };
    groups.set(key, g);
    return g;
  }

  /** Write a group row's counts and state. @param {Group} g @param {string} key */
  function fillGroup(g, key) {
    const open = expanded.has(key);
    const count = state.kids.get(key)?.size || 0;
    const counts = state.counts(key);
    setAttr(g.li, "data-count", String(count));
    setAttr(g.row, "title", open ? "collapse" : "expand");
    setText(g.twisty, open ? "▾" : "▸");
    setText(g.name, `${num(count)} children`);
    g.counts.update(counts);
    g.bar.update(counts);
    setText(g.btn, open ? "collapse" : "expand");
  }

  /** A large supervisor: one group row with counts, or chips when expanded. @param {string} key @param {HTMLElement} box @param {TreeNode[]} kids */
  function renderLarge(key, box, kids) {
    const open = expanded.has(key);
    const mode = open ? "chips" : "group";
    const was = box.getAttribute("data-mode");
    box.setAttribute("data-mode", mode);
    const g = groupOf(key, box);
    fillGroup(g, key);
    if (!open) {
      if (was !== "group" || box.firstChild !== g.li || box.childNodes.length !== 1) {
        forgetBelow(kids);
        box.replaceChildren(g.li);
      }
      return;
    }
    if (!g.chips) {
      g.chips = h("div", { class: "al-chips" });
      g.chipsRow = h("li", { class: "al-chips-row" }, g.chips);
    }
    if (was !== "chips") g.chips.replaceChildren(); // (chips of an earlier expansion are forgotten)
    if (box.firstChild !== g.li || box.lastChild !== g.chipsRow || box.childNodes.length !== 2) {
      box.replaceChildren(g.li, /** @type {HTMLElement} */ (g.chipsRow));
    }
    // keyed: a chip drawn already is kept (the dirty pass updates it in place); only new
    // children get a chip, only gone ones lose theirs, only what is out of order moves.
    // (A child that restarts, or joins a dynamic supervisor of 10,000, is one element.)
    /** @type {HTMLElement[]} */
    const items = [];
    for (const n of kids) {
      let chip = els.get(n.key);
      if (!chip || chip.tagName === "LI") {
        if (chip) forgetRow(n.key);
        chip = makeChip(n);
      }
      items.push(chip);
    }
    syncChildren(g.chips, items);
  }

  /** A row becomes a chip: forget what was drawn below it (its children box). @param {string} key */
  function forgetRow(key) {
    if (!boxes.has(key)) return;
    forgetBelow(state.children(key));
    boxes.delete(key);
    groups.delete(key);
  }

  /** The counts of a large parent changed: update its group row in place. @param {string} key */
  function refreshGroup(key) {
    const box = boxes.get(key);
    const g = groups.get(key);
    if (!box || !box.hasAttribute("data-mode") || !g || g.box !== box) return false;
    fillGroup(g, key);
    return true;
  }

  // ---------------------------------------------------------------- render
  function renderSummary() {
    summaryCounts.update(state.statusCounts);
    setAttr(summary, "data-count", String(state.nodes.size));
    setAttr(list, "data-count", String(state.nodes.size));
    setAttr(list, "data-elements", String(els.size)); // rows and chips kept (tests, benchmarks)
    setAttr(list, "data-groups", String(groups.size)); // group rows kept (tests)
  }

  function render() {
    const detailsDirty = !!selected && (state.structDirty.size > 0 || state.dirty.has(selected));
    if (state.structDirty.has("*")) {
      els.clear();
      boxes.clear();
      groups.clear();
      list.replaceChildren();
      state.structDirty.clear();
      state.dirty.clear();
      renderChildren(ROOT);
    } else {
      /** @type {Set<string>} */
      const changedGroups = new Set();
      for (const key of state.structDirty) {
        if (key === ROOT || !state.nodes.has(key)) renderChildren(ROOT);
        else if (boxes.get(key)?.getAttribute("data-mode") === "group" && (state.kids.get(key)?.size || 0) > collapse) changedGroups.add(key);
        else renderChildren(key);
      }
      for (const [key, prev] of state.dirty) {
        const n = state.nodes.get(key);
        if (!n) {
          // gone (the kernel prunes dead nodes): forget its elements, or a long run of
          // short-lived workers keeps every one it ever drew
          forget(key);
          continue;
        }
        const el = els.get(key);
        if (el) {
          if (el.tagName === "LI") {
            const row = /** @type {HTMLElement} */ (el.firstElementChild);
            fillRow(row, n, prev);
            if (!boxes.has(key) && (state.kids.get(key)?.size || 0) > 0 && !folded.has(key)) renderChildren(key);
          } else {
            // chips: touch only what changed (the title is made on hover)
            if (!prev || prev.status !== n.status) el.setAttribute("data-status", n.status);
            if (!prev || (prev.restarts || 0) !== (n.restarts || 0)) el.setAttribute("data-restarts", String(n.restarts || 0));
            if (prev) flash(el, n, prev);
          }
        }
        const p = n.parent;
        if (p && (!prev || prev.status !== n.status) && boxes.get(p)?.hasAttribute("data-mode")) changedGroups.add(p);
      }
      for (const g of changedGroups) refreshGroup(g);
      state.structDirty.clear();
      state.dirty.clear();
    }
    renderSummary();
    // the details panel is redrawn when its node changed (not every frame of a storm)
    if (detailsDirty) renderDetails();
  }

  // ---------------------------------------------------------------- details
  function renderDetails(fetch = true) {
    const key = selected;
    const n = key ? state.nodes.get(key) : undefined;
    if (!key || !n) {
      panel.hidden = true;
      return;
    }
    panel.hidden = false;
    panel.setAttribute("data-key", key);
    const d = details && details.key === key ? details : null;
    const rows = [
      ["pid", pidText(n.pid)],
      ["kind", n.kind + (n.restart ? ` · ${n.restart}` : "")],
      ["supervisor", d ? d.supervisor_path || "—" : detailsError ? "—" : "…"],
      ["child id", n.child_id ?? "—"],
      ["status", STATUS_TEXT[/** @type {keyof STATUS_TEXT} */ (n.status)] || n.status],
      ["restarts", String(n.restarts || 0)],
      ["mailbox", String(n.mailbox || 0)],
      ["tokens", n.tokens ? `${num(n.tokens)} (${(n.tps || 0).toFixed(1)} tok/s)` : "0"],
    ];
    if (d && d.path) rows.push(["path", d.path]);
    const table = h("table", { class: "al-kv" }, ...rows.map(([k, v]) => h("tr", null, h("th", null, k), h("td", null, v))));
    const parts = [
      h("div", { class: "al-details-head" }, shape(n.status), h("b", { class: "al-details-name" }, n.label),
        h("button", { class: "al-btn al-btn-small", "data-action": "close-details", title: "close" }, "×")),
      table,
    ];
    if (detailsError) parts.push(h("div", { class: "al-details-error", "data-role": "details-error" }, `details unavailable: ${detailsError}`));
    if (d && d.state) parts.push(h("div", { class: "al-sub" }, "state"), h("div", { class: "al-state", "data-role": "state" }, d.state));
    const ex = d && d.exit_detail;
    if (n.exit || ex) {
      parts.push(h("div", { class: "al-sub" }, "last exit"));
      parts.push(h("div", { class: "al-exit-reason", "data-role": "exit-reason" }, ex && ex.type ? `${ex.type}: ${ex.message}` : n.exit || ""));
      if (ex && ex.traceback) parts.push(h("pre", { class: "al-traceback", "data-role": "traceback" }, ex.traceback));
    }
    if (d && d.history && d.history.length) {
      parts.push(h("div", { class: "al-sub" }, "recent"));
      parts.push(h("ul", { class: "al-history" }, ...d.history.map((/** @type {any[]} */ x) => h("li", null, h("span", { class: "al-time" }, `${Number(x[0]).toFixed(3)} s`), ` ${x[1]} `, h("span", { class: "al-pid" }, x[2] || "")))));
    }
    if (canKill) {
      parts.push(h("div", { class: "al-details-actions" },
        h("button", { class: "al-btn al-btn-danger", "data-action": "kill", "data-key": key, "data-pid": n.pid, disabled: n.status !== "running" && n.status !== "waiting" }, `✕ kill ${n.label}`)));
    }
    panel.replaceChildren(...parts);
    if (fetch) fetchDetails(key, n);
  }

  /** @type {TreeNode | null} */
  let fetchedFor = null;
  let inflight = false;
  /** a fetch put off by the throttle (or by one under way) @type {any} */
  let later = null;
  /** Ask the kernel for details (exception, state) once per change of the node, at most
   * every 500 ms; a change within that time is fetched when it is over (a crash and the
   * restart right after it: the panel ends with the details of the restarted process).
   * @param {string} key @param {TreeNode} n */
  function fetchDetails(key, n) {
    if (fetchedFor === n) return;
    const wait = inflight ? 100 : 500 - (Date.now() - detailsAt);
    if (wait > 0) {
      if (later === null) {
        later = setTimeout(() => {
          later = null;
          const cur = selected === key ? state.nodes.get(key) : undefined;
          if (cur && ctx.root.isConnected) fetchDetails(key, cur);
        }, wait);
      }
      return;
    }
    inflight = true;
    fetchedFor = n;
    detailsAt = Date.now();
    ctx.invoke("cmd_details", { key }).then((r) => {
      inflight = false;
      if (selected !== key) return;
      if (r && r.ok) {
        details = r.details;
        detailsError = "";
      } else {
        detailsError = refusal(r);
      }
      renderDetails(false);
    }, (e) => {
      inflight = false;
      if (selected !== key) return;
      detailsError = failure(e);
      renderDetails(false);
    });
  }

  /** @param {string | null} key */
  function select(key) {
    for (const el of main.querySelectorAll(".al-selected")) el.classList.remove("al-selected");
    selected = key;
    details = null;
    detailsError = "";
    detailsAt = 0;
    fetchedFor = null;
    clearTimeout(later);
    later = null;
    if (key) {
      const el = els.get(key);
      (el?.tagName === "LI" ? el.firstElementChild : el)?.classList.add("al-selected");
      ctx.select({ key, view: "tree" });
    }
    renderDetails();
  }

  // ---------------------------------------------------------------- events
  /**
   * Send a kill command; the note in the header says what came of it: what was killed, the
   * kernel's reason for killing nothing, or why the command could not be sent (no kernel).
   * @param {string} name @param {any} msg @param {HTMLElement} btn
   * @param {string} failed  the note's start when the command could not be sent or answered
   * @param {string} refused  ... when the kernel answered that it did not kill
   * @param {(r: any) => string} done  the note for an answer that says ok
   */
  function command(name, msg, btn, failed, refused, done) {
    btn.setAttribute("data-state", "pending");
    ctx.invoke(name, msg).then((r) => {
      const ok = !!(r && r.ok);
      btn.setAttribute("data-state", ok ? "done" : "failed");
      ctx.notify(ok ? done(r) : `${refused}: ${refusal(r)}`, ok ? "info" : "warn");
    }, (e) => {
      btn.setAttribute("data-state", "failed");
      ctx.notify(`${failed}: ${failure(e)}`, "warn");
    });
  }

  /** @param {string} key @param {HTMLElement} btn */
  function kill(key, btn) {
    btn.setAttribute("disabled", "");
    const n = state.nodes.get(key);
    command("cmd_kill", { key, pid: n ? n.pid : 0 }, btn, "kill failed", "kill failed", (r) => `sent kill to ${r.name || pidText(r.pid)}`);
  }

  /**
   * Draw what hides `key` from view (another view picked it): unfold its folded
   * ancestors and expand the collapsed groups on its path. Returns the key to highlight:
   * `key`, or the nearest ancestor drawn when that is as far as the tree draws (a
   * supervisor shown as a chip among many siblings has no rows below it); `null` when
   * nothing of it is drawn.
   * @param {string} key
   * @returns {string | null}
   */
  function reveal(key) {
    if (els.has(key)) return key;
    /** @type {string[]} */
    const path = [];
    for (let p = state.nodes.get(key)?.parent; p && state.nodes.has(p) && !path.includes(p);) {
      path.push(p);
      p = /** @type {TreeNode} */ (state.nodes.get(p)).parent;
    }
    /** @type {string | null} */
    let shown = null;
    for (let i = path.length - 1; i >= 0; i--) {
      const a = path[i];
      const el = els.get(a);
      if (!el) break;
      shown = a;
      if (el.tagName !== "LI") break;
      let open = !boxes.has(a);
      if (folded.delete(a)) {
        fillRow(/** @type {HTMLElement} */ (el.firstElementChild), /** @type {TreeNode} */ (state.nodes.get(a)), undefined);
        open = true;
      }
      if ((state.kids.get(a)?.size || 0) > collapse && !expanded.has(a)) {
        expanded.add(a);
        open = true;
      }
      if (open) renderChildren(a);
    }
    renderSummary();
    return els.has(key) ? key : shown;
  }

  /** @param {MouseEvent} e */
  function onClick(e) {
    const t = /** @type {HTMLElement} */ (e.target);
    const act = /** @type {HTMLElement | null} */ (t.closest("[data-action]"));
    if (act) {
      const action = act.getAttribute("data-action");
      const key = act.getAttribute("data-key") || "";
      if (action === "kill") {
        e.stopPropagation();
        kill(key, act);
        return;
      }
      if (action === "kill-random") {
        command("cmd_kill_random", {}, act, "kill random failed", "nothing killed", (r) => `killed ${r.name || pidText(r.pid)}`);
        return;
      }
      if (action === "expand") {
        e.stopPropagation();
        if (expanded.has(key)) expanded.delete(key);
        else expanded.add(key);
        renderChildren(key);
        return;
      }
      if (action === "fold") {
        e.stopPropagation();
        if (folded.has(key)) folded.delete(key);
        else folded.add(key);
        const li = els.get(key);
        const n = state.nodes.get(key);
        if (li && n) fillRow(/** @type {HTMLElement} */ (li.firstElementChild), n, undefined);
        renderChildren(key);
        return;
      }
      if (action === "close-details") {
        select(null);
        return;
      }
    }
    const target = /** @type {HTMLElement | null} */ (t.closest(".al-node, .al-chip"));
    if (target) select(target.getAttribute("data-key"));
  }
  ctx.root.addEventListener("click", onClick);
  ctx.root.addEventListener("pointerover", chipTitle);
  ctx.root.addEventListener("keydown", (/** @type {KeyboardEvent} */ e) => {
    const t = /** @type {HTMLElement} */ (e.target);
    if ((e.key === "Enter" || e.key === " ") && t.classList.contains("al-node")) {
      e.preventDefault();
      select(t.getAttribute("data-key"));
    }
  });

  return {
    reset(view) {
      state.reset(view.nodes || []);
    },
    apply(delta) {
      if (delta.nodes) for (const [k, n] of Object.entries(delta.nodes)) state.upsert(k, n);
    },
    render,
    destroy() {
      clearTimeout(later);
      if (flashFrame) cancelAnimationFrame(flashFrame);
    },
    highlight(msg) {
      if (!msg.key) return;
      const key = reveal(msg.key);
      if (key === null) return;
      const el = els.get(key);
      const target = el && el.tagName === "LI" ? /** @type {HTMLElement} */ (el.firstElementChild) : el;
      if (!target) return;
      if (key !== msg.key) {
        // drawn as a chip among many siblings, whose own children are not drawn: say which
        const n = state.nodes.get(msg.key);
        const holder = state.nodes.get(key);
        if (n && holder) ctx.notify(`${n.label} ${pidText(n.pid)} is inside ${holder.label} ${pidText(holder.pid)}`);
      }
      target.scrollIntoView?.({ block: "nearest" });
      target.classList.remove("al-hl");
      void target.offsetWidth;
      target.classList.add("al-hl");
    },
  };
}

/** @type {import("@anywidget/types").Render} */
function render(props) {
  return mountView(props, "tree", makeTree);
}

export default { render };
