"""Plots render to PNG at 10 and at 10,000 processes (Agg backend)."""

from __future__ import annotations

import matplotlib.image as mpimg
import pytest
from test_files import _crashy_run
from test_llm import _llm_run
from trace_helpers import many_processes

import agentlab
from agentlab.trace import Recorder, plot_restarts, plot_timeline, plot_tokens


def _png(fig, path) -> tuple[int, int]:
    fig.savefig(path, dpi=80)
    img = mpimg.imread(path)
    assert img.std() > 0.01  # not a blank canvas
    return img.shape[0], img.shape[1]


async def test_small_run_plots(tmp_path) -> None:
    run = await _crashy_run()
    fig = plot_timeline(run)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["sup", "sup/a", "sup/b"]
    assert "process lifetimes" in ax.get_title(loc="left")
    _png(fig, tmp_path / "timeline.png")
    _png(run.plot_restarts(), tmp_path / "restarts.png")
    _png(plot_tokens(run), tmp_path / "tokens-empty.png")


async def test_token_throughput(tmp_path) -> None:
    run = await _llm_run()
    fig = plot_tokens(run, window=0.5)
    lines = fig.axes[0].get_lines()
    assert {ln.get_label() for ln in lines} == {"writer", "critic"}
    writer = next(ln for ln in lines if ln.get_label() == "writer")
    assert max(writer.get_ydata()) == pytest.approx(100.0)  # 200 tokens streamed over 2 s
    _png(fig, tmp_path / "tokens.png")


def test_ten_thousand_processes_aggregate(tmp_path) -> None:
    run = Recorder.from_events(many_processes(10_000)).run()
    fig = plot_timeline(run, max_lanes=40)
    ax = fig.axes[0]
    assert "aggregated" in ax.get_title(loc="left")
    labels = [t.get_text() for t in ax.get_yticklabels()]
    # one lane for the supervisors (under "root"), one per pool of workers
    assert len(labels) == 21 and sorted(labels)[0] == "root"
    assert all(lab.startswith("root/pool") for lab in sorted(labels)[1:])
    h, w = _png(fig, tmp_path / "timeline-10k.png")
    assert h < 1400  # the figure does not grow with the number of processes
    _png(plot_restarts(run), tmp_path / "restarts-10k.png")


def test_empty_run_plots(tmp_path) -> None:
    run = Recorder().run()
    for fig in (plot_timeline(run), plot_restarts(run), plot_tokens(run)):
        fig.savefig(tmp_path / "empty.png")


def test_a_plot_shows_as_an_image_in_ipython(monkeypatch) -> None:
    from IPython.core.interactiveshell import InteractiveShell
    from matplotlib.figure import Figure

    from agentlab.trace import _plots

    shell = InteractiveShell.instance()
    try:
        png = shell.display_formatter.formatters["image/png"]
        monkeypatch.setattr(_plots, "_notebooks_set_up", False, raising=False)
        png.pop(Figure, None)  # as in a fresh kernel: nothing has set up matplotlib's inline support
        run = Recorder.from_events(many_processes(10)).run()
        data, _ = shell.display_formatter.format(run.plot_timeline())
        assert data["image/png"][:4] == b"\x89PNG"
    finally:
        InteractiveShell.clear_instance()


def _calls_run(calls: list[tuple[str, float, float, float, int]], end: float,
               begin: float = 0.0) -> agentlab.trace.Run:
    """A run of LLM calls at exact times: ``(agent, start, first token, end, output tokens)``
    each, from the agents' spawns at ``begin`` to a last event at ``end``."""
    rows: list[tuple[float, str, str, dict]] = []
    for i, (agent, start, first, stop, tokens) in enumerate(calls):
        common = {"request_id": f"r{i}", "attempt": 1, "provider": "p", "model": "m"}
        rows.append((start, "llm_request", agent, common))
        rows.append((stop, "llm_response", agent, {
            **common, "output_tokens": tokens, "input_tokens": 1, "latency": stop - start,
            "ttft": first - start}))
    agents = sorted({c[0] for c in calls})
    pid = {a: 101 + i for i, a in enumerate(agents)}
    events = [(begin, "spawn", a, {"kind": "agent"}) for a in agents]
    events += sorted(rows, key=lambda r: r[0])
    events.append((end, "exit", agents[0], None))
    return Recorder.from_events(
        [agentlab.Event.make(seq, t, 0.0, kind, pid[a], a, a, None, "normal" if kind == "exit" else None,
                             data) for seq, (t, kind, a, data) in enumerate(events, 1)],
        clock="virtual",
    ).run()


def _per_window(fig, window: float) -> dict[str, dict[float, float]]:
    """Tokens per window start, per line of a ``plot_tokens`` figure (zeros left out)."""
    return {
        ln.get_label(): {round(x - window / 2, 9): round(y * window, 9)
                         for x, y in zip(ln.get_xdata(), ln.get_ydata(), strict=True) if y}
        for ln in fig.axes[0].get_lines()
    }


def test_tokens_at_window_edges_land_in_the_window_they_start(tmp_path) -> None:
    # windows of 0.1 s hold their start and not their end, as restart_rate's do. Floor
    # division on floats put a time at an edge in the window before (0.3 // 0.1 is 2.0,
    # 0.7 // 0.1 is 6.0), and edges made as k * 0.1 are a hair past 0.3 and 0.7
    run = _calls_run([
        ("a", 0.1, 0.3, 0.3, 10),   # all at once at 0.3: the window [0.3, 0.4)
        ("a", 0.5, 0.7, 0.7, 6),    # at 0.7: [0.7, 0.8)
        ("b", 0.0, 0.25, 0.45, 20),  # spread over 0.25..0.45: 5, 10 and 5
        ("b", 0.9, 1.0, 1.0, 4),    # at the run's end, 1.0: its own window [1.0, 1.1)
    ], end=1.0)
    fig = plot_tokens(run, window=0.1)
    assert _per_window(fig, 0.1) == {
        "a": {0.3: 10.0, 0.7: 6.0},
        "b": {0.2: 5.0, 0.3: 10.0, 0.4: 5.0, 1.0: 4.0},
    }
    _png(fig, tmp_path / "tokens-edges.png")


def test_tokens_of_a_run_off_the_window_grid(tmp_path) -> None:
    # a run from 0.8 s to 2.25 s in windows of 0.45 s, by hand:
    # a: 9 tokens over 0.85..1.75 (0.9 s) -> [0.45, 0.9): 0.05 s of it, 0.5 tokens;
    #    [0.9, 1.35): 4.5; [1.35, 1.8): 0.4 s, 4.0
    # b: 3 tokens at once at 2.25, the run's end, an edge -> [2.25, 2.7). Floor division
    #    (2.25 // 0.45 is 4.0) had no window for it and put it in [1.8, 2.25)
    run = _calls_run([("a", 0.8, 0.85, 1.75, 9), ("b", 2.0, 2.25, 2.25, 3)], end=2.25, begin=0.8)
    fig = plot_tokens(run, window=0.45)
    assert _per_window(fig, 0.45) == {"a": {0.45: 0.5, 0.9: 4.5, 1.35: 4.0}, "b": {2.25: 3.0}}
    # the windows run from the one holding the beginning to the one holding the end
    xs = fig.axes[0].get_lines()[0].get_xdata()
    assert [round(x - 0.225, 9) for x in xs] == [0.45, 0.9, 1.35, 1.8, 2.25]
    _png(fig, tmp_path / "tokens-off-grid.png")


def _swatch_colours(fig, text, path) -> list[tuple[float, float, float]]:
    """The colours drawn left of a legend ``text`` in the saved PNG, most used first."""
    fig.savefig(path, dpi=fig.dpi)  # the same pixels as the figure's own coordinates
    img = mpimg.imread(path)
    box = text.get_window_extent()
    row = img[int(round(img.shape[0] - (box.y0 + box.y1) / 2))]
    seen: dict[tuple[float, float, float], int] = {}
    for px in row[int(box.x0) - 40 : int(box.x0) - 2]:
        c = tuple(round(float(v), 2) for v in px[:3])
        if c != (1.0, 1.0, 1.0):
            seen[c] = seen.get(c, 0) + 1
    return sorted(seen, key=lambda c: -seen[c])


async def test_the_timeline_legend_names_the_lighter_bars_of_processes_still_alive(tmp_path) -> None:
    run = await _crashy_run()  # sup and the restarted a and b run to the end; the first a and b do not
    fig = plot_timeline(run)
    ax = fig.axes[0]
    texts = ax.get_legend().get_texts()
    assert [t.get_text() for t in texts] == ["supervisor", "agent", "alive at the end", "crash", "exit",
                                             "restart"]
    # the bars of processes alive at the end are lighter than the others of their kind
    bars = ax.collections[0].get_facecolors()  # the lifetime bars, in the order of processes()
    alive = run.processes()["end"].isna().to_numpy()
    light = {tuple(c) for c in bars[alive]}
    assert len(light) == 2 and light.isdisjoint({tuple(c) for c in bars[~alive]})
    # and the entry shows those light colours, as the PNG has them (over the white page)
    entry = next(t for t in texts if t.get_text() == "alive at the end")
    drawn = _swatch_colours(fig, entry, tmp_path / "timeline.png")[:2]
    want = [tuple(a * r + (1 - a) for r in (cr, cg, cb)) for cr, cg, cb, a in light]
    assert len(drawn) == 2
    for have, expect in zip(sorted(drawn), sorted(want), strict=True):
        assert have == pytest.approx(expect, abs=0.02)
    # nothing alive at the end: no such entry
    ev = agentlab.Event.make
    ended = Recorder.from_events([
        ev(1, 0.0, 0.0, "spawn", 101, "a", "a", None, None, {"kind": "agent"}),
        ev(2, 1.0, 0.0, "exit", 101, "a", "a", None, "normal", None),
    ]).run()
    texts = plot_timeline(ended).axes[0].get_legend().get_texts()
    assert [t.get_text() for t in texts] == ["agent", "exit"]
