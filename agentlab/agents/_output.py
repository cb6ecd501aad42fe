"""Structured output: the answer must be JSON that validates against a pydantic model.

::

    class Verdict(pydantic.BaseModel):
        label: Literal["spam", "ham"]
        confidence: float

    pid = rt.start(LLMAgent, output=Verdict, output_retries=2)
    verdict = await agent_ask(rt, pid, "Is 'WIN A PRIZE' spam?")   # a Verdict instance

The agent adds the JSON schema to its system prompt. When an answer does not
parse or validate, the model is shown the problem and asked again, up to
``output_retries`` times; then the turn fails with
:class:`~agentlab.agents.OutputInvalid` (the agent itself stays up). Any
type pydantic can validate works (``list[Item]``, ``dict[str, int]``...). An
answer that makes a validator of the type raise anything else than
pydantic's own error (a ``KeyError`` in a ``field_validator``) is invalid
too: the model is shown the exception, as for a tool's arguments.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pydantic

from ._tools import format_errors

__all__ = ["OutputSpec", "extract_json"]

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)


def extract_json(text: str) -> str:
    """The JSON part of an answer: a fenced block, or from the first ``{``/``[`` to the last.

    >>> extract_json('Sure! ```json\\n{"a": 1}\\n``` Done.')
    '{"a": 1}'
    >>> extract_json('The result is {"a": [1, 2]}.')
    '{"a": [1, 2]}'
    """
    m = _FENCE.search(text)
    if m:
        return m.group(1).strip()
    starts = [i for i in (text.find("{"), text.find("[")) if i >= 0]
    if not starts:
        return text.strip()
    start = min(starts)
    end = max(text.rfind("}"), text.rfind("]"))
    return text[start : end + 1] if end > start else text[start:]


class OutputSpec:
    """How one agent checks its answers against ``output`` (a type pydantic can validate)."""

    def __init__(self, output: Any) -> None:
        self.type = output
        self.adapter: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(output)
        self.schema = self.adapter.json_schema()
        self.name = getattr(output, "__name__", "output")

    def instructions(self) -> str:
        """What the system prompt gains: the schema and how to answer."""
        return (
            f"When you give your final answer, reply with only a JSON value (no prose) that "
            f"matches this JSON schema for {self.name}:\n{json.dumps(self.schema, sort_keys=True)}"
        )

    def parse(self, text: str) -> Any:
        """The validated value; raises ``ValueError`` with a model-readable message."""
        raw = extract_json(text)
        if not raw:
            raise ValueError("the answer was empty")
        try:
            return self.adapter.validate_json(raw)
        except pydantic.ValidationError as e:
            raise ValueError(format_errors(e)) from None
        except Exception as e:  # a validator that raised something else: still a bad answer
            raise ValueError(f"the answer could not be checked: {type(e).__name__}: {e}") from e

    def feedback(self, problem: str) -> str:
        """The re-ask message for an answer that failed with ``problem``."""
        return (
            f"Your answer did not validate against the {self.name} schema: {problem}. "
            "Reply again with only the corrected JSON value."
        )
