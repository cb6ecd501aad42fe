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
    """The rows of the README's rules table (the one headed ``| rule | behaviour |``)."""
    lines = README.splitlines()
    start = lines.index("| rule | behaviour |")
    rows = {}
    for line in lines[start + 2 :]:
        m = re.match(r"^\| (.+?) \| (.+?) \|$", line)
        if not m:
            break  # the table ends at its first line that is not a row
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
    extra = [rule for rule in readme if rule not in doc]
    assert not extra, f"the README has rules the Supervisor docstring lacks: {extra}"
    assert list(readme) == list(doc), "the two tables list their rules in different orders"


def test_rules_table_has_a_row_for_every_strategy():
    doc = _docstring_rules()
    for strategy in ("one_for_one", "one_for_all", "rest_for_one", "simple_one_for_one"):
        assert strategy in doc, f"the rules table has no row for {strategy!r}"


def test_error_tree_is_documented():
    doc = agentlab._errors.__doc__ or ""
    for name in ("AgentLabError", "CallTimeout", "CalleeExited", "NoProcessError", "StartError"):
        assert name in doc
        assert issubclass(getattr(agentlab, name), agentlab.AgentLabError)
