"""The golden delta streams the front-end tests replay are current and add up."""

from __future__ import annotations

import json
import os

from agentlab.ui._pending import merge_segment

from .fixtures import FIXTURES, MODELS, render_all


def test_front_end_fixtures_are_current():
    rendered = render_all()
    if os.environ.get("AGENTLAB_WRITE_FIXTURES"):
        FIXTURES.mkdir(parents=True, exist_ok=True)
        for kind, text in rendered.items():
            (FIXTURES / f"{kind}.json").write_text(text + "\n")
    for kind in MODELS:
        path = FIXTURES / f"{kind}.json"
        assert path.exists(), f"missing {path}: run AGENTLAB_WRITE_FIXTURES=1 pytest {__file__}"
        assert path.read_text().strip() == rendered[kind], (
            f"{path.name} is stale: the view model changed. Regenerate with "
            f"AGENTLAB_WRITE_FIXTURES=1 python -m pytest {__file__}"
        )


def test_stream_deltas_add_up_to_the_final_transcripts():
    data = json.loads(render_all()["stream"])
    segs: dict[str, list] = {}
    for msg in data["messages"]:
        for key in (msg.get("meta") or {}):
            segs.setdefault(key, [])
        for key, lst in (msg.get("segs") or {}).items():
            for g in lst:
                merge_segment(segs.setdefault(key, []), g)
    final = {a["key"]: a["segs"] for a in data["final"]["agents"]}
    assert segs == final


def test_tree_deltas_add_up_to_the_final_nodes():
    data = json.loads(render_all()["tree"])
    nodes: dict[str, dict] = {}
    for msg in data["messages"]:
        for key, node in (msg.get("nodes") or {}).items():
            if node is None:
                nodes.pop(key, None)
            else:
                nodes[key] = node
    assert nodes == {n["key"]: n for n in data["final"]["nodes"]}
