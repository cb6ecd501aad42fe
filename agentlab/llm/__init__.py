"""LLMs on the wire: providers over httpx, offline models, retries, faults, accounting.

A model streams typed events for a conversation; :func:`complete` gathers
them into a :class:`Response`::

    import random
    from agentlab.llm import Message, Retrying, ScriptedModel, complete

    model = Retrying(ScriptedModel(["Hello!"], seed=1), rng=random.Random(1))
    response = await complete(model, [Message.user("Hi")])
    response.text            # 'Hello!'

The same code talks to a provider (``OpenAIChat``, ``Anthropic``,
``Gemini``), replays a recording (``ReplayModel``), or runs through injected
faults (``FaultTransport``, ``FaultyModel``). Every wait uses an injected
clock and every random choice a seeded ``random.Random``; every request,
token, retry and error can be observed through an ``emit`` callback
(fields: :mod:`agentlab.llm._events`). This package does not import the
runtime.
"""

from ._accounting import DEFAULT_PRICES, UsageMeter, cost_usd, estimate_tokens
from ._anthropic import Anthropic
from ._clock import AsyncioClock, Clock
from ._errors import (
    AuthError,
    BadRequest,
    LLMError,
    Overloaded,
    RateLimited,
    ServerError,
    StreamInterrupted,
    Timeout,
)
from ._events import Emit, tee
from ._faults import FaultTransport, FaultyModel
from ._gemini import Gemini
from ._messages import Message, Tool, ToolCall
from ._openai import OpenAIChat
from ._protocol import Finish, Model, StreamEvent, TextDelta, ToolCallDelta, Usage
from ._replay import Recorder, ReplayModel, ReplayTransport
from ._response import Assembler, Response, complete
from ._retry import Retrying, RetryPolicy
from ._scripted import Reply, ScriptedModel

__all__ = [
    "DEFAULT_PRICES",
    "Anthropic",
    "Assembler",
    "AsyncioClock",
    "AuthError",
    "BadRequest",
    "Clock",
    "Emit",
    "FaultTransport",
    "FaultyModel",
    "Finish",
    "Gemini",
    "LLMError",
    "Message",
    "Model",
    "OpenAIChat",
    "Overloaded",
    "RateLimited",
    "Recorder",
    "ReplayModel",
    "ReplayTransport",
    "Reply",
    "Response",
    "RetryPolicy",
    "Retrying",
    "ScriptedModel",
    "ServerError",
    "StreamEvent",
    "StreamInterrupted",
    "TextDelta",
    "Timeout",
    "Tool",
    "ToolCall",
    "ToolCallDelta",
    "Usage",
    "UsageMeter",
    "complete",
    "cost_usd",
    "estimate_tokens",
    "tee",
]
