"""The small records a store takes and returns: callers see these, Arrow tables and pandas frames, never a
connection or a SQL dialect. Days are UTC `datetime.date` values, instants UTC-aware `datetime`s."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime

import pyarrow as pa


@dataclass(frozen=True)
class SyncRun:
    """What a sync says about itself for its `sync_runs` row (a row's columns, each optional: the store
    fills what is left out from the stages it commits: the run id, the table, the window, days, rows,
    rejects, `finished_at`, `seconds`, the outcome). `app_id` is the store's; another app's is refused."""

    run_id: str | None = None
    table_name: str | None = None
    window_start: datetime | date | None = None
    window_end: datetime | date | None = None
    days: int | None = None
    rows: int | None = None
    rejected: int | None = None
    requests: int | None = None
    retries: int | None = None
    throttled: int | None = None
    api_total_count: int | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    seconds: float | None = None
    outcome: str | None = None
    error: str | None = None
    app_id: str | None = None


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
    day: date
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
    preview: pa.Table
