"""Readers during a re-sync: an analyst's process loops `SELECT ... GROUP BY created_day` on RTK_DUCKDB_PATH
while the same days are re-synced again and again. Every version of a day has its own row count and title,
so a query that saw half a day (or rows of two versions) would show it, and days are only added, so a day
missing from an answer would too. It never errors and never does."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from rtk_pipeline.normalize import normalize_meetings
from rtk_pipeline.store import DuckDBStore, SyncRun
from rtk_pipeline.store.duckdb_file import compaction
from tests.support.emulator import APP
from tests.support.stores import open_duckdb_store

DAYS = [date(2026, 10, 1), date(2026, 10, 2), date(2026, 10, 3)]
VERSIONS = 12


def rows_of(version: int) -> int:
    return 300 + 170 * (version % 3)  # each version of a day has a different size


READER = """
import json, sys, duckdb
from pathlib import Path
if sys.argv[2] == "attach":  # another DuckDB session that attaches the file: it holds it like a session
    con = duckdb.connect()
    con.execute(f"ATTACH '{sys.argv[1]}' AS rtk (READ_ONLY); USE rtk")
else:
    con = duckdb.connect(sys.argv[1], read_only=sys.argv[2] == "ro")
stop = Path(sys.argv[3])
print("open", flush=True)
seen, errors, versions, most = 0, [], set(), 0
while not stop.exists():
    try:
        rows = con.execute(
            "SELECT created_day, count(*), count(DISTINCT title), min(title) FROM meetings GROUP BY ALL"
        ).fetchall()
    except Exception as exc:
        errors.append(f"{type(exc).__name__}: {exc}")
        continue
    seen += 1
    if len(rows) < most:  # days are only ever added or re-synced here
        errors.append(f"a day vanished: {len(rows)} days after {most}")
    most = max(most, len(rows))
    for day, n, titles, title in rows:
        versions.add(title)
        if titles != 1 or n != int(sys.argv[4]) + int(sys.argv[5]) * (int(title[1:]) % 3):
            errors.append(f"half a day: {day} {n} rows, {titles} versions ({title})")
print(json.dumps({"queries": seen, "errors": errors[:8], "versions": sorted(versions)}), flush=True)
"""


def _resync(wh: DuckDBStore, version: int) -> None:
    _commit_days(wh, version, DAYS)


def _read_through(reader_args: list[str], stop: Path, commit: Callable[[int], None]) -> dict:
    """Start a reader script (`-c` and its arguments, then the expected sizes), run the commits of versions
    1..VERSIONS while it loops, stop it, and return its report."""
    reader = subprocess.Popen(
        [sys.executable, "-c", *reader_args, "300", "170"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert reader.stdout.readline().strip() == "open"
        for version in range(1, VERSIONS + 1):
            commit(version)
        stop.touch()
        return json.loads(reader.communicate(timeout=120)[0])
    finally:
        if reader.poll() is None:
            reader.kill()
            reader.wait()


@pytest.mark.parametrize("mode", ["ro", "rw", "attach"])
def test_a_reader_looping_through_resyncs_never_errors_nor_sees_half_a_day(tmp_path, mode):
    wh = open_duckdb_store(tmp_path, app_id=APP)
    _resync(wh, 0)
    stop = tmp_path / "stop"
    report = _read_through(
        [READER, str(wh.duckdb_path), mode, str(stop)], stop, lambda version: _resync(wh, version)
    )
    assert report["errors"] == []
    assert report["queries"] > VERSIONS  # the reader really ran through the re-syncs...
    assert len(report["versions"]) > 2  # ...and saw several versions of the days come and go


SHORT_READER = """
import json, sys, duckdb
from pathlib import Path
stop = Path(sys.argv[2])
print("open", flush=True)
seen, errors, days, most = 0, [], set(), 0
while not stop.exists():
    try:  # a session per query: versions get collected between them
        con = duckdb.connect(sys.argv[1], read_only=True)
    except duckdb.IOException as exc:  # the pipeline holds the file for a moment: read_table waits too
        if "lock" not in str(exc):
            errors.append(f"{type(exc).__name__}: {exc}")
        continue
    try:
        try:
            rows = con.execute(
                "SELECT created_day, count(*), count(DISTINCT title), min(title) FROM meetings GROUP BY ALL"
            ).fetchall()
        finally:
            con.close()
    except Exception as exc:
        errors.append(f"{type(exc).__name__}: {exc}")
        continue
    seen += 1
    if len(rows) < most:
        errors.append(f"a day vanished: {len(rows)} days after {most}")
    most = max(most, len(rows))
    for day, n, titles, title in rows:
        days.add(str(day))
        if titles != 1 or n != int(sys.argv[3]) + int(sys.argv[4]) * (int(title[1:]) % 3):
            errors.append(f"half a day: {day} {n} rows, {titles} versions ({title})")
print(json.dumps({"queries": seen, "errors": errors[:8], "days": len(days)}), flush=True)
"""


def _commit_days(wh: DuckDBStore, version: int, days: list[date]) -> None:
    stages = []
    for day in days:
        records = [
            {"id": f"{day}-{version}-{i}", "title": f"v{version}", "created_at": f"{day}T12:00:00.000Z"}
            for i in range(rows_of(version))
        ]
        stage = wh.stage("meetings", [day])
        stage.write(normalize_meetings(records, synced_at=datetime.now(UTC)))
        stages.append(stage)
    wh.commit(stages, SyncRun(run_id=f"v{version}"))


@pytest.mark.parametrize("session", ["held", "per-query"])
def test_new_days_and_their_first_resync_are_never_seen_half_or_twice(tmp_path, session):
    """Each commit adds a day and re-syncs the day the previous one added: a day goes from one version to
    two while queries run (the moment a day listed with one version gains a newer file), and with
    per-query sessions the older version is collected between queries (two versions back to one)."""
    wh = open_duckdb_store(tmp_path, app_id=APP)
    days = [date(2026, 10, 1) + timedelta(days=n) for n in range(VERSIONS + 1)]
    _commit_days(wh, 0, days[:1])
    stop = tmp_path / "stop"
    script, args = (READER, ["ro", str(stop)]) if session == "held" else (SHORT_READER, [str(stop)])
    report = _read_through(
        [script, str(wh.duckdb_path), *args],
        stop,
        lambda version: _commit_days(wh, version, days[version - 1 : version + 1]),
    )
    assert report["errors"] == []
    assert report["queries"] > VERSIONS
    versions = sorted((wh.parquet_dir / ".snapshots" / "meetings").glob("*=2026-*/v-*.parquet"))
    if session == "per-query":  # the older versions went while no session held the file
        assert len(versions) < 2 * len(days)


def test_a_write_says_when_a_held_session_keeps_many_day_versions_from_the_base(
    tmp_path, caplog, analyst_session
):
    """A session held through re-syncs reads every day version published since it opened, on each query
    (nothing may be folded or removed meanwhile): below the threshold the writes are silent, from it on
    each says how many versions wait and which process holds the file."""
    wh = open_duckdb_store(tmp_path, app_id=APP)
    _resync(wh, 0)  # no session yet: folded into the base
    session = analyst_session(wh.duckdb_path, "ro")
    re_syncs = -(-compaction.WARN_WAITING_VERSIONS // len(DAYS))  # the versions reach the threshold
    with caplog.at_level(logging.WARNING):
        for version in range(1, re_syncs):
            _resync(wh, version)
        assert "wait to be folded" not in caplog.text
        _resync(wh, re_syncs)
    session.close()
    waiting = len(DAYS) * re_syncs
    assert (
        f"{waiting} day versions wait to be folded into {wh.duckdb_path}, which a session holds "
        f"(PID {session.proc.pid}): each of its queries reads them all" in caplog.text
    )
    _resync(wh, re_syncs + 1)  # the session closed: this write folds every day and removes the versions
    assert not list((wh.parquet_dir / ".snapshots" / "meetings").glob("*=2026-*/v-*.parquet"))
