"""The public surface: a sorted ``__all__`` whose names resolve, and a runtime that
imports only the standard library (STYLE.md rules 1 and 2)."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

import agentlab

PACKAGE = Path(agentlab.__file__).parent


def public_modules() -> list[str]:
    """Every module path in the package with no part that starts with "_" (so no
    ``__main__``, which runs a command when imported)."""
    found = []
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if not any(part.startswith("_") for part in parts):
            found.append(".".join(("agentlab", *parts)))
    return sorted(found)


PUBLIC = public_modules()

HEAVY = ["httpx", "pandas", "IPython", "ipywidgets", "anywidget"]


def isort_key(name: str) -> tuple[int, str]:
    """Ruff's RUF022 order: CONSTANTS, then Classes, then functions; each group sorted."""
    if name.isupper():
        return (0, name)
    if name[:1].isupper():
        return (1, name)
    return (2, name)


def test_all_is_sorted_and_unique():
    assert agentlab.__all__ == sorted(agentlab.__all__, key=isort_key)
    assert len(set(agentlab.__all__)) == len(agentlab.__all__)


def test_every_name_in_all_resolves():
    missing = [name for name in agentlab.__all__ if not hasattr(agentlab, name)]
    assert missing == []
    for name in agentlab.__all__:
        assert getattr(agentlab, name) is not None, name


def test_public_classes_do_not_leak_private_module_names():
    for name in agentlab.__all__:
        obj = getattr(agentlab, name)
        if isinstance(obj, type):
            assert obj.__module__.startswith("agentlab"), name
            assert not obj.__name__.startswith("_"), name


def test_star_import_gives_exactly_all():
    ns: dict = {}
    exec("from agentlab import *", ns)
    names = {k for k in ns if not k.startswith("__")}
    assert names == set(agentlab.__all__)


@pytest.mark.parametrize("module", ["agentlab", "agentlab._runtime"])
def test_importing_the_runtime_loads_no_heavy_libraries(module):
    code = (
        "import json, sys\n"
        f"import {module}\n"
        f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert json.loads(out.stdout) == []


def test_the_runtime_modules_import_only_the_standard_library():
    code = (
        "import json, sys\n"
        "before = set(sys.modules)\n"
        "import agentlab._runtime, agentlab._agent, agentlab._process\n"
        "new = {m.split('.')[0] for m in set(sys.modules) - before}\n"
        "std = set(sys.stdlib_module_names) | {'agentlab'}\n"
        "print(json.dumps(sorted(m for m in new if m not in std and not m.startswith('_'))))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert json.loads(out.stdout) == []


def test_the_public_modules_are_the_subpackages():
    assert PUBLIC == [
        "agentlab", "agentlab.agents", "agentlab.conformance", "agentlab.llm",
        "agentlab.trace", "agentlab.ui",
    ]


@pytest.mark.parametrize("module", PUBLIC)
def test_each_public_module_has_a_sorted_all_whose_names_resolve(module):
    mod = importlib.import_module(module)
    names = mod.__all__
    assert names == sorted(names, key=isort_key)
    assert [name for name in names if not hasattr(mod, name)] == []
    ns: dict = {}
    exec(f"from {module} import *", ns)
    assert {k for k in ns if not k.startswith("__")} == set(names)
