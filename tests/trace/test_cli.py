"""The ``trace`` command: summary and plot, called directly and in a subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from cli_helpers import into_a_closed_pipe
from test_files import _crashy_run

from agentlab.trace._cli import main

ROOT = Path(__file__).resolve().parents[2]


async def test_summary_of_a_file_and_a_folder(tmp_path, capsys) -> None:
    run = await _crashy_run()
    path = run.save(tmp_path / "one.parquet")
    assert main(["summary", str(path)]) == 0
    out = capsys.readouterr().out
    assert run.run_id in out
    lines = {ln.split()[0]: ln.split()[1:] for ln in out.splitlines() if ln.strip()}
    assert lines["restarts"] == ["2"] and lines["mttr"] == ["0.5"] and lines["clock"] == ["virtual"]
    other = await _crashy_run()
    other.save(tmp_path / "two.parquet")
    assert main(["trace", "summary", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert run.run_id in out and other.run_id in out and "change" in out


async def test_plot_writes_an_image(tmp_path, capsys) -> None:
    run = await _crashy_run()
    path = run.save(tmp_path / "run.parquet")
    out = tmp_path / "timeline.png"
    assert main(["plot", str(path), "-o", str(out)]) == 0
    assert out.stat().st_size > 1000
    assert main(["plot", str(path), "--kind", "restarts"]) == 0
    assert (tmp_path / "run.restarts.png").exists()


def test_errors_are_messages_not_tracebacks(tmp_path, capsys) -> None:
    bad = tmp_path / "bad.parquet"
    bad.write_text("nope")
    assert main(["summary", str(bad)]) == 1
    assert "not an agentlab trace" in capsys.readouterr().err
    assert main(["summary", str(tmp_path / "missing.parquet")]) == 1
    assert main(["frobnicate"]) == 2
    assert main([]) == 2


def test_in_a_subprocess(tmp_path, arun) -> None:
    run = arun(_crashy_run())
    path = run.save(tmp_path / "run.parquet")
    code = "from agentlab.trace._cli import main; raise SystemExit(main())"
    done = subprocess.run(
        [sys.executable, "-c", code, "summary", str(path)],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert run.run_id in done.stdout
    png = tmp_path / "t.png"
    done = subprocess.run(
        [sys.executable, "-c", code, "plot", str(path), "-o", str(png)],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert png.exists()


def test_summary_into_a_closed_pipe_ends_quietly(tmp_path, arun) -> None:
    # `python -m agentlab trace summary RUN | head -0`: status 1, no BrokenPipeError traceback
    path = arun(_crashy_run()).save(tmp_path / "run.parquet")
    done = into_a_closed_pipe("agentlab", "trace", "summary", str(path), timeout=120)
    assert done.returncode == 1 and done.stderr == ""
