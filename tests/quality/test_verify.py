"""`rtk-pipeline verify`: the asset checks' rules without Dagster, over a warehouse synced from the
emulator; it passes on what the sync wrote and fails, naming rule and day, on data broken on purpose."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, date, datetime

import pytest

from rtk_pipeline.client import RealtimeKitClient
from rtk_pipeline.emulator import Emulator, EmulatorConfig
from rtk_pipeline.quality import verify
from rtk_pipeline.ratelimit import RateLimiter
from rtk_pipeline.store import DuckDBStore
from rtk_pipeline.sync import sync_range
from tests.support.emulator import APP
from tests.support.stores import open_duckdb_store

END = datetime(2026, 11, 1, tzinfo=UTC)
FIRST, LAST = date(2026, 10, 29), date(2026, 10, 31)
TOKEN = "VERIFY-TEST-TOKEN-1234"


@pytest.fixture
def warehouse(tmp_path) -> DuckDBStore:
    """Three days synced from the emulator (meetings and participants), as `rtk-pipeline backfill` would."""
    wh = open_duckdb_store(tmp_path, app_id=APP)
    config = EmulatorConfig(meetings=60, days=3, seed=11, end=END, token=TOKEN)
    with (
        Emulator(config) as emu,
        RealtimeKitClient(
            api_token=emu.token,
            account_id=emu.account_id,
            app_id=emu.app_id,
            base_url=emu.base_url,
            rate_limiter=RateLimiter(100_000, 10),
        ) as client,
    ):
        sync_range(client, wh, FIRST, LAST)
    return wh


def run_verify(wh: DuckDBStore, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLOUDFLARE_", "RTK_"))}
    env.update(
        RTK_DUCKDB_PATH=str(wh.duckdb_path),
        RTK_PARQUET_DIR=str(wh.parquet_dir),
        RTK_APP_ID=wh.app_id,
        CLOUDFLARE_API_TOKEN=TOKEN,
        COLUMNS="250",
    )
    return subprocess.run(
        [sys.executable, "-m", "rtk_pipeline.cli", "verify", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_verify_passes_on_what_the_sync_wrote(warehouse):
    done = run_verify(warehouse, "--start", str(FIRST), "--end", str(LAST))
    assert done.returncode == 0, done.stdout + done.stderr
    # 4 rules per table (rows_match_api needs the sync report only Dagster keeps) x 2 tables x 3 days
    assert "24 of 24 passed (8 rules x 3 days)" in done.stdout
    for rule in (
        "ids_unique",
        "created_at_in_partition",
        "meeting_exists",
        "secrets_absent",
        "parquet_matches",
    ):
        assert rule in done.stdout
    assert "FAIL" not in done.stdout


def test_verify_fails_with_exit_1_naming_each_broken_rule_and_day(warehouse):
    with warehouse.connect() as con:
        # One meeting copied under the next day, and the API token pasted into a title.
        con.execute(
            "INSERT INTO meetings SELECT * REPLACE (created_day + 1 AS created_day) FROM meetings "
            "WHERE created_day = ? ORDER BY id LIMIT 1",
            [FIRST],
        )
        con.execute(
            "UPDATE meetings SET title = ? WHERE id = (SELECT min(id) FROM meetings WHERE created_day = ?)",
            [f"call me at {TOKEN}", LAST],
        )
    done = run_verify(warehouse, "--start", str(FIRST), "--end", str(LAST))
    assert done.returncode == 1, done.stdout + done.stderr
    second = date(2026, 10, 30)
    failed = {
        (v.table, v.rule, v.day) for v in verify(warehouse, FIRST, LAST, api_token=TOKEN) if not v.passed
    }
    assert failed == {
        ("meetings", "ids_unique", FIRST),
        ("meetings", "ids_unique", second),
        ("meetings", "created_at_in_partition", second),
        ("meetings", "parquet_matches_table", second),  # the copy went around the store: no Parquet for it
        ("meetings", "secrets_absent", LAST),
    }
    for table, rule, day in failed:
        assert f"{table}.{rule} {day}" in done.stdout
    assert TOKEN not in done.stdout + done.stderr  # findings name the column, never the value


def test_verify_refuses_a_missing_warehouse_and_a_reversed_range(tmp_path):
    missing = DuckDBStore(tmp_path / "nothing.duckdb", tmp_path / "parquet", app_id=APP)
    done = run_verify(missing, "--start", str(FIRST), "--end", str(LAST))
    assert done.returncode == 1 and "no warehouse at" in done.stderr
    (tmp_path / "nothing.duckdb").touch()
    done = run_verify(missing, "--start", str(LAST), "--end", str(FIRST))
    assert done.returncode == 1 and "before --start" in done.stderr
