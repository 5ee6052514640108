"""The analysts' file (`RTK_DUCKDB_PATH`): views over the Parquet mirror that no pipeline run needs to lock.

DuckDB lets a file be written only while no other process has it open, in any mode. So the pipeline keeps
its tables in a private file of its own (`state_path`) and publishes files: one Parquet file per table and
day, one per small table (rejected_records, sync_runs, meeting_deactivations), each version also kept as an
immutable snapshot (snapshots.py). The analysts' file holds views over the newest snapshots and the analyst
views and macro; a session held open, read-only or read-write, never stops a sync and sees new days on its
next query.

Paths: each view reads `coalesce(getvariable('rtk_parquet_dir'), '<absolute parquet dir>')`, so the file
works from any working directory; the pipeline rewrites the views when it sees the folder moved, and a
reader of a copy or a mount elsewhere can `SET VARIABLE rtk_parquet_dir = '/mnt/.../parquet'`.

The file itself is (re)written only when its definitions change: created on the first run, rewritten
when the schema or the Parquet folder changes, converted once from a file of an older release. If an
analyst holds it at that moment, nothing fails: a warning says why, and every later pipeline write retries.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from rtk_pipeline.store.connect import held_elsewhere, table_columns
from rtk_pipeline.store.duckdb_file import compaction
from rtk_pipeline.store.duckdb_file.snapshots import EMPTY_DAY_MARKER, FOLDER, remove_superseded
from rtk_pipeline.store.sqltext import lit, q

log = logging.getLogger(__name__)

# The variable that points the views at a Parquet folder other than the one the pipeline last saw.
PARQUET_DIR_VARIABLE = "rtk_parquet_dir"
# Tables mirrored whole (one Parquet file each), with the row order of the file.
SMALL_TABLES = {
    "rejected_records": "app_id, table_name, day, record_id, synced_at",
    "sync_runs": "finished_at, run_id",
    "meeting_deactivations": "recorded_at, attempt_id",
}
# Names an older release stored as tables in the analysts' file; they become views (or go, if internal).
RELEASE_TABLES = ("meetings", "participants", *SMALL_TABLES, "parquet_exports_pending")


def state_path(duckdb_path: Path) -> Path:
    """The pipeline's private DuckDB file for the analysts' file `duckdb_path` (in a folder beside it)."""
    return duckdb_path.parent / f".{duckdb_path.name}.state" / "pipeline.duckdb"


@dataclass(frozen=True)
class DayTable:
    """A table mirrored one file per UTC day: <parquet_dir>/<name>/<day>=YYYY-MM-DD/data.parquet."""

    name: str
    day: str
    file_schema: pa.Schema  # the table's columns without the partition column


def view_ddl(
    con: duckdb.DuckDBPyConnection, parquet_dir: Path, day_tables: Iterable[DayTable], analyst_sql: list[str]
) -> str:
    """The analysts' file's definitions, derived from the pipeline's tables (same names, columns, types)."""
    root = f"coalesce(getvariable({lit(PARQUET_DIR_VARIABLE)}), {lit(str(parquet_dir.resolve()))})"
    statements = []
    for spec in day_tables:  # the base already has the table's columns and types: no layer on top
        source = _day_source(root, spec, table_columns(con, spec.name))
        statements.append(f"CREATE OR REPLACE VIEW {q(spec.name)} AS {source};")
    for table, source in small_table_sources(root).items():
        select = _casts(table_columns(con, table))
        statements.append(f"CREATE OR REPLACE VIEW {q(table)} AS SELECT {select} FROM {source};")
    for table in [spec.name for spec in day_tables] + list(SMALL_TABLES):
        for kind, name, comment in con.execute(
            "SELECT 'VIEW', table_name, comment FROM duckdb_tables() WHERE table_name = $1 AND comment <> '' "
            "UNION ALL SELECT 'COLUMN', table_name || '.' || column_name, comment FROM duckdb_columns() "
            "WHERE table_name = $1 AND comment <> '' ORDER BY 1 DESC, 2",
            [table],
        ).fetchall():
            statements.append(f"COMMENT ON {kind} {name} IS {lit(comment)};")
    return "\n".join(statements + analyst_sql)


def _casts(columns: list[tuple[str, str]]) -> str:
    """A select list casting each (name, type) column to its type: the files' types become the table's."""
    return ", ".join(f"CAST({q(c)} AS {dtype}) AS {q(c)}" for c, dtype in columns)


def small_table_sources(root: str) -> dict[str, str]:
    """Table name -> the FROM clause that reads the newest snapshot of each small table under the folder
    expression `root` (with a `filename` column)."""
    return {
        t: f"read_parquet({root} || {lit(f'/{FOLDER}/{t}/*.parquet')}, filename = true) "
        "QUALIFY filename = max(filename) OVER ()"
        for t in SMALL_TABLES
    }


def day_scan(files: str, day: str) -> str:
    """A scan of the day files the SQL expression `files` globs, with their `<day>=YYYY-MM-DD` folder as
    the DATE column `day` and a `filename` column."""
    return (
        f"read_parquet({files}, hive_partitioning = true, hive_types = {{{lit(day)}: DATE}}, "
        "hive_types_autocast = false, filename = true)"
    )


def _day_source(root: str, spec: DayTable, columns: list[tuple[str, str]]) -> str:
    """The table's base (a native table, compaction.py), but for the days published since, and those days
    from their newest versions; `columns`: the table's (name, type), the base's own.

    Every day version has rows: an emptied day's version holds one row whose id is null (a marker, see
    parquet.py). So one scan of the day folders tells both which days replace the base's copy and what
    they hold, from one listing of files: a second listing (`glob`, or a second scan) could see a version
    the first did not, and that day would vanish from the answer. DuckDB plans each reference to a scan as
    a scan of its own, so the scan is materialized once and read twice. No version is removed and the
    base does not change while a session holds the analysts' file, so whichever versions the scan saw are
    whole. Each day's newest version is found by grouping (a hash table over the few days) and kept by a
    join on its file name: a window (`rank() OVER (PARTITION BY day ORDER BY filename)`) sorted every
    row of the days since the base and cost a third more per query with three such days (RESULTS.md).
    The base is read as it is, with no projection over the union, which a query plans for nothing.
    """
    scan = day_scan(f"{root} || {lit(f'/{FOLDER}/{spec.name}/*/*.parquet')}", spec.day)
    day = q(spec.day)
    since = _casts(columns)
    return (
        f"WITH _rtk_versions AS MATERIALIZED (SELECT * FROM {scan}), "
        f"_rtk_newest AS (SELECT {day} AS day, max(filename) AS file FROM _rtk_versions GROUP BY 1) "
        f"SELECT * FROM {compaction.base_table(spec.name)} ANTI JOIN _rtk_newest AS v ON {day} = v.day "
        f"UNION ALL SELECT {since} FROM _rtk_versions SEMI JOIN _rtk_newest AS v ON filename = v.file "
        f"WHERE {q(EMPTY_DAY_MARKER)} IS NOT NULL"
    )


def _fingerprint(ddl: str) -> str:
    return hashlib.sha256(ddl.encode()).hexdigest()


def file_signature(duckdb_path: Path) -> tuple[int, int, int] | None:
    """(inode, mtime, size) of the analysts' file, or None when it is missing or has a write-ahead log (a
    session's changes not yet in the file): what tells a writer the file is as it last checked it."""
    try:
        stat = duckdb_path.stat()
    except FileNotFoundError:
        return None
    if duckdb_path.with_name(f"{duckdb_path.name}.wal").exists():
        return None
    return stat.st_ino, stat.st_mtime_ns, stat.st_size


def refresh_file(
    con: duckdb.DuckDBPyConnection,
    duckdb_path: Path,
    parquet_dir: Path,
    day_tables: Iterable[DayTable],
    analyst_sql: list[str],
    checked: tuple[int, int, int] | None = None,
) -> bool:
    """Bring the analysts' file up to date with the pipeline's state (`con`, under the write lock).

    Every call reads the file's definitions (a short read-only open: sessions keep working) and rewrites
    them when the schema or the folder changed, or an analyst replaced or dropped one of the pipeline's
    views. Never for new rows (the views read the files). Returns False, with a warning that says why, when
    another process holds the file; the next call retries. `checked`: the `file_signature` this process saw
    after its last successful call; while the file still has it, nothing changed and nothing is read (a
    backfill commits many times, and the check cost ~0.1 s each). Rewritten definitions may read new
    columns, so the day tables' bases are rewritten from `con` with them (compaction.py).
    """
    if checked is not None and file_signature(duckdb_path) == checked:
        return True
    day_tables = list(day_tables)
    ddl = view_ddl(con, parquet_dir, day_tables, analyst_sql)
    names = _defined_names(day_tables, analyst_sql)
    target = str(duckdb_path.resolve())
    row = con.execute(
        "SELECT fingerprint, inode, parquet_dir FROM analysts_file WHERE path = ?", [target]
    ).fetchone()
    inode = duckdb_path.stat().st_ino if duckdb_path.exists() else None
    expected = f"{_fingerprint(ddl)}:"
    if row is not None and row[1] == inode and str(row[0]).startswith(expected):
        written = _read_definitions(duckdb_path, names)
        if written is None or f"{expected}{written}" == row[0]:
            return True  # unchanged (or held read-write by a session: checked again next time)
        reason = "an analyst replaced or dropped one of its views: they are put back"
    else:
        reason = _why(row, inode, str(parquet_dir.resolve()))
    written = _write_definitions(con, duckdb_path, parquet_dir, ddl, names, reason)
    if written is None:
        return False
    con.execute("DELETE FROM analysts_file WHERE path = ?", [target])
    con.execute(
        "INSERT INTO analysts_file VALUES (?, ?, ?, ?, ?)",
        [
            target,
            str(parquet_dir.resolve()),
            expected + written,
            duckdb_path.stat().st_ino,
            datetime.now(UTC),
        ],
    )
    log.info("analysts' file %s written (%s)", duckdb_path, reason)
    return True


_DEFINED = re.compile(r"CREATE\s+OR\s+REPLACE\s+(?:VIEW|MACRO)\s+(\w+)", re.IGNORECASE)


def _defined_names(day_tables: Iterable[DayTable], analyst_sql: list[str]) -> list[str]:
    """The names the pipeline defines in the analysts' file (an analyst's own views are theirs)."""
    views = [spec.name for spec in day_tables] + list(SMALL_TABLES)
    return sorted(set(views) | {m.group(1) for sql in analyst_sql for m in _DEFINED.finditer(sql)})


def _definitions(analysts: duckdb.DuckDBPyConnection, names: list[str]) -> str:
    """A digest of how the file defines `names` now (views, macros, and tables an analyst put there)."""
    rows = analysts.execute(
        "SELECT 'view', view_name, sql FROM duckdb_views() "
        "WHERE NOT internal AND schema_name = 'main' AND list_contains($names, view_name) "
        "UNION ALL SELECT 'table', table_name, sql FROM duckdb_tables() "
        "WHERE schema_name = 'main' AND list_contains($names, table_name) "
        "UNION ALL SELECT function_type, function_name, macro_definition FROM duckdb_functions() "
        "WHERE NOT internal AND list_contains($names, function_name) ORDER BY 2, 1",
        {"names": names},
    ).fetchall()
    return hashlib.sha256(repr(rows).encode()).hexdigest()


def _read_definitions(duckdb_path: Path, names: list[str]) -> str | None:
    """The file's current definitions digest, or None while a session holds it read-write."""
    try:
        analysts = duckdb.connect(str(duckdb_path), read_only=True)
    except duckdb.Error:
        return None
    try:
        return _definitions(analysts, names)
    finally:
        analysts.close()


def _write_definitions(
    con: duckdb.DuckDBPyConnection,
    duckdb_path: Path,
    parquet_dir: Path,
    ddl: str,
    names: list[str],
    reason: str,
) -> str | None:
    """(Re)write the definitions; the digest of what the file now holds, or None (warned) if held."""
    try:
        analysts = compaction.open_writable(duckdb_path)
    except duckdb.Error as exc:
        held = held_elsewhere(exc)
        log.warning(
            "the analysts' file %s %s, so its definitions were not updated (%s); the pipeline's data is "
            "safe and every later sync retries: %s",
            duckdb_path,
            "is open in another process" if held else f"cannot be opened ({str(exc).splitlines()[0]})",
            reason,
            "close that session to let it through" if held else "run `rtk-pipeline repair` to re-create it",
        )
        return None
    try:
        remove_superseded(parquet_dir)  # the new views bind to files of the current schema only
        analysts.begin()
        for table, kind in analysts.execute(
            "SELECT table_name, table_type FROM information_schema.tables WHERE table_schema = 'main'"
        ).fetchall():
            if kind == "BASE TABLE" and (table in RELEASE_TABLES or table in names):
                analysts.execute(f"DROP TABLE {q(table)}")  # an older release's copy, or an analyst's
        analysts.execute("DROP VIEW IF EXISTS parquet_exports_pending")
        rebuilt = compaction.rebuild(con, analysts)  # the new views may read new columns
        analysts.execute(ddl)
        analysts.commit()
        compaction.folded(parquet_dir, rebuilt)
        analysts.execute("CHECKPOINT")
        return _definitions(analysts, names)
    finally:  # a failure rolls the definitions and the base back together; the state is committed
        analysts.close()


def _why(row: tuple | None, inode: int | None, parquet_dir: str) -> str:
    if inode is None:
        return "it does not exist yet"
    if row is None:
        return "it comes from an older release or was moved here: its definitions are rewritten"
    if row[1] != inode:
        return "the file was replaced since the pipeline last wrote it"
    if row[2] != parquet_dir:
        return f"the Parquet folder moved from {row[2]} to {parquet_dir}"
    return "the schema changed, so the view definitions changed"
