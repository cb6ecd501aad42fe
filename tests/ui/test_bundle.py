"""The front-end bundle is built and the views load it (and degrade without it)."""

from __future__ import annotations

import pytest

from agentlab.ui._widgets import STATIC, SupervisionTree, _asset

VIEWS = ["tree", "stream", "timeline", "sequence"]


@pytest.mark.parametrize("view", VIEWS)
def test_bundle_is_built(view):
    js = STATIC / f"{view}.js"
    assert js.exists(), (
        f"{js} is missing: build the widgets with `npm ci && npm run build` in widgets/ "
        "(pip install . does it through the hatch-jupyter-builder hook)"
    )
    text = js.read_text()
    assert "export" in text and "https://" not in text.replace("https://anywidget.dev", "")  # no CDN imports
    assert (STATIC / f"{view}.css").exists()


def test_every_class_in_the_css_is_prefixed():
    import re

    for view in VIEWS:
        css = (STATIC / f"{view}.css").read_text()
        classes = set(re.findall(r"\.(-?[_a-zA-Z][\w-]*)", re.sub(r"url\([^)]*\)|\d+\.\d+", "", css)))
        assert classes and all(c.startswith("al-") for c in classes), sorted(c for c in classes if not c.startswith("al-"))


def test_a_missing_bundle_falls_back_to_static_html():
    assert _asset("no-such-view.js", "fallback") == "fallback"
    assert isinstance(SupervisionTree._esm, object)
