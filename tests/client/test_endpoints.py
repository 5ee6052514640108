"""Every endpoint over real HTTP against the emulator, checked against its ground truth."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from rtk_pipeline.client import RealtimeKitClient
from rtk_pipeline.errors import NotFoundError
from rtk_pipeline.ratelimit import RateLimiter
from rtk_pipeline.settings import ApiSettings


def meeting_with_participants(emu, at_least: int = 1) -> str:
    for meeting in emu.meetings():
        if len(emu.participants(meeting["id"])) >= at_least:
            return meeting["id"]
    raise AssertionError(f"no meeting with {at_least} participants in this seed")


def test_list_meetings_returns_the_envelope(emulator, client):
    envelope = client.list_meetings(per_page=25)
    truth = emulator.meetings()
    assert envelope["success"] is True
    assert envelope["data"] == truth[:25]
    assert envelope["paging"] == {"total_count": len(truth), "start_offset": 1, "end_offset": 25}


def test_list_meetings_filters(emulator, client):
    start = datetime(2026, 10, 25, tzinfo=UTC)
    end = datetime(2026, 10, 27, 12, tzinfo=UTC)
    envelope = client.list_meetings(per_page=100, start_time=start, end_time=end, status="INACTIVE")
    truth = emulator.meetings(start_time=start, end_time=end, status="INACTIVE")
    assert 0 < len(truth) <= 100
    assert envelope["data"] == truth
    sent = emulator.requests[-1].query
    assert sent["start_time"] == "2026-10-25T00:00:00.000Z"
    assert sent["end_time"] == "2026-10-27T12:00:00.000Z"
    assert sent["status"] == "INACTIVE"


def test_times_are_sent_as_utc_z_from_any_zone_or_as_given(emulator, client):
    cest = timezone(timedelta(hours=2))
    client.list_meetings(
        start_time=datetime(2026, 10, 25, 2, 0, 0, 123456, tzinfo=cest), end_time="2026-10-26"
    )
    sent = emulator.requests[-1].query
    assert sent["start_time"] == "2026-10-25T00:00:00.123456Z"
    assert sent["end_time"] == "2026-10-26"
    client.list_meetings(start_time=datetime(2026, 10, 25, 1, 2, 3))  # naive: taken as UTC
    assert emulator.requests[-1].query["start_time"] == "2026-10-25T01:02:03.000Z"


def test_search(emulator, client):
    target = emulator.meetings()[3]
    envelope = client.list_meetings(search=target["id"])
    assert [m["id"] for m in envelope["data"]] == [target["id"]]


def test_create_get_update_replace_meeting(emulator, client):
    created = client.create_meeting({"title": "Quarterly review ✓", "record_on_start": True})
    assert created["title"] == "Quarterly review ✓"
    assert created["record_on_start"] is True
    assert client.get_meeting(created["id"]) == emulator.meeting(created["id"])

    updated = client.update_meeting(created["id"], {"title": "Renamed", "status": "INACTIVE"})
    assert (updated["title"], updated["status"], updated["record_on_start"]) == ("Renamed", "INACTIVE", True)
    assert emulator.meeting(created["id"])["title"] == "Renamed"

    replaced = client.replace_meeting(created["id"], {"title": "Replaced"})
    assert replaced["title"] == "Replaced"
    assert replaced["record_on_start"] is False  # PUT resets what it does not send
    assert emulator.meeting(created["id"]) == client.get_meeting(created["id"])
    assert [r.method for r in emulator.requests] == ["POST", "GET", "PATCH", "PUT", "GET"]


def test_get_meeting_passes_name(emulator, client):
    meeting_id = emulator.meetings()[0]["id"]
    client.get_meeting(meeting_id, name="someone")
    assert emulator.requests[-1].query == {"name": "someone"}


def test_participant_lifecycle(emulator, client):
    meeting_id = emulator.meetings()[0]["id"]
    added = client.add_participant(
        meeting_id, {"custom_participant_id": "cp-1", "preset_name": "group_call_host", "name": "Ada"}
    )
    assert added["token"]  # only add/edit/refresh hand out the join token
    participant_id = added["id"]
    got = client.get_participant(meeting_id, participant_id)
    assert "token" not in got
    assert got == next(p for p in emulator.participants(meeting_id) if p["id"] == participant_id)

    edited = client.edit_participant(meeting_id, participant_id, {"name": "Ada L."})
    assert edited["name"] == "Ada L."

    refreshed = client.refresh_participant_token(meeting_id, participant_id)
    assert set(refreshed) == {"token"}
    assert refreshed["token"] != added["token"]

    listed = client.list_participants(meeting_id, per_page=100)
    assert listed["data"] == emulator.participants(meeting_id)

    deleted = client.delete_participant(meeting_id, participant_id)
    assert deleted["custom_participant_id"] == "cp-1"
    assert participant_id not in {p["id"] for p in emulator.participants(meeting_id)}
    with pytest.raises(NotFoundError):
        client.get_participant(meeting_id, participant_id)


def test_list_participants_pages(emulator, client):
    meeting_id = meeting_with_participants(emulator, at_least=3)
    envelope = client.list_participants(meeting_id, page_no=2, per_page=1)
    assert envelope["data"] == emulator.participants(meeting_id)[1:2]
    assert envelope["paging"]["start_offset"] == 2


@pytest.mark.parametrize("weird", ["a/b", "../meetings", "..", "x?y=1#z", "meeting with spaces", "ü%2F"])
def test_ids_are_escaped_as_one_path_segment(emulator, client, weird):
    """An id never reaches another endpoint: it arrives as one (unknown) meeting id, a 404."""
    with pytest.raises(NotFoundError) as info:
        client.get_meeting(weird)
    record = emulator.requests[-1]
    assert record.endpoint == "get_meeting"
    assert info.value.status == 404


@pytest.mark.parametrize("empty", ["", None])
def test_empty_ids_are_refused_before_any_request(emulator, client, empty):
    with pytest.raises(ValueError, match="meeting_id"):
        client.get_meeting(empty)
    with pytest.raises(ValueError, match="participant_id"):
        client.delete_participant("m", empty)
    assert emulator.requests == []


def test_from_settings(emulator):
    settings = ApiSettings.from_env(emulator.env())
    with RealtimeKitClient.from_settings(settings, rate_limiter=RateLimiter(1000, 1.0)) as client:
        assert client.list_meetings(per_page=5)["data"] == emulator.meetings()[:5]
        assert client.base_url == emulator.base_url
