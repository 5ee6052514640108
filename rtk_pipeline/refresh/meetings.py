"""The refresh's meetings phase: list the app's meetings (whole, or one window after another across runs
when a whole listing does not fit the run's listing share), and replace by id the rows that changed or
are new. Rows never leave the warehouse here: a meeting missing from a listing is kept.

Completeness is judged as `backfill` judges it: a pass counts only when `paging.total_count` held still
for all its pages and the distinct ids seen cover it; otherwise the window is listed again."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import pyarrow as pa

from rtk_pipeline.client import RealtimeKitClient
from rtk_pipeline.errors import PagingError
from rtk_pipeline.normalize import normalize_meetings
from rtk_pipeline.refresh.budget import RequestCap
from rtk_pipeline.refresh.cost import MeetingState, listing_pages, listing_share, pages
from rtk_pipeline.store import RefreshStore, SyncRun
from rtk_pipeline.store.reads.refresh import REFRESH_WINDOW
from rtk_pipeline.sync import MAX_PASSES
from rtk_pipeline.utc import now_utc

log = logging.getLogger("rtk_pipeline.refresh")

Window = tuple[datetime | None, datetime | None]


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
    plan = windows(stored, store.refresh_cursor(), share) if windowed else [(None, None)]
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


def windows(stored: list[MeetingState], cursor: datetime | None, share: int) -> list[Window]:
    """This run's windows: from `cursor` (None: from the beginning of time), consecutive creation days
    whose stored meetings fit `share` pages in all, each window a whole number of days. The first window
    of a cycle is open at the start and the last one open at the end, so a cycle covers every instant
    whatever timestamp the API's window filters on."""
    per_day: dict[date, int] = {}
    for m in stored:
        per_day[m.day] = per_day.get(m.day, 0) + 1
    days = sorted(d for d in per_day if cursor is None or _midnight(d) >= cursor)
    out: list[Window] = []
    lo = cursor
    spent = 0
    for chunk in _chunks(days, per_day):
        cost = pages(sum(per_day[d] for d in chunk))
        if spent + cost > share and out:
            break
        spent += cost
        hi = _midnight(chunk[-1]) + timedelta(days=1)
        out.append((lo, hi))
        lo = hi
    if not out or out[-1][1] == _midnight(days[-1]) + timedelta(days=1):
        start = out.pop()[0] if out else lo
        out.append((start, None))  # the cycle's last window: open to now, so a new meeting is in it
    return out


def _chunks(days: list[date], per_day: dict[date, int]) -> Iterator[list[date]]:
    """Consecutive days holding about a page of meetings each (a big day is a chunk of its own)."""
    chunk: list[date] = []
    rows = 0
    for day in days:
        chunk.append(day)
        rows += per_day[day]
        if rows >= 100:
            yield chunk
            chunk, rows = [], 0
    if chunk:
        yield chunk


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)
