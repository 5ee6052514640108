"""The fault matrix: one test per fault, each through the sync engine against the emulator's ground truth.

Every test pre-syncs the warehouse, then changes the emulator's data (so the old and the new version of
every day differ), injects its fault and syncs again. A sync that completes must equal the new ground
truth by id and by value; a sync that fails must leave the data it failed on exactly as it was (every row,
`synced_at` included), record a failed `sync_runs` row, and raise a typed error without the token.
Transient faults (one occurrence) must be survived; persistent ones must fail cleanly.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from rtk_pipeline.emulator import Emulator
from rtk_pipeline.errors import (
    AuthError,
    BadResponseError,
    PagingError,
    RateLimitedError,
    ServerError,
    TransportError,
)
from rtk_pipeline.store import DuckDBStore
from rtk_pipeline.sync import sync_meetings, sync_participants, sync_range
from tests.support.emulator import APP, RecordingLimiter, client_for, emulator_days
from tests.support.stores import open_duckdb_store
from tests.support.truth import stored_meetings, stored_participants, truth_meetings, truth_participants

from .conftest import Attempt, Exchange, attempt, check_attempt, mutate, small_emulator, snapshot


@pytest.fixture
def warehouse(synced: DuckDBStore) -> DuckDBStore:
    """Every test here starts from a warehouse already synced from the `emu` fixture's data."""
    return synced


def run_fault(
    emu: Emulator,
    warehouse: DuckDBStore,
    inject: Callable[[], None],
    *,
    target: Emulator | str | None = None,
    check: bool = True,
    **client_kw,
) -> Attempt:
    """New data, fault, sync again over the pre-synced warehouse; then the suite's invariant (see the
    module doc) unless the test checks a moving truth itself."""
    first, last = emulator_days(emu)
    mutate(emu, first, last, "v2")
    before = snapshot(warehouse)
    emu.clear_requests()
    inject()
    with client_for(target or emu, emu, **client_kw) as client:
        outcome = attempt(warehouse, lambda: sync_range(client, warehouse, first, last, workers=4))
    if check:
        check_attempt(outcome, warehouse, emu, first, last, before)
    return outcome


def faulted(emu: Emulator) -> dict[str, int]:
    """Injected faults by kind, from the emulator's request log."""
    counts: dict[str, int] = {}
    for record in emu.requests:
        if record.fault:
            counts[record.fault] = counts.get(record.fault, 0) + 1
    return counts


def completed(outcome: Attempt) -> None:
    assert outcome.error is None, f"a transient fault must be survived: {outcome.error!r}"


def failed(outcome: Attempt, error_type: type, *words: str) -> None:
    assert isinstance(outcome.error, error_type), repr(outcome.error)
    for word in words:
        assert word in str(outcome.error), str(outcome.error)


# ---------------------------------------------------------------------------------------- 429


@pytest.mark.parametrize("style", ["1", "date"])
def test_429_honours_retry_after_and_completes(emu, warehouse, style):
    """Retry-After as delta-seconds and as an HTTP-date both pause the token, then the sync completes."""
    limiter = RecordingLimiter()

    def inject():
        emu.set_faults(retry_after=style, retry_after_s=1.0)
        emu.fail_next(1, 429, paths="list_meetings")
        emu.fail_next(1, 429, paths="list_participants")

    outcome = run_fault(emu, warehouse, inject, rate_limiter=limiter, max_retry_wait=3.0)
    completed(outcome)
    assert faulted(emu) == {"429": 2}
    assert sum(r.throttled for r in outcome.results) == 2
    assert len(limiter.holds) == 2
    for held in limiter.holds:  # "1" is one second; the date points ~1 s ahead at whole-second precision
        assert (held == 1.0) if style == "1" else (0.5 < held <= 2.0), limiter.holds


def test_429_that_never_ends_fails_with_previous_data_kept(emu, warehouse):
    outcome = run_fault(emu, warehouse, lambda: emu.fail_next(50, 429, paths="list_meetings"), max_attempts=3)
    failed(outcome, RateLimitedError, "429")
    assert faulted(emu) == {"429": 3}


# ---------------------------------------------------------------------------------------- one-shot faults

# Faults the emulator injects into a request: name -> (knobs to set first, fail_next kwargs, error when
# the fault never stops, words the error must carry).
FAULTS = {
    **{str(status): ({}, {"status": status}, ServerError, (str(status),)) for status in (500, 502, 503, 504)},
    "reset": ({}, {"kind": "reset"}, TransportError, ()),
    "truncated-json": ({"truncate_style": "json"}, {"kind": "truncated"}, BadResponseError, ("truncated",)),
    "truncated-transport": ({"truncate_style": "transport"}, {"kind": "truncated"}, TransportError, ()),
    "html-502": ({"non_json_statuses": (502,)}, {"kind": "non_json"}, ServerError, ("502",)),
    "html-200": ({"non_json_statuses": (200,)}, {"kind": "non_json"}, BadResponseError, ("non-JSON",)),
}


@pytest.mark.parametrize("name", list(FAULTS))
def test_fault_once_is_retried(emu, warehouse, name):
    """One occurrence on the meetings listing and two on participant listings: the sync completes."""
    knobs, fault, _, _ = FAULTS[name]

    def inject():
        emu.set_faults(**knobs)
        emu.fail_next(1, **fault, paths="list_meetings")
        emu.fail_next(2, **fault, paths="list_participants")

    outcome = run_fault(emu, warehouse, inject)
    completed(outcome)
    assert sum(1 for r in emu.requests if r.fault) == 3
    assert sum(r.retries for r in outcome.results) >= 3


@pytest.mark.parametrize("name", list(FAULTS))
def test_fault_every_time_fails_cleanly(emu, warehouse, name):
    """The fault never stops: the retry budget runs out, the error says what happened, nothing changed."""
    knobs, fault, error, words = FAULTS[name]

    def inject():
        emu.set_faults(**knobs)
        emu.fail_next(50, **fault, paths="list_meetings")

    outcome = run_fault(emu, warehouse, inject, max_attempts=3)
    failed(outcome, error, *words)
    assert [r.fault is not None for r in emu.requests] == [True] * 3
    assert "<html" not in str(outcome.error).lower()


def test_5xx_on_participants_keeps_the_committed_meetings_and_the_old_participants(emu, warehouse):
    """Meetings commit first; when participants then fail, only the participants keep their old rows."""
    outcome = run_fault(
        emu, warehouse, lambda: emu.fail_next(50, 503, paths="list_participants"), max_attempts=2
    )
    failed(outcome, ServerError)
    assert [r["table_name"] for r in outcome.runs] == ["meetings", "participants"]
    first, last = emulator_days(emu)
    assert set(stored_meetings(warehouse)) == set(truth_meetings(emu, first, last))


def test_read_timeout_once_is_retried(emu, warehouse, proxy_factory):
    """The first answer takes longer than the client's read timeout; the retry gets through."""
    proxy = proxy_factory(emu)

    def slow_first(ex: Exchange) -> None:
        if ex.number == 1:
            ex.delay = 1.5

    def inject():
        proxy.hooks.append(slow_first)

    outcome = run_fault(emu, warehouse, inject, target=proxy.base_url, timeout=0.5)
    completed(outcome)
    assert outcome.results[0].retries >= 1


def test_read_timeout_every_time_fails_as_a_transport_error(emu, warehouse):
    """Emulator latency above the client's read timeout on every request: a clean TransportError."""
    outcome = run_fault(emu, warehouse, lambda: emu.set_faults(latency_s=0.6), timeout=0.2, max_attempts=2)
    failed(outcome, TransportError, "Timeout")


def test_success_false_with_http_200_never_commits(emu, warehouse):
    """HTTP 200 whose envelope says success: false is an error answer, not an empty page: the sync may
    retry it or fail, but must never store it as data. The message carries the API's own words."""
    outcome = run_fault(emu, warehouse, lambda: emu.fail_next(1, kind="success_false", paths="list_meetings"))
    if outcome.error is not None:
        failed(outcome, BadResponseError, "success=false", "Internal error")


# ---------------------------------------------------------------------------------------- malformed pages


def once(change: Callable[[Exchange], None], endpoint: str = "list_meetings", page: int = 2):
    """A hook applying `change` to the first answer for `page` of `endpoint` only."""
    done = threading.Event()

    def hook(ex: Exchange) -> None:
        if ex.endpoint == endpoint and ex.query.get("page_no") == str(page) and not done.is_set():
            done.set()
            change(ex)

    return hook


def always(change: Callable[[Exchange], None], endpoint: str = "list_meetings", page: int = 2):
    def hook(ex: Exchange) -> None:
        if ex.endpoint == endpoint and ex.query.get("page_no") == str(page):
            change(ex)

    return hook


def edit(fn: Callable[[dict], None]) -> Callable[[Exchange], None]:
    def change(ex: Exchange) -> None:
        doc = ex.json()
        fn(doc)
        ex.set_json(doc)

    return change


MALFORMED = {
    "no paging": edit(lambda doc: doc.pop("paging")),
    "data null": edit(lambda doc: doc.update(data=None)),
    "paging null": edit(lambda doc: doc.update(paging=None)),
    "longer than per_page": edit(lambda doc: doc["data"].append(dict(doc["data"][0], id="extra-row"))),
}


@pytest.mark.parametrize("shape", sorted(MALFORMED))
@pytest.mark.parametrize("repeat", [once, always])
def test_malformed_page_never_commits_a_partial_listing(emu, warehouse, proxy_factory, shape, repeat):
    """A page the listing cannot trust (no `paging`, `data: null`, more rows than asked for) either gets
    re-fetched or fails the sync with the previous data kept; it never becomes a short day."""
    proxy = proxy_factory(emu)
    outcome = run_fault(
        emu, warehouse, lambda: proxy.hooks.append(repeat(MALFORMED[shape])), target=proxy.base_url
    )
    if outcome.error is not None:
        assert isinstance(outcome.error, BadResponseError | PagingError), repr(outcome.error)
    assert "extra-row" not in stored_meetings(warehouse)


def test_total_count_growing_mid_listing_is_survived(emu, warehouse, proxy_factory):
    proxy = proxy_factory(emu)
    grow = edit(lambda doc: doc["paging"].update(total_count=doc["paging"]["total_count"] + 3))
    completed(run_fault(emu, warehouse, lambda: proxy.hooks.append(once(grow)), target=proxy.base_url))


def page_one_tail_repeated(how: Callable) -> list[Callable[[Exchange], None]]:
    """Proxy hooks: meetings page 2 serves page 1's last row in place of its own first row (a row shifted
    by an insert); `how` (`once` or `always`) says how often."""
    seen: dict[str, dict] = {}

    def remember(ex: Exchange) -> None:
        if ex.endpoint == "list_meetings" and ex.query.get("page_no") == "1":
            seen["last"] = ex.json()["data"][-1]

    return [remember, how(edit(lambda doc: doc["data"].__setitem__(0, seen["last"])))]


def test_same_id_on_two_pages_once_is_healed_by_another_pass(emu, warehouse, proxy_factory):
    """Page 2 repeats page 1's last row in place of one of its own (a row shifted by an insert): the first
    pass is short by one id, so the listing is walked again."""
    proxy = proxy_factory(emu)
    proxy.hooks += page_one_tail_repeated(once)
    outcome = run_fault(emu, warehouse, lambda: None, target=proxy.base_url)
    completed(outcome)
    assert outcome.results[0].passes == 2


def test_same_id_on_two_pages_every_time_fails_instead_of_a_short_day(emu, warehouse, proxy_factory):
    proxy = proxy_factory(emu)
    proxy.hooks += page_one_tail_repeated(always)
    outcome = run_fault(emu, warehouse, lambda: None, target=proxy.base_url)
    failed(outcome, PagingError, "passes")


# ---------------------------------------------------------------------------------------- data moving


def test_meeting_inserted_inside_the_window_while_paging(emu, warehouse, proxy_factory):
    """A meeting created on a synced day after page 1 was served pushes every row down one place: page 2
    repeats a row and the last row seems missing. Everything that existed for the whole sync lands once."""
    proxy = proxy_factory(emu)
    _, last = emulator_days(emu)
    newest = datetime(last.year, last.month, last.day, 23, 59, 59, 999000, tzinfo=UTC)
    inserted: list[dict] = []

    def insert_after_page_1(ex: Exchange) -> None:
        if ex.endpoint == "list_meetings" and ex.query.get("page_no") == "1" and not inserted:
            inserted.append(emu.add_meeting(created_at=newest - timedelta(milliseconds=1), title="inserted"))

    def inject():
        proxy.hooks.append(insert_after_page_1)

    outcome = run_fault(emu, warehouse, inject, target=proxy.base_url)
    completed(outcome)
    assert inserted and inserted[0]["id"] in stored_meetings(warehouse)


def test_meeting_deleted_while_paging_loses_no_other_meeting(emu, warehouse, proxy_factory):
    """The API may lose a meeting mid-listing (deleted elsewhere): every later row moves up one place, so
    the row at the top of page 2 slides onto page 1, which was already read. total_count drops with it;
    the sync must notice and re-list instead of committing a day without that row."""
    first, last = emulator_days(emu)
    proxy = proxy_factory(emu)
    gone: set[str] = set()

    def serve_without_gone(ex: Exchange) -> None:
        if ex.endpoint != "list_meetings" or ex.status != 200:
            return
        q = ex.query
        rows = [
            m for m in emu.meetings(start_time=q["start_time"], end_time=q["end_time"]) if m["id"] not in gone
        ]
        size = min(int(q["per_page"]), emu.config.max_per_page)
        offset = (int(q["page_no"]) - 1) * size
        page = rows[offset : offset + size]
        paging = {"total_count": len(rows), "start_offset": offset + 1, "end_offset": offset + len(page)}
        ex.set_json({"success": True, "data": page, "paging": paging})
        if q["page_no"] == "1" and not gone:
            gone.add(page[2]["id"])  # deleted right after page 1 was read

    outcome = run_fault(
        emu, warehouse, lambda: proxy.hooks.append(serve_without_gone), target=proxy.base_url, check=False
    )
    completed(outcome)
    existing = set(truth_meetings(emu, first, last)) - gone
    stored = set(stored_meetings(warehouse))
    assert existing <= stored, f"lost meetings that existed for the whole sync: {sorted(existing - stored)}"
    assert stored <= existing | gone


def test_meeting_inserted_while_a_zero_based_listing_is_discovered(proxy_factory, tmp_path):
    """page_no base 0: the very first page the client asks for (page 1) is the server's second page, here
    also the last one, so nothing later in the walk reveals the grown total_count."""
    emu = small_emulator(meetings=12, max_per_page=8, page_base=0, participants_mean=0.0)
    try:
        first, last = emulator_days(emu)
        existing = set(truth_meetings(emu, first, last))
        proxy = proxy_factory(emu)
        newest = datetime(last.year, last.month, last.day, 23, 59, tzinfo=UTC)

        def insert_after_first_request(ex: Exchange) -> None:
            if ex.number == 1:
                emu.add_meeting(created_at=newest, title="created while listing")

        proxy.hooks.append(insert_after_first_request)
        warehouse = open_duckdb_store(tmp_path, app_id=APP)
        with client_for(proxy.base_url, emu) as client:
            sync_meetings(client, warehouse, first, last)
        stored = set(stored_meetings(warehouse))
        assert existing <= stored, (
            f"lost meetings that existed for the whole sync: {sorted(existing - stored)}"
        )
    finally:
        emu.stop()


def test_participants_deleted_while_paging(warehouse):
    """Deleting a participant already paged past shifts an unseen one onto a read page. Every participant
    that existed for the whole sync lands exactly once, and nothing that never existed appears."""
    emu = small_emulator(participants_mean=8.0, max_per_page=5)
    try:
        first, last = emulator_days(emu)
        meetings = truth_meetings(emu, first, last)
        before = set(truth_participants(emu, meetings))
        with client_for(emu) as client:
            sync_meetings(client, warehouse, first, last)
            emu.set_faults(drift_delete=0.15, seed=3)  # one worker: the same deletions on every run
            result = sync_participants(client, warehouse, first, last, workers=1)
        emu.set_faults(drift_delete=0.0)
        after = set(truth_participants(emu, meetings))
        assert emu.stats["drift"].get("delete", 0) > 0
        stored = set(stored_participants(warehouse))
        assert after <= stored <= before
        assert result.passes >= 2  # some listing was walked again because it moved
    finally:
        emu.stop()


# ---------------------------------------------------------------------------------------- auth and 404


@pytest.mark.parametrize(
    ("change", "setting"),
    [
        ({"api_token": "TOPSECRET-WRONG-TOKEN-9999"}, "CLOUDFLARE_API_TOKEN"),
        ({"account_id": "someone-elses-account"}, "CLOUDFLARE_ACCOUNT_ID"),
    ],
    ids=["401", "403"],
)
def test_auth_failure_fails_fast_naming_the_setting(emu, warehouse, change, setting):
    outcome = run_fault(emu, warehouse, lambda: None, **change)
    failed(outcome, AuthError, setting)
    assert len(emu.requests) == 1, "an auth failure must not be retried"
    assert "TOPSECRET" not in str(outcome.error) + str(outcome.runs[-1]["error"])


def test_token_revoked_between_meetings_and_participants(emu, warehouse):
    """A 401 in the middle of the participant listings: no retry of that request, the participants keep
    their previous rows, and the message says which setting to fix."""
    outcome = run_fault(emu, warehouse, lambda: emu.fail_next(1, 401, paths="list_participants"))
    failed(outcome, AuthError, "CLOUDFLARE_API_TOKEN")
    assert [r.status for r in emu.requests].count(401) == 1
    assert outcome.runs[-1]["table_name"] == "participants"


def test_404_between_list_and_participants_loses_no_stored_participant(emu, warehouse):
    """A meeting that 404s on its participants call (gone, or not yet visible on that replica) is recorded
    and the sync goes on; the participants already stored for it are not silently deleted."""
    first, last = emulator_days(emu)
    with client_for(emu) as client:
        meeting_id = max(truth_meetings(emu, first, last), key=lambda m: len(emu.participants(m)))
        kept = {k for k in stored_participants(warehouse) if k[0] == meeting_id}
        assert kept
        emu.fail_next(1, 404, paths="list_participants")
        outcome = attempt(warehouse, lambda: sync_participants(client, warehouse, first, last, workers=1))
    assert outcome.error is None
    (result,) = outcome.results
    assert len(result.missing_meetings) == 1
    missing = result.missing_meetings[0]
    still = {k for k in stored_participants(warehouse) if k[0] == missing}
    assert still == {k for k in truth_participants(emu, {missing: {}})}, "stored participants vanished"


def test_404_between_list_and_participants_is_recorded_not_fatal(emu, warehouse):
    def inject():
        emu.fail_next(1, 404, paths="list_participants")

    first, last = emulator_days(emu)
    inject()
    with client_for(emu) as client:
        outcome = attempt(warehouse, lambda: sync_range(client, warehouse, first, last, workers=4))
    assert outcome.error is None
    _, participants_result = outcome.results
    assert len(participants_result.missing_meetings) == 1
    assert [r.status for r in emu.requests].count(404) == 1
    # Everything else is exactly the ground truth.
    missing = participants_result.missing_meetings[0]
    truth = truth_participants(emu, truth_meetings(emu, first, last))
    stored = stored_participants(warehouse)
    assert {k for k in stored if k[0] != missing} == {k for k in truth if k[0] != missing}
