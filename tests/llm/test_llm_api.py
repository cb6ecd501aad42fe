"""The public surface of agentlab.llm: curated, sorted, documented, and free of the runtime."""

from __future__ import annotations

import ast
import doctest
import importlib
import pkgutil
from pathlib import Path

import pytest

import agentlab.llm as llm

PACKAGE = Path(llm.__file__).parent
MODULES = sorted(m.name for m in pkgutil.iter_modules([str(PACKAGE)]))


def isort_key(name: str) -> tuple[int, str]:
    kind = 0 if name.isupper() else 1 if name[:1].isupper() else 2
    return kind, name


def test_all_is_sorted_and_complete():
    assert llm.__all__ == sorted(llm.__all__, key=isort_key)
    assert len(set(llm.__all__)) == len(llm.__all__)
    for name in llm.__all__:
        assert getattr(llm, name) is not None
    public = {n for n in vars(llm) if not n.startswith("_")}
    assert public == set(llm.__all__)


def test_modules_are_private():
    assert all(m.startswith("_") for m in MODULES)


def test_does_not_import_the_runtime():
    allowed = {"httpx"}
    for path in PACKAGE.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                if node.level == 0:
                    root = (node.module or "").split(".")[0]
                    assert root != "agentlab", f"{path.name} imports {node.module}"
                    assert root in allowed or root in __import__("sys").stdlib_module_names, (path.name, root)
                else:
                    assert node.level == 1, f"{path.name} reaches outside agentlab.llm"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    root = alias.name.split(".")[0]
                    assert root in allowed or root in __import__("sys").stdlib_module_names, (path.name, root)


def test_error_types():
    assert {c.type for c in (llm.RateLimited, llm.Overloaded, llm.ServerError, llm.Timeout,
                             llm.StreamInterrupted, llm.BadRequest, llm.AuthError)} == {
        "rate_limit", "overloaded", "server", "timeout", "stream_interrupted", "bad_request", "auth"}
    for cls in (llm.RateLimited, llm.Overloaded, llm.BadRequest, llm.StreamInterrupted):
        assert issubclass(cls, llm.LLMError)
    assert llm.LLMError.__bases__ == (Exception,)


def test_errors_pickle():
    import pickle

    err = llm.RateLimited("openai", retry_after=2.0, body="slow down")
    again = pickle.loads(pickle.dumps(err))
    assert (type(again), str(again), again.retry_after, again.body) == (type(err), str(err), 2.0, "slow down")


@pytest.mark.parametrize("module", MODULES)
def test_docstrings_and_doctests(module):
    mod = importlib.import_module(f"agentlab.llm.{module}")
    assert mod.__doc__ and len(mod.__doc__) > 80, f"{module} needs a docstring that teaches"
    failures, _ = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)
    assert failures == 0
