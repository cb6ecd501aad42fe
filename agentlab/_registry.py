"""Registry and PubSub: find processes by key, and broadcast to topics (Elixir's ``Registry``,
Phoenix's ``PubSub``).

A :class:`Registry` maps keys to ``(pid, value)`` entries::

    workers = Registry(rt, keys="unique", name="workers")
    # inside a process (an agent's init, a body function):
    workers.register(("writer", 1), value={"model": "small"})
    # anywhere:
    workers.lookup(("writer", 1))            # [(<0.105.0>, {"model": "small"})]
    workers.send(("writer", 1), "hello")     # send to whoever holds the key

A :class:`PubSub` delivers a message to every process subscribed to a topic::

    news = PubSub(rt)
    news.subscribe("weather")                # the calling process subscribes
    news.broadcast("weather", ("rain", 3))   # every subscriber gets the message

The rules
---------
* ``register``/``subscribe`` act for **the calling process** (``rt.self()``);
  from outside any process (a notebook cell) pass ``pid=`` (a pid or a
  registered name; without it, ``TypeError``).
  Registering a dead pid raises :class:`NoProcessError`.
* **unique** registries: a key held by a live process (the caller included)
  cannot be taken: ``register`` raises :class:`NameTakenError` whose
  ``.process`` is the holder (Elixir returns ``{:error, {:already_registered,
  pid}}``). **duplicate** registries: any process may register any key, the
  same process the same key many times; ``lookup`` returns every entry in
  registration order.
* Entries belong to their process and **vanish when it exits**. Elixir cleans
  up asynchronously (a ``lookup`` right after a death may still show the dead
  pid); here the cleanup runs as part of the exit, so no lookup ever returns a
  dead process.
* There are no ``{:via, Registry, key}`` names: use ``registry.whereis(key)``
  and ``registry.send(key, msg)`` (unique registries only, as in Elixir).
* A broadcast is plain asynchronous sends (no acknowledgement, no persistence,
  at most once, ordered per sender and receiver), to every subscription: the
  sender too if it subscribed, twice to a process that subscribed twice.
  ``broadcast_from(pid, ...)`` skips ``pid``.

Events: ``register``/``unregister`` with data ``{"registry": name, "key": key}``
(plus ``"exited": True`` when the owner's exit removed it), and
``subscribe``/``unsubscribe``/``broadcast`` with data ``{"pubsub": name,
"topic": topic, "count": n}`` (subscriptions left on the topic, or messages
sent).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from itertools import count as _counter
from typing import TYPE_CHECKING, Any, Literal

from ._errors import NameTakenError, NoProcessError, describe
from ._events import EventKind

if TYPE_CHECKING:
    from ._runtime import Pid, Runtime

__all__ = ["PubSub", "Registry"]

_ANY: Any = object()


class Registry:
    """A local key → process directory owned by the runtime (not a process itself).

    ``keys="unique"`` (one process per key) or ``"duplicate"`` (many entries
    per key). ``name`` labels its events. The module docstring of
    ``agentlab._registry`` has the rules; in short::

        reg = Registry(rt, keys="duplicate", name="roles")
        reg.register("critic", value={"temperature": 0.2})  # from inside a process
        for pid, meta in reg.lookup("critic"):
            rt.send(pid, "review this")
    """

    def __init__(
        self, rt: Runtime, keys: Literal["unique", "duplicate"] = "unique", name: str | None = None
    ) -> None:
        if keys not in ("unique", "duplicate"):
            raise ValueError(f"keys must be 'unique' or 'duplicate', not {keys!r}")
        self.runtime = rt
        self.keys_mode = keys
        self.name = name
        self._unique = keys == "unique"
        # key -> {entry number: (pid, value)}, in registration order
        self._entries: dict[Any, dict[int, tuple[Pid, Any]]] = {}
        # pid -> {entry number: key}
        self._owned: dict[Pid, dict[int, Any]] = {}
        self._seq = _counter()

    # ------------------------------------------------------------------ registering

    def register(self, key: Hashable, value: Any = None, pid: Pid | str | None = None) -> None:
        """Register the calling process (or ``pid``) under ``key`` with ``value``.

        Raises :class:`NameTakenError` in a unique registry if a live process
        holds ``key`` (``.process`` is the holder).
        """
        p = self._who(pid, "register")
        hash(key)  # unhashable keys fail here, before anything changes
        entries = self._entries.get(key)
        if self._unique and entries:
            holder = next(iter(entries.values()))[0]
            raise NameTakenError(
                f"key {key!r} in {self._label()} is already registered to {describe(holder)}. "
                "Unregister it there first, wait for that process to exit, or use "
                "keys='duplicate' if several processes may share a key.",
                process=holder,
            )
        if entries is None:
            self._entries[key] = entries = {}
        n = next(self._seq)
        entries[n] = (p, value)
        owned = self._owned.get(p)
        if owned is None:
            self._owned[p] = owned = {}
            self.runtime._hook(p, self, self._on_exit)
        owned[n] = key
        self._announce(True, p, key, len(entries), False)

    def unregister(self, key: Hashable, pid: Pid | str | None = None) -> None:
        """Remove every entry of the calling process (or ``pid``) under ``key``. No-op if none."""
        p = self._who(pid, "unregister", alive=False)
        owned = self._owned.get(p)
        if not owned:
            return
        mine = [n for n, k in owned.items() if k == key]
        if not mine:
            return
        entries = self._entries[key]
        for n in mine:
            del owned[n]
            del entries[n]
        if not entries:
            del self._entries[key]
        if not owned:
            del self._owned[p]
            if p._hooks:
                p._hooks.pop(self, None)
        self._announce(False, p, key, len(entries), False)

    def update_value(
        self, key: Hashable, fn: Callable[[Any], Any], pid: Pid | str | None = None
    ) -> tuple[Any, Any] | None:
        """Unique registries: set the caller's value under ``key`` to ``fn(old)``.

        Returns ``(new, old)``, or ``None`` if the caller does not hold ``key``.
        """
        if not self._unique:
            raise TypeError(
                f"update_value works on unique registries only; {self._label()} is duplicate."
            )
        p = self._who(pid, "update_value", alive=False)
        entries = self._entries.get(key)
        if not entries:
            return None
        n, (holder, old) = next(iter(entries.items()))
        if holder is not p:
            return None
        new = fn(old)
        entries[n] = (p, new)
        return new, old

    # ------------------------------------------------------------------ looking up

    def lookup(self, key: Hashable) -> list[tuple[Pid, Any]]:
        """Every ``(pid, value)`` registered under ``key``, in registration order."""
        entries = self._entries.get(key)
        return list(entries.values()) if entries else []

    def whereis(self, key: Hashable) -> Pid | None:
        """Unique registries: the process holding ``key``, or ``None``."""
        self._need_unique("whereis")
        entries = self._entries.get(key)
        return next(iter(entries.values()))[0] if entries else None

    def send(self, key: Hashable, msg: Any) -> None:
        """Unique registries: send ``msg`` to the holder of ``key``.

        Raises :class:`NoProcessError` if nobody holds it (OTP's ``badarg``).
        """
        self._need_unique("send")
        p = self.whereis(key)
        if p is None:
            raise NoProcessError(
                f"cannot send to key {key!r} in {self._label()}: no process holds it. "
                "Check whereis(key) first, or start the process that registers it.",
                process=key,
            )
        self.runtime.send(p, msg)

    def keys(self, pid: Pid | str | None = None) -> list[Any]:
        """The keys the calling process (or ``pid``) registered, in order (repeated per entry)."""
        p = self._who(pid, "keys", alive=False)
        owned = self._owned.get(p)
        return list(owned.values()) if owned else []

    def count(self, key: Hashable = _ANY) -> int:
        """How many entries there are (under ``key``, if given)."""
        if key is _ANY:
            return sum(len(e) for e in self._entries.values())
        entries = self._entries.get(key)
        return len(entries) if entries else 0

    def match(self, key: Hashable, pred: Callable[[Any], bool]) -> list[tuple[Pid, Any]]:
        """The ``(pid, value)`` entries under ``key`` whose value satisfies ``pred(value)``."""
        return [(p, v) for p, v in self.lookup(key) if pred(v)]

    def select(
        self, pred: Callable[[Any, Pid, Any], bool] | None = None
    ) -> list[tuple[Any, Pid, Any]]:
        """Every ``(key, pid, value)`` entry (for which ``pred(key, pid, value)`` is true)."""
        return [
            (k, p, v)
            for k, entries in self._entries.items()
            for p, v in entries.values()
            if pred is None or pred(k, p, v)
        ]

    def dispatch(self, key: Hashable, fn: Callable[[list[tuple[Pid, Any]]], Any]) -> None:
        """Call ``fn(entries)`` with the ``(pid, value)`` entries under ``key``, if any, here.

        For example ``reg.dispatch("critic", lambda es: [rt.send(p, msg) for p, _ in es])``.
        """
        entries = self.lookup(key)
        if entries:
            fn(entries)

    def __contains__(self, key: object) -> bool:
        try:
            return bool(self._entries.get(key))
        except TypeError:
            return False

    def __len__(self) -> int:
        return self.count()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} {self.keys_mode}, {len(self)} entries>"

    # ------------------------------------------------------------------ internals

    def _who(self, pid: Pid | str | None, op: str, *, alive: bool = True) -> Pid:
        if isinstance(pid, str):  # a registered name
            pid = self.runtime._lookup(pid)
        if pid is None:
            pid = self.runtime.self()
            if pid is None:
                raise TypeError(
                    f"{self._label()}.{op}() outside any process needs pid=: it acts for the "
                    "calling process, and this code (a notebook cell?) is not one."
                )
        if alive and pid is self.runtime.root:
            # it has no mailbox and never exits: a send to it (a broadcast) would fail,
            # and its entries would never go away
            raise NoProcessError(
                f"cannot {op} the runtime's root pid {pid!r} in {self._label()}: it stands "
                "for code outside processes and cannot receive messages. Start a process "
                f"(runtime.spawn) and {op} that one.",
                process=pid,
            )
        if alive and not pid.alive:
            raise NoProcessError(
                f"cannot {op} {describe(pid)} in {self._label()}: it is not alive "
                f"(it exited with {pid.exit_reason!r}).",
                process=pid,
            )
        return pid

    def _need_unique(self, op: str) -> None:
        if not self._unique:
            raise TypeError(
                f"{op} needs a unique registry; {self._label()} is duplicate (a key may have "
                "many processes). Use lookup(key) or dispatch(key, fn) instead."
            )

    def _label(self) -> str:
        return f"registry {self.name!r}" if self.name is not None else "the registry"

    def _on_exit(self, p: Pid, reason: Any) -> None:
        owned = self._owned.pop(p, None)
        if not owned:
            return
        gone: dict[Any, None] = {}
        for n, key in owned.items():
            entries = self._entries[key]
            del entries[n]
            if not entries:
                del self._entries[key]
            gone[key] = None
        held: BaseException | None = None
        for key in gone:  # every one, also when a subscriber of one raised (an interrupt,
            try:  # which goes on once the exit is done: Runtime._finish)
                self._announce(False, p, key, self.count(key), True)
            except BaseException as e:
                held = held or e
        if held is not None:
            raise held

    def _announce(self, added: bool, p: Pid, key: Any, left: int, exited: bool) -> None:
        data: dict[str, Any] = {"registry": self.name, "key": key}
        if exited:
            data["exited"] = True
        self.runtime._emit(EventKind.REGISTER if added else EventKind.UNREGISTER, p, data=data)


class _Topics(Registry):
    """The duplicate registry under a :class:`PubSub`; its events are subscribe/unsubscribe."""

    def __init__(self, rt: Runtime, name: str | None) -> None:
        super().__init__(rt, "duplicate", name)

    def _label(self) -> str:
        return f"pubsub {self.name!r}" if self.name is not None else "the pubsub"

    def _announce(self, added: bool, p: Pid, key: Any, left: int, exited: bool) -> None:
        data: dict[str, Any] = {"pubsub": self.name, "topic": key, "count": left}
        if exited:
            data["exited"] = True
        self.runtime._emit(EventKind.SUBSCRIBE if added else EventKind.UNSUBSCRIBE, p, data=data)


class PubSub:
    """Topics that processes subscribe to; a broadcast sends to every subscription.

    ::

        chat = PubSub(rt, name="chat")

        async def listener(proc):
            chat.subscribe("room:1")
            while True:
                print(await proc.receive())

        rt.spawn(listener)
        chat.broadcast("room:1", "hello")   # returns how many messages were sent

    Subscriptions belong to the subscribing process and vanish when it exits.
    """

    def __init__(self, rt: Runtime, name: str | None = None) -> None:
        self.runtime = rt
        self.name = name
        self._topics = _Topics(rt, name)

    def subscribe(self, topic: Hashable, pid: Pid | str | None = None) -> None:
        """Subscribe the calling process (or ``pid``); subscribing twice delivers twice."""
        # resolved here, so a refusal names what was asked (subscribe, not register)
        self._topics.register(topic, None, self._topics._who(pid, "subscribe"))

    def unsubscribe(self, topic: Hashable, pid: Pid | str | None = None) -> None:
        """Remove every subscription of the calling process (or ``pid``) to ``topic``."""
        self._topics.unregister(topic, self._topics._who(pid, "unsubscribe", alive=False))

    def broadcast(self, topic: Hashable, msg: Any) -> int:
        """Send ``msg`` to every subscription of ``topic``; returns how many were sent."""
        return self._broadcast(None, topic, msg)

    def broadcast_from(self, from_pid: Pid | None, topic: Hashable, msg: Any) -> int:
        """Like :meth:`broadcast`, skipping ``from_pid`` (usually the sender itself)."""
        return self._broadcast(from_pid, topic, msg)

    def subscribers(self, topic: Hashable) -> list[Pid]:
        """The subscribed processes, one per subscription, in subscription order."""
        return [p for p, _ in self._topics.lookup(topic)]

    def topics(self, pid: Pid | str | None = None) -> list[Any]:
        """Topics with subscribers (or, with ``pid``, that process's subscriptions)."""
        if pid is not None:
            return self._topics.keys(pid)
        return list(self._topics._entries)

    def _broadcast(self, skip: Pid | None, topic: Hashable, msg: Any) -> int:
        rt = self.runtime
        targets = [p for p, _ in self._topics.lookup(topic) if p is not skip]
        # Every subscription gets the message, also when the code run on the way (a
        # subscriber of the events, a receive predicate) raises an interrupt: it goes on
        # once all are sent (see Runtime.subscribe).
        held: BaseException | None = None
        try:
            rt._emit(
                EventKind.BROADCAST,
                rt.self(),
                data={"pubsub": self.name, "topic": topic, "count": len(targets)},
            )
        except BaseException as e:
            held = e
        send = rt.send
        for p in targets:
            try:
                send(p, msg)
            except BaseException as e:
                held = held or e
        if held is not None:
            raise held
        return len(targets)

    def __repr__(self) -> str:
        n = len(self._topics._entries)
        return f"<PubSub {self.name!r}, {n} topics, {len(self._topics)} subscriptions>"
