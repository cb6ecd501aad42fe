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
"""

from __future__ import annotations

import math
from typing import Any

from .._runtime import Pid, current_runtime
from .._supervisor import DynamicSupervisor
from ._agent import LLMAgent, agent_ask
from ._tools import FunctionTool, ToolContext

__all__ = ["ask_agent_tool", "delegate", "start_llm_agent"]


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
    spec = agent.child_spec(id if id is not None else (name or agent.__name__), name=name,
                            restart=restart, **config)
    pid = await DynamicSupervisor.start_child(sup, spec)
    if pid is None:
        raise RuntimeError(f"the {agent.__name__} under {sup!r} returned IGNORE from init")
    return pid


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

    ``timeout`` (seconds on the runtime clock) is how long the answer may
    take: it is also the tool's own limit, in place of the asking agent's
    ``tool_timeout`` (30 s by default, shorter than many turns). ``None`` (or
    ``math.inf``) waits as long as that ``tool_timeout`` allows.
    """
    label = target if isinstance(target, str) else (target.name or f"agent{target.id}")
    tool_name = name or f"ask_{label}".replace("-", "_")

    async def ask(question: str, ctx: ToolContext) -> Any:
        return await agent_ask(ctx.runtime, target, question, timeout=timeout)

    return FunctionTool(
        ask,
        name=tool_name,
        description=description or f"Ask the agent {label!r} a question and get its answer.",
        timeout=None if timeout is None or timeout == math.inf else timeout,
    )
