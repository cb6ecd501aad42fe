"""The runtime inside a real Jupyter kernel (ipykernel, driven through jupyter_client).

DESIGN.md §5: the runtime attaches to the kernel's running loop (no
nest_asyncio, no threads); processes keep running between cells; interrupting
a cell cancels what the cell awaits, not the agents; re-running a cell that
started a named process replaces it cleanly (``replace=True``).

One kernel is shared by the module; each test uses its own names.
"""

from __future__ import annotations

import queue
import time
from typing import Any

import pytest

pytest.importorskip("jupyter_client")
pytest.importorskip("ipykernel")

from jupyter_client import KernelManager  # noqa: E402

pytestmark = pytest.mark.kernel

CELL_TIMEOUT = 30.0


class Kernel:
    """A started kernel and a blocking client, with ``run(code)`` for one cell."""

    def __init__(self) -> None:
        self.km = KernelManager(kernel_name="python3", transport="ipc")
        self.km.start_kernel(extra_arguments=["--HistoryManager.enabled=False"])
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)

    def submit(self, code: str) -> str:
        return self.kc.execute(code)

    def collect(
        self,
        msg_id: str,
        timeout: float = CELL_TIMEOUT,
        *,
        linger: float = 0.0,
        interrupt_on: str | None = None,
    ) -> dict[str, Any]:
        """Read IOPub until the cell ``msg_id`` is idle again, then ``linger`` seconds
        more for what the kernel's loop says under that cell afterwards (it runs on
        between cells). ``interrupt_on``: interrupt the kernel once the cell has printed
        this."""
        out: dict[str, Any] = {"stdout": "", "stderr": "", "error": None, "result": None}
        deadline = time.monotonic() + timeout
        idle_at = None
        while True:
            left = (idle_at + linger if idle_at is not None else deadline) - time.monotonic()
            if left <= 0:
                if idle_at is not None:
                    return out
                raise TimeoutError(f"cell did not finish within {timeout} s")
            try:
                msg = self.kc.get_iopub_msg(timeout=left)
            except queue.Empty:
                continue
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                out[content["name"]] += content["text"]
                if interrupt_on is not None and interrupt_on in out["stdout"]:
                    interrupt_on = None
                    self.km.interrupt_kernel()
            elif kind == "error":
                out["error"] = (content["ename"], content["evalue"])
            elif kind == "execute_result":
                out["result"] = content["data"].get("text/plain")
            elif kind == "status" and content["execution_state"] == "idle":
                idle_at = time.monotonic()
                if not linger:
                    return out

    def run(self, code: str, timeout: float = CELL_TIMEOUT, **kw: Any) -> dict[str, Any]:
        return self.collect(self.submit(code), timeout, **kw)

    def ok(self, code: str, timeout: float = CELL_TIMEOUT) -> str:
        """Run a cell that must succeed; return what it printed (on stdout)."""
        out = self.run(code, timeout)
        assert out["error"] is None, out["error"]
        return out["stdout"]

    def close(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)


@pytest.fixture(scope="module")
def kernel():
    k = Kernel()
    try:
        k.ok(
            "import asyncio, sys, threading, time\n"
            "threads_at_start = {t.ident for t in threading.enumerate()}\n"
            "from agentlab import Agent, NOREPLY, NameTakenError, Runtime\n"
            "rt = Runtime()\n"
        )
        yield k
    finally:
        k.close()


def test_processes_keep_running_between_cells(kernel):
    kernel.ok(
        "class Ticker(Agent):\n"
        "    def init(self):\n"
        "        self.ticks = 0\n"
        "        self.send_after(self.pid, 'tick', 0.02)\n"
        "    def handle_info(self, msg):\n"
        "        self.ticks += 1\n"
        "        self.send_after(self.pid, 'tick', 0.02)\n"
        "ticker = Ticker()\n"
        "rt.start(ticker, name='ticker')\n"
    )
    first = int(kernel.ok("print(ticker.ticks)"))
    time.sleep(1.0)  # the kernel is idle: its loop, and the agent, keep running
    second = int(kernel.ok("print(ticker.ticks)"))
    assert second >= first + 10, (first, second)
    kernel.ok("await rt.stop('ticker')")


def test_interrupt_cancels_the_awaited_call_not_the_agent(kernel):
    kernel.ok(
        "class Mute(Agent):\n"
        "    def init(self):\n"
        "        self.seen = 0\n"
        "    def handle_call(self, req, caller):\n"
        "        self.seen += 1\n"
        "        if req == 'hold':\n"
        "            return NOREPLY\n"
        "        return ('answer', self.seen)\n"
        "mute = rt.start(Mute, name='mute')\n"
    )
    msg_id = kernel.submit("await rt.call('mute', 'hold', timeout=None)")
    time.sleep(1.0)  # the cell is parked in the await
    kernel.km.interrupt_kernel()
    out = kernel.collect(msg_id, timeout=15)
    assert out["error"] is not None, "the interrupted cell should end with an error"
    assert out["error"][0] in ("KeyboardInterrupt", "CancelledError"), out["error"]
    printed = kernel.ok("print(mute.alive, await rt.call('mute', 'again', timeout=5))")
    assert printed.strip() == "True ('answer', 2)"


def test_rerunning_a_cell_with_replace_leaves_one_process(kernel):
    cell = (
        "class Worker(Agent):\n"
        "    def handle_call(self, req, caller):\n"
        "        return 'ok'\n"
        "w = rt.start(Worker, name='worker', replace=True)\n"
    )
    kernel.ok(cell + "first = w\n")
    kernel.ok(cell)  # the same cell, run again
    printed = kernel.ok(
        "await asyncio.sleep(0.05)\n"
        "holders = [p for p in rt.processes() if p.name == 'worker']\n"
        "print(len(holders), holders[0] is w, w.alive, first.alive, first.exit_reason,\n"
        "      rt.whereis('worker') is w, await rt.call('worker', 'x'))\n"
    )
    assert printed.split() == ["1", "True", "True", "False", "shutdown", "True", "ok"]


def test_rerunning_without_replace_names_the_holder(kernel):
    kernel.ok("keeper = rt.start(Agent, name='keeper')")
    out = kernel.run("rt.start(Agent, name='keeper')")
    assert out["error"] is not None
    ename, evalue = out["error"]
    assert ename == "NameTakenError"
    holder = kernel.ok("print(f'<0.{keeper.id}.0>')").strip()
    assert "'keeper'" in evalue and holder in evalue and "replace=True" in evalue
    assert kernel.ok("print(keeper.alive, len([p for p in rt.processes() if p.name == 'keeper']))").split() == [
        "True",
        "1",
    ]


def test_no_nest_asyncio_and_no_threads(kernel):
    printed = kernel.ok(
        "before = {t.ident for t in threading.enumerate()}\n"
        "rt2 = Runtime()\n"
        "class Echo(Agent):\n"
        "    async def handle_call(self, req, caller):\n"
        "        await self.sleep(0.01)\n"
        "        return req\n"
        "    def handle_info(self, msg):\n"
        "        pass\n"
        "pids = [rt2.start(Echo) for _ in range(20)]\n"
        "for p in pids:\n"
        "    rt2.send_after(p, 'tick', 0.01)\n"
        "assert await asyncio.gather(*(rt2.call(p, i) for i, p in enumerate(pids))) == list(range(20))\n"
        "await rt2.shutdown()\n"
        "after = {t.ident for t in threading.enumerate()}\n"
        "print(after - before == set(), (after - threads_at_start) == set(),\n"
        "      'nest_asyncio' in sys.modules, rt.loop is asyncio.get_running_loop(),\n"
        "      hasattr(asyncio.get_running_loop(), '_nest_patched'))\n"
    )
    assert printed.split() == ["True", "True", "False", "True", "False"]


def test_sys_exit_in_a_process_crashes_it_not_the_kernel(kernel):
    """SystemExit out of the kernel's loop would end the kernel: in a process (a body,
    an agent's handler run by the scheduler) it is that process's crash. Both exit while
    the kernel is idle, between cells."""
    kernel.ok(
        "class QuitsOnInfo(Agent):\n"
        "    def handle_info(self, msg):\n"
        "        sys.exit(msg)\n"
        "async def quits(proc):\n"
        "    await proc.sleep(0.1)\n"
        "    sys.exit(3)\n"
        "quitter = rt.spawn(quits)\n"
        "agent_quitter = rt.start(QuitsOnInfo)\n"
        "rt.send_after(agent_quitter, 4, 0.1)\n"
    )
    time.sleep(0.5)
    assert kernel.km.is_alive()
    printed = kernel.ok(
        "print(quitter.alive, quitter.exit_reason, agent_quitter.alive, agent_quitter.exit_reason,\n"
        "      await rt.task(lambda: 'still_running').wait())\n"
    )
    assert printed.split() == ["False", "SystemExit:", "3", "False", "SystemExit:", "4", "still_running"]


def test_interrupting_a_blocking_init_leaves_no_process_behind(kernel):
    """A plain ``init`` that blocks (loading something synchronously), interrupted:
    the cell ends with KeyboardInterrupt, and the half-started agent is gone. It used
    to stay "alive" forever holding its name, so running the fixed cell again raised
    NameTakenError."""
    kernel.ok(
        "class SlowInit(Agent):\n"
        "    def init(self):\n"
        "        print('init started', flush=True)\n"
        "        time.sleep(30)\n"
    )
    out = kernel.run("rt.start(SlowInit, name='slow_init')", timeout=20, interrupt_on="init started")
    assert out["error"] is not None and out["error"][0] == "KeyboardInterrupt", out
    printed = kernel.ok(
        "print(rt.whereis('slow_init'), [p for p in rt.processes() if p.name == 'slow_init'])\n"
        "class SlowInit(Agent):\n"
        "    def handle_call(self, req, caller):\n"
        "        return 'fixed'\n"
        "rt.start(SlowInit, name='slow_init')\n"
        "print(await rt.call('slow_init', 'x'))\n"
    )
    assert printed.split("\n")[:2] == ["None []", "fixed"]


def test_rerunning_a_cell_that_starts_a_named_tree_with_replace_leaves_one_tree(kernel):
    """A named supervisor with named children, started again by the same cell with
    ``replace=True``: the new tree runs under the same names and the old one is shut
    down in order. It used to fail with ``already_started`` (the old children still
    held their names) and leave no tree at all."""
    cell = (
        "from agentlab import ChildSpec, Supervisor\n"
        "class Member(Agent):\n"
        "    trap_exits = True\n"
        "    def handle_call(self, req, caller):\n"
        "        return self.pid\n"
        "    async def terminate(self, reason):\n"
        "        await self.sleep(0.01)  # the old tree stops in order, over loop turns\n"
        "crew = rt.start(Supervisor, [ChildSpec('a', Member, name='crew_a'),\n"
        "                             ChildSpec('b', Member, name='crew_b')],\n"
        "                name='crew', replace=True)\n"
        "members = [rt.whereis('crew_a'), rt.whereis('crew_b')]\n"
    )
    kernel.ok(cell + "first = crew, *members\n")
    kernel.ok(cell)
    printed = kernel.ok(
        "await rt.wait(first[0])\n"
        "named = [p for p in rt.processes() if p.name in ('crew', 'crew_a', 'crew_b')]\n"
        "print(len(named), crew.alive, [p.exit_reason for p in first],\n"
        "      await rt.call('crew_a', 'x') is members[0], await rt.call('crew_b', 'x') is members[1])\n"
    )
    assert printed.strip() == "3 True ['shutdown', 'shutdown', 'shutdown'] True True"


def test_a_blocking_cell_warns_once_under_that_cell_beside_a_second_runtime(kernel):
    """The cell that made the runtime, run again, makes a second one beside it (the
    first one's processes go on): that is said. Then a cell that blocks the loop gets
    one loop-lag warning, shown under that cell. There used to be one warning per
    runtime, and all of them went under the cell that made the first runtime."""
    kernel.ok("still_here = rt.start(Agent)")
    made = kernel.run("rt_again = Runtime()")
    assert made["error"] is None, made
    assert "a new Runtime was made while another one still runs" in made["stderr"]
    blocked = kernel.run("time.sleep(0.6)", linger=0.8)
    assert blocked["error"] is None, blocked
    warnings = [line for line in blocked["stderr"].splitlines() if "event loop was blocked" in line]
    assert len(warnings) == 1, blocked["stderr"]
    assert "asyncio.to_thread" in warnings[0]
    kernel.ok("await rt_again.shutdown()\nawait rt.stop(still_here)")


@pytest.mark.parametrize("kind", ["spawn", "send"])
def test_interrupting_a_cell_inside_an_event_subscriber_leaves_nothing_half_done(kernel, kind):
    """Ctrl-C while an event subscriber runs (here one that blocks) raises
    KeyboardInterrupt inside it, in the middle of the cell's ``rt.start`` or
    ``rt.send``. The cell ends with it, and the runtime finished what it was doing
    first: the start failed (an interrupted start leaves no process, and frees the
    name), the message was delivered. The start used to leave a process that never
    ran and held its name for ever; the send, to lose the message."""
    kernel.ok(
        f"class Got{kind}(Agent):\n"
        "    def init(self):\n"
        "        self.got = []\n"
        "    def handle_info(self, msg):\n"
        "        self.got.append(msg)\n"
        "    def handle_call(self, req, caller):\n"
        "        return self.got\n"
        f"target_{kind} = rt.start(Got{kind}, name='target_{kind}')\n"
        f"def blocking_{kind}(ev):\n"
        f"    if ev.kind == '{kind}' and ev.name != 'target_{kind}':\n"
        "        print('subscriber blocks', flush=True)\n"
        "        time.sleep(30)\n"
        f"stop_{kind} = rt.subscribe(blocking_{kind})\n"
    )
    cell = (
        f"rt.start(Got{kind}, name='started_{kind}')"
        if kind == "spawn"
        else f"rt.send(target_{kind}, 'hello')"
    )
    out = kernel.run(cell, timeout=20, interrupt_on="subscriber blocks")
    assert out["error"] is not None and out["error"][0] == "KeyboardInterrupt", out
    printed = kernel.ok(
        f"stop_{kind}()\n"
        f"print(rt.whereis('started_{kind}'), [p for p in rt.processes() if p.name == 'started_{kind}'],\n"
        f"      await rt.call(target_{kind}, 'got'))\n"
    )
    assert printed.strip() == ("None [] []" if kind == "spawn" else "None [] ['hello']")
    if kind == "spawn":  # the cell, run again
        kernel.ok(f"{cell}\nassert await rt.call('started_{kind}', 'got') == []")
