"""The public surface of agentlab.agents, and the import rules around it."""

from __future__ import annotations

import subprocess
import sys

import agentlab.agents


def isort_key(name: str) -> tuple[int, str]:
    """Ruff's RUF022 order (as tests/test_public_api.py): CONSTANTS, Classes, functions."""
    return (0 if name.isupper() else 1 if name[:1].isupper() else 2, name)


def test_all_is_sorted_and_importable():
    names = agentlab.agents.__all__
    assert names == sorted(names, key=isort_key) and len(set(names)) == len(names)
    for name in names:
        assert getattr(agentlab.agents, name) is not None
    assert agentlab.agents.LLMAgent.__doc__ and "Budgets" in agentlab.agents.LLMAgent.__doc__


def test_the_runtime_does_not_load_the_agents_layer():
    code = "import sys, agentlab; print('agentlab.agents' in sys.modules, 'pydantic' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_the_cli_module_imports_nothing_heavy():
    code = "import sys, agentlab.__main__; print(sorted(m for m in ('httpx', 'pandas', 'pydantic') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
