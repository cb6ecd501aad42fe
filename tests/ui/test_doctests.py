"""The examples in agentlab.ui's docstrings run."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["_identity", "_pending", "_fmt", "_llm", "_tree", "_stream", "_timeline", "_sequence",
           "_feed", "_static", "_synthetic"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    mod = importlib.import_module(f"agentlab.ui.{name}")
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    assert result.attempted > 0, f"agentlab.ui.{name} has no example"
