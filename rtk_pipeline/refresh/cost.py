"""What the warehouse says about a refresh's work: the meetings it holds, which ones are due for a
participants listing and in what order, and what a cycle costs in requests (ARCHITECTURE.md, "Refresh").

Costs are estimated in pages of `PAGE_SIZE` rows: the API does not document its largest `per_page`; 100 is
what the emulator serves and a safe lower bound, so an estimate errs on the side of more requests."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pyarrow as pa

from rtk_pipeline.utc import as_utc

PAGE_SIZE = 100
_NEVER = datetime(1970, 1, 1, tzinfo=UTC)
ACTIVE = "ACTIVE"


@dataclass(frozen=True)
class MeetingState:
    """One stored meeting as the refresh orders it."""

    id: str
    day: date
    created_at: datetime
    title: str | None
    status: str | None
    updated_at: datetime | None
    participants_synced_at: datetime | None
    participants: int

    @property
    def active(self) -> bool:
        return self.status == ACTIVE

    @property
    def listed_before_last_change(self) -> bool:
        """Never listed, or changed (e.g. set INACTIVE) after its participants were last listed."""
        synced, updated = self.participants_synced_at, self.updated_at
        return synced is None or (updated is not None and synced < updated)


def states(table: pa.Table) -> list[MeetingState]:
    """`RefreshStore.meeting_states()` as records."""
    return [
        MeetingState(
            row["id"],
            row["created_day"],
            as_utc(row["created_at"]),
            row["title"],
            row["status"],
            as_utc(row["updated_at"]),
            as_utc(row["participants_synced_at"]),
            int(row["participants"]),
        )
        for row in table.to_pylist()
    ]


def pages(rows: int) -> int:
    """Requests to list `rows` rows: at least one (an empty listing is one page)."""
    return max(1, math.ceil(rows / PAGE_SIZE))


def due(meetings: list[MeetingState]) -> list[MeetingState]:
    """The meetings whose participants a refresh lists, in order: ACTIVE ones, never-listed first, then
    the oldest participants_synced_at; then the INACTIVE ones last listed before they last changed (each
    once: listing them stamps them)."""
    active = sorted(
        (m for m in meetings if m.active), key=lambda m: (m.participants_synced_at or _NEVER, m.id)
    )
    inactive = [m for m in meetings if not m.active and m.listed_before_last_change]
    return active + inactive


def listing_share(budget: int) -> int:
    """Requests a run may spend listing meetings: half its budget, so participants always get the rest."""
    return max(1, budget // 2)


def listing_pages(meetings: list[MeetingState]) -> int:
    """The pages of one full meetings listing (what the warehouse holds, plus a page's worth of slack for
    meetings created since)."""
    return pages(len(meetings) + 1)


def behind(meetings: list[MeetingState], now: datetime, max_age_days: int) -> int:
    """ACTIVE meetings whose participants were not listed within `max_age_days`."""
    cutoff = now - timedelta(days=max_age_days)
    return sum(
        1
        for m in meetings
        if m.active and (m.participants_synced_at is None or m.participants_synced_at < cutoff)
    )


def oldest_active_sync(meetings: list[MeetingState]) -> datetime | None:
    """The oldest participants_synced_at among ACTIVE meetings (None: none was ever listed)."""
    stamps = [m.participants_synced_at for m in meetings if m.active and m.participants_synced_at is not None]
    return min(stamps, default=None)
