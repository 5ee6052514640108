"""One HTTP answer -> the decoded envelope, a typed error, or a `Retry` signal for the request chain.

Errors are sorted by what the caller should do: `Retry` wraps the error to raise if no attempt is left;
anything raised directly is final for this request.
"""

from __future__ import annotations

import email.utils
import json
import math
from collections.abc import Callable
from typing import Any, TypedDict

import httpx

from rtk_pipeline.client.paths import AppPaths
from rtk_pipeline.errors import (
    APIError,
    AuthError,
    BadRequestError,
    BadResponseError,
    NotFoundError,
    RateLimitedError,
    ServerError,
)
from rtk_pipeline.settings import ACCOUNT_ID, API_TOKEN, APP_ID
from rtk_pipeline.utc import as_utc, now_utc

_RETRYABLE_STATUS = frozenset({500, 502, 503, 504})

Scrub = Callable[[str | None], str | None]


class Where(TypedDict):
    """Which answer: `APIError`'s keyword arguments before the API's own words are read."""

    method: str
    path: str
    status: int


class ErrorContext(Where, total=False):
    """Which answer and what the API said about it: `APIError`'s keyword arguments."""

    code: str | int | None
    api_message: str | None


class Retry(Exception):
    """An attempt failed in a way that may be retried; holds the error to raise if none is left."""

    def __init__(self, error: APIError, retry_after: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


class Call:
    """One logical request and what its attempts learnt.

    Retry policy: GET, PATCH, PUT and DELETE are idempotent here (PATCH/PUT send the same fields again,
    DELETE of a deleted participant answers 404), so they are retried on 429, 500/502/503/504, connection
    errors, timeouts, resets, and 2xx bodies that are truncated, not JSON or say `success: false`.
    A POST (create meeting, add participant, refresh token) acts anew on every call, so it is resent only
    when the first attempt surely had no effect: the connection was never made (connect error, connect or
    pool timeout) or the server answered 429 -- a rate limiter turns the request away before the API acts
    on it; that is what the status means. A read timeout, a reset, a 5xx or a garbled 2xx body after a
    POST may follow a server that did the work, so they are raised at once rather than risk a duplicate.
    """

    __slots__ = ("ambiguous", "body", "idempotent", "method", "path", "resend_lost", "url")

    def __init__(
        self, method: str, path: str, url: httpx.URL, body: Any, *, resend_lost: bool = True
    ) -> None:
        self.method = method
        self.path = path
        self.url = url
        self.body = body
        self.idempotent = method != "POST"
        # False: an answer lost or unreadable after the request went out is raised, not resent, so the
        # caller can look (a GET) before acting again; answers that say "not done" (429, 5xx) still retry.
        self.resend_lost = resend_lost and self.idempotent
        self.ambiguous = False  # an earlier attempt may have reached the server without us seeing the answer

    def retriable(self, error: APIError, *, lost: bool = False) -> APIError | Retry:
        """What to raise for an answer that may come after the server acted (`lost`: one we could not
        read): a `Retry` when this call may be sent again (the server may already have done it), else
        `error` itself."""
        if not self.idempotent or (lost and not self.resend_lost):
            return error
        self.ambiguous = True
        return Retry(error)


def retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header given as delta-seconds or as an HTTP-date."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        seconds = (as_utc(when) - now_utc()).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


def api_error(payload: Any) -> tuple[str | int | None, str | None]:
    """(code, message) from either error shape: RealtimeKit's `error: {code, message}` or Cloudflare's
    `errors: [{code, message}, ...]`."""
    if not isinstance(payload, dict):
        return None, None
    error = payload.get("error")
    if isinstance(error, dict):
        message = error.get("message")
        return error.get("code"), None if message is None else str(message)
    if isinstance(error, str):
        return None, error
    errors = payload.get("errors")
    if isinstance(errors, list):
        items = [e for e in errors if isinstance(e, dict)]
        messages = [str(e["message"]) for e in items if e.get("message") is not None]
        return (items[0].get("code") if items else None), ("; ".join(messages) or None)
    return None, None


def envelope(call: Call, response: httpx.Response, content: bytes, scrub: Scrub) -> dict:
    """The decoded 2xx envelope; a damaged or `success: false` one is retried when the call allows it."""
    where = Where(method=call.method, path=call.path, status=response.status_code)
    try:
        decoded = json.loads(content)
    except ValueError:
        kind = response.headers.get("content-type", "no content type")
        error = BadResponseError(f"truncated or non-JSON body ({kind}, {len(content)} bytes)", **where)
        raise call.retriable(error, lost=True) from None
    if not isinstance(decoded, dict):
        raise BadResponseError(f"expected a JSON object, got {type(decoded).__name__}", **where)
    if decoded.get("success") is False:
        code, message = api_error(decoded)
        error = BadResponseError(
            "the API answered success=false", **where, code=code, api_message=scrub(message)
        )
        raise call.retriable(error)
    return decoded


def failure(
    call: Call, response: httpx.Response, content: bytes, scrub: Scrub, app: AppPaths
) -> APIError | Retry:
    """What to raise for a non-2xx answer: the error it stands for, or `Retry` when worth another try."""
    status = response.status_code
    try:
        code, message = api_error(json.loads(content))
    except ValueError:
        code, message = None, None
    details = ErrorContext(
        method=call.method, path=call.path, status=status, code=code, api_message=scrub(message)
    )
    if status == 429:
        wait = retry_after(response.headers.get("retry-after"))
        asked = "" if wait is None else f" (Retry-After: {wait:g}s)"
        return Retry(RateLimitedError(f"rate limited{asked}", **details), wait)
    if status in _RETRYABLE_STATUS:
        return call.retriable(ServerError("server error", **details))
    if status == 401:
        return AuthError(f"the API token was rejected: check {API_TOKEN.name}", **details)
    if status == 403:
        return AuthError(
            f"access denied to account {app.account_id!r}, app {app.app_id!r}: check "
            f"{ACCOUNT_ID.name} and {APP_ID.name}, and that {API_TOKEN.name} is allowed to use "
            "RealtimeKit on that account",
            **details,
        )
    if status == 404:
        if call.path == app.meetings or "app" in (message or "").lower().split():
            why = (
                f"no app {app.app_id!r} in account {app.account_id!r}: "
                f"check {APP_ID.name} and {ACCOUNT_ID.name}"
            )
        else:
            why = f"not found (if every id is not found, check {APP_ID.name})"
        return NotFoundError(why, **details)
    if 400 <= status < 500:
        hint = f": check {ACCOUNT_ID.name}" if code == 7003 else ""
        return BadRequestError(f"request rejected{hint}", **details)
    if status >= 500:
        return ServerError("server error", **details)
    return BadResponseError(f"unexpected HTTP status {status}", **details)
