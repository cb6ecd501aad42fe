"""PubSub (SEMANTICS.md §13): a duplicate Registry of topics; broadcasts are plain sends.

A subscription belongs to the subscribing process and vanishes when it exits;
subscribing twice delivers twice; ``broadcast`` reaches the sender too if it
subscribed, ``broadcast_from`` skips the given process.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentlab import Agent, NoProcessError, PubSub, Runtime, VirtualClock


class Listener(Agent):
    """Records info messages; ``call(pid, fn)`` runs ``fn()`` as this process."""

    def init(self, ps=None, *topics) -> None:
        self.inbox: list = []
        for t in topics:
            ps.subscribe(t)

    def handle_info(self, msg):
        self.inbox.append(msg)

    def handle_call(self, fn, caller):
        return fn()


def listener(rt, ps=None, *topics):
    inst = Listener()
    rt.start(inst, ps, *topics)
    return inst


async def test_broadcast_reaches_every_subscriber(clock):
    async with Runtime(clock=clock) as rt:
        ps = PubSub(rt, name="chat")
        a, b = listener(rt, ps, "room"), listener(rt, ps, "room")
        c = listener(rt, ps, "other")
        assert ps.broadcast("room", "hi") == 2
        await rt.settled()
        assert a.inbox == ["hi"] and b.inbox == ["hi"] and c.inbox == []
        assert ps.subscribers("room") == [a.pid, b.pid]
        assert ps.broadcast("nobody-listens", "x") == 0


async def test_subscribing_twice_delivers_twice(clock):
    async with Runtime(clock=clock) as rt:
        ps = PubSub(rt)
        a = listener(rt, ps, "t", "t")
        assert ps.subscribers("t") == [a.pid, a.pid]
        assert ps.broadcast("t", 1) == 2
        await rt.settled()
        assert a.inbox == [1, 1]
        await rt.call(a.pid, lambda: ps.unsubscribe("t"))  # removes both
        assert ps.subscribers("t") == []


async def test_the_sender_gets_its_own_broadcast_unless_broadcast_from(clock):
    async with Runtime(clock=clock) as rt:
        ps = PubSub(rt)
        a, b = listener(rt, ps, "t"), listener(rt, ps, "t")
        assert await rt.call(a.pid, lambda: ps.broadcast("t", "all")) == 2
        assert await rt.call(a.pid, lambda: ps.broadcast_from(a.pid, "t", "others")) == 1
        await rt.settled()
        assert a.inbox == ["all"]
        assert b.inbox == ["all", "others"]
        assert ps.broadcast_from(None, "t", "x") == 2  # None skips nobody


async def test_dead_subscribers_are_removed(clock):
    async with Runtime(clock=clock) as rt:
        ps = PubSub(rt)
        a, b = listener(rt, ps, "t", "u"), listener(rt, ps, "t")
        await rt.stop(a.pid)
        assert ps.subscribers("t") == [b.pid]
        assert ps.subscribers("u") == []
        assert ps.topics() == ["t"]
        assert ps.broadcast("t", "m") == 1


async def test_unsubscribe_only_affects_the_caller(clock):
    async with Runtime(clock=clock) as rt:
        ps = PubSub(rt)
        a, b = listener(rt, ps, "t"), listener(rt, ps, "t")
        await rt.call(a.pid, lambda: ps.unsubscribe("t"))
        await rt.call(a.pid, lambda: ps.unsubscribe("t"))  # no-op
        assert ps.subscribers("t") == [b.pid]
        ps.broadcast("t", "m")
        await rt.settled()
        assert a.inbox == [] and b.inbox == ["m"]


async def test_outside_a_process_pid_is_required(clock):
    async with Runtime(clock=clock) as rt:
        ps = PubSub(rt, name="p")
        a = listener(rt)
        with pytest.raises(TypeError, match=r"pubsub 'p'\.subscribe\(\) outside any process needs pid="):
            ps.subscribe("t")
        with pytest.raises(TypeError, match=r"\.unsubscribe\(\) outside any process"):
            ps.unsubscribe("t")
        ps.subscribe("t", pid=a.pid)
        assert ps.topics(a.pid) == ["t"]
        ps.unsubscribe("t", pid=a.pid)
        assert ps.topics(a.pid) == []
        await rt.stop(a.pid)
        with pytest.raises(NoProcessError, match=r"cannot subscribe .* in pubsub 'p': it is not alive"):
            ps.subscribe("t", pid=a.pid)


async def test_the_root_pid_cannot_subscribe_so_no_broadcast_fails_half_way(clock):
    async with Runtime(clock=clock) as rt:
        ps = PubSub(rt, name="p")
        a = listener(rt, ps, "t")
        with pytest.raises(NoProcessError, match="cannot subscribe the runtime's root pid"):
            ps.subscribe("t", pid=rt.root)
        b = listener(rt, ps, "t")
        assert ps.subscribers("t") == [a.pid, b.pid]
        assert ps.broadcast("t", "hi") == 2
        await rt.settled()
        assert a.inbox == ["hi"] and b.inbox == ["hi"]


async def test_a_body_process_receives_broadcasts_in_order(clock):
    async with Runtime(clock=clock) as rt:
        ps = PubSub(rt)
        got = []

        async def body(proc):
            ps.subscribe("numbers")
            proc.send(proc.pid, "ready")
            await proc.receive(lambda m: m == "ready")
            while True:
                n = await proc.receive()
                if n is None:
                    return
                got.append(n)

        pid = rt.spawn(body)
        while not ps.subscribers("numbers"):
            await rt.sleep(0.001)
        for n in range(20):
            ps.broadcast("numbers", n)
        ps.broadcast("numbers", None)
        await rt.wait(pid)
        assert got == list(range(20))
        assert ps.subscribers("numbers") == []


async def test_events(clock):
    async with Runtime(clock=clock) as rt:
        ps = PubSub(rt, name="news")
        a = listener(rt, ps, "t")
        b = listener(rt, ps, "t")
        await rt.call(b.pid, lambda: ps.broadcast("t", "m"))
        await rt.call(a.pid, lambda: ps.unsubscribe("t"))
        rt.exit(b.pid, "kill")
        subs = [(e.pid, e.data) for e in rt.events.filter(kind="subscribe")]
        assert subs == [
            (a.pid.id, {"pubsub": "news", "topic": "t", "count": 1}),
            (b.pid.id, {"pubsub": "news", "topic": "t", "count": 2}),
        ]
        (bc,) = rt.events.filter(kind="broadcast")
        assert bc.pid == b.pid.id and bc.data == {"pubsub": "news", "topic": "t", "count": 2}
        unsubs = [(e.pid, e.data) for e in rt.events.filter(kind="unsubscribe")]
        assert unsubs == [
            (a.pid.id, {"pubsub": "news", "topic": "t", "count": 1}),
            (b.pid.id, {"pubsub": "news", "topic": "t", "count": 0, "exited": True}),
        ]
        # a pubsub's registry emits no register/unregister events of its own
        assert rt.events.filter(kind="register") == []
        assert repr(ps) == "<PubSub 'news', 0 topics, 0 subscriptions>"


# ---------------------------------------------------------------------------- against a model

N = 3
TOPICS = ["x", "y"]
op = st.one_of(
    st.tuples(st.just("subscribe"), st.integers(0, N - 1), st.sampled_from(TOPICS)),
    st.tuples(st.just("unsubscribe"), st.integers(0, N - 1), st.sampled_from(TOPICS)),
    st.tuples(st.just("exit"), st.integers(0, N - 1)),
    st.tuples(st.just("broadcast"), st.integers(-1, N - 1), st.sampled_from(TOPICS)),
    st.tuples(st.just("broadcast_from"), st.integers(0, N - 1), st.sampled_from(TOPICS)),
)


@settings(max_examples=150, deadline=None)
@given(ops=st.lists(op, max_size=40))
def test_random_sequences_deliver_what_the_model_says(arun, ops):
    async def main():
        async with Runtime(clock=VirtualClock()) as rt:
            ps = PubSub(rt)
            agents = [listener(rt) for _ in range(N)]
            pids = [a.pid for a in agents]
            subs: list[tuple[int, str]] = []  # (agent index, topic) in subscription order
            alive = [True] * N
            expected: list[list] = [[] for _ in range(N)]
            for n, o in enumerate(ops):
                kind, i = o[0], o[1]
                if kind == "subscribe":
                    if alive[i]:
                        ps.subscribe(o[2], pid=pids[i])
                        subs.append((i, o[2]))
                    else:
                        with pytest.raises(NoProcessError):
                            ps.subscribe(o[2], pid=pids[i])
                elif kind == "unsubscribe":
                    ps.unsubscribe(o[2], pid=pids[i])
                    subs = [s for s in subs if s != (i, o[2])]
                elif kind == "exit":
                    rt.exit(pids[i], "kill")
                    alive[i] = False
                    subs = [s for s in subs if s[0] != i]
                else:
                    topic = o[2]
                    msg = (n, topic)
                    skip = i if kind == "broadcast_from" else None
                    if kind == "broadcast" and i >= 0 and alive[i]:
                        # broadcast from inside subscriber i: it gets its own message too
                        sent = await rt.call(pids[i], lambda t=topic, m=msg: ps.broadcast(t, m))
                    elif kind == "broadcast":
                        sent = ps.broadcast(topic, msg)
                    else:
                        sent = ps.broadcast_from(pids[i], topic, msg)
                    targets = [j for j, t in subs if t == topic and j != skip]
                    assert sent == len(targets)
                    for j in targets:
                        expected[j].append(msg)
                for topic in TOPICS:
                    assert ps.subscribers(topic) == [pids[j] for j, t in subs if t == topic]
            await rt.settled()
            for j, a in enumerate(agents):
                if alive[j]:
                    assert a.inbox == expected[j]

    arun(main())
