"""Clients pointed at the emulator, tuned for tests (`tests.support.emulator.client_for`): a budget that
never throttles (tests that are about the rate limit pass their own), millisecond backoff and capped
Retry-After waits; each is closed at teardown."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from rtk_pipeline.client import RealtimeKitClient
from tests.support.emulator import client_for, made_and_stopped


@pytest.fixture
def make_client() -> Iterator[Callable[..., RealtimeKitClient]]:
    yield from made_and_stopped(client_for, RealtimeKitClient.close)


@pytest.fixture
def client(emulator, make_client) -> RealtimeKitClient:
    return make_client(emulator)
