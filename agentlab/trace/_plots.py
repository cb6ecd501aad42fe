"""Plots of a run (matplotlib; no pyplot state, so they work on any backend).

* :func:`plot_timeline`: one swimlane per child slot (a supervised child keeps
  its lane across restarts), bars for process lifetimes (a process that
  started children is drawn as a supervisor), a red ✕ where one crashed, a ▾
  where the replacement of a crashed child started (with an arc from the
  crash), a hollow ▿ where a sibling that the same restart stopped (one_for_all,
  rest_for_one) started again, a dashed line where a supervisor gave up. Past
  ``max_lanes`` lanes it aggregates: one lane per supervisor showing how many of
  its processes were alive, with a tick per crash, so 10,000 processes stay
  readable.
* :func:`plot_restarts`: restarts per time window, stacked by supervisor.
* :func:`plot_tokens`: output tokens per second per agent over time.

Each returns the :class:`~matplotlib.figure.Figure`; pass ``ax=`` to draw into
your own axes::

    fig = plot_timeline(run)
    fig.savefig("timeline.png")
"""

from __future__ import annotations

import math
import sys
from numbers import Real
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.artist import Artist
from matplotlib.collections import PolyCollection
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.legend_handler import HandlerTuple
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from ._analysis import _run_end, _run_start, _slots, _window_of, _window_starts
from ._tables import of_kind, replacements

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from ._run import Run

__all__ = ["plot_restarts", "plot_timeline", "plot_tokens"]

_KIND_COLORS = {
    "supervisor": "#7f7f7f",
    "agent": "#4c78a8",
    "process": "#54a24b",
    "task": "#f58518",
}
_OTHER_COLOR = "#9ecae9"
_CRASH = "#d62728"
_RESTART = "#e0a000"
_PALETTE = ["#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2", "#ff9da6",
            "#9d755d", "#bab0ac", "#eeca3b"]


def _axes(ax: Axes | None, width: float, height: float) -> tuple[Figure, Axes]:
    if ax is not None:
        fig = ax.get_figure()
        assert isinstance(fig, Figure)
        return fig, ax
    fig = Figure(figsize=(width, height), layout="constrained")
    _show_in_notebooks()
    return fig, fig.add_subplot()


_notebooks_set_up = False


def _show_in_notebooks() -> None:
    """In IPython, make figures display as images.

    A figure made without pyplot has no image in a notebook until something sets up
    matplotlib's inline support (importing pyplot, ``%matplotlib inline``): a
    returned figure showed as the text ``<Figure size ...>``. So, once, if IPython is
    running and nothing shows figures as PNG yet, this does (as the inline backend
    does). Outside IPython it does nothing.
    """
    global _notebooks_set_up
    if _notebooks_set_up:
        return
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is None:
        return
    _notebooks_set_up = True
    png = shell.display_formatter.formatters.get("image/png")
    if png is None:
        return
    try:
        png.lookup_by_type(Figure)
        return  # someone shows figures already (the inline backend, or the user)
    except KeyError:
        pass
    from IPython.core.pylabtools import print_figure

    png.for_type(Figure, lambda fig: print_figure(fig, "png", bbox_inches="tight"))


def _short(label: str, width: int = 28) -> str:
    return label if len(label) <= width else "…" + label[-(width - 1):]


def plot_timeline(
    run: Run, ax: Axes | None = None, *, max_lanes: int = 40, title: str | None = None
) -> Figure:
    """Swimlanes of process lifetimes with crash marks and restart links (one lane
    per child slot; above ``max_lanes`` lanes, one per supervisor, aggregated).

    ``title`` replaces the default title (the run id and what is drawn).
    """
    if not isinstance(max_lanes, int) or max_lanes < 1:
        raise ValueError(f"max_lanes must be a positive whole number, not {max_lanes!r}")
    p = run.processes()
    begin, end = _run_start(run), _run_end(run)
    # a process alive before the recording began is drawn from its beginning
    p = p.assign(slot=_slots(p, run.restarts()), start=p["start"].fillna(begin))
    p = p.assign(stop=p["end"].fillna(end))
    n_slots = p["slot"].nunique()
    lanes = n_slots if n_slots <= max_lanes else min(max_lanes, _group_count(p))
    fig, ax = _axes(ax, 11, min(2.0 + 0.32 * max(lanes, 1), 16))
    if p.empty:
        ax.text(0.5, 0.5, "no processes in this run", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    if n_slots <= max_lanes:
        _lanes(ax, run, p)
        what = f"{len(p)} process lifetimes in {n_slots} lanes"
    else:
        _aggregate(ax, p, max_lanes)
        what = f"{len(p):,} processes, aggregated by supervisor"
    _gave_up(ax, run)
    ax.set_xlabel(f"time (s, {run.info.clock} clock)")
    left = min(begin, float(p["start"].min()))
    ax.set_xlim(left=left, right=end + max(end - left, 1e-9) * 0.02)
    ax.set_title(title or f"run {run.run_id}: {what}", loc="left", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    return fig


def _lanes(ax: Axes, run: Run, p: pd.DataFrame) -> None:
    order = (
        p.groupby("slot", sort=False)["start"].min().sort_values(kind="stable").index.tolist()
    )
    lane_of = {s: i for i, s in enumerate(order)}
    y = p["slot"].map(lane_of).to_numpy(np.int64)
    starts = p["start"].to_numpy(np.float64)
    stops = p["stop"].to_numpy(np.float64)
    kinds = p["kind"].astype(object).to_numpy().copy()
    # a supervisor started from outside is spawned as an agent: it is one that starts children
    kinds[p["pid"].isin(p["supervisor_pid"].dropna()).to_numpy(bool)] = "supervisor"
    alive = p["end"].isna().to_numpy()
    colors = [
        to_rgba(_KIND_COLORS.get(k, _OTHER_COLOR) if isinstance(k, str) else _OTHER_COLOR,
                0.5 if a else 0.95)
        for k, a in zip(kinds, alive, strict=True)
    ]
    widths = np.maximum(stops - starts, 0.0)
    verts = np.stack(
        [
            np.column_stack([starts, y - 0.3]),
            np.column_stack([starts + widths, y - 0.3]),
            np.column_stack([starts + widths, y + 0.3]),
            np.column_stack([starts, y + 0.3]),
        ],
        axis=1,
    )
    ax.add_collection(PolyCollection(list(verts), facecolors=colors, edgecolors="white", linewidths=0.5))
    crashed = p["crashed"].to_numpy(bool)
    ax.scatter(stops[crashed], y[crashed], marker="x", s=46, color=_CRASH, zorder=4, linewidths=2)
    ended = ~crashed & ~alive
    ax.scatter(stops[ended], y[ended], marker="|", s=70, color="#333333", zorder=3)
    # restart links: crash -> the replacement's start
    r = run.restarts()
    pid_lane: dict[int, float] = {
        int(k): float(v) for k, v in zip(p["pid"].to_numpy(np.int64), y, strict=True)
    }
    start_of = dict(zip(p["pid"].to_numpy(np.int64), starts, strict=True))
    marks: list[tuple[float, float]] = []
    for old, new, t0 in zip(r["pid"], r["new_pid"], r["crashed_at"], strict=True):
        if pd.isna(new) or int(new) not in pid_lane:
            continue
        y1 = pid_lane[int(new)]
        marks.append((float(start_of[int(new)]), y1 - 0.42))  # above the bar, where the arc lands
        if pd.isna(old):
            continue
        y0 = pid_lane.get(int(old), y1)
        ax.annotate(
            "", xy=(float(start_of[int(new)]), y1 - 0.32), xytext=(float(t0), y0 - 0.32),
            arrowprops={"arrowstyle": "->", "color": _CRASH, "lw": 1.0, "alpha": 0.8,
                        "connectionstyle": "arc3,rad=0.5", "shrinkA": 0, "shrinkB": 0},
        )
    if marks:  # also where the arc has no length: most restarts start their child at once
        mx, my = np.array(marks).T
        ax.scatter(mx, my, marker="v", s=34, color=_RESTART, edgecolors="white", linewidths=0.5,
                   zorder=5, gid="restarts")
    # the siblings a one_for_all / rest_for_one restart stopped and started again
    brought_back = _bystanders(run, r)
    bystanders = [(start_of[pid], pid_lane[pid] - 0.42) for pid in brought_back if pid in pid_lane]
    if bystanders:
        bx, by = np.array(bystanders).T
        ax.scatter(bx, by, marker="v", s=30, facecolors="white", edgecolors=_RESTART,
                   linewidths=1.2, zorder=5, gid="bystander_restarts")
    ax.set_yticks(range(len(order)), [_short(str(s)) for s in order], fontsize=8)
    ax.set_ylim(len(order) - 0.5, -0.7)
    legend: list[tuple[Artist | tuple[Artist, ...], str]] = [
        (Patch(color=c), k) for k, c in _KIND_COLORS.items() if k in set(kinds)
    ]
    if alive.any():  # their bars are lighter: a light swatch of each kind drawn so
        light = [to_rgba(_KIND_COLORS.get(k, _OTHER_COLOR) if isinstance(k, str) else _OTHER_COLOR, 0.5)
                 for k in dict.fromkeys(kinds[alive])]
        legend.append((tuple(Patch(facecolor=c, edgecolor="none") for c in light), "alive at the end"))
    if crashed.any():
        legend.append((Line2D([], [], marker="x", color=_CRASH, ls=""), "crash"))
    if ended.any():
        legend.append((Line2D([], [], marker="|", color="#333333", ls=""), "exit"))
    if marks:
        legend.append((Line2D([], [], color=_CRASH, lw=1, marker="v", markerfacecolor=_RESTART,
                              markeredgecolor=_RESTART), "restart"))
    if bystanders:
        legend.append((Line2D([], [], ls="", marker="v", markerfacecolor="white",
                              markeredgecolor=_RESTART), "sibling restarted"))
    ax.legend([h for h, _ in legend], [label for _, label in legend], loc="upper left",
              bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False,
              handler_map={tuple: HandlerTuple(ndivide=None, pad=0.0)})


def _bystanders(run: Run, r: pd.DataFrame) -> list[int]:
    """The pids that restarts started in place of siblings of the crashed child
    (one_for_all, rest_for_one), each once."""
    if not len(r) or not r["siblings_affected"].fillna(0).astype(bool).any():
        return []
    joined = replacements(
        run.events(), r["seq"].to_numpy(np.int64), r["supervisor_pid"].to_numpy(np.int64),
        list(r["affected"]),
    )
    crashed = r["child_id"].astype(object).to_numpy()[joined["row"].to_numpy(np.int64)]
    sibling = (joined["child"].to_numpy(object) != crashed) & (joined["new_pid"] >= 0).to_numpy()
    own = set(r["new_pid"].dropna().astype(int).tolist())  # already marked as a restart
    return [pid for pid in dict.fromkeys(joined.loc[sibling, "new_pid"].tolist()) if pid not in own]


def _groups(p: pd.DataFrame) -> np.ndarray:
    sup = p["supervisor"].astype(object).to_numpy()
    kind = p["kind"].astype(object).to_numpy()
    return np.array(
        [s if isinstance(s, str) else f"(top level {k or 'process'}es)" for s, k in zip(sup, kind, strict=True)],
        dtype=object,
    )


def _group_count(p: pd.DataFrame) -> int:
    return len(set(_groups(p)))


def _aggregate(ax: Axes, p: pd.DataFrame, max_lanes: int) -> None:
    groups = pd.Series(_groups(p))
    sizes = groups.value_counts()
    keep = list(sizes.index[: max_lanes - 1]) if len(sizes) > max_lanes else list(sizes.index)
    labels = groups.where(groups.isin(keep), "(other)").to_numpy(object)
    first = pd.Series(p["start"].to_numpy(np.float64)).groupby(labels).min().sort_values(kind="stable")
    order = list(first.index)
    starts = p["start"].to_numpy(np.float64)
    stops = p["stop"].to_numpy(np.float64)
    crashed = p["crashed"].to_numpy(bool)
    for lane, label in enumerate(order):
        mine = labels == label
        t = np.concatenate([starts[mine], stops[mine]])
        step = np.concatenate([np.ones(mine.sum()), -np.ones(mine.sum())])
        o = np.lexsort((-step, t))
        t, live = t[o], np.cumsum(step[o])
        peak = max(float(live.max()), 1.0)
        ax.fill_between(t, lane + 0.35, lane + 0.35 - 0.7 * live / peak, step="post",
                        color="#4c78a8", alpha=0.55, linewidth=0)
        ct = stops[mine & crashed]
        if len(ct):
            ax.vlines(ct, lane + 0.38, lane + 0.48, color=_CRASH, linewidth=0.6, alpha=0.7)
        ax.text(1.0, lane, f" {int(mine.sum()):,} procs, peak {int(peak):,} alive, {len(ct):,} crashes",
                transform=ax.get_yaxis_transform(), va="center", fontsize=7, color="#444444")
    ax.set_yticks(range(len(order)), [_short(str(s)) for s in order], fontsize=8)
    ax.set_ylim(len(order) - 0.5, -0.7)
    ax.legend(
        handles=[Patch(color="#4c78a8", alpha=0.55, label="alive (share of peak)"),
                 Line2D([], [], color=_CRASH, lw=1, label="crash")],
        loc="lower left", bbox_to_anchor=(0.0, 1.04), ncols=2, fontsize=8, frameon=False,
    )


def _gave_up(ax: Axes, run: Run) -> None:
    gave = of_kind(run.events(), "supervisor_gave_up")
    for t, who in zip(gave["time"], gave["path"].astype(object), strict=True):
        ax.axvline(t, color=_CRASH, ls="--", lw=1)
        ax.text(t, 1.0, f" {who} gave up", transform=ax.get_xaxis_transform(), color=_CRASH,
                fontsize=7, va="bottom", rotation=0)


def _checked(window: float) -> float:
    if isinstance(window, bool) or not (isinstance(window, Real) and 0 < window < math.inf):
        raise ValueError(
            f"window must be a positive number of seconds (or None for about 50 windows), "
            f"not {window!r}"
        )
    return float(window)


def _nice_window(span: float, bins: int = 50) -> float:
    if span <= 0:
        return 1.0
    raw = span / bins
    mag = 10 ** np.floor(np.log10(raw))
    for m in (1, 2, 5, 10):
        if raw <= m * mag:
            return float(m * mag)
    return float(10 * mag)


def plot_restarts(
    run: Run, ax: Axes | None = None, *, window: float | None = None, top: int = 6
) -> Figure:
    """Restarts per time window, stacked by supervisor (the ``top`` busiest, then others).

    ``window`` is in seconds; by default a round width that cuts the run into
    about 50 windows.
    """
    from ._analysis import restart_rate

    w = _nice_window(_run_end(run) - _run_start(run)) if window is None else _checked(window)
    fig, ax = _axes(ax, 10, 3.6)
    rate = restart_rate(run, window=w)
    sups = [c for c in rate.columns if c != "total"]
    if not sups:
        ax.text(0.5, 0.5, "no restarts in this run", ha="center", va="center", transform=ax.transAxes)
    else:
        ranked = rate[sups].sum().sort_values(ascending=False)
        shown = list(ranked.index[:top])
        data = rate[shown].copy()
        if len(ranked) > top:
            data["(other supervisors)"] = rate[list(ranked.index[top:])].sum(axis=1)
        bottom = np.zeros(len(data))
        x = data.index.to_numpy(np.float64)
        for i, col in enumerate(data.columns):
            vals = data[col].to_numpy(np.float64)
            ax.bar(x, vals, width=w, bottom=bottom, align="edge", label=_short(str(col), 40),
                   color=_PALETTE[i % len(_PALETTE)], edgecolor="white", linewidth=0.3)
            bottom += vals
        ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    _gave_up(ax, run)
    ax.set_xlabel(f"time (s, {run.info.clock} clock)")
    ax.set_ylabel(f"restarts per {w:g} s")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(f"run {run.run_id}: restarts over time", loc="left", fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    return fig


def plot_tokens(
    run: Run, ax: Axes | None = None, *, window: float | None = None, top: int = 8
) -> Figure:
    """Output tokens per second per agent, spreading each attempt's output tokens
    evenly from its first token to its end.

    The ``top`` agents with the most output tokens get a line each, the others
    one line together. ``window`` is in seconds; by default a round width that
    cuts the run into about 50 windows.
    """
    if window is not None:
        _checked(window)
    fig, ax = _axes(ax, 10, 3.6)
    c = run.llm_calls()
    c = c[c["output_tokens"].notna() & c["end"].notna()]
    if c.empty:
        ax.text(0.5, 0.5, "no LLM calls in this run", ha="center", va="center", transform=ax.transAxes)
        ax.set_title(f"run {run.run_id}: token throughput", loc="left", fontsize=10)
        return fig
    t0 = (c["start"].fillna(c["end"] - c["latency"]) + c["ttft"].fillna(0.0)).to_numpy(np.float64)
    begin = min(_run_start(run), float(np.nanmin(t0)))
    end = max(_run_end(run), float(c["end"].max()))
    w = _nice_window(end - begin) if window is None else _checked(window)
    # windows as restart_rate has them: [k*w, (k+1)*w), a time at an edge in the window it
    # starts (0.3 // 0.1 is 2.0: floor division put it in the window before), edges as
    # written (3 * 0.1 is 0.30000000000000004), from the window holding the beginning to
    # the one holding the end
    first, last = _window_of(np.array([begin, end]), w).tolist()
    n = last - first + 1
    edges = _window_starts(first, n + 1, w)
    t1 = c["end"].to_numpy(np.float64)
    tokens = c["output_tokens"].to_numpy(np.float64)
    agents = c["agent"].astype(object).to_numpy()
    totals = pd.Series(tokens).groupby(agents).sum().sort_values(ascending=False)
    shown = list(totals.index[:top])
    series: dict[str, np.ndarray] = {}
    for a, s, e, k in zip(agents, t0, t1, tokens, strict=True):
        key = a if a in shown else "(other agents)"
        acc = series.setdefault(key, np.zeros(n))
        acc += _spread(s, e, k, edges, w, first)
    centers = edges[:-1] + w / 2
    for i, (a, acc) in enumerate(sorted(series.items(), key=lambda kv: -kv[1].sum())):
        ax.plot(centers, acc / w, label=_short(str(a), 40), color=_PALETTE[i % len(_PALETTE)],
                drawstyle="steps-mid", lw=1.5)
    ax.set_xlabel(f"time (s, {run.info.clock} clock)")
    ax.set_ylabel("output tokens / s")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_title(f"run {run.run_id}: token throughput per agent", loc="left", fontsize=10)
    ax.grid(alpha=0.3)
    return fig


def _spread(start: float, end: float, amount: float, edges: np.ndarray, window: float,
            first: int) -> np.ndarray:
    """``amount`` spread evenly over [start, end], as shares of each window (``edges``:
    windows ``first``, ``first + 1``, ... of ``window`` seconds); all of it in the window
    holding ``end`` when the span is empty (its start counts as inside it)."""
    if not end > start:
        out = np.zeros(len(edges) - 1)
        i = int(_window_of(np.array([end], dtype=np.float64), window)[0]) - first
        out[min(max(i, 0), len(out) - 1)] = amount
        return out
    lo = np.clip(edges[:-1], start, end)
    hi = np.clip(edges[1:], start, end)
    return (hi - lo) / (end - start) * amount

