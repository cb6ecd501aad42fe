"""What can go wrong in an LLM agent's turn, as exceptions that say what to do.

::

    AgentLabError
    └── AgentError              a turn of an LLM agent failed
        ├── BudgetExceeded      the agent spent its token/cost budget (it exits)
        ├── OutputInvalid       the answer never matched ``output=`` (the agent stays up)
        ├── MaxStepsExceeded    the model kept calling tools past ``max_steps`` (stays up)
        ├── ToolFailed          a tool failed under ``tool_errors="crash"`` (it crashes)
        └── AskCycle            an ask would wait for the asker's own answer (a deadlock)

Errors from the model itself (rate limits, 5xx, timeouts) are the LLM layer's
typed :class:`agentlab.llm.LLMError`; they are not wrapped.
"""

from __future__ import annotations

from typing import Any

from .._errors import AgentLabError

__all__ = [
    "AgentError",
    "AskCycle",
    "BudgetExceeded",
    "MaxStepsExceeded",
    "OutputInvalid",
    "ToolFailed",
]


class AgentError(AgentLabError):
    """Base of the LLM agent errors; ``process`` is the agent's pid."""


class BudgetExceeded(AgentError):
    """The agent's token or cost budget is spent. ``info`` says which limit and how much.

    The agent exits right after replying with this error; its exit reason is
    ``("shutdown", ("budget_exceeded", info))`` (or ``("budget_exceeded",
    info)`` with ``budget_exit="crash"``): see :class:`LLMAgent`.
    """

    def __init__(self, message: str, *, process: Any = None, info: dict[str, Any] | None = None):
        super().__init__(message, process=process)
        self.info: dict[str, Any] = dict(info or {})


class OutputInvalid(AgentError):
    """The model's answer did not validate against ``output=`` after every re-ask.

    ``errors`` is the last validation message, ``text`` the last answer,
    ``attempts`` how many answers were tried.
    """

    def __init__(self, message: str, *, process: Any = None, errors: str = "", text: str = "",
                 attempts: int = 0) -> None:
        super().__init__(message, process=process)
        self.errors = errors
        self.text = text
        self.attempts = attempts


class MaxStepsExceeded(AgentError):
    """The model asked for tools ``max_steps`` times without giving an answer."""


class ToolFailed(AgentError):
    """A tool call failed (timed out) under ``tool_errors="crash"``: the agent crashes with it."""

    def __init__(self, message: str, *, process: Any = None, tool: str = "", call_id: str = ""):
        super().__init__(message, process=process)
        self.tool = tool
        self.call_id = call_id


class AskCycle(AgentError):
    """An agent asked one that waits, directly or through others, for the asker's answer.

    An agent answers one question at a time, so the ask would wait for itself until its
    timeout. :func:`~agentlab.agents.ask_agent_tool`, and
    :func:`~agentlab.agents.agent_ask` called from any tool an agent runs, refuse it at
    once instead: the tool fails (the model sees why, under ``tool_errors="report"``). ``chain`` is the
    cycle, from the asker back to it: ``("a", "b", "a")``.
    """

    def __init__(self, message: str, *, process: Any = None, chain: tuple[Any, ...] = ()):
        super().__init__(message, process=process)
        self.chain = chain
