"""The warehouse: the only code that opens DuckDB or writes Parquet or Delta tables.

Callers type against a role (roles.py: `SyncStore`, `DeactivationLog`, `QualityReads`, `Previews`,
`SqlReads`; `Store` is their union) and get one from `open_store` (backends.py). `DuckDBStore` (DuckDB + a
Hive-partitioned Parquet mirror, duckdb_file/) is the default backend, `DeltaStore` (delta/) the other; both
answer reads with the one `Reads` (reads/). The records the reads return are in records.py.
"""

from rtk_pipeline.errors import DeactivationBusyError, JobBusyError, WarehouseBusyError, WarehouseError
from rtk_pipeline.schemas import TABLES, TableSpec
from rtk_pipeline.store.backends import open_store
from rtk_pipeline.store.ddl import duckdb_type, sql_dir, sql_files
from rtk_pipeline.store.duckdb_file import DuckDBStore
from rtk_pipeline.store.records import Deactivation, MeetingSnapshot, SyncRun
from rtk_pipeline.store.roles import (
    DeactivationLog,
    Previews,
    QualityReads,
    RefreshStore,
    Session,
    SqlReads,
    Stage,
    Store,
    SyncStore,
)
from rtk_pipeline.store.sandbox import as_frame
from rtk_pipeline.store.stage import ParquetStage

__all__ = [
    "TABLES",
    "Deactivation",
    "DeactivationBusyError",
    "DeactivationLog",
    "DuckDBStore",
    "JobBusyError",
    "MeetingSnapshot",
    "ParquetStage",
    "Previews",
    "QualityReads",
    "RefreshStore",
    "Session",
    "SqlReads",
    "Stage",
    "Store",
    "SyncRun",
    "SyncStore",
    "TableSpec",
    "WarehouseBusyError",
    "WarehouseError",
    "as_frame",
    "duckdb_type",
    "open_store",
    "sql_dir",
    "sql_files",
]
