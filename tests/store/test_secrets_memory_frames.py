"""No secret reaches a table or a file; staging keeps memory flat; the notebook helper reads read-only."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import psutil
import pyarrow.parquet as pq
import pytest

from rtk_pipeline.errors import WarehouseError
from rtk_pipeline.frames import read_table
from rtk_pipeline.normalize import normalize_meetings
from rtk_pipeline.store import SyncRun

D1 = date(2026, 10, 1)
SECRETS = [
    "AKIA-SECRET-ACCESS-KEY-1",
    "secret-storage-value-2",
    "sftp-password-value-3",
    "BEGIN-PRIVATE-KEY-4",
    "participant-jwt-token-5",
    "deep-nested-password-6",
    "rejected-record-token-7",
    "api-bearer-token-8",
    "sas-token-in-unknown-field-9",
]


def test_secrets_never_reach_a_table_or_a_file(warehouse, api, tmp_path):
    storage = {
        "type": "sftp",
        "access_key": SECRETS[0],
        "secret": SECRETS[1],
        "password": SECRETS[2],
        "private_key": SECRETS[3],
        "host": "sftp.example.com",
    }
    meeting = api.meeting(
        D1,
        recording_config={"max_seconds": 60, "storage_config": storage},
        new_field={"items": [{"ok": 1, "password": SECRETS[5]}], "sasToken": SECRETS[8]},
        token=SECRETS[4],
    )
    broken = {"id": "broken", "created_at": "not a time", "token": SECRETS[6], "recording_config": storage}
    person = api.participant(
        datetime(2026, 10, 1, 11, tzinfo=UTC), token=SECRETS[4], extra={"secret": SECRETS[1]}
    )
    api.sync_meetings(warehouse, [D1], [meeting, broken])
    api.sync_participants(warehouse, [D1], {(meeting["id"], D1): [person, {"token": SECRETS[6]}]})
    patched = normalize_meetings([{**meeting, "status": "INACTIVE"}], synced_at=api.SYNCED)
    warehouse.upsert_meetings(patched.batch)
    warehouse.record_failed_run(
        SyncRun(run_id="x", table_name="meetings", error=f"401 with Authorization: Bearer {SECRETS[7]}")
    )
    assert api.rows(warehouse, "SELECT count(*) FROM rejected_records") == [(2,)]
    assert "sftp.example.com" in api.rows(warehouse, "SELECT recording_config FROM meetings")[0][0]

    with warehouse.connect(read_only=True) as con:
        names = [n for (n,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall()]
        dump = "".join(str(con.execute(f'SELECT * FROM "{n}"').fetchall()) for n in names)
    assert {"meetings", "participants", "rejected_records", "sync_runs", "meeting_last_activity"} <= set(
        names
    )
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.suffix == ".parquet" for p in files)
    decoded = "".join(str(pq.read_table(p).to_pylist()) for p in files if p.suffix == ".parquet")
    for secret in SECRETS:
        assert secret not in dump and secret not in decoded
        for path in files:
            assert secret.encode() not in path.read_bytes(), (secret, path)


def test_staging_200k_rows_in_pages_keeps_memory_flat(warehouse, api):
    """Rows stream to Parquet part files: resident memory must not grow with the number of rows staged."""
    base = datetime(2026, 10, 1, tzinfo=UTC)
    days = [D1 + timedelta(days=i) for i in range(10)]

    template = api.meeting(days[0])

    def page(n: int) -> list[dict]:
        created = api.iso(base + timedelta(seconds=n * 86400 * 10 / 200))
        return [{**template, "id": f"m-{n}-{i}", "created_at": created} for i in range(1000)]

    process = psutil.Process()
    with warehouse.stage("meetings", days) as stage:
        for n in range(20):  # warm up: allocator pools, first part file
            stage.write(normalize_meetings(page(n), synced_at=api.SYNCED))
        baseline = peak = process.memory_info().rss
        for n in range(20, 200):
            stage.write(normalize_meetings(page(n), synced_at=api.SYNCED))
            peak = max(peak, process.memory_info().rss)
        assert stage.rows_written == 200_000
        stage.discard()
    grown = (peak - baseline) / 2**20
    # 180k more rows as Python dicts would take ~250 MB; the stage holds at most one 16k-row buffer.
    assert grown < 60, f"RSS grew {grown:.0f} MiB while staging"


def test_read_table_takes_names_macro_calls_and_sql_read_only(warehouse, api, monkeypatch):
    api.sync_meetings(warehouse, [D1], [api.meeting(D1), api.meeting(D1, status="INACTIVE")])
    path = warehouse.duckdb_path
    frame = read_table("meetings", path)
    assert len(frame) == 2 and str(frame.created_at.dtype) == "datetime64[us, UTC]"
    assert read_table("meetings_per_day", path).total.tolist() == [2]
    assert len(read_table("stale_candidates(0, now())", path)) == 1
    got = read_table("SELECT status FROM meetings WHERE status = ? ORDER BY 1", path, params=["INACTIVE"])
    assert got.status.tolist() == ["INACTIVE"]
    monkeypatch.setenv("RTK_DUCKDB_PATH", str(path))
    assert len(read_table("meetings")) == 2
    with pytest.raises(WarehouseError, match="one SELECT"):
        read_table("CREATE TABLE notes (n INTEGER)", path)
    with pytest.raises(FileNotFoundError, match="rtk-pipeline backfill"):
        read_table("meetings", path.with_name("missing.duckdb"))
    assert len(read_table("meetings", path)) == 2
