"""DuckDB tables + a Hive-partitioned Parquet mirror, written so that no process has to own everything.

`DuckDBStore` is the default `Store` backend (see roles.py). Its reads are the shared `Reads` over a
read-only connection to its state file; the modules of this package hold its DuckDB-only parts: `commit`
(the replace-days SQL), `parquet` (the mirror), `snapshots`, `analysts` (the analysts' file), `migrate`,
`audit` and `mirror` (the deactivation audit write and the mirror check).

`commit()` is the only writer, serialized across processes by a file lock (`<duckdb>.lock`): one DuckDB
transaction replaces the staged days (DuckDB reads the staged Parquet itself, so a million rows never become
Python objects) and records the `sync_runs` row. A killed or failed commit leaves the previous rows; a re-run
is idempotent. Then the affected days' Parquet files are rewritten (parquet.py).

A DuckDBStore is opened for one app (`app_id`): several apps share the file and the mirror (a day's Parquet
file holds every app's rows of the day), but what it commits, reads and audits is its app's rows only.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import filelock
import pyarrow as pa

from rtk_pipeline import normalize
from rtk_pipeline.errors import WarehouseBusyError, WarehouseError
from rtk_pipeline.schemas import DEACTIVATIONS_SCHEMA, DEACTIVATIONS_TABLE, TABLE_SCHEMAS, TABLES
from rtk_pipeline.store import locks, sandbox
from rtk_pipeline.store.connect import as_warehouse_error, connect_duckdb
from rtk_pipeline.store.ddl import create_table_sql, table_sql, view_sql
from rtk_pipeline.store.duckdb_file import (
    analysts,
    audit,
    compaction,
    migrate,
    mirror,
    parquet,
    participants,
    repair,
    snapshots,
)
from rtk_pipeline.store.duckdb_file import commit as sql_commit
from rtk_pipeline.store.duckdb_file.locked import LockedConnection
from rtk_pipeline.store.reads import ReadConnections, Reads
from rtk_pipeline.store.records import Deactivation, MirrorDiff, SyncRun
from rtk_pipeline.store.runs import failed_run_table, of_app, sync_run_table
from rtk_pipeline.store.sqltext import file_part, q
from rtk_pipeline.store.stage import ParquetStage, conform, describe, new_stage, ready

# Tables declared only in Python (their DDL is generated), created before the sql/ files run.
WRITER_MEMORY_LIMIT = "64MB"
_SCHEMAS = {**TABLE_SCHEMAS, DEACTIVATIONS_TABLE: DEACTIVATIONS_SCHEMA}
_GENERATED_DDL = [create_table_sql(DEACTIVATIONS_TABLE, DEACTIVATIONS_SCHEMA, primary_key="attempt_id")]


class DuckDBStore(Reads):
    """The DuckDB file and its Parquet mirror. Cheap to create; opens DuckDB only for short moments.

    Every read is the shared `Reads`, over read-only connections to the pipeline's state file."""

    def __init__(
        self,
        duckdb_path: Path | str,
        parquet_dir: Path | str,
        *,
        app_id: str,
        lock_timeout: float = 600.0,
        busy_timeout: float = 30.0,
    ) -> None:
        if not isinstance(app_id, str) or not app_id.strip():
            raise ValueError("a DuckDBStore is opened for one app: app_id must be a non-empty string")
        super().__init__(app_id, ReadConnections(self._open_reader))
        self.duckdb_path = Path(duckdb_path)
        self.parquet_dir = Path(parquet_dir)
        self.lock_timeout = lock_timeout
        self.busy_timeout = busy_timeout
        self.lock_path = Path(f"{self.duckdb_path}.lock")
        self.staging_dir = self.duckdb_path.parent / f".{self.duckdb_path.name}.staging"
        self.state_path = analysts.state_path(self.duckdb_path)
        self._lock = filelock.FileLock(str(self.lock_path))
        self._schema_ready = False
        self._published = False
        self._checked: tuple[int, int, int] | None = None  # the analysts' file as last checked
        self._schema_current = False  # the state has every column this release declares
        self._read_only = False  # set by require_existing(): nothing may create, migrate or publish

    def __repr__(self) -> str:
        return f"DuckDBStore({str(self.duckdb_path)!r}, {str(self.parquet_dir)!r}, app_id={self.app_id!r})"

    # -- reading ----------------------------------------------------------------------------------------

    def connect(self, read_only: bool = False) -> Any:
        """A short-lived connection (close it: `with wh.connect(read_only=True) as con:`), session TZ UTC.

        Read-write connections hold the warehouse write lock until closed, so they are serialized with
        commits; the schema is created first when the file does not exist yet.
        """
        if read_only:
            return self.connections.connection()
        if self._read_only:
            raise WarehouseError(f"{self!r} was opened for reading only: nothing is written")
        self._acquire()
        try:
            con = self._open_rw()
        except BaseException:
            self._lock.release()
            raise
        return LockedConnection(con, self._lock.release, self._publish)

    def _open_reader(self) -> duckdb.DuckDBPyConnection:
        if not self.state_path.exists():
            if self._read_only:
                raise repair.missing_error(self)
            self.ensure_schema()
        con = self._open_state(read_only=True)
        if self._schema_current or not migrate.lacks_columns(con, _SCHEMAS):
            self._schema_current = True
            return con
        if self._read_only and migrate.has_app_columns(con):
            # only a later column is missing (e.g. participants_synced_at): read it as null, migrate nothing
            migrate.read_as_declared(con, _SCHEMAS)
            return con
        con.close()  # an older release's state: reads filter on app_id and select later columns, so migrate
        if self._read_only:
            raise WarehouseError(
                f"the pipeline's state {self.state_path} is an older release's: a read-only command does "
                "not migrate it, run `rtk-pipeline backfill` (any write) first"
            )
        self.ensure_schema()
        return self._open_state(read_only=True)

    def _open_state(self, *, read_only: bool) -> duckdb.DuckDBPyConnection:
        """The private state, with the one-line "damaged: run repair" error when it is not a database."""
        return connect_duckdb(
            self.state_path, read_only=read_only, busy_timeout=self.busy_timeout, damaged_hint=repair.HINT
        )

    def require_existing(self) -> None:
        """Refuse (one line naming the paths and the likely cause) unless the analysts' file and the private
        state are both there; from now on this store only reads: nothing is created, migrated or published."""
        self._read_only = True
        if not (self.duckdb_path.exists() and self.state_path.exists()):
            raise repair.missing_error(self)

    def repair(self) -> list[str]:
        """Rebuild a damaged or missing private state from the Parquet mirror, re-create the analysts'
        file (repair.py); the lines that say what was done."""
        return repair.describe(repair.repair(self), self)

    def analyst_connection(self) -> duckdb.DuckDBPyConnection:
        """A read-only session of the analysts' file (views over immutable Parquet snapshots), so it never
        holds the private state a writer needs; refused in one line when the warehouse is not there."""
        self.require_existing()
        con = connect_duckdb(
            self.duckdb_path,
            read_only=True,
            busy_timeout=self.busy_timeout,
            damaged_hint=": run `rtk-pipeline repair` to re-create it",
            writer_busy=lambda: locks.held(self.lock_path),  # the pipeline opens it only under this lock
        )
        try:  # the configured folder, even if the file's views still name the one it was moved from
            con.execute(
                f"SET VARIABLE {analysts.PARQUET_DIR_VARIABLE} = ?", [str(self.parquet_dir.resolve())]
            )
        except BaseException:
            con.close()
            raise
        return con

    def query_sandboxed(self, name_or_sql: str, params: Sequence | Mapping | None = None) -> pa.Table:
        """The analysts' SQL door: one SELECT over `analyst_connection()`, reaching no file outside the
        Parquet folder (sandbox.py)."""
        return sandbox.query(self.analyst_connection(), [self.parquet_dir], name_or_sql, params)

    @property
    def location(self) -> str:
        return str(self.duckdb_path)

    def exists(self) -> bool:
        """Whether the analysts' file is there (a sync or the demo has run)."""
        return self.duckdb_path.exists()

    def parquet_path(self, table: str, day: date) -> Path:
        return parquet.parquet_path(self.parquet_dir, table, day)

    def mirror_diffs(self, table: str, first: date, last: date) -> dict[date, MirrorDiff]:
        """Each day's Parquet file against the day's rows of the app (mirror.py)."""
        return mirror.mirror_diffs(
            self.connections.connection(), self.app_id, self.parquet_dir, table, first, last
        )

    def lock(self, job: str) -> AbstractContextManager[None]:
        """<duckdb file>.<job>.<app>.lock: one such job per app and warehouse at a time (two apps'
        deactivations may run at once: each touches its own app's meetings)."""
        return locks.hold(Path(f"{self.duckdb_path}.{job}.{file_part(self.app_id)}.lock"), job)

    # -- writing ----------------------------------------------------------------------------------------

    def ensure_schema(self) -> None:
        """Create tables, views and macros from sql/ (idempotent) and add columns a newer schema declares."""
        self._schema_ready = False
        with self._writer():
            pass

    def stage(self, table: str, days: Iterable[date]) -> ParquetStage:
        """A new Stage for `table` ("meetings", "participants" or "rejected_records") and those UTC days."""
        return new_stage(self.app_id, table, days, self.staging_dir)

    def commit(self, stages: Sequence[ParquetStage], sync_run: SyncRun | None = None) -> list[Path]:
        """Replace the staged days with the staged rows in ONE transaction, record the sync_runs row, then
        rewrite those days' Parquet files. Returns the Parquet files of the affected days.

        Rows are deduplicated by key (meetings: id; participants: meeting_id + id): latest updated_at, then
        latest synced_at, then the last written wins. A key already stored under another day moves. On any
        error nothing changes; the stages are dropped either way.
        """
        everything = ready(stages, self.app_id)
        try:
            with (
                self._writer(mirror=("rejected_records", "sync_runs")) as con,
                as_warehouse_error(f"committing {describe(everything)} to"),
            ):
                con.begin()
                try:
                    affected, inserted = sql_commit.replace_staged(con, everything, self.app_id)
                    for stage in everything:
                        if stage.listed is not None:
                            days = participants.mark_synced(con, *stage.listed, self.app_id)
                            affected |= {("meetings", day) for day in days}
                    if sync_run is not None:
                        row = sync_run_table(
                            of_app(sync_run, self.app_id), everything, "success", rows=inserted
                        )
                        sql_commit.insert_sync_run(con, row)
                    parquet.queue_exports(con, affected)
                    con.commit()
                except BaseException:
                    con.rollback()
                    raise
                for stage in everything:
                    stage.committed = True
                parquet.export_pending(con, self.parquet_dir)
            return self._files(affected)
        finally:
            for stage in everything:
                stage.discard()

    def record_failed_run(self, sync_run: SyncRun) -> None:
        """Write a 'failed' sync_runs row (error text redacted); no data is touched."""
        with self._writer(mirror=("sync_runs",)) as con:
            row = failed_run_table(of_app(sync_run, self.app_id))
            sql_commit.insert_sync_run(con, row)
            parquet.export_pending(con, self.parquet_dir)

    def upsert_meetings(self, batch: Any) -> list[Path]:
        """Replace the app's meetings by id (e.g. the response of a PATCH) and rewrite their days' Parquet
        files."""
        if isinstance(batch, normalize.Normalized):
            batch = batch.batch
        spec = TABLES["meetings"]
        table = pa.Table.from_batches([conform(batch, spec, self.app_id)])
        with self._writer(mirror=()) as con:
            con.register("_rtk_upsert", table)
            con.begin()
            try:
                affected, _ = sql_commit.replace_days(
                    con, spec, "_rtk_upsert", frozenset(), self.app_id, tiebreak=""
                )
                parquet.queue_exports(con, affected)
                con.commit()
            except BaseException:
                con.rollback()
                raise
            finally:
                con.unregister("_rtk_upsert")
            parquet.export_pending(con, self.parquet_dir)
        return self._files(affected)

    def replace_participants(self, rows: Any, meeting_ids: Sequence[str], listed_at: datetime) -> list[Path]:
        """Replace exactly these meetings' participants with `rows` and stamp their participants_synced_at,
        in one transaction; then rewrite the Parquet files of their days."""
        if isinstance(rows, normalize.Normalized):
            rows = rows.batch
        table = pa.Table.from_batches([conform(rows, TABLES["participants"], self.app_id)])
        with self.transaction() as con:
            affected = participants.replace_participants(con, table, meeting_ids, listed_at, self.app_id)
            parquet.queue_exports(con, affected)
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
            parquet.export_pending(con, self.parquet_dir)

    def record_deactivations(self, new: Sequence[Deactivation], settled: Sequence[Deactivation]) -> None:
        """One audit transaction: settle the app's earlier rows in place (same attempt_id), insert the new
        ones under the app."""
        if new or settled:
            with self.transaction() as con:
                audit.record(con, self.app_id, new, settled)

    def export_pending(self) -> list[Path]:
        """Write the Parquet days a killed writer left queued (every writer also does this on its way out)."""
        with self._writer(mirror=()) as con:
            return parquet.export_pending(con, self.parquet_dir)

    # -- internals --------------------------------------------------------------------------------------

    def _acquire(self) -> None:
        locks.create_lock_file(self.lock_path)
        try:
            self._lock.acquire(timeout=self.lock_timeout)
        except filelock.Timeout:
            raise WarehouseBusyError(
                f"could not take the warehouse write lock {self.lock_path} within {self.lock_timeout:g}s: "
                "another sync or deactivation is writing (or hung holding it)"
            ) from None

    def _open_rw(self) -> duckdb.DuckDBPyConnection:
        migrated = None
        if not self._schema_ready:  # the first run after an upgrade migrates the older release's file
            migrated = migrate.migrate_release_file(
                self.duckdb_path,
                self.state_path,
                self._apply_schema,
                app_id=self.app_id,
                busy_timeout=self.busy_timeout,
            )
            self.state_path.parent.mkdir(parents=True, exist_ok=True)
        con = self._open_state(read_only=False)
        try:
            # DuckDB would take up to 80% of RAM for a commit's dedup and sort, and keep it; past this it
            # spills to the state folder instead (issue 22: W1's peak was the commit).
            con.execute(f"SET memory_limit = '{WRITER_MEMORY_LIMIT}'")
            if not self._schema_ready:
                self._apply_schema(con)
            if migrated:  # the older release's mirror is rewritten from the migrated rows
                parquet.queue_exports(con, _all_days(con))
        except BaseException:
            con.close()
            raise
        return con

    @contextmanager
    def _writer(
        self, mirror: Sequence[str] = tuple(analysts.SMALL_TABLES)
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        """The write lock and a read-write connection to the state; on success, publish what changed:
        the `mirror` small tables, queued Parquet days, the analysts' file when its definitions are stale."""
        if self._read_only:
            raise WarehouseError(f"{self!r} was opened for reading only: nothing is written")
        self._acquire()
        try:
            con = self._open_rw()
            try:
                yield con
                self._publish(con, mirror)
            finally:
                con.close()
        finally:
            self._lock.release()

    def _publish(
        self, con: duckdb.DuckDBPyConnection, mirror: Sequence[str] = tuple(analysts.SMALL_TABLES)
    ) -> None:
        day_tables = [
            analysts.DayTable(s.name, s.day, s.schema.remove(s.schema.get_field_index(s.day)))
            for s in TABLES.values()
            if s.parquet
        ]
        parquet.export_pending(con, self.parquet_dir)
        if not self._published:  # a new process: snapshot what an older release or a killed writer left
            for spec in day_tables:
                snapshots.publish_empty_partition(self.parquet_dir, spec.name, spec.day, spec.file_schema)
            snapshots.adopt(self.parquet_dir, self.parquet_dir.glob("*/*=*/data.parquet"))
            mirror = tuple(analysts.SMALL_TABLES)
        snapshots.publish_tables(con, self.parquet_dir, {t: analysts.SMALL_TABLES[t] for t in mirror})
        views = self._analyst_views()
        current = analysts.refresh_file(
            con, self.duckdb_path, self.parquet_dir, day_tables, views, self._checked
        )
        if current:
            self._checked = analysts.file_signature(self.duckdb_path)
        if compaction.collect(con, self.parquet_dir, self.duckdb_path) and current:
            self._checked = analysts.file_signature(self.duckdb_path)  # the fold changed only the base
        self._published = True

    def _analyst_views(self) -> list[str]:
        """The analyst views and macro, defined in the state and in the analysts' file alike."""
        return view_sql()

    def _apply_schema(self, con: duckdb.DuckDBPyConnection) -> None:
        # Columns a newer schema declares are added to existing tables first (app_id filled with this
        # store's app), so the DDL files and the views over those columns apply to a warehouse written by
        # an older version. The Parquet days of a widened table are all rewritten before the analysts'
        # views select the new column from them.
        con.begin()
        try:
            widened = migrate.add_missing_columns(con, _SCHEMAS, self.app_id)
            for ddl in _GENERATED_DDL + table_sql() + self._analyst_views():
                con.execute(ddl)
            parquet.queue_exports(con, {(t, d) for t, d in _all_days(con) if t in widened})
            con.commit()
        except BaseException:
            con.rollback()
            raise
        self._schema_ready = True
        self._checked = None  # the definitions may differ now: the next publish compares them again


def _all_days(con: duckdb.DuckDBPyConnection) -> set[tuple[str, date]]:
    """Every (table, day) of the Parquet-mirrored tables."""
    return {
        (spec.name, day)
        for spec in TABLES.values()
        if spec.parquet
        for (day,) in con.execute(f"SELECT DISTINCT {q(spec.day)} FROM {q(spec.name)}").fetchall()
    }
