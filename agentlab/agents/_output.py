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

Where the JSON is: a fenced block (any language tag, or none), else the JSON
objects and arrays in the prose around it; the first of them that validates
is the answer (``'Here it is: {...}. Note: {x} is unused'`` works). An answer
that is no JSON at all is taken as it is where the type takes a string as it
is (``spam`` for ``Literal["spam", "ham"]``, any text for ``str``). A type
that cannot be checked or described as a JSON schema (``output=42``, an
instance in place of its class, a model with a ``Callable`` field) fails the
agent's start with a ``TypeError`` that names it.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pydantic

from ._tools import format_errors

__all__ = ["OutputSpec", "extract_json", "json_candidates"]

# a fenced block, with any language tag (```json, ```JSON, ```python...) or none
_FENCE = re.compile(r"```[A-Za-z0-9_+-]*[ \t]*\n?(.*?)```", re.DOTALL)
_DECODER = json.JSONDecoder()
_MAX_TRIES = 200  # places a JSON value is tried at in prose: plenty for any answer


def json_candidates(text: str) -> list[str]:
    """Where an answer's JSON may be, most likely first: its fenced blocks, then each
    complete JSON object or array in the text (or, if there is none, from the first
    ``{``/``[`` to the last, or the whole text).

    >>> json_candidates('Here: {"a": [1, 2]}. Note: {x} and [3] are not used.')
    ['{"a": [1, 2]}', '[3]']
    """
    found = [m.group(1).strip() for m in _FENCE.finditer(text)]
    i, tries = 0, 0
    while tries < _MAX_TRIES:
        starts = [j for j in (text.find("{", i), text.find("[", i)) if j >= 0]
        if not starts:
            break
        start = min(starts)
        tries += 1
        try:
            _, end = _DECODER.raw_decode(text, start)
        except ValueError:
            i = start + 1
            continue
        found.append(text[start:end])
        i = end
    if found:
        return found
    starts = [j for j in (text.find("{"), text.find("[")) if j >= 0]
    if not starts:
        return [text.strip()]
    first = min(starts)
    last = max(text.rfind("}"), text.rfind("]"))
    return [text[first : last + 1] if last > first else text[first:]]


def extract_json(text: str) -> str:
    """The JSON part of an answer: a fenced block, or the first complete JSON object or
    array in the text (failing that, from the first ``{``/``[`` to the last).

    >>> extract_json('Sure! ```json\\n{"a": 1}\\n``` Done.')
    '{"a": 1}'
    >>> extract_json('The result is {"a": [1, 2]}. Note: {x} is not used.')
    '{"a": [1, 2]}'
    """
    return json_candidates(text)[0]


def _problem(error: pydantic.ValidationError) -> str:
    """A validation error as the model is shown it: an answer that is not JSON at all
    says so in words, not as a pydantic location."""
    errors = error.errors(include_url=False)
    if len(errors) == 1 and errors[0].get("type") == "json_invalid":
        detail = str(errors[0].get("msg", "")).removeprefix("Invalid JSON: ")
        return f"the answer is not valid JSON ({detail})"
    return format_errors(error)


class OutputSpec:
    """How one agent checks its answers against ``output`` (a type pydantic can validate)."""

    def __init__(self, output: Any) -> None:
        self.type = output
        self.name = getattr(output, "__name__", "output")
        if isinstance(output, pydantic.BaseModel):
            raise TypeError(
                f"output must be a type, not an instance of it ({output!r}); pass the class: "
                f"output={type(output).__name__}"
            )
        try:
            self.adapter: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(output)
            self.schema = self.adapter.json_schema()
        except Exception as e:  # pydantic's schema errors, a bad forward reference...
            # its first sentence: pydantic's advice after it (arbitrary_types_allowed) is
            # about models of one's own, not about output=
            first = (str(e).strip().splitlines() or [""])[0].split(". ")[0] or type(e).__name__
            raise TypeError(
                f"output={output!r} is not a type whose answers can be checked "
                f"({type(e).__name__}: {first}). Give a pydantic model, a dataclass, or a "
                "type pydantic validates and describes in JSON schema (list[Item], "
                "dict[str, int], Literal['a', 'b']...)."
            ) from e

    def instructions(self) -> str:
        """What the system prompt gains: the schema and how to answer."""
        return (
            f"When you give your final answer, reply with only a JSON value (no prose) that "
            f"matches this JSON schema for {self.name}:\n{json.dumps(self.schema, sort_keys=True)}"
        )

    def parse(self, text: str) -> Any:
        """The validated value; raises ``ValueError`` with a model-readable message.

        The first of the answer's JSON values (:func:`json_candidates`) that validates
        is the answer; if none does, the problem reported is the longest one's.
        """
        tried: list[tuple[str, str, Exception | None]] = []
        for raw in json_candidates(text):
            if not raw:
                continue
            try:
                return self.adapter.validate_json(raw)
            except pydantic.ValidationError as e:
                tried.append((raw, _problem(e), None))
            except Exception as e:  # a validator that raised something else: still a bad answer
                tried.append((raw, f"the answer could not be checked: {type(e).__name__}: {e}", e))
        if not tried:
            raise ValueError("the answer was empty")
        _, problem, cause = max(tried, key=lambda t: len(t[0]))
        bare = text.strip()
        if "{" not in bare and "[" not in bare:
            # a bare word for a string type (``spam`` for Literal["spam", "ham"], any text
            # for str): what was meant, though not JSON
            try:
                return self.adapter.validate_python(bare)
            except pydantic.ValidationError as e:
                if self.schema.get("type") == "string" or "enum" in self.schema:
                    problem, cause = format_errors(e).removeprefix("(root): "), None  # the word
            except Exception:  # a validator's own error: the JSON problem stands
                pass
        raise ValueError(problem) from cause

    def feedback(self, problem: str) -> str:
        """The re-ask message for an answer that failed with ``problem``."""
        return (
            f"Your answer did not validate against the {self.name} schema: {problem}. "
            "Reply again with only the corrected JSON value."
        )
