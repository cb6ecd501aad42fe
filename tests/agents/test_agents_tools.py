"""Tools: JSON schemas from type hints and docstrings, argument validation, results."""

from __future__ import annotations

from typing import Annotated, Literal

import pydantic
import pytest

from agentlab.agents import FunctionTool, ToolContext, tool
from agentlab.agents._tools import ToolArgumentsError, as_tools, render_result


class Point(pydantic.BaseModel):
    x: float
    y: float


def test_schema_from_hints_and_docstring():
    @tool
    def locate(
        city: str,
        unit: Literal["km", "mi"] = "km",
        near: Annotated[list[str] | None, pydantic.Field(description="landmarks")] = None,
    ) -> str:
        """Find a city.

        Longer explanation that is part of the description.

        Args:
            city: the city's name,
                in English
            unit: distance unit
        """
        return city

    assert locate.name == "locate"
    assert locate.description.startswith("Find a city.\n\nLonger explanation")
    p = locate.parameters
    assert p["type"] == "object" and p["required"] == ["city"]
    assert p["properties"]["city"] == {"type": "string", "description": "the city's name, in English"}
    assert p["properties"]["unit"]["enum"] == ["km", "mi"]
    assert p["properties"]["near"]["description"] == "landmarks"
    assert "title" not in p and all("title" not in v for v in p["properties"].values())
    assert locate.schema().name == "locate"
    assert locate("Oslo") == "Oslo"  # still callable


def test_validation_converts_and_reports():
    @tool
    def move(to: Point, steps: int = 1) -> str:
        """Move."""
        return f"{to.x},{to.y}x{steps}"

    args = move.validate({"to": {"x": 1, "y": "2.5"}})
    assert args == {"to": Point(x=1, y=2.5), "steps": 1}
    assert "$defs" in move.parameters
    with pytest.raises(ToolArgumentsError, match=r"to\.y: Field required"):
        move.validate({"to": {"x": 1}})
    with pytest.raises(ToolArgumentsError, match="Extra inputs are not permitted"):
        move.validate({"to": {"x": 1, "y": 1}, "speed": 3})


async def test_context_parameter_is_hidden_and_injected():
    async def whoami(greeting: str, ctx: ToolContext) -> str:
        return f"{greeting} from {ctx.tool} ({ctx.call_id})"

    t = FunctionTool(whoami)
    assert list(t.parameters["properties"]) == ["greeting"]
    ctx = ToolContext(runtime=None, agent=None, call_id="c9", tool="whoami")  # type: ignore[arg-type]
    assert await t.invoke(t.validate({"greeting": "hi"}), ctx) == "hi from whoami (c9)"


def test_a_given_schema_is_used_as_is():
    schema = {"type": "object", "properties": {"q": {"type": "string"}}}
    t = tool(lambda **kw: kw, name="raw", schema=schema, description="Raw.")
    assert t.parameters == schema
    assert t.validate({"q": 1, "extra": True}) == {"q": 1, "extra": True}


def test_names_are_checked():
    with pytest.raises(ValueError, match="tool name"):
        FunctionTool(lambda: None, name="has space")
    with pytest.raises(ValueError, match="two tools are named"):
        as_tools([FunctionTool(lambda: 1, name="a"), FunctionTool(lambda: 2, name="a")])
    with pytest.raises(TypeError, match="pass schema="):
        FunctionTool(str)
    assert FunctionTool(str, schema={"type": "object"}).parameters == {"type": "object"}


def test_results_as_text():
    assert render_result("x") == "x"
    assert render_result({"a": [1, 2]}) == '{"a": [1, 2]}'
    assert render_result(Point(x=1, y=2)) == '{"x":1.0,"y":2.0}'
    assert render_result(object()).startswith("\"<object object")


async def test_a_given_schema_still_gets_the_context():
    def raw(q: str, ctx: ToolContext) -> str:
        return f"{q}:{ctx.call_id}"

    t = FunctionTool(raw, schema={"type": "object", "properties": {"q": {"type": "string"}}})
    ctx = ToolContext(runtime=None, agent=None, call_id="c1", tool="raw")  # type: ignore[arg-type]
    assert await t.invoke({"q": "x"}, ctx) == "x:c1"
