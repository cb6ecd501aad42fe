"""Links, exit signals and monitors, following ERTS's rules (SEMANTICS.md §10).

Receiver not trapping: ``normal`` is ignored, any other reason kills it with
that reason. Receiver trapping: the signal becomes an :class:`agentlab.Exit`
message. ``exit(pid, "kill")`` cannot be trapped and the victim exits
``killed``. Monitors deliver one :class:`agentlab.Down`; monitoring a dead
process gives ``noproc`` at once.
"""

from __future__ import annotations

import asyncio

import pytest

from agentlab import (
    Agent,
    CalleeExited,
    Crash,
    Down,
    Exit,
    NoProcessError,
    ReceiveTimeout,
    Runtime,
    StartError,
)


class Probe(Agent):
    """Records every info message; ``call(pid, fn)`` runs ``fn(self)`` as this process."""

    def init(self) -> None:
        self.inbox: list = []

    def handle_info(self, msg):
        self.inbox.append(msg)

    def handle_call(self, fn, caller):
        return fn(self)


def probe(rt, *, trap=False, name=None):
    inst = Probe()
    rt.start(inst, trap_exit=trap, name=name)
    return inst


async def idle_body(proc):
    await proc.receive(lambda m: m == "never")


# ---------------------------------------------------------------------------- links


async def test_a_crash_kills_linked_processes_with_the_same_reason(clock):
    async with Runtime(clock=clock) as rt:
        a, b, c = probe(rt), probe(rt), probe(rt)
        await rt.call(a.pid, lambda s: s.link(b.pid))
        await rt.call(b.pid, lambda s: s.link(c.pid))
        rt.cast(a.pid, "x")  # Probe has no handle_cast: NotImplementedError escapes, a crash
        await rt.settled()
        reason = a.pid.exit_reason
        assert isinstance(reason, Crash) and reason.type == "NotImplementedError"
        assert b.pid.exit_reason == reason
        assert c.pid.exit_reason == reason
        assert rt.processes() == []


async def test_links_are_bidirectional(clock):
    async with Runtime(clock=clock) as rt:
        a, b = probe(rt), probe(rt)
        await rt.call(a.pid, lambda s: s.link(b.pid))
        rt.exit(b.pid, "boom")  # the one that did not call link dies ...
        assert a.pid.exit_reason == "boom"  # ... and takes the linker with it


async def test_one_link_two_links_and_back_signal_the_right_processes(clock):
    # A process's only link is kept as the Pid itself, two or more as a set (fewer
    # objects for the garbage collector): linking, relinking and unlinking across
    # that boundary must still signal exactly the processes linked at the end.
    async with Runtime(clock=clock) as rt:
        a, b = probe(rt), probe(rt)
        c, d = probe(rt, trap=True), probe(rt, trap=True)
        await rt.call(a.pid, lambda s: s.link(b.pid))
        assert a.pid._links is b.pid and b.pid._links is a.pid  # one link: no set
        await rt.call(a.pid, lambda s: s.link(b.pid))  # again: nothing changes
        assert a.pid._links is b.pid
        await rt.call(a.pid, lambda s: s.link(c.pid))
        assert a.pid._links == {b.pid, c.pid}
        await rt.call(a.pid, lambda s: s.unlink(b.pid))
        assert b.pid._links is None
        await rt.call(d.pid, lambda s: s.link(a.pid))
        await rt.call(a.pid, lambda s: s.unlink(c.pid))
        await rt.call(a.pid, lambda s: s.unlink(c.pid))  # not linked: nothing happens
        await rt.call(c.pid, lambda s: s.link(b.pid))
        assert c.pid._links is b.pid and b.pid._links is c.pid
        rt.exit(a.pid, "boom")
        await rt.settled()
        assert d.inbox == [Exit(a.pid, "boom")]
        assert b.inbox == [] and c.inbox == []
        assert d.pid._links is None
        rt.exit(b.pid, "bang")
        await rt.settled()
        assert c.inbox == [Exit(b.pid, "bang")]
        assert c.pid._links is None


async def test_normal_exit_is_ignored_by_non_trapping_links(clock):
    async with Runtime(clock=clock) as rt:
        a = probe(rt)

        async def body(proc):
            proc.link(a.pid)

        pid = rt.spawn(body)
        assert await rt.wait(pid) == "normal"
        await rt.settled()
        assert a.pid.alive
        assert a.inbox == []


async def test_trapping_turns_signals_into_exit_messages(clock):
    async with Runtime(clock=clock) as rt:
        t = probe(rt, trap=True)
        reasons = ["normal", "boom", "shutdown", ("shutdown", "reconf"), "kill"]
        pids = []
        for r in reasons:

            async def body(proc, reason=r):
                proc.link(t.pid)
                proc.exit(reason)

            pids.append(rt.spawn(body))
        for p in pids:
            await rt.wait(p)
        await rt.settled()
        assert t.pid.alive
        # an exiting process's own "kill" reason is an ordinary, trappable link signal
        assert t.inbox == [Exit(p, r) for p, r in zip(pids, reasons, strict=True)]
        assert all(type(m) is Exit for m in t.inbox)


@pytest.mark.parametrize("reason", ["shutdown", ("shutdown", "bye"), "boom", "kill"])
async def test_non_normal_link_signals_kill_non_trapping_processes(clock, reason):
    async with Runtime(clock=clock) as rt:
        a = probe(rt)

        async def body(proc):
            proc.link(a.pid)
            await proc.receive()
            proc.exit(reason)

        pid = rt.spawn(body)
        await rt.settled()
        rt.send(pid, "go")
        await rt.wait(pid)
        # a link signal carries the reason as is (even "kill": only exit/2 converts it)
        assert a.pid.exit_reason == reason
        assert not a.pid.alive


async def test_exit_signal_from_outside(clock):
    async with Runtime(clock=clock) as rt:
        plain, trap = probe(rt), probe(rt, trap=True)
        rt.exit(plain.pid, "normal")
        assert plain.pid.alive  # normal is ignored when not trapping
        rt.exit(trap.pid, "normal")
        rt.exit(trap.pid, "shutdown")
        await rt.settled()
        assert trap.pid.alive
        assert [m.reason for m in trap.inbox] == ["normal", "shutdown"]
        rt.exit(plain.pid, ("shutdown", 1))
        assert plain.pid.exit_reason == ("shutdown", 1)


async def test_kill_cannot_be_trapped_and_links_see_killed(clock):
    async with Runtime(clock=clock) as rt:
        victim = probe(rt, trap=True)
        watcher = probe(rt, trap=True)
        bystander = probe(rt)
        await rt.call(victim.pid, lambda s: s.link(watcher.pid))
        await rt.call(victim.pid, lambda s: s.link(bystander.pid))
        rt.exit(victim.pid, "kill")
        assert victim.pid.exit_reason == "killed"
        assert victim.inbox == []  # no Exit message: it could not trap it
        assert bystander.pid.exit_reason == "killed"
        await rt.settled()
        assert watcher.inbox == [Exit(victim.pid, "killed")]


async def test_exit_from_a_process_names_it_as_the_sender(clock):
    async with Runtime(clock=clock) as rt:
        t = probe(rt, trap=True)
        sender = probe(rt)
        await rt.call(sender.pid, lambda s: s.exit(t.pid, "go away"))
        await rt.settled()
        assert t.inbox == [Exit(sender.pid, "go away")]
        assert sender.pid.alive


async def test_exit_self_normal_kills_a_non_trapping_process(clock):
    async with Runtime(clock=clock) as rt:

        async def body(proc):
            proc.exit(proc.pid, "normal")  # OTP: exit(self(), normal) terminates the caller
            await proc.receive()

        pid = rt.spawn(body)
        assert await rt.wait(pid) == "normal"


async def test_link_to_a_dead_process_gives_noproc(clock):
    async with Runtime(clock=clock) as rt:
        dead = rt.spawn(lambda proc: None)
        await rt.wait(dead)
        t = probe(rt, trap=True)
        await rt.call(t.pid, lambda s: s.link(dead))
        await rt.settled()
        assert t.inbox == [Exit(dead, "noproc")]

        plain = probe(rt)
        with pytest.raises(CalleeExited) as ei:
            await rt.call(plain.pid, lambda s: s.link(dead))
        # not trapping: link raises noproc in the linker (OTP's link/1); uncaught, a crash
        reason = ei.value.reason
        assert isinstance(reason, Crash) and reason.type == "NoProcessError"
        assert reason.exception.process is dead and "not alive" in reason.message


async def test_link_to_a_dead_process_raises_noproc_in_a_non_trapping_linker(clock):
    """OTP 25's ``link/1`` to a dead pid, not trapping exits: ``catch link(Dead)`` gives
    ``{'EXIT', {noproc, _}}`` and the caller lives on (checked on OTP 25). It used to be
    killed by an exit signal ``noproc`` that it could not catch."""
    async with Runtime(clock=clock) as rt:
        dead = rt.spawn(lambda proc: None)
        await rt.wait(dead)
        seen = []

        async def body(proc):
            try:
                proc.link(dead)
            except NoProcessError as e:
                seen.append(e.process)
            seen.append(await proc.receive())

        pid = rt.spawn(body)
        await rt.settled()
        assert pid.alive and seen == [dead]
        rt.send(pid, "still here")
        assert await rt.wait(pid) == "normal" and seen == [dead, "still here"]


async def test_unlink_removes_the_link_both_ways(clock):
    async with Runtime(clock=clock) as rt:
        a, b = probe(rt), probe(rt)
        await rt.call(a.pid, lambda s: s.link(b.pid))
        await rt.call(b.pid, lambda s: s.unlink(a.pid))
        rt.exit(a.pid, "boom")
        assert b.pid.alive
        rt.exit(b.pid, "boom")
        assert b.pid.exit_reason == "boom"


async def test_linking_twice_or_to_self_is_harmless(clock):
    async with Runtime(clock=clock) as rt:
        t = probe(rt, trap=True)
        a = probe(rt)
        await rt.call(a.pid, lambda s: s.link(t.pid))
        await rt.call(a.pid, lambda s: s.link(t.pid))
        await rt.call(a.pid, lambda s: s.link(s.pid))
        rt.exit(a.pid, "boom")
        await rt.settled()
        assert t.inbox == [Exit(a.pid, "boom")]  # one link, one signal


async def test_spawn_link_links_to_the_calling_process(clock):
    async with Runtime(clock=clock) as rt:
        t = probe(rt, trap=True)
        child = await rt.call(t.pid, lambda s: s.spawn_link(idle_body))
        rt.exit(child, "boom")
        await rt.settled()
        assert t.inbox == [Exit(child, "boom")]

        parent_box = {}

        async def parent(proc):
            parent_box["child"] = proc.spawn(idle_body, link=True)
            await proc.receive()

        p = rt.spawn(parent)
        await rt.settled()
        rt.exit(p, "boom")
        await rt.settled()
        assert parent_box["child"].exit_reason == "boom"


async def test_trap_exit_can_be_switched_at_run_time(clock):
    async with Runtime(clock=clock) as rt:
        got = []

        async def body(proc):
            proc.trap_exit = True
            got.append(proc.trap_exit)
            got.append(await proc.receive())
            proc.trap_exit = False
            await proc.receive()

        pid = rt.spawn(body)
        await rt.settled()
        assert pid.trap_exit
        rt.exit(pid, "first")
        await rt.settled()
        rt.exit(pid, "second")
        assert await rt.wait(pid) == "second"
        assert got[0] is True
        assert type(got[1]) is Exit and got[1].reason == "first"


# ---------------------------------------------------------------------------- killed by its own call
# A process's own call can kill it: an exit signal to itself or to a process it is
# linked to, a stop of itself. OTP: a dead process executes
# nothing more. Its code stops in that call (CancelledError, which the runtime takes
# as the end of a process that has already exited): nothing it would send after that
# is delivered, terminate does not run, and it exits once.


class Sink(Agent):
    def init(self, got):
        self.got = got

    def handle_info(self, msg):
        self.got.append(msg)

    def handle_cast(self, msg):
        self.got.append(("cast", msg))


KILLS = {
    "exit_linked": "boom",  # exit(B, "boom") to a linked B: B's link signal kills the caller
    "kill_self": "killed",
    "exit_self": "bye",
}


def kill_me(rt, proc, how, partner, dead):
    """Do ``how`` as ``proc`` (a Process or an Agent: both act as their process)."""
    if how == "exit_linked":
        proc.link(partner)
        proc.exit(partner, "boom")
    elif how == "kill_self":
        rt.exit(proc.pid, "kill")
    else:
        proc.exit(proc.pid, "bye")


class Doomed(Agent):
    """On a cast, does what kills it, then goes on as if nothing happened."""

    def init(self, how, partner, dead, sink, log):
        self.how, self.partner, self.dead, self.sink, self.log = how, partner, dead, sink, log

    def handle_cast(self, msg):
        kill_me(self.runtime, self, self.how, self.partner, self.dead)
        self.log.append("ran on")
        self.send(self.sink, "sent by a dead process")
        self.cast(self.sink, "cast by a dead process")

    def terminate(self, reason):
        self.log.append(("terminate", reason))


class AsyncDoomed(Doomed):
    async def handle_cast(self, msg):
        Doomed.handle_cast(self, msg)
        await self.sleep(0.01)
        self.log.append("ran on after a wait")
        self.send(self.sink, "sent after a wait")


async def doomed_body(proc, how, partner, dead, sink, log):
    kill_me(proc.runtime, proc, how, partner, dead)
    log.append("ran on")
    proc.send(sink, "sent by a dead process")
    await proc.sleep(0.01)
    log.append("ran on after a wait")
    proc.send(sink, "sent after a wait")


@pytest.mark.parametrize("kind", ["body", "async_handler", "inline_handler"])
@pytest.mark.parametrize("how", list(KILLS))
async def test_a_process_its_own_call_kills_runs_no_more_code(clock, how, kind):
    async with Runtime(clock=clock) as rt:
        got: list = []
        sink = rt.start(Sink, got)
        partner = rt.spawn(idle_body)
        dead = rt.spawn(lambda proc: None)
        await rt.wait(dead)
        log: list = []
        args = (how, partner, dead, sink, log)
        if kind == "body":
            pid = rt.spawn(doomed_body, *args)
        else:
            pid = rt.start(AsyncDoomed if kind == "async_handler" else Doomed, *args)
            bystander: list = []
            other = rt.start(Sink, bystander)
            rt.cast(pid, "go")
            rt.send(other, "queued behind it")  # the same scheduler pass goes on
        assert await rt.wait(pid, 5) == KILLS[how]
        await rt.sleep(0.05)
        assert log == []  # not even terminate: an untrapped exit signal skips it
        assert got == []
        assert len(rt.events.filter(kind="exit", pid=pid.id)) == 1
        if kind != "body":
            assert bystander == ["queued behind it"]
        assert sink.alive


async def test_a_process_that_stops_itself_crashes_with_calling_self(clock):
    """stop on itself is refused (CallError calling_self, as OTP's gen_server:stop(self())):
    uncaught, it ends the process as any exception does, and no more of its code runs."""
    async with Runtime(clock=clock) as rt:
        log = []

        async def body(proc):
            await proc.runtime.stop(proc.pid, "bye")
            log.append("ran on")

        pid = rt.spawn(body)
        reason = await rt.wait(pid)
        assert isinstance(reason, Crash) and reason.type == "CallError"
        assert reason.exception.reason == "calling_self"
        await rt.sleep(0.01)
        assert log == []


async def test_a_dead_process_that_catches_its_end_cannot_wait_on_the_runtime(clock):
    async with Runtime(clock=clock) as rt:
        seen = []

        async def body(proc):
            try:
                proc.exit(proc.pid, "kill")
            except asyncio.CancelledError:
                seen.append("caught")  # swallowed: a bug, but the process is still dead
            try:
                await proc.sleep(0.01)
            except asyncio.CancelledError as e:
                seen.append(str(e))
                raise
            seen.append("slept")

        pid = rt.spawn(body)
        assert await rt.wait(pid) == "killed"
        await rt.sleep(0.02)
        assert seen[0] == "caught"
        assert "a dead process runs no more code" in seen[1] and len(seen) == 2


async def test_an_init_whose_link_to_a_dead_process_raises_fails_the_start(clock):
    async with Runtime(clock=clock) as rt:
        dead = rt.spawn(lambda proc: None)
        await rt.wait(dead)
        after = []

        class LinksToTheDead(Agent):
            def init(self):
                self.link(dead)
                after.append("ran on")

        with pytest.raises(StartError) as ei:
            rt.start(LinksToTheDead)  # link raises noproc in init (OTP's link/1)
        reason = ei.value.reason
        assert isinstance(reason, Crash) and reason.type == "NoProcessError"
        assert after == []
        assert ei.value.process.exit_reason == reason


# ---------------------------------------------------------------------------- monitors


async def test_monitor_delivers_down_with_the_reason(clock):
    async with Runtime(clock=clock) as rt:
        w = probe(rt)
        target = rt.spawn(idle_body)
        ref = await rt.call(w.pid, lambda s: s.monitor(target))
        rt.exit(target, ("shutdown", "x"))
        await rt.settled()
        assert len(w.inbox) == 1
        down = w.inbox[0]
        assert type(down) is Down
        assert down.ref is ref and down.pid is target and down.reason == ("shutdown", "x")
        assert w.pid.alive  # monitors never kill the watcher


async def test_monitor_of_normal_exit_and_of_kill(clock):
    async with Runtime(clock=clock) as rt:
        w = probe(rt)
        t1 = rt.spawn(idle_body)
        t2 = rt.spawn(idle_body)
        await rt.call(w.pid, lambda s: s.monitor(t1))
        await rt.call(w.pid, lambda s: s.monitor(t2))
        rt.send(t1, "never")
        await rt.wait(t1)
        rt.exit(t2, "kill")
        await rt.settled()
        assert [(d.pid, d.reason) for d in w.inbox] == [(t1, "normal"), (t2, "killed")]


async def test_monitoring_a_dead_or_unknown_process_gives_noproc(clock):
    async with Runtime(clock=clock) as rt:
        dead = rt.spawn(lambda proc: None)
        await rt.wait(dead)
        w = probe(rt)
        await rt.call(w.pid, lambda s: s.monitor(dead))
        await rt.call(w.pid, lambda s: s.monitor("nobody"))
        await rt.settled()
        assert [d.reason for d in w.inbox] == ["noproc", "noproc"]
        assert w.inbox[0].pid is dead and w.inbox[0].object is dead
        # by a name nobody holds: OTP's {'DOWN', Ref, process, {nobody, Node}, noproc}
        assert (w.inbox[1].object, w.inbox[1].pid) == ("nobody", None)


@pytest.mark.parametrize("subscribed", [False, True])
async def test_the_events_of_a_monitor_by_name_say_the_name(clock, subscribed):
    # a name nobody held has no process: no peer (not the placeholder pid <0.-1.0>), and
    # the name in the data, as Down.object has it; a monitor of a pid is as it was
    async with Runtime(clock=clock) as rt:
        seen = []
        if subscribed:  # the events a per-event subscriber gets (Runtime._emit's path)
            rt.subscribe(lambda e: seen.append(e) if e.kind in ("monitor", "down") else None)
        w = probe(rt)
        target = rt.spawn(idle_body, name="svc")
        await rt.call(w.pid, lambda s: s.monitor("nobody"))
        await rt.call(w.pid, lambda s: s.monitor("svc"))
        await rt.call(w.pid, lambda s: s.monitor(target))
        rt.exit(target, "boom")
        await rt.settled()
        assert [(d.object, d.pid, d.reason) for d in w.inbox] == [
            ("nobody", None, "noproc"), ("svc", target, "boom"), (target, target, "boom")]
        events = [e for e in rt.events if e.kind in ("monitor", "down")]
        assert [(e.kind, e.pid, e.peer, e.reason, e.data) for e in events] == [
            ("monitor", w.pid.id, None, None, {"name": "nobody"}),
            ("down", w.pid.id, None, "noproc", {"name": "nobody"}),
            ("monitor", w.pid.id, target.id, None, {"name": "svc"}),
            ("monitor", w.pid.id, target.id, None, None),
            ("down", w.pid.id, target.id, "boom", {"name": "svc"}),
            ("down", w.pid.id, target.id, "boom", None),
        ]
        assert "0.-1.0" not in " ".join(map(repr, events))
        if subscribed:
            assert seen == events


async def test_monitors_are_one_way_and_stack(clock):
    async with Runtime(clock=clock) as rt:
        w = probe(rt)
        target = probe(rt)
        await rt.call(w.pid, lambda s: s.monitor(target.pid))
        await rt.call(w.pid, lambda s: s.monitor(target.pid))
        rt.exit(w.pid, "boom")
        assert target.pid.alive  # the watcher's death does not touch the target

        w2 = probe(rt)
        await rt.call(w2.pid, lambda s: s.monitor(target.pid))
        await rt.call(w2.pid, lambda s: s.monitor(target.pid))
        rt.exit(target.pid, "bye")
        await rt.settled()
        assert [d.reason for d in w2.inbox] == ["bye", "bye"]  # one Down per monitor
        assert w2.inbox[0].ref is not w2.inbox[1].ref


async def test_monitor_by_name(clock):
    async with Runtime(clock=clock) as rt:
        w = probe(rt)
        target = rt.spawn(idle_body, name="svc")
        await rt.call(w.pid, lambda s: s.monitor("svc"))
        rt.exit("svc", "boom")
        await rt.settled()
        assert [(d.pid, d.reason) for d in w.inbox] == [(target, "boom")]
        assert w.inbox[0].object == "svc"  # what was monitored, as OTP's DOWN says it
        assert repr(w.inbox[0]) == "Down('svc', 'boom')"


# What OTP 25's DOWN messages carry for monitors by name, by pid, of a name nobody
# holds, and of a name that moved to another process (the monitor stays with the
# process that held it). The same story runs on agentlab; ERLANG prints one line per
# DOWN the way monitor_story() below does.
ERLANG = r"""
Show = fun({N, Node}, X) when Node =:= node() -> io:format("name ~s ~s~n", [N, X]);
          (P, X) when is_pid(P) -> io:format("pid ~s~n", [X]) end,
P = spawn(fun() -> receive go -> exit(boom) end end),
register(worker, P),
R1 = erlang:monitor(process, worker),
R2 = erlang:monitor(process, P),
P ! go,
receive {'DOWN', R1, process, O1, X1} -> Show(O1, X1) end,
receive {'DOWN', R2, process, O2, X2} -> Show(O2, X2) end,
R3 = erlang:monitor(process, nobody),
receive {'DOWN', R3, process, O3, X3} -> Show(O3, X3) end,
A = spawn(fun() -> receive _ -> ok end end),
register(moving, A),
R4 = erlang:monitor(process, moving),
unregister(moving),
B = spawn(fun() -> receive _ -> ok end end),
register(moving, B),
exit(A, shutdown),
receive {'DOWN', R4, process, O4, X4} -> Show(O4, X4) end,
exit(B, kill),
receive {'DOWN', R4, _, _, _} -> io:format("again~n") after 100 -> io:format("none~n") end,
init:stop().
"""


def erlang_monitor_story() -> list[str]:
    import shutil
    import subprocess

    erl = shutil.which("erl")
    if erl is None:
        pytest.skip("needs Erlang/OTP (erl) on PATH")
    out = subprocess.run(
        [erl, "-noshell", "-eval", ERLANG], capture_output=True, text=True, timeout=60, check=True
    )
    return out.stdout.splitlines()


async def monitor_story(rt: Runtime) -> list[str]:
    lines: list[str] = []
    pids: dict[str, object] = {}

    def show(d: Down) -> None:
        if isinstance(d.object, str):
            lines.append(f"name {d.object} {d.reason}")
            assert d.pid is pids.get(d.object), (d.pid, pids)  # the process that held it
        else:
            lines.append(f"pid {d.reason}")
            assert d.object is d.pid

    async def worker(proc):
        await proc.receive()
        proc.exit("boom")

    async def story(proc):
        pids["worker"] = p = rt.spawn(worker, name="worker")
        r1 = proc.monitor("worker")
        r2 = proc.monitor(p)
        proc.send(p, "go")
        show(await proc.receive(lambda m: isinstance(m, Down) and m.ref is r1))
        show(await proc.receive(lambda m: isinstance(m, Down) and m.ref is r2))
        r3 = proc.monitor("nobody")
        show(await proc.receive(lambda m: isinstance(m, Down) and m.ref is r3))
        pids["moving"] = rt.spawn(idle_body, name="moving")
        r4 = proc.monitor("moving")
        # the name moves: its holder loses it at once and gets the exit signal shutdown
        b = rt.spawn(idle_body, name="moving", replace=True)
        show(await proc.receive(lambda m: isinstance(m, Down) and m.ref is r4))
        rt.exit(b, "kill")
        try:
            await proc.receive(lambda m: isinstance(m, Down) and m.ref is r4, timeout=0.1)
            lines.append("again")
        except ReceiveTimeout:
            lines.append("none")

    assert await rt.wait(rt.spawn(story)) == "normal"
    return lines


async def test_a_down_of_a_monitor_by_name_names_what_was_monitored_as_otp_does(clock):
    """OTP's DOWN for ``monitor(process, Name)`` carries ``{Name, Node}``, not the pid,
    also for a name nobody holds (reason noproc): agentlab's Down has the name as its
    ``object`` (its ``pid`` is the process that held the name, or None)."""
    expected = erlang_monitor_story()
    assert expected == [
        "name worker boom",
        "pid boom",
        "name nobody noproc",
        "name moving shutdown",
        "none",
    ]
    async with Runtime(clock=clock) as rt:
        assert await monitor_story(rt) == expected


async def test_demonitor_stops_the_down(clock):
    async with Runtime(clock=clock) as rt:
        w = probe(rt)
        target = rt.spawn(idle_body)
        ref = await rt.call(w.pid, lambda s: s.monitor(target))
        await rt.call(w.pid, lambda s: s.demonitor(ref))
        rt.exit(target, "boom")
        await rt.settled()
        assert w.inbox == []


async def test_demonitor_flush_removes_a_pending_down(clock):
    async with Runtime(clock=clock) as rt:
        got = []

        async def body(proc):
            target = proc.spawn(idle_body)
            keep = proc.spawn(idle_body)
            ref = proc.monitor(target)
            ref2 = proc.monitor(keep)
            proc.exit(target, "boom")
            proc.exit(keep, "boom")
            proc.send(proc.pid, "after")
            assert proc.pid.mailbox_size == 3  # both Downs are already queued
            proc.demonitor(ref, flush=True)
            got.append(proc.pid.mailbox_size)
            got.append(await proc.receive())
            got.append(await proc.receive())
            proc.demonitor(ref2, flush=True)  # already fired: harmless

        await rt.wait(rt.spawn(body))
        assert got[0] == 2
        assert type(got[1]) is Down and got[1].reason == "boom"
        assert got[2] == "after"


async def test_demonitor_without_flush_leaves_a_delivered_down(clock):
    async with Runtime(clock=clock) as rt:
        got = []

        async def body(proc):
            target = proc.spawn(idle_body)
            ref = proc.monitor(target)
            proc.exit(target, "boom")
            proc.demonitor(ref)
            got.append(await proc.receive(timeout=1))

        await rt.wait(rt.spawn(body))
        assert type(got[0]) is Down


async def test_a_watch_callback_that_raises_does_not_cut_the_exit_short(clock, caplog):
    # the callback runs inside the watched process's exit: when it raised, the rest of
    # the exit was skipped (later watchers, registered names, links)
    async with Runtime(clock=clock) as rt:
        seen = []

        def bad(p, r):
            raise ValueError("a widget's bug")

        pid = rt.spawn(idle_body, name="watched")
        rt.watch(pid, bad)
        rt.watch(pid, lambda p, r: seen.append(r))
        with caplog.at_level("ERROR", logger="agentlab"):
            rt.exit(pid, "boom")
        assert seen == ["boom"]
        assert rt.whereis("watched") is None
        assert "watch callback" in caplog.text and "a widget's bug" in caplog.text
        again = rt.spawn(idle_body, name="watched")  # the name is free again
        assert rt.whereis("watched") is again


async def test_watch_and_wait_from_outside(clock):
    async with Runtime(clock=clock) as rt:
        seen = []
        pid = rt.spawn(idle_body)
        remove = rt.watch(pid, lambda p, r: seen.append((p, r)))
        pid2 = rt.spawn(idle_body)
        remove2 = rt.watch(pid2, lambda p, r: seen.append((p, r)))
        remove2()
        rt.exit(pid, "boom")
        rt.exit(pid2, "boom")
        assert seen == [(pid, "boom")]
        rt.watch(pid, lambda p, r: seen.append(("late", r)))
        assert seen[-1] == ("late", "boom")  # an already dead target reports at once
        remove()
        assert await rt.wait(pid) == "boom"
        assert await rt.wait("nobody") == "noproc"


async def test_watch_takes_a_name_and_refuses_what_it_cannot_watch(clock):
    """``watch`` used to fail with AttributeError on a name, and to accept the root pid
    (which never exits: the callback could never run)."""
    async with Runtime(clock=clock) as rt:
        seen = []
        pid = rt.spawn(idle_body, name="named")
        rt.watch("named", lambda p, r: seen.append((p, r)))
        rt.exit(pid, "boom")
        assert seen == [(pid, "boom")]
        with pytest.raises(NoProcessError, match="cannot watch 'named'"):
            rt.watch("named", print)  # nobody holds the name now
        with pytest.raises(NoProcessError, match="root pid"):
            rt.watch(rt.root, print)
        with pytest.raises(TypeError, match="a Pid or a registered name"):
            rt.watch(42, print)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match=r"fn\(pid, reason\)"):
            rt.watch(rt.spawn(idle_body), "not callable")  # type: ignore[arg-type]
