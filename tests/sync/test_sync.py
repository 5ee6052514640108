"""The sync engine against the emulator's ground truth: what lands is exactly what the API holds."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest

from rtk_pipeline.emulator import Emulator, EmulatorConfig, Faults
from rtk_pipeline.errors import AuthError, PagingError, WarehouseError
from rtk_pipeline.normalize import parse_timestamp
from rtk_pipeline.store import stage
from rtk_pipeline.sync import sync_meetings, sync_participants, sync_range
from tests.support.emulator import END, client_for
from tests.support.truth import MEETING_PLAIN, query, stored_meetings, stored_participants, truth_participants

FIRST, LAST = date(2026, 10, 2), date(2026, 10, 31)  # the emulator's 30 days before END


@pytest.fixture(scope="module")
def month():
    """400 meetings over 30 days, a few at exactly 00:00 UTC, some with more than a page of participants."""
    with Emulator(EmulatorConfig(meetings=400, days=30, seed=11, end=END, participants_mean=4.0)) as emu:
        yield emu


def test_thirty_day_backfill_equals_ground_truth(month, warehouse):
    with client_for(month) as client:
        results = sync_range(client, warehouse, FIRST, LAST)
    truth = {m["id"]: m for m in month.meetings()}
    stored = stored_meetings(warehouse)
    assert set(stored) == set(truth)
    for mid, want in truth.items():
        got = stored[mid]
        for col in MEETING_PLAIN:
            if col in want:
                assert got[col] == want[col], (mid, col)
        assert got["created_at"] == parse_timestamp(want["created_at"])
        assert got["updated_at"] == parse_timestamp(want["updated_at"])
        assert got["created_day"] == parse_timestamp(want["created_at"]).date()
    assert set(stored_participants(warehouse)) == set(truth_participants(month, truth))
    meetings_result, participants_result = results
    assert meetings_result.rows == len(truth) and meetings_result.rejected == 0
    assert participants_result.rows == len(truth_participants(month, truth))
    assert participants_result.missing_meetings == []
    runs = warehouse.query_df("SELECT table_name, outcome, rows FROM sync_runs ORDER BY table_name")
    assert runs.to_dict("records") == [
        {"table_name": "meetings", "outcome": "success", "rows": len(truth)},
        {"table_name": "participants", "outcome": "success", "rows": participants_result.rows},
    ]


def test_listing_costs_the_minimum_requests(month, warehouse):
    """One wide listing for the whole range: ceil(rows / honoured page) requests, no extra empty page."""
    with client_for(month) as client:
        result = sync_meetings(client, warehouse, FIRST, LAST)
    assert result.passes == 1
    assert result.requests == -(-result.api_total_count // month.config.max_per_page)


def test_rerunning_a_day_changes_nothing(month, warehouse):
    day = date(2026, 10, 15)
    with client_for(month) as client:
        sync_range(client, warehouse, FIRST, LAST)
        # When a row was fetched, and when a meeting's participants were listed, move with every re-run.
        sql = "SELECT COLUMNS(lambda c: c NOT LIKE '%synced_at') FROM {} ORDER BY ALL"
        before = {t: warehouse.query_df(sql.format(t)) for t in ("meetings", "participants")}
        sync_range(client, warehouse, day, day)
        sync_range(client, warehouse, day, day)
    for table, frame in before.items():
        assert warehouse.query_df(sql.format(table)).equals(frame), table


def test_boundary_meeting_lands_in_exactly_one_of_two_adjacent_windows(warehouse):
    with Emulator(EmulatorConfig(meetings=50, days=5, seed=3, end=END)) as emu:
        midnight = datetime(2026, 10, 30, tzinfo=UTC)
        edge = emu.add_meeting(created_at=midnight, title="on the boundary")
        just_before = emu.add_meeting(
            created_at=midnight - timedelta(milliseconds=1), title="last ms of the 29th"
        )
        with client_for(emu) as client:
            sync_meetings(client, warehouse, date(2026, 10, 29), date(2026, 10, 29))
            sync_meetings(client, warehouse, date(2026, 10, 30), date(2026, 10, 30))
        landed = query(warehouse, "SELECT id, created_day FROM meetings")
        days = {r["id"]: r["created_day"] for r in landed}
        assert days[edge["id"]] == date(2026, 10, 30)
        assert days[just_before["id"]] == date(2026, 10, 29)
        assert len(landed) == len(days)  # no id twice
        truth = {m["id"] for m in emu.meetings(start_time=datetime(2026, 10, 29, tzinfo=UTC), end_time=END)}
        truth = {
            m
            for m in truth
            if parse_timestamp(emu.meeting(m)["created_at"]) < datetime(2026, 10, 31, tzinfo=UTC)
        }
        assert set(days) == truth


def test_unknown_fields_are_kept_and_secrets_are_not(month, warehouse, tmp_path):
    with client_for(month) as client:
        sync_range(client, warehouse, FIRST, LAST)
    extras = warehouse.query_df("SELECT id, extra FROM meetings WHERE extra IS NOT NULL")
    assert len(extras) > 0
    kept = [json.loads(e) for e in extras["extra"]]
    assert any(kept), "fields newer than the reference must land in `extra`"
    secrets = ["EMU-SECRET", "EMU-PTOKEN", month.token]
    for table in ("meetings", "participants", "rejected_records", "sync_runs"):
        text = warehouse.query_df(f"SELECT * FROM {table}").to_csv()
        for secret in secrets:
            assert secret not in text, (table, secret)
    files = list((tmp_path / "parquet").rglob("*.parquet"))
    assert files
    for path in files:
        blob = path.read_bytes()
        for secret in secrets:
            assert secret.encode() not in blob, (path, secret)
    db = (tmp_path / "rtk.duckdb").read_bytes()
    for secret in secrets:
        assert secret.encode() not in db


def test_failed_sync_keeps_previous_data_and_is_recorded(month, warehouse):
    with client_for(month) as client:
        sync_range(client, warehouse, FIRST, LAST)
    before = warehouse.query_df("SELECT * EXCLUDE (synced_at) FROM meetings ORDER BY id")
    with client_for(month, api_token="wrong-token") as bad:
        with pytest.raises(AuthError) as err:
            sync_meetings(bad, warehouse, FIRST, LAST)
    assert "CLOUDFLARE_API_TOKEN" in str(err.value) and "wrong-token" not in str(err.value)
    assert warehouse.query_df("SELECT * EXCLUDE (synced_at) FROM meetings ORDER BY id").equals(before)
    failed = warehouse.query_df("SELECT error FROM sync_runs WHERE outcome = 'failed'")
    assert len(failed) == 1 and "wrong-token" not in failed["error"][0]


def test_rows_inserted_and_moved_while_paging_are_all_there(warehouse):
    """Ordered by update time, an update moves a meeting not yet paged to the top, and inserts push rows
    down a page. Every meeting that existed for the whole sync must still land, exactly once."""
    config = EmulatorConfig(meetings=600, days=10, seed=5, end=END, order="updated_desc", participants_mean=0)
    window = {"start_time": datetime(2026, 10, 22, tzinfo=UTC), "end_time": END - timedelta(milliseconds=1)}
    with Emulator(config) as emu:
        before = {m["id"] for m in emu.meetings(**window)}
        emu.set_faults(drift_insert=0.2, drift_update=0.5, seed=2)
        with client_for(emu) as client:
            result = sync_meetings(client, warehouse, date(2026, 10, 22), date(2026, 10, 31))
        emu.set_faults(drift_insert=0.0, drift_update=0.0)
        after = {m["id"] for m in emu.meetings(**window)}
        drift = emu.stats["drift"]
    assert sum(drift.values()) > 0, "the emulator should have moved data during the listing"
    stored = warehouse.query_df("SELECT id FROM meetings")["id"].tolist()
    assert len(stored) == len(set(stored))
    assert before <= set(stored) <= after
    assert result.passes >= 1 and result.listed_ids >= result.api_total_count


def test_a_listing_that_never_settles_fails_instead_of_committing_a_short_day(warehouse):
    config = EmulatorConfig(meetings=300, days=3, seed=9, end=END, order="updated_desc", participants_mean=0)
    with Emulator(config, Faults(drift_update=1.0, drift_insert=1.0, seed=1)) as emu:
        with client_for(emu) as client:
            with pytest.raises(PagingError, match="passes"):
                sync_meetings(client, warehouse, date(2026, 10, 29), date(2026, 10, 31), max_passes=2)
    assert warehouse.query_df("SELECT count(*) AS n FROM meetings")["n"][0] == 0
    assert warehouse.query_df("SELECT outcome FROM sync_runs")["outcome"].tolist() == ["failed"]


def test_participants_of_a_meeting_that_vanished_are_recorded_not_fatal(month, warehouse):
    with client_for(month) as client:
        sync_meetings(client, warehouse, FIRST, LAST)
        month.fail_next(1, 404, paths="list_participants")
        result = sync_participants(client, warehouse, FIRST, LAST, workers=1)
    assert len(result.missing_meetings) == 1


def test_a_stage_check_that_runs_out_of_memory_says_what_to_do_and_keeps_the_days(
    month, warehouse, monkeypatch
):
    """The check of staged keys before a commit runs in a bounded DuckDB pool; running out of it (forced
    here with a tiny pool, as a far larger range would) is one error naming the rows and the remedy, and
    the days already stored stay as they were."""
    with client_for(month) as client:
        sync_meetings(client, warehouse, FIRST, LAST)
        before = stored_meetings(warehouse)
        monkeypatch.setattr(stage, "READ_MEMORY_LIMIT", "256KB")
        with pytest.raises(WarehouseError) as failed:
            sync_meetings(client, warehouse, FIRST, LAST)
    message = str(failed.value)
    assert f"checking the {len(before):,} staged meetings rows ran out of the 256KB" in message
    assert "sync a shorter range of days" in message and "stored days are unchanged" in message
    assert "SET threads" not in message  # DuckDB's advice names settings a user cannot reach
    assert stored_meetings(warehouse) == before
