"""The sandbox of the analysts' SQL door (`rtk-pipeline sql`, `rtk_pipeline.frames.read_table`): one SELECT
over a read-only connection that reaches no file outside the data folders (ARCHITECTURE.md).

DuckDB's own switches do most of it: `allowed_directories` (the Parquet folder), then
`enable_external_access = false` and `lock_configuration = true`, so `read_text('/proc/self/environ')`, an
`ATTACH` or a `COPY ... TO` outside the folder is refused and no query can undo the settings. A `COPY` into
the folder would still be allowed, so only a single SELECT runs at all. An analyst who needs more opens the
analysts' file with DuckDB directly (README).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa

from rtk_pipeline.errors import WarehouseError
from rtk_pipeline.nopandas import pandas_ready
from rtk_pipeline.store.connect import memory_connection
from rtk_pipeline.store.sqltext import as_query, lit

if TYPE_CHECKING:  # pandas costs ~70 MB and ~0.8 s to import; only a caller that asks for a frame pays
    import pandas as pd


# What may run: a query (DESCRIBE, SHOW and SUMMARIZE are SELECTs too) or its plan.
_READS = (duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN)


def lock_down(con: duckdb.DuckDBPyConnection, allowed: Iterable[Path]) -> duckdb.DuckDBPyConnection:
    """Confine `con` to the `allowed` folders and lock its configuration (no statement can lift it)."""
    folders = ", ".join(lit(f"{Path(folder).resolve()}/") for folder in allowed)
    con.execute(f"SET allowed_directories = [{folders}]")
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    return con


def one_line(exc: BaseException) -> str:
    """DuckDB's message without its multi-line context (LINE 1: ... and the caret)."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def query(
    con: duckdb.DuckDBPyConnection,
    allowed: Iterable[Path],
    name_or_sql: str,
    params: Sequence | Mapping | None = None,
) -> pa.Table:
    """Lock `con` down to `allowed`, run one SELECT on it as Arrow, and close it (the one door of both
    backends: each supplies its analysts' connection and data folders)."""
    try:
        lock_down(con, allowed)
        return select(con, name_or_sql, params)
    finally:
        con.close()


def select(
    con: duckdb.DuckDBPyConnection, name_or_sql: str, params: Sequence | Mapping | None = None
) -> pa.Table:
    """Run one SELECT (a name or table-macro call becomes one) on a locked-down `con`, as Arrow.

    Anything else (COPY, ATTACH, SET, CREATE, several statements) is refused before it runs; every error is
    one line (a WarehouseError)."""
    text = as_query(name_or_sql)
    try:
        statements = con.extract_statements(text)
        if len(statements) != 1 or statements[0].type not in _READS:
            kinds = ", ".join(s.type.name for s in statements) or "nothing"
            raise WarehouseError(
                f"sql runs one SELECT (got {kinds}): to write, attach or copy, open the analysts' file "
                "with DuckDB directly (README, 'Reading the data')"
            )
        return con.sql(text, params=params).to_arrow_table()
    except duckdb.Error as exc:
        raise WarehouseError(f"sql: {one_line(exc)}") from None


def as_frame(table: pa.Table) -> pd.DataFrame:
    """An answer of the door as the DataFrame DuckDB itself makes (nullable integers stay integers, decimals
    become floats, timestamps UTC-aware): what `rtk-pipeline sql` prints and `read_table` returns."""
    with memory_connection() as con:
        frame = con.from_arrow(table).df()
    pandas_ready()
    return frame
