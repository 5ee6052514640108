"""Compaction: each day table's published days folded into a native table inside the analysts' file.

A query over the snapshots opens one Parquet file per day (footer, row group statistics), which cost
analysts 5-20x a native DuckDB table (issue 22); one compacted Parquet file still cost 2-3x at a million
meetings (its footer alone is parsed on every query). So the days live where DuckDB reads them fastest:
a native table per day table, `_rtk_base.<table>` in the analysts' file, and the views read it but for
the days published since, which they read from their newest snapshots (analysts.py).

The base changes only while the pipeline holds the analysts' file read-write, so no session can be
between two reads of it. Whenever a write finds no session open, it folds the days published since into
the base (the state's rows of those days replace the base's, in one transaction) and removes their
snapshots: a day is a few hundred milliseconds at a million meetings, during which an analyst opening the
file gets DuckDB's lock error and opens it again. A definitions change (new columns) rewrites the base
whole, in the transaction that writes the definitions.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import date
from pathlib import Path

import duckdb

from rtk_pipeline.schemas import TABLES, TableSpec
from rtk_pipeline.store.connect import held_elsewhere, holder, table_columns
from rtk_pipeline.store.duckdb_file import snapshots
from rtk_pipeline.store.sqltext import q
from rtk_pipeline.store.stage import FLUSH_ROWS

log = logging.getLogger(__name__)

# The schema of the base tables in the analysts' file (an analyst's `SHOW TABLES` lists `main` only).
SCHEMA = "_rtk_base"
# Days published since the base before a write folds them in: every day since costs each query a file
# open and a share of a materialized scan (~2-5 ms at a million meetings), a fold ~0.3 s per day.
COMPACT_AFTER_DAYS = 1
# The analysts' file's buffer pool while a write folds or rebuilds it. Both stream the state's rows day by
# day and append them, so they need little; and the state's own buffers are alive at the same moment, so
# the two pools add up to the write's peak. At a million meetings 16 MB instead of the writer's 64 MB
# measured 219 vs 241 MB peak RSS for a fold of three days, 1.1 vs 0.9 s (RESULTS.md).
MEMORY_LIMIT = "16MB"
# Day versions waiting for a fold before a write warns that a held session keeps them. At a million meetings
# 6 (three days of two tables) already doubled the small queries' time after a fold, 144 (those days re-synced
# hourly for a day) made them 25-67x native (RESULTS.md, "A session held through a day of hourly re-syncs").
# A run re-syncs four days of two tables: three daily runs, or three hourly ones, reach it.
WARN_WAITING_VERSIONS = 24


def base_table(table: str) -> str:
    return f"{SCHEMA}.{q(table)}"


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


def _folder_day(folder: Path) -> date:
    return date.fromisoformat(folder.name.split("=", 1)[1])


def due(parquet_dir: Path) -> dict[str, list[Path]]:
    """Table name -> its day folders published since the base, for the tables with enough of them."""
    folders = {spec.name: _day_folders(parquet_dir, spec.name) for spec in _day_tables()}
    return {table: found for table, found in folders.items() if len(found) >= COMPACT_AFTER_DAYS}


def _column_ddl(con: duckdb.DuckDBPyConnection, table: str) -> str:
    """The state table's columns with their DuckDB types: the base has exactly those."""
    return ", ".join(f"{q(name)} {dtype}" for name, dtype in table_columns(con, table))


def _copy_days(
    con: duckdb.DuckDBPyConnection, analysts: duckdb.DuckDBPyConnection, spec: TableSpec, days: Iterable[date]
) -> None:
    """Append the state's rows of `days` to the base, day by day, each sorted by the table's order (the
    base's row groups then hold few days: a day filter skips the rest). Streamed through Arrow batches:
    two DuckDB databases of one process cannot attach each other's files."""
    columns = ", ".join(q(n) for n in spec.schema.names)
    with con.cursor() as cursor:  # its own results: the caller's connection may hold one unfinished
        for day in sorted(days):
            rows = cursor.sql(
                f"SELECT {columns} FROM {q(spec.name)} WHERE {q(spec.day)} = $day ORDER BY {spec.order}",
                params={"day": day},
            ).to_arrow_reader(FLUSH_ROWS)
            analysts.register("_rtk_rows", rows)
            try:
                analysts.execute(f"INSERT INTO {base_table(spec.name)} ({columns}) SELECT * FROM _rtk_rows")
            finally:
                analysts.unregister("_rtk_rows")


def rebuild(con: duckdb.DuckDBPyConnection, analysts: duckdb.DuckDBPyConnection) -> list[str]:
    """Every base created anew from the state (new columns, a new or moved file), in the caller's
    transaction on the analysts' file (its definitions are written in the same one); the tables."""
    analysts.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    for spec in _day_tables():
        analysts.execute(f"CREATE OR REPLACE TABLE {base_table(spec.name)} ({_column_ddl(con, spec.name)})")
        days = con.execute(f"SELECT DISTINCT {q(spec.day)} FROM {q(spec.name)}").fetchall()
        _copy_days(con, analysts, spec, [d for (d,) in days])
    return [spec.name for spec in _day_tables()]


def folded(parquet_dir: Path, tables: Iterable[str]) -> None:
    """After the base's transaction: stamp each table's fold (a mirror day file older than the stamp is
    in the base, see snapshots.adopt) and remove the day versions the base now holds. A crash before the
    removal leaves versions equal to the base's rows: the views read those days from them, the same rows,
    and the next fold takes them in again."""
    for table in tables:
        stamp = snapshots.fold_stamp(parquet_dir, table)
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.write_bytes(b"")
        snapshots.fsync(stamp)
        snapshots.fsync(stamp.parent)
        for folder in _day_folders(parquet_dir, table):
            for version in folder.iterdir():
                if snapshots.is_version(version):
                    version.unlink()
            if not any(folder.iterdir()):
                folder.rmdir()


def _fold(
    con: duckdb.DuckDBPyConnection, analysts: duckdb.DuckDBPyConnection, folders: dict[str, list[Path]]
) -> None:
    """In one transaction: the base's rows of the folders' days replaced with the state's."""
    analysts.begin()
    for table, found in folders.items():
        days = [_folder_day(folder) for folder in found]
        day = q(TABLES[table].day)
        analysts.execute(f"DELETE FROM {base_table(table)} WHERE list_contains($days, {day})", {"days": days})
        _copy_days(con, analysts, TABLES[table], days)
    analysts.commit()


def open_writable(analysts_file: Path) -> duckdb.DuckDBPyConnection:
    """The analysts' file opened read-write (no session can open it meanwhile) within `MEMORY_LIMIT`;
    raises while a session holds it."""
    analysts = duckdb.connect(str(analysts_file), config={"memory_limit": MEMORY_LIMIT})
    analysts.execute("SET TimeZone = 'UTC'")
    return analysts


class _Held(Exception):
    """A session holds the analysts' file: the work waits for a later write that finds it closed."""


def _hold(analysts_file: Path) -> duckdb.DuckDBPyConnection:
    """`open_writable`, or `_Held` (naming the holder) while a session has the file."""
    try:
        return open_writable(analysts_file)
    except (duckdb.IOException, duckdb.ConnectionException) as exc:
        if held_elsewhere(exc):
            raise _Held(holder(exc)) from None
        raise


def _say_waiting(parquet_dir: Path, analysts_file: Path, who: str) -> None:
    """Warn when the day versions a held session keeps from the base are enough to slow its queries: it
    reads every one of them on each query, and nothing else tells the person who holds it."""
    waiting = sum(
        sum(1 for version in folder.iterdir() if snapshots.is_version(version))
        for spec in _day_tables()
        for folder in _day_folders(parquet_dir, spec.name)
    )
    if waiting >= WARN_WAITING_VERSIONS:
        log.warning(
            "%d day versions wait to be folded into %s, which a session holds%s: each of its queries reads "
            "them all (slower, not wrong); reopen that session and the next write folds them",
            waiting,
            analysts_file,
            who,
        )


def collect(con: duckdb.DuckDBPyConnection, parquet_dir: Path, analysts_file: Path) -> bool:
    """Fold the days published since the base into it and remove superseded versions, if no session
    holds the analysts' file; otherwise leave both to a later write (and warn when the held session reads
    many versions for it, `WARN_WAITING_VERSIONS`). True when it changed the file. Never fails the write
    it follows: its rows are committed and published, and the views are right without a fold, only slower
    (a warning says why)."""
    folders = due(parquet_dir)
    if not analysts_file.exists() or not (folders or snapshots.superseded(parquet_dir)):
        return False
    try:
        analysts = _hold(analysts_file)
        try:
            if folders:
                _fold(con, analysts, folders)
                folded(parquet_dir, folders)
            snapshots.remove_superseded(parquet_dir)
        finally:
            analysts.close()
    except _Held as held:
        _say_waiting(parquet_dir, analysts_file, str(held))
        return False
    except (duckdb.Error, OSError) as exc:
        log.warning(
            "folding %s into the analysts' file failed, so its views keep reading those days one file "
            "each (slower, not wrong); a later write retries: %s",
            ", ".join(folders) or "the snapshots",
            str(exc).splitlines()[0],
        )
        return False
    return True
