"""The refresh's meetings phase: list the app's meetings (whole, or one window after another across runs
when a whole listing does not fit the run's listing share: `cycle.runs` cuts the windows, a busy day
inside the day, so every window fits a run), and replace by id the rows that changed or are new. Rows
never leave the warehouse here: a meeting missing from a listing is kept.

Completeness is judged as `backfill` judges it: a pass counts only when `paging.total_count` held still
for all its pages and the distinct ids seen cover it; otherwise the window is listed again."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime

import pyarrow as pa

from rtk_pipeline.client import RealtimeKitClient
from rtk_pipeline.errors import PagingError
from rtk_pipeline.normalize import normalize_meetings
from rtk_pipeline.refresh.budget import RequestCap
from rtk_pipeline.refresh.cost import MeetingState, listing_pages, listing_share
from rtk_pipeline.refresh.cycle import created, next_windows
from rtk_pipeline.store import RefreshStore, SyncRun
from rtk_pipeline.store.reads.refresh import REFRESH_WINDOW
from rtk_pipeline.sync import MAX_PASSES
from rtk_pipeline.utc import now_utc

log = logging.getLogger("rtk_pipeline.refresh")


@dataclass
class MeetingsOutcome:
    listed: int = 0
    changed: int = 0
    added: int = 0
    days: set[date] = field(default_factory=set)


def refresh_meetings(
    client: RealtimeKitClient, store: RefreshStore, stored: list[MeetingState], cap: RequestCap
) -> MeetingsOutcome:
    """List the meetings within the run's listing share and upsert what changed. Stops quietly when the
    budget is spent (a window not finished is listed again next run)."""
    outcome = MeetingsOutcome()
    known = {m.id: m for m in stored}
    share = listing_share(cap.limit)
    windowed = listing_pages(stored) > share
    plan = next_windows(created(stored), store.refresh_cursor(), share) if windowed else [(None, None)]
    for lo, hi in plan:
        started = now_utc()
        records = list_window(client, lo, hi)
        _upsert_changed(store, records, known, outcome)
        if windowed:
            store.commit(
                [],
                SyncRun(
                    run_id=uuid.uuid4().hex,
                    table_name=REFRESH_WINDOW,
                    window_start=lo,
                    window_end=hi,
                    rows=len(records),
                    started_at=started,
                ),
            )
    return outcome


def list_window(client: RealtimeKitClient, lo: datetime | None, hi: datetime | None) -> list[dict]:
    """Every meeting of the window (None: open), deduplicated by id (latest updated_at wins), proven
    complete by total_count and the ids seen; PagingError after MAX_PASSES short passes."""
    seen: dict[str, dict] = {}
    unreadable = 0
    total = 0
    for _ in range(MAX_PASSES):
        totals: set[int] = set()
        unreadable = 0
        for page in client.iter_meeting_pages(start_time=lo, end_time=hi):
            totals.add(page.total_count or 0)
            for record in page.records:
                key = record.get("id") if isinstance(record, dict) else None
                if not isinstance(key, str) or not key:
                    unreadable += 1
                elif key not in seen or str(record.get("updated_at")) >= str(seen[key].get("updated_at")):
                    seen[key] = record
        total = max(totals, default=0)
        if len(totals) <= 1 and len(seen) + unreadable >= total:
            return list(seen.values())
    raise PagingError(
        f"meetings listing still short after {MAX_PASSES} passes: {len(seen)} ids for total_count {total}",
        method="GET",
        path=client.meetings_path(),
    )


def _upsert_changed(
    store: RefreshStore, records: list[dict], known: dict[str, MeetingState], outcome: MeetingsOutcome
) -> None:
    """Replace by id the listed meetings that are new or differ (title, status, updated_at) from the
    stored row; unchanged rows are not rewritten (their days' files stay as they are)."""
    outcome.listed += len(records)
    normalized = normalize_meetings(records, synced_at=now_utc())
    if normalized.rejected.num_rows:
        log.warning(
            "refresh: %d listed meeting(s) could not be read and were skipped", normalized.rejected.num_rows
        )
    batch = normalized.batch
    keep = []
    for row in batch.select(["id", "title", "status", "updated_at", "created_day"]).to_pylist():
        old = known.get(row["id"])
        if old is None:
            outcome.added += 1
        elif (old.title, old.status, old.updated_at) == (row["title"], row["status"], row["updated_at"]):
            keep.append(False)
            continue
        else:
            outcome.changed += 1
        outcome.days.add(row["created_day"])
        keep.append(True)
    if any(keep):
        store.upsert_meetings(batch.filter(pa.array(keep, pa.bool_())))
