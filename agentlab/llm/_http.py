"""The HTTP half of the providers: one pooled client, one streamed POST, typed errors.

A provider subclass says how to build the request (``_request``) and how to
decode server-sent events (``_decoder``, an :class:`~agentlab.llm._sse.SSEDecoder`
fed the response bytes as they arrive); this class does the rest:

* the ``httpx.AsyncClient`` is injected (``client=``, shared, never closed
  here: its owner closes it) or created lazily on first use (with
  ``transport=`` if given) and closed, with its pooled connections and that
  transport, by :meth:`HTTPModel.aclose` or ``async with model:``. A closed
  model can be used again: its next call opens a new client. Whoever made the
  model closes it (an :class:`~agentlab.agents.LLMAgent` closes the models it
  made itself, from a factory; see its docstring); one left open holds its
  connections until it is garbage-collected, which warns ``ResourceWarning:
  unclosed transport``;
* non-2xx answers become typed errors with the (truncated) body;
* a 2xx answer that is not an event stream (a server that ignores
  ``"stream": true``, Gemini's ``streamGenerateContent`` without ``alt=sse``)
  is read whole: JSON that is a whole answer (a ``chat.completion``, a
  Messages ``message``, a ``GenerateContentResponse`` or a JSON array of them)
  is decoded as the stream it would have been, an error object in it is the
  typed error, and anything else is a :class:`BadRequest` naming the
  content type;
* what an attempt costs follows from what is known about it. One the
  provider turned away or never got (an error status, even if its body then
  stops coming; no connection; a request that could not be sent or timed
  out going out) reports no usage and costs nothing. One it answered with a
  stream or a whole answer is charged its prompt and output, as reported or
  else estimated. A 2xx body that is not an answer (an error object, an HTML
  page) is charged the usage it reports, and nothing when it reports none:
  nothing says the model ran. A request that went out and got no answer (a
  timeout or a dropped connection before the response headers, a 2xx body
  that stopped coming) is charged its prompt, estimated: the provider may
  have run the model, and bill it;
* network failures become :class:`Timeout`, :class:`ServerError` (could not
  connect) or :class:`StreamInterrupted` (the stream broke); a request that
  cannot be sent at all (a bad header) is a :class:`BadRequest`, not retried;
* a ``base_url`` that cannot work (no ``http://`` or ``https://``, no host, a
  port outside 1-65535) is a :class:`BadRequest` from the constructor, or
  from the assignment that sets it later;
* cancelling the consuming task, or closing the stream, closes the response,
  so the server sees the connection go away.

API keys come from the argument or the environment and only ever travel in a
request header; they are scrubbed from any text that reaches an error, and
never appear in ``repr``.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any

import httpx

from ._accounting import Prices
from ._base import BaseModel, CallState
from ._clock import Clock
from ._errors import AuthError, BadRequest, LLMError, ServerError, StreamInterrupted, Timeout
from ._events import Emit
from ._messages import Message, Tool
from ._protocol import AsyncClosing, StreamEvent, ToolCallDelta, opened
from ._sse import SSEDecoder
from ._wire_errors import error_from_response

__all__ = [
    "NUMBER", "HTTPModel", "ProviderDecoder", "call_delta", "checked", "wrong_type",
]

DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
_REQUEST_ID_HEADERS = ("request-id", "x-request-id", "x-goog-request-id")
# failures before the request was out (the model never ran): no connection, a timeout
# connecting, waiting for a pooled connection or sending, a request httpx cannot send
_NOT_SENT = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.WriteTimeout,
    httpx.InvalidURL,
    httpx.UnsupportedProtocol,
    httpx.LocalProtocolError,
)


class HTTPModel(BaseModel, AsyncClosing):
    """Base of the HTTP providers (see the module docstring)."""

    env_keys: tuple[str, ...] = ()
    default_base_url: str = ""

    def __init__(
        self,
        model: str,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: httpx.Timeout | float | None = None,
        headers: Mapping[str, str] | None = None,
        emit: Emit | None = None,
        clock: Clock | None = None,
        prices: Prices | None = None,
        first_token_timeout: float | None = None,
        total_timeout: float | None = None,
    ) -> None:
        super().__init__(
            model,
            emit=emit,
            clock=clock,
            prices=prices,
            first_token_timeout=first_token_timeout,
            total_timeout=total_timeout,
        )
        self._api_key = api_key or next(
            (os.environ[k] for k in self.env_keys if os.environ.get(k)), None
        )
        names = " or ".join(self.env_keys)
        # how to give a key, for the messages about a missing or refused one; a front end
        # that takes it another way says so here (the command line: --api-key)
        self.key_hint = f"api_key= or {names}" if names else "api_key="
        self.base_url = (base_url or self.default_base_url).rstrip("/")
        self._client = client
        self._owns_client = client is None
        self._transport = transport
        self._timeout = DEFAULT_TIMEOUT if timeout is None else httpx.Timeout(timeout)
        self._extra_headers = dict(headers or {})

    def __repr__(self) -> str:
        key = "set" if self._api_key else "missing"
        return f"{type(self).__name__}({self.model!r}, base_url={self.base_url!r}, api_key=<{key}>)"

    # -- client lifecycle -------------------------------------------------

    @property
    def client(self) -> httpx.AsyncClient:
        """The shared client, created on first use if none was injected."""
        if self._client is None:
            self._client = httpx.AsyncClient(transport=self._transport, timeout=self._timeout)
        return self._client

    async def aclose(self) -> None:
        """Close the client if this model created it, with its pooled connections (an
        injected ``client=`` is left open, for its owner to close). The model can be used
        again: its next call opens a new client. ``async with model:`` calls this on
        the way out."""
        if self._owns_client and self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    # -- what subclasses provide -------------------------------------------

    def _request(
        self, messages: Sequence[Message], tools: Sequence[Tool], opts: dict[str, Any]
    ) -> tuple[str, dict[str, str], dict[str, Any]]:
        """``(url, headers, json_body)`` for one call."""
        raise NotImplementedError

    def _decoder(self, state: CallState) -> SSEDecoder:
        """A decoder for the server-sent events of one response."""
        raise NotImplementedError

    # -- shared helpers ---------------------------------------------------------

    def scrub(self, text: str) -> str:
        """``text`` with the API key replaced by ``[redacted]``."""
        key = self._api_key
        if key and len(key) >= 4:
            text = text.replace(key, "[redacted]")
        return text

    def _shown(self, url: str, limit: int = 200) -> str:
        """``url`` scrubbed and quoted for a message, its middle cut if it is long."""
        url = self.scrub(url)
        if len(url) <= limit:
            return repr(url)
        return f"{url[: limit // 2] + '...' + url[-(limit // 2):]!r} ({len(url)} characters)"

    @property
    def base_url(self) -> str:
        """Where requests go; setting it checks it (:class:`BadRequest` if it cannot work)."""
        return self._base_url

    @base_url.setter
    def base_url(self, url: str) -> None:
        self._base_url = self._check_base_url(url)

    def _check_base_url(self, url: str) -> str:
        """``url`` if a request can be sent to it; else raise :class:`BadRequest`.

        httpx takes a port outside 1-65535 and only fails in the socket layer
        below it (an ``OverflowError`` in an ``ExceptionGroup``), so this checks
        what httpx does not.
        """
        try:
            parsed = httpx.URL(url)
            port = parsed.port
            if parsed.scheme not in ("http", "https"):
                problem = "no http:// or https://"
            elif not parsed.host:
                problem = "no host"
            elif port is not None and not 0 < port < 65536:
                problem = f"port {port} is out of range"
            else:
                return url
        except httpx.InvalidURL as exc:
            problem = f"not a valid URL: {exc}"
        raise BadRequest(
            f"cannot use base_url {self._shown(url)} ({self.scrub(problem)}); check base_url: "
            "it needs http:// or https://, a host, and a port in 1-65535 if it gives one "
            f"(the default is {self.default_base_url!r}).",
            provider=self.provider,
        )

    def _need_key(self) -> str | None:
        if self._api_key is None and self.base_url == self.default_base_url.rstrip("/"):
            raise AuthError(
                f"no API key; pass {self.key_hint}.", provider=self.provider
            )
        return self._api_key

    def _headers(self, auth: Mapping[str, str]) -> dict[str, str]:
        return {
            "content-type": "application/json",
            "accept": "text/event-stream",
            **self._extra_headers,
            **auth,
        }

    async def _events(
        self, messages: Sequence[Message], tools: Sequence[Tool], opts: dict[str, Any], state: CallState
    ) -> AsyncIterator[StreamEvent]:
        try:
            url, headers, body = self._request(messages, tools, opts)
        except Exception:  # nothing was sent (no key, an option it cannot take)
            state.refused = True
            raise
        try:
            async with self.client.stream("POST", url, headers=headers, json=body) as response:
                state.provider_request_id = next(
                    (response.headers[h] for h in _REQUEST_ID_HEADERS if h in response.headers),
                    None,
                )
                if not 200 <= response.status_code < 300:
                    state.refused = True  # answered, but the model did not run: nothing to pay
                    raw = (await response.aread()).decode("utf-8", "replace")
                    raise error_from_response(
                        self.provider,
                        response.status_code,
                        response.headers,
                        raw,
                        scrub=self.scrub,
                        key_hint=self.key_hint,
                    )
                ctype = response.headers.get("content-type", "")
                if "text/event-stream" not in ctype:
                    raw = (await response.aread()).decode("utf-8", "replace")
                    for event in self._whole(raw, ctype, response.status_code, state):
                        yield event
                    return
                decoder = self._decoder(state)
                feed = decoder.feed
                # without a content-encoding the raw bytes are the bytes (one generator less);
                # a body already read in full (a mock's) can only be read through aiter_bytes
                as_is = not response.is_stream_consumed and "content-encoding" not in response.headers
                reads = response.aiter_raw() if as_is else response.aiter_bytes()
                async with opened(reads) as chunks:
                    async for chunk in chunks:
                        for event in feed(chunk):
                            yield event
                for event in decoder.close():
                    yield event
        except (httpx.TransportError, httpx.DecodingError, httpx.InvalidURL) as exc:
            if isinstance(exc, _NOT_SENT):
                state.refused = True  # it never went out: nothing to pay
            raise self._failure(exc, url)

    def _records(self, payload: Any) -> list[Any]:
        """The JSON data of the events whose stream would have carried ``payload``, a
        whole (non-streaming) answer; a provider whose whole answer differs from its
        stream's events says how (the default: the payload is one event)."""
        return [payload]

    def _whole(self, raw: str, ctype: str, status: int, state: CallState) -> Iterator[StreamEvent]:
        """The stream events of a 2xx answer that is not an event stream (``raw``, its
        body): a whole answer in JSON, decoded by the stream's decoder as the events it
        would have been (:meth:`_records`); else raise. See the module docstring for
        what such an attempt costs."""
        try:
            payload = json.loads(raw)
        except ValueError:
            payload = None
        if payload is not None:
            decoder = self._decoder(state)
            data = "".join(f"data: {json.dumps(r)}\n\n" for r in self._records(payload))
            try:
                yield from decoder.feed(data.encode("utf-8"))
                yield from decoder.close()
                return
            except StreamInterrupted:
                pass  # JSON, but not an answer this provider's decoder can read
            except LLMError:  # an error object: the model did not answer
                if state.input_tokens is None and state.output_tokens is None:
                    state.refused = True
                raise
        if state.input_tokens is None and state.output_tokens is None:
            state.refused = True  # no answer and no usage: nothing says the model ran
        shown = repr(ctype) if ctype else "none"
        raise BadRequest(
            f"expected an event stream but got content-type {shown} (HTTP {status}), and the "
            f"body is not a whole {self.provider} answer either; check base_url (is this "
            "server compatible?).",
            provider=self.provider,
            status=status,
            body=self.scrub(raw),
        )

    def _failure(self, exc: Exception, url: str) -> LLMError:
        """The error for an httpx failure sending ``url`` or reading its answer."""
        if isinstance(exc, httpx.TimeoutException):
            return Timeout(
                f"{type(exc).__name__} talking to {httpx.URL(url).host}; retry, or raise timeout=.",
                provider=self.provider,
            )
        if isinstance(exc, httpx.ConnectError):
            where = httpx.URL(url)
            return ServerError(
                f"could not connect to {where.host}:{where.port or ''} ({self.scrub(str(exc))}); "
                "check base_url and the network.",
                provider=self.provider,
            )
        if isinstance(exc, httpx.InvalidURL):
            # base_url was checked when set, but the whole URL can still fail: too long
            # with the path and (Gemini) the model's name. Retrying cannot help
            return BadRequest(
                f"cannot send a request to {self._shown(url)} ({self.scrub(str(exc))}); "
                "shorten base_url or the model name.",
                provider=self.provider,
            )
        if isinstance(exc, httpx.UnsupportedProtocol):
            # base_url's scheme was checked when set: only a redirect to another scheme,
            # followed by an injected client, ends here. Retrying cannot help
            try:
                target = str(exc.request.url)
            except RuntimeError:  # no request attached: name the one sent
                target = url
            via = "" if target == url else f", where the request to {self._shown(url)} was redirected"
            return BadRequest(
                f"cannot send a request to {self._shown(target)}{via} ({self.scrub(str(exc))}); "
                "point base_url at the server that answers.",
                provider=self.provider,
            )
        if isinstance(exc, httpx.LocalProtocolError):
            return BadRequest(
                f"cannot send the request as built ({self.scrub(str(exc))}); check headers=.",
                provider=self.provider,
            )
        return StreamInterrupted(
            f"the connection broke ({type(exc).__name__}: {self.scrub(str(exc))}); "
            "retry the call.",
            provider=self.provider,
        )

def wrong_type(what: str, value: object) -> TypeError:
    """The error for a field of the wrong type; a decoder raises it, ``feed`` reports
    it as a malformed event."""
    return TypeError(f"{what} is {type(value).__name__}")


NUMBER = (int, float)
"""What a token count may be in decoded JSON."""


def checked(value: Any, kind: type | tuple[type, ...], what: str) -> Any:
    """``value`` if it is None or a ``kind``; else raise :func:`wrong_type`."""
    if value is None or isinstance(value, kind):
        return value
    raise wrong_type(what, value)


def call_delta(index: Any, id: Any, name: Any, arguments: Any) -> ToolCallDelta:
    """A :class:`ToolCallDelta` from decoded JSON, each field of the right type."""
    if not isinstance(index, int):
        raise wrong_type("a tool call's index", index)
    return ToolCallDelta(
        index,
        checked(id, str, "a tool call's id"),
        checked(name, str, "a tool call's name"),
        checked(arguments, str, "a tool call's arguments") or "",
    )


class ProviderDecoder(SSEDecoder):
    """A provider's stream decoder: ``model`` and the call's ``state``, and the error
    for an event it cannot take apart (a :class:`StreamInterrupted` showing it)."""

    def __init__(self, model: HTTPModel, state: CallState) -> None:
        super().__init__()
        self.model = model
        self.state = state

    def load(self, data: str) -> Any:
        """The JSON payload of one event; malformed JSON interrupts the stream."""
        try:
            return json.loads(data)
        except json.JSONDecodeError as exc:
            raise self._interrupted(data, f"{exc.msg} at character {exc.pos}") from None

    def malformed(self, data: str, exc: Exception) -> Exception:
        """An event whose JSON parsed but has the wrong shape (``exc`` says where)."""
        return self._interrupted(
            data, f"wrong shape: {type(exc).__name__}: {self.model.scrub(str(exc))}"
        )

    def _interrupted(self, data: str, what: str) -> StreamInterrupted:
        model = self.model
        return StreamInterrupted(
            f"malformed event from the server ({what}); retry the call.",
            provider=model.provider,
            body=model.scrub(data),
        )
