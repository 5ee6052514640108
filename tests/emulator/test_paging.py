"""Paging, time windows, filters and list order, checked against the emulator's ground truth and against
filters computed here independently from the full listing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest


def ids(rows: list[dict]) -> list[str]:
    return [r["id"] for r in rows]


def parse(ts: str) -> datetime:
    return datetime.fromisoformat(ts)


def rows_of(pages: list[dict]) -> list[dict]:
    return [row for page in pages for row in page["data"]]


def test_zero_rows(emulator_factory, api_for):
    api = api_for(emulator_factory(meetings=0))
    body = api.get("/meetings").json()
    assert body == {
        "data": [],
        "paging": {"total_count": 0, "start_offset": 1, "end_offset": 0},
        "success": True,
    }


def test_a_window_without_meetings_is_empty(api):
    body = api.get("/meetings", params={"start_time": "2020-01-01", "end_time": "2020-01-02"}).json()
    assert body["data"] == [] and body["paging"] == {"total_count": 0, "start_offset": 1, "end_offset": 0}


def test_exactly_one_page(emulator_factory, api_for):
    emu = emulator_factory(meetings=100)
    pages = api_for(emu).walk("/meetings", per_page=100)
    assert len(pages) == 2
    assert pages[0]["paging"] == {"total_count": 100, "start_offset": 1, "end_offset": 100}
    assert ids(pages[0]["data"]) == ids(emu.meetings())
    assert pages[1] == {
        "data": [],
        "paging": {"total_count": 100, "start_offset": 101, "end_offset": 100},
        "success": True,
    }


def test_many_pages_return_every_meeting_once_in_order(emulator, api):
    pages = api.walk("/meetings", per_page=7)
    assert len(pages) == 300 // 7 + 2
    assert ids(rows_of(pages)) == ids(emulator.meetings())
    for number, page in enumerate(pages):
        n = len(page["data"])
        assert page["paging"]["start_offset"] == number * 7 + 1
        assert page["paging"]["end_offset"] == number * 7 + n
        assert page["paging"]["total_count"] == 300


def test_per_page_defaults_to_20_and_is_capped_silently(emulator_factory, api_for, api):
    assert len(api.get("/meetings").json()["data"]) == 20
    body = api.get("/meetings", params={"per_page": 1000}).json()
    assert len(body["data"]) == 100 and body["paging"]["end_offset"] == 100
    second = api.get("/meetings", params={"per_page": 1000, "page_no": 2}).json()
    assert second["paging"]["start_offset"] == 101, "pages are cut at the cap, not at the asked size"
    small = api_for(emulator_factory(max_per_page=50, default_per_page=10))
    assert len(small.get("/meetings").json()["data"]) == 10
    assert len(small.get("/meetings", params={"per_page": 75}).json()["data"]) == 50


def test_integral_float_page_numbers_are_accepted(api):
    assert (
        api.get("/meetings", params={"page_no": "2.0", "per_page": "5.0"}).json()["paging"]["start_offset"]
        == 6
    )


def test_page_base_zero(emulator_factory, api_for, api):
    assert api.get("/meetings", params={"page_no": 0}).status_code == 400
    emu = emulator_factory(page_base=0)
    zero = api_for(emu)
    first = zero.get("/meetings", params={"page_no": 0, "per_page": 10}).json()
    assert first["paging"]["start_offset"] == 1 and ids(first["data"]) == ids(emu.meetings()[:10])
    assert zero.get("/meetings", params={"page_no": -1}).status_code == 400
    assert zero.get("/meetings").json()["paging"]["start_offset"] == 1, "no page_no = the first page"
    assert ids(rows_of(zero.walk("/meetings", per_page=40))) == ids(emu.meetings())


def test_generated_data_has_meetings_exactly_on_day_boundaries(emulator):
    assert any(m["created_at"].endswith("T00:00:00.000Z") for m in emulator.meetings())


def test_window_bounds_are_inclusive_on_created_at(emulator, api):
    midnight = datetime(2026, 10, 25, tzinfo=UTC)
    on_boundary = emulator.add_meeting(created_at=midnight, title="boundary")["id"]
    day = {"start_time": "2026-10-25T00:00:00Z", "end_time": "2026-10-25T23:59:59.999Z", "per_page": 100}
    day_before = {"start_time": "2026-10-24T00:00:00Z", "end_time": "2026-10-25T00:00:00Z", "per_page": 100}
    just_after = {
        "start_time": "2026-10-25T00:00:00.001Z",
        "end_time": "2026-10-26T00:00:00Z",
        "per_page": 100,
    }
    assert on_boundary in ids(rows_of(api.walk("/meetings", **day)))
    assert on_boundary in ids(rows_of(api.walk("/meetings", **day_before)))
    assert on_boundary not in ids(rows_of(api.walk("/meetings", **just_after)))


def test_each_day_window_matches_an_independent_filter(emulator, api):
    everything = emulator.meetings()
    for offset in range(10):
        start = datetime(2026, 10, 22, tzinfo=UTC) + timedelta(days=offset)
        end = start + timedelta(days=1)
        expected = [m["id"] for m in everything if start <= parse(m["created_at"]) <= end]
        params = {"start_time": start.isoformat(), "end_time": end.isoformat(), "per_page": 100}
        pages = api.walk("/meetings", **params)
        assert ids(rows_of(pages)) == expected
        assert pages[0]["paging"]["total_count"] == len(expected)


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("2026-10-25", "2026-10-26"),
        ("2026-10-25T02:00:00+02:00", "2026-10-26T02:00:00+02:00"),
        ("2026-10-25T00:00:00.000000000Z", "2026-10-26T00:00:00.000000000Z"),
        ("2026-10-25T00:00:00", "2026-10-26T00:00:00"),
    ],
)
def test_iso_8601_variants_mean_the_same_window(api, start, end):
    reference = api.get(
        "/meetings", params={"start_time": "2026-10-25T00:00:00Z", "end_time": "2026-10-26T00:00Z"}
    )
    r = api.get("/meetings", params={"start_time": start, "end_time": end})
    assert r.status_code == 200 and r.json() == reference.json()


def test_sub_millisecond_bounds_round_inwards(emulator, api):
    emulator.add_meeting(created_at="2026-10-30T12:00:00.500Z")
    params = {"start_time": "2026-10-30T12:00:00.5001Z", "end_time": "2026-10-30T12:00:00.5009Z"}
    assert api.get("/meetings", params=params).json()["paging"]["total_count"] == 0
    params = {"start_time": "2026-10-30T12:00:00.4999Z", "end_time": "2026-10-30T12:00:00.500999Z"}
    assert api.get("/meetings", params=params).json()["paging"]["total_count"] == 1


def test_start_after_end_is_empty(api):
    params = {"start_time": "2026-10-30T00:00:00Z", "end_time": "2026-10-29T00:00:00Z"}
    assert api.get("/meetings", params=params).json()["paging"]["total_count"] == 0


def test_status_filter(emulator, api):
    everything = emulator.meetings()
    for status in ("ACTIVE", "INACTIVE"):
        rows = rows_of(api.walk("/meetings", status=status, per_page=100))
        assert ids(rows) == [m["id"] for m in everything if m["status"] == status]
    mid = emulator.meetings(status="ACTIVE")[0]["id"]
    api.patch(f"/meetings/{mid}", json={"status": "INACTIVE"})
    assert mid in ids(rows_of(api.walk("/meetings", status="INACTIVE", per_page=100)))


def test_search_matches_title_case_insensitively_or_id(emulator, api):
    everything = emulator.meetings()
    for needle in ("LAUNCH", "встреча", "ü"):
        expected = [m["id"] for m in everything if needle.casefold() in (m.get("title") or "").casefold()]
        assert expected, needle
        assert ids(rows_of(api.walk("/meetings", search=needle, per_page=100))) == expected
    target = everything[42]["id"]
    assert ids(api.get("/meetings", params={"search": target[:13].upper()}).json()["data"]) == [target]


def test_filters_combine(emulator, api):
    params = {"start_time": "2026-10-25", "end_time": "2026-10-28", "status": "ACTIVE", "search": "a"}
    expected = emulator.meetings(start_time="2026-10-25", end_time="2026-10-28", status="ACTIVE", search="a")
    assert expected
    assert all(
        m["status"] == "ACTIVE" and "a" in (m.get("title") or "").casefold() + m["id"] for m in expected
    )
    assert ids(rows_of(api.walk("/meetings", per_page=30, **params))) == ids(expected)


def test_created_order_is_newest_first_with_ties_by_id(emulator, api):
    rows = rows_of(api.walk("/meetings", per_page=100))
    keys = [(r["created_at"], r["id"]) for r in rows]
    assert keys == sorted(keys, reverse=True)
    assert len({r["created_at"] for r in rows}) < len(rows), "the data has ties to break"


def test_updated_order_follows_writes(emulator_factory, api_for):
    emu = emulator_factory(order="updated_desc")
    api = api_for(emu)
    rows = rows_of(api.walk("/meetings", per_page=100))
    keys = [(r["updated_at"], r["id"]) for r in rows]
    assert keys == sorted(keys, reverse=True) and ids(rows) == ids(emu.meetings())
    oldest = rows[-1]["id"]
    api.patch(f"/meetings/{oldest}", json={"title": "touched"})
    assert api.get("/meetings").json()["data"][0]["id"] == oldest
    window = {"start_time": "2026-10-25", "end_time": "2026-10-26T00:00:00Z", "per_page": 100}
    in_window = rows_of(api.walk("/meetings", **window))
    keys = [(r["updated_at"], r["id"]) for r in in_window]
    assert keys == sorted(keys, reverse=True)
    assert all("2026-10-25" <= r["created_at"] <= "2026-10-26T00:00:00.000Z" for r in in_window)


def test_participants_page_like_meetings(emulator, api):
    big = next(m["id"] for m in emulator.meetings() if len(emulator.participants(m["id"])) > 100)
    truth = emulator.participants(big)
    pages = api.walk(f"/meetings/{big}/participants", per_page=500)
    assert [len(p["data"]) for p in pages[:-1]] == [100] * (len(pages) - 2) + [
        len(truth) - 100 * (len(pages) - 2)
    ]
    assert rows_of(pages) == truth
    keys = [(p["created_at"], p["id"]) for p in truth]
    assert keys == sorted(keys), "participants are listed oldest first"
    past_end = (len(pages) - 1) * 100 + 1
    assert pages[-1]["paging"] == {
        "total_count": len(truth),
        "start_offset": past_end,
        "end_offset": past_end - 1,
    }


def test_a_meeting_without_participants_lists_none(emulator, api):
    empty = next(m["id"] for m in emulator.meetings() if not emulator.participants(m["id"]))
    body = api.get(f"/meetings/{empty}/participants").json()
    assert body == {
        "data": [],
        "paging": {"total_count": 0, "start_offset": 1, "end_offset": 0},
        "success": True,
    }
