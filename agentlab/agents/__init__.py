"""LLM agents on the runtime: conversations as supervised processes.

::

    from agentlab import Runtime, Supervisor, VirtualClock
    from agentlab.agents import LLMAgent, agent_ask
    from agentlab.llm import ScriptedModel

    async with Runtime(clock=VirtualClock(), seed=7) as rt:
        model = ScriptedModel(["Hello! How can I help?"], clock=rt, rng=rt.random)
        rt.start(Supervisor, [LLMAgent.child_spec("helper", name="helper", model=model)])
        print(await agent_ask(rt, "helper", "Hi"))

An :class:`LLMAgent` is an ordinary :class:`agentlab.Agent`: its state is
the conversation, a turn streams the model's tokens into the event stream,
runs tool calls as supervised tasks, validates structured output, and
enforces a token/cost budget. The rules for failures, retries, restarts and
budgets are in ``help(LLMAgent)``. Teams are supervision trees
(:func:`start_llm_agent`, :func:`delegate`, :func:`ask_agent_tool`), and
agents talk over :class:`agentlab.PubSub` (:func:`publish`).

Needs only agentlab's own dependencies (httpx, pydantic): no extra.
"""

from ._agent import LLMAgent, agent_ask
from ._budget import BUDGET_EXCEEDED, Budget, budget_info, is_budget_exceeded
from ._errors import (
    AgentError,
    AskCycle,
    BudgetExceeded,
    MaxStepsExceeded,
    OutputInvalid,
    ToolFailed,
)
from ._pubsub import Post, publish, publish_tool
from ._team import ask_agent_tool, delegate, start_llm_agent
from ._tools import FunctionTool, ToolContext, tool

__all__ = [
    "BUDGET_EXCEEDED",
    "AgentError",
    "AskCycle",
    "Budget",
    "BudgetExceeded",
    "FunctionTool",
    "LLMAgent",
    "MaxStepsExceeded",
    "OutputInvalid",
    "Post",
    "ToolContext",
    "ToolFailed",
    "agent_ask",
    "ask_agent_tool",
    "budget_info",
    "delegate",
    "is_budget_exceeded",
    "publish",
    "publish_tool",
    "start_llm_agent",
    "tool",
]
