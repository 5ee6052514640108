"""Immutable snapshots of the mirror's files, which the analysts' views read: a path's bytes never change.

Replacing a file in place (`os.replace`) is not enough for DuckDB: a Parquet scan reads a file's footer
through one handle and opens the path again for the row groups (ParquetReader::InitializeScan), so a file
replaced in between is read with the old footer's offsets ("Invalid data", "bytes outside file"). So each
version of a mirror file is also hard-linked (no copy) under a name used once:

    <parquet_dir>/.snapshots/<table>/<day column>=YYYY-MM-DD/v-000000000007.parquet   (a day table)
    <parquet_dir>/.snapshots/<table>/v-000000000007.parquet                           (a small table)
    <parquet_dir>/.snapshots/.base/<table>.folded   (when the table's days were last folded, compaction.py)

A view reads the newest version of each folder; older versions are removed only while no session holds
the analysts' file, so no query can be between its listing and its reads. Each day table also has an
empty version under `<day column>=__HIVE_DEFAULT_PARTITION__` (Hive's NULL partition): a glob that matches
nothing is an error in DuckDB, a folder of only empty days is not.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterable
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from rtk_pipeline.store.sqltext import lit, q

FOLDER = ".snapshots"
# An emptied day's version holds one row with this column null (the day tables' id is never null), so
# the day is listed by a scan of the versions like any other (analysts.py).
EMPTY_DAY_MARKER = "id"
EMPTY_PARTITION = "__HIVE_DEFAULT_PARTITION__"
_VERSION = re.compile(r"^v-(\d{12})\.parquet$")


def versions_dir(parquet_dir: Path, final: Path) -> Path:
    """Where the versions of the mirror file `final` (somewhere under `parquet_dir`) are kept."""
    return parquet_dir / FOLDER / final.parent.relative_to(parquet_dir)


def fold_stamp(parquet_dir: Path, table: str) -> Path:
    """A file whose mtime is when the day table's days were last folded into the analysts' file."""
    return parquet_dir / FOLDER / ".base" / f"{table}.folded"


def is_version(path: Path) -> bool:
    return _VERSION.match(path.name) is not None


def _versions(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if is_version(p))


def fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _add_version(source: Path, folder: Path) -> None:
    """Hard-link a complete, fsynced file as the folder's next version (writers hold the write lock)."""
    folder.mkdir(parents=True, exist_ok=True)
    existing = _versions(folder)
    latest = _VERSION.match(existing[-1].name) if existing else None
    number = int(latest.group(1)) + 1 if latest else 1
    os.link(source, folder / f"v-{number:012d}.parquet")
    fsync(folder)


def tmp_beside(final: Path) -> Path:
    """A temporary name beside `final` that no reader's `*.parquet` glob matches."""
    final.parent.mkdir(parents=True, exist_ok=True)
    return final.parent / f".{final.name}.{uuid.uuid4().hex}.tmp"


def empty_day_version(schema: pa.Schema) -> pa.Table:
    """The rows of an emptied day's version: one marker row, every column null."""
    nullable = pa.schema([f.with_nullable(True) for f in schema])
    return pa.table([pa.nulls(1, f.type) for f in nullable], schema=nullable)


def install(tmp: Path, final: Path, parquet_dir: Path, *, keep: bool = True) -> None:
    """Publish a fully written `tmp` as the new version of `final`: a snapshot first, then the mirror file
    itself, replaced atomically (`keep=False`: the day has no rows, `tmp` is its marker version; the mirror
    file is removed)."""
    fsync(tmp)
    _add_version(tmp, versions_dir(parquet_dir, final))
    if keep:
        os.replace(tmp, final)
        fsync(final.parent)
    else:
        final.unlink(missing_ok=True)
        tmp.unlink()
        if final.parent.is_dir() and not any(final.parent.iterdir()):
            final.parent.rmdir()


def publish_tables(con: duckdb.DuckDBPyConnection, parquet_dir: Path, tables: dict[str, str]) -> None:
    """Rewrite the whole-table mirror <parquet_dir>/<table>/data.parquet of each table (name -> ORDER BY)."""
    for table, order in tables.items():
        final = parquet_dir / table / "data.parquet"
        tmp = tmp_beside(final)
        try:
            con.execute(
                f"COPY (SELECT * FROM {q(table)} ORDER BY {order}) TO {lit(str(tmp))} "
                "(FORMAT parquet, COMPRESSION zstd)"
            )
            install(tmp, final, parquet_dir)
        finally:
            tmp.unlink(missing_ok=True)


def publish_empty_partition(parquet_dir: Path, table: str, day_column: str, schema: pa.Schema) -> None:
    """A new empty version of the table's NULL partition, with the current columns."""
    final = parquet_dir / table / f"{day_column}={EMPTY_PARTITION}" / "data.parquet"
    folder = versions_dir(parquet_dir, final)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".empty.{uuid.uuid4().hex}.tmp"
    try:
        pq.write_table(schema.empty_table(), tmp, compression="zstd")
        fsync(tmp)
        _add_version(tmp, folder)
    finally:
        tmp.unlink(missing_ok=True)


def adopt(parquet_dir: Path, mirror_files: Iterable[Path]) -> None:
    """Snapshot mirror files no snapshot holds yet (a mirror written by an older release). A day file
    older than its table's last fold is in the analysts' file (compaction removed its versions), not new."""
    for final in mirror_files:
        existing = _versions(versions_dir(parquet_dir, final))
        if existing and existing[-1].stat().st_ino == final.stat().st_ino:
            continue
        stamp = fold_stamp(parquet_dir, final.parent.parent.name)
        if not existing and stamp.exists() and final.stat().st_mtime_ns <= stamp.stat().st_mtime_ns:
            continue
        _add_version(final, versions_dir(parquet_dir, final))


def superseded(parquet_dir: Path) -> list[Path]:
    root = parquet_dir / FOLDER
    return [old for folder in root.glob("**/") for old in _versions(folder)[:-1]] if root.is_dir() else []


def remove_superseded(parquet_dir: Path) -> int:
    """Remove every version but the newest; only while holding the analysts' file read-write."""
    stale = superseded(parquet_dir)
    for old in stale:
        old.unlink(missing_ok=True)
    return len(stale)
