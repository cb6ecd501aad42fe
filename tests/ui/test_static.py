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


def test_the_sequence_shows_the_newest_messages_and_folds_the_other_processes():
    # 20 workers called in turn, then the last five again: the newest messages must show
    # (they used to be dropped, with the workers that came last, for the first 12 lifelines)
    parts = [{"key": "outside", "label": "(outside)", "order": 0}]
    parts += [{"key": f"w{i}", "label": f"w{i}", "order": i + 1} for i in range(20)]
    arrows = []
    for i in [*range(20), *range(15, 20)]:
        arrows.append({"id": len(arrows), "kind": "call", "from": "outside", "to": f"w{i}", "t": 0.0,
                       "label": f"job {len(arrows)}"})
    texts = shown(render("sequence", {"parts": parts, "arrows": arrows}, "seq")).texts
    assert "call job 24" in texts and "call job 0" in texts  # (to w0: drawn to "others")
    heads = texts[1:13]  # after the title: a column per process, then "others"
    assert heads == ["(outside)", *[f"w{i}" for i in range(10, 20)], "10 others"]
    many = [dict(a, id=i) for i, a in enumerate(arrows * 4)]  # 100 messages
    texts = shown(render("sequence", {"parts": parts, "arrows": many})).texts
    assert "… 40 earlier messages not shown" in texts


def test_the_timeline_draws_a_big_group_as_one_row_and_says_what_it_leaves_out():
    lanes = [{"key": "pool", "parent": None, "label": "pool", "kind": "supervisor", "order": 0}]
    lanes += [{"key": f"pool/w{i}", "parent": "pool", "label": f"w{i}", "kind": "agent", "order": i + 1}
              for i in range(70)]
    lanes += [{"key": f"solo{i}", "parent": None, "label": f"solo{i}", "kind": "agent", "order": 100 + i}
              for i in range(45)]
    marks = [{"lane": "pool/w7", "t": 0.5, "kind": "crash", "text": "boom"}]
    view = {"lanes": lanes, "spans": [], "llm": [], "marks": marks, "t0": 0.0, "now": 1.0}
    texts = shown(render("timeline", view)).texts
    assert "pool" in texts and "▸ 70 children" in texts and "w0" not in texts
    assert "✕" in texts  # a child's crash, on its group's row
    assert "solo37" in texts and "solo38" not in texts  # 40 rows: pool, its group, 38 more
    assert "… 7 more lanes" in texts
    texts = shown(render("timeline", view, collapse=100)).texts
    assert "w0" in texts and "▸ 70 children" not in texts


def test_the_tree_shows_a_supervisors_budget_and_that_it_gave_up():
    nodes = [
        {"key": "root", "pid": 1, "label": "root", "kind": "supervisor", "status": "running", "order": 0},
        {"key": "weak", "pid": 2, "label": "weak", "kind": "supervisor", "status": "stopped", "order": 1,
         "parent": "root", "strategy": "one_for_one", "budget": [2, 1, 5], "gave_up": True, "exit": "shutdown"},
    ]
    nodes += [{"key": f"weak/w{i}", "pid": 10 + i, "label": f"w{i}", "kind": "agent", "status": "stopped",
               "order": 2 + i, "parent": "weak"} for i in range(4)]
    texts = shown(render("tree", {"nodes": nodes})).texts
    assert "gave up" in texts and "2/1 in 5s" in texts and "one_for_one" in texts
    assert "w3" in texts
    texts = shown(render("tree", {"nodes": nodes}, collapse=3)).texts
    assert "w3" not in texts and "4 children: 4 stopped" in texts


def test_a_views_static_html_folds_groups_as_the_view_is_told_to():
    from agentlab.ui import SupervisionTree, Timeline
    from agentlab.ui._synthetic import Script

    s = Script()
    pool = s.spawn("pool", kind="supervisor")
    for i in range(5):
        s.child(pool, "w", name=f"w{i}")
    assert "5 children" in SupervisionTree(s.events, collapse=4).to_html()
    assert "w4" in SupervisionTree(s.events).to_html()
    assert "▸ 5 children" in Timeline(s.events, collapse=4).to_html()


def test_tool_calls_results_and_errors_start_lines_of_their_own():
    segs = [{"t": "req"}, {"t": "text", "s": "Let me look."}, {"t": "tool_call", "id": 1, "name": "search", "args": "{}"},
            {"t": "tool_result", "id": 1, "name": "search", "result": "found", "error": False},
            {"t": "text", "s": "Done."}, {"t": "error", "error": "server", "message": "503"}]
    agents = [{"key": "w", "label": "w", "tokens": 1, "requests": 1, "cost": 0.0, "segs": segs}]
    body = "".join(shown(render("stream", {"agents": agents})).texts)
    assert "Let me look.\n⚙ search({})\n↳ found\nDone.\n⚠ server: 503" in body


def test_a_transcript_says_where_a_restart_and_a_new_process_begin():
    segs = [{"t": "text", "s": "one"}, {"t": "restart", "pid": 7}, {"t": "text", "s": "two"},
            {"t": "new", "pid": 9}, {"t": "text", "s": "three"}]
    agents = [{"key": "w", "label": "w", "order": 1, "segs": segs}]
    text = "".join(shown(render("stream", {"agents": agents})).texts)
    assert "one\n↻ restarted\ntwo\n+ new process <0.9.0>\nthree" in text
