"""Reusable rooms: meetings whose participants keep arriving for weeks, as time passes on the emulator clock,
and a ground truth that follows them and every write made through the API."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from rtk_pipeline.emulator import Emulator, EmulatorConfig
from rtk_pipeline.emulator.records import scrub
from tests.support.emulator import END, pass_time
from tests.support.truth import truth_all_meetings, truth_participants

# sha256 of every listing page (meetings, then each meeting's participants, 7 per page) that main served
# before rooms existed, for EmulatorConfig(meetings=150, days=20, seed=19, end=END, max_per_page=7).
MAIN_LISTINGS = "2268c8e7161f34af8e86d761359f54328b5f369fc37ce51b8d3381548692437f"


def parse(ts: str) -> datetime:
    return datetime.fromisoformat(ts)


def listings_digest(api) -> str:
    """sha256 over the bytes of every page: the meetings, then each meeting's participants."""
    digest = hashlib.sha256()

    def walk(path: str) -> list[str]:
        ids, page_no = [], api.emu.config.page_base
        while True:
            r = api.get(path, params={"per_page": 7, "page_no": page_no})
            assert r.status_code == 200, r.text
            digest.update(r.content)
            if not r.json()["data"]:
                return ids
            ids += [row["id"] for row in r.json()["data"]]
            page_no += 1

    for mid in walk("/meetings"):
        walk(f"/meetings/{mid}/participants")
    return digest.hexdigest()


def test_rooms_zero_serves_byte_for_byte_what_main_served(emulator_factory, api_for):
    emu = emulator_factory(meetings=150, days=20, seed=19, max_per_page=7, rooms=0)
    assert emu.rooms() == []
    assert listings_digest(api_for(emu)) == MAIN_LISTINGS


def test_rooms_leave_the_other_meetings_as_they_were():
    config = {"meetings": 400, "days": 30, "seed": 3, "end": END}
    plain, rooms = Emulator(EmulatorConfig(**config, rooms=0)), Emulator(EmulatorConfig(**config))
    assert plain.meetings() == rooms.meetings()
    room_ids = set(rooms.rooms())
    for m in rooms.meetings():
        before, after = plain.participants(m["id"]), rooms.participants(m["id"])
        if m["id"] in room_ids:
            assert all(p in after for p in before), "a room keeps its first session's participants"
        else:
            assert after == before


@pytest.mark.parametrize("share", [0.1, 0.33, 0.8])
def test_the_rooms_share_is_respected(share):
    emu = Emulator(EmulatorConfig(meetings=1500, days=30, seed=5, end=END, rooms=share))
    assert abs(len(emu.rooms()) / 1500 - share) < 0.05


def test_about_a_third_are_rooms_by_default():
    emu = Emulator(EmulatorConfig(meetings=1500, days=30, seed=5, end=END))
    assert abs(len(emu.rooms()) / 1500 - 1 / 3) < 0.05


def test_a_rooms_participants_span_weeks_and_some_are_edited_later():
    emu = Emulator(EmulatorConfig(meetings=600, days=60, seed=8, end=END))
    spans, edited = [], 0
    for mid in emu.rooms():
        meeting, people = emu.meeting(mid), emu.participants(mid)
        assert all(
            parse(meeting["created_at"]) <= parse(p["created_at"]) <= parse(p["updated_at"]) < END
            for p in people
        )
        if meeting["status"] == "ACTIVE" and parse(meeting["created_at"]) < END - timedelta(days=30):
            spans.append(parse(people[-1]["created_at"]) - parse(meeting["created_at"]))
        edited += sum(parse(p["updated_at"]) - parse(p["created_at"]) > timedelta(days=1) for p in people)
    assert spans and sum(s > timedelta(days=21) for s in spans) > len(spans) // 2, "weeks of arrivals"
    assert edited > 10, "some participants are edited days after they joined"
    ids = [p["custom_participant_id"] for mid in emu.rooms() for p in emu.participants(mid)]
    assert len(ids) == len(set(ids)), "a new participant per join"


def test_arrivals_follow_the_clock_not_the_wall(emulator, api):
    room = next(mid for mid in emulator.rooms() if emulator.meeting(mid)["status"] == "ACTIVE")
    path = f"/meetings/{room}/participants"
    listed = lambda: [p for page in api.walk(path, per_page=100) for p in page["data"]]  # noqa: E731
    before = listed()
    assert before == emulator.participants(room)
    assert all(parse(p["created_at"]) < END for p in before), "arrivals stop at the end of the data"
    pass_time(emulator, 1)
    emulator.clock.advance(70 * 86400)
    after = listed()
    assert after == emulator.participants(room)
    assert len(after) > len(before), "ten weeks later the room has new participants"
    assert {p["id"] for p in before} <= {p["id"] for p in after}
    now = emulator.clock.now()
    assert all(parse(p["created_at"]) <= now for p in after), "nobody arrives from the future"


def test_the_same_seed_gives_the_same_arrivals_whatever_was_read_when():
    config = EmulatorConfig(meetings=200, days=20, seed=2, end=END)
    one, two = Emulator(config), Emulator(config)
    rooms = one.rooms()
    assert [one.participants(mid) for mid in rooms] == [two.participants(mid) for mid in reversed(rooms)][
        ::-1
    ]
    later = max(one.clock.now(), two.clock.now()) + timedelta(days=30)
    one.clock.set(later)
    two.clock.set(later)
    assert [one.participants(mid) for mid in rooms] == [two.participants(mid) for mid in rooms]


def test_api_writes_are_in_the_truth_and_arrivals_keep_coming(emulator, api):
    # The data ends on END, the writes below happen at the wall time: first bring the rooms up to it.
    emulator.clock.set(emulator.clock.now())
    active = [mid for mid in emulator.rooms() if emulator.meeting(mid)["status"] == "ACTIVE"]
    room = next(mid for mid in active if len(emulator.participants(mid)) >= 2)
    other = next(mid for mid in active if mid != room)
    people = emulator.participants(room)
    first, last = people[0]["id"], people[-1]["id"]
    body = {"custom_participant_id": "late", "preset_name": "group_call_host"}
    added = api.post(f"/meetings/{room}/participants", json=body)
    edited = api.patch(f"/meetings/{room}/participants/{first}", json={"name": "Renamed"})
    deleted = api.delete(f"/meetings/{room}/participants/{last}")
    renamed = api.patch(f"/meetings/{other}", json={"title": "Standup (renamed)", "status": "INACTIVE"})
    assert [r.status_code for r in (added, edited, deleted, renamed)] == [201, 200, 200, 200]
    truth = emulator.participants(room)
    ids = {p["id"] for p in truth}
    assert added.json()["data"]["id"] in ids and last not in ids
    assert next(p for p in truth if p["id"] == first)["name"] == "Renamed"
    meeting = truth_all_meetings(emulator)[other]
    assert (meeting["title"], meeting["status"]) == ("Standup (renamed)", "INACTIVE")
    closed = emulator.participants(other)
    pass_time(emulator, 60)
    later = emulator.participants(room)
    assert len(later) > len(truth), "the room written through the API still gains arrivals"
    assert ids <= {p["id"] for p in later}, "arrivals add to the room, edits change it in place"
    assert next(p for p in later if p["id"] == first)["name"] == "Renamed"
    assert emulator.participants(other) == closed, "an INACTIVE room takes no new participants"
    listed = [p for page in api.walk(f"/meetings/{room}/participants", per_page=100) for p in page["data"]]
    assert listed == later


def test_truth_of_every_day_equals_what_the_api_serves(emulator, api):
    pass_time(emulator, 14)
    listed = {m["id"]: m for page in api.walk("/meetings", per_page=100) for m in page["data"]}
    truth = truth_all_meetings(emulator)
    assert scrub(listed) == truth
    some = list(truth)[::7]
    served = {
        (mid, p["id"]): p
        for mid in some
        for page in api.walk(f"/meetings/{mid}/participants", per_page=100)
        for p in page["data"]
    }
    assert served == truth_participants(emulator, some)


def test_the_rooms_option_is_checked():
    with pytest.raises(ValueError, match="rooms"):
        EmulatorConfig(rooms=1.5)
    assert EmulatorConfig(end=datetime(2026, 1, 1, tzinfo=UTC)).rooms == 0.33
