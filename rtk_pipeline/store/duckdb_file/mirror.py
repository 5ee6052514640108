"""The DuckDB backend's mirror check: each day's Parquet file against the day's rows in the state."""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import date, timedelta
from pathlib import Path

import duckdb

from rtk_pipeline.schemas import TABLES
from rtk_pipeline.store.duckdb_file.parquet import parquet_path
from rtk_pipeline.store.records import MirrorDiff
from rtk_pipeline.store.sqltext import lit


def mirror_diffs(
    connection: AbstractContextManager[duckdb.DuckDBPyConnection],
    app_id: str,
    parquet_dir: Path,
    table: str,
    first: date,
    last: date,
) -> dict[date, MirrorDiff]:
    """Each day's Parquet file against the day's DuckDB rows, by key with multiplicity (the app's rows of
    both: a day's file holds every app's)."""
    spec = TABLES[table]
    key = ", ".join(spec.key)
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    files = {d: path for d in days if (path := parquet_path(parquet_dir, table, d)).exists()}
    table_rows = (
        f"SELECT {spec.day} AS day, {key} FROM {table} "
        f"WHERE {spec.day} BETWEEN $first AND $last AND app_id = $app"
    )
    if files:
        listed = ", ".join(lit(str(p)) for p in files.values())
        file_rows = (
            f"SELECT CAST(regexp_extract(filename, '=([0-9-]+)/[^/]*$', 1) AS DATE) AS day, {key} "
            f"FROM read_parquet([{listed}], filename = true, hive_partitioning = false) "
            "WHERE app_id = $app"
        )
    else:
        file_rows = "SELECT * FROM t WHERE false"
    with connection as con:
        rows = con.execute(
            f"""
            WITH t AS ({table_rows}), p AS ({file_rows})
            SELECT 'table', day, count(*) FROM t GROUP BY day
            UNION ALL SELECT 'parquet', day, count(*) FROM p GROUP BY day
            UNION ALL SELECT 'only_table', day, count(*) FROM (FROM t EXCEPT ALL FROM p) GROUP BY day
            UNION ALL SELECT 'only_parquet', day, count(*) FROM (FROM p EXCEPT ALL FROM t) GROUP BY day
            """,
            {"first": first, "last": last, "app": app_id},
        ).fetchall()
    counts = {(kind, d): n for kind, d, n in rows}
    return {
        d: MirrorDiff(
            table_rows=counts.get(("table", d), 0),
            mirror_rows=counts.get(("parquet", d), 0),
            only_table=counts.get(("only_table", d), 0),
            only_mirror=counts.get(("only_parquet", d), 0),
            location=str(files[d]) if d in files else None,
        )
        for d in days
    }
