"""`RealtimeKitClient`: the 11 RealtimeKit meeting endpoints of one account and app, and full listings.

One client wraps keep-alive httpx transports (one per request in flight, see `connections`) and is safe
to share between threads (the sync engine fetches participants of many meetings at once). Every request
passes a per-client cap on requests in flight, then the rate limiter its token shares with every process,
then the retry policy (see `sender.Sender`).
The API token lives only in the headers its requests are built with: no repr, log line or exception
carries it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import httpx

from rtk_pipeline import __version__
from rtk_pipeline.client.connections import Connections
from rtk_pipeline.client.paging import Page, PageWalk, PagingHint
from rtk_pipeline.client.paths import AppPaths, meeting_filters, page_params
from rtk_pipeline.client.sender import Sender
from rtk_pipeline.client.stats import ClientStats
from rtk_pipeline.errors import BadResponseError, ConfigError
from rtk_pipeline.ratelimit import RateLimiter, shared_limiter
from rtk_pipeline.settings import (
    ACCOUNT_ID,
    API_TOKEN,
    APP_ID,
    BASE_URL,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_MAX_IN_FLIGHT,
    DEFAULT_MAX_RETRY_WAIT_S,
    DEFAULT_TIMEOUT_S,
    ApiSettings,
    parse_base_url,
)

# Cloudflare's ids are 32 hex digits or a UUID; a far longer one is a pasted mistake that would only fail
# later, as a URL too long to send.
MAX_ID_LENGTH = 255
_USER_AGENT = f"rtk-pipeline/{__version__} python-httpx/{httpx.__version__}"


class RealtimeKitClient:
    """Client for the 11 RealtimeKit meeting endpoints of one account and app.

    Defaults suit the real API: 30 s timeouts, at most 16 requests in flight, up to 6 attempts within
    `max_retry_time` seconds with full-jitter exponential backoff from `backoff` seconds, and the
    limiter this token shares with every process (1,200 requests per 300 s). Pass
    `rate_limiter=RateLimiter(...)` for another budget (e.g. a local emulator) and `transport=` to plug in
    an httpx transport.
    """

    def __init__(
        self,
        *,
        api_token: str,
        account_id: str,
        app_id: str,
        base_url: str = BASE_URL.default,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT_S,
        rate_limiter: RateLimiter | None = None,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        max_retry_wait: float = DEFAULT_MAX_RETRY_WAIT_S,
        max_retry_time: float = 300.0,
        backoff: float = 0.5,
        per_page: int = 1000,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        for variable, value in ((API_TOKEN, api_token), (ACCOUNT_ID, account_id), (APP_ID, app_id)):
            if not isinstance(value, str) or not value.strip():
                raise ConfigError(f"{variable.name} is empty")
        for variable, value in ((ACCOUNT_ID, account_id), (APP_ID, app_id)):
            # Any printable text is an id (it goes out percent-encoded, and apps with odd ids share a
            # warehouse safely); control characters and a value far longer than any id are typos.
            if len(value) > MAX_ID_LENGTH or not value.isprintable():
                raise ConfigError(
                    f"{variable.name} is not an id: at most {MAX_ID_LENGTH} printable characters"
                )
        # A header with whitespace or non-ASCII would make httpx raise an error that quotes the header.
        if not (api_token.isascii() and api_token.isprintable()) or any(c.isspace() for c in api_token):
            raise ConfigError(f"{API_TOKEN.name} contains whitespace or non-ASCII characters")
        parse_base_url(BASE_URL.name, base_url)
        try:
            httpx.URL(base_url)
        except httpx.InvalidURL:
            raise ConfigError(f"{BASE_URL.name} is not a URL httpx can send to") from None
        if max_in_flight < 1 or max_attempts < 1 or per_page < 1:
            raise ValueError("max_in_flight, max_attempts and per_page must be >= 1")
        self.base_url = base_url.rstrip("/")
        self.account_id = account_id
        self.app_id = app_id
        self.per_page = per_page
        self.stats = ClientStats()
        self._paths = AppPaths(account_id, app_id)
        # Learnt per listing kind by the walks (see `PageWalk`).
        self._paging_hints: dict[str, PagingHint] = {}
        if not isinstance(timeout, httpx.Timeout):
            timeout = httpx.Timeout(timeout, connect=min(timeout, 10.0))
        http = Connections(
            headers={
                "Authorization": f"Bearer {api_token}",
                "Accept": "application/json",
                "User-Agent": _USER_AGENT,
            },
            timeout=timeout,
            transport=transport,
        )
        self._sender = Sender(
            http,
            base_url=self.base_url,
            app=self._paths,
            rate_limiter=rate_limiter or shared_limiter(api_token, self.base_url),
            stats=self.stats,
            max_in_flight=max_in_flight,
            max_attempts=max_attempts,
            max_retry_wait=max_retry_wait,
            max_retry_time=max_retry_time,
            backoff=backoff,
        )

    @classmethod
    def from_settings(cls, settings: ApiSettings, **kw: Any) -> RealtimeKitClient:
        """A client for these settings, paced by the token's shared limiter at `settings.rate_limit`; `kw`
        overrides any of them (e.g. `max_attempts=1`, `rate_limiter=...`)."""
        if "rate_limiter" not in kw:
            requests, period = settings.rate_limit
            kw["rate_limiter"] = shared_limiter(
                settings.api_token, settings.base_url, max_requests=requests, period=period
            )
        options: dict[str, Any] = {
            "timeout": settings.timeout_s,
            "max_in_flight": settings.max_in_flight,
            "max_attempts": settings.max_attempts,
            "max_retry_wait": settings.max_retry_wait_s,
            **kw,
        }
        return cls(
            api_token=settings.api_token,
            account_id=settings.account_id,
            app_id=settings.app_id,
            base_url=settings.base_url,
            **options,
        )

    @property
    def rate_limiter(self) -> RateLimiter:
        return self._sender.rate_limiter

    @contextmanager
    def paced_by(self, limiter: Any) -> Iterator[None]:
        """Every attempt inside the block takes its slot from `limiter` (one with `acquire()` and
        `hold(seconds)`), e.g. one that also caps a run's requests, retries included."""
        before = self._sender.rate_limiter
        self._sender.rate_limiter = limiter
        try:
            yield
        finally:
            self._sender.rate_limiter = before

    def __repr__(self) -> str:
        return (
            f"RealtimeKitClient(base_url={self.base_url!r}, account_id={self.account_id!r}, "
            f"app_id={self.app_id!r})"
        )

    def close(self) -> None:
        self._sender.close()

    def __enter__(self) -> RealtimeKitClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def meetings_path(self) -> str:
        return self._paths.meetings

    def participants_path(self, meeting_id: str) -> str:
        return self._paths.participants(meeting_id)

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
        params = page_params(meeting_filters(start_time, end_time, search, status), page_no, per_page)
        return self._sender.request("GET", self._paths.meetings, params=params)

    def create_meeting(self, body: dict) -> dict:
        return self._data("POST", self._paths.meetings, body=body)

    def get_meeting(self, meeting_id: str, *, name: str | None = None) -> dict:
        params = None if name is None else {"name": name}
        return self._data("GET", self._paths.meeting(meeting_id), params=params, required=True)

    def update_meeting(self, meeting_id: str, body: dict, *, resend_lost: bool = True) -> dict:
        """PATCH: change the given fields only. `resend_lost=False`: a lost or unreadable answer is raised,
        never followed by a second PATCH (the caller GETs the meeting to learn whether it landed)."""
        return self._data("PATCH", self._paths.meeting(meeting_id), body=body, resend_lost=resend_lost)

    def replace_meeting(self, meeting_id: str, body: dict) -> dict:
        """PUT: replace every field of the meeting."""
        return self._data("PUT", self._paths.meeting(meeting_id), body=body)

    # ------------------------------------------------------------------ endpoints: participants

    def list_participants(
        self, meeting_id: str, *, page_no: int | None = None, per_page: int | None = None
    ) -> dict:
        """One page of a meeting's participants: the whole envelope `{data, paging, success}`."""
        path = self._paths.participants(meeting_id)
        return self._sender.request("GET", path, params=page_params({}, page_no, per_page))

    def add_participant(self, meeting_id: str, body: dict) -> dict:
        """POST; the answer holds the participant's join `token` (a secret)."""
        return self._data("POST", self._paths.participants(meeting_id), body=body)

    def get_participant(self, meeting_id: str, participant_id: str) -> dict:
        return self._data("GET", self._paths.participant(meeting_id, participant_id), required=True)

    def edit_participant(self, meeting_id: str, participant_id: str, body: dict) -> dict:
        """PATCH: change the given fields only."""
        return self._data("PATCH", self._paths.participant(meeting_id, participant_id), body=body)

    def delete_participant(self, meeting_id: str, participant_id: str) -> dict:
        return self._data("DELETE", self._paths.participant(meeting_id, participant_id))

    def refresh_participant_token(self, meeting_id: str, participant_id: str) -> dict:
        """POST; returns `{"token": ...}` (a secret)."""
        path = self._paths.participant(meeting_id, participant_id) + "/token"
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
        """Every page of the meetings list for these filters (see `PageWalk`)."""
        filters = meeting_filters(start_time, end_time, search, status)
        return self._walk("meetings", self._paths.meetings, filters)

    def iter_participant_pages(self, meeting_id: str) -> Iterator[Page]:
        """Every page of one meeting's participants (see `PageWalk`)."""
        return self._walk("participants", self._paths.participants(meeting_id), {})

    def _walk(self, kind: str, path: str, filters: dict) -> Iterator[Page]:
        walk = PageWalk(self._get, path, filters, per_page=self.per_page, kind=kind, hints=self._paging_hints)
        return iter(walk)

    def _get(self, path: str, params: dict) -> dict:
        return self._sender.request("GET", path, params=params)

    def _data(
        self,
        method: str,
        path: str,
        *,
        params: dict | None = None,
        body: Any = None,
        required: bool = False,
        resend_lost: bool = True,
    ) -> dict:
        """The envelope's `data` object; {} where the reference marks it optional and it is absent."""
        answer = self._sender.request(method, path, params=params, body=body, resend_lost=resend_lost)
        data = answer.get("data")
        if isinstance(data, dict) or (data is None and not required):
            return data or {}
        what = "missing" if data is None else f"a {type(data).__name__}"
        raise BadResponseError(f"`data` is {what}, expected an object", method=method, path=path)
