"""The warehouse: the only code that opens DuckDB or writes Parquet.

`Store` (interface.py) is what sync, stale and quality call; `Warehouse` (DuckDB + a Hive-partitioned
Parquet mirror) is the default backend.
"""

from rtk_pipeline.errors import WarehouseBusyError, WarehouseError
from rtk_pipeline.store.connection import connect_duckdb, query_df, sql_dir, sql_files
from rtk_pipeline.store.interface import Deactivation, MeetingSnapshot, Stage, Store
from rtk_pipeline.store.stage import ParquetStage
from rtk_pipeline.store.tables import TABLES, TableSpec, duckdb_type
from rtk_pipeline.store.warehouse import Warehouse

__all__ = [
    "TABLES",
    "Deactivation",
    "MeetingSnapshot",
    "ParquetStage",
    "Stage",
    "Store",
    "TableSpec",
    "Warehouse",
    "WarehouseBusyError",
    "WarehouseError",
    "connect_duckdb",
    "duckdb_type",
    "query_df",
    "sql_dir",
    "sql_files",
]
