"""LLMAgent: a GenServer whose state is a conversation.

This is the largest module of the agents layer on purpose: a turn (model
call, tool calls, output validation, budget) is one loop over one piece of
state, and splitting it would scatter that state across files.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import itertools
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from .._agent import Agent, Stop
from .._errors import RuntimeStateError, describe
from .._registry import PubSub
from .._runtime import Caller, Pid, Runtime, current_runtime
from .._supervisor import ChildSpec
from .._task import Task, TaskSupervisor
from ..llm import (
    Assembler,
    Message,
    Response,
    Retrying,
    RetryPolicy,
    ScriptedModel,
    ToolCall,
    UsageMeter,
)
from ..llm._accounting import Prices, cost_at, output_chars, price_of, tokens_for_chars
from ..llm._checks import check_amount, check_count
from ..llm._events import TOKEN_FIELDS, TOOL_CALL_FIELDS, Routed, default_scope, numbered_in
from ..llm._protocol import aclose_model, opened
from ..llm._retry import through_wrappers
from ._budget import Budget, budget_message, budget_reason
from ._errors import BudgetExceeded, MaxStepsExceeded, OutputInvalid, ToolFailed
from ._output import OutputSpec
from ._pubsub import Post, publish
from ._tools import (
    FunctionTool,
    ToolArgumentsError,
    ToolContext,
    as_tools,
    render_result,
    running_tool,
)

__all__ = ["LLMAgent", "agent_ask"]

_OPTIONS = (
    "system",
    "model",
    "tools",
    "output",
    "output_retries",
    "max_steps",
    "tool_timeout",
    "tool_errors",
    "tool_supervisor",
    "retry",
    "budget",
    "max_tokens",
    "max_cost_usd",
    "budget_exit",
    "pubsub",
    "topics",
    "on_post",
    "publish_to",
    "model_options",
    "token_events",
)

_LLM_END = ("llm_response", "llm_error")
# LLMAgent.retry when nobody set it (compared by identity): a Retrying model's own
# policy applies then, and any retry= given beside one must agree with it
_DEFAULT_RETRY = RetryPolicy()
_UNPRICED = (0.0, 0.0)
# the providers' stop reasons of an answer that simply ended (OpenAI and the scripted
# model, Anthropic, Gemini): an empty answer's other reasons are worth naming
_PLAIN_STOPS = frozenset({"stop", "end_turn", "STOP"})


def _open_runtime() -> Runtime | None:
    """The open runtime of the running event loop (the calling process's, else the
    latest made), or None: the scope of the request ids of a model call made outside
    any agent (a notebook cell's ``complete``), so they too are numbered per runtime."""
    try:
        rt = current_runtime()
        loop = asyncio.get_running_loop()
    except (RuntimeStateError, RuntimeError):
        return None
    return rt if rt.loop is loop else None


default_scope(_open_runtime)


# The models agents' factories made, by id: [model, how many live incarnations hold it].
# A factory that returns one model every time shares it; it is closed when the last
# incarnation holding it exits (see LLMAgent, "Closing the model").
_MADE: dict[int, list[Any]] = {}


def _hold(model: Any) -> None:
    held = _MADE.get(id(model))
    if held is None:
        _MADE[id(model)] = [model, 1]
    else:
        held[1] += 1


def _let_go(rt: Runtime, model: Any, pid: Pid, reason: Any) -> None:
    """An incarnation holding ``model`` exited (a ``watch`` callback: it cannot await):
    the last one to go closes it, in a cleanup that ``rt.shutdown()`` waits for."""
    held = _MADE.get(id(model))
    if held is None:  # pragma: no cover - each incarnation lets go once
        return
    held[1] -= 1
    if not held[1]:
        del _MADE[id(model)]
        rt.cleanup(_close_made(model))


async def _close_made(model: Any) -> None:
    if id(model) not in _MADE:  # unless a restart's factory returned it again meanwhile
        await aclose_model(model)


def _short(value: Any, limit: int = 200) -> str:
    s = value if isinstance(value, str) else repr(value)
    return s if len(s) <= limit else s[: limit - 1] + "…"


def _echo(messages: list[Message]) -> str:
    last = next((m.content for m in reversed(messages) if m.role == "user"), "")
    return f"(scripted) You said: {last}"


class LLMAgent(Agent):
    """An agent whose state is a conversation with a model, and whose turns call tools.

    ::

        from agentlab import Runtime, VirtualClock
        from agentlab.agents import LLMAgent, agent_ask
        from agentlab.llm import ScriptedModel, ToolCall

        def add(a: int, b: int) -> int:
            '''Add two integers.'''
            return a + b

        async with Runtime(clock=VirtualClock(), seed=1) as rt:
            script = [ToolCall("c1", "add", {"a": 2, "b": 3}), "2 + 3 = 5.", "1 + 1 = 2."]
            model = ScriptedModel(script, clock=rt, rng=rt.random)
            pid = rt.start(LLMAgent, system="You add.", model=model, tools=[add], name="adder")
            await agent_ask(rt, pid, "What is 2 + 3?")    # '2 + 3 = 5.' (after calling add)
            await rt.call(pid, ("ask", "And 1 + 1?"))     # the raw request: ('ok', '1 + 1 = 2.')

    Configure by keyword (``rt.start(LLMAgent, model=..., ...)``, or
    ``LLMAgent.child_spec(id, ...)`` under a supervisor) or by subclassing and
    setting class attributes of the same names:

    ===================  ==========================================================
    option               meaning (default)
    ===================  ==========================================================
    ``system``           the system prompt (``"You are a helpful assistant."``;
                         ``""``: none)
    ``model``            an :class:`agentlab.llm.Model` (yours: the agent never
                         closes it); a function ``runtime -> Model`` (called at
                         every (re)start; the agent closes what it returns when
                         it exits); a script (``str`` or list, played by a
                         ``ScriptedModel`` on the runtime clock); default: a
                         ``ScriptedModel`` that echoes (no key needed)
    ``tools``            functions or :func:`tool` objects the model may call (none)
    ``output``           a pydantic model (or any type pydantic validates): answers
                         must be JSON of that shape (``None``: plain text)
    ``output_retries``   re-asks after an invalid (or empty) answer (2)
    ``max_steps``        tool rounds (model calls) per turn before giving up (8)
    ``tool_timeout``     seconds (runtime clock) each tool call may take (30)
    ``tool_errors``      ``"report"``: a failed or timed-out tool becomes an error
                         result the model sees; ``"crash"``: the agent crashes (OTP)
                         (``"report"``)
    ``tool_supervisor``  a :class:`agentlab.TaskSupervisor` for ``"report"`` tool
                         tasks (default: one started, linked, on first use)
    ``retry``            the :class:`agentlab.llm.RetryPolicy` of the one retry
                         layer (``RetryPolicy()``, or the policy of a
                         ``Retrying`` model); ``None`` disables retries
    ``max_tokens``,      a budget private to this incarnation (``None``: no limit)
    ``max_cost_usd``
    ``budget``           a shared :class:`Budget`, kept across restarts (``None``)
    ``budget_exit``      ``"shutdown"`` or ``"crash"``: the form of the exit reason
                         (``"shutdown"``)
    ``pubsub``,          a :class:`agentlab.PubSub` and the topics to subscribe to;
    ``topics``           incoming :class:`Post` s are notes (``on_post="note"``)
                         or questions (``"ask"``, answers go to ``publish_to``)
    ``model_options``    per-call provider options, e.g. ``{"temperature": 0}``
                         (none)
    ``token_events``     ``False`` leaves the per-delta ``llm_token``/
                         ``llm_tool_call`` events out of the stream (requests,
                         responses, usage and errors stay): for big batch runs
                         where nobody watches the text stream (``True``)
    ===================  ==========================================================

    The options are checked when the agent starts: ``max_steps`` is an ``int``
    >= 1, ``output_retries`` and ``max_tokens`` ints >= 0, ``tool_timeout`` a
    finite number > 0, ``max_cost_usd`` one >= 0; a bad value fails the start
    (:class:`agentlab.StartError`) with a message naming the option.

    Closing the model
    -----------------
    A provider model (:class:`~agentlab.llm.OpenAIChat`, ``Anthropic``,
    ``Gemini``) holds an ``httpx`` client and its pooled connections until it is
    closed (``await model.aclose()``). Who closes it depends on who made it:

    * **made by the agent** (``model=lambda rt: OpenAIChat(...)``, a factory, and
      the scripted models it makes from a script): it belongs to that
      incarnation and is closed when the incarnation exits, whatever the reason:
      a normal stop, a crash, a budget spent, a kill (mid-stream too: the
      runtime runs the close for the dead process, see
      :meth:`agentlab.Runtime.cleanup`), a supervisor's or ``rt.shutdown()``'s
      stop; ``rt.shutdown()`` returns once these closes are done. A restart
      calls the factory again for a fresh model. A factory that returns the
      same model every time shares it: it is closed when the last incarnation
      holding it exits, and opens a new client at its next call if used again.
    * **passed in** (``model=OpenAIChat(...)``): it is yours, possibly shared by
      several agents and kept across restarts; no agent's exit and no
      ``rt.shutdown()`` closes it. Close it when you are done with it: ``await
      model.aclose()``, or make it with ``async with OpenAIChat(...) as model:``
      around the runtime's use of it. Left open, its connections stay open
      until the model is garbage-collected, which warns ``ResourceWarning:
      unclosed transport`` (at the end of a script, once its event loop closed).

    Wrappers (:class:`~agentlab.llm.Retrying`, :class:`~agentlab.llm.FaultyModel`,
    :class:`~agentlab.llm.ReplayModel`) pass ``aclose`` on to the model they wrap,
    so a factory may return ``Retrying(OpenAIChat(...))``, and closing a wrapper
    you made closes the model inside it.

    Requests (``await rt.call(pid, request)``)
    ------------------------------------------
    ``("ask", text)`` runs a turn and replies ``("ok", answer)`` (a string, or
    the validated ``output`` value) or ``("error", exc)``; :func:`agent_ask`
    returns the answer or raises ``exc``. ``"usage"`` replies a dict of calls,
    tokens and cost; ``"history"`` the conversation (a list of
    :class:`agentlab.llm.Message`); ``"reset"`` forgets all but the system prompt.
    A turn can take a while: give the raw call a ``timeout=`` (``rt.call``
    waits 5 s by default, :func:`agent_ask` 300 s, both on the runtime clock).

    A turn
    ------
    The model streams its answer (every token is an ``llm_token`` event of
    this agent). If it asks for tools, each call runs **in its own process**
    (``tool_errors="report"``: a temporary child of a :class:`TaskSupervisor`,
    not linked, so a crash comes back as a result; ``"crash"``: a task linked
    to the agent, so a crash kills the agent with the tool's exit reason), all
    calls of one step concurrently, each under ``tool_timeout``; the results
    go back to the model, and the loop repeats until it answers without tools.
    Mistakes of the model (an unknown tool, arguments that are not JSON or do
    not fit the schema, or make its check raise) are always reported back to
    it, whatever the policy, so the conversation stays valid (every tool call
    gets a result).

    When things go wrong
    --------------------
    ==============================  ==============================================
    what                            what happens
    ==============================  ==============================================
    transient model error (429,     :class:`agentlab.llm.Retrying` retries it on the
    5xx, timeout, cut stream)       runtime clock, honouring Retry-After
                                    (``llm_retry`` events). Nothing else retries.
    retries exhausted, or a final   the agent **crashes** with the typed error as
    error (auth, bad request)       its reason (``Crash`` of ``RateLimited``...);
                                    the caller gets :class:`agentlab.CalleeExited`
                                    and the supervisor restarts the agent with a
                                    fresh conversation
    a tool fails / times out        ``"report"``: the model sees the error;
                                    ``"crash"``: the agent crashes. A tool that
                                    calls ``sys.exit()`` fails the same way, with
                                    ``SystemExit`` as the error type (as any
                                    process's code does): it never ends
                                    the event loop (a notebook's kernel). Ctrl-C
                                    (``KeyboardInterrupt``) and cancellation keep
                                    their meaning.
    invalid answer for ``output``   re-asked ``output_retries`` times, then the turn
                                    fails with :class:`OutputInvalid`; the agent
                                    stays up, the failed turn is taken back
    ``max_steps`` tool rounds       the turn fails with :class:`MaxStepsExceeded`;
                                    the agent stays up, the turn is taken back
    budget spent                    see below: the agent replies
                                    :class:`BudgetExceeded` and exits
    ==============================  ==============================================

    **One retry layer.** Retrying lives in exactly one place, the LLM layer's
    :class:`~agentlab.llm.Retrying` around the model. A ``Retrying`` passed as
    ``model`` is unwrapped and rebuilt on the runtime clock, never stacked: its
    policy (and ``resend_partial``) is the agent's. Give the policy once, then:
    with ``retry=`` left out, the model's applies; a ``retry=`` that differs from
    it (``None`` included) fails the start with a ``ValueError`` naming both,
    since either could be the one meant (pass the model unwrapped,
    ``model=retrying.model``, to use ``retry=``).
    The agent does not retry turns and the supervisor does not retry calls:
    once the retry policy gives up, the agent crashes and its supervisor
    *restarts* it, which is recovery (fresh state), not another retry of the
    same request. With ``max_retries=3`` and a supervisor intensity of 1 in
    5 s, a provider outage costs at most 4 attempts per incarnation and 2
    incarnations before the supervisor gives up and escalates. Keep the
    provider SDK's own retries off (the built-in providers have none). With
    ``Retrying(..., resend_partial=True)`` a stream cut part-way is re-sent;
    the answer is then the last attempt's alone (the event log keeps what
    each attempt streamed).

    Budgets
    -------
    Every attempt counts, failed ones included (one the provider refused, a
    429 or another error answer, costs nothing). Its usage goes into the
    budget as it streams and is settled with the LLM layer's counts when it
    ends: its prompt's estimated tokens with the first delta, then its output
    as the LLM layer estimates it when the provider reports no count, a token
    per four characters of text, tool names and arguments; at the model's
    prices (an unpriced model is not cut for cost). An attempt is a call from
    its start, so a budget's ``tokens``, ``cost_usd`` and ``calls`` always cover
    the same attempts; ``in_flight`` says how many of them are still under way
    (:class:`Budget` has the figures). The agent checks before
    each attempt (a retry included) and at each streamed delta, against the
    budget's totals, which include the other agents' streams on a shared
    :class:`Budget`. At the first delta that passes a limit the stream is cut, a
    ``budget_exceeded``
    event is emitted, the caller gets :class:`BudgetExceeded`, and the agent
    exits with reason ``("shutdown", ("budget_exceeded", info))``
    (``budget_exit="shutdown"``, the default) or ``("budget_exceeded", info)``
    (``budget_exit="crash"``). How supervisors treat it:

    =============  =============================  ============================
    restart type   ``budget_exit="shutdown"``     ``budget_exit="crash"``
    =============  =============================  ============================
    permanent      restarted                      restarted
    transient      **not** restarted (stays       restarted
                   stopped: a spent budget is a
                   decision, not a fault)
    temporary      not restarted                  not restarted
    =============  =============================  ============================

    The default makes ``restart="transient"`` mean "run until done or out of
    money". A restarted agent gets a fresh budget from ``max_tokens``/
    ``max_cost_usd``, but a shared :class:`Budget` stays spent: a permanent
    child then exits again at its next model call, each exit counts toward
    the supervisor's intensity, and the supervisor eventually gives up and
    escalates, as with any repeated failure. :func:`is_budget_exceeded`
    recognises both forms.

    **How far past a limit.** The delta that passes a limit has already been
    generated, and it is charged: a cut lands past the limit by at most that
    one delta, ``ceil(len(delta) / 4)`` tokens (one or two for a word) at the
    output price. Only counts that differ from the estimate take it further,
    since the charge uses what the provider reported where it did: the
    prompt's tokens as the stream starts (Anthropic), running counts
    (Gemini), and every count at the end of an attempt that was not cut,
    which can exceed the streamed text (reasoning tokens stream none). And a
    limit is checked, not predicted: an attempt starts whenever the budget is
    not yet passed, even if its prompt alone passes what is left (it is then
    cut at its first delta). Agents streaming at once on one shared
    :class:`Budget` are each cut at their next delta once it is passed: the
    total ends past the limit by at most one delta per agent streaming (an
    attempt's first delta carrying its prompt too), as :class:`Budget` says.

    Events
    ------
    Besides the LLM layer's ``llm_*`` events (tagged with this agent's pid):

    ===================  ========================================================
    kind                 data
    ===================  ========================================================
    ``turn_start``       ``turn``, ``text``
    ``turn_end``         ``turn``, ``ok``, ``steps``, ``answer`` or ``error``/
                         ``error_type``
    ``tool_start``       ``call_id`` (the call's id, as its ``llm_tool_call``
                         event carries it: the provider's, or for one Gemini
                         sends without an id, the Gemini model's ``call_<n>``;
                         a call that comes with none at all gets the agent's
                         ``call-<pid>-<n>``), ``tool``, ``arguments``
    ``tool_result``      ``call_id``, ``tool``, ``result``, ``error`` (message or
                         ``None``), ``error_type``, ``duration``
    ``output_invalid``   ``attempt``, ``errors``
    ``budget_exceeded``  ``limit``, ``tokens``, ``max_tokens``, ``cost_usd``,
                         ``max_cost_usd``, ``calls``, ``in_flight`` (as
                         :meth:`Budget.info` gives them)
    ===================  ========================================================

    Events never carry API keys, request headers or the model object. The
    ``request_id`` of the ``llm_*`` events is numbered per runtime (the agents'
    and their tools' calls, and any other model call made on the event loop of
    an open runtime, a notebook cell's among them), so the same seed gives the
    same ids.
    """

    system: str = "You are a helpful assistant."
    model: Any = None
    tools: Sequence[Any] = ()
    output: Any = None
    output_retries: int = 2
    max_steps: int = 8
    tool_timeout: float = 30.0
    tool_errors: str = "report"
    tool_supervisor: Pid | str | None = None
    retry: RetryPolicy | None = _DEFAULT_RETRY
    budget: Budget | None = None
    max_tokens: int | None = None
    max_cost_usd: float | None = None
    budget_exit: str = "shutdown"
    pubsub: PubSub | None = None
    topics: Sequence[Hashable] = ()
    on_post: str = "note"
    publish_to: Hashable | None = None
    model_options: Mapping[str, Any] = {}
    token_events: bool = True

    # ------------------------------------------------------------------ setup
    def init(self, system: str | None = None, **config: Any) -> Any:
        unknown = sorted(set(config) - set(_OPTIONS))
        if unknown:
            raise TypeError(
                f"LLMAgent got unknown option(s) {unknown}; the options are {list(_OPTIONS)}"
            )
        if system is not None:
            config["system"] = system
        for key, value in config.items():
            setattr(self, key, value)
        if self.tool_errors not in ("report", "crash"):
            raise ValueError(f"tool_errors must be 'report' or 'crash', not {self.tool_errors!r}")
        if self.budget_exit not in ("shutdown", "crash"):
            raise ValueError(f"budget_exit must be 'shutdown' or 'crash', not {self.budget_exit!r}")
        if self.on_post not in ("note", "ask"):
            raise ValueError(f"on_post must be 'note' or 'ask', not {self.on_post!r}")
        self._check_numbers()
        self._check_pubsub()
        rt = self.runtime
        self._tools: dict[str, FunctionTool] = as_tools(self.tools)
        self._schemas = [t.schema() for t in self._tools.values()]
        self._output = OutputSpec(self.output) if self.output is not None else None
        prompt = self.system
        if self._output is not None:
            prompt = f"{prompt}\n\n{self._output.instructions()}" if prompt else self._output.instructions()
        self.messages: list[Message] = [Message.system(prompt)] if prompt else []
        self._private_budget = (
            Budget(self.max_tokens, self.max_cost_usd)
            if self.max_tokens is not None or self.max_cost_usd is not None
            else None
        )
        self._budgets = [b for b in (self._private_budget, self.budget) if b is not None]
        self._meter = UsageMeter()
        self._turns = 0
        self._asm = Assembler()  # the answer of the current attempt
        # the current attempt so far, the budgets' live view: its prompt's tokens
        # (estimated), its output and the prices of both
        self._attempt_in = 0
        self._attempt_chars = 0  # output characters streamed (text, tool names and arguments)
        # what the attempt's stream has put in the budgets so far (Budget.spend), which
        # its end settles (Budget.settle); _attempt_open: one is under way (Budget.start)
        self._attempt_open = False
        self._counted_tokens = 0
        self._counted_cost = 0.0
        self._price = _UNPRICED  # (input, output) USD per million tokens of the attempt's model
        self._prices: Prices | None = None
        self._call_ids = itertools.count(1)  # for a model whose calls come without ids
        self._task_sup: Pid | None = None
        self._llm = self._build_model(rt)
        # token events go straight into the runtime's stream; the rest through _on_llm
        self._emit = (
            Routed(
                self._on_llm,
                rt.emitter("llm_token", TOKEN_FIELDS, self.pid),
                rt.emitter("llm_tool_call", TOOL_CALL_FIELDS, self.pid),
            )
            if self.token_events
            else Routed(self._on_llm)
        )
        if self.pubsub is not None:
            for topic in self.topics:
                self.pubsub.subscribe(topic, pid=self.pid)
        return None

    def _check_numbers(self) -> None:
        """Fail the start on a numeric option the first turn would trip over."""
        check_count("max_steps", self.max_steps, 1, "tool rounds per turn")
        check_count("output_retries", self.output_retries, 0, "re-asks after an invalid answer")
        check_amount("tool_timeout", self.tool_timeout, "seconds each tool call may take",
                     positive=True)
        # max_tokens and max_cost_usd: Budget checks them as init makes it
        if self.retry is not None and not isinstance(self.retry, RetryPolicy):
            raise TypeError(
                f"retry must be a RetryPolicy (or None: no retries), not {self.retry!r}; "
                "e.g. retry=RetryPolicy(max_retries=5)"
            )
        if self.budget is not None and not isinstance(self.budget, Budget):
            raise TypeError(
                f"budget must be a shared Budget (or None), not {self.budget!r}; for a budget "
                "of this agent's own, use max_tokens= or max_cost_usd="
            )
        if not isinstance(self.model_options, Mapping):
            raise TypeError(
                f"model_options must be a mapping of provider options, not {self.model_options!r}"
            )
        taken = sorted(k for k in ("tools", "emit") if k in self.model_options)
        if taken:
            raise ValueError(
                f"model_options cannot set {taken}: the agent passes its own tools and "
                "events to every call. Give tools with tools=; watch events in the runtime's "
                "stream (rt.events, rt.subscribe)"
            )

    def _check_pubsub(self) -> None:
        """Fail the start on topics or publish_to that would silently do nothing."""
        if isinstance(self.topics, str | bytes) or not isinstance(self.topics, Iterable):
            raise TypeError(
                f"topics must be a list of topics, not {self.topics!r}; for one topic, "
                f"pass topics=[{self.topics!r}]"
            )
        self.topics = tuple(self.topics)
        if self.pubsub is None:
            given = [n for n, v in (("topics", self.topics), ("publish_to", self.publish_to))
                     if v not in ((), None)]
            if given:
                raise ValueError(
                    f"{' and '.join(given)} given but no pubsub= to use them on; pass "
                    "pubsub=PubSub(rt, name=...)"
                )
        elif not isinstance(self.pubsub, PubSub):
            raise TypeError(f"pubsub must be an agentlab.PubSub (or None), not {self.pubsub!r}")

    def _build_model(self, rt: Runtime) -> Any:
        m = self.model
        if m is None:
            m = ScriptedModel(_echo, clock=rt, rng=rt.random)
        elif isinstance(m, str | list | tuple):
            m = ScriptedModel([m] if isinstance(m, str) else list(m), clock=rt, rng=rt.random)
        elif isinstance(m, type):
            raise TypeError(
                f"model= got the class {m.__name__}, not a model; pass a model "
                f"({m.__name__}(...)) or a function that makes one at every (re)start "
                f"(lambda rt: {m.__name__}(...))"
            )
        elif not hasattr(m, "stream") and callable(m):
            factory, m = m, m(rt)
            if getattr(m, "aclose", None) is not None:
                # made for this incarnation: closed when it exits, whatever the reason (a
                # kill runs none of its code: the runtime calls the watch callback)
                _hold(m)
                rt.watch(self.pid, functools.partial(_let_go, rt, m))
            if not hasattr(m, "stream"):
                raise TypeError(
                    f"the model factory {factory!r} returned {_short(m)}, not a model (an "
                    "object with stream(messages, tools=..., **opts)); return a model such "
                    "as OpenAIChat(...)"
                )
        elif not hasattr(m, "stream"):
            raise TypeError(
                f"model= must be a model (an object with stream(messages, tools=..., "
                f"**opts)), a function rt -> model, or a script (a str or list of answers), "
                f"not {_short(m)}"
            )
        policy = self.retry
        resend = False
        if isinstance(m, Retrying):  # one retry layer: unwrap, rebuild on the runtime clock
            if policy is not _DEFAULT_RETRY and policy != m.policy:
                given = "retry=None (no retries)" if policy is None else f"retry={policy!r}"
                raise ValueError(
                    f"{type(self).__name__} got {given} and a Retrying model whose policy is "
                    f"{m.policy!r}: an agent has one retry layer, so give its policy once. "
                    "Leave retry= out to use the model's policy, or pass the model unwrapped "
                    "(model=<the Retrying>.model) to use retry="
                )
            policy = m.policy
            resend = m.resend_partial
            m = m.model
        self._prices = through_wrappers(m, "prices", Mapping)
        guarded = _Guarded(m, self._before_attempt)
        if policy is None:
            return guarded
        return Retrying(guarded, policy, clock=rt, rng=rt.random, resend_partial=resend)

    @classmethod
    def child_spec(
        cls,
        id: Any,
        *,
        name: str | None = None,
        restart: str = "permanent",
        shutdown: float | str = 5.0,
        **config: Any,
    ) -> ChildSpec:
        """A :class:`agentlab.ChildSpec` that starts this agent with ``config``.

        >>> LLMAgent.child_spec("writer", restart="transient", system="You write.")
        ChildSpec('writer', restart='transient', type='worker')
        """
        return ChildSpec(id, (cls, (), config), restart=restart, shutdown=shutdown, name=name)

    # ------------------------------------------------------------------ requests
    def handle_call(self, request: Any, caller: Caller) -> Any:
        op = request[0] if isinstance(request, tuple) and request else request
        if op == "ask":
            if not (isinstance(request, tuple) and len(request) == 2):
                raise ValueError(
                    f"{type(self).__name__} got {request!r}; an ask is ('ask', text), "
                    "or use agent_ask(rt, agent, text)"
                )
            return self._ask(str(request[1]))
        if op == "usage":
            return self.usage()
        if op == "history":
            return list(self.messages)
        if op == "reset":
            self.messages = self.messages[:1] if self.messages and self.messages[0].role == "system" else []
            return "ok"
        raise ValueError(
            f"{type(self).__name__} got an unknown request {request!r}; use ('ask', text), "
            "'usage', 'history' or 'reset'"
        )

    def handle_info(self, msg: Any) -> Any:
        if isinstance(msg, Post):
            if self.on_post == "ask":
                return self._answer_post(msg)
            self.messages.append(Message.user(msg.render()))
        return None

    async def _answer_post(self, post: Post) -> Any:
        result = await self._ask(post.render())
        if isinstance(result, Stop):
            return result
        if result[0] == "ok" and self.publish_to is not None and self.pubsub is not None:
            publish(self.pubsub, self.publish_to, render_result(result[1]), sender=self.pid.name)
        return None

    def usage(self) -> dict[str, Any]:
        """Calls, tokens and cost of this incarnation (and the shared budget, if any)."""
        m = self._meter
        return {
            "turns": self._turns,
            "calls": m.calls,
            "failed": m.failed,
            "retries": m.retries,
            "input_tokens": m.input_tokens,
            "output_tokens": m.output_tokens,
            "tokens": m.input_tokens + m.output_tokens,
            "cost_usd": m.cost_usd,
            "budget": self.budget.info() if self.budget is not None else None,
        }

    def describe_state(self) -> str:
        if not hasattr(self, "_meter"):
            return "starting"
        m = self._meter
        return (
            f"{len(self.messages)} messages, {self._turns} turns, "
            f"{m.input_tokens + m.output_tokens} tokens, ${m.cost_usd:.4f}"
        )

    # ------------------------------------------------------------------ a turn
    async def _ask(self, text: str) -> Any:
        rt = self.runtime
        self._turns += 1
        turn = self._turns
        mark = len(self.messages)
        self.messages.append(Message.user(text))
        rt.emit("turn_start", self.pid, turn=turn, text=_short(text))
        steps = [0]
        try:
            value = await self._run_turn(steps)
        except BudgetExceeded as e:
            info = e.info
            rt.emit("budget_exceeded", self.pid, **info)
            rt.emit("turn_end", self.pid, turn=turn, ok=False, steps=steps[0],
                    error=str(e), error_type="BudgetExceeded")
            return Stop(budget_reason(info, self.budget_exit), reply=("error", e))
        except (OutputInvalid, MaxStepsExceeded) as e:
            del self.messages[mark:]
            rt.emit("turn_end", self.pid, turn=turn, ok=False, steps=steps[0],
                    error=str(e), error_type=type(e).__name__)
            return ("error", e)
        rt.emit("turn_end", self.pid, turn=turn, ok=True, steps=steps[0],
                answer=_short(render_result(value)))
        return ("ok", value)

    async def _run_turn(self, steps: list[int]) -> Any:
        reasks = 0
        while True:
            if steps[0] >= self.max_steps:
                raise MaxStepsExceeded(
                    f"{self._who()} asked for tools {self.max_steps} times without answering "
                    "(max_steps). Raise max_steps, or make the tools' results more conclusive.",
                    process=self.pid,
                )
            steps[0] += 1
            response = await self._complete()
            if response.tool_calls:
                # a model whose calls come without ids (a custom one, a compatible server):
                # every call needs one, for its result to answer it
                calls = [
                    c if c.id else dataclasses.replace(c, id=f"call-{self.pid.id}-{next(self._call_ids)}")
                    for c in response.tool_calls
                ]
                self.messages.append(Message.assistant(response.text, calls))
                self.messages.extend(await self._run_tools(calls))
                continue
            self.messages.append(response.message())
            problem: str | None = None
            value: Any = response.text
            if self._output is not None:
                try:
                    value = self._output.parse(response.text)
                except ValueError as e:
                    problem = str(e)
            elif not response.text.strip():
                problem = "the answer was empty"
            if problem is None:
                return value
            if reasks >= self.output_retries:
                if self._output is not None:
                    message = (
                        f"{self._who()} gave no valid {self._output.name} after {reasks + 1} "
                        f"answer(s): {problem}. Look at .text, simplify the schema, or raise "
                        "output_retries."
                    )
                else:
                    reason = response.stop_reason
                    ended = (
                        f" (the last ended with stop reason {reason!r})"
                        if reason and reason not in _PLAIN_STOPS
                        else ""
                    )
                    message = (
                        f"{self._who()} answered with empty text {reasks + 1} time(s) in a "
                        f"row{ended}. Look at the model and its options (a max_tokens too "
                        "small, a content filter), or raise output_retries."
                    )
                raise OutputInvalid(
                    message,
                    process=self.pid,
                    errors=problem,
                    text=response.text,
                    attempts=reasks + 1,
                )
            reasks += 1
            steps[0] -= 1  # a re-ask is not a tool step
            self.runtime.emit("output_invalid", self.pid, attempt=reasks, errors=_short(problem, 500))
            feedback = (
                self._output.feedback(problem)
                if self._output is not None
                else "Your answer was empty. Please answer the question."
            )
            self.messages.append(Message.user(feedback))

    async def _complete(self) -> Response:
        """One model call (with the retry layer's attempts), streamed into the event log.

        The answer is assembled from the last attempt only: ``_on_llm`` starts a fresh
        assembly when the retry layer starts another attempt (a partial stream re-sent).
        """
        self._before_attempt()
        self._asm = Assembler()
        over: Budget | None = None
        limit: str | None = None
        # request ids per runtime (same seed, same log); no attempt left under way after
        with numbered_in(self.runtime), self._attempts_ended():
            async with opened(
                self._llm.stream(
                    self.messages, tools=self._schemas or None, emit=self._emit,
                    **self.model_options,
                )
            ) as events:
                budgets = self._budgets
                async for ev in events:
                    self._asm.add(ev)
                    if not budgets:
                        continue
                    # the output as the attempt's end counts it when the provider reports no
                    # count: its characters at the LLM layer's rate, not a token per delta (a
                    # delta is often more than a token: the cut landed ~25% past the limit)
                    grown = output_chars(ev)
                    if grown:
                        self._attempt_chars += grown
                        out = tokens_for_chars(self._attempt_chars)
                        live = self._attempt_in + out
                        cost = cost_at(self._price, self._attempt_in, out)  # as cost_usd has it
                        # into the budgets at once (the prompt with the first delta): an agent
                        # sharing one sees this stream as it grows, not when it ends
                        tokens, spent = live - self._counted_tokens, cost - self._counted_cost
                        self._counted_tokens, self._counted_cost = live, cost
                        for b in budgets:
                            b.spend(tokens, spent)
                        for b in budgets:
                            limit = b.exceeded
                            if limit is not None:
                                over = b
                                break
                        if over is not None:
                            break
        if over is not None and limit is not None:
            raise self._budget_error(over, limit)
        for b in self._budgets:
            if b.exceeded:
                raise self._budget_error(b, b.exceeded)
        return self._asm.response()

    # ------------------------------------------------------------------ accounting
    def _on_llm(self, kind: str, **fields: Any) -> None:
        """The LLM layer's events other than the per-delta ones: account, then put the
        event in the stream."""
        if kind == "llm_request":
            # one that ended without its end event (a custom model's) keeps in the budgets
            # what its stream put there, as its final count
            self._settle_attempt()
            self._attempt_in = fields.get("input_tokens_estimate") or 0
            self._attempt_chars = 0
            # a new attempt: a call from now on, under way, that has used nothing yet
            self._counted_tokens = 0
            self._counted_cost = 0.0
            for b in self._budgets:
                b.start()
            self._attempt_open = True
            model = fields.get("model")
            price = price_of(model, self._prices) if self._prices and isinstance(model, str) else None
            # unpriced: its cost is unknown mid-stream (and None at the end)
            self._price = _UNPRICED if price is None else price
        elif kind in _LLM_END:
            # the attempt's final counts, in place of what its stream put in the budgets
            tokens = (fields.get("input_tokens") or 0) + (fields.get("output_tokens") or 0)
            self._settle_attempt(tokens, fields.get("cost_usd") or 0.0)
            self._meter(kind, **fields)
        elif kind == "llm_retry":
            self._meter(kind, **fields)
            self._asm = Assembler()  # another attempt starts: its answer starts over
        self.runtime.emit(kind, self.pid, **fields)

    @contextlib.contextmanager
    def _attempts_ended(self) -> Iterator[None]:
        """Settle, on the way out, an attempt that is still under way (a custom model's
        that sent no end event)."""
        try:
            yield
        finally:
            if self._attempt_open:
                self._settle_attempt()

    def _settle_attempt(self, tokens: int | None = None, cost: float = 0.0) -> None:
        """End the current attempt in the budgets: its final counts (``tokens``, ``cost``)
        replace what its stream put there; ``tokens=None`` (no end event came) keeps that
        as its count. An end event with no attempt under way (a custom model's) is added
        whole."""
        if self._attempt_open:
            if tokens is None:
                tokens, cost = self._counted_tokens, self._counted_cost
            for b in self._budgets:
                b.settle(self._counted_tokens, self._counted_cost, tokens, cost)
        elif tokens is not None:
            for b in self._budgets:
                b.charge(tokens, cost)
        self._attempt_open = False
        self._attempt_in = self._attempt_chars = self._counted_tokens = 0
        self._counted_cost = 0.0
        self._price = _UNPRICED

    def _before_attempt(self) -> None:
        for b in self._budgets:
            limit = b.exceeded
            if limit:
                raise self._budget_error(b, limit)

    def _budget_error(self, budget: Budget, limit: str) -> BudgetExceeded:
        info = budget.info(limit)
        return BudgetExceeded(
            budget_message(self._who(), info, shared=budget is self.budget),
            process=self.pid,
            info=info,
        )

    def _who(self) -> str:
        return f"agent {self.pid.name!r}" if self.pid.name else f"agent {self.pid!r}"

    # ------------------------------------------------------------------ tools
    async def _run_tools(self, calls: list[ToolCall]) -> list[Message]:
        rt = self.runtime
        results: dict[int, Message] = {}
        running: list[tuple[int, ToolCall, FunctionTool, Task, float]] = []
        for i, call in enumerate(calls):
            cid = str(call.id)
            rt.emit("tool_start", self.pid, call_id=cid, tool=call.name, arguments=call.arguments)
            t0 = rt.now()
            ft = self._tools.get(call.name)
            try:
                if ft is None:
                    known = ", ".join(self._tools) or "none"
                    raise ToolArgumentsError(f"there is no tool named {call.name!r} (tools: {known})")
                if call.error:
                    raise ToolArgumentsError(f"arguments for {call.name!r}: {call.error}")
                args = ft.validate(call.arguments)
            except ToolArgumentsError as e:  # the model's mistake: reported back to it
                results[i] = self._tool_done(call, t0, error=str(e), error_type="invalid_call")
                continue
            ctx = ToolContext(rt, self.pid, cid, ft.name)
            running.append((i, call, ft, await self._start_tool(ft, args, ctx), t0))
        for i, call, ft, task, t0 in running:
            results[i] = await self._await_tool(call, ft, task, t0)
        return [results[i] for i in range(len(calls))]

    async def _start_tool(self, ft: FunctionTool, args: dict[str, Any], ctx: ToolContext) -> Task:
        run = _tool_runner(ft)
        if self.tool_errors == "crash":
            return self.runtime.task(run, args, ctx)
        sup = self.tool_supervisor
        if sup is None:
            if self._task_sup is None or not self._task_sup.alive:
                self._task_sup = self.runtime.start(TaskSupervisor, link=True)
            sup = self._task_sup
        return await TaskSupervisor.async_nolink(sup, run, args, ctx)

    async def _await_tool(self, call: ToolCall, ft: FunctionTool, task: Task, t0: float) -> Message:
        rt = self.runtime
        limit = ft.timeout if ft.timeout is not None else self.tool_timeout
        remaining = max(0.0, t0 + limit - rt.now())
        if self.tool_errors == "crash":
            outcome = await task.yield_(remaining)
            if outcome is None:
                await task.shutdown()
                self._tool_done(call, t0, error=f"timed out after {limit:g}s", error_type="timeout")
                raise ToolFailed(
                    f"tool {ft.name!r} (call {call.id}) of {self._who()} did not finish within "
                    f"{limit:g}s; with tool_errors='crash' the agent crashes. Raise tool_timeout, "
                    "or use tool_errors='report' to let the model handle it.",
                    process=self.pid,
                    tool=ft.name,
                    call_id=str(call.id),
                )
        else:
            outcome = await task.yield_(remaining)
            if outcome is None:
                outcome = await task.shutdown()
                if outcome is None:
                    return self._tool_done(
                        call, t0, error=f"timed out after {limit:g}s", error_type="timeout"
                    )
        tag, value = outcome
        if tag == "ok":
            return self._tool_done(call, t0, result=render_result(value))
        etype = getattr(value, "type", None) or "exit"
        return self._tool_done(call, t0, error=f"the tool failed: {value}", error_type=etype)

    def _tool_done(
        self,
        call: ToolCall,
        t0: float,
        *,
        result: str | None = None,
        error: str | None = None,
        error_type: str | None = None,
    ) -> Message:
        rt = self.runtime
        rt.emit(
            "tool_result",
            self.pid,
            call_id=str(call.id),
            tool=call.name,
            result=None if result is None else _short(result, 500),
            error=error,
            error_type=error_type,
            duration=rt.now() - t0,
        )
        content = result if error is None else f"Error: {error}"
        return Message.tool(content or "", tool_call_id=call.id, name=call.name)


def _tool_runner(ft: FunctionTool) -> Callable[..., Any]:
    async def run(args: dict[str, Any], ctx: ToolContext) -> Any:
        # the tool's process (its own asyncio task and context) knows whose tool it runs:
        # an agent_ask it makes is checked for an ask cycle (_team.asking)
        token = running_tool.set(ctx)
        try:
            with numbered_in(ctx.runtime):  # a tool's own model calls: ids of the runtime too
                # a tool that calls sys.exit() crashes its task like any exception does
                # (agentlab._reasons.CRASHES), not the event loop
                return await ft.invoke(args, ctx)
        finally:
            running_tool.reset(token)

    run.__name__ = ft.name  # the task's child id, shown in the supervision tree
    return run


class _Guarded:
    """The model as the retry layer sees it: each attempt first checks the budget."""

    def __init__(self, model: Any, check: Callable[[], None]) -> None:
        self.inner = model
        self._check = check
        self.provider = getattr(model, "provider", None)
        self.model = through_wrappers(model, "model")  # for llm_retry events
        self.emit = None

    def stream(self, messages: Any, *, tools: Any = None, **opts: Any) -> Any:
        self._check()  # raises BudgetExceeded, which no retry layer catches
        return self.inner.stream(messages, tools=tools, **opts)

    def __repr__(self) -> str:
        return repr(self.inner)


async def agent_ask(
    rt: Runtime, agent: Pid | str, text: str, *, timeout: float | None = 300.0
) -> Any:
    """Ask an :class:`LLMAgent` (pid or registered name) and return its answer.

    Raises the turn's error (:class:`OutputInvalid`, :class:`MaxStepsExceeded`,
    :class:`BudgetExceeded`), :class:`agentlab.CalleeExited` if the agent
    crashed during the turn (its ``.reason`` says why, e.g. a ``Crash`` of
    :class:`agentlab.llm.RateLimited` after the retries), or
    :class:`agentlab.CallTimeout` after ``timeout`` seconds of runtime clock.

    Asked from a tool of an agent, an ask that would wait for that agent's own
    answer (the agent itself, or one that waits for it) fails at once with
    :class:`AskCycle`, as :func:`ask_agent_tool` does. A target that is no
    :class:`LLMAgent` (its reply is not ``("ok", answer)`` or ``("error",
    exc)``) raises ``TypeError``: call it with ``rt.call``.
    """
    ctx = running_tool.get()
    if ctx is not None and ctx.runtime is rt:
        from ._team import asking  # _team imports this module

        with asking(ctx, agent):
            reply = await rt.call(agent, ("ask", text), timeout=timeout)
    else:
        reply = await rt.call(agent, ("ask", text), timeout=timeout)
    if isinstance(reply, tuple) and len(reply) == 2:
        tag, value = reply
        if tag == "ok":
            return value
        if tag == "error" and isinstance(value, BaseException):
            raise value
    raise _not_an_llm_agent(rt, agent, reply)


def _not_an_llm_agent(rt: Runtime, agent: Pid | str, reply: Any) -> TypeError:
    pid = rt.whereis(agent) if isinstance(agent, str) else agent
    behaviour = getattr(pid, "_beh", None)
    runs = f" (it runs {type(behaviour).__name__})" if behaviour is not None else ""
    return TypeError(
        f"agent_ask asks an LLMAgent, but {describe(pid or agent)}{runs} replied "
        f"{_short(reply)} to ('ask', text), not ('ok', answer) or ('error', exception): it is "
        "not an LLMAgent. Call other agents with their own requests: await rt.call(agent, "
        "request)."
    )
