"""Compaction: each day table's published days folded into one sorted base file, read with few file opens.

A query over the snapshots opens one file per day (footer, row group statistics), which cost analysts
5-20x a native DuckDB table (issue 22). So, while no session holds the analysts' file, the pipeline writes
each day table whole from its state into `<parquet_dir>/.snapshots/.base/<table>/data.parquet`, sorted by
day and key in row groups with min/max statistics and bloom filters (a 7-day filter or an id lookup skips
most of the file), and removes every day version the base now holds. A day published later gets a day
version again; the views read such a day from it and the rest from the base (analysts.py).

The base is replaced in place: only while the analysts' file is held read-write here, so no session can be
between a query's footer read and its row group reads. The base is written before that moment (seconds at
a million rows) and swapped in within it (milliseconds), so an analyst opening the file rarely waits.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from rtk_pipeline.schemas import TABLES, TableSpec
from rtk_pipeline.store.duckdb_file import snapshots
from rtk_pipeline.store.sqltext import q
from rtk_pipeline.store.stage import FLUSH_ROWS

log = logging.getLogger(__name__)

# Days published since the last base before a write compacts again: each costs a query one more file
# open (~0.5-1 ms), and each compaction rewrites the table (~3 s per million meetings on 2 cores).
COMPACT_AFTER_DAYS = 4
# Rows per row group: what a lookup reads of each group its bloom filter and statistics let through
# (100k rows: 15 ms for one id at 100k meetings; 25k: 6.8 ms, count by day 2.5 vs 2.2 ms; 10k: 4.3 and 4.3).
ROW_GROUP_ROWS = 25_000


def _day_tables() -> list[TableSpec]:
    return [spec for spec in TABLES.values() if spec.parquet]


def _day_folders(parquet_dir: Path, table: str) -> list[Path]:
    """The table's day folders holding versions (the always-present empty partition aside)."""
    root = parquet_dir / snapshots.FOLDER / table
    if not root.is_dir():
        return []
    return [
        folder
        for folder in root.iterdir()
        if folder.is_dir() and not folder.name.endswith(f"={snapshots.EMPTY_PARTITION}")
        if any(snapshots.is_version(p) for p in folder.iterdir())
    ]


def due(parquet_dir: Path) -> list[TableSpec]:
    """The day tables with enough days published outside their base to compact."""
    return [t for t in _day_tables() if len(_day_folders(parquet_dir, t.name)) >= COMPACT_AFTER_DAYS]


def ensure_bases(parquet_dir: Path) -> None:
    """An empty base for each day table that has none yet: the views always read one. A new writer's
    first publish (under the write lock) also removes what a killed one left half written."""
    for spec in _day_tables():
        final = snapshots.base_path(parquet_dir, spec.name)
        for leftover in final.parent.glob(f".{final.name}.*.tmp"):
            leftover.unlink(missing_ok=True)
        if final.exists():
            continue
        tmp = snapshots.tmp_beside(final)
        try:
            pq.write_table(spec.schema.empty_table(), tmp, compression="zstd")
            snapshots.fsync(tmp)
            os.replace(tmp, final)
            snapshots.fsync(final.parent)
        finally:
            tmp.unlink(missing_ok=True)


def write_base(con: duckdb.DuckDBPyConnection, parquet_dir: Path, spec: TableSpec) -> Path:
    """The table's rows from the state, sorted by day then the table's order, under a temporary name
    (fsynced), streamed: DuckDB sorts, Arrow writes."""
    tmp = snapshots.tmp_beside(snapshots.base_path(parquet_dir, spec.name))
    try:
        _write_sorted(con, tmp, spec)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    snapshots.fsync(tmp)
    return tmp


def _write_sorted(con: duckdb.DuckDBPyConnection, tmp: Path, spec: TableSpec) -> None:
    """Day by day, each sorted by DuckDB: one sort of a whole table of 5M rows does not fit the writer's
    memory limit even spilling ("failed to pin block"); a day's does, like the day exports."""
    columns = ", ".join(q(n) for n in spec.schema.names)
    # Sized for a row group's values: Arrow's default sizing took ~6 KB of memory per row (3 GB for 500k).
    blooms = {name: {"ndv": ROW_GROUP_ROWS} for name in spec.key if name != "app_id"}
    pending: list[pa.RecordBatch] = []
    with (
        con.cursor() as cursor,  # its own results: the caller's connection may hold one unfinished
        pq.ParquetWriter(tmp, spec.schema, compression="zstd", bloom_filter_options=blooms) as writer,
    ):
        days = [
            d
            for (d,) in cursor.execute(
                f"SELECT DISTINCT {q(spec.day)} FROM {q(spec.name)} ORDER BY 1"
            ).fetchall()
        ]
        for day in days:
            reader = cursor.sql(
                f"SELECT {columns} FROM {q(spec.name)} WHERE {q(spec.day)} = $day ORDER BY {spec.order}",
                params={"day": day},
            ).to_arrow_reader(FLUSH_ROWS)
            for batch in reader:
                pending.append(pa.RecordBatch.from_arrays(batch.columns, schema=spec.schema))
                if sum(b.num_rows for b in pending) >= ROW_GROUP_ROWS:
                    writer.write_table(pa.Table.from_batches(pending), row_group_size=ROW_GROUP_ROWS)
                    pending.clear()
        if pending:
            writer.write_table(pa.Table.from_batches(pending), row_group_size=ROW_GROUP_ROWS)


def install_bases(parquet_dir: Path, written: dict[str, Path]) -> None:
    """Swap each written base in and remove the day versions it holds; the caller holds the analysts' file.

    A crash between the two leaves day versions equal to the base's rows for those days: the views read
    those days from them, the same rows, and the next compaction removes them."""
    for table, tmp in written.items():
        final = snapshots.base_path(parquet_dir, table)
        os.replace(tmp, final)
        snapshots.fsync(final.parent)
        for folder in _day_folders(parquet_dir, table):
            for version in folder.iterdir():
                if snapshots.is_version(version):
                    version.unlink()
            if not any(folder.iterdir()):
                folder.rmdir()


def _hold(analysts_file: Path) -> duckdb.DuckDBPyConnection | None:
    """The analysts' file opened read-write (no session can open it meanwhile), or None while one has it."""
    try:
        return duckdb.connect(str(analysts_file))
    except (duckdb.IOException, duckdb.ConnectionException) as exc:
        if "lock" in str(exc) or "different configuration" in str(exc):
            return None  # a session is open: the work waits for a later write that finds it closed
        raise


def collect(con: duckdb.DuckDBPyConnection, parquet_dir: Path, analysts_file: Path) -> None:
    """Compact the due day tables and remove superseded versions, if no session holds the analysts'
    file; otherwise leave both to a later write. Never fails the write it follows: its rows are committed
    and published, and the views are right without a new base, only slower (a warning says why)."""
    compact = due(parquet_dir)
    if not analysts_file.exists() or not (compact or snapshots.superseded(parquet_dir)):
        return
    if compact:  # a base nobody can swap in is seconds wasted: look first
        probe = _hold(analysts_file)
        if probe is None:
            return
        probe.close()
    written: dict[str, Path] = {}
    try:
        for spec in compact:
            written[spec.name] = write_base(con, parquet_dir, spec)
        analysts = _hold(analysts_file)
        if analysts is None:
            return
        try:
            install_bases(parquet_dir, written)
            snapshots.remove_superseded(parquet_dir)
        finally:
            analysts.close()
    except (duckdb.Error, OSError) as exc:
        log.warning(
            "compacting %s into its base file failed, so the analysts' views keep reading those days one "
            "file each (slower, not wrong); a later write retries: %s",
            ", ".join(spec.name for spec in compact) or "the snapshots",
            str(exc).splitlines()[0],
        )
    finally:
        for tmp in written.values():
            tmp.unlink(missing_ok=True)


def bases_current(parquet_dir: Path) -> bool:
    """Whether every base has its table's current columns (the views can read it as it is)."""
    for spec in _day_tables():
        path = snapshots.base_path(parquet_dir, spec.name)
        if not path.exists() or not set(spec.schema.names) <= set(pq.read_schema(path).names):
            return False
    return True


def rebuild(con: duckdb.DuckDBPyConnection, parquet_dir: Path) -> None:
    """Every base rewritten from the state (new columns), while the caller holds the analysts' file."""
    written = {spec.name: write_base(con, parquet_dir, spec) for spec in _day_tables()}
    try:
        install_bases(parquet_dir, written)
    finally:
        for tmp in written.values():
            tmp.unlink(missing_ok=True)
