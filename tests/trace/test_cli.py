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
    header, *rows = out.splitlines()
    assert header.split() == ["one"]  # the run is named by its file, once
    lines = {ln.split()[0]: ln.split()[1:] for ln in rows if ln.strip()}
    assert lines["run_id"] == [run.run_id] and lines["clock"] == ["virtual"]
    assert lines["restarts"] == ["2"] and lines["mttr"] == ["0.5", "s"]  # seconds say so
    other = await _crashy_run()
    other.save(tmp_path / "two.parquet")
    assert main(["trace", "summary", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["one", "two", "change"]
    assert run.run_id in out and other.run_id in out


async def test_summary_skips_what_is_not_a_trace_and_says_so(tmp_path, capsys) -> None:
    (await _crashy_run()).save(tmp_path / "good.parquet")
    (tmp_path / "bad.parquet").write_text("nope")
    assert main(["summary", str(tmp_path)]) == 1
    out, err = capsys.readouterr()
    assert out.splitlines()[0].split() == ["good"]
    assert err.startswith("agentlab trace: skipped ") and "bad.parquet is not an agentlab trace" in err
    # runs in two folders with the same file name are told apart by their paths
    (tmp_path / "again").mkdir()
    (await _crashy_run()).save(tmp_path / "again" / "good.parquet")
    assert main(["summary", str(tmp_path / "good.parquet"), str(tmp_path / "again")]) == 0
    header = capsys.readouterr().out.splitlines()[0].split()
    assert header == [str(tmp_path / "good.parquet"), str(tmp_path / "again" / "good.parquet"),
                      "change"]


async def test_plot_of_a_folder_of_runs_names_them(tmp_path, capsys) -> None:
    for name in ("a", "b"):
        (await _crashy_run()).save(tmp_path / f"{name}.parquet")
    assert main(["plot", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "holds 2 runs; plot one of them" in err
    assert str(tmp_path / "a.parquet") in err and str(tmp_path / "b.parquet") in err
    assert "load_all" not in err


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
