"""A writer killed with SIGKILL (inside the transaction, or between the commit and the Parquet files)
leaves an openable warehouse with the day's previous data, and the next writer completes the work.
Also: a reader holding the DuckDB file makes a commit wait (bounded), not fail."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

import rtk_pipeline
from rtk_pipeline.store import DuckDBStore, SqlReads, WarehouseBusyError
from tests.support.emulator import APP

D1, D2 = date(2026, 10, 1), date(2026, 10, 2)
REPO = Path(rtk_pipeline.__file__).resolve().parents[1]

# The child stages the new rows and commits; a test hook stalls it at the chosen point so the parent can
# SIGKILL it there. The hook wraps the real method, so everything up to that point really happened.
WRITER = """
import importlib, json, sys, time
from datetime import date, datetime, timezone
from pathlib import Path
from rtk_pipeline.normalize import normalize_meetings
from rtk_pipeline.store import DuckDBStore, SyncRun

db, parquet, phase, marker, records = sys.argv[1:]
module_name, function = phase.split(":")
module = importlib.import_module(module_name)
real = getattr(module, function)

def stall(*args):
    out = real(*args)
    Path(marker).write_text(phase)
    time.sleep(120)
    return out

setattr(module, function, stall)
from tests.support.emulator import APP
wh = DuckDBStore(Path(db), Path(parquet), app_id=APP)
days = [date(2026, 10, 1), date(2026, 10, 2)]
with wh.stage("meetings", days) as stage:
    stage.write(normalize_meetings(json.loads(records), synced_at=datetime.now(timezone.utc)))
    wh.commit([stage], SyncRun(run_id="killed", table_name="meetings"))
"""


def run_and_kill(tmp_path: Path, wh: DuckDBStore, phase: str, records: list[dict]) -> None:
    marker = tmp_path / f"{phase}.reached"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    args = [str(wh.duckdb_path), str(wh.parquet_dir), phase, str(marker), json.dumps(records)]
    child = subprocess.Popen([sys.executable, "-c", WRITER, *args], env=env, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert child.poll() is None, child.stderr.read().decode()
            assert time.monotonic() < deadline, "the writer never reached the kill point"
            time.sleep(0.05)
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
        child.stderr.close()


def stored_ids(wh: SqlReads, day: date) -> list[str]:
    rows = wh.query_df(f"SELECT id FROM meetings WHERE created_day = DATE '{day}' ORDER BY id")
    return rows.id.tolist()


def file_ids(wh: DuckDBStore, day: date) -> list[str]:
    return sorted(pq.read_table(wh.parquet_path("meetings", day)).column("id").to_pylist())


def test_sigkill_inside_the_transaction_keeps_the_old_day_and_a_rerun_completes(tmp_path, warehouse, api):
    old = [api.meeting(D1) for _ in range(3)] + [api.meeting(D2)]
    api.sync_meetings(warehouse, [D1, D2], old)
    new = [api.meeting(D1) for _ in range(4)]

    run_and_kill(tmp_path, warehouse, "rtk_pipeline.store.duckdb_file.commit:insert_sync_run", new)

    con = duckdb.connect(str(warehouse.state_path))  # opens read-write: not corrupt, not locked
    con.close()
    assert stored_ids(warehouse, D1) == sorted(m["id"] for m in old[:3])
    assert stored_ids(warehouse, D2) == [old[3]["id"]]
    assert file_ids(warehouse, D1) == sorted(m["id"] for m in old[:3])
    assert warehouse.query_df("SELECT run_id FROM sync_runs").run_id.tolist() == ["run"]

    api.sync_meetings(warehouse, [D1, D2], new)  # the re-run completes it (and sweeps the dead stage)
    assert stored_ids(warehouse, D1) == file_ids(warehouse, D1) == sorted(m["id"] for m in new)
    assert stored_ids(warehouse, D2) == [] and not warehouse.parquet_path("meetings", D2).exists()
    assert not list(warehouse.staging_dir.iterdir())


def test_sigkill_between_commit_and_parquet_is_finished_by_the_next_writer(tmp_path, warehouse, api):
    old = [api.meeting(D1), api.meeting(D2)]
    api.sync_meetings(warehouse, [D1, D2], old)
    new = [api.meeting(D1), api.meeting(D2)]

    run_and_kill(
        tmp_path, warehouse, "rtk_pipeline.store.duckdb_file.parquet:_export_day", new
    )  # dies after writing the first day's file

    assert stored_ids(warehouse, D1) + stored_ids(warehouse, D2) == [new[0]["id"], new[1]["id"]]
    assert file_ids(warehouse, D1) == [new[0]["id"]]
    assert file_ids(warehouse, D2) == [old[1]["id"]]  # stale, but queued durably
    assert warehouse.parquet_path("meetings", D2) in warehouse.export_pending()
    assert file_ids(warehouse, D2) == [new[1]["id"]]
    assert api.rows(warehouse, "SELECT count(*) FROM parquet_exports_pending") == [(0,)]


HOLDER = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1], read_only=sys.argv[3] == "ro")
print("open", flush=True)
time.sleep(float(sys.argv[2]))
"""


def _hold(path, seconds: float, mode: str) -> subprocess.Popen:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path), str(seconds), mode], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout.readline().strip() == "open"
    return holder


def _release(holder: subprocess.Popen) -> None:
    holder.kill()
    holder.wait()
    holder.stdout.close()


@pytest.mark.parametrize("mode", ["ro", "rw"])
def test_an_analyst_holding_the_warehouse_file_never_delays_a_commit(tmp_path, api, mode):
    wh = DuckDBStore(tmp_path / "w.duckdb", tmp_path / "pq", busy_timeout=0.5, app_id=APP)
    wh.ensure_schema()
    holder = _hold(wh.duckdb_path, 30.0, mode)
    try:
        api.sync_meetings(wh, [D1], [api.meeting(D1)])
        assert len(stored_ids(wh, D1)) == 1 == len(file_ids(wh, D1))
    finally:
        _release(holder)


@pytest.mark.parametrize(("hold_s", "busy_timeout", "succeeds"), [(1.0, 20.0, True), (30.0, 0.5, False)])
def test_a_process_holding_the_private_state_delays_a_commit_within_a_bound(
    tmp_path, api, hold_s, busy_timeout, succeeds
):
    wh = DuckDBStore(tmp_path / "w.duckdb", tmp_path / "pq", busy_timeout=busy_timeout, app_id=APP)
    wh.ensure_schema()
    holder = _hold(wh.state_path, hold_s, "ro")
    try:
        if succeeds:
            api.sync_meetings(wh, [D1], [api.meeting(D1)])
            assert len(stored_ids(wh, D1)) == 1
        else:
            with pytest.raises(WarehouseBusyError, match=r"pipeline\.duckdb stayed locked"):
                api.sync_meetings(wh, [D1], [api.meeting(D1)])
    finally:
        _release(holder)
    if not succeeds:
        assert stored_ids(wh, D1) == []
        assert not list(wh.staging_dir.iterdir())  # the staged rows went with the failed commit


CONCURRENT = """
import sys
from datetime import date, datetime, timezone
from pathlib import Path
from rtk_pipeline.normalize import normalize_meetings
from rtk_pipeline.store import DuckDBStore, SyncRun

db, parquet, day, n = sys.argv[1], sys.argv[2], date.fromisoformat(sys.argv[3]), int(sys.argv[4])
from tests.support.emulator import APP
wh = DuckDBStore(Path(db), Path(parquet), app_id=APP)
created = f"{day}T12:00:00.000Z"
for attempt in range(2):  # each process re-syncs its day twice, racing the other one
    records = [{"id": f"{day}-{i}", "created_at": created} for i in range(n)]
    with wh.stage("meetings", [day]) as stage:
        stage.write(normalize_meetings(records, synced_at=datetime.now(timezone.utc)))
        wh.commit([stage], SyncRun(run_id=f"{day}-{attempt}", table_name="meetings"))
"""


def test_writers_in_separate_processes_are_serialized_and_all_land(tmp_path, warehouse):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    days = {D1: 300, D2: 200}
    writers = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                CONCURRENT,
                str(warehouse.duckdb_path),
                str(warehouse.parquet_dir),
                str(d),
                str(n),
            ],
            env=env,
            stderr=subprocess.PIPE,
        )
        for d, n in days.items()
    ]
    for writer in writers:
        _, err = writer.communicate(timeout=120)
        assert writer.returncode == 0, err.decode()
    for d, n in days.items():
        assert len(stored_ids(warehouse, d)) == n == len(file_ids(warehouse, d))
    assert len(warehouse.query_df("sync_runs")) == 4
