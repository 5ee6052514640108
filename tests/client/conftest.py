"""Clients pointed at the emulator, tuned for tests: a budget that never throttles (tests that are about
the rate limit pass their own), millisecond backoff and capped Retry-After waits."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from rtk_pipeline.client import RealtimeKitClient
from rtk_pipeline.ratelimit import RateLimiter

FAST = {"backoff": 0.001, "max_retry_wait": 0.02, "max_attempts": 5, "timeout": 5.0}


@pytest.fixture
def make_client() -> Iterator[Callable[..., RealtimeKitClient]]:
    clients: list[RealtimeKitClient] = []

    def make(emu, **kw) -> RealtimeKitClient:
        kw = {**FAST, "rate_limiter": RateLimiter(1_000_000, 1.0), **kw}
        client = RealtimeKitClient(
            api_token=kw.pop("api_token", emu.token),
            account_id=kw.pop("account_id", emu.account_id),
            app_id=kw.pop("app_id", emu.app_id),
            base_url=emu.base_url,
            **kw,
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def client(emulator, make_client) -> RealtimeKitClient:
    return make_client(emulator)
