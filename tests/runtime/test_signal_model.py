"""Property test: links, monitors and exit signals against a small model of ERTS's rules.

Random graphs of processes (links, monitors, trap flags) and random actions
(exit signals from outside or from a process, kills, stops with any reason,
crashes, links to dead processes, demonitors, trap flag changes). After
every action the runtime must agree with the model on who is alive, each
process's exit reason, and which ``Exit``/``Down`` messages each process got.

The model (ERTS, SEMANTICS.md §10), for a signal with ``reason`` from
``sender`` to ``target``:

* ``exit(pid, "kill")`` (not a link signal): target dies ``killed``;
* target traps exits: it gets ``Exit(sender, reason)``;
* ``normal`` is ignored, unless the target sent it to itself;
* anything else: the target dies with ``reason``.

A dying process sends a link signal with its reason to each linked process,
and a ``Down`` with its reason to every live watcher; linking to a dead
process sends the linker ``noproc`` if it traps exits, and otherwise raises
``noproc`` in it (OTP's ``link/1``: uncaught here, a crash); monitoring one gives
``Down(noproc)``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from agentlab import Agent, Crash, Down, Exit, Runtime, Stop, VirtualClock

REASONS = ["normal", "kill", "shutdown", ("shutdown", "x"), "boom"]

# ---------------------------------------------------------------------------- the model


@dataclass
class Model:
    n: int
    trap: list[bool]
    alive: set[int] = field(default_factory=set)
    reason: dict[int, Any] = field(default_factory=dict)
    links: set[frozenset[int]] = field(default_factory=set)
    monitors: list[list[Any]] = field(default_factory=list)  # [watcher, target, active]
    inbox: dict[int, list[tuple]] = field(default_factory=dict)
    pending: dict[int, list[tuple]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.alive = set(range(self.n))
        self.inbox = {i: [] for i in range(self.n)}
        self.pending = {i: [] for i in range(self.n)}

    def commit(self) -> None:
        """End of an action: messages to processes that survived it get handled."""
        for i, msgs in self.pending.items():
            self.inbox[i] += msgs
            msgs.clear()

    def signal(self, target: int, sender: Any, reason: Any, link: bool) -> None:
        if target not in self.alive:
            return
        if reason == "kill" and not link:
            self.die(target, "killed")
        elif self.trap[target]:
            self.pending[target].append(("EXIT", sender, reason))
        elif reason == "normal" and sender != target:
            return
        else:
            self.die(target, reason)

    def die(self, p: int, reason: Any) -> None:
        self.alive.discard(p)
        self.reason[p] = reason
        self.pending[p].clear()  # a dead process never handles what is left in its mailbox
        mine = sorted(q for link in self.links if p in link for q in link if q != p)
        self.links = {link for link in self.links if p not in link}
        for q in mine:
            self.signal(q, p, reason, link=True)
        for m in self.monitors:
            watcher, target, active = m
            if active and target == p:
                m[2] = False
                if watcher in self.alive:
                    self.pending[watcher].append(("DOWN", p, reason))

    # actions, performed by process i unless said otherwise
    def link(self, i: int, j: int) -> None:
        if i == j:
            return
        if j not in self.alive:
            if self.trap[i]:
                self.signal(i, j, "noproc", link=True)
            else:
                self.die(i, NOPROC_CRASH)
        else:
            self.links.add(frozenset((i, j)))

    def unlink(self, i: int, j: int) -> None:
        self.links.discard(frozenset((i, j)))

    def monitor(self, i: int, j: int) -> None:
        if j not in self.alive:
            self.monitors.append([i, j, False])
            self.pending[i].append(("DOWN", j, "noproc"))
        else:
            self.monitors.append([i, j, True])

    def demonitor(self, k: int) -> None:
        self.monitors[k][2] = False


# ---------------------------------------------------------------------------- the runtime side


class Cmd:
    __slots__ = ("fn",)

    def __init__(self, fn: Any) -> None:
        self.fn = fn


class Node(Agent):
    """Records Exit/Down messages; runs ``Cmd`` functions as itself."""

    def init(self, inbox: list) -> None:
        self.inbox = inbox

    def handle_info(self, msg: Any) -> Any:
        if type(msg) is Cmd:
            return msg.fn(self)
        self.inbox.append(msg)
        return None


def crash(node: Node) -> None:
    raise ValueError("crash")


# a crash of link's noproc error (its message names the processes)
NOPROC_CRASH = ("crash", "NoProcessError", "cannot link")


def norm(reason: Any) -> Any:
    if isinstance(reason, Crash):
        if reason.type == "NoProcessError" and "cannot link to" in reason.message:
            return NOPROC_CRASH
        return ("crash", reason.type, reason.message)
    return reason


# ---------------------------------------------------------------------------- strategies

index = st.integers(0, 7)
reason = st.sampled_from(REASONS)
action = st.one_of(
    st.tuples(st.just("link"), index, index),
    st.tuples(st.just("unlink"), index, index),
    st.tuples(st.just("monitor"), index, index),
    st.tuples(st.just("demonitor"), st.integers(0, 100), st.booleans()),
    st.tuples(st.just("trap"), index, st.booleans()),
    st.tuples(st.just("exit_ext"), index, reason),
    st.tuples(st.just("exit_from"), index, index, reason),
    st.tuples(st.just("stop"), index, reason),
    st.tuples(st.just("crash"), index),
)
scenario = st.integers(2, 7).flatmap(
    lambda n: st.tuples(
        st.just(n),
        st.lists(st.booleans(), min_size=n, max_size=n),
        st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=n * 2),
        st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=n),
        st.lists(action, min_size=1, max_size=25),
    )
)


async def run(n, trap, links, monitors, actions):
    model = Model(n, list(trap))
    async with Runtime(clock=VirtualClock(), lag_threshold=None, trace_messages=False) as rt:
        boxes = [[] for _ in range(n)]
        pids = [rt.start(Node, boxes[i], trap_exit=trap[i]) for i in range(n)]
        index_of = {p: i for i, p in enumerate(pids)}
        refs: list[Any] = []

        def do(i, fn):
            rt.send(pids[i], Cmd(fn))

        def as_proc(i: int, op: str, *args: Any) -> None:
            """Run ``op`` as process i in the runtime, and in the model (if i is alive)."""
            if i not in model.alive:
                return
            if op == "link":
                do(i, lambda s, j=args[0]: s.link(pids[j]))
                model.link(i, args[0])
            elif op == "unlink":
                do(i, lambda s, j=args[0]: s.unlink(pids[j]))
                model.unlink(i, args[0])
            elif op == "monitor":
                do(i, lambda s, j=args[0]: refs.append(s.monitor(pids[j])))
                model.monitor(i, args[0])
            elif op == "demonitor":
                do(i, lambda s, k=args[0], f=args[1]: s.demonitor(refs[k], flush=f))
                model.demonitor(args[0])
            elif op == "trap":
                do(i, lambda s, f=args[0]: setattr(s, "trap_exit", f))
                model.trap[i] = args[0]
            elif op == "exit_from":
                do(i, lambda s, j=args[0], r=args[1]: s.exit(pids[j], r))
                model.signal(args[0], i, args[1], link=False)
            elif op == "stop":
                do(i, lambda s, r=args[0]: Stop(r))
                model.die(i, args[0])
            elif op == "crash":
                do(i, crash)
                model.die(i, ("crash", "ValueError", "crash"))

        for a, b in links:
            as_proc(a, "link", b)
        for a, b in monitors:
            as_proc(a, "monitor", b)
            await rt.settled()  # monitor refs are numbered in creation order
            model.commit()
        await rt.settled()
        model.commit()

        history = []
        for act in actions:
            kind, *args = act
            if kind in ("link", "unlink", "monitor", "exit_from"):
                args[0] %= n
                args[1] %= n
            if kind in ("trap", "stop", "crash", "exit_ext"):
                args[0] %= n
            if kind == "demonitor":
                if not model.monitors:
                    continue
                k = args[0] % len(model.monitors)
                as_proc(model.monitors[k][0], "demonitor", k, args[1])
            elif kind == "exit_ext":
                rt.exit(pids[args[0]], args[1])
                model.signal(args[0], "ext", args[1], link=False)
            elif kind == "exit_from":
                as_proc(args[0], "exit_from", args[1], args[2])
            elif kind in ("link", "unlink", "monitor"):
                as_proc(args[0], kind, args[1])
            elif kind == "trap":
                as_proc(args[0], "trap", args[1])
            elif kind == "stop":
                as_proc(args[0], "stop", args[1])
            elif kind == "crash":
                as_proc(args[0], "crash")
            await rt.settled()
            model.commit()
            history.append(act)
            check(model, pids, boxes, index_of, history)


def check(model, pids, boxes, index_of, history):
    def who(pid):
        return index_of.get(pid, "ext")

    alive = {i for i, p in enumerate(pids) if p.alive}
    assert alive == model.alive, history
    for i, p in enumerate(pids):
        if i not in model.alive:
            assert norm(p.exit_reason) == norm(model.reason[i]), (i, history)
    for i in range(len(pids)):
        got = []
        for m in boxes[i]:
            if type(m) is Exit:
                got.append(("EXIT", who(m.pid), norm(m.reason)))
            elif type(m) is Down:
                got.append(("DOWN", who(m.pid), norm(m.reason)))
            else:
                got.append(("OTHER", repr(m)))
        want = [(k, s, norm(r)) for k, s, r in model.inbox[i]]
        assert Counter(map(repr, got)) == Counter(map(repr, want)), (i, history)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario)
@example(case=(5, [False] * 5, [(0, 1), (1, 2)], [(2, 0)], [("crash", 1)]))
@example(case=(3, [True, False, True], [(0, 1), (1, 2)], [(2, 1)], [("exit_ext", 1, "kill")]))
def test_links_monitors_and_exit_signals_follow_erts(arun, case):
    arun(run(*case), timeout=20, collect=False)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(REASONS), min_size=1, max_size=4), st.integers(1, 6))
def test_a_chain_of_links_carries_one_reason(arun, reasons, length):
    """A crash travels down a chain of non-trapping links unchanged; ``normal`` stops at once."""

    async def main():
        async with Runtime(clock=VirtualClock(), lag_threshold=None) as rt:
            for r in reasons:
                chain = [rt.start(Node, []) for _ in range(length + 1)]
                for a, b in zip(chain, chain[1:], strict=False):
                    rt.send(a, Cmd(lambda s, b=b: s.link(b)))
                await rt.settled()
                rt.send(chain[0], Cmd(lambda s, r=r: Stop(r)))
                await rt.settled()
                assert chain[0].exit_reason == r
                if r == "normal":
                    assert all(p.alive for p in chain[1:])
                else:
                    assert [p.exit_reason for p in chain[1:]] == [r] * length
                for p in chain:
                    if p.alive:
                        rt.exit(p, "kill")

    arun(main(), collect=False)
