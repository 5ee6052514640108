"""A run's request budget, enforced where requests leave: every attempt (retries included) takes a slot
from the token's rate limiter, and this cap refuses the slot once the run has spent its budget, so the
request is never sent."""

from __future__ import annotations

import threading
from typing import Any

from rtk_pipeline.errors import RTKError


class BudgetSpent(RTKError):
    """The run's request budget is spent; the refused request was not sent."""


class RequestCap:
    """The token's limiter, refusing every attempt past `limit` (thread-safe)."""

    def __init__(self, inner: Any, limit: int) -> None:
        self.inner = inner
        self.limit = limit
        self.used = 0
        self._lock = threading.Lock()

    @property
    def remaining(self) -> int:
        with self._lock:
            return self.limit - self.used

    def acquire(self) -> float:
        with self._lock:
            if self.used >= self.limit:
                raise BudgetSpent(f"the run's budget of {self.limit} requests is spent")
            self.used += 1
        waited: float = self.inner.acquire()
        return waited

    def hold(self, seconds: float) -> None:
        self.inner.hold(seconds)
