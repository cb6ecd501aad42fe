"""Every notebook in notebooks/ runs top to bottom in a real kernel without an error, and
what its text says about the results holds (the numbers, names and rules it states)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
ESCRIPT = ROOT / "tests" / "conformance" / "run_scenario.escript"
NEW_RUNTIME_WARNING = "a new Runtime was made while another one still runs"


def test_there_are_notebooks() -> None:
    assert len(NOTEBOOKS) >= 2


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_saved_without_outputs(path: Path) -> None:
    """The committed notebooks carry no outputs, execution counts or widget state."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]
    assert "widgets" not in nb.metadata


def code_cells(path: Path) -> list[str]:
    return [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


def execute(
    path: Path,
    tmp_path: Path,
    first: str | None = None,
    last: str | None = None,
    cells: list[str] | None = None,
) -> tuple[Any, str]:
    """Run a notebook in a fresh kernel (its code cells, or ``cells`` in that order; after
    the code ``first`` and before the code ``last``, if given); fail on an error output;
    return the notebook and the text it printed."""
    nb = nbformat.read(path, as_version=4)
    if cells is not None:
        nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    if first is not None:
        nb.cells.insert(0, nbformat.v4.new_code_cell(first))
    if last is not None:
        nb.cells.append(nbformat.v4.new_code_cell(last))
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


def probed(text: str) -> dict[str, Any]:
    """The JSON a probe cell printed after ``PROBE ``."""
    line = next(x for x in text.splitlines() if x.startswith("PROBE "))
    return json.loads(line[len("PROBE "):])


# Cells run after a notebook, printing the numbers its text states.
PROBES = {
    "02_strategies_and_time": """
import json
r = run.restarts()
at_152 = r[r.time.round() == 152]
print("PROBE " + json.dumps({
    "window_at_152": [[int(v) for v in row] for row in at_152[["restarts_in_window", "headroom"]].values],
    "restart_times": [t for t, kind, *_ in log1 if kind == "restart"],
}))
""",
    "03_every_run_is_data": """
import json
def table(r):
    s = trace.compare(r).iloc[:, 0]
    return {k: float(s[k]) for k in ("processes", "crashes", "restarts", "mttr")}
print("PROBE " + json.dumps({
    "scheduled": len(CRASHES),
    "one": table(one), "all": table(allr),
    "avail": {name: avail(r).round(3).to_dict() for name, r in
              [("one_for_one", one), ("rest_for_one", rest), ("one_for_all", allr)]},
}))
""",
}


@pytest.mark.kernel
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path: Path, tmp_path: Path) -> None:
    nb, text = execute(path, tmp_path, last=PROBES.get(path.stem))
    if path.stem == "01_let_it_crash":
        assert "before: 15" in text and "after:  10" in text  # "(10, not 15)"
        assert "the call failed: RuntimeError" in text
        assert "-> killed ; now" in text
        # "two if you ran the cells above just now"
        assert "kills: 2\nsupervisor alive? False exit reason: shutdown" in text
        assert "supervisor 'counters' <0." in text and "gave up at t=" in text
        assert "'restarts': 4, 'intensity': 3" in text
        children = next(
            o["data"]["text/plain"] for c in nb.cells if c.cell_type == "code"
            and "which_children" in c.source for o in c.outputs if "data" in o
        )
        assert children.index("counter-2") < children.index("counter-0")  # "newest first"
        # the tree shown again after the give-up: its static picture shows that end
        html = [
            o["data"]["text/html"] for c in nb.cells if c.cell_type == "code"
            and c.source.strip() == "view" for o in c.outputs if "text/html" in o.get("data", {})
        ]
        assert len(html) == 1 and "gave up" in html[0], html
        assert "killed" in html[0] and "shutdown" in html[0]
    if path.stem == "02_strategies_and_time":
        assert "a crash 900 ms past a second, another 1200 ms later: restarted a" in text
        assert "a crash 100 ms past a second, another 1800 ms later: gave up" in text
        assert "same seed, same log: True; supervisor alive: True" in text
        assert "another seed, another log: True" in text
        assert "supervisor alive: False; gave up at t = [152] s" in text  # the "Try it" cell
        found = probed(text)
        assert found["window_at_152"] == [[3, 0]]
        times = found["restart_times"]  # "about every 30 seconds for ten minutes"
        assert all(30 <= b - a <= 31 for a, b in zip(times, times[1:], strict=False))
        assert 570 < times[-1] <= 600 and len(times) == 19
        # "at about 91, 121 and 152 s" for the Try-it window
        assert {91, 121, 152} <= {round(t) for t in times}
    if path.stem == "03_every_run_is_data":
        assert "round trip ok" in text
        plots = [c for c in nb.cells if c.cell_type == "code" and "plot_timeline" in c.source]
        assert plots and all(
            any("image/png" in o.get("data", {}) for o in c.outputs) for c in plots
        ), "the swimlane is drawn as an image, not as <Figure ...> text"
        found = probed(text)
        # "three crashes, not four"; "three restarts each"; 13 processes to 7; 6 s instead of 2
        assert found["scheduled"] == 4
        assert found["one"] == {"processes": 7, "crashes": 3, "restarts": 3, "mttr": 2.0}
        assert found["all"] == {"processes": 13, "crashes": 3, "restarts": 3, "mttr": 6.0}
        one, rest, every = (found["avail"][k] for k in ("one_for_one", "rest_for_one", "one_for_all"))
        assert one["fetch"] == one["store"] == 1.0 > one["parse"]
        # under one_for_all store pays most; under rest_for_one fetch stays up
        assert every["store"] < every["parse"] < every["fetch"] < 1.0
        assert rest["fetch"] == 1.0 and rest["parse"] == one["parse"]
        assert every["store"] < rest["store"] < 1.0
        # store is down 4 s a crash under rest_for_one, 6 s under one_for_all (from 6 s to 120 s)
        assert rest["store"] == round(1 - 3 * 4 / 114, 3) and every["store"] == round(1 - 3 * 6 / 114, 3)


@pytest.mark.kernel
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_cell_can_run_twice(path: Path, tmp_path: Path) -> None:
    """A learner re-runs cells: each code cell run twice in a row raises nothing and leaves
    no second runtime beside the first."""
    twice = [source for source in code_cells(path) for _ in range(2)]
    _, text = execute(path, tmp_path, cells=twice)
    assert NEW_RUNTIME_WARNING not in text


@pytest.mark.kernel
def test_let_it_crash_cells_run_again_in_a_learners_order(tmp_path: Path) -> None:
    """The runtime cell run again while the counters run replaces the old runtime (no second
    one beside it); the supervisor cell starts a fresh tree; the give-up takes 4 kills minus
    the restarts still in the window; the give-up cell prints this supervisor's give-up only."""
    path = next(p for p in NOTEBOOKS if p.stem == "01_let_it_crash")
    cells = code_cells(path)
    runtime, counter, supervisor, crash, kills, why = (next(c for c in cells if marker in c) for marker in (
        "rt = al.Runtime()", "class Counter", "sup = rt.start(", 'rt.call("counter-1", "boom")',
        "kills = 0", "Supervisor.why(sup)",
    ))
    order = [runtime, counter, supervisor, crash,    # counters running: now start over
             runtime, supervisor, crash, kills, why,  # one restart in the window: 3 kills
             supervisor, kills, why]                  # a fresh tree, no restart yet: 4 kills
    _, text = execute(path, tmp_path, cells=order)
    assert NEW_RUNTIME_WARNING not in text
    assert text.count("kills: 3\n") == 1 and text.count("kills: 4\n") == 1, text
    assert text.count("{'child_id': 'counter-0', 'restarts': 4") == 2, text


@pytest.mark.kernel
def test_every_run_is_data_cells_need_only_the_first(tmp_path: Path) -> None:
    """In notebook 3 each later cell needs only the first one: run them in reverse order."""
    path = next(p for p in NOTEBOOKS if p.stem == "03_every_run_is_data")
    cells = code_cells(path)
    _, text = execute(path, tmp_path, cells=cells[:1] + cells[:0:-1])
    assert "round trip ok" in text


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


@pytest.mark.kernel
def test_every_run_is_data_without_the_extra_says_what_to_install(tmp_path: Path) -> None:
    """Notebook 3 needs the trace extra: its first cell fails with the error that names it,
    not with a bare "No module named 'pandas'"."""
    path = next(p for p in NOTEBOOKS if p.stem == "03_every_run_is_data")
    nb = nbformat.read(path, as_version=4)
    first = next(c for c in nb.cells if c.cell_type == "code")
    nb.cells = [nbformat.v4.new_code_cell("import sys\nsys.modules['pandas'] = None"), first]
    client = nbclient.NotebookClient(
        nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    with pytest.raises(nbclient.exceptions.CellExecutionError) as e:
        client.execute()
    assert 'pip install "agentlab[trace]"' in str(e.value), str(e.value)[-2000:]


@pytest.mark.kernel
@pytest.mark.erlang
@pytest.mark.skipif(shutil.which("escript") is None, reason="needs escript (Erlang/OTP) on PATH")
def test_strategies_notebook_logs_are_otps(tmp_path: Path) -> None:
    """Notebook 2 says real OTP 25 prints the same logs for its strategy and window-edge
    scenarios: play the notebook's own scenarios on OTP and on agentlab."""
    from agentlab.conformance import run_scenario

    path = next(p for p in NOTEBOOKS if p.stem == "02_strategies_and_time")
    dump = (
        "import json\n"
        'print("PROBE " + json.dumps({**{s: scenario(s) for s in '
        '("one_for_one", "one_for_all", "rest_for_one")}, '
        '"900+1200": two_crashes(900, 1200), "100+1800": two_crashes(100, 1800)}))'
    )
    _, text = execute(path, tmp_path, last=dump)
    scenarios = probed(text)
    assert len(scenarios) == 5
    for name, scn in scenarios.items():
        file = tmp_path / f"{name}.json"
        file.write_text(json.dumps(scn), encoding="utf-8")
        otp = subprocess.run(
            ["escript", str(ESCRIPT), str(file)], capture_output=True, text=True, timeout=60,
            check=True,
        ).stdout.splitlines()
        assert run_scenario(scn) == otp, name
        if name.startswith(("one", "rest")):  # the tail the notebook prints
            tail = otp[otp.index("step crash b boom"):]
            assert "\n".join(tail) in text, name
    outcomes = {
        name: "report root shutdown a reached_max_restart_intensity" in run_scenario(scn)
        for name, scn in scenarios.items() if "+" in name
    }
    assert outcomes == {"900+1200": False, "100+1800": True}
