"""The rate limit over real HTTP: the emulator enforces a Cloudflare-style budget (exceed it and every
request is a 429 for the lockout); a client whose budget is below it never sees a 429."""

from __future__ import annotations

import bisect
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from rtk_pipeline.errors import RateLimitedError
from rtk_pipeline.ratelimit import RateLimiter, shared_limiter


def max_in_window(times: list[float], period: float) -> int:
    times = sorted(times)
    return max((bisect.bisect_right(times, t + period) - i for i, t in enumerate(times)), default=0)


def hammer(client, meeting_ids: list[str], threads: int = 8) -> None:
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(client.get_meeting, meeting_ids))


def test_budget_below_the_servers_means_no_429(emulator_factory, make_client):
    emu = emulator_factory(rate_limit=(30, 1.0), lockout_s=10.0)
    # 10% margin: the request log's arrival stamps may lag the limiter's slots by scheduling jitter.
    client = make_client(emu, rate_limiter=RateLimiter(24, 1.0, margin=0.1), max_attempts=1)
    meeting_ids = [m["id"] for m in emu.meetings()[:50]]
    hammer(client, meeting_ids)
    log = emu.requests
    assert [r.status for r in log] == [200] * 50
    assert emu.stats["lockouts"] == 0
    assert max_in_window([r.timestamp for r in log], 1.0) <= 24
    assert client.stats.rate_limit_wait_s > 0


def test_the_server_does_enforce_its_budget(emulator_factory, make_client):
    """Control for the test above: a client over the server's budget is locked out."""
    emu = emulator_factory(rate_limit=(10, 1.0), lockout_s=10.0)
    client = make_client(emu, max_attempts=1)
    meeting_id = emu.meetings()[0]["id"]
    for _ in range(10):
        client.get_meeting(meeting_id)
    with pytest.raises(RateLimitedError) as info:
        client.get_meeting(meeting_id)
    assert info.value.status == 429
    assert client.stats.throttled == 1


def test_clients_of_one_token_share_one_budget(emulator_factory, make_client):
    # A token of its own: the registry is process-wide and a later emulator may reuse a port.
    emu = emulator_factory(rate_limit=(30, 1.0), lockout_s=10.0, token=f"share-{uuid.uuid4()}")
    shared = shared_limiter(emu.token, emu.base_url, max_requests=24, period=1.0)
    first, second = make_client(emu, rate_limiter=None), make_client(emu, rate_limiter=None)
    assert first.rate_limiter is second.rate_limiter is shared
    other = emulator_factory()
    assert make_client(other, rate_limiter=None).rate_limiter is not shared  # another server, another budget
    meeting_ids = [m["id"] for m in emu.meetings()[:20]]
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(lambda client: hammer(client, meeting_ids, threads=4), [first, second]))
    assert [r.status for r in emu.requests] == [200] * 40
    assert first.stats.rate_limit_wait_s + second.stats.rate_limit_wait_s > 0
