"""Structured output: where the JSON is found in an answer, what the model is told, and
which types ``output=`` accepts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import pydantic
import pytest
from agents_helpers import fast, of

from agentlab import Runtime, StartError, VirtualClock
from agentlab.agents import LLMAgent, OutputInvalid, agent_ask
from agentlab.agents._output import OutputSpec, extract_json


class Verdict(pydantic.BaseModel):
    label: Literal["spam", "ham"]
    confidence: float


async def test_json_followed_by_prose_with_braces_is_the_answer():
    # from the first "{" to the last "}" took the prose too: every such answer was
    # re-asked with "trailing characters", and the agent gave up on a valid answer
    async with Runtime(clock=VirtualClock()) as rt:
        model = fast(rt, ['Verdict: {"label": "spam", "confidence": 0.9}. I ignored {headers}.'])
        pid = rt.start(LLMAgent, model=model, output=Verdict, output_retries=0)
        assert await agent_ask(rt, pid, "WIN A PRIZE") == Verdict(label="spam", confidence=0.9)
        assert of(rt, "output_invalid") == []


@pytest.mark.parametrize("fence", ["```json", "```JSON", "```python", "```", "```jsonc"])
def test_a_fenced_block_with_any_language_tag(fence):
    # only ```json and ``` were fences: the tag was taken as part of the JSON
    spec = OutputSpec(Verdict)
    answer = f'Sure:\n{fence}\n{{"label": "ham", "confidence": 0.1}}\n```\nDone.'
    assert spec.parse(answer) == Verdict(label="ham", confidence=0.1)


def test_the_first_value_that_validates_is_the_answer():
    from agentlab.agents._output import json_candidates

    spec = OutputSpec(Verdict)
    text = 'See [1] and [2]: {"label": "ham", "confidence": 0.5}'
    assert json_candidates(text) == ["[1]", "[2]", '{"label": "ham", "confidence": 0.5}']
    assert spec.parse(text) == Verdict(label="ham", confidence=0.5)
    assert extract_json(text) == "[1]"
    # none validates: the longest one's problem is the one reported
    with pytest.raises(ValueError, match=r"^confidence: Field required$"):
        spec.parse('See [1]: {"label": "ham"}')


async def test_an_answer_that_is_not_json_is_told_so_in_words():
    async with Runtime(clock=VirtualClock()) as rt:
        model = fast(rt, ["It is spam.", '{"label": "spam", "confidence": 1}'])
        pid = rt.start(LLMAgent, model=model, output=Verdict)
        assert (await agent_ask(rt, pid, "classify")).label == "spam"
        feedback = model.calls[1][-1].content
        assert "the answer is not valid JSON (expected ident at line 1 column 2)" in feedback
        assert "(root)" not in feedback


async def test_the_error_when_the_retries_run_out_names_the_last_problem():
    async with Runtime(clock=VirtualClock()) as rt:
        model = fast(rt, ["no", '{"label": "eggs", "confidence": 1}'])
        pid = rt.start(LLMAgent, model=model, output=Verdict, output_retries=1)
        with pytest.raises(OutputInvalid, match=r"no valid Verdict after 2 answer\(s\): label: "
                           r"Input should be 'spam' or 'ham'.*raise output_retries") as info:
            await agent_ask(rt, pid, "classify")
        assert info.value.attempts == 2 and info.value.text.startswith('{"label": "eggs"')
        assert [e.data["errors"] for e in of(rt, "output_invalid")] == [
            "the answer is not valid JSON (expected ident at line 1 column 2)"
        ]


class WithCallable(pydantic.BaseModel):
    f: Callable[[], int]


@pytest.mark.parametrize(("output", "says"), [
    (42, r"output=42 is not a type whose answers can be checked \(PydanticSchemaGenerationError: "
         r"Unable to generate pydantic-core schema for 42\)\. Give a pydantic model"),
    ("not a type", r"output='not a type' is not a type whose answers can be checked"),
    (WithCallable, r"output=<class '.*WithCallable'> is not a type whose answers can be checked "
                   r"\(PydanticInvalidForJsonSchema"),
    (Verdict(label="ham", confidence=1), r"output must be a type, not an instance of it .*"
                                         r"pass the class: output=Verdict"),
])
async def test_an_output_that_is_not_a_checkable_type_fails_the_start_by_name(output, says):
    # pydantic's own error came out (for 42: "Set arbitrary_types_allowed=True"), or a
    # SyntaxError, with nothing naming output=
    with pytest.raises(TypeError, match=says):
        OutputSpec(output)
    async with Runtime(clock=VirtualClock()) as rt:
        with pytest.raises(StartError) as info:
            rt.start(LLMAgent, output=output)
        assert "arbitrary_types_allowed" not in str(info.value)
        assert isinstance(info.value.reason.exception, TypeError)


async def test_a_bare_word_for_a_string_type_is_the_answer():
    # "spam" (no quotes) for Literal["spam", "ham"] was re-asked as "Invalid JSON"
    async with Runtime(clock=VirtualClock()) as rt:
        model = fast(rt, ["spam", "eggs", '"ham"'])
        pid = rt.start(LLMAgent, model=model, output=Literal["spam", "ham"])
        assert await agent_ask(rt, pid, "classify") == "spam"
        assert of(rt, "output_invalid") == []
        assert await agent_ask(rt, pid, "again") == "ham"  # "eggs": told what is wrong with it
        assert [e.data["errors"] for e in of(rt, "output_invalid")] == [
            "Input should be 'spam' or 'ham'"
        ]
    assert OutputSpec(str).parse("Any text at all.") == "Any text at all."
    with pytest.raises(ValueError, match=r"^the answer is not valid JSON"):
        OutputSpec(int).parse("many")  # not a string type: the JSON problem stands
    with pytest.raises(ValueError, match=r"^the answer is not valid JSON"):
        OutputSpec(Verdict).parse("spam")
