"""Typed errors, sorted by what the caller should do. Every message names the request (method + path, never
the token) and the cause.

`RetriableError`: trying again later may work (throttling, 5xx, timeouts, a listing that kept moving, a
busy warehouse); Dagster retries the step. `PermanentError`: the same call fails again until someone fixes
a setting or the request (a wrong token, a malformed value); callers fail at once.
"""

from __future__ import annotations


class RTKError(Exception):
    """Base of everything rtk-pipeline raises on purpose."""


class RetriableError(RTKError):
    """Trying again later may succeed."""


class PermanentError(RTKError):
    """Retrying cannot help: fix the setting or the request first."""


class ConfigError(PermanentError):
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

    @property
    def refused(self) -> bool:
        """The API answered 4xx: it refused the request, so a write was certainly not applied."""
        return self.status is not None and 400 <= self.status < 500


class AuthError(APIError, PermanentError):
    """401/403: the token, account id or app id is wrong; never retried."""


class NotFoundError(APIError, PermanentError):
    """404: the meeting or participant does not exist (or is not visible to this token)."""


class BadRequestError(APIError, PermanentError):
    """400/422: the request was malformed; never retried."""


class RateLimitedError(APIError, RetriableError):
    """429 that outlasted the retry budget."""


class ServerError(APIError, RetriableError):
    """5xx that outlasted the retry budget."""


class BadResponseError(APIError, RetriableError):
    """A 2xx whose body is not the documented envelope (HTML, truncated JSON, success=false, no data)."""


class PagingError(APIError, RetriableError):
    """The listing cannot be proven complete: pages repeat, offsets go backwards, or it never ends."""


class TransportError(APIError, RetriableError):
    """Connection refused/reset or timed out, after retries."""


class WarehouseError(RTKError):
    """The warehouse cannot be written or read as asked; the message names the file."""


class WarehouseBusyError(WarehouseError, RetriableError):
    """Another process held the write lock or the DuckDB file for longer than we were willing to wait."""


class JobBusyError(RetriableError):
    """Another run of a once-at-a-time job holds its lock for this app and warehouse (the store's `lock`)."""


class DeactivationBusyError(JobBusyError):
    """Another deactivation run holds this warehouse's lock; two runs at once could PATCH a meeting twice."""


class RefreshFailedError(RTKError):
    """A refresh request failed for good; what was stored before the run is kept (one-line message)."""
