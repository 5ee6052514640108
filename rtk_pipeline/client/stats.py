"""What a client has done so far: requests, retries, 429s, bytes, rate-limit waits."""

from __future__ import annotations

import threading
from dataclasses import dataclass


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

    def count_request(self, nbytes: int, waited: float, throttled: bool) -> None:
        """One attempt went out (whatever came back): `nbytes` of body, `waited` s for the limiter."""
        with self._lock:
            self.requests += 1
            self.bytes_received += nbytes
            self.rate_limit_wait_s += waited
            self.throttled += throttled

    def count_retry(self) -> None:
        with self._lock:
            self.retries += 1
