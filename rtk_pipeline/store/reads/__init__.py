"""The one read implementation of both backends: DuckDB SQL over a read-only connection that the backend
supplies (the DuckDB file, or an in-memory DuckDB over the Delta tables)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import pyarrow as pa

from rtk_pipeline.nopandas import pandas_ready
from rtk_pipeline.store.connect import as_warehouse_error
from rtk_pipeline.store.reads.checks import CheckReads
from rtk_pipeline.store.reads.connections import ReadConnections
from rtk_pipeline.store.reads.records import RecordReads
from rtk_pipeline.store.reads.refresh import RefreshReads
from rtk_pipeline.store.sqltext import as_query

if TYPE_CHECKING:  # pandas costs ~70 MB and ~0.8 s to import; a backfill never needs it
    import pandas as pd

__all__ = ["ReadConnections", "Reads"]


class Reads(RecordReads, CheckReads, RefreshReads):
    """Every named read, plus the read-only SQL door analysts use (`rtk-pipeline sql`, notebooks)."""

    def query(self, name_or_sql: str, params: Sequence | Mapping | None = None) -> pa.Table:
        """A table, view, table-macro call or SELECT as an Arrow table (every app's rows, read-only)."""
        with self.connections.connection() as con, as_warehouse_error("reading"):
            return con.sql(as_query(name_or_sql), params=params).to_arrow_table()

    def query_df(self, name_or_sql: str, params: Sequence | Mapping | None = None) -> pd.DataFrame:
        """`query` as a pandas DataFrame (timestamps UTC-aware)."""
        with self.connections.connection() as con:
            frame = con.execute(as_query(name_or_sql), params).df()
        pandas_ready()
        return frame
