"""Compaction (issue 22): the analysts' views read a native base table per day table in the analysts' file,
plus the days published since from their files. A write folds its days into the base only while no
session holds the file; the views give the state's rows before, during and after, and a re-synced day is
read from its new version, never from the base's older copy."""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
from datetime import date, timedelta

import duckdb

from rtk_pipeline.store.duckdb_file import compaction, snapshots
from tests.support.emulator import APP
from tests.support.stores import open_duckdb_store

DAYS = [date(2026, 10, 1) + timedelta(days=n) for n in range(6)]
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


def _base(wh, sql: str = "SELECT id, title, status, created_day FROM _rtk_base.meetings ORDER BY id") -> list:
    return _rows(wh.duckdb_path, sql)


def test_each_write_folds_its_days_into_the_base_and_the_views_give_the_state(tmp_path, api):
    assert compaction.COMPACT_AFTER_DAYS == 1  # a write folds what it published whenever it can
    wh = open_duckdb_store(tmp_path, app_id=APP)
    for n, day in enumerate(DAYS[:4], start=1):
        _sync_days(wh, api, [day], "v1")
        assert _day_versions(wh) == []  # the day went into the base...
        assert _base(wh) == _state(wh) and len(_state(wh)) == 2 * n  # ...as the state has it
    days = [d for (d,) in _base(wh, "SELECT created_day FROM _rtk_base.meetings")]
    assert days == sorted(days)  # in day order: a day filter skips the other row groups
    assert _analysts(wh) == _state(wh)

    # A re-synced day replaces the base's copy of it, once; an emptied day leaves none.
    api.sync_meetings(wh, [DAYS[1]], [api.meeting(DAYS[1], title="v2")])
    api.sync_meetings(wh, [DAYS[2]], [])
    assert _day_versions(wh) == []
    assert _base(wh) == _state(wh) == _analysts(wh)
    assert {r[1] for r in _base(wh) if r[3] == DAYS[1]} == {"v2"}
    assert not [r for r in _base(wh) if r[3] == DAYS[2]]


HOLD = """
import sys, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
print("open", flush=True)
for line in sys.stdin:
    print(repr(con.execute(line).fetchall()), flush=True)
"""


def _session(wh) -> subprocess.Popen:
    """An analyst's read-only session on the analysts' file, in a process of its own, open on return."""
    session = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(wh.duckdb_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert session.stdout is not None and session.stdout.readline().strip() == "open"
    return session


def _ask(session, sql: str) -> str:
    session.stdin.write(f"{sql}\n")
    session.stdin.flush()
    return session.stdout.readline().strip()


def test_a_held_session_defers_the_fold_and_keeps_seeing_every_commit(tmp_path, api):
    wh = open_duckdb_store(tmp_path, app_id=APP)
    _sync_days(wh, api, DAYS[:1], "v1")
    session = _session(wh)
    try:
        _sync_days(wh, api, DAYS[1:], "v1")
        assert len(_day_versions(wh)) == len(DAYS) - 1  # nothing folded while the session is open
        assert _ask(session, "SELECT count(*) FROM _rtk_base.meetings") == "[(2,)]"
        assert _ask(session, QUERY) == repr(_state(wh))  # the held session sees every day
        # A day emptied while its older version is kept for the session: the newest (a marker) wins.
        api.sync_meetings(wh, [DAYS[1]], [])
        assert len(list((wh.parquet_dir / snapshots.FOLDER / "meetings").glob(f"*={DAYS[1]}/v-*"))) == 2
        assert _ask(session, QUERY) == repr(_state(wh))
        assert not [r for r in _state(wh) if r[3] == DAYS[1]]
        # A new writer (a new process: each Dagster run is one) snapshots no day the base already holds.
        _sync_days(open_duckdb_store(tmp_path, app_id=APP), api, DAYS[:1], "v2")
        assert _ask(session, QUERY) == repr(_state(wh))
        assert not list((wh.parquet_dir / snapshots.FOLDER / "participants").glob("*=2026-*/v-*.parquet"))
    finally:
        session.stdin.close()
        session.wait(timeout=30)
    _sync_days(wh, api, DAYS[:1], "v3")  # the next write finds the file free
    assert _day_versions(wh) == []
    assert _base(wh) == _state(wh) == _analysts(wh) and len(_state(wh)) == 2 * (len(DAYS) - 1)


def test_a_crash_between_the_fold_and_the_removal_of_its_days_reads_the_same_rows(tmp_path, api):
    """The base's transaction commits before the day versions it holds are removed: killed in between,
    both are there, and each such day is read from its version (the same rows), never twice."""
    wh = open_duckdb_store(tmp_path, app_id=APP)
    _sync_days(wh, api, DAYS[:1], "v1")
    session = _session(wh)
    try:  # the versions of three days pile up while a session holds the file
        _sync_days(wh, api, DAYS[1:3], "v1")
        api.sync_meetings(wh, [DAYS[0]], [api.meeting(DAYS[0], title="v2")])
    finally:
        session.stdin.close()
        session.wait(timeout=30)
    kept = tmp_path / "kept"
    shutil.copytree(wh.parquet_dir / snapshots.FOLDER / "meetings", kept)
    _sync_days(wh, api, DAYS[3:4], "v1")  # folds all four days and removes their versions
    assert _day_versions(wh) == []
    shutil.copytree(kept, wh.parquet_dir / snapshots.FOLDER / "meetings", dirs_exist_ok=True)
    assert len(_day_versions(wh)) == 3
    assert _analysts(wh) == _state(wh) == _base(wh) and len(_state(wh)) == 7


def test_repair_rebuilds_the_state_from_the_mirror_without_the_analysts_file(tmp_path, api):
    wh = open_duckdb_store(tmp_path, app_id=APP)
    _sync_days(wh, api, DAYS[:3], "v1")
    api.sync_meetings(wh, [DAYS[0]], [api.meeting(DAYS[0], title="v2")])
    api.sync_meetings(wh, [DAYS[1]], [])
    want = _state(wh)
    wh.state_path.unlink()
    wh.duckdb_path.unlink()
    wh_again = open_duckdb_store(tmp_path, app_id=APP)
    wh_again.repair()
    assert _state(wh_again) == want == _analysts(wh_again) == _base(wh_again)


def test_a_fold_that_fails_never_fails_the_write_and_leaves_the_views_right(
    tmp_path, api, monkeypatch, caplog
):
    """Out of memory or disk while folding (no test server can run out on cue, hence the patch): the
    commit is already published, so the write succeeds, says why in a warning, the base's transaction
    rolls back whole, and the views read the days from their own files; the next write retries."""
    wh = open_duckdb_store(tmp_path, app_id=APP)
    _sync_days(wh, api, DAYS[:2], "v1")
    folded = _base(wh)

    def out_of_memory(*args, **kwargs):
        raise duckdb.OutOfMemoryException("Out of Memory Error: failed to allocate data of size 16.0 MiB")

    monkeypatch.setattr(compaction, "_copy_days", out_of_memory)
    with caplog.at_level(logging.WARNING):
        _sync_days(wh, api, DAYS[2:4], "v1")
        api.sync_meetings(wh, [DAYS[0]], [api.meeting(DAYS[0], title="v2")])
    assert "folding meetings" in caplog.text and "Out of Memory Error" in caplog.text
    assert len(_day_versions(wh)) == 3
    assert _base(wh) == folded  # the delete before the copy rolled back with it
    assert _analysts(wh) == _state(wh) and len(_state(wh)) == 7
    monkeypatch.undo()
    _sync_days(wh, api, DAYS[4:], "v1")
    assert _day_versions(wh) == [] and _base(wh) == _analysts(wh) == _state(wh)
