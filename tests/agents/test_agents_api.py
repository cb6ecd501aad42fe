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


def test_doctests():
    import doctest
    import importlib

    for name in ("_agent", "_budget", "_output", "_tools", "_pubsub", "_team"):
        module = importlib.import_module(f"agentlab.agents.{name}")
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.failed == 0, name


def _example(doc: str, start: str, end: str) -> str:
    import textwrap

    block = doc.split(start, 1)[1].split(end, 1)[0]
    return textwrap.dedent(block)


async def test_the_docstring_examples_run(capsys):
    from agentlab import Runtime, Supervisor, VirtualClock
    from agentlab.agents import LLMAgent, agent_ask
    from agentlab.llm import ScriptedModel, ToolCall

    names = {"Runtime": Runtime, "Supervisor": Supervisor, "VirtualClock": VirtualClock,
             "LLMAgent": LLMAgent, "agent_ask": agent_ask, "ScriptedModel": ScriptedModel,
             "ToolCall": ToolCall}
    for doc, start, end in (
        (LLMAgent.__doc__, "    ::\n", "    Configure"),
        (agentlab.agents.__doc__, "::\n", "An :class:"),
    ):
        code = _example(doc, start, end)
        code = "\n".join(line for line in code.splitlines() if not line.startswith(("from ", "import ")))
        body = "async def _ex():\n" + "\n".join("    " + line for line in code.splitlines())
        body += "\n    return locals()\n"
        scope = dict(names)
        exec(compile(body, "<docstring>", "exec"), scope)
        result = await scope["_ex"]()
        if "pid" in result:
            assert result["pid"].name == "adder"
    assert "Hello! How can I help?" in capsys.readouterr().out
