"""The dashboard: every view of one runtime (or one recorded run) in one call.

::

    dash = agentlab.ui.dashboard(rt)      # tree + token streams, timeline, sequence diagram
    dash                                  # display it
    dash.tree.kill_random()               # what the "kill random" button does
    await dash.settled()

    agentlab.ui.dashboard(events)         # a recorded run: one scrub bar drives all four
    agentlab.ui.dashboard("run.parquet")  # ... or a saved one (a trace.Run, run.events() too)
"""

from __future__ import annotations

from typing import Any

import ipywidgets

from . import _static
from ._feed import RecordedFeed, as_feed
from ._widgets import SequenceDiagram, SupervisionTree, Timeline, TokenStream, View

__all__ = ["Dashboard", "dashboard"]


class Dashboard(_static.HtmlFallback, ipywidgets.VBox):
    """Four linked views. Picking a node or an arrow in one highlights it in the others.

    ``source`` is a runtime (``None``: the current one) or a recorded run (events, a
    ``trace.Run``, its ``events()`` frame, or the path of a saved trace);
    ``agents`` picks the token streams shown (default: every agent that talks to a
    model), ``collapse`` the number of children above which a supervisor is one
    node (tree and timeline, default 50), ``window`` the timeline's seconds when
    following live (default 20), ``rate`` each view's message rate limit (30 a
    second). Other keyword arguments (``height``, ``snapshot_every``, ``tick``, a
    view's own options such as ``max_items``) go to all four views, and each uses
    those it knows. The views are :attr:`tree`, :attr:`streams`, :attr:`timeline`
    and :attr:`sequence`.
    """

    def __init__(self, source: Any = None, *, agents: Any = None, collapse: int = 50,
                 window: float = 20.0, rate: float = 30.0, **options: Any) -> None:
        feed = as_feed(source)
        # a recorded run gets one scrub bar (the tree's); it moves every view
        self.tree = SupervisionTree(feed, collapse=collapse, rate=rate, **options)
        self.streams = TokenStream(feed, agents=agents, rate=rate, scrubber=False, **options)
        self.timeline = Timeline(feed, window=window, collapse=collapse, rate=rate, scrubber=False, **options)
        self.sequence = SequenceDiagram(feed, rate=rate, scrubber=False, **options)
        self.feed = feed
        for v in self.views:
            v._select_hooks.append(self._relay)
        self.tree.layout = ipywidgets.Layout(width="56%")
        self.streams.layout = ipywidgets.Layout(width="44%")
        top = ipywidgets.HBox([self.tree, self.streams], layout=ipywidgets.Layout(width="100%"))
        super().__init__([top, self.timeline, self.sequence], layout=ipywidgets.Layout(width="100%"))
        self.add_class("al-dashboard")

    @property
    def views(self) -> list[View]:
        return [self.tree, self.streams, self.timeline, self.sequence]

    def _relay(self, origin: View, msg: dict[str, Any]) -> None:
        for v in self.views:
            if v is not origin:
                v.highlight(msg)

    async def settled(self) -> None:
        """Wait until the runtime is quiet and every view has caught up."""
        from ._settle import settle

        await settle(self)

    def to_html(self) -> str:
        return "".join(v.to_html() for v in self.views)

    def close(self) -> None:
        for name in ("tree", "streams", "timeline", "sequence"):
            v = getattr(self, name, None)
            if v is not None:
                v.close()
        self.feed = RecordedFeed([])  # (no hold on the runtime: see View.close)
        super().close()


def dashboard(source: Any = None, **options: Any) -> Dashboard:
    """Every view for ``source`` (a runtime, ``None`` for the current one, or a recorded
    run: events, a ``trace.Run``, its ``events()`` frame, or the path of a saved trace).

    Options go to the views: ``agents`` (token streams to show), ``collapse``
    (children above which a supervisor is one node), ``window`` (timeline seconds),
    ``rate`` (messages a second per view); see :class:`Dashboard`.
    """
    return Dashboard(source, **options)
