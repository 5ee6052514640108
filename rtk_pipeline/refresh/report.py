"""What a refresh did (`RefreshReport`) and what a full cycle would take (`RefreshPlan`): the figures the CLI
prints with --json / --plan and the Dagster job puts in run metadata (ARCHITECTURE.md, "Refresh")."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import UTC, date, datetime
from typing import Any


def _iso(value: datetime | None) -> str | None:
    """ISO-8601 in UTC (naive values are taken as UTC), or None."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat()


def _json(obj: object, skip: frozenset[str] = frozenset()) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields(obj):  # type: ignore[arg-type]
        if f.name in skip:
            continue
        value = getattr(obj, f.name)
        out[f.name] = _iso(value) if isinstance(value, datetime) or value is None else value
    return out


@dataclass(frozen=True)
class RefreshReport:
    """One run's figures; `changed_days` are the UTC creation days whose rows changed (for Dagster
    materializations) and are not part of the JSON."""

    meetings_listed: int
    meetings_changed: int
    meetings_added: int
    meetings_refreshed: int
    participants_added: int
    participants_removed: int
    requests: int
    budget: int
    active_meetings: int
    active_behind: int
    oldest_active_sync: datetime | None
    changed_days: tuple[date, ...] = ()

    def as_json(self) -> dict[str, Any]:
        """The issue's 11 keys; datetimes ISO-8601 UTC."""
        return _json(self, frozenset({"changed_days"}))


@dataclass(frozen=True)
class RefreshPlan:
    """What a full cycle costs, from the warehouse alone: the ACTIVE meetings, the requests a cycle needs
    (listing pages + each ACTIVE meeting's participant pages), the runs that takes at `budget`, and the oldest
    participants_synced_at among ACTIVE meetings; `active_behind` counts the ACTIVE meetings not refreshed
    within the max age (RTK_PARTICIPANTS_MAX_AGE_DAYS), what the Dagster check `participants_fresh` warns
    about."""

    active_meetings: int
    active_behind: int
    cycle_requests: int
    cycle_runs: int
    budget: int
    oldest_active_sync: datetime | None

    def as_json(self) -> dict[str, Any]:
        """What --plan prints; `active_behind` is for the Dagster check and stays out of it."""
        return _json(self, frozenset({"active_behind"}))
