"""The refresh on both backends and with two apps in one warehouse: each app's meetings and participants
end equal to its own API, and the other app's rows are exactly as they were."""

from __future__ import annotations

from typing import Any

import pytest

from rtk_pipeline.refresh import RefreshSettings, refresh
from rtk_pipeline.sync import sync_meetings
from tests.support.emulator import client_for, emulator_days
from tests.support.stores import rows

from .changes import (
    api_meetings,
    api_participants,
    make_changes,
    stored_meetings,
    stored_participants,
    today,
)
from .conftest import backfill, two_app_stores

SMALL = {"meetings": 160, "days": 12, "seed": 23}
APP_A, APP_B = "app-A", "app-B"


def _all_rows(store: Any, app: str) -> dict[str, list]:
    return {
        "meetings": sorted(rows(store, "SELECT * EXCLUDE (synced_at) FROM meetings WHERE app_id = ?", [app])),
        "participants": sorted(
            rows(store, "SELECT * EXCLUDE (synced_at) FROM participants WHERE app_id = ?", [app])
        ),
    }


@pytest.mark.parametrize("kind", ["duckdb", "delta"])
def test_refresh_of_one_app_equals_its_api_and_leaves_the_other_app_alone(emulator_factory, tmp_path, kind):
    emu_a, emu_b = emulator_factory(**SMALL, app_id=APP_A), emulator_factory(**SMALL, app_id=APP_B)
    store_a, store_b = two_app_stores(kind, tmp_path, APP_A, APP_B)
    backfill(emu_a, store_a)
    backfill(emu_b, store_b)
    before_b = _all_rows(store_b, APP_B)
    with client_for(emu_a) as client:
        make_changes(emu_a, client, joins=15, renames=5, deactivations=5, deletions=5, creations=2)
        report = refresh(client, store_a, settings=RefreshSettings())
    assert report.participants_added == 15 and report.participants_removed == 5
    assert stored_meetings(store_a, APP_A) == api_meetings(emu_a)
    assert stored_participants(store_a, APP_A) == api_participants(emu_a)
    assert _all_rows(store_b, APP_B) == before_b
    # A meetings-only re-sync of every day keeps the participants_synced_at the refresh set: the API
    # never sends it, so a re-listed row carries the stored value.
    stamps = "SELECT id, participants_synced_at FROM meetings WHERE app_id = ? ORDER BY id"
    before = rows(store_a, stamps, [APP_A])
    assert all(stamp is not None for _, stamp in before)
    first, _ = emulator_days(emu_a)
    with client_for(emu_a) as client:
        sync_meetings(client, store_a, first, today().date())
    assert rows(store_a, stamps, [APP_A]) == before
