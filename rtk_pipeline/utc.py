"""UTC instants: the one helper that makes a datetime UTC-aware (naive values are taken as UTC)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import overload


@overload
def as_utc(value: datetime) -> datetime: ...
@overload
def as_utc(value: None) -> None: ...
def as_utc(value: datetime | None) -> datetime | None:
    """`value` in UTC: a naive datetime is read as UTC, an aware one is converted; None stays None."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def now_utc() -> datetime:
    """The current instant, UTC-aware."""
    return datetime.now(UTC)
