"""One app's rows in a shared Delta warehouse, compared with its emulator's ground truth."""

from __future__ import annotations

import json
from datetime import date, timedelta

from rtk_pipeline.emulator import Emulator
from rtk_pipeline.store.delta import DeltaStore
from tests.support.emulator import END
from tests.support.truth import (
    assert_rows_equal,
    expected_meeting,
    expected_participant,
    truth_meetings,
    truth_participants,
    ts,
)

SMALL = {"meetings": 40, "days": 3, "seed": 11, "participants_mean": 2.0}
FIRST, LAST = date(2026, 10, 29), date(2026, 10, 31)
KEYS = {"meetings": ("id",), "participants": ("meeting_id", "id")}


def app_rows(store: DeltaStore, table: str, app: str) -> dict[tuple, dict]:
    """One app's stored rows of `table` by key, read through the analyst connection (every app's rows)."""
    with store.connect(read_only=True) as con:
        cursor = con.execute(f"SELECT * FROM {table} WHERE app_id = ?", [app])
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    keyed = {tuple(r[k] for k in KEYS[table]): r for r in rows}
    assert len(keyed) == len(rows), f"a row of {app} is stored twice in {table}"
    return keyed


def decoded(row: dict) -> dict:
    out = {k: v for k, v in row.items() if k not in ("synced_at", "app_id")}
    for name in ("ai_config", "recording_config", "extra"):
        if out.get(name) is not None:
            out[name] = json.loads(out[name])
    return out


def assert_app_matches(store: DeltaStore, app: str, emu: Emulator, first: date = FIRST, last: date = LAST):
    """The app's meetings and participants of first..last equal its emulator's ground truth."""
    meetings = truth_meetings(emu, first, last)
    days = {mid: ts(m["created_at"]).date() for mid, m in meetings.items()}
    stored = {k[0]: decoded(r) for k, r in app_rows(store, "meetings", app).items()}
    assert_rows_equal(
        {k: v for k, v in stored.items() if first <= v["created_day"] <= last},
        {mid: expected_meeting(m) for mid, m in meetings.items()},
        f"meetings of {app}",
    )
    people = {k: decoded(r) for k, r in app_rows(store, "participants", app).items()}
    assert_rows_equal(
        {k: v for k, v in people.items() if first <= v["meeting_created_day"] <= last},
        {k: expected_participant(k[0], days[k[0]], p) for k, p in truth_participants(emu, meetings).items()},
        f"participants of {app}",
    )


def diverge(emu: Emulator, day: date, tag: str) -> list[str]:
    """Change some of the emulator's meetings of `day` (titles, a participant less and one more), so that
    two apps with the same ids hold different rows; returns the ids changed."""
    ids = sorted(mid for mid, m in truth_meetings(emu, day, day).items())[:4]
    later = END + timedelta(minutes=5)
    for mid in ids:
        emu.update_meeting(mid, title=f"{tag} {mid[:8]}", updated_at=later)
    for mid in ids[:2]:
        for person in emu.participants(mid)[:1]:
            emu.delete_participant(mid, person["id"])
    emu.add_participant(ids[0], name=f"{tag} guest", created_at=later)
    return ids
