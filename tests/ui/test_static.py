"""The static HTML fallback: user text is escaped, and cut as text, never as markup."""

from __future__ import annotations

from html.parser import HTMLParser

from agentlab.ui._static import render


class _Text(HTMLParser):
    """The text a browser shows, per element (tags and entities resolved), and the tags."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.texts: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.texts.append(data)


def shown(html: str) -> _Text:
    p = _Text()
    p.feed(html)
    p.close()
    return p


def test_long_labels_are_cut_as_text_not_in_the_middle_of_an_entity():
    label = "R&D " * 10  # 40 characters, with entities to escape all along
    lanes = [{"key": "a", "parent": None, "label": label, "kind": "agent", "order": 1}]
    html = render("timeline", {"lanes": lanes, "spans": [], "llm": [], "marks": [], "t0": 0.0, "now": 1.0})
    assert label[:22] in shown(html).texts
    parts = [{"key": "a", "label": label, "order": 1}, {"key": "b", "label": "<b>", "order": 2}]
    arrows = [{"id": 1, "kind": "cast", "from": "a", "to": "b", "t": 0.1, "label": "\"x\" & 'y' " * 5}]
    texts = shown(render("sequence", {"parts": parts, "arrows": arrows})).texts
    assert label[:16] in texts and "<b>" in texts
    assert ("cast " + arrows[0]["label"])[:40] in texts


def test_a_long_transcript_is_cut_as_text_not_in_the_middle_of_a_tag():
    segs = [{"t": "req"}]
    for i in range(200):
        segs.append({"t": "text", "s": f"<{i}> & "})
        segs.append({"t": "tool_call", "id": i, "name": "calc", "args": '{"x": 1}'})
    agents = [{"key": "w", "label": "w", "tokens": 1, "requests": 1, "cost": 0.0, "segs": segs}]
    p = shown(render("stream", {"agents": agents}))
    assert set(p.tags) <= {"div", "b", "span", "pre"}  # no user text became a tag
    body = "".join(p.texts)
    assert "<199> & " in body and '⚙ calc({"x": 1})' in body  # the newest output stays
    assert "color:" not in body and "span" not in body  # no markup cut into text
    assert len(body) < 4200
