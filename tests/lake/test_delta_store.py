"""The Delta backend behind the Store interface: a sync lands exactly what the DuckDB backend lands, and the
analyst views answer the same over either."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pandas as pd
import pytest

from rtk_pipeline.store import Store
from rtk_pipeline.store.delta import DeltaStore
from rtk_pipeline.sync import sync_range
from tests.support.emulator import client_for
from tests.support.stores import open_duckdb_store

END = datetime(2026, 11, 1, tzinfo=UTC)
FIRST, LAST = date(2026, 10, 22), date(2026, 10, 31)


def frame(store: Store, sql: str) -> pd.DataFrame:
    with store.connect(read_only=True) as con:
        return con.execute(sql).df()


def test_delta_store_implements_the_store_protocol(tmp_path):
    assert isinstance(DeltaStore(str(tmp_path / "lake"), app_id="app"), Store)


@pytest.mark.parametrize("where", ["local", "s3"])
def test_a_sync_lands_what_the_duckdb_backend_lands(tmp_path, emulator, request, where):
    if where == "s3":
        s3 = request.getfixturevalue("s3")
        from rtk_pipeline.store.delta.objectstore import TableRoot

        delta = DeltaStore(
            TableRoot.from_env(s3.uri("w"), s3.env), app_id=emulator.app_id, staging_dir=tmp_path / "stage"
        )
    else:
        delta = DeltaStore(str(tmp_path / "lake"), app_id=emulator.app_id, staging_dir=tmp_path / "stage")
    duck = open_duckdb_store(tmp_path, app_id=emulator.app_id)
    with client_for(emulator) as client:
        for store in (duck, delta):
            sync_range(client, store, FIRST, LAST)
            sync_range(client, store, FIRST, FIRST)  # a re-sync replaces its day, never doubles it
    for sql in (
        "SELECT * FROM meetings_per_day ORDER BY day",
        "SELECT id, title, status, created_at, created_day FROM meetings ORDER BY id",
        "SELECT meeting_id, id, preset_name FROM participants ORDER BY meeting_id, id",
        "SELECT * FROM participants_per_meeting ORDER BY meeting_id",
    ):
        pd.testing.assert_frame_equal(frame(delta, sql), frame(duck, sql), check_dtype=False)
    truth = {m["id"] for m in emulator.meetings() if FIRST <= m_day(m) <= LAST}
    assert set(frame(delta, "SELECT id FROM meetings")["id"]) == truth
    runs = frame(delta, "SELECT table_name, outcome FROM sync_runs")
    assert len(runs) == 4 and set(runs["outcome"]) == {"success"}
    if where == "s3":  # no storage credential in any Delta log, data file or probe object
        secrets = [s3.env["AWS_SECRET_ACCESS_KEY"].encode(), s3.env["AWS_ACCESS_KEY_ID"].encode()]
        objects = s3.objects()
        assert any("_delta_log" in key for key in objects)
        assert [key for key, body in objects.items() if any(x in body for x in secrets)] == []


def m_day(meeting: dict) -> date:
    return datetime.fromisoformat(meeting["created_at"].replace("Z", "+00:00")).astimezone(UTC).date()
