"""Registry (SEMANTICS.md §12): keys owned by processes, unique or duplicate.

Differences from Elixir, by design (``agentlab._registry``): a taken unique key
raises :class:`NameTakenError`; entries of a dead process are removed as part
of its exit, so ``lookup`` never shows a dead pid; ``whereis``/``send`` stand in
for ``{:via, Registry, key}`` names.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentlab import (
    Agent,
    NameTakenError,
    NoProcessError,
    Registry,
    Runtime,
    VirtualClock,
)


class Idle(Agent):
    """An agent that records info messages; ``call(pid, fn)`` runs ``fn(self)`` as it."""

    def init(self, reg=None, key=None, value=None) -> None:
        self.inbox: list = []
        if reg is not None:
            reg.register(key, value)

    def handle_info(self, msg):
        self.inbox.append(msg)

    def handle_call(self, fn, caller):
        return fn(self)


def idle(rt, *args):
    inst = Idle()
    rt.start(inst, *args)
    return inst


async def as_(rt, agent, fn):
    """Run ``fn()`` inside ``agent``'s process (so ``rt.self()`` is that agent).

    An exception is carried back and re-raised here (the agent survives it).
    """

    def run(_self):
        try:
            return ("ok", fn())
        except Exception as e:
            return ("raised", e)

    tag, value = await rt.call(agent.pid, run)
    if tag == "raised":
        raise value
    return value


# ---------------------------------------------------------------------------- unique


async def test_register_acts_for_the_calling_process(clock):
    async with Runtime(clock=clock) as rt:
        reg = Registry(rt, keys="unique", name="workers")
        a = idle(rt, reg, "writer", {"model": "small"})
        assert reg.lookup("writer") == [(a.pid, {"model": "small"})]
        assert reg.whereis("writer") is a.pid
        assert reg.keys(a.pid) == ["writer"]
        assert "writer" in reg and "reader" not in reg
        assert reg.count() == 1 and len(reg) == 1


async def test_a_unique_key_held_by_a_live_process_cannot_be_taken(clock):
    async with Runtime(clock=clock) as rt:
        reg = Registry(rt, name="workers")
        a = idle(rt, reg, "k")
        b = idle(rt)
        with pytest.raises(NameTakenError) as ei:
            await as_(rt, b, lambda: reg.register("k"))
        assert ei.value.process is a.pid
        assert "'workers'" in str(ei.value) and "<0." in str(ei.value)
        with pytest.raises(NameTakenError):  # the holder itself, too (already_registered)
            await as_(rt, a, lambda: reg.register("k", "again"))
        assert reg.lookup("k") == [(a.pid, None)]


async def test_entries_vanish_when_the_owner_exits(clock):
    async with Runtime(clock=clock) as rt:
        reg = Registry(rt)
        a = idle(rt, reg, "k", 1)
        await as_(rt, a, lambda: reg.register("k2", 2))
        rt.exit(a.pid, "kill")
        # removed as part of the exit: no stale entry, unlike Elixir's asynchronous cleanup
        assert reg.lookup("k") == [] and reg.whereis("k") is None
        assert reg.keys(a.pid) == [] and reg.count() == 0
        b = idle(rt, reg, "k", "mine")
        assert reg.lookup("k") == [(b.pid, "mine")]


async def test_code_run_during_an_exit_sees_no_entry_of_the_dead_process(clock):
    """What runs in the middle of an exit (a ``watch`` callback, a receive predicate,
    an event subscriber) used to see the dead process's entries still there: ``lookup``
    returned the dead pid, and registering its key again (a restart on the spot) was
    refused naming the dead process as the holder."""
    async with Runtime(clock=clock) as rt:
        reg = Registry(rt, name="workers")
        a = idle(rt, reg, "k", 1)
        seen = []

        def restart(pid, reason):
            seen.append((reg.lookup("k"), reg.whereis("k"), "k" in reg, reg.count()))
            b = idle(rt)
            reg.register("k", 2, pid=b.pid)  # its key, taken again at once
            seen.append(b)

        rt.watch(a.pid, restart)
        rt.exit(a.pid, "kill")
        assert seen[0] == ([], None, False, 0)
        assert reg.lookup("k") == [(seen[1].pid, 2)]


async def test_unregister_frees_the_key(clock):
    async with Runtime(clock=clock) as rt:
        reg = Registry(rt)
        a = idle(rt, reg, "k")
        await as_(rt, a, lambda: reg.unregister("k"))
        assert reg.lookup("k") == [] and reg.keys(a.pid) == []
        await as_(rt, a, lambda: reg.unregister("k"))  # no-op
        await as_(rt, a, lambda: reg.unregister("never"))  # no-op
        b = idle(rt, reg, "k")
        assert reg.whereis("k") is b.pid
        # a process that unregistered everything has no exit hook left for this registry
        assert not (a.pid._hooks or {}).get(reg)


async def test_from_outside_a_process_pid_is_required(clock):
    async with Runtime(clock=clock) as rt:
        reg = Registry(rt, name="r")
        a = idle(rt)
        with pytest.raises(TypeError, match="pid="):
            reg.register("k")
        with pytest.raises(TypeError):
            reg.keys()
        reg.register("k", "v", pid=a.pid)
        assert reg.keys(a.pid) == ["k"]
        reg.unregister("k", pid=a.pid)
        assert reg.lookup("k") == []
        named = rt.start(Idle, name="named")
        reg.register("n", pid="named")  # a registered name works too
        assert reg.whereis("n") is named
        with pytest.raises(NoProcessError):
            reg.register("m", pid="nobody")


async def test_a_dead_pid_cannot_register(clock):
    async with Runtime(clock=clock) as rt:
        reg = Registry(rt)
        a = idle(rt)
        await rt.stop(a.pid)
        with pytest.raises(NoProcessError) as ei:
            reg.register("k", pid=a.pid)
        assert ei.value.process is a.pid
        assert reg.count() == 0


async def test_the_root_pid_cannot_register(clock):
    """The root pid stands for code outside processes: it cannot receive (send to it
    raises) and never exits, so an entry of it could neither be used nor go away."""
    async with Runtime(clock=clock) as rt:
        reg = Registry(rt, name="r")
        with pytest.raises(NoProcessError, match="root pid") as ei:
            reg.register("k", pid=rt.root)
        assert ei.value.process is rt.root
        assert reg.count() == 0 and "k" not in reg


async def test_unhashable_keys_are_rejected_before_anything_changes(clock):
    async with Runtime(clock=clock) as rt:
        reg = Registry(rt, keys="duplicate")
        a = idle(rt)
        with pytest.raises(TypeError):
            reg.register(["not", "hashable"], pid=a.pid)
        assert reg.count() == 0 and reg.keys(a.pid) == []
        assert ["x"] not in reg


async def test_send_and_whereis(clock):
    async with Runtime(clock=clock) as rt:
        reg = Registry(rt, name="r")
        a = idle(rt, reg, ("writer", 1))
        reg.send(("writer", 1), "hello")
        await rt.settled()
        assert a.inbox == ["hello"]
        with pytest.raises(NoProcessError, match="no process holds it"):
            reg.send(("writer", 2), "hello")
        assert reg.whereis(("writer", 2)) is None


async def test_update_value(clock):
    async with Runtime(clock=clock) as rt:
        reg = Registry(rt)
        a = idle(rt, reg, "k", 1)
        b = idle(rt)
        assert await as_(rt, a, lambda: reg.update_value("k", lambda v: v + 1)) == (2, 1)
        assert reg.lookup("k") == [(a.pid, 2)]
        assert await as_(rt, b, lambda: reg.update_value("k", lambda v: 0)) is None
        assert reg.update_value("missing", lambda v: 0, pid=a.pid) is None
        dup = Registry(rt, keys="duplicate")
        with pytest.raises(TypeError):
            dup.update_value("k", lambda v: v, pid=a.pid)


# ---------------------------------------------------------------------------- duplicate


async def test_duplicate_keys_keep_every_entry_in_order(clock):
    async with Runtime(clock=clock) as rt:
        reg = Registry(rt, keys="duplicate")
        a, b = idle(rt), idle(rt)
        await as_(rt, a, lambda: reg.register("topic", 1))
        await as_(rt, b, lambda: reg.register("topic", 2))
        await as_(rt, a, lambda: reg.register("topic", 3))  # same process, same key, again
        await as_(rt, a, lambda: reg.register("other", 4))
        assert reg.lookup("topic") == [(a.pid, 1), (b.pid, 2), (a.pid, 3)]
        assert reg.keys(a.pid) == ["topic", "topic", "other"]
        assert reg.count() == 4 and reg.count("topic") == 3 and reg.count("nope") == 0
        await as_(rt, a, lambda: reg.unregister("topic"))  # all of a's entries under the key
        assert reg.lookup("topic") == [(b.pid, 2)]
        assert reg.keys(a.pid) == ["other"]
        rt.exit(b.pid, "kill")
        assert reg.lookup("topic") == [] and "topic" not in reg


async def test_duplicate_registries_have_no_via_names(clock):
    async with Runtime(clock=clock) as rt:
        reg = Registry(rt, keys="duplicate", name="d")
        with pytest.raises(TypeError, match="unique"):
            reg.whereis("k")
        with pytest.raises(TypeError, match="^send needs a unique registry"):
            reg.send("k", "m")  # the error used to name whereis


async def test_bad_keys_mode():
    async with Runtime(clock=VirtualClock()) as rt:
        with pytest.raises(ValueError):
            Registry(rt, keys="many")  # type: ignore[arg-type]


async def test_dispatch_match_select(clock):
    async with Runtime(clock=clock) as rt:
        reg = Registry(rt, keys="duplicate")
        a, b = idle(rt), idle(rt)
        reg.register("critic", {"t": 0.2}, pid=a.pid)
        reg.register("critic", {"t": 0.9}, pid=b.pid)
        reg.register("writer", {"t": 0.5}, pid=b.pid)
        seen = []
        reg.dispatch("critic", seen.append)
        assert seen == [[(a.pid, {"t": 0.2}), (b.pid, {"t": 0.9})]]
        reg.dispatch("nobody", seen.append)  # not called without entries
        assert len(seen) == 1

        reg.dispatch("critic", lambda entries: [rt.send(p, ("review", v["t"])) for p, v in entries])
        await rt.settled()
        assert a.inbox == [("review", 0.2)] and b.inbox == [("review", 0.9)]

        assert reg.match("critic", lambda v: v["t"] > 0.5) == [(b.pid, {"t": 0.9})]
        assert reg.select(lambda k, p, v: p is b.pid) == [
            ("critic", b.pid, {"t": 0.9}),
            ("writer", b.pid, {"t": 0.5}),
        ]
        assert len(reg.select()) == 3


# ---------------------------------------------------------------------------- agents, events


async def test_an_agent_registers_in_init_and_its_restart_can_register_again(clock):
    async with Runtime(clock=clock) as rt:
        reg = Registry(rt)
        a = idle(rt, reg, "svc")
        rt.cast(a.pid, "no handle_cast: crash")
        await rt.settled()
        assert not a.pid.alive and reg.whereis("svc") is None
        b = idle(rt, reg, "svc")
        assert reg.whereis("svc") is b.pid


async def test_events(clock):
    async with Runtime(clock=clock) as rt:
        reg = Registry(rt, keys="duplicate", name="r")
        a = idle(rt)
        reg.register("k", pid=a.pid)
        reg.register("k", pid=a.pid)
        reg.register("j", pid=a.pid)
        reg.unregister("k", pid=a.pid)
        reg.unregister("k", pid=a.pid)  # nothing to remove: no event
        rt.exit(a.pid, "kill")
        regs = [e.data for e in rt.events.filter(kind="register", pid=a.pid.id)]
        unregs = [e.data for e in rt.events.filter(kind="unregister", pid=a.pid.id)]
        assert regs == [{"registry": "r", "key": "k"}] * 2 + [{"registry": "r", "key": "j"}]
        assert unregs == [
            {"registry": "r", "key": "k"},
            {"registry": "r", "key": "j", "exited": True},
        ]


async def test_repr(clock):
    async with Runtime(clock=clock) as rt:
        reg = Registry(rt, keys="duplicate", name="r")
        assert repr(reg) == "<Registry 'r' duplicate, 0 entries>"


# ---------------------------------------------------------------------------- against a model

KEYS = ["a", "b", "c"]
N_PROCS = 4

op = st.one_of(
    st.tuples(
        st.just("register"), st.integers(0, N_PROCS - 1), st.sampled_from(KEYS), st.integers(0, 9)
    ),
    st.tuples(st.just("unregister"), st.integers(0, N_PROCS - 1), st.sampled_from(KEYS)),
    st.tuples(
        st.just("exit"),
        st.integers(0, N_PROCS - 1),
        st.sampled_from(["kill", "shutdown", "normal"]),
    ),
    st.tuples(st.just("update"), st.integers(0, N_PROCS - 1), st.sampled_from(KEYS)),
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(mode=st.sampled_from(["unique", "duplicate"]), ops=st.lists(op, max_size=40))
def test_random_sequences_match_a_model(arun, mode, ops):
    async def main():
        async with Runtime(clock=VirtualClock()) as rt:
            reg = Registry(rt, keys=mode)
            procs = [idle(rt).pid for _ in range(N_PROCS)]
            model: list[list] = []  # [key, proc index, value] in registration order
            alive = [True] * N_PROCS
            registered = 0
            for o in ops:
                kind, i = o[0], o[1]
                pid = procs[i]
                if kind == "register":
                    _, _, key, value = o
                    if not alive[i]:
                        with pytest.raises(NoProcessError):
                            reg.register(key, value, pid=pid)
                    elif mode == "unique" and any(k == key for k, _, _ in model):
                        with pytest.raises(NameTakenError):
                            reg.register(key, value, pid=pid)
                    else:
                        reg.register(key, value, pid=pid)
                        model.append([key, i, value])
                        registered += 1
                elif kind == "unregister":
                    key = o[2]
                    reg.unregister(key, pid=pid)
                    model = [e for e in model if not (e[0] == key and e[1] == i)]
                elif kind == "exit":
                    rt.exit(pid, o[2])  # "normal" from outside is ignored, as in OTP
                    if o[2] != "normal":
                        alive[i] = False
                        model = [e for e in model if e[1] != i]
                elif mode == "unique":
                    key = o[2]
                    out = reg.update_value(key, lambda v: v + 100, pid=pid)
                    mine = [e for e in model if e[0] == key and e[1] == i]
                    if mine:
                        assert out == (mine[0][2] + 100, mine[0][2])
                        mine[0][2] += 100
                    else:
                        assert out is None
                # the registry agrees with the model after every step
                for key in KEYS:
                    expected = [(procs[j], v) for k, j, v in model if k == key]
                    assert reg.lookup(key) == expected
                    assert reg.count(key) == len(expected)
                    if mode == "unique":
                        assert reg.whereis(key) == (expected[0][0] if expected else None)
                for j, p in enumerate(procs):
                    assert reg.keys(p) == [k for k, jj, _ in model if jj == j]
                    assert p.alive == alive[j]
                assert reg.count() == len(model)
                assert all(p.alive for _, p, _ in reg.select())
            assert len(rt.events.filter(kind="register")) == registered

    arun(main())
