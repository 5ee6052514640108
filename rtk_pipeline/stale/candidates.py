"""What the warehouse says about staleness: the candidates, whether it is fresh enough to judge from, and
the latest decision per meeting (for the sensor's cool-down). Reads only; the engine acts on them."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta

from rtk_pipeline.stale.policy import DEFAULT_MAX_SYNC_AGE_HOURS
from rtk_pipeline.store import DeactivationLog, MeetingSnapshot
from rtk_pipeline.utc import as_utc, now_utc

log = logging.getLogger(__name__)

# The warehouse's snapshot a decision is based on.
Candidate = MeetingSnapshot


def find_candidates(
    store: DeactivationLog, *, stale_after_days: int, as_of: datetime | None = None
) -> list[Candidate]:
    """Stale meetings according to the warehouse, most stale first (the order the cap takes them in).

    Read through the `stale_candidates` macro so the list is the one analysts query. The Python side
    re-checks status and threshold: a view bug must not widen what gets deactivated.
    """
    as_of = as_utc(as_of) or now_utc()
    cutoff = as_of - timedelta(days=stale_after_days)
    candidates = []
    for snap in store.stale_candidates(int(stale_after_days), as_of):
        last = snap.last_activity_at
        if snap.status != "ACTIVE" or last is None or last >= cutoff:
            log.warning(
                "stale_candidates returned %s (status=%s, last activity %s); ignored",
                snap.meeting_id,
                snap.status,
                last,
            )
            continue
        candidates.append(snap)
    return candidates


def freshness_problem(
    store: DeactivationLog,
    *,
    max_sync_age_hours: float | None = DEFAULT_MAX_SYNC_AGE_HOURS,
    now: datetime | None = None,
) -> str | None:
    """Why the warehouse is too old to judge staleness from, or None when it is fresh enough.

    Staleness is only as good as the last sync: a meeting used yesterday looks stale in a warehouse
    synced last month. Both tables must have a successful sync that finished within the window.
    """
    if max_sync_age_hours is None:
        return None
    now = as_utc(now) or now_utc()
    oldest_ok = now - timedelta(hours=max_sync_age_hours)
    finished_at = store.last_successful_syncs()
    for table in ("meetings", "participants"):
        finished = finished_at.get(table)
        if finished is None:
            return f"no successful {table} sync recorded yet; sync before deactivating"
        if finished < oldest_ok:
            return (
                f"last successful {table} sync finished {finished:%Y-%m-%d %H:%M} UTC, more than "
                f"{max_sync_age_hours:g} h ago; the warehouse is too old to judge staleness"
            )
    return None


def latest_decisions(store: DeactivationLog, requested: Mapping[str, datetime]) -> dict[str, str]:
    """For each meeting id, its latest decision recorded at or after the given time (absent if none).

    The sensor uses this to tell meetings worth requesting again (failed, never judged) from those that
    were judged and should wait out a cool-down.
    """
    return store.latest_decisions({k: as_utc(v) for k, v in requested.items()})
