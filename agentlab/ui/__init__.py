"""Live views of a running agentlab system, for Jupyter (anywidget).

::

    import agentlab, agentlab.ui
    rt = agentlab.Runtime()
    ...                                   # start a supervised team
    agentlab.ui.dashboard(rt)             # tree, token streams, timeline, sequence diagram

Each view also stands alone (``SupervisionTree(rt)``, ``TokenStream(rt,
agents=["writer"])``, ``Timeline(rt)``, ``SequenceDiagram(rt)``) and accepts a
recorded run instead of a runtime (a list of events, ``rt.events``, a
``trace.Run``, its ``events()`` frame, or the path of a saved trace), with a
scrub bar to step through it. Where widgets cannot render
(nbconvert, GitHub) each view leaves static HTML.

Updates reach the browser through a coalescing pump (at most 30 messages a
second per view, whatever the event rate), so views never trip Jupyter's
IOPub rate limit. ``await agentlab.ui.settle(view)`` waits until the browser
has everything.

When the first live view opens, agentlab moves the kernel's long-lived objects
out of the cyclic garbage collector's way (``gc.freeze``), so that a full
collection does not stall every agent for 100-200 ms; ``freeze_heap(False)``
before it switches that off (see ``agentlab.ui._heap``).
"""

from .._extras import require

# first: if the extra is missing, the error names it
require("agentlab.ui", "ui", ("anywidget", "ipywidgets", "orjson", "traitlets"))

from ._dashboard import Dashboard, dashboard
from ._feed import Feed, LiveFeed, RecordedFeed, as_feed
from ._heap import freeze_heap
from ._pump import Pump
from ._settle import settle
from ._widgets import SequenceDiagram, SupervisionTree, Timeline, TokenStream, View

__all__ = [
    "Dashboard",
    "Feed",
    "LiveFeed",
    "Pump",
    "RecordedFeed",
    "SequenceDiagram",
    "SupervisionTree",
    "Timeline",
    "TokenStream",
    "View",
    "as_feed",
    "dashboard",
    "freeze_heap",
    "settle",
]
