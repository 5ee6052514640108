"""HTTP client for the Cloudflare RealtimeKit Meetings API: 11 endpoints, full listings, retries, rate limit.

One `RealtimeKitClient` wraps one keep-alive `httpx.Client` and is safe to share between threads (the sync
engine fetches participants of many meetings at once). Every request passes a per-client cap on requests
in flight, then the process-wide rate limiter for its token, then the retry policy (see `_Call`).
The API token lives only in the httpx client's headers: no repr, log line or exception carries it.
"""

from __future__ import annotations

import email.utils
import json
import logging
import math
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import tenacity

from rtk_pipeline import __version__
from rtk_pipeline.config import DEFAULT_BASE_URL, Settings
from rtk_pipeline.errors import (
    APIError,
    AuthError,
    BadRequestError,
    BadResponseError,
    ConfigError,
    NotFoundError,
    PagingError,
    RateLimitedError,
    ServerError,
    TransportError,
)
from rtk_pipeline.normalize import scrub_text
from rtk_pipeline.ratelimit import RateLimiter, shared_limiter

__all__ = ["ClientStats", "Page", "RealtimeKitClient", "StatsSnapshot"]

log = logging.getLogger("rtk_pipeline.client")

_RETRYABLE_STATUS = frozenset({500, 502, 503, 504})
# Failures that happen before a single byte of the request left this process, so even a POST is safe
# to resend. Everything else (read timeout, reset, 5xx) may come after the server acted on it.
_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# Failures worth another try (a damaged answer included); the rest (bad scheme, proxy set-up) are ours.
_TRANSIENT = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError, httpx.DecodingError)
_MAX_API_MESSAGE = 500
_USER_AGENT = f"rtk-pipeline/{__version__} python-httpx/{httpx.__version__}"


@dataclass(frozen=True, slots=True)
class StatsSnapshot:
    """Counters at one moment; `later - earlier` gives what happened in between."""

    requests: int = 0
    retries: int = 0
    throttled: int = 0
    bytes_received: int = 0
    rate_limit_wait_s: float = 0.0

    def __sub__(self, other: StatsSnapshot) -> StatsSnapshot:
        return StatsSnapshot(
            self.requests - other.requests,
            self.retries - other.retries,
            self.throttled - other.throttled,
            self.bytes_received - other.bytes_received,
            self.rate_limit_wait_s - other.rate_limit_wait_s,
        )


class ClientStats:
    """Thread-safe running totals: HTTP requests sent (every attempt), retries, 429s seen, body bytes
    received, and seconds spent waiting for the rate limiter."""

    __slots__ = ("_lock", "bytes_received", "rate_limit_wait_s", "requests", "retries", "throttled")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests = 0
        self.retries = 0
        self.throttled = 0
        self.bytes_received = 0
        self.rate_limit_wait_s = 0.0

    def __repr__(self) -> str:
        s = self.snapshot()
        return (
            f"ClientStats(requests={s.requests}, retries={s.retries}, throttled={s.throttled}, "
            f"bytes_received={s.bytes_received}, rate_limit_wait_s={s.rate_limit_wait_s:.3f})"
        )

    def snapshot(self) -> StatsSnapshot:
        with self._lock:
            return StatsSnapshot(
                self.requests, self.retries, self.throttled, self.bytes_received, self.rate_limit_wait_s
            )

    def _sent(self, nbytes: int, waited: float, throttled: bool) -> None:
        with self._lock:
            self.requests += 1
            self.bytes_received += nbytes
            self.rate_limit_wait_s += waited
            self.throttled += throttled

    def _retried(self) -> None:
        with self._lock:
            self.retries += 1


@dataclass(slots=True)
class Page:
    """One page of a listing with the server's own paging evidence, so a caller can prove completeness.

    `records` are the raw API records (they may still hold secrets; normalize scrubs them), hence
    left out of the repr.
    """

    records: list[dict] = field(repr=False)
    page_no: int
    total_count: int | None
    start_offset: int | None
    end_offset: int | None

    def __repr__(self) -> str:
        return (
            f"Page(page_no={self.page_no}, records={len(self.records)}, total_count={self.total_count}, "
            f"start_offset={self.start_offset}, end_offset={self.end_offset})"
        )


class _Retry(Exception):
    """Internal: an attempt failed in a way that may be retried; holds the error to raise if none is left."""

    def __init__(self, error: APIError, retry_after: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


class _Call:
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

    __slots__ = ("ambiguous", "body", "idempotent", "method", "path", "url")

    def __init__(self, method: str, path: str, url: httpx.URL, body: Any) -> None:
        self.method = method
        self.path = path
        self.url = url
        self.body = body
        self.idempotent = method != "POST"
        self.ambiguous = False  # an earlier attempt may have reached the server without us seeing the answer


def _segment(value: str, what: str) -> str:
    """URL-escape one path segment; an empty or dot id would silently address another endpoint."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what} must be a non-empty string, got {value!r}")
    escaped = quote(value, safe="")
    return escaped.replace(".", "%2E") if escaped in (".", "..") else escaped


def _iso(value: datetime | str | None, what: str) -> str | None:
    """Datetimes go out as ISO 8601 UTC with `Z` (naive ones are taken as UTC); strings unchanged."""
    if value is None or isinstance(value, str):
        return value
    if not isinstance(value, datetime):
        raise TypeError(f"{what} must be a datetime or an ISO 8601 string, got {type(value).__name__}")
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    spec = "milliseconds" if value.microsecond % 1000 == 0 else "microseconds"
    return value.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


def _retry_after(value: str | None) -> float | None:
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
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _api_error(payload: Any) -> tuple[str | int | None, str | None]:
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


def _count(paging: Mapping, key: str) -> int | None:
    value = paging.get(key)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


class RealtimeKitClient:
    """Client for the 11 RealtimeKit meeting endpoints of one account and app.

    Defaults suit the real API: 30 s timeouts, at most 16 requests in flight, up to 6 attempts within
    `max_retry_time` seconds with full-jitter exponential backoff from `backoff` seconds, and the
    process-wide limiter for this token (1,200 requests per 300 s). Pass `rate_limiter=RateLimiter(...)`
    for another budget (e.g. a local emulator) and `transport=` to plug in an httpx transport.
    """

    def __init__(
        self,
        *,
        api_token: str,
        account_id: str,
        app_id: str,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float | httpx.Timeout = 30.0,
        rate_limiter: RateLimiter | None = None,
        max_in_flight: int = 16,
        max_attempts: int = 6,
        max_retry_wait: float = 60.0,
        max_retry_time: float = 300.0,
        backoff: float = 0.5,
        per_page: int = 1000,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        for name, value in (
            ("CLOUDFLARE_API_TOKEN", api_token),
            ("CLOUDFLARE_ACCOUNT_ID", account_id),
            ("RTK_APP_ID", app_id),
        ):
            if not isinstance(value, str) or not value.strip():
                raise ConfigError(f"{name} is empty")
        # A header with whitespace or non-ASCII would make httpx raise an error that quotes the header.
        if not (api_token.isascii() and api_token.isprintable()) or any(c.isspace() for c in api_token):
            raise ConfigError("CLOUDFLARE_API_TOKEN contains whitespace or non-ASCII characters")
        try:
            root = httpx.URL(base_url)
        except httpx.InvalidURL:
            root = httpx.URL()
        if root.scheme not in ("http", "https") or not root.host:
            raise ConfigError(f"RTK_BASE_URL must be an http(s) URL, got {base_url!r}")
        if max_in_flight < 1 or max_attempts < 1 or per_page < 1:
            raise ValueError("max_in_flight, max_attempts and per_page must be >= 1")
        self.base_url = base_url.rstrip("/")
        self.account_id = account_id
        self.app_id = app_id
        self.per_page = per_page
        self.max_retry_wait = max_retry_wait
        self.max_retry_time = max_retry_time
        self.stats = ClientStats()
        self._app_path = (
            f"/accounts/{_segment(account_id, 'account_id')}/realtime/kit/{_segment(app_id, 'app_id')}"
        )
        self.rate_limiter = rate_limiter or shared_limiter(api_token, self.base_url)
        self._in_flight = threading.BoundedSemaphore(max_in_flight)
        self._backoff = tenacity.wait_random_exponential(multiplier=backoff, max=max_retry_wait)
        # Learnt per listing kind: (page_no base, per_page cap the server honours or None).
        self._paging_hints: dict[str, tuple[int, int | None]] = {}
        if not isinstance(timeout, httpx.Timeout):
            timeout = httpx.Timeout(timeout, connect=min(timeout, 10.0))
        if transport is None:
            limits = httpx.Limits(max_connections=max_in_flight, max_keepalive_connections=max_in_flight)
            transport = httpx.HTTPTransport(limits=limits)
        self._http = httpx.Client(
            headers={
                "Authorization": f"Bearer {api_token}",
                "Accept": "application/json",
                "User-Agent": _USER_AGENT,
            },
            timeout=timeout,
            transport=transport,
        )
        # Built once: tenacity keeps per-call state thread-locally, so one Retrying serves all threads.
        self._retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(_Retry),
            stop=tenacity.stop_after_attempt(max_attempts)
            | tenacity.stop_before_delay(max_retry_time)
            | self._beyond_retry_after,
            wait=self._wait,
            before_sleep=self._before_sleep,
            retry_error_callback=self._give_up,
        )

    @classmethod
    def from_settings(cls, settings: Settings, **kw: Any) -> RealtimeKitClient:
        """A client for these settings, paced by the process-wide limiter at `settings.rate_limit`."""
        if "rate_limiter" not in kw:
            requests, period = settings.rate_limit
            kw["rate_limiter"] = shared_limiter(
                settings.api_token, settings.base_url, max_requests=requests, period=period
            )
        return cls(
            api_token=settings.api_token,
            account_id=settings.account_id,
            app_id=settings.app_id,
            base_url=settings.base_url,
            **kw,
        )

    def __repr__(self) -> str:
        return (
            f"RealtimeKitClient(base_url={self.base_url!r}, account_id={self.account_id!r}, "
            f"app_id={self.app_id!r})"
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RealtimeKitClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------ endpoints: meetings

    def list_meetings(
        self,
        *,
        page_no: int | None = None,
        per_page: int | None = None,
        start_time: datetime | str | None = None,
        end_time: datetime | str | None = None,
        search: str | None = None,
        status: str | None = None,
    ) -> dict:
        """One page of meetings: the whole envelope `{data, paging, success}`."""
        params = self._meeting_filters(start_time, end_time, search, status)
        return self._request("GET", self.meetings_path(), params=self._page_params(params, page_no, per_page))

    def create_meeting(self, body: dict) -> dict:
        return self._data("POST", self.meetings_path(), body=body)

    def get_meeting(self, meeting_id: str, *, name: str | None = None) -> dict:
        params = None if name is None else {"name": name}
        return self._data("GET", self._meeting_path(meeting_id), params=params, required=True)

    def update_meeting(self, meeting_id: str, body: dict) -> dict:
        """PATCH: change the given fields only."""
        return self._data("PATCH", self._meeting_path(meeting_id), body=body)

    def replace_meeting(self, meeting_id: str, body: dict) -> dict:
        """PUT: replace every field of the meeting."""
        return self._data("PUT", self._meeting_path(meeting_id), body=body)

    # ------------------------------------------------------------------ endpoints: participants

    def list_participants(
        self, meeting_id: str, *, page_no: int | None = None, per_page: int | None = None
    ) -> dict:
        """One page of a meeting's participants: the whole envelope `{data, paging, success}`."""
        path = self.participants_path(meeting_id)
        return self._request("GET", path, params=self._page_params({}, page_no, per_page))

    def add_participant(self, meeting_id: str, body: dict) -> dict:
        """POST; the answer holds the participant's join `token` (a secret)."""
        return self._data("POST", self.participants_path(meeting_id), body=body)

    def get_participant(self, meeting_id: str, participant_id: str) -> dict:
        return self._data("GET", self._participant_path(meeting_id, participant_id), required=True)

    def edit_participant(self, meeting_id: str, participant_id: str, body: dict) -> dict:
        """PATCH: change the given fields only."""
        return self._data("PATCH", self._participant_path(meeting_id, participant_id), body=body)

    def delete_participant(self, meeting_id: str, participant_id: str) -> dict:
        return self._data("DELETE", self._participant_path(meeting_id, participant_id))

    def refresh_participant_token(self, meeting_id: str, participant_id: str) -> dict:
        """POST; returns `{"token": ...}` (a secret)."""
        path = self._participant_path(meeting_id, participant_id) + "/token"
        return self._data("POST", path, required=True)

    # ------------------------------------------------------------------ full listings

    def iter_meeting_pages(
        self,
        *,
        start_time: datetime | str | None = None,
        end_time: datetime | str | None = None,
        search: str | None = None,
        status: str | None = None,
    ) -> Iterator[Page]:
        """Every page of the meetings list for these filters (see `_walk`)."""
        params = self._meeting_filters(start_time, end_time, search, status)
        return self._walk("meetings", self.meetings_path(), params)

    def iter_participant_pages(self, meeting_id: str) -> Iterator[Page]:
        """Every page of one meeting's participants (see `_walk`)."""
        return self._walk("participants", self.participants_path(meeting_id), {})

    def _walk(self, kind: str, path: str, filters: dict) -> Iterator[Page]:
        """Yield pages in offset order until `end_offset` reaches `total_count` or a page comes back empty.

        Neither the base of `page_no` nor the largest `per_page` is documented, so both are learnt from
        the first answer and remembered per listing kind: asked for page 1, a 1-based server starts at
        offset 1, while a 0-based one has handed us its *second* page (start_offset = honoured size + 1),
        and an empty page 1 while total_count > 0 means everything fits on page 0. Either way the walk
        starts again at page 0 and reads forward: pages read out of order would lose a row that an insert
        on top pushes from one page's range into another's between the two reads. A non-final page
        shorter than what we asked for reveals the server's cap, and later pages ask for exactly that so
        the offsets line up. A listing thus costs ceil(rows / honoured size) requests (one for an empty
        listing; one more, once per client, to find a 0-based server). Every later page must start right
        after the previous one and not repeat it, and the page count is bounded by twice what the first
        total_count needs, so a misbehaving server raises PagingError instead of looping.
        """
        base, cap = self._paging_hints.get(kind, (1, None))
        size = cap or self.per_page
        fetched = 0

        def fetch(page_no: int) -> Page:
            nonlocal fetched
            fetched += 1
            return self._page(path, filters, page_no, size)

        head = fetch(base)
        if head.records and head.start_offset != 1 and base == 1:
            size = head.start_offset - 1  # page 1 was the second page: its offset tells the honoured size
            base = 0
            head = fetch(0)
        elif not head.records and head.total_count:
            base = 1 - base  # everything fits on the page we did not ask for
            head = fetch(base)
        if head.total_count and not (head.records and head.start_offset == 1):
            raise self._paging_error(path, head, "no page starts at offset 1")
        if head.end_offset is not None and head.end_offset < head.total_count and len(head.records) < size:
            size = len(head.records)  # a non-final page shorter than asked for: the server's cap
        self._paging_hints[kind] = (base, size if size < self.per_page else None)
        yield head
        last = head
        limit = 2 * math.ceil(head.total_count / size) + 2
        while last.records and last.end_offset < last.total_count:
            if fetched >= limit:
                raise self._paging_error(path, last, f"still not complete after {fetched} pages")
            if last.end_offset % size:
                raise self._paging_error(path, last, f"a page before the end held fewer than {size} records")
            page = fetch(base + last.end_offset // size)
            if page.records:
                self._check_follows(path, last, page)
            yield page
            last = page

    def _check_follows(self, path: str, previous: Page, page: Page) -> None:
        """`page` must start right after `previous` and must not repeat it -- unless data moving between
        the two requests explains the repeat: a page's worth of inserts ahead of it (total_count grew by
        that much), or a single row that moved up (one update in a list ordered by update time shifts
        one-row pages by one). A server that ignores page_no is caught here or by the offsets; any other
        endless listing by the page bound in `_walk`."""
        grown = page.total_count - previous.total_count
        if (
            len(page.records) > 1
            and grown < len(page.records)
            and [r.get("id") for r in page.records] == [r.get("id") for r in previous.records]
        ):
            raise self._paging_error(path, page, "the page repeats the previous page")
        if page.start_offset != previous.end_offset + 1:
            how = "went backwards" if page.start_offset <= previous.end_offset else "skipped records"
            raise self._paging_error(
                path, page, f"offsets {how}: expected start_offset {previous.end_offset + 1}"
            )

    def _page(self, path: str, filters: dict, page_no: int, per_page: int) -> Page:
        """Fetch one page and check it is a well-formed page of at most `per_page` records."""
        envelope = self._request("GET", path, params={**filters, "page_no": page_no, "per_page": per_page})
        records, paging = envelope.get("data"), envelope.get("paging")

        def bad(why: str) -> BadResponseError:
            return BadResponseError(f"page_no={page_no} per_page={per_page}: {why}", method="GET", path=path)

        if not isinstance(records, list):
            raise bad(f"`data` is {type(records).__name__ if records is not None else 'null'}, not a list")
        if not isinstance(paging, dict):
            raise bad("no `paging` object, so the listing cannot be proven complete")
        total, start, end = (_count(paging, k) for k in ("total_count", "start_offset", "end_offset"))
        if total is None:
            raise bad(f"`paging.total_count` is missing or not a count: {paging.get('total_count')!r}")
        if len(records) > per_page:
            raise bad(f"{len(records)} records, more than the {per_page} asked for")
        if not all(isinstance(r, dict) for r in records):
            raise bad("a record is not an object")
        if records and (start is None or end is None or start < 1 or end - start + 1 != len(records)):
            raise bad(f"offsets {start}..{end} do not match {len(records)} records")
        if records and end > total:
            raise bad(f"end_offset {end} is beyond total_count {total}")
        return Page(records, page_no, total, start, end)

    @staticmethod
    def _paging_error(path: str, page: Page, why: str) -> PagingError:
        return PagingError(
            f"listing cannot be proven complete: {why} (page_no={page.page_no}, offsets "
            f"{page.start_offset}..{page.end_offset} of {page.total_count})",
            method="GET",
            path=path,
        )

    # ------------------------------------------------------------------ paths and parameters

    def meetings_path(self) -> str:
        return f"{self._app_path}/meetings"

    def _meeting_path(self, meeting_id: str) -> str:
        return f"{self._app_path}/meetings/{_segment(meeting_id, 'meeting_id')}"

    def participants_path(self, meeting_id: str) -> str:
        return f"{self._meeting_path(meeting_id)}/participants"

    def _participant_path(self, meeting_id: str, participant_id: str) -> str:
        return f"{self.participants_path(meeting_id)}/{_segment(participant_id, 'participant_id')}"

    @staticmethod
    def _meeting_filters(
        start_time: datetime | str | None,
        end_time: datetime | str | None,
        search: str | None,
        status: str | None,
    ) -> dict:
        params = {
            "start_time": _iso(start_time, "start_time"),
            "end_time": _iso(end_time, "end_time"),
            "search": search,
            "status": status,
        }
        return {k: v for k, v in params.items() if v is not None}

    @staticmethod
    def _page_params(params: dict, page_no: int | None, per_page: int | None) -> dict:
        if page_no is not None:
            params["page_no"] = page_no
        if per_page is not None:
            params["per_page"] = per_page
        return params

    # ------------------------------------------------------------------ requests

    def _request(self, method: str, path: str, *, params: dict | None = None, body: Any = None) -> dict:
        """Send with retries; return the decoded 2xx envelope or raise a typed APIError."""
        # One parsed URL (query included) serves every attempt: httpx would otherwise parse it twice each.
        query = f"?{urlencode(params)}" if params else ""
        call = _Call(method, path, httpx.URL(f"{self.base_url}{path}{query}"), body)
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

    def _attempt(self, call: _Call) -> dict:
        with self._in_flight:
            waited = self.rate_limiter.acquire()
            started = time.perf_counter()
            try:
                response = self._http.request(call.method, call.url, json=call.body)
            except httpx.RequestError as exc:
                self.stats._sent(0, waited, False)
                self._log(call, "failed", started, f"{type(exc).__name__}")
                # A body that fails to decompress is a damaged answer, like a truncated one.
                kind = BadResponseError if isinstance(exc, httpx.DecodingError) else TransportError
                error = kind(
                    f"{type(exc).__name__}: {self._scrub(str(exc)) or 'no detail'}",
                    method=call.method,
                    path=call.path,
                )
                if isinstance(exc, _TRANSIENT) and (call.idempotent or isinstance(exc, _NEVER_SENT)):
                    call.ambiguous = call.ambiguous or not isinstance(exc, _NEVER_SENT)
                    error.__cause__ = exc  # kept in the chain if this turns out to be the last attempt
                    raise _Retry(error) from exc
                raise error from exc
        content = response.content
        status = response.status_code
        self.stats._sent(len(content), waited, status == 429)
        self._log(call, status, started, f"{len(content)} B")
        if 200 <= status < 300:
            return self._envelope(call, response, content)
        return self._fail(call, response, content)

    def _envelope(self, call: _Call, response: httpx.Response, content: bytes) -> dict:
        try:
            envelope = json.loads(content)
        except ValueError:
            kind = response.headers.get("content-type", "no content type")
            error = BadResponseError(
                f"truncated or non-JSON body ({kind}, {len(content)} bytes)",
                method=call.method,
                path=call.path,
                status=response.status_code,
            )
            if call.idempotent:
                call.ambiguous = True
                raise _Retry(error) from None
            raise error from None
        if not isinstance(envelope, dict):
            raise BadResponseError(
                f"expected a JSON object, got {type(envelope).__name__}",
                method=call.method,
                path=call.path,
                status=response.status_code,
            )
        if envelope.get("success") is False:
            code, message = _api_error(envelope)
            error = BadResponseError(
                "the API answered success=false",
                method=call.method,
                path=call.path,
                status=response.status_code,
                code=code,
                api_message=self._scrub(message),
            )
            if call.idempotent:
                call.ambiguous = True
                raise _Retry(error)
            raise error
        return envelope

    def _fail(self, call: _Call, response: httpx.Response, content: bytes) -> dict:
        status = response.status_code
        try:
            code, message = _api_error(json.loads(content))
        except ValueError:
            code, message = None, None
        details = {"method": call.method, "path": call.path, "status": status, "code": code}
        details["api_message"] = self._scrub(message)
        if status == 429:
            retry_after = _retry_after(response.headers.get("retry-after"))
            asked = "" if retry_after is None else f" (Retry-After: {retry_after:g}s)"
            raise _Retry(RateLimitedError(f"rate limited{asked}", **details), retry_after)
        if status in _RETRYABLE_STATUS:
            error = ServerError("server error", **details)
            if call.idempotent:
                call.ambiguous = True
                raise _Retry(error)
            raise error
        if status == 401:
            raise AuthError("the API token was rejected: check CLOUDFLARE_API_TOKEN", **details)
        if status == 403:
            raise AuthError(
                f"access denied to account {self.account_id!r}, app {self.app_id!r}: check "
                "CLOUDFLARE_ACCOUNT_ID and RTK_APP_ID, and that CLOUDFLARE_API_TOKEN is allowed to use "
                "RealtimeKit on that account",
                **details,
            )
        if status == 404:
            if call.path == self.meetings_path() or "app" in (message or "").lower().split():
                why = (
                    f"no app {self.app_id!r} in account {self.account_id!r}: "
                    "check RTK_APP_ID and CLOUDFLARE_ACCOUNT_ID"
                )
            else:
                why = "not found (if every id is not found, check RTK_APP_ID)"
            raise NotFoundError(why, **details)
        if 400 <= status < 500:
            hint = ": check CLOUDFLARE_ACCOUNT_ID" if code == 7003 else ""
            raise BadRequestError(f"request rejected{hint}", **details)
        if status >= 500:
            raise ServerError("server error", **details)
        raise BadResponseError(f"unexpected HTTP status {status}", **details)

    def _data(
        self, method: str, path: str, *, params: dict | None = None, body: Any = None, required: bool = False
    ) -> dict:
        """The envelope's `data` object; {} where the reference marks it optional and it is absent."""
        data = self._request(method, path, params=params, body=body).get("data")
        if isinstance(data, dict) or (data is None and not required):
            return data or {}
        what = "missing" if data is None else f"a {type(data).__name__}"
        raise BadResponseError(f"`data` is {what}, expected an object", method=method, path=path)

    def _scrub(self, text: str | None) -> str | None:
        """Drop the API token and anything credential-shaped (`password=...`, `Bearer ...`) from text the
        server or a library produced: a server may echo a request's secrets back in its error."""
        if not text:
            return text
        token = self._http.headers["authorization"].removeprefix("Bearer ")
        return scrub_text(text.replace(token, "***"), limit=_MAX_API_MESSAGE)

    def _log(self, call: _Call, outcome: int | str, started: float, detail: str) -> None:
        if log.isEnabledFor(logging.DEBUG):
            ms = (time.perf_counter() - started) * 1000
            log.debug("%s %s -> %s in %.1f ms (%s)", call.method, call.path, outcome, ms, detail)

    # ------------------------------------------------------------------ tenacity hooks

    def _wait(self, state: tenacity.RetryCallState) -> float:
        """Honour the server's Retry-After (capped); otherwise jittered exponential backoff."""
        failure = state.outcome.exception()
        if isinstance(failure, _Retry) and failure.retry_after is not None:
            wait = min(failure.retry_after, self.max_retry_wait)
            self.rate_limiter.hold(wait)  # the whole token is throttled, not just this thread
            return wait
        return self._backoff(state)

    def _beyond_retry_after(self, state: tenacity.RetryCallState) -> bool:
        """Stop early when the server asks for a pause that outlasts the retry budget: retrying sooner
        would only meet another 429 (and, at Cloudflare, may prolong the lockout)."""
        failure = state.outcome.exception()
        return (
            isinstance(failure, _Retry)
            and failure.retry_after is not None
            and state.seconds_since_start + failure.retry_after > self.max_retry_time
        )

    def _before_sleep(self, state: tenacity.RetryCallState) -> None:
        self.stats._retried()
        call: _Call = state.args[0]
        log.info(
            "retrying %s %s in %.2fs after %s (attempt %d)",
            call.method,
            call.path,
            state.upcoming_sleep,
            state.outcome.exception(),
            state.attempt_number + 1,
        )

    @staticmethod
    def _give_up(state: tenacity.RetryCallState) -> None:
        error = state.outcome.exception().error
        raise type(error)(
            f"{error.args[0]} (gave up after {state.attempt_number} attempts in "
            f"{state.seconds_since_start:.1f}s)",
            method=error.method,
            path=error.path,
            status=error.status,
            code=error.code,
            api_message=error.api_message,
        ) from error
