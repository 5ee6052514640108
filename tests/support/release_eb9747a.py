"""The warehouses release eb9747a wrote (before meetings.participants_synced_at), shared by the DuckDB and
Delta migration tests: what they hold and the emulator of their first app (tests/store/fixtures/
make-release-eb9747a.sh writes both)."""

from __future__ import annotations

from datetime import UTC, datetime

from rtk_pipeline.emulator import EmulatorConfig

TABLES = ("meetings", "participants", "rejected_records", "sync_runs", "meeting_deactivations")
# Rows per (table, app): app-one backfilled 3 days, a dry-run deactivation, a failed backfill; app-two 2 days.
COUNTS = {
    ("meetings", "app-one"): 30,
    ("meetings", "app-two"): 20,
    ("participants", "app-one"): 179,
    ("participants", "app-two"): 204,
    ("sync_runs", "app-one"): 3,
    ("sync_runs", "app-two"): 2,
    ("meeting_deactivations", "app-one"): 29,
}
# app-one's emulator as the release saw it (rooms=0: today's emulator then serves the release's data).
APP_ONE = EmulatorConfig(
    meetings=30,
    days=3,
    seed=17,
    end=datetime(2026, 11, 1, tzinfo=UTC),
    rooms=0,
    token="tok-app-one",
    account_id="acc-release",
    app_id="app-one",
)
NEW = "participants_synced_at"  # the column issue 19 added
