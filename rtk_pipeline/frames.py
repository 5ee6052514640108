"""Python access for analysts: any table, view, macro call or query of either backend as Arrow, pandas or
polars, or a read-only DuckDB session over the whole warehouse.

    from rtk_pipeline.frames import connect, read_table
    read_table("meetings_per_day")                        # pandas (the default)
    read_table("stale_candidates(7, now())", to="arrow")  # a pyarrow.Table
    read_table("SELECT * FROM meetings WHERE created_day = ?", params=[date(2026, 10, 1)], to="polars")
    with connect() as con:
        con.sql("FROM meetings_per_day").show()

The backend is the one `rtk-pipeline sql` reads, from the same settings (RTK_STORE, RTK_DUCKDB_PATH and
RTK_PARQUET_DIR, or RTK_TABLE_URI): the analysts' DuckDB file, or an in-memory DuckDB over the Delta tables.
`read_table` goes through the same door as `rtk-pipeline sql` (`SqlReads.query_sandboxed`: one SELECT, no
file outside the data), so its Arrow answer is the command's. Nothing is ever created or changed: a missing
warehouse is a FileNotFoundError that says what to run. Each call opens and closes its own read-only
session, so a notebook never blocks a running sync for longer than one query.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from rtk_pipeline.errors import WarehouseError
from rtk_pipeline.settings import APP_ID, PARQUET_DIR, StoreSettings
from rtk_pipeline.store import Session, SqlReads, as_frame
from rtk_pipeline.store.backends import open_store_from

if TYPE_CHECKING:
    import pyarrow as pa

Target = Literal["arrow", "pandas", "polars"]

# The SQL door reads every app's rows: the app a store is opened for scopes its writes, and a read-only
# session writes nothing, so an analyst needs no RTK_APP_ID.
_ANY_APP = "analyst"


def connect(
    duckdb_path: str | Path | None = None,
    *,
    parquet_dir: str | Path | None = None,
    busy_timeout: float = 30.0,
) -> Session:
    """A read-only DuckDB session (close it, or use `with`) on which every table, analyst view and macro of
    the warehouse answers; the analysts' file with `duckdb_path`, else the configured backend.

    It is the analyst's own session, without the SQL door's sandbox: it may read files, attach databases or
    create temporary tables in memory, but never writes the warehouse."""
    store = _store(duckdb_path, parquet_dir, busy_timeout)
    with _missing_warehouse():
        store.require_existing()
    return store.analyst_connection()


def read_table(
    name_or_sql: str,
    duckdb_path: str | Path | None = None,
    *,
    params: Sequence | Mapping | None = None,
    busy_timeout: float = 30.0,
    to: Target = "pandas",
    parquet_dir: str | Path | None = None,
) -> Any:
    """A table/view name, a table-macro call or one SELECT, as `to` ("pandas": a DataFrame with UTC-aware
    timestamps; "arrow": a pyarrow.Table; "polars": a polars.DataFrame, if polars is installed).

    From the analysts' file `duckdb_path` (and `parquet_dir`), else from the configured backend. A
    statement that is not one read is refused (a WarehouseError, one line), as `rtk-pipeline sql` does."""
    convert = _converter(to)  # a missing polars is said before any query runs
    store = _store(duckdb_path, parquet_dir, busy_timeout)
    with _missing_warehouse():
        store.require_existing()
    return convert(store.query_sandboxed(name_or_sql, params))


def _store(duckdb_path: str | Path | None, parquet_dir: str | Path | None, busy_timeout: float) -> SqlReads:
    """The configured store, or the analysts' file `duckdb_path`. Its Parquet folder: `parquet_dir`, else
    RTK_PARQUET_DIR when set, else the `parquet` folder beside the file (how every command lays them out by
    default), so a notebook anywhere finds the data of the file it names."""
    settings = StoreSettings.from_env()
    if duckdb_path is not None:
        settings = dataclasses.replace(settings, backend="duckdb", duckdb_path=Path(duckdb_path))
    if parquet_dir is not None:
        settings = dataclasses.replace(settings, parquet_dir=Path(parquet_dir))
    elif not PARQUET_DIR.is_set():
        settings = dataclasses.replace(settings, parquet_dir=settings.duckdb_path.parent / "parquet")
    return open_store_from(settings, APP_ID.read() or _ANY_APP, busy_timeout=busy_timeout)


@contextmanager
def _missing_warehouse() -> Iterator[None]:
    """A warehouse that is not there is a FileNotFoundError (what a notebook expects of a missing file),
    with the store's one-line reason and what creates one."""
    try:
        yield
    except WarehouseError as exc:
        reason = str(exc)
        if "rtk-pipeline backfill" not in reason:
            reason += "; `rtk-pipeline backfill` (or `rtk-pipeline demo`) creates a warehouse"
        raise FileNotFoundError(reason) from None


def _converter(to: str) -> Callable[[pa.Table], Any]:
    if to == "arrow":
        return lambda table: table
    if to == "pandas":
        return as_frame
    if to == "polars":
        try:
            import polars
        except ImportError:
            raise ImportError(
                "read_table(..., to='polars') needs polars, which rtk-pipeline does not install: "
                "pip install polars (or use to='arrow' / to='pandas')"
            ) from None
        return polars.from_arrow
    raise ValueError(f"read_table: to={to!r} is not one of 'arrow', 'pandas', 'polars'")
