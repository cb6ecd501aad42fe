"""The event-stream parser: the WHATWG rules, whatever the reads look like."""

from __future__ import annotations

import asyncio
import gzip

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentlab.llm import OpenAIChat, StreamInterrupted, TextDelta, Usage, complete
from agentlab.llm._sse import SSEDecoder


class Collect(SSEDecoder):
    """Each server-sent event as one TextDelta ``"name|data"``; ``end`` adds ``"end"``."""

    def event(self, name, data, out):
        out.append(TextDelta(f"{name}|{data}"))

    def end(self, out):
        out.append(TextDelta("end"))


def parse(*reads: bytes) -> list[str]:
    d = Collect()
    got = [e.text for r in reads for e in d.feed(r)]
    return got + [e.text for e in d.close()]


def test_events_lines_and_fields():
    body = (
        b"data: one\n\n"
        b": a comment\n"
        b"event: delta\ndata: two\n\n"
        b"data:no space\n\n"
        b"data:  two spaces\n\n"
        b"data: a\ndata: b\n\n"
        b"data\n\n"  # a field with no colon: data is ""
        b"id: 7\nretry: 10\n\n"  # no data: nothing dispatched
        b"event: skipped\n\n"  # a name without data is forgotten at the blank line
        b"data: after\n\n"
    )
    assert parse(body) == [
        "message|one",
        "delta|two",
        "message|no space",
        "message| two spaces",
        "message|a\nb",
        "message|",
        "message|after",
        "end",
    ]


@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"])
def test_every_line_ending(eol):
    body = eol.join([b"event: e", b"data: x", b"", b"data: y", b"", b""])
    assert parse(body) == ["e|x", "message|y", "end"]


def test_crlf_split_across_reads_is_one_line_end():
    assert parse(b"data: x\r", b"\n\r", b"\ndata: y\r\n\r\n") == ["message|x", "message|y", "end"]


def test_utf8_split_across_reads_and_bom():
    body = "\ufeffdata: héllo €\n\n".encode()
    assert parse(*[body[i : i + 1] for i in range(len(body))]) == ["message|héllo €", "end"]
    assert parse("data: \ufeffkept\n\n".encode()) == ["message|\ufeffkept", "end"]


def test_unterminated_event_is_dropped():
    assert parse(b"data: done\n\ndata: cut") == ["message|done", "end"]
    assert parse(b"data: done\n\ndata: cut\n") == ["message|done", "end"]


@given(st.lists(st.integers(min_value=0, max_value=200), max_size=12))
def test_any_split_gives_the_same_events(cuts):
    body = "event: a\r\ndata: ü1\r\n\r\n: c\rdata: 2\rdata: 3\r\r\ndata:4\n\ndata: 5".encode()
    points = sorted({c % (len(body) + 1) for c in cuts})
    bounds = [0, *points, len(body)]
    reads = [body[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]
    assert parse(*reads) == parse(body) == ["a|ü1", "message|2\n3", "message|4", "end"]


class FailOnBad(Collect):
    def event(self, name, data, out):
        if data == "bad":
            raise StreamInterrupted("bad event", partial=bool(out))
        super().event(name, data, out)


def test_an_error_comes_after_the_events_before_it():
    d = FailOnBad()
    assert [e.text for e in d.feed(b"data: 1\n\ndata: bad\n\ndata: 2\n\n")] == ["message|1"]
    with pytest.raises(StreamInterrupted, match="bad event") as info:
        d.feed(b"data: 3\n\n")
    assert info.value.partial
    d = FailOnBad()
    assert d.feed(b"data: 1\n\ndata: bad\n\n") == [TextDelta("message|1")]
    with pytest.raises(StreamInterrupted):
        d.close()
    with pytest.raises(StreamInterrupted):  # nothing before it in this read: raised at once
        FailOnBad().feed(b"data: bad\n\n")


@pytest.mark.parametrize("encoding", [None, "gzip"])
def test_a_provider_reads_plain_and_compressed_streams(server, encoding):
    """Raw reads when there is no content-encoding; httpx decodes gzip otherwise."""
    body = (
        b'data: {"choices": [{"index": 0, "delta": {"content": "Hel"}}]}\r\n\r\n'
        b'data: {"choices": [{"index": 0, "delta": {"content": "lo"}, "finish_reason": "stop"}]}\n\n'
        b'data: {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2}}\n\n'
        b"data: [DONE]\n\n"
    )
    headers = {"content-type": "text/event-stream"}
    if encoding:
        body = gzip.compress(body)
        headers["content-encoding"] = encoding
    # over loopback HTTP, in three pieces
    root = server.root("openai_chat_text_basic", headers=headers,
                       pieces=[body[:7], body[7:40], body[40:]])

    async def main():
        async with OpenAIChat("gpt-4o-mini", api_key="k", base_url=root + "/v1") as m:
            return await complete(m, "hi")

    r = asyncio.run(main())
    assert (r.text, r.stop_reason, r.usage) == ("Hello", "stop", Usage(3, 2))
