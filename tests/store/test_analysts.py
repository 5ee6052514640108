"""The analysts' file (RTK_DUCKDB_PATH) holds every name analysts use, with the pipeline's columns, types and
rows; it works from any directory and after the folder moves; a definition change waits for a held file."""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from rtk_pipeline.store import DuckDBStore
from tests.support.emulator import APP
from tests.support.stores import open_duckdb_store

D1, D2, D3 = date(2026, 10, 1), date(2026, 10, 2), date(2026, 10, 3)
TABLES = ("meetings", "participants", "rejected_records", "sync_runs", "meeting_deactivations")
VIEWS = (
    "meetings_per_day",
    "participants_per_meeting",
    "preset_usage",
    "meeting_last_activity",
    "stale_meeting_candidates",
)
AS_OF = "TIMESTAMPTZ '2026-11-01 00:00:00+00'"
NAMES = (*TABLES, *VIEWS, f"stale_candidates(1, {AS_OF})")


def _contents(path: Path, names=NAMES) -> dict[str, tuple[list, list]]:
    """(DESCRIBE, sorted rows) of every name, through a read-only connection to `path`."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        con.execute("SET TimeZone = 'UTC'")
        out = {}
        for name in names:
            query = f"SELECT * FROM {name}"
            described = [row[:2] for row in con.execute(f"DESCRIBE {query}").fetchall()]
            out[name] = (described, sorted(con.execute(query).fetchall(), key=repr))
        return out
    finally:
        con.close()


def _fill(wh: DuckDBStore, api) -> None:
    """Every table gets rows: meetings, participants, a reject, sync runs, a deactivation decision."""
    ms = [api.meeting(D1, ai_config={"a": 1}, x_region="eu"), api.meeting(D1), api.meeting(D2)]
    api.sync_meetings(
        wh, [D1, D2], [*ms, {"id": "bad", "created_at": "2026-10-02T01:00:00Z", "persist_chat": "?"}]
    )
    people = {(ms[0]["id"], D1): [api.participant(datetime(2026, 10, 1, 12, tzinfo=UTC), preset_name="host")]}
    api.sync_participants(wh, [D1], people)
    with wh.transaction() as con:
        con.execute(
            "INSERT INTO meeting_deactivations VALUES "
            "('a1', 'r1', ?, 't', ?, 30, ?, 'deactivated', false, 200, 'idle', NULL, ?, ?, ?)",
            [ms[2]["id"], api.SYNCED, api.SYNCED, api.SYNCED, api.SYNCED, wh.app_id],
        )


def test_every_name_has_the_pipeline_columns_types_and_rows(warehouse, api):
    _fill(warehouse, api)
    published = _contents(warehouse.duckdb_path)
    private = _contents(warehouse.state_path)
    assert published == private
    assert all(published[t][1] for t in TABLES)  # not trivially equal: every table has rows
    con = duckdb.connect(str(warehouse.duckdb_path), read_only=True)
    kinds = dict(con.execute("SELECT table_name, table_type FROM information_schema.tables").fetchall())
    assert con.execute("SELECT extra->>'$.x_region' FROM meetings WHERE extra IS NOT NULL").fetchall() == [
        ("eu",)
    ]
    con.close()
    assert {kinds[name] for name in TABLES + VIEWS} == {"VIEW"}  # nothing in it is a table a sync must lock


def test_a_new_warehouse_answers_every_name_with_no_rows(tmp_path):
    wh = open_duckdb_store(tmp_path, app_id=APP)
    wh.ensure_schema()
    assert {name: rows for name, (_, rows) in _contents(wh.duckdb_path).items()} == {
        name: [] for name in NAMES
    }


READER = """
import sys, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
asked = con.execute(sys.argv[2]).fetchone()[0]
print(con.execute("SELECT count(*) FROM meetings").fetchone()[0], asked)
"""


def _count_from(cwd: Path, path: Path, query: str = "SELECT count(*) FROM sync_runs") -> str:
    done = subprocess.run(
        [sys.executable, "-c", READER, str(path), query], cwd=cwd, capture_output=True, text=True, timeout=60
    )
    return done.stdout.strip() if done.returncode == 0 else done.stderr.strip().splitlines()[-1]


def test_any_working_directory_and_a_moved_folder(tmp_path, api):
    home = tmp_path / "home" / "data"
    wh = open_duckdb_store(home, app_id=APP)
    api.sync_meetings(wh, [D1], [api.meeting(D1), api.meeting(D1)])
    assert _count_from(Path("/"), wh.duckdb_path) == "2 1"  # the views hold absolute paths

    moved = tmp_path / "elsewhere" / "data"
    moved.parent.mkdir()
    shutil.move(home, moved)
    # Until the pipeline runs at the new place, the views name the old folder, and say so...
    assert str(home / "parquet") in _count_from(tmp_path, moved / "rtk.duckdb")
    # ...unless the reader points them at the folder (e.g. a read-only mount elsewhere).
    pointed = f"SET VARIABLE rtk_parquet_dir = '{moved / 'parquet'}'; SELECT count(*) FROM sync_runs"
    assert _count_from(tmp_path, moved / "rtk.duckdb", pointed) == "2 1"

    again = open_duckdb_store(moved, app_id=APP)
    api.sync_meetings(again, [D2], [api.meeting(D2)])  # any write at the new place rewrites the views
    assert _count_from(Path("/"), moved / "rtk.duckdb") == "3 2"


@pytest.mark.parametrize("mode", ["ro", "rw"])
def test_new_definitions_wait_for_a_held_file_with_a_warning_and_never_fail_a_sync(
    tmp_path, api, monkeypatch, caplog, analyst_session, mode
):
    wh = open_duckdb_store(tmp_path, app_id=APP)
    api.sync_meetings(wh, [D1], [api.meeting(D1)])
    # A release that ships a new analyst view: the file needs new definitions.
    newer = [*wh._analyst_views(), "CREATE OR REPLACE VIEW busiest_days AS SELECT * FROM meetings_per_day;"]
    monkeypatch.setattr(DuckDBStore, "_analyst_views", lambda self: newer)
    session = analyst_session(wh.duckdb_path, mode)
    with caplog.at_level(logging.WARNING):
        api.sync_meetings(DuckDBStore(wh.duckdb_path, wh.parquet_dir, app_id=APP), [D2], [api.meeting(D2)])
    assert "is open in another process" in caplog.text and "view definitions changed" in caplog.text
    assert session.query("SELECT count(*) FROM meetings") == [[2]]  # the new day is there all the same
    session.close()
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        api.sync_meetings(
            DuckDBStore(wh.duckdb_path, wh.parquet_dir, app_id=APP), [D3], [api.meeting(D3)]
        )  # retried
    assert not caplog.records
    assert _count_from(tmp_path, wh.duckdb_path, "SELECT count(*) FROM busiest_days") == "3 3"


def test_a_column_a_newer_release_adds_reaches_every_day_file_and_the_views(warehouse, api):
    api.sync_meetings(warehouse, [D1, D2], [api.meeting(D1, transcribe_on_end=True), api.meeting(D2)])
    con = duckdb.connect(str(warehouse.state_path))  # as an older release left it: one column fewer
    con.execute("ALTER TABLE meetings DROP COLUMN transcribe_on_end")
    con.execute("DELETE FROM analysts_file")  # ...and an analysts' file written without it
    con.close()
    for day in (D1, D2):  # ...and day files without it
        path = warehouse.parquet_path("meetings", day)
        pq.write_table(pq.read_table(path).drop_columns(["transcribe_on_end"]), path)
    DuckDBStore(warehouse.duckdb_path, warehouse.parquet_dir, app_id=APP).ensure_schema()
    for day in (D1, D2):
        assert "transcribe_on_end" in pq.read_schema(warehouse.parquet_path("meetings", day)).names
    con = duckdb.connect(str(warehouse.duckdb_path), read_only=True)
    got = con.execute("SELECT created_day, transcribe_on_end FROM meetings ORDER BY 1").fetchall()
    con.close()
    assert got == [(D1, None), (D2, None)]
