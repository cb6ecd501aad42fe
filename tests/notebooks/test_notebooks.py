"""Every notebook in notebooks/ runs top to bottom in a real kernel without an error."""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = sorted((Path(__file__).parents[2] / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks() -> None:
    assert len(NOTEBOOKS) >= 2


def execute(path: Path, tmp_path: Path, first: str | None = None) -> tuple[object, str]:
    """Run a notebook in a fresh kernel (after the code ``first``, if given); fail on an
    error output; return the notebook and the text it printed."""
    nb = nbformat.read(path, as_version=4)
    if first is not None:
        nb.cells.insert(0, nbformat.v4.new_code_cell(first))
    client = nbclient.NotebookClient(
        nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    errors = [
        o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
        if o.get("output_type") == "error"
    ]
    assert not errors, errors
    text = "\n".join(
        o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
    )
    return nb, text


@pytest.mark.kernel
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path: Path, tmp_path: Path) -> None:
    nb, text = execute(path, tmp_path)
    if path.stem == "01_let_it_crash":
        assert "the call failed: RuntimeError" in text
        assert "supervisor alive? False exit reason: shutdown" in text
        assert "supervisor 'counters' <0." in text and "gave up at t=" in text
    if path.stem == "02_strategies_and_time":
        assert "same seed, same log: True; supervisor alive: True" in text
    if path.stem == "03_every_run_is_data":
        assert "round trip ok" in text
        plots = [c for c in nb.cells if c.cell_type == "code" and "plot_timeline" in c.source]
        assert plots and all(
            any("image/png" in o.get("data", {}) for o in c.outputs) for c in plots
        ), "the swimlane is drawn as an image, not as <Figure ...> text"


@pytest.mark.kernel
@pytest.mark.parametrize(
    ("stem", "blocked", "extra"),
    [("01_let_it_crash", "ipywidgets", "ui"), ("02_strategies_and_time", "pandas", "trace")],
)
def test_notebook_without_an_extra_says_what_it_skips(
    stem: str, blocked: str, extra: str, tmp_path: Path
) -> None:
    """Notebooks 01 and 02 run on the core alone; the cell that needs an extra names it."""
    path = next(p for p in NOTEBOOKS if p.stem == stem)
    _, text = execute(path, tmp_path, first=f"import sys\nsys.modules[{blocked!r}] = None")
    assert f"agentlab[{extra}]" in text, text
