"""The Parquet mirror: one file per table and UTC day, rewritten from DuckDB after each commit.

Each affected day's file is written under a temporary name, kept as an immutable snapshot (what the
analysts' views read, snapshots.py) and moved into place (`os.replace`), so a reader sees the old day or the
new day, never half of one. The days still to write are queued in the commit's
transaction (`parquet_exports_pending`): if the process dies between the commit and the files, the next
writer finishes them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from rtk_pipeline.errors import WarehouseError
from rtk_pipeline.schemas import TABLES, TableSpec
from rtk_pipeline.store.duckdb_file import snapshots
from rtk_pipeline.store.sqltext import q
from rtk_pipeline.store.stage import FLUSH_ROWS


def parquet_path(parquet_dir: Path, table: str, day: date) -> Path:
    """<parquet_dir>/<table>/<day column>=YYYY-MM-DD/data.parquet"""
    spec = TABLES[table]
    return parquet_dir / table / f"{spec.day}={day.isoformat()}" / "data.parquet"


def queue_exports(con: duckdb.DuckDBPyConnection, affected: set[tuple[str, date]]) -> None:
    """Queue the mirrored (table, day) pairs in the caller's transaction."""
    rows = [(t, d, datetime.now(UTC)) for t, d in sorted(affected) if TABLES[t].parquet]
    if rows:
        con.executemany("INSERT INTO parquet_exports_pending VALUES (?, ?, ?)", rows)


def export_pending(con: duckdb.DuckDBPyConnection, parquet_dir: Path) -> list[Path]:
    """Write every queued Parquet day; each leaves the queue only once its file is in place."""
    written = []
    for table, day in con.execute(
        "SELECT DISTINCT table_name, day FROM parquet_exports_pending ORDER BY 1, 2"
    ).fetchall():
        try:
            path = _export_day(con, TABLES[table], day, parquet_dir)
        except OSError as exc:
            raise WarehouseError(
                f"DuckDB is up to date, but writing the Parquet file of {table} {day} under "
                f"{parquet_dir} failed ({exc}); the day stays queued and the next write "
                "(or DuckDBStore.export_pending()) finishes it"
            ) from exc
        if path is not None:
            written.append(path)
        con.execute("DELETE FROM parquet_exports_pending WHERE table_name = ? AND day = ?", [table, day])
    return written


def _export_day(con: duckdb.DuckDBPyConnection, spec: TableSpec, day: date, parquet_dir: Path) -> Path | None:
    """Rewrite one day's file from DuckDB: temporary name, fsync, a snapshot, os.replace. No rows: a marker
    snapshot (snapshots.empty_day_version) and no file."""
    final = parquet_path(parquet_dir, spec.name, day)
    file_schema = spec.schema.remove(spec.schema.get_field_index(spec.day))
    columns = ", ".join(q(n) for n in file_schema.names)
    reader = con.sql(
        f"SELECT {columns} FROM {q(spec.name)} WHERE {q(spec.day)} = ? ORDER BY {spec.order}",
        params=[day],
    ).to_arrow_reader(FLUSH_ROWS)
    tmp = snapshots.tmp_beside(final)
    writer = None
    try:
        for batch in reader:
            if not batch.num_rows:
                continue
            if writer is None:
                final.parent.mkdir(parents=True, exist_ok=True)
                writer = pq.ParquetWriter(tmp, file_schema, compression="zstd")
            writer.write_batch(pa.RecordBatch.from_arrays(batch.columns, schema=file_schema))
        if writer is None:
            pq.write_table(snapshots.empty_day_version(file_schema), tmp, compression="zstd")
            snapshots.install(tmp, final, parquet_dir, keep=False)
            return None
        writer.close()
        writer = None
        snapshots.install(tmp, final, parquet_dir)
        return final
    finally:
        if writer is not None:
            writer.close()
        tmp.unlink(missing_ok=True)
