"""Client-side request budget, shared by every thread, client and process that use one token.

Cloudflare allows 1,200 requests per 5 minutes per API token across its whole API and locks a token that
crosses the line out for minutes, so staying under the budget on our side is far cheaper than reacting
to 429s. The limiter is a GCRA ("virtual scheduling") limiter: each request is given its own send slot,
slots are spaced evenly, and the spacing is derived from the budget so that *any* window of `period`
seconds holds at most `max_requests` slots, with a small safety margin for the time between a slot and
the moment the server counts the request (a share of the period, plus a fixed `lateness` for what a loaded
host adds whatever the period: a process descheduled between its slot and its send).

The limiter's state (two instants) lives in a `budget.SlotBook`: in this process for a limiter built by
hand, and outside it for `shared_limiter`'s, so that every process of the token draws from one budget.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from rtk_pipeline.budget import LocalBook, SlotBook, open_book, token_key
from rtk_pipeline.settings import RATE_LIMIT_PERIOD_S, RATE_LIMIT_REQUESTS


class RateLimiter:
    """Thread-safe budget of `max_requests` per sliding `period` seconds.

    Why the window bound holds: GCRA with emission interval T and burst tolerance (burst - 1) * T grants
    k slots only if they span at least (k - burst) * T. With T = (period * (1 + margin) + lateness) /
    (max_requests - burst + 1), k = max_requests + 1 slots span at least period * (1 + margin) + lateness,
    so no window shorter than that holds more than `max_requests`: the budget holds over any
    `period`-second window even when requests reach the server up to `margin * period + lateness` seconds
    later than their slots.

    `burst` (default 1: evenly spaced, never a burst) lets that many requests go at once after an idle
    spell, at the price of a slightly lower steady rate. `hold(seconds)` pushes every later slot out,
    which is how a 429's Retry-After pauses every thread that shares the token, not only the one that
    saw it. `book` is where the state lives (default: this process; `clock` is its clock).
    """

    def __init__(
        self,
        max_requests: int = RATE_LIMIT_REQUESTS.default,
        period: float = RATE_LIMIT_PERIOD_S.default,
        *,
        burst: int = 1,
        margin: float = 0.02,
        lateness: float = 0.25,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        book: SlotBook | None = None,
    ) -> None:
        if max_requests < 1 or period <= 0:
            raise ValueError(
                f"rate limit needs max_requests >= 1 and period > 0, got {max_requests}/{period}"
            )
        if not 1 <= burst <= max_requests:
            raise ValueError(f"burst must be between 1 and max_requests ({max_requests}), got {burst}")
        if margin < 0 or lateness < 0:
            raise ValueError(f"margin and lateness must be >= 0, got {margin} and {lateness}")
        self.max_requests = max_requests
        self.period = float(period)
        self.burst = burst
        self.interval = (self.period * (1.0 + margin) + lateness) / (max_requests - burst + 1)
        self._tolerance = (burst - 1) * self.interval
        self._sleep = sleep
        self.book = LocalBook(clock) if book is None else book

    def __repr__(self) -> str:
        return f"RateLimiter(max_requests={self.max_requests}, period={self.period:g}, burst={self.burst})"

    def acquire(self) -> float:
        """Block until this caller's slot; return the seconds spent waiting.

        The slot is reserved atomically in the book and slept for outside it, so callers are served in
        arrival order and nobody spins.
        """
        wait = self.book.reserve(self.interval, self._tolerance)
        if wait > 0:
            self._sleep(wait)
            return wait
        return 0.0

    def hold(self, seconds: float) -> None:
        """Grant no slot for the next `seconds` (the server told us to back off)."""
        self.book.hold(seconds)


_registry: dict[str, RateLimiter] = {}
_registry_lock = threading.Lock()


def shared_limiter(
    api_token: str,
    base_url: str,
    *,
    max_requests: int | None = None,
    period: float | None = None,
) -> RateLimiter:
    """The limiter for one token at one API root, created on first use, its state shared with every other
    process of the token (`budget.open_book`: the host's state file, or Postgres when configured).

    Keyed by `budget.token_key` (the token itself is never kept) and the API root: against Cloudflare
    the root is always the same, so this is a per-token budget; separate local emulators, which each
    enforce their own budget, get separate limiters. Without a budget, the registered limiter (or one
    with Cloudflare's default budget) is returned, so a process can set its budget once and every client
    for that token follows it; asking for a different budget than the registered one is an error rather
    than a second budget for the same token.
    """
    key = token_key(api_token, base_url)
    with _registry_lock:
        limiter = _registry.get(key)
        if limiter is None:
            limiter = _registry[key] = RateLimiter(
                RATE_LIMIT_REQUESTS.default if max_requests is None else max_requests,
                RATE_LIMIT_PERIOD_S.default if period is None else period,
                book=open_book(api_token, base_url),
            )
        elif (max_requests is not None and max_requests != limiter.max_requests) or (
            period is not None and float(period) != limiter.period
        ):
            raise ValueError(
                f"this process already limits this token to {limiter.max_requests} requests per "
                f"{limiter.period:g}s; pass that limiter (rate_limiter=...) instead of a second budget"
            )
        return limiter
