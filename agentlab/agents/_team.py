"""Delegation: agents that start other agents under a supervisor and ask them.

A team is an ordinary supervision tree. Sub-agents live under a
:class:`agentlab.DynamicSupervisor`, so a crashed one is restarted by the
tree, not by the agent that asked::

    team = rt.start(Supervisor, [
        ChildSpec("workers", DynamicSupervisor, type="supervisor", name="workers"),
        LLMAgent.child_spec("lead", name="lead", tools=[ask_agent_tool("researcher")]),
    ], strategy="one_for_one")
    await start_llm_agent("workers", name="researcher", system="You research.")
    await agent_ask(rt, "lead", "Find out about X")    # the lead's model calls the tool

Three ways to delegate, from the least to the most structure:

* :func:`delegate` -- one question to a throw-away sub-agent (started
  ``temporary``, stopped after its answer);
* :func:`start_llm_agent` + :func:`~agentlab.agents.agent_ask` -- a
  long-lived sub-agent, found by its registered name across restarts;
* :func:`ask_agent_tool` -- let the model decide when to ask another agent.

An agent answers one question at a time: while its tool waits for another
agent's answer, it answers nobody. So an ask made from a tool (an
:func:`ask_agent_tool`, or :func:`~agentlab.agents.agent_ask` in a tool of
one's own) is refused, at once, when it would wait for the asker's own
answer: an agent asking itself, or one that waits (directly or through
others) for the asker (``a`` asks ``b``, whose tool asks ``a``). The tool
fails with :class:`AskCycle` naming the cycle, where the ask would otherwise
have waited out its timeout.
"""

from __future__ import annotations

import contextlib
import math
import re
import weakref
from collections.abc import Iterator
from typing import Any

from .._errors import RuntimeStateError, SupervisorError, describe
from .._runtime import Pid, Runtime, current_runtime
from .._supervisor import DynamicSupervisor, Supervisor
from ._agent import LLMAgent, agent_ask
from ._errors import AskCycle
from ._tools import FunctionTool, ToolContext

__all__ = ["ask_agent_tool", "delegate", "start_llm_agent"]

# per runtime: agent -> the asks it waits on, as (the tool's process, the agent asked)
_Waits = dict[Pid, list[tuple[Pid, Pid]]]
_WAITING: weakref.WeakKeyDictionary[Runtime, _Waits] = weakref.WeakKeyDictionary()


@contextlib.contextmanager
def asking(ctx: ToolContext, target: Pid | str) -> Iterator[None]:
    """While the block runs, ``ctx.agent`` waits for ``target``'s answer (a tool's ask).

    Raises :class:`AskCycle` at once if ``target`` is that agent, or waits itself,
    directly or through others, for that agent's answer: the ask would wait for
    itself until its timeout. A ``target`` not started yet is asked as it is (the
    ask says it is not there).

    :func:`~agentlab.agents.agent_ask` does this by itself in a tool an agent
    runs (the tool's process knows its :class:`ToolContext`), so a tool of one's
    own is covered as it is::

        async def ask_expert(question: str, ctx: ToolContext) -> str:
            return await agent_ask(ctx.runtime, "expert", question)   # refuses a cycle
    """
    rt, asker = ctx.runtime, ctx.agent
    pid = target if isinstance(target, Pid) else rt.whereis(target)
    if pid is None or not pid.alive:
        yield
        return
    waits = _WAITING.setdefault(rt, {})
    chain = _waits_for(waits, pid, asker)
    if chain is not None:
        raise _cycle_error(ctx, [asker, *chain])
    entry = (rt.self() or asker, pid)
    waits.setdefault(asker, []).append(entry)
    try:
        yield
    finally:
        mine = waits.get(asker, [])
        if entry in mine:
            mine.remove(entry)
        if not mine:
            waits.pop(asker, None)


def _waits_for(waits: _Waits, start: Pid, goal: Pid) -> list[Pid] | None:
    """The agents from ``start`` to ``goal`` along the asks under way, or None."""
    path: list[Pid] = []
    seen: set[Pid] = set()

    def walk(p: Pid) -> bool:
        path.append(p)
        if p is goal:
            return True
        if p not in seen:
            seen.add(p)
            # an ask whose tool is gone (killed at its timeout) waits for nothing
            if any(tool.alive and walk(asked) for tool, asked in waits.get(p, ())):
                return True
        path.pop()
        return False

    return path if walk(start) else None


def _cycle_error(ctx: ToolContext, chain: list[Pid]) -> AskCycle:
    asker = chain[0]
    names = [p.name or describe(p) for p in chain]
    if len(chain) == 2:  # [asker, asker]
        message = (
            f"agent {describe(asker)} asked itself (tool {ctx.tool!r}): it answers one question "
            "at a time and is busy with the turn that asks, so the question would wait for "
            "its own answer until the ask's timeout. Answer in this turn, or ask another agent."
        )
    else:
        message = (
            f"agent {describe(asker)} asked {describe(chain[1])} (tool {ctx.tool!r}), which "
            f"waits for {describe(asker)}'s answer ({' -> '.join(names)}): each would wait "
            f"for the other until the ask's timeout. Answer without asking {names[1]!r}, or "
            "give the agents ask tools that do not lead back to the asker."
        )
    return AskCycle(message, process=asker, chain=tuple(names))


async def start_llm_agent(
    sup: Pid | str,
    *,
    id: Any = None,
    name: str | None = None,
    restart: str = "transient",
    agent: type[LLMAgent] = LLMAgent,
    **config: Any,
) -> Pid:
    """Start an agent as a child of ``sup`` (a :class:`agentlab.DynamicSupervisor`).

    ``restart="transient"`` (the default) restarts it after a crash but not
    after a normal stop or a spent budget. With ``name`` it is registered
    under that name in every incarnation. ``config`` is :class:`LLMAgent`'s.
    """
    _check_supervisor(sup)
    spec = agent.child_spec(id if id is not None else (name or agent.__name__), name=name,
                            restart=restart, **config)
    try:
        pid = await DynamicSupervisor.start_child(sup, spec)
    except SupervisorError as e:
        reason = getattr(e, "reason", None)
        if not (isinstance(reason, tuple) and reason[:1] == ("already_started",)):
            raise
        holder = reason[1] if len(reason) > 1 else None
        err = SupervisorError(
            f"cannot start an agent named {name!r} under {describe(sup)}: "
            f"{describe(holder)} already runs under that name (a cell run again?). Ask it "
            f"(agent_ask(rt, {name!r}, ...)), stop it first (await "
            f"DynamicSupervisor.terminate_child({describe(sup)}, rt.whereis({name!r}))), or "
            "pick another name.",
            process=sup,
        )
        err.reason = reason  # type: ignore[attr-defined]
        raise err from None
    if pid is None:
        raise RuntimeError(f"the {agent.__name__} under {sup!r} returned IGNORE from init")
    return pid


def _check_supervisor(sup: Pid | str) -> None:
    """Refuse a ``sup`` that is running but is no supervisor: the start request would
    crash an agent (an unknown request) or wait forever on a plain process."""
    if not isinstance(sup, Pid | str):
        raise TypeError(
            f"sup must be a DynamicSupervisor's pid or registered name, not {sup!r}"
        )
    if isinstance(sup, Pid):
        pid: Pid | None = sup
    else:
        try:
            pid = current_runtime().whereis(sup)
        except RuntimeStateError:  # no runtime here: the start says so
            return
    behaviour = getattr(pid, "_beh", None)
    if pid is not None and pid.alive and not isinstance(behaviour, Supervisor):
        raise TypeError(
            f"{describe(pid)} is not a supervisor (it runs {type(behaviour).__name__}): agents "
            "start under a DynamicSupervisor. Start one (rt.start(DynamicSupervisor, name='workers')) "
            "and pass it, or its name."
        )


async def delegate(
    sup: Pid | str,
    text: str,
    *,
    name: str | None = None,
    timeout: float | None = 300.0,
    agent: type[LLMAgent] = LLMAgent,
    **config: Any,
) -> Any:
    """Ask ``text`` of a fresh sub-agent under ``sup``, stop it, and return its answer.

    The sub-agent is ``temporary`` (a crash is not restarted: the error comes
    back here as :class:`agentlab.CalleeExited`, or the turn's error).
    """
    rt = sup._rt if isinstance(sup, Pid) and sup._rt is not None else current_runtime()
    pid = await start_llm_agent(sup, name=name, restart="temporary", agent=agent, **config)
    try:
        return await agent_ask(rt, pid, text, timeout=timeout)
    finally:
        if pid.alive:
            await DynamicSupervisor.terminate_child(sup, pid, runtime=rt)


def ask_agent_tool(
    target: Pid | str,
    *,
    name: str | None = None,
    description: str | None = None,
    timeout: float | None = 300.0,
) -> FunctionTool:
    """A tool that forwards the model's question to another agent and returns its answer.

    ``target`` is a pid or, better, a registered name (a restarted agent keeps
    its name, not its pid). If the target crashes or fails, the tool fails,
    and the asking agent's ``tool_errors`` policy decides what happens.

    An ask of the asking agent itself, or of one that waits for its answer, fails
    at once with :class:`AskCycle` (see the module docstring).

    ``timeout`` (seconds on the runtime clock) is how long the answer may
    take: it is also the tool's own limit, in place of the asking agent's
    ``tool_timeout`` (30 s by default, shorter than many turns). ``None`` (or
    ``math.inf``) waits as long as that ``tool_timeout`` allows.
    """
    if not isinstance(target, str | Pid):
        raise TypeError(
            f"ask_agent_tool asks an agent: give its registered name (best: it outlives "
            f"restarts) or its pid, not {target!r}"
        )
    label = target if isinstance(target, str) else (target.name or f"agent{target.id}")
    # the name a provider accepts: letters, digits and '_' (a name may hold anything)
    tool_name = name or re.sub(r"[^A-Za-z0-9_]", "_", f"ask_{label}")[:64]

    async def ask(question: str, ctx: ToolContext) -> Any:
        with asking(ctx, target):
            return await agent_ask(ctx.runtime, target, question, timeout=timeout)

    return FunctionTool(
        ask,
        name=tool_name,
        description=description or f"Ask the agent {label!r} a question and get its answer.",
        timeout=None if timeout is None or timeout == math.inf else timeout,
    )
