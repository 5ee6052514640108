"""Retries over real HTTP: each fault the emulator can inject, what is retried, what never is (a POST
that may have reached the server), and what the caller sees when retries run out."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from rtk_pipeline.client import RealtimeKitClient
from rtk_pipeline.client.responses import retry_after
from rtk_pipeline.errors import BadResponseError, RateLimitedError, ServerError, TransportError
from rtk_pipeline.ratelimit import RateLimiter
from tests.support.emulator import RecordingLimiter
from tests.support.ports import free_port


def statuses(emu) -> list[int]:
    return [r.status for r in emu.requests]


def test_429_is_retried_and_counted(emulator, make_client):
    client = make_client(emulator)
    meeting = emulator.meetings()[0]
    emulator.fail_next(2, 429)
    assert client.get_meeting(meeting["id"])["id"] == meeting["id"]
    assert statuses(emulator) == [429, 429, 200]
    stats = client.stats.snapshot()
    assert (stats.requests, stats.retries, stats.throttled) == (3, 2, 2)


@pytest.mark.parametrize(
    ("retry_after", "max_retry_wait", "expected"),
    [
        ("0.05", 5.0, 0.05),  # honoured as given
        ("1", 0.02, 0.02),  # capped by max_retry_wait
    ],
)
def test_retry_after_seconds_sets_the_pause(
    emulator_factory, make_client, retry_after, max_retry_wait, expected
):
    emu = emulator_factory(retry_after=retry_after)
    limiter = RecordingLimiter()
    client = make_client(emu, rate_limiter=limiter, max_retry_wait=max_retry_wait)
    emu.fail_next(1, 429)
    client.list_meetings()
    assert limiter.holds == [pytest.approx(expected)]


def test_retry_after_http_date_sets_the_pause(emulator_factory, make_client):
    emu = emulator_factory(retry_after="date", retry_after_s=30.0)
    limiter = RecordingLimiter()
    client = make_client(emu, rate_limiter=limiter, max_retry_wait=0.03)
    emu.fail_next(1, 429)
    client.list_meetings()
    assert limiter.holds == [pytest.approx(0.03)]  # ~30 s away, capped


def test_retry_after_parsing():
    now = datetime.now(UTC)
    assert retry_after("7") == 7.0
    assert retry_after("0.5") == 0.5
    assert retry_after("-3") == 0.0
    assert 55 < retry_after(format_datetime(now + timedelta(seconds=60), usegmt=True)) <= 60
    assert retry_after(format_datetime(now - timedelta(seconds=60), usegmt=True)) == 0.0
    for garbage in (None, "", "soon", "nan", "inf"):
        assert retry_after(garbage) is None


def test_429_on_post_is_retried_because_nothing_was_done(emulator, make_client):
    client = make_client(emulator)
    before = len(emulator.meetings())
    emulator.fail_next(1, 429, paths="create_meeting")
    client.create_meeting({"title": "after a 429"})
    assert statuses(emulator) == [429, 201]
    assert len(emulator.meetings()) == before + 1


def test_429_until_retries_run_out(emulator, make_client):
    client = make_client(emulator, max_attempts=3)
    emulator.fail_next(5, 429)
    with pytest.raises(RateLimitedError, match="gave up after 3 attempts") as info:
        client.list_meetings()
    error = info.value
    assert (error.status, error.code, error.method) == (429, 971, "GET")
    assert "throttling" in error.api_message  # Cloudflare's `errors: [...]` shape
    assert statuses(emulator) == [429, 429, 429]


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_retried_for_reads_and_writes_that_repeat_safely(emulator, make_client, status):
    client = make_client(emulator)
    meeting_id = emulator.meetings()[0]["id"]
    emulator.fail_next(1, status)
    client.get_meeting(meeting_id)
    emulator.fail_next(1, status)
    client.update_meeting(meeting_id, {"title": "patched"})
    emulator.fail_next(1, status)
    client.replace_meeting(meeting_id, {"title": "put"})
    assert statuses(emulator) == [status, 200] * 3
    assert client.stats.retries == 3


def test_5xx_until_retries_run_out(emulator, make_client):
    client = make_client(emulator, max_attempts=4)
    emulator.fail_next(10, 503)
    with pytest.raises(ServerError, match="gave up after 4 attempts") as info:
        client.get_meeting(emulator.meetings()[0]["id"])
    error = info.value
    assert (error.status, error.code, error.api_message) == (
        503,
        503,
        "Service Unavailable",
    )  # `error: {}` shape
    assert len(emulator.requests) == 4


@pytest.mark.parametrize("status", [500, 503])
def test_post_is_not_retried_after_a_5xx(emulator, make_client, status):
    client = make_client(emulator)
    emulator.fail_next(1, status, paths="create_meeting")
    with pytest.raises(ServerError) as info:
        client.create_meeting({"title": "maybe created"})
    assert info.value.status == status
    assert [(r.method, r.status) for r in emulator.requests] == [("POST", status)]


@pytest.mark.parametrize(
    ("kind", "style"),
    [("reset", "json"), ("truncated", "json"), ("truncated", "transport"), ("non_json", "json")],
)
def test_damaged_answers_to_reads_are_retried(emulator_factory, make_client, kind, style):
    emu = emulator_factory(truncate_style=style)
    client = make_client(emu)
    emu.fail_next(2, kind=kind)
    ids = [r["id"] for p in client.iter_meeting_pages() for r in p.records]
    assert ids == [m["id"] for m in emu.meetings()]
    assert [r.fault for r in emu.requests][:3] == [kind, kind, None]
    assert client.stats.retries == 2


def test_success_false_on_a_read_is_retried(emulator, make_client):
    client = make_client(emulator)
    emulator.fail_next(1, kind="success_false")
    assert client.list_meetings()["success"] is True
    assert client.stats.retries == 1


@pytest.mark.parametrize(
    ("kind", "style", "error"),
    [
        ("truncated", "json", BadResponseError),
        ("truncated", "transport", TransportError),
        ("reset", "json", TransportError),
        ("success_false", "json", BadResponseError),
    ],
)
def test_post_is_not_retried_after_a_damaged_answer(emulator_factory, make_client, kind, style, error):
    """A truncated answer means the meeting was created: resending would create a second one."""
    emu = emulator_factory(truncate_style=style)
    client = make_client(emu)
    before = len(emu.meetings())
    emu.fail_next(1, kind=kind, paths="create_meeting")
    with pytest.raises(error) as info:
        client.create_meeting({"title": "exactly once"})
    assert info.value.method == "POST"
    assert len(emu.requests) == 1
    assert len(emu.meetings()) == before + (kind == "truncated")


def test_random_faults_during_a_listing(emulator_factory, make_client):
    emu = emulator_factory(
        meetings=500, max_per_page=20, p429=0.1, p5xx=0.1, p_reset=0.05, p_truncated=0.05, fault_seed=3
    )
    client = make_client(emu, max_attempts=8)
    ids = [r["id"] for p in client.iter_meeting_pages() for r in p.records]
    emu.set_faults(p429=0, p5xx=0, p_reset=0, p_truncated=0)
    assert ids == [m["id"] for m in emu.meetings()]
    faults = [r.fault for r in emu.requests]
    stats = client.stats.snapshot()
    assert stats.requests == len(emu.requests)
    assert stats.retries == sum(f is not None for f in faults) > 0
    assert stats.throttled == faults.count("429")


def test_read_timeout_retries_a_get_but_never_a_post(emulator_factory, make_client):
    emu = emulator_factory(latency_s=0.4)
    client = make_client(emu, timeout=0.1, max_attempts=2)
    with pytest.raises(TransportError, match="ReadTimeout"):
        client.list_meetings()
    assert client.stats.requests == 2

    before = len(emu.meetings())
    with pytest.raises(TransportError, match="ReadTimeout"):
        client.create_meeting({"title": "slow"})
    deadline = time.monotonic() + 5
    while not any(r.method == "POST" for r in emu.requests) and time.monotonic() < deadline:
        time.sleep(0.05)  # the emulator finishes the request the client gave up on
    assert [r.method for r in emu.requests].count("POST") == 1
    assert len(emu.meetings()) == before + 1
    assert client.stats.requests == 3


def test_connection_refused_is_retried_even_for_a_post():
    port = free_port()  # bound and closed again: nothing listens there
    client = RealtimeKitClient(
        api_token="emu-token",
        account_id="acc",
        app_id="app",
        base_url=f"http://127.0.0.1:{port}/client/v4",
        rate_limiter=RateLimiter(1_000_000, 1.0),
        max_attempts=3,
        backoff=0.001,
    )
    with client, pytest.raises(TransportError, match=r"ConnectError.*gave up after 3 attempts") as info:
        client.create_meeting({"title": "never sent"})
    assert info.value.method == "POST"
    assert client.stats.requests == 3


def test_retry_after_beyond_the_retry_budget_gives_up_at_once(emulator_factory, make_client):
    emu = emulator_factory(retry_after="100")
    client = make_client(emu, max_retry_time=5.0, max_retry_wait=60.0)
    emu.fail_next(1, 429)
    with pytest.raises(RateLimitedError, match=r"Retry-After: 100s.*gave up after 1 attempts"):
        client.list_meetings()
    assert len(emu.requests) == 1


def test_threads_retrying_at_once_keep_exact_counts(emulator_factory, make_client):
    """Stats stay exact when many threads retry through one client at the same time."""
    emu = emulator_factory(meetings=150, p429=0.15, p5xx=0.15, p_reset=0.05, fault_seed=5)
    # Which request draws which fault depends on how the threads interleave: with 10 attempts, one of the 150
    # calls met 10 faults in a row (0.35^10 each) in a CI run; with 40, that is beyond any run.
    client = make_client(emu, max_attempts=40, max_in_flight=6)
    meeting_ids = [m["id"] for m in emu.meetings()]
    with ThreadPoolExecutor(max_workers=12) as pool:
        got = list(pool.map(lambda mid: client.get_meeting(mid)["id"], meeting_ids))
    assert got == meeting_ids
    faults = [r.fault for r in emu.requests]
    stats = client.stats.snapshot()
    assert stats.requests == len(faults)
    assert stats.retries == sum(f is not None for f in faults) > 10
    assert stats.throttled == faults.count("429")
