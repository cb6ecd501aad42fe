"""Static HTML/SVG for each view, for places where widgets cannot run.

nbconvert, GitHub's notebook preview and e-mail show the ``text/html`` part
of a view's output; these renderers make it readable. Styles are inline (some
renderers strip ``<style>``), classes carry the ``al-`` prefix.

>>> from agentlab.ui._synthetic import tiny_tree_events
>>> from agentlab.ui._tree import tree_view
>>> html = render("tree", tree_view(tiny_tree_events()), "Supervision tree")
>>> "writer" in html and "al-static" in html
True
"""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from typing import Any

from ._identity import pid_label

__all__ = ["render"]

COLORS = {
    "running": "#2e9d5b",
    "waiting": "#8a5cf5",
    "restarting": "#e0a000",
    "crashed": "#d43c3c",
    "stopped": "#8c8c8c",
}
GLYPHS = {"running": "●", "waiting": "◆", "restarting": "◌", "crashed": "■", "stopped": "□"}
_BOX = (
    "font:12px/1.45 -apple-system,BlinkMacSystemFont,'Segoe UI',Helvetica,Arial,sans-serif;"
    "border:1px solid #d0d0d0;border-radius:6px;padding:8px 10px;margin:4px 0;max-width:100%;"
    "overflow:auto"
)


class HtmlFallback:
    """Mixin for a widget with a ``to_html()``: without a live front end (nbconvert,
    GitHub, e-mail), the notebook shows that static HTML instead."""

    def to_html(self) -> str:
        raise NotImplementedError

    def _repr_html_(self) -> str:
        return self.to_html()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        bundle = super()._repr_mimebundle_(**kwargs)  # type: ignore[misc]
        data, meta = bundle if isinstance(bundle, tuple) else (bundle, {})
        data = dict(data or {})
        data["text/html"] = self.to_html()
        return data, meta


def render(kind: str, view: dict[str, Any], title: str | None = None, *, collapse: int = 50,
           lost: dict[str, Any] | None = None) -> str:
    """Static HTML for a view snapshot (``kind``: tree, stream, timeline or sequence).

    ``collapse``: a supervisor with more children than this is one line of counts
    (tree) or one lane (timeline), as in the live view. ``lost``: the run lost
    events (``agentlab.ui._feed.lost_note``), said under the title.
    """
    renderers: dict[str, Callable[[dict[str, Any]], str]] = {
        "tree": lambda v: _tree(v, collapse=collapse), "stream": _stream,
        "timeline": lambda v: _timeline(v, collapse=collapse), "sequence": _sequence}
    body = renderers[kind](view)
    head = f'<div style="font-weight:600;margin-bottom:4px">{escape(title or kind)}</div>'
    if lost:
        head += (f'<div class="al-static-lost" data-count="{int(lost["count"])}" style="color:#a33;'
                 f'margin-bottom:4px" title="{escape(str(lost.get("hint", "")))}">'
                 f'{escape(str(lost["text"]))}</div>')
    return f'<div class="al-static al-static-{kind}" style="{_BOX}">{head}{body}</div>'


# -- tree -----------------------------------------------------------------------------
def _tree(view: dict[str, Any], limit: int = 400, collapse: int = 50) -> str:
    nodes = view.get("nodes", [])
    if not nodes:
        return '<div style="color:#888">no processes</div>'
    keys = {n["key"] for n in nodes}
    kids: dict[str | None, list[dict[str, Any]]] = {}
    for n in nodes:
        p = n.get("parent")
        kids.setdefault(p if p in keys else None, []).append(n)
    for lst in kids.values():
        lst.sort(key=lambda n: n.get("order", 0))
    lines: list[str] = []

    def walk(n: dict[str, Any], depth: int) -> None:
        if len(lines) >= limit:
            return
        st = n.get("status", "running")
        bits = [
            f'<span style="color:{COLORS.get(st, "#555")}" title="{st}">{GLYPHS.get(st, "●")}</span>',
            f'<b>{escape(str(n.get("label")))}</b>',
            f'<span style="color:#888">&lt;0.{n.get("pid")}.0&gt; {escape(st)}</span>',
        ]
        if n.get("strategy"):
            bits.append(f'<span style="color:#888">{escape(str(n["strategy"]))}</span>')
        budget = n.get("budget")
        if budget:
            used, most, period = budget
            color = "#a33" if (used >= most if most else used > 0) else "#888"
            bits.append(f'<span style="color:{color}" title="restart budget: {used} of {most} restarts '
                        f'used in the last {period} s">{used}/{most} in {period}s</span>')
        if n.get("gave_up"):
            bits.append('<span style="color:#a33;font-weight:600">gave up</span>')
        if n.get("restarts"):
            bits.append(f'<span title="restarts">↻{n["restarts"]}</span>')
        if n.get("mailbox"):
            bits.append(f'<span title="mailbox">✉{n["mailbox"]}</span>')
        if n.get("tps"):
            bits.append(f'<span title="tokens/s">{n["tps"]:.1f} tok/s</span>')
        if n.get("exit") and st in ("crashed", "stopped", "restarting"):
            bits.append(f'<span style="color:#a33">{escape(n["exit"])}</span>')
        pad = depth * 18
        lines.append(f'<div class="al-static-node" style="padding-left:{pad}px">{" ".join(bits)}</div>')
        children = kids.get(n["key"], [])
        if len(children) > collapse:
            counts: dict[str, int] = {}
            for c in children:
                counts[c.get("status", "running")] = counts.get(c.get("status", "running"), 0) + 1
            summary = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
            lines.append(f'<div style="padding-left:{pad + 18}px;color:#555">{len(children)} children: {summary}</div>')
            return
        for c in children:
            walk(c, depth + 1)

    for root in kids.get(None, []):
        walk(root, 0)
    if len(lines) >= limit:
        lines.append(f'<div style="color:#888">… {len(nodes) - limit} more</div>')
    return "".join(lines)


# -- streams --------------------------------------------------------------------------
_BLUE = '<span style="color:#2563eb">'
_RED = '<span style="color:#d43c3c">'


def _tail(parts: list[tuple[str, str, str]], limit: int) -> str:
    """The HTML of the last ``limit`` characters of text in ``parts`` (escaped; "…" if cut)."""
    out: list[str] = []
    room = limit
    for before, text, after in reversed(parts):
        if len(text) > room:
            out.append(f"{before}…{escape(text[-room:])}{after}" if room else "…")
            break
        out.append(f"{before}{escape(text)}{after}")
        room -= len(text)
    return "".join(reversed(out))


#: segments shown on a line of their own
_BLOCKS = frozenset({"tool_call", "tool_result", "retry", "error", "exit", "restart", "new"})


def _stream(view: dict[str, Any], limit: int = 4000) -> str:
    agents = view.get("agents", [])
    if not agents:
        return '<div style="color:#888">no agent has called a model yet</div>'
    cols = []
    for a in agents:
        # (markup before, text, markup after) per segment: a long transcript is cut in its
        # text, so no tag or entity is cut in half
        parts: list[tuple[str, str, str]] = []
        after_block = False
        for g in a.get("segs", []):
            t = g["t"]
            if t in _BLOCKS or (t == "text" and after_block):
                # tool calls, results, retries, errors: lines of their own
                if parts and not parts[-1][1].endswith("\n"):
                    parts.append(("", "\n", ""))
                after_block = t != "text"
            if t == "text":
                parts.append(("", g["s"], ""))
            elif t == "tool_call":
                parts.append((_BLUE, f'⚙ {g.get("name")}({g.get("args", "")})', "</span>"))
            elif t == "tool_result":
                parts.append((_BLUE, f'↳ {g.get("result")}', "</span>"))
            elif t == "retry":
                parts.append(('<span style="color:#b7791f">', f'⟳ retry {g.get("attempt")} ({g.get("error")})', "</span>"))
            elif t == "error":
                parts.append((_RED, f'⚠ {g.get("error")}: {g.get("message")}', "</span>"))
            elif t == "exit":
                parts.append((_RED, f'✖ exited: {g.get("reason")}', "</span>"))
            elif t == "restart":
                parts.append(('<span style="color:#e0a000">', "↻ restarted", "</span>"))
            elif t == "new":
                parts.append(('<span style="color:#888">', f'+ new process {pid_label(g.get("pid"))}', "</span>"))
            elif t == "req" and parts:
                parts.append(("", "\n", ""))
        text = _tail(parts, limit)
        head = (f'<b>{escape(str(a["label"]))}</b> <span style="color:#888">{a.get("tokens", 0)} tokens · '
                f'{a.get("requests", 0)} calls · ${a.get("cost", 0):.4f}</span>')
        cols.append(
            f'<div class="al-static-agent" style="flex:1 1 240px;min-width:200px">{head}'
            f'<pre style="white-space:pre-wrap;margin:4px 0;font:12px/1.4 monospace">{text}</pre></div>'
        )
    return f'<div style="display:flex;gap:12px;flex-wrap:wrap">{"".join(cols)}</div>'


# -- timeline -------------------------------------------------------------------------
def _timeline_rows(lanes: list[dict[str, Any]], collapse: int) -> list[tuple[str, str, int, set[str]]]:
    """The rows to draw, in tree order: ``(key, label, depth, lanes drawn in it)``. The
    children of a supervisor with more than ``collapse`` of them share one row."""
    keys = {lane["key"] for lane in lanes}
    kids: dict[str | None, list[dict[str, Any]]] = {}
    for lane in sorted(lanes, key=lambda x: x.get("order", 0)):
        p = lane.get("parent")
        kids.setdefault(p if p in keys else None, []).append(lane)
    rows: list[tuple[str, str, int, set[str]]] = []

    def below(key: str) -> set[str]:
        out = {key}
        for c in kids.get(key, []):
            out |= below(c["key"])
        return out

    def walk(lane: dict[str, Any], depth: int) -> None:
        rows.append((lane["key"], str(lane["label"]), depth, {lane["key"]}))
        children = kids.get(lane["key"], [])
        if len(children) > collapse:
            every: set[str] = set()
            for c in children:
                every |= below(c["key"])
            rows.append((f"agg:{lane['key']}", f"▸ {len(children)} children", depth + 1, every))
            return
        for c in children:
            walk(c, depth + 1)

    for root in kids.get(None, []):
        walk(root, 0)
    return rows


def _timeline(view: dict[str, Any], width: int = 760, lane_h: int = 18, max_lanes: int = 40,
              collapse: int = 50) -> str:
    rows = _timeline_rows(view.get("lanes", []), collapse)
    if not rows:
        return '<div style="color:#888">nothing has happened yet</div>'
    more = len(rows) - max_lanes
    rows = rows[:max_lanes]
    t0 = view.get("t0", 0.0)
    t1 = max(view.get("now", t0), t0 + 1e-3)
    label_w = 140
    x = lambda t: label_w + (t - t0) / (t1 - t0) * (width - label_w - 10)  # noqa: E731
    row: dict[str, int] = {}
    for i, (_key, _label, _depth, members) in enumerate(rows):
        for k in members:
            row[k] = i
    grouped = {k for r in rows if r[0].startswith("agg:") for k in r[3]}
    h = len(rows) * lane_h + 24 + (14 if more > 0 else 0)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{h}" style="font:11px sans-serif">',
           f'<text x="{label_w}" y="12" fill="#888">{t0:.2f} s</text>'
           f'<text x="{width - 10}" y="12" fill="#888" text-anchor="end">{t1:.2f} s</text>']
    for i, (_key, label, depth, _members) in enumerate(rows):
        y = 20 + i * lane_h
        out.append(f'<text x="{4 + 8 * min(depth, 6)}" y="{y + 12}" fill="#333">{escape(label[:22])}</text>')
    for s in view.get("spans", []):
        if (i := row.get(s["lane"], -1)) < 0 or s["lane"] in grouped:
            continue
        end = s["t1"] if s["t1"] is not None else t1
        color = "#d43c3c" if s.get("end") in ("crash", "killed") else ("#9ca3af" if s.get("end") else "#2e9d5b")
        out.append(f'<rect x="{x(s["t0"]):.1f}" y="{24 + i * lane_h}" width="{max(1.0, x(end) - x(s["t0"])):.1f}" '
                   f'height="{lane_h - 8}" rx="2" fill="{color}" fill-opacity="0.35"/>')
    for c in view.get("llm", []):
        if (i := row.get(c["lane"], -1)) < 0 or c["lane"] in grouped:
            continue
        end = c["t1"] if c["t1"] is not None else t1
        out.append(f'<rect x="{x(c["t0"]):.1f}" y="{27 + i * lane_h}" width="{max(1.0, x(end) - x(c["t0"])):.1f}" '
                   f'height="{lane_h - 14}" fill="#8a5cf5"/>')
    for m in view.get("marks", []):  # (a group's row carries its children's marks)
        if (i := row.get(m["lane"], -1)) < 0 or m["kind"] not in ("crash", "killed", "restart", "gave_up", "error"):
            continue
        color = {"restart": "#e0a000", "error": "#b7791f"}.get(m["kind"], "#d43c3c")
        glyph = {"restart": "↻", "error": "!", "gave_up": "⊘"}.get(m["kind"], "✕")
        out.append(f'<text x="{x(m["t"]) - 4:.1f}" y="{20 + i * lane_h + 12}" fill="{color}">{glyph}</text>')
    if more > 0:
        out.append(f'<text x="4" y="{h - 4}" fill="#888">… {more} more lanes</text>')
    out.append("</svg>")
    return "".join(out)


# -- sequence -------------------------------------------------------------------------
_ARROW = {"call": "#2563eb", "reply": "#6b7280", "cast": "#0d9488", "send": "#0d9488",
          "exit": "#d43c3c", "down": "#e0a000"}


def _sequence(view: dict[str, Any], max_rows: int = 60, max_cols: int = 12) -> str:
    """The newest ``max_rows`` messages, between the processes they touch: at most
    ``max_cols`` lifelines (those of the newest messages), the rest share one
    "others" column, as in the live view."""
    every = view.get("arrows", [])
    arrows = every[-max_rows:]
    if not arrows:
        return '<div style="color:#888">no messages yet</div>'
    info = {p["key"]: p for p in view.get("parts", [])}
    used: set[str] = set()
    keep: list[str] = []
    for a in reversed(arrows):  # the processes of the newest messages get the columns
        for k in (a["from"], a["to"]):
            if k not in used:
                used.add(k)
                keep.append(k)
    folded = len(keep) - (max_cols - 1) if len(keep) > max_cols else 0
    if folded:
        keep = keep[: max_cols - 1]
    keep.sort(key=lambda k: info.get(k, {}).get("order", 0))
    labels = [str(info.get(k, {}).get("label", k)) for k in keep]
    if folded:
        labels.append(f"{folded} others")
    col = 110
    xs = {k: 60 + i * col for i, k in enumerate(keep)}
    other_x = 60 + len(keep) * col
    top = 30 if len(every) == len(arrows) else 46
    h = top + len(arrows) * 18 + 10
    w = 60 + len(labels) * col
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" style="font:11px sans-serif">']
    if len(every) > len(arrows):
        out.append(f'<text x="4" y="{top - 12}" fill="#888">… {len(every) - len(arrows)} earlier messages '
                   'not shown</text>')
    for i, label in enumerate(labels):
        xx = 60 + i * col
        out.append(f'<text x="{xx}" y="14" text-anchor="middle" fill="#333">{escape(label[:16])}</text>'
                   f'<line x1="{xx}" y1="20" x2="{xx}" y2="{h}" stroke="#ccc" stroke-dasharray="3 3"/>')
    for i, a in enumerate(arrows):
        y = top + 4 + i * 18
        x1, x2 = xs.get(a["from"], other_x), xs.get(a["to"], other_x)
        color = _ARROW.get(a["kind"], "#333")
        dash = ' stroke-dasharray="4 3"' if a["kind"] in ("reply", "cast", "down") else ""
        text = escape((a["kind"] + (" " + a["label"] if a.get("label") else ""))[:40])
        if x1 == x2:  # to itself (or within "others"): a loop
            out.append(f'<path d="M{x1} {y - 5} h24 v10 h-22" fill="none" stroke="{color}"{dash}/>'
                       f'<path d="M{x1} {y + 5} l6 -3 l0 6 z" fill="{color}"/>'
                       f'<text x="{x1 + 30}" y="{y + 3}" fill="{color}">{text}</text>')
            continue
        tip = 6 if x2 >= x1 else -6
        out.append(f'<line x1="{x1}" y1="{y}" x2="{x2}" y2="{y}" stroke="{color}"{dash}/>'
                   f'<path d="M{x2} {y} l{-tip} -3 l0 6 z" fill="{color}"/>'
                   f'<text x="{(x1 + x2) / 2:.0f}" y="{y - 3}" text-anchor="middle" fill="{color}">{text}</text>')
    out.append("</svg>")
    return "".join(out)
