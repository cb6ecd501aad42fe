"""Every recorded OTP scenario reproduces its expected log exactly.

``../shared/otp/scenarios`` holds the 25 reference scenarios recorded from
Erlang/OTP 25 and Elixir 1.14; ``tests/conformance/scenarios`` holds the
project's own, recorded the same way (see the README there). None is exempt.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import into_a_closed_pipe

from agentlab.conformance import ScenarioError, run_scenario, run_scenario_file

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
SHARED = ROOT.parent / "shared" / "otp" / "scenarios"
OWN = HERE / "scenarios"


def _scenarios(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


SHARED_SCENARIOS = _scenarios(SHARED)
OWN_SCENARIOS = _scenarios(OWN)


def _expected(path: Path) -> list[str]:
    return (path.parent / (path.stem + ".expected.txt")).read_text().splitlines()


def _compare(want: list[str], got: list[str]) -> None:
    assert got == want, "\n".join(
        f"{'  ' if a == b else '!!'} want {a!r:60} got {b!r}"
        for a, b in zip(want + [""] * (len(got) - len(want)), got + [""] * (len(want) - len(got)), strict=True)
    )


def _check(path: Path) -> None:
    _compare(_expected(path), run_scenario_file(path))


@pytest.mark.skipif(not SHARED_SCENARIOS, reason="../shared/otp/scenarios is not beside the checkout")
@pytest.mark.parametrize("path", SHARED_SCENARIOS, ids=lambda p: p.stem)
def test_shared_otp_scenario(path: Path) -> None:
    _check(path)


@pytest.mark.parametrize("path", OWN_SCENARIOS, ids=lambda p: p.stem)
def test_own_otp_scenario(path: Path) -> None:
    _check(path)


def test_own_scenarios_are_many_and_recorded() -> None:
    assert len(OWN_SCENARIOS) >= 15
    for p in OWN_SCENARIOS:
        assert (p.parent / (p.stem + ".expected.txt")).is_file(), p


def test_cli_prints_the_log() -> None:
    path = OWN_SCENARIOS[0]
    out = subprocess.run(
        [sys.executable, "-m", "agentlab.conformance", str(path)],
        capture_output=True, text=True, check=True, timeout=60,
    )
    assert out.stdout.splitlines() == (path.parent / (path.stem + ".expected.txt")).read_text().splitlines()


def test_unordered_block_is_printed_sorted() -> None:
    scn = {
        "supervisor": {"strategy": "simple_one_for_one", "child": {"shutdown": 1000}},
        "steps": [
            {"start_child": {"sup": "root", "child": {"id": "w2"}}},
            {"start_child": {"sup": "root", "child": {"id": "w1"}}},
            {"stop_sup": "root", "unordered": True},
        ],
    }
    lines = run_scenario(scn)
    i = lines.index("step stop_sup root shutdown")
    assert lines[i + 1 :] == sorted(lines[i + 1 :])
    assert set(lines[i + 1 :]) == {
        "down root shutdown", "down w1 shutdown", "down w2 shutdown",
        "terminate w1 shutdown", "terminate w2 shutdown",
    }


def test_bad_scenarios_get_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="supervisor"):
        run_scenario({"steps": []})
    with pytest.raises(ScenarioError, match="action key"):
        run_scenario({"supervisor": {"children": [{"id": "a"}]}, "steps": [{"jump": "a"}]})
    with pytest.raises(ScenarioError, match="not valid JSON"):
        run_scenario("{nope")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"supervisor": {"children": [{"id": "a", "init": "maybe"}]}}))
    r = subprocess.run([sys.executable, "-m", "agentlab.conformance", str(bad)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "maybe" in r.stderr


def test_added_steps_refuse_what_otp_cannot_do() -> None:
    # OTP would wait for ever on a call to a suspended supervisor; the escript copy stops too
    sup = {"children": [{"id": "a"}]}
    with pytest.raises(ScenarioError, match="suspended"):
        run_scenario({"supervisor": sup, "steps": [{"suspend": "root"}, {"which_children": "root"}]})
    for bad in (1000, -1, 2.5, True):
        with pytest.raises(ScenarioError, match="sleep_until_ms"):
            run_scenario({"supervisor": sup, "steps": [{"sleep_until_ms": bad}]})


def test_sleep_until_ms_aligns_to_the_restart_windows_seconds() -> None:
    # intensity 1 / period 1: crashes at 0.9 s and 2.1 s fall in seconds 0 and 2 (survives);
    # crashes at 4.1 s and 5.9 s fall in seconds 4 and 5 (gives up)
    lines = run_scenario({
        "supervisor": {"intensity": 1, "period": 1, "children": [{"id": "a"}]},
        "steps": [
            {"sleep_until_ms": 900}, {"crash": "a"}, {"sleep_ms": 1200}, {"crash": "a"},
            {"sleep_ms": 1500}, {"sleep_until_ms": 100}, {"crash": "a"},
            {"sleep_ms": 1800}, {"crash": "a"},
        ],
    })
    gave_up = "report root shutdown a reached_max_restart_intensity"
    assert lines.count(gave_up) == 1
    assert lines.index(gave_up) > lines.index("step sleep_ms 1800")


def test_steps_on_missing_processes_log_no_process() -> None:
    # after the supervisor gave up nothing is left: every step names its missing target
    lines = run_scenario({
        "supervisor": {"strategy": "one_for_one", "intensity": 0, "children": [{"id": "a"}]},
        "steps": [
            {"crash": "a"},
            {"crash": "a"}, {"kill": "a"}, {"exit_signal": "a"}, {"stop_sup": "root"},
            {"which_children": "root"}, {"start_child": {"sup": "root", "child": {"id": "b"}}},
            {"terminate_child": {"sup": "root", "id": "a"}}, {"delete_child": {"sup": "root", "id": "a"}},
        ],
    })
    tail = lines[lines.index("down root shutdown") + 1 :]
    assert tail == [
        "step crash a boom", "result no_process a",
        "step kill a", "result no_process a",
        "step exit_signal a boom", "result no_process a",
        "step stop_sup root shutdown", "result no_process root",
        "step which_children root", "result no_process root",
        "step start_child root b", "result no_process root",
        "step terminate_child root a", "result no_process root",
        "step delete_child root a", "result no_process root",
    ]


def test_output_into_a_closed_pipe_ends_quietly() -> None:
    # `python -m agentlab.conformance ... | head -0`: status 1, no BrokenPipeError traceback
    done = into_a_closed_pipe("agentlab.conformance", *map(str, OWN_SCENARIOS[:3] or ["-h"]))
    assert done.returncode == 1 and done.stderr == ""
