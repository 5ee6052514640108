"""The real job over a partition range, against the emulator: same tables as the CLI's library path and
as the emulator's ground truth, one wide listing per run, per-partition metadata, every check passing."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

from dagster import AssetRecordsFilter

from rtk_pipeline.sync import sync_range
from tests.support.emulator import client_for
from tests.support.names import MEETINGS, M, P
from tests.support.stores import open_duckdb_store, rows

MEETING_COLUMNS = (
    "id, title, status, created_at, updated_at, record_on_start, recording_config, extra, created_day"
)
PARTICIPANT_COLUMNS = (
    "meeting_id, id, custom_participant_id, preset_name, name, created_at, meeting_created_day"
)


def _tables(path: Path) -> tuple[list[tuple], list[tuple]]:
    return (
        rows(path, f"SELECT {MEETING_COLUMNS} FROM meetings ORDER BY id"),
        rows(path, f"SELECT {PARTICIPANT_COLUMNS} FROM participants ORDER BY meeting_id, id"),
    )


def test_range_run_equals_cli_path_and_ground_truth(
    emu, rtk_env, instance, run_job, check_results, window, token, tmp_path
):
    first, last = window
    result = run_job(instance, first, last)
    assert result.success

    # The library path the CLI (`rtk-pipeline backfill`) takes, into a second warehouse.
    cli_wh = open_duckdb_store(tmp_path / "cli", app_id=emu.app_id)
    with client_for(emu) as client:
        sync_range(client, cli_wh, first, last)
    dagster_meetings, dagster_participants = _tables(Path(rtk_env["RTK_DUCKDB_PATH"]))
    cli_meetings, cli_participants = _tables(cli_wh.duckdb_path)
    assert dagster_meetings == cli_meetings
    assert dagster_participants == cli_participants

    # Ground truth: every meeting the API lists, each once, with its participants.
    truth = emu.meetings()
    assert sorted(m[0] for m in dagster_meetings) == sorted(m["id"] for m in truth)
    assert {(m[0], m[2]) for m in dagster_meetings} == {(m["id"], m["status"]) for m in truth}
    expected_participants = sorted((m["id"], p["id"]) for m in truth for p in emu.participants(m["id"]))
    assert [(p[0], p[1]) for p in dagster_participants] == expected_participants
    assert len(expected_participants) > len(truth)  # the fixture has participants to check

    # Parquet mirrors DuckDB day by day.
    parquet_dir = Path(rtk_env["RTK_PARQUET_DIR"])
    files = f"{parquet_dir}/meetings/*/data.parquet"
    in_files = rows(Path(rtk_env["RTK_DUCKDB_PATH"]), f"SELECT count(*) FROM read_parquet('{files}')")
    assert in_files == [(len(truth),)]

    # Every check, once per partition (plus the freshness checks once per run), passed.
    results = check_results(result)
    days = [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]
    per_partition = {
        M: {"rows_match_api", "ids_unique", "created_at_in_partition", "secrets_absent",
                         "parquet_matches_table"},
        P: {"rows_match_api", "ids_unique", "meeting_exists", "secrets_absent",
                             "parquet_matches_table"},
    }  # fmt: skip
    expected = {(a, c, d) for a, checks in per_partition.items() for c in checks for d in days}
    expected |= {
        (M, "latest_partition_fresh", None),
        (P, "latest_partition_fresh", None),
        (P, "participants_fresh", None),  # the refresh's check: a fresh sync leaves none behind
    }
    assert set(results) == expected
    failed = {k for k, passed in results.items() if not passed and k[1] != "latest_partition_fresh"}
    assert failed == set()

    # One wide listing for the 10 days (paged), not one per day.
    listings = [r for r in emu.requests if r.endpoint == "list_meetings"]
    windows = {(r.query.get("start_time"), r.query.get("end_time")) for r in listings}
    assert len(windows) == 1
    start, end = (datetime.fromisoformat(v.replace("Z", "+00:00")) for v in windows.pop())
    assert start.date() <= first and end.date() > last

    # Metadata per partition: that day's rows, the table's, file and preview; the run's figures once, as
    # one observation of the run; never the token.
    day = first + timedelta(days=3)
    stored = rows(
        Path(rtk_env["RTK_DUCKDB_PATH"]), f"SELECT count(*) FROM meetings WHERE created_day = DATE '{day}'"
    )[0][0]
    record = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=MEETINGS, asset_partitions=[day.isoformat()]), limit=1
    ).records[0]
    meta = {k: v.value for k, v in record.asset_materialization.metadata.items()}
    assert meta["dagster/partition_row_count"] == stored > 0
    assert meta["dagster/row_count"] == len(truth)
    assert "requests" not in meta and "run_window" not in meta
    assert Path(meta["parquet_path"]).is_file() and f"created_day={day}" in meta["parquet_path"]
    assert meta["preview"].startswith("|") and "created_at" in meta["preview"]
    assert token not in repr(meta)
    observations = [e.asset_observation_data.asset_observation for e in result.get_asset_observation_events()]
    (run,) = [{k: v.value for k, v in o.metadata.items()} for o in observations if o.asset_key == MEETINGS]
    assert run["run_window"] == f"{first}..{last}"
    assert run["run_days"] == 10
    assert run["requests"] >= 1 and run["retries"] == 0 and run["throttled_429"] == 0
    assert 0 <= run["api_total_count"] <= run["listed_ids"]
    assert token not in repr(run)


def test_rerun_is_idempotent(emu, rtk_env, instance, run_job, window):
    """Running the same range again (a re-backfill, the schedule's lookback) leaves the same tables."""
    first, last = window
    assert run_job(instance, first, last).success
    before = _tables(Path(rtk_env["RTK_DUCKDB_PATH"]))
    assert run_job(instance, first + timedelta(days=2), first + timedelta(days=4)).success
    after = _tables(Path(rtk_env["RTK_DUCKDB_PATH"]))
    assert before == after


def test_empty_days_materialize_cleanly(emu, rtk_env, instance, run_job):
    """Days without meetings (before the emulator's data) materialize with zero rows and passing checks."""
    first = date(2026, 9, 1)
    result = run_job(instance, first, first + timedelta(days=2))
    assert result.success
    assert all(e.passed for e in result.get_asset_check_evaluations() if e.partition is not None)
    assert not list(Path(rtk_env["RTK_PARQUET_DIR"]).glob("meetings/created_day=2026-09-0*"))
