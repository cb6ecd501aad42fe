"""From an HTTP status, headers and body (or an error event) to a typed LLMError.

Providers disagree on error shapes; all three fit one reader::

    OpenAI     {"error": {"message": ..., "type": "tokens", "code": "rate_limit_exceeded"}}
    Anthropic  {"type": "error", "error": {"type": "overloaded_error", "message": ...}}
    Gemini     {"error": {"code": 503, "message": ..., "status": "UNAVAILABLE"}}
               (sometimes wrapped in a one-element list)

The HTTP status decides first; inside a 200 stream, the error's own type does.
A redirect (3xx) is a :class:`BadRequest`: it means ``base_url`` is not the
API's address, which no retry changes.
Retry hints come from ``retry-after-ms``, then ``Retry-After`` (seconds or an
HTTP date); ``x-should-retry: false`` makes any error final.

``x-should-retry: true`` makes nothing retryable that is final here (a bad
request, an auth error, an exhausted quota). The header is a hint for the
providers' generated SDKs, not part of their documented API, and an exhausted
quota (OpenAI ``insufficient_quota``, a 429 whose own message says waiting will
not help) stays exhausted however often it is retried: the error's kind wins.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from ._errors import (
    AuthError,
    BadRequest,
    LLMError,
    Overloaded,
    RateLimited,
    ServerError,
    Timeout,
)

__all__ = ["error_from_payload", "error_from_response", "parse_retry_after"]

_RATE = {"rate_limit_error", "rate_limit_exceeded", "resource_exhausted", "tokens", "requests"}
_QUOTA = {"insufficient_quota", "billing_hard_limit_reached"}
_OVERLOADED = {"overloaded_error", "unavailable", "overloaded"}
_AUTH = {"authentication_error", "permission_error", "permission_denied", "unauthenticated"}
_BAD = {
    "invalid_request_error",
    "invalid_argument",
    "not_found_error",
    "not_found",
    "request_too_large",
    "failed_precondition",
}
_TIMEOUT = {"timeout_error", "deadline_exceeded"}


def parse_retry_after(headers: Mapping[str, str], *, now: datetime | None = None) -> float | None:
    """Seconds to wait, from ``retry-after-ms`` or ``Retry-After``; None if absent or unreadable.

    >>> parse_retry_after({"retry-after": "2"})
    2.0
    >>> parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:10 GMT"},
    ...                   now=datetime(2015, 10, 21, 7, 28, 0, tzinfo=UTC))
    10.0
    """
    lower = {k.lower(): v for k, v in headers.items()}
    ms = lower.get("retry-after-ms")
    if ms is not None:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = lower.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _error_object(payload: Any) -> dict[str, Any]:
    if isinstance(payload, list) and payload:
        payload = payload[0]
    if not isinstance(payload, dict):
        return {}
    inner = payload.get("error")
    if isinstance(inner, dict):
        return inner
    if isinstance(inner, str):
        return {"message": inner}
    return {}


def _kind(err: Mapping[str, Any]) -> str:
    for key in ("type", "status", "code"):
        value = err.get(key)
        if isinstance(value, str) and value:
            low = value.lower()
            if low in _QUOTA or low in _RATE or low in _OVERLOADED or low in _AUTH or low in _BAD or low in _TIMEOUT:
                return low
    for key in ("type", "status", "code"):
        value = err.get(key)
        if isinstance(value, str) and value:
            return value.lower()
    return ""


def _build(
    provider: str,
    status: int | None,
    err: Mapping[str, Any],
    body: str | None,
    retry_after: float | None,
    key_hint: str,
    final: bool = False,
) -> LLMError:
    kind = _kind(err)
    detail = str(err.get("message") or "").strip()
    said = f": {detail}" if detail else ""
    # x-should-retry: false makes even a transient error final; then say so, not "retry"
    stop = "; the server asked not to retry it (x-should-retry: false)." if final else ""
    code = err.get("code")
    status_for_class: int | None = status
    if (status is None or status == 200) and isinstance(code, int) and code >= 400:
        status_for_class = code
    common: dict[str, Any] = {"provider": provider, "status": status, "body": body}

    if kind in _QUOTA:
        return RateLimited(
            provider,
            status=status,
            body=body,
            retry_after=retry_after,
            retryable=False,
            message=f"quota exhausted{said}; waiting will not help: check the plan and billing.",
        )
    if status_for_class == 429 or kind in _RATE:
        return RateLimited(
            provider,
            status=status,
            body=body,
            retry_after=retry_after,
            message=f"rate limited{said}{stop}" if stop else None,
        )
    if status_for_class in (401, 403) or kind in _AUTH:
        return AuthError(
            f"authentication failed{said}; check the API key ({key_hint}).", **common
        )
    if status_for_class in (503, 529) or kind in _OVERLOADED:
        return Overloaded(
            f"the provider is overloaded{said}{stop or '; retry with backoff.'}",
            retry_after=retry_after,
            **common,
        )
    if status_for_class == 408 or kind in _TIMEOUT:
        return Timeout(
            f"the provider timed out{said}{stop or '; retry.'}", retry_after=retry_after, **common
        )
    if status_for_class is not None and 400 <= status_for_class < 500 and status_for_class != 409:
        return BadRequest(
            f"request rejected{said}; check the model name, messages and options.", **common
        )
    if kind in _BAD:
        return BadRequest(
            f"request rejected{said}; check the model name, messages and options.", **common
        )
    return ServerError(
        f"server error{said}{stop or '; retry with backoff.'}", retry_after=retry_after, **common
    )


def error_from_response(
    provider: str,
    status: int,
    headers: Mapping[str, str],
    body: str,
    *,
    scrub: Callable[[str], str] = lambda s: s,
    key_hint: str = "api_key=",
) -> LLMError:
    """The error for a non-2xx HTTP answer. ``scrub`` removes secrets from the body."""
    body = scrub(body)
    if 300 <= status < 400:
        # the client does not follow redirects (a POST's body would be dropped on the
        # way): the configured address is not the API's, and no retry changes that
        location = {k.lower(): v for k, v in headers.items()}.get("location")
        to = f" to {scrub(location)!r}" if location else ""
        return BadRequest(
            f"the server redirected the request{to}; set base_url to the address of the "
            "API itself (redirects are not followed).",
            provider=provider,
            status=status,
            body=body,
        )
    try:
        payload = json.loads(body) if body.strip() else None
    except json.JSONDecodeError:
        payload = None
    err = _error_object(payload)
    if "message" in err:
        err = {**err, "message": scrub(str(err["message"]))}
    retry_after = parse_retry_after(headers)
    should = {k.lower(): v for k, v in headers.items()}.get("x-should-retry", "").strip().lower()
    error = _build(provider, status, err, body, retry_after, key_hint, final=should == "false")
    if should == "false":
        error.retryable = False
    # "true" is not obeyed: what is final (see the module docstring) stays final
    return error


def error_from_payload(
    provider: str,
    payload: Any,
    raw: str,
    *,
    scrub: Callable[[str], str] = lambda s: s,
    key_hint: str = "api_key=",
) -> LLMError:
    """The error for an error event inside a 200 stream (``raw`` is the event's data)."""
    err = _error_object(payload)
    if not err and isinstance(payload, dict):
        err = payload
    if "message" in err:
        err = {**err, "message": scrub(str(err["message"]))}
    return _build(provider, None, err, scrub(raw), None, key_hint)
