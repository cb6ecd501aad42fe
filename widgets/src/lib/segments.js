// @ts-check
/**
 * Transcript segments and the rule that joins streamed deltas.
 * The kernel applies the same rule (agentlab/ui/_pending.py: merge_segment),
 * so a column shows exactly the text the kernel has.
 * @module
 */

/**
 * @typedef {{t: string, s?: string, id?: any, name?: string, args?: string, more?: boolean,
 *   [k: string]: any}} Segment
 */

/**
 * Append `seg` to `segs`, joining it to the last segment where the rules say so:
 * text after text is concatenated; a tool-call delta after the same call (same id)
 * extends its arguments. Returns "merged" or "appended". `seg` is copied.
 * @param {Segment[]} segs
 * @param {Segment} seg
 * @returns {"merged" | "appended"}
 */
export function appendSegment(segs, seg) {
  const last = segs.length ? segs[segs.length - 1] : undefined;
  if (last && last.t === seg.t) {
    if (seg.t === "text") {
      last.s = (last.s || "") + (seg.s || "");
      return "merged";
    }
    if (seg.t === "tool_call" && seg.more && seg.id === last.id) {
      last.args = (last.args || "") + (seg.args || "");
      return "merged";
    }
  }
  segs.push({ ...seg });
  return "appended";
}

/**
 * The text of a transcript (text segments joined).
 * @param {Segment[]} segs
 */
export function joinText(segs) {
  let out = "";
  for (const g of segs) if (g.t === "text") out += g.s || "";
  return out;
}
