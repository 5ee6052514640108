"""The warehouse: the only code that opens DuckDB or writes Parquet or Delta tables.

Callers type against a role (roles.py: `SyncStore`, `DeactivationLog`, `QualityReads`, `Previews`,
`SqlReads`; `Store` is their union) and get one from `open_store` (backends.py). `DuckDBStore` (DuckDB + a
Hive-partitioned Parquet mirror, duckdb_file/) is the default backend, `DeltaStore` (delta/) the other; both
answer reads with the one `Reads` (reads/).
"""

from rtk_pipeline.errors import DeactivationBusyError, JobBusyError, WarehouseBusyError, WarehouseError
from rtk_pipeline.schemas import TABLES, TableSpec
from rtk_pipeline.store.backends import open_store
from rtk_pipeline.store.ddl import duckdb_type, sql_dir, sql_files
from rtk_pipeline.store.duckdb_file import DuckDBStore, query_file
from rtk_pipeline.store.records import (
    DayMismatch,
    Deactivation,
    KeyReport,
    MeetingSnapshot,
    MirrorDiff,
    SyncRun,
    TableCount,
    TextCell,
    ViewSummary,
)
from rtk_pipeline.store.roles import (
    DeactivationLog,
    Previews,
    QualityReads,
    SqlReads,
    Stage,
    Store,
    SyncStore,
)
from rtk_pipeline.store.stage import ParquetStage

__all__ = [
    "TABLES",
    "DayMismatch",
    "Deactivation",
    "DeactivationBusyError",
    "DeactivationLog",
    "DuckDBStore",
    "JobBusyError",
    "KeyReport",
    "MeetingSnapshot",
    "MirrorDiff",
    "ParquetStage",
    "Previews",
    "QualityReads",
    "SqlReads",
    "Stage",
    "Store",
    "SyncRun",
    "SyncStore",
    "TableCount",
    "TableSpec",
    "TextCell",
    "ViewSummary",
    "WarehouseBusyError",
    "WarehouseError",
    "duckdb_type",
    "open_store",
    "query_file",
    "sql_dir",
    "sql_files",
]
