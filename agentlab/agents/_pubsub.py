"""Agents on a :class:`agentlab.PubSub`: posts, publishing, and a tool to publish.

An :class:`~agentlab.agents.LLMAgent` started with ``pubsub=`` and
``topics=`` subscribes to those topics; every :class:`Post` that arrives is
added to its conversation as a note (``on_post="note"``, the default) or
answered as a new turn (``on_post="ask"``, the answer is published on
``publish_to`` if set)::

    news = PubSub(rt, name="news")
    rt.start(LLMAgent, pubsub=news, topics=["findings"], name="editor")
    publish(news, "findings", "Solar output rose 12% in 2024.", sender="alice")

    # or let a model publish, through a tool:
    rt.start(LLMAgent, tools=[publish_tool(news, "findings")], name="alice")

A broadcast is plain messages: at most once, ordered per sender, and an
agent that is busy with a turn reads its posts after the turn.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

from .._registry import PubSub
from ._tools import FunctionTool, ToolContext

__all__ = ["Post", "publish", "publish_tool"]


@dataclass(frozen=True)
class Post:
    """One message on a topic: its ``text`` and who sent it (a name, or ``None``)."""

    topic: Hashable
    text: str
    sender: str | None = None

    def render(self) -> str:
        """How the post reads in a conversation."""
        who = self.sender or "someone"
        return f"[{self.topic}] {who}: {self.text}"


def publish(pubsub: PubSub, topic: Hashable, text: str, *, sender: str | None = None) -> int:
    """Broadcast a :class:`Post` to ``topic``'s subscribers (not to the calling process).

    Returns how many messages were sent.
    """
    rt = pubsub.runtime
    me = rt.self()
    if sender is None and me is not None:
        sender = me.name
    return pubsub.broadcast_from(me, topic, Post(topic, text, sender))


def publish_tool(pubsub: PubSub, topic: Hashable, *, name: str = "publish") -> FunctionTool:
    """A tool that lets a model post ``text`` on ``topic`` (the agent itself does not get it)."""

    def post(text: str, ctx: ToolContext) -> str:
        n = pubsub.broadcast_from(ctx.agent, topic, Post(topic, text, ctx.agent.name))
        return f"published to {n} subscriber(s) of {topic!r}"

    return FunctionTool(post, name=name, description=f"Publish a short note on the {topic!r} topic.")
