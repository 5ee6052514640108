"""Compaction (issue 22): the analysts' views read one sorted base file per day table plus the days published
since, so a query opens a few files instead of one per day. The base is written only while no session
holds the analysts' file, the views give the state's rows before, during and after, and a re-synced
day is read from its new version, never from the base's older copy."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from datetime import date, timedelta

import duckdb
import pyarrow.parquet as pq

from rtk_pipeline.store.duckdb_file import compaction, snapshots
from tests.support.emulator import APP
from tests.support.stores import open_duckdb_store

DAYS = [date(2026, 10, 1) + timedelta(days=n) for n in range(6)]
# The first write creates the analysts' file and writes the bases with it; the days after it compact.
FIRST_COMPACTION = 1 + compaction.COMPACT_AFTER_DAYS
QUERY = "SELECT id, title, status, created_day FROM meetings ORDER BY id"


def _rows(path, sql: str = QUERY) -> list:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _analysts(wh) -> list:
    return _rows(wh.duckdb_path)


def _state(wh) -> list:
    return _rows(wh.state_path)


def _day_versions(wh, table: str = "meetings") -> list:
    root = wh.parquet_dir / snapshots.FOLDER / table
    return sorted(p for p in root.glob("*=2026-*/v-*.parquet"))


def _sync_days(wh, api, days, title: str) -> None:
    for day in days:
        api.sync_meetings(wh, [day], [api.meeting(day, title=title), api.meeting(day, hour=11, title=title)])


def test_days_fold_into_a_sorted_base_with_bloom_filters_and_the_views_give_the_state(tmp_path, api):
    wh = open_duckdb_store(tmp_path, app_id=APP)
    _sync_days(wh, api, DAYS[: FIRST_COMPACTION - 1], "v1")
    assert len(_day_versions(wh)) == FIRST_COMPACTION - 2
    _sync_days(wh, api, DAYS[FIRST_COMPACTION - 1 : FIRST_COMPACTION], "v1")
    base = snapshots.base_path(wh.parquet_dir, "meetings")
    assert _day_versions(wh) == []  # every published day went into the base...
    assert pq.read_metadata(base).num_rows == 2 * FIRST_COMPACTION
    meta = duckdb.sql(
        f"SELECT bool_and(bloom_filter_offset IS NOT NULL) FROM parquet_metadata('{base}') "
        "WHERE path_in_schema = 'id'"
    ).fetchall()
    assert meta == [(True,)]  # ...with a bloom filter on the id, so a lookup skips row groups
    days = pq.read_table(base, columns=["created_day"]).column(0).to_pylist()
    assert days == sorted(days)
    assert _analysts(wh) == _state(wh) and len(_state(wh)) == 2 * FIRST_COMPACTION

    # A re-sync of a day in the base: the view reads that day from its new version only.
    api.sync_meetings(wh, [DAYS[1]], [api.meeting(DAYS[1], title="v2")])
    assert len(_day_versions(wh)) == 1
    assert _analysts(wh) == _state(wh)
    assert [r for r in _analysts(wh) if r[3] == DAYS[1]] == [r for r in _state(wh) if r[3] == DAYS[1]]
    assert {r[1] for r in _analysts(wh) if r[3] == DAYS[1]} == {"v2"}
    # An emptied day: its empty version hides the base's rows of that day.
    api.sync_meetings(wh, [DAYS[2]], [])
    assert _analysts(wh) == _state(wh) and not [r for r in _analysts(wh) if r[3] == DAYS[2]]


HOLD = """
import sys, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
print("open", flush=True)
for line in sys.stdin:
    print(repr(con.execute(line).fetchall()), flush=True)
"""


def test_a_held_session_defers_compaction_and_keeps_seeing_every_commit(tmp_path, api):
    wh = open_duckdb_store(tmp_path, app_id=APP)
    _sync_days(wh, api, DAYS[:1], "v1")
    base = snapshots.base_path(wh.parquet_dir, "meetings")
    before = os.stat(base)
    session = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(wh.duckdb_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert session.stdout.readline().strip() == "open"
        _sync_days(wh, api, DAYS[1:], "v1")  # more than enough days to compact
        assert (os.stat(base).st_ino, os.stat(base).st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
        assert len(_day_versions(wh)) == len(DAYS) - 1
        session.stdin.write(f"{QUERY}\n")
        session.stdin.flush()
        assert session.stdout.readline().strip() == repr(_state(wh))  # the held session sees every day
        # A day emptied while its older version is kept for the session: the newest (a marker) wins.
        api.sync_meetings(wh, [DAYS[1]], [])
        assert len(list((wh.parquet_dir / snapshots.FOLDER / "meetings").glob(f"*={DAYS[1]}/v-*"))) == 2
        session.stdin.write(f"{QUERY}\n")
        session.stdin.flush()
        assert session.stdout.readline().strip() == repr(_state(wh))
        assert not [r for r in _state(wh) if r[3] == DAYS[1]]
    finally:
        session.stdin.close()
        session.wait(timeout=30)
    _sync_days(wh, api, DAYS[:1], "v3")  # the next write finds the file free
    assert _day_versions(wh) == []
    assert pq.read_metadata(base).num_rows == len(_state(wh)) == 2 * (len(DAYS) - 1)
    assert _analysts(wh) == _state(wh)


def test_a_crash_between_the_base_and_the_removal_of_its_days_reads_the_same_rows(tmp_path, api):
    """The base is swapped in before the day versions it holds are removed: killed in between, both are
    there, and each such day is read from its version (the same rows), never twice."""
    wh = open_duckdb_store(tmp_path, app_id=APP)
    _sync_days(wh, api, DAYS[: FIRST_COMPACTION - 1], "v1")
    kept = tmp_path / "kept"
    shutil.copytree(wh.parquet_dir / snapshots.FOLDER / "meetings", kept)
    _sync_days(wh, api, DAYS[FIRST_COMPACTION - 1 : FIRST_COMPACTION], "v1")  # compacts every day
    assert _day_versions(wh) == []
    shutil.copytree(kept, wh.parquet_dir / snapshots.FOLDER / "meetings", dirs_exist_ok=True)
    assert len(_day_versions(wh)) == FIRST_COMPACTION - 2
    assert _analysts(wh) == _state(wh) and len(_state(wh)) == 2 * FIRST_COMPACTION


def test_a_base_a_killed_writer_left_half_written_goes_with_the_next_writer(tmp_path, api):
    wh = open_duckdb_store(tmp_path, app_id=APP)
    _sync_days(wh, api, DAYS[:1], "v1")
    base = snapshots.base_path(wh.parquet_dir, "meetings")
    leftover = snapshots.tmp_beside(base)
    leftover.write_bytes(b"PAR1 half a file")  # what a writer killed mid-compaction leaves
    _sync_days(wh, api, DAYS[1:2], "v1")  # the same process: its lock was never lost, nothing to clean
    assert leftover.exists()
    _sync_days(open_duckdb_store(tmp_path, app_id=APP), api, DAYS[2:3], "v1")  # a new writer
    assert not leftover.exists() and base.exists()
    assert _analysts(wh) == _state(wh)


def test_repair_rebuilds_the_state_from_the_base_and_the_days_since(tmp_path, api):
    wh = open_duckdb_store(tmp_path, app_id=APP)
    _sync_days(wh, api, DAYS[:FIRST_COMPACTION], "v1")
    api.sync_meetings(wh, [DAYS[0]], [api.meeting(DAYS[0], title="v2")])
    assert len(_day_versions(wh)) == 1  # the state is in the base and one day since
    want = _state(wh)
    wh.state_path.unlink()
    wh_again = open_duckdb_store(tmp_path, app_id=APP)
    wh_again.repair()
    assert _state(wh_again) == want


def test_a_compaction_that_fails_never_fails_the_write_and_leaves_the_views_right(
    tmp_path, api, monkeypatch, caplog
):
    """Out of memory or disk while writing a base (no test server can run out on cue, hence the patch):
    the commit is already published, so the write succeeds, says why in a warning, and the views read the
    days from their own files; the next write retries."""
    wh = open_duckdb_store(tmp_path, app_id=APP)

    def out_of_memory(*args, **kwargs):
        raise duckdb.OutOfMemoryException("Out of Memory Error: failed to allocate data of size 16.0 MiB")

    monkeypatch.setattr(compaction, "_write_sorted", out_of_memory)
    with caplog.at_level(logging.WARNING):
        _sync_days(wh, api, DAYS[:FIRST_COMPACTION], "v1")
    assert "compacting meetings" in caplog.text and "Out of Memory Error" in caplog.text
    assert len(_day_versions(wh)) == FIRST_COMPACTION
    assert _analysts(wh) == _state(wh) and len(_state(wh)) == 2 * FIRST_COMPACTION
    assert not list(snapshots.base_path(wh.parquet_dir, "meetings").parent.glob(".*.tmp"))
    monkeypatch.undo()
    _sync_days(wh, api, DAYS[FIRST_COMPACTION:], "v1")
    assert _day_versions(wh) == [] and _analysts(wh) == _state(wh)
