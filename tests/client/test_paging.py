"""Full listings: every row exactly once, in the API's order, at ceil(rows / honoured page size) requests,
whatever page_no base and per_page cap the server has."""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from rtk_pipeline.errors import PagingError


def walk(pages) -> tuple[list, list]:
    pages = list(pages)
    return pages, [r["id"] for p in pages for r in p.records]


def list_requests(emu, endpoint="list_meetings") -> list:
    return [r for r in emu.requests if r.endpoint == endpoint]


@pytest.mark.parametrize("page_base", [1, 0])
@pytest.mark.parametrize(
    ("meetings", "max_per_page", "per_page"),
    [
        (0, 100, 1000),  # empty listing
        (37, 100, 1000),  # one short page
        (100, 100, 1000),  # exactly one full page at the server's cap
        (250, 100, 1000),  # server caps per_page: 3 pages
        (250, 1000, 60),  # the client's own page size is below the cap
        (1, 1, 1000),  # one row per page
        (7, 3, 1000),
    ],
)
def test_meeting_listing_is_complete_and_cheap(
    emulator_factory, make_client, page_base, meetings, max_per_page, per_page
):
    emu = emulator_factory(meetings=meetings, max_per_page=max_per_page, page_base=page_base)
    client = make_client(emu, per_page=per_page)
    truth = [m["id"] for m in emu.meetings()]
    honoured = min(per_page, max_per_page)

    pages, ids = walk(client.iter_meeting_pages())
    assert ids == truth
    assert pages[-1].total_count == meetings
    assert pages[-1].end_offset == meetings or not meetings  # an empty page's offsets say where it would be
    requests = list_requests(emu)
    # Learning that page_no counts from 0 costs one request, once: page 1, asked first, is read again.
    found_base_zero = page_base == 0 and meetings > 0
    assert len(requests) == max(1, math.ceil(meetings / honoured)) + found_base_zero
    assert all(r.status == 200 for r in requests)
    if meetings > honoured:  # once the cap shows, later pages ask for exactly it so offsets line up
        assert {int(r.query["per_page"]) for r in requests[1:]} == {honoured}

    # A second listing by the same client starts from what the first one learnt.
    emu.clear_requests()
    assert walk(client.iter_meeting_pages())[1] == truth
    assert len(list_requests(emu)) == max(1, math.ceil(meetings / honoured))


def test_pages_carry_the_evidence(emulator_factory, make_client):
    emu = emulator_factory(meetings=230, max_per_page=100)
    pages, _ = walk(make_client(emu).iter_meeting_pages())
    assert [(p.page_no, len(p.records), p.start_offset, p.end_offset, p.total_count) for p in pages] == [
        (1, 100, 1, 100, 230),
        (2, 100, 101, 200, 230),
        (3, 30, 201, 230, 230),
    ]


def test_zero_based_server_pages_in_offset_order(emulator_factory, make_client):
    emu = emulator_factory(meetings=230, max_per_page=100, page_base=0)
    pages, ids = walk(make_client(emu).iter_meeting_pages())
    assert [p.page_no for p in pages] == [0, 1, 2]
    assert [p.start_offset for p in pages] == [1, 101, 201]
    assert ids == [m["id"] for m in emu.meetings()]
    assert [int(r.query["page_no"]) for r in list_requests(emu)] == [1, 0, 1, 2]


def test_finding_a_zero_based_server_loses_no_row_to_an_insert(emulator_factory, make_client):
    """Page 1 (the server's second page) is read first; a meeting created before page 0 is read pushes
    a row from page 0's range into page 1's. Reading forward again from page 0 still sees it."""
    emu = emulator_factory(meetings=12, max_per_page=8, page_base=0, drift_insert=1.0)
    before = [m["id"] for m in emu.meetings()]
    pages, ids = walk(make_client(emu).iter_meeting_pages())
    assert set(before) <= set(ids)
    assert pages[-1].end_offset == pages[-1].total_count > 12


def test_time_window_listing_matches_ground_truth(emulator_factory, make_client):
    emu = emulator_factory(meetings=600, days=10, max_per_page=50)
    start, end = datetime(2026, 10, 24, tzinfo=UTC), datetime(2026, 10, 26, 23, 59, 59, 999000, tzinfo=UTC)
    pages, ids = walk(make_client(emu).iter_meeting_pages(start_time=start, end_time=end))
    truth = [m["id"] for m in emu.meetings(start_time=start, end_time=end)]
    assert ids == truth
    assert pages[-1].total_count == len(truth) > 50
    assert all(r.query["start_time"] == "2026-10-24T00:00:00.000Z" for r in list_requests(emu))


def test_status_and_search_filters_are_kept_on_every_page(emulator_factory, make_client):
    emu = emulator_factory(meetings=400, max_per_page=20)
    _, ids = walk(make_client(emu).iter_meeting_pages(status="ACTIVE", search="e"))
    assert ids == [m["id"] for m in emu.meetings(status="ACTIVE", search="e")]
    assert all(r.query["status"] == "ACTIVE" and r.query["search"] == "e" for r in list_requests(emu))


@pytest.mark.parametrize("page_base", [1, 0])
def test_participant_listing_over_many_pages(emulator_factory, make_client, page_base):
    emu = emulator_factory(meetings=40, participants_mean=12.0, max_per_page=4, page_base=page_base)
    client = make_client(emu)
    meeting_id = max((m["id"] for m in emu.meetings()), key=lambda mid: len(emu.participants(mid)))
    truth = [p["id"] for p in emu.participants(meeting_id)]
    assert len(truth) > 8
    pages, ids = walk(client.iter_participant_pages(meeting_id))
    assert ids == truth
    assert pages[-1].total_count == len(truth)
    assert len(list_requests(emu, "list_participants")) == math.ceil(len(truth) / 4) + (page_base == 0)
    assert "token" not in str(pages)


def test_concurrent_participant_listings_share_one_client(emulator_factory, make_client):
    """The sync engine's pattern: many meetings' participants at once from a thread pool, one client."""
    emu = emulator_factory(meetings=120, participants_mean=6.0, max_per_page=5)
    client = make_client(emu, max_in_flight=4)
    meeting_ids = [m["id"] for m in emu.meetings()]
    before = client.stats.snapshot()

    def fetch(meeting_id):
        return walk(client.iter_participant_pages(meeting_id))[1]

    with ThreadPoolExecutor(max_workers=12) as pool:
        results = dict(zip(meeting_ids, pool.map(fetch, meeting_ids), strict=True))
    assert results == {mid: [p["id"] for p in emu.participants(mid)] for mid in meeting_ids}
    spent = client.stats.snapshot() - before
    assert spent.requests == len(emu.requests)
    assert spent.bytes_received > 0
    assert (spent.retries, spent.throttled) == (0, 0)


# ---------------------------------------------------------------- data moving while we page


def test_meetings_inserted_while_paging_neither_break_nor_hide_rows(emulator_factory, make_client):
    emu = emulator_factory(meetings=300, max_per_page=20, drift_insert=0.5, fault_seed=1)
    before = {m["id"] for m in emu.meetings()}
    pages, ids = walk(make_client(emu).iter_meeting_pages())
    assert emu.stats["drift"].get("insert", 0) > 0
    assert before <= set(ids)  # inserts on top shift rows down: seen twice at worst, never lost
    assert pages[-1].end_offset == pages[-1].total_count > len(before)


def test_meetings_updated_while_paging_by_update_time(emulator_factory, make_client):
    emu = emulator_factory(
        meetings=300, max_per_page=20, order="updated_desc", drift_update=0.5, fault_seed=2
    )
    pages, ids = walk(make_client(emu).iter_meeting_pages())
    assert emu.stats["drift"].get("update", 0) > 0
    assert len(ids) == pages[-1].total_count == 300  # an update moves a row; the sync engine reconciles


def test_participants_deleted_while_paging(emulator_factory, make_client):
    emu = emulator_factory(
        meetings=40, participants_mean=12.0, max_per_page=3, drift_delete=0.5, fault_seed=4
    )
    meeting_id = max((m["id"] for m in emu.meetings()), key=lambda mid: len(emu.participants(mid)))
    before = [p["id"] for p in emu.participants(meeting_id)]
    pages, ids = walk(make_client(emu).iter_participant_pages(meeting_id))
    assert emu.stats["drift"].get("delete", 0) > 0
    assert set(ids) <= set(before)
    assert pages[-1].total_count < len(before)  # the evidence the caller needs to notice


def test_a_listing_that_drift_never_lets_end_stops_at_the_bound(emulator_factory, make_client):
    emu = emulator_factory(meetings=5, max_per_page=1, drift_insert=1.0)
    with pytest.raises(PagingError, match="still not complete after 12 pages"):
        walk(make_client(emu).iter_meeting_pages())
    assert len(list_requests(emu)) == 12  # 2 * ceil(5 / 1) + 2


def test_one_row_pages_under_update_drift_are_not_mistaken_for_a_stuck_server(emulator_factory, make_client):
    """One update between two requests moves the last row served onto the next one-row page: a repeat
    the data explains, not a server ignoring page_no."""
    emu = emulator_factory(meetings=12, max_per_page=1, order="updated_desc", drift_update=0.5, fault_seed=0)
    pages, ids = walk(make_client(emu).iter_meeting_pages())
    assert emu.stats["drift"].get("update", 0) > 0
    assert len(ids) == len(pages) == 12
    assert len(set(ids)) < 12  # rows seen twice (and others missed): the sync engine's multi-pass job
