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


def render(kind: str, view: dict[str, Any], title: str | None = None) -> str:
    """Static HTML for a view snapshot (``kind``: tree, stream, timeline or sequence)."""
    renderers: dict[str, Callable[[dict[str, Any]], str]] = {
        "tree": _tree, "stream": _stream, "timeline": _timeline, "sequence": _sequence}
    body = renderers[kind](view)
    head = f'<div style="font-weight:600;margin-bottom:4px">{escape(title or kind)}</div>'
    return f'<div class="al-static al-static-{kind}" style="{_BOX}">{head}{body}</div>'


# -- tree -----------------------------------------------------------------------------
def _tree(view: dict[str, Any], limit: int = 400) -> str:
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
        if len(children) > 50:
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


def _stream(view: dict[str, Any], limit: int = 4000) -> str:
    agents = view.get("agents", [])
    if not agents:
        return '<div style="color:#888">no agent has called a model yet</div>'
    cols = []
    for a in agents:
        # (markup before, text, markup after) per segment: a long transcript is cut in its
        # text, so no tag or entity is cut in half
        parts: list[tuple[str, str, str]] = []
        for g in a.get("segs", []):
            t = g["t"]
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
def _timeline(view: dict[str, Any], width: int = 760, lane_h: int = 18, max_lanes: int = 40) -> str:
    lanes = sorted(view.get("lanes", []), key=lambda x: x.get("order", 0))[:max_lanes]
    if not lanes:
        return '<div style="color:#888">nothing has happened yet</div>'
    t0 = view.get("t0", 0.0)
    t1 = max(view.get("now", t0), t0 + 1e-3)
    label_w = 140
    x = lambda t: label_w + (t - t0) / (t1 - t0) * (width - label_w - 10)  # noqa: E731
    row = {lane["key"]: i for i, lane in enumerate(lanes)}
    h = len(lanes) * lane_h + 24
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{h}" style="font:11px sans-serif">']
    for i, lane in enumerate(lanes):
        y = 20 + i * lane_h
        out.append(f'<text x="4" y="{y + 12}" fill="#333">{escape(str(lane["label"])[:22])}</text>')
    for s in view.get("spans", []):
        if (i := row.get(s["lane"], -1)) < 0:
            continue
        end = s["t1"] if s["t1"] is not None else t1
        color = "#d43c3c" if s.get("end") in ("crash", "killed") else ("#9ca3af" if s.get("end") else "#2e9d5b")
        out.append(f'<rect x="{x(s["t0"]):.1f}" y="{24 + i * lane_h}" width="{max(1.0, x(end) - x(s["t0"])):.1f}" '
                   f'height="{lane_h - 8}" rx="2" fill="{color}" fill-opacity="0.35"/>')
    for c in view.get("llm", []):
        if (i := row.get(c["lane"], -1)) < 0:
            continue
        end = c["t1"] if c["t1"] is not None else t1
        out.append(f'<rect x="{x(c["t0"]):.1f}" y="{27 + i * lane_h}" width="{max(1.0, x(end) - x(c["t0"])):.1f}" '
                   f'height="{lane_h - 14}" fill="#8a5cf5"/>')
    for m in view.get("marks", []):
        if (i := row.get(m["lane"], -1)) < 0 or m["kind"] not in ("crash", "killed", "restart", "gave_up", "error"):
            continue
        color = {"restart": "#e0a000", "error": "#b7791f"}.get(m["kind"], "#d43c3c")
        glyph = {"restart": "↻", "error": "!"}.get(m["kind"], "✕")
        out.append(f'<text x="{x(m["t"]) - 4:.1f}" y="{20 + i * lane_h + 12}" fill="{color}">{glyph}</text>')
    out.append("</svg>")
    return "".join(out)


# -- sequence -------------------------------------------------------------------------
_ARROW = {"call": "#2563eb", "reply": "#6b7280", "cast": "#0d9488", "send": "#0d9488",
          "exit": "#d43c3c", "down": "#e0a000"}


def _sequence(view: dict[str, Any], max_rows: int = 60) -> str:
    parts = sorted(view.get("parts", []), key=lambda p: p.get("order", 0))[:12]
    arrows = [a for a in view.get("arrows", []) if a["from"] in {p["key"] for p in parts}
              and a["to"] in {p["key"] for p in parts}][-max_rows:]
    if not parts or not arrows:
        return '<div style="color:#888">no messages yet</div>'
    col = 110
    xs = {p["key"]: 60 + i * col for i, p in enumerate(parts)}
    h = 30 + len(arrows) * 18 + 10
    w = 60 + len(parts) * col
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" style="font:11px sans-serif">']
    for p in parts:
        xx = xs[p["key"]]
        out.append(f'<text x="{xx}" y="14" text-anchor="middle" fill="#333">{escape(str(p["label"])[:16])}</text>'
                   f'<line x1="{xx}" y1="20" x2="{xx}" y2="{h}" stroke="#ccc" stroke-dasharray="3 3"/>')
    for i, a in enumerate(arrows):
        y = 34 + i * 18
        x1, x2 = xs[a["from"]], xs[a["to"]]
        color = _ARROW.get(a["kind"], "#333")
        dash = ' stroke-dasharray="4 3"' if a["kind"] in ("reply", "cast", "down") else ""
        tip = 6 if x2 >= x1 else -6
        out.append(f'<line x1="{x1}" y1="{y}" x2="{x2}" y2="{y}" stroke="{color}"{dash}/>'
                   f'<path d="M{x2} {y} l{-tip} -3 l0 6 z" fill="{color}"/>'
                   f'<text x="{(x1 + x2) / 2:.0f}" y="{y - 3}" text-anchor="middle" fill="{color}">'
                   f'{escape((a["kind"] + (" " + a["label"] if a.get("label") else ""))[:40])}</text>')
    out.append("</svg>")
    return "".join(out)
