"""The limiter's promise: never more than max_requests in any window of `period`, spread evenly, shared
by every client of one token. Checked on a simulated clock (exact) and across real threads."""

from __future__ import annotations

import bisect
import itertools
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtk_pipeline.ratelimit import RateLimiter, shared_limiter


class FakeClock:
    """Single-threaded simulated time: sleeping advances it."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def max_in_window(times: list[float], period: float) -> int:
    """Largest number of events in any closed window [t, t + period]."""
    times = sorted(times)
    return max((bisect.bisect_right(times, t + period) - i for i, t in enumerate(times)), default=0)


def run(limiter: RateLimiter, clock: FakeClock, arrivals: list[float]) -> list[float]:
    """Send one request at each arrival time (or as soon as the limiter allows); return the send times."""
    sent = []
    for arrival in sorted(arrivals):
        clock.now = max(clock.now, arrival)
        limiter.acquire()
        sent.append(clock.now)
    return sent


@settings(max_examples=200, deadline=None)
@given(
    max_requests=st.integers(1, 60),
    period=st.floats(0.5, 300),
    burst_fraction=st.floats(0, 1),
    arrivals=st.lists(st.floats(0, 1000), min_size=1, max_size=300),
)
def test_no_window_of_period_exceeds_budget(max_requests, period, burst_fraction, arrivals):
    clock = FakeClock()
    burst = max(1, round(burst_fraction * max_requests))
    limiter = RateLimiter(max_requests, period, burst=burst, clock=clock, sleep=clock.sleep)
    sent = run(limiter, clock, arrivals)
    assert max_in_window(sent, period) <= max_requests


def test_default_is_evenly_spaced_not_a_burst():
    clock = FakeClock()
    limiter = RateLimiter(100, 5.0, clock=clock, sleep=clock.sleep)
    sent = run(limiter, clock, [0.0] * 300)
    gaps = {round(b - a, 9) for a, b in itertools.pairwise(sent)}
    assert gaps == {round(limiter.interval, 9)}
    assert max_in_window(sent, 1.0) <= 20  # 20 req/s: one second never holds a burst of the budget
    assert max_in_window(sent, 5.0) <= 100


def test_burst_lets_that_many_go_at_once_then_paces():
    clock = FakeClock()
    limiter = RateLimiter(100, 5.0, burst=10, clock=clock, sleep=clock.sleep)
    sent = run(limiter, clock, [0.0] * 50)
    assert sent[:10] == pytest.approx([0.0] * 10, abs=1e-9)
    assert sent[10] == pytest.approx(limiter.interval)
    assert max_in_window(sent, 5.0) <= 100


def test_wait_is_reported():
    clock = FakeClock()
    limiter = RateLimiter(2, 1.0, margin=0.0, lateness=0.0, clock=clock, sleep=clock.sleep)
    assert limiter.acquire() == 0.0
    assert limiter.acquire() == pytest.approx(0.5)


def test_hold_pauses_every_caller():
    clock = FakeClock()
    limiter = RateLimiter(1000, 1.0, clock=clock, sleep=clock.sleep)
    limiter.acquire()
    limiter.hold(3.0)
    limiter.acquire()
    assert clock.now == pytest.approx(3.0)


def test_threads_share_one_budget():
    """Many threads at once are served one slot after another: 80 acquires at 80/s span 79 intervals."""
    limiter = RateLimiter(40, 0.5, margin=0.0)
    done: list[float] = []

    def worker() -> None:
        for _ in range(10):
            limiter.acquire()
            done.append(time.monotonic())

    threads = [threading.Thread(target=worker) for _ in range(8)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(done) == 80
    assert max(done) - start >= 79 * limiter.interval * 0.999


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_requests": 0}, "max_requests"),
        ({"period": 0}, "period"),
        ({"burst": 0}, "burst"),
        ({"max_requests": 5, "burst": 6}, "burst"),
        ({"margin": -0.1}, "margin"),
        ({"lateness": -0.1}, "lateness"),
    ],
)
def test_rejects_nonsense(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RateLimiter(**kwargs)


def test_registry_one_budget_per_token_and_server():
    a = shared_limiter("token-registry-1", "http://127.0.0.1:1/client/v4")
    assert shared_limiter("token-registry-1", "http://127.0.0.1:1/client/v4/") is a
    assert shared_limiter("token-registry-2", "http://127.0.0.1:1/client/v4") is not a
    assert shared_limiter("token-registry-1", "http://127.0.0.1:2/client/v4") is not a
    with pytest.raises(ValueError, match="already limits this token"):
        shared_limiter("token-registry-1", "http://127.0.0.1:1/client/v4", max_requests=5)
    assert (a.max_requests, a.period) == (1200, 300.0)  # Cloudflare's per-token budget by default
    assert "token-registry" not in repr(a)


def test_registry_budget_set_once_is_followed_by_later_callers():
    custom = shared_limiter("token-registry-3", "http://127.0.0.1:1/client/v4", max_requests=50, period=10)
    assert shared_limiter("token-registry-3", "http://127.0.0.1:1/client/v4") is custom
    assert shared_limiter("token-registry-3", "http://127.0.0.1:1/client/v4", max_requests=50) is custom
