"""Every notebook in notebooks/ runs top to bottom in a real kernel without an error."""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = sorted((Path(__file__).parents[2] / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks() -> None:
    assert len(NOTEBOOKS) >= 2


@pytest.mark.kernel
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path: Path, tmp_path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
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
    if path.stem == "01_let_it_crash":
        assert "the call failed: RuntimeError" in text
        assert "supervisor alive? False exit reason: shutdown" in text
        assert "supervisor 'counters' <0." in text and "gave up at t=" in text
    if path.stem == "02_strategies_and_time":
        assert "same seed, same log: True" in text
    if path.stem == "03_every_run_is_data":
        assert "round trip ok" in text
        plots = [c for c in nb.cells if c.cell_type == "code" and "plot_timeline" in c.source]
        assert plots and all(
            any("image/png" in o.get("data", {}) for o in c.outputs) for c in plots
        ), "the swimlane is drawn as an image, not as <Figure ...> text"
