"""Server-sent events, parsed straight from the bytes of a response.

A stream of a thousand tokens is a thousand events, so this is the per-token
path of every HTTP provider. Instead of a chain of async iterators (bytes,
text, lines, events, stream events: each a generator that every token passes
through, and every wait twice), :meth:`SSEDecoder.feed` takes the bytes of
one network read and returns the provider's stream events for all the events
that read completed; the HTTP model has a single ``async for`` over reads::

    decoder = OpenAIDecoder(model, state)          # a subclass, one per response
    async for chunk in response.aiter_bytes():
        for event in decoder.feed(chunk):
            yield event
    for event in decoder.close():                  # Usage and Finish, or an error
        yield event

A subclass implements ``event(name, data, out)``, appending the stream events
of one server-sent event to ``out``, and ``end(out)`` for the end of the stream.
When ``event`` fails on data of the wrong shape (``AttributeError``,
``TypeError``, ``KeyError``, ``IndexError`` or ``ValueError``: a string where
an object should be, a null in a list...), ``feed`` raises what
``malformed(data, exc)`` returns instead; the provider decoders return a
:class:`~agentlab.llm.StreamInterrupted` that shows the event.

Parsing follows the WHATWG rules for ``text/event-stream``: UTF-8 (a leading
BOM is dropped; a character split across reads is joined); lines end with
CRLF, LF or CR (a CR that ends a read may be half of a CRLF); a blank line
dispatches the event if it has data; ``data:`` lines are joined with LF; one
space after the colon is dropped; a line starting with ``:`` is a comment;
``event:`` names the event (``"message"`` if not named); ``id`` and ``retry``
are ignored (nothing reconnects); an event the stream ends in the middle of
is discarded.

If ``event`` raises after adding stream events for the same read, those
events are returned first and the error is raised by the next ``feed`` or
``close``: the consumer sees the output that came before the error, as it
would have in the order of the wire.
"""

from __future__ import annotations

from codecs import utf_8_decode

from ._protocol import StreamEvent

__all__ = ["SSEDecoder"]

_SHAPE_ERRORS = (AttributeError, TypeError, KeyError, IndexError, ValueError)
"""What taking apart JSON of an unexpected shape raises."""


class SSEDecoder:
    """Bytes of an event stream in, stream events out (see the module docstring)."""

    def __init__(self) -> None:
        self._raw = b""  # the start of a UTF-8 character split across reads
        self._tail = ""  # the start of a line split across reads
        self._skip_lf = False  # the last read ended with CR: drop an LF that starts the next
        self._bom = True  # nothing decoded yet: a BOM would be dropped
        self._name = ""
        self._data: str | None = None
        self._error: Exception | None = None

    # -- what subclasses provide -------------------------------------------

    def event(self, name: str, data: str, out: list[StreamEvent]) -> None:
        """Add the stream events of one server-sent event to ``out``."""
        raise NotImplementedError

    def end(self, out: list[StreamEvent]) -> None:
        """The stream is over: add the last stream events, or raise if it was cut short."""
        raise NotImplementedError

    def malformed(self, data: str, exc: Exception) -> Exception:
        """The error to raise for an event ``event`` could not take apart (``exc``)."""
        return ValueError(f"malformed event ({type(exc).__name__}: {exc}): {data[:200]!r}")

    # -- parsing ------------------------------------------------------------------

    def feed(self, chunk: bytes) -> list[StreamEvent]:
        """The stream events of the events that ``chunk`` completes."""
        if self._error is not None:
            self._raise_pending()
        raw = self._raw + chunk if self._raw else chunk
        text, used = utf_8_decode(raw, "replace", False)
        self._raw = raw[used:] if used < len(raw) else b""
        if self._bom and text:
            self._bom = False
            if text[0] == "\ufeff":
                text = text[1:]
        if self._skip_lf and text:
            self._skip_lf = False
            if text[0] == "\n":
                text = text[1:]
        if self._tail:
            text = self._tail + text
        if "\r" in text:
            self._skip_lf = text[-1] == "\r"
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        lines = text.split("\n")
        self._tail = lines.pop()
        out: list[StreamEvent] = []
        name, data = self._name, self._data
        try:
            for line in lines:
                if not line:
                    if data is not None:
                        try:
                            self.event(name or "message", data, out)
                        except _SHAPE_ERRORS as exc:
                            raise self.malformed(data, exc) from exc
                        data = None
                    name = ""
                elif line.startswith("data:"):
                    value = line[6:] if line[5:6] == " " else line[5:]
                    data = value if data is None else f"{data}\n{value}"
                elif line[0] != ":":
                    field, _, value = line.partition(":")
                    if value[:1] == " ":
                        value = value[1:]
                    if field == "event":
                        name = value
                    elif field == "data":
                        data = value if data is None else f"{data}\n{value}"
        except Exception as exc:
            if not out:
                raise
            self._error = exc  # raised by the next feed or close, after these events
        self._name, self._data = name, data
        return out

    def close(self) -> list[StreamEvent]:
        """The stream ended: the stream events of :meth:`end` (an unfinished event is dropped)."""
        if self._error is not None:
            self._raise_pending()
        out: list[StreamEvent] = []
        self.end(out)
        return out

    def _raise_pending(self) -> None:
        error, self._error = self._error, None
        assert error is not None
        raise error
