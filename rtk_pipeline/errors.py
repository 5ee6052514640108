"""Typed errors. Every message names the request (method + path, never the token) and the cause."""

from __future__ import annotations


class RTKError(Exception):
    """Base of everything rtk-pipeline raises on purpose."""


class ConfigError(RTKError):
    """A setting is missing or malformed; the message names the setting to fix."""


class APIError(RTKError):
    """The API answered, but not with what we asked for."""

    def __init__(
        self,
        message: str,
        *,
        method: str,
        path: str,
        status: int | None = None,
        code: str | int | None = None,
        api_message: str | None = None,
    ) -> None:
        self.method = method
        self.path = path
        self.status = status
        self.code = code
        self.api_message = api_message
        super().__init__(message)

    def __str__(self) -> str:
        where = f"{self.method} {self.path}"
        status = f" -> HTTP {self.status}" if self.status is not None else ""
        detail = ""
        if self.code is not None or self.api_message:
            detail = f" [{self.code}] {self.api_message or ''}".rstrip()
        return f"{where}{status}: {self.args[0]}{detail}"


class AuthError(APIError):
    """401/403: the token, account id or app id is wrong; never retried."""


class NotFoundError(APIError):
    """404: the meeting or participant does not exist (or is not visible to this token)."""


class BadRequestError(APIError):
    """400/422: the request was malformed; never retried."""


class RateLimitedError(APIError):
    """429 that outlasted the retry budget."""


class ServerError(APIError):
    """5xx that outlasted the retry budget."""


class BadResponseError(APIError):
    """A 2xx whose body is not the documented envelope (HTML, truncated JSON, success=false, no data)."""


class PagingError(APIError):
    """The listing cannot be proven complete: pages repeat, offsets go backwards, or it never ends."""


class TransportError(APIError):
    """Connection refused/reset or timed out, after retries."""
