"""Clients pointed at a local emulator, tuned for tests, and the emulator's seeded calendar."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

import httpx

from rtk_pipeline.client import RealtimeKitClient
from rtk_pipeline.emulator import Emulator, EmulatorConfig
from rtk_pipeline.ratelimit import RateLimiter

T = TypeVar("T")

# Where the seeded test data ends: emulators cover the `days` before it.
END = datetime(2026, 11, 1, tzinfo=UTC)

# The app a test warehouse is opened for: the emulator's (a store refuses a client of another app).
APP = EmulatorConfig().app_id

# Fast retries, short timeouts: a test that is about a knob passes its own.
FAST = {"backoff": 0.005, "max_retry_wait": 0.02, "max_attempts": 6, "timeout": 5.0}

_TLS = ssl.create_default_context()


def unpaced() -> RateLimiter:
    """A budget no test reaches (the emulator enforces none unless asked)."""
    return RateLimiter(1_000_000, 1.0)


def client_for(target: Emulator | str, emu: Emulator | None = None, **kw: Any) -> RealtimeKitClient:
    """A client for the emulator that retries fast and is not paced; keywords override any setting.

    `target` is the emulator, or a base URL (a proxy) in front of `emu`, or a base URL alone when the
    keywords give the token, account and app.
    """
    emu = target if isinstance(target, Emulator) else emu
    base_url = target.base_url if isinstance(target, Emulator) else target
    if emu is not None:
        kw = {"api_token": emu.token, "account_id": emu.account_id, "app_id": emu.app_id, **kw}
    kw = {**FAST, "rate_limiter": unpaced(), **kw}
    # The client's own transport, but with one TLS context for all: building one costs ~80 ms (certifi),
    # and loopback HTTP never uses it.
    connections = kw.get("max_in_flight", 16)
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    kw.setdefault("transport", httpx.HTTPTransport(verify=_TLS, limits=limits))
    return RealtimeKitClient(base_url=base_url, **kw)


class RecordingLimiter(RateLimiter):
    """An unpaced limiter that remembers each `hold` (how long the client honoured a Retry-After)."""

    def __init__(self) -> None:
        super().__init__(1_000_000, 1.0)
        self.holds: list[float] = []

    def hold(self, seconds: float) -> None:
        self.holds.append(seconds)
        super().hold(seconds)


def emulator_days(emu: Emulator) -> tuple[date, date]:
    """The first and last UTC day the emulator's data covers."""
    end = emu.config.end
    return (end - timedelta(days=emu.config.days)).date(), (end - timedelta(microseconds=1)).date()


def pass_time(emu: Emulator, days: float) -> datetime:
    """Move the emulator clock `days` past the later of its reading and the end of the data, releasing the
    room arrivals up to then (wall time passing releases none); returns the new time."""
    when = max(emu.clock.now(), emu.config.resolved_end) + timedelta(days=days)
    emu.clock.set(when)
    return when


def made_and_stopped(build: Callable[..., T], stop: Callable[[T], None]) -> Iterator[Callable[..., T]]:
    """Body of a factory fixture (`yield from made_and_stopped(...)`): the test builds as many as it
    likes, and each is stopped at teardown, in the order made."""
    made: list[T] = []

    def make(*args: Any, **kw: Any) -> T:
        made.append(build(*args, **kw))
        return made[-1]

    yield make
    for thing in made:
        stop(thing)
