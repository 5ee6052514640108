"""Stores for tests: a DuckDB store in a folder, and the rows of a query (from a store or any DuckDB file)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb

from rtk_pipeline.store import DuckDBStore, SqlReads
from tests.support.emulator import APP


def open_duckdb_store(root: Path, *, app_id: str = APP, **options: Any) -> DuckDBStore:
    """The DuckDB store of `root` (<root>/rtk.duckdb and <root>/parquet), for `app_id`."""
    return DuckDBStore(root / "rtk.duckdb", root / "parquet", app_id=app_id, **options)


def rows(source: SqlReads | Path | str, sql: str, params: Sequence | Mapping | None = None) -> list[tuple]:
    """A query's rows as tuples: through a store's read-only SQL door, or from a DuckDB file opened
    read-only (session time zone UTC) and closed again."""
    if isinstance(source, SqlReads):
        table = source.query(sql, params)
        return list(zip(*(column.to_pylist() for column in table.columns), strict=True))
    con = duckdb.connect(str(source), read_only=True)
    try:
        con.execute("SET TimeZone = 'UTC'")
        return con.execute(sql, params).fetchall()
    finally:
        con.close()
