"""The anywidget views: a view model, a coalescing pump and a front-end module each.

Every view takes a *source*: a live :class:`agentlab.Runtime` (``None`` means
the current one), or a recorded run (a list of events, an ``EventLog``, a
:class:`~agentlab.trace.Run`, its ``events()`` frame, or the path of a saved
trace). A recorded view has a scrub bar; moving it shows the run at that point
in every view attached to the same run.

Traits hold only what a freshly opened view must rebuild (``snapshot``,
written at a bounded rate, and ``config``); everything live goes as custom
messages through the view's :class:`~agentlab.ui._pump.Pump`. Widgets are
touched only on the event loop the runtime runs on.

A snapshot travels as JSON text in one binary buffer (the trait, and the answer
to ``resync``), made by orjson. As a JSON trait, ipywidgets walked it looking for
buffers and the kernel's session encoded it with the json module: for a timeline
of 20,000 spans (8.8 MB) that was half a second with the event loop stopped, at
the end of every restart storm; packed, it is about 75 ms (plus ~60 ms to build
the state either way).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import math
import threading
import time as _time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import anywidget
import orjson
import traitlets
from anywidget.experimental import command

from . import _heap, _static
from ._feed import Feed, RecordedFeed, as_feed
from ._pending import Pending
from ._pump import Pump
from ._sequence import SequenceModel
from ._stream import StreamModel
from ._timeline import TimelineModel
from ._tree import TreeModel

__all__ = ["STATIC", "SequenceDiagram", "SupervisionTree", "Timeline", "TokenStream", "View"]

log = logging.getLogger("agentlab.ui")

#: where the bundled front end lives (built from ``widgets/`` by ``npm run build``)
STATIC = Path(__file__).resolve().parent.parent / "static"

_MISSING = """
export default { render({ model, el }) {
  el.innerHTML = '<div style="font:13px sans-serif;padding:8px;border:1px solid #e0a000">' +
    '<b>agentlab</b>: the widget bundle is missing (agentlab/static). Run ' +
    '<code>npm ci &amp;&amp; npm run build</code> in <code>widgets/</code>, or reinstall agentlab.</div>' +
    (model.get("fallback") || "");
} };
"""


def _asset(name: str, default: str = "") -> Path | str:
    p = STATIC / name
    return p if p.exists() else default


Reply = tuple[dict[str, Any], list[Any]]


def pack(value: Any, widget: Any = None) -> bytes:
    """A snapshot as the browser gets it: JSON text (UTF-8), sent as a binary buffer.

    Anything that is not JSON (a reason object in a detail) is written as its ``str``.
    """
    return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS)


def _reply(fn: Callable[..., dict[str, Any] | Reply]) -> Callable[..., Reply]:
    """Wrap a command: run it on the runtime's loop, answer errors instead of raising.

    The command returns its answer, or ``(answer, buffers)`` to send binary buffers too.
    """

    def cmd(self: View, msg: Any, buffers: list[Any]) -> Reply:
        try:
            out = self._on_loop(lambda: fn(self, msg if isinstance(msg, dict) else {}))
        except Exception as e:  # the browser shows the message; the kernel keeps going
            log.exception("agentlab.ui: command %s failed", fn.__name__)
            return {"ok": False, "error": f"{type(e).__name__}: {e}"}, []
        return out if isinstance(out, tuple) else (out, [])

    cmd.__name__ = fn.__name__
    cmd.__doc__ = fn.__doc__
    return command(cmd)


class View(_static.HtmlFallback, anywidget.AnyWidget):
    """Base class of the live views (see the module docstring).

    Options every view takes:

    ``source``          a live :class:`agentlab.Runtime` (``None``: the current one)
                        or a recorded run: events, a ``trace.Run``, its
                        ``events()`` frame, or a saved trace's path
    ``rate``            messages a second, at most, to the browser (default 30):
                        deltas in between are coalesced
    ``snapshot_every``  seconds, at least, between rewrites of the ``snapshot``
                        trait a newly opened view starts from (default 1.0)
    ``tick``            seconds between the view's own updates: rates, ages, the
                        mailbox depths the tree shows (default 0.25)
    ``title``           the heading (default: the view's name)
    ``height``          pixels (default: the view's own)
    ``scrubber``        recorded runs only: show the scrub bar (default True)

    Each view's own options are in its docstring; an option a view does not know
    is ignored, so :func:`agentlab.ui.dashboard` can pass one set to all four.
    """

    snapshot = traitlets.Dict().tag(sync=True, to_json=pack)  # a dict here, packed on the wire
    config = traitlets.Dict().tag(sync=True)
    fallback = traitlets.Unicode("").tag(sync=True)

    _view_kind = "view"
    _wants_procs = False
    #: processes whose mailbox depth one tick looks at (a 10,000-process pass is ~25 ms)
    SCAN = 2000

    def __init__(
        self,
        source: Any = None,
        *,
        rate: float = 30.0,
        snapshot_every: float = 1.0,
        tick: float = 0.25,
        title: str | None = None,
        height: int | None = None,
        **options: Any,
    ) -> None:
        self._feed: Feed = as_feed(source)
        self._options = options
        self._pending = Pending()
        self._model = self._make_model()
        self._tick_every = tick
        self._next_scan = 0.0
        self._scan: list[Any] | None = None  # the processes of the mailbox pass under way
        self._scan_at = 0
        self._tick_handle: asyncio.TimerHandle | None = None
        self._select_hooks: list[Callable[[View, dict[str, Any]], None]] = []
        self._pump = Pump(
            self._pending,
            send=self._send_msg,
            publish=self._publish,
            snapshot=self._view_snapshot,
            extra=self._extra,
            rows=getattr(self._model, "ROWS", ()),
            rate=rate,
            snapshot_every=snapshot_every,
            size=self._snapshot_size,
        )
        cfg: dict[str, Any] = {"view": self._view_kind, "live": self._feed.live,
                               "title": title or self._default_title()}
        if height is not None:
            cfg["height"] = height
        if isinstance(self._feed, RecordedFeed):
            cfg["recorded"] = self._feed.info()
            cfg["scrubber"] = bool(options.get("scrubber", True))
        elif self._feed.runtime is not None and self._feed.runtime.closed:
            cfg["ended"] = True  # (see _ended)
        lost = self._feed.lost
        if lost is not None:  # the view says so: what it shows may be partial
            cfg["lost"] = lost
        cfg.update(self._config())
        self._cfg = cfg
        # the first state goes out with comm_open (one message, config before snapshot)
        self._initial: dict[str, Any] | None = {}
        self._feed.attach(self)
        first, self._initial = self._initial, None
        super().__init__(config=cfg, **first)
        if self._feed.live:
            _heap._on_first_live_view()
            self._schedule_tick()

    # -- subclass hooks ------------------------------------------------------------
    def _make_model(self) -> Any:
        raise NotImplementedError

    def _config(self) -> dict[str, Any]:
        return {}

    def _default_title(self) -> str:
        return self._view_kind

    # -- feed interface ------------------------------------------------------------
    def _handlers(self) -> dict[str, Callable[[Any], Any]]:
        return self._model.handlers

    def _rebuild(self, events: Iterable[Any]) -> None:
        """Start over from ``events`` (attach, or a recorded run scrubbed backwards)."""
        self._pending.clear()
        self._model = self._make_model()
        self._advance(events)

    def _advance(self, events: Iterable[Any]) -> None:
        apply = self._model.apply
        for ev in events:
            apply(ev)
        rt = self._feed.runtime
        procs = rt.processes() if (rt is not None and not rt.closed) else None
        if procs is not None and self._wants_procs:
            self._model.adopt(procs)
        self._model.tick(self._feed.now(), procs if self._wants_procs else None)
        if self._initial is not None:  # still in __init__: the traits are sent with comm_open
            self._pending.clear()
            t0 = _time.perf_counter()
            self._initial["snapshot"] = {"seq": 0, "view": self._view_snapshot()}
            # writing a snapshot (trait, JSON, comm) costs about twice building it: the pump
            # keeps an expensive one out of busy periods from the start (see Pump)
            self._pump.expect_cost(2.0 * (_time.perf_counter() - t0))
            if not (STATIC / f"{self._view_kind}.js").exists():
                self._initial["fallback"] = self.to_html()  # the bundle is missing: show static HTML
        else:
            self._pump.reset()

    # -- pump interface ------------------------------------------------------------
    def _send_msg(self, msg: dict[str, Any]) -> None:
        self.send(msg)

    def _publish(self, snap: dict[str, Any]) -> None:
        self.snapshot = snap

    def _view_snapshot(self) -> dict[str, Any]:
        snap = self._model.snapshot()
        if isinstance(self._feed, RecordedFeed):
            snap["cursor"] = self._feed.cursor
        return snap

    def _snapshot_size(self) -> int:
        size = getattr(self._model, "size", None)
        return size() if size is not None else 0

    def _extra(self) -> dict[str, Any]:
        return {"now": self._feed.now()}

    # -- live ticking ----------------------------------------------------------------
    def _schedule_tick(self) -> None:
        loop = self._pump._loop
        if loop is not None:
            self._tick_handle = loop.call_later(self._tick_every, self._on_tick)

    def _on_tick(self) -> None:
        self._tick_handle = None
        if self._pump.closed:
            return
        rt = self._feed.runtime
        if rt is None or rt.closed:  # the last tick: the view stops where the run ended
            self._model.tick(self._feed.now())
            self._ended()
            return
        now = rt.loop.time()
        if self._wants_procs and now >= self._next_scan:
            # mailbox depths need a pass over every process. With thousands of them a
            # tick looks at one slice (SCAN processes; the pass goes on at the next tick),
            # and slices are their cost times 40 apart: no stall, a small share of the loop
            t0 = _time.perf_counter()
            if self._scan is None:
                self._scan, self._scan_at = rt.processes(), 0
            part = self._scan[self._scan_at : self._scan_at + self.SCAN]
            self._scan_at += self.SCAN
            if self._scan_at >= len(self._scan):
                self._scan = None
            self._model.tick(rt.now(), part)
            cost = _time.perf_counter() - t0
            self._next_scan = now + max(self._tick_every, 40.0 * cost)
        else:
            self._model.tick(rt.now(), None)
        self._schedule_tick()

    def _ended(self) -> None:
        """The runtime was shut down: the browser says so (``config["ended"]``), instead of "live"."""
        if self._feed.live and not self._cfg.get("ended"):
            self._cfg = {**self._cfg, "ended": True}
            self.config = self._cfg

    def _on_loop(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on the runtime's loop thread (commands may arrive on another)."""
        loop = self._pump._loop
        if loop is None or threading.get_ident() == self._pump._thread:
            return fn()
        fut: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def run() -> None:
            try:
                fut.set_result(fn())
            except Exception as e:
                fut.set_exception(e)

        loop.call_soon_threadsafe(run)
        return fut.result(timeout=5.0)

    # -- commands (browser -> kernel) ----------------------------------------------
    @_reply
    def resync(self, msg: dict[str, Any]) -> Reply:
        """The full state and its sequence number (a view saw a gap), packed."""
        return {"packed": True}, [pack(self._pump.resync())]

    @_reply
    def seek(self, msg: dict[str, Any]) -> dict[str, Any]:
        """Scrub a recorded run: show it up to event ``index``."""
        feed = self._feed
        if not isinstance(feed, RecordedFeed):
            return {"ok": False, "error": "this view follows a live runtime; only recorded runs scrub"}
        index = feed.seek(int(msg.get("index", 0)))
        return {"ok": True, "cursor": index}

    @_reply
    def select(self, msg: dict[str, Any]) -> dict[str, Any]:
        """The user picked something (a node, an arrow): tell linked views (a dashboard)."""
        for hook in self._select_hooks:
            hook(self, msg)
        return {"ok": True}

    def highlight(self, msg: dict[str, Any]) -> None:
        """Ask the browser view to highlight ``key`` (a slot) and/or ``llm`` (request ids)."""
        self.send({"type": "highlight", **msg})

    # -- public --------------------------------------------------------------------
    @property
    def seq(self) -> int:
        """The sequence number of the last message sent to the browser."""
        return self._pump.seq

    def flushed(self) -> asyncio.Future[None]:
        """Awaitable: every change so far has been sent to the browser."""
        return self._pump.flushed()

    async def settled(self) -> None:
        """Wait until the runtime is quiet and this view has sent everything."""
        from ._settle import settle

        await settle(self)

    def view_state(self) -> dict[str, Any]:
        """The state the browser shows (what a resync would return), as plain data."""
        return self._view_snapshot()

    def to_html(self) -> str:
        """Static HTML of the current state (for nbconvert, GitHub, e-mail)."""
        return _static.render(self._view_kind, self._view_snapshot(), self._cfg.get("title"),
                              collapse=int(self._cfg.get("collapse", 50)), lost=self._cfg.get("lost"))

    def close(self) -> None:
        if getattr(self, "_pump", None) is not None and not self._pump.closed:
            self._pump.close()
            self._feed.detach(self)
            if self._tick_handle is not None:
                self._tick_handle.cancel()
                self._tick_handle = None
            # anywidget keeps every widget whose front end is a file, closed or not (for hot
            # reload: manzt/anywidget#929): a closed view lets go of its runtime, its linked
            # views and what it showed, so that what stays is an empty shell
            self._feed = RecordedFeed([])
            self._scan = None
            self._select_hooks.clear()
            self._pending.clear()
            self._model = self._make_model()
        super().close()


class SupervisionTree(View):
    """Supervisors and workers as a live tree, with kill buttons.

    ::

        tree = SupervisionTree(rt)        # or agentlab.ui.dashboard(rt).tree
        tree                              # display it; click a node for details
        tree.kill("team/writer")          # what the kill button does: rt.exit(pid, "kill")

    ``collapse``: a supervisor with more children than this is drawn as one
    node with counts until expanded (default 50). ``max_dead``: processes that
    exited kept as nodes, the newest (default 2000).
    """

    _esm = _asset("tree.js", _MISSING)
    _css = _asset("tree.css")
    _view_kind = "tree"
    _wants_procs = True

    def _make_model(self) -> TreeModel:
        # a supervisor's strategy and budget before its first restart report: what the
        # live supervisor says of them, or what the recorded run's reports say
        feed = self._feed
        rt = feed.runtime if feed.live else None
        return TreeModel(self._pending, max_dead=self._options.get("max_dead", 2000),
                         known=feed.supervisors() if isinstance(feed, RecordedFeed) else None,
                         describe=rt.describe_state if rt is not None else None)

    def _config(self) -> dict[str, Any]:
        return {"collapse": int(self._options.get("collapse", 50))}

    def _default_title(self) -> str:
        return "Supervision tree"

    def _find(self, pid: int) -> Any:
        rt = self._feed.runtime
        if rt is None or rt.closed:
            return None
        for p in rt.processes():
            if p.id == pid:
                return p
        return None

    def kill(self, target: int | str) -> dict[str, Any]:
        """Send ``target`` (a pid number or a node key) the untrappable ``kill`` exit signal.

        The same as the kill button: the supervisor sees a real ``killed`` exit.
        """
        if self._pump.closed:
            return {"ok": False, "error": "this view is closed; kill from a view that is open"}
        if not self._feed.live:
            return {"ok": False, "error": "this is a recorded run; there is nothing to kill"}
        pid = target
        if isinstance(target, str):
            node = self._model.nodes.get(target)
            if node is None:
                return {"ok": False, "error": f"no node {target!r}"}
            pid = node["pid"]
        p = self._find(int(pid))
        if p is None:
            return {"ok": False, "error": f"<0.{pid}.0> is not alive"}
        self._feed.runtime.exit(p, "kill")  # type: ignore[union-attr]
        return {"ok": True, "pid": p.id, "name": p.name}

    def kill_random(self, under: str | None = None) -> dict[str, Any]:
        """Kill a random live worker (in ``under``'s subtree), chosen by the runtime's seeded RNG."""
        rt = self._feed.runtime
        if rt is None or not self._feed.live:
            return self.kill(0)  # (says why there is nothing to kill)
        pids = self._model.live_pids(under)
        if not pids:
            return {"ok": False, "error": "no live worker to kill"}
        return self.kill(rt.random.choice(sorted(pids)))

    def details(self, key: str) -> dict[str, Any] | None:
        """What the details panel shows for node ``key``, including the live state summary."""
        feed = self._feed
        newest_first = False
        if isinstance(feed, RecordedFeed):
            events: Any = feed.events[: feed.cursor]
        else:
            # newest first and lazily: the node's recent history is near the end of the
            # log, and reading a 100,000-event log forwards stalled the loop 100-300 ms
            # (no list of 100,000 Events for the collector either: see LiveFeed.attach)
            events = feed.runtime.events._raw_newest() if feed.runtime is not None else []
            newest_first = True
        d = self._model.details(key, events, newest_first=newest_first)
        if d is None:
            return None
        if d.get("alive") and self._feed.live:
            d["state"] = _state_summary(self._feed.runtime, self._find(d["pid"]))
        return d

    @_reply
    def cmd_kill(self, msg: dict[str, Any]) -> dict[str, Any]:
        return self.kill(msg.get("key") or int(msg.get("pid", 0)))

    @_reply
    def cmd_kill_random(self, msg: dict[str, Any]) -> dict[str, Any]:
        return self.kill_random(msg.get("under"))

    @_reply
    def cmd_details(self, msg: dict[str, Any]) -> dict[str, Any]:
        key = str(msg.get("key"))
        d = self.details(key)
        if d is None:  # (the browser shows why in the details panel)
            return {"ok": False, "error": f"no node {key!r}: not a process this view knows, or one that "
                    f"exited and was dropped (it keeps the newest {self._model.max_dead} that exited)"}
        return {"ok": True, "details": d}


def _state_summary(rt: Any, pid: Any) -> str | None:
    """An agent's one-line state (``Runtime.describe_state``), cut to 500 characters."""
    if pid is None or rt is None:
        return None
    try:
        text = rt.describe_state(pid)
    except Exception as e:  # a user's describe_state may fail; say so, don't crash the view
        return f"(describe_state failed: {type(e).__name__}: {e})"
    return None if text is None else text[:500]


class TokenStream(View):
    """Live output of one or many agents side by side: text, tool calls, retries, errors.

    ::

        TokenStream(rt)                          # every agent that talks to a model
        TokenStream(rt, agents=["writer", "critic"])

    ``agents``: names, keys or pids to show (default: every agent that talks to
    a model). ``max_chars``: characters of text kept per agent (default
    200,000); ``max_segs``: segments (text, tool calls and results, retries,
    errors) kept per agent (default 10,000). Past either, the oldest quarter
    goes.
    """

    _esm = _asset("stream.js", _MISSING)
    _css = _asset("stream.css")
    _view_kind = "stream"

    def _make_model(self) -> StreamModel:
        return StreamModel(self._pending, agents=self._options.get("agents"),
                           max_chars=self._options.get("max_chars", 200_000),
                           max_segs=self._options.get("max_segs", 10_000))

    def _default_title(self) -> str:
        return "Token streams"

    def text(self, agent: str) -> str:
        """Everything ``agent`` (key or label) streamed so far (what its column shows)."""
        return self._model.text(agent)


class Timeline(View):
    """Swimlanes per process: lifetimes, crashes, restart links, LLM spans, restart budgets.

    ``window``: seconds shown when following live (zoom and pan with the mouse;
    default 20, a positive number). ``collapse``: lanes of a supervisor with more
    children than this are drawn as one (default 50). ``max_items``: crash marks,
    restart links and budget reports kept, the newest (default 20,000).
    """

    _esm = _asset("timeline.js", _MISSING)
    _css = _asset("timeline.css")
    _view_kind = "timeline"

    def _make_model(self) -> TimelineModel:
        return TimelineModel(self._pending, max_items=self._options.get("max_items", 20_000))

    def _config(self) -> dict[str, Any]:
        window = float(self._options.get("window", 20.0))
        if not (0.0 < window < math.inf):  # the browser would draw a reversed or empty window
            raise ValueError(f"window must be a positive number of seconds, not {window!r}")
        # max_items: the browser keeps as many marks, links and budget reports as the model
        # (trimming in batches of trim_slack, as the model trims spans)
        return {"window": window,
                "collapse": int(self._options.get("collapse", 50)),
                "max_items": self._model.max_items}

    def _default_title(self) -> str:
        return "Timeline"


class SequenceDiagram(View):
    """Message sequence diagram: call, cast, reply, exit signal and DOWN arrows, live.

    ``processes``: only arrows that touch these (names, keys or pids).
    ``max_arrows``: arrows kept, the newest (default 2000); times are shown from
    the first arrow, also once it is dropped.
    """

    _esm = _asset("sequence.js", _MISSING)
    _css = _asset("sequence.css")
    _view_kind = "sequence"

    def _make_model(self) -> SequenceModel:
        return SequenceModel(self._pending, processes=self._options.get("processes"),
                             max_arrows=self._options.get("max_arrows", 2000))

    def _default_title(self) -> str:
        return "Message sequence"

    def details(self, arrow_id: int) -> dict[str, Any] | None:
        return self._model.details(arrow_id)

    @_reply
    def cmd_details(self, msg: dict[str, Any]) -> dict[str, Any]:
        arrow = int(msg.get("id", 0))
        d = self.details(arrow)
        if d is None:  # (the browser shows why in the details panel)
            return {"ok": False, "error": f"no message {arrow}: the diagram keeps the newest "
                    f"{self._model.max_arrows} (max_arrows)"}
        return {"ok": True, "details": d}
