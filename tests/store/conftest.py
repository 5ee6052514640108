"""Fixtures for the store tests: API-shaped record builders (the fresh `warehouse` is tests/conftest.py's)."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

import pytest

from rtk_pipeline.normalize import normalize_meetings, normalize_participants
from rtk_pipeline.store import DuckDBStore, SyncRun
from tests.support.stores import rows

SYNCED = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
_ids = itertools.count(1)


def iso(moment: datetime) -> str:
    """The API's usual form: milliseconds and a Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def meeting(day: date, *, hour: int = 10, **fields) -> dict:
    """A meeting record as the list endpoint returns it, created on `day` (UTC)."""
    created = datetime(day.year, day.month, day.day, hour, tzinfo=UTC)
    record = {
        "id": f"m-{next(_ids):06d}",
        "title": "Weekly sync",
        "status": "ACTIVE",
        "created_at": iso(created),
        "updated_at": iso(created + timedelta(minutes=5)),
        "live_stream_on_start": False,
        "persist_chat": False,
        "record_on_start": False,
        "session_keep_alive_time_in_secs": 60,
        "summarize_on_end": False,
    }
    record.update(fields)
    return record


def participant(created: datetime, **fields) -> dict:
    record = {
        "id": f"p-{next(_ids):06d}",
        "custom_participant_id": f"cp-{next(_ids)}",
        "preset_name": "group_call_participant",
        "name": "Ada",
        "picture": None,
        "created_at": iso(created),
        "updated_at": iso(created),
    }
    record.update(fields)
    return record


def sync_meetings(
    wh: DuckDBStore, days: list[date], records: list[dict], *, run_id: str = "run", synced=SYNCED
):
    """What the sync engine does for one window: stage pages, then one commit."""
    with wh.stage("meetings", days) as stage:
        for start in range(0, len(records), 50):
            stage.write(normalize_meetings(records[start : start + 50], synced_at=synced))
        return wh.commit([stage], SyncRun(run_id=run_id, table_name="meetings"))


def sync_participants(wh: DuckDBStore, days: list[date], by_meeting: dict[tuple[str, date], list[dict]]):
    with wh.stage("participants", days) as stage:
        for (meeting_id, day), records in by_meeting.items():
            stage.write(normalize_participants(meeting_id, day, records, synced_at=SYNCED))
        return wh.commit([stage], SyncRun(run_id="run-p", table_name="participants"))


@pytest.fixture
def api() -> SimpleNamespace:
    """Record builders and warehouse helpers (fixtures, as test modules cannot import each other here)."""
    return SimpleNamespace(
        SYNCED=SYNCED,
        iso=iso,
        meeting=meeting,
        participant=participant,
        sync_meetings=sync_meetings,
        sync_participants=sync_participants,
        rows=rows,
    )
