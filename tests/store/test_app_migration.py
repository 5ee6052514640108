"""A warehouse written by release 3daa79f (one app, no app_id anywhere) migrates on the first open by a
store: every row of the five tables gets that store's app, the Parquet mirror and the analysts' file carry
app_id, and a second app then syncs into the same warehouse without touching the first app's rows.

The fixture `fixtures/release-3daa79f.tar.gz` is the data folder that release's own CLI wrote (see
fixtures/README.md): 30 meetings of `EmulatorConfig(meetings=30, days=3, seed=7, end=2026-11-01)`.
"""

from __future__ import annotations

import dataclasses
import logging
import tarfile
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from rtk_pipeline.emulator import Emulator, EmulatorConfig
from rtk_pipeline.store import DuckDBStore
from rtk_pipeline.sync import sync_range
from tests.support.emulator import client_for
from tests.support.stores import open_duckdb_store
from tests.support.truth import assert_matches_truth

FIXTURE = Path(__file__).with_name("fixtures") / "release-3daa79f.tar.gz"
TABLES = ("meetings", "participants", "rejected_records", "sync_runs", "meeting_deactivations")
COUNTS = {
    "meetings": 30,
    "participants": 373,
    "rejected_records": 0,
    "sync_runs": 3,
    "meeting_deactivations": 52,
}
DAY_TABLES = {"meetings": "created_day", "participants": "meeting_created_day"}
RELEASE = EmulatorConfig(meetings=30, days=3, seed=7, end=datetime(2026, 11, 1, tzinfo=UTC))
FIRST, LAST = date(2026, 10, 29), date(2026, 10, 31)


@pytest.fixture
def data(tmp_path: Path) -> Path:
    with tarfile.open(FIXTURE) as archive:
        archive.extractall(tmp_path, filter="data")
    return tmp_path / "data"


def _open(data: Path, app_id: str) -> DuckDBStore:
    return open_duckdb_store(data, app_id=app_id)


def _rows(path: Path, table: str, where: str = "") -> list[tuple]:
    """A table's rows without app_id, sorted (what the release stored, whatever the app)."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        con.execute("SET TimeZone = 'UTC'")
        # Columns a later release added (app_id, meetings.participants_synced_at) are not the release's.
        added = ("app_id", "participants_synced_at")
        columns = [c for (c, *_) in con.execute(f"DESCRIBE {table}").fetchall() if c not in added]
        select = ", ".join(f'"{c}"' for c in columns)
        return sorted(con.execute(f"SELECT {select} FROM {table} {where}").fetchall(), key=repr)
    finally:
        con.close()


def _apps(path: Path, table: str) -> dict[str, int]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return dict(con.execute(f"SELECT app_id, count(*) FROM {table} GROUP BY 1").fetchall())
    finally:
        con.close()


def test_a_release_warehouse_files_every_row_under_the_first_app_that_opens_it(data, caplog):
    state = data / ".rtk.duckdb.state" / "pipeline.duckdb"
    truth = {table: _rows(state, table) for table in TABLES}
    assert {table: len(rows) for table, rows in truth.items()} == COUNTS
    wh = _open(data, "app-A")
    with caplog.at_level(logging.WARNING):
        # The first call is a read: it finds the release's state and migrates it before filtering.
        assert len(wh.meeting_ids_for_days([FIRST, date(2026, 10, 30), LAST])) == COUNTS["meetings"]
    assert "migrated a single-app warehouse" in caplog.text
    for table in TABLES:
        assert _apps(state, table) == ({"app-A": COUNTS[table]} if COUNTS[table] else {}), table
        assert _rows(state, table) == truth[table], table
    con = duckdb.connect(str(state), read_only=True)
    nullable = dict(
        con.execute(
            "SELECT table_name, is_nullable FROM information_schema.columns WHERE column_name = 'app_id' "
            "AND table_name IN "
            "(SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE')"
        ).fetchall()
    )
    con.close()
    assert nullable == dict.fromkeys(TABLES, "NO")

    # The mirror: every day file, and every small table's file, holds app_id; the analysts' views too.
    for table, day in DAY_TABLES.items():
        files = sorted((data / "parquet" / table).glob(f"{day}=*/data.parquet"))
        assert [f.parent.name for f in files] == [
            f"{day}={d}" for d in ("2026-10-29", "2026-10-30", "2026-10-31")
        ]
        apps = {a for f in files for a in pq.read_table(f).column("app_id").to_pylist()}
        assert apps == {"app-A"}, table
        assert sum(pq.read_metadata(f).num_rows for f in files) == COUNTS[table]
    for table in ("sync_runs", "meeting_deactivations"):
        assert set(pq.read_table(data / "parquet" / table / "data.parquet").column("app_id").to_pylist()) == {
            "app-A"
        }
    analysts = data / "rtk.duckdb"
    for table in TABLES:
        assert _apps(analysts, table) == ({"app-A": COUNTS[table]} if COUNTS[table] else {}), table
        assert _rows(analysts, table) == truth[table], table
    assert _apps(analysts, "meetings_per_day") == {"app-A": 3}
    assert _apps(analysts, "participants_per_meeting") == {"app-A": COUNTS["meetings"]}

    # Idempotent: a later store of another app finds the columns and changes nothing of app-A.
    _open(data, "app-B").ensure_schema()
    _open(data, "app-A").ensure_schema()
    for table in TABLES:
        assert _apps(state, table) == ({"app-A": COUNTS[table]} if COUNTS[table] else {}), table


def test_a_second_app_syncs_into_the_migrated_warehouse_without_touching_the_first(data):
    wh_a = _open(data, "app-A")
    wh_a.ensure_schema()
    state = wh_a.state_path
    before = {table: _rows(state, table, "WHERE app_id = 'app-A'") for table in TABLES}
    # Same seed as the release's emulator: app-B's meeting and participant ids are app-A's ids.
    with Emulator(dataclasses.replace(RELEASE, app_id="app-B")) as emu, client_for(emu) as client:
        wh_b = _open(data, "app-B")
        sync_range(client, wh_b, FIRST, LAST)
        assert_matches_truth(wh_b, emu, FIRST, LAST)
        ids_b = {m["id"] for m in emu.meetings()}
    ids_a = {row[0] for row in _rows(state, "meetings", "WHERE app_id = 'app-A'")}
    assert ids_a == ids_b  # the ids collide, and each app keeps its own rows of them
    for table in TABLES:
        assert _rows(state, table, "WHERE app_id = 'app-A'") == before[table], table
    assert _apps(state, "meetings") == {"app-A": 30, "app-B": 30}
    assert _apps(state, "sync_runs") == {"app-A": 3, "app-B": 2}
    for day in ("2026-10-29", "2026-10-30", "2026-10-31"):
        mirror = pq.read_table(data / "parquet" / "meetings" / f"created_day={day}" / "data.parquet")
        by_app = {app: mirror.column("app_id").to_pylist().count(app) for app in ("app-A", "app-B")}
        assert by_app["app-A"] == by_app["app-B"] > 0  # the day's file holds both apps' rows
    assert _apps(data / "rtk.duckdb", "meetings") == {"app-A": 30, "app-B": 30}
