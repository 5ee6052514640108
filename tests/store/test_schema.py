"""The DDL in sql/ and the stored Arrow schemas (normalize's, then app_id) declare the same tables, column by
column."""

from __future__ import annotations

from datetime import date

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rtk_pipeline.normalize import normalize_meetings, normalize_participants
from rtk_pipeline.schemas import TABLE_SCHEMAS
from rtk_pipeline.store import TABLES, duckdb_type, sql_dir


@pytest.fixture(scope="module")
def ddl_columns() -> dict[str, list[tuple[str, str, bool]]]:
    """(name, type, nullable) per table, from running only the sql/ files in an empty database."""
    con = duckdb.connect()
    for path in sorted((p for p in sql_dir().iterdir() if p.name.endswith(".sql")), key=lambda p: p.name):
        con.execute(path.read_text())
    out = {}
    for table in TABLE_SCHEMAS:
        out[table] = [
            (name, dtype, nullable == "YES")
            for name, dtype, nullable in con.execute(
                "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
                "WHERE table_name = ? ORDER BY ordinal_position",
                [table],
            ).fetchall()
        ]
    return out


@pytest.mark.parametrize("table", sorted(TABLE_SCHEMAS))
def test_ddl_matches_arrow_schema_column_by_column(ddl_columns, table):
    declared = [(f.name, duckdb_type(f), f.nullable) for f in TABLE_SCHEMAS[table]]
    assert ddl_columns[table] == declared


def test_normalized_batches_round_trip_through_duckdb_unchanged(warehouse, api):
    day = date(2026, 10, 1)
    meetings = normalize_meetings(
        [api.meeting(day, ai_config={"a": 1}), {"id": "broken", "created_at": "never"}], synced_at=api.SYNCED
    )
    people = normalize_participants("m-1", day, [api.participant(api.SYNCED)], synced_at=api.SYNCED)
    batches = {
        "meetings": meetings.batch,
        "participants": people.batch,
        "rejected_records": meetings.rejected,
    }
    with warehouse.connect() as con:
        for name, batch in batches.items():
            con.register("b", batch)
            con.execute(f"INSERT INTO {name} BY NAME SELECT *, 'app-1' AS app_id FROM b")
            con.unregister("b")
            back = con.sql(f"SELECT * FROM {name}").to_arrow_table()
            assert [(f.name, f.type) for f in back.schema] == [(f.name, f.type) for f in TABLE_SCHEMAS[name]]
            assert back.column("app_id").unique().to_pylist() == ["app-1"]
            assert back.drop_columns(["app_id"]).to_pylist() == pa.Table.from_batches([batch]).to_pylist()


def test_parquet_files_carry_the_declared_schema_without_the_partition_column(warehouse, api):
    day = date(2026, 10, 1)
    (path,) = api.sync_meetings(warehouse, [day], [api.meeting(day)])
    spec = TABLES["meetings"]
    expected = spec.schema.remove(spec.schema.get_field_index("created_day"))
    assert pq.read_schema(path).remove_metadata().equals(expected)
