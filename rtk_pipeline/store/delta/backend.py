"""`DeltaStore`: the `Store` interface on Delta Lake tables (`RTK_STORE=delta`, `RTK_TABLE_URI`).

Writes need no lock and no shared disk. A sync stages Parquet parts in this host's temporary folder, then
commits one Delta transaction per table: a predicate overwrite of its days for meetings/participants and for
their rejects (deduplicated by key exactly as the DuckDB backend does), then a blind append to `sync_runs`.
A writer that loses a same-day race re-reads its own stage and retries (`Lake`). Readers open an in-memory
DuckDB over the tables' current versions, so the one `Reads` of both backends runs unchanged.

Several apps share the tables: a store is opened for one app, stamps its `app_id` on every row, and each
overwrite, MERGE and reject replacement names `app_id = '<its app>'`, so it never removes another app's rows
and does not conflict with another app's writer on the same day (their files hold only their own app's rows).
Tables of a release without `app_id` are upgraded on first open, their rows filed under the opening app.

Not atomic across tables (Delta has no multi-table transaction): a crash between the data commit and the
`sync_runs` append leaves the new days without their run row; re-running the window converges.
"""

from __future__ import annotations

import dataclasses
import tempfile
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from rtk_pipeline import normalize
from rtk_pipeline.errors import ConfigError, WarehouseError
from rtk_pipeline.schemas import (
    APP_ID,
    DEACTIVATIONS_SCHEMA,
    DEACTIVATIONS_TABLE,
    SYNC_RUNS_SCHEMA,
    TABLES,
    TableSpec,
)
from rtk_pipeline.store import locks, sandbox
from rtk_pipeline.store.connect import memory_connection
from rtk_pipeline.store.delta import reader
from rtk_pipeline.store.delta.lake import Lake, Layout, in_list, literal
from rtk_pipeline.store.delta.objectstore import TableRoot
from rtk_pipeline.store.reads import ReadConnections, Reads
from rtk_pipeline.store.records import Deactivation, MirrorDiff, SyncRun
from rtk_pipeline.store.runs import failed_run_table, of_app, sync_run_table
from rtk_pipeline.store.sqltext import carrying, q
from rtk_pipeline.store.stage import (
    FLUSH_ROWS,
    STAGED_TIEBREAK,
    ParquetStage,
    conform,
    new_stage,
    ready,
    staged_source,
)

LAYOUTS: dict[str, Layout] = {
    **{name: Layout(spec.schema, spec.day) for name, spec in TABLES.items()},
    # Small and append-only: partitioning them by day would only make many tiny files.
    "sync_runs": Layout(SYNC_RUNS_SCHEMA),
    DEACTIVATIONS_TABLE: Layout(DEACTIVATIONS_SCHEMA),
}
_SETTLED_COLUMNS = ("decision", "http_status", "detail", "error", "decided_at")


class DeltaStore(Reads):
    """The warehouse as Delta tables under one root (a local path or s3://bucket/prefix), for one app.

    Every read is the shared `Reads`, over an in-memory DuckDB with the tables registered (reader.py)."""

    def __init__(self, root: TableRoot | str, *, app_id: str, staging_dir: Path | str | None = None) -> None:
        if not isinstance(app_id, str) or not app_id.strip():
            raise ConfigError("a DeltaStore is opened for one app: app_id must be a non-empty string")
        super().__init__(app_id, ReadConnections(self._open_reader))
        self.root = root if isinstance(root, TableRoot) else TableRoot.from_env(root)
        # Rows of a release without app_id are filed under the first app that opens its tables.
        self.lake = Lake(self.root, LAYOUTS, fill={APP_ID: app_id})
        # Per host and never shared: <system temp>/rtk-pipeline-staging (TMPDIR moves it).
        self.staging_dir = Path(staging_dir or Path(tempfile.gettempdir()) / "rtk-pipeline-staging")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, app_id: str) -> DeltaStore:
        return cls(TableRoot.from_env(env=env), app_id=app_id)

    def __repr__(self) -> str:
        return f"DeltaStore({self.root.uri!r}, app_id={self.app_id!r})"

    # -- reading ------------------------------------------------------------------------------------------

    def connect(self, read_only: bool = False) -> Any:
        """An in-memory DuckDB over the tables' current versions (with the analyst views); read-only.

        It shows every app's rows (the analyst's view, with the app_id column); the named reads confine
        themselves to this store's app."""
        if not read_only:
            raise WarehouseError("the Delta backend is written through the Store methods, not SQL")
        return self.connections.connection()

    def _open_reader(self) -> duckdb.DuckDBPyConnection:
        return reader.connect(self.lake)

    @property
    def location(self) -> str:
        return self.root.uri

    def exists(self) -> bool:
        """The tables are created on first use (a read of none is a read of empty tables)."""
        return True

    def require_existing(self) -> None:
        """Refuse (one line) when no Delta table is under the root: a read never creates them; from now
        on tables of an earlier release are read as they are (reader.py), not upgraded."""
        self.lake.read_only = True
        if not any(self.lake.found().values()):
            raise WarehouseError(
                f"no Delta tables under {self.root.uri}: check RTK_TABLE_URI for a typo (or the working "
                "directory, if it is relative); `rtk-pipeline backfill` creates them; nothing was created"
            )

    def analyst_connection(self) -> duckdb.DuckDBPyConnection:
        """An in-memory DuckDB over the tables' current versions with the analyst views (reader.py);
        refused in one line when no table is there (a read never creates them)."""
        self.require_existing()
        return self._open_reader()

    def query_sandboxed(self, name_or_sql: str, params: Sequence | Mapping | None = None) -> pa.Table:
        """The analysts' SQL door: one SELECT over `analyst_connection()` (Arrow datasets, so no file access
        is needed at all: sandbox.py)."""
        return sandbox.query(self.analyst_connection(), [], name_or_sql, params)

    def repair(self) -> list[str]:
        """The Delta log is the state: nothing to rebuild, so say what each table holds; one line that
        names the missing or unreadable tables if any."""
        found = self.lake.found()
        lines = [f"the Delta log is the state under {self.root.uri}: nothing to rebuild"]
        broken = []
        for name, present in found.items():
            try:
                rows = self.lake.dataset(name).count_rows() if present else 0
                version = self.lake.version(name) if present else None
            except WarehouseError as exc:
                broken.append(f"{name} ({str(exc).splitlines()[0]})")
                continue
            lines.append(
                f"  {name}: " + (f"version {version}, {rows} row(s)" if present else "not created yet")
            )
        if broken:
            raise WarehouseError(f"Delta tables under {self.root.uri} cannot be read: {'; '.join(broken)}")
        return lines

    def mirror_diffs(self, table: str, first: date, last: date) -> dict[date, MirrorDiff]:
        """The Delta table is its own file set: there is no second copy to drift from it."""
        rows = self.rows_by_day(table, first, last)
        location = self.root.table_uri(table)
        return {d: MirrorDiff(table_rows=n, mirror_rows=n, location=location) for d, n in rows.items()}

    def lock(self, job: str) -> AbstractContextManager[None]:
        """A lock file serializes `job` of this app on this host only (another app's run never waits for
        it); across hosts Dagster's run queue does (README)."""
        self.staging_dir.mkdir(parents=True, exist_ok=True)
        scope = uuid.uuid5(uuid.NAMESPACE_URL, f"{self.root.uri}#{self.app_id}").hex
        return locks.hold(self.staging_dir / f"{scope}.{job}.lock", job)

    # -- writing ------------------------------------------------------------------------------------------

    def ensure_schema(self) -> None:
        self.lake.ensure_tables()

    def stage(self, table: str, days: Iterable[date]) -> ParquetStage:
        return new_stage(self.app_id, table, days, self.staging_dir)

    def commit(self, stages: Sequence[ParquetStage], sync_run: SyncRun | None = None) -> list[Path]:
        """One predicate overwrite per staged table (its days), its rejects', then the `sync_runs` row."""
        everything = ready(stages, self.app_id)  # a stage of another app is refused
        try:  # a failed write raises a LakeError that names the table and the root
            run = of_app(sync_run, self.app_id)
            if run.run_id is None:
                run = dataclasses.replace(run, run_id=uuid.uuid4().hex)
            run_id = str(run.run_id)
            data = [s for s in everything if s.table != "rejected_records"]
            rows = 0
            for table in dict.fromkeys(s.table for s in data):
                group = [s for s in data if s.table == table]
                rows += self._replace(TABLES[table], group, run_id)
            self._replace_rejects(everything, run_id)
            for stage in everything:
                if stage.listed is not None:  # a crash before this keeps the old stamp: listed again later
                    self._stamp_listed(*stage.listed)
            for stage in everything:
                stage.committed = True
            if sync_run is not None:
                row = sync_run_table(run, everything, "success", rows=rows)
                self.lake.append("sync_runs", row, run_id=run_id)
            return []
        finally:
            for stage in everything:
                stage.discard()

    def record_failed_run(self, sync_run: SyncRun) -> None:
        row = failed_run_table(of_app(sync_run, self.app_id))
        self.lake.append("sync_runs", row, run_id=row.column("run_id")[0].as_py())

    def upsert_meetings(self, batch: Any) -> list[Path]:
        """Replace this app's meetings by id (a MERGE; a meeting's created_day never changes, so it stays in
        its day)."""
        if isinstance(batch, normalize.Normalized):
            batch = batch.batch
        spec = TABLES["meetings"]
        table = pa.Table.from_batches([conform(batch, spec, self.app_id)])
        days = frozenset(table.column(spec.day).to_pylist())
        with memory_connection() as con:  # the carried columns keep their stored values
            con.register("_rtk_new", table)
            con.register("_rtk_carry", self._carried(spec, days))
            source = carrying("_rtk_new", spec.key, spec.carried, "_rtk_carry")
            table = (
                con.sql(f"SELECT * FROM {source}")
                .to_arrow_table()
                .select(spec.schema.names)
                .cast(spec.schema)
            )
        self.lake.upsert("meetings", table, spec.key, run_id=uuid.uuid4().hex, only=self._mine)
        return []

    def replace_participants(self, rows: Any, meeting_ids: Sequence[str], listed_at: datetime) -> list[Path]:
        """Replace exactly these meetings' participants with `rows` (one predicate overwrite: one Delta
        transaction), then stamp the meetings. A crash between the two leaves the old stamp, so the next
        refresh lists them again."""
        if isinstance(rows, normalize.Normalized):
            rows = rows.batch
        spec = TABLES["participants"]
        table = pa.Table.from_batches([conform(rows, spec, self.app_id)])
        days = {d for _, d in self.meeting_days(meeting_ids)}
        if days:
            predicate = f"{in_list(spec.day, days)} AND {in_list('meeting_id', meeting_ids)}"
            self.lake.replace(spec.name, table, self._only_mine(predicate), run_id=uuid.uuid4().hex)
        self._stamp_listed(meeting_ids, listed_at)
        return []

    def _stamp_listed(self, meeting_ids: Sequence[str], listed_at: datetime) -> None:
        """Stamp participants_synced_at of these stored meetings: one predicate overwrite of their days
        (re-read if another writer commits first)."""
        days = frozenset(d for _, d in self.meeting_days(meeting_ids))
        if not days:
            return
        spec = TABLES["meetings"]
        predicate = self._only_mine(in_list(spec.day, days))
        columns = ", ".join(q(n) for n in spec.schema.names if n != "participants_synced_at")

        def stamped() -> pa.Table:
            with memory_connection() as con:
                con.register("_rtk_table", self.lake.dataset(spec.name))
                return (
                    con.sql(
                        f"SELECT {columns}, CASE WHEN list_contains($ids, id) THEN $at::TIMESTAMPTZ "
                        f"ELSE participants_synced_at END AS participants_synced_at "
                        f"FROM _rtk_table WHERE {predicate}",
                        params={"ids": list(meeting_ids), "at": listed_at},
                    )
                    .to_arrow_table()
                    .select(spec.schema.names)
                    .cast(spec.schema)
                )

        self.lake.replace(spec.name, stamped, predicate, run_id=uuid.uuid4().hex)

    def export_pending(self) -> list[Path]:
        return []  # no mirror to finish

    def record_deactivations(self, new: Sequence[Deactivation], settled: Sequence[Deactivation]) -> None:
        """One MERGE on attempt_id: settled rows update in place (recorded_at kept), new rows are inserted.

        Idempotent: replaying the same call (a retry after a lost race) leaves the same rows.
        """
        if not new and not settled:
            return
        rows = [{**_audit_row(r), "recorded_at": r.decided_at, APP_ID: self.app_id} for r in [*settled, *new]]
        source = pa.Table.from_pylist(rows, schema=DEACTIVATIONS_SCHEMA)
        run_id = (new or settled)[0].run_id
        self.lake.upsert(
            DEACTIVATIONS_TABLE,
            source,
            [APP_ID, "attempt_id"],
            run_id=run_id,
            update=_SETTLED_COLUMNS,
            only=self._mine,
        )

    # -- internals ----------------------------------------------------------------------------------------

    @property
    def _mine(self) -> dict[str, str]:
        return {APP_ID: self.app_id}

    def _only_mine(self, predicate: str) -> str:
        """`predicate` narrowed to this app's rows (app ids are user-given: quoted as a literal)."""
        return f"{APP_ID} = {literal(self.app_id)} AND ({predicate})"

    def _replace(self, spec: TableSpec, group: list[ParquetStage], run_id: str) -> int:
        days = frozenset().union(*(s.days for s in group))
        if not days:
            return 0
        counted = [0]
        carried = self._carried(spec, days)
        self.lake.replace(
            spec.name,
            lambda: _deduplicated(spec, group, counted, carried),
            self._only_mine(in_list(spec.day, days)),
            run_id=run_id,
        )
        return counted[0]

    def _carried(self, spec: TableSpec, days: frozenset[date]) -> pa.Table | None:
        """The stored `carried` columns of this app's rows of `days`, by key (see TableSpec.carried)."""
        if not spec.carried:
            return None
        with memory_connection() as con:
            con.register("_rtk_table", self.lake.dataset(spec.name))
            key = ", ".join(q(k) for k in spec.key)
            kept = ", ".join(q(c) for c in spec.carried)
            return con.sql(
                f"SELECT {key}, {kept} FROM _rtk_table WHERE {self._only_mine(in_list(spec.day, days))}"
            ).to_arrow_table()

    def _replace_rejects(self, stages: list[ParquetStage], run_id: str) -> None:
        """A day's rejects belong to the day (as in the DuckDB backend): committing a table's days replaces
        this app's rejects for them; an undated reject (created_at unreadable) replaces its twin by raw
        text."""
        rejects = [s for s in stages if s.table == "rejected_records"]
        scope = {s.table for s in stages if s.table != "rejected_records"}
        days = frozenset().union(*(s.days for s in stages))
        undated: list[str] = []
        if rejects:
            with memory_connection() as con:
                source = staged_source(rejects)
                scope |= {t for (t,) in con.execute(f"SELECT DISTINCT table_name FROM {source}").fetchall()}
                undated = [
                    r
                    for (r,) in con.execute(f"SELECT DISTINCT raw FROM {source} WHERE day IS NULL").fetchall()
                ]
        if not scope or not (days or undated):
            return
        which = [in_list("day", days)] if days else []
        if undated:
            which.append(f"(day IS NULL AND {in_list('raw', undated)})")
        predicate = self._only_mine(f"{in_list('table_name', scope)} AND ({' OR '.join(which)})")
        spec = TABLES["rejected_records"]
        self.lake.replace(spec.name, lambda: _deduplicated(spec, rejects, [0]), predicate, run_id=run_id)


def _audit_row(row: Deactivation) -> dict[str, Any]:
    return {
        name: getattr(row, name) for name in DEACTIVATIONS_SCHEMA.names if name not in ("recorded_at", APP_ID)
    }


def _deduplicated(
    spec: TableSpec, stages: list[ParquetStage], counted: list[int], carried: pa.Table | None = None
) -> pa.RecordBatchReader:
    """The staged rows, one per key (latest updated_at, then synced_at, then the last written), day by day
    so the dedup window holds one day's rows; `counted[0]` ends as the number of rows produced. Null
    `carried` columns take the stored value of the same key."""
    counted[0] = 0
    columns = ", ".join(q(n) for n in spec.schema.names)
    key = ", ".join(q(k) for k in spec.key)
    day = q(spec.day)
    winner = f"row_number() OVER (PARTITION BY {key} ORDER BY {spec.winner}{STAGED_TIEBREAK})"

    def batches() -> Iterator[pa.RecordBatch]:
        if not stages:
            return
        with memory_connection() as con:
            source = staged_source(stages)
            if carried is not None:
                con.register("_rtk_carry", carried)
                source = carrying(source, spec.key, spec.carried, "_rtk_carry")
            days = [d for (d,) in con.execute(f"SELECT DISTINCT {day} FROM {source} ORDER BY 1").fetchall()]
            for each in days:
                result = con.sql(
                    f"SELECT {columns} FROM {source} WHERE {day} IS NOT DISTINCT FROM ? "
                    f"QUALIFY {winner} = 1 ORDER BY {spec.order}",
                    params=[each],
                )
                for batch in result.to_arrow_reader(FLUSH_ROWS):
                    counted[0] += batch.num_rows
                    yield batch.cast(spec.schema)

    return pa.RecordBatchReader.from_batches(spec.schema, batches())
