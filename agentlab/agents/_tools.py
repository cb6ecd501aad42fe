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
arguments are then only checked to fit the function's parameters). A
parameter annotated :class:`ToolContext` (or ``ToolContext | None``) is not
shown to the model: it receives the runtime, the calling agent's pid and the
call id, so a tool can call other agents::

    async def ask_expert(question: str, ctx: ToolContext) -> str:
        return await agent_ask(ctx.runtime, "expert", question)

Every kind of parameter works: a keyword-only one like any other, a
positional-only one (``def f(a, /)``) is passed by position, and a
``**kwargs`` takes whatever other arguments the model gives (each checked
against its hint, shown as ``additionalProperties``); without one, an argument
the function does not take is refused. A ``*args`` is left out: nothing the
model sends by name can fill it. A generator function is refused: return a
list.

The model sees the parameters under their Python names (or the ``alias`` of a
``pydantic.Field`` in ``Annotated``); any name works, ``json`` or
``model_name`` included, except one starting with ``_``, which is refused:
rename it. Each hint is resolved in the function's module and the names its
body uses. One that cannot be (under ``from __future__ import annotations``, a
class defined inside another function is not visible there) fails the tool's
creation with a ``TypeError`` naming it, rather than leaving the model an
untyped parameter: define the class at module level, or pass ``schema=``.

A result that is not a string is sent as JSON: pydantic models and
dataclasses (nested in lists and dicts too) as their fields, anything JSON
cannot hold as its ``str()``; a value JSON cannot write at all (a list that
contains itself, a ``str()`` that raises) as its ``repr()``, or a note that
says it cannot be shown: what a tool returns never crashes the agent.

``@tool(timeout=5)`` overrides the agent's ``tool_timeout`` for one tool.
Every tool call runs in its own process; see :class:`~agentlab.agents.LLMAgent`.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import functools
import inspect
import json
import math
import re
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, overload

import pydantic
from pydantic.fields import FieldInfo

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


running_tool: contextvars.ContextVar[ToolContext | None] = contextvars.ContextVar(
    "agentlab_running_tool", default=None
)
"""The context of the tool an LLM agent runs in this task (set by the agent in the
tool's process), or None: what ``agent_ask`` checks an ask from a tool against."""


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
        body = inspect.unwrap(fn.func if isinstance(fn, functools.partial) else fn)
        if inspect.isgeneratorfunction(body) or inspect.isasyncgenfunction(body):
            raise TypeError(
                f"tool {self.name!r} is a generator function: a tool returns its result, and "
                "a generator would reach the model as its repr, never run. Return a list "
                "(e.g. 'return list(...)') instead of yielding."
            )
        summary, arg_docs = _parse_docstring(inspect.getdoc(fn) or "")
        self.description = description if description is not None else summary
        if timeout is not None and (
            isinstance(timeout, bool)
            or not isinstance(timeout, int | float)
            or not 0 < timeout < math.inf
        ):
            raise ValueError(
                f"tool {self.name!r}: timeout must be a finite number of seconds > 0 (or None: "
                f"the agent's tool_timeout), not {timeout!r}"
            )
        self.timeout = timeout
        self._context_param: str | None = None
        self._validator: type[pydantic.BaseModel] | None = None
        # parameters the function takes only by position (name, default), in order: invoke
        # passes them so
        self._positional: tuple[tuple[str, Any], ...] = _positional_only(fn)
        # the **kwargs parameter's hint: any other argument the model gives goes there,
        # checked against it (None: the function takes no other arguments)
        self._extra: pydantic.TypeAdapter[Any] | None = None
        # (field name in the validator, parameter name): the validator's fields have
        # neutral names and the parameters' names as aliases, so that any name works
        self._fields: tuple[tuple[str, str], ...] = ()
        self._custom_schema = schema is not None
        if schema is not None:
            # what OpenAI, Anthropic and Gemini all require: else the provider refuses
            # the whole request (a bad_request that crashes the agent at its first turn)
            if not isinstance(schema, Mapping) or schema.get("type") != "object":
                raise ValueError(
                    f"tool {self.name!r}: schema= describes the arguments as one JSON object, "
                    "e.g. {'type': 'object', 'properties': {'query': {'type': 'string'}}, "
                    f"'required': ['query']}}; got {schema!r}"
                )
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
        namespace = _namespace_of(self.fn)
        fields: dict[str, Any] = {}
        names: list[tuple[str, str]] = []
        extra: Any = None
        for p in sig.parameters.values():
            if p.kind is p.VAR_POSITIONAL:  # nothing the model sends by name can fill it
                continue
            ann = _hint(p.annotation, namespace)
            if p.kind is p.VAR_KEYWORD:
                if isinstance(ann, _Unresolved):
                    ann = Any  # described by nothing more than "any value"
                extra = ann
                continue
            if _is_context(ann):
                self._context_param = p.name
                continue
            if isinstance(ann, _Unresolved):
                raise TypeError(
                    f"tool {self.name!r}: cannot resolve the type hint {ann.text!r} of parameter "
                    f"{p.name!r} ({type(ann.error).__name__}: {ann.error}). Hints are resolved in "
                    "the function's module and the names its body uses; under 'from __future__ "
                    "import annotations' a class defined inside another function is not visible "
                    "there. Define the class at module level, or pass schema= (a JSON schema for "
                    "the arguments)."
                )
            shown = _alias_in(ann) or p.name  # the name the model sees
            if shown.startswith("_"):
                raise ValueError(
                    f"tool {self.name!r}: parameter {shown!r} starts with '_', which marks a "
                    "private name, yet the model would see and fill it. Rename it "
                    f"(e.g. {shown.lstrip('_') or 'value'!r})."
                )
            default = ... if p.default is p.empty else p.default
            doc = arg_docs.get(p.name)
            spec = (
                pydantic.Field(default, alias=shown, description=doc)
                if doc
                else pydantic.Field(default, alias=shown)  # keeps a description in Annotated
            )
            field = f"a{len(names)}"
            names.append((field, p.name))
            fields[field] = (ann, spec)
        self._fields = tuple(names)
        model_name = "".join(part.capitalize() for part in re.split(r"[_-]", self.name)) + "Args"
        validator: type[pydantic.BaseModel] = pydantic.create_model(
            model_name,
            __config__=pydantic.ConfigDict(extra="forbid" if extra is None else "allow"),
            **fields,
        )
        self._validator = validator
        schema = validator.model_json_schema()
        schema.pop("title", None)
        schema.pop("additionalProperties", None)
        for prop in schema.get("properties", {}).values():
            if isinstance(prop, dict):
                prop.pop("title", None)
        schema.setdefault("properties", {})
        if extra is not None:
            self._extra = pydantic.TypeAdapter(extra)
            value_schema = self._extra.json_schema()
            defs = value_schema.pop("$defs", None)
            if defs:
                schema.setdefault("$defs", {}).update(defs)
            schema["additionalProperties"] = value_schema or True
        return schema

    def schema(self) -> Tool:
        """The tool as the model sees it."""
        return Tool(self.name, self.description, self.parameters)

    def validate(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """The model's arguments, checked and converted; raises :class:`ToolArgumentsError`.

        With a hand-written ``schema=``, the arguments are passed through as they
        are, once checked to fit the function's parameters.
        """
        if not isinstance(arguments, Mapping):  # a custom model's call: not the agent's crash
            raise ToolArgumentsError(
                f"arguments for {self.name!r} must be a JSON object, not {type(arguments).__name__}"
            )
        if self._custom_schema or self._validator is None:
            args = dict(arguments)
            self._check_binds(args)
            return args
        try:
            parsed = self._validator.model_validate(dict(arguments))
            args = {name: getattr(parsed, field) for field, name in self._fields}
            if self._extra is not None and parsed.model_extra:
                args.update(self._check_extra(parsed.model_extra))
            return args
        except pydantic.ValidationError as e:
            raise ToolArgumentsError(
                f"arguments for {self.name!r} do not fit its schema: {format_errors(e)}"
            ) from None
        except ToolArgumentsError:
            raise
        except Exception as e:  # a validator that raised something else: still not a call
            raise ToolArgumentsError(
                f"arguments for {self.name!r} could not be checked: {type(e).__name__}: {e}"
            ) from e

    def _check_extra(self, extra: dict[str, Any]) -> dict[str, Any]:
        """The arguments that go to the function's ``**kwargs``, each checked against its hint."""
        assert self._extra is not None
        if self._context_param in extra:  # the agent fills it: not the model's to give
            raise ToolArgumentsError(
                f"arguments for {self.name!r}: {self._context_param!r} is not one of its arguments"
            )
        out = {}
        problems = []
        for key, value in extra.items():
            try:
                out[key] = self._extra.validate_python(value)
            except pydantic.ValidationError as e:
                problems.append(f"{key}: {format_errors(e).removeprefix('(root): ')}")
        if problems:
            raise ToolArgumentsError(
                f"arguments for {self.name!r} do not fit its schema: {'; '.join(problems)}"
            )
        return out

    def _check_binds(self, args: dict[str, Any]) -> None:
        """Raise :class:`ToolArgumentsError` if ``fn`` cannot be called with ``args``."""
        try:
            sig = inspect.signature(self.fn)
        except (TypeError, ValueError):  # a builtin without a signature: let the call tell
            return
        given = dict(args)
        if self._context_param is not None:
            given[self._context_param] = None
        try:
            positional, named = self._split(given)
            sig.bind(*positional, **named)
        except TypeError as e:
            raise ToolArgumentsError(
                f"arguments for {self.name!r} do not fit its parameters: {e}"
            ) from None

    async def invoke(self, arguments: Mapping[str, Any], ctx: ToolContext | None = None) -> Any:
        """Run the function with validated ``arguments`` (and ``ctx`` if it asks for one)."""
        kwargs = dict(arguments)
        if self._context_param is not None:
            kwargs[self._context_param] = ctx
        positional, named = self._split(kwargs)
        result = self.fn(*positional, **named)
        if inspect.isawaitable(result):
            result = await result
        return result

    def _split(self, kwargs: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
        """The arguments by name as a call takes them: the positional-only ones in order
        (one not given before one that is: its default), the others by name."""
        given = [i for i, (name, _) in enumerate(self._positional) if name in kwargs]
        positional: list[Any] = []
        for name, default in self._positional[: given[-1] + 1 if given else 0]:
            if name in kwargs:
                positional.append(kwargs.pop(name))
            elif default is inspect.Parameter.empty:
                break  # missing: the call (or _check_binds) says so
            else:
                positional.append(default)
        return positional, kwargs

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

    if isinstance(fn, str):  # @tool("search"): the name where the function goes
        raise TypeError(
            f"tool() takes the function itself; to name the tool, write @tool(name={fn!r})"
        )

    def wrap(f: Callable[..., Any]) -> FunctionTool:
        return FunctionTool(f, name=name, description=description, schema=schema, timeout=timeout)

    return wrap(fn) if fn is not None else wrap


def as_tools(tools: Iterable[Any]) -> dict[str, FunctionTool]:
    """Normalise a list of tools (``FunctionTool`` or plain functions) into a name → tool map."""
    if callable(tools) or isinstance(tools, str | bytes) or not isinstance(tools, Iterable):
        one = getattr(tools, "name", None) or getattr(tools, "__name__", None) or "a_function"
        raise TypeError(
            f"tools must be a list of functions or tools, not {tools!r}; for one tool, "
            f"pass tools=[{one}]"
        )
    if isinstance(tools, Mapping):  # iterating it would give the names, not the tools
        raise TypeError(
            f"tools must be a list of functions or tools, not a {type(tools).__name__}; pass "
            "tools=list(d.values()) (each tool is named after its function, or by name=)"
        )
    out: dict[str, FunctionTool] = {}
    for t in tools:
        ft = t if isinstance(t, FunctionTool) else FunctionTool(t)
        if ft.name in out:
            raise ValueError(f"two tools are named {ft.name!r}; pass name= to one of them")
        out[ft.name] = ft
    return out


def _positional_only(fn: Callable[..., Any]) -> tuple[tuple[str, Any], ...]:
    """``fn``'s positional-only parameters (``def f(a, /)``), in order, with their defaults."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return ()
    return tuple((p.name, p.default) for p in params if p.kind is p.POSITIONAL_ONLY)


@dataclass(frozen=True)
class _Unresolved:
    """A type hint that could not be resolved: its text and why."""

    text: str
    error: Exception


_Namespace = tuple[dict[str, Any], dict[str, Any]]


def _namespace_of(fn: Callable[..., Any]) -> _Namespace:
    """Where ``fn``'s hints are resolved: its module's globals, and the variables it
    closes over (through decorators, ``functools.partial`` and callable objects)."""
    f: Any = inspect.unwrap(fn)
    while isinstance(f, functools.partial):
        f = inspect.unwrap(f.func)
    if not hasattr(f, "__globals__") and not inspect.isroutine(f):
        f = type(f).__call__  # a callable object: its __call__'s module
    f = getattr(f, "__func__", f)  # a bound method: its function
    module = getattr(f, "__globals__", None)
    local: dict[str, Any] = {}
    code, cells = getattr(f, "__code__", None), getattr(f, "__closure__", None) or ()
    for name, cell in zip(getattr(code, "co_freevars", ()), cells, strict=False):
        try:
            local[name] = cell.cell_contents
        except ValueError:  # an empty cell: not assigned yet
            pass
    return (module if isinstance(module, dict) else {}), local


def _hint(annotation: Any, namespace: _Namespace) -> Any:
    """One parameter's type hint, resolved (strings, nested forward references) in
    ``namespace``; ``Any`` if there is none, an :class:`_Unresolved` if it cannot be."""
    if annotation is inspect.Parameter.empty:
        return Any
    holder = types.SimpleNamespace(__annotations__={"hint": annotation})
    module, local = namespace
    try:
        return typing.get_type_hints(
            holder, globalns=module, localns=local or None, include_extras=True
        )["hint"]
    except Exception as e:  # NameError, SyntaxError, TypeError...: whatever the hint raises
        return _Unresolved(annotation if isinstance(annotation, str) else repr(annotation), e)


def _is_context(hint: Any) -> bool:
    """Whether ``hint`` is :class:`ToolContext` or ``ToolContext | None`` (or names it,
    but cannot be resolved: imported only under ``TYPE_CHECKING``)."""
    if isinstance(hint, _Unresolved):
        text = hint.text.strip().strip("'\"").removesuffix("| None").strip()
        return text.rsplit(".", 1)[-1] == "ToolContext"
    if hint is ToolContext:
        return True
    args = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else ()
    return len(args) == 2 and ToolContext in args and type(None) in args


def _alias_in(hint: Any) -> str | None:
    """The ``alias`` of a ``pydantic.Field`` in ``Annotated[...]``, if one was given."""
    if typing.get_origin(hint) is Annotated:
        for meta in hint.__metadata__:
            if isinstance(meta, FieldInfo) and isinstance(meta.alias, str):
                return meta.alias
    return None


def _context_param_of(fn: Callable[..., Any]) -> str | None:
    """The name of ``fn``'s :class:`ToolContext` parameter, if it has one (the other
    hints need not resolve: a hand-written schema describes the arguments)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return None
    namespace = _namespace_of(fn)
    return next((p.name for p in params if _is_context(_hint(p.annotation, namespace))), None)


def format_errors(error: pydantic.ValidationError) -> str:
    """A pydantic error as short ``field: problem`` lines a model can act on."""
    parts = []
    for e in error.errors(include_url=False):
        loc = ".".join(str(x) for x in e.get("loc", ())) or "(root)"
        parts.append(f"{loc}: {e.get('msg', 'invalid')}")
    return "; ".join(parts)


def render_result(value: Any) -> str:
    """A tool's return value as the text of the tool message: JSON unless it is a string.

    >>> @dataclasses.dataclass
    ... class Hit:
    ...     title: str
    ...     score: float
    >>> render_result([Hit("Wind", 0.9)])
    '[{"title": "Wind", "score": 0.9}]'
    """
    if isinstance(value, str):
        return value
    # the agent renders what its tool returned: nothing in the value may crash it
    with contextlib.suppress(Exception):  # a circular list, a str() that raises...
        if isinstance(value, pydantic.BaseModel):
            return value.model_dump_json()
        return json.dumps(value, ensure_ascii=False, default=_jsonable)
    try:
        return repr(value)
    except Exception as e:
        return f"<a {type(value).__name__} that cannot be shown as text ({type(e).__name__}: {e})>"


def _jsonable(value: Any) -> Any:
    """What ``json.dumps`` writes for a value it does not know (nested values are
    passed back to it, so they get the same treatment)."""
    if isinstance(value, pydantic.BaseModel):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, set | frozenset):
        try:
            return sorted(value)  # a stable order: the same run gives the same text
        except TypeError:
            return list(value)
    return str(value)


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
