"""The request chain: in-flight cap -> rate limiter -> HTTP -> answer or typed error, under the retry policy.

Every step is counted in `ClientStats` and logged at DEBUG (method, path, outcome, time; never the token).
The API token lives only in the httpx client's headers; text a server or a library produced is scrubbed
of it (and of anything else credential-shaped) before it goes into an error.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, cast
from urllib.parse import urlencode

import httpx
import tenacity
from tenacity.stop import stop_base

from rtk_pipeline.client.connections import Connections
from rtk_pipeline.client.paths import AppPaths
from rtk_pipeline.client.responses import Call, Retry, envelope, failure
from rtk_pipeline.client.stats import ClientStats
from rtk_pipeline.errors import BadResponseError, NotFoundError, TransportError
from rtk_pipeline.ratelimit import RateLimiter
from rtk_pipeline.secrets import scrub_text

log = logging.getLogger("rtk_pipeline.client")

# Failures that happen before a single byte of the request left this process, so even a POST is safe
# to resend. Everything else (read timeout, reset, 5xx) may come after the server acted on it.
_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# Failures worth another try (a damaged answer included); the rest (bad scheme, proxy set-up) are ours.
_TRANSIENT = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError, httpx.DecodingError)
_MAX_API_MESSAGE = 500


class Sender:
    """Sends one logical request with retries; returns the decoded 2xx envelope or raises a typed APIError.

    Up to `max_attempts` attempts within `max_retry_time` seconds, with full-jitter exponential backoff
    from `backoff` seconds capped at `max_retry_wait`, or the server's Retry-After (capped likewise).
    """

    def __init__(
        self,
        http: Connections,
        *,
        base_url: str,
        app: AppPaths,
        rate_limiter: RateLimiter,
        stats: ClientStats,
        max_in_flight: int,
        max_attempts: int,
        max_retry_wait: float,
        max_retry_time: float,
        backoff: float,
    ) -> None:
        self._http = http
        self._base_url = base_url
        self._app = app
        self.rate_limiter = rate_limiter
        self._stats = stats
        self._in_flight = threading.BoundedSemaphore(max_in_flight)
        self._max_retry_wait = max_retry_wait
        self._max_retry_time = max_retry_time
        self._backoff = tenacity.wait_random_exponential(multiplier=backoff, max=max_retry_wait)
        # Built once: tenacity keeps per-call state thread-locally, so one Retrying serves all threads.
        self._retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(Retry),
            stop=tenacity.stop_after_attempt(max_attempts)
            | tenacity.stop_before_delay(max_retry_time)
            | _BeyondRetryAfter(max_retry_time),
            wait=self._wait,
            before_sleep=self._before_sleep,
            retry_error_callback=self._give_up,
        )

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict | None = None,
        body: Any = None,
        resend_lost: bool = True,
    ) -> dict:
        """Send with retries; return the decoded 2xx envelope or raise a typed APIError. With
        `resend_lost=False`, an answer lost or unreadable after the request left is raised, not resent."""
        # One parsed URL (query included) serves every attempt: httpx would otherwise parse it twice each.
        query = f"?{urlencode(params)}" if params else ""
        call = Call(method, path, httpx.URL(f"{self._base_url}{path}{query}"), body, resend_lost=resend_lost)
        try:
            return self._retrying(self._attempt, call)
        except NotFoundError as exc:
            if not call.ambiguous:
                raise
            raise NotFoundError(
                f"{exc.args[0]}; an earlier attempt whose answer was lost may already have done this",
                method=method,
                path=path,
                status=exc.status,
                code=exc.code,
                api_message=exc.api_message,
            ) from exc

    def close(self) -> None:
        self._http.close()

    def _attempt(self, call: Call) -> dict:
        request = self._http.request(call.method, call.url, call.body)
        # The transport is taken before the limiter's token: a request must leave right after its token,
        # or tokens taken while a new transport is built would arrive together with the next window's.
        with self._in_flight, self._http.one() as transport:
            waited = self.rate_limiter.acquire()
            started = time.perf_counter()
            try:
                response, content = self._http.send(transport, request)
            except httpx.RequestError as exc:
                self._stats.count_request(0, waited, False)
                self._log(call, "failed", started, f"{type(exc).__name__}")
                # A body that fails to decompress is a damaged answer, like a truncated one.
                kind = BadResponseError if isinstance(exc, httpx.DecodingError) else TransportError
                error = kind(
                    f"{type(exc).__name__}: {self.scrub(str(exc)) or 'no detail'}",
                    method=call.method,
                    path=call.path,
                )
                if isinstance(exc, _TRANSIENT) and (call.resend_lost or isinstance(exc, _NEVER_SENT)):
                    call.ambiguous = call.ambiguous or not isinstance(exc, _NEVER_SENT)
                    error.__cause__ = exc  # kept in the chain if this turns out to be the last attempt
                    raise Retry(error) from exc
                raise error from exc
        status = response.status_code
        self._stats.count_request(len(content), waited, status == 429)
        self._log(call, status, started, f"{len(content)} B")
        if 200 <= status < 300:
            return envelope(call, response, content, self.scrub)
        raise failure(call, response, content, self.scrub, self._app)

    def scrub(self, text: str | None) -> str | None:
        """Drop the API token and anything credential-shaped (`password=...`, `Bearer ...`) from text the
        server or a library produced: a server may echo a request's secrets back in its error."""
        if not text:
            return text
        token = self._http.headers["authorization"].removeprefix("Bearer ")
        return scrub_text(text.replace(token, "***"), limit=_MAX_API_MESSAGE)

    @staticmethod
    def _log(call: Call, outcome: int | str, started: float, detail: str) -> None:
        if log.isEnabledFor(logging.DEBUG):
            ms = (time.perf_counter() - started) * 1000
            log.debug("%s %s -> %s in %.1f ms (%s)", call.method, call.path, outcome, ms, detail)

    # ------------------------------------------------------------------ tenacity hooks
    # Tenacity calls them only after an attempt has ended, so its outcome and start time are there.

    def _wait(self, state: tenacity.RetryCallState) -> float:
        """Honour the server's Retry-After (capped); otherwise jittered exponential backoff."""
        failed = _failed(state)
        if isinstance(failed, Retry) and failed.retry_after is not None:
            wait = min(failed.retry_after, self._max_retry_wait)
            self.rate_limiter.hold(wait)  # the whole token is throttled, not just this thread
            return wait
        return self._backoff(state)

    def _before_sleep(self, state: tenacity.RetryCallState) -> None:
        self._stats.count_retry()
        call: Call = state.args[0]
        log.info(
            "retrying %s %s in %.2fs after %s (attempt %d)",
            call.method,
            call.path,
            state.upcoming_sleep,
            _failed(state),
            state.attempt_number + 1,
        )

    @staticmethod
    def _give_up(state: tenacity.RetryCallState) -> None:
        # Tenacity gives up only on an attempt it would have retried, and it retries only a `Retry`.
        error = cast(Retry, _failed(state)).error
        raise type(error)(
            f"{error.args[0]} (gave up after {state.attempt_number} attempts in "
            f"{state.seconds_since_start or 0.0:.1f}s)",
            method=error.method,
            path=error.path,
            status=error.status,
            code=error.code,
            api_message=error.api_message,
        ) from error


def _failed(state: tenacity.RetryCallState) -> BaseException | None:
    """The exception the attempt that just ended raised (None if it returned)."""
    return state.outcome.exception() if state.outcome is not None else None


class _BeyondRetryAfter(stop_base):
    """Stop early when the server asks for a pause that outlasts the retry budget: retrying sooner
    would only meet another 429 (and, at Cloudflare, may prolong the lockout)."""

    def __init__(self, max_retry_time: float) -> None:
        self._max_retry_time = max_retry_time

    def __call__(self, state: tenacity.RetryCallState) -> bool:
        failed = _failed(state)
        return (
            isinstance(failed, Retry)
            and failed.retry_after is not None
            and (state.seconds_since_start or 0.0) + failed.retry_after > self._max_retry_time
        )
