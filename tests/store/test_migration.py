"""A warehouse file written by release 8942299 migrates on the first run with nothing lost.

The fixture `fixtures/rtk-8942299.duckdb.gz` was written by that release's own CLI (`rtk-pipeline backfill`
of 2026-10-26..31, a backfill that failed on a wrong token, `deactivate-stale --dry-run --max 3`, then
`deactivate-stale --max 3`) against `EmulatorConfig(meetings=24, days=6, seed=11, end=2026-11-01)` plus the
two meetings `_release_emulator` adds (one rejected, one with a field the schema does not know). A file
from the real release, rather than one rebuilt from its DDL, also carries its storage format and queue.
"""

from __future__ import annotations

import gzip
import logging
import shutil
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from rtk_pipeline.emulator import Emulator, EmulatorConfig
from rtk_pipeline.store import DuckDBStore
from tests.support.emulator import APP

FIXTURE = Path(__file__).with_name("fixtures") / "rtk-8942299.duckdb.gz"
TABLES = ("meetings", "participants", "rejected_records", "sync_runs", "meeting_deactivations")
VIEWS = ("meetings_per_day", "participants_per_meeting", "preset_usage", "meeting_last_activity")
STALE = "stale_candidates(1, TIMESTAMPTZ '2026-11-01 00:00:00+00')"


def _release_meetings() -> list[dict]:
    """The meetings the release's emulator held (its seed plus the two added ones)."""
    with Emulator(EmulatorConfig(meetings=24, days=6, seed=11, end=datetime(2026, 11, 1, tzinfo=UTC))) as emu:
        emu.add_meeting(
            created_at=datetime(2026, 10, 28, 9, tzinfo=UTC),
            title="bad keep-alive",
            session_keep_alive_time_in_secs="two minutes",
        )
        emu.add_meeting(
            created_at=datetime(2026, 10, 29, 9, tzinfo=UTC),
            title="newer fields",
            list_all_fields=True,
            x_region="eu",
        )
        return emu.meetings()


def _snapshot(path: Path) -> dict[str, tuple[list, list]]:
    """Every name's columns and rows, without app_id (the release has none): where the migrated file has
    it, every row must carry the opening store's app."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        con.execute("SET TimeZone = 'UTC'")
        out = {}
        for name in (*TABLES, *VIEWS, STALE):
            columns = [row[:2] for row in con.execute(f"DESCRIBE SELECT * FROM {name}").fetchall()]
            if ("app_id", "VARCHAR") in columns:
                apps = con.execute(f"SELECT DISTINCT app_id FROM {name}").fetchall()
                assert apps in ([(APP,)], []), (name, apps)
                columns.remove(("app_id", "VARCHAR"))
            added = ("participants_synced_at", "TIMESTAMP WITH TIME ZONE")
            if added in columns:  # a later column: null on every row the release wrote
                stamped = con.execute(f"SELECT count(participants_synced_at) FROM {name}").fetchone()
                assert stamped == (0,), (name, stamped)
                columns.remove(added)
            select = ", ".join(f'"{column}"' for column, _ in columns)
            out[name] = (columns, sorted(con.execute(f"SELECT {select} FROM {name}").fetchall(), key=repr))
        return out
    finally:
        con.close()


@pytest.fixture
def release_file(tmp_path: Path) -> Path:
    path = tmp_path / "data" / "rtk.duckdb"
    path.parent.mkdir()
    with gzip.open(FIXTURE, "rb") as src, open(path, "wb") as dst:
        shutil.copyfileobj(src, dst)
    return path


def test_a_release_file_migrates_with_every_row_the_history_and_the_audit(
    release_file, analyst_session, caplog
):
    truth = _snapshot(release_file)  # what the release file holds: the ground truth of "nothing lost"
    assert {name: len(rows) for name, (_, rows) in truth.items() if name in TABLES} == {
        "meetings": 25,
        "participants": 245,
        "rejected_records": 1,
        "sync_runs": 3,
        "meeting_deactivations": 40,
    }
    wh = DuckDBStore(release_file, release_file.parent / "parquet", app_id=APP)
    session = analyst_session(release_file, "ro")  # a notebook left open on it does not stop the migration
    with caplog.at_level(logging.WARNING):
        wh.ensure_schema()
    assert "migrated the warehouse of an older release" in caplog.text
    assert "is open in another process" in caplog.text  # the views wait for the notebook...
    assert session.query("SELECT count(*) FROM sync_runs") == [[3]]  # ...which still reads the old tables
    assert _snapshot(wh.state_path) == truth
    session.close()

    wh.export_pending()  # the next write converts the file
    assert _snapshot(release_file) == truth
    con = duckdb.connect(str(release_file), read_only=True)
    kinds = {
        kind
        for (kind,) in con.execute(
            "SELECT DISTINCT table_type FROM information_schema.tables WHERE table_schema = 'main'"
        ).fetchall()
    }
    con.close()
    assert kinds == {"VIEW"}  # the old tables went; the base is in a schema of its own
    # The Parquet mirror was rewritten from the migrated rows, and they are the emulator's meetings.
    mirror = pq.read_table(release_file.parent / "parquet" / "meetings")
    typed = [m["id"] for m in _release_meetings() if m["title"] != "bad keep-alive"]
    assert sorted(mirror.column("id").to_pylist()) == sorted(typed)
    assert sorted(run[14] for run in truth["sync_runs"][1]) == ["failed", "success", "success"]


def test_a_killed_migration_leaves_no_state_and_the_next_run_starts_over(release_file, monkeypatch):
    from rtk_pipeline.store.duckdb_file import migrate

    truth = _snapshot(release_file)
    wh = DuckDBStore(release_file, release_file.parent / "parquet", app_id=APP)

    def dies(con, path, busy_timeout):  # the second attach, after the schema: halfway through
        raise KeyboardInterrupt

    calls = iter([migrate._attach_read_only, dies])
    monkeypatch.setattr(migrate, "_attach_read_only", lambda *a: next(calls)(*a))
    with pytest.raises(KeyboardInterrupt):
        wh.ensure_schema()
    assert not wh.state_path.exists() and not list(wh.state_path.parent.iterdir())
    monkeypatch.undo()
    DuckDBStore(release_file, release_file.parent / "parquet", app_id=APP).ensure_schema()
    assert _snapshot(wh.state_path) == truth == _snapshot(release_file)
