"""Helpers shared by the LLM tests: a fake clock, provider lookup, expectations, an answer
in given pieces from the loopback server."""

from __future__ import annotations

import re
from typing import Any

from wire_server import TRANSCRIPTS, WIRE_DIR  # noqa: F401 (the recordings, for the tests)

from agentlab.llm import Anthropic, Gemini, OpenAIChat, Response

PROVIDERS = {
    "openai.chat.completions": OpenAIChat,
    "anthropic.messages": Anthropic,
    "google.gemini": Gemini,
}


class FakeClock:
    """Time that moves only when someone sleeps; every sleep is recorded."""

    def __init__(self, start: float = 100.0) -> None:
        self.t = start
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += max(0.0, seconds)


class Events:
    """An ``emit`` callback that keeps everything."""

    def __init__(self) -> None:
        self.log: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, kind: str, **fields: Any) -> None:
        self.log.append((kind, fields))

    def kinds(self) -> list[str]:
        return [k for k, _ in self.log]

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [f for k, f in self.log if k == kind]


def model_name(transcript: dict[str, Any]) -> str:
    req = transcript["request"]
    body = req.get("body") or {}
    if "model" in body:
        return str(body["model"])
    if ":streamGenerateContent" in req.get("path", ""):
        return req["path"].split("/models/")[1].split(":")[0]
    return "gpt-4o-mini"


def base_url_for(transcript: dict[str, Any], root: str) -> str:
    """The base_url that makes the client's request path land on ``root`` + the recorded path."""
    return root + "/v1" if transcript["provider"] == "openai.chat.completions" else root


def make_model(transcript: dict[str, Any], root: str, **kw: Any) -> Any:
    cls = PROVIDERS[transcript["provider"]]
    kw.setdefault("api_key", "test-key-123")
    return cls(model_name(transcript), base_url=base_url_for(transcript, root), **kw)


def expected_usage(transcript: dict[str, Any]) -> tuple[int | None, int | None]:
    u = transcript["expected"].get("usage") or {}
    for i, o in (("input_tokens", "output_tokens"), ("prompt_tokens", "completion_tokens"),
                 ("promptTokenCount", "candidatesTokenCount")):
        if i in u:
            return u[i], u[o]
    return None, None


def check_response(transcript: dict[str, Any], response: Response) -> None:
    """Assert ``response`` is exactly the transcript's ``expected`` block."""
    exp = transcript["expected"]
    assert response.text == (exp["text"] or "")
    got = [(c.id, c.name, c.arguments, c.error) for c in response.tool_calls]
    want = [(c.get("id"), c["name"], c["arguments"], None) for c in exp["tool_calls"]]
    assert got == want
    for call, spec in zip(response.tool_calls, exp["tool_calls"], strict=True):
        if "arguments_raw" in spec:
            assert call.raw_arguments == spec["arguments_raw"]
    assert response.stop_reason == exp.get("stop_reason", exp.get("finish_reason"))
    inp, out = expected_usage(transcript)
    assert response.usage is not None
    assert (response.usage.input_tokens, response.usage.output_tokens) == (inp, out)
    assert response.usage.reported


def serve_pieces(server: Any, transcript: dict[str, Any], pieces: list[bytes]) -> str:
    """The ``base_url`` of a model for ``transcript`` whose answer, from the loopback
    ``server`` (the fixture), has the transcript's status and headers and these pieces
    as its body, each read by the client on its own (one chunk of the chunked encoding
    each: never joined, at most split further)."""
    return base_url_for(transcript, server.root(transcript["name"], pieces=pieces))


_OUTPUT = re.compile(r'"(content|text)": ?"[^"]')


def cut_after_first_output(transcript: dict[str, Any]) -> int:
    """A byte offset a few bytes into the event after the first one carrying text."""
    body = transcript["response"]["body"]
    sep = "\r\n\r\n" if "\r\n\r\n" in body else "\n\n"
    offset = 0
    for event in body.split(sep):
        offset += len((event + sep).encode("utf-8"))
        if _OUTPUT.search(event):
            return offset + 5
    raise AssertionError("no output in this transcript")
