"""The runtime inside a real Jupyter kernel (ipykernel, driven through jupyter_client).

DESIGN.md §5: the runtime attaches to the kernel's running loop (no
nest_asyncio, no threads); processes keep running between cells; interrupting
a cell cancels what the cell awaits, not the agents; re-running a cell that
started a named process replaces it cleanly (``replace=True``).

One kernel is shared by the module; each test uses its own names.
"""

from __future__ import annotations

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

    def collect(self, msg_id: str, timeout: float = CELL_TIMEOUT) -> dict[str, Any]:
        """Read IOPub until the cell ``msg_id`` is idle again."""
        out: dict[str, Any] = {"stdout": "", "error": None, "result": None}
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"cell did not finish within {timeout} s")
            msg = self.kc.get_iopub_msg(timeout=left)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream" and content["name"] == "stdout":
                out["stdout"] += content["text"]
            elif kind == "error":
                out["error"] = (content["ename"], content["evalue"])
            elif kind == "execute_result":
                out["result"] = content["data"].get("text/plain")
            elif kind == "status" and content["execution_state"] == "idle":
                return out

    def run(self, code: str, timeout: float = CELL_TIMEOUT) -> dict[str, Any]:
        return self.collect(self.submit(code), timeout)

    def ok(self, code: str, timeout: float = CELL_TIMEOUT) -> str:
        """Run a cell that must succeed; return what it printed."""
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
            "import asyncio, sys, threading\n"
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
