"""The official `cloudflare` SDK (generated from Cloudflare's OpenAPI spec) calls all 11 meeting endpoints
against the emulator: every call succeeds and parses into the SDK's response models with the fields set."""

from __future__ import annotations

from datetime import UTC, datetime

import cloudflare
import pytest
from cloudflare.types.realtime_kit import (
    MeetingAddParticipantResponse,
    MeetingCreateResponse,
    MeetingDeleteMeetingParticipantResponse,
    MeetingEditParticipantResponse,
    MeetingGetMeetingByIDResponse,
    MeetingGetMeetingParticipantResponse,
    MeetingGetMeetingParticipantsResponse,
    MeetingGetResponse,
    MeetingRefreshParticipantTokenResponse,
    MeetingReplaceMeetingByIDResponse,
    MeetingUpdateMeetingByIDResponse,
)


@pytest.fixture
def sdk(emulator):
    client = cloudflare.Cloudflare(api_token=emulator.token, base_url=emulator.base_url, max_retries=0)
    yield client.realtime_kit.meetings
    client.close()


def test_sdk_calls_all_eleven_endpoints(emulator, sdk):
    where = {"account_id": emulator.account_id}
    ids = {"account_id": emulator.account_id, "app_id": emulator.app_id}

    listing = sdk.get(
        emulator.app_id,
        **where,
        start_time=datetime(2026, 10, 25, tzinfo=UTC),
        end_time=datetime(2026, 10, 31, 23, 59, 59, 999000, tzinfo=UTC),
        status="ACTIVE",
        page_no=1,
        per_page=5,
    )
    assert isinstance(listing, MeetingGetResponse) and listing.success is True
    assert len(listing.data) == 5 and listing.paging.start_offset == 1 and listing.paging.end_offset == 5
    expected = emulator.meetings(
        start_time="2026-10-25", end_time="2026-10-31T23:59:59.999Z", status="ACTIVE"
    )
    assert listing.paging.total_count == len(expected)
    assert [m.id for m in listing.data] == [m["id"] for m in expected[:5]]
    assert all(isinstance(m.created_at, datetime) and m.status == "ACTIVE" for m in listing.data)

    created = sdk.create(
        emulator.app_id,
        **where,
        title="SDK fidelity 🧪",
        record_on_start=True,
        persist_chat=True,
        session_keep_alive_time_in_secs=120,
        summarize_on_end=True,
        transcribe_on_end=True,
        ai_config={
            "summarization": {"summary_type": "code_review", "text_format": "markdown", "word_limit": 300}
        },
        recording_config={
            "max_seconds": 3600,
            "storage_config": {"type": "aws", "access_key": "AK", "secret": "S", "region": "us-east-1"},
            "video_config": {"codec": "VP8", "width": 1280, "height": 720},
        },
    )
    assert isinstance(created, MeetingCreateResponse) and created.success is True
    meeting = created.data
    assert (
        meeting.title == "SDK fidelity 🧪" and meeting.record_on_start is True and meeting.transcribe_on_end
    )
    assert meeting.session_keep_alive_time_in_secs == 120 and meeting.status == "ACTIVE"
    assert meeting.ai_config.summarization.summary_type == "code_review"
    assert (
        meeting.recording_config.max_seconds == 3600 and meeting.recording_config.video_config.codec == "VP8"
    )
    assert meeting.created_at == meeting.updated_at and meeting.created_at.tzinfo is not None

    got = sdk.get_meeting_by_id(meeting.id, **ids, name="ignored")
    assert isinstance(got, MeetingGetMeetingByIDResponse) and got.data.id == meeting.id
    assert got.data.title == meeting.title and got.data.recording_config is not None

    updated = sdk.update_meeting_by_id(meeting.id, **ids, status="INACTIVE", title="renamed")
    assert isinstance(updated, MeetingUpdateMeetingByIDResponse)
    assert updated.data.status == "INACTIVE" and updated.data.title == "renamed"
    assert updated.data.updated_at > meeting.updated_at and updated.data.persist_chat is True

    replaced = sdk.replace_meeting_by_id(meeting.id, **ids, title="replaced", live_stream_on_start=True)
    assert isinstance(replaced, MeetingReplaceMeetingByIDResponse)
    assert replaced.data.title == "replaced" and replaced.data.live_stream_on_start is True
    assert replaced.data.persist_chat is False and replaced.data.status == "INACTIVE"

    added = sdk.add_participant(
        meeting.id,
        **ids,
        custom_participant_id="sdk-user-1",
        preset_name="group_call_host",
        name="Mary Sue",
        picture="https://i.imgur.com/test.jpg",
    )
    assert isinstance(added, MeetingAddParticipantResponse) and added.success is True
    participant = added.data
    assert participant.token.startswith("EMU-PTOKEN-") and participant.custom_participant_id == "sdk-user-1"
    assert participant.preset_name == "group_call_host" and isinstance(participant.created_at, datetime)

    participants = sdk.get_meeting_participants(meeting.id, **ids, page_no=1, per_page=10)
    assert isinstance(participants, MeetingGetMeetingParticipantsResponse)
    assert [p.id for p in participants.data] == [participant.id] and participants.paging.total_count == 1

    one = sdk.get_meeting_participant(participant.id, **ids, meeting_id=meeting.id)
    assert isinstance(one, MeetingGetMeetingParticipantResponse)
    assert one.data.id == participant.id and one.data.name == "Mary Sue"

    edited = sdk.edit_participant(participant.id, **ids, meeting_id=meeting.id, name="Jane Doe")
    assert isinstance(edited, MeetingEditParticipantResponse)
    assert edited.data.name == "Jane Doe" and edited.data.token == participant.token

    refreshed = sdk.refresh_participant_token(participant.id, **ids, meeting_id=meeting.id)
    assert isinstance(refreshed, MeetingRefreshParticipantTokenResponse)
    assert refreshed.success is True and refreshed.data.token != participant.token

    deleted = sdk.delete_meeting_participant(participant.id, **ids, meeting_id=meeting.id)
    assert isinstance(deleted, MeetingDeleteMeetingParticipantResponse) and deleted.success is True
    assert deleted.data.custom_participant_id == "sdk-user-1" and deleted.data.preset_id
    assert isinstance(deleted.data.created_at, datetime) and isinstance(deleted.data.updated_at, datetime)

    assert emulator.participants(meeting.id) == []
    assert emulator.meeting(meeting.id)["title"] == "replaced"
    endpoints = [r.endpoint for r in emulator.requests]
    assert len(set(endpoints)) == 11 and all(r.status < 300 for r in emulator.requests)


def test_sdk_parses_every_generated_meeting(emulator, sdk):
    """Each list row and each full meeting (unicode, nulls, absent fields, newer fields, storage credentials)
    parses into the SDK's models."""
    rows = []
    for page_no in range(1, 4):
        rows += sdk.get(emulator.app_id, account_id=emulator.account_id, page_no=page_no, per_page=100).data
    assert [m.id for m in rows] == [m["id"] for m in emulator.meetings()]
    for row in rows[::15]:
        full = sdk.get_meeting_by_id(row.id, account_id=emulator.account_id, app_id=emulator.app_id).data
        assert full.id == row.id and full.created_at == row.created_at and full.recording_config is not None


def test_sdk_surfaces_the_emulators_errors(emulator, sdk):
    with pytest.raises(cloudflare.NotFoundError):
        sdk.get_meeting_by_id(
            "00000000-0000-4000-8000-000000000000", account_id=emulator.account_id, app_id=emulator.app_id
        )
    with pytest.raises(cloudflare.BadRequestError):
        sdk.get(emulator.app_id, account_id=emulator.account_id, per_page=0)
    with pytest.raises(cloudflare.PermissionDeniedError):
        sdk.get(emulator.app_id, account_id="someone-else")
