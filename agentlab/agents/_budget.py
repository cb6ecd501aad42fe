"""Budgets: how many tokens and dollars an agent (or a team) may spend.

Every model attempt counts, answered or failed: the prompt was sent and
whatever streamed back was generated. An attempt is a call from its start;
its usage goes into the budget as it streams (the prompt's estimate with the
first delta, then each delta's estimate) and is settled when the attempt
ends, with the counts of the LLM layer's ``llm_response``/``llm_error``
events, reported or estimated. An attempt the provider refused (a 429 or
another error answer) counts as a call and costs nothing. A budget given as
numbers is private to one agent incarnation; a :class:`Budget` object is
shared by everything that holds it, across restarts too, so one object can
cap a whole team::

    team_budget = Budget(max_tokens=20_000, max_cost_usd=0.05)
    spec = LLMAgent.child_spec("writer", budget=team_budget)     # every incarnation
    LLMAgent.child_spec("editor", budget=team_budget)            # and a sibling share it

    team_budget.tokens, team_budget.cost_usd, team_budget.calls   # live totals, same attempts
    team_budget.in_flight, team_budget.in_flight_tokens           # the part still streaming
    team_budget.exceeded

What an agent does when its budget runs out is in :class:`LLMAgent`'s docstring.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .._reasons import SHUTDOWN
from ..llm._checks import check_amount, check_count

__all__ = ["BUDGET_EXCEEDED", "Budget", "budget_info", "is_budget_exceeded"]

#: the tag of the budget exit reason: ``("shutdown", ("budget_exceeded", info))``
BUDGET_EXCEEDED = "budget_exceeded"


@dataclass
class Budget:
    """Limits (``None``: no limit) and what was spent so far.

    **What the figures cover.** ``tokens``, ``cost_usd`` and ``calls`` cover
    the same attempts: every model attempt started on this budget, the ended
    ones at their final counts and those still under way at what they have
    used so far (estimated). ``in_flight`` of the ``calls`` are still under
    way, and ``in_flight_tokens`` and ``in_flight_cost_usd`` are the part of
    ``tokens`` and ``cost_usd`` that is their running estimate, which each
    attempt's end replaces with its final counts. So ``tokens -
    in_flight_tokens`` is what the ``calls - in_flight`` ended attempts cost,
    and once nothing is under way (``in_flight == 0``), the totals are final.
    Limits are checked against the totals, the streams under way included.

    **How far past a limit.** A limit is checked at every streamed delta of
    every agent holding the budget, against the totals with that delta in:
    the agent whose delta passes it is cut there, and every other agent
    streaming on the same budget is cut at its own next delta. So the total
    passes the limit by at most one delta per attempt under way at that
    moment (for an attempt that has not streamed yet, its first delta and its
    prompt's estimated tokens), plus whatever the provider's final counts add
    to the estimates. Ten agents that start at once on a $0.01 budget end a
    few deltas past $0.01, not at ten times it. An attempt starts whenever
    the budget is not yet passed.

    An attempt's life, as :class:`LLMAgent` drives it (``start``, ``spend``
    as it streams, ``settle`` at its end; ``charge`` adds an attempt that
    ended whole):

    >>> b = Budget(max_tokens=100)
    >>> b.start(); b.spend(60, 0.0); (b.tokens, b.calls, b.in_flight, b.in_flight_tokens)
    (60, 1, 1, 60)
    >>> b.settle(60, 0.0, 55, 0.0); (b.tokens, b.calls, b.in_flight, b.in_flight_tokens)
    (55, 1, 0, 0)
    >>> b.charge(50, 0.0); b.exceeded
    'tokens'
    """

    max_tokens: int | None = None
    max_cost_usd: float | None = None
    tokens: int = 0
    cost_usd: float = 0.0
    calls: int = 0
    in_flight: int = 0
    in_flight_tokens: int = 0
    in_flight_cost_usd: float = 0.0

    def __post_init__(self) -> None:
        if self.max_tokens is not None:
            check_count("max_tokens", self.max_tokens, 0, "a token budget, or None")
        if self.max_cost_usd is not None:
            check_amount("max_cost_usd", self.max_cost_usd, "a budget in USD, or None")

    def start(self) -> None:
        """An attempt starts: one more call, under way (it has used nothing yet)."""
        self.calls += 1
        self.in_flight += 1

    def spend(self, tokens: int, cost_usd: float) -> None:
        """Add what an attempt under way (see :meth:`start`) has used since its last
        ``spend``, at once: every holder of this budget sees it.

        >>> b = Budget(max_tokens=100)
        >>> b.start(); b.spend(70, 0.0); b.spend(40, 0.0); b.exceeded, b.calls, b.in_flight
        ('tokens', 1, 1)
        """
        self.tokens += tokens
        self.cost_usd += cost_usd
        self.in_flight_tokens += tokens
        self.in_flight_cost_usd += cost_usd

    def settle(
        self, spent_tokens: int, spent_cost_usd: float, tokens: int, cost_usd: float | None
    ) -> None:
        """An attempt under way ended: what its ``spend`` calls added (``spent_*``) is
        replaced by its final counts (``tokens``, ``cost_usd``; ``None``: unpriced)."""
        self.tokens += tokens - spent_tokens
        self.cost_usd += (cost_usd or 0.0) - spent_cost_usd
        self.in_flight -= 1
        if self.in_flight <= 0:  # nothing under way: no estimate left (nor rounding dust)
            self.in_flight = self.in_flight_tokens = 0
            self.in_flight_cost_usd = 0.0
        else:
            self.in_flight_tokens -= spent_tokens
            self.in_flight_cost_usd -= spent_cost_usd

    def charge(self, tokens: int, cost_usd: float | None) -> None:
        """Add one model attempt that ended, whole (one that was never :meth:`start`-ed)."""
        self.tokens += tokens
        self.cost_usd += cost_usd or 0.0
        self.calls += 1

    @property
    def exceeded(self) -> str | None:
        """``"tokens"`` or ``"cost"`` once a limit is passed, else ``None``."""
        if self.max_tokens is not None and self.tokens > self.max_tokens:
            return "tokens"
        if self.max_cost_usd is not None and self.cost_usd > self.max_cost_usd:
            return "cost"
        return None

    def would_exceed(self, extra_tokens: int, extra_cost_usd: float = 0.0) -> str | None:
        """The limit (``"tokens"`` or ``"cost"``) that ``extra_tokens`` more, costing
        ``extra_cost_usd`` (a stream in progress, estimated), would pass; else ``None``.

        >>> Budget(max_tokens=100, max_cost_usd=0.01).would_exceed(50, 0.02)
        'cost'
        """
        if self.max_tokens is not None and self.tokens + extra_tokens > self.max_tokens:
            return "tokens"
        if self.max_cost_usd is not None and self.cost_usd + extra_cost_usd > self.max_cost_usd:
            return "cost"
        return None

    def info(self, limit: str | None = None) -> dict[str, Any]:
        """The numbers for an event or an exit reason."""
        return {
            "limit": limit or self.exceeded,
            "tokens": self.tokens,
            "max_tokens": self.max_tokens,
            "cost_usd": round(self.cost_usd, 9),
            "max_cost_usd": self.max_cost_usd,
            "calls": self.calls,
            "in_flight": self.in_flight,
        }


def budget_message(who: str, info: dict[str, Any], *, shared: bool = False) -> str:
    """What :class:`BudgetExceeded` says: the limit that was passed, with its figures
    (``info`` as :meth:`Budget.info` gives it), and what to do about it.

    >>> own = Budget(max_tokens=20, tokens=21, calls=1)
    >>> print(budget_message("agent 'a'", own.info()))  # doctest: +ELLIPSIS
    agent 'a' spent its token budget: 21 tokens of 20, over 1 call(s). ... raise max_tokens ...
    >>> team = Budget(max_cost_usd=0.05, cost_usd=0.056, calls=3, in_flight=2)
    >>> print(budget_message("agent 'a'", team.info(), shared=True))  # doctest: +ELLIPSIS
    agent 'a' spent its cost budget (shared): $0.056 of $0.05, over 3 call(s) (2 still under way, counted so far). ...
    """
    if info.get("limit") == "cost":
        what, option = "cost", "max_cost_usd"
        figures = f"{_usd(info['cost_usd'])} of {_usd(info['max_cost_usd'])}"
    else:
        what, option = "token", "max_tokens"
        figures = f"{info['tokens']} tokens of {info['max_tokens']}"
    where = f"the shared Budget's {option}" if shared else option
    running = info.get("in_flight") or 0
    under_way = f" ({running} still under way, counted so far)" if running else ""
    return (
        f"{who} spent its {what} budget{' (shared)' if shared else ''}: {figures}, over "
        f"{info['calls']} call(s){under_way}. It stops here; raise {where} or give it less to do."
    )


def _usd(amount: float) -> str:
    """Dollars to the cent, and to the fraction of a cent that matters: ``$0.05``, ``$0.00101``."""
    text = f"{amount:.9f}".rstrip("0")
    whole, _, cents = text.partition(".")
    return f"${whole}.{cents.ljust(2, '0')}"


def budget_reason(info: dict[str, Any], exit: str) -> Any:
    """The exit reason for a spent budget (``exit`` is ``"shutdown"`` or ``"crash"``)."""
    if exit == "crash":
        return (BUDGET_EXCEEDED, info)
    return (SHUTDOWN, (BUDGET_EXCEEDED, info))


def budget_info(reason: Any) -> dict[str, Any] | None:
    """The budget numbers if ``reason`` is a budget exit reason (either form), else ``None``.

    >>> budget_info(("shutdown", ("budget_exceeded", {"limit": "tokens"})))
    {'limit': 'tokens'}
    >>> budget_info("normal") is None
    True
    """
    if type(reason) is tuple and len(reason) == 2:
        if reason[0] == BUDGET_EXCEEDED and isinstance(reason[1], dict):
            return reason[1]
        if reason[0] == SHUTDOWN:
            return budget_info(reason[1])
    return None


def is_budget_exceeded(reason: Any) -> bool:
    """Whether an exit reason says the agent's budget ran out (either form)."""
    return budget_info(reason) is not None
