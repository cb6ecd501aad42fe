"""The live views in a real JupyterLab, in Chromium: see the tree, kill a node, watch it come back.

One notebook runs a real supervised team (agents that stream from the offline
``ScriptedModel``, a tool supervisor, a dynamic pool of 120 workers) and shows
``agentlab.ui.dashboard(rt)``. The test clicks a kill button and waits for the
real supervisor's restart to show in the tree and the timeline, sees tokens
arrive in the stream view, and takes screenshots into ``artifacts/screenshots/``.
"""

from __future__ import annotations

import re

import pytest

from .conftest import open_notebook, shot, wait_idle

pytestmark = pytest.mark.e2e

TEAM = '''
import agentlab, agentlab.ui as ui
from agentlab import ChildSpec, DynamicSupervisor, Supervisor
from agentlab.llm import Message, ScriptedModel, complete

LINES = {
    "planner": "Plan: explain supervision trees with one crash and one restart, then a short demo. ",
    "writer": "Supervision trees let a system heal itself: when a worker crashes, its supervisor restarts it and the others keep going. ",
    "critic": "Clear draft. Add an example of one_for_all and say what intensity means. ",
}

class Talker(agentlab.Agent):
    """An agent that asks the (offline, scripted) model something every so often."""

    def init(self, role, peer=None, seed=0):
        self.role, self.peer, self.turns = role, peer, 0
        self.model = ScriptedModel(lambda msgs: LINES[role], tokens_per_second=25, ttft=0.35, seed=seed)
        self.runtime.send_after(self.pid, "turn", 0.3)

    async def handle_info(self, msg):
        if msg != "turn":
            return
        emit = lambda kind, **f: self.runtime.emit(kind, self.pid, **f)
        await complete(self.model, [Message.user(f"turn {self.turns}")], emit=emit)
        self.turns += 1
        if self.peer:
            self.runtime.cast(self.peer, ("draft", self.turns))
        self.runtime.send_after(self.pid, "turn", 1.0)

    def handle_cast(self, msg):
        self.last = msg

class Tool(agentlab.Agent):
    def handle_call(self, request, caller):
        return request

rt = agentlab.Runtime()
team = [ChildSpec("planner", (Talker, "planner", "writer", 1), name="planner"),
        ChildSpec("writer", (Talker, "writer", "critic", 2), name="writer"),
        ChildSpec("critic", (Talker, "critic", None, 3), name="critic")]
tools = [ChildSpec("search", Tool, name="search"), ChildSpec("cache", Tool, name="cache")]
rt.start(Supervisor, [
    ChildSpec("team", (Supervisor, (team,), {"strategy": "one_for_one", "intensity": 5, "period": 10})),
    ChildSpec("tools", (Supervisor, (tools,), {"strategy": "one_for_all", "intensity": 3, "period": 5})),
    ChildSpec("pool", (DynamicSupervisor, (), {"intensity": 50})),
], strategy="one_for_one", name="root")
'''

POOL = '''
pool = next(p for p in rt.processes() if p.path == "root/pool")
for i in range(120):
    await DynamicSupervisor.start_child(pool, ChildSpec("worker", Tool))
dash = ui.dashboard(rt)
dash
'''


def test_tree_kill_restart_timeline_and_tokens(lab, browser):
    name = lab.notebook("team.ipynb", [TEAM, POOL])
    page = open_notebook(browser, lab, name)
    from playwright.sync_api import expect

    writer = page.locator('.al-tree .al-node[data-key$="/writer"]')
    expect(writer).to_be_visible(timeout=60_000)
    wait_idle(page)
    expect(page.locator('.al-tree .al-group[data-count="120"]')).to_be_visible()
    expect(writer).to_have_attribute("data-status", "waiting", timeout=15_000)  # calling its model

    # tokens arrive in the stream view
    col = page.locator('.al-stream .al-col[data-agent$="/writer"] [data-role="transcript"]')
    expect(col).to_contain_text("Supervision trees", timeout=20_000)
    page.wait_for_timeout(1500)
    dash = page.locator(".al-dashboard")
    dash.scroll_into_view_if_needed()
    shot(page, "dashboard", dash)

    # kill the writer from the tree: the real supervisor restarts it
    old_pid = writer.get_attribute("data-pid")
    writer.hover()
    writer.locator('[data-action="kill"]').click()
    expect(writer).to_have_attribute("data-restarts", "1", timeout=15_000)
    assert writer.get_attribute("data-pid") != old_pid
    expect(writer).to_have_attribute("data-status", re.compile("running|waiting"))
    timeline = page.locator('.al-timeline [data-role="timeline"]')
    expect(timeline.locator('[data-kind="restart-link"]').first).to_be_attached(timeout=10_000)
    expect(timeline.locator('[data-kind="killed"]').first).to_be_attached()
    # the kill is an exit signal from outside any process: keep only the arrows touching "outside"
    page.locator('.al-sequence [data-action="toggle-part"][data-key="outside"]').click()
    seq = page.locator('.al-sequence [data-role="sequence"]')
    expect(seq.locator('[data-kind="exit"]').first).to_be_attached(timeout=10_000)
    expect(page.locator('.al-stream .al-col[data-agent$="/writer"] [data-seg="restart"]')).to_be_visible(timeout=10_000)

    # details of the restarted node: the last exit reason
    writer.locator(".al-name").click()
    details = page.locator('.al-tree [data-role="details"]')
    expect(details.locator('[data-role="exit-reason"]')).to_have_text("killed", timeout=10_000)
    expect(details).to_contain_text("root/team")
    page.wait_for_timeout(800)
    shot(page, "tree-after-kill", page.locator(".al-tree"))
    shot(page, "timeline-restart", page.locator(".al-timeline"))
    shot(page, "streams", page.locator(".al-stream"))
    shot(page, "sequence", page.locator(".al-sequence"))

    page.locator('.al-sequence [data-action="clear-filter"]').click()
    page.wait_for_timeout(1500)
    shot(page, "dashboard-after-kill", page.locator(".al-dashboard"))

    # expand the pool of 120 workers and kill a random one
    page.locator('.al-tree .al-group[data-count="120"] button[data-action="expand"]').click()
    expect(page.locator(".al-tree .al-chip")).to_have_count(120)
    page.locator('.al-tree [data-action="kill-random"]').click()
    expect(page.locator('.al-tree .al-chip[data-restarts="1"]').first).to_be_attached(timeout=10_000)
    shot(page, "tree-pool-expanded", page.locator(".al-tree"))

    assert "IOPub message rate exceeded" not in lab.log_text()
    assert page.errors == [], page.errors
    page.close()


RECORDED = '''
import agentlab.ui as ui
from agentlab.ui._synthetic import team_run
run = team_run()
ui.dashboard(run)
'''


def test_a_recorded_run_scrubs(lab, browser):
    name = lab.notebook("recorded.ipynb", [RECORDED])
    page = open_notebook(browser, lab, name)
    from playwright.sync_api import expect

    tree = page.locator('.al-tree [data-role="tree"]')
    expect(tree).to_have_attribute("data-count", "8", timeout=60_000)
    wait_idle(page)
    scrub = page.locator('.al-tree [data-action="scrub"]')

    def seek(value: int) -> None:
        scrub.evaluate("(el, v) => { el.value = String(v); el.dispatchEvent(new Event('input', {bubbles: true})); }", value)

    seek(3)
    expect(tree).to_have_attribute("data-count", "2", timeout=10_000)
    # one scrub bar moves every view of the run
    expect(page.locator(".al-stream .al-col")).to_have_count(0, timeout=10_000)
    expect(page.locator('.al-timeline [data-role="timeline"]')).to_have_attribute("data-lanes", "2")
    assert page.locator('.al-dashboard [data-action="scrub"]').count() == 1
    seek(10_000)
    expect(tree).to_have_attribute("data-count", "8", timeout=10_000)
    expect(page.locator('.al-stream .al-col')).to_have_count(4)
    page.wait_for_timeout(500)
    shot(page, "recorded-run", page.locator(".al-dashboard"))
    assert page.errors == [], page.errors
    page.close()


MANY_LANES = '''
import agentlab.ui as ui
from agentlab.ui._synthetic import Script
s = Script()
sup = s.spawn("pool", kind="supervisor")
workers = [s.child(sup, f"w{i}", name=f"worker-{i}") for i in range(30)]
s.exit(workers[-1], "killed")
ui.Timeline(s.events, collapse=100)
'''


def test_timeline_tooltips_stay_inside_the_view(lab, browser):
    # the tooltip of an item on a bottom row, or at the right edge, used to hang past the
    # view's body, which clips it: it shows above and left of the pointer there instead
    name = lab.notebook("lanes.ipynb", [MANY_LANES])
    page = open_notebook(browser, lab, name)
    from playwright.sync_api import expect

    svg = page.locator('.al-timeline [data-role="timeline"]')
    expect(svg).to_have_attribute("data-lanes", "31", timeout=60_000)
    wait_idle(page)
    body = page.locator(".al-timeline .al-body").bounding_box()
    scroll = page.locator(".al-timeline .al-tl-scroll").bounding_box()
    tip = page.locator('.al-timeline [data-role="tooltip"]')
    assert body is not None and scroll is not None
    # the lifetime bars of the first row and of the lowest row in view
    bars = [b for b in (el.bounding_box() for el in svg.locator(".al-span").all())
            if b is not None and b["y"] + b["height"] <= scroll["y"] + scroll["height"]]
    top = min(bars, key=lambda b: b["y"])
    low = max(bars, key=lambda b: b["y"])
    for bar, x in [(low, low["x"] + 30), (low, low["x"] + low["width"] - 4), (top, top["x"] + top["width"] - 4)]:
        page.mouse.move(x, bar["y"] + bar["height"] / 2)
        expect(tip).to_be_visible(timeout=5_000)
        box = tip.bounding_box()
        assert box is not None
        inside = (box["x"] >= body["x"] and box["y"] >= body["y"]
                  and box["x"] + box["width"] <= body["x"] + body["width"] + 0.5
                  and box["y"] + box["height"] <= body["y"] + body["height"] + 0.5)
        assert inside, (x, bar, box, body)
    shot(page, "timeline-tooltip-bottom-right", page.locator(".al-timeline"))
    assert page.errors == [], page.errors
    page.close()


LOSSY = '''
import agentlab, agentlab.trace as trace, agentlab.ui as ui
from agentlab import ChildSpec, Supervisor

class Worker(agentlab.Agent):
    def handle_call(self, request, caller):
        return request

rt = agentlab.Runtime(clock=agentlab.VirtualClock(), seed=3)
rec = trace.Recorder(rt, capacity=64)  # room for 64 events: the oldest go
rt.start(Supervisor, [ChildSpec("a", Worker, name="a")], strategy="one_for_one", name="team")
for i in range(100):
    await rt.call("a", i)
    await rt.sleep(0.01)
run = rec.stop()
await rt.shutdown()
ui.dashboard(run)
'''


def test_a_run_that_lost_events_says_so_in_every_view(lab, browser):
    name = lab.notebook("lossy.ipynb", [LOSSY])
    page = open_notebook(browser, lab, name)
    from playwright.sync_api import expect

    notes = page.locator('.al-dashboard [data-role="lost"]')
    expect(notes).to_have_count(4, timeout=60_000)
    wait_idle(page)
    for i in range(4):
        note = notes.nth(i)
        expect(note).to_be_visible()
        expect(note).to_contain_text(re.compile(r"⚠ \d[\d,]* events of this run were lost \(none after [\d.]+ s on "))
        assert int(note.get_attribute("data-count") or 0) > 0
    # above the picture, in each of the four views
    for kind in ("tree", "stream", "timeline", "sequence"):
        view = page.locator(f".al-dashboard .al-{kind}")
        box, note = view.locator(".al-body").bounding_box(), view.locator('[data-role="lost"]').bounding_box()
        assert box is not None and note is not None and note["y"] + note["height"] <= box["y"] + 0.5
    page.wait_for_timeout(500)
    shot(page, "recorded-run-lost-events", page.locator(".al-dashboard"))
    assert page.errors == [], page.errors
    page.close()
