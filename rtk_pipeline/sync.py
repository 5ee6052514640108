"""Sync engine: UTC day windows -> API listings -> Arrow -> one DuckDB transaction + Parquet per day.

The CLI and the Dagster assets both call `sync_meetings` / `sync_participants`, so both paths load
identical data. Fetching knows nothing of storage: pages stream from the client through `normalize` into
a store's stage, and only a complete, proven listing is committed.

Windows. The API does not say which timestamp `start_time`/`end_time` filter on, nor whether the bounds
are inclusive. A run for the days [first, last] therefore lists [first 00:00 - margin, last+1 00:00 +
margin] and keeps exactly the rows whose `created_at` falls in [first 00:00, last+1 00:00): a meeting
on a boundary belongs to exactly one day whatever the API does with the bound, and rows from the margin
are dropped (they belong to the neighbouring run). Rows far outside the asked window would mean the
API filters on something other than `created_at`; they are counted (`outside_window`) and logged.

Completeness. Data moves while we page (meetings are created, updated — which can move a row across a
page boundary when the list is ordered by update time — or, however rarely, removed, which shifts later
rows onto pages already read). A listing pass is accepted only when `total_count` held still for all of
its pages and the distinct ids kept so far cover it; otherwise the listing is walked again and the passes
are unioned (rows are deduplicated by id at commit, latest `updated_at` wins). A row that existed for the
whole sync is in some pass; after `max_passes` the sync fails instead of committing a short day.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa

from rtk_pipeline.client import Page, RealtimeKitClient, StatsSnapshot
from rtk_pipeline.errors import ConfigError, NotFoundError, PagingError, RTKError
from rtk_pipeline.fanout import fan_out
from rtk_pipeline.normalize import (
    REJECTED_SCHEMA,
    normalize_meetings,
    normalize_participant_listings,
    parse_timestamp,
)
from rtk_pipeline.settings import DEFAULT_WORKERS
from rtk_pipeline.store import DeactivationLog, RefreshStore, Stage, SyncRun, SyncStore
from rtk_pipeline.utc import now_utc

log = logging.getLogger("rtk_pipeline.sync")

WINDOW_MARGIN = timedelta(minutes=1)
MAX_PASSES = 4
# Participant listings are normalized and staged together once they hold this many rows: a meeting has a
# handful of participants, and Arrow's per-call cost on a 4-row page was ~40x its per-row cost.
PARTICIPANT_BATCH_ROWS = 8192

# progress(table, rows_written_since_last_call) — the CLI's progress bar and Dagster's logs both listen.
Progress = Callable[[str, int], None]


@dataclass
class SyncResult:
    """What one synced window did; becomes a `sync_runs` row and Dagster metadata."""

    table: str
    start_day: date
    end_day: date
    run_id: str
    rows: int = 0
    rows_by_day: dict[date, int] = field(default_factory=dict)
    rejected: int = 0
    requests: int = 0
    retries: int = 0
    throttled: int = 0
    seconds: float = 0.0
    api_total_count: int | None = None
    listed_ids: int = 0
    passes: int = 0
    outside_window: int = 0
    missing_meetings: list[str] = field(default_factory=list)
    parquet_files: list[Path] = field(default_factory=list)

    @property
    def days(self) -> list[date]:
        return list(day_range(self.start_day, self.end_day))


def day_range(start_day: date, end_day: date) -> Iterator[date]:
    """UTC days from start_day to end_day, both inclusive."""
    if end_day < start_day:
        raise ValueError(f"end day {end_day} is before start day {start_day}")
    for n in range((end_day - start_day).days + 1):
        yield start_day + timedelta(days=n)


def window_bounds(start_day: date, end_day: date) -> tuple[datetime, datetime]:
    """[first day 00:00 UTC, day after the last 00:00 UTC): the rows a run owns."""
    start = datetime(start_day.year, start_day.month, start_day.day, tzinfo=UTC)
    return start, start + timedelta(days=(end_day - start_day).days + 1)


def sync_meetings(
    client: RealtimeKitClient,
    store: SyncStore,
    start_day: date,
    end_day: date,
    *,
    run_id: str | None = None,
    progress: Progress | None = None,
    max_passes: int = MAX_PASSES,
) -> SyncResult:
    """Replace the meetings of the UTC days [start_day, end_day] with what the API holds now."""
    result = SyncResult("meetings", start_day, end_day, run_id or uuid.uuid4().hex)
    days = result.days
    lo, hi = window_bounds(start_day, end_day)
    listed_from, listed_to = lo - WINDOW_MARGIN, hi + WINDOW_MARGIN
    with _Accounting(client, store, result) as accounting, store.stage("meetings", days) as stage:
        margin_ids: set[str] = set()
        while True:
            result.passes += 1
            result.rejected = 0  # a record rejected in two passes is one reject
            totals: set[int] = set()
            for page in client.iter_meeting_pages(start_time=listed_from, end_time=listed_to):
                result.api_total_count = page.total_count or 0
                totals.add(result.api_total_count)
                kept = _keep_in_window(page.records, lo, hi, margin_ids, result)
                out = normalize_meetings(kept, synced_at=now_utc())
                stage.write(out)
                result.rejected += out.rejected.num_rows
                if progress:
                    progress("meetings", out.batch.num_rows)
            result.listed_ids = stage.distinct_count("id") + len(margin_ids) + result.rejected
            # A total that moved during the pass means rows were added or removed while we paged; a
            # removal shifts later rows onto pages already read, so only a still total is evidence.
            if len(totals) <= 1 and result.listed_ids >= (result.api_total_count or 0):
                break
            if result.passes >= max_passes:
                raise PagingError(
                    f"listing still short after {result.passes} passes: {result.listed_ids} distinct ids for "
                    f"total_count {result.api_total_count}; the days keep their previous data",
                    method="GET",
                    path=client.meetings_path(),
                )
            log.warning(
                "meetings %s..%s: pass %d saw %d of %d ids (data moved while paging); listing again",
                start_day,
                end_day,
                result.passes,
                result.listed_ids,
                result.api_total_count,
            )
        accounting.commit(stage)
    return result


def sync_participants(
    client: RealtimeKitClient,
    store: SyncStore,
    start_day: date,
    end_day: date,
    *,
    workers: int = DEFAULT_WORKERS,
    run_id: str | None = None,
    progress: Progress | None = None,
    max_passes: int = MAX_PASSES,
) -> SyncResult:
    """Replace the participants of every stored meeting created on the UTC days [start_day, end_day].

    Meetings come from the store (sync them first). Their participant listings run on `workers`
    threads sharing the client, its connection pool and its rate limiter. A meeting that vanished or
    became inaccessible between the two syncs is recorded in `missing_meetings`, not fatal.
    """
    result = SyncResult("participants", start_day, end_day, run_id or uuid.uuid4().hex)
    days = result.days
    meetings = store.meeting_ids_for_days(days)
    listed_at = now_utc()  # before the first listing: a participant added later is not claimed as seen
    with _Accounting(client, store, result) as accounting, store.stage("participants", days) as stage:
        result.api_total_count = 0
        fetch = participant_fetcher(client, max_passes)
        batch: list[tuple[str, date, list]] = []
        batched = 0

        def flush() -> None:
            out = normalize_participant_listings(batch, synced_at=now_utc())
            stage.write(out)
            result.rejected += out.rejected.num_rows
            batch.clear()
            if progress:
                progress("participants", out.batch.num_rows)

        for (meeting_id, day), outcome in fan_out(fetch, meetings, workers):
            if outcome is None:
                result.missing_meetings.append(meeting_id)
                continue
            records, total, passes = outcome
            result.api_total_count += total
            result.passes = max(result.passes, passes)
            batch.append((meeting_id, day, records))
            batched += len(records)
            if batched >= PARTICIPANT_BATCH_ROWS:
                flush()
                batched = 0
        if batch:
            flush()
        result.listed_ids = result.api_total_count
        if result.missing_meetings:
            _keep_participants_of_missing(store, stage, meetings, result.missing_meetings)
            log.warning(
                "participants %s..%s: %d meeting(s) not found (404); their stored participants were kept: %s",
                start_day,
                end_day,
                len(result.missing_meetings),
                ", ".join(result.missing_meetings[:10]),
            )
        missing = set(result.missing_meetings)
        stage.mark_listed([m for m, _ in meetings if m not in missing], listed_at)
        accounting.commit(stage)
    return result


def _keep_participants_of_missing(
    store: SyncStore, stage: Stage, meetings: list[tuple[str, date]], missing: list[str]
) -> None:
    """A meeting that 404s on its participants call (gone, or not visible on that replica yet) keeps the
    participants already stored for it, since the day is replaced whole, and is recorded in
    rejected_records so the gap is visible in SQL, not only in this run's result."""
    stage.write(store.stored_participants(missing))
    day_of = dict(meetings)
    now = now_utc()
    stage.rejects.write(
        pa.RecordBatch.from_pylist(
            [
                {
                    "table_name": "participants",
                    "meeting_id": meeting_id,
                    "record_id": None,
                    "reason": "meeting not found (HTTP 404) when listing its participants; "
                    "its previously stored participants were kept",
                    "raw": json.dumps({"meeting_id": meeting_id}),
                    "day": day_of.get(meeting_id),
                    "synced_at": now,
                }
                for meeting_id in missing
            ],
            schema=REJECTED_SCHEMA,
        )
    )


def sync_range(
    client: RealtimeKitClient,
    store: SyncStore,
    start_day: date,
    end_day: date,
    *,
    participants: bool = True,
    workers: int = DEFAULT_WORKERS,
    run_id: str | None = None,
    progress: Progress | None = None,
) -> list[SyncResult]:
    """Meetings, then their participants, for the UTC days [start_day, end_day]."""
    run_id = run_id or uuid.uuid4().hex
    results = [sync_meetings(client, store, start_day, end_day, run_id=run_id, progress=progress)]
    if participants:
        results.append(
            sync_participants(
                client, store, start_day, end_day, workers=workers, run_id=run_id, progress=progress
            )
        )
    return results


def _keep_in_window(
    records: list, lo: datetime, hi: datetime, margin_ids: set[str], result: SyncResult
) -> list:
    """Rows whose created_at is in [lo, hi); margin rows are remembered by id (for the count) and dropped.

    Records whose created_at cannot be read are kept: normalize rejects them with a reason.
    """
    kept = []
    lo_iso, hi_iso = _iso_bounds(lo, hi)
    for record in records:
        created = record.get("created_at") if isinstance(record, dict) else None
        moment = None
        if (
            isinstance(created, str)
            and len(created) >= 20
            and created[10] == "T"
            and created.endswith("Z")
            and created[19] in ".Z"
        ):
            # Fast path for the API's usual `YYYY-MM-DDTHH:MM:SS[.fff]Z`: string order is time order.
            inside = lo_iso <= created[:19] < hi_iso
        else:
            moment = _parse_or_none(created)
            if moment is None:
                kept.append(record)
                continue
            inside = lo <= moment < hi
        if inside:
            kept.append(record)
            continue
        margin_ids.add(str(record.get("id")))
        moment = moment or _parse_or_none(created)  # only the fast path leaves it unparsed
        if moment is not None and not (lo - WINDOW_MARGIN <= moment <= hi + WINDOW_MARGIN):
            result.outside_window += 1
    return kept


def _iso_bounds(lo: datetime, hi: datetime) -> tuple[str, str]:
    return lo.strftime("%Y-%m-%dT%H:%M:%S"), hi.strftime("%Y-%m-%dT%H:%M:%S")


def _parse_or_none(value: object) -> datetime | None:
    try:
        return parse_timestamp(value)
    except (TypeError, ValueError):
        return None


def participant_fetcher(client: RealtimeKitClient, max_passes: int):
    """One meeting's participants, re-listed until a pass is stable (deletions shift offsets back)."""

    def fetch(item: tuple[str, date]) -> tuple[list, int, int] | None:
        meeting_id = item[0]
        for passes in range(1, max_passes + 1):
            try:
                pages = list(client.iter_participant_pages(meeting_id))
            except NotFoundError:
                return None
            if _stable(pages):
                return _unique(pages), pages[-1].total_count or 0, passes
        raise PagingError(
            f"participants of meeting {meeting_id} kept moving for {max_passes} passes",
            method="GET",
            path=client.participants_path(meeting_id),
        )

    return fetch


def _stable(pages: list[Page]) -> bool:
    """A pass is usable when total_count held still and its distinct ids account for all of it."""
    totals = {p.total_count for p in pages}
    if len(totals) != 1:
        return False
    ids = {r.get("id") if isinstance(r, dict) else None for p in pages for r in p.records}
    return len(ids) >= (pages[-1].total_count or 0)


def _unique(pages: list[Page]) -> list:
    seen: set = set()
    out = []
    for page in pages:
        for record in page.records:
            key = record.get("id") if isinstance(record, dict) else id(record)
            if key not in seen:
                seen.add(key)
                out.append(record)
    return out


def check_same_app(client: RealtimeKitClient, store: SyncStore | DeactivationLog | RefreshStore) -> None:
    """Refuse a client of one app with a store opened for another: its rows would be filed under the wrong
    app (and that app's days replaced by them)."""
    if client.app_id != store.app_id:
        raise ConfigError(
            f"the client reads app {client.app_id!r} but the store is opened for app {store.app_id!r}: "
            "open the store with the client's app id"
        )


class _Accounting:
    """Times the sync, attributes client requests to it, commits it, or records it as failed."""

    def __init__(self, client: RealtimeKitClient, store: SyncStore, result: SyncResult) -> None:
        check_same_app(client, store)
        self.client, self.store, self.result = client, store, result

    def __enter__(self) -> _Accounting:
        self.started = now_utc()
        self.t0 = time.perf_counter()
        self.before: StatsSnapshot = self.client.stats.snapshot()
        return self

    def _settle(self) -> None:
        spent = self.client.stats.snapshot() - self.before
        self.result.requests, self.result.retries = spent.requests, spent.retries
        self.result.throttled = spent.throttled
        self.result.seconds = time.perf_counter() - self.t0

    def commit(self, stage: Stage) -> None:
        """One transaction for the data, its rejects and its sync_runs row; then the Parquet days."""
        result = self.result
        result.rows_by_day = stage.rows_by_day()
        result.rows = sum(result.rows_by_day.values())
        self._settle()
        result.parquet_files = self.store.commit([stage], self._run_row("success", None))
        self._settle()

    def __exit__(self, exc_type, exc, tb) -> None:
        self._settle()
        if exc is None:
            return
        error = str(exc) if isinstance(exc, RTKError) else f"{type(exc).__name__}: {exc}"
        try:
            self.store.record_failed_run(self._run_row("failed", error))
        except Exception as failed:  # the original error matters more than the audit row, and is raised:
            # its one line is what the user reads (a full disk fails both), the traceback is for -vv
            debug = log.isEnabledFor(logging.DEBUG)
            log.info("could not record the failed sync run: %s", failed, exc_info=debug)

    def _run_row(self, outcome: str, error: str | None) -> SyncRun:
        result = self.result
        lo, hi = window_bounds(result.start_day, result.end_day)
        return SyncRun(
            run_id=result.run_id,
            table_name=result.table,
            window_start=lo,
            window_end=hi,
            days=len(result.days),
            rows=result.rows,
            rejected=result.rejected,
            requests=result.requests,
            retries=result.retries,
            throttled=result.throttled,
            api_total_count=result.api_total_count,
            started_at=self.started,
            finished_at=now_utc(),
            seconds=result.seconds,
            outcome=outcome,
            error=error,
        )
