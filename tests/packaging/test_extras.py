"""An install without an extra: the core works, and what needs the extra says which one.

Each test runs in a fresh interpreter in which the extra's modules cannot be imported
(``sys.modules[name] = None``, as if they were not installed).
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXTRAS = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
    "optional-dependencies"
]


def modules_of(extra: str) -> list[str]:
    """The import names of an extra's requirements (here, each is its distribution's name)."""
    return [re.split(r"[\s\[<>=!~;]", req, maxsplit=1)[0].lower() for req in EXTRAS[extra]]


def run_without(blocked: list[str], code: str, *, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    prelude = f"import sys\nfor _m in {sorted(blocked)!r}:\n    sys.modules[_m] = None\n"
    return subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)],
        capture_output=True, text=True, timeout=120, cwd=cwd, check=False,
    )


def test_the_core_and_the_demo_work_without_any_extra(tmp_path):
    blocked = modules_of("trace") + modules_of("ui")
    done = run_without(blocked, f"""
        import agentlab, agentlab.llm, agentlab.agents, agentlab.conformance
        from agentlab.__main__ import main
        status = main(["demo", "--quiet", "--out", {str(tmp_path)!r}])
        assert not [m for m in {blocked!r} if sys.modules.get(m) is not None], "an extra was imported"
        sys.exit(status)
    """)
    assert done.returncode == 0, done.stderr
    assert "total" in done.stdout  # the summary table
    assert "agentlab[trace]" in done.stdout  # --out could not write the trace
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("extra", ["trace", "ui"])
def test_importing_a_subpackage_without_its_extra_names_the_extra(extra):
    done = run_without(modules_of(extra), f"""
        try:
            import agentlab.{extra}
        except ImportError as e:
            print(type(e).__name__, e.name, str(e), sep="\\n")
        else:
            print("imported")
    """)
    assert done.returncode == 0, done.stderr
    kind, name, message = done.stdout.split("\n", 2)
    assert kind == "ModuleNotFoundError"  # what code that falls back on ImportError expects
    assert name in modules_of(extra) or name == "numpy"
    assert f"agentlab[{extra}]" in message, message


def test_the_trace_command_without_its_extra_names_the_extra():
    done = run_without(modules_of("trace"), """
        from agentlab.__main__ import main
        sys.exit(main(["trace", "summary", "--help"]))
    """)
    assert done.returncode == 1
    assert "agentlab[trace]" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
