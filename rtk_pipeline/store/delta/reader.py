"""DuckDB over the Delta tables through Arrow datasets, with the analyst views of `sql/views` on top.

Each connection is in memory and sees the tables' versions current when it was opened (a snapshot). It needs
no DuckDB extension: delta-rs resolves the table's files, DuckDB scans them as an Arrow dataset (projection
and filters pushed down), so it works with the pinned DuckDB on a machine that cannot download anything.
Every app's rows are there, with their `app_id` column (a table of a release without it is upgraded before
it is registered; for a read-only command it is read as it is, with the columns it lacks added as an upgrade
would fill them), so the views group and join by app as over the DuckDB file.
"""

from __future__ import annotations

import duckdb

from rtk_pipeline.store.connect import memory_connection
from rtk_pipeline.store.ddl import duckdb_type, view_sql
from rtk_pipeline.store.delta.lake import Lake
from rtk_pipeline.store.sqltext import lit, q


def connect(lake: Lake) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with every Delta table registered under its name and the analyst views."""
    con = memory_connection()
    try:
        for name, layout in lake.layouts.items():
            data = lake.dataset(name)
            missing = [f for f in layout.schema if f.name not in data.schema.names]
            if not missing:
                con.register(name, data)
                continue
            # A read-only reader of an earlier release's table: what it lacks, as an upgrade fills it.
            con.register(f"_rtk_stored_{name}", data)
            added = ", ".join(
                f"CAST({lit(lake.fill[f.name]) if f.name in lake.fill else 'NULL'} AS {duckdb_type(f)}) "
                f"AS {q(f.name)}"
                for f in missing
            )
            con.execute(f"CREATE VIEW {q(name)} AS SELECT *, {added} FROM {q(f'_rtk_stored_{name}')}")
        for sql in view_sql():  # table DDL is the Delta tables' job
            con.execute(sql)
    except BaseException:
        con.close()
        raise
    return con
