"""The DuckDB backend (RTK_STORE=duckdb, the default) and its DuckDB-only machinery: the Parquet mirror, its
snapshots, the analysts' file and the migration of an older release's file."""

from rtk_pipeline.store.duckdb_file.backend import DuckDBStore

__all__ = ["DuckDBStore"]
