"""What pyproject.toml declares: every third-party module the package imports, in the
part of the install that needs it, and a Binder build that installs what the
notebooks use.

A module that is not declared but arrives with another package (numpy with pandas,
traitlets with ipywidgets) works until that package stops bringing it.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
EXTRAS: dict[str, list[str]] = PROJECT["optional-dependencies"]

#: the subpackages that an extra of the same name exists for; the rest is the core
OPTIONAL = ("trace", "ui")
#: imported without being declared, and why that is safe
UNDECLARED_OK = {"IPython": "agentlab.trace._plots imports it only inside a running IPython shell"}


def requirement_name(req: str) -> str:
    return re.split(r"[\s\[<>=!~;@]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def declared(*parts: str) -> set[str]:
    names = {requirement_name(r) for r in PROJECT["dependencies"]}
    for part in parts:
        names |= {requirement_name(r) for r in EXTRAS[part]}
    return names


def third_party_imports(files: list[Path]) -> dict[str, str]:
    """Top-level module -> the first place it is imported (any depth, not relative)."""
    found: dict[str, str] = {}
    for path in sorted(files):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.partition(".")[0]
                if top not in sys.stdlib_module_names and top != "agentlab":
                    found.setdefault(top, f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def package_files(part: str) -> list[Path]:
    pkg = ROOT / "agentlab"
    if part in OPTIONAL:
        return list((pkg / part).rglob("*.py"))
    return [p for p in pkg.rglob("*.py") if p.relative_to(pkg).parts[0] not in OPTIONAL]


@pytest.mark.parametrize("part", ["core", *OPTIONAL])
def test_every_imported_module_is_declared(part):
    needs = declared() if part == "core" else declared(part)
    imports = third_party_imports(package_files(part))
    assert imports, "found no imports at all: the scan is broken"
    missing = {
        module: where for module, where in imports.items()
        if module.lower().replace("_", "-") not in needs and module not in UNDECLARED_OK
    }
    where = "dependencies" if part == "core" else f"the {part!r} extra"
    assert not missing, f"imported but not in {where} of pyproject.toml: {missing}"


def test_all_is_every_extra():
    (req,) = EXTRAS["all"]
    assert requirement_name(req) == "agentlab"
    listed = set(re.search(r"\[(.*)\]", req).group(1).replace(" ", "").split(","))
    assert listed == {name for name, reqs in EXTRAS.items() if reqs and name not in ("all", "test")}


def test_binder_installs_the_package_with_what_the_notebooks_import():
    lines = [
        line.split("#")[0].strip()
        for line in (ROOT / "binder" / "requirements.txt").read_text(encoding="utf-8").splitlines()
    ]
    local = [line for line in lines if line.startswith(".")]
    # repo2docker runs pip from the repository's root, so "." is this package
    assert len(local) == 1, f"binder/requirements.txt should install '.[...]' once: {lines}"
    extras = set(re.search(r"\[(.*)\]", local[0]).group(1).replace(" ", "").split(","))
    if "all" in extras:
        extras |= set(OPTIONAL)
    used = set()
    for nb in sorted((ROOT / "notebooks").glob("*.ipynb")):
        text = nb.read_text(encoding="utf-8")
        used |= {part for part in OPTIONAL
                 if re.search(rf"agentlab\.{part}\b|from agentlab import {part}\b", text)}
    assert used, "the notebooks import neither agentlab.trace nor agentlab.ui: the scan is broken"
    assert used <= extras, f"the notebooks import {sorted(used)}; Binder installs {sorted(extras)}"
    assert any(requirement_name(line) == "jupyterlab" for line in lines if line)


def test_binder_python_is_one_the_package_supports():
    runtime = (ROOT / "binder" / "runtime.txt").read_text(encoding="utf-8").strip()
    m = re.fullmatch(r"python-(\d+)\.(\d+)", runtime)
    assert m, f"runtime.txt should read python-X.Y, not {runtime!r}"
    floor = re.fullmatch(r">=\s*(\d+)\.(\d+)", PROJECT["requires-python"])
    assert floor
    assert tuple(map(int, m.groups())) >= tuple(map(int, floor.groups()))
