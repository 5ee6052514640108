"""DuckDB over the Delta tables through Arrow datasets, with the analyst views of `sql/views` on top.

Each connection is in memory and sees the tables' versions current when it was opened (a snapshot). It needs
no DuckDB extension: delta-rs resolves the table's files, DuckDB scans them as an Arrow dataset (projection
and filters pushed down), so it works with the pinned DuckDB on a machine that cannot download anything.
"""

from __future__ import annotations

import duckdb

from rtk_pipeline.store.connection import memory_connection, sql_dir
from rtk_pipeline.store.delta.lake import Lake


def connect(lake: Lake) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with every Delta table registered under its name and the analyst views."""
    con = memory_connection()
    try:
        for name in lake.layouts:
            con.register(name, lake.dataset(name))
        views = (p for p in (sql_dir() / "views").iterdir() if p.name.endswith(".sql"))
        for path in sorted(views, key=lambda p: p.name):  # table DDL is the Delta tables' job
            con.execute(path.read_text(encoding="utf-8"))
    except BaseException:
        con.close()
        raise
    return con
