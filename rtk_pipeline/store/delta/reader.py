"""DuckDB over the Delta tables through Arrow datasets, with the analyst views of `sql/views` on top.

Each connection is in memory and sees the tables' versions current when it was opened (a snapshot). It needs
no DuckDB extension: delta-rs resolves the table's files, DuckDB scans them as an Arrow dataset (projection
and filters pushed down), so it works with the pinned DuckDB on a machine that cannot download anything.
Every app's rows are there, with their `app_id` column (a table of a release without it is upgraded before
it is registered), so the views group and join by app as over the DuckDB file.
"""

from __future__ import annotations

import duckdb

from rtk_pipeline.store.connect import memory_connection
from rtk_pipeline.store.ddl import view_sql
from rtk_pipeline.store.delta.lake import Lake


def connect(lake: Lake) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with every Delta table registered under its name and the analyst views."""
    con = memory_connection()
    try:
        for name in lake.layouts:
            con.register(name, lake.dataset(name))
        for sql in view_sql():  # table DDL is the Delta tables' job
            con.execute(sql)
    except BaseException:
        con.close()
        raise
    return con
