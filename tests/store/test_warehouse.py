"""DuckDBStore: day replacement, dedup, Parquet mirror, rejects, audit rows, locks and cleanup."""

from __future__ import annotations

import json
import os
from datetime import UTC, date, datetime, timedelta

import filelock
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from rtk_pipeline.normalize import normalize_meetings, normalize_participants
from rtk_pipeline.schemas import MEETINGS_SCHEMA
from rtk_pipeline.store import DuckDBStore, SqlReads, SyncRun, WarehouseBusyError, WarehouseError, locks
from tests.support.emulator import APP

D1, D2, D3 = date(2026, 10, 1), date(2026, 10, 2), date(2026, 10, 3)


def table_rows(wh: SqlReads, table: str, order: str = "id") -> list[dict]:
    return wh.query_df(f"SELECT * FROM {table} ORDER BY {order}").to_dict("records")


def parquet_ids(wh: DuckDBStore, table: str, day: date) -> list[str]:
    return sorted(pq.read_table(wh.parquet_path(table, day)).column("id").to_pylist())


def ids(wh: SqlReads, day: date | None = None) -> list[str]:
    where = "" if day is None else f"WHERE created_day = DATE '{day}'"
    return [r[0] for r in wh.query_df(f"SELECT id FROM meetings {where} ORDER BY id").itertuples(index=False)]


def test_resyncing_a_day_replaces_it_and_a_rerun_changes_nothing(warehouse, api):
    day1 = [api.meeting(D1) for _ in range(5)]
    day2 = [api.meeting(D2) for _ in range(3)]
    api.sync_meetings(warehouse, [D1, D2], day1 + day2)
    before = table_rows(warehouse, "meetings")
    files_before = {d: pq.read_table(warehouse.parquet_path("meetings", d)) for d in (D1, D2)}

    api.sync_meetings(warehouse, [D1, D2], day1 + day2)  # the same answer again
    assert table_rows(warehouse, "meetings") == before
    for d in (D1, D2):
        assert pq.read_table(warehouse.parquet_path("meetings", d)).equals(files_before[d])

    gone, changed = day1[0], {**day1[1], "title": "Renamed", "updated_at": "2026-10-05T00:00:00.000Z"}
    api.sync_meetings(warehouse, [D1], [changed, *day1[2:]])  # only D1 re-synced
    assert gone["id"] not in ids(warehouse)
    assert ids(warehouse, D2) == sorted(m["id"] for m in day2)  # a neighbour day is untouched
    assert (
        warehouse.query_df(f"SELECT title FROM meetings WHERE id = '{changed['id']}'").title[0] == "Renamed"
    )
    assert parquet_ids(warehouse, "meetings", D1) == sorted(m["id"] for m in [changed, *day1[2:]])
    assert len(warehouse.query_df("sync_runs")) == 3


def test_the_same_id_twice_keeps_the_latest_update_then_the_latest_sync(warehouse, api):
    old = api.meeting(D1, title="old", updated_at="2026-10-01T11:00:00.000Z")
    new = {**old, "title": "new", "updated_at": "2026-10-01T12:00:00.000Z"}
    twin = api.meeting(D1, title="first fetch")
    with warehouse.stage("meetings", [D1]) as stage:
        stage.write(normalize_meetings([new, twin], synced_at=api.SYNCED))
        stage.write(normalize_meetings([old], synced_at=api.SYNCED + timedelta(minutes=1)))
        stage.write(
            normalize_meetings([{**twin, "title": "second fetch"}], synced_at=api.SYNCED + timedelta(1))
        )
        stage.write(
            normalize_meetings([{**twin, "title": "second fetch"}], synced_at=api.SYNCED + timedelta(1))
        )
        assert stage.distinct_count("id") == 2 and stage.rows_by_day() == {D1: 2}
        warehouse.commit([stage], SyncRun(run_id="r"))
    titles = dict(api.rows(warehouse, "SELECT id, title FROM meetings"))
    assert titles == {old["id"]: "new", twin["id"]: "second fetch"}
    assert len(pq.read_table(warehouse.parquet_path("meetings", D1))) == 2


def test_a_meeting_stored_under_another_day_moves_instead_of_doubling(warehouse, api):
    m = api.meeting(D1)
    api.sync_meetings(warehouse, [D1], [m])
    moved = {**m, "created_at": "2026-10-02T08:00:00.000Z"}
    api.sync_meetings(warehouse, [D2], [moved])
    assert api.rows(warehouse, "SELECT id, created_day FROM meetings") == [(m["id"], D2)]
    assert not warehouse.parquet_path("meetings", D1).exists()  # D1 is empty now: its file is gone
    assert parquet_ids(warehouse, "meetings", D2) == [m["id"]]


def test_rows_outside_the_stage_days_are_skipped_not_stored(warehouse, api):
    with warehouse.stage("meetings", [D2]) as stage:
        kept = stage.write(
            normalize_meetings([api.meeting(D1), api.meeting(D2), api.meeting(D3)], synced_at=api.SYNCED)
        )
        assert (kept, stage.skipped) == (1, 2)
        warehouse.commit([stage], SyncRun(run_id="r"))
    assert api.rows(warehouse, "SELECT created_day FROM meetings") == [(D2,)]


def test_a_failed_commit_keeps_the_previous_data_and_files(warehouse, api):
    original = [api.meeting(D1) for _ in range(3)]
    api.sync_meetings(warehouse, [D1], original)
    before, file_before = (
        table_rows(warehouse, "meetings"),
        warehouse.parquet_path("meetings", D1).read_bytes(),
    )

    with pytest.raises(ValueError, match="cannot be recorded by a store of"):  # fails inside the transaction
        api_stage = warehouse.stage("meetings", [D1])
        api_stage.write(normalize_meetings([api.meeting(D1)], synced_at=api.SYNCED))
        warehouse.commit([api_stage], SyncRun(run_id="r", app_id="another-app"))
    with pytest.raises(Exception, match="part-000000"):  # staged data lost before the commit read it
        stage = warehouse.stage("meetings", [D1])
        stage.write(normalize_meetings([api.meeting(D1)], synced_at=api.SYNCED))
        for part in stage.parts():
            part.unlink()
        warehouse.commit([stage], SyncRun(run_id="r2"))

    assert table_rows(warehouse, "meetings") == before
    assert warehouse.parquet_path("meetings", D1).read_bytes() == file_before
    assert len(warehouse.query_df("sync_runs")) == 1
    assert not list(warehouse.staging_dir.iterdir())  # stages are dropped either way


def test_parquet_mirror_layout_matches_duckdb_and_replaces_atomically(warehouse, api, tmp_path):
    api.sync_meetings(warehouse, [D1, D2], [api.meeting(D1), api.meeting(D1), api.meeting(D2)])
    people = {(m, D1): [api.participant(datetime(2026, 10, 1, 12, tzinfo=UTC))] for m in ids(warehouse, D1)}
    api.sync_participants(warehouse, [D1], people)
    mirror = tmp_path / "parquet"
    files = sorted(p.relative_to(mirror).as_posix() for p in mirror.rglob("*") if ".snapshots" not in p.parts)
    assert files == [
        "meeting_deactivations",  # the small tables, one file each
        "meeting_deactivations/data.parquet",
        "meetings",
        "meetings/created_day=2026-10-01",
        "meetings/created_day=2026-10-01/data.parquet",
        "meetings/created_day=2026-10-02",
        "meetings/created_day=2026-10-02/data.parquet",
        "participants",
        "participants/meeting_created_day=2026-10-01",
        "participants/meeting_created_day=2026-10-01/data.parquet",
        "rejected_records",
        "rejected_records/data.parquet",
        "sync_runs",
        "sync_runs/data.parquet",
    ]
    # The folder reads back as the tables (DuckDB and pyarrow both recover the partition column as a DATE).
    with warehouse.connect(read_only=True) as con:
        columns = ", ".join(MEETINGS_SCHEMA.names)
        pq_glob = f"{tmp_path}/parquet/meetings/*/*.parquet"
        mirror = con.sql(
            f"SELECT {columns} FROM read_parquet('{pq_glob}', hive_partitioning = true)"
        ).fetchall()
        table = con.sql(f"SELECT {columns} FROM meetings").fetchall()
    assert sorted(mirror) == sorted(table)
    part = ds.partitioning(pa.schema([("meeting_created_day", pa.date32())]), flavor="hive")
    people_pq = ds.dataset(tmp_path / "parquet" / "participants", partitioning=part).to_table()
    assert sorted(people_pq.column("meeting_id").to_pylist()) == ids(warehouse, D1)

    # A reader that opened the old file keeps reading all of it; the path now holds the new day.
    path = warehouse.parquet_path("meetings", D1)
    with open(path, "rb") as reader:
        api.sync_meetings(warehouse, [D1], [api.meeting(D1)])
        assert pq.read_table(reader).num_rows == 2
    assert pq.read_table(path).num_rows == 1
    assert not [p for p in (tmp_path / "parquet").rglob("*") if p.name.endswith(".tmp")]

    api.sync_meetings(warehouse, [D2], [])  # D2 is empty upstream now: no file, not stale rows
    assert not path.with_name("x").parent.with_name("created_day=2026-10-02").exists()


def test_rejected_records_are_replaced_per_day_not_piled_up(warehouse, api):
    bad_day = {"id": "late", "created_at": "2026-10-01T09:00:00Z", "persist_chat": "perhaps"}
    undated = {"id": "nodate", "created_at": "soon", "password": "hunter2"}
    for _ in range(2):
        with warehouse.stage("meetings", [D1]) as stage, warehouse.stage("rejected_records", [D1]) as rejects:
            out = normalize_meetings([api.meeting(D1), bad_day, undated], synced_at=api.SYNCED)
            stage.write(out.batch)
            rejects.write(out.rejected)
            warehouse.commit([stage, rejects], SyncRun(run_id="r"))
    got = api.rows(warehouse, "SELECT record_id, day, reason FROM rejected_records ORDER BY record_id")
    assert got == [
        ("late", D1, "persist_chat: expected a boolean, got 'perhaps'"),
        ("nodate", None, "created_at: not an ISO 8601 timestamp: 'soon'"),
    ]
    assert "hunter2" not in str(api.rows(warehouse, "SELECT raw FROM rejected_records"))
    api.sync_meetings(warehouse, [D1], [api.meeting(D1)])  # fixed upstream: the day's reject goes
    assert api.rows(warehouse, "SELECT record_id FROM rejected_records") == [("nodate",)]


def test_sync_runs_rows_for_success_and_failure(warehouse, api):
    started = datetime(2026, 11, 1, 9, tzinfo=UTC)
    with warehouse.stage("meetings", [D1, D2]) as stage:
        stage.write(normalize_meetings([api.meeting(D1), api.meeting(D2), {"id": "x"}], synced_at=api.SYNCED))
        warehouse.commit([stage], SyncRun(run_id="ok", table_name="meetings", requests=4, started_at=started))
    warehouse.record_failed_run(
        SyncRun(
            run_id="bad",
            table_name="meetings",
            window_start=D3,
            window_end=D3 + timedelta(1),
            error="GET /meetings -> HTTP 401 (Authorization: Bearer sekrit-token)",
        )
    )
    ok, bad = warehouse.query_df("SELECT * FROM sync_runs ORDER BY run_id DESC").to_dict("records")
    assert (ok["outcome"], ok["rows"], ok["days"], ok["rejected"], ok["requests"]) == ("success", 2, 2, 1, 4)
    assert ok["window_start"] == datetime(2026, 10, 1, tzinfo=UTC) and ok["window_end"] == datetime(
        2026, 10, 3, tzinfo=UTC
    )
    assert ok["seconds"] > 0
    assert bad["outcome"] == "failed" and "sekrit-token" not in bad["error"] and "HTTP 401" in bad["error"]
    assert bad["window_start"] == datetime(2026, 10, 3, tzinfo=UTC)
    assert len(ids(warehouse)) == 2  # the failure touched no data


def test_upsert_meetings_replaces_by_id_and_rewrites_only_that_day(warehouse, api):
    m1, m2 = api.meeting(D1), api.meeting(D2)
    api.sync_meetings(warehouse, [D1, D2], [m1, m2])
    api.sync_participants(
        warehouse, [D1], {(m1["id"], D1): [api.participant(datetime(2026, 10, 1, 11, tzinfo=UTC))]}
    )
    d2_file = warehouse.parquet_path("meetings", D2).read_bytes()
    patched = {**m1, "status": "INACTIVE", "updated_at": "2026-11-01T00:00:00.000Z"}
    files = warehouse.upsert_meetings(normalize_meetings([patched], synced_at=api.SYNCED).batch)
    assert files == [warehouse.parquet_path("meetings", D1)]
    assert api.rows(warehouse, "SELECT id, status FROM meetings ORDER BY id") == [
        (m1["id"], "INACTIVE"),
        (m2["id"], "ACTIVE"),
    ]
    assert pq.read_table(files[0]).column("status").to_pylist() == ["INACTIVE"]
    assert warehouse.parquet_path("meetings", D2).read_bytes() == d2_file
    assert api.rows(warehouse, "SELECT count(*) FROM participants") == [(1,)]


def test_stages_clean_up_after_commit_error_and_dead_processes(warehouse, api):
    with warehouse.stage("meetings", [D1]) as stage:
        stage.write(normalize_meetings([api.meeting(D1)], synced_at=api.SYNCED))
        warehouse.commit([stage], SyncRun(run_id="r"))
    with pytest.raises(RuntimeError), warehouse.stage("meetings", [D1]) as stage:
        stage.write(normalize_meetings([api.meeting(D1)], synced_at=api.SYNCED))
        raise RuntimeError("fetch failed")
    assert not list(warehouse.staging_dir.iterdir())
    dead = warehouse.staging_dir / f"{0:020d}-999999999-deadbeef-meetings@{os.uname().nodename}"
    dead.mkdir()
    warehouse.stage("meetings", [D1]).discard()
    assert not dead.exists()
    assert ids(warehouse, D1)  # the committed day survived all of it


def test_the_write_lock_is_waited_for_with_a_bound_and_a_clear_error(tmp_path, api):
    wh = DuckDBStore(tmp_path / "w.duckdb", tmp_path / "pq", lock_timeout=0.3, app_id=APP)
    other = filelock.FileLock(str(wh.lock_path))  # another writer (same effect as another process)
    with other:
        with pytest.raises(WarehouseBusyError, match=r"w\.duckdb\.lock"):
            api.sync_meetings(wh, [D1], [api.meeting(D1)])
    api.sync_meetings(wh, [D1], [api.meeting(D1)])
    assert len(ids(wh)) == 1


def test_whether_the_write_lock_is_held_is_asked_without_touching_it(tmp_path, api):
    """`locks.held` (what `sql` asks before it stops waiting for the analysts' file) sees a writer's lock
    and its release, and opens the lock file only for reading: no file is created or changed."""
    wh = DuckDBStore(tmp_path / "w.duckdb", tmp_path / "pq", app_id=APP)
    assert not locks.held(wh.lock_path) and not wh.lock_path.exists()
    api.sync_meetings(wh, [D1], [api.meeting(D1)])  # a write leaves its lock file behind, released
    before = os.stat(wh.lock_path)
    assert not locks.held(wh.lock_path)
    after = os.stat(wh.lock_path)
    assert (after.st_ino, after.st_mtime_ns, after.st_size) == (before.st_ino, before.st_mtime_ns, 0)
    with filelock.FileLock(str(wh.lock_path)):  # another writer
        assert locks.held(wh.lock_path)
    assert not locks.held(wh.lock_path)


def test_schema_setup_is_idempotent_and_adds_columns_a_newer_version_declares(tmp_path, api):
    import duckdb

    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    con.execute(
        "CREATE TABLE meetings (id VARCHAR NOT NULL, created_at TIMESTAMPTZ NOT NULL, "
        "created_day DATE NOT NULL, synced_at TIMESTAMPTZ NOT NULL)"
    )
    con.execute("INSERT INTO meetings VALUES ('old', '2026-10-01 00:00:00+00', DATE '2026-10-01', now())")
    con.close()
    wh = DuckDBStore(path, tmp_path / "pq", app_id=APP)
    wh.ensure_schema()
    DuckDBStore(path, tmp_path / "pq", app_id=APP).ensure_schema()
    api.sync_meetings(wh, [D2], [api.meeting(D2, transcribe_on_end=True)])
    assert api.rows(wh, "SELECT id, transcribe_on_end FROM meetings ORDER BY id DESC")[0] == ("old", None)
    assert len(api.rows(wh, "SELECT * FROM meetings_per_day")) == 2


def test_stage_refuses_unknown_tables_and_foreign_batches(warehouse, api):
    with pytest.raises(ValueError, match="expected one of meetings, participants, rejected_records"):
        warehouse.stage("rejected_participants", [D1])
    with warehouse.stage("meetings", [D1]) as stage, pytest.raises(TypeError, match="meetings schema"):
        stage.write(
            normalize_participants("m", D1, [api.participant(api.SYNCED)], synced_at=api.SYNCED).batch
        )
    with pytest.raises(TypeError, match=r"datetime\.date"):
        warehouse.stage("meetings", [datetime(2026, 10, 1, tzinfo=UTC)])


def test_json_columns_are_queryable_as_json(warehouse, api):
    api.sync_meetings(
        warehouse, [D1], [api.meeting(D1, ai_config={"transcription": {"language": "de"}}, region="eu")]
    )
    got = api.rows(
        warehouse, "SELECT ai_config->>'$.transcription.language', extra->>'$.region' FROM meetings"
    )
    assert got == [("de", "eu")]
    assert json.loads(api.rows(warehouse, "SELECT extra FROM meetings")[0][0]) == {"region": "eu"}


def test_read_write_connections_and_transactions_hold_the_write_lock(warehouse, api, tmp_path):
    impatient = DuckDBStore(warehouse.duckdb_path, warehouse.parquet_dir, lock_timeout=0.2, app_id=APP)
    with warehouse.connect() as con:
        con.execute("CREATE TABLE IF NOT EXISTS notes (n INTEGER)")
        with pytest.raises(WarehouseBusyError):
            api.sync_meetings(impatient, [D1], [api.meeting(D1)])
    with pytest.raises(RuntimeError), warehouse.transaction() as con:
        con.execute("INSERT INTO notes VALUES (1)")
        raise RuntimeError("rolled back")
    with warehouse.transaction() as con:
        con.execute("INSERT INTO notes VALUES (2)")
    api.sync_meetings(impatient, [D1], [api.meeting(D1)])
    assert api.rows(warehouse, "SELECT n FROM notes") == [(2,)]
    assert len(ids(warehouse)) == 1


def test_a_parquet_write_failure_after_commit_is_reported_and_stays_queued(warehouse, api):
    blocker = warehouse.parquet_dir / "meetings"
    blocker.parent.mkdir(parents=True)
    blocker.write_text("not a folder")  # the day's folder cannot be created
    with pytest.raises(WarehouseError, match=r"DuckDB is up to date.*stays queued"):
        api.sync_meetings(warehouse, [D1], [api.meeting(D1)])
    assert len(ids(warehouse, D1)) == 1
    assert api.rows(warehouse, "SELECT table_name, day FROM parquet_exports_pending") == [("meetings", D1)]
    blocker.unlink()
    assert warehouse.export_pending() == [warehouse.parquet_path("meetings", D1)]
    assert parquet_ids(warehouse, "meetings", D1) == ids(warehouse, D1)
