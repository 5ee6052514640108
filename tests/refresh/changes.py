"""The acceptance run's changes, made through the API as a user's apps would (issue 19, "Done when"), and
the API's state to compare the warehouse with."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from rtk_pipeline.client import RealtimeKitClient
from rtk_pipeline.emulator import Emulator
from rtk_pipeline.store import SqlReads
from tests.support.stores import rows
from tests.support.truth import ts

PAGE = 100  # the emulator's per_page cap


@dataclass
class Changes:
    joined: list[tuple[str, str]] = field(default_factory=list)  # (meeting id, participant id) added
    renamed: list[str] = field(default_factory=list)
    deactivated: list[str] = field(default_factory=list)
    deleted: list[tuple[str, str]] = field(default_factory=list)
    created: list[str] = field(default_factory=list)


def older_active(emu: Emulator, *, days_back: int = 4) -> list[str]:
    """ACTIVE meetings created more than `days_back` days before the data's end: what the daily schedule's
    lookback no longer re-syncs."""
    cutoff = emu.config.end - timedelta(days=days_back)
    return [m["id"] for m in emu.meetings() if m["status"] == "ACTIVE" and ts(m["created_at"]) < cutoff]


def join(client: RealtimeKitClient, meeting_id: str, tag: str) -> str:
    body = {
        "custom_participant_id": f"late-{tag}",
        "preset_name": "group_call_participant",
        "name": f"Late {tag}",
    }
    return str(client.add_participant(meeting_id, body)["id"])


def make_changes(
    emu: Emulator,
    client: RealtimeKitClient,
    *,
    joins: int = 60,
    renames: int = 20,
    deactivations: int = 10,
    deletions: int = 10,
    creations: int = 5,
) -> Changes:
    """Participants added to older ACTIVE meetings, meetings renamed and set INACTIVE, participants
    deleted, meetings created today; each through the API."""
    older = older_active(emu)
    assert len(older) >= joins + renames + deactivations, "the emulator holds too few older meetings"
    done = Changes()
    for n, meeting_id in enumerate(older[:joins]):
        done.joined.append((meeting_id, join(client, meeting_id, str(n))))
    for n, meeting_id in enumerate(older[joins : joins + renames]):
        client.update_meeting(meeting_id, {"title": f"Renamed room {n}"})
        done.renamed.append(meeting_id)
    for meeting_id in older[joins + renames : joins + renames + deactivations]:
        client.update_meeting(meeting_id, {"status": "INACTIVE"})
        done.deactivated.append(meeting_id)
    with_people = [m for m in reversed(older) if emu.participants(m)]
    for meeting_id in with_people[:deletions]:
        participant = emu.participants(meeting_id)[0]["id"]
        client.delete_participant(meeting_id, participant)
        done.deleted.append((meeting_id, participant))
    for n in range(creations):
        done.created.append(str(client.create_meeting({"title": f"Created today {n}"})["id"]))
    return done


def api_meetings(emu: Emulator) -> dict[str, tuple]:
    return {m["id"]: (m.get("title"), m.get("status")) for m in emu.meetings()}


def api_participants(emu: Emulator) -> dict[tuple[str, str], tuple]:
    return {
        (m["id"], p["id"]): (p.get("name"), p.get("preset_name"))
        for m in emu.meetings()
        for p in emu.participants(m["id"])
    }


def stored_meetings(store: SqlReads, app_id: str) -> dict[str, tuple]:
    got = rows(store, "SELECT id, title, status FROM meetings WHERE app_id = ?", [app_id])
    return {i: (title, status) for i, title, status in got}


def stored_participants(store: SqlReads, app_id: str) -> dict[tuple[str, str], tuple]:
    got = rows(store, "SELECT meeting_id, id, name, preset_name FROM participants WHERE app_id = ?", [app_id])
    return {(m, i): (name, preset) for m, i, name, preset in got}


def ideal_requests(emu: Emulator) -> int:
    """One listing of every meeting plus each ACTIVE meeting's participant pages (issue 19's ideal)."""
    meetings = emu.meetings()
    listing = max(1, math.ceil(len(meetings) / PAGE))
    return listing + sum(
        max(1, math.ceil(len(emu.participants(m["id"])) / PAGE)) for m in meetings if m["status"] == "ACTIVE"
    )


def today() -> datetime:
    return datetime.now(UTC)


def assert_converged(store: SqlReads, emu: Emulator) -> None:
    """After a refresh under drift, then one without: every meeting row and every ACTIVE meeting's
    participants equal the API. An INACTIVE meeting is listed once, so a participant drift deleted right
    after that listing stays (nothing tells the refresh): the API's participants are a subset."""
    assert stored_meetings(store, emu.app_id) == api_meetings(emu)
    active = {m for m, (_, status) in api_meetings(emu).items() if status == "ACTIVE"}
    stored, api = stored_participants(store, emu.app_id), api_participants(emu)
    assert {k: v for k, v in stored.items() if k[0] in active} == {
        k: v for k, v in api.items() if k[0] in active
    }
    assert set(api) <= set(stored)
