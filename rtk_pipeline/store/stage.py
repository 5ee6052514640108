"""Staging: rows of one table for some UTC days, streamed to Parquet part files until the commit.

Fetching never holds the DuckDB file (DuckDB allows one read-write process per file, and a sync fetches for
minutes): a stage writes part files in a folder beside the warehouse, and the commit reads them.
"""

from __future__ import annotations

import os
import shutil
import socket
import time
import uuid
import weakref
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from rtk_pipeline import normalize
from rtk_pipeline.arrowpool import use_system_allocator
from rtk_pipeline.errors import WarehouseError
from rtk_pipeline.schemas import APP_ID, APP_ID_FIELD, TABLES, TableSpec
from rtk_pipeline.store.connect import memory_connection
from rtk_pipeline.store.sqltext import as_days, files_sql, lit, q

# A stage buffers at most this much before writing a part file (and day files are written in batches of
# FLUSH_ROWS): what a sync holds in memory does not grow with the rows it syncs.
FLUSH_ROWS = 16_384
_FLUSH_BYTES = 8 * 1024 * 1024
# What reading the part files back (distinct keys per day, before a commit) may hold; past it DuckDB spills
# into the stage's folder. Unbounded, counting a million staged meetings' keys took ~80 MB more than this
# (RESULTS.md); 32 MB could not count 5 million staged participants even spilling.
READ_MEMORY_LIMIT = "64MB"
# Among staged duplicates with equal updated_at and synced_at, the row written last wins (part files sort in
# write order, and stage folders in creation order).
STAGED_TIEBREAK = ", filename DESC, file_row_number DESC"


class ParquetStage:
    """Rows of one table for some UTC days, streamed to Parquet part files until the store's `commit`.

    Rows whose partition day is not one of `days` are dropped (and counted in `skipped`): a stage replaces
    exactly its days, so an over-fetched listing can be written as is. Writing a `Normalized` also stages its
    rejects. Memory stays bounded: at most ~16k buffered rows (8 MB), then a part file. Write from one
    thread (the sync engine's consumer); a stage is not shared between threads.
    """

    def __init__(self, app_id: str, spec: TableSpec, days: frozenset[date], path: Path) -> None:
        self.app_id = app_id
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
        self._rejects: ParquetStage | None = None
        # (meeting ids, instant) whose participants this stage lists: the commit stamps them in its own
        # transaction, so a participants day and its meetings' participants_synced_at change together.
        self.listed: tuple[list[str], datetime] | None = None
        path.mkdir(parents=True)
        self._cleanup = weakref.finalize(self, shutil.rmtree, str(path), True)

    def __repr__(self) -> str:
        return f"Stage({self.table!r}, {len(self.days)} days, {self.rows_written} rows, {self.path})"

    def __enter__(self) -> ParquetStage:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is not None:
            self.discard()
        elif self.open:  # a refused commit has discarded it already
            self.flush()

    def write(self, data: pa.RecordBatch | pa.Table | normalize.Normalized) -> int:
        """Stage a batch (or a Normalized: its batch here, its rejects in a companion stage); rows kept."""
        if not self.open:
            raise WarehouseError(f"{self!r} is already committed or discarded")
        if isinstance(data, normalize.Normalized):
            if data.rejected.num_rows:
                self.rejects.write(data.rejected)
            data = data.batch
        batches = data.to_batches() if isinstance(data, pa.Table) else [data]
        kept = 0
        for batch in batches:
            kept += self._write_batch(conform(batch, self.spec, self.app_id))
        return kept

    def mark_listed(self, meeting_ids: Sequence[str], listed_at: datetime) -> None:
        """The participants of these meetings were listed from `listed_at` on: committing this stage sets
        their meetings.participants_synced_at (issue 19)."""
        if self.spec.name != "participants":
            raise ValueError(f"only a participants stage lists meetings' participants, not {self.table}")
        self.listed = (list(meeting_ids), listed_at)

    @property
    def rejects(self) -> ParquetStage:
        """The companion rejected_records stage (same days), created on first use."""
        if self.spec.name == "rejected_records":
            return self
        if self._rejects is None:
            self._rejects = new_stage(self.app_id, "rejected_records", self.days, self.path.parent)
        return self._rejects

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
            if self._buffered_rows >= FLUSH_ROWS or self._buffered_bytes >= _FLUSH_BYTES:
                self.flush()
        return batch.num_rows

    @property
    def open(self) -> bool:
        """Neither committed nor discarded: it may still be written and committed."""
        return not self.committed and self._cleanup.alive

    def flush(self) -> None:
        """Write the buffered rows to a part file (a stage with no rows still gets one, empty)."""
        if not self._buffer and self._parts:
            return
        table = pa.Table.from_batches(self._buffer, schema=self.spec.schema)
        part = self.path / f"part-{len(self._parts):06d}.parquet"
        pq.write_table(table, part, compression="snappy")
        self._parts.append(part)
        self._buffer, self._buffered_rows, self._buffered_bytes = [], 0, 0

    def parts(self) -> list[Path]:
        """Part files holding everything written so far (the buffer is flushed first)."""
        self.flush()
        return list(self._parts)

    def _query(self, sql: str) -> list[tuple]:
        """`sql` over the part files (`{staged}`), within READ_MEMORY_LIMIT. Running out is one
        WarehouseError saying what to do: DuckDB's own advice names settings the user cannot reach."""
        con = memory_connection()
        spill = self.path / ".spill"
        try:
            con.execute(f"SET memory_limit = '{READ_MEMORY_LIMIT}'")
            con.execute(f"SET temp_directory = {lit(str(spill))}")
            staged = f"read_parquet({files_sql(self.parts())})"
            return con.execute(sql.replace("{staged}", staged)).fetchall()
        except duckdb.OutOfMemoryException as exc:
            raise WarehouseError(
                f"checking the {self.rows_written:,} staged {self.table} rows ran out of the "
                f"{READ_MEMORY_LIMIT} DuckDB may use for it, spilling into {spill} "
                f"({str(exc).splitlines()[0]}): sync a shorter "
                "range of days (--start/--end, or smaller partitions); nothing was written, the stored days "
                "are unchanged"
            ) from exc
        finally:
            con.close()

    def distinct_count(self, column: str = "id") -> int:
        """Distinct non-null values of `column` staged so far (read back from the part files)."""
        if column not in self.spec.schema.names:
            raise KeyError(f"{self.table} has no column {column!r}")
        return self._query(f"SELECT count(DISTINCT {q(column)}) FROM {{staged}}")[0][0]

    def rows_by_day(self) -> dict[date, int]:
        """Rows the commit will hold per day: distinct keys, as duplicates are settled at commit."""
        key = ", ".join(q(k) for k in self.spec.key)
        day = q(self.spec.day)
        distinct = f"SELECT DISTINCT {day}, {key} FROM {{staged}}"
        rows = self._query(f"SELECT {day}, count(*) FROM ({distinct}) GROUP BY 1 ORDER BY 1")
        return {d: n for d, n in rows if d is not None}

    def discard(self) -> None:
        """Drop the staged files (and the companion rejects); the warehouse is untouched."""
        self._buffer = []
        if self._rejects is not None:
            self._rejects.discard()
        self._cleanup()

    def family(self) -> list[ParquetStage]:
        """This stage and its companion rejects stage, if one was started: what a commit takes together."""
        return [self] if self._rejects is None else [self, self._rejects]


def conform(batch: pa.RecordBatch, spec: TableSpec, app_id: str) -> pa.RecordBatch:
    """The batch in the stored schema, stamped with the store's app_id (normalize builds batches without
    it; a batch that carries another app's id is refused, never re-filed)."""
    if APP_ID in batch.schema.names:
        ids = batch.column(APP_ID)
        if ids.null_count or any(v != app_id for v in ids.unique().to_pylist()):
            raise ValueError(f"batch holds rows of another app than {app_id!r}; stage them there")
        batch = batch.drop_columns([APP_ID])
    schema = spec.batch_schema
    if not batch.schema.equals(schema):
        try:
            batch = pa.RecordBatch.from_arrays(
                [batch.column(n).cast(f.type) for n, f in zip(schema.names, schema, strict=True)],
                schema=schema,
            )
        except (KeyError, pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise TypeError(
                f"batch does not fit the {spec.name} schema ({exc}); build it with rtk_pipeline.normalize"
            ) from None
    return batch.append_column(APP_ID_FIELD, pa.repeat(pa.scalar(app_id, pa.string()), batch.num_rows))


def new_stage(app_id: str, table: str, days: Iterable[date], staging_dir: Path) -> ParquetStage:
    """A new stage of `table` in a folder of its own under `staging_dir`, after removing the folders that
    dead processes of this host left there (a SIGKILLed sync leaves its stage)."""
    if table not in TABLES:
        raise ValueError(f"cannot stage {table!r}: expected one of {', '.join(TABLES)}")
    use_system_allocator()
    _sweep(staging_dir)
    # <time>-<pid>-<random>-<table>@<host>: sorts in creation order; the sweep can tell dead owners.
    name = f"{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:8]}-{table}@{socket.gethostname()}"
    return ParquetStage(app_id, TABLES[table], as_days(days), staging_dir / name)


def ready(stages: Sequence[ParquetStage], app_id: str) -> list[ParquetStage]:
    """The stages and their companion reject stages, each checked open and of the committing store's app,
    and flushed to its parts (all of them dropped if one is not: a commit never half-uses a stage)."""
    everything = list(dict.fromkeys(part for stage in stages for part in stage.family()))
    try:
        for stage in everything:
            if not stage.open:
                raise WarehouseError(f"{stage!r} is already committed or discarded")
            if stage.app_id != app_id:
                raise ValueError(f"{stage!r} holds rows of app {stage.app_id!r}; commit it to that app's")
            stage.flush()
    except BaseException:
        for stage in everything:
            stage.discard()
        raise
    return everything


def staged_source(stages: Sequence[ParquetStage]) -> str:
    """The SQL source of the stages' part files (with the file name and row number the tiebreak uses)."""
    files = [part for stage in stages for part in stage.parts()]
    return f"read_parquet({files_sql(files)}, filename = true, file_row_number = true)"


def describe(stages: Sequence[ParquetStage]) -> str:
    """ "meetings, participants for 2026-10-01..2026-10-03": what a commit was about, for its error."""
    tables = sorted({stage.table for stage in stages})
    days = sorted(frozenset[date]().union(*(stage.days for stage in stages)))
    span = f"{days[0]}..{days[-1]}" if days else "no days"
    return f"{', '.join(tables)} for {span}"


def _sweep(staging_dir: Path) -> None:
    if not staging_dir.is_dir():
        return
    host = socket.gethostname()
    for entry in staging_dir.iterdir():
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
