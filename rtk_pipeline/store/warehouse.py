"""DuckDB tables + a Hive-partitioned Parquet mirror, written so that no process has to own everything.

`Warehouse` is the default `Store` backend (see interface.py); the other modules of this package hold its
parts: `stage` (Parquet part files a sync writes while fetching), `commit` (the replace-days SQL),
`parquet` (the mirror), `queries`/`checks` (named reads), `tables` (the declared schemas).

`commit()` is the only writer, serialized across processes by a file lock (`<duckdb>.lock`): one DuckDB
transaction replaces the staged days (DuckDB reads the staged Parquet itself, so a million rows never become
Python objects) and records the `sync_runs` row. A killed or failed commit leaves the previous rows; a re-run
is idempotent. Then the affected days' Parquet files are rewritten (parquet.py).

A Warehouse is opened for one app (`app_id`): several apps share the file and the mirror (a day's Parquet
file holds every app's rows of the day), but what it commits, reads and audits is its app's rows only.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import filelock
import pyarrow as pa

if TYPE_CHECKING:  # pandas costs ~70 MB and ~0.8 s to import; a backfill never needs it
    import pandas as pd

from rtk_pipeline import normalize
from rtk_pipeline.errors import WarehouseBusyError
from rtk_pipeline.store import analysts, migrate, parquet, snapshots
from rtk_pipeline.store import commit as sql_commit
from rtk_pipeline.store.checks import CheckQueries
from rtk_pipeline.store.connection import (
    LockedConnection,
    SharedReads,
    as_warehouse_error,
    connect_duckdb,
    file_part,
    q,
    query_df,
    table_sql,
    view_sql,
)
from rtk_pipeline.store.queries import SyncAndStaleQueries
from rtk_pipeline.store.stage import ParquetStage, conform, new_stage
from rtk_pipeline.store.tables import (
    DEACTIVATIONS_SCHEMA,
    DEACTIVATIONS_TABLE,
    TABLE_SCHEMAS,
    TABLES,
    create_table_sql,
)

# Tables declared only in Python (their DDL is generated), created before the sql/ files run.
_GENERATED_DDL = [create_table_sql(DEACTIVATIONS_TABLE, DEACTIVATIONS_SCHEMA, primary_key="attempt_id")]


class Warehouse(SharedReads, SyncAndStaleQueries, CheckQueries):
    """The DuckDB file and its Parquet mirror. Cheap to create; opens DuckDB only for short moments."""

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
            raise ValueError("a Warehouse is opened for one app: app_id must be a non-empty string")
        self.app_id = app_id
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
        self._app_columns_seen = False

    def __repr__(self) -> str:
        return f"Warehouse({str(self.duckdb_path)!r}, {str(self.parquet_dir)!r}, app_id={self.app_id!r})"

    # -- reading ----------------------------------------------------------------------------------------

    def connect(self, read_only: bool = False) -> Any:
        """A short-lived connection (close it: `with wh.connect(read_only=True) as con:`), session TZ UTC.

        Read-write connections hold the warehouse write lock until closed, so they are serialized with
        commits; the schema is created first when the file does not exist yet.
        """
        if read_only:
            return self._reader()
        self._acquire()
        try:
            con = self._open_rw()
        except BaseException:
            self._lock.release()
            raise
        return LockedConnection(con, self._lock.release, self._publish)

    def _open_reader(self) -> Any:
        if not self.state_path.exists():
            self.ensure_schema()
        con = connect_duckdb(self.state_path, read_only=True, busy_timeout=self.busy_timeout)
        if self._app_columns_seen or migrate.has_app_columns(con):
            self._app_columns_seen = True
            return con
        con.close()  # a release's single-app state: reads filter on app_id, so it migrates first
        self.ensure_schema()
        return connect_duckdb(self.state_path, read_only=True, busy_timeout=self.busy_timeout)

    def query_df(self, name_or_sql: str, params: Sequence | dict | None = None) -> pd.DataFrame:
        """A table, view, table-macro call or SELECT as a pandas DataFrame (read-only)."""
        if not self.state_path.exists():
            self.ensure_schema()
        return query_df(self.state_path, name_or_sql, params, busy_timeout=self.busy_timeout)

    def parquet_path(self, table: str, day: date) -> Path:
        return parquet.parquet_path(self.parquet_dir, table, day)

    def run_lock_path(self, job: str) -> Path:
        """<duckdb file>.<job>.<app>.lock: one such job per app and warehouse at a time (two apps'
        deactivations may run at once: each touches its own app's meetings)."""
        return Path(f"{self.duckdb_path}.{job}.{file_part(self.app_id)}.lock")

    # -- writing ----------------------------------------------------------------------------------------

    def ensure_schema(self) -> None:
        """Create tables, views and macros from sql/ (idempotent) and add columns a newer schema declares."""
        self._schema_ready = False
        with self._writer():
            pass

    def stage(self, table: str, days: Iterable[date]) -> ParquetStage:
        """A new Stage for `table` ("meetings", "participants" or "rejected_records") and those UTC days."""
        return new_stage(self, table, days, self.staging_dir)

    def commit(self, stages: Sequence[ParquetStage], sync_run: dict | None = None) -> list[Path]:
        """Replace the staged days with the staged rows in ONE transaction, record the sync_runs row, then
        rewrite those days' Parquet files. Returns the Parquet files of the affected days.

        Rows are deduplicated by key (meetings: id; participants: meeting_id + id): latest updated_at, then
        latest synced_at, then the last written wins. A key already stored under another day moves. On any
        error nothing changes; the stages are dropped either way.
        """
        everything = sql_commit.ready(stages, self.app_id)
        try:
            with (
                self._writer(mirror=("rejected_records", "sync_runs")) as con,
                as_warehouse_error(f"committing {sql_commit.describe(everything)} to"),
            ):
                con.begin()
                try:
                    affected, inserted = sql_commit.replace_staged(con, everything, self.app_id)
                    if sync_run is not None:
                        row = sql_commit.sync_run_table(
                            sql_commit.of_app(sync_run, self.app_id), everything, "success", rows=inserted
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

    def record_failed_run(self, sync_run: dict) -> None:
        """Write a 'failed' sync_runs row (error text redacted); no data is touched."""
        with self._writer(mirror=("sync_runs",)) as con:
            row = sql_commit.sync_run_table(
                {**sql_commit.of_app(sync_run, self.app_id), "outcome": "failed"}, [], "failed", rows=0
            )
            sql_commit.insert_sync_run(con, row)
            parquet.export_pending(con, self.parquet_dir)

    def upsert_meetings(self, batch: pa.RecordBatch | normalize.Normalized) -> list[Path]:
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

    def export_pending(self) -> list[Path]:
        """Write the Parquet days a killed writer left queued (every writer also does this on its way out)."""
        with self._writer(mirror=()) as con:
            return parquet.export_pending(con, self.parquet_dir)

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
        con = connect_duckdb(self.state_path, read_only=False, busy_timeout=self.busy_timeout)
        try:
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
        analysts.refresh_file(con, self.duckdb_path, self.parquet_dir, day_tables, self._analyst_views())
        snapshots.collect(self.parquet_dir, self.duckdb_path)
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
            widened = migrate.add_missing_columns(
                con, {**TABLE_SCHEMAS, DEACTIVATIONS_TABLE: DEACTIVATIONS_SCHEMA}, self.app_id
            )
            for ddl in _GENERATED_DDL + table_sql() + self._analyst_views():
                con.execute(ddl)
            parquet.queue_exports(con, {(t, d) for t, d in _all_days(con) if t in widened})
            con.commit()
        except BaseException:
            con.rollback()
            raise
        self._schema_ready = True


def _all_days(con: duckdb.DuckDBPyConnection) -> set[tuple[str, date]]:
    """Every (table, day) of the Parquet-mirrored tables."""
    return {
        (spec.name, day)
        for spec in TABLES.values()
        if spec.parquet
        for (day,) in con.execute(f"SELECT DISTINCT {q(spec.day)} FROM {q(spec.name)}").fetchall()
    }
