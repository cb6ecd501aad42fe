"""Tools: Python functions an LLM agent lets its model call.

A tool is a function with type hints; its JSON schema (what the model sees)
and the validation of the model's arguments both come from those hints, and
its description from the docstring::

    from typing import Annotated
    from pydantic import Field

    @tool
    async def search(query: str, limit: int = 3) -> list[str]:
        '''Search the notes for a query.

        Args:
            query: what to look for
            limit: how many hits to return
        '''
        return notes.find(query)[:limit]

    search.parameters
    # {'type': 'object', 'properties': {'query': {'type': 'string', 'description':
    #  'what to look for'}, 'limit': {'default': 3, 'type': 'integer', ...}},
    #  'required': ['query']}

Plain functions work too (``LLMAgent(tools=[search])`` wraps them), sync or
``async def``. Give ``schema=`` to use a hand-written JSON schema instead (the
arguments are then passed as they are, unvalidated). A parameter annotated
:class:`ToolContext` is not shown to the model: it receives the runtime, the
calling agent's pid and the call id, so a tool can call other agents::

    async def ask_expert(question: str, ctx: ToolContext) -> str:
        return await agent_ask(ctx.runtime, "expert", question)

``@tool(timeout=5)`` overrides the agent's ``tool_timeout`` for one tool.
Every tool call runs in its own process; see :class:`~agentlab.agents.LLMAgent`.
"""

from __future__ import annotations

import inspect
import json
import re
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, overload

import pydantic

from ..llm import Tool

if TYPE_CHECKING:
    from .._runtime import Pid, Runtime

__all__ = ["FunctionTool", "ToolContext", "as_tools", "tool"]


@dataclass(frozen=True)
class ToolContext:
    """What a tool may know about its call: the ``runtime``, the ``agent`` that asked, the ids."""

    runtime: Runtime
    agent: Pid
    call_id: str
    tool: str


class ToolArgumentsError(ValueError):
    """The model's arguments do not fit the tool's schema (reported back to the model)."""


class FunctionTool:
    """A Python function with a name, a description and a JSON schema (see the module docstring).

    ``tool.schema()`` is the :class:`agentlab.llm.Tool` sent to the model;
    ``tool.validate(args)`` checks the model's arguments; calling ``await
    tool.invoke(args, ctx)`` runs the function.
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        schema: Mapping[str, Any] | None = None,
        timeout: float | None = None,
    ) -> None:
        if not callable(fn):
            raise TypeError(f"a tool wraps a function, not {fn!r}")
        self.fn = fn
        self.name: str = name or str(getattr(fn, "__name__", "tool"))
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", self.name):
            raise ValueError(
                f"tool name {self.name!r} must be 1-64 letters, digits, '_' or '-' (what "
                "providers accept); pass name=..."
            )
        summary, arg_docs = _parse_docstring(inspect.getdoc(fn) or "")
        self.description = description if description is not None else summary
        self.timeout = timeout
        self._context_param: str | None = None
        self._validator: type[pydantic.BaseModel] | None = None
        self._fields: tuple[str, ...] = ()
        self._custom_schema = schema is not None
        if schema is not None:
            self.parameters: dict[str, Any] = dict(schema)
            self._context_param = _context_param_of(fn)
        else:
            self.parameters = self._derive(arg_docs)

    def _derive(self, arg_docs: dict[str, str]) -> dict[str, Any]:
        try:
            sig = inspect.signature(self.fn)
        except (TypeError, ValueError):
            raise TypeError(
                f"cannot read the parameters of {self.fn!r}; wrap it in a def with type "
                "hints, or pass schema= (a JSON schema for its arguments)"
            ) from None
        try:
            hints = typing.get_type_hints(self.fn, include_extras=True)
        except Exception:  # unresolvable forward references: fall back to Any
            hints = {}
        fields: dict[str, Any] = {}
        for p in sig.parameters.values():
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                continue
            ann = hints.get(p.name, Any)
            if ann is ToolContext or ann == "ToolContext":
                self._context_param = p.name
                continue
            default = ... if p.default is p.empty else p.default
            doc = arg_docs.get(p.name)
            fields[p.name] = (ann, pydantic.Field(default, description=doc) if doc else default)
        self._fields = tuple(fields)
        model_name = "".join(part.capitalize() for part in re.split(r"[_-]", self.name)) + "Args"
        validator: type[pydantic.BaseModel] = pydantic.create_model(
            model_name, __config__=pydantic.ConfigDict(extra="forbid"), **fields
        )
        self._validator = validator
        schema = validator.model_json_schema()
        schema.pop("title", None)
        schema.pop("additionalProperties", None)
        for prop in schema.get("properties", {}).values():
            if isinstance(prop, dict):
                prop.pop("title", None)
        schema.setdefault("properties", {})
        return schema

    def schema(self) -> Tool:
        """The tool as the model sees it."""
        return Tool(self.name, self.description, self.parameters)

    def validate(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """The model's arguments, checked and converted; raises :class:`ToolArgumentsError`.

        With a hand-written ``schema=``, the arguments are passed through as they are.
        """
        if self._custom_schema or self._validator is None:
            return dict(arguments)
        try:
            parsed = self._validator.model_validate(dict(arguments))
        except pydantic.ValidationError as e:
            raise ToolArgumentsError(
                f"arguments for {self.name!r} do not fit its schema: {format_errors(e)}"
            ) from None
        return {k: getattr(parsed, k) for k in self._fields}

    async def invoke(self, arguments: Mapping[str, Any], ctx: ToolContext | None = None) -> Any:
        """Run the function with validated ``arguments`` (and ``ctx`` if it asks for one)."""
        kwargs = dict(arguments)
        if self._context_param is not None:
            kwargs[self._context_param] = ctx
        result = self.fn(**kwargs)
        if inspect.isawaitable(result):
            result = await result
        return result

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the wrapped function directly (a decorated function stays usable)."""
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<tool {self.name}({', '.join(self.parameters.get('properties', {}))})>"


@overload
def tool(fn: Callable[..., Any], /) -> FunctionTool: ...


@overload
def tool(
    *,
    name: str | None = None,
    description: str | None = None,
    schema: Mapping[str, Any] | None = None,
    timeout: float | None = None,
) -> Callable[[Callable[..., Any]], FunctionTool]: ...


def tool(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    schema: Mapping[str, Any] | None = None,
    timeout: float | None = None,
) -> FunctionTool | Callable[[Callable[..., Any]], FunctionTool]:
    """Make a function a tool: ``@tool`` or ``@tool(name=..., timeout=...)``.

    >>> @tool
    ... def add(a: int, b: int = 1) -> int:
    ...     '''Add two numbers.'''
    ...     return a + b
    >>> add.name, add.description, add.parameters["required"]
    ('add', 'Add two numbers.', ['a'])
    >>> add.validate({"a": "2"})
    {'a': 2, 'b': 1}
    """

    def wrap(f: Callable[..., Any]) -> FunctionTool:
        return FunctionTool(f, name=name, description=description, schema=schema, timeout=timeout)

    return wrap(fn) if fn is not None else wrap


def as_tools(tools: Iterable[Any]) -> dict[str, FunctionTool]:
    """Normalise a list of tools (``FunctionTool`` or plain functions) into a name → tool map."""
    out: dict[str, FunctionTool] = {}
    for t in tools:
        ft = t if isinstance(t, FunctionTool) else FunctionTool(t)
        if ft.name in out:
            raise ValueError(f"two tools are named {ft.name!r}; pass name= to one of them")
        out[ft.name] = ft
    return out


def _context_param_of(fn: Callable[..., Any]) -> str | None:
    """The name of ``fn``'s :class:`ToolContext` parameter, if it has one."""
    try:
        hints = typing.get_type_hints(fn)
    except Exception:
        return None
    return next((k for k, v in hints.items() if v is ToolContext), None)


def format_errors(error: pydantic.ValidationError) -> str:
    """A pydantic error as short ``field: problem`` lines a model can act on."""
    parts = []
    for e in error.errors(include_url=False):
        loc = ".".join(str(x) for x in e.get("loc", ())) or "(root)"
        parts.append(f"{loc}: {e.get('msg', 'invalid')}")
    return "; ".join(parts)


def render_result(value: Any) -> str:
    """A tool's return value as the text of the tool message."""
    if isinstance(value, str):
        return value
    if isinstance(value, pydantic.BaseModel):
        return value.model_dump_json()
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return repr(value)


def _parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """The summary (text before ``Args:``) and the per-argument lines of a Google-style docstring."""
    summary_lines: list[str] = []
    args: dict[str, str] = {}
    section: str | None = None
    current: str | None = None
    for line in doc.splitlines():
        stripped = line.strip()
        if re.fullmatch(r"(Args|Arguments|Parameters|Returns|Raises|Example|Examples):", stripped):
            section = stripped[:-1]
            current = None
            continue
        if section is None:
            summary_lines.append(line)
        elif section in ("Args", "Arguments", "Parameters"):
            m = re.match(r"(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)", stripped)
            if m:
                current = m.group(1)
                args[current] = m.group(2)
            elif stripped and current is not None:
                args[current] += " " + stripped
    summary = "\n".join(summary_lines).strip()
    return summary, args
