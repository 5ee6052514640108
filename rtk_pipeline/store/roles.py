"""What callers need from a warehouse, cut by role: each caller types against the narrowest one.

`SyncStore` (what a sync writes and reads), `DeactivationLog` (the stale deactivation's reads, audit and
run lock), `QualityReads` (the data-quality rules), `Previews` (Dagster metadata and the demo's summary),
`SqlReads` (the read-only SQL door of `rtk-pipeline sql` and the notebook helper), `RefreshStore` (what
`rtk-pipeline refresh` reads and writes). `Store` is their union;
`DuckDBStore` and `DeltaStore` implement it (checked by mypy in `backends.py`).

A store is opened for one RealtimeKit app (`app_id`): every row it writes carries that id, and every read,
replace and audit sees that app's rows only, so several apps share one warehouse and a day of one app is
never replaced by a sync of another. Writes are atomic per call (a failed call leaves the previous data) and
serialized across processes; reads never block a writer for longer than one query.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import duckdb
import pyarrow as pa

from rtk_pipeline.store.records import (
    DayMismatch,
    Deactivation,
    KeyReport,
    MeetingSnapshot,
    MirrorDiff,
    SyncRun,
    TableCount,
    TextCell,
    ViewSummary,
)

if TYPE_CHECKING:  # pandas costs ~70 MB and ~0.8 s to import; a backfill never needs it
    import pandas as pd


# An analyst's read-only DuckDB session over the warehouse (`SqlReads.analyst_connection`).
Session = duckdb.DuckDBPyConnection


@runtime_checkable
class Stage(Protocol):
    """Rows of one table for some UTC days, held aside until `SyncStore.commit` replaces those days."""

    table: str
    days: frozenset[date]
    rows_written: int
    skipped: int

    def write(self, data: Any) -> int:
        """Stage a RecordBatch / Table / `normalize.Normalized` (its rejects too); returns rows kept."""
        ...

    @property
    def rejects(self) -> Stage:
        """The companion rejected_records stage (same days)."""
        ...

    def mark_listed(self, meeting_ids: Sequence[str], listed_at: datetime) -> None:
        """A participants stage: committing it also stamps these meetings' participants_synced_at."""
        ...

    def distinct_count(self, column: str = "id") -> int: ...

    def rows_by_day(self) -> dict[date, int]:
        """Rows the commit will hold per day (distinct keys)."""
        ...

    def discard(self) -> None: ...

    def __enter__(self) -> Stage: ...

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None: ...


@runtime_checkable
class SyncStore(Protocol):
    """What a sync writes and reads."""

    app_id: str

    def ensure_schema(self) -> None:
        """Create the tables (and views) if missing; idempotent; adds columns a newer schema declares."""
        ...

    def stage(self, table: str, days: Iterable[date]) -> Stage:
        """A new stage for "meetings", "participants" or "rejected_records" and those UTC days."""
        ...

    def commit(self, stages: Sequence[Any], sync_run: SyncRun | None = None) -> list[Path]:
        """Replace the staged days with the staged rows (deduplicated by key), record the `sync_runs`
        row, in one transaction; returns the files rewritten (empty for a backend without files)."""
        ...

    def record_failed_run(self, sync_run: SyncRun) -> None:
        """A 'failed' `sync_runs` row (error text redacted); no data touched."""
        ...

    def upsert_meetings(self, batch: Any) -> list[Path]:
        """Replace meetings by id (a RecordBatch or Normalized of live records)."""
        ...

    def export_pending(self) -> list[Path]:
        """Finish mirror writes a killed writer left queued (no-op for a backend without a mirror)."""
        ...

    def meeting_ids_for_days(self, days: Iterable[date]) -> list[tuple[str, date]]:
        """(meeting id, created_day) of stored meetings created on those days, oldest first."""
        ...

    def meeting_days(self, meeting_ids: Sequence[str]) -> list[tuple[str, date]]:
        """(meeting id, created_day) of those stored meetings, by id."""
        ...

    def stored_participants(self, meeting_ids: Sequence[str]) -> pa.Table:
        """The stored participants of these meetings (participants schema)."""
        ...


@runtime_checkable
class RefreshStore(Protocol):
    """What a refresh reads and writes: the stored meetings' states, where its windowed listing stopped,
    meetings replaced by id, and some meetings' participants replaced whole (ARCHITECTURE.md, "Refresh")."""

    app_id: str

    def ensure_schema(self) -> None: ...

    def exists(self) -> bool: ...

    def lock(self, job: str) -> AbstractContextManager[None]: ...

    def meeting_states(self) -> pa.Table:
        """id, created_day, created_at, title, status, updated_at, participants_synced_at, participants
        (stored count) of every meeting of the app."""
        ...

    def refresh_cursor(self) -> datetime | None:
        """Where the next windowed meetings listing starts (None: at the oldest meeting)."""
        ...

    def stored_participants(self, meeting_ids: Sequence[str]) -> pa.Table:
        """The stored participants of these meetings (to count what a listing added and removed)."""
        ...

    def commit(self, stages: Sequence[Any], sync_run: SyncRun | None = None) -> list[Path]:
        """Record a `sync_runs` row (with no stages: a refresh's completed window)."""
        ...

    def upsert_meetings(self, batch: Any) -> list[Path]:
        """Replace meetings by id; participants_synced_at keeps its stored value."""
        ...

    def replace_participants(self, rows: Any, meeting_ids: Sequence[str], listed_at: datetime) -> list[Path]:
        """Replace exactly these meetings' participants with `rows` and stamp their participants_synced_at;
        the rest of their days is untouched. Atomic for the participants (a failure keeps what was
        stored)."""
        ...


@runtime_checkable
class DeactivationLog(Protocol):
    """What the stale deactivation reads, audits and refreshes, and its once-at-a-time run lock."""

    app_id: str

    def ensure_schema(self) -> None: ...

    def lock(self, job: str) -> AbstractContextManager[None]:
        """Hold the lock of `job` (e.g. "deactivate") for this app and warehouse; raises
        `DeactivationBusyError` at once when another run holds it."""
        ...

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

    def upsert_meetings(self, batch: Any) -> list[Path]:
        """Replace meetings by id with their live records (a deactivated meeting shows at once)."""
        ...


@runtime_checkable
class QualityReads(Protocol):
    """What the data-quality rules read, each over [first, last] of one table."""

    app_id: str

    def reading(self) -> AbstractContextManager[None]:
        """Reads inside share one consistent read view (a backend without one may make this a no-op)."""
        ...

    def rows_by_day(self, table: str, first: date, last: date) -> dict[date, int]:
        """Stored rows per day of `table` (meetings or participants) over [first, last]."""
        ...

    def meeting_days(self, meeting_ids: Sequence[str]) -> list[tuple[str, date]]: ...

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


@runtime_checkable
class Previews(Protocol):
    """Previews and summaries: the Dagster assets' metadata and the demo's table."""

    def ensure_schema(self) -> None: ...

    def day_previews(
        self, table: str, first: date, last: date, columns: Sequence[str], limit: int
    ) -> dict[date, pa.Table]:
        """The first `limit` rows (by created_at, id) of each day, only `columns` (Arrow: no pandas)."""
        ...

    def rejects_by_day(self, table: str, first: date, last: date) -> dict[date, int]: ...

    def table_counts(self, tables: Sequence[str]) -> dict[str, TableCount]: ...

    def view_summaries(self, limit: int) -> list[ViewSummary]:
        """Each analyst view, queried (so one that no longer compiles raises here)."""
        ...


@runtime_checkable
class SqlReads(Protocol):
    """The read-only SQL door: tables and analyst views of every app, each row with its `app_id`."""

    @property
    def location(self) -> str:
        """Where the warehouse is (the analysts' DuckDB file, or the Delta tables' root URI)."""
        ...

    def exists(self) -> bool:
        """Whether anything was ever written here (a read of a missing warehouse would create it)."""
        ...

    def require_existing(self) -> None:
        """Refuse, in one line naming where it looked and the likely cause, when the warehouse is not there;
        from then on the store only reads (read-only commands: nothing is created, migrated or published)."""
        ...

    def analyst_connection(self) -> Session:
        """A read-only DuckDB session on which every table and analyst view answers, as an analyst sees them
        (close it); refused like `require_existing` when the warehouse is not there. Nothing is created."""
        ...

    def query_sandboxed(self, name_or_sql: str, params: Sequence | Mapping | None = None) -> pa.Table:
        """`rtk-pipeline sql` and `frames.read_table`: one SELECT over `analyst_connection()`, read-only in
        every sense, reaching no file outside the data, and holding nothing a writer needs; every error is
        one line."""
        ...

    def query(self, name_or_sql: str, params: Sequence | Mapping | None = None) -> pa.Table:
        """A table, view, table-macro call (`stale_candidates(7, now())`) or SELECT, as Arrow."""
        ...

    def query_df(self, name_or_sql: str, params: Sequence | Mapping | None = None) -> pd.DataFrame:
        """The same as a pandas DataFrame."""
        ...


@runtime_checkable
class Store(SyncStore, DeactivationLog, QualityReads, Previews, SqlReads, RefreshStore, Protocol):
    """The whole warehouse: every role. Type against the narrowest role a caller needs."""

    def repair(self) -> list[str]:
        """Rebuild what can be rebuilt (the DuckDB state from its Parquet mirror; the Delta tables are
        checked only); the lines that say what was found and done."""
        ...
