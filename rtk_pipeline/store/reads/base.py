"""What every read class stands on: the store's app and its read connections."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date
from typing import Any

import duckdb

from rtk_pipeline.store.connect import as_warehouse_error
from rtk_pipeline.store.reads.connections import ReadConnections


class BaseReads:
    """Reads of one app's rows over `connections` (a backend's read-only DuckDB connections)."""

    def __init__(self, app_id: str, connections: ReadConnections) -> None:
        self.app_id = app_id
        self.connections = connections

    @contextmanager
    def reading(self) -> Iterator[None]:
        """Reads inside share one consistent read view (one connection of this thread)."""
        with self.connections.reading():
            yield

    def _rows(
        self, sql: str, params: Sequence | Mapping | None = None, *, missing_ok: bool = False
    ) -> list[tuple]:
        """A read-only query's rows; a DuckDB error is a WarehouseError (with `missing_ok`, a table that
        does not exist yet reads as empty)."""
        with self.connections.connection() as con, as_warehouse_error("reading"):
            try:
                return con.execute(sql, params).fetchall()
            except duckdb.CatalogException:
                if missing_ok:
                    return []
                raise

    def _per_day(self, sql: str, first: date, last: date, *params: Any) -> dict[date, tuple]:
        """Run a `SELECT day, ... WHERE day BETWEEN $1 AND $2 AND app_id = $3 ... GROUP BY day` (the
        store's app is $3, then `params`); day -> the other columns."""
        with self.connections.connection() as con:
            rows = con.execute(sql, [first, last, self.app_id, *params]).fetchall()
        return {row[0]: tuple(row[1:]) for row in rows}
