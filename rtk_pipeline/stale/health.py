"""When a deactivation run stops early: hammering a throttled or broken API only extends the lockout, so
after repeated 429s, rejected credentials or a streak of failures the rest is left for the next tick."""

from __future__ import annotations

from rtk_pipeline.client import RealtimeKitClient
from rtk_pipeline.errors import APIError, AuthError, RateLimitedError
from rtk_pipeline.stale.policy import Outcome

# A run stops once the client has seen this many 429s, or after this many API failures in a row.
THROTTLED_STOP_AFTER = 3
FAILURES_STOP_AFTER = 3


class ApiHealth:
    """The run's view of the API: its failure streak, and once it should stop, the (decision, detail)
    every remaining meeting gets."""

    def __init__(self, client: RealtimeKitClient) -> None:
        self._client = client
        self._throttled_at_start = client.stats.throttled
        self.failures_in_a_row = 0
        self.stop: tuple[Outcome, str] | None = None

    def failed(self, exc: APIError | None = None) -> None:
        self.failures_in_a_row += 1
        if isinstance(exc, RateLimitedError):
            self.stop = (
                Outcome.SKIP_THROTTLED,
                "stopped early: the API kept answering 429; left for the next tick",
            )
        elif isinstance(exc, AuthError):
            self.stop = (Outcome.SKIP_UNHEALTHY, "stopped early: the API rejected the credentials")
        elif self.failures_in_a_row >= FAILURES_STOP_AFTER:
            self.stop = (
                Outcome.SKIP_UNHEALTHY,
                f"stopped early after {self.failures_in_a_row} API failures in a row",
            )

    def ok(self) -> None:
        """A meeting was judged end to end: the failure streak (counted per meeting, not per request)
        is broken."""
        self.failures_in_a_row = 0

    def check_throttle(self) -> None:
        """Stop once the client has met THROTTLED_STOP_AFTER 429s in this run, even if its retries won."""
        if (
            self.stop is None
            and self._client.stats.throttled - self._throttled_at_start >= THROTTLED_STOP_AFTER
        ):
            self.stop = (
                Outcome.SKIP_THROTTLED,
                "stopped early: the API answered 429 repeatedly; left for the next tick",
            )
