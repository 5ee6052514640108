"""The refresh's participants phase: list the due meetings' participants (cost.due order) while the budget
lasts, and replace exactly those meetings' participants, a batch of meetings per store call, so a kill or a
failure keeps every batch already replaced and the rest as stored."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime

from rtk_pipeline.client import RealtimeKitClient
from rtk_pipeline.errors import RTKError
from rtk_pipeline.fanout import fan_out
from rtk_pipeline.normalize import normalize_participant_listings
from rtk_pipeline.refresh.budget import BudgetSpent, RequestCap
from rtk_pipeline.refresh.cost import MeetingState, due, pages
from rtk_pipeline.store import RefreshStore
from rtk_pipeline.sync import MAX_PASSES, PARTICIPANT_BATCH_ROWS, participant_fetcher
from rtk_pipeline.utc import now_utc

log = logging.getLogger("rtk_pipeline.refresh")

# Meetings replaced per store call: each call rewrites their days' files, so not one call per meeting.
MEETINGS_PER_BATCH = 500
_SKIPPED = object()  # the budget ran out before (or while) listing this meeting


@dataclass
class ParticipantsOutcome:
    refreshed: int = 0
    added: int = 0
    removed: int = 0
    days: set[date] = field(default_factory=set)


class _Batch:
    """Listings waiting to be replaced together."""

    def __init__(self, store: RefreshStore, listed_at: datetime, outcome: ParticipantsOutcome) -> None:
        self.store, self.listed_at, self.outcome = store, listed_at, outcome
        self.listings: list[tuple[str, date, list]] = []
        self.rows = 0

    def add(self, meeting_id: str, day: date, records: list) -> None:
        self.listings.append((meeting_id, day, records))
        self.rows += len(records)
        if self.rows >= PARTICIPANT_BATCH_ROWS or len(self.listings) >= MEETINGS_PER_BATCH:
            self.flush()

    def flush(self) -> None:
        if not self.listings:
            return
        ids = [m for m, _, _ in self.listings]
        normalized = normalize_participant_listings(self.listings, synced_at=self.listed_at)
        new = _versions(normalized.batch.select(["meeting_id", "id", "updated_at"]).to_pylist())
        old = _versions(self.store_rows(ids))
        added, removed = new.keys() - old.keys(), old.keys() - new.keys()
        changed = added | removed | {k for k in new.keys() & old.keys() if new[k] != old[k]}
        day_of = {m: d for m, d, _ in self.listings}
        self.store.replace_participants(normalized, ids, self.listed_at)
        self.outcome.refreshed += len(ids)
        self.outcome.added += len(added)
        self.outcome.removed += len(removed)
        self.outcome.days |= {day_of[meeting_id] for meeting_id, _ in changed}
        self.listings, self.rows = [], 0

    def store_rows(self, ids: list[str]) -> list[dict]:
        stored = self.store.stored_participants(ids)
        return stored.select(["meeting_id", "id", "updated_at"]).to_pylist()


def _versions(rows: list[dict]) -> dict[tuple[str, str], object]:
    return {(r["meeting_id"], r["id"]): r["updated_at"] for r in rows}


def refresh_participants(
    client: RealtimeKitClient,
    store: RefreshStore,
    stored: list[MeetingState],
    cap: RequestCap,
    *,
    workers: int,
) -> ParticipantsOutcome:
    """List the due meetings' participants, in order, as far as the budget's remaining requests reach
    (estimated from the stored counts), and replace them. A meeting that 404s keeps what was stored."""
    chosen: list[tuple[str, date]] = []
    need = 0
    for meeting in due(stored):
        cost = pages(meeting.participants)
        if need + cost > cap.remaining:
            break
        chosen.append((meeting.id, meeting.day))
        need += cost
    outcome = ParticipantsOutcome()
    batch = _Batch(store, now_utc(), outcome)
    fetch = participant_fetcher(client, MAX_PASSES)

    def listing(item: tuple[str, date]) -> object:
        try:
            return fetch(item)
        except BudgetSpent:
            return _SKIPPED

    try:
        for (meeting_id, day), result in fan_out(listing, chosen, workers):
            if result is _SKIPPED:
                continue
            if result is None:
                log.warning(
                    "refresh: meeting %s not found (404); its stored participants were kept", meeting_id
                )
                continue
            records, _total, _passes = result
            batch.add(meeting_id, day, records)
    except RTKError:
        batch.flush()  # what was listed before the failure is kept
        raise
    batch.flush()
    return outcome
