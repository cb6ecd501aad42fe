"""Tools: JSON schemas from type hints and docstrings, argument validation, results."""

from __future__ import annotations

import dataclasses
import json
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


# hints are resolved one parameter at a time (this module has `from __future__ import annotations`)


async def test_a_class_defined_in_a_function_resolves_if_the_tool_uses_it():
    def make() -> FunctionTool:
        class Item(pydantic.BaseModel):
            name: str

        def store(item: Item, ctx: ToolContext) -> str:
            """Store an item."""
            assert isinstance(item, Item)
            return f"stored {item.name} in {ctx.tool}"

        return FunctionTool(store)

    t = make()
    assert t.parameters["required"] == ["item"]  # the context stays hidden
    assert t.parameters["properties"]["item"]["$ref"].endswith("/Item")
    ctx = ToolContext(runtime=None, agent=None, call_id="c1", tool="store")  # type: ignore[arg-type]
    assert await t.invoke(t.validate({"item": {"name": "x"}}), ctx) == "stored x in store"


def test_a_hint_that_cannot_be_resolved_fails_the_tool_by_name():
    def make() -> FunctionTool:
        class Item(pydantic.BaseModel):
            name: str

        def store(item: Item, ctx: ToolContext) -> str:  # Item: only in the hint
            """Store an item."""
            return "stored"

        return FunctionTool(store)

    with pytest.raises(TypeError, match=r"tool 'store'.*hint 'Item' of parameter 'item'.*module level"):
        make()


async def test_a_context_hint_that_cannot_be_resolved_is_still_the_context():
    def raw(q: str, ctx: agents.ToolContext) -> str:  # noqa: F821 (imported nowhere)
        return f"{q}:{ctx.call_id}"

    t = FunctionTool(raw)
    assert list(t.parameters["properties"]) == ["q"]
    ctx = ToolContext(runtime=None, agent=None, call_id="c1", tool="raw")  # type: ignore[arg-type]
    assert await t.invoke(t.validate({"q": "x"}), ctx) == "x:c1"
    given = FunctionTool(raw, schema={"type": "object", "properties": {"q": {"type": "string"}}})
    assert await given.invoke({"q": "y"}, ctx) == "y:c1"


# parameter names


def test_a_parameter_starting_with_an_underscore_is_refused():
    def lookup(_key: str) -> str:
        """Look a key up."""
        return _key

    with pytest.raises(ValueError, match=r"tool 'lookup': parameter '_key' starts with '_'.*Rename it"):
        FunctionTool(lookup)


def test_parameters_may_have_the_names_of_pydantic_attributes():
    @tool
    def fetch(json: bool, schema: str, copy: int = 1, validate: bool = False,
              model_config: str = "", model_name: str = "m") -> str:
        """Fetch.

        Args:
            json: as JSON
        """
        return "ok"

    props = fetch.parameters["properties"]
    assert list(props) == ["json", "schema", "copy", "validate", "model_config", "model_name"]
    assert props["json"] == {"type": "boolean", "description": "as JSON"}
    assert fetch.parameters["required"] == ["json", "schema"]
    assert fetch.validate({"json": "true", "schema": "s", "model_config": "c"}) == {
        "json": True, "schema": "s", "copy": 1, "validate": False, "model_config": "c", "model_name": "m"
    }
    with pytest.raises(ToolArgumentsError, match="schema: Field required"):
        fetch.validate({"json": True})
    with pytest.raises(ToolArgumentsError, match="a0: Extra inputs"):
        fetch.validate({"json": True, "schema": "s", "a0": 1})  # the validator's own names stay hidden


def test_a_field_alias_is_the_name_the_model_sees():
    @tool
    def find(q: Annotated[str, pydantic.Field(alias="query", description="what")]) -> str:
        """Find."""
        return q

    assert find.parameters["properties"] == {"query": {"type": "string", "description": "what"}}
    assert find.validate({"query": "x"}) == {"q": "x"}


# results


@dataclasses.dataclass
class Row:
    name: str
    point: Point


def test_models_and_dataclasses_inside_results_are_json():
    hits = [Point(x=1, y=2), Point(x=3, y=4)]
    assert json.loads(render_result(hits)) == [{"x": 1.0, "y": 2.0}, {"x": 3.0, "y": 4.0}]
    assert json.loads(render_result({"best": Point(x=0, y=1), "n": 2})) == {
        "best": {"x": 0.0, "y": 1.0}, "n": 2
    }
    assert json.loads(render_result(Row("a", Point(x=1, y=1)))) == {
        "name": "a", "point": {"x": 1.0, "y": 1.0}
    }
    assert render_result({"tags": {"b", "a"}}) == '{"tags": ["a", "b"]}'


def test_tool_timeouts_are_checked():
    with pytest.raises(ValueError, match="tool 'f': timeout must be"):
        FunctionTool(lambda: 1, name="f", timeout=0)
    with pytest.raises(ValueError, match="timeout must be"):
        FunctionTool(lambda: 1, name="f", timeout="5")  # type: ignore[arg-type]
    assert FunctionTool(lambda: 1, name="f", timeout=2).timeout == 2


class Scorer:
    """A callable object as a tool: its hints are read from ``__call__``."""

    def __call__(self, point: Point, ctx: ToolContext | None = None) -> str:
        return f"{point.x}@{ctx.call_id if ctx else '-'}"


async def test_a_callable_object_with_an_optional_context():
    t = FunctionTool(Scorer(), name="score")
    assert t.parameters["required"] == ["point"] and list(t.parameters["properties"]) == ["point"]
    ctx = ToolContext(runtime=None, agent=None, call_id="c2", tool="score")  # type: ignore[arg-type]
    assert await t.invoke(t.validate({"point": {"x": 1, "y": 2}}), ctx) == "1.0@c2"


# kinds of parameters


async def test_positional_only_parameters_are_passed_by_position():
    # they were passed by name: every call failed with the function's TypeError
    def scale(value: float, factor: float = 2.0, /, *, digits: int = 1) -> str:
        """Scale a value."""
        return f"{round(value * factor, digits)}"

    t = FunctionTool(scale)
    assert t.parameters["required"] == ["value"]
    assert await t.invoke(t.validate({"value": 1.5})) == "3.0"
    assert await t.invoke(t.validate({"value": 1.26, "factor": 3, "digits": 1})) == "3.8"

    def raw(a, b=10, /):  # a hand-written schema: a later one given, an earlier one's default
        return a + b

    given = FunctionTool(raw, schema={"type": "object", "properties": {"a": {}, "b": {}}})
    assert await given.invoke(given.validate({"a": 1})) == 11
    assert await given.invoke(given.validate({"a": 1, "b": 2})) == 3
    with pytest.raises(ToolArgumentsError, match="missing a required argument: 'a'"):
        given.validate({"b": 2})


async def test_a_tool_with_positional_only_parameters_runs_in_an_agent():
    from agents_helpers import fast, of

    from agentlab import Runtime, VirtualClock
    from agentlab.agents import LLMAgent, agent_ask
    from agentlab.llm import ToolCall

    def add(a: int, b: int, /) -> int:
        """Add two numbers."""
        return a + b

    async with Runtime(clock=VirtualClock()) as rt:
        model = fast(rt, [ToolCall("c1", "add", {"a": 2, "b": 3}), "5"])
        pid = rt.start(LLMAgent, model=model, tools=[add])
        assert await agent_ask(rt, pid, "2 + 3?") == "5"
        (result,) = [e.data for e in of(rt, "tool_result")]
        assert (result["result"], result["error"]) == ("5", None)


async def test_kwargs_take_the_other_arguments_checked_against_their_hint():
    # **kwargs was left out and every argument it would take refused as "extra"
    def tag(item: str, **labels: int) -> str:
        """Tag an item with numbered labels."""
        return f"{item}: {sorted(labels.items())}"

    t = FunctionTool(tag)
    assert t.parameters["additionalProperties"] == {"type": "integer"}
    assert t.parameters["required"] == ["item"]
    args = t.validate({"item": "x", "red": "1", "blue": 2})
    assert args == {"item": "x", "red": 1, "blue": 2}
    assert await t.invoke(args) == "x: [('blue', 2), ('red', 1)]"
    with pytest.raises(ToolArgumentsError, match=r"do not fit its schema: red: Input should be a valid integer"):
        t.validate({"item": "x", "red": "many"})

    def untyped(q: str, ctx: ToolContext, *args, **kw) -> str:
        return f"{q} {kw}"

    u = FunctionTool(untyped)
    assert u.parameters["additionalProperties"] is True  # any value
    assert list(u.parameters["properties"]) == ["q"]  # *args: nothing to fill by name
    assert u.validate({"q": "a", "n": [1]}) == {"q": "a", "n": [1]}
    with pytest.raises(ToolArgumentsError, match="'ctx' is not one of its arguments"):
        u.validate({"q": "a", "ctx": 1})  # the agent's to fill

    def strict(q: str) -> str:  # without **kwargs: still refused
        return q

    with pytest.raises(ToolArgumentsError, match="z: Extra inputs are not permitted"):
        FunctionTool(strict).validate({"q": "a", "z": 1})


def test_a_kwargs_hint_with_a_model_keeps_its_definitions():
    def plot(title: str, origin: Point, **series: list[Point]) -> str:
        return title

    t = FunctionTool(plot)
    assert t.parameters["additionalProperties"] == {"items": {"$ref": "#/$defs/Point"}, "type": "array"}
    assert t.parameters["properties"]["origin"] == {"$ref": "#/$defs/Point"}
    assert list(t.parameters["$defs"]) == ["Point"]
    assert t.validate({"title": "t", "origin": {"x": 0, "y": 0}, "a": [{"x": 1, "y": 2}]}) == {
        "title": "t", "origin": Point(x=0, y=0), "a": [Point(x=1, y=2)]
    }


def test_a_generator_function_is_refused_with_what_to_do():
    # it was accepted, and the model got "<generator object ... at 0x...>", never run
    def hits(q: str):
        yield q

    async def ahits(q: str):
        yield q

    for fn in (hits, ahits):
        with pytest.raises(TypeError, match=rf"tool '{fn.__name__}' is a generator function.*Return a list"):
            FunctionTool(fn)


def test_a_name_given_in_place_of_the_function_says_how_to_name_it():
    with pytest.raises(TypeError, match=r"write @tool\(name='search'\)"):
        tool("search")  # type: ignore[call-overload]


# results that cannot be written


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no text")

    __repr__ = __str__


def test_a_result_that_cannot_be_written_is_described_not_raised():
    assert render_result(Unprintable()) == (
        "<a Unprintable that cannot be shown as text (RuntimeError: no text)>"
    )
    loop: list = []
    loop.append(loop)
    assert render_result(loop) == "[[...]]"  # json refuses it; its repr is fine
    assert render_result({"bad": Unprintable()}).startswith("<a dict that cannot be shown")


async def test_a_tool_result_that_cannot_be_written_does_not_crash_the_agent():
    # rendering it crashed the agent (the result is rendered in the agent's process)
    from agents_helpers import fast, of

    from agentlab import Runtime, VirtualClock
    from agentlab.agents import LLMAgent, agent_ask
    from agentlab.llm import ToolCall

    def make() -> Unprintable:
        """Make a thing."""
        return Unprintable()

    async with Runtime(clock=VirtualClock()) as rt:
        model = fast(rt, [ToolCall("c1", "make", {}), "made"])
        pid = rt.start(LLMAgent, model=model, tools=[make])
        assert await agent_ask(rt, pid, "make one") == "made"
        assert pid.alive
        (result,) = [e.data["result"] for e in of(rt, "tool_result")]
        assert result == "<a Unprintable that cannot be shown as text (RuntimeError: no text)>"
        assert model.calls[-1][-1].content == result


def test_arguments_that_are_not_an_object_are_the_models_mistake():
    # a hand-written schema's tool raised TypeError from dict([...]): the agent crashed
    raw = FunctionTool(lambda **kw: kw, name="raw", schema={"type": "object"})
    for t in (raw, FunctionTool(lambda q: q, name="typed")):
        with pytest.raises(ToolArgumentsError, match=rf"arguments for '{t.name}' must be a JSON object, not list"):
            t.validate([[1, 2, 3]])  # type: ignore[arg-type]


@pytest.mark.parametrize("schema", [
    {"properties": {"q": {"type": "string"}}},  # no type: OpenAI says 'got type: "None"'
    {"type": "string"},
    [("type", "object")],
])
def test_a_given_schema_must_describe_an_object(schema):
    # it was sent as it was, and every provider refused the whole request (bad_request:
    # the agent crashed at its first turn)
    with pytest.raises(ValueError, match=r"tool 'raw': schema= describes the arguments as one "
                                         r"JSON object, e\.g\. \{'type': 'object'"):
        FunctionTool(lambda **kw: kw, name="raw", schema=schema)


def test_tools_given_as_a_dict_say_to_pass_a_list():
    # the dict's keys were taken as the tools: "a tool wraps a function, not 'add'"
    def add(a: int) -> int:
        return a

    with pytest.raises(TypeError, match=r"not a dict; pass tools=list\(d\.values\(\)\)"):
        as_tools({"add": add})
