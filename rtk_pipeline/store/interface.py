"""What sync, stale and quality need from a warehouse: the `Store` protocol a backend implements.

The DuckDB + Parquet `Warehouse` is the default backend; a second one (e.g. Delta Lake) implements the
same methods and every caller works unchanged. Callers only ever see Arrow tables, pandas frames and the
small records below, never a connection or a SQL dialect. Days are UTC `datetime.date` values, instants
are UTC-aware `datetime`s, table names are the warehouse's ("meetings", "participants", ...).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import pyarrow as pa

if TYPE_CHECKING:  # pandas costs ~70 MB and ~0.8 s to import; a backfill never needs it
    import pandas as pd

# ------------------------------------------------------------------------------------------------ records


@dataclass(frozen=True)
class MeetingSnapshot:
    """What the warehouse knows about one meeting's activity (a row of `meeting_last_activity`)."""

    meeting_id: str
    title: str | None
    status: str | None
    updated_at: datetime | None
    last_activity_at: datetime | None


@dataclass(frozen=True)
class Deactivation:
    """One row of the `meeting_deactivations` audit table (its columns, in order, plus `recorded_at`
    which the store sets to `decided_at` when the row is first written)."""

    meeting_id: str
    title: str | None
    last_activity_at: datetime | None
    threshold_days: int
    decision: str
    dry_run: bool
    http_status: int | None
    error: str | None
    detail: str | None
    decided_at: datetime
    run_id: str
    as_of: datetime
    attempt_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    @property
    def skipped(self) -> bool:
        return self.decision.startswith("skipped:")


@dataclass(frozen=True)
class TableCount:
    """Rows of a table and its rejected records (the demo's summary)."""

    rows: int
    rejected: int


@dataclass(frozen=True)
class KeyReport:
    """Key health of one day of a table: NULL keys, extra rows per key, keys also stored under another day."""

    null_keys: int = 0
    duplicate_rows: int = 0
    duplicate_ids: tuple[str, ...] = ()
    also_elsewhere: int = 0


@dataclass(frozen=True)
class DayMismatch:
    """Rows of one day whose placement is wrong (created_at outside the day; participants whose meeting
    is missing or filed under another day), with a sample of ids."""

    rows: int = 0
    other_rows: int = 0
    sample_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class TextCell:
    """One stored text value (a text/JSON column of a table row, or a rejected record's raw payload)."""

    table: str
    column: str
    day: date | None
    row_id: str | None
    text: str


@dataclass(frozen=True)
class MirrorDiff:
    """One day of a table compared with its file mirror (Parquet for DuckDB): rows on each side and rows
    (by key, counted with multiplicity) found on one side only. `location` is the day's file, if any."""

    table_rows: int = 0
    mirror_rows: int = 0
    only_table: int = 0
    only_mirror: int = 0
    location: str | None = None


@dataclass(frozen=True)
class ViewSummary:
    """An analyst view: its row count and its first rows."""

    name: str
    rows: int
    preview: pd.DataFrame


# ------------------------------------------------------------------------------------------------ protocol


@runtime_checkable
class Stage(Protocol):
    """Rows of one table for some UTC days, held aside until `Store.commit` replaces those days."""

    table: str
    days: frozenset[date]
    rows_written: int
    skipped: int

    def write(self, data: Any) -> int:
        """Stage a RecordBatch / Table / `normalize.Normalized` (its rejects too); returns rows kept."""
        ...

    def distinct_count(self, column: str = "id") -> int: ...

    def rows_by_day(self) -> dict[date, int]:
        """Rows the commit will hold per day (distinct keys)."""
        ...

    def discard(self) -> None: ...

    def __enter__(self) -> Stage: ...

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None: ...


@runtime_checkable
class Store(Protocol):
    """The warehouse as sync, stale, quality, the Dagster assets and the demo use it.

    Writes are atomic per call (a failed call leaves the previous data) and serialized across processes.
    Reads never block a writer for longer than one query.

    A store is opened for one RealtimeKit app (`app_id`): every row it writes carries that id, and every
    read, replace and audit below sees that app's rows only, so several apps share one warehouse and a
    day of one app is never replaced by a sync of another.
    """

    app_id: str

    # -- schema and writes (sync) ---------------------------------------------------------------------

    def ensure_schema(self) -> None:
        """Create the tables (and views) if missing; idempotent; adds columns a newer schema declares."""
        ...

    def stage(self, table: str, days: Iterable[date]) -> Stage:
        """A new stage for "meetings", "participants" or "rejected_records" and those UTC days."""
        ...

    def commit(self, stages: Sequence[Stage], sync_run: Mapping[str, Any] | None = None) -> list[Path]:
        """Replace the staged days with the staged rows (deduplicated by key), record the `sync_runs`
        row, in one transaction; returns the files rewritten (empty for a backend without files)."""
        ...

    def record_failed_run(self, sync_run: Mapping[str, Any]) -> None:
        """A 'failed' `sync_runs` row (error text redacted); no data touched."""
        ...

    def upsert_meetings(self, batch: Any) -> list[Path]:
        """Replace meetings by id (a RecordBatch or Normalized of live records)."""
        ...

    def export_pending(self) -> list[Path]:
        """Finish mirror writes a killed writer left queued (no-op for a backend without a mirror)."""
        ...

    # -- reads the sync needs ---------------------------------------------------------------------------

    def meeting_ids_for_days(self, days: Iterable[date]) -> list[tuple[str, date]]:
        """(meeting id, created_day) of stored meetings created on those days, oldest first."""
        ...

    def meeting_days(self, meeting_ids: Sequence[str]) -> list[tuple[str, date]]:
        """(meeting id, created_day) of those stored meetings, by id."""
        ...

    def stored_participants(self, meeting_ids: Sequence[str]) -> pa.Table:
        """The stored participants of these meetings (participants schema)."""
        ...

    # -- stale deactivation ---------------------------------------------------------------------------

    def stale_candidates(self, stale_after_days: int, as_of: datetime) -> list[MeetingSnapshot]:
        """ACTIVE meetings without activity for `stale_after_days` before `as_of`, most stale first."""
        ...

    def meeting_snapshots(self, meeting_ids: Iterable[str]) -> dict[str, MeetingSnapshot]:
        """The activity snapshot of each stored meeting among `meeting_ids`."""
        ...

    def last_successful_syncs(self) -> dict[str, datetime]:
        """Table name -> when its latest successful sync finished (tables never synced are absent)."""
        ...

    def latest_decisions(self, requested: Mapping[str, datetime]) -> dict[str, str]:
        """Meeting id -> its latest audited decision recorded at or after the given time."""
        ...

    def pending_deactivations(self) -> list[Deactivation]:
        """Audit rows still 'pending' (a run died mid-PATCH), oldest first."""
        ...

    def record_deactivations(self, new: Sequence[Deactivation], settled: Sequence[Deactivation]) -> None:
        """One audit transaction: insert `new` rows, update `settled` ones in place (same attempt_id)."""
        ...

    def run_lock_path(self, job: str) -> Path:
        """A lock file for a job that must run once per warehouse at a time (e.g. "deactivate")."""
        ...

    def reading(self) -> AbstractContextManager[None]:
        """Reads inside share one consistent read view (a backend without one may make this a no-op)."""
        ...

    # -- quality rules ----------------------------------------------------------------------------------

    def rows_by_day(self, table: str, first: date, last: date) -> dict[date, int]:
        """Stored rows per day of `table` (meetings or participants) over [first, last]."""
        ...

    def key_reports(self, table: str, first: date, last: date) -> dict[date, KeyReport]: ...

    def created_outside_day(self, first: date, last: date) -> dict[date, DayMismatch]:
        """Meetings whose created_at is not inside their created_day."""
        ...

    def participants_misfiled(self, first: date, last: date) -> dict[date, DayMismatch]:
        """Participants without their meeting (`rows`) or filed under another day than it (`other_rows`)."""
        ...

    def text_cells(self, table: str, first: date, last: date) -> Iterator[TextCell]:
        """Every text/JSON value of the table's rows and of its rejected records over [first, last]."""
        ...

    def mirror_diffs(self, table: str, first: date, last: date) -> dict[date, MirrorDiff]: ...

    # -- previews and summaries (Dagster metadata, the demo) -------------------------------------------

    def day_previews(
        self, table: str, first: date, last: date, columns: Sequence[str], limit: int
    ) -> dict[date, pd.DataFrame]:
        """The first `limit` rows (by created_at, id) of each day, only `columns`."""
        ...

    def rejects_by_day(self, table: str, first: date, last: date) -> dict[date, int]: ...

    def table_counts(self, tables: Sequence[str]) -> dict[str, TableCount]: ...

    def view_summaries(self, limit: int) -> list[ViewSummary]:
        """Each analyst view, queried (so one that no longer compiles raises here)."""
        ...
