"""``agentlab demo``: a supervised research team that fails and recovers, offline.

::

    $ python -m agentlab demo --seed 7            # virtual clock: instant, same seed, same run
    $ python -m agentlab demo --real              # real clock, scripted token timing (~5 s)
    $ python -m agentlab demo --out runs/         # also write the run as a Parquet trace

The team (one_for_one supervisor ``team``)::

    team
    ├── researchers    DynamicSupervisor: researchers start on demand (transient)
    │   ├── alice      rate-limited once (retried), calls the search tool
    │   └── bob        the provider fails 3 times: retries exhausted, bob crashes,
    │                  researchers restarts him; his first search fails (reported)
    └── lead           asks both (tool calls in parallel), re-asks bob after his
                       crash, and must answer with a validated ``Brief``

Every model is a :class:`~agentlab.llm.ScriptedModel` on the runtime clock,
with seeded faults (:class:`~agentlab.llm.FaultyModel` spoils some tool
names), priced like a small hosted model so the cost column means something.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import random
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TextIO

import pydantic

from .._clock import RealClock, VirtualClock
from .._errors import SupervisorError
from .._events import Event
from .._reasons import Crash, is_shutdown_reason
from .._runtime import Runtime
from .._supervisor import ChildSpec, DynamicSupervisor, Supervisor
from ..llm import (
    FaultyModel,
    Message,
    RateLimited,
    Reply,
    RetryPolicy,
    ScriptedModel,
    ServerError,
    ToolCall,
)
from ._agent import LLMAgent, agent_ask
from ._budget import Budget
from ._team import start_llm_agent
from ._tools import FunctionTool, ToolContext

__all__ = ["ASK_TIMEOUT", "Brief", "DemoResult", "main", "researcher_tool", "run_demo"]

PRICES = {"scripted": (0.15, 0.60)}  # USD per 1M tokens, like a small hosted model
QUESTION = "Write a short brief: how did solar and wind power grow in 2024?"

NOTES = {
    "solar": "Global solar capacity additions reached about 600 GW in 2024, a record year.",
    "wind": "Wind additions were about 117 GW in 2024, led by onshore projects in China.",
}


class Brief(pydantic.BaseModel):
    """The lead's answer."""

    title: str
    summary: str
    sources: list[str]


def search(query: str) -> str:
    """Search the research notes.

    Args:
        query: a topic, such as "solar" or "wind"
    """
    for key, text in NOTES.items():
        if key in query.lower():
            return f"{text} (notes/{key})"
    raise LookupError(f"the notes have nothing on {query!r}")


# ---------------------------------------------------------------------------- scripts


def _lead_script(messages: list[Message]) -> Any:
    last = messages[-1]
    if last.role == "user" and last.content.startswith("Your answer did not validate"):
        found = [m.content for m in messages if m.role == "tool" and not m.content.startswith("Error")]
        return (
            '{"title": "Solar and wind in 2024", "summary": "'
            + "; ".join(f.split(" (notes/")[0] for f in found[-2:]).replace('"', "'")
            + '", "sources": ["notes/solar", "notes/wind"]}'
        )
    if last.role == "user":
        return Reply(
            "I will ask both researchers.",
            tool_calls=[
                ToolCall("lead-1", "ask_researcher", {"researcher": "alice", "question": "Solar growth in 2024?"}),
                ToolCall("lead-2", "ask_researcher", {"researcher": "bob", "question": "Wind growth in 2024?"}),
            ],
        )
    start = max(i for i, m in enumerate(messages) if m.role == "assistant") + 1
    results = [m for m in messages[start:] if m.role == "tool"]
    failed = [m for m in results if m.content.startswith("Error")]
    if failed:
        return Reply(
            "Bob's answer failed; asking him again.",
            tool_calls=[ToolCall("lead-3", "ask_researcher", {"researcher": "bob", "question": "Wind growth in 2024?"})],
        )
    return '{"title": "Solar and wind in 2024", "summary": "Both grew fast."}'  # no sources: re-asked


def _alice_script() -> list[Any]:
    return [
        RateLimited("scripted", retry_after=1.5),
        ToolCall("alice-1", "search", {"query": "solar"}),
        "Solar: about 600 GW added in 2024, a record (notes/solar).",
    ]


def _bob_script() -> list[Any]:
    outage = ServerError("provider outage (scripted)", provider="scripted", status=503)
    return [
        outage,
        outage,
        outage,  # retries exhausted: bob crashes, the supervisor restarts him
        ToolCall("bob-1", "search", {"query": "tidal power 2024"}),  # the tool fails: reported
        ToolCall("bob-2", "search", {"query": "wind"}),
        "Wind: about 117 GW added in 2024, mostly onshore in China (notes/wind).",
    ]


# ---------------------------------------------------------------------------- the team

ASK_TIMEOUT = 120.0
"""Seconds (runtime clock) the lead's ``ask_researcher`` waits for an answer: the
tool's own limit, in place of the lead's ``tool_timeout``."""


def researcher_tool(
    models: Mapping[str, Any],
    budget: Budget | None = None,
    *,
    sup: str = "researchers",
    timeout: float = ASK_TIMEOUT,
) -> FunctionTool:
    """The lead's ``ask_researcher`` tool: ask a researcher (a key of ``models``, its
    model), started under the dynamic supervisor ``sup`` on first use, and return
    its answer.

    ``timeout`` (seconds, runtime clock) is both how long the answer may take and
    the tool's limit, as for :func:`~agentlab.agents.ask_agent_tool`. Asks that
    find the researcher not started yet, at once, start it once: the supervisor
    refuses the later starts as ``already_started``, and they ask the researcher
    the first one started.
    """

    async def ask_researcher(
        researcher: Literal["alice", "bob"], question: str, ctx: ToolContext
    ) -> str:
        """Ask one of the researchers a question.

        Args:
            researcher: who to ask
            question: what to ask them
        """
        if ctx.runtime.whereis(researcher) is None:
            try:
                await start_llm_agent(
                    sup,
                    name=researcher,
                    system=f"You are {researcher}, a careful researcher. Use the search tool.",
                    model=models[researcher],
                    tools=[search],
                    retry=RetryPolicy(max_retries=2, base=0.5),
                    budget=budget,
                )
            except SupervisorError as e:
                reason = getattr(e, "reason", None)
                if not (isinstance(reason, tuple) and reason[:1] == ("already_started",)):
                    raise
        answer: str = await agent_ask(ctx.runtime, researcher, question, timeout=timeout)
        return answer

    return FunctionTool(ask_researcher, timeout=timeout)


@dataclass
class DemoResult:
    """What a demo run produced: the brief, the runtime's events, the trace file (if any)."""

    brief: Brief | None
    events: list[Event]
    run: Any = None  #: the recorded :class:`agentlab.trace.Run`, when ``record=True``
    summary: list[dict[str, Any]] = field(default_factory=list)

    def save(self, out: str | Path) -> Path | None:
        """Write the recorded run to ``out/demo-seed<N>.parquet`` (``None``: nothing recorded)."""
        if self.run is None:
            return None
        target = Path(out)
        target.mkdir(parents=True, exist_ok=True)
        return Path(self.run.save(target / f"demo-seed{self.run.info.seed}.parquet"))


async def run_demo(
    seed: int = 7,
    *,
    real: bool = False,
    record: bool = False,
    echo: Callable[[str], None] | None = None,
) -> DemoResult:
    """Run the research team once; ``echo`` gets each log line as it happens.

    ``record=True`` records the run with :mod:`agentlab.trace` (when installed).
    ``seed`` is a whole number >= 0.
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(
            f"seed must be a whole number >= 0, not {seed!r} (a negative seed would repeat "
            "the run of its absolute value)"
        )
    clock = RealClock() if real else VirtualClock()
    trace = _trace_module() if record else None  # imported before the loop's lag is watched
    tps, ttft = (200.0, 0.05) if real else (40.0, 0.3)

    def scripted(script: Any) -> ScriptedModel:
        return ScriptedModel(
            script, clock=rt, rng=rt.random, prices=PRICES, tokens_per_second=tps, ttft=ttft
        )

    async with Runtime(clock=clock, seed=seed) as rt:
        recorder = (
            trace.Recorder(rt, metadata={"demo": "research-team", "seed": seed})
            if trace is not None
            else None
        )
        if echo is not None:
            rt.subscribe(_LogPrinter(echo))
        budget = Budget(max_cost_usd=0.05)
        models = {
            "alice": FaultyModel(
                scripted(_alice_script()),
                random.Random(seed),
                p_bad_tool_name=0.3,
            ),
            "bob": scripted(_bob_script()),
        }

        lead_model = scripted(_lead_script)
        rt.start(
            Supervisor,
            [
                ChildSpec("researchers", DynamicSupervisor, name="researchers"),
                LLMAgent.child_spec(
                    "lead",
                    name="lead",
                    system="You lead a research team. Delegate, then write the brief.",
                    model=lead_model,
                    tools=[researcher_tool(models, budget)],
                    output=Brief,
                    budget=budget,
                ),
            ],
            strategy="one_for_one",
            intensity=3,
            period=10,
            name="team",
        )
        brief = await agent_ask(rt, "lead", QUESTION, timeout=600)
        summary = summarize(list(rt.events))
        events = list(rt.events)
        run = recorder.stop() if recorder is not None else None
    return DemoResult(brief, events, run, summary)


def _trace_module() -> Any:
    try:
        from .. import trace
    except ImportError:  # the trace extra (pandas, pyarrow) is not installed
        return None
    return trace


# ---------------------------------------------------------------------------- the log


class _LogPrinter:
    """Turns events into one readable line each (tokens summarized per call)."""

    def __init__(self, echo: Callable[[str], None]) -> None:
        self.echo = echo
        self.names: dict[int, str] = {}
        self.tasks: set[int] = set()

    def __call__(self, ev: Event) -> None:
        if ev.name:
            self.names[ev.pid] = ev.name
        if ev.kind == "spawn" and (ev.data or {}).get("kind") == "task":
            self.tasks.add(ev.pid)
        if ev.pid in self.tasks or (ev.kind == "child_start" and ev.peer in self.tasks):
            return  # tool tasks: their story is told by tool_start / tool_result
        line = self._line(ev)
        if line is not None:
            who = ev.name or self.names.get(ev.pid) or f"<0.{ev.pid}.0>"
            self.echo(f"  {ev.time:7.2f}s  {who:<11} {line}")

    def _line(self, ev: Event) -> str | None:
        d = ev.data or {}
        k = ev.kind
        if k == "child_start":
            child = self.names.get(ev.peer or 0, str(d.get("child_id")))
            return f"{'restarted' if d.get('attempt') else 'started'} {child}"
        if k == "turn_start":
            return f'turn {d["turn"]}: "{d["text"]}"'
        if k == "llm_response":
            if d.get("stop_reason") == "tool_calls":
                return f"model asked for tools ({d['output_tokens']} tokens, {d['latency']:.2f}s)"
            return (
                f"streamed {d['output_tokens']} tokens in {d['latency']:.2f}s "
                f"(first after {d['ttft'] or 0:.2f}s)"
            )
        if k == "llm_error":
            status = f" (HTTP {d['status']})" if d.get("status") else ""
            return f"LLM call failed: {d['error_type']}{status}, attempt {d['attempt']}"
        if k == "llm_retry":
            return f"retry layer: attempt {d['attempt']} in {d['delay']:.2f}s"
        if k == "llm_fault":
            return f"injected fault: {d.get('fault')} {d.get('name') or ''}".rstrip()
        if k == "tool_start":
            args = ", ".join(f"{a}={v!r}" for a, v in (d.get("arguments") or {}).items() if a != "question")
            return f"-> tool {d['tool']}({args})"
        if k == "tool_result":
            if d.get("error"):
                return f"<- tool {d['tool']} FAILED: {_clip(d['error'], 90)}"
            return f"<- tool {d['tool']}: {_clip(d.get('result') or '', 70)}"
        if k == "output_invalid":
            return f"answer did not validate ({_clip(d['errors'], 60)}); re-asking"
        if k == "budget_exceeded":
            return f"BUDGET EXCEEDED ({d['limit']})"
        if k == "exit" and not is_shutdown_reason(ev.reason):
            return f"CRASHED: {_clip(str(ev.reason), 100)}"
        if k == "restart":
            return (
                f"supervisor restarts {d['child_id']} ({d['strategy']}, restart "
                f"{d['restarts_in_window']} of {d['intensity']} allowed in {d['period']}s)"
            )
        if k == "supervisor_gave_up":
            return "supervisor GAVE UP"
        if k == "turn_end" and d.get("ok"):
            return f"answered: {_clip(d.get('answer') or '', 70)}"
        return None


def _clip(text: str, n: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"


def summarize(events: Sequence[Event]) -> list[dict[str, Any]]:
    """One row per named agent: restarts, LLM calls, retries, tool calls, tokens, cost."""
    rows: dict[str, dict[str, Any]] = {}
    names: dict[int, str] = {}

    def row(name: str) -> dict[str, Any]:
        return rows.setdefault(
            name,
            {"agent": name, "restarts": 0, "crashes": 0, "llm_calls": 0, "retries": 0,
             "tool_calls": 0, "tokens": 0, "cost_usd": 0.0},
        )

    for ev in events:
        if ev.name:
            names[ev.pid] = ev.name
        d = ev.data or {}
        if ev.kind == "restart":
            row(str(d.get("child_id")))["restarts"] += 1
            continue
        name = names.get(ev.pid)
        if name is None:
            continue
        if ev.kind in ("llm_response", "llm_error"):
            r = row(name)
            r["llm_calls"] += 1
            r["tokens"] += (d.get("input_tokens") or 0) + (d.get("output_tokens") or 0)
            r["cost_usd"] += d.get("cost_usd") or 0.0
        elif ev.kind == "llm_retry":
            row(name)["retries"] += 1
        elif ev.kind == "tool_start":
            row(name)["tool_calls"] += 1
        elif ev.kind == "exit" and isinstance(ev.reason, Crash):
            row(name)["crashes"] += 1
    return [r for r in rows.values() if r["llm_calls"] or r["restarts"]]


_COUNTS = ("restarts", "crashes", "llm_calls", "retries", "tool_calls", "tokens", "cost_usd")


def format_summary(rows: list[dict[str, Any]]) -> str:
    """The summary rows as a fixed-width table with a total line."""

    def line(r: dict[str, Any]) -> str:
        return (
            f"  {r['agent']:<8} {r['restarts']:>8} {r['crashes']:>8} {r['llm_calls']:>10} "
            f"{r['retries']:>8} {r['tool_calls']:>6} {r['tokens']:>7} ${r['cost_usd']:>9.6f}"
        )

    head = (
        f"  {'agent':<8} {'restarts':>8} {'crashes':>8} {'llm calls':>10} {'retries':>8} "
        f"{'tools':>6} {'tokens':>7} {'cost':>10}"
    )
    rule = "  " + "-" * (len(head) - 2)
    total: dict[str, Any] = {"agent": "total", **{k: sum(r[k] for r in rows) for k in _COUNTS}}
    return "\n".join([head, rule, *map(line, rows), rule, line(total)])


# ---------------------------------------------------------------------------- CLI


def _seed(text: str) -> int:
    try:
        seed = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number; e.g. --seed 7") from None
    if seed < 0:  # Python's random.Random(-n) is random.Random(n): two names for one run
        raise argparse.ArgumentTypeError(
            f"{seed} is negative; seeds are whole numbers >= 0 (--seed {-seed} is the same run)"
        )
    return seed


def _folder(text: str) -> str:
    if not text.strip():  # --out "$DIR" with DIR unset: not "here"
        raise argparse.ArgumentTypeError("it is empty; give a folder, e.g. --out runs (or --out .)")
    return text


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="agentlab demo",
        description="A supervised research team on scripted models with seeded faults (offline).",
    )
    p.add_argument("--seed", type=_seed, default=7,
                   help="seed of the run, a whole number >= 0 (same seed, same run; "
                        "default: %(default)s)")
    p.add_argument("--out", type=_folder, default=None,
                   help="folder to write the run's Parquet trace to (default: no trace)")
    p.add_argument("--real", action="store_true", help="real clock with scripted token timing")
    p.add_argument("--quiet", action="store_true", help="only the brief and the summary")
    return p


def main(argv: Sequence[str] | None = None, stdout: TextIO | None = None) -> int:
    """Run ``agentlab demo`` with ``argv`` (the arguments after ``demo``); return the exit status.

    If ``stdout`` is closed on it (``| head``), the run still ends (and writes its
    trace), unprinted, and then :class:`BrokenPipeError` is raised for the command
    line's top level to end quietly.
    """
    args_in = list(sys.argv[1:] if argv is None else argv)
    if args_in[:1] == ["demo"]:
        args_in = args_in[1:]
    try:
        args = _parser().parse_args(args_in)
    except SystemExit as e:
        return int(e.code or 0)
    out = stdout or sys.stdout
    closed = False  # the reader went away (`| head -1`): the run goes on, unprinted

    def echo(line: str) -> None:
        # the log is printed by an event subscriber, whose errors the runtime reports
        # and survives: a closed pipe is noted here, and raised once the run is over
        nonlocal closed
        if closed:
            return
        try:
            print(line, file=out, flush=True)
        except BrokenPipeError:
            closed = True

    if args.out is not None:  # before the run, so a bad folder costs nothing
        try:
            Path(args.out).mkdir(parents=True, exist_ok=True)
        except OSError as e:
            print(f"agentlab demo: cannot write a trace to {args.out}: {e.strerror or e}. "
                  "Give --out a folder you can write to.", file=sys.stderr)
            return 2

    clock = "real clock" if args.real else "virtual clock"
    echo(f"agentlab demo: a supervised research team (seed {args.seed}, {clock}, no network)")
    echo(f'question: "{QUESTION}"\n')
    result = asyncio.run(
        run_demo(args.seed, real=args.real, record=args.out is not None,
                 echo=None if args.quiet else echo)
    )
    echo("")
    if result.brief is not None:
        echo(f"brief: {result.brief.title}")
        echo(f"  {result.brief.summary}")
        echo(f"  sources: {', '.join(result.brief.sources)}\n")
    echo("summary (scripted models priced at $0.15 / $0.60 per million input / output tokens)")
    echo(format_summary(result.summary))
    if args.out is not None:
        try:
            path = result.save(args.out)
        except OSError as e:
            print(f"agentlab demo: cannot write the trace to {args.out}: {e.strerror or e}.",
                  file=sys.stderr)
            return 1
        if path is not None:
            echo(f"\ntrace written to {path}  (try: python -m agentlab trace summary {path})")
        else:
            echo("\nno trace written: agentlab.trace needs pandas and pyarrow (pip install 'agentlab[trace]')")
    if closed:
        raise BrokenPipeError(errno.EPIPE, "the demo's output was closed before its end")
    return 0
