"""Typed LLM errors: what went wrong on the wire, and what to do about it.

Every failure of a model call is one of these, so callers (and the retry
wrapper) decide by type, never by parsing messages::

    LLMError                    .type       retried by Retrying?
    ├── RateLimited             rate_limit  yes, after retry_after if given
    ├── Overloaded              overloaded  yes (HTTP 503/529, overloaded_error)
    ├── ServerError             server      yes (other 5xx, connection refused)
    ├── Timeout                 timeout     yes
    ├── StreamInterrupted       stream_interrupted
    │                                       only if no output was produced yet
    ├── BadRequest              bad_request never (fix the request)
    └── AuthError               auth        never (fix the key)

Each error carries ``provider``, ``status`` (HTTP status or None), ``body``
(the response body, truncated, with the API key scrubbed), ``retry_after``
(seconds or None) and ``retryable``. ``str(err)`` says what happened and what
to do::

    >>> err = RateLimited("openai", retry_after=2.0, body='{"error": "slow down"}')
    >>> err.type, err.retry_after, err.retryable
    ('rate_limit', 2.0, True)

``LLMError`` subclasses :class:`Exception` directly for now; it will be
re-parented under the project-wide ``AgentLabError`` without changing
anything here.
"""

from __future__ import annotations

__all__ = [
    "AuthError",
    "BadRequest",
    "LLMError",
    "Overloaded",
    "RateLimited",
    "ServerError",
    "StreamInterrupted",
    "Timeout",
]

BODY_LIMIT = 500
"""Bodies are cut to this many characters in messages and on ``.body``."""


def truncate(text: str, limit: int = BODY_LIMIT) -> str:
    """Cut ``text`` to ``limit`` characters, saying how much was dropped."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... [{len(text) - limit} more characters]"


class LLMError(Exception):
    """Base of every model-call failure. ``type`` is a stable short string."""

    type: str = "llm"
    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        status: int | None = None,
        body: str | None = None,
        retry_after: float | None = None,
        retryable: bool | None = None,
    ) -> None:
        self.provider = provider
        self.status = status
        self.body = truncate(body) if body else body
        self.retry_after = retry_after
        if retryable is not None:
            self.retryable = retryable
        parts = [f"{provider}: {message}" if provider else message]
        if status is not None:
            parts.append(f"(HTTP {status})")
        if self.body:
            parts.append(f"Response body: {self.body}")
        super().__init__(" ".join(parts))

    def __reduce__(self) -> tuple[object, ...]:
        # Errors cross process and pickle boundaries in traces; keep them plain.
        return (_rebuild, (type(self), str(self), self.__dict__))


def _rebuild(cls: type[LLMError], message: str, state: dict[str, object]) -> LLMError:
    err = cls.__new__(cls)
    Exception.__init__(err, message)
    err.__dict__.update(state)
    return err


class RateLimited(LLMError):
    """The provider refused the request for now (HTTP 429 or a rate_limit error event).

    ``retry_after`` is what the provider asked for (``Retry-After``,
    ``retry-after-ms``), or None. A 429 that reports an exhausted quota is not
    retryable: waiting does not help, adding credit does.
    """

    type = "rate_limit"
    retryable = True

    def __init__(
        self,
        provider: str | None = None,
        *,
        retry_after: float | None = None,
        status: int | None = 429,
        body: str | None = None,
        message: str | None = None,
        retryable: bool | None = None,
    ) -> None:
        wait = f"retry after {retry_after:g}s" if retry_after is not None else "retry later"
        text = message or f"rate limited; {wait}, or lower the request rate."
        super().__init__(
            text,
            provider=provider,
            status=status,
            body=body,
            retry_after=retry_after,
            retryable=retryable,
        )


class Overloaded(LLMError):
    """The provider is overloaded (HTTP 503/529, ``overloaded_error``); retry with backoff."""

    type = "overloaded"
    retryable = True


class ServerError(LLMError):
    """The provider failed (HTTP 5xx) or could not be reached; retry with backoff."""

    type = "server"
    retryable = True


class Timeout(LLMError):
    """No answer (or no next byte) in time; retry, or raise the timeout."""

    type = "timeout"
    retryable = True


class StreamInterrupted(LLMError):
    """The stream broke off: connection reset, truncated body or a malformed event.

    ``partial`` is True when output (text or tool-call deltas) was already
    delivered to the caller; such a stream is not re-sent by default, because
    the caller has already seen part of an answer. A delta that was decoded but
    not yet delivered when the stream broke does not count. The built-in models
    set it as the error leaves their stream, whatever it was raised with.
    """

    type = "stream_interrupted"
    retryable = True

    def __init__(
        self,
        message: str,
        *,
        partial: bool = False,
        provider: str | None = None,
        status: int | None = None,
        body: str | None = None,
    ) -> None:
        self.partial = partial
        super().__init__(message, provider=provider, status=status, body=body)


class BadRequest(LLMError):
    """The provider rejected the request (HTTP 4xx), or it could not be sent at all
    (a bad ``base_url``); fix the request, do not retry."""

    type = "bad_request"


class AuthError(LLMError):
    """The API key is missing, wrong, or lacks permission (HTTP 401/403)."""

    type = "auth"
