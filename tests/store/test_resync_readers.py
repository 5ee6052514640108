"""Readers during a re-sync: an analyst's process loops `SELECT ... GROUP BY created_day` on RTK_DUCKDB_PATH
while the same days are re-synced again and again. Every version of a day has its own row count and title,
so a query that saw half a day (or rows of two versions) would show it. It never errors and never does."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, date, datetime

import pytest

from rtk_pipeline.normalize import normalize_meetings
from rtk_pipeline.store import DuckDBStore, SyncRun
from tests.support.emulator import APP
from tests.support.stores import open_duckdb_store

DAYS = [date(2026, 10, 1), date(2026, 10, 2), date(2026, 10, 3)]
VERSIONS = 12


def rows_of(version: int) -> int:
    return 300 + 170 * (version % 3)  # each version of a day has a different size


READER = """
import json, sys, duckdb
from pathlib import Path
con = duckdb.connect(sys.argv[1], read_only=sys.argv[2] == "ro")
stop = Path(sys.argv[3])
print("open", flush=True)
seen, errors, versions = 0, [], set()
while not stop.exists():
    try:
        rows = con.execute(
            "SELECT created_day, count(*), count(DISTINCT title), min(title) FROM meetings GROUP BY ALL"
        ).fetchall()
    except Exception as exc:
        errors.append(f"{type(exc).__name__}: {exc}")
        continue
    seen += 1
    for day, n, titles, title in rows:
        versions.add(title)
        if titles != 1 or n != int(sys.argv[4]) + int(sys.argv[5]) * (int(title[1:]) % 3):
            errors.append(f"half a day: {day} {n} rows, {titles} versions ({title})")
print(json.dumps({"queries": seen, "errors": errors[:8], "versions": sorted(versions)}), flush=True)
"""


def _resync(wh: DuckDBStore, version: int) -> None:
    stages = []
    for day in DAYS:
        created = f"{day}T12:00:00.000Z"
        records = [
            {"id": f"{day}-{version}-{i}", "title": f"v{version}", "created_at": created}
            for i in range(rows_of(version))
        ]
        stage = wh.stage("meetings", [day])
        stage.write(normalize_meetings(records, synced_at=datetime.now(UTC)))
        stages.append(stage)
    wh.commit(stages, SyncRun(run_id=f"v{version}"))


@pytest.mark.parametrize("mode", ["ro", "rw"])
def test_a_reader_looping_through_resyncs_never_errors_nor_sees_half_a_day(tmp_path, mode):
    wh = open_duckdb_store(tmp_path, app_id=APP)
    _resync(wh, 0)
    stop = tmp_path / "stop"
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(wh.duckdb_path), mode, str(stop), "300", "170"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert reader.stdout.readline().strip() == "open"
        for version in range(1, VERSIONS + 1):
            _resync(wh, version)
        stop.touch()
        report = json.loads(reader.communicate(timeout=120)[0])
    finally:
        if reader.poll() is None:
            reader.kill()
            reader.wait()
    assert report["errors"] == []
    assert report["queries"] > VERSIONS  # the reader really ran through the re-syncs...
    assert len(report["versions"]) > 2  # ...and saw several versions of the days come and go
