"""DuckDB tables + a Hive-partitioned Parquet mirror, written so that no process has to own everything.

- Fetching never holds the DuckDB file: a `Stage` streams batches to Parquet part files in a staging folder
  beside the warehouse (DuckDB allows one read-write process per file, and a sync fetches for minutes).
- `commit()` is the only writer, serialized across processes by a file lock (`<duckdb>.lock`): one DuckDB
  transaction replaces the staged days (DuckDB reads the staged Parquet itself, so a million rows never
  become Python objects) and records the `sync_runs` row. A killed or failed commit leaves the previous
  rows; a re-run is idempotent.
- Then each affected day's Parquet file is rewritten from DuckDB under a temporary name and moved into place
  (`os.replace`), so a reader sees the old day or the new day, never half of one. The days still to write
  are queued in the same transaction (`parquet_exports_pending`): if the process dies between the commit and
  the files, the next writer finishes them.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import time
import uuid
import weakref
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import filelock
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from rtk_pipeline.errors import RTKError
from rtk_pipeline.normalize import (
    JSON_COLUMNS,
    MEETINGS_SCHEMA,
    PARTICIPANTS_SCHEMA,
    REJECTED_SCHEMA,
    SYNC_RUNS_SCHEMA,
    TABLE_SCHEMAS,
    Normalized,
    parse_timestamp,
    scrub_text,
)

SQL_DIR = Path(__file__).resolve().parents[2] / "sql"


class WarehouseError(RTKError):
    """The warehouse cannot be written or read as asked; the message names the file."""


class WarehouseBusyError(WarehouseError):
    """Another process held the write lock or the DuckDB file for longer than we were willing to wait."""


@dataclass(frozen=True)
class TableSpec:
    """How a stageable table is keyed and partitioned."""

    name: str
    schema: pa.Schema
    day: str  # partition column (UTC day)
    key: tuple[str, ...]  # one row per key; duplicates in a stage are settled by `winner`
    winner: str  # ORDER BY that puts the row to keep first
    order: str  # row order inside a Parquet day file
    parquet: bool  # mirrored to <parquet_dir>/<name>/<day>=YYYY-MM-DD/data.parquet


TABLES: dict[str, TableSpec] = {
    "meetings": TableSpec(
        "meetings",
        MEETINGS_SCHEMA,
        day="created_day",
        key=("id",),
        winner="updated_at DESC NULLS LAST, synced_at DESC",
        order="created_at, id",
        parquet=True,
    ),
    "participants": TableSpec(
        "participants",
        PARTICIPANTS_SCHEMA,
        day="meeting_created_day",
        key=("meeting_id", "id"),
        winner="updated_at DESC NULLS LAST, synced_at DESC",
        order="meeting_id, created_at, id",
        parquet=True,
    ),
    "rejected_records": TableSpec(
        "rejected_records",
        REJECTED_SCHEMA,
        day="day",
        key=("table_name", "meeting_id", "record_id", "raw"),
        winner="synced_at DESC",
        order="table_name, day, record_id",
        parquet=False,
    ),
}

_DUCKDB_TYPES = {
    pa.string(): "VARCHAR",
    pa.bool_(): "BOOLEAN",
    pa.int64(): "BIGINT",
    pa.float64(): "DOUBLE",
    pa.date32(): "DATE",
    pa.timestamp("us", tz="UTC"): "TIMESTAMP WITH TIME ZONE",
}


def duckdb_type(field: pa.Field) -> str:
    """The DuckDB column type the DDL must declare for an Arrow field (JSON text columns are JSON)."""
    if field.name in JSON_COLUMNS and field.type == pa.string():
        return "JSON"
    return _DUCKDB_TYPES[field.type]


def _q(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _days_sql(days: Iterable[date]) -> str:
    return ", ".join(f"DATE '{d.isoformat()}'" for d in sorted(days)) or "NULL"


def _files_sql(files: Sequence[Path]) -> str:
    return "[" + ", ".join(_lit(str(f)) for f in files) + "]"


def _as_days(days: Iterable[date]) -> frozenset[date]:
    out = set()
    for d in days:
        if isinstance(d, datetime) or not isinstance(d, date):
            raise TypeError(f"days must be datetime.date values (UTC days), got {d!r}")
        out.add(d)
    return frozenset(out)


# ------------------------------------------------------------------------------------------------ DuckDB


def connect_duckdb(path: Path, *, read_only: bool, busy_timeout: float = 30.0) -> duckdb.DuckDBPyConnection:
    """Open the DuckDB file, waiting (bounded) while another process has it open; session time zone UTC.

    DuckDB lets one process write a file and refuses everyone else meanwhile, so a reader may briefly
    block a commit and a commit may briefly block a reader: both sides retry instead of failing.
    """
    deadline = time.monotonic() + busy_timeout
    delay = 0.02
    while True:
        try:
            con = duckdb.connect(str(path), read_only=read_only)
        except (duckdb.IOException, duckdb.ConnectionException) as exc:
            message = str(exc)
            if "lock" not in message and "different configuration" not in message:
                raise
            if time.monotonic() >= deadline:
                raise WarehouseBusyError(
                    f"DuckDB file {path} stayed locked by another connection for {busy_timeout:g}s "
                    f"({'read-only' if read_only else 'read-write'} open refused: {message.splitlines()[0]})"
                ) from None
            time.sleep(delay)
            delay = min(delay * 2, 0.5)
            continue
        con.execute("SET TimeZone = 'UTC'")
        return con


_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")
_TABLE_CALL = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\s*\(.*\)$", re.DOTALL)


def as_query(name_or_sql: str) -> str:
    """`meetings` -> SELECT * FROM "meetings"; `stale_candidates(7, now())` -> SELECT * FROM it; SQL as is."""
    text = name_or_sql.strip().rstrip(";").strip()
    if _IDENTIFIER.match(text):
        return "SELECT * FROM " + ".".join(_q(part) for part in text.split("."))
    if _TABLE_CALL.match(text) and text.split("(")[0].strip().lower() not in {"select", "with", "values"}:
        return "SELECT * FROM " + text
    return text


def query_df(
    duckdb_path: Path, name_or_sql: str, params: Sequence | dict | None = None, *, busy_timeout: float = 30.0
) -> pd.DataFrame:
    """A table, view, table macro call or SELECT as a DataFrame, through a short read-only connection."""
    con = connect_duckdb(Path(duckdb_path), read_only=True, busy_timeout=busy_timeout)
    try:
        return con.execute(as_query(name_or_sql), params).df()
    finally:
        con.close()


class _LockedConnection:
    """A read-write DuckDB connection that holds the warehouse write lock until closed.

    Behaves like the DuckDB connection it wraps (attribute access is forwarded), so `with wh.connect() as con`
    code needs no change, and a writer outside `commit()` is serialized with every other writer too.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, release: Any) -> None:
        self._con = con
        self._finalizer = weakref.finalize(self, _close_and_release, con, release)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)

    def close(self) -> None:
        self._finalizer()

    def __enter__(self) -> _LockedConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _close_and_release(con: duckdb.DuckDBPyConnection, release: Any) -> None:
    try:
        con.close()
    finally:
        release()


# ------------------------------------------------------------------------------------------------ staging

# A stage buffers at most this much before writing a part file (and day files are written in batches of
# _FLUSH_ROWS): what a sync holds in memory does not grow with the rows it syncs.
_FLUSH_ROWS = 16_384
_FLUSH_BYTES = 8 * 1024 * 1024


class Stage:
    """Rows of one table for some UTC days, streamed to Parquet part files until `Warehouse.commit`.

    Rows whose partition day is not one of `days` are dropped (and counted in `skipped`): a stage replaces
    exactly its days, so an over-fetched listing can be written as is. Writing a `Normalized` also stages its
    rejects. Memory stays bounded: at most ~16k buffered rows (8 MB), then a part file. Write from one
    thread (the sync engine's consumer); a stage is not shared between threads.
    """

    def __init__(self, warehouse: Warehouse, spec: TableSpec, days: frozenset[date], path: Path) -> None:
        self.warehouse = warehouse
        self.spec = spec
        self.table = spec.name
        self.days = days
        self.path = path
        self.rows_written = 0
        self.skipped = 0
        self.committed = False
        self._days_array = pa.array(sorted(days), pa.date32())
        # A reject whose day is unknown (created_at unreadable) belongs to every window.
        self._allowed_days = days | {None} if spec.name == "rejected_records" else days
        self._buffer: list[pa.RecordBatch] = []
        self._buffered_rows = 0
        self._buffered_bytes = 0
        self._parts: list[Path] = []
        self._rejects: Stage | None = None
        path.mkdir(parents=True)
        self._cleanup = weakref.finalize(self, shutil.rmtree, str(path), True)

    def __repr__(self) -> str:
        return f"Stage({self.table!r}, {len(self.days)} days, {self.rows_written} rows, {self.path})"

    def __enter__(self) -> Stage:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is not None:
            self.discard()
        elif not self.committed:
            self._flush()

    def write(self, data: pa.RecordBatch | pa.Table | Normalized) -> int:
        """Stage a batch (or a Normalized: its batch here, its rejects in a companion stage); rows kept."""
        if self.committed or not self._cleanup.alive:
            raise WarehouseError(f"{self!r} is already committed or discarded")
        if isinstance(data, Normalized):
            if data.rejected.num_rows:
                self.rejects.write(data.rejected)
            data = data.batch
        batches = data.to_batches() if isinstance(data, pa.Table) else [data]
        kept = 0
        for batch in batches:
            kept += self._write_batch(self._conform(batch))
        return kept

    @property
    def rejects(self) -> Stage:
        """The companion rejected_records stage (same days), created on first use."""
        if self.spec.name == "rejected_records":
            return self
        if self._rejects is None:
            self._rejects = self.warehouse.stage("rejected_records", self.days)
        return self._rejects

    def _conform(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        schema = self.spec.schema
        if batch.schema.equals(schema):
            return batch
        try:
            return pa.RecordBatch.from_arrays(
                [batch.column(n).cast(f.type) for n, f in zip(schema.names, schema, strict=True)],
                schema=schema,
            )
        except (KeyError, pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise TypeError(
                f"batch does not fit the {self.table} schema ({exc}); build it with rtk_pipeline.normalize"
            ) from None

    def _write_batch(self, batch: pa.RecordBatch) -> int:
        day = batch.column(self.spec.day)
        allowed = self._allowed_days
        if not allowed.issuperset(day.unique().to_pylist()):  # rare: rows for other days, filter them out
            mask = pc.is_in(day, value_set=self._days_array)
            if None in allowed:
                mask = pc.or_kleene(mask, day.is_null())
            batch = batch.filter(mask.fill_null(False))
        self.skipped += len(day) - batch.num_rows
        if batch.num_rows:
            self._buffer.append(batch)
            self._buffered_rows += batch.num_rows
            self._buffered_bytes += batch.get_total_buffer_size()
            self.rows_written += batch.num_rows
            if self._buffered_rows >= _FLUSH_ROWS or self._buffered_bytes >= _FLUSH_BYTES:
                self._flush()
        return batch.num_rows

    def _flush(self) -> None:
        if not self._buffer and self._parts:
            return
        table = pa.Table.from_batches(self._buffer, schema=self.spec.schema)
        part = self.path / f"part-{len(self._parts):06d}.parquet"
        pq.write_table(table, part, compression="snappy")
        self._parts.append(part)
        self._buffer, self._buffered_rows, self._buffered_bytes = [], 0, 0

    def parts(self) -> list[Path]:
        """Part files holding everything written so far (the buffer is flushed first)."""
        self._flush()
        return list(self._parts)

    def _query(self, sql: str) -> list[tuple]:
        con = duckdb.connect()
        try:
            con.execute("SET TimeZone = 'UTC'")
            staged = f"read_parquet({_files_sql(self.parts())})"
            return con.execute(sql.replace("{staged}", staged)).fetchall()
        finally:
            con.close()

    def distinct_count(self, column: str = "id") -> int:
        """Distinct non-null values of `column` staged so far (read back from the part files)."""
        if column not in self.spec.schema.names:
            raise KeyError(f"{self.table} has no column {column!r}")
        return self._query(f"SELECT count(DISTINCT {_q(column)}) FROM {{staged}}")[0][0]

    def rows_by_day(self) -> dict[date, int]:
        """Rows the commit will hold per day: distinct keys, as duplicates are settled at commit."""
        key = ", ".join(_q(k) for k in self.spec.key)
        day = _q(self.spec.day)
        distinct = f"SELECT DISTINCT {day}, {key} FROM {{staged}}"
        rows = self._query(f"SELECT {day}, count(*) FROM ({distinct}) GROUP BY 1 ORDER BY 1")
        return {d: n for d, n in rows if d is not None}

    def discard(self) -> None:
        """Drop the staged files (and the companion rejects); the warehouse is untouched."""
        self._buffer = []
        if self._rejects is not None:
            self._rejects.discard()
        self._cleanup()

    def _stages(self) -> list[Stage]:
        return [self] if self._rejects is None else [self, self._rejects]


# ------------------------------------------------------------------------------------------------ warehouse


# Among staged duplicates with equal updated_at and synced_at, the row written last wins (part files sort in
# write order, and stage folders in creation order).
_STAGED_TIEBREAK = ", filename DESC, file_row_number DESC"


@contextmanager
def _as_warehouse_error(doing: str) -> Iterator[None]:
    """A DuckDB error becomes a WarehouseError naming what was being done, so callers get one typed error
    and the CLI a one-line cause; the transaction has already been rolled back."""
    try:
        yield
    except duckdb.Error as exc:
        raise WarehouseError(f"{doing} the warehouse failed: {type(exc).__name__}: {exc}") from exc


def _describe(stages: list[Stage]) -> str:
    tables = sorted({stage.table for stage in stages})
    days = sorted(frozenset().union(*(stage.days for stage in stages)))
    span = f"{days[0]}..{days[-1]}" if days else "no days"
    return f"{', '.join(tables)} for {span}"


def _staged_source(stages: list[Stage]) -> str:
    files = [part for stage in stages for part in stage.parts()]
    return f"read_parquet({_files_sql(files)}, filename = true, file_row_number = true)"


class Warehouse:
    """The DuckDB file and its Parquet mirror. Cheap to create; opens DuckDB only for short moments."""

    def __init__(
        self,
        duckdb_path: Path | str,
        parquet_dir: Path | str,
        *,
        lock_timeout: float = 600.0,
        busy_timeout: float = 30.0,
    ) -> None:
        self.duckdb_path = Path(duckdb_path)
        self.parquet_dir = Path(parquet_dir)
        self.lock_timeout = lock_timeout
        self.busy_timeout = busy_timeout
        self.lock_path = Path(f"{self.duckdb_path}.lock")
        self.staging_dir = self.duckdb_path.parent / f".{self.duckdb_path.name}.staging"
        self._lock = filelock.FileLock(str(self.lock_path))
        self._schema_ready = False

    def __repr__(self) -> str:
        return f"Warehouse({str(self.duckdb_path)!r}, {str(self.parquet_dir)!r})"

    # -- reading ----------------------------------------------------------------------------------------

    def connect(self, read_only: bool = False) -> Any:
        """A short-lived connection (close it: `with wh.connect(read_only=True) as con:`), session TZ UTC.

        Read-write connections hold the warehouse write lock until closed, so they are serialized with
        commits; the schema is created first when the file does not exist yet.
        """
        if read_only:
            if not self.duckdb_path.exists():
                self.ensure_schema()
            return connect_duckdb(self.duckdb_path, read_only=True, busy_timeout=self.busy_timeout)
        self._acquire()
        try:
            con = self._open_rw()
        except BaseException:
            self._lock.release()
            raise
        return _LockedConnection(con, self._lock.release)

    def query_df(self, name_or_sql: str, params: Sequence | dict | None = None) -> pd.DataFrame:
        """A table, view, table-macro call or SELECT as a pandas DataFrame (read-only)."""
        if not self.duckdb_path.exists():
            self.ensure_schema()
        return query_df(self.duckdb_path, name_or_sql, params, busy_timeout=self.busy_timeout)

    def meeting_ids_for_days(self, days: Iterable[date]) -> list[tuple[str, date]]:
        """(meeting id, created_day) of the stored meetings created on those UTC days, oldest first."""
        wanted = _as_days(days)
        if not wanted:
            return []
        with self.connect(read_only=True) as con:
            return con.execute(
                f"SELECT id, created_day FROM meetings WHERE created_day IN ({_days_sql(wanted)}) "
                "ORDER BY created_day, created_at, id"
            ).fetchall()

    def stored_participants(self, meeting_ids: Sequence[str]) -> pa.Table:
        """The stored participants of these meetings, as they are (e.g. to keep them through a re-sync)."""
        columns = ", ".join(_q(n) for n in PARTICIPANTS_SCHEMA.names)
        with self.connect(read_only=True) as con:
            table = con.sql(
                f"SELECT {columns} FROM participants WHERE list_contains(?, meeting_id)",
                params=[list(meeting_ids)],
            ).to_arrow_table()
        return table.cast(PARTICIPANTS_SCHEMA) if table.num_rows else PARTICIPANTS_SCHEMA.empty_table()

    def parquet_path(self, table: str, day: date) -> Path:
        spec = TABLES[table]
        return self.parquet_dir / table / f"{spec.day}={day.isoformat()}" / "data.parquet"

    # -- writing ----------------------------------------------------------------------------------------

    def ensure_schema(self) -> None:
        """Create tables, views and macros from sql/ (idempotent) and add columns a newer schema declares."""
        self._schema_ready = False
        with self._writer():
            pass

    def stage(self, table: str, days: Iterable[date]) -> Stage:
        """A new Stage for `table` ("meetings", "participants" or "rejected_records") and those UTC days."""
        if table not in TABLES:
            raise ValueError(f"cannot stage {table!r}: expected one of {', '.join(TABLES)}")
        self._sweep_staging()
        # <time>-<pid>-<random>-<table>@<host>: sorts in creation order; the sweep can tell dead owners.
        name = f"{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:8]}-{table}@{socket.gethostname()}"
        return Stage(self, TABLES[table], _as_days(days), self.staging_dir / name)

    def commit(self, stages: Sequence[Stage], sync_run: dict | None = None) -> list[Path]:
        """Replace the staged days with the staged rows in ONE transaction, record the sync_runs row, then
        rewrite those days' Parquet files. Returns the Parquet files of the affected days.

        Rows are deduplicated by key (meetings: id; participants: meeting_id + id): latest updated_at, then
        latest synced_at, then the last written wins. A key already stored under another day moves. On any
        error nothing changes; the stages are dropped either way.
        """
        everything = list(dict.fromkeys(part for stage in stages for part in stage._stages()))
        try:
            for stage in everything:
                if stage.committed or not stage._cleanup.alive:
                    raise WarehouseError(f"{stage!r} is already committed or discarded")
                stage._flush()
            with self._writer() as con, _as_warehouse_error(f"committing {_describe(everything)} to"):
                con.begin()
                try:
                    affected, inserted = self._replace_staged(con, everything)
                    if sync_run is not None:
                        row = _sync_run_table(sync_run, everything, "success", rows=inserted)
                        self._insert_sync_run(con, row)
                    self._queue_exports(con, affected)
                    con.commit()
                except BaseException:
                    con.rollback()
                    raise
                for stage in everything:
                    stage.committed = True
                self._export_pending(con)
            return self._files(affected)
        finally:
            for stage in everything:
                stage.discard()

    def record_failed_run(self, sync_run: dict) -> None:
        """Write a 'failed' sync_runs row (error text redacted); no data is touched."""
        with self._writer() as con:
            self._insert_sync_run(
                con, _sync_run_table({**sync_run, "outcome": "failed"}, [], "failed", rows=0)
            )
            self._export_pending(con)

    def upsert_meetings(self, batch: pa.RecordBatch | Normalized) -> list[Path]:
        """Replace meetings by id (e.g. the response of a PATCH) and rewrite their days' Parquet files."""
        if isinstance(batch, Normalized):
            batch = batch.batch
        spec = TABLES["meetings"]
        table = pa.Table.from_batches([batch]).cast(spec.schema)
        with self._writer() as con:
            con.register("_rtk_upsert", table)
            con.begin()
            try:
                affected, _ = self._replace(con, spec, "_rtk_upsert", frozenset(), tiebreak="")
                self._queue_exports(con, affected)
                con.commit()
            except BaseException:
                con.rollback()
                raise
            finally:
                con.unregister("_rtk_upsert")
            self._export_pending(con)
        return self._files(affected)

    def _files(self, affected: set[tuple[str, date]]) -> list[Path]:
        return [path for table, day in sorted(affected) if (path := self.parquet_path(table, day)).exists()]

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-write connection inside BEGIN ... COMMIT under the write lock (ROLLBACK on error)."""
        with self._writer() as con:
            con.begin()
            try:
                yield con
                con.commit()
            except BaseException:
                con.rollback()
                raise
            self._export_pending(con)

    def export_pending(self) -> list[Path]:
        """Write the Parquet days a killed writer left queued (every writer also does this on its way out)."""
        with self._writer() as con:
            return self._export_pending(con)

    # -- internals --------------------------------------------------------------------------------------

    def _acquire(self) -> None:
        self.duckdb_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire(timeout=self.lock_timeout)
        except filelock.Timeout:
            raise WarehouseBusyError(
                f"could not take the warehouse write lock {self.lock_path} within {self.lock_timeout:g}s: "
                "another sync or deactivation is writing (or hung holding it)"
            ) from None

    def _open_rw(self) -> duckdb.DuckDBPyConnection:
        con = connect_duckdb(self.duckdb_path, read_only=False, busy_timeout=self.busy_timeout)
        try:
            if not self._schema_ready:
                self._apply_schema(con)
        except BaseException:
            con.close()
            raise
        return con

    @contextmanager
    def _writer(self) -> Iterator[duckdb.DuckDBPyConnection]:
        self._acquire()
        try:
            con = self._open_rw()
            try:
                yield con
            finally:
                con.close()
        finally:
            self._lock.release()

    def _apply_schema(self, con: duckdb.DuckDBPyConnection) -> None:
        # Columns a newer schema declares are added to existing tables first, so the DDL files (and the
        # views over those columns) apply to a warehouse written by an older version.
        for table, schema in TABLE_SCHEMAS.items():
            have = {
                name
                for (name,) in con.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [table]
                ).fetchall()
            }
            for field in schema:
                if have and field.name not in have:
                    con.execute(f"ALTER TABLE {_q(table)} ADD COLUMN {_q(field.name)} {duckdb_type(field)}")
        for path in sorted(SQL_DIR.glob("*.sql")) + sorted((SQL_DIR / "views").glob("*.sql")):
            con.execute(path.read_text(encoding="utf-8"))
        self._schema_ready = True

    def _replace_staged(
        self, con: duckdb.DuckDBPyConnection, stages: list[Stage]
    ) -> tuple[set[tuple[str, date]], int]:
        by_table: dict[str, list[Stage]] = {}
        for stage in stages:
            by_table.setdefault(stage.table, []).append(stage)
        affected: set[tuple[str, date]] = set()
        inserted = 0
        for table, group in by_table.items():
            if table == "rejected_records":
                continue
            days = frozenset().union(*(stage.days for stage in group))
            touched, rows = self._replace(con, TABLES[table], _staged_source(group), days)
            affected |= touched
            inserted += rows
        all_days = frozenset().union(*(stage.days for stage in stages))
        data_tables = [t for t in by_table if t != "rejected_records"]
        self._replace_rejects(con, by_table.get("rejected_records", []), data_tables, all_days)
        return affected, inserted

    def _replace(
        self,
        con: duckdb.DuckDBPyConnection,
        spec: TableSpec,
        source: str,
        days: frozenset[date],
        *,
        tiebreak: str = _STAGED_TIEBREAK,
    ) -> tuple[set[tuple[str, date]], int]:
        """Delete `days` and every stored row whose key is in `source`; insert `source` deduplicated.

        Returns the (table, day) pairs whose content changed and the number of rows inserted.
        """
        table, day = _q(spec.name), _q(spec.day)
        key = ", ".join(_q(k) for k in spec.key)
        columns = ", ".join(_q(n) for n in spec.schema.names)
        con.execute(f"CREATE OR REPLACE TEMP VIEW _rtk_keys AS SELECT DISTINCT {key} FROM {source}")
        elsewhere = f"WHERE t.{day} NOT IN ({_days_sql(days)})" if days else ""
        moved = con.execute(
            f"SELECT DISTINCT t.{day} FROM {table} AS t SEMI JOIN _rtk_keys USING ({key}) {elsewhere}"
        ).fetchall()
        new_days = con.execute(f"SELECT DISTINCT {day} FROM {source}").fetchall()
        con.execute(
            f"DELETE FROM {table} WHERE {day} IN ({_days_sql(days)}) "
            f"OR ({key}) IN (SELECT {key} FROM _rtk_keys)"
        )
        # One INSERT per day: the dedup window and the clustering sort then hold one day's rows, not the
        # run's (a single statement for 1M meetings added ~390 MB). Keys belong to one day (created_at
        # never changes), so deduplicating within a day is deduplicating within the stage.
        inserted = 0
        for (each_day,) in sorted(new_days, key=lambda row: (row[0] is None, row[0])):
            (n,) = con.execute(
                f"INSERT INTO {table} BY NAME SELECT {columns} FROM {source} "
                f"WHERE {day} IS NOT DISTINCT FROM ? "
                f"QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY {spec.winner}{tiebreak}) = 1 "
                f"ORDER BY {spec.order}",
                [each_day],
            ).fetchone()
            inserted += n
        con.execute("DROP VIEW _rtk_keys")
        touched = set(days) | {d for (d,) in moved} | {d for (d,) in new_days}
        return {(spec.name, d) for d in touched}, inserted

    def _replace_rejects(
        self,
        con: duckdb.DuckDBPyConnection,
        stages: list[Stage],
        data_tables: list[str],
        days: frozenset[date],
    ) -> None:
        """A day's rejects belong to the day: committing a table's days replaces its rejects for them, so a
        record fixed upstream leaves the table. Undated rejects (created_at unreadable) replace their twins.
        """
        source = _staged_source(stages) if stages else None
        scope = set(data_tables)
        if source:
            scope |= {t for (t,) in con.execute(f"SELECT DISTINCT table_name FROM {source}").fetchall()}
        if not scope:
            return
        names = ", ".join(_lit(t) for t in sorted(scope))
        twins = f"OR (day IS NULL AND raw IN (SELECT raw FROM {source} WHERE day IS NULL))" if source else ""
        con.execute(
            f"DELETE FROM rejected_records WHERE table_name IN ({names}) "
            f"AND (day IN ({_days_sql(days)}) {twins})"
        )
        if source:
            spec = TABLES["rejected_records"]
            key = ", ".join(_q(k) for k in spec.key)
            columns = ", ".join(_q(n) for n in spec.schema.names)
            con.execute(
                f"INSERT INTO rejected_records BY NAME SELECT {columns} FROM {source} QUALIFY row_number() "
                f"OVER (PARTITION BY {key} ORDER BY {spec.winner}{_STAGED_TIEBREAK}) = 1 "
                f"ORDER BY {spec.order}"
            )

    def _insert_sync_run(self, con: duckdb.DuckDBPyConnection, row: pa.Table) -> None:
        con.register("_rtk_sync_run", row)
        try:
            con.execute("INSERT INTO sync_runs BY NAME SELECT * FROM _rtk_sync_run")
        finally:
            con.unregister("_rtk_sync_run")

    def _queue_exports(self, con: duckdb.DuckDBPyConnection, affected: set[tuple[str, date]]) -> None:
        rows = [(t, d, datetime.now(UTC)) for t, d in sorted(affected) if TABLES[t].parquet]
        if rows:
            con.executemany("INSERT INTO parquet_exports_pending VALUES (?, ?, ?)", rows)

    def _export_pending(self, con: duckdb.DuckDBPyConnection) -> list[Path]:
        """Write every queued Parquet day; each leaves the queue only once its file is in place."""
        written = []
        for table, day in con.execute(
            "SELECT DISTINCT table_name, day FROM parquet_exports_pending ORDER BY 1, 2"
        ).fetchall():
            try:
                path = self._export_day(con, TABLES[table], day)
            except OSError as exc:
                raise WarehouseError(
                    f"DuckDB is up to date, but writing the Parquet file of {table} {day} under "
                    f"{self.parquet_dir} failed ({exc}); the day stays queued and the next write "
                    "(or Warehouse.export_pending()) finishes it"
                ) from exc
            if path is not None:
                written.append(path)
            con.execute("DELETE FROM parquet_exports_pending WHERE table_name = ? AND day = ?", [table, day])
        return written

    def _export_day(self, con: duckdb.DuckDBPyConnection, spec: TableSpec, day: date) -> Path | None:
        """Rewrite one day's file from DuckDB: temporary name, fsync, os.replace. No rows: no file."""
        final = self.parquet_path(spec.name, day)
        file_schema = spec.schema.remove(spec.schema.get_field_index(spec.day))
        columns = ", ".join(_q(n) for n in file_schema.names)
        reader = con.sql(
            f"SELECT {columns} FROM {_q(spec.name)} WHERE {_q(spec.day)} = ? ORDER BY {spec.order}",
            params=[day],
        ).to_arrow_reader(_FLUSH_ROWS)
        tmp = final.parent / f".{final.name}.{uuid.uuid4().hex}.tmp"
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
                _remove_day(final)
                return None
            writer.close()
            writer = None
            _fsync(tmp)
            os.replace(tmp, final)
            _fsync(final.parent)
            return final
        finally:
            if writer is not None:
                writer.close()
            tmp.unlink(missing_ok=True)

    def _sweep_staging(self) -> None:
        """Remove stage folders left by dead processes on this host (a SIGKILLed sync leaves its stage)."""
        if not self.staging_dir.is_dir():
            return
        host = socket.gethostname()
        for entry in self.staging_dir.iterdir():
            _, pid, _, owner = [*entry.name.split("-", 3), "", "", ""][:4]
            if owner.partition("@")[2] == host and pid.isdigit() and not _alive(int(pid)):
                shutil.rmtree(entry, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_day(final: Path) -> None:
    final.unlink(missing_ok=True)
    with suppress(OSError):  # something else in the folder keeps it
        final.parent.rmdir()


def _utc(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, date) and not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    return parse_timestamp(value)


_TIMESTAMP_COLUMNS = ("window_start", "window_end", "started_at", "finished_at")


def _sync_run_table(sync_run: dict, stages: list[Stage], outcome: str, *, rows: int) -> pa.Table:
    """One sync_runs row from the caller's dict; what it leaves out is filled from the stages."""
    unknown = set(sync_run) - set(SYNC_RUNS_SCHEMA.names)
    if unknown:
        raise ValueError(f"unknown sync_runs field(s): {', '.join(sorted(unknown))}")
    data = [s for s in stages if s.table != "rejected_records"]
    days = sorted(frozenset().union(*(s.days for s in data))) if data else []
    finished = datetime.now(UTC)
    row: dict[str, Any] = {
        "run_id": uuid.uuid4().hex,
        "table_name": ",".join(sorted({s.table for s in data})) or "unknown",
        "window_start": days[0] if days else None,
        "window_end": days[-1] + timedelta(days=1) if days else None,
        "days": len(days),
        "rows": rows,
        "rejected": sum(s.rows_written for s in stages if s.table == "rejected_records"),
        "finished_at": finished,
        "outcome": outcome,
    }
    row.update({k: v for k, v in sync_run.items() if v is not None})
    for column in _TIMESTAMP_COLUMNS:
        row[column] = _utc(row.get(column))
    if row.get("seconds") is None and row.get("started_at") is not None:
        row["seconds"] = (row["finished_at"] - row["started_at"]).total_seconds()
    row["error"] = scrub_text(None if row.get("error") is None else str(row["error"]))
    return pa.Table.from_pylist([row], schema=SYNC_RUNS_SCHEMA)
