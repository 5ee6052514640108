"""The warehouse: the only code that opens DuckDB or writes Parquet. `Store` is the interface callers use;
`Warehouse` (DuckDB + a Hive-partitioned Parquet mirror) is the default backend."""

from rtk_pipeline.store.interface import Deactivation, MeetingSnapshot, Stage, Store
from rtk_pipeline.store.warehouse import (
    SQL_DIR,
    TABLES,
    TableSpec,
    Warehouse,
    WarehouseBusyError,
    WarehouseError,
    connect_duckdb,
    duckdb_type,
    query_df,
)

__all__ = [
    "SQL_DIR",
    "TABLES",
    "Deactivation",
    "MeetingSnapshot",
    "Stage",
    "Store",
    "TableSpec",
    "Warehouse",
    "WarehouseBusyError",
    "WarehouseError",
    "connect_duckdb",
    "duckdb_type",
    "query_df",
]
