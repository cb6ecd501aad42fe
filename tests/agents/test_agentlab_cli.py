"""``python -m agentlab``: demo (offline, deterministic), and delegation to chat and trace."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_helpers import into_a_closed_pipe

ROOT = Path(__file__).resolve().parents[2]


def agentlab(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for key in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY"):
        env.pop(key, None)
    return subprocess.run(
        [sys.executable, "-m", "agentlab", *args],
        capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT,
    )


@pytest.mark.parametrize(
    "args",
    [("demo", "--quiet"), ("chat", "--provider", "scripted", "hello"), ("--help",)],
)
def test_a_closed_stdout_ends_a_command_quietly(args):
    done = into_a_closed_pipe("agentlab", *args, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 1 and done.stderr == ""  # no BrokenPipeError traceback


def test_demo_piped_into_head_ends_quietly_while_its_log_is_printed(tmp_path):
    # `demo --real | head -1`: the reader goes after the first line; the run's log is
    # printed by an event subscriber for seconds after it (real clock)
    with subprocess.Popen(
        [sys.executable, "-m", "agentlab", "demo", "--real", "--out", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0,
        env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT,
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        assert proc.stdout.readline().startswith(b"agentlab demo:")
        proc.stdout.close()
        err = proc.stderr.read().decode()
        assert proc.wait(timeout=60) == 1 and err == ""
    assert list(tmp_path.glob("*.parquet"))  # the run went on to its end, unprinted


def test_demo_stops_printing_when_its_reader_goes_mid_run(tmp_path, caplog):
    from agentlab.agents._demo import main

    class Head:  # the first lines are read, then the pipe closes
        def __init__(self) -> None:
            self.lines: list[str] = []

        def write(self, text: str) -> int:
            if len(self.lines) >= 6:
                raise BrokenPipeError(32, "Broken pipe")
            self.lines.append(text)
            return len(text)

        def flush(self) -> None:
            pass

    head = Head()
    with pytest.raises(BrokenPipeError):
        main(["--seed", "1", "--out", str(tmp_path)], stdout=head)  # type: ignore[arg-type]
    assert not caplog.records  # no "event subscriber ... failed"
    assert list(tmp_path.glob("*.parquet"))


def test_demo_runs_offline_fast_and_tells_the_story(tmp_path):
    started = time.monotonic()
    out = agentlab("demo", "--seed", "3", "--out", str(tmp_path))
    elapsed = time.monotonic() - started
    assert out.returncode == 0, out.stderr
    assert elapsed < 20
    text = out.stdout
    for expected in (
        "started alice",
        "LLM call failed: rate_limit (HTTP 429)",
        "retry layer: attempt 2 in 1.50s",
        "bob         CRASHED: ServerError",
        "supervisor restarts bob (one_for_one",
        "restarted bob",
        "-> tool search(query='wind')",
        "<- tool search FAILED",
        "answer did not validate",
        "brief: Solar and wind in 2024",
        "sources: notes/solar, notes/wind",
    ):
        assert expected in text, expected
    assert "streamed" in text and "tokens in" in text  # tokens are summarised, not printed
    summary = text.split("summary (")[1]
    assert "lead" in summary and "bob             1        1" in summary
    assert "agentlab: the event loop was blocked" not in out.stderr
    trace = tmp_path / "demo-seed3.parquet"
    assert trace.exists()
    if pytest.importorskip("agentlab.trace"):
        from agentlab import trace as tr

        run = tr.load(trace)
        assert list(run.restarts()["child_id"]) == ["bob"]
        assert run.info.seed == 3
        summary_out = agentlab("trace", "summary", str(trace))
        assert summary_out.returncode == 0 and "restarts" in summary_out.stdout


def test_same_seed_same_demo_output():
    a, b = agentlab("demo", "--seed", "9"), agentlab("demo", "--seed", "9")
    assert a.returncode == b.returncode == 0
    assert a.stdout == b.stdout
    c = agentlab("demo", "--seed", "10")
    assert c.stdout != a.stdout


def test_chat_delegates_to_the_llm_cli():
    out = agentlab("chat", "--provider", "scripted", "hello")
    assert out.returncode == 0
    assert out.stdout.strip() == "(scripted) You said: hello"


def test_usage_and_unknown_commands():
    assert agentlab("--help").returncode == 0
    bare = agentlab()
    assert bare.returncode == 2 and "demo" in bare.stdout
    bad = agentlab("fly")
    assert bad.returncode == 2 and "unknown command 'fly'" in bad.stderr
    demo_help = agentlab("demo", "--help")
    assert demo_help.returncode == 0
    assert "(same seed, same run; default: 7)" in " ".join(demo_help.stdout.split())


def test_main_in_process(capsys):
    from agentlab.__main__ import main

    assert main(["demo", "--seed", "1", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "brief:" in out and "CRASHED" not in out


def test_demo_refuses_an_unwritable_trace_folder_before_running(tmp_path, capsys):
    from agentlab.agents._demo import main

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert main(["--quiet", "--out", str(blocker / "runs")]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # nothing ran
    assert f"cannot write a trace to {blocker / 'runs'}" in captured.err
    assert "Traceback" not in captured.err


@pytest.mark.parametrize(("args", "says"), [
    (["--seed", "-3"], "argument --seed: -3 is negative; seeds are whole numbers >= 0 "
                       "(--seed 3 is the same run)"),
    (["--seed", "1.5"], "argument --seed: '1.5' is not a whole number; e.g. --seed 7"),
    (["--out="], "argument --out: it is empty; give a folder, e.g. --out runs (or --out .)"),
])
def test_demo_refuses_bad_values_before_running(args, says, capsys, tmp_path, monkeypatch):
    # --seed -3 ran the very run of --seed 3 under another name; --out "" wrote the
    # trace into the current folder
    from agentlab.agents._demo import main

    monkeypatch.chdir(tmp_path)
    assert main(["--quiet", *args]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # nothing ran
    assert f"agentlab demo: error: {says}" in captured.err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("seed", [-1, 2.0, "7", True])
async def test_run_demo_refuses_a_seed_that_is_not_a_whole_number_from_zero(seed):
    from agentlab.agents._demo import run_demo

    with pytest.raises(ValueError, match=r"seed must be a whole number >= 0, not "):
        await run_demo(seed)


@pytest.mark.parametrize("seed", [3, 7])  # 7: alice's tool name is spoiled; 3: it is not
async def test_the_demo_summary_agrees_with_the_trace_tables(seed):
    pytest.importorskip("agentlab.trace")
    from agentlab.agents._demo import run_demo

    result = await run_demo(seed, record=True)
    run = result.run
    calls, restarts, tools = run.llm_calls(), run.restarts(), run.tool_calls()
    assert {r["agent"] for r in result.summary} == set(calls["agent"]) == {"lead", "alice", "bob"}
    for row in result.summary:
        mine = calls[calls["agent"] == row["agent"]]
        assert row["llm_calls"] == len(mine), row
        assert row["retries"] == int((mine["attempt"] > 1).sum()), row
        assert row["tokens"] == int(mine["input_tokens"].sum() + mine["output_tokens"].sum()), row
        assert row["cost_usd"] == pytest.approx(float(mine["cost"].sum()), abs=1e-12), row
        assert row["restarts"] == int((restarts["child_id"] == row["agent"]).sum()), row
        assert row["tool_calls"] == int((tools["agent"] == row["agent"]).sum()), row
    faults = [e for e in result.events if e.kind == "llm_fault"]
    assert bool(faults) == (seed == 7)
