"""The README and the Supervisor docstring carry the same rules table; the README
starts with the two commands."""

from __future__ import annotations

import re
from pathlib import Path

import agentlab

README = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")


def _docstring_rules() -> dict[str, str]:
    doc = agentlab.Supervisor.__doc__ or ""
    rows: dict[str, str] = {}
    key = None
    body = doc[doc.index("rule  ") :]
    for line in body.splitlines()[2:]:
        line = line.strip()
        if line.startswith("==="):
            break
        m = re.match(r"^(\S.*?)\s{2,}(.*)$", line)
        if m:
            key = m.group(1).replace("``", "")
            rows[key] = m.group(2)
        elif key and line:
            rows[key] += " " + line
    return {k: " ".join(v.replace("``", "").split()) for k, v in rows.items()}


def _readme_rules() -> dict[str, str]:
    rows = {}
    for line in README.splitlines():
        m = re.match(r"^\| (.+?) \| (.+?) \|$", line)
        if m and m.group(1) not in ("rule", "---"):
            rows[m.group(1).replace("`", "")] = " ".join(m.group(2).replace("`", "").split())
    return rows


def test_readme_starts_with_the_two_commands():
    block = README.split("```")[1].strip().splitlines()
    assert block[0] == "sh"
    assert "python -m agentlab demo" in block[1]
    assert "pytest" in block[2] and ".[test]" in block[2]


def test_rules_table_is_the_same_in_readme_and_docstring():
    doc, readme = _docstring_rules(), _readme_rules()
    assert len(doc) >= 12
    for rule, text in doc.items():
        assert rule in readme, f"README lacks the rule {rule!r}"
        assert readme[rule] == text, f"{rule!r} differs:\n doc: {text}\n readme: {readme[rule]}"


def test_error_tree_is_documented():
    doc = agentlab._errors.__doc__ or ""
    for name in ("AgentLabError", "CallTimeout", "CalleeExited", "NoProcessError", "StartError"):
        assert name in doc
        assert issubclass(getattr(agentlab, name), agentlab.AgentLabError)
