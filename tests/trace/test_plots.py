"""Plots render to PNG at 10 and at 10,000 processes (Agg backend)."""

from __future__ import annotations

import matplotlib.image as mpimg
import pytest
from test_files import _crashy_run
from test_llm import _llm_run
from trace_helpers import many_processes

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
